//! Log setup: `tracing` to stdout, JSON by default or text; level from `RUST_LOG` (default
//! `info`). Secrets are typed `Secret` and print as `***`, so no field can leak one.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber once.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    if let Err(err) = result {
        eprintln!("hubcache: logging already initialised: {err}");
    }
}
