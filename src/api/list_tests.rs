//! Lists: label-select grammar, filters, ordering, pagination links, field selection.

use serde_json::{json, Value};

use super::error::ApiError;
use super::labels::{parse_label_select, LabelTerm};
use super::tests::{Harness, DISTS, GUARDS, REMOTES};

#[test]
fn label_select_grammar() {
    use LabelTerm::*;
    let s = |v: &str| v.to_string();
    let rows: Vec<(&str, Option<Vec<LabelTerm>>)> = vec![
        ("env=prod", Some(vec![Eq(s("env"), s("prod"))])),
        ("env!=prod", Some(vec![Ne(s("env"), s("prod"))])),
        ("env~pro", Some(vec![Contains(s("env"), s("pro"))])),
        ("env", Some(vec![Has(s("env"))])),
        ("!env", Some(vec![Missing(s("env"))])),
        (
            "env=prod,team",
            Some(vec![Eq(s("env"), s("prod")), Has(s("team"))]),
        ),
        ("note=a\\,b", Some(vec![Eq(s("note"), s("a,b"))])),
        ("my key.x-y=v=w", Some(vec![Eq(s("my key.x-y"), s("v=w"))])),
        ("env=", Some(vec![Eq(s("env"), s(""))])),
        ("=prod", None),
        ("!env=prod", None),
        ("a/b=c", None),
        ("env,", None),
        ("", None),
        ("!", None),
        ("env!prod", None),
    ];
    for (input, want) in rows {
        match (parse_label_select(input), want) {
            (Ok(got), Some(want)) => assert_eq!(got, want, "{input:?}"),
            (Err(ApiError::List(msg)), None) => {
                assert!(msg[0].starts_with("Invalid search term: '"), "{input:?}")
            }
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }
}

/// Three remotes and distributions, created a, b, c (so newest first is c, b, a).
async fn populated() -> Harness {
    let h = Harness::new();
    for (name, labels) in [
        ("alpha", json!({"env": "prod", "team": "ML"})),
        ("Beta", json!({"env": "dev"})),
        ("gamma", json!({})),
    ] {
        h.create(
            REMOTES,
            json!({"name": name, "url": "https://huggingface.co", "pulp_labels": labels}),
        )
        .await;
        let base_path = format!("hf/{}", name.to_lowercase());
        h.create(
            DISTS,
            json!({"name": name, "base_path": base_path, "pulp_labels": labels}),
        )
        .await;
    }
    h
}

fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test]
async fn filters_and_ordering() {
    let h = populated().await;
    let rows: Vec<(&str, &str, &[&str])> = vec![
        (REMOTES, "", &["gamma", "Beta", "alpha"]),
        (REMOTES, "?name=alpha", &["alpha"]),
        (REMOTES, "?name=", &["gamma", "Beta", "alpha"]),
        (REMOTES, "?name__contains=eta", &["Beta"]),
        (REMOTES, "?name__contains=BETA", &[]),
        (REMOTES, "?name__icontains=BETA", &["Beta"]),
        (REMOTES, "?name__startswith=g", &["gamma"]),
        (REMOTES, "?name__in=alpha,gamma,zeta", &["gamma", "alpha"]),
        (REMOTES, "?name__iexact=BETA", &["Beta"]),
        (REMOTES, "?name__istartswith=b", &["Beta"]),
        (REMOTES, "?name__regex=^[a-z]%2Ba$", &["gamma", "alpha"]),
        (REMOTES, "?name__regex=ET", &[]),
        (REMOTES, "?name__iregex=ET", &["Beta"]),
        (REMOTES, "?name__regex=a&name__contains=mm", &["gamma"]),
        (GUARDS, "?name__regex=.", &[]),
        (REMOTES, "?pulp_label_select=env", &["Beta", "alpha"]),
        (REMOTES, "?pulp_label_select=env%3Dprod", &["alpha"]),
        (REMOTES, "?pulp_label_select=env!%3Dprod", &["Beta"]),
        (REMOTES, "?pulp_label_select=!env", &["gamma"]),
        (REMOTES, "?pulp_label_select=team~ml,env%3Dprod", &["alpha"]),
        (REMOTES, "?ordering=name", &["Beta", "alpha", "gamma"]),
        (REMOTES, "?ordering=-name", &["gamma", "alpha", "Beta"]),
        (
            REMOTES,
            "?ordering=pulp_created",
            &["alpha", "Beta", "gamma"],
        ),
        (
            REMOTES,
            "?ordering=-pulp_last_updated",
            &["gamma", "Beta", "alpha"],
        ),
        (DISTS, "?base_path=hf/beta", &["Beta"]),
        (DISTS, "?base_path__contains=mm", &["gamma"]),
        (DISTS, "?ordering=-base_path", &["gamma", "Beta", "alpha"]),
        (
            DISTS,
            "?pulp_label_select=env~DE&minimal=true&format=json&page_size=1",
            &["Beta"],
        ),
        (GUARDS, "?name=x", &[]),
    ];
    for (collection, query, want) in rows {
        let a = h.call("GET", &format!("{collection}{query}"), None).await;
        assert_eq!(a.status, 200, "{query}: {}", a.json);
        assert_eq!(names(&a.json), want, "{collection}{query}");
        assert_eq!(a.json["count"], want.len(), "{query}");
    }
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let h = populated().await;
    let rows: Vec<(&str, &str, Value)> = vec![
        (
            REMOTES,
            "?colour=red",
            json!({"errors": ["Invalid Filter: 'colour'"]}),
        ),
        (
            REMOTES,
            "?base_path=x",
            json!({"errors": ["Invalid Filter: 'base_path'"]}),
        ),
        (
            GUARDS,
            "?pulp_label_select=a",
            json!({"errors": ["Invalid Filter: 'pulp_label_select'"]}),
        ),
        (
            REMOTES,
            "?name__gt=a&q=b",
            json!({"errors": ["Invalid Filter: 'name__gt'", "Invalid Filter: 'q'"]}),
        ),
        (
            REMOTES,
            "?name__regex=(a",
            json!({"name__regex": ["Invalid regular expression: error: unclosed group"]}),
        ),
        (
            DISTS,
            "?name__iregex=a{1000}{1000}",
            json!({"name__iregex": ["Invalid regular expression: the pattern is too large"]}),
        ),
        (
            REMOTES,
            "?ordering=colour",
            json!({"ordering": ["Select a valid choice. colour is not one of the available choices."]}),
        ),
        (
            REMOTES,
            "?ordering=base_path",
            json!({"ordering": ["Select a valid choice. base_path is not one of the available choices."]}),
        ),
        (
            DISTS,
            "?pulp_label_select=%3Dx",
            json!(["Invalid search term: '=x'."]),
        ),
    ];
    for (collection, query, want) in rows {
        let a = h.call("GET", &format!("{collection}{query}"), None).await;
        assert_eq!((a.status, a.json), (400, want), "{query}");
    }
}

