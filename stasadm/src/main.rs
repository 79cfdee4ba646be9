//! stasadm: creates and edits the host identity of stafd and stacd (`/etc/stas/sys.conf`,
//! `/etc/nvme/hostnqn`, `/etc/nvme/hostid`). Errors are one line on stderr and exit code 1.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match stasadm::run(stasadm::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            // Plain `{e}`: every libstas error already states its cause in one line, and the
            // chain (`{e:#}`) would repeat the I/O error.
            eprintln!("stasadm: {e}");
            ExitCode::FAILURE
        }
    }
}
