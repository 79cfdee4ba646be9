//! Binary tests of `stasadm migrate`, on a temporary root: the 2.x files in `--from`, the 3.x
//! files in `--to`, the identity files (`/etc/nvme/host{nqn,id,key}` and every `file://`
//! target) under `--root`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::Root;

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
const HOSTID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
/// A valid DH-HMAC-CHAP key (test data, not a real secret).
const HOSTKEY: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:";

const SYS: &str =
    "[Host]\nnqn=file:///etc/nvme/hostnqn\nkey=file:///etc/nvme/hostkey\nsymname=lab-host-01\n";
const STAFD: &str = "\
[Global]
tron=true
[Controllers]
controller=transport=tcp;traddr=10.10.1.6
exclude=transport=tcp;traddr=10.10.1.99
";
const STACD: &str = "\
[Global]
nr-io-queues=8
[I/O controller connection management]
disconnect-trtypes=tcp
[Controllers]
controller=transport=tcp;traddr=10.10.2.20;nqn=nqn.2024-01.com.example:db
";

struct Env {
    root: Root,
}

impl Env {
    fn new() -> Self {
        let env = Self { root: Root::new() };
        env.put("etc/nvme/hostnqn", &format!("{HOSTNQN}\n"));
        env.put("etc/nvme/hostid", &format!("{HOSTID}\n"));
        env.put("etc/nvme/hostkey", &format!("{HOSTKEY}\n"));
        env.put("old/sys.conf", SYS);
        env.put("old/stafd.conf", STAFD);
        env.put("old/stacd.conf", STACD);
        env
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path(rel)
    }
    fn put(&self, rel: &str, text: &str) -> PathBuf {
        self.root.put(rel, text)
    }
    fn run(&self, args: &[&str]) -> Output {
        self.root
            .stasadm()
            .arg("migrate")
            .arg("--from")
            .arg(self.path("old"))
            .arg("--to")
            .arg(self.path("new"))
            .args(args)
            .output()
            .unwrap()
    }
    /// Every file under `new/`, sorted.
    fn written(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path("new"), &mut out);
        out.sort();
        out
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let env = Env::new();
    let text = stdout(&env.run(&[]));
    assert!(env.written().is_empty(), "{:?}", env.written());
    let main = env.path("new/nvme-stas.conf");
    assert!(
        text.starts_with(&format!(
            "--- {} (new)\n# Written by \"stasadm migrate\"",
            main.display()
        )),
        "{text}"
    );
    for rel in [
        "new/stafd.conf",
        "new/stacd.conf",
        "new/exclusions.conf.d/stas.conf",
    ] {
        let head = format!("--- {} (new)\n", env.path(rel).display());
        assert!(text.contains(&head), "{head}\n{text}");
    }
    assert!(text.contains("\nkxchap-secret = <secret>\n"), "{text}");
    assert!(!text.contains("AQIDBAUG"), "the host key is shown:\n{text}");
    assert!(
        text.contains("\ncontroller = transport=tcp;traddr=10.10.2.20;trsvcid=8009\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\n{}:4: [I/O controller connection management] disconnect-trtypes=tcp: removed in 3.x",
            env.path("old/stacd.conf").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\n{}:6: the tcp I/O controller 10.10.2.20 had no trsvcid: 2.x connected to port 8009",
            env.path("old/stacd.conf").display()
        )),
        "{text}"
    );
    assert!(text
        .ends_with("dry run: nothing written; \"stasadm migrate --write\" writes these files\n"));
}

#[test]
fn write_then_nothing_to_do() {
    let env = Env::new();
    let text = stdout(&env.run(&["--write"]));
    let files = [
        "new/exclusions.conf.d/stas.conf",
        "new/nvme-stas.conf",
        "new/stacd.conf",
        "new/stafd.conf",
    ];
    assert_eq!(
        env.written(),
        files.iter().map(|f| env.path(f)).collect::<Vec<_>>()
    );
    // One line per file, nvme-stas.conf last.
    let wrote: Vec<&str> = text.lines().filter(|l| l.starts_with("wrote ")).collect();
    assert_eq!(wrote.len(), 4, "{text}");
    assert_eq!(
        wrote.last().copied(),
        Some(format!("wrote {}", env.path("new/nvme-stas.conf").display()).as_str())
    );
    assert!(
        text.contains("disconnect-trtypes=tcp: removed in 3.x"),
        "{text}"
    );
    assert!(!text.contains("AQIDBAUG"), "{text}");
    let main = fs::read_to_string(env.path("new/nvme-stas.conf")).unwrap();
    assert!(
        main.contains(&format!("\nkxchap-secret = {HOSTKEY}\n")),
        "{main}"
    );
    let mode = |rel: &str| fs::metadata(env.path(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("new/nvme-stas.conf"), 0o600);
    assert_eq!(mode("new/stafd.conf"), 0o644);
    // The 2.x files are as they were.
    assert_eq!(
        fs::read_to_string(env.path("old/stafd.conf")).unwrap(),
        STAFD
    );
    assert_eq!(
        fs::read_to_string(env.path("old/stacd.conf")).unwrap(),
        STACD
    );
    assert_eq!(fs::read_to_string(env.path("old/sys.conf")).unwrap(), SYS);

    let again = stdout(&env.run(&["--write"]));
    assert!(
        again.ends_with("nothing to do: the 3.x files already hold this configuration\n"),
        "{again}"
    );
    assert!(!again.contains("wrote "), "{again}");
    assert_eq!(
        fs::read_to_string(env.path("new/nvme-stas.conf")).unwrap(),
        main
    );
    let dry = stdout(&env.run(&[]));
    assert!(dry.contains(&format!(
        "--- {} (unchanged)\n",
        env.path("new/nvme-stas.conf").display()
    )));
}

#[test]
fn a_differing_target_needs_force() {
    let env = Env::new();
    let stafd = env.put("new/stafd.conf", "[Global]\ntron=false\n");
    let out = env.run(&["--write"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(
        err,
        format!(
            "stasadm: {}: exists and does not hold this configuration; nothing written (run \
             without --write to see the differences, or with --force to replace them)\n",
            stafd.display()
        )
    );
    assert_eq!(env.written(), std::slice::from_ref(&stafd));
    let text = stdout(&env.run(&["--write", "--force"]));
    assert!(
        text.contains(&format!("wrote {}\n", stafd.display())),
        "{text}"
    );
    assert!(env.path("new/nvme-stas.conf").exists());
}

#[test]
fn conf_file_names_sys_conf_and_nothing_to_migrate_fails() {
    let env = Env::new();
    let sys = env.put("elsewhere/sys.conf", "[Host]\nsymname=other-name\n");
    let out = env
        .root
        .stasadm()
        .arg("-c")
        .arg(&sys)
        .args(["migrate", "--from"])
        .arg(env.path("old"))
        .arg("--to")
        .arg(env.path("new"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("\nhostsymname = other-name\n"), "{text}");

    let out = env
        .root
        .stasadm()
        .args(["migrate", "--from"])
        .arg(env.path("nowhere"))
        .arg("--to")
        .arg(env.path("new"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("stasadm: no nvme-stas 2.x configuration to migrate: none of "),
        "{err}"
    );
    assert!(env.written().is_empty());
}
