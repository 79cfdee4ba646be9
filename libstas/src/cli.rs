//! Helpers shared by the binaries' entry points, so that `main.rs` files stay thin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Daemon};

/// The command line shared by stafd and stacd (nvme-stas compatible).
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Configuration file [default: /etc/stas/stafd.conf or /etc/stas/stacd.conf].
    #[arg(short = 'f', long = "conf-file", value_name = "FILE")]
    pub conf_file: Option<PathBuf>,
    /// Log to the journal (or syslog) instead of stderr.
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// Trace on: debug logging.
    #[arg(long)]
    pub tron: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// Check a configuration file (default: the --conf-file one), print every problem with
    /// its line, and exit non-zero if there is an error.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub check_config: Option<Option<PathBuf>>,
}

/// The entry point of a daemon binary, after argument parsing.
#[must_use]
pub fn daemon_main(daemon: Daemon, args: DaemonArgs) -> ExitCode {
    if args.version {
        println!("{} (stas) {}", daemon.name(), env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let conf_file = args.conf_file.unwrap_or_else(|| {
        PathBuf::from(match daemon {
            Daemon::Stafd => config::STAFD_CONF,
            Daemon::Stacd => config::STACD_CONF,
        })
    });
    let check = args
        .check_config
        .map(|f| f.unwrap_or_else(|| conf_file.clone()));
    daemon_stub(daemon, check.as_deref(), &conf_file)
}

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