#[tokio::test]
async fn pagination_links_are_absolute() {
    let h = populated().await;
    let base = format!("http://cache:8080{REMOTES}");
    type Page<'a> = (&'a str, Option<String>, Option<String>, &'a [&'a str]);
    let rows: Vec<Page> = vec![
        (
            "?limit=1",
            Some(format!("{base}?limit=1&offset=1")),
            None,
            &["gamma"],
        ),
        (
            "?limit=1&offset=1",
            Some(format!("{base}?limit=1&offset=2")),
            Some(format!("{base}?limit=1")),
            &["Beta"],
        ),
        (
            "?offset=2&limit=1&name__in=alpha,Beta,gamma",
            None,
            Some(format!(
                "{base}?limit=1&name__in=alpha%2CBeta%2Cgamma&offset=1"
            )),
            &["alpha"],
        ),
        (
            "?limit=2&offset=1",
            None,
            Some(format!("{base}?limit=2")),
            &["Beta", "alpha"],
        ),
        (
            "?limit=0&offset=junk",
            None,
            None,
            &["gamma", "Beta", "alpha"],
        ),
        ("?offset=10", None, Some(format!("{base}?limit=100")), &[]),
    ];
    for (query, next, previous, want) in rows {
        let a = h.call("GET", &format!("{REMOTES}{query}"), None).await;
        assert_eq!(a.json["count"], 3, "{query}");
        assert_eq!(a.json["next"], json!(next), "{query}");
        assert_eq!(a.json["previous"], json!(previous), "{query}");
        assert_eq!(names(&a.json), want, "{query}");
    }
}

#[tokio::test]
async fn fields_and_exclude_fields() {
    let h = populated().await;
    let a = h
        .call("GET", &format!("{REMOTES}?fields=name,url&limit=1"), None)
        .await;
    assert_eq!(
        a.json["results"][0],
        json!({"name": "gamma", "url": "https://huggingface.co"})
    );
    let a = h
        .call(
            "GET",
            &format!("{DISTS}?exclude_fields=pulp_labels,base_url&limit=1"),
            None,
        )
        .await;
    let obj = a.json["results"][0].as_object().unwrap();
    assert!(
        !obj.contains_key("pulp_labels")
            && !obj.contains_key("base_url")
            && obj.contains_key("name")
    );
    let href = a.json["results"][0]["pulp_href"].as_str().unwrap();
    let one = h
        .call("GET", &format!("{href}?fields=name&colour=ignored"), None)
        .await;
    assert_eq!(one.json, json!({"name": "gamma"}));
}

#[tokio::test]
async fn an_overlong_pattern_is_refused_before_compiling() {
    let h = populated().await;
    let long = "a".repeat(1001);
    let a = h
        .call("GET", &format!("{REMOTES}?name__regex={long}"), None)
        .await;
    assert_eq!(
        (a.status, a.json),
        (
            400,
            json!({"name__regex": ["Ensure this value has at most 1000 characters."]})
        )
    );
}
