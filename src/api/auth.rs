//! HTTP basic authentication of API requests against the configured users: a plain password
//! compared in constant time, or an argon2 `password_hash`.

use std::net::SocketAddr;

use argon2::{PasswordHash, PasswordVerifier};
use base64::Engine;
use http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::ApiUser;

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const INVALID: &str = "Invalid username/password.";

/// Checks the `Authorization: Basic …` header against `users`.
/// Missing (or another scheme) → 401 "not provided"; anything wrong → 401 "invalid".
pub(crate) fn authenticate(headers: &HeaderMap, users: &[ApiUser]) -> Result<(), ApiError> {
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
    // Every user is checked so the time taken does not tell which usernames exist.
    let mut ok = false;
    for user in users {
        let name_ok = bool::from(user.username.as_bytes().ct_eq(username.as_bytes()));
        let password_ok = password_matches(user, password);
        ok |= name_ok & password_ok;
    }
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated(INVALID))
    }
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

    #[test]
    fn basic_auth_table() {
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
            let got = match authenticate(&headers, &users) {
                Ok(()) => None,
                Err(ApiError::Unauthenticated(msg)) => Some(msg),
                Err(other) => panic!("{case}: {other:?}"),
            };
            assert_eq!(got, want, "{case}");
        }
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
