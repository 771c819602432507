//! The command line: `hubcache [--config FILE] [--check] [--upgrade] [--log-format json|text]`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    #[default]
    Json,
    /// Human-readable lines (for a terminal).
    Text,
}

/// hubcache: a pull-through cache for the Hugging Face Hub.
#[derive(Debug, Parser)]
#[command(name = "hubcache", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', default_value = "conf/hubcache.yaml")]
    pub config: PathBuf,
    /// Validate the configuration, print every problem with its YAML path, and exit.
    #[arg(long)]
    pub check: bool,
    /// Take the listening sockets over from a running hubcache (Pingora graceful upgrade;
    /// send SIGQUIT to the old process).
    #[arg(long, short = 'u')]
    pub upgrade: bool,
    /// Log format on stdout.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

impl Cli {
    /// Pingora's own options, filled from ours (never `Opt::parse_args()`: our flags differ).
    pub fn pingora_opt(&self) -> pingora::server::configuration::Opt {
        pingora::server::configuration::Opt {
            upgrade: self.upgrade,
            ..Default::default()
        }
    }
}
