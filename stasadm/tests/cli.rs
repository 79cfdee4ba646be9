//! Binary tests of stasadm. System files are read under a temporary root given with the hidden
//! `--root DIR` option (`DIR/etc/machine-id`, `DIR/etc/nvme`, `DIR/sys/...`, `DIR/proc/...`);
//! `-c` and `-f` paths are used as given.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::Root;

/// Machine ID and the NQN nvme-stas's stasadm.py generates from it, computed with Python 3.11:
/// `hmac.new(b"$nvmexpress.org$", uuid.UUID(MACHINE_ID).bytes, hashlib.sha256)`, first 16
/// bytes of the digest, `uuid.UUID(bytes=…, version=4)`.
const MACHINE_ID: &str = "5f3c1b2a9d8e4f7a8b6c0d1e2f3a4b5c";
const PINNED_NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
const PINNED_UUID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";

struct Env {
    root: Root,
}

impl Env {
    fn new() -> Self {
        let env = Self { root: Root::new() };
        env.put("etc/machine-id", &format!("{MACHINE_ID}\n"));
        env
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path(rel)
    }
    fn conf(&self) -> PathBuf {
        self.path("etc/stas/sys.conf")
    }
    fn put(&self, rel: &str, text: &str) -> PathBuf {
        self.root.put(rel, text)
    }
    fn run_with(&self, conf: &Path, args: &[&str]) -> Output {
        self.root
            .stasadm()
            .arg("-c")
            .arg(conf)
            .args(args)
            .output()
            .unwrap()
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.conf(), args)
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts a failure reported as exactly one `stasadm: ` line, and returns it.
fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("stasadm: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[test]
fn hostnqn_writes_the_pinned_nqn() {
    let env = Env::new();
    let out = env.run(&["hostnqn"]);
    ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{PINNED_NQN}\n")
    );
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(read(&env.conf()), format!("[Host]\nnqn = {PINNED_NQN}\n"));
}

#[test]
fn hostnqn_with_file_creates_directories_and_refers_to_the_file() {
    let env = Env::new();
    let file = env.path("new/dir/hostnqn");
    let conf = env.path("other/dir/sys.conf");
    ok(&env.run_with(&conf, &["hostnqn", "-f", file.to_str().unwrap()]));
    assert_eq!(read(&file), format!("{PINNED_NQN}\n"));
    assert_eq!(
        read(&conf),
        format!("[Host]\nnqn = file://{}\n", file.display())
    );
}

#[test]
fn edits_keep_comments_and_other_lines() {
    let env = Env::new();
    let before = "# Host identity\n[Host]\n; the name\nsymname = old\nkey = file:///etc/nvme/hostkey\n\n[Unrelated]\nx = 1\n";
    env.put("etc/stas/sys.conf", before);
    ok(&env.run(&["hostnqn"]));
    ok(&env.run(&["set-symname", "new-name"]));
    assert_eq!(
        read(&env.conf()),
        format!(
            "# Host identity\n[Host]\n; the name\nsymname = new-name\nkey = file:///etc/nvme/hostkey\nnqn = {PINNED_NQN}\n\n[Unrelated]\nx = 1\n"
        )
    );
    ok(&env.run(&["clear-symname"]));
    assert_eq!(
        read(&env.conf()),
        format!(
            "# Host identity\n[Host]\n; the name\nkey = file:///etc/nvme/hostkey\nnqn = {PINNED_NQN}\n\n[Unrelated]\nx = 1\n"
        )
    );
}

#[test]
fn hostid_matches_the_host_nqn() {
    let env = Env::new();
    let nqn_file = env.path("etc/nvme/hostnqn");
    let id_file = env.path("etc/nvme/hostid");
    ok(&env.run(&["hostnqn", "-f", nqn_file.to_str().unwrap()]));
    ok(&env.run(&["hostid", "-f", id_file.to_str().unwrap()]));
    assert_eq!(read(&id_file), format!("{PINNED_UUID}\n"));
    assert_eq!(
        read(&env.conf()),
        format!(
            "[Host]\nnqn = file://{}\nid = file://{}\n",
            nqn_file.display(),
            id_file.display()
        )
    );
    // The resulting identity checks clean.
    let out = env.run(&["check-config"]);
    ok(&out);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}: 0 errors, 0 warnings\n", env.conf().display())
    );
}

