//! Which remote and which repository a prewarm uses, and what to write to the repository: pure
//! decisions over the API's JSON (`docs/pulp-api.md`, repositories and `sync/`).

use serde_json::{json, Map, Value};

use crate::cli::{HubRepoType, PrewarmArgs};

/// The remotes list.
pub const REMOTES: &str = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
/// The repositories list.
pub const REPOSITORIES: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";

/// The repository a prewarm of `repo_id` uses: `<type>/<repo_id>`, e.g.
/// `models/meta-llama/Llama-3.1-8B`. One repository per Hub repository (not per revision), so
/// a prewarm of the next revision adds a version to it, and its pin follows the repository's
/// `retain_repo_versions`.
pub fn repository_name(repo_type: HubRepoType, repo_id: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("invalid repository id {repo_id:?}: {why}"));
    if repo_id.is_empty() {
        return bad("it is empty");
    }
    if repo_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains spaces or control characters");
    }
    if repo_id.starts_with('/') || repo_id.ends_with('/') || repo_id.contains("//") {
        return bad("expected NAME or NAMESPACE/NAME");
    }
    if repo_id.split('/').count() > 2 {
        return bad("expected NAME or NAMESPACE/NAME");
    }
    let name = format!("{}/{repo_id}", repo_type.as_str());
    crate::rules::check_name(&name)
        .map_err(|e| format!("invalid repository id {repo_id:?}: {e}"))?;
    Ok(name)
}

/// The remote to sync through: the one named, or the only one there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenRemote {
    pub name: String,
    pub href: String,
}

/// Picks the remote from a list (`named`: the `?name=` filtered list when `--remote` was given,
/// else every remote). `all_names` lists the server's remotes for the error messages.
pub fn choose_remote(
    requested: Option<&str>,
    listed: &[Value],
    all_names: &[String],
) -> Result<ChosenRemote, String> {
    let names = || {
        if all_names.is_empty() {
            "it has none".to_string()
        } else {
            format!("it has: {}", all_names.join(", "))
        }
    };
    let pick = |remote: &Value| -> Result<ChosenRemote, String> {
        let field = |key: &str| remote.get(key).and_then(Value::as_str).map(str::to_string);
        match (field("name"), field("pulp_href")) {
            (Some(name), Some(href)) => Ok(ChosenRemote { name, href }),
            _ => Err("the server listed a remote without a name or pulp_href".into()),
        }
    };
    match (requested, listed) {
        (Some(name), []) => Err(format!("the server has no remote named '{name}' ({})", names())),
        (Some(name), found) => found
            .iter()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| format!("the server has no remote named '{name}' ({})", names()))
            .and_then(pick),
        (None, []) => Err(
            "the server has no remote: create one (POST /pulp/api/v3/remotes/hugging_face/hugging-face/) \
             or declare one in its configuration"
                .into(),
        ),
        (None, [only]) => pick(only),
        (None, _) => Err(format!(
            "the server has {} remotes; choose one with --remote NAME ({})",
            all_names.len().max(listed.len()),
            names()
        )),
    }
}

/// What the repository must say for this prewarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub remote: String,
    pub repo_id: String,
    pub repo_type: &'static str,
    pub revision: String,
    pub allow_patterns: Vec<String>,
    pub ignore_patterns: Vec<String>,
    /// `--pin`: set `pinned: true`. Without it a new repository is unpinned and an existing
    /// one keeps its pin (a prewarm never silently releases a pin someone set).
    pub pin: bool,
}

impl Desired {
    pub fn new(args: &PrewarmArgs, name: String, remote_href: String) -> Self {
        Self {
            name,
            remote: remote_href,
            repo_id: args.repo_id.clone(),
            repo_type: args.repo_type.as_str(),
            revision: args.revision.clone(),
            allow_patterns: args.include.clone(),
            ignore_patterns: args.exclude.clone(),
            pin: args.pin,
        }
    }

    /// The body of the create (POST).
    pub fn create_body(&self) -> Value {
        json!({
            "name": self.name,
            "remote": self.remote,
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "revision": self.revision,
            "allow_patterns": self.allow_patterns,
            "ignore_patterns": self.ignore_patterns,
            "pinned": self.pin,
        })
    }

    /// The body of the update (PATCH) of `existing`: only the fields that differ; `None` when
    /// nothing does. Pattern lists compare as sets (`null` is the empty list).
    pub fn patch_body(&self, existing: &Value) -> Option<Value> {
        let mut patch = Map::new();
        let text = |key: &str| existing.get(key).and_then(Value::as_str);
        for (key, want) in [
            ("remote", self.remote.as_str()),
            ("repo_id", self.repo_id.as_str()),
            ("repo_type", self.repo_type),
            ("revision", self.revision.as_str()),
        ] {
            if text(key) != Some(want) {
                patch.insert(key.into(), json!(want));
            }
        }
        for (key, want) in [
            ("allow_patterns", &self.allow_patterns),
            ("ignore_patterns", &self.ignore_patterns),
        ] {
            if sorted(existing.get(key)) != sorted_strings(want) {
                patch.insert(key.into(), json!(want));
            }
        }
        if self.pin && existing.get("pinned").and_then(Value::as_bool) != Some(true) {
            patch.insert("pinned".into(), json!(true));
        }
        (!patch.is_empty()).then_some(Value::Object(patch))
    }
}

