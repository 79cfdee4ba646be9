//! stacd: the NVMe-oF connection daemon (STorage Appliance Connector).
//!
//! Today it parses its arguments and configuration; `--check-config` validates a
//! configuration file. The daemon's event loop comes with the stacd issue.
use std::process::ExitCode;

use clap::Parser;
use libstas::cli::DaemonArgs;
use libstas::config::Daemon;

#[derive(Parser, Debug)]
#[command(
    name = "stacd",
    about = "STorage Appliance Connector: NVMe-oF connection daemon"
)]
struct Args {
    #[command(flatten)]
    common: DaemonArgs,
}

fn main() -> ExitCode {
    libstas::cli::daemon_main(Daemon::Stacd, Args::parse().common)
}
