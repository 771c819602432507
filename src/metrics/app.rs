//! The metrics listener (`metrics.listen`), a Pingora `ServeHttp` app. Endpoints:
//!
//! * `GET /metrics` — every hubcache family and the process metrics, Prometheus text
//!   format 0.0.4; the disk cache figures are read at each scrape.
//! * `GET /healthz` — `200 ok` while the process serves requests (liveness).
//! * `GET /readyz` — `200 ready` once the listeners are bound, the cache index is loaded and
//!   the state is loaded; otherwise `503` naming what is missing, one item per line.
//!
//! `HEAD` is answered like `GET` without a body; other methods get `405`, other paths `404`.
//! Each answer is built whole in memory (a scrape is a few kilobytes).

use std::sync::Arc;

use async_trait::async_trait;
use http::{header, Method, Response, StatusCode};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

use super::{CacheFigures, Metrics, Readiness, TaskCounts};

/// Reads the disk cache's figures at scrape time.
pub type FiguresFn = Arc<dyn Fn() -> CacheFigures + Send + Sync>;
/// Counts the tasks per state at scrape time.
pub type TasksFn = Arc<dyn Fn() -> TaskCounts + Send + Sync>;

/// Counts the fleet's nodes (up, down) at scrape time.
pub type FleetFn = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// `ServeHttp` for `/metrics`, `/healthz` and `/readyz`.
pub struct MetricsApp {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    figures: FiguresFn,
    tasks: Option<TasksFn>,
    fleet: Option<FleetFn>,
}

impl std::fmt::Debug for MetricsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsApp")
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}

impl MetricsApp {
    /// An app over `metrics`, answering `/readyz` from `readiness`; `figures` is called at
    /// each scrape of `/metrics`.
    pub fn new(metrics: Arc<Metrics>, readiness: Arc<Readiness>, figures: FiguresFn) -> MetricsApp {
        MetricsApp {
            metrics,
            readiness,
            figures,
            tasks: None,
            fleet: None,
        }
    }

    /// Also publishes `hubcache_tasks` from `tasks` at each scrape.
    pub fn with_tasks(mut self, tasks: TasksFn) -> MetricsApp {
        self.tasks = Some(tasks);
        self
    }

    /// Also publishes `hubcache_fleet_nodes` from `fleet` at each scrape.
    pub fn with_fleet(mut self, fleet: FleetFn) -> MetricsApp {
        self.fleet = Some(fleet);
        self
    }

    /// The answer to `method path`, with a body even for HEAD (trimmed by [`Self::response`]).
    fn route(&self, method: &Method, path: &str) -> Response<Vec<u8>> {
        let endpoint = match path {
            "/metrics" | "/healthz" | "/readyz" => path,
            _ => return text(StatusCode::NOT_FOUND, "not found\n".into()),
        };
        if method != Method::GET && method != Method::HEAD {
            let mut resp = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
            );
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match endpoint {
            "/metrics" => {
                self.metrics.set_cache_figures((self.figures)());
                if let Some(tasks) = &self.tasks {
                    self.metrics.set_task_states(tasks());
                }
                if let Some(fleet) = &self.fleet {
                    let (up, down) = fleet();
                    self.metrics.set_fleet_nodes(up, down);
                }
                let mut resp = text(StatusCode::OK, self.metrics.encode());
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(prometheus::TEXT_FORMAT),
                );
                resp
            }
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            _ => {
                let missing = self.readiness.missing();
                if missing.is_empty() {
                    text(StatusCode::OK, "ready\n".into())
                } else {
                    let body: String = missing.iter().map(|m| format!("{m}\n")).collect();
                    text(StatusCode::SERVICE_UNAVAILABLE, body)
                }
            }
        }
    }
}

/// A plain-text response with its length, never cached.
fn text(status: StatusCode, body: String) -> Response<Vec<u8>> {
    let len = body.len();
    let mut resp = Response::new(body.into_bytes());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[async_trait]
impl ServeHttp for MetricsApp {
    /// Routes by method and path (the query string is ignored); HEAD keeps the headers,
    /// including `Content-Length`, and drops the body.
    async fn response(&self, http_session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = http_session.req_header();
        let (method, path) = (req.method.clone(), req.uri.path().to_owned());
        let mut resp = self.route(&method, &path);
        if method == Method::HEAD {
            resp.body_mut().clear();
        }
        resp
    }
}

/// The metrics listener as a Pingora service named "metrics", listening on `listen`
/// (`host:port`). Add it with `server.add_service(..)`.
pub fn metrics_service(app: MetricsApp, listen: &str) -> Service<HttpServer<MetricsApp>> {
    let mut service = Service::new("metrics".to_owned(), HttpServer::new_app(app));
    service.add_tcp(listen);
    // One thread is plenty for scrapes and probes, whatever `server.threads` is.
    service.threads = Some(1);
    service
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::apps::HttpServerApp;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn app(readiness: Arc<Readiness>) -> Arc<HttpServer<MetricsApp>> {
        let metrics = Arc::new(Metrics::new().unwrap());
        let figures: FiguresFn = Arc::new(|| CacheFigures {
            size_bytes: 7,
            ..CacheFigures::default()
        });
        Arc::new(HttpServer::new_app(MetricsApp::new(
            metrics, readiness, figures,
        )))
    }

    /// Sends one raw HTTP/1.1 request through Pingora's own server code; returns
    /// (status, header block, body).
    async fn call(
        app: &Arc<HttpServer<MetricsApp>>,
        method: &str,
        path: &str,
    ) -> (u16, String, String) {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        client.write_all(req.as_bytes()).await.unwrap();
        let session = ServerSession::new_http1(Box::new(server));
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        app.process_new_http(session, &shutdown).await;
        let mut raw = Vec::new();
        client.shutdown().await.unwrap();
        client.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn endpoints_answer_by_method_and_path() {
        let app = app(Arc::new(Readiness::new()));
        let (status, head, body) = call(&app, "GET", "/metrics?x=1").await;
        assert_eq!(status, 200);
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(
            body.lines().any(|l| l == "hubcache_cache_size_bytes 7"),
            "figures read at scrape"
        );
        assert_eq!(call(&app, "GET", "/healthz").await.2, "ok\n");
        let (status, head, body) = call(&app, "HEAD", "/healthz").await;
        assert_eq!((status, body.as_str()), (200, ""));
        assert!(head.contains("content-length: 3"), "{head}");
        assert_eq!(call(&app, "GET", "/metricsx").await.0, 404);
        assert_eq!(call(&app, "POST", "/metrics").await.0, 405);
        assert_eq!(call(&app, "DELETE", "/nowhere").await.0, 404);
    }

    #[tokio::test]
    async fn readyz_turns_200_when_every_part_is_done() {
        let readiness = Arc::new(Readiness::new());
        let app = app(readiness.clone());
        let (status, _, body) = call(&app, "GET", "/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(body.lines().count(), 3, "{body}");
        readiness.set_listening();
        readiness.set_cache_loaded();
        let (status, _, body) = call(&app, "GET", "/readyz").await;
        assert_eq!((status, body.as_str()), (503, "state not loaded\n"));
        readiness.set_state_loaded();
        let (status, _, body) = call(&app, "GET", "/readyz").await;
        assert_eq!((status, body.as_str()), (200, "ready\n"));
    }
}