#[test]
fn hostid_follows_an_existing_nqn_not_the_machine() {
    let env = Env::new();
    let u = "0b8c1a2e-7d3f-4e5a-9b6c-1d2e3f4a5b6c";
    env.put(
        "etc/nvme/hostnqn",
        &format!("nqn.2014-08.org.nvmexpress:uuid:{u}\n"),
    );
    ok(&env.run(&["hostid"]));
    assert_eq!(read(&env.conf()), format!("[Host]\nid = {u}\n"));
}

#[test]
fn unwritable_targets_fail_with_one_line() {
    let env = Env::new();
    // sysfs refuses to create files, even for root.
    let err = one_line_error(&env.run_with(Path::new("/sys/stasadm-test.conf"), &["hostnqn"]));
    assert_eq!(
        err,
        "stasadm: /sys/stasadm-test.conf: cannot write: permission denied\n"
    );
    // A directory that cannot be created.
    let err = one_line_error(&env.run(&["hostnqn", "-f", "/proc/stasadm-test/hostnqn"]));
    assert!(
        err.starts_with("stasadm: /proc/stasadm-test: cannot create directory:"),
        "{err}"
    );
    assert!(
        !env.conf().exists(),
        "sys.conf untouched when the file fails"
    );
}

#[test]
fn invalid_values_fail_with_one_line() {
    let env = Env::new();
    let err = one_line_error(&env.run(&["set-symname", "bad\u{1b}name"]));
    assert!(err.contains("contains a control character"), "{err}");
    let err = one_line_error(&env.run(&["set-symname", ""]));
    assert!(err.contains("clear-symname"), "{err}");
    assert!(!env.conf().exists());
}

#[test]
fn check_config_fails_on_a_bad_identity() {
    let env = Env::new();
    env.put(
        "etc/stas/sys.conf",
        "[Host]\nnqn = foo\nid = 1234\n[Bogus]\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let conf = env.conf();
    let c = conf.display();
    assert!(
        text.contains(&format!(
            "{c}:2: error: host NQN \"foo\" must start with \"nqn.\""
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{c}:3: error: host ID \"1234\" is not a UUID")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{c}:4: error: invalid section [Bogus]")),
        "{text}"
    );
}

#[test]
fn version_and_usage() {
    let env = Env::new();
    let out = env.run(&["--version"]);
    ok(&out);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("stasadm (stas) {}\n", env!("CARGO_PKG_VERSION"))
    );
    ok(&env.run(&["-v"]));

    // No subcommand: usage on stderr and exit 1, as nvme-stas's tools.
    let out = env.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Usage: stasadm"));
    assert!(!env.conf().exists());
}

#[test]
fn parallel_units_do_not_lose_edits() {
    // systemd starts stas-config@hostnqn and stas-config@hostid in parallel; both edit sys.conf.
    for _ in 0..15 {
        let env = Env::new();
        let spawn = |cmd: &str| {
            env.root
                .stasadm()
                .arg("-c")
                .arg(env.conf())
                .arg(cmd)
                .spawn()
                .unwrap()
        };
        let mut a = spawn("hostnqn");
        let mut b = spawn("hostid");
        let mut c = spawn("clear-symname");
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        assert!(c.wait().unwrap().success());
        let text = read(&env.conf());
        assert!(text.contains(&format!("nqn = {PINNED_NQN}\n")), "{text}");
        assert!(text.contains(&format!("id = {PINNED_UUID}\n")), "{text}");
    }
}

/// On a host of the 3.x layout (`/etc/nvme/nvme-stas.conf`), `check-config` checks that
/// layout's identity: nvme-stas.conf's `[Host]`, else `/etc/nvme/hostnqn` and `hostid`.
#[test]
fn check_config_checks_the_3x_identity() {
    let env = Env::new();
    env.put("etc/stas/sys.conf", "[Host]\nnqn = foo\n");
    env.put("etc/nvme/hostnqn", &format!("{PINNED_NQN}\n"));
    env.put("etc/nvme/hostid", &format!("{PINNED_UUID}\n"));
    let conn = env.put("etc/nvme/nvme-stas.conf", "[Host]\nhostsymname = lab\n");
    let out = env.run(&["check-config"]);
    ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("configuration layout 3.x"), "{text}");
    assert!(!text.contains("foo"), "sys.conf is not read: {text}");

    env.put(
        "etc/nvme/nvme-stas.conf",
        "[Host]\nhostid = 00000000-0000-0000-0000-000000000000\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("{}:2: error:", conn.display())),
        "{text}"
    );
}
