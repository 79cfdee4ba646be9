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

#[test]
fn shipped_3x_stacd_conf_is_clean_and_2x_options_are_reported() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/nvme");
    let (code, text) = stacd(&["--check-config", etc.join("stacd.conf").to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 errors, 0 warnings"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nvme-stas.conf"), "").unwrap();
    let conf = dir.path().join("stacd.conf");
    std::fs::write(
        &conf,
        "[Global]\nnr-io-queues=4\n[I/O controller connection management]\n\
         disconnect-scope=no-disconnect\nhonor-fabric-zoning=maybe\n",
    )
    .unwrap();
    let (code, text) = stacd(&["--check-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    for want in [
        ":2: error: option \"nr-io-queues\" in [Global] is ignored: connection parameters belong in /etc/nvme/nvme-stas.conf",
        ":4: error: option \"disconnect-scope\" in [I/O controller connection management] is ignored: replaced by honor-fabric-zoning",
        ":5: error: [I/O controller connection management] honor-fabric-zoning: invalid value \"maybe\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
