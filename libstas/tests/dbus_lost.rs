//! Losing the bus under a running daemon: [`DbusServer::lost`] completes when the private
//! dbus-daemon is killed, and stafd's `serve` then ends with `RunError::BusLost` keeping its
//! discovery controller (even with `persistent-connections=false`: the exit is for a restart)
//! and its state file. One test per file process, since it sets `DBUS_SYSTEM_BUS_ADDRESS`.

mod dbus_fixture;

use std::sync::Arc;
use std::time::Duration;

use dbus_fixture::{has_owner, require, Bus, FakeCore};
use libstas::config::layout::DaemonFiles;
use libstas::config::Daemon;
use libstas::daemon::common::load_config;
use libstas::daemon::staf::Host;
use libstas::daemon::stafd::{serve, RunError, StafdEnv, Started};
use libstas::daemon::uevents::{fake_feed, UEVENT_QUEUE};
use libstas::dbus::{bus_connection, sample, serve_stac_on};
use libstas::kernel::fake::FakeTarget;
use libstas::kernel::FakeKernel;
use libstas::runtime::logging::LogHandle;
use libstas::runtime::state::load_staf;

/// Generous bound for anything to happen on a busy machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `pred` every 50 ms until it holds, at most [`PATIENCE`].
async fn wait_for(what: &str, mut pred: impl FnMut() -> bool) {
    let t0 = tokio::time::Instant::now();
    while !pred() {
        assert!(t0.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bus_ends_serving_and_keeps_every_connection() {
    if require(
        "a_killed_bus_ends_serving_and_keeps_every_connection",
        &["dbus-daemon", "busctl"],
    )
    .is_none()
    {
        return;
    }

    // The server alone: `lost` waits while the bus lives and completes once it is killed.
    let mut bus = Bus::permissive();
    let core = FakeCore::start(sample::stac_snapshot());
    let conn = bus_connection(&bus.address).await.expect("connect");
    let server = serve_stac_on(conn, core.stac_handle())
        .await
        .expect("serve_stac_on");
    assert!(has_owner(&bus, "org.nvmexpress.stac").await);
    tokio::select! {
        biased;
        _ = server.lost() => panic!("lost reported while the bus is up"),
        () = std::future::ready(()) => {}
    }
    bus.kill();
    tokio::time::timeout(PATIENCE, server.lost())
        .await
        .expect("the server did not report the lost bus");
    server.shutdown().await;

    // stafd's serve over the in-memory kernel: one DC, persistent-connections=false.
    let mut bus = Bus::permissive();
    // The only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("stafd.conf");
    std::fs::write(
        &conf,
        "[Discovery controller connection management]\npersistent-connections=false\n\
         [Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n",
    )
    .expect("write stafd.conf");
    let cfg = load_config(Daemon::Stafd, &conf);
    let k = Arc::new(FakeKernel::new());
    k.add_target(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
    let (utx, urx) = tokio::sync::mpsc::channel(UEVENT_QUEUE);
    fake_feed(&k, utx);
    let state_path = dir.path().join("last-known-config.toml");
    let env = StafdEnv {
        kernel: Arc::clone(&k) as Arc<dyn libstas::kernel::Kernel>,
        uevents: Some(urx),
        state_path: state_path.clone(),
        nvmecli_interop: false,
    };
    let host = Host {
        nqn: HOSTNQN.into(),
        id: "e4498cf1-1a81-4cfd-9f10-9e947466ed0f".into(),
        symname: None,
        key_set: false,
    };
    let mut stafd = tokio::spawn(serve(
        env,
        Started {
            log: LogHandle::detached(),
            files: DaemonFiles::stas2(Daemon::Stafd, &conf),
            config: cfg,
            tron: false,
            host,
            host_key: None,
            startup: libstas::runtime::startup::Startup::begin(),
            bus: None,
        },
    ));
    wait_for("the DC connected", || !k.connect_log().is_empty()).await;
    let t0 = tokio::time::Instant::now();
    while !has_owner(&bus, "org.nvmexpress.staf").await {
        assert!(t0.elapsed() < PATIENCE, "stafd never owned its name");
        assert!(!stafd.is_finished(), "stafd ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bus.kill();
    let ended = tokio::time::timeout(PATIENCE, &mut stafd)
        .await
        .expect("stafd's serve did not end after the bus was killed")
        .expect("serve panicked");
    let err = ended.expect_err("serve ended Ok after losing the bus");
    assert!(matches!(err, RunError::BusLost(_)), "{err}");
    assert!(
        err.to_string().starts_with("lost the D-Bus connection: "),
        "{err}"
    );
    assert!(k.deleted().is_empty(), "deleted: {:?}", k.deleted());
    assert_eq!(load_staf(&state_path).dcs.len(), 1, "state file");
}
