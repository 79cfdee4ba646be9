//! Test fixture shared by `libstas/tests/dbus_*.rs` and `stafd/tests/dbus_*.rs` (included
//! there with `#[path]`): a private, system-like `dbus-daemon` on a path socket in a temporary
//! directory (crates-and-services.md §3.1), optionally with the real system policy plus our
//! policy file (the strict variant), a stand-in for a daemon's core, and helpers to run
//! generic D-Bus clients (busctl, gdbus) with a timeout.
//!
//! Tests skip, saying so, when `dbus-daemon` is not installed.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use libstas::dbus::{StacHandle, StafHandle};
use libstas::model::snapshot::{CoreCommand, CoreEvent, Snapshot};
use tokio::sync::{broadcast, mpsc, watch};

/// How long any external client may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether `program` is on `PATH`.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// `None` (after saying why) when one of `programs` is missing.
pub fn require(test: &str, programs: &[&str]) -> Option<()> {
    for p in programs {
        if !have(p) {
            eprintln!("SKIPPED {test}: `{p}` is not installed");
            return None;
        }
    }
    Some(())
}

/// A running private bus; killed (by its pid) when dropped.
pub struct Bus {
    /// `unix:path=…`.
    pub address: String,
    /// Holds the socket and the configuration.
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Bus {
    /// A permissive system-like bus: anyone may own any name and call anything.
    pub fn permissive() -> Bus {
        let dir = bus_dir();
        let sock = dir.path().join("bus.sock");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/> <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/> <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
                sock.display()
            ),
        )
        .expect("write bus.conf");
        Self::start(dir, &conf)
    }

    /// The strict variant: the host's `/usr/share/dbus-1/system.conf` without its
    /// daemon-level settings, listening in the temporary directory, with `policies` copied
    /// into its `system.d`.
    pub fn strict(policies: &[PathBuf]) -> Bus {
        let dir = bus_dir();
        let sock = dir.path().join("bus.sock");
        let system = std::fs::read_to_string("/usr/share/dbus-1/system.conf")
            .expect("/usr/share/dbus-1/system.conf");
        let drop_line = |l: &&str| {
            let t = l.trim();
            !(t == "<user>messagebus</user>"
                || t == "<fork/>"
                || t.starts_with("<pidfile>")
                || t == "<syslog/>"
                || t.starts_with("<servicehelper>")
                || t == "<standard_system_servicedirs/>")
        };
        let conf_text: String = system
            .lines()
            .filter(drop_line)
            .map(|l| {
                if l.contains("<listen>") {
                    format!("  <listen>unix:path={}</listen>", sock.display())
                } else if l.trim() == "<includedir>system.d</includedir>" {
                    format!(
                        "  <includedir>{}</includedir>",
                        dir.path().join("system.d").display()
                    )
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            conf_text.contains(&sock.display().to_string()),
            "listen line replaced"
        );
        let sysd = dir.path().join("system.d");
        std::fs::create_dir(&sysd).expect("system.d");
        for p in policies {
            std::fs::copy(p, sysd.join(p.file_name().expect("policy file name")))
                .expect("copy policy");
        }
        let conf = dir.path().join("bus.conf");
        std::fs::write(&conf, conf_text).expect("write bus.conf");
        Self::start(dir, &conf)
    }

    fn start(dir: tempfile::TempDir, conf: &Path) -> Bus {
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("dbus-daemon address");
        let address = line.trim().to_owned();
        assert!(address.starts_with("unix:path="), "address: {address:?}");
        Bus {
            address,
            dir,
            child,
        }
    }
}

impl Bus {
    /// Kills the dbus-daemon (SIGKILL, by its pid) and reaps it: every client's connection
    /// ends as when the system bus dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory every user may traverse (the non-root tests connect to its socket).
fn bus_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("stas-bus-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

/// A stand-in for a daemon's core: owns the snapshot, applies `SetTron`, and lets the test
/// publish events.
pub struct FakeCore {
    /// The snapshot channel (the test may modify the snapshot).
    pub snapshot: watch::Sender<Snapshot>,
    /// The event channel (the test sends events).
    pub events: broadcast::Sender<CoreEvent>,
    commands: Option<mpsc::Sender<CoreCommand>>,
}

impl FakeCore {
    /// Starts the command loop (needs a tokio runtime).
    pub fn start(snapshot: Snapshot) -> FakeCore {
        let (snap_tx, _) = watch::channel(snapshot);
        let (ev_tx, _) = broadcast::channel(16);
        let (cmd_tx, mut cmd_rx) = mpsc::channel(4);
        let tx = snap_tx.clone();
        tokio::spawn(async move {
            while let Some(CoreCommand::SetTron(v)) = cmd_rx.recv().await {
                tx.send_modify(|s| s.process.tron = v);
            }
        });
        FakeCore {
            snapshot: snap_tx,
            events: ev_tx,
            commands: Some(cmd_tx),
        }
    }

    /// The handle stafd's adapter takes.
    pub fn staf_handle(&self) -> StafHandle {
        StafHandle {
            snapshot: self.snapshot.subscribe(),
            events: self.events.subscribe(),
            commands: self.commands.clone().expect("commands"),
        }
    }

    /// The handle stacd's adapter takes.
    pub fn stac_handle(&self) -> StacHandle {
        StacHandle {
            snapshot: self.snapshot.subscribe(),
            commands: self.commands.clone().expect("commands"),
        }
    }
}

/// Runs a command to completion with [`CLIENT_TIMEOUT`] (killing it by pid on timeout), off
/// the async runtime's threads.
pub async fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{shown}: {e}"));
        let pid = child.id();
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(CLIENT_TIMEOUT) {
            Ok(out) => out.expect("wait"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("{shown} did not finish within {CLIENT_TIMEOUT:?}");
            }
        }
    })
    .await
    .expect("join")
}

/// stdout of a successful command; panics with both streams otherwise.
pub fn ok_stdout(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// A line-oriented reader of a long-running child (e.g. `gdbus monitor`), killed on drop.
pub struct LineWatcher {
    child: Child,
    lines: std_mpsc::Receiver<String>,
    /// Everything read so far (for failure messages).
    pub seen: Vec<String>,
}

impl LineWatcher {
    /// Starts `cmd` with its stdout read line by line.
    pub fn spawn(mut cmd: Command) -> LineWatcher {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watcher");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineWatcher {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (blocking) for a line containing `needle`; returns it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    /// Lines that arrive within `quiet` (blocking), without waiting for anything specific.
    pub fn drain(&mut self, quiet: Duration) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line.clone());
            got.push(line);
        }
        got
    }
}

impl Drop for LineWatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `name` has an owner on `bus` (busctl's `NameHasOwner`).
pub async fn has_owner(bus: &Bus, name: &str) -> bool {
    let mut cmd = Command::new("busctl");
    cmd.arg(format!("--address={}", bus.address)).args([
        "call",
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        "s",
        name,
    ]);
    match ok_stdout(&run(cmd).await, "NameHasOwner").trim() {
        "b true" => true,
        "b false" => false,
        other => panic!("NameHasOwner: {other}"),
    }
}
