//! stafd's `serve` (core, D-Bus service, signals) over the in-memory kernel on a private
//! system bus: when the uevent source ends, `serve` returns the one-line error the daemon
//! exits with, and every connection is kept. One test per file process (it sets the
//! environment variable of the system bus).

mod dbus_fixture;

use std::sync::Arc;
use std::time::Duration;

use dbus_fixture::{require, Bus};
use libstas::config::layout::DaemonFiles;
use libstas::config::Daemon;
use libstas::daemon::staf::Host;
use libstas::daemon::stafd::{serve, RunError, StafdEnv, Started};
use libstas::daemon::uevents::{fake_feed, UEVENT_QUEUE};
use libstas::kernel::fake::FakeTarget;
use libstas::kernel::FakeKernel;
use libstas::runtime::logging;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stafd_serve_fails_when_the_uevent_source_ends() {
    if require(
        "stafd_serve_fails_when_the_uevent_source_ends",
        &["dbus-daemon"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    // The only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let dir = tempfile::tempdir().unwrap();
    let conf_file = dir.path().join("stafd.conf");
    let text = "[Global]\nzeroconf=disabled\n[Discovery controller connection management]\npersistent-connections=false\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n";
    std::fs::write(&conf_file, text).unwrap();
    let cfg = libstas::daemon::common::load_config(Daemon::Stafd, &conf_file);
    assert!(!cfg.stafd.persistent_connections);

    let k = Arc::new(FakeKernel::new());
    k.add_target(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
    let (tx, rx) = tokio::sync::mpsc::channel(UEVENT_QUEUE);
    fake_feed(&k, tx);
    let env = StafdEnv {
        kernel: Arc::clone(&k) as Arc<dyn libstas::kernel::Kernel>,
        uevents: Some(rx),
        state_path: dir.path().join("state.toml"),
        nvmecli_interop: false,
    };
    let host = Host {
        nqn: "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f".into(),
        id: "e4498cf1-1a81-4cfd-9f10-9e947466ed0f".into(),
        symname: None,
        key_set: false,
    };
    let log = logging::init("stafd", false, false);
    let served = tokio::spawn(serve(
        env,
        Started {
            log,
            files: DaemonFiles::stas2(Daemon::Stafd, &conf_file),
            config: cfg,
            tron: false,
            host,
            host_key: None,
            startup: libstas::runtime::startup::Startup::begin(),
            bus: None,
        },
    ));
    // Once stafd connected its DC, the uevent source ends (the sender is dropped).
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        while k.connect_log().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(connected.is_ok(), "stafd did not connect its DC");
    k.set_event_sink(Arc::new(|_| {}));
    let r = tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("serve did not return after the uevent source ended")
        .unwrap();
    match r {
        Err(e @ RunError::Uevents(_)) => assert_eq!(
            e.to_string(),
            "kernel uevents unavailable: the uevent source ended"
        ),
        other => panic!("serve returned {other:?}"),
    }
    assert!(k.deleted().is_empty(), "a connection was dropped");
}
