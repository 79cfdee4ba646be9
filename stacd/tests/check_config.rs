//! `stacd --check-config`: the shipped file is clean; stacd-only rules are applied.

use std::path::Path;
use std::process::Command;

fn stacd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stacd"))
        .args(args)
        .output()
        .expect("run stacd");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn shipped_stacd_conf_is_clean() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/stas/stacd.conf");
    let (code, text) = stacd(&["--check-config", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn stafd_only_options_are_invalid_for_stacd() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("stacd.conf");
    std::fs::write(
        &conf,
        "[Global]\npleo=enabled\n[Service Discovery]\nzeroconf=enabled\n\
         [I/O controller connection management]\ndisconnect-scope=no-disconnect\n",
    )
    .unwrap();
    let (code, text) = stacd(&["--check-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(":2: error: invalid option \"pleo\""),
        "{text}"
    );
    assert!(
        text.contains(":3: error: invalid section [Service Discovery]"),
        "{text}"
    );
    assert!(text.contains("2 errors, 0 warnings"), "{text}");
}
