//! The fake Hub's routing, repository access rules and `/resolve` answers.

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::fake_cdn;
use super::fake_hub::Shared;
use super::file_response::{file_response, ByteRequest};
use super::http::{bearer, empty, hub_error, set, text, Body};
use super::model::{Fault, FileEntry, HubState, Repo, RepoType};

/// Python's `quote(s, safe='')`.
pub(super) const QUOTE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');
/// Python's `quote(s)` (keeps `/`).
pub(super) const QUOTE_PATH: &AsciiSet = &QUOTE_ALL.remove(b'/');

pub(super) fn quote(s: &str) -> String {
    utf8_percent_encode(s, QUOTE_ALL).to_string()
}

pub(super) fn quote_path(s: &str) -> String {
    utf8_percent_encode(s, QUOTE_PATH).to_string()
}

pub(super) fn unquote(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    strip_body_for_head(&method, route(shared, req).await)
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/api/resolve-cache/") {
        return resolve_cache(&shared, &req, rest).await;
    }
    match path.as_str() {
        "/api/agent-harnesses" => return text(404, "Not Found"),
        "/api/whoami-v2" => return whoami(&req),
        _ => {}
    }
    if path.starts_with("/api/") {
        return super::hub_api::handle(shared, req).await;
    }
    if let Some(i) = path.find("/resolve/") {
        return resolve(&shared, &req, &path[1..i], &path[i + "/resolve/".len()..]).await;
    }
    text(404, "Not Found")
}

fn whoami(req: &Request<Incoming>) -> Response<Body> {
    match bearer(req) {
        Some(_) => text(200, r#"{"type":"user","name":"fake-user"}"#),
        None => hub_error(401, None, "Invalid username or password.", None),
    }
}

/// Outcome of looking a repository up for a request.
pub(super) enum Lookup<'a> {
    Found(&'a Repo),
    /// Renamed or legacy id: answer a relative 307 to the new key.
    Moved(String),
    Denied(Response<Body>),
}

/// Applies rename, existence and privacy rules (`docs/hub-protocol.md` "The Hub's side").
pub(super) fn lookup<'a>(state: &'a HubState, key: &str, token: Option<&str>) -> Lookup<'a> {
    let Some(repo) = state.repos.get(key) else {
        if let Some(new) = state.renames.get(key) {
            return Lookup::Moved(new.clone());
        }
        return Lookup::Denied(repo_not_found(token));
    };
    match &repo.spec.private_token {
        Some(t) if token != Some(t.as_str()) => Lookup::Denied(repo_not_found(token)),
        _ => Lookup::Found(repo),
    }
}

fn repo_not_found(token: Option<&str>) -> Response<Body> {
    match token {
        None => hub_error(401, None, "Invalid username or password.", None),
        Some(_) => hub_error(
            404,
            Some("RepoNotFound"),
            "Repository not found. Please make sure you specified the correct `repo_id` and `repo_type`.",
            None,
        ),
    }
}

/// Gating and disabling apply to file downloads only.
fn download_denied(repo: &Repo, token: Option<&str>) -> Option<Response<Body>> {
    if repo.spec.disabled {
        return Some(hub_error(
            403,
            None,
            "Access to this resource is disabled.",
            None,
        ));
    }
    let granted = repo.spec.gated_tokens.as_ref()?;
    let id = &repo.spec.id;
    match token {
        Some(t) if granted.iter().any(|g| g == t) => None,
        Some(_) => Some(hub_error(403, Some("GatedRepo"), &format!("Access to model {id} is restricted and you are not in the authorized list."), None)),
        None => Some(hub_error(401, Some("GatedRepo"), &format!("Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in."), None)),
    }
}