fn sorted(value: Option<&Value>) -> Vec<String> {
    let items: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    sorted_strings(&items)
}

fn sorted_strings(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> PrewarmArgs {
        let argv = ["hubcache", "prewarm"].iter().chain(extra).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Prewarm(args)) => args,
            _ => panic!("no prewarm"),
        }
    }

    #[test]
    fn names_are_type_slash_repo_id() {
        assert_eq!(
            repository_name(HubRepoType::Models, "meta-llama/Llama-3.1-8B").unwrap(),
            "models/meta-llama/Llama-3.1-8B"
        );
        assert_eq!(
            repository_name(HubRepoType::Datasets, "squad").unwrap(),
            "datasets/squad"
        );
        for bad in ["", "a b", "/x", "x/", "a//b", "a/b/c", "a\nb"] {
            let err = repository_name(HubRepoType::Models, bad).unwrap_err();
            assert!(err.starts_with("invalid repository id"), "{bad:?}: {err}");
        }
        assert!(repository_name(HubRepoType::Spaces, &"x".repeat(300)).is_err());
    }

    fn remote(name: &str) -> Value {
        json!({"name": name, "pulp_href": format!("/pulp/api/v3/remotes/hugging_face/hugging-face/{name}/")})
    }

    #[test]
    fn the_only_remote_is_chosen_and_several_need_a_name() {
        let chosen = choose_remote(None, &[remote("hf")], &["hf".into()]).unwrap();
        assert_eq!(chosen.name, "hf");
        assert!(chosen.href.ends_with("/hf/"));
        let err = choose_remote(None, &[remote("a"), remote("b")], &["a".into(), "b".into()])
            .unwrap_err();
        assert_eq!(
            err,
            "the server has 2 remotes; choose one with --remote NAME (it has: a, b)"
        );
        let err = choose_remote(None, &[], &[]).unwrap_err();
        assert!(err.starts_with("the server has no remote"), "{err}");
    }

    #[test]
    fn a_named_remote_must_exist() {
        assert_eq!(
            choose_remote(Some("b"), &[remote("b")], &[]).unwrap().name,
            "b"
        );
        let err = choose_remote(Some("c"), &[], &["a".into(), "b".into()]).unwrap_err();
        assert_eq!(err, "the server has no remote named 'c' (it has: a, b)");
    }

    #[test]
    fn create_body_carries_every_field() {
        let a = args(&["--include", "*.json", "--pin", "--revision", "v1", "org/m"]);
        let desired = Desired::new(&a, "models/org/m".into(), "/r/".into());
        assert_eq!(
            desired.create_body(),
            json!({"name": "models/org/m", "remote": "/r/", "repo_id": "org/m",
                   "repo_type": "models", "revision": "v1", "allow_patterns": ["*.json"],
                   "ignore_patterns": [], "pinned": true})
        );
    }

    #[test]
    fn patch_body_has_only_what_differs() {
        let a = args(&["--include", "*.json", "--include", "*.txt", "org/m"]);
        let desired = Desired::new(&a, "models/org/m".into(), "/r/".into());
        let same = json!({"remote": "/r/", "repo_id": "org/m", "repo_type": "models",
                          "revision": "main", "allow_patterns": ["*.txt", "*.json"],
                          "ignore_patterns": null, "pinned": true});
        assert_eq!(
            desired.patch_body(&same),
            None,
            "unchanged, and no --pin keeps the pin"
        );
        let older = json!({"remote": "/other/", "repo_id": "org/m", "repo_type": "models",
                           "revision": "v0", "allow_patterns": [], "ignore_patterns": ["*.bin"],
                           "pinned": false});
        assert_eq!(
            desired.patch_body(&older).unwrap(),
            json!({"remote": "/r/", "revision": "main", "allow_patterns": ["*.json", "*.txt"],
                   "ignore_patterns": []})
        );
        let pin = Desired {
            pin: true,
            ..desired
        };
        assert_eq!(pin.patch_body(&same), None);
        assert_eq!(
            pin.patch_body(
                &json!({"remote": "/r/", "repo_id": "org/m", "repo_type": "models",
                "revision": "main", "allow_patterns": ["*.json", "*.txt"], "pinned": false})
            )
            .unwrap(),
            json!({"pinned": true})
        );
    }
}
