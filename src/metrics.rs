//! Every Prometheus metric family hubcache exports, registered once in its own registry.
//!
//! `Metrics` is built at startup and passed around as `Arc<Metrics>` (no globals, no
//! `prometheus::default_registry()`). Its methods take typed arguments and map them to a
//! small, fixed set of label values, so no label can carry a repo id, a path or a token.
//! `metrics/app.rs` serves the exposition on `metrics.listen`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub mod app;
mod labels;
pub mod readiness;

use crate::cache::StoreFailure;
use crate::tasks::TaskState;
pub use app::{metrics_service, FiguresFn, FleetFn, MetricsApp, TasksFn};
use labels::{distribution_label, lookup_label, method_label, upstream_status_label};
pub use labels::{Source, LOOKUP_RESULTS};
pub use readiness::{ListenerProbe, Readiness};

/// Upstream latency buckets, seconds: 5 ms to 60 s.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Time-to-first-byte buckets, seconds: a disk hit answers in about a millisecond.
const TTFB_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Figures the disk cache reports, read at scrape time (see `MetricsApp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    /// Bytes of stored objects.
    pub size_bytes: u64,
    /// Number of stored objects.
    pub objects: u64,
    /// The byte budget (`cache.max_size`).
    pub max_size: u64,
    /// Objects evicted since the process started (monotonic).
    pub evictions_total: u64,
    /// Cache fills currently writing.
    pub fills_in_flight: u64,
    /// Of `size_bytes`: bytes of pinned objects, never evicted.
    pub pinned_bytes: u64,
    /// Fills not stored since the process started, by reason (monotonic).
    pub store_failures: crate::cache::StoreFailures,
}

/// Tasks kept per state, in [`TaskState::ALL`] order (the `hubcache_tasks` gauge).
pub type TaskCounts = [u64; TaskState::ALL.len()];

/// Counts the tasks of `tasks` per state.
pub fn count_tasks<'a>(tasks: impl IntoIterator<Item = &'a crate::tasks::Task>) -> TaskCounts {
    let mut counts = TaskCounts::default();
    for task in tasks {
        if let Some(i) = TaskState::ALL.iter().position(|s| *s == task.state) {
            counts[i] += 1;
        }
    }
    counts
}

/// Every hubcache metric family, registered in a registry of its own.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    lookups: IntCounterVec,
    upstream_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    response_bytes: IntCounterVec,
    request_duration: HistogramVec,
    cache_size: IntGauge,
    cache_objects: IntGauge,
    cache_max_size: IntGauge,
    pinned_bytes: IntGauge,
    cache_evictions: IntCounter,
    /// The storage's eviction count at the last scrape; the counter moves by the difference.
    evictions_seen: AtomicU64,
    fills_in_flight: IntGauge,
    store_failures: IntCounterVec,
    /// The storage's store-failure counts at the last scrape, per `StoreFailure::ALL`.
    store_failures_seen: [AtomicU64; 3],
    tasks: IntGaugeVec,
    task_bytes: IntCounter,
    fleet_state_version: IntGauge,
    fleet_requests: IntCounterVec,
    fleet_nodes: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers every family. Fails only if two families clash, a programming
    /// error caught by the unit tests.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let r = &registry;
        let counters = |name: &str, help: &str, labels: &[&str]| {
            register(r, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let histograms = |name: &str, help: &str, label: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            register(r, HistogramVec::new(opts, &[label])?)
        };
        let gauge = |name: &str, help: &str| register(r, IntGauge::new(name, help)?);
        let metrics = Metrics {
            requests: counters(
                "hubcache_requests_total",
                "Content requests answered, by distribution, method and status.",
                &["distribution", "method", "status"],
            )?,
            lookups: counters(
                "hubcache_cache_lookups_total",
                "Cache lookups by result: hit, miss, stale, revalidated, bypass.",
                &["distribution", "result"],
            )?,
            upstream_requests: counters(
                "hubcache_upstream_requests_total",
                "Requests sent to a remote, by status code (\"error\": no response).",
                &["remote", "status"],
            )?,
            upstream_duration: histograms(
                "hubcache_upstream_request_duration_seconds",
                "Time from sending an upstream request to its response header.",
                "remote",
                UPSTREAM_BUCKETS,
            )?,
            response_bytes: counters(
                "hubcache_response_bytes_total",
                "Response body bytes sent to clients, by source: cache or upstream.",
                &["distribution", "source"],
            )?,
            request_duration: histograms(
                "hubcache_request_duration_seconds",
                "Time from receiving a content request to its first response byte.",
                "distribution",
                TTFB_BUCKETS,
            )?,
            cache_size: gauge(
                "hubcache_cache_size_bytes",
                "Bytes stored in the disk cache.",
            )?,
            cache_objects: gauge(
                "hubcache_cache_objects",
                "Objects stored in the disk cache.",
            )?,
            cache_max_size: gauge(
                "hubcache_cache_max_size_bytes",
                "The cache.max_size budget.",
            )?,
            pinned_bytes: gauge(
                "hubcache_pinned_bytes",
                "Bytes of stored objects that pinned repositories keep from eviction (part of \
                 hubcache_cache_size_bytes).",
            )?,
            cache_evictions: register(
                r,
                IntCounter::new("hubcache_cache_evictions_total", "Objects evicted.")?,
            )?,
            evictions_seen: AtomicU64::new(0),
            fills_in_flight: gauge("hubcache_fills_in_flight", "Cache fills being written.")?,
            fleet_state_version: gauge(
                "hubcache_fleet_state_version",
                "The state_version of the shared API state in use (state.postgres; 0 without it).",
            )?,
            fleet_requests: counters(
                "hubcache_fleet_requests_total",
                "File bodies asked of their owner node (role to_owner, status = the owner's \
                 answer, error = no answer) and served to a peer (role from_peer).",
                &["role", "status"],
            )?,
            fleet_nodes: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "hubcache_fleet_nodes",
                        "Nodes of the fleet on this node's ring, by state (up, down); this node \
                         counts as up.",
                    ),
                    &["state"],
                )?,
            )?,
            store_failures: counters(
                "hubcache_cache_store_failures_total",
                "Downloads served without being stored, by reason: no_space (disk full or \
                 quota), budget (cache.max_size taken by pins and fills in flight), io_error.",
                &["reason"],
            )?,
            store_failures_seen: Default::default(),
            tasks: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "hubcache_tasks",
                        "Tasks kept, by state (waiting, running, completed, failed, canceling, \
                         canceled).",
                    ),
                    &["state"],
                )?,
            )?,
            task_bytes: register(
                r,
                IntCounter::new(
                    "hubcache_task_bytes_total",
                    "Bytes repository syncs downloaded through the content path (files \
                     already stored are not counted).",
                )?,
            )?,
            registry: registry.clone(),
        };
        let info = Opts::new("hubcache_build_info", "Always 1; the version label.");
        let build_info = register(r, IntGaugeVec::new(info, &["version"])?)?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // Every reason from the start, so a first failure is a rate, not a new series.
        for reason in StoreFailure::ALL {
            metrics.store_failures.with_label_values(&[reason.label()]);
        }
        for state in TaskState::ALL {
            metrics.tasks.with_label_values(&[state.as_str()]);
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Counts one answered content request and its time to first byte. `distribution` is a
    /// distribution name, or `"-"` when none matched; the method becomes GET, HEAD, POST or OTHER.
    pub fn observe_request(
        &self,
        distribution: &str,
        method: &http::Method,
        status: u16,
        ttfb: Duration,
    ) {
        let distribution = distribution_label(distribution);
        let status = status.to_string();
        self.requests
            .with_label_values(&[distribution, method_label(method), &status])
            .inc();
        self.request_duration
            .with_label_values(&[distribution])
            .observe(ttfb.as_secs_f64());
    }

    /// Counts one cache lookup; a `result` outside [`LOOKUP_RESULTS`] is counted as `bypass`.
    pub fn observe_lookup(&self, distribution: &str, result: &str) {
        let labels = [distribution_label(distribution), lookup_label(result)];
        self.lookups.with_label_values(&labels).inc();
    }

    /// Counts one upstream request to the remote named `remote` and its duration; `status` 0
    /// means no response (connection or TLS failure, timeout) and is labelled `error`.
    pub fn observe_upstream(&self, remote: &str, status: u16, duration: Duration) {
        let status = upstream_status_label(status);
        self.upstream_requests
            .with_label_values(&[remote, &status])
            .inc();
        self.upstream_duration
            .with_label_values(&[remote])
            .observe(duration.as_secs_f64());
    }

    /// Adds `n` response body bytes sent to a client of `distribution` from `source`.
    pub fn add_response_bytes(&self, distribution: &str, source: Source, n: u64) {
        self.response_bytes
            .with_label_values(&[distribution_label(distribution), source.label()])
            .inc_by(n);
    }

    /// Publishes the disk cache's figures; called at each scrape. The evictions counter moves
    /// by how much the storage's own count grew since the last call.
    pub fn set_cache_figures(&self, figures: CacheFigures) {
        let gauge_value = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.cache_size.set(gauge_value(figures.size_bytes));
        self.cache_objects.set(gauge_value(figures.objects));
        self.cache_max_size.set(gauge_value(figures.max_size));
        self.pinned_bytes.set(gauge_value(figures.pinned_bytes));
        self.fills_in_flight
            .set(gauge_value(figures.fills_in_flight));
        // fetch_max: concurrent scrapes add each eviction once, and a smaller count never
        // moves the counter backwards.
        let seen = self
            .evictions_seen
            .fetch_max(figures.evictions_total, Ordering::AcqRel);
        if figures.evictions_total > seen {
            self.cache_evictions.inc_by(figures.evictions_total - seen);
        }
        for (i, reason) in StoreFailure::ALL.into_iter().enumerate() {
            let count = figures.store_failures.get(reason);
            let seen = self.store_failures_seen[i].fetch_max(count, Ordering::AcqRel);
            if count > seen {
                self.store_failures
                    .with_label_values(&[reason.label()])
                    .inc_by(count - seen);
            }
        }
    }

    /// Publishes the `state_version` in use (`docs/fleet.md`).
    pub fn set_fleet_state_version(&self, version: i64) {
        self.fleet_state_version.set(version.max(0));
    }

    /// Counts one file body asked of an owner (`role` `to_owner`) or served to a peer
    /// (`from_peer`); `status` 0 means no answer (labelled `error`).
    pub fn observe_fleet(&self, role: &str, status: u16) {
        self.fleet_requests
            .with_label_values(&[role, &upstream_status_label(status)])
            .inc();
    }

    /// Publishes how many nodes of the ring are up and down; called at each scrape.
    pub fn set_fleet_nodes(&self, up: u64, down: u64) {
        for (state, n) in [("up", up), ("down", down)] {
            self.fleet_nodes
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Adds `n` bytes a repository sync downloaded.
    pub fn add_task_bytes(&self, n: u64) {
        self.task_bytes.inc_by(n);
    }

    /// Publishes how many tasks are in each state; called at each scrape.
    pub fn set_task_states(&self, counts: TaskCounts) {
        for (state, count) in TaskState::ALL.into_iter().zip(counts) {
            self.tasks
                .with_label_values(&[state.as_str()])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn encode(&self) -> String {
        match TextEncoder::new().encode_to_string(&self.registry.gather()) {
            Ok(text) => text,
            Err(err) => {
                tracing::error!(error = %err, "encoding metrics");
                String::new()
            }
        }
    }
}

/// Registers `collector` in `registry` and hands it back.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;
