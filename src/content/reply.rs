//! Writing whole responses from `request_filter`: plain errors, JSON, HEAD metadata.

use bytes::Bytes;
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use crate::cache::MemoryHit;
use crate::upstream::FileTarget;

/// A response hubcache writes itself, in full.
#[derive(Debug)]
pub struct Reply {
    /// Status line.
    pub status: StatusCode,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body (not sent for HEAD, but its length still is).
    pub body: Bytes,
}

impl Reply {
    /// A short plain-text answer; also sets `X-Error-Message` so `huggingface_hub` shows it.
    pub fn plain(status: StatusCode, message: &str) -> Self {
        Reply {
            status,
            headers: vec![
                ("content-type".into(), "text/plain; charset=utf-8".into()),
                ("x-error-message".into(), message.replace(['\r', '\n'], " ")),
            ],
            body: Bytes::from(format!("{message}\n")),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Writes it; for HEAD only the headers (with the body's `Content-Length`).
    pub async fn send(self, session: &mut Session) -> Result<()> {
        let is_head = session.req_header().method == http::Method::HEAD;
        let mut resp = ResponseHeader::build(self.status, Some(self.headers.len() + 2))?;
        for (name, value) in self.headers {
            resp.append_header(name, value)?;
        }
        if self.status != StatusCode::NO_CONTENT && self.status != StatusCode::NOT_MODIFIED {
            resp.insert_header("content-length", self.body.len().to_string())?;
        }
        if is_head || self.body.is_empty() {
            session.write_response_header(Box::new(resp), true).await
        } else {
            session.write_response_header(Box::new(resp), false).await?;
            session.write_response_body(Some(self.body), true).await
        }
    }
}

/// The metadata headers of a `resolve` answer (HEAD or GET), from the first Hub hop:
/// `X-Repo-Commit`, `ETag` = `X-Linked-Etag`, `X-Linked-Size`, `Accept-Ranges`, type.
pub fn file_headers(target: &FileTarget) -> Vec<(String, String)> {
    let quoted = format!("\"{}\"", target.etag);
    let mut h = vec![
        ("x-repo-commit".to_string(), target.commit.clone()),
        ("x-linked-etag".to_string(), quoted.clone()),
        ("etag".to_string(), quoted),
        ("x-linked-size".to_string(), target.size.to_string()),
        ("accept-ranges".to_string(), "bytes".to_string()),
        ("content-type".to_string(), target.content_type.clone()),
    ];
    if let Some(cd) = &target.content_disposition {
        h.push(("content-disposition".to_string(), cd.clone()));
    }
    h
}

/// The header of a whole-file `resolve` answer: 200, every metadata header, exact
/// `Content-Length`, no `Location` (what a disk-cache hit carries too).
fn file_response(target: &FileTarget) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(StatusCode::OK, Some(8))?;
    for (name, value) in file_headers(target) {
        resp.insert_header(name, value)?;
    }
    resp.insert_header("content-length", target.size.to_string())?;
    Ok(resp)
}

/// Writes the `HEAD /resolve` answer: the file's header, no body.
pub async fn send_file_head(session: &mut Session, target: &FileTarget) -> Result<()> {
    let resp = file_response(target)?;
    session.write_response_header(Box::new(resp), true).await
}

/// Writes a stored file held in memory (`hit.body` is exactly `target.size` bytes), with the
/// `Age` a pingora-cache hit carries (RFC 9111 §4).
pub async fn send_file(session: &mut Session, target: &FileTarget, hit: MemoryHit) -> Result<()> {
    let mut resp = file_response(target)?;
    let age = hit.stored.elapsed().unwrap_or_default().as_secs();
    resp.insert_header(http::header::AGE, age)?;
    let empty = hit.body.is_empty();
    session.write_response_header(Box::new(resp), empty).await?;
    if !empty {
        session.write_response_body(Some(hit.body), true).await?;
    }
    Ok(())
}
