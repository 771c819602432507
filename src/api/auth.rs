//! HTTP basic authentication of API requests against the configured users: a plain password
//! compared in constant time, or an argon2 `password_hash`.
//!
//! An argon2 check costs tens of milliseconds of CPU, so it never runs on the proxy's worker
//! threads (every download shares them): it runs on tokio's blocking threads, at most
//! [`pool_size`] at a time, waiting at most [`QUEUE_WAIT`] for a turn (then 503, not counted
//! as a failure). Each client address may fail [`throttle::MAX_FAILURES`] checks per username
//! per [`throttle::WINDOW`] (then 429, with no check at all), and a right password is
//! remembered for [`remembered::TTL`]. Behind a reverse proxy every client shares its address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{PasswordHash, PasswordVerifier};
use axum::extract::FromRequestParts;
use base64::Engine;
use http::request::Parts;
use http::{header, HeaderMap, StatusCode};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::{ApiDeps, ApiUser, ClientAddr};

mod remembered;
mod throttle;

use remembered::Remembered;
use throttle::Throttle;

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const INVALID: &str = "Invalid username/password.";
/// Longest wait for a turn on the verification pool before answering 503.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Password checks running at once: half the CPUs (at least one), so logins, right or wrong,
/// can never take all of them from downloads.
fn pool_size() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Who may log in, and the state that keeps checking them cheap for everyone else.
#[derive(Debug)]
pub(crate) struct Logins {
    users: Arc<[ApiUser]>,
    /// Some user has an argon2 hash: checks go to the pool (plain passwords alone cost nothing).
    hashes: bool,
    pool: Arc<Semaphore>,
    throttle: Throttle,
    remembered: Remembered,
}

impl Logins {
    pub(crate) fn new(users: &[ApiUser]) -> Self {
        Logins {
            users: users.into(),
            hashes: users.iter().any(|u| u.password.is_none()),
            pool: Arc::new(Semaphore::new(pool_size())),
            throttle: Throttle::default(),
            remembered: Remembered::new(),
        }
    }

    /// Checks the `Authorization: Basic …` header of a request from `client`.
    /// Missing (or another scheme) → 401 "not provided"; wrong → 401 "invalid"; too many
    /// failures from `client` → 429; the pool busy for [`QUEUE_WAIT`] → 503.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let (username, password) = credentials(headers)?;
        let fingerprint = self.remembered.fingerprint(&username, &password);
        if fingerprint.is_some_and(|f| self.remembered.contains(&f, Instant::now())) {
            return Ok(());
        }
        if let Err(wait) = self.throttle.begin(client, &username, Instant::now()) {
            return Err(ApiError::throttled(
                StatusCode::TOO_MANY_REQUESTS,
                wait,
                "Too many failed logins from this address.",
            ));
        }
        let ok = if self.hashes {
            match self.verify_on_pool(username.clone(), password).await {
                Ok(ok) => ok,
                Err(busy) => {
                    self.throttle.not_checked(client, &username);
                    return Err(busy);
                }
            }
        } else {
            verify(&self.users, &username, &password)
        };
        if !ok {
            return Err(ApiError::Unauthenticated(INVALID));
        }
        self.throttle.succeeded(client, &username);
        if let Some(f) = fingerprint {
            self.remembered.insert(f, Instant::now());
        }
        Ok(())
    }

    async fn verify_on_pool(&self, username: String, password: String) -> Result<bool, ApiError> {
        let busy = || {
            ApiError::throttled(
                StatusCode::SERVICE_UNAVAILABLE,
                Duration::from_secs(1),
                "Too many logins are being checked; try again shortly.",
            )
        };
        let permit = tokio::time::timeout(QUEUE_WAIT, self.pool.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let users = self.users.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify(&users, &username, &password)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("password check task: {e}")))
    }
}

/// The `Authenticated` extractor: a handler taking it runs only for a request whose basic
/// credentials [`Logins::authenticate`] accepts (the client address comes from [`ClientAddr`]).
pub(crate) struct Authenticated;

impl FromRequestParts<Arc<ApiDeps>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _deps: &Arc<ApiDeps>,
    ) -> Result<Self, Self::Rejection> {
        let logins = parts
            .extensions
            .get::<Arc<Logins>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no login state".into()))?;
        let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
        logins.authenticate(&parts.headers, client).await?;
        Ok(Authenticated)
    }
}

/// The username and password of an `Authorization: Basic …` header.
fn credentials(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated(NOT_PROVIDED))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated(INVALID))?;
    let mut parts = value.split_whitespace();
    let scheme = parts.next().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthenticated(NOT_PROVIDED));
    }
    let (Some(encoded), None) = (parts.next(), parts.next()) else {
        return Err(ApiError::Unauthenticated(
            "Invalid basic header. Credentials string should not include spaces.",
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| {
            ApiError::Unauthenticated(
                "Invalid basic header. Credentials not correctly base64 encoded.",
            )
        })?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated(INVALID))?;
    let (username, password) = decoded.split_once(':').ok_or(ApiError::Unauthenticated(
        "Invalid basic header. Credentials not correctly base64 encoded.",
    ))?;
    Ok((username.to_string(), password.to_string()))
}

/// Does some user have this username and password? Every user is checked so the time taken
/// does not tell which usernames exist.
fn verify(users: &[ApiUser], username: &str, password: &str) -> bool {
    let mut ok = false;
    for user in users {
        let name_ok = bool::from(user.username.as_bytes().ct_eq(username.as_bytes()));
        let password_ok = password_matches(user, password);
        ok |= name_ok & password_ok;
    }
    ok
}

