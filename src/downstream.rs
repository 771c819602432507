//! What every listener enforces before Pingora parses a request: a request head must arrive
//! whole within `server.request_head_timeout` and fit in [`head::MAX_HEAD`] bytes (414 / 431
//! otherwise), and the process may hold as many connections as its hard open-file limit allows.
//!
//! Pingora 0.9.1 cannot be told either: its HTTP/1 session waits up to 60 s per *read* of a
//! head (a byte a minute keeps a connection forever) and grows the head buffer to 1 MiB.
//! [`HeadGuard`] is a `ServerApp` in front of the HTTP app: it reads the head itself, then
//! hands the bytes to a new Pingora session as a pipelined prefix (Pingora's own way of
//! feeding already-read bytes to a session), so Pingora parses a complete head without
//! reading from the socket and everything after the head is Pingora's as before. Listeners are
//! made with [`tcp_listener`], without Pingora's per-connection read buffer.

pub mod head;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use head::{read_head, Deadlines, Head};

/// How long a kept-alive connection may wait for its next request (Pingora's default, which
/// [`HeadGuard`] now enforces itself).
const KEEPALIVE_SECS: u64 = 60;
/// How long writing a refusal may take.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// After a refusal, how long the rest of the client's request is read and discarded, so that
/// closing with unread bytes does not reset the connection before the client reads the
/// answer (nginx's lingering close); and how long one read of it may wait.
const LINGER_TOTAL: Duration = Duration::from_secs(5);
const LINGER_READ: Duration = Duration::from_secs(2);

/// A TCP listener on `addr` whose connections have no L4 read buffer. Pingora's default gives
/// every accepted connection a 64 KiB read buffer for its whole life, allocated and zeroed
/// before a byte arrives: 64 MiB per thousand idle connections. What we read from clients is
/// request heads (read by [`HeadGuard`] in chunks of its own) and small bodies, so the buffer
/// saved no system calls.
pub fn tcp_listener(addr: &str) -> ListenerConfig {
    ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings::default().read(0))
}

/// An HTTP app behind the request-head deadline and size cap.
pub struct HeadGuard<A> {
    app: Arc<A>,
    head_timeout: Duration,
}

impl<A> HeadGuard<A> {
    /// `app` behind heads that must arrive within `head_timeout`.
    pub fn new(app: A, head_timeout: Duration) -> Self {
        HeadGuard {
            app: Arc::new(app),
            head_timeout,
        }
    }
}

#[async_trait]
impl<A> ServerApp for HeadGuard<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    /// The HTTP/1 keep-alive loop of Pingora's own `ServerApp` for HTTP apps, with each
    /// request head read here first.
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let h2 = matches!(
            stream.selected_alpn_proto(),
            Some(ALPN::H2) | Some(ALPN::Custom(_))
        );
        if h2 || self.app.server_options().is_some_and(|o| o.h2c) {
            // Not HTTP/1 (our listeners offer neither TLS nor h2c today): Pingora's own loop.
            return ServerApp::process_new(&self.app, stream, shutdown).await;
        }
        let accepted = Instant::now();
        let mut first = true;
        let mut settings: Option<HttpPersistentSettings> = None;
        loop {
            let deadlines = if first {
                // A new connection gets `head_timeout` for everything, its first byte included.
                let by = accepted + self.head_timeout;
                Deadlines {
                    first_byte: by,
                    head: Some(by),
                    head_timeout: self.head_timeout,
                }
            } else {
                Deadlines {
                    first_byte: Instant::now() + Duration::from_secs(KEEPALIVE_SECS),
                    head: None,
                    head_timeout: self.head_timeout,
                }
            };
            let mut stopping = shutdown.clone();
            let head = tokio::select! {
                biased;
                head = read_head(&mut stream, deadlines) => head,
                // A connection with no request under way is closed at shutdown, as Pingora does.
                _ = stopping.wait_for(|stop| *stop) => return None,
            };
            let prefix = match head {
                Head::Complete(prefix) => prefix,
                Head::Closed | Head::Idle => return None,
                Head::TimedOut => return refuse(stream, 408, "Request Timeout").await,
                Head::LineTooLong => return refuse(stream, 414, "URI Too Long").await,
                Head::TooLarge => {
                    return refuse(stream, 431, "Request Header Fields Too Large").await
                }
            };
            let mut session = ServerSession::new_http1(stream);
            match settings.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    // What Pingora's loop sets on a connection's first session.
                    session.set_keepalive((!*shutdown.borrow()).then_some(KEEPALIVE_SECS));
                    session.set_keepalive_reuses_remaining(
                        self.app
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            // hubcache never enables pipelining, so a reused session carries no prefix of its
            // own and this one is the only one.
            session.set_pipelined_prefix(prefix);
            let reused = self.app.process_new_http(session, shutdown).await?;
            (stream, settings) = reused.consume();
            first = false;
        }
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

/// Answers `status` and closes the connection, reading (and dropping) what the client still
/// sends for a few seconds so the answer is not lost to a reset.
async fn refuse(mut stream: Stream, status: u16, reason: &str) -> Option<Stream> {
    tracing::debug!(status, "request head refused");
    let body = format!("{reason}.\n");
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let written = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return None;
    }
    let until = Instant::now() + LINGER_TOTAL;
    let mut sink = [0u8; 4096];
    loop {
        let wait = until.min(Instant::now() + LINGER_READ);
        match tokio::time::timeout_at(wait, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    None
}

/// Raises the soft open-file limit to the hard one, as nginx's `worker_rlimit_nofile`: every
/// connection is a file, and a default soft limit of 1024 lets a thousand idle connections
/// shut everyone else out.
pub fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // Linux's default `fs.nr_open`: the most a soft limit can be when the hard one is unlimited.
    const UNLIMITED_CAP: u64 = 1 << 20;
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        tracing::info!("open-file limit: unlimited");
        return;
    };
    let target = hard.unwrap_or(UNLIMITED_CAP);
    if soft >= target {
        tracing::info!(limit = soft, "open-file limit already at the hard limit");
        return;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: hard,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::info!(from = soft, to = target, "raised the open-file limit"),
        Err(err) => {
            tracing::warn!(limit = soft, hard = target, error = %err, "could not raise the open-file limit")
        }
    }
}
