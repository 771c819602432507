//! The command line: `hubcache [--config FILE] [--check] [--upgrade] [--log-format json|text]`
//! runs the server; `hubcache prewarm … REPO_ID` is a client of a running server (see
//! [`crate::prewarm`]) and never reads a configuration file; `hubcache [--config FILE] state
//! export|import` moves the API-made state between stores (see [`crate::state::transfer`],
//! `docs/fleet.md` "From one node to a fleet").

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// A client subcommand; without one, hubcache runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Configuration file (also read by `state export|import`).
    #[arg(long, short = 'c', default_value = "conf/hubcache.yaml", global = true)]
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

/// Subcommands: clients of a running hubcache.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download a Hub repository revision into a running hubcache's cache, optionally pinned.
    ///
    /// Creates or updates the repository `<type>/<repo_id>` through the server's API, starts
    /// its sync and follows the task: a progress bar on a terminal, a plain line every few
    /// seconds otherwise. Exits 0 only when the task completed; Ctrl-C asks whether to cancel
    /// the task (without a terminal it cancels it) and exits 130. The password is read from
    /// HUBCACHE_ADMIN_PASSWORD.
    Prewarm(PrewarmArgs),
    /// Move the state the API made (remotes, distributions, content guards, repositories,
    /// tasks) out of the configured store, or into the configured PostgreSQL.
    ///
    /// Reads the configuration file like the server (`--config`); run it with the server
    /// stopped or running. Exits 0 when done, 1 when refused or failed, 2 on a usage error or
    /// an invalid configuration.
    #[command(subcommand)]
    State(StateCommand),
}

/// `hubcache state export|import`.
#[derive(Debug, Clone, Subcommand)]
pub enum StateCommand {
    /// Write the API-made objects and the tasks of the configured store (the state file, or
    /// PostgreSQL) in the state-file format, secrets included: the output is a backup, keep it
    /// private (a file is written with mode 0600). Objects declared in the configuration file
    /// are not written.
    Export(ExportArgs),
    /// Check a state file as the server does at start-up and write it into the configured
    /// PostgreSQL (`state.postgres`) in one transaction; running nodes reload it at once.
    Import(ImportArgs),
}

/// `hubcache state export [--output FILE]`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write to FILE (mode 0600, replaced atomically) instead of stdout. Without it, stdout
    /// must not be a terminal.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `hubcache state import [--replace] FILE`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Replace the API-made objects and tasks the database already holds (without it, an
    /// import into a database holding any is refused).
    #[arg(long)]
    pub replace: bool,
    /// A file written by `hubcache state export` (or a node's state file); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The kind of Hub repository (`repo_type` of a hubcache repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HubRepoType {
    /// A model repository.
    #[default]
    Models,
    /// A dataset repository.
    Datasets,
    /// A Space.
    Spaces,
}

impl HubRepoType {
    /// The API's spelling (`repo_type`), which is also the command line's.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Models => "models",
            Self::Datasets => "datasets",
            Self::Spaces => "spaces",
        }
    }
}

/// `hubcache prewarm [--server URL] [--remote NAME] [--revision REV] [--type …] [--include GLOB]…
/// [--exclude GLOB]… [--pin] [--user USER] REPO_ID`.
#[derive(Debug, Clone, Args)]
pub struct PrewarmArgs {
    /// The hubcache to prewarm (where its API listens).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The remote (by name) to download through; may be left out when the server has one.
    #[arg(long)]
    pub remote: Option<String>,
    /// Branch, tag or commit to download.
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// Kind of Hub repository.
    #[arg(long = "type", value_enum, default_value_t = HubRepoType::Models)]
    pub repo_type: HubRepoType,
    /// Only files matching this glob (repeatable; as huggingface_hub's allow_patterns).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files matching this glob (repeatable; as huggingface_hub's ignore_patterns).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Keep the files out of eviction (the repository's `pinned`). Without it, an existing
    /// repository keeps its pin as it is.
    #[arg(long)]
    pub pin: bool,
    /// API user; the password comes from HUBCACHE_ADMIN_PASSWORD.
    #[arg(long, default_value = "admin")]
    pub user: String,
    /// How often plain progress lines are written when stderr is not a terminal.
    #[arg(long, hide = true, default_value = "5s", value_parser = humantime::parse_duration)]
    pub progress_every: Duration,
    /// The Hub repository, e.g. `meta-llama/Llama-3.1-8B`.
    #[arg(value_name = "REPO_ID")]
    pub repo_id: String,
}

/// The server's own flags: refused with a subcommand.
const SERVER_FLAGS: [&str; 3] = ["check", "upgrade", "log_format"];

