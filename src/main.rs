//! The `hubcache` binary: parse the command line; run a client subcommand (`prewarm`), or load
//! and check the configuration and run `state export|import` or the server.

use std::process::ExitCode;

use hubcache::cli::{Cli, Command};
use hubcache::config::Config;

/// mimalloc instead of glibc's malloc: small hits allocate and free a few dozen blocks each,
/// often on another thread than the one that allocated them (glibc took arena locks there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut cli = Cli::parse_checked();
    let state = match cli.command.take() {
        // A client of a running server: no configuration file, no server, no log setup.
        Some(Command::Prewarm(args)) => return hubcache::prewarm::main(args),
        Some(Command::State(command)) => Some(command),
        None => None,
    };
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(problems) => {
            // --check and a real start print the same list, one problem per line.
            eprintln!(
                "{}: invalid configuration\n{problems}",
                cli.config.display()
            );
            return ExitCode::from(2);
        }
    };
    if let Some(command) = state {
        // Reads and writes stores, as the server would at start; no log setup (its messages
        // go to stderr).
        return hubcache::state::transfer::cli::main(&config, command);
    }
    if cli.check {
        println!("{}: configuration is valid", cli.config.display());
        return ExitCode::SUCCESS;
    }
    hubcache::logging::init(cli.log_format);
    match hubcache::services::build_server(config, cli.pingora_opt()) {
        Ok(server) => {
            server.run(pingora::server::RunArgs::default());
            hubcache::logging::flush();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hubcache: {err}");
            ExitCode::FAILURE
        }
    }
}
