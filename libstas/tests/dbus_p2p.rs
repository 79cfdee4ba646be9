//! The D-Bus adapter over a peer-to-peer connection (no bus needed): the golden
//! introspection of both services against `dbus/*.xml`, and the methods and properties
//! through the client proxies.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use libstas::dbus::proxy::{StacDebugProxy, StacProxy, StafDebugProxy, StafProxy};
use libstas::dbus::{sample, serve_stac_on, serve_staf_on, shapes, StacHandle, StafHandle};
use libstas::model::snapshot::{CoreCommand, CoreEvent, Snapshot};
use tokio::sync::{broadcast, mpsc, watch};
use zbus::connection::Builder;
use zbus::fdo::IntrospectableProxy;
use zbus::proxy::CacheProperties;
use zbus::{Connection, Guid};

/// A server and a client connection joined by a socket pair.
async fn pair() -> (Connection, Connection) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let server = Builder::unix_stream(a)
        .server(Guid::generate())
        .p2p()
        .build();
    let client = Builder::unix_stream(b).p2p().build();
    tokio::try_join!(server, client).expect("p2p handshake")
}

/// A stand-in for the core: owns the snapshot and applies `SetTron`.
fn fake_core(snapshot: Snapshot) -> (watch::Sender<Snapshot>, mpsc::Sender<CoreCommand>) {
    let (snap_tx, _) = watch::channel(snapshot);
    let (cmd_tx, mut cmd_rx) = mpsc::channel(4);
    let tx = snap_tx.clone();
    tokio::spawn(async move {
        while let Some(CoreCommand::SetTron(v)) = cmd_rx.recv().await {
            tx.send_modify(|s| s.process.tron = v);
        }
    });
    (snap_tx, cmd_tx)
}

fn xml_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dbus")
        .join(name)
}

/// The `<interface name="org.nvmexpress.…">…</interface>` sections of an introspection
/// document, one per interface, with each line trimmed and blank lines dropped.
fn nvme_interfaces(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in xml.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("<interface name=\"org.nvmexpress.") {
            current = Some(Vec::new());
        }
        if let Some(lines) = current.as_mut() {
            lines.push(line);
            if line == "</interface>" {
                out.push(lines.join("\n"));
                current = None;
            }
        }
    }
    out.sort();
    out
}

async fn introspect(client: &Connection, path: &str) -> String {
    IntrospectableProxy::builder(client)
        .path(path)
        .destination("org.nvmexpress.x")
        .build()
        .await
        .expect("proxy")
        .introspect()
        .await
        .expect("Introspect")
}

fn check_golden(file: &str, served: &str) {
    let golden = std::fs::read_to_string(xml_path(file)).expect("golden XML");
    let want = nvme_interfaces(&golden);
    let got = nvme_interfaces(served);
    assert_eq!(
        got, want,
        "the served interfaces differ from {file}; served document:\n{served}"
    );
    assert_eq!(want.len(), 2, "{file} must describe two interfaces");
}

#[tokio::test]
async fn introspection_matches_the_checked_in_xml() {
    let (server, client) = pair().await;
    let (snap, cmds) = fake_core(sample::staf_snapshot());
    let (_ev_tx, ev_rx) = broadcast::channel(4);
    let _staf = serve_staf_on(
        server,
        StafHandle {
            snapshot: snap.subscribe(),
            events: ev_rx,
            commands: cmds,
        },
    )
    .await
    .expect("serve staf");
    check_golden(
        "org.nvmexpress.staf.xml",
        &introspect(&client, "/org/nvmexpress/staf").await,
    );

    let (server, client) = pair().await;
    let (snap, cmds) = fake_core(sample::stac_snapshot());
    let _stac = serve_stac_on(
        server,
        StacHandle {
            snapshot: snap.subscribe(),
            commands: cmds,
        },
    )
    .await
    .expect("serve stac");
    check_golden(
        "org.nvmexpress.stac.xml",
        &introspect(&client, "/org/nvmexpress/stac").await,
    );
}

