//! stafd's systemd notifications, end to end: the real `stafd::serve` (in
//! `stas-fake-stafd`, over the in-memory kernel) on a private dbus-daemon, with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` set as systemd sets them for a `Type=notify` unit with
//! `WatchdogSec`. Checks `READY=1` with the controller summary, `WATCHDOG=1` keep-alives,
//! `RELOADING=1` then `READY=1` *with the summary again* after SIGHUP, and `STOPPING=1`
//! with exit status 0 after SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5a1b2c3d-0000-4000-8000-00000000abcd";
const HOSTID: &str = "5a1b2c3d-0000-4000-8000-00000000abcd";
const SUMMARY: &str = "STATUS=0 discovery controller(s), 0 connected";

struct Bus(Child, String);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon under test, killed if the test fails before it exits (an orphan would hold
/// the test harness's output pipe open).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A private dbus-daemon (session rules: anyone may own any name); `None` without one.
fn private_bus(dir: &Path) -> Option<Bus> {
    let conf = dir.join("bus.conf");
    std::fs::write(
        &conf,
        format!(
            "<busconfig><type>session</type><listen>unix:path={}</listen>\
             <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
             <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
            dir.join("bus").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", conf.display()))
        .stderr(Stdio::null())
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take().unwrap();
    let mut addr = String::new();
    let mut buf = [0u8; 256];
    while !addr.contains('\n') {
        let n = std::io::Read::read(&mut out, &mut buf).ok()?;
        if n == 0 {
            return None;
        }
        addr.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Some(Bus(child, addr.trim().to_owned()))
}

/// The next notification datagram, waiting at most `within`.
fn next(sock: &UnixDatagram, within: Duration) -> Option<String> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Reads notifications until one satisfies `want` (60 s at most); returns them all.
fn until(sock: &UnixDatagram, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Some(m) = next(sock, Duration::from_secs(1)) {
            let done = want(&m);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    panic!("no notification {what} within 60 s; got {seen:?}");
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn ready_watchdog_reload_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bus) = private_bus(dir.path()) else {
        eprintln!("skipped: no dbus-daemon on this host");
        return;
    };
    let notify_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    let conf = dir.path().join("stafd.conf");
    std::fs::write(&conf, "[Global]\n").unwrap();
    let mut stafd = Daemon(
        Command::new(env!("CARGO_BIN_EXE_stas-fake-stafd"))
            .arg("--conf")
            .arg(&conf)
            .arg("--state")
            .arg(dir.path().join("state.toml"))
            .args(["--hostnqn", HOSTNQN, "--hostid", HOSTID])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.1)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "400000")
            .env_remove("WATCHDOG_PID")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = stafd.0.id();

    let seen = until(&sock, "READY=1", |m| m.contains("READY=1"));
    assert!(seen.last().unwrap().contains("STATUS="), "{seen:?}");
    // Keep-alives at half of WatchdogSec (200 ms): wait for two.
    until(&sock, "WATCHDOG=1", |m| m.contains("WATCHDOG=1"));
    until(&sock, "a second WATCHDOG=1", |m| m.contains("WATCHDOG=1"));

    signal(pid, "-HUP");
    until(&sock, "RELOADING=1", |m| m.contains("RELOADING=1"));
    let seen = until(&sock, "READY=1 after the reload", |m| m.contains("READY=1"));
    let ready = seen.last().unwrap();
    assert!(
        ready.lines().any(|l| l == SUMMARY),
        "STATUS= is the controller summary again after a reload: {ready:?}"
    );
    // The core still pings after a reload.
    until(&sock, "WATCHDOG=1 after the reload", |m| {
        m.contains("WATCHDOG=1")
    });

    signal(pid, "-TERM");
    until(&sock, "STOPPING=1", |m| m.contains("STOPPING=1"));
    let status = stafd.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
