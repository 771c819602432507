//! The command-line side of `hubcache state export|import`: where the text goes, what is said
//! on stderr, and the exit code (0 done, 1 refused or failed; usage errors and an invalid
//! configuration exit 2 before this runs).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{export, import, Moved};
use crate::cli::StateCommand;
use crate::config::Config;

/// What stderr says of every export.
const BACKUP: &str = "it holds the secrets (tokens, guard header values, passwords) in clear: it is a backup, keep it private and delete it once imported";

/// Runs `command` with the loaded configuration.
pub fn main(config: &Config, command: StateCommand) -> ExitCode {
    let result = match command {
        StateCommand::Export(args) => run_export(config, args.output.as_deref()),
        StateCommand::Import(args) => run_import(config, &args.file, args.replace),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hubcache: {message}");
            ExitCode::FAILURE
        }
    }
}

fn warn(moved: &Moved) {
    for warning in &moved.warnings {
        eprintln!("hubcache: warning: {warning}");
    }
}

fn run_export(config: &Config, output: Option<&Path>) -> Result<(), String> {
    let stdout = std::io::stdout();
    if output.is_none() && stdout.is_terminal() {
        return Err(format!(
            "state export: not writing secrets to a terminal; use --output FILE or redirect stdout (`> state.yaml`); {BACKUP}"
        ));
    }
    let (text, moved) = export(config).map_err(|e| format!("state export: {e}"))?;
    warn(&moved);
    let to = match output {
        Some(path) => {
            crate::atomic::replace(path, text.as_bytes())
                .map_err(|e| format!("state export: writing {}: {e}", path.display()))?;
            path.display().to_string()
        }
        None => {
            private_stdout();
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("state export: writing stdout: {e}"))?;
            "stdout".into()
        }
    };
    eprintln!(
        "hubcache: exported {} from {} to {to}; {BACKUP}",
        moved.counts, moved.store
    );
    Ok(())
}

/// Stdout redirected to a file: makes it private (0600) like the state file, before the
/// secrets are written into it.
fn private_stdout() {
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let file = std::fs::File::from(fd);
    if file.metadata().is_ok_and(|m| m.is_file()) {
        let private = std::fs::Permissions::from_mode(crate::atomic::PRIVATE_FILE);
        if let Err(e) = file.set_permissions(private) {
            eprintln!("hubcache: warning: could not make the output private (0600): {e}");
        }
    }
}

fn run_import(config: &Config, file: &Path, replace: bool) -> Result<(), String> {
    let (path, text) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("state import: reading stdin: {e}"))?;
        (Path::new("<stdin>"), text)
    } else {
        let text = fs_err::read_to_string(file).map_err(|e| format!("state import: {e}"))?;
        (file, text)
    };
    let moved = import(config, path, &text, replace).map_err(|e| format!("state import: {e}"))?;
    warn(&moved);
    eprintln!("hubcache: imported {} into {}", moved.counts, moved.store);
    Ok(())
}
