//! Log setup: `tracing` to stdout, JSON by default or text; level from `RUST_LOG` (default
//! `info`). Secrets are typed `Secret` and print as `***`, so no field can leak one. Access
//! lines are written in batches (`lines`); call [`flush`] before exiting.

mod lines;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub use lines::flush;

/// The format chosen at `init` (`None`: logging is not set up, e.g. in unit tests).
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The log format in force, once [`init`] has run.
pub fn format() -> Option<LogFormat> {
    FORMAT.get().copied()
}

/// Queues one rendered access line (with its newline) for stdout.
pub fn queue(line: &[u8]) {
    lines::stdout().queue(line);
}

/// Crates whose debug or trace output can contain request headers.
const SECRET_PRINTING_TARGETS: [&str; 12] = [
    "pingora",
    "pingora_core",
    "pingora_proxy",
    "pingora_cache",
    "pingora_http",
    "pingora_pool",
    "pingora_rustls",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// Installs the global subscriber once.
pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Pingora and the HTTP client libraries print whole request headers (the remote's
    // `Authorization` among them) at debug level: cap them at info whatever RUST_LOG says.
    for target in SECRET_PRINTING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(lines::stdout());
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    match result {
        Ok(()) => {
            let _ = FORMAT.set(format);
        }
        Err(err) => eprintln!("hubcache: logging already initialised: {err}"),
    }
}
