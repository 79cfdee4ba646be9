//! stafd's startup checks, as nvme-stas words them: not root, or no `/dev/nvme-fabrics`
//! (the build hosts have no NVMe-oF), means a one-line message and exit status 1.

use std::path::Path;
use std::process::Command;

#[test]
fn refuses_to_start_without_root_or_nvme_fabrics() {
    if Path::new("/dev/nvme-fabrics").exists() && nix_is_root() {
        eprintln!("skipped: this host could run stafd for real");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_stafd"))
        .output()
        .expect("run stafd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.trim_end();
    assert!(
        line == "Permission denied. You need root privileges to run stafd."
            || line == "Fatal error: missing nvme-tcp kernel module",
        "{err}"
    );
}

#[test]
fn version_still_works() {
    let out = Command::new(env!("CARGO_BIN_EXE_stafd"))
        .arg("--version")
        .output()
        .expect("run stafd");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("stafd (stas) "));
}

fn nix_is_root() -> bool {
    // The effective uid, from /proc (no libc dependency in this test crate).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