impl Cli {
    /// Parses the process's arguments; exits 2 with clap's message on a usage error.
    pub fn parse_checked() -> Cli {
        Cli::try_parse_checked(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first). `--config` is global (`hubcache --config F
    /// state export` and `hubcache state export --config F` both work), but the server's
    /// flags are refused with a subcommand, and `--config` with `prewarm` (a client of a
    /// running server, which never reads a configuration file).
    pub fn try_parse_checked<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let given = |m: &clap::ArgMatches, id: &str| {
            m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        };
        if let Some((name, sub)) = matches.subcommand() {
            let mut refused: Vec<&str> = SERVER_FLAGS
                .into_iter()
                .filter(|id| given(&matches, id))
                .collect();
            if name == "prewarm" && (given(&matches, "config") || given(sub, "config")) {
                refused.push("config");
            }
            if let Some(flag) = refused.first() {
                return Err(command.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{} cannot be used with the '{name}' subcommand",
                        flag.replace('_', "-")
                    ),
                ));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }

    /// Pingora's own options, filled from ours (never `Opt::parse_args()`: our flags differ).
    pub fn pingora_opt(&self) -> pingora::server::configuration::Opt {
        pingora::server::configuration::Opt {
            upgrade: self.upgrade,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_checked(std::iter::once("hubcache").chain(args.iter().copied()))
    }

    #[test]
    fn server_flags_parse_as_before() {
        let cli = parse(&["--config", "f.yaml", "--check"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config, PathBuf::from("f.yaml"));
        assert!(cli.check);
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.config, PathBuf::from("conf/hubcache.yaml"));
        assert!(!cli.check && !cli.upgrade);
    }

    #[test]
    fn prewarm_parses_with_defaults_and_repeats() {
        let cli = parse(&[
            "prewarm",
            "--include",
            "*.json",
            "--include",
            "*.safetensors",
            "--exclude",
            "*.bin",
            "--type",
            "datasets",
            "--pin",
            "org/data",
        ])
        .unwrap();
        let Some(Command::Prewarm(args)) = cli.command else {
            panic!("not prewarm");
        };
        assert_eq!(args.server, "http://127.0.0.1:8080");
        assert_eq!(args.user, "admin");
        assert_eq!(args.revision, "main");
        assert_eq!(args.repo_type, HubRepoType::Datasets);
        assert_eq!(args.include, ["*.json", "*.safetensors"]);
        assert_eq!(args.exclude, ["*.bin"]);
        assert!(args.pin);
        assert_eq!(args.remote, None);
        assert_eq!(args.repo_id, "org/data");
        assert_eq!(args.progress_every, Duration::from_secs(5));
    }

    #[test]
    fn prewarm_needs_a_repo_id_and_refuses_server_flags() {
        assert!(parse(&["prewarm"]).is_err());
        assert!(parse(&["--check", "prewarm", "org/m"]).is_err());
        assert!(parse(&["prewarm", "--type", "buckets", "org/m"]).is_err());
        assert!(parse(&["--log-format", "text", "prewarm", "org/m"]).is_err());
        assert!(parse(&["--config", "f.yaml", "prewarm", "org/m"]).is_err());
        assert!(parse(&["prewarm", "--config", "f.yaml", "org/m"]).is_err());
    }

    #[test]
    fn state_export_and_import_read_the_config_before_or_after() {
        let cli = parse(&["--config", "old.yaml", "state", "export"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("old.yaml"));
        let Some(Command::State(StateCommand::Export(args))) = cli.command else {
            panic!("not state export");
        };
        assert_eq!(args.output, None);
        let cli = parse(&["state", "export", "-o", "s.yaml", "-c", "x.yaml"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("x.yaml"));
        let Some(Command::State(StateCommand::Export(args))) = cli.command else {
            panic!("not state export");
        };
        assert_eq!(args.output, Some(PathBuf::from("s.yaml")));
        let cli = parse(&["-c", "new.yaml", "state", "import", "--replace", "s.yaml"]).unwrap();
        let Some(Command::State(StateCommand::Import(args))) = cli.command else {
            panic!("not state import");
        };
        assert!(args.replace);
        assert_eq!(args.file, PathBuf::from("s.yaml"));
    }

    #[test]
    fn state_needs_its_verb_and_import_its_file() {
        assert!(parse(&["state"]).is_err());
        assert!(parse(&["state", "import"]).is_err());
        assert!(parse(&["state", "dump"]).is_err());
        assert!(parse(&["--check", "state", "export"]).is_err());
        assert!(parse(&["--upgrade", "state", "import", "f"]).is_err());
    }
}
