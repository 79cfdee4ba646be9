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

#[test]
fn shipped_3x_files_are_clean() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/nvme");
    for file in ["stafd.conf", "nvme-stas.conf"] {
        let conf = etc.join(file);
        let (code, text) = stafd(&["--check-config", conf.to_str().unwrap()]);
        assert_eq!(code, 0, "{text}");
        assert!(text.starts_with("configuration layout 3.x"), "{text}");
        assert!(text.contains("0 errors, 0 warnings"), "{text}");
    }
}

#[test]
fn broken_3x_connection_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nvme-stas.conf");
    std::fs::write(
        &conf,
        "[Discovery Controller]\ncontroller = transport=tcp;traddr=192.0.2.1\n\
         [Discovery Controller Defaults]\nkeep-alive-tmo = 30  # inline\n\
         [Subsystem]\ncontroller = transport=tcp;traddr=192.0.2.2\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("nvme-stas.conf.d")).unwrap();
    std::fs::write(
        dir.path().join("nvme-stas.conf.d/lab.conf"),
        "[Host]\nhostsymname = lab\n",
    )
    .unwrap();
    // Both forms: the file named, and the layout selected by -c.
    for args in [
        vec!["--check-config", conf.to_str().unwrap()],
        vec!["-c", conf.to_str().unwrap(), "--check-config"],
    ] {
        let (code, text) = stafd(&args);
        assert_eq!(code, 1, "{text}");
        let f = conf.display().to_string();
        let lab = dir.path().join("nvme-stas.conf.d/lab.conf");
        for want in [
            format!("{f}:4: error:"),
            format!("{f}:5: error: [Subsystem] without an nqn"),
            format!("{}:1: error:", lab.display()),
            format!("{f}: error: the configuration is rejected as a whole"),
        ] {
            assert!(text.contains(&want), "missing {want:?} in:\n{text}");
        }
    }
}
