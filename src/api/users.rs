//! `/pulp/api/v3/users/` and `…/users/<id>/`: the configuration's `users:` in pulpcore's
//! `UserResponse` shape, read-only (`docs/pulp-api.md` "Users"). `id` is the user's 1-based
//! position in `users:`; everyone is staff and active (hubcache has no roles); `date_joined` is
//! when the API was built (process start). A password or its hash is never shown: only
//! `hidden_fields: [{"name": "password", "is_set": true}]`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery};
use axum::Extension;
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::auth::Authenticated;
use super::error::{json_response, ApiError};
use super::handlers::Handled;
use super::json::timestamp;
use super::list::{ListQuery, Row};
use super::openapi::generic::UserResponse;
use super::openapi::schemas::HiddenField;
use super::resource::to_fields;

/// The users collection.
pub(crate) const USERS: &str = "/pulp/api/v3/users/";

/// pulpcore's `UserViewSet` filters.
const FILTERS: [&str; 18] = [
    "username",
    "username__iexact",
    "username__in",
    "username__contains",
    "username__icontains",
    "first_name",
    "first_name__iexact",
    "first_name__in",
    "first_name__contains",
    "first_name__icontains",
    "last_name",
    "last_name__iexact",
    "last_name__in",
    "last_name__contains",
    "last_name__icontains",
    "email",
    "is_active",
    "is_staff",
];
/// Ordering fields.
const ORDERING: [&str; 3] = ["id", "username", "date_joined"];

/// The users as the API shows them, built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Users {
    names: Vec<String>,
    joined: SystemTime,
}

impl Users {
    /// The usernames in configuration order; `date_joined` is now.
    pub(crate) fn new(names: Vec<String>) -> Self {
        Users {
            names,
            joined: SystemTime::now(),
        }
    }

    /// `UserResponse` of user number `id` (1-based).
    fn render(&self, id: usize, username: &str) -> Map<String, Value> {
        to_fields(&UserResponse {
            pulp_href: format!("{USERS}{id}/"),
            prn: format!("prn:auth.user:{id}"),
            id: id as u64,
            username: username.to_string(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            is_staff: true,
            is_active: true,
            date_joined: timestamp(self.joined),
            groups: Vec::new(),
            hidden_fields: vec![HiddenField::new("password", true)],
        })
    }

    fn rows(&self) -> Vec<(Row<'_>, Map<String, Value>)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let row = Row {
                    // Ties on `date_joined` fall back to the id, newest (highest) first.
                    id: Uuid::from_u128(i as u128 + 1),
                    name,
                    base_path: None,
                    labels: None,
                    created: self.joined,
                    updated: self.joined,
                };
                (row, self.render(i + 1, name))
            })
            .collect()
    }
}

/// `GET /pulp/api/v3/users/`.
pub(crate) async fn list(
    Extension(users): Extension<Arc<Users>>,
    _: Authenticated,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Handled {
    let query = ListQuery::parse(query.as_deref(), &FILTERS, &ORDERING)?;
    let selected = query.select(users.rows())?;
    let body = query.page(selected, &uri, &headers);
    Ok(json_response(StatusCode::OK, &body).map(axum::body::Body::from))
}

/// `GET /pulp/api/v3/users/<id>/`.
pub(crate) async fn read(
    Extension(users): Extension<Arc<Users>>,
    _: Authenticated,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Handled {
    let index = id
        .parse::<usize>()
        .ok()
        .filter(|i| (1..=users.names.len()).contains(i))
        .ok_or_else(ApiError::not_found)?;
    let body =
        ListQuery::shaping(query.as_deref()).shape(users.render(index, &users.names[index - 1]));
    Ok(json_response(StatusCode::OK, &body).map(axum::body::Body::from))
}
