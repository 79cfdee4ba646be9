//! stafd: the NVMe-oF discovery daemon (STorage Appliance Finder).
//!
//! Today it parses its arguments and configuration; `--check-config` validates a
//! configuration file. The daemon's event loop comes with the stafd issue.
use std::process::ExitCode;

use clap::Parser;
use libstas::cli::DaemonArgs;
use libstas::config::Daemon;

#[derive(Parser, Debug)]
#[command(
    name = "stafd",
    about = "STorage Appliance Finder: NVMe-oF discovery daemon"
)]
struct Args {
    #[command(flatten)]
    common: DaemonArgs,
}

fn main() -> ExitCode {
    libstas::cli::daemon_main(Daemon::Stafd, Args::parse().common)
}
