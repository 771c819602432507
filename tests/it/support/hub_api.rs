//! The fake Hub's `/api/{models,datasets,spaces}/…` routes: repo info, tree (paginated),
//! paths-info, refs and xet-read-token.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::fake_hub::Shared;
use super::http::{bearer, hub_error, set, text, Body};
use super::hub_routes::{lookup, redirect, status_fault, unquote, Lookup};
use super::model::{FileEntry, Repo, RepoType, Tree};

pub(super) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let token = bearer(&req);
    let segs: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    let Some(kind) = RepoType::from_plural(segs[0]) else {
        return text(404, "Not Found");
    };
    let method = req.method().clone();
    let form = if method == Method::POST {
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        String::new()
    };

    let mut state = shared.lock();
    // `{repo}` is `ns/name` unless a one-segment (legacy) id is known.
    let known = |id: &str| {
        state.repos.contains_key(&kind.key(id)) || state.renames.contains_key(&kind.key(id))
    };
    let id_len = if segs.len() >= 3 && (known(&segs[1..3].join("/")) || !known(segs[1])) {
        2
    } else {
        1
    };
    if segs.len() < 1 + id_len {
        return text(404, "Not Found");
    }
    let id = segs[1..1 + id_len].join("/");
    let rest = &segs[1 + id_len..];
    let key = kind.key(&id);
    if let Some(resp) = status_fault(&mut state, &key, None) {
        return resp;
    }
    let repo = match lookup(&state, &key, token.as_deref()) {
        Lookup::Found(repo) => repo,
        Lookup::Moved(new) => {
            let (_, new_id) = RepoType::split_key(&new);
            let pq = req_path_and_query(&path, &query);
            return redirect(
                307,
                &pq.replacen(&format!("/{id}"), &format!("/{new_id}"), 1),
            );
        }
        Lookup::Denied(resp) => return resp,
    };
    let rev_of = |i: usize| rest.get(i).map_or("main".to_string(), |r| unquote(r));
    let Some(commit) = repo.resolve_rev(&rev_of(1)) else {
        return hub_error(
            404,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {}", rev_of(1)),
            None,
        );
    };
    let tree = &repo.commits[&commit];
    match (&method, rest.first().copied()) {
        (&Method::GET, None | Some("revision")) if rest.len() <= 2 => json_response(
            200,
            &repo_info(repo, &commit, tree, has(&query, "blobs", "true")),
        ),
        (&Method::GET, Some("tree")) if rest.len() >= 2 => {
            let dir = unquote(&rest[2..].join("/"));
            let page_size = state.tree_page_size;
            tree_page(&shared, &path, &query, &commit, tree, &dir, page_size)
        }
        (&Method::POST, Some("paths-info")) if rest.len() == 2 => {
            let expand = form.contains("expand=true") || form.contains("expand=True");
            let entries: Vec<Value> = requested_paths(&form)
                .iter()
                .filter_map(|p| match tree.get(p) {
                    Some(e) => Some(file_json(e, &commit, expand)),
                    None => is_dir(tree, p).then(|| dir_json(&commit, p)),
                })
                .collect();
            json_response(200, &Value::Array(entries))
        }
        (&Method::GET, Some("xet-read-token")) if rest.len() == 2 => xet_token(&shared),
        (&Method::GET, Some("refs")) if rest.len() == 1 => json_response(200, &refs_json(repo)),
        _ => text(404, "Not Found"),
    }
}

fn repo_info(repo: &Repo, commit: &str, tree: &Tree, blobs: bool) -> Value {
    let spec = &repo.spec;
    let siblings: Vec<Value> = tree
        .values()
        .map(|e| {
            let mut s = json!({ "rfilename": e.path });
            if blobs {
                s["blobId"] = json!(e.blob_id);
                s["size"] = json!(e.size());
                if e.lfs {
                    s["lfs"] = json!({ "sha256": e.sha256, "size": e.size(), "pointerSize": e.pointer_size });
                }
            }
            s
        })
        .collect();
    let mut info = json!({
        "_id": &hex::encode(Sha1::digest(spec.key().as_bytes()))[..24],
        "id": spec.id,
        "author": spec.id.split_once('/').map(|(ns, _)| ns),
        "sha": commit,
        "lastModified": "2024-05-01T12:00:00.000Z",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "private": spec.private_token.is_some(),
        "gated": if spec.gated_tokens.is_some() { json!("manual") } else { json!(false) },
        "disabled": spec.disabled,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "xetEnabled": true,
    });
    if spec.kind == RepoType::Model {
        info["modelId"] = json!(spec.id);
    }
    info
}

