//! Tests of the migration: ecosystem-2026.md §3.9 example C and the cases around it, on
//! temporary directories (`<tmp>/etc/stas` in, `<tmp>/etc/nvme` out, identity files under
//! `<tmp>` as with `stasadm --root`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::exclusions::ExclusionList;

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
const HOSTID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
/// A valid DH-HMAC-CHAP key (not a real secret; see identity::resolve tests).
const HOSTKEY: &str = "DHHC-1:00:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAl7OaH:";
/// A valid 48-byte key whose base64 ends in `=` (see config::controller tests).
const CTRLKEY: &str =
    "DHHC-1:00:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:";

const SYS_C: &str = "\
[Host]
nqn=file:///etc/nvme/hostnqn
id=file:///etc/nvme/hostid
key=file:///etc/nvme/hostkey
symname=lab-host-01
";

const STAFD_C: &str = "\
[Global]
tron=true
kato=30
ip-family=ipv4
[Service Discovery]
zeroconf=enabled
[Discovery controller connection management]
persistent-connections=true
zeroconf-connections-persistence=72hours
[Controllers]
controller=transport=tcp;traddr=10.10.1.5;trsvcid=8009;nqn=nqn.1988-11.com.dell:SFSS:2:cdc;host-iface=eth1
controller=transport=tcp;traddr=10.10.1.6
exclude=transport=tcp;traddr=10.10.1.99
";

const STACD_C: &str = "\
[Global]
nr-io-queues=8
ctrl-loss-tmo=-1
[I/O controller connection management]
disconnect-scope=only-stas-connections
[Controllers]
controller=transport=tcp;traddr=10.10.2.20;nqn=nqn.2024-01.com.example:db;kato=10
controller=transport=tcp;traddr=10.10.2.21;nqn=nqn.2024-01.com.example:db
";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        env.put("etc/nvme/hostnqn", &format!("{HOSTNQN}\n"));
        env.put("etc/nvme/hostid", &format!("{HOSTID}\n"));
        env.put("etc/nvme/hostkey", &format!("{HOSTKEY}\n"));
        env
    }

    /// Example C in `etc/stas`.
    fn example_c() -> Self {
        let env = Self::new();
        env.stas(SYS_C, STAFD_C, STACD_C);
        env
    }

    fn stas(&self, sys: &str, stafd: &str, stacd: &str) {
        self.put("etc/stas/sys.conf", sys);
        self.put("etc/stas/stafd.conf", stafd);
        self.put("etc/stas/stacd.conf", stacd);
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn put(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, text).expect("write");
        p
    }

    fn paths(&self) -> MigratePaths {
        MigratePaths::new(&self.path("etc/stas"), &self.path("etc/nvme"))
            .under_root(self.dir.path())
    }

    fn plan(&self) -> Plan {
        plan(&self.paths()).expect("plan")
    }

    /// `path:line` of a 2.x file.
    fn at(&self, file: &str, line: usize) -> String {
        format!(
            "{}:{line}",
            self.path(&format!("etc/stas/{file}")).display()
        )
    }
}

fn contents<'a>(plan: &'a Plan, path: &Path) -> &'a str {
    &plan
        .file(path)
        .unwrap_or_else(|| panic!("{} not planned: {plan:#?}", path.display()))
        .contents
}

/// The `key = value` lines (comments and blank lines dropped) of each section, in order:
/// `[(section, [line, …]), …]`. Sections may repeat.
fn body(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.to_owned(), Vec::new()));
        } else {
            out.last_mut()
                .unwrap_or_else(|| panic!("setting before a section: {line}"))
                .1
                .push(line.to_owned());
        }
    }
    out
}

fn sect(name: &str, lines: &[&str]) -> (String, Vec<String>) {
    (
        name.to_owned(),
        lines.iter().map(|l| (*l).to_owned()).collect(),
    )
}

/// The comment line right above the first line equal to `setting`.
fn comment_above(text: &str, setting: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| *l == setting)
        .unwrap_or_else(|| panic!("{setting:?} not in:\n{text}"));
    assert!(i > 0 && lines[i - 1].starts_with("# "), "{text}");
    lines[i - 1].to_owned()
}

fn not_carried(plan: &Plan) -> Vec<String> {
    plan.not_carried.iter().map(ToString::to_string).collect()
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"))
        + 1
}

/// Everything a plan shows or writes: all file contents (secrets included) and the report.
fn everything(plan: &Plan) -> String {
    let mut all: String = plan.files.iter().map(|f| f.contents.clone()).collect();
    all.push_str(&plan.render_report());
    all
}

