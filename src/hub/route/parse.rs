//! Hub path parsing: percent-decoding and validation of each segment, then the resolve and
//! `api/…` grammars (`docs/hub-protocol.md` "Routes", "Refused routes").

use percent_encoding::percent_decode_str;

use super::{split_query, HubRoute, RepoType, RouteError, MAX_PATH_LEN};

/// Parses a raw hub path (no leading `/`; anything after a `?` is ignored). `/resolve/` is
/// matched at its first occurrence; `{rev}` is one segment; a repo id is one or two segments,
/// two preferred when both readings fit (`api/models/a/refs` is repo `a/refs`).
pub fn parse_hub_path(raw: &str) -> Result<HubRoute, RouteError> {
    let (path, _query) = split_query(raw);
    if path.len() > MAX_PATH_LEN {
        return Err(RouteError::TooLong { len: path.len() });
    }
    if path.is_empty() {
        return Err(RouteError::NotFound);
    }
    let segs = path
        .split('/')
        .enumerate()
        .map(|(i, s)| decode_segment(i + 1, s));
    let segs = segs.collect::<Result<Vec<_>, _>>()?;
    match segs.split_first() {
        Some((first, rest)) if first.text == "api" => parse_api(rest),
        _ => parse_resolve(&segs),
    }
}

/// One decoded path segment and its 1-based position.
struct Seg {
    text: String,
    number: usize,
}

fn decode_segment(number: usize, raw: &str) -> Result<Seg, RouteError> {
    let bytes = raw.as_bytes();
    if bytes.is_empty() {
        return Err(RouteError::EmptySegment { segment: number });
    }
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(RouteError::BadPercentEncoding { segment: number });
            }
        }
    }
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    let text =
        String::from_utf8(decoded).map_err(|_| RouteError::InvalidUtf8 { segment: number })?;
    if text.chars().any(char::is_control) {
        return Err(RouteError::ControlChar { segment: number });
    }
    if text.contains('\\') {
        return Err(RouteError::ForbiddenSeparator { segment: number });
    }
    if text == "." || text == ".." {
        return Err(RouteError::DotSegment { segment: number });
    }
    Ok(Seg { text, number })
}

/// A segment that must not contain an encoded `/` (repo ids, keywords).
fn plain(seg: &Seg) -> Result<&str, RouteError> {
    if seg.text.contains('/') {
        return Err(RouteError::ForbiddenSeparator {
            segment: seg.number,
        });
    }
    Ok(&seg.text)
}

/// Segments joined with `/`; encoded `/` allowed, but every component must be a real name.
fn joined(segs: &[Seg]) -> Result<String, RouteError> {
    for seg in segs {
        for part in seg.text.split('/') {
            match part {
                "" => {
                    return Err(RouteError::EmptySegment {
                        segment: seg.number,
                    })
                }
                "." | ".." => {
                    return Err(RouteError::DotSegment {
                        segment: seg.number,
                    })
                }
                _ => {}
            }
        }
    }
    Ok(segs
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("/"))
}

fn repo_id(segs: &[Seg]) -> Result<String, RouteError> {
    let parts = segs.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join("/"))
}

fn parse_resolve(segs: &[Seg]) -> Result<HubRoute, RouteError> {
    let (repo_type, rest) = match segs.split_first() {
        Some((first, rest)) => match RepoType::from_url_prefix_segment(&first.text) {
            Some(t) => (t, rest),
            None => (RepoType::Model, segs),
        },
        None => return Err(RouteError::NotFound),
    };
    let at = rest
        .iter()
        .position(|s| s.text == "resolve")
        .ok_or(RouteError::NotFound)?;
    let (Some(repo), Some(rev), Some(file)) =
        (rest.get(..at), rest.get(at + 1), rest.get(at + 2..))
    else {
        return Err(RouteError::NotFound);
    };
    if !(1..=2).contains(&at) || file.is_empty() {
        return Err(RouteError::NotFound);
    }
    Ok(HubRoute::Resolve {
        repo_type,
        repo_id: repo_id(repo)?,
        revision: joined(std::slice::from_ref(rev))?,
        path: joined(file)?,
    })
}

fn parse_api(segs: &[Seg]) -> Result<HubRoute, RouteError> {
    if let Some((first, rest)) = segs.split_first() {
        if first.text == "resolve-cache" {
            return resolve_cache(rest);
        }
    }
    let typed = segs.split_first().and_then(|(first, rest)| {
        let repo_type = RepoType::from_api_segment(&first.text)?;
        repo_route(repo_type, rest, 2).or_else(|| repo_route(repo_type, rest, 1))
    });
    match typed {
        Some(route) => route,
        // Still checked for malformed segments first: a `..` is a 400 wherever it is.
        None => joined(segs).and(Err(RouteError::NotForwarded)),
    }
}

/// `{type}s/{repo}/{commit}/{path}` after `api/resolve-cache/`: where the Hub's own redirect
/// for a regular file points. The repo id is the one or two segments before the first full
/// commit id (the Hub always names the commit there).
fn resolve_cache(segs: &[Seg]) -> Result<HubRoute, RouteError> {
    let (first, rest) = segs.split_first().ok_or(RouteError::NotForwarded)?;
    let repo_type = RepoType::from_api_segment(&first.text).ok_or(RouteError::NotForwarded)?;
    let at = rest
        .iter()
        .position(|s| super::is_commit(&s.text))
        .filter(|at| (1..=2).contains(at))
        .ok_or(RouteError::NotForwarded)?;
    let (repo, rev, file) = (&rest[..at], &rest[at], &rest[at + 1..]);
    if file.is_empty() {
        return Err(RouteError::NotForwarded);
    }
    Ok(HubRoute::Resolve {
        repo_type,
        repo_id: repo_id(repo)?,
        revision: rev.text.clone(),
        path: joined(file)?,
    })
}

/// The route if `segs` has the shape `{repo of n segments}[/{keyword}/…]`; `None` if it does not.
fn repo_route(repo_type: RepoType, segs: &[Seg], n: usize) -> Option<Result<HubRoute, RouteError>> {
    let (repo, tail) = (segs.get(..n)?, segs.get(n..)?);
    let keyword = tail.first().map(|s| s.text.as_str());
    let build = |rev: &Seg| -> Result<(String, String), RouteError> {
        Ok((repo_id(repo)?, joined(std::slice::from_ref(rev))?))
    };
    let route = match (keyword, tail) {
        (None, _) => repo_id(repo).map(|repo_id| HubRoute::RepoInfo {
            repo_type,
            repo_id,
            revision: None,
        }),
        (Some("revision"), [_, rev]) => build(rev).map(|(repo_id, r)| HubRoute::RepoInfo {
            repo_type,
            repo_id,
            revision: Some(r),
        }),
        (Some("tree"), [_, rev, path @ ..]) => build(rev).and_then(|(repo_id, revision)| {
            let path = if path.is_empty() {
                None
            } else {
                Some(joined(path)?)
            };
            Ok(HubRoute::Tree {
                repo_type,
                repo_id,
                revision,
                path,
            })
        }),
        (Some("paths-info"), [_, rev]) => {
            build(rev).map(|(repo_id, revision)| HubRoute::PathsInfo {
                repo_type,
                repo_id,
                revision,
            })
        }
        (Some("xet-read-token"), [_, rev]) => {
            build(rev).map(|(repo_id, revision)| HubRoute::XetReadToken {
                repo_type,
                repo_id,
                revision,
            })
        }
        (Some("refs"), [_]) => repo_id(repo).map(|repo_id| HubRoute::Refs { repo_type, repo_id }),
        _ => return None,
    };
    Some(route)
}
