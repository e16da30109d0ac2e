//! Listener, accept loop (one task per connection, on the [`Workers`] threads or the caller's
//! runtime) and graceful drain.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

use crate::config::Config;
use crate::head_timer::HeadTimers;
use crate::service::{self, App, Connection};
use crate::workers::Workers;
use crate::write_deadline::WriteDeadline;

/// A bound, not yet serving, server.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    /// `None`: connections run on the runtime that calls [`Server::serve`].
    workers: Option<Workers>,
}

impl Server {
    /// Binds `config.listen`.
    ///
    /// # Errors
    /// When the address cannot be bound or the worker threads cannot start.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let workers = config
            .workers
            .map(Workers::start)
            .transpose()
            .context("cannot start the worker threads")?;
        let app = App::new(config)?;
        if let Some(w) = &workers {
            app.keys.pace_by(w.metrics());
        }
        Ok(Self {
            listener,
            app,
            workers,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The shared application state (tests inspect the store through it).
    pub fn app(&self) -> Arc<App> {
        Arc::clone(&self.app)
    }

    /// Serves until `shutdown` resolves, then drains connections for at most the configured grace period
    /// (`--shutdown-grace-secs`); whatever still runs then, injected delays included, is dropped.
    ///
    /// # Errors
    /// Never in practice; accept errors are logged and retried.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.serve_until(shutdown, std::future::pending()).await
    }

    /// [`Server::serve`], where `hurry` resolving during the drain ends the grace period at
    /// once (a second SIGINT or SIGTERM): what still runs is dropped, and the state saved.
    ///
    /// # Errors
    /// Never in practice; accept errors are logged and retried.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()>,
        hurry: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let graceful = GracefulShutdown::new();
        let limits = self.app.config.limits;
        let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        // Connection tasks live in a set so that, once the grace period is over, the ones
        // still running (an injected 30 s delay, say) are aborted rather than left behind.
        let mut conns = tokio::task::JoinSet::new();
        // Header timeouts fire from a sweeper among the connection tasks, so that it stops
        // with them.
        let head_timers = HeadTimers::new(limits.header_timeout);
        conns.spawn(head_timers.clone().run());
        // Boxed to be dropped once the loop ends: a signal's waiter left registered would take
        // the next signal, which must reach `hurry`.
        let mut shutdown = Box::pin(shutdown);
        // A connection that finds every slot taken waits a moment for one: a client that
        // closed its last connection and opened the next at once was refused while its old
        // connection's task had not yet read the close (found by a lifecycle review).
        let (late_tx, mut late_rx) = tokio::sync::mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        loop {
            let (stream, peer, permit) = tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Typically EMFILE under a connection flood: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    match Arc::clone(&connections).try_acquire_owned() {
                        Ok(permit) => (stream, peer, permit),
                        Err(_) => {
                            wait_for_slot(stream, peer, Arc::clone(&connections), late_tx.clone(), &waiting);
                            continue;
                        }
                    }
                }
                Some(late) = late_rx.recv() => late,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                () = &mut shutdown => break,
                () = self.app.shutdown.notified() => break,
            };
            let (std_stream, clone) = match stream.into_std().and_then(|s| Ok((s.try_clone()?, s)))
            {
                Ok((clone, s)) => (s, clone),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot duplicate the connection socket");
                    continue;
                }
            };
            let shared = Arc::new(Connection::new(
                Arc::clone(&self.app),
                clone,
                head_timers.body_timer(),
            ));
            let timer = head_timers.timer();
            let watcher = graceful.watcher();
            // Registered with the reactor of the runtime that polls it, inside the task.
            let task = async move {
                let _permit = permit;
                let stream = match TcpStream::from_std(std_stream) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot register the connection");
                        return;
                    }
                };
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    service::handle(Arc::clone(&shared), req)
                });
                let conn = http1::Builder::new()
                    .timer(timer)
                    .header_read_timeout(limits.header_timeout)
                    .max_buf_size(64 * 1024)
                    // One copy into the head's buffer and one `send`, not a `writev`
                    // of two pieces: cheaper for the small bodies most answers have,
                    // no dearer for a 10 KB page (docs/performance.md).
                    .writev(false)
                    .serve_connection(
                        TokioIo::new(WriteDeadline::new(stream, limits.header_timeout)),
                        svc,
                    );
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                    if not_http(&e) && !WARNED_NOT_HTTP.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            %peer,
                            "a connection did not start with an HTTP method: a TLS handshake? The mock speaks plain HTTP: set the SDK's protocol to http (warned once)"
                        );
                    }
                    // hyper closes these without an answer (it has none for them), so
                    // the client's own error is all its user would see.
                    if e.is_parse_version_h2() && !WARNED_HTTP2.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            %peer,
                            "a connection started with the HTTP/2 preface (prior knowledge); the mock speaks HTTP/1.1 only: turn HTTP/2 off in the client (warned once)"
                        );
                    }
                }
            };
            match &self.workers {
                Some(w) => conns.spawn_on(task, w.next()),
                None => conns.spawn(task),
            };
        }
        drop(shutdown);
        // Connections handed back by a waiter are refused as the busy are: nothing reads the
        // channel any more, and a waiter that gets a slot during the drain finds it closed.
        late_rx.close();
        while let Ok((stream, _, _)) = late_rx.try_recv() {
            tokio::spawn(refuse_busy(stream));
        }
        drop(self.listener);
        // Creates whose clients left run on without a connection; the key pairs they store
        // belong in the saved state as much as those of connections still open.
        let drained = async {
            // The first poll sends the connections the signal; the heads expire after it, so
            // that a connection that starts reading a head in between is not left waiting.
            let mut connections_done = std::pin::pin!(graceful.shutdown());
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(connections_done.as_mut().poll(cx))
            })
            .await;
            head_timers.expire_heads();
            if first.is_pending() {
                connections_done.await;
            }
            self.app.keys.creates_finished().await;
        };
        tokio::select! {
            drained = tokio::time::timeout(limits.shutdown_grace, drained) => {
                if drained.is_err() {
                    tracing::warn!("grace period over; dropping remaining connections and unfinished creates");
                }
            }
            () = hurry => {
                tracing::warn!("asked again to stop; dropping remaining connections and unfinished creates");
            }
        }
        conns.shutdown().await;
        self.app.save_state().with_context(|| {
            let path = self
                .app
                .config
                .state_file
                .as_deref()
                .unwrap_or(Path::new(""));
            format!("cannot save the state file {} on shutdown", path.display())
        })?;
        Ok(())
    }
}

