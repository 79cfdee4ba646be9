//! stafd's and stacd's D-Bus adapters on a real, private `dbus-daemon`, driven by generic
//! clients (busctl for calls and properties, gdbus for signals) rather than by our own
//! proxies: the contract nvme-stas clients rely on, seen from outside.

mod dbus_fixture;

use std::process::Command;
use std::time::Duration;

use dbus_fixture::{ok_stdout, require, run, Bus, FakeCore, LineWatcher};
use libstas::dbus::{
    bus_connection, sample, serve_stac_on, serve_staf_on, shapes, DbusError, DbusServer,
};
use libstas::model::snapshot::CoreEvent;
use serde_json::Value;

const DEST: &str = "org.nvmexpress.staf";
const PATH: &str = "/org/nvmexpress/staf";
const DEBUG: &str = "org.nvmexpress.staf.debug";

async fn serve(bus: &Bus, core: &FakeCore) -> DbusServer {
    let conn = bus_connection(&bus.address).await.expect("connect");
    serve_staf_on(conn, core.staf_handle())
        .await
        .expect("serve stafd's objects")
}

/// `busctl --address=… --json=short <args>`, parsed.
async fn busctl(bus: &Bus, args: &[&str]) -> Value {
    let mut cmd = Command::new("busctl");
    cmd.arg(format!("--address={}", bus.address))
        .arg("--json=short")
        .args(args);
    let out = ok_stdout(&run(cmd).await, &format!("busctl {args:?}"));
    assert!(
        !out.contains(sample::SECRET),
        "a secret leaked through {args:?}: {out}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("busctl {args:?}: {e}: {out}"))
}

/// The single reply value of `busctl call`.
async fn call(bus: &Bus, iface: &str, member: &str, sig_and_args: &[&str]) -> Value {
    let mut args = vec!["call", DEST, PATH, iface, member];
    args.extend_from_slice(sig_and_args);
    let mut v = busctl(bus, &args).await;
    v["data"][0].take()
}

fn dicts(v: &Value) -> Vec<shapes::StrDict> {
    serde_json::from_value(v.clone()).expect("aa{ss}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busctl_sees_the_nvme_stas_contract() {
    if require(
        "busctl_sees_the_nvme_stas_contract",
        &["dbus-daemon", "busctl"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    let snapshot = sample::staf_snapshot();
    let core = FakeCore::start(snapshot.clone());
    let _server = serve(&bus, &core).await;

    for detailed in ["false", "true"] {
        let got = call(&bus, DEST, "list_controllers", &["b", detailed]).await;
        assert_eq!(
            dicts(&got),
            shapes::list_controllers(&snapshot, detailed == "true"),
            "list_controllers({detailed})"
        );
    }
    let got = dicts(&call(&bus, DEST, "list_controllers", &["b", "false"]).await);
    assert_eq!(got[0]["device"], "nvme0");
    assert_eq!(got[1]["device"], "nvme?");
    assert!(!got[0].contains_key("dhchap-secret"));

    let dc = sample::configured_dc_tid();
    let pages = call(
        &bus,
        DEST,
        "get_log_pages",
        &[
            "sssssss",
            "tcp",
            &dc.traddr,
            "8009",
            &dc.subsysnqn,
            "",
            "eth0",
            &dc.host_nqn,
        ],
    )
    .await;
    assert_eq!(dicts(&pages), sample::log_pages());
    // An empty trsvcid / host-nqn is rebuilt with the defaults, as nvme-stas does.
    let pages = call(
        &bus,
        DEST,
        "get_log_pages",
        &[
            "sssssss",
            "tcp",
            &dc.traddr,
            "",
            &dc.subsysnqn,
            "",
            "eth0",
            "",
        ],
    )
    .await;
    assert_eq!(dicts(&pages).len(), 2);
    let unknown = call(
        &bus,
        DEST,
        "get_log_pages",
        &["sssssss", "tcp", "10.9.9.9", "", "", "", "", ""],
    )
    .await;
    assert_eq!(unknown, Value::Array(vec![]));

    for detailed in ["false", "true"] {
        let text = call(&bus, DEST, "get_all_log_pages", &["b", detailed]).await;
        let got: Value = serde_json::from_str(text.as_str().expect("s")).unwrap();
        let want: Value =
            serde_json::from_str(&shapes::all_log_pages(&snapshot, detailed == "true").unwrap())
                .unwrap();
        assert_eq!(got, want);
        assert_eq!(got[0]["log-pages"].as_array().unwrap().len(), 2);
    }

    let text = call(&bus, DEBUG, "process_info", &[]).await;
    let info: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(info["hostkey"], "(set)");
    assert_eq!(info["tron"], false);
    assert_eq!(info["log-level"], "INFO");
    assert_eq!(info["config soak timer"], "1.5s [off]");
    assert_eq!(info["kernel support.TP8013"], "True");

    let text = call(
        &bus,
        DEBUG,
        "controller_info",
        &[
            "sssssss",
            "tcp",
            &dc.traddr,
            "8009",
            &dc.subsysnqn,
            "",
            "eth0",
            "",
        ],
    )
    .await;
    let got: shapes::StrDict = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(got, shapes::info(&snapshot.ctrls[0]));
    let d = sample::discovered_dc_tid();
    let text = call(
        &bus,
        DEBUG,
        "controller_info",
        &[
            "sssssss",
            "tcp",
            &d.traddr,
            "",
            &d.subsysnqn,
            "",
            "eth1",
            "",
        ],
    )
    .await;
    let got: shapes::StrDict = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(got["origin"], "discovered");
    assert_eq!(got["retry connect timer"], "60.0s [12.3s]");
    assert_eq!(
        got["connect operation"],
        "{'fail count': 3, 'completed': False, 'alive': True, 'error': 'Connection refused'}"
    );
    assert_eq!(got["unresponsive timeout"], "259200 sec");
    let none = call(
        &bus,
        DEBUG,
        "controller_info",
        &["sssssss", "tcp", "10.9.9.9", "", "", "", "", ""],
    )
    .await;
    assert_eq!(none, "{}");

    // Properties.
    let get = |prop: &'static str| {
        let bus = &bus;
        async move { busctl(bus, &["get-property", DEST, PATH, DEBUG, prop]).await["data"].take() }
    };
    assert_eq!(get("tron").await, false);
    assert_eq!(get("log_level").await, "INFO");
    let mut set = Command::new("busctl");
    set.arg(format!("--address={}", bus.address)).args([
        "set-property",
        DEST,
        PATH,
        DEBUG,
        "tron",
        "b",
        "true",
    ]);
    ok_stdout(&run(set).await, "set-property tron");
    assert_eq!(get("tron").await, true);
    assert_eq!(get("log_level").await, "DEBUG");
    assert!(core.snapshot.borrow().process.tron, "the core got SetTron");

    // Introspection as busctl shows it: nvme-stas's member names.
    let mut cmd = Command::new("busctl");
    cmd.arg(format!("--address={}", bus.address))
        .args(["introspect", DEST, PATH]);
    let text = ok_stdout(&run(cmd).await, "busctl introspect");
    for member in [
        ".list_controllers",
        ".get_log_pages",
        ".get_all_log_pages",
        ".log_pages_changed",
        ".dc_removed",
        ".process_info",
        ".controller_info",
        ".tron",
        ".log_level",
    ] {
        assert!(text.contains(member), "{member} missing:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reach_a_generic_client() {
    if require(
        "signals_reach_a_generic_client",
        &["dbus-daemon", "busctl", "gdbus"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    let core = FakeCore::start(sample::staf_snapshot());
    let _server = serve(&bus, &core).await;

    let mut monitor = Command::new("gdbus");
    monitor.args(["monitor", "--address", &bus.address, "--dest", DEST]);
    let mut w = LineWatcher::spawn(monitor);
    let wait = Duration::from_secs(10);
    // gdbus learns the name's owner asynchronously and drops signals until it knows it: send
    // dc_removed until one arrives, so the signals below are not lost to that start-up race.
    tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + wait;
        loop {
            core.events.send(CoreEvent::DcRemoved).unwrap();
            if w.wait_for("org.nvmexpress.staf.dc_removed", Duration::from_millis(200))
                .is_some()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gdbus monitor never saw a signal: {:?}",
                w.seen
            );
        }
        w.drain(Duration::from_millis(300));
    });

    let tid = sample::configured_dc_tid();
    core.events
        .send(CoreEvent::LogPagesChanged {
            tid: tid.clone(),
            device: "nvme0".into(),
        })
        .unwrap();
    core.events.send(CoreEvent::DcRemoved).unwrap();
    tokio::task::block_in_place(|| {
        let line = w
            .wait_for("org.nvmexpress.staf.log_pages_changed", wait)
            .unwrap_or_else(|| panic!("no log_pages_changed: {:?}", w.seen));
        assert!(
            line.contains(&format!(
                "('tcp', '192.168.56.10', '8009', 'nqn.2014-08.org.nvmexpress.discovery', \
                 '', 'eth0', '{}', 'nvme0')",
                tid.host_nqn
            )),
            "{line}"
        );
        let line = w
            .wait_for("org.nvmexpress.staf.dc_removed", wait)
            .unwrap_or_else(|| panic!("no dc_removed: {:?}", w.seen));
        assert!(line.ends_with("()"), "{line}");
    });

    // A D-Bus write announces tron once (zbus) and log_level once (the watcher).
    let mut set = Command::new("busctl");
    set.arg(format!("--address={}", bus.address)).args([
        "set-property",
        DEST,
        PATH,
        DEBUG,
        "tron",
        "b",
        "true",
    ]);
    ok_stdout(&run(set).await, "set-property tron");
    tokio::task::block_in_place(|| {
        let lines = w.drain(Duration::from_millis(700));
        let tron: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("'tron': <true>"))
            .collect();
        let level: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("'log_level': <'DEBUG'>"))
            .collect();
        assert_eq!(tron.len(), 1, "{lines:?}");
        assert_eq!(level.len(), 1, "{lines:?}");
    });

    // A change made by the core itself (reload) is announced too.
    core.snapshot.send_modify(|s| s.process.tron = false);
    tokio::task::block_in_place(|| {
        let lines = w.drain(Duration::from_millis(700));
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("'tron': <false>"))
                .count(),
            1,
            "{lines:?}"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("'log_level': <'INFO'>"))
                .count(),
            1,
            "{lines:?}"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_is_not_taken_over() {
    if require("the_name_is_not_taken_over", &["dbus-daemon"]).is_none() {
        return;
    }
    let bus = Bus::permissive();
    let core = FakeCore::start(sample::staf_snapshot());
    let _first = serve(&bus, &core).await;
    let conn = bus_connection(&bus.address).await.unwrap();
    let err = serve_staf_on(conn, core.staf_handle()).await.unwrap_err();
    assert!(matches!(err, DbusError::NameTaken { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the bus name org.nvmexpress.staf is already owned (is another stafd running?)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacd_lists_io_controllers_on_the_bus() {
    if require(
        "stacd_lists_io_controllers_on_the_bus",
        &["dbus-daemon", "busctl"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    let snapshot = sample::stac_snapshot();
    let core = FakeCore::start(snapshot.clone());
    let conn = bus_connection(&bus.address).await.unwrap();
    let _server = serve_stac_on(conn, core.stac_handle()).await.unwrap();
    let v = busctl(
        &bus,
        &[
            "call",
            "org.nvmexpress.stac",
            "/org/nvmexpress/stac",
            "org.nvmexpress.stac",
            "list_controllers",
            "b",
            "true",
        ],
    )
    .await;
    let got = dicts(&v["data"][0]);
    assert_eq!(got, shapes::list_controllers(&snapshot, true));
    assert_eq!(got[0]["device"], "nvme1");
    assert!(got[0]["dlpe"].starts_with("{'adrfam': 'ipv4'"));
}
