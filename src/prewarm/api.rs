//! The HTTP client of `hubcache prewarm`: basic auth against one server, JSON in and out, and
//! every failure turned into one line ([`ApiError`]) — never a Debug dump, never the password.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::drf;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one API call may take (they are all small: the sync runs as a task).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an API call failed, as one line.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No connection, or no answer in time.
    #[error("cannot reach hubcache at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// 401.
    #[error("the server refused the credentials for user '{user}' (set HUBCACHE_ADMIN_PASSWORD)")]
    Unauthorized { user: String },
    /// Any other answer that is not a success, with what the server said.
    #[error("{what}: {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    /// A success whose body is not what the API contract says.
    #[error("{what}: unexpected answer from the server ({detail})")]
    Unexpected { what: String, detail: String },
}

impl ApiError {
    /// The HTTP status of a refusal (e.g. 409 when canceling a task that already ended).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `Unexpected` for `what`.
    pub fn unexpected(what: &str, detail: impl Into<String>) -> Self {
        Self::Unexpected {
            what: what.to_string(),
            detail: detail.into(),
        }
    }
}

/// The server's address as given on the command line, checked: http(s), no user or password
/// in it (the password comes from the environment, so that it stays out of shell history and
/// process listings), no query or fragment.
pub fn parse_server(server: &str) -> Result<Url, String> {
    // Checked before anything echoes the argument back: a password in it must never be printed.
    let authority = server.split_once("://").map_or(server, |(_, rest)| rest);
    let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "--server: put no user or password in the URL; use --user and HUBCACHE_ADMIN_PASSWORD"
                .into(),
        );
    }
    let url = Url::parse(server).map_err(|e| format!("--server {server:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--server {server:?}: only http and https URLs"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "--server: put no user or password in the URL; use --user and HUBCACHE_ADMIN_PASSWORD"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("--server {server:?}: no query or fragment"));
    }
    Ok(url)
}

/// A client of one hubcache's API. No `Debug`: it holds the password.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    user: String,
    password: String,
}

impl Api {
    pub fn new(base: Url, user: String, password: String) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Hrefs stay on this server: a redirect elsewhere would carry the credentials.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hubcache-prewarm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            user,
            password,
        })
    }

    /// The server as given (for messages).
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The absolute URL of an href (hrefs are paths from the server's root: `/pulp/api/v3/…`).
    pub fn url(&self, href: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url = self
            .base
            .join(href)
            .map_err(|e| ApiError::unexpected(href, format!("bad href: {e}")))?;
        // An href naming another origin is not followed: the password goes to the server only.
        if url.origin() != self.base.origin() {
            return Err(ApiError::unexpected(
                href,
                "an href that leaves the server".to_string(),
            ));
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// `GET href?query`.
    pub async fn get(
        &self,
        href: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Value, ApiError> {
        self.call(Method::GET, self.url(href, query)?, None, what)
            .await
    }

    /// `POST href` with a JSON body.
    pub async fn post(&self, href: &str, body: &Value, what: &str) -> Result<Value, ApiError> {
        self.call(Method::POST, self.url(href, &[])?, Some(body), what)
            .await
    }

    /// `PATCH href` with a JSON body.
    pub async fn patch(&self, href: &str, body: &Value, what: &str) -> Result<Value, ApiError> {
        self.call(Method::PATCH, self.url(href, &[])?, Some(body), what)
            .await
    }

    /// The `results` of a list (first page: up to 100, more than any prewarm needs).
    pub async fn list(
        &self,
        href: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut query = query.to_vec();
        query.push(("limit", "100"));
        let body = self.get(href, &query, what).await?;
        match body.get("results") {
            Some(Value::Array(results)) => Ok(results.clone()),
            _ => Err(ApiError::unexpected(what, "no \"results\" list")),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(&self.user, Some(&self.password))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(drf::one_line);
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::unexpected(what, format!("{status}, not JSON: {e}")));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized {
                user: self.user.clone(),
            });
        }
        let said = drf::message(&bytes);
        let message = match (status.as_u16(), said) {
            (429, _) => format!(
                "too many failed logins for user '{}'; retry after {} s",
                self.user,
                retry_after.as_deref().unwrap_or("a few")
            ),
            (403, Some(said)) => format!("user '{}' may not do this: {said}", self.user),
            (_, Some(said)) => said,
            (_, None) => format!("HTTP {status}"),
        };
        Err(ApiError::Refused {
            what: what.to_string(),
            status: status.as_u16(),
            message,
        })
    }

    fn unreachable(&self, err: &reqwest::Error) -> ApiError {
        let reason = if err.is_timeout() {
            "no answer in time".to_string()
        } else {
            // reqwest's own text names the URL; the innermost cause says what went wrong
            // ("Connection refused (os error 111)").
            let mut cause: &dyn std::error::Error = err;
            while let Some(next) = cause.source() {
                cause = next;
            }
            drf::one_line(&cause.to_string())
        };
        ApiError::Unreachable {
            server: self.server().to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_with_credentials_are_refused() {
        let err = parse_server("http://admin:s3cret@127.0.0.1:8080").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("HUBCACHE_ADMIN_PASSWORD"), "{err}");
        assert!(parse_server("http://admin@127.0.0.1:8080").is_err());
        // Refused before anything could echo the argument (a bad port, a bad scheme).
        for bad in ["http://admin:s3cret@h:99999", "ftp://admin:s3cret@h"] {
            let err = parse_server(bad).unwrap_err();
            assert!(!err.contains("s3cret"), "{err}");
        }
        assert!(parse_server("ftp://127.0.0.1").is_err());
        assert!(parse_server("127.0.0.1:8080").is_err());
        assert!(parse_server("http://h:1/?a=b").is_err());
        assert_eq!(
            parse_server("https://cache.internal").unwrap().as_str(),
            "https://cache.internal/"
        );
    }

    #[test]
    fn an_href_naming_another_origin_is_not_followed() {
        let api = Api::new(
            parse_server("http://127.0.0.1:8080").unwrap(),
            "admin".into(),
            "pw".into(),
        )
        .unwrap();
        for href in [
            "https://evil.example/pulp/api/v3/tasks/x/",
            "//evil.example/x/",
        ] {
            assert!(api.url(href, &[]).is_err(), "{href}");
        }
        assert!(api.url("/pulp/api/v3/tasks/x/", &[]).is_ok());
    }

    #[test]
    fn hrefs_join_the_servers_origin_with_a_query() {
        let api = Api::new(
            parse_server("http://127.0.0.1:8080").unwrap(),
            "admin".into(),
            "pw".into(),
        )
        .unwrap();
        let url = api
            .url(
                "/pulp/api/v3/repositories/hugging_face/hugging-face/",
                &[("name", "models/org/m x")],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/pulp/api/v3/repositories/hugging_face/hugging-face/?name=models%2Forg%2Fm+x"
        );
        assert_eq!(api.server(), "http://127.0.0.1:8080");
    }

    #[test]
    fn errors_are_one_line_without_secrets() {
        let err = ApiError::Unauthorized {
            user: "admin".into(),
        };
        assert_eq!(
            err.to_string(),
            "the server refused the credentials for user 'admin' (set HUBCACHE_ADMIN_PASSWORD)"
        );
        let err = ApiError::Refused {
            what: "cannot create repository 'models/x'".into(),
            status: 400,
            message: "repo_id: bad".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot create repository 'models/x': repo_id: bad"
        );
        assert_eq!(err.status(), Some(400));
    }
}
