//! Test helpers: the text exposition parsed into samples, and the samples a call changed.

use std::collections::BTreeMap;

use super::Metrics;

/// A sample's identity: metric name and sorted labels.
pub(super) type Key = (String, BTreeMap<String, String>);

/// Parses the text exposition into sample → value (comments skipped).
pub(super) fn samples(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
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
pub(super) fn changes(m: &Metrics, f: impl FnOnce(&Metrics)) -> BTreeMap<Key, f64> {
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
pub(super) fn assert_changes(got: &BTreeMap<Key, f64>, want: &BTreeMap<Key, f64>, case: &str) {
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|((gk, gv), (wk, wv))| gk == wk && (gv - wv).abs() < 1e-9);
    assert!(same, "{case}\n got: {got:?}\nwant: {want:?}");
}

pub(super) fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Expected changes of one histogram observation of `secs`: `_sum`, `_count` and every
/// bucket whose bound is at least `secs`.
pub(super) fn histogram(
    name: &str,
    label: (&str, &str),
    buckets: &[f64],
    secs: f64,
) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for le in buckets
        .iter()
        .filter(|b| **b >= secs)
        .map(|b| b.to_string())
        .chain(["+Inf".into()])
    {
        out.insert(key(&format!("{name}_bucket"), &[label, ("le", &le)]), 1.0);
    }
    out.insert(key(&format!("{name}_sum"), &[label]), secs);
    out.insert(key(&format!("{name}_count"), &[label]), 1.0);
    out
}
