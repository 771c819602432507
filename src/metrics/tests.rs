//! Unit tests for `Metrics`: each call is checked by parsing the exposition before and after
//! and comparing every sample, so a call that moves a wrong series fails too.

use std::time::Duration;

use http::Method;

use super::samples::{assert_changes, changes, histogram, key, samples};
use super::*;
use crate::cache::StoreFailures;

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
        let got = changes(&m, |m| {
            m.observe_request("hf-public", &method, 206, Duration::from_millis(30))
        });
        let mut want = histogram(
            "hubcache_request_duration_seconds",
            ("distribution", "hf-public"),
            TTFB_BUCKETS,
            0.03,
        );
        let series = [
            ("distribution", "hf-public"),
            ("method", label),
            ("status", "206"),
        ];
        want.insert(key("hubcache_requests_total", &series), 1.0);
        assert_changes(&got, &want, &format!("method {method}"));
    }
}

#[test]
fn no_distribution_is_labelled_dash() {
    let m = Metrics::new().unwrap();
    let got = changes(&m, |m| m.observe_lookup("", "miss"));
    let want = [(
        key(
            "hubcache_cache_lookups_total",
            &[("distribution", "-"), ("result", "miss")],
        ),
        1.0,
    )];
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
        let want = [(
            key(
                "hubcache_cache_lookups_total",
                &[("distribution", "d"), ("result", label)],
            ),
            1.0,
        )];
        assert_eq!(got, want.into_iter().collect(), "result {input:?}");
    }
}

#[test]
fn observe_upstream_labels_failures_error() {
    let m = Metrics::new().unwrap();
    for (status, label, secs) in [(200, "200", 0.3), (503, "503", 0.004), (0, "error", 61.0)] {
        let got = changes(&m, |m| {
            m.observe_upstream("hf", status, Duration::from_secs_f64(secs))
        });
        let mut want = histogram(
            "hubcache_upstream_request_duration_seconds",
            ("remote", "hf"),
            UPSTREAM_BUCKETS,
            secs,
        );
        want.insert(
            key(
                "hubcache_upstream_requests_total",
                &[("remote", "hf"), ("status", label)],
            ),
            1.0,
        );
        assert_changes(&got, &want, &format!("status {status}"));
    }
}

#[test]
fn response_bytes_add_by_source() {
    let m = Metrics::new().unwrap();
    for (source, label, n) in [
        (Source::Cache, "cache", 1024),
        (Source::Upstream, "upstream", 5),
    ] {
        let got = changes(&m, |m| m.add_response_bytes("d", source, n));
        let want = [(
            key(
                "hubcache_response_bytes_total",
                &[("distribution", "d"), ("source", label)],
            ),
            n as f64,
        )];
        assert_eq!(got, want.into_iter().collect());
    }
}

#[test]
fn cache_figures_set_gauges_and_move_evictions_by_the_difference() {
    let m = Metrics::new().unwrap();
    let value = |name: &str| samples(&m.encode()).get(&key(name, &[])).copied();
    let figures = CacheFigures {
        size_bytes: 300,
        objects: 3,
        max_size: 1000,
        evictions_total: 5,
        fills_in_flight: 2,
        pinned_bytes: 120,
        store_failures: Default::default(),
    };
    m.set_cache_figures(figures);
    assert_eq!(value("hubcache_cache_size_bytes"), Some(300.0));
    assert_eq!(value("hubcache_cache_objects"), Some(3.0));
    assert_eq!(value("hubcache_pinned_bytes"), Some(120.0));
    assert_eq!(value("hubcache_cache_max_size_bytes"), Some(1000.0));
    assert_eq!(value("hubcache_fills_in_flight"), Some(2.0));
    // (storage's count, counter after the scrape): a smaller count never moves it back.
    for (evictions_total, want) in [(5, 5.0), (5, 5.0), (8, 8.0), (3, 8.0), (9, 9.0)] {
        m.set_cache_figures(CacheFigures {
            evictions_total,
            ..figures
        });
        assert_eq!(
            value("hubcache_cache_evictions_total"),
            Some(want),
            "storage count {evictions_total}"
        );
    }
    let failures = |reason: &str| {
        samples(&m.encode())
            .get(&key(
                "hubcache_cache_store_failures_total",
                &[("reason", reason)],
            ))
            .copied()
    };
    // Every reason is exported from the start, at 0.
    for reason in ["no_space", "budget", "io_error"] {
        assert_eq!(failures(reason), Some(0.0), "{reason}");
    }
    for (counts, want) in [([2, 0, 1], 2.0), ([2, 0, 1], 2.0), ([5, 1, 1], 5.0)] {
        m.set_cache_figures(CacheFigures {
            store_failures: StoreFailures { counts },
            ..figures
        });
        assert_eq!(failures("no_space"), Some(want), "{counts:?}");
        assert_eq!(failures("budget"), Some(counts[1] as f64), "{counts:?}");
        assert_eq!(failures("io_error"), Some(1.0), "{counts:?}");
    }
}

