//! Helpers shared by the binaries' entry points, so that `main.rs` files stay thin, and the
//! daemons' command lines ([`StafdArgs`], [`StacdArgs`], [`command`]): one clap definition
//! for the binaries, their man pages and their shell completions (stas-doc).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::layout::{self, DaemonFiles, Layout, LayoutPaths};
use crate::config::{self, Daemon};
use crate::daemon::common::daemon_files;

/// The command line shared by stafd and stacd (nvme-stas compatible).
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Daemon configuration file [default: stafd.conf or stacd.conf of the layout in use:
    /// /etc/stas (2.x) or /etc/nvme (3.x)].
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
    /// Connection configuration of the 3.x layout, in libnvme's INI format (its drop-ins
    /// are FILE.d/*.conf) [default: /etc/nvme/nvme-stas.conf; its presence selects the
    /// 3.x layout].
    #[arg(short = 'c', long = "conn-conf-file", value_name = "FILE")]
    pub conn_conf_file: Option<PathBuf>,
    /// Check the configuration of the layout in use (or FILE), print every problem with
    /// its file and line, and exit non-zero if there is an error.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub check_config: Option<Option<PathBuf>>,
}

/// stafd's command line.
#[derive(clap::Parser, Debug)]
#[command(
    name = "stafd",
    about = "STorage Appliance Finder: NVMe-oF discovery daemon"
)]
pub struct StafdArgs {
    /// The options stafd shares with stacd.
    #[command(flatten)]
    pub common: DaemonArgs,
}

/// stacd's command line.
#[derive(clap::Parser, Debug)]
#[command(
    name = "stacd",
    about = "STorage Appliance Connector: NVMe-oF connection daemon"
)]
pub struct StacdArgs {
    /// The options stacd shares with stafd.
    #[command(flatten)]
    pub common: DaemonArgs,
}

/// The clap command of `daemon`'s binary (what stas-doc renders).
#[must_use]
pub fn command(daemon: Daemon) -> clap::Command {
    use clap::CommandFactory;
    match daemon {
        Daemon::Stafd => StafdArgs::command(),
        Daemon::Stacd => StacdArgs::command(),
    }
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
    Some(print_check_report(
        daemon.name(),
        &check_report(daemon, args, check.as_deref()),
    ))
}

/// What `--check-config [FILE]` checks. Without FILE: the configuration of the layout in
/// use (2.x: the service file; 3.x: nvme-stas.conf with its drop-ins and the service file).
/// A FILE named `nvme-stas.conf` is checked as the 3.x connection file; any other FILE as
/// the daemon's service file, by the rules of the layout of its directory (3.x when an
/// nvme-stas.conf sits next to it).
fn check_report(daemon: Daemon, args: &DaemonArgs, file: Option<&Path>) -> config::CheckReport {
    let files = daemon_files(daemon, args);
    let Some(file) = file else {
        return match files.layout {
            Layout::Stas2 => config::check_service_file(daemon, &files.service),
            Layout::Stas3 => layout::check_stas3(daemon, &files),
        };
    };
    if file.file_name().is_some_and(|n| n == "nvme-stas.conf") {
        let files = DaemonFiles::choose(
            daemon,
            &LayoutPaths::default(),
            args.conf_file.as_deref(),
            Some(file),
        );
        return layout::check_stas3(daemon, &files);
    }
    let beside = file.parent().map(|d| d.join("nvme-stas.conf"));
    if let Some(conn) = beside.filter(|p| p.exists()) {
        let files = DaemonFiles::choose(daemon, &LayoutPaths::default(), Some(file), Some(&conn));
        return layout::check_stas3(daemon, &files);
    }
    config::check_service_file(daemon, file)
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
