//! stacd: the NVMe-oF connection daemon (STorage Appliance Connector).
//!
//! Argument parsing only: `--version` and `--check-config` are answered by
//! `libstas::cli`, everything else runs `libstas::daemon::stacd::run`.
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
    let args = Args::parse().common;
    if args.version || args.check_config.is_some() {
        return libstas::cli::daemon_main(Daemon::Stacd, args);
    }
    libstas::daemon::stacd::run(&args)
}
