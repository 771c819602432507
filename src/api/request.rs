//! The admin API's requests as both listeners (the content listener's `/pulp/api/…` and
//! `api.listen`) read them off a Pingora session: one body cap, one conversion to `http`.

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::ServerSession;

use super::{ClientAddr, MAX_BODY_BYTES};

/// Reads the request body, stopping after [`MAX_BODY_BYTES`]` + 1` bytes: [`super::Api::handle`]
/// answers 413 to a body that long, so nothing past it needs reading (or holding in memory).
/// A body that cannot be read (bad chunk framing, cut short) is the client's error, marked as
/// such for the caller to answer.
pub async fn read_body(session: &mut ServerSession) -> pingora::Result<Bytes> {
    let limit = MAX_BODY_BYTES + 1;
    let mut body = BytesMut::new();
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(pingora::Error::into_down)?
    {
        let take = chunk.len().min(limit - body.len());
        body.extend_from_slice(&chunk[..take]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body.freeze())
}

/// The admin API's view of a request: plain `http` types, with the client's address as a
/// [`ClientAddr`] (failed logins are limited per address).
pub fn request(session: &ServerSession, body: Bytes) -> http::Request<Bytes> {
    let head = session.req_header();
    let mut request = http::Request::new(body);
    // Field by field rather than through a builder: nothing here can fail. The version is
    // left at the default (HTTP/1.1); the API never looks at it.
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = head.uri.clone();
    *request.headers_mut() = head.headers.clone();
    if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
        request.extensions_mut().insert(ClientAddr(addr.ip()));
    }
    request
}