fn tree_page(
    shared: &Shared,
    path: &str,
    query: &[(String, String)],
    commit: &str,
    tree: &Tree,
    dir: &str,
    page_size: usize,
) -> Response<Body> {
    if !dir.is_empty() && !is_dir(tree, dir) {
        return hub_error(
            404,
            Some("EntryNotFound"),
            &format!("{dir} does not exist on \"{commit}\""),
            Some(commit),
        );
    }
    let recursive = has(query, "recursive", "true");
    let expand = has(query, "expand", "true");
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut dirs = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    for (p, e) in tree.range(prefix.clone()..) {
        let Some(rel) = p.strip_prefix(&prefix) else {
            break;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let depth = if recursive {
            parts.len() - 1
        } else {
            1.min(parts.len() - 1)
        };
        for d in 1..=depth {
            dirs.insert(format!("{prefix}{}", parts[..d].join("/")));
        }
        if recursive || parts.len() == 1 {
            files.push(file_json(e, commit, expand));
        }
    }
    let mut entries: Vec<Value> = dirs.iter().map(|d| dir_json(commit, d)).collect();
    entries.extend(files);
    entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));

    let limit = query
        .iter()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(page_size);
    let offset: usize = query
        .iter()
        .find(|(k, _)| k == "cursor")
        .and_then(|(_, c)| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|b| {
            String::from_utf8(b)
                .ok()?
                .strip_prefix("offset:")?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let page: Vec<Value> = entries
        .iter()
        .skip(offset)
        .take(limit.max(1))
        .cloned()
        .collect();
    let mut resp = json_response(200, &Value::Array(page));
    if offset + limit < entries.len() {
        let cursor =
            base64::engine::general_purpose::STANDARD.encode(format!("offset:{}", offset + limit));
        let others: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        let mut next = req_path_and_query(path, &others);
        next.push(if others.is_empty() { '?' } else { '&' });
        next.push_str(&format!("cursor={}", super::hub_routes::quote(&cursor)));
        set(
            &mut resp,
            "link",
            format!("<{}{next}>; rel=\"next\"", shared.hub_origin()),
        );
    }
    resp
}

fn file_json(e: &FileEntry, commit: &str, expand: bool) -> Value {
    let mut v = json!({ "type": "file", "oid": e.blob_id, "size": e.size(), "path": e.path });
    if e.lfs {
        v["lfs"] = json!({ "oid": e.sha256, "size": e.size(), "pointerSize": e.pointer_size });
        v["xetHash"] = json!(e.xet_hash);
    }
    if expand {
        v["lastCommit"] =
            json!({ "id": commit, "title": "Upload", "date": "2024-05-01T12:00:00.000Z" });
        v["securityFileStatus"] = json!({ "status": "safe" });
    }
    v
}

fn dir_json(commit: &str, path: &str) -> Value {
    let oid = hex::encode(Sha1::digest(format!("tree:{commit}:{path}").as_bytes()));
    json!({ "type": "directory", "oid": oid, "size": 0, "path": path })
}

fn is_dir(tree: &Tree, dir: &str) -> bool {
    let prefix = format!("{dir}/");
    tree.range(prefix.clone()..)
        .next()
        .is_some_and(|(p, _)| p.starts_with(&prefix))
}

fn refs_json(repo: &Repo) -> Value {
    let entry = |(name, commit): (&String, &String)| json!({ "name": name, "ref": format!("refs/heads/{name}"), "targetCommit": commit });
    let branches: Vec<Value> = repo
        .refs
        .iter()
        .filter(|(n, _)| !n.starts_with("refs/"))
        .map(entry)
        .collect();
    json!({ "branches": branches, "converts": [], "tags": [] })
}

fn xet_token(shared: &Shared) -> Response<Body> {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let cas = format!("http://{}", shared.cdn_addr);
    let mut resp = json_response(
        200,
        &json!({ "casUrl": cas, "accessToken": "xet_fake_token", "exp": exp }),
    );
    set(&mut resp, "x-xet-cas-url", &cas);
    set(&mut resp, "x-xet-access-token", "xet_fake_token");
    set(&mut resp, "x-xet-token-expiration", exp.to_string());
    resp
}

/// `paths=a&paths=b` (form) or `{"paths": [...]}` (JSON).
fn requested_paths(body: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
    }
    parse_query(body)
        .into_iter()
        .filter(|(k, _)| k == "paths")
        .map(|(_, v)| v)
        .collect()
}

pub(super) fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut resp = text(status, &value.to_string());
    set(&mut resp, "content-type", "application/json; charset=utf-8");
    resp
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (unquote(&k.replace('+', " ")), unquote(&v.replace('+', " ")))
        })
        .collect()
}

/// `key` is `true` or `True` (httpx vs requests spelling).
fn has(query: &[(String, String)], key: &str, value: &str) -> bool {
    query
        .iter()
        .any(|(k, v)| k == key && v.eq_ignore_ascii_case(value))
}

fn req_path_and_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                super::hub_routes::quote(k),
                super::hub_routes::quote(v)
            )
        })
        .collect();
    format!("{path}?{}", q.join("&"))
}
