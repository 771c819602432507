//! Plumbing shared by the fake Hub and CDN: a stoppable hyper server that records requests,
//! body builders (ranges, faults, gzip) and Hub-style error responses.

use std::convert::Infallible;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::content::{Content, CHUNK};
use super::recorder::{Recorder, ServedFile};

pub type Body = http_body_util::combinators::BoxBody<Bytes, io::Error>;
type Handler = Arc<
    dyn Fn(Request<Incoming>) -> futures::future::BoxFuture<'static, Response<Body>> + Send + Sync,
>;

/// A hyper HTTP/1 server on a fixed address that can be stopped (connections refused) and
/// started again on the same port.
pub struct FakeServer {
    addr: SocketAddr,
    name: &'static str,
    recorder: Recorder,
    handler: Handler,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FakeServer {
    /// Serves `handler` on `listener`, recording each request as `name` ("hub"/"cdn").
    pub fn serve<F, Fut>(
        listener: TcpListener,
        name: &'static str,
        recorder: Recorder,
        handler: F,
    ) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let addr = listener.local_addr().expect("local addr");
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        let server = Self {
            addr,
            name,
            recorder,
            handler,
            task: Mutex::new(None),
        };
        server.spawn(listener);
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every open connection: new connections are refused.
    pub fn shutdown(&self) {
        if let Some(task) = self.task.lock().expect("server lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same port after [`FakeServer::shutdown`].
    pub async fn restart(&self) {
        self.shutdown();
        let mut last_err = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => return self.spawn(listener),
                Err(e) => last_err = Some(e),
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "fake {}: cannot rebind {}: {last_err:?}",
            self.name, self.addr
        );
    }

    fn spawn(&self, listener: TcpListener) {
        let (recorder, handler, name) = (self.recorder.clone(), self.handler.clone(), self.name);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (recorder, handler) = (recorder.clone(), handler.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (recorder, handler) = (recorder.clone(), handler.clone());
                    async move {
                        let index = recorder.start(name, &req);
                        let resp = handler(req).await;
                        let served = resp.extensions().get::<ServedFile>().cloned();
                        let content_range = resp
                            .headers()
                            .get("content-range")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        recorder.finish(index, resp.status().as_u16(), served, content_range);
                        Ok::<_, Infallible>(TrackedBody::wrap(resp, recorder, index))
                    }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        *self.task.lock().expect("server lock") = Some(task);
    }
}

/// A response body that tells the [`Recorder`] how many bytes it handed to the connection and
/// when it ended: all sent (the `Content-Length` reached or the stream's end), failed, or
/// dropped because the connection went away.
struct TrackedBody {
    inner: Body,
    recorder: Recorder,
    index: usize,
    sent: u64,
    length: Option<u64>,
}

impl TrackedBody {
    fn wrap(resp: Response<Body>, recorder: Recorder, index: usize) -> Response<Body> {
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        resp.map(|inner| {
            TrackedBody {
                inner,
                recorder,
                index,
                sent: 0,
                length,
            }
            .boxed()
        })
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    self.sent += n;
                    self.recorder.body_sent(self.index, n);
                    if self.length.is_some_and(|len| self.sent >= len) {
                        self.recorder.body_ended(self.index);
                    }
                }
            }
            std::task::Poll::Ready(_) => self.recorder.body_ended(self.index),
            std::task::Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.recorder.body_ended(self.index);
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds `ip:0` (e.g. `127.0.0.1` for the Hub, `127.0.0.2` for the CDN).
pub async fn bind(ip: &str) -> TcpListener {
    TcpListener::bind((ip, 0))
        .await
        .unwrap_or_else(|e| panic!("fake server: bind {ip}:0: {e}"))
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A plain response with a text body (Content-Length set by the body).
pub fn text(status: u16, body: &str) -> Response<Body> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).expect("valid status");
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert("content-length", HeaderValue::from(body.len()));
    resp
}

/// A Hub error: `X-Error-Code` (if any), `X-Error-Message`, `X-Repo-Commit` (if any), JSON body.
pub fn hub_error(
    status: u16,
    code: Option<&str>,
    message: &str,
    commit: Option<&str>,
) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut resp = text(status, &body);
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "x-error-message",
        HeaderValue::from_str(message).expect("ascii message"),
    );
    if let Some(code) = code {
        h.insert(
            "x-error-code",
            HeaderValue::from_str(code).expect("ascii code"),
        );
    }
    if let Some(commit) = commit {
        h.insert(
            "x-repo-commit",
            HeaderValue::from_str(commit).expect("hex commit"),
        );
    }
    resp
}

