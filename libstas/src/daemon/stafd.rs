//! stafd's `run`: everything between argument parsing and exit.
//!
//! 1. Startup checks as nvme-stas does them: root, `/dev/nvme-fabrics` (exit 1 with
//!    nvme-stas's messages).
//! 2. Logging (journal with `--syslog`), `stafd.conf` (diagnostics logged, never fatal),
//!    the host identity (a missing or invalid host NQN or ID is fatal, one clear line).
//! 3. A current-thread tokio runtime: signal handlers first, the uevent thread, one
//!    blocking read of the kernel options, the controller topology, the interfaces and the
//!    warm-restart state; then the core actor ([`super::staf`]) and the D-Bus adapter
//!    (`org.nvmexpress.staf`), then the mDNS driver ([`super::zeroconf`], browsing through
//!    avahi-daemon on the same connection while `zeroconf=enabled`); `READY=1` once the
//!    name is owned.
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

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::cli::DaemonArgs;
use crate::config::layout::Layout;
use crate::config::{Daemon, ServiceConfig};
use crate::dbus::avahi::AvahiBus;
use crate::dbus::{serve_staf, StafHandle};
use crate::kernel::SupportedOptions;
use crate::model::trid::TidDefaults;
use crate::runtime::state::load_staf;

use super::actor::CoreHandle;
use super::common::{abandon, ended};
use super::nvmecli::{self, find_systemctl, RuleShadow};
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
pub async fn serve(mut env: StafdEnv, started: Started) -> Result<(), RunError> {
    // nvme-stas's check of the kernel's options.
    let enough = |o: &SupportedOptions| o.host_iface() && o.discovery();
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
    // nvme-cli's udev rule: shadowed only in the 2.x layout and only while nvme-cli is
    // older than 3 (item 19).
    let stas2 = p.setup.config.layout == Layout::Stas2;
    let interop = env.nvmecli_interop && {
        let major = tokio::task::spawn_blocking(nvmecli::nvme_cli_major).await;
        let shadow = stas2 && nvmecli::rule_needs_shadow(major.ok().flatten());
        if !shadow {
            nvmecli::remove_stale_shadow(Path::new(nvmecli::RUN_RULES_DIR));
        }
        shadow
    };
    // The firmware's boot tables: their DCs are added in the 2.x layout (item 20).
    let k = Arc::clone(&env.kernel);
    let nbft_dcs = tokio::task::spawn_blocking(move || {
        k.boot_tables()
            .discovery_controllers(&k.interfaces_by_mac())
    })
    .await
    .unwrap_or_default();
    for d in &nbft_dcs {
        tracing::info!(controller = ?d, "NBFT names a discovery controller");
    }
    let (events, _) = broadcast::channel(EVENT_QUEUE);
    let own = StafOwn {
        nvmf_connect: find_systemctl().filter(|_| interop),
        events: events.clone(),
        nbft_dcs,
    };
    let core = CoreHandle::start::<staf::Core>(env.kernel, p.setup, own, p.uevents, p.on_tron);
    let handle = StafHandle {
        snapshot: core.snapshot(),
        events: events.subscribe(),
        commands: core.commands(),
    };
    let server = match serve_staf(handle).await {
        Ok(s) => s,
        Err(e) => return Err(abandon(core.stop(false), e).await),
    };
    let zeroconf = ZeroconfDriver::spawn(AvahiBus::of(&server), zc_initial, tp8013, core.feed());
    let shadow = find_systemctl()
        .filter(|_| interop)
        .and_then(|sc| RuleShadow::install(Path::new(nvmecli::RUN_RULES_DIR), &sc));
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
    if let Some(shadow) = shadow {
        shadow.remove();
    }
    server.shutdown().await;
    ended(PROG, lost, core_ended)
}
