//! stafd: the NVMe-oF discovery daemon (STorage Appliance Finder).
//!
//! Argument parsing only: `--version` and `--check-config` are answered by
//! `libstas::cli`, everything else runs `libstas::daemon::stafd::run`.
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
    let args = Args::parse().common;
    libstas::cli::answer_without_running(Daemon::Stafd, &args)
        .unwrap_or_else(|| libstas::daemon::stafd::run(&args))
}