/// Whether `text` contains `needle` not followed by a digit (`x:1` must not match `x:12`).
fn mentions(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        !text[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn example_c_main_file() {
    let env = Env::example_c();
    let plan = env.plan();
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert_eq!(
        body(main),
        [
            sect("Host", &["hostsymname = lab-host-01"]),
            sect(
                "Discovery Controller Defaults",
                &["keep-alive-tmo = 30", "persistent = force"]
            ),
            sect(
                "I/O Controller Defaults",
                &[
                    "nr-io-queues = 8",
                    "ctrl-loss-tmo = -1",
                    &format!("kxchap-secret = {HOSTKEY}")
                ]
            ),
            sect(
                "Discovery Controller",
                &[
                    "nqn = nqn.1988-11.com.dell:SFSS:2:cdc",
                    "controller = transport=tcp;traddr=10.10.1.5;trsvcid=8009;host-iface=eth1"
                ]
            ),
            sect(
                "Discovery Controller",
                &["controller = transport=tcp;traddr=10.10.1.6;trsvcid=8009"]
            ),
            sect(
                "Subsystem",
                &[
                    "nqn = nqn.2024-01.com.example:db",
                    "controller = transport=tcp;traddr=10.10.2.20;trsvcid=8009;keep-alive-tmo=10",
                    "controller = transport=tcp;traddr=10.10.2.21;trsvcid=8009"
                ]
            ),
        ]
    );
    // The identity comes from /etc/nvme as before: no hostnqn/hostid written.
    assert!(
        !main
            .lines()
            .any(|l| l.starts_with("hostnqn") || l.starts_with("hostid")),
        "{main}"
    );
    assert!(
        main.contains(&format!(
            "\n#   {}: id=file:///etc/nvme/hostid: the standard file; nothing to write\n",
            env.at("sys.conf", 3)
        )),
        "{main}"
    );
    assert!(
        main.starts_with(
            "# Written by \"stasadm migrate\" from the nvme-stas 2.x configuration:\n"
        ),
        "{main}"
    );
    // Every value has its source on the line above; never an inline comment.
    assert_eq!(
        comment_above(main, "nr-io-queues = 8"),
        format!("# from {}", env.at("stacd.conf", 2))
    );
    assert_eq!(
        comment_above(main, "keep-alive-tmo = 30"),
        format!("# from {} (kato)", env.at("stafd.conf", 3))
    );
    assert_eq!(
        comment_above(main, "hostsymname = lab-host-01"),
        format!("# from {}", env.at("sys.conf", 5))
    );
    assert!(comment_above(main, "persistent = force")
        .contains("2.x held every discovery connection open"));
    assert!(
        comment_above(main, &format!("kxchap-secret = {HOSTKEY}")).starts_with(&format!(
            "# from {} (file:///etc/nvme/hostkey)",
            env.at("sys.conf", 4)
        ))
    );
    for line in main.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains('#'), "inline comment: {line}");
    }
}

#[test]
fn example_c_daemon_files_and_exclusions() {
    let env = Env::example_c();
    let plan = env.plan();
    let stafd = contents(&plan, &env.path("etc/nvme/stafd.conf"));
    assert_eq!(
        body(stafd),
        [
            sect("Global", &["tron=true", "ip-family=ipv4"]),
            sect("Service Discovery", &["zeroconf=enabled"]),
            sect(
                "Discovery controller connection management",
                &["dc-giveup-timeout=3d"]
            ),
        ]
    );
    assert_eq!(
        comment_above(stafd, "dc-giveup-timeout=3d"),
        format!(
            "# from {}: zeroconf-connections-persistence=72hours (renamed; systemd.time(7) units)",
            env.at("stafd.conf", 9)
        )
    );
    assert!(
        stafd.contains(&format!(
            "# {}: [Discovery controller connection management] persistent-connections=true: nothing to write",
            env.at("stafd.conf", 8)
        )),
        "{stafd}"
    );
    let stacd = contents(&plan, &env.path("etc/nvme/stacd.conf"));
    assert_eq!(
        body(stacd),
        [sect(
            "I/O controller connection management",
            &["honor-fabric-zoning=yes"]
        )]
    );
    let excl = contents(&plan, &env.path("etc/nvme/exclusions.conf.d/stas.conf"));
    assert_eq!(
        body(excl),
        [sect(
            "exclusions",
            &["exclusion = transport=tcp;traddr=10.10.1.99"]
        )]
    );
    assert!(excl.starts_with("# Exclusion list \"stas\""), "{excl}");
    assert!(
        excl.contains("every entry applies to every controller"),
        "{excl}"
    );
    let list = ExclusionList::parse(excl);
    assert_eq!(list.entries().len(), 1);
    assert_eq!(
        list.entries()[0].to_string(),
        "transport=tcp;traddr=10.10.1.99"
    );
    // Nothing lost, no drop-in, and the 8009 of the two I/O controllers is explained.
    assert!(plan.not_carried.is_empty(), "{:?}", not_carried(&plan));
    assert_eq!(plan.files.len(), 4, "{plan:#?}");
    assert_eq!(
        plan.notes,
        [7, 8]
            .iter()
            .zip(["10.10.2.20", "10.10.2.21"])
            .map(|(n, a)| format!(
                "{}: the tcp I/O controller {a} had no trsvcid: 2.x connected to port 8009, so \
                 trsvcid=8009 is written (libnvme's default would be 4420)",
                env.at("stacd.conf", *n)
            ))
            .collect::<Vec<_>>()
    );
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert!(
        comment_above(
            main,
            "controller = transport=tcp;traddr=10.10.2.21;trsvcid=8009"
        )
        .contains("trsvcid=8009 written out"),
        "{main}"
    );
}

#[test]
fn dry_run_masks_secrets_and_modes_follow_them() {
    let env = Env::example_c();
    let plan = env.plan();
    let shown = plan.render_dry_run();
    assert!(
        !shown.contains(HOSTKEY) && !shown.contains("AQIDBAUG"),
        "{shown}"
    );
    assert!(shown.contains("kxchap-secret = <secret>\n"), "{shown}");
    assert!(
        !format!("{plan:?}").contains("AQIDBAUG"),
        "Debug leaks the key"
    );
    let main_path = env.path("etc/nvme/nvme-stas.conf");
    assert!(
        shown.starts_with(&format!("--- {} (new)\n# Written", main_path.display())),
        "{shown}"
    );
    for f in &plan.files {
        assert!(
            shown.contains(&format!("--- {} (new)\n", f.path.display())),
            "{shown}"
        );
        let want = if f.path == main_path {
            MODE_SECRET
        } else {
            MODE_PUBLIC
        };
        assert_eq!(f.mode, want, "{}", f.path.display());
        assert_eq!(f.status, FileStatus::New);
    }
    assert!(shown
        .ends_with("dry run: nothing written; \"stasadm migrate --write\" writes these files\n"));
    // The dry run wrote nothing.
    assert!(!env.path("etc/nvme/nvme-stas.conf").exists());
    assert!(!env.path("etc/nvme/stafd.conf").exists());
}