/// Parsed `Range` header against a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    Full,
    /// `start..end`, end exclusive.
    Partial(u64, u64),
    Unsatisfiable,
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (multi-range, junk) → whole file.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Full;
    };
    let Some((a, b)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return RangeAnswer::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, (b + 1).min(size)),
        (Some(a), None) if b.is_empty() => (a, size),
        (None, Some(n)) if a.is_empty() && n > 0 => (size.saturating_sub(n), size),
        _ => return RangeAnswer::Full,
    };
    if start >= size {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Partial(start, end)
    }
}

/// How a file body misbehaves (or is paced) while streaming.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyFaults {
    pub drop_after: Option<u64>,
    pub stall: Option<(u64, Duration)>,
    /// Absolute file offset whose byte is flipped if the body carries it.
    pub corrupt: Option<u64>,
    /// Bytes a second (a per-connection cap like nginx's `limit_rate`), paced per chunk.
    pub rate: Option<u64>,
}

/// Streams `content[start..end]` in chunks, applying drop/stall/corrupt faults and the rate.
pub fn file_body(content: Content, start: u64, end: u64, faults: BodyFaults) -> Body {
    struct St {
        pos: u64,
        sent: u64,
        stalled: bool,
        done: bool,
        began: Option<tokio::time::Instant>,
    }
    let st = St {
        pos: start,
        sent: 0,
        stalled: false,
        done: false,
        began: None,
    };
    let s = stream::unfold(st, move |mut st| {
        let content = content.clone();
        async move {
            if st.done {
                return None;
            }
            if let Some((at, pause)) = faults.stall {
                if !st.stalled && st.sent >= at {
                    tokio::time::sleep(pause).await;
                    st.stalled = true;
                }
            }
            if faults.drop_after.is_some_and(|n| st.sent >= n) && st.pos < end {
                // Let hyper flush what was sent before the connection is torn down.
                tokio::time::sleep(Duration::from_millis(20)).await;
                st.done = true;
                return Some((
                    Err(io::Error::other("fake: dropping the connection mid-body")),
                    st,
                ));
            }
            if st.pos >= end {
                return None;
            }
            let mut next = (st.pos + CHUNK).min(end);
            if let Some(n) = faults.drop_after {
                next = next.min(st.pos + (n - st.sent));
            }
            if let Some((at, _)) = faults.stall.filter(|_| !st.stalled) {
                if at > st.sent {
                    next = next.min(st.pos + (at - st.sent));
                }
            }
            if let Some(rate) = faults.rate.filter(|r| *r > 0) {
                // These bytes leave once the rate allows them since the first chunk.
                let began = *st.began.get_or_insert_with(tokio::time::Instant::now);
                let due = Duration::from_secs_f64((st.sent + next - st.pos) as f64 / rate as f64);
                tokio::time::sleep_until(began + due).await;
            }
            let mut chunk = content.slice(st.pos, next);
            if let Some(at) = faults.corrupt.filter(|at| (st.pos..next).contains(at)) {
                let mut bytes = chunk.to_vec();
                bytes[(at - st.pos) as usize] ^= 0xff;
                chunk = Bytes::from(bytes);
            }
            st.sent += next - st.pos;
            st.pos = next;
            Some((Ok(Frame::data(chunk)), st))
        }
    });
    StreamBody::new(s).boxed()
}

/// The whole content gzipped, streamed in chunks with no known length (→ chunked encoding).
pub fn gzip_body(content: &Content) -> Body {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    content.for_each_chunk(0, content.len(), |c| {
        enc.write_all(c).expect("gzip to memory")
    });
    let gz = Bytes::from(enc.finish().expect("gzip to memory"));
    let chunks: Vec<io::Result<Frame<Bytes>>> = gz
        .chunks(1024)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(stream::iter(chunks)).boxed()
}

/// Value of a request header as text.
pub fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The bearer token of a request, if any.
pub fn bearer<B>(req: &Request<B>) -> Option<String> {
    header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// Inserts a header from a string that must be a valid header value.
pub fn set(resp: &mut Response<Body>, name: &'static str, value: impl AsRef<str>) {
    let v = HeaderValue::from_str(value.as_ref()).unwrap_or_else(|e| panic!("header {name}: {e}"));
    resp.headers_mut().insert(name, v);
}