#[test]
fn build_info_and_process_metrics_are_exported() {
    let text = Metrics::new().unwrap().encode();
    let all = samples(&text);
    assert_eq!(
        all.get(&key(
            "hubcache_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )),
        Some(&1.0)
    );
    #[cfg(target_os = "linux")]
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(all.keys().any(|(n, _)| n == name), "{name} missing");
    }
}

/// Drives every family once, checks the families' names are present, and writes the
/// exposition to `$HUBCACHE_METRICS_DUMP` when set (`.ci/check-observability.sh` runs
/// `promtool check metrics` on it and checks dashboard and alert names against it).
#[test]
fn dump_exposition() {
    let m = Metrics::new().unwrap();
    m.observe_request("hf-public", &Method::GET, 200, Duration::from_millis(2));
    m.observe_lookup("hf-public", "hit");
    m.observe_upstream("hf", 200, Duration::from_millis(80));
    m.add_response_bytes("hf-public", Source::Cache, 10);
    let figures = CacheFigures {
        size_bytes: 1,
        objects: 1,
        max_size: 2,
        evictions_total: 1,
        fills_in_flight: 0,
        pinned_bytes: 1,
        store_failures: StoreFailures { counts: [1, 0, 0] },
    };
    m.set_cache_figures(figures);
    m.set_task_states([0, 1, 2, 0, 0, 0]);
    m.add_task_bytes(1);
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
        "hubcache_pinned_bytes",
        "hubcache_cache_evictions_total",
        "hubcache_fills_in_flight",
        "hubcache_cache_store_failures_total",
        "hubcache_request_duration_seconds",
        "hubcache_build_info",
        "hubcache_tasks",
        "hubcache_task_bytes_total",
    ];
    for name in families {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "{name} missing"
        );
    }
    if let Some(path) = std::env::var_os("HUBCACHE_METRICS_DUMP") {
        fs_err::write(path, &text).unwrap();
    }
}

#[test]
fn task_states_are_counted_and_sync_bytes_add_up() {
    use crate::tasks::{Task, TaskState};
    let m = Metrics::new().unwrap();
    let value = |state: &str| {
        samples(&m.encode())
            .get(&key("hubcache_tasks", &[("state", state)]))
            .copied()
    };
    assert_eq!(value("canceling"), Some(0.0), "every state from the start");
    let mut tasks = Vec::new();
    for state in [
        TaskState::Running,
        TaskState::Completed,
        TaskState::Completed,
    ] {
        let mut t = Task::waiting("sync", "cid".into(), Vec::new());
        t.state = state;
        tasks.push(t);
    }
    m.set_task_states(count_tasks(&tasks));
    assert_eq!(value("running"), Some(1.0));
    assert_eq!(value("completed"), Some(2.0));
    assert_eq!(value("failed"), Some(0.0));
    m.set_task_states(count_tasks(&tasks[..1]));
    assert_eq!(
        value("completed"),
        Some(0.0),
        "a gauge, read at each scrape"
    );

    let bytes = || {
        samples(&m.encode())
            .get(&key("hubcache_task_bytes_total", &[]))
            .copied()
    };
    assert_eq!(bytes(), Some(0.0));
    m.add_task_bytes(10);
    m.add_task_bytes(5);
    assert_eq!(bytes(), Some(15.0));
}
