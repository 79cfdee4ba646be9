//! stacctl: the command-line client of stacd (NVMe-oF I/O connections) over D-Bus.
//!
//! Everything but argument parsing lives in `libstas::dbus::ctl`.
use std::process::ExitCode;

use clap::Parser;
use libstas::dbus::ctl::{stacctl_main, StacctlArgs};

fn main() -> ExitCode {
    stacctl_main(StacctlArgs::parse())
}
