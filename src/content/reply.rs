//! Writing whole responses from `request_filter`: plain errors, JSON, HEAD metadata.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use crate::cache::MemoryHit;
use crate::origin::FileTarget;

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

/// Puts the metadata headers of a `resolve` answer (HEAD or GET, hits included) on `resp`,
/// from the first Hub hop: `X-Repo-Commit`, `ETag` = `X-Linked-Etag`, `X-Linked-Size`,
/// `Accept-Ranges`, `Content-Disposition` and, unless the body is multipart, the type.
pub fn insert_file_headers(
    resp: &mut ResponseHeader,
    target: &FileTarget,
    with_content_type: bool,
) -> Result<()> {
    use http::header::{ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_TYPE, ETAG};
    let quoted = HeaderValue::try_from(format!("\"{}\"", target.etag)).map_err(bad_value)?;
    resp.insert_header(X_REPO_COMMIT, text_value(&target.commit)?)?;
    resp.insert_header(X_LINKED_ETAG, quoted.clone())?;
    resp.insert_header(ETAG, quoted)?;
    resp.insert_header(X_LINKED_SIZE, HeaderValue::from(target.size))?;
    resp.insert_header(ACCEPT_RANGES, HeaderValue::from_static("bytes"))?;
    if with_content_type {
        resp.insert_header(CONTENT_TYPE, text_value(&target.content_type)?)?;
    }
    if let Some(cd) = &target.content_disposition {
        resp.insert_header(CONTENT_DISPOSITION, text_value(cd)?)?;
    }
    Ok(())
}

const X_REPO_COMMIT: HeaderName = HeaderName::from_static("x-repo-commit");
const X_LINKED_ETAG: HeaderName = HeaderName::from_static("x-linked-etag");
const X_LINKED_SIZE: HeaderName = HeaderName::from_static("x-linked-size");

fn text_value(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).map_err(bad_value)
}

fn bad_value(e: http::header::InvalidHeaderValue) -> Box<pingora::Error> {
    pingora::Error::because(
        pingora::ErrorType::InternalError,
        "a Hub header value cannot be sent",
        e,
    )
}

/// The header of a whole-file `resolve` answer: 200, every metadata header, exact
/// `Content-Length`, no `Location` (what a disk-cache hit carries too).
fn file_response(target: &FileTarget) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build_no_case(StatusCode::OK, Some(9))?;
    insert_file_headers(&mut resp, target, true)?;
    resp.insert_header(http::header::CONTENT_LENGTH, HeaderValue::from(target.size))?;
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
