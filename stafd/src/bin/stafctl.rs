//! stafctl: the command-line client of stafd (NVMe-oF discovery) over D-Bus.
//!
//! Everything but argument parsing lives in `libstas::dbus::ctl`.
use std::process::ExitCode;

use clap::Parser;
use libstas::dbus::ctl::{stafctl_main, StafctlArgs};

fn main() -> ExitCode {
    stafctl_main(StafctlArgs::parse())
}
