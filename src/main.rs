//! `ecs-mock`: parse the command line, run the server until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ecs_mock::config::{without_empty_flags, Cli, Config};

/// After a refusal of `flag`'s value: if the value came from the flag's environment
/// variable, says so, since the message names only the flag (or its file) and someone who set
/// only the variable would look for it in vain.
fn hint_env_origin(flag: &str) {
    let command = Cli::command();
    let Some(env) = command
        .get_arguments()
        .find(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
        .and_then(|a| a.get_env())
    else {
        return;
    };
    let given = without_empty_flags(std::env::args_os())
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .any(|a| {
            a == flag
                || a.strip_prefix(flag)
                    .is_some_and(|rest| rest.starts_with('='))
        });
    if !given && std::env::var_os(env).is_some() {
        eprintln!(
            "ecs-mock: (the value came from the environment variable {})",
            env.to_string_lossy()
        );
    }
}

/// The flag a refusal's message names first (`--seed <SEED>`, `--credential "a" is not ...`).
fn flag_named(message: &str) -> Option<&str> {
    message
        .split(|c: char| c.is_whitespace() || c == '\'' || c == '=' || c == ':')
        .find(|w| w.starts_with("--"))
}

fn main() -> ExitCode {
    // clap exits 2 on a bad flag or value; every other refusal at start is EX_USAGE, as the
    // README promises, so a wrapper script has one code to check. --help and --version are 0.
    let cli = match Cli::try_parse_from(without_empty_flags(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(clap::error::ContextValue::String(arg)) =
                e.get(clap::error::ContextKind::InvalidArg)
            {
                if let Some(flag) = flag_named(arg) {
                    hint_env_origin(flag);
                }
            }
            return if e.use_stderr() {
                ExitCode::from(64) // EX_USAGE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Transparent huge pages off for this process: the allocator asks for them, and the first
    // touch of each 2 MiB page (zeroing it) stalled a worker for ~5 ms on the VMs this was
    // measured on, every few thousand ImportKeyPair calls: the whole p99 of that load. The
    // heaps here are small enough that 4 KiB pages cost nothing measurable.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // Empty, as `ECS_MOCK_LOG=` in a CI file gives it, is not set: it hid the default
    // warnings without a word.
    let log = if cli.log.trim().is_empty() {
        "warn"
    } else {
        &cli.log
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(log) {
        Ok(f) => f,
        Err(e) => {
            let message = format!("--log {:?} is not a log filter: {e}", cli.log);
            eprintln!("ecs-mock: {message}");
            hint_env_origin("--log");
            return ExitCode::from(64); // EX_USAGE
        }
    };
    // Colour codes only on a terminal: redirected to a CI log or a file they are noise.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .init();
    let config = match Config::from_cli(&cli) {
        Ok(c) => c,
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!("ecs-mock: {message}");
            let refused = e.downcast_ref::<ecs_mock::config::RefusedFlag>();
            if let Some(flag) = refused.map(|r| r.flag).or_else(|| flag_named(&message)) {
                hint_env_origin(flag);
            }
            return ExitCode::from(64); // EX_USAGE
        }
    };
    raise_open_file_limit(config.limits.max_connections, config.workers.unwrap_or(0));
    // This runtime only accepts connections, watches files and waits for signals: requests
    // are served on the `--workers` threads, each with a runtime of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ecs-mock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let signals = shutdown_signals()
            .map_err(|e| anyhow::anyhow!("cannot register the SIGINT/SIGTERM handlers: {e}"))?;
        let (first, second) = (std::sync::Arc::clone(&signals), signals);
        ecs_mock::run(config, async move { first.notified().await }, async move {
            second.notified().await
        })
        .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ecs-mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit of open files to what `--max-connections` needs, up to the hard
/// limit. Each connection holds two descriptors (its socket and the duplicate a `reset`
/// fault sends its RST through): under the common soft limit of 1024, the default 1024
/// connections ran out of descriptors near 500, where accepting failed instead of answering
/// the documented 503.
fn raise_open_file_limit(max_connections: usize, workers: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // Two per connection, four per request thread's runtime (its poller, waker and their
    // pipes; --workers can be 256), one per connection waiting for a slot, and room for the
    // listener, the main runtime, the state and key files.
    let per_worker = (workers as u64).saturating_mul(4);
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(per_worker)
        .saturating_add(ecs_mock::server::MAX_WAITING as u64)
        .saturating_add(64);
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return;
    }
    let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
    if raised > soft {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(raised),
                maximum: limit.maximum,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < needed {
        // The estimate counts what is open now and what the server opens before it accepts
        // (the listener, 16 is ample for it, and each request thread's runtime).
        let open = std::fs::read_dir("/proc/self/fd")
            .map_or(64, |d| d.count() as u64 + 16)
            .saturating_add(per_worker);
        tracing::warn!(
            open_files = now,
            max_connections,
            "the open-file limit is below what --max-connections needs (two per connection): \
             past about {} connections, new ones fail instead of getting 503",
            now.saturating_sub(open) / 2
        );
    }
}

/// Notified once for each SIGINT or SIGTERM: the first starts the graceful shutdown, a second
/// (Ctrl-C pressed again) ends its grace period at once. The handlers are registered now: the
/// `listening on` line is printed before the server first polls its shutdown future, and a
/// harness that signals as soon as it reads the line must get the graceful shutdown (state
/// saved, exit 0), not the signal's default action.
///
/// # Errors
/// When a handler cannot be registered.
fn shutdown_signals() -> std::io::Result<std::sync::Arc<tokio::sync::Notify>> {
    let signals = std::sync::Arc::new(tokio::sync::Notify::new());
    let notify = std::sync::Arc::clone(&signals);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    r = term.recv() => r,
                    r = interrupt.recv() => r,
                };
                if received.is_none() {
                    return;
                }
                // Kept as a permit when the next `notified` is not waiting yet.
                notify.notify_one();
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            notify.notify_one();
        }
    });
    Ok(signals)
}

// Every request allocates its parameters, RequestId and body; glibc's malloc was a third of
// DescribeKeyPairs' CPU profile (free-list consolidation), mimalloc makes it ~1.5x faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
