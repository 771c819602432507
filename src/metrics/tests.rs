//! Unit tests for `Metrics`: each call is checked by parsing the exposition before and after
//! and comparing every sample, so a call that moves a wrong series fails too.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;

use super::*;

/// A sample's identity: metric name and sorted labels.
type Key = (String, BTreeMap<String, String>);

/// Parses the text exposition into sample → value (comments skipped).
fn samples(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        out.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    out
}

/// Runs `f` and returns every hubcache sample whose value changed (process_* move alone).
fn changes(m: &Metrics, f: impl FnOnce(&Metrics)) -> BTreeMap<Key, f64> {
    let before = samples(&m.encode());
    f(m);
    let after = samples(&m.encode());
    after
        .into_iter()
        .filter(|((name, _), _)| name.starts_with("hubcache_"))
        .filter_map(|(k, v)| {
            let delta = v - before.get(&k).copied().unwrap_or(0.0);
            (delta.abs() > 1e-9).then_some((k, delta))
        })
        .collect()
}

/// Asserts the same samples changed, each by the expected amount (sums up to float error).
fn assert_changes(got: &BTreeMap<Key, f64>, want: &BTreeMap<Key, f64>, case: &str) {
    let same = got.len() == want.len()
        && got.iter().zip(want).all(|((gk, gv), (wk, wv))| gk == wk && (gv - wv).abs() < 1e-9);
    assert!(same, "{case}\n got: {got:?}\nwant: {want:?}");
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    (name.to_owned(), labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// Expected changes of one histogram observation of `secs`: `_sum`, `_count` and every
/// bucket whose bound is at least `secs`.
fn histogram(name: &str, label: (&str, &str), buckets: &[f64], secs: f64) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for le in buckets.iter().filter(|b| **b >= secs).map(|b| b.to_string()).chain(["+Inf".into()]) {
        out.insert(key(&format!("{name}_bucket"), &[label, ("le", &le)]), 1.0);
    }
    out.insert(key(&format!("{name}_sum"), &[label]), secs);
    out.insert(key(&format!("{name}_count"), &[label]), 1.0);
    out
}

#[test]
fn observe_request_counts_once_with_normalised_method() {
    let m = Metrics::new().unwrap();
    let custom = Method::from_bytes(b"PURGE").unwrap();
    let rows = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "OTHER"),
        (Method::OPTIONS, "OTHER"),
        (custom, "OTHER"),
    ];
    for (method, label) in rows {
        let got = changes(&m, |m| m.observe_request("hf-public", &method, 206, Duration::from_millis(30)));
        let mut want = histogram("hubcache_request_duration_seconds", ("distribution", "hf-public"), TTFB_BUCKETS, 0.03);
        let series = [("distribution", "hf-public"), ("method", label), ("status", "206")];
        want.insert(key("hubcache_requests_total", &series), 1.0);
        assert_changes(&got, &want, &format!("method {method}"));
    }
}

#[test]
fn no_distribution_is_labelled_dash() {
    let m = Metrics::new().unwrap();
    let got = changes(&m, |m| m.observe_lookup("", "miss"));
    let want = [(key("hubcache_cache_lookups_total", &[("distribution", "-"), ("result", "miss")]), 1.0)];
    assert_eq!(got, want.into_iter().collect());
}

#[test]
fn observe_lookup_maps_unknown_results_to_bypass() {
    let m = Metrics::new().unwrap();
    let rows = [
        ("hit", "hit"),
        ("miss", "miss"),
        ("stale", "stale"),
        ("revalidated", "revalidated"),
        ("bypass", "bypass"),
        ("HIT", "bypass"),
        ("expired", "bypass"),
        ("", "bypass"),
    ];
    for (input, label) in rows {
        let got = changes(&m, |m| m.observe_lookup("d", input));
        let want = [(key("hubcache_cache_lookups_total", &[("distribution", "d"), ("result", label)]), 1.0)];
        assert_eq!(got, want.into_iter().collect(), "result {input:?}");
    }
}

