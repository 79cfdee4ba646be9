//! The shipped D-Bus policies (dbus/org.nvmexpress.{staf,stac}.conf) on a strict,
//! system-like bus (the host's system.conf with our policy files in its system.d, as
//! installed): root owns the names and may set `tron`; any other user may call every method
//! and read properties, but gets AccessDenied on Set, and stafctl says so with its own exit
//! status. Needs root (to switch to `nobody` with setpriv); skipped otherwise.

#[path = "../../libstas/tests/dbus_fixture/mod.rs"]
mod dbus_fixture;

use std::path::PathBuf;
use std::process::{Command, Output};

use dbus_fixture::{require, run, Bus, FakeCore};
use libstas::dbus::{bus_connection, sample, serve_stac_on, serve_staf_on};

const STAF: [&str; 3] = [
    "org.nvmexpress.staf",
    "/org/nvmexpress/staf",
    "org.nvmexpress.staf",
];
const STAF_DEBUG: &str = "org.nvmexpress.staf.debug";
const STAC: [&str; 3] = [
    "org.nvmexpress.stac",
    "/org/nvmexpress/stac",
    "org.nvmexpress.stac",
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn policy(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dbus")
        .join(name)
}

/// `program args…`, as root or as `nobody`.
fn cmd(bus: &Bus, as_nobody: bool, program: &str, args: &[&str]) -> Command {
    let mut c = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            program,
        ]);
        c
    } else {
        Command::new(program)
    };
    c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address).args(args);
    c
}

fn busctl(bus: &Bus, as_nobody: bool, args: &[&str]) -> Command {
    let address = format!("--address={}", bus.address);
    let mut all = vec![address.as_str()];
    all.extend_from_slice(args);
    cmd(bus, as_nobody, "busctl", &all)
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_root_owns_the_names_and_sets_properties() {
    let test = "only_root_owns_the_names_and_sets_properties";
    if require(test, &["dbus-daemon", "busctl", "setpriv"]).is_none() {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root (to act as nobody with setpriv)");
        return;
    }
    let bus = Bus::strict(&[
        policy("org.nvmexpress.staf.conf"),
        policy("org.nvmexpress.stac.conf"),
    ]);

    // Root may own both names (serve_* requests them).
    let core = FakeCore::start(sample::staf_snapshot());
    let conn = bus_connection(&bus.address).await.unwrap();
    let _staf = serve_staf_on(conn, core.staf_handle())
        .await
        .expect("root owns org.nvmexpress.staf");
    let stac_core = FakeCore::start(sample::stac_snapshot());
    let conn = bus_connection(&bus.address).await.unwrap();
    let _stac = serve_stac_on(conn, stac_core.stac_handle())
        .await
        .expect("root owns org.nvmexpress.stac");

    // Nobody else may own them.
    for name in ["org.nvmexpress.staf", "org.nvmexpress.stac.other"] {
        let o = run(busctl(
            &bus,
            true,
            &[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                "su",
                name,
                "4",
            ],
        ))
        .await;
        assert!(!o.status.success(), "nobody owned {name}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Access denied"),
            "{}",
            text(&o)
        );
    }

    // Any user may call the methods and read the properties.
    for (path, member, sig) in [
        (STAF, "list_controllers", ["b", "true"].as_slice()),
        (STAF, "get_all_log_pages", ["b", "true"].as_slice()),
        (STAC, "list_controllers", ["b", "true"].as_slice()),
    ] {
        let mut args = vec!["call"];
        args.extend_from_slice(&path);
        args.push(member);
        args.extend_from_slice(sig);
        let o = run(busctl(&bus, true, &args)).await;
        assert!(o.status.success(), "nobody: {member}: {}", text(&o));
        assert!(!String::from_utf8_lossy(&o.stdout).contains(sample::SECRET));
    }
    let o = run(busctl(
        &bus,
        true,
        &["call", STAF[0], STAF[1], STAF_DEBUG, "process_info"],
    ))
    .await;
    assert!(o.status.success(), "nobody: process_info: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(r#"\"hostkey\":\"(set)\""#));
    let o = run(busctl(
        &bus,
        true,
        &["get-property", STAF[0], STAF[1], STAF_DEBUG, "tron"],
    ))
    .await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "b false",
        "{}",
        text(&o)
    );

    // ... but not set them.
    for (dest, path, iface) in [
        (STAF[0], STAF[1], STAF_DEBUG),
        (STAC[0], STAC[1], "org.nvmexpress.stac.debug"),
    ] {
        let o = run(busctl(
            &bus,
            true,
            &["set-property", dest, path, iface, "tron", "b", "true"],
        ))
        .await;
        assert!(!o.status.success(), "nobody set tron on {dest}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("Access denied"),
            "{}",
            text(&o)
        );
    }
    assert!(!core.snapshot.borrow().process.tron);
    assert!(!stac_core.snapshot.borrow().process.tron);

    // Root may.
    let o = run(busctl(
        &bus,
        false,
        &[
            "set-property",
            STAF[0],
            STAF[1],
            STAF_DEBUG,
            "tron",
            "b",
            "true",
        ],
    ))
    .await;
    assert!(o.status.success(), "root set tron: {}", text(&o));
    assert!(core.snapshot.borrow().process.tron);

    // stafctl as nobody: reading works; tron is a permission error with its own status.
    let stafctl = env!("CARGO_BIN_EXE_stafctl");
    let o = run(cmd(&bus, true, stafctl, &["ls"])).await;
    assert!(o.status.success(), "nobody: stafctl ls: {}", text(&o));
    let o = run(cmd(&bus, true, stafctl, &["status", "--json"])).await;
    assert!(o.status.success(), "nobody: stafctl status: {}", text(&o));
    let o = run(cmd(&bus, true, stafctl, &["troff"])).await;
    assert_eq!(o.status.code(), Some(77), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("stafctl: permission denied: only root may switch stafd tracing off ("),
        "{err}"
    );
    assert!(core.snapshot.borrow().process.tron, "still on");

    // stafctl as root.
    let o = run(cmd(&bus, false, stafctl, &["troff"])).await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "tron: off\n",
        "{}",
        text(&o)
    );
    assert!(!core.snapshot.borrow().process.tron);
}
