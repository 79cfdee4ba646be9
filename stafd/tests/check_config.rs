//! `stafd --check-config`: the shipped file is clean; a broken file gets one diagnostic per
//! problem, with its line, and exit status 1.

use std::path::Path;
use std::process::Command;

fn stafd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stafd"))
        .args(args)
        .output()
        .expect("run stafd");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn shipped_stafd_conf_is_clean() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/stas/stafd.conf");
    let (code, text) = stafd(&["--check-config", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 errors, 0 warnings"), "{text}");
}

#[test]
fn broken_file_one_diagnostic_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("stafd.conf");
    std::fs::write(
        &conf,
        "kato=10\n[Global]\ntron\nip-family=ipv5\n[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1 # lab\n",
    )
    .unwrap();
    let (code, text) = stafd(&["--check-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    let f = conf.display().to_string();
    for want in [
        format!("{f}:1: error:"),
        format!("{f}:3: error:"),
        format!("{f}:4: error:"),
        format!("{f}:6: warning:"),
        format!("{f}: 3 errors, 1 warning"),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(text.lines().count(), 5, "{text}");
}

#[test]
fn check_config_defaults_to_conf_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("x.conf");
    std::fs::write(&conf, "[Global]\nkato=abc\n").unwrap();
    let (code, text) = stafd(&["-f", conf.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(":2: error: [Global] kato"), "{text}");
}

#[test]
fn missing_file_is_an_error_for_check_config() {
    let (code, text) = stafd(&["--check-config", "/nonexistent/stafd.conf"]);
    assert_eq!(code, 1);
    assert!(text.contains("no such file"), "{text}");
}

#[test]
fn version() {
    let (code, text) = stafd(&["--version"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("stafd (stas) "), "{text}");
}