#[test]
fn observe_upstream_labels_failures_error() {
    let m = Metrics::new().unwrap();
    for (status, label, secs) in [(200, "200", 0.3), (503, "503", 0.004), (0, "error", 61.0)] {
        let got = changes(&m, |m| m.observe_upstream("hf", status, Duration::from_secs_f64(secs)));
        let mut want = histogram("hubcache_upstream_request_duration_seconds", ("remote", "hf"), UPSTREAM_BUCKETS, secs);
        want.insert(key("hubcache_upstream_requests_total", &[("remote", "hf"), ("status", label)]), 1.0);
        assert_changes(&got, &want, &format!("status {status}"));
    }
}

#[test]
fn response_bytes_add_by_source() {
    let m = Metrics::new().unwrap();
    for (source, label, n) in [(Source::Cache, "cache", 1024), (Source::Upstream, "upstream", 5)] {
        let got = changes(&m, |m| m.add_response_bytes("d", source, n));
        let want = [(key("hubcache_response_bytes_total", &[("distribution", "d"), ("source", label)]), n as f64)];
        assert_eq!(got, want.into_iter().collect());
    }
}

#[test]
fn cache_figures_set_gauges_and_move_evictions_by_the_difference() {
    let m = Metrics::new().unwrap();
    let value = |name: &str| samples(&m.encode()).get(&key(name, &[])).copied();
    let figures = CacheFigures { size_bytes: 300, objects: 3, max_size: 1000, evictions_total: 5, fills_in_flight: 2 };
    m.set_cache_figures(figures);
    assert_eq!(value("hubcache_cache_size_bytes"), Some(300.0));
    assert_eq!(value("hubcache_cache_objects"), Some(3.0));
    assert_eq!(value("hubcache_cache_max_size_bytes"), Some(1000.0));
    assert_eq!(value("hubcache_fills_in_flight"), Some(2.0));
    // (storage's count, counter after the scrape): a smaller count never moves it back.
    for (evictions_total, want) in [(5, 5.0), (5, 5.0), (8, 8.0), (3, 8.0), (9, 9.0)] {
        m.set_cache_figures(CacheFigures { evictions_total, ..figures });
        assert_eq!(value("hubcache_cache_evictions_total"), Some(want), "storage count {evictions_total}");
    }
}

#[test]
fn build_info_and_process_metrics_are_exported() {
    let text = Metrics::new().unwrap().encode();
    let all = samples(&text);
    assert_eq!(all.get(&key("hubcache_build_info", &[("version", env!("CARGO_PKG_VERSION"))])), Some(&1.0));
    #[cfg(target_os = "linux")]
    for name in ["process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total"] {
        assert!(all.keys().any(|(n, _)| n == name), "{name} missing");
    }
}

/// Drives every family once, checks the product.md names are present, and writes the
/// exposition to `$HUBCACHE_METRICS_DUMP` when set (`.ci/check-observability.sh` runs
/// `promtool check metrics` on it and checks dashboard and alert names against it).
#[test]
fn dump_exposition() {
    let m = Metrics::new().unwrap();
    m.observe_request("hf-public", &Method::GET, 200, Duration::from_millis(2));
    m.observe_lookup("hf-public", "hit");
    m.observe_upstream("hf", 200, Duration::from_millis(80));
    m.add_response_bytes("hf-public", Source::Cache, 10);
    let figures = CacheFigures { size_bytes: 1, objects: 1, max_size: 2, evictions_total: 1, fills_in_flight: 0 };
    m.set_cache_figures(figures);
    let text = m.encode();
    let families = [
        "hubcache_requests_total",
        "hubcache_cache_lookups_total",
        "hubcache_upstream_requests_total",
        "hubcache_upstream_request_duration_seconds",
        "hubcache_response_bytes_total",
        "hubcache_cache_size_bytes",
        "hubcache_cache_objects",
        "hubcache_cache_max_size_bytes",
        "hubcache_cache_evictions_total",
        "hubcache_fills_in_flight",
        "hubcache_request_duration_seconds",
        "hubcache_build_info",
    ];
    for name in families {
        assert!(text.lines().any(|l| l.starts_with(&format!("# TYPE {name} "))), "{name} missing");
    }
    if let Some(path) = std::env::var_os("HUBCACHE_METRICS_DUMP") {
        fs_err::write(path, &text).unwrap();
    }
}
