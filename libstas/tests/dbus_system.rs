//! `serve_staf` / `serve_stac` find the system bus through `DBUS_SYSTEM_BUS_ADDRESS` (as
//! under systemd), own the well-known names, and give them back on shutdown. One test per
//! file process, since it sets the environment variable.

mod dbus_fixture;

use dbus_fixture::{has_owner, require, Bus, FakeCore};
use libstas::dbus::{sample, serve_stac, serve_staf};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_own_their_names_on_the_system_bus_until_shutdown() {
    if require(
        "daemons_own_their_names_on_the_system_bus_until_shutdown",
        &["dbus-daemon", "busctl"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    // The only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);

    let staf_core = FakeCore::start(sample::staf_snapshot());
    let stac_core = FakeCore::start(sample::stac_snapshot());
    let staf = serve_staf(staf_core.staf_handle())
        .await
        .expect("serve_staf");
    let stac = serve_stac(stac_core.stac_handle())
        .await
        .expect("serve_stac");
    // serve_* return once the names are owned: READY=1 may follow at once.
    assert!(has_owner(&bus, "org.nvmexpress.staf").await);
    assert!(has_owner(&bus, "org.nvmexpress.stac").await);

    staf.shutdown().await;
    assert!(!has_owner(&bus, "org.nvmexpress.staf").await);
    assert!(has_owner(&bus, "org.nvmexpress.stac").await);
    drop(stac);
}
