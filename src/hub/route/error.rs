//! [`RouteError`]: why a hub path was refused, and the status that tells the client.

use http::StatusCode;

use super::MAX_PATH_LEN;

/// Why a hub path was refused. Segment numbers count from 1. [`RouteError::status`] gives the
/// status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("path is {len} bytes long; the limit is {MAX_PATH_LEN}")]
    TooLong {
        /// Length of the path in bytes.
        len: usize,
    },
    /// `//`, a trailing `/`, or an empty component of an encoded revision/path.
    #[error("empty segment in path (segment {segment})")]
    EmptySegment {
        /// Offending segment.
        segment: usize,
    },
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding in path (segment {segment})")]
    BadPercentEncoding {
        /// Offending segment.
        segment: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("path is not valid UTF-8 once percent-decoded (segment {segment})")]
    InvalidUtf8 {
        /// Offending segment.
        segment: usize,
    },
    /// A `.` or `..` segment, raw or encoded (`%2e%2e`).
    #[error("`.` and `..` are not allowed in a path (segment {segment})")]
    DotSegment {
        /// Offending segment.
        segment: usize,
    },
    /// NUL or another control character, raw or encoded (`%00`).
    #[error("NUL or control character in path (segment {segment})")]
    ControlChar {
        /// Offending segment.
        segment: usize,
    },
    /// A backslash anywhere, or an encoded `/` inside a repository id or keyword segment.
    #[error("encoded `/` or backslash not allowed here (segment {segment})")]
    ForbiddenSeparator {
        /// Offending segment.
        segment: usize,
    },
    /// Neither a `/resolve/` path nor an `api/…` path.
    #[error(
        "not a Hub path: expected [datasets/|spaces/|kernels/]<repo_id>/resolve/<revision>/<file> or api/…"
    )]
    NotFound,
    /// An `api/…` route that is not one of the repository read routes hubcache forwards.
    #[error(
        "this Hub API route is not forwarded by hubcache: only the repository read routes download clients use are (api/{{models,datasets,spaces,kernels}}/<repo_id>[/revision/<rev>], …/tree/<rev>[/<path>], …/refs, POST …/paths-info/<rev>); any other would run with the remote's token"
    )]
    NotForwarded,
    /// The route exists but not for this method.
    #[error("method {method} is not allowed on this path")]
    MethodNotAllowed {
        /// The refused method.
        method: String,
    },
}

impl RouteError {
    /// 404 for [`RouteError::NotFound`] and [`RouteError::NotForwarded`], 405 for
    /// [`RouteError::MethodNotAllowed`], else 400.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::NotForwarded => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
