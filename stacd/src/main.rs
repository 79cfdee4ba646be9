//! stacd: the NVMe-oF connection daemon (STorage Appliance Connector).
//!
//! Argument parsing only: `--version` and `--check-config` are answered by
//! `libstas::cli`, everything else runs `libstas::daemon::stacd::run`.
use std::process::ExitCode;

use clap::Parser;
use libstas::cli::StacdArgs;
use libstas::config::Daemon;

fn main() -> ExitCode {
    let args = StacdArgs::parse().common;
    libstas::cli::answer_without_running(Daemon::Stacd, &args)
        .unwrap_or_else(|| libstas::daemon::stacd::run(&args))
}
