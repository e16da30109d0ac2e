//! `ecs-mock`: parse the command line, run the server until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ecs_mock::config::{Cli, Config};

/// After a refusal that names a flag (`--seed <SEED>`, `--credential "a" is not ...`): if the
/// value came from the flag's environment variable, says so, since the message names only the
/// flag and someone who set only the variable would look for it in vain.
///
/// Refusals of a file (`state file /x: ...`, `cannot read scenario file /x`) name the path,
/// not the flag: for the flags that take paths, a path of the variable's value that the
/// message names counts as naming the flag.
fn hint_env_origin(message: &str) {
    let command = Cli::command();
    let named = message
        .split(|c: char| c.is_whitespace() || c == '\'' || c == '=')
        .find(|w| w.starts_with("--"))
        .and_then(|flag| {
            command
                .get_arguments()
                .find(|a| a.get_long().is_some_and(|l| flag == format!("--{l}")))
        })
        .or_else(|| {
            command.get_arguments().find(|a| {
                PATH_FLAGS.contains(&a.get_long().unwrap_or_default())
                    && a.get_env().and_then(std::env::var_os).is_some_and(|v| {
                        v.to_string_lossy()
                            .split(',')
                            .any(|p| !p.trim().is_empty() && message.contains(p.trim()))
                    })
            })
        });
    let Some((long, env)) = named.and_then(|a| Some((a.get_long()?, a.get_env()?))) else {
        return;
    };
    let flag = format!("--{long}");
    let given = std::env::args().skip(1).any(|a| {
        a == flag
            || a.strip_prefix(flag.as_str())
                .is_some_and(|rest| rest.starts_with('='))
    });
    if !given && std::env::var_os(env).is_some() {
        eprintln!(
            "ecs-mock: (the value came from the environment variable {})",
            env.to_string_lossy()
        );
    }
}

/// The flags whose values are paths, which refusals name instead of the flag.
const PATH_FLAGS: &[&str] = &["state-file", "fixtures", "scenario", "key-cache"];

fn main() -> ExitCode {
    // clap exits 2 on a bad flag or value; every other refusal at start is EX_USAGE, as the
    // README promises, so a wrapper script has one code to check. --help and --version are 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(clap::error::ContextValue::String(arg)) =
                e.get(clap::error::ContextKind::InvalidArg)
            {
                hint_env_origin(arg);
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
            hint_env_origin(&message);
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
            hint_env_origin(&message);
            return ExitCode::from(64); // EX_USAGE
        }
    };
    raise_open_file_limit(config.limits.max_connections);
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
        let shutdown = shutdown_signal()
            .map_err(|e| anyhow::anyhow!("cannot register the SIGINT/SIGTERM handlers: {e}"))?;
        ecs_mock::run(config, shutdown).await
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
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // Two per connection, and room for the listener, the runtimes, the state and key files.
    let needed = (max_connections as u64)
        .saturating_mul(2)
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
        tracing::warn!(
            open_files = now,
            max_connections,
            "the open-file limit is below what --max-connections needs (two per connection): \
             past about {} connections, new ones fail instead of getting 503",
            now.saturating_sub(64) / 2
        );
    }
}

/// SIGINT and SIGTERM, registered now: the `listening on` line is printed before the server
/// first polls its shutdown future, and a harness that signals as soon as it reads the line
/// must get the graceful shutdown (state saved, exit 0), not the signal's default action.
///
/// # Errors
/// When a handler cannot be registered.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

// Every request allocates its parameters, RequestId and body; glibc's malloc was a third of
// DescribeKeyPairs' CPU profile (free-list consolidation), mimalloc makes it ~1.5x faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
