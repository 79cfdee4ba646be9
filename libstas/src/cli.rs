//! Helpers shared by the binaries' entry points, so that `main.rs` files stay thin.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Daemon};
use crate::daemon::common::conf_file;

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

/// Answers the options a daemon handles without running: `--version`, and `--check-config`
/// (of its FILE, else of the `--conf-file` one). `None`: nothing to answer, run the daemon.
#[must_use]
pub fn answer_without_running(daemon: Daemon, args: &DaemonArgs) -> Option<ExitCode> {
    if args.version {
        println!("{} (stas) {}", daemon.name(), env!("CARGO_PKG_VERSION"));
        return Some(ExitCode::SUCCESS);
    }
    let check = args.check_config.as_ref()?;
    let path = check
        .clone()
        .unwrap_or_else(|| conf_file(daemon, args.conf_file.as_deref()));
    Some(print_check_report(&config::check_service_file(
        daemon, &path,
    )))
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn only_version_and_check_config_are_answered() {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            d: DaemonArgs,
        }
        for args in [&["stafd"][..], &["stafd", "-f", "x.conf", "--tron", "-s"]] {
            let a = Cli::parse_from(args).d;
            assert!(
                answer_without_running(Daemon::Stafd, &a).is_none(),
                "{args:?}"
            );
            assert!(
                answer_without_running(Daemon::Stacd, &a).is_none(),
                "{args:?}"
            );
        }
    }
}
