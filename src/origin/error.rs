//! [`UpstreamError`]: the one error type of an exchange with a remote's upstream, and the one
//! mapping of upstream failures to the status hubcache answers (502/503/504, never 401/404:
//! clients treat those as "the file does not exist" and stop retrying).

use http::StatusCode;

/// Why an upstream exchange produced no HTTP answer worth relaying.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// TCP/TLS connect failed (refused, unreachable, DNS).
    #[error("the Hub could not be reached")]
    Connect,
    /// Connect, read or total timeout.
    #[error("the Hub did not answer in time")]
    Timeout,
    /// The Hub answered 5xx.
    #[error("the Hub answered {0}")]
    Status(StatusCode),
    /// The answer broke the protocol (no commit, unknown size, redirect loop, foreign redirect).
    #[error("the Hub's answer was unusable: {0}")]
    Protocol(&'static str),
    /// Building the client failed (bad CA bundle).
    #[error("the remote's TLS settings are unusable")]
    Client,
}

impl UpstreamError {
    /// The status hubcache answers with: 504 for timeouts, 503 when the Hub said 503,
    /// 502 otherwise. Never 401 or 404.
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Status(s) if *s == StatusCode::SERVICE_UNAVAILABLE => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            UpstreamError::Status(s) if *s == StatusCode::GATEWAY_TIMEOUT => {
                StatusCode::GATEWAY_TIMEOUT
            }
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub(super) fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            UpstreamError::Timeout
        } else {
            UpstreamError::Connect
        }
    }
}
