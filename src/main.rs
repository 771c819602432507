//! The `hubcache` binary: parse the command line; run a client subcommand (`prewarm`), or load
//! and check the configuration and run the server.

use std::process::ExitCode;

use clap::Parser;
use hubcache::cli::{Cli, Command};
use hubcache::config::Config;

/// mimalloc instead of glibc's malloc: small hits allocate and free a few dozen blocks each,
/// often on another thread than the one that allocated them (glibc took arena locks there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Prewarm(args)) = cli.command {
        // A client of a running server: no configuration file, no server, no log setup.
        return hubcache::prewarm::main(args);
    }
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