/// Whether a connection ended because its first bytes were no HTTP method, as when a client
/// configured for HTTPS sends its TLS handshake: the client then reports only an SSL error
/// (`WRONG_VERSION_NUMBER`), and nothing reaches the journal.
fn not_http(e: &hyper::Error) -> bool {
    e.is_parse() && e.to_string().contains("invalid HTTP method")
}

/// Whether [`not_http`]'s warning was given: a client retrying over TLS would repeat it.
static WARNED_NOT_HTTP: AtomicBool = AtomicBool::new(false);

/// Whether the warning about an HTTP/2 preface was given (a retrying client repeats it).
static WARNED_HTTP2: AtomicBool = AtomicBool::new(false);

/// How long a connection over `--max-connections` waits for a slot before its 503.
const SLOT_WAIT: Duration = Duration::from_millis(250);

/// At most this many connections wait for a slot at once; the rest are refused at once, so a
/// flood cannot hold descriptors for the wait.
pub const MAX_WAITING: usize = 64;

/// Waits up to [`SLOT_WAIT`] for a connection slot, then hands the connection back to the
/// accept loop through `late` to be served, or answers it [`refuse_busy`].
fn wait_for_slot(
    stream: TcpStream,
    peer: SocketAddr,
    connections: Arc<tokio::sync::Semaphore>,
    late: tokio::sync::mpsc::UnboundedSender<(TcpStream, SocketAddr, OwnedSemaphorePermit)>,
    waiting: &Arc<AtomicUsize>,
) {
    if waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
        waiting.fetch_sub(1, Ordering::Relaxed);
        tokio::spawn(refuse_busy(stream));
        return;
    }
    let waiting = Arc::clone(waiting);
    tokio::spawn(async move {
        let slot = tokio::time::timeout(SLOT_WAIT, connections.acquire_owned()).await;
        waiting.fetch_sub(1, Ordering::Relaxed);
        match slot {
            Ok(Ok(permit)) => {
                // The accept loop has ended (shutdown) and closed the channel.
                if let Err(back) = late.send((stream, peer, permit)) {
                    refuse_busy(back.0 .0).await;
                }
            }
            _ => refuse_busy(stream).await,
        }
    });
}

