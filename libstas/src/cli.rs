//! Helpers shared by the binaries' entry points, so that `main.rs` files stay thin.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Daemon};
use crate::daemon::common::conf_file;

/// The command line shared by stafd and stacd (nvme-stas compatible).
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Configuration file [default: /etc/stas/stafd.conf or /etc/stas/stacd.conf].
    #[arg(short = 'f', long = "conf-file", value_name = "FILE")]
    pub conf_file: Option<PathBuf>,
    /// Log to the journal (or syslog) instead of stderr.
    #[arg(short = 's', long)]
    pub syslog: bool,
    /// Trace on: debug logging.
    #[arg(long)]
    pub tron: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// Check a configuration file (default: the --conf-file one), print every problem with
    /// its line, and exit non-zero if there is an error.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub check_config: Option<Option<PathBuf>>,
}

/// Answers the options a daemon handles without running: `--version`, and `--check-config`
/// (of its FILE, else of the `--conf-file` one). `None`: nothing to answer, run the daemon.
#[must_use]
pub fn answer_without_running(daemon: Daemon, args: &DaemonArgs) -> Option<ExitCode> {
    if args.version {
        let text = format!("{} (stas) {}\n", daemon.name(), env!("CARGO_PKG_VERSION"));
        return Some(exit_code(print_output(daemon.name(), &text)));
    }
    let check = args.check_config.as_ref()?;
    let path = check
        .clone()
        .unwrap_or_else(|| conf_file(daemon, args.conf_file.as_deref()));
    Some(print_check_report(
        daemon.name(),
        &config::check_service_file(daemon, &path),
    ))
}

/// Prints a `--check-config` report and returns the exit code (1 on errors, or when the
/// report cannot be written).
#[must_use]
pub fn print_check_report(prog: &str, report: &config::CheckReport) -> ExitCode {
    let text: String = report.lines.iter().map(|l| format!("{l}\n")).collect();
    exit_code(print_output(prog, &text) && report.ok)
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints `text` on stdout with [`write_output`]. Returns `false` when it could not be
/// written, after saying why on stderr.
pub fn print_output(prog: &str, text: &str) -> bool {
    match write_output(&mut io::stdout().lock(), text) {
        Ok(()) => true,
        Err(e) => {
            let _ = writeln!(io::stderr(), "{prog}: cannot write the output: {e}");
            false
        }
    }
}

/// Writes a command's output and flushes it. A reader that has gone away
/// (`stacctl status | head -1`) is not an error: as in ripgrep, the output just stops and
/// the program ends normally, instead of `print!` panicking on `EPIPE`.
///
/// # Errors
/// Any other write error (e.g. `ENOSPC`).
pub fn write_output(out: &mut dyn Write, text: &str) -> io::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A writer whose reader has gone away, for the tests of every output path.
#[cfg(test)]
pub(crate) struct ClosedPipe;

#[cfg(test)]
impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use clap::Parser;

    use super::*;

    #[test]
    fn a_closed_pipe_ends_the_output_quietly() {
        assert!(write_output(&mut ClosedPipe, "text\n").is_ok());
        // The kernel's EPIPE (Rust programs ignore SIGPIPE), after a first buffer's worth.
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        assert!(write_output(&mut ours, &"line\n".repeat(100_000)).is_ok());
    }

    #[test]
    fn other_write_errors_are_reported() {
        let mut full: &mut [u8] = &mut [0u8; 4];
        let e = write_output(&mut full, "too long").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WriteZero);
        let mut v = Vec::new();
        write_output(&mut v, "text").unwrap();
        assert_eq!(v, b"text");
    }

    #[test]
    fn only_version_and_check_config_are_answered() {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            d: DaemonArgs,
        }
        for args in [&["stafd"][..], &["stafd", "-f", "x.conf", "--tron", "-s"]] {
            let a = Cli::parse_from(args).d;
            assert!(
                answer_without_running(Daemon::Stafd, &a).is_none(),
                "{args:?}"
            );
            assert!(
                answer_without_running(Daemon::Stacd, &a).is_none(),
                "{args:?}"
            );
        }
    }
}