#[tokio::test]
async fn staf_methods_and_properties_over_p2p() {
    let (server, client) = pair().await;
    let snapshot = sample::staf_snapshot();
    let (snap, cmds) = fake_core(snapshot.clone());
    let (_ev_tx, ev_rx) = broadcast::channel(4);
    let _staf = serve_staf_on(
        server,
        StafHandle {
            snapshot: snap.subscribe(),
            events: ev_rx,
            commands: cmds,
        },
    )
    .await
    .expect("serve staf");

    let staf = StafProxy::new(&client).await.expect("proxy");
    assert_eq!(
        staf.list_controllers(false).await.unwrap(),
        shapes::list_controllers(&snapshot, false)
    );
    assert_eq!(
        staf.list_controllers(true).await.unwrap(),
        shapes::list_controllers(&snapshot, true)
    );
    // trsvcid and host-nqn left empty: rebuilt with the daemon's defaults.
    let dc = sample::configured_dc_tid();
    let pages = staf
        .get_log_pages("tcp", &dc.traddr, "", &dc.subsysnqn, "", "eth0", "")
        .await
        .unwrap();
    assert_eq!(pages, sample::log_pages());
    let none = staf
        .get_log_pages("tcp", "10.9.9.9", "", "", "", "", "")
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        staf.get_all_log_pages(true).await.unwrap(),
        shapes::all_log_pages(&snapshot, true).unwrap()
    );

    let debug = StafDebugProxy::builder(&client)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .expect("debug proxy");
    let info = debug
        .controller_info("tcp", &dc.traddr, "8009", &dc.subsysnqn, "", "eth0", "")
        .await
        .unwrap();
    let info: shapes::StrDict = serde_json::from_str(&info).unwrap();
    assert_eq!(info, shapes::info(&snapshot.ctrls[0]));
    assert_eq!(
        debug
            .controller_info("tcp", &dc.traddr, "8009", &dc.subsysnqn, "", "eth9", "")
            .await
            .unwrap(),
        "{}"
    );
    let pinfo = debug.process_info().await.unwrap();
    assert!(!pinfo.contains(sample::SECRET));
    let v: serde_json::Value = serde_json::from_str(&pinfo).unwrap();
    assert_eq!(v["hostkey"], "(set)");

    assert!(!debug.tron().await.unwrap());
    assert_eq!(debug.log_level().await.unwrap(), "INFO");
    debug.set_tron(true).await.unwrap();
    assert!(
        debug.tron().await.unwrap(),
        "the setter returns once applied"
    );
    assert_eq!(debug.log_level().await.unwrap(), "DEBUG");
    assert!(snap.borrow().process.tron);
    debug.set_tron(false).await.unwrap();
    assert!(!debug.tron().await.unwrap());
}

#[tokio::test]
async fn tron_write_fails_as_a_dbus_error_when_the_core_is_gone() {
    let (server, client) = pair().await;
    let (snap_tx, snap_rx) = watch::channel(sample::staf_snapshot());
    let (cmd_tx, cmd_rx) = mpsc::channel(1);
    drop(cmd_rx);
    let (_ev_tx, ev_rx) = broadcast::channel::<CoreEvent>(4);
    let _staf = serve_staf_on(
        server,
        StafHandle {
            snapshot: snap_rx,
            events: ev_rx,
            commands: cmd_tx,
        },
    )
    .await
    .expect("serve staf");
    let debug = StafDebugProxy::builder(&client)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap();
    let err = debug.set_tron(true).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("org.nvmexpress.stas.Error.Unavailable"),
        "{err}"
    );
    assert!(!snap_tx.borrow().process.tron);
}

#[tokio::test]
async fn stac_lists_io_controllers_without_secrets() {
    let (server, client) = pair().await;
    let snapshot = sample::stac_snapshot();
    let (snap, cmds) = fake_core(snapshot.clone());
    let _stac = serve_stac_on(
        server,
        StacHandle {
            snapshot: snap.subscribe(),
            commands: cmds,
        },
    )
    .await
    .expect("serve stac");
    let stac = StacProxy::new(&client).await.unwrap();
    let detailed = stac.list_controllers(true).await.unwrap();
    assert_eq!(detailed, shapes::list_controllers(&snapshot, true));
    assert_eq!(detailed[0]["dlpe.eflags.ncc"], "False");
    assert!(!format!("{detailed:?}").contains(sample::SECRET));
    let debug = StacDebugProxy::new(&client).await.unwrap();
    assert!(debug
        .process_info()
        .await
        .unwrap()
        .contains("\"hostkey\":\"(set)\""));
}