/// A 429/500/503 injected for this request, if any.
pub(super) fn status_fault(
    state: &mut HubState,
    repo: &str,
    path: Option<&str>,
) -> Option<Response<Body>> {
    let fault = state
        .take_faults(repo, path, Fault::is_status)
        .into_iter()
        .next()?;
    Some(match fault {
        Fault::RateLimited { retry_after } => {
            let mut resp = hub_error(
                429,
                None,
                "You have been rate-limited; you can retry this action in a few minutes.",
                None,
            );
            set(
                &mut resp,
                "ratelimit",
                format!("\"resolvers\";r=0;t={retry_after}"),
            );
            set(
                &mut resp,
                "ratelimit-policy",
                "\"fixed window\";\"resolvers\";q=3000;w=300",
            );
            set(&mut resp, "retry-after", retry_after.to_string());
            resp
        }
        Fault::Status(code) => hub_error(
            code,
            None,
            "Internal Error - We're working hard to fix this as soon as possible!",
            None,
        ),
        _ => unreachable!("filtered by is_status"),
    })
}

/// `HEAD|GET /{prefix}{repo}/resolve/{rev}/{path}`.
async fn resolve(
    shared: &Shared,
    req: &Request<Incoming>,
    repo_part: &str,
    rest: &str,
) -> Response<Body> {
    let token = bearer(req);
    let Some((rev_raw, file_raw)) = rest.split_once('/') else {
        return text(400, "Bad Request");
    };
    let (rev, file) = (unquote(rev_raw), unquote(file_raw));
    let (kind, id) = RepoType::split_key(repo_part);
    let key = kind.key(id);

    let (entry, commit, simple) = {
        let mut state = shared.lock();
        if let Some(resp) = status_fault(&mut state, &key, Some(&file)) {
            return resp;
        }
        let repo = match lookup(&state, &key, token.as_deref()) {
            Lookup::Found(repo) => repo,
            Lookup::Moved(new) => {
                let (_, new_id) = RepoType::split_key(&new);
                let path_and_query = req.uri().path_and_query().map_or("", |p| p.as_str());
                return redirect(
                    307,
                    &path_and_query.replacen(&format!("/{id}/"), &format!("/{new_id}/"), 1),
                );
            }
            Lookup::Denied(resp) => return resp,
        };
        if let Some(resp) = download_denied(repo, token.as_deref()) {
            return resp;
        }
        let Some(commit) = repo.resolve_rev(&rev) else {
            return hub_error(
                404,
                Some("RevisionNotFound"),
                &format!("Invalid rev id: {rev}"),
                None,
            );
        };
        let Some(entry) = repo.commits[&commit].get(&file).cloned() else {
            return hub_error(404, Some("EntryNotFound"), "Entry not found", Some(&commit));
        };
        (entry, commit, state.simple_mode)
    };

    if entry.lfs {
        return lfs_redirect(shared, &key, &commit, &entry);
    }
    if simple {
        let mut resp = serve_file(shared, req, &key, &entry).await;
        set(&mut resp, "x-repo-commit", &commit);
        set(&mut resp, "x-linked-etag", format!("\"{}\"", entry.blob_id));
        return resp;
    }
    let location = format!(
        "/api/resolve-cache/{}/{id}/{commit}/{}?%2F{}%2Fresolve%2F{}%2F{}=&etag=%22{}%22",
        kind.plural(),
        quote_path(&file),
        quote(id),
        quote(&rev),
        quote(&file),
        entry.blob_id
    );
    let mut resp = redirect(307, &location);
    set(&mut resp, "x-repo-commit", &commit);
    set(&mut resp, "x-linked-etag", format!("\"{}\"", entry.blob_id));
    set(&mut resp, "content-disposition", content_disposition(&file));
    resp
}

