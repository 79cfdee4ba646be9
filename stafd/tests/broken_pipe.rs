//! Output into a pipe whose reader has gone away (`stafctl status | head -1`): the output
//! stops, the exit status is 0, nothing on stderr (no panic, no backtrace). `version` and
//! `--check-config` are the paths that write without a bus.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `bin` with its stdout on a socket whose other end is already closed, so the first
/// write fails with `EPIPE`. Returns the exit status and stderr.
fn into_closed_pipe(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    drop(theirs);
    let out = Command::new(bin)
        .args(args)
        .stdout(Stdio::from(OwnedFd::from(ours)))
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/stas/stafd.conf");
    let stafctl = env!("CARGO_BIN_EXE_stafctl");
    let stafd = env!("CARGO_BIN_EXE_stafd");
    for (bin, args) in [
        (stafctl, &["version"][..]),
        (stafctl, &["--json", "version"]),
        (stafd, &["--version"]),
        (stafd, &["--check-config", conf.to_str().unwrap()]),
    ] {
        assert_eq!(
            into_closed_pipe(bin, args),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
}