/// Does `password` match the user's plain password (constant time) or argon2 hash?
fn password_matches(user: &ApiUser, password: &str) -> bool {
    if let Some(expected) = &user.password {
        return bool::from(expected.expose().as_bytes().ct_eq(password.as_bytes()));
    }
    match user.password_hash.as_deref().map(PasswordHash::new) {
        Some(Ok(hash)) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Some(Err(_)) | None => false,
    }
}

/// Should start-up warn? True when some user still has the default password and `listen`
/// is not a loopback address (anyone on the network could then administer hubcache).
pub fn insecure_default(users: &[ApiUser], listen: SocketAddr) -> bool {
    !listen.ip().is_loopback() && users.iter().any(|u| u.uses_default_password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn basic(credentials: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    fn users() -> Vec<ApiUser> {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = argon2::Argon2::default()
            .hash_password(b"hashed-pw", &salt)
            .unwrap()
            .to_string();
        vec![
            ApiUser {
                username: "admin".into(),
                password: Some(Secret::new("s3cret")),
                password_hash: None,
                uses_default_password: false,
            },
            ApiUser {
                username: "ops".into(),
                password: None,
                password_hash: Some(hash),
                uses_default_password: false,
            },
            ApiUser {
                username: "broken".into(),
                password: None,
                password_hash: Some("not-a-hash".into()),
                uses_default_password: false,
            },
        ]
    }

    #[tokio::test]
    async fn basic_auth_table() {
        let users = users();
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        let mut garbage = HeaderMap::new();
        garbage.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        let rows: Vec<(&str, HeaderMap, Option<&str>)> = vec![
            ("admin ok", basic("admin:s3cret"), None),
            ("argon2 ok", basic("ops:hashed-pw"), None),
            (
                "password with colon",
                basic("admin:s3cret:x"),
                Some(INVALID),
            ),
            ("wrong password", basic("admin:nope"), Some(INVALID)),
            ("wrong hash password", basic("ops:nope"), Some(INVALID)),
            ("unknown user", basic("root:s3cret"), Some(INVALID)),
            ("unparseable hash", basic("broken:x"), Some(INVALID)),
            (
                "no colon",
                basic("admin"),
                Some("Invalid basic header. Credentials not correctly base64 encoded."),
            ),
            ("missing", HeaderMap::new(), Some(NOT_PROVIDED)),
            ("bearer", bearer, Some(NOT_PROVIDED)),
            (
                "bad base64",
                garbage,
                Some("Invalid basic header. Credentials not correctly base64 encoded."),
            ),
        ];
        for (case, headers, want) in rows {
            let got = match Logins::new(&users).authenticate(&headers, None).await {
                Ok(()) => None,
                Err(ApiError::Unauthenticated(msg)) => Some(msg),
                Err(other) => panic!("{case}: {other:?}"),
            };
            assert_eq!(got, want, "{case}");
        }
    }

    #[tokio::test]
    async fn failures_are_throttled_and_right_passwords_remembered() {
        let logins = Logins::new(&users());
        let client = Some("192.0.2.7".parse().unwrap());
        assert!(logins
            .authenticate(&basic("ops:hashed-pw"), client)
            .await
            .is_ok());
        for _ in 0..throttle::MAX_FAILURES {
            let err = logins.authenticate(&basic("ops:nope"), client).await;
            assert!(
                matches!(err, Err(ApiError::Unauthenticated(INVALID))),
                "{err:?}"
            );
        }
        let started = Instant::now();
        let resp = logins
            .authenticate(&basic("ops:nope"), client)
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(resp.status(), 429);
        let retry: u64 = resp.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // A remembered right password still passes; a check that would need argon2 does not.
        assert!(logins
            .authenticate(&basic("ops:hashed-pw"), client)
            .await
            .is_ok());
        let err = logins.authenticate(&basic("ops:other-guess"), client).await;
        assert!(matches!(err, Err(ApiError::Throttled { .. })), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(20),
            "no argon2 ran"
        );
        // Another user of the same address is not locked out by these failures.
        assert!(logins
            .authenticate(&basic("admin:s3cret"), client)
            .await
            .is_ok());
        assert!(logins
            .authenticate(&basic("admin:s3cret"), None)
            .await
            .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_pool_answers_503_after_a_bounded_wait() {
        let logins = Logins::new(&users());
        let held = logins
            .pool
            .clone()
            .acquire_many_owned(pool_size() as u32)
            .await
            .unwrap();
        let resp = logins
            .authenticate(&basic("ops:hashed-pw"), None)
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        drop(held);
        assert!(logins
            .authenticate(&basic("ops:hashed-pw"), None)
            .await
            .is_ok());
    }

    #[test]
    fn default_password_is_insecure_only_off_loopback() {
        let mut users = users();
        assert!(!insecure_default(&users, "0.0.0.0:8080".parse().unwrap()));
        users[0].uses_default_password = true;
        assert!(insecure_default(&users, "0.0.0.0:8080".parse().unwrap()));
        assert!(insecure_default(&users, "[::]:8080".parse().unwrap()));
        assert!(!insecure_default(&users, "127.0.0.1:8080".parse().unwrap()));
        assert!(!insecure_default(&users, "[::1]:8080".parse().unwrap()));
    }
}