/// Answers a connection over `--max-connections` with `503 ServiceUnavailable` (the ECS
/// envelope, XML as the V1 default) and closes it, instead of letting it queue unseen.
async fn refuse_busy(mut stream: TcpStream) {
    let err = crate::error::ApiError::new(crate::error::Kind::ServiceUnavailable);
    let body = crate::protocol::response::error(
        &err,
        "00000000-0000-0000-0000-000000000000",
        crate::regions::host_id(None),
        crate::protocol::response::Format::Xml,
    );
    let head = format!(
        "HTTP/1.1 {} Service Unavailable\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\ndate: {}\r\n\r\n",
        body.status,
        body.content_type,
        body.body.len(),
        httpdate::fmt_http_date(
            std::time::UNIX_EPOCH
                + Duration::from_secs(crate::clock::Clock::system().now_unix())
        )
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body.body).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Binds, prints the `listening on` line and serves until `shutdown`; `hurry` cuts the
/// drain short (see [`Server::serve_until`]).
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    hurry: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    let addr = server.local_addr();
    announce(addr, &server.app.config);
    server.serve_until(shutdown, hurry).await
}

/// The first stdout line is a contract: `ecs-mock listening on http://HOST:PORT`.
fn announce(addr: SocketAddr, config: &Config) {
    use std::io::Write;
    let (first, hint, warning) = announcement(addr, config);
    if let Some(warning) = warning {
        // On stderr whatever --log says: it is about who can reach the mock, not a log event.
        eprintln!("ecs-mock: warning: {warning}");
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{first}");
    let _ = writeln!(out, "{hint}");
    let _ = out.flush();
}

/// The two stdout lines, and the warning for stderr when the unauthenticated control API can
/// be reached from other hosts.
fn announcement(addr: SocketAddr, config: &Config) -> (String, String, Option<String>) {
    let secret_hint = match &config.credentials {
        _ if !config.verify_signatures => {
            "any AccessKeyId (each is its own account) with any secret (signatures are not checked)"
        }
        crate::config::Credentials::Open { .. } => {
            "any AccessKeyId (each is its own account) with the default secret (--default-secret, `mock-secret` unless set)"
        }
        crate::config::Credentials::Fixed(_) => "one of the --credential AccessKeyIds with its secret",
    };
    // A wildcard address is where the mock listens, not an address a client can connect to.
    // Canonical first: `::ffff:0.0.0.0` is the IPv4 wildcard (and takes IPv4 connections).
    let endpoint = match addr.ip().to_canonical() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            format!("127.0.0.1:{} (or this host's address)", addr.port())
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            format!("[::1]:{} (or this host's address)", addr.port())
        }
        _ => addr.to_string(),
    };
    // Canonical first: `::ffff:127.0.0.1` is loopback too.
    let warning = (config.control_api && !addr.ip().to_canonical().is_loopback()).then(|| {
        format!(
            "listening on {addr}, not only loopback: the control API (/__mock/: reset, PUT state, shutdown) has no authentication and other hosts can reach it; add --no-control-api unless that is intended"
        )
    });
    (
        format!("ecs-mock listening on http://{addr}"),
        format!(
            "point an SDK at it: endpoint {endpoint}, protocol http, region e.g. cn-hangzhou, credentials: {secret_hint}"
        ),
        warning,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_loopback_addresses_get_the_control_api_warning() {
        let warned = |addr: &str| {
            let addr: SocketAddr = addr.parse().unwrap();
            announcement(addr, &Config::new(addr, 0)).2.is_some()
        };
        assert!(!warned("127.0.0.1:8080"));
        assert!(!warned("[::1]:8080"));
        // Regression (findings-cli #9): an IPv4-mapped loopback address was warned about.
        assert!(!warned("[::ffff:127.0.0.1]:8080"));
        assert!(warned("0.0.0.0:8080"));
        assert!(warned("[::ffff:10.0.0.1]:8080"));
    }

    #[test]
    fn a_wildcard_address_is_not_the_endpoint_an_sdk_is_pointed_at() {
        let hint = |addr: &str| {
            let addr: SocketAddr = addr.parse().unwrap();
            announcement(addr, &Config::new(addr, 0)).1
        };
        assert!(hint("0.0.0.0:80").contains("endpoint 127.0.0.1:80 (or this host's address)"));
        assert!(hint("[::]:80").contains("endpoint [::1]:80 (or this host's address)"));
        // Regression (black-box review, twenty-seventh session): the IPv4-mapped wildcard was
        // printed as the endpoint.
        assert!(
            hint("[::ffff:0.0.0.0]:80").contains("endpoint 127.0.0.1:80 (or this host's address)")
        );
        assert!(hint("127.0.0.1:80").contains("endpoint 127.0.0.1:80,"));
    }
}
