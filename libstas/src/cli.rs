//! Helpers shared by the binaries' entry points, so that `main.rs` files stay thin.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Daemon};

/// Prints a `--check-config` report and returns the exit code (1 on errors).
#[must_use]
pub fn print_check_report(report: &config::CheckReport) -> ExitCode {
    for line in &report.lines {
        println!("{line}");
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Entry point of a daemon whose event loop does not exist yet: `--check-config` works;
/// otherwise the configuration is loaded, its problems are shown, and the daemon says
/// plainly that it cannot run.
#[must_use]
pub fn daemon_stub(daemon: Daemon, check: Option<&Path>, conf_file: &Path) -> ExitCode {
    if let Some(path) = check {
        return print_check_report(&config::check_service_file(daemon, path));
    }
    match config::load_service(daemon, conf_file) {
        Ok(l) => {
            for d in &l.diagnostics {
                eprintln!("{d}");
            }
            eprintln!(
                "{}: configuration read ({} controller entries); the daemon itself is not \
                 implemented yet",
                daemon.name(),
                l.config.controllers.len()
            );
        }
        Err(e) => eprintln!("{}: {e}", daemon.name()),
    }
    ExitCode::FAILURE
}