#[test]
fn apply_writes_then_a_second_run_changes_nothing() {
    let env = Env::example_c();
    let before: Vec<Vec<u8>> = ["sys", "stafd", "stacd"]
        .iter()
        .map(|n| fs::read(env.path(&format!("etc/stas/{n}.conf"))).expect("read"))
        .collect();
    let plan = env.plan();
    let applied = apply(&plan, false).expect("apply");
    // nvme-stas.conf last.
    let order: Vec<&Path> = applied.files.iter().map(|(p, _)| p.as_path()).collect();
    assert_eq!(
        order.last(),
        Some(&env.path("etc/nvme/nvme-stas.conf").as_path())
    );
    assert_eq!(order.len(), 4);
    assert!(applied.files.iter().all(|(_, o)| *o == Outcome::Wrote));
    assert_eq!(
        applied.render(),
        order
            .iter()
            .map(|p| format!("wrote {}\n", p.display()))
            .collect::<String>()
    );
    for f in &plan.files {
        assert_eq!(fs::read_to_string(&f.path).expect("written"), f.contents);
        let mode = fs::metadata(&f.path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, f.mode, "{}", f.path.display());
    }
    let main = fs::read_to_string(env.path("etc/nvme/nvme-stas.conf")).expect("main");
    assert!(
        main.contains(&format!("kxchap-secret = {HOSTKEY}\n")),
        "{main}"
    );
    // The 2.x files are untouched.
    for (n, b) in ["sys", "stafd", "stacd"].iter().zip(&before) {
        assert_eq!(
            &fs::read(env.path(&format!("etc/stas/{n}.conf"))).expect("read"),
            b,
            "{n}"
        );
    }
    // Second run: everything unchanged, nothing written.
    let again = env.plan();
    assert!(again.is_unchanged(), "{again:#?}");
    assert!(again.render_dry_run().contains("(unchanged)\n"));
    let mtime = fs::metadata(env.path("etc/nvme/stafd.conf"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let applied = apply(&again, false).expect("apply");
    assert!(applied.nothing_written());
    assert_eq!(
        applied.render(),
        "nothing to do: the 3.x files already hold this configuration\n"
    );
    let mtime2 = fs::metadata(env.path("etc/nvme/stafd.conf"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, mtime2);
}

#[test]
fn a_differing_target_is_refused_unless_forced() {
    let env = Env::example_c();
    let stacd = env.put("etc/nvme/stacd.conf", "[Global]\ntron=false\n");
    let main = env.put("etc/nvme/nvme-stas.conf", "# mine\n");
    fs::set_permissions(&main, fs::Permissions::from_mode(0o644)).expect("chmod");
    let plan = env.plan();
    assert_eq!(
        plan.file(&stacd).expect("stacd").status,
        FileStatus::Differs
    );
    assert!(plan.render_dry_run().contains(&format!(
        "--- {} (differs from the existing file)\n",
        stacd.display()
    )));
    match apply(&plan, false) {
        Err(MigrateError::Conflict(paths)) => assert_eq!(paths, [main.clone(), stacd.clone()]),
        other => panic!("{other:?}"),
    }
    // Nothing written: the other targets do not exist, the differing ones are as they were.
    assert!(!env.path("etc/nvme/stafd.conf").exists());
    assert!(!env.path("etc/nvme/exclusions.conf.d/stas.conf").exists());
    assert_eq!(
        fs::read_to_string(&stacd).expect("read"),
        "[Global]\ntron=false\n"
    );
    assert_eq!(fs::read_to_string(&main).expect("read"), "# mine\n");
    let msg = MigrateError::Conflict(vec![stacd.clone()]).to_string();
    assert_eq!(
        msg,
        format!(
            "{}: exists and does not hold this configuration; nothing written (run without \
             --write to see the differences, or with --force to replace them)",
            stacd.display()
        )
    );

    let applied = apply(&plan, true).expect("forced");
    assert!(applied.files.iter().all(|(_, o)| *o == Outcome::Wrote));
    assert_eq!(
        fs::read_to_string(&stacd).expect("read"),
        plan.file(&stacd).expect("p").contents
    );
    // The replaced main file holds the host key now: 0600, not its old 0644.
    let mode = fs::metadata(&main).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn output_is_deterministic() {
    let env = Env::example_c();
    let a = env.plan();
    let b = env.plan();
    assert_eq!(a.files, b.files);
    assert_eq!(a.render_dry_run(), b.render_dry_run());
    // A copy of the same host elsewhere gives the same files, but for the paths in comments.
    let other = Env::example_c();
    let c = other.plan();
    let norm = |p: &Plan, env: &Env| -> Vec<String> {
        let root = env.dir.path().display().to_string();
        p.files
            .iter()
            .map(|f| f.contents.replace(&root, "ROOT"))
            .collect()
    };
    assert_eq!(norm(&a, &env), norm(&c, &other));
}

/// A 2.x host with most of what cannot be carried, or is carried differently.
const SYS_KS: &str = "\
[Host]
nqn=file:///etc/nvme/hostnqn
nqn=file:///etc/nvme/hostnqn
symname=rack-7
color=blue
[Other]
x=1
";

const STAFD_KS: &str = "\
[Global]
tron=TRUE
kato=abc
queue-size=1_024
persistent-connections=false
pleo=disabled
nr-io-queues=4
zeroconf-connections-persistence=5
[Discovery controller connection management]
zeroconf-connections-persistence=-1
persistent=auto
epcsd-poll-interval-minutes=0.5
[Controllers]
controller=transport=tcp;traddr=192.0.2.1;host-nqn=nqn.2024-02.org.example:host-a;dhchap-secret=DHHC-1:00:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:;persistent=no
controller=transport=tcp;traddr=192.0.2.2;color=red
controller=transport=fc;traddr=nn-0x1:pn-0x2;trsvcid=4420
controller=transport=tcp;traddr=192.0.2.1;host-nqn=nqn.2024-02.org.example:host-a
controller=traddr=192.0.2.9
exclude=transport=tcp;traddr=192.0.2.50;kato=5
blacklist=nqn=nqn.2024-01.com.example:old;host-traddr=10.0.0.1
exclude=transport=tcp;traddr=array1
[Global]
tron=false
";

/// `{HOSTNQN}` is replaced by the host NQN.
const STACD_KS: &str = "\
[Global]
ignore-iface=true
queue-size=8
[I/O controller connection management]
disconnect-scope=all-connections-matching-disconnect-trtypes
disconnect-trtypes=tcp+rdma
connect-attempts-on-ncc=1
[Controllers]
controller=transport=tcp;traddr=192.0.2.20;nqn=nqn.2024-01.com.example:a;host-iface=eth0;dhchap-secret=DHHC-1:00:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:
controller=transport=tcp;traddr=192.0.2.21;trsvcid=4420;nqn=nqn.2024-01.com.example:a;dhchap-secret=DHHC-1:00:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:
controller=transport=tcp;traddr=192.0.2.22;trsvcid=4420;nqn=nqn.2024-01.com.example:a
controller=transport=rdma;traddr=192.0.2.23;nqn=nqn.2024-01.com.example:b;host-nqn=nqn.2024-02.org.example:host-b;kato=x
controller=transport=tcp;traddr=192.0.2.24
controller=transport=tcp;traddr=192.0.2.25;nqn=nqn.2024-01.com.example:c;host-nqn={HOSTNQN}
exclude=host-nqn=nqn.2024-02.org.example:host-b;nqn=nqn.2024-01.com.example:x
[Unknown]
y=2
";

impl Env {
    fn kitchen_sink() -> Self {
        let env = Self::new();
        env.stas(SYS_KS, STAFD_KS, &STACD_KS.replace("{HOSTNQN}", HOSTNQN));
        env
    }
}

#[test]
fn what_cannot_be_carried_is_listed_with_file_and_line() {
    let env = Env::kitchen_sink();
    let plan = env.plan();
    let stacd_text = STACD_KS.replace("{HOSTNQN}", HOSTNQN);
    let items = not_carried(&plan);
    let want: Vec<(String, &str)> = vec![
        (env.at("sys.conf", 2), "[Host] nqn: overridden by line 3 (2.x used the last value)"),
        (env.at("sys.conf", 5), "[Host] color: ignored by 2.x"),
        (env.at("sys.conf", 7), "[Other] x: 2.x does not read section [Other]"),
        (env.at("stafd.conf", 2), "[Global] tron: overridden by line 23"),
        (env.at("stafd.conf", 3), "[Global] kato: invalid value in 2.x"),
        (env.at("stafd.conf", 5), "[Global] persistent-connections=false: no successor in 3.x"),
        (env.at("stafd.conf", 7), "[Global] nr-io-queues: ignored by 2.x"),
        (env.at("stafd.conf", 8), "[Global] zeroconf-connections-persistence: ignored by 2.x"),
        (
            env.at("stafd.conf", 12),
            "[Discovery controller connection management] epcsd-poll-interval-minutes=0.5: 3.x takes a whole number of minutes",
        ),
        (env.at("stafd.conf", 14), "controller dhchap-secret: 2.x never sent DH-HMAC-CHAP secrets to discovery controllers"),
        (env.at("stafd.conf", 15), "controller key \"color\": unknown to 2.x"),
        (env.at("stafd.conf", 16), "controller trsvcid: 2.x ignores trsvcid for fc"),
        (env.at("stafd.conf", 17), "controller: same controller as line 14 (2.x used the first entry)"),
        (env.at("stafd.conf", 18), "controller: no transport"),
        (env.at("stafd.conf", 19), "exclude: key \"kato\" has no equivalent in the 3.x exclusion list"),
        (env.at("stafd.conf", 20), "blacklist host-traddr: 2.x ignored host-traddr in exclude= entries"),
        (env.at("stafd.conf", 21), "exclude: not a valid entry of the 3.x exclusion list"),
        (env.at("stacd.conf", 3), "[Global] queue-size: invalid value in 2.x"),
        (
            env.at("stacd.conf", 5),
            "[I/O controller connection management] disconnect-scope=all-connections-matching-disconnect-trtypes: no successor in 3.x",
        ),
        (
            env.at("stacd.conf", 6),
            "[I/O controller connection management] disconnect-trtypes=tcp+rdma: removed in 3.x",
        ),
        (env.at("stacd.conf", 9), "controller host-iface: 2.x ignored it ([Global] ignore-iface=true)"),
        (env.at("stacd.conf", 12), "controller kato: invalid value in 2.x"),
        (env.at("stacd.conf", 13), "controller: no nqn"),
        (env.at("stacd.conf", 17), "[Unknown] y: 2.x does not read section [Unknown]"),
    ];
    assert_eq!(items.len(), want.len(), "{items:#?}");
    for (item, (at, start)) in items.iter().zip(&want) {
        let prefix = format!("{at}: {start}");
        assert!(
            item.starts_with(&prefix),
            "{item}\n  should start with\n{prefix}"
        );
    }
    assert_eq!(line_of(&stacd_text, "traddr=192.0.2.24"), 13);
    // The 2.x diagnostics are listed too, with file and line.
    let diags: Vec<String> = plan.diagnostics.iter().map(ToString::to_string).collect();
    for (file, line, text) in [
        (
            "stafd.conf",
            3,
            "error: [Global] kato: invalid value \"abc\"",
        ),
        (
            "stacd.conf",
            3,
            "error: [Global] queue-size: invalid value \"8\"",
        ),
        (
            "stacd.conf",
            12,
            "error: controller: kato: invalid value \"x\"",
        ),
        ("sys.conf", 5, "error: invalid option \"color\""),
    ] {
        let prefix = format!("{}: {text}", env.at(file, line));
        assert!(
            diags.iter().any(|d| d.starts_with(&prefix)),
            "{prefix}\n{diags:#?}"
        );
    }
    let report = plan.render_report();
    assert!(
        report.starts_with(&format!("not carried over ({}):\n", want.len())),
        "{report}"
    );
    assert!(
        report.contains(&format!("2.x diagnostics ({}):\n", diags.len())),
        "{report}"
    );
    // No secret anywhere in what is printed.
    let shown = plan.render_dry_run();
    assert!(
        !shown.contains("ZGVmZ2hp") && !shown.contains("AQIDBAUG"),
        "{shown}"
    );
}

#[test]
fn every_line_of_the_2x_files_is_accounted_for() {
    let env = Env::kitchen_sink();
    let plan = env.plan();
    let all = everything(&plan);
    for (name, text) in [
        ("sys.conf", SYS_KS.to_owned()),
        ("stafd.conf", STAFD_KS.to_owned()),
        ("stacd.conf", STACD_KS.replace("{HOSTNQN}", HOSTNQN)),
    ] {
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with('[') {
                continue;
            }
            let at = env.at(name, i + 1);
            assert!(
                mentions(&all, &at),
                "{at} ({l}) is neither carried nor listed:\n{all}"
            );
        }
    }
}

#[test]
fn kitchen_sink_mapping() {
    let env = Env::kitchen_sink();
    let plan = env.plan();
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert_eq!(
        body(main),
        [
            sect("Host", &["hostsymname = rack-7"]),
            sect(
                "Discovery Controller Defaults",
                &["queue-size = 1024", "persistent = auto"]
            ),
            sect(
                "I/O Controller Defaults",
                &[&format!("kxchap-secret = {HOSTKEY}")]
            ),
            sect(
                "Discovery Controller",
                &[
                    "controller = transport=tcp;traddr=192.0.2.2;trsvcid=8009",
                    "controller = transport=fc;traddr=nn-0x1:pn-0x2",
                ]
            ),
            sect(
                "Subsystem",
                &[
                    "nqn = nqn.2024-01.com.example:a",
                    &format!("kxchap-secret = {CTRLKEY}"),
                    "controller = transport=tcp;traddr=192.0.2.20;trsvcid=8009",
                    "controller = transport=tcp;traddr=192.0.2.21;trsvcid=4420",
                ]
            ),
            sect(
                "Subsystem",
                &[
                    "nqn = nqn.2024-01.com.example:a",
                    "controller = transport=tcp;traddr=192.0.2.22;trsvcid=4420",
                ]
            ),
            sect(
                "Subsystem",
                &[
                    "nqn = nqn.2024-01.com.example:c",
                    "controller = transport=tcp;traddr=192.0.2.25;trsvcid=8009",
                ]
            ),
        ]
    );
    // The host key with no sys.conf `key`: 2.x's default file.
    assert!(
        comment_above(main, &format!("kxchap-secret = {HOSTKEY}")).starts_with(&format!(
            "# from {} (2.x's default for key)",
            env.path("etc/nvme/hostkey").display()
        ))
    );
    assert_eq!(
        body(contents(&plan, &env.path("etc/nvme/stafd.conf"))),
        [
            sect("Global", &["tron=false", "pleo=disabled"]),
            sect(
                "Discovery controller connection management",
                &["dc-giveup-timeout=infinity"]
            ),
        ]
    );
    assert_eq!(
        body(contents(&plan, &env.path("etc/nvme/stacd.conf"))),
        [
            sect("Global", &["ignore-iface=true"]),
            sect(
                "I/O controller connection management",
                &["honor-fabric-zoning=yes", "connect-attempts-on-ncc=2"]
            ),
        ]
    );
    assert_eq!(
        comment_above(
            contents(&plan, &env.path("etc/nvme/stacd.conf")),
            "connect-attempts-on-ncc=2"
        ),
        format!(
            "# from {} (connect-attempts-on-ncc=1, which 2.x reads as 2)",
            env.at("stacd.conf", 7)
        )
    );
    let excl = contents(&plan, &env.path("etc/nvme/exclusions.conf.d/stas.conf"));
    assert_eq!(
        body(excl),
        [sect(
            "exclusions",
            &[
                "exclusion = nqn=nqn.2024-01.com.example:old",
                "exclusion = nqn=nqn.2024-01.com.example:x;hostnqn=nqn.2024-02.org.example:host-b",
            ]
        )]
    );
    assert_eq!(ExclusionList::parse(excl).entries().len(), 2);
    // Secrets: main file only (the DC's secret is not carried).
    let modes: Vec<(String, u32)> = plan
        .files
        .iter()
        .map(|f| {
            (
                f.path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                f.mode,
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("nvme-stas.conf".to_owned(), MODE_SECRET),
            ("migrated-1.conf".to_owned(), MODE_PUBLIC),
            ("migrated-2.conf".to_owned(), MODE_PUBLIC),
            ("stafd.conf".to_owned(), MODE_PUBLIC),
            ("stacd.conf".to_owned(), MODE_PUBLIC),
            ("stas.conf".to_owned(), MODE_PUBLIC),
        ]
    );
}

#[test]
fn host_nqn_personas_go_to_drop_ins() {
    let env = Env::kitchen_sink();
    let plan = env.plan();
    let one = contents(
        &plan,
        &env.path("etc/nvme/nvme-stas.conf.d/migrated-1.conf"),
    );
    assert_eq!(
        body(one),
        [
            sect(
                "Host",
                &[
                    "hostnqn = nqn.2024-02.org.example:host-a",
                    &format!("hostid = {HOSTID}"),
                    "hostsymname = rack-7",
                ]
            ),
            sect(
                "Discovery Controller",
                &["controller = transport=tcp;traddr=192.0.2.1;trsvcid=8009;persistent=no"]
            ),
        ]
    );
    assert_eq!(
        comment_above(one, "hostnqn = nqn.2024-02.org.example:host-a"),
        format!(
            "# from {} (host-nqn of the controllers below)",
            env.at("stafd.conf", 14)
        )
    );
    assert!(comment_above(one, &format!("hostid = {HOSTID}")).contains("2.x paired the host ID"));
    let two = contents(
        &plan,
        &env.path("etc/nvme/nvme-stas.conf.d/migrated-2.conf"),
    );
    assert_eq!(
        body(two),
        [
            sect(
                "Host",
                &[
                    "hostnqn = nqn.2024-02.org.example:host-b",
                    "hostsymname = rack-7"
                ]
            ),
            sect(
                "Subsystem",
                &[
                    "nqn = nqn.2024-01.com.example:b",
                    "controller = transport=rdma;traddr=192.0.2.23;trsvcid=4420",
                ]
            ),
        ]
    );
    let note = format!(
        "{}: no hostid written for host NQN nqn.2024-02.org.example:host-b: the 3.x format \
         rejects one host ID ({HOSTID}) under two host NQNs, although 2.x sent it with both",
        env.path("etc/nvme/nvme-stas.conf.d/migrated-2.conf")
            .display()
    );
    assert!(plan.notes.contains(&note), "{:#?}", plan.notes);
    // A host-nqn= naming the host's own NQN is no persona.
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert!(main.contains("controller = transport=tcp;traddr=192.0.2.25;trsvcid=8009"));
    assert_eq!(plan.files.len(), 6);
}

#[test]
fn generated_nvme_stas_conf_parses_without_errors() {
    use crate::config::nvmeconf::{self, Kind, Source};
    for env in [Env::example_c(), Env::kitchen_sink()] {
        let plan = env.plan();
        let main = env.path("etc/nvme/nvme-stas.conf");
        let sources: Vec<Source> = plan
            .files
            .iter()
            .filter(|f| f.path == main || f.path.starts_with(env.path("etc/nvme/nvme-stas.conf.d")))
            .map(|f| Source {
                path: f.path.clone(),
                text: f.contents.clone(),
            })
            .collect();
        let parsed = nvmeconf::parse(&main, &sources);
        let diags: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
        assert!(!parsed.has_errors(), "{diags:#?}");
        assert!(diags.is_empty(), "{diags:#?}");
        // Every written controller line is one connection.
        let lines = sources
            .iter()
            .flat_map(|s| s.text.lines())
            .filter(|l| l.starts_with("controller = "))
            .count();
        assert_eq!(parsed.conf.connections.len(), lines);
        for c in parsed.conf.iocs().filter(|c| c.address.transport == "tcp") {
            assert!(c.address.trsvcid.is_some(), "{c:?}");
        }
        assert!(parsed.conf.connections.iter().any(|c| c.kind == Kind::Io));
    }
}

#[test]
fn the_3x_daemon_files_load_without_errors() {
    use crate::config::ini;
    use crate::config::layout::Layout;
    use crate::config::{Daemon, Diagnostics, ServiceConfig};
    for env in [Env::example_c(), Env::kitchen_sink()] {
        let plan = env.plan();
        for (daemon, name) in [(Daemon::Stafd, "stafd.conf"), (Daemon::Stacd, "stacd.conf")] {
            let path = env.path(&format!("etc/nvme/{name}"));
            let mut diags = Diagnostics::new(&path);
            let parsed = ini::parse(contents(&plan, &path), &mut diags);
            let _ = ServiceConfig::from_ini_in(daemon, Layout::Stas3, &parsed, &mut diags);
            let diags = diags.into_vec();
            assert!(diags.is_empty(), "{diags:#?}");
        }
    }
}

/// DECISIONS.md item 17's proof: the daemons see the same controllers with the same connect
/// options before (2.x layout) and after (3.x layout) the migration.
#[test]
fn same_controllers_and_connect_options_before_and_after() {
    use crate::config::layout::{load, DaemonFiles, LayoutPaths};
    use crate::config::service::ConnectParams;
    use crate::config::Daemon;
    use crate::model::trid::{TidDefaults, TransportId, WELL_KNOWN_DISC_NQN};

    type Seen = Vec<(TransportId, Vec<Option<i64>>, Option<String>)>;
    fn norm(p: &ConnectParams) -> Vec<Option<i64>> {
        let b = |v: Option<bool>| v.filter(|v| *v).map(i64::from);
        vec![
            p.kato.map(i64::from),
            p.queue_size.map(i64::from),
            p.nr_io_queues.map(i64::from),
            p.nr_write_queues.map(i64::from),
            p.nr_poll_queues.map(i64::from),
            p.reconnect_delay.map(i64::from),
            p.ctrl_loss_tmo.map(i64::from),
            b(p.hdr_digest),
            b(p.data_digest),
            b(p.disable_sqflow),
        ]
    }
    fn seen(env: &Env, daemon: Daemon) -> Seen {
        let paths = LayoutPaths {
            etc_stas: env.path("etc/stas"),
            etc_nvme: env.path("etc/nvme"),
        };
        let files = DaemonFiles::choose(daemon, &paths, None, None);
        let cfg = load(daemon, &files).expect("load").loaded.config;
        let defaults = TidDefaults {
            host_nqn: HOSTNQN.to_owned(),
            ignore_iface: cfg.global.ignore_iface,
        };
        let mut out: Seen = Vec::new();
        for c in &cfg.controllers {
            let mut tid = c.dict.tid(&defaults);
            if tid.subsysnqn.is_empty() {
                WELL_KNOWN_DISC_NQN.clone_into(&mut tid.subsysnqn);
            }
            if out.iter().any(|(t, _, _)| *t == tid) {
                continue; // 2.x keeps the first entry of an identity
            }
            let params = norm(&c.overrides.or(&cfg.global.params));
            let secret = match daemon {
                Daemon::Stafd => None,
                Daemon::Stacd => c
                    .dict
                    .0
                    .get("dhchap-secret")
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .or_else(|| Some(HOSTKEY.to_owned())),
            };
            out.push((tid, params, secret));
        }
        out.sort();
        out
    }
    let env = Env::example_c();
    let before = (seen(&env, Daemon::Stafd), seen(&env, Daemon::Stacd));
    assert_eq!(before.0.len(), 2);
    assert_eq!(before.1.len(), 2);
    apply(&env.plan(), false).expect("apply");
    let after = (seen(&env, Daemon::Stafd), seen(&env, Daemon::Stacd));
    assert_eq!(before, after);
}

#[test]
fn non_standard_identity_is_written_whole() {
    let env = Env::new();
    env.put("etc/stas/hostnqn", "nqn.2014-08.org.example:custom-host\n");
    env.stas(
        "[Host]\nnqn=file:///etc/stas/hostnqn\nkey=\n",
        "",
        "[Controllers]\ncontroller=transport=tcp;traddr=192.0.2.9;trsvcid=4420;nqn=nqn.2024-01.com.example:v;host-nqn=nqn.2024-02.org.example:p\n",
    );
    let plan = env.plan();
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert_eq!(
        body(main)[0],
        sect(
            "Host",
            &[
                "hostnqn = nqn.2014-08.org.example:custom-host",
                &format!("hostid = {HOSTID}")
            ]
        )
    );
    assert!(
        comment_above(main, "hostnqn = nqn.2014-08.org.example:custom-host").starts_with(&format!(
            "# from {} (file:///etc/stas/hostnqn)",
            env.at("sys.conf", 2)
        ))
    );
    assert!(
        comment_above(main, &format!("hostid = {HOSTID}")).starts_with(&format!(
            "# from {} (2.x's default for id)",
            env.path("etc/nvme/hostid").display()
        ))
    );
    // `key=` (empty) is no value for the 2.x reader: the default /etc/nvme/hostkey applies.
    assert!(
        main.contains(&format!("\nkxchap-secret = {HOSTKEY}\n")),
        "{main}"
    );
    assert_eq!(
        not_carried(&plan),
        [format!(
            "{}: [Host] key: empty value: 2.x read the option as unset (its default applies); nothing to carry",
            env.at("sys.conf", 3)
        )]
    );
    // The main file holds the host ID, so the persona cannot.
    let p = contents(
        &plan,
        &env.path("etc/nvme/nvme-stas.conf.d/migrated-1.conf"),
    );
    assert_eq!(
        body(p)[0],
        sect("Host", &["hostnqn = nqn.2024-02.org.example:p"])
    );

    // A host NQN the 3.x check rejects is listed, not written.
    env.stas("[Host]\nnqn=nqn.bad\n", "", "");
    let plan = env.plan();
    assert!(
        not_carried(&plan).iter().any(|i| i.starts_with(&format!(
            "{}: [Host] nqn: host NQN nqn.bad does not pass",
            env.at("sys.conf", 2)
        ))),
        "{:#?}",
        not_carried(&plan)
    );
    assert!(!contents(&plan, &env.path("etc/nvme/nvme-stas.conf")).contains("hostnqn"));
}

#[test]
fn time_spans_and_scopes() {
    let env = Env::new();
    env.stas(
        "",
        "[Discovery controller connection management]\nzeroconf-connections-persistence=1.5h\n",
        "[I/O controller connection management]\ndisconnect-scope=no-disconnect\n",
    );
    let plan = env.plan();
    assert!(
        contents(&plan, &env.path("etc/nvme/stafd.conf")).contains("\ndc-giveup-timeout=90min\n")
    );
    assert!(
        contents(&plan, &env.path("etc/nvme/stacd.conf")).contains("\nhonor-fabric-zoning=no\n")
    );
    // No exclusion, no persona: those files are not written; the three main ones always are.
    assert_eq!(plan.files.len(), 3);
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    assert_eq!(
        body(main),
        [
            sect("Discovery Controller Defaults", &["persistent = force"]),
            sect(
                "I/O Controller Defaults",
                &[&format!("kxchap-secret = {HOSTKEY}")]
            ),
        ]
    );
    let stacd = contents(&plan, &env.path("etc/nvme/stacd.conf"));
    env.stas("", "", "");
    let plan = env.plan();
    assert!(comment_above(
        contents(&plan, &env.path("etc/nvme/stacd.conf")),
        "honor-fabric-zoning=yes"
    )
    .contains("2.x's default disconnect-scope=only-stas-connections"));
    assert_ne!(stacd, contents(&plan, &env.path("etc/nvme/stacd.conf")));
}

#[test]
fn refusals() {
    let env = Env::new();
    match plan(&env.paths()) {
        Err(e @ MigrateError::NothingToMigrate(_)) => {
            assert!(
                e.to_string()
                    .starts_with("no nvme-stas 2.x configuration to migrate: none of "),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    env.stas(SYS_C, STAFD_C, STACD_C);
    let same =
        MigratePaths::new(&env.path("etc/stas"), &env.path("etc/stas")).under_root(env.dir.path());
    match plan(&same) {
        Err(MigrateError::TargetIsSource(p)) => assert_eq!(p, env.path("etc/stas/stafd.conf")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fs::read_to_string(env.path("etc/stas/stafd.conf")).expect("read"),
        STAFD_C
    );
}

#[test]
fn foreign_drop_ins_are_noted() {
    let env = Env::example_c();
    let other = env.put(
        "etc/nvme/nvme-stas.conf.d/admin.conf",
        "[Host]\nhostnqn = nqn.2024-01.x:y\n",
    );
    let plan = env.plan();
    assert!(plan.notes.contains(&format!(
        "{}: not written by this migration, but the 3.x daemons read it too",
        other.display()
    )));
}

#[test]
fn tls_keys_are_carried_to_their_sections() {
    use crate::config::layout::{load, DaemonFiles, LayoutPaths};
    use crate::config::Daemon;

    const KEY: &str = "NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:";
    let env = Env::new();
    env.stas(
        SYS_C,
        "[Global]\ntls=true\n[Controllers]\n\
         controller=transport=tcp;traddr=10.10.1.5;tls=false\n\
         controller=transport=tcp;traddr=10.10.1.6\n",
        &format!(
            "[Global]\nkeyring=0x3b9aca00\n[Controllers]\n\
             controller=transport=tcp;traddr=10.10.2.20;trsvcid=4420;nqn=nqn.2024-01.com.example:db;tls=true;tls-key=0x1a2b\n\
             controller=transport=tcp;traddr=10.10.2.21;trsvcid=4420;nqn=nqn.2024-01.com.example:db;tls=true;tls-key=0x1a2b;keyring=7\n\
             controller=transport=tcp;traddr=10.10.2.22;trsvcid=4420;nqn=nqn.2024-01.com.example:lab;tls=true;tls-key={KEY}\n"
        ),
    );
    let plan = env.plan();
    let all = everything(&plan);
    assert!(
        !all.contains("VRLbtn"),
        "a refused key is never shown: {all}"
    );
    let main = contents(&plan, &env.path("etc/nvme/nvme-stas.conf"));
    for l in main.lines().filter(|l| l.starts_with("controller = ")) {
        assert!(
            !l.contains("tls") && !l.contains("keyring"),
            "on a controller line: {l}"
        );
    }
    /// traddr, tls, keyring, tls-key of every controller.
    type Keys = Vec<(String, Option<bool>, Option<i32>, Option<i32>)>;
    let keys = |files: &[(Daemon, &str)]| -> Keys {
        let mut out = Vec::new();
        for (daemon, _) in files {
            let paths = LayoutPaths {
                etc_stas: env.path("etc/stas"),
                etc_nvme: env.path("etc/nvme"),
            };
            let files = DaemonFiles::choose(*daemon, &paths, None, None);
            let cfg = load(*daemon, &files).expect("load").loaded.config;
            for c in &cfg.controllers {
                let p = c.overrides.or(&cfg.global.params);
                out.push((c.dict.get("traddr").to_owned(), p.tls, p.keyring, p.tls_key));
            }
        }
        out.sort();
        out
    };
    let both = [(Daemon::Stafd, "stafd"), (Daemon::Stacd, "stacd")];
    let before = keys(&both);
    assert_eq!(
        before,
        [
            ("10.10.1.5".to_owned(), Some(false), None, None),
            ("10.10.1.6".to_owned(), Some(true), None, None),
            (
                "10.10.2.20".to_owned(),
                Some(true),
                Some(1_000_000_000),
                Some(6699)
            ),
            ("10.10.2.21".to_owned(), Some(true), Some(7), Some(6699)),
            (
                "10.10.2.22".to_owned(),
                Some(true),
                Some(1_000_000_000),
                None
            ),
        ]
    );
    apply(&plan, false).expect("apply");
    assert_eq!(keys(&both), before);
}
