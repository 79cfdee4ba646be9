//! stafd's `run`: everything between argument parsing and exit.
//!
//! 1. Startup checks as nvme-stas does them: root, `/dev/nvme-fabrics` (exit 1 with
//!    nvme-stas's messages).
//! 2. A current-thread tokio runtime: the system bus handshake on its thread while a blocking
//!    thread sets up logging (journal with `--syslog`), `stafd.conf` (diagnostics logged,
//!    never fatal) and the host identity (a missing or invalid host NQN or ID is fatal, one
//!    clear line).
//! 3. Signal handlers first, the uevent thread, one blocking read of the kernel options, the
//!    controller topology, the interfaces and the warm-restart state (the NBFT read beside
//!    it); then the core actor ([`super::staf`]) and the D-Bus adapter
//!    (`org.nvmexpress.staf`); `READY=1` once the name is owned. After the name: the mDNS
//!    driver ([`super::zeroconf`], browsing through avahi-daemon on the same connection
//!    while `zeroconf=enabled`) and, on a blocking thread, nvme-cli's version and the udev
//!    rule's shadow ([`nvmecli::settle_interop`]).
//! 4. SIGHUP: `RELOADING=1`, re-read `stafd.conf` only (zeroconf switched on or off),
//!    reconcile, `READY=1` (§1.8).
//!    SIGTERM/SIGINT: `STOPPING=1`, dispose of the controllers (keep or drop per
//!    `persistent-connections`, deregistering when dropping), save the state, exit 0.
//!    Losing the bus connection (dbus-daemon stopped or restarted): keep every controller
//!    whatever `persistent-connections` says, save the state, exit 1 with one line
//!    (`stafd: lost the D-Bus connection: …`), for `Restart=on-failure` to start a stafd
//!    that adopts them on the new bus.
//!    The uevent socket cannot be opened, or the uevent source ends: every connection kept,
//!    one line `stafd: kernel uevents unavailable: <why>`, exit 1 (systemd restarts it).
//!    `WATCHDOG=1` at half the unit's `WatchdogSec` when set; `STATUS=` follows the
//!    controller count.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use tokio::sync::broadcast;

use crate::cli::DaemonArgs;
use crate::config::layout::Layout;
use crate::config::{Daemon, ServiceConfig};
use crate::dbus::avahi::AvahiBus;
use crate::dbus::{serve_staf_on, BusConnect, StafHandle};
use crate::kernel::SupportedOptions;
use crate::model::trid::TidDefaults;
use crate::runtime::state::load_staf;

use super::actor::CoreHandle;
use super::common::{abandon, ended};
use super::nvmecli;
use super::staf::{self, StafOwn, EVENT_QUEUE};
use super::zeroconf::{ZeroconfConfig, ZeroconfDriver};

pub use super::common::{Env as StafdEnv, RunError, Started};

/// The program name (log identifier, runtime directory).
pub const PROG: &str = "stafd";

/// stafd after argument parsing (`--version` and `--check-config` are handled by the
/// caller). Returns the process exit status.
#[must_use]
pub fn run(args: &DaemonArgs) -> ExitCode {
    super::common::run(Daemon::Stafd, args, |s| serve(StafdEnv::system(PROG), s))
}

/// stafd's life on a tokio runtime, from the kernel's first answers to the end of shutdown:
/// the core, `org.nvmexpress.staf`, mDNS browsing, then signals until SIGTERM/SIGINT.
///
/// # Errors
/// [`RunError`] when stafd cannot start.
pub async fn serve(mut env: StafdEnv, mut started: Started) -> Result<(), RunError> {
    // nvme-stas's check of the kernel's options.
    let enough = |o: &SupportedOptions| o.host_iface() && o.discovery();
    // The bus handshake runs while the kernel is read (issue 20), if `run` did not start it.
    let bus = started.bus.take().unwrap_or_else(BusConnect::start);
    // The firmware's boot tables (their DCs are added in the 2.x layout, item 20), read on
    // a blocking thread of their own meanwhile.
    let k = Arc::clone(&env.kernel);
    let nbft = tokio::task::spawn_blocking(move || {
        k.boot_tables()
            .discovery_controllers(&k.interfaces_by_mac())
    });
    let (mut serving, p) = (env.prepare(Daemon::Stafd, started, load_staf, enough)).await?;
    let host_nqn = p.setup.host.nqn.clone();
    let zc_config = |cfg: &ServiceConfig| ZeroconfConfig {
        enabled: cfg.stafd.zeroconf,
        defaults: TidDefaults {
            host_nqn: host_nqn.clone(),
            ignore_iface: cfg.global.ignore_iface,
        },
    };
    let zc_initial = zc_config(&p.setup.config);
    let tp8013 = p.setup.kernel_options.discovery();
    let stas2 = p.setup.config.layout == Layout::Stas2;
    let nbft_dcs = nbft.await.unwrap_or_default();
    serving.mark("nbft");
    for d in &nbft_dcs {
        tracing::info!(controller = ?d, "NBFT names a discovery controller");
    }
    let (events, _) = broadcast::channel(EVENT_QUEUE);
    let nvmf_connect = Arc::new(OnceLock::new());
    let own = StafOwn {
        nvmf_connect: Arc::clone(&nvmf_connect),
        events: events.clone(),
        nbft_dcs,
    };
    let core = CoreHandle::start::<staf::Core>(env.kernel, p.setup, own, p.uevents, p.on_tron);
    let handle = StafHandle {
        snapshot: core.snapshot(),
        events: events.subscribe(),
        commands: core.commands(),
    };
    serving.mark("core");
    let conn = match bus.join().await {
        Ok(c) => c,
        Err(e) => return Err(abandon(core.stop(false), e).await),
    };
    serving.mark("bus");
    let server = match serve_staf_on(conn, handle).await {
        Ok(s) => s,
        Err(e) => return Err(abandon(core.stop(false), e).await),
    };
    serving.mark_two("objects", server.objects_took(), "name");
    let zeroconf = ZeroconfDriver::spawn(AvahiBus::of(&server), zc_initial, tp8013, core.feed());
    // nvme-cli's udev rule (item 19): asking nvme-cli its version forks a process, so it
    // is settled on a blocking thread once the name is owned, not before READY=1.
    let interop = env.nvmecli_interop.then(|| {
        tokio::task::spawn_blocking(move || nvmecli::settle_interop(stas2, &nvmf_connect))
    });
    let reload = |cfg| {
        let zc = zc_config(&cfg);
        let (core, zeroconf) = (&core, &zeroconf);
        async move {
            zeroconf.reload(zc).await;
            core.reload(cfg).await;
        }
    };
    let lost = serving
        .until_stopped(core.snapshot(), reload, server.lost())
        .await;
    zeroconf.stop().await;
    // Lost the bus: every connection kept for the stafd that restarts.
    let core_ended = core.stop(lost.is_some()).await;
    if let Some(task) = interop {
        if let Ok(Some(shadow)) = task.await {
            shadow.remove();
        }
    }
    server.shutdown().await;
    ended(PROG, lost, core_ended)
}
