//! `ApiError`: every failure of the admin API and its DRF-shaped JSON body. Bodies never carry
//! internals (paths, I/O errors) or secrets: those go to the log only.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

/// Field name → messages, as DRF reports validation errors (several fields at once).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Records `message` under `field`.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }
    /// Has `field` an error already (so a "required" error would only repeat it)?
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
    /// No error recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Ok(())` when empty, else the 400.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self))
        }
    }
}

/// What went wrong with an API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `{"<field>": ["…"]}`.
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
    /// 400 `["…"]` — what DRF returns for a `ValidationError` raised by a filter.
    #[error("invalid search: {0:?}")]
    List(Vec<String>),
    /// 400 `{"errors": ["Invalid Filter: '…'"]}`.
    #[error("unknown filters: {0:?}")]
    Filters(Vec<String>),
    /// Any status with `{"detail": "…"}`.
    #[error("{status}: {detail}")]
    Detail {
        /// HTTP status.
        status: StatusCode,
        /// The `detail` text (no secrets).
        detail: String,
    },
    /// 401 with `WWW-Authenticate: Basic realm="api"`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// 429 or 503 `{"detail": "…"}` with `Retry-After` (whole seconds, at least 1).
    #[error("{status}: {detail}")]
    Throttled {
        /// HTTP status.
        status: StatusCode,
        /// When to try again.
        retry_after: Duration,
        /// The `detail` text (no secrets).
        detail: std::borrow::Cow<'static, str>,
    },
    /// 500 `{"detail": "Internal error."}`; the reason is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with one field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.push(field, message);
        ApiError::Fields(errors)
    }
    /// `{"detail": …}` with `status`.
    pub fn detail(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Detail {
            status,
            detail: detail.into(),
        }
    }
    /// 404 `{"detail": "Not found."}`.
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }
    /// `status` (429 or 503) with `Retry-After: <retry_after>`.
    pub fn throttled(
        status: StatusCode,
        retry_after: Duration,
        detail: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Self {
        ApiError::Throttled {
            status,
            retry_after,
            detail: detail.into(),
        }
    }
    /// 400 `{"detail": …}`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::detail(StatusCode::BAD_REQUEST, detail)
    }

    /// The HTTP response for this error.
    pub fn into_response(self) -> Response<Bytes> {
        let (status, body) = match self {
            ApiError::Fields(errors) => (StatusCode::BAD_REQUEST, json!(errors.0)),
            ApiError::List(messages) => (StatusCode::BAD_REQUEST, json!(messages)),
            ApiError::Filters(names) => {
                let errors: Vec<String> = names
                    .iter()
                    .map(|n| format!("Invalid Filter: '{n}'"))
                    .collect();
                (StatusCode::BAD_REQUEST, json!({ "errors": errors }))
            }
            ApiError::Detail { status, detail } => (status, json!({ "detail": detail })),
            ApiError::Unauthenticated(detail) => {
                let mut resp =
                    json_response(StatusCode::UNAUTHORIZED, &json!({ "detail": detail }));
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"api\""),
                );
                return resp;
            }
            ApiError::Throttled {
                status,
                retry_after,
                detail,
            } => {
                // Rounded up: a client waiting the whole seconds is never early.
                let secs =
                    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
                let mut resp = json_response(status, &json!({ "detail": detail }));
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return resp;
            }
            ApiError::Internal(reason) => {
                tracing::error!(%reason, "admin API internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "detail": "Internal error." }),
                )
            }
        };
        json_response(status, &body)
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        ApiError::into_response(self).map(axum::body::Body::from)
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_drf_shapes() {
        let mut errors = FieldErrors::default();
        errors.push("name", "This field is required.");
        errors.push("url", "bad");
        let rows: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::Fields(errors),
                400,
                r#"{"name":["This field is required."],"url":["bad"]}"#,
            ),
            (
                ApiError::Filters(vec!["colour".into()]),
                400,
                r#"{"errors":["Invalid Filter: 'colour'"]}"#,
            ),
            (ApiError::List(vec!["x".into()]), 400, r#"["x"]"#),
            (ApiError::not_found(), 404, r#"{"detail":"Not found."}"#),
            (
                ApiError::Internal("/var/state.yaml: disk full".into()),
                500,
                r#"{"detail":"Internal error."}"#,
            ),
        ];
        for (err, status, body) in rows {
            let resp = err.into_response();
            assert_eq!(resp.status().as_u16(), status, "{body}");
            assert_eq!(resp.body().as_ref(), body.as_bytes());
        }
        let resp = ApiError::Unauthenticated("Invalid username/password.").into_response();
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"api\""
        );
    }
}
