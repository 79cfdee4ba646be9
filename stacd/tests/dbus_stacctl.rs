//! stacctl against a served stacd object (the sample snapshot) on a private system-like
//! `dbus-daemon`. The command code is shared with stafctl (libstas::dbus::ctl), which is
//! tested in depth in stafd/tests/dbus_stafctl.rs; this checks stacctl's own wiring.

#[path = "../../libstas/tests/dbus_fixture/mod.rs"]
mod dbus_fixture;

use std::process::Command;

use dbus_fixture::{require, run, Bus, FakeCore};
use libstas::dbus::ctl::render::dicts_value;
use libstas::dbus::{bus_connection, sample, serve_stac_on, shapes};
use serde_json::Value;

async fn stacctl(bus: &Bus, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stacctl"));
    c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address).args(args);
    let o = run(c).await;
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stdout.contains(sample::SECRET), "a secret was printed");
    (o.status.code().unwrap_or(-1), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacctl_commands() {
    if require("stacctl_commands", &["dbus-daemon"]).is_none() {
        return;
    }
    let bus = Bus::permissive();
    let (code, _, err) = stacctl(&bus, &["ls"]).await;
    assert_eq!(code, 69);
    assert_eq!(
        err,
        "stacctl: stacd is not running (org.nvmexpress.stac has no owner on the system bus)\n"
    );

    let snapshot = sample::stac_snapshot();
    let core = FakeCore::start(snapshot.clone());
    let conn = bus_connection(&bus.address).await.unwrap();
    let _server = serve_stac_on(conn, core.stac_handle()).await.unwrap();

    let (code, out, _) = stacctl(&bus, &["ls"]).await;
    assert_eq!(code, 0);
    assert!(out.lines().nth(1).unwrap().starts_with("nvme1 "), "{out}");
    let (_, out, _) = stacctl(&bus, &["ls", "-d", "--json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, dicts_value(&shapes::list_controllers(&snapshot, true)));
    assert_eq!(v[0]["dlpe.eflags.ncc"], "False");

    let (code, out, _) = stacctl(&bus, &["status", "--json"]).await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hostkey"], "(set)");
    assert_eq!(v["controllers"][0]["device"], "nvme1");
    assert!(
        v["controllers"][0].get("log_pages").is_none(),
        "stacd has no log pages"
    );
    let (_, out, _) = stacctl(&bus, &["status"]).await;
    assert!(out.starts_with("stacd\n"), "{out}");

    assert_eq!(stacctl(&bus, &["tron"]).await.1, "tron: on\n");
    assert!(core.snapshot.borrow().process.tron);
    assert_eq!(stacctl(&bus, &["troff"]).await.1, "tron: off\n");
    assert!(stacctl(&bus, &["version"])
        .await
        .1
        .starts_with("stacctl (stas) "));
    let (code, _, err) = stacctl(&bus, &["dlp", "-a", "x"]).await;
    assert_eq!(code, 2, "stacctl has no dlp: {err}");
}
