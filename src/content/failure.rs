//! Mapping proxy failures to what Hub clients can act on: timeouts → 504, everything else
//! upstream → 502 (503 when the upstream said so); never 401 or 404. A client's own error (a
//! body with broken chunk framing) is its 400, logged as a client error. A failure after the
//! response started cannot be re-answered: the connection is closed, so the client sees a
//! short body, never a complete-looking broken file.

use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, ErrorSource, ErrorType};

use super::reply::Reply;

/// The status for a proxy error, and a short message; 0 = the client is gone.
pub fn classify(e: &Error) -> (u16, &'static str) {
    match e.etype() {
        ErrorType::HTTPStatus(code) => (*code, "Upstream error."),
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            (504, "Upstream timed out.")
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, "Upstream unreachable or broken."),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                    (0, "")
                }
                _ => (400, "Bad request."),
            },
            ErrorSource::Internal | ErrorSource::Unset => (502, "Upstream unreachable or broken."),
        },
    }
}

/// Is this the client's failure (a malformed request body, a client that left), not the
/// proxy's? Those are logged here as client errors rather than by Pingora as proxy failures.
pub fn is_client_error(e: &Error) -> bool {
    e.esource() == &ErrorSource::Downstream && !matches!(e.etype(), ErrorType::HTTPStatus(_))
}

/// `ProxyHttp::fail_to_proxy` for the content service. `from_peer`: the answer is marked as
/// this node's own (`fleet::peer::ANSWER_HEADER`).
pub async fn fail_to_proxy(session: &mut Session, e: &Error, from_peer: bool) -> FailToProxy {
    let (code, message) = classify(e);
    if is_client_error(e) {
        // The error names what was wrong with the framing, never the body's bytes.
        tracing::info!(status = code, error = %e, "client error");
    }
    let already_started = session.response_written().is_some();
    // The connection is not reused after a failure: say so, so clients don't race a close.
    session.as_downstream_mut().set_keepalive(None);
    if code > 0 && !already_started {
        if let Ok(status) = http::StatusCode::from_u16(code) {
            let mut reply = Reply::plain(status, message);
            if from_peer {
                reply = reply.with(crate::fleet::peer::ANSWER_HEADER, "1");
            }
            if let Err(err) = reply.send(session).await {
                tracing::debug!(error = %err, "could not send the error response");
            }
        }
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}