/// `HEAD|GET /api/resolve-cache/{type}s/{repo}/{commit}/{path}`: the bytes of a regular file.
async fn resolve_cache(shared: &Shared, req: &Request<Incoming>, rest: &str) -> Response<Body> {
    let token = bearer(req);
    let segs: Vec<&str> = rest.split('/').collect();
    let Some(kind) = segs.first().and_then(|t| RepoType::from_plural(t)) else {
        return text(404, "Not Found");
    };
    let is_commit = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    // `{repo}` is `ns/name` or a legacy single segment; the commit follows it.
    let at = match segs.len() {
        n if n > 4 && is_commit(segs[3]) => 3,
        n if n > 3 && is_commit(segs[2]) => 2,
        _ => return text(404, "Not Found"),
    };
    let (id, commit, file) = (
        segs[1..at].join("/"),
        segs[at],
        unquote(&segs[at + 1..].join("/")),
    );
    let key = kind.key(&id);
    let entry = {
        let state = shared.lock();
        let repo = match lookup(&state, &key, token.as_deref()) {
            Lookup::Found(repo) => repo,
            Lookup::Moved(_) => return text(404, "Not Found"),
            Lookup::Denied(resp) => return resp,
        };
        if let Some(resp) = download_denied(repo, token.as_deref()) {
            return resp;
        }
        match repo.commits.get(commit).and_then(|t| t.get(&file)) {
            Some(entry) => entry.clone(),
            None => return hub_error(404, Some("EntryNotFound"), "Entry not found", Some(commit)),
        }
    };
    let mut resp = serve_file(shared, req, &key, &entry).await;
    set(&mut resp, "x-repo-commit", commit);
    resp
}

async fn serve_file(
    shared: &Shared,
    req: &Request<Incoming>,
    key: &str,
    entry: &FileEntry,
) -> Response<Body> {
    let mut byte_req = ByteRequest::from_request(req);
    let faults = byte_req.take_faults(&mut shared.lock(), key, entry);
    let mut resp = file_response(&byte_req, key, entry, &faults).await;
    set(&mut resp, "etag", format!("\"{}\"", entry.blob_id));
    set(
        &mut resp,
        "content-disposition",
        content_disposition(&entry.path),
    );
    resp
}

/// The 302 to the CDN for an LFS/Xet file, with every Xet signal the real Hub sends.
fn lfs_redirect(shared: &Shared, key: &str, commit: &str, entry: &FileEntry) -> Response<Body> {
    let location = fake_cdn::signed_url(shared, key, entry);
    let (kind, id) = RepoType::split_key(key);
    let mut resp = redirect(302, &location);
    set(&mut resp, "x-repo-commit", commit);
    set(&mut resp, "x-linked-etag", format!("\"{}\"", entry.sha256));
    set(&mut resp, "x-linked-size", entry.size().to_string());
    set(&mut resp, "x-xet-hash", &entry.xet_hash);
    let link = format!(
        "<{}/api/{}/{id}/xet-read-token/{commit}>; rel=\"xet-auth\", <http://{}/v1/reconstructions/{}>; rel=\"xet-reconstruction-info\"",
        shared.hub_origin(),
        kind.plural(),
        shared.cdn_addr,
        entry.xet_hash
    );
    set(&mut resp, "link", link);
    set(
        &mut resp,
        "content-disposition",
        content_disposition(&entry.path),
    );
    resp
}

/// A redirect whose body (and so `Content-Length`) is the Hub's short text, not the file.
pub(super) fn redirect(status: u16, location: &str) -> Response<Body> {
    let word = if status == 302 {
        "Found"
    } else {
        "Temporary Redirect"
    };
    let mut resp = text(status, &format!("{word}. Redirecting to {location}"));
    set(&mut resp, "location", location);
    set(&mut resp, "accept-ranges", "bytes");
    set(&mut resp, "ratelimit", "\"resolvers\";r=2999;t=172");
    set(
        &mut resp,
        "ratelimit-policy",
        "\"fixed window\";\"resolvers\";q=3000;w=300",
    );
    resp
}

/// HEAD answers keep `Content-Length` but must not carry a body.
pub(super) fn strip_body_for_head(method: &Method, resp: Response<Body>) -> Response<Body> {
    if method != Method::HEAD {
        return resp;
    }
    let (parts, _) = resp.into_parts();
    Response::from_parts(parts, empty())
}

fn content_disposition(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    format!(
        "inline; filename*=UTF-8''{}; filename=\"{}\";",
        quote(name),
        name.replace('"', "")
    )
}
