//! Table-driven tests of every problem class with its exact YAML path, unknown keys at
//! several depths, YAML syntax errors, and secrets kept out of every message.

use super::tests::{load, problems, HASH};
use super::Credential;

#[test]
fn every_problem_has_its_path() {
    let rows: Vec<(String, &[(&str, &str)])> = vec![
        ("cache: {max_size: 20 gigs}".into(), &[("cache.max_size", "is not a size")]),
        ("cache: {max_size: 0}".into(), &[("cache.max_size", "greater than 0")]),
        ("cache: {revision_ttl: 300}".into(), &[("cache.revision_ttl", "needs a unit")]),
        ("cache: {negative_ttl: soon}".into(), &[("cache.negative_ttl", "is not a duration")]),
        ("cache: {dir: ''}".into(), &[("cache.dir", "blank")]),
        ("state: {path: var/cache/state.yaml}".into(), &[("state.path", "inside cache.dir")]),
        ("server: {threads: 0, grace_period: 5}".into(), &[("server.threads", "greater than or equal to 1"), ("server.grace_period", "unit")]),
        ("server: {request_head_timeout: 10m}".into(), &[("server.request_head_timeout", "between 1s and 5m")]),
        ("server: {request_head_timeout: 20}".into(), &[("server.request_head_timeout", "unit")]),
        ("listen: localhost".into(), &[("listen", "not an address")]),
        ("fleet: {peers: ['127.0.0.1:1']}".into(), &[("fleet.peers", "needs fleet.advertise")]),
        ("fleet: {advertise: '127.0.0.1:8080'}".into(), &[("fleet.secret", "required with fleet.advertise")]),
        ("fleet: {advertise: '127.0.0.1:8080', secret: \"0123456789abcdef\\n\"}".into(), &[("fleet.secret", "printable ASCII")]),
        ("fleet: {advertise: '0.0.0.0:8080', secret: short}".into(), &[("fleet.advertise", "not a wildcard"), ("fleet.secret", "at least 16")]),
        ("fleet: {advertise: '127.0.0.1:0', peers: ['no such host'], secret: '${NOPE}'}".into(), &[("fleet.advertise", "not port 0"), ("fleet.peers[0]", "not a node address"), ("fleet.secret", "NOPE is not set")]),
        ("api: {listen: '127.0.0.1:8080'}".into(), &[("api.listen", "clashes with listen")]),
        ("listen: '0.0.0.0:9464'".into(), &[("metrics.listen", "clashes with listen")]),
        ("content_origin: 'https://c.example/pulp'".into(), &[("content_origin", "without a path")]),
        ("users: []".into(), &[("users", "at least one user is needed for the API")]),
        ("users: [{username: a}]".into(), &[("users[0]", "neither password nor password_hash")]),
        (format!("users: [{{username: a, password: x, password_hash: '{HASH}'}}]"), &[("users[0]", "both password and password_hash")]),
        ("users: [{password: x}]".into(), &[("users[0].username", "required")]),
        ("users: [{username: a, password: x}, {username: a, password: y}]".into(), &[("users[1].username", "more than once")]),
        ("users: [{username: 'a:b', password: x}]".into(), &[("users[0].username", "':'")]),
        ("users: [{username: a, password: '${NOPE}'}]".into(), &[("users[0].password", "NOPE is not set")]),
        ("users: [{username: a, password: ''}]".into(), &[("users[0].password", "blank")]),
        ("users: [{username: a, password_hash: 'md5:abc'}]".into(), &[("users[0].password_hash", "argon2")]),
        ("remotes: [{url: 'https://h'}]".into(), &[("remotes[0].name", "required")]),
        ("remotes: [{name: r}]".into(), &[("remotes[0].url", "required")]),
        ("remotes: [{name: r, url: 'ftp://h'}]".into(), &[("remotes[0].url", "valid URL")]),
        ("remotes: [{name: r, hf_hub_url: 'https://b'}]".into(), &[("remotes[0].url", "required")]),
        ("remotes: [{name: r, url: 'https://a', hf_hub_url: 'b'}]".into(), &[("remotes[0].hf_hub_url", "valid URL")]),
        ("remotes: [{name: r, url: 'https://a', policy: eager}]".into(), &[("remotes[0].policy", "not a valid choice")]),
        ("remotes: [{name: r, url: 'https://a', proxy_url: 'http://u:p@p'}]".into(), &[("remotes[0].proxy_url", "must not contain credentials")]),
        ("remotes: [{name: r, url: 'https://a', proxy_username: u, proxy_password: p}]".into(), &[("remotes[0]", "without a proxy")]),
        ("remotes: [{name: r, url: 'https://a', proxy_url: 'http://p', proxy_username: u}]".into(), &[("remotes[0]", "together")]),
        ("remotes: [{name: r, url: 'https://a', client_cert: junk, password: 3}]".into(), &[("remotes[0].password", "expected a string"), ("remotes[0].client_cert", "CERTIFICATE")]),
        ("remotes: [{name: r, url: 'https://a', headers: [{Authorization: x}]}]".into(), &[("remotes[0].headers[0]", "hf_token")]),
        ("remotes: [{name: r, url: 'https://a', headers: [{A: x}, {B: \"x\\ty\"}, {\"C\\r\": y}]}]".into(), &[("remotes[0].headers[1]", "not a valid header value"), ("remotes[0].headers[2]", "not a valid header name")]),
        ("remotes: [{name: r, url: 'https://a', hf_token: \"hf_a\\r\\nb\"}]".into(), &[("remotes[0].hf_token", "control characters")]),
        ("remotes: [{name: r, url: 'https://a', hf_token: \"hf_\\0\"}]".into(), &[("remotes[0].hf_token", "control characters")]),
        ("remotes: [{name: r, url: 'http://[::1'}, {name: s, url: 'http://'}, {name: t, url: 'not a url'}, {name: u, url: 'http://h%41st'}]".into(), &[("remotes[0].url", "invalid IPv6"), ("remotes[1].url", "host is missing"), ("remotes[2].url", "valid URL"), ("remotes[3].url", "write the host as 'hast'")]),
        ("content_guards: [{name: g, header_name: A, header_value: \"v\\n\"}]".into(), &[("content_guards[0].header_value", "control characters")]),
        ("remotes: [{name: r, url: 'https://a', headers: [{A: x, B: y}]}]".into(), &[("remotes[0].headers[0]", "one key")]),
        ("remotes: [{name: r, url: 'https://a', connect_timeout: -1, total_timeout: later}]".into(), &[("remotes[0].connect_timeout", "greater than 0"), ("remotes[0].total_timeout", "not a duration")]),
        ("remotes: [{name: r, url: 'https://a', max_retries: -1, rate_limit: 0, download_concurrency: 1.5}]".into(), &[("remotes[0].max_retries", "greater than or equal to 0"), ("remotes[0].rate_limit", "greater than or equal to 1"), ("remotes[0].download_concurrency", "valid integer")]),
        ("remotes: [{name: r, url: 'https://a', ca_cert: 'junk'}]".into(), &[("remotes[0].ca_cert", "CERTIFICATE")]),
        ("remotes: [{name: r, url: 'https://a', pulp_labels: {'a/b': x}}]".into(), &[("remotes[0].pulp_labels", "non-alphanumerics")]),
        ("remotes: [{name: r, url: 'https://a', hf_token: '${NOPE}'}]".into(), &[("remotes[0].hf_token", "NOPE is not set")]),
        ("remotes: [{name: r, url: 'https://a'}, {name: r, url: 'https://b'}]".into(), &[("remotes[1].name", "must be unique")]),
        ("content_guards: [{name: g}]".into(), &[("content_guards[0].header_name", "required"), ("content_guards[0].header_value", "required")]),
        ("content_guards: [{name: g, header_name: 'a b', header_value: v, jq_filter: '.x'}]".into(), &[("content_guards[0].header_name", "not a valid header name"), ("content_guards[0].jq_filter", "only null")]),
        ("content_guards: [{name: g, header_name: A, header_value: v}, {name: g, header_name: A, header_value: v}]".into(), &[("content_guards[1].name", "must be unique")]),
        ("distributions: [{name: d}]".into(), &[("distributions[0].base_path", "required")]),
        ("distributions: [{name: d, base_path: /hf}]".into(), &[("distributions[0].base_path", "canonical form")]),
        ("distributions: [{name: d, base_path: hf}, {name: e, base_path: hf/x}]".into(), &[("distributions[1].base_path", "Overlaps with existing distribution 'd'")]),
        ("distributions: [{name: d, base_path: hf}, {name: d, base_path: x}]".into(), &[("distributions[1].name", "must be unique")]),
        ("distributions: [{name: d, base_path: hf, remote: nope}]".into(), &[("distributions[0].remote", "no remote named \"nope\"")]),
        ("distributions: [{name: d, base_path: hf, content_guard: nope}]".into(), &[("distributions[0].content_guard", "no content_guard named \"nope\"")]),
        ("distributions: [{name: d, base_path: hf, publication: x}]".into(), &[("distributions[0].publication", "only null")]),
    ];
    for (yaml, want) in rows {
        let got = problems(&yaml);
        let ok = got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|((path, msg), (wpath, wmsg))| path == wpath && msg.contains(wmsg));
        assert!(ok, "{yaml}\n got: {got:?}\nwant: {want:?}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let yaml = "listen: nope\ncache: {max_size: x, revision_ttl: y}\nusers: []\n\
                remotes: [{name: r}, {name: r, url: 'https://a', policy: eager}]\n\
                distributions: [{name: d, base_path: '/x', remote: zz}]\n";
    let paths: Vec<String> = problems(yaml).into_iter().map(|(path, _)| path).collect();
    let want = [
        "listen",
        "cache.max_size",
        "cache.revision_ttl",
        "users",
        "remotes[1].name",
        "remotes[0].url",
        "remotes[1].policy",
        "distributions[0].base_path",
        "distributions[0].remote",
    ];
    assert_eq!(paths, want);
}

#[test]
fn unknown_keys_and_syntax_errors() {
    let rows = [
        (
            "colour: red",
            "colour",
            "unknown field `colour`, expected one of `listen`",
        ),
        (
            "cache: {max_sise: 1GiB}",
            "cache.max_sise",
            "unknown field `max_sise`, expected one of `dir`",
        ),
        (
            "api: {listen: null, port: 1}",
            "api.port",
            "unknown field `port`",
        ),
        (
            "remotes: [{name: r, url: 'https://a'}, {name: s, colour: red}]",
            "remotes[1].colour",
            "unknown field `colour`",
        ),
        (
            "users: [{username: a, pasword: x}]",
            "users[0].pasword",
            "unknown field `pasword`",
        ),
        (
            "distributions: [{name: d, base_url: x}]",
            "distributions[0].base_url",
            "unknown field `base_url`",
        ),
        (
            "content_guards: [{name: g, value: x}]",
            "content_guards[0].value",
            "unknown field `value`",
        ),
        ("cache: [1]", "cache", "invalid type: sequence"),
        (
            "cache: {max_size: [1]}",
            "cache.max_size",
            "expected a number or a string",
        ),
        (
            "cache:\n  dir: 'x\n",
            "",
            "while scanning a quoted scalar at line 2 column 8",
        ),
        ("cache:\n  dir: a\n dir: b\n", "", "at line 3 column 2"),
        ("a: 1\n---\nb: 2\n", "", "more than one document"),
    ];
    for (yaml, path, fragment) in rows {
        let got = problems(yaml);
        assert!(
            got.len() == 1 && got[0].0 == path && got[0].1.contains(fragment),
            "{yaml:?}: {got:?}"
        );
    }
    let shown = load("cache: {max_sise: 1GiB}").unwrap_err().to_string();
    assert!(
        shown.starts_with("cache.max_sise: unknown field `max_sise`, expected one of"),
        "{shown}"
    );
    assert!(shown.contains("at line 1"), "{shown}");
}

#[test]
fn secrets_never_reach_problems() {
    let secret = "hf_topsecret_value";
    let yaml = format!(
        "users: [{{username: a, password: '{secret}', password_hash: '{secret}'}}, {{username: b, password_hash: '{secret}'}}]\n\
         remotes: [{{name: r, url: 'https://u:{secret}@h', hf_token: '{secret}${{NOPE}}', password: '{secret}', proxy_password: '{secret}'}}]\n\
         content_guards: [{{name: g, header_name: X, header_value: '{secret}${{', jq_filter: x}}]\n"
    );
    let p = load(&yaml).unwrap_err();
    assert!(p.len() >= 6, "{p}");
    let shown = format!("{p} {p:?}");
    assert!(!shown.contains(secret), "{shown}");
    // Valid secrets never print either.
    let c = load("users: [{username: a, password: '${PW}'}]").unwrap();
    assert!(!format!("{c:?}").contains("s3cret-from-env"));
    let c = load(&format!(
        "users: [{{username: a, password_hash: '{HASH}'}}]"
    ))
    .unwrap();
    assert_eq!(c.users[0].credential, Credential::Hash(HASH.into()));
    assert!(!format!("{c:?}").contains(HASH));
}
