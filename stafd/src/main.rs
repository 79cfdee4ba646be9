//! stafd: the NVMe-oF discovery daemon (STorage Appliance Finder).
//!
//! Argument parsing only: `--version` and `--check-config` are answered by
//! `libstas::cli`, everything else runs `libstas::daemon::stafd::run`.
use std::process::ExitCode;

use clap::Parser;
use libstas::cli::StafdArgs;
use libstas::config::Daemon;

fn main() -> ExitCode {
    let args = StafdArgs::parse().common;
    libstas::cli::answer_without_running(Daemon::Stafd, &args)
        .unwrap_or_else(|| libstas::daemon::stafd::run(&args))
}
