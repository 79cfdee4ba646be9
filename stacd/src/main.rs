//! stacd: the NVMe-oF connection daemon (STorage Appliance Connector).
//!
//! Today it parses its arguments and configuration; `--check-config` validates a
//! configuration file. The daemon's event loop comes with the stacd issue.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use libstas::config::{self, Daemon};

/// Command line of stacd (nvme-stas compatible).
#[derive(Parser, Debug)]
#[command(
    name = "stacd",
    about = "STorage Appliance Connector: NVMe-oF connection daemon"
)]
struct Args {
    /// Configuration file.
    #[arg(short = 'f', long = "conf-file", default_value = config::STACD_CONF)]
    conf_file: PathBuf,
    /// Log to the journal (or syslog) instead of stderr.
    #[arg(short = 's', long)]
    syslog: bool,
    /// Trace on: debug logging.
    #[arg(long)]
    tron: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    version: bool,
    /// Check a configuration file (default: the --conf-file one), print every problem with
    /// its line, and exit non-zero if there is an error.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    check_config: Option<Option<PathBuf>>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.version {
        println!("stacd (stas) {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let check = args
        .check_config
        .map(|f| f.unwrap_or_else(|| args.conf_file.clone()));
    libstas::cli::daemon_stub(Daemon::Stacd, check.as_deref(), &args.conf_file)
}
