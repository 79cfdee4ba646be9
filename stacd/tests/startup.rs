//! stacd's startup checks, as nvme-stas words them: not root, or no `/dev/nvme-fabrics`
//! (the build hosts have no NVMe-oF), means a one-line message and exit status 1; and the
//! options answered without starting (`--version`, `--check-config`).

use std::path::Path;
use std::process::Command;

#[test]
fn refuses_to_start_without_root_or_nvme_fabrics() {
    if Path::new("/dev/nvme-fabrics").exists() && is_root() {
        eprintln!("skipped: this host could run stacd for real");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_stacd"))
        .output()
        .expect("run stacd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.trim_end();
    assert!(
        line == "Permission denied. You need root privileges to run stacd."
            || line == "Fatal error: missing nvme-tcp kernel module",
        "{err}"
    );
}

#[test]
fn version_still_works() {
    let out = Command::new(env!("CARGO_BIN_EXE_stacd"))
        .arg("--version")
        .output()
        .expect("run stacd");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("stacd (stas) "));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
