//! stacd's stafd follower against a stand-in stafd on a private system-like `dbus-daemon`:
//! no stafd gives `Unknown`; stafd appearing, its `log_pages_changed` and `dc_removed`
//! signals each give a fresh `Known` view; stafd leaving the bus gives `Unknown` again.

#[path = "../../libstas/tests/dbus_fixture/mod.rs"]
mod dbus_fixture;

use std::time::Duration;

use dbus_fixture::{require, Bus, FakeCore};
use libstas::ctrl::stac_reconcile::StafdView;
use libstas::dbus::stafd_follow::follow_stafd;
use libstas::dbus::{bus_connection, sample, serve_staf_on, DbusServer};
use libstas::model::snapshot::CoreEvent;
use tokio::sync::mpsc;

async fn next(rx: &mut mpsc::Receiver<StafdView>) -> StafdView {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no view within 20 s")
        .expect("follower ended")
}

async fn serve(bus: &Bus, core: &FakeCore) -> DbusServer {
    let conn = bus_connection(&bus.address).await.unwrap();
    serve_staf_on(conn, core.staf_handle()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_stafd_through_restarts() {
    if require("follows_stafd_through_restarts", &["dbus-daemon"]).is_none() {
        return;
    }
    let bus = Bus::permissive();
    let conn = bus_connection(&bus.address).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let follower = follow_stafd(&conn, tx).await.unwrap();
    assert_eq!(next(&mut rx).await, StafdView::Unknown, "stafd not running");

    let core = FakeCore::start(sample::staf_snapshot());
    let server = serve(&bus, &core).await;
    let StafdView::Known {
        dcs: list,
        dc_removed: false,
    } = next(&mut rx).await
    else {
        panic!("stafd appeared: expected its log pages")
    };
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].dc, sample::configured_dc_tid());
    assert_eq!(list[0].entries.as_ref().map(Vec::len), Some(2));
    assert_eq!(list[1].entries, None, "a DC never read is not an empty log");

    // log_pages_changed: read again (the new content is seen).
    core.snapshot.send_modify(|s| {
        if let Some(dc) = s.ctrls[0].dc.as_mut() {
            dc.log_pages = std::sync::Arc::from(Vec::new());
        }
    });
    core.events
        .send(CoreEvent::LogPagesChanged {
            tid: sample::configured_dc_tid(),
            device: "nvme0".into(),
        })
        .unwrap();
    let StafdView::Known {
        dcs: list,
        dc_removed: false,
    } = next(&mut rx).await
    else {
        panic!("expected a new read")
    };
    assert_eq!(list[0].entries, Some(vec![]), "read and now empty");

    // dc_removed: read again.
    core.snapshot.send_modify(|s| {
        s.ctrls.truncate(1);
    });
    core.events.send(CoreEvent::DcRemoved).unwrap();
    let StafdView::Known {
        dcs: list,
        dc_removed: true,
    } = next(&mut rx).await
    else {
        panic!("expected a new read after dc_removed")
    };
    assert_eq!(list.len(), 1);

    // stafd stops: unknown, not empty.
    server.shutdown().await;
    assert_eq!(next(&mut rx).await, StafdView::Unknown);

    // stafd is back.
    let core = FakeCore::start(sample::staf_snapshot());
    let _server = serve(&bus, &core).await;
    assert!(matches!(
        next(&mut rx).await,
        StafdView::Known { dcs, dc_removed: false } if dcs.len() == 2
    ));
    follower.stop().await;
}
