//! stacd's `run`: everything between argument parsing and exit.
//!
//! 1. Startup checks as nvme-stas does them: root, `/dev/nvme-fabrics` (exit 1 with
//!    nvme-stas's messages).
//! 2. A current-thread tokio runtime: the system bus handshake on its thread while a blocking
//!    thread sets up logging (journal with `--syslog`), `stacd.conf` (diagnostics logged,
//!    never fatal) and the host identity with its DH-HMAC-CHAP key (a missing or invalid
//!    host NQN or ID is fatal, one clear line).
//! 3. Signal handlers first, the uevent thread, one
//!    blocking read of the kernel options, the controller topology, the interfaces and the
//!    warm-restart state; then the core actor ([`super::stac`]), the D-Bus adapter
//!    (`org.nvmexpress.stac`) and the stafd follower ([`crate::dbus::stafd_follow`]) on the
//!    same connection; `READY=1` once the name is owned.
//! 4. SIGHUP: `RELOADING=1`, re-read `stacd.conf` only, re-evaluate the audit, reconcile,
//!    `READY=1` (§1.8). SIGTERM/SIGINT: `STOPPING=1`, save the state, exit 0 keeping every
//!    I/O connection (§5.13). Losing the bus connection: the same, but exit 1 with one line
//!    (`stacd: lost the D-Bus connection: …`) for `Restart=on-failure`. The uevent socket
//!    cannot be opened, or the uevent source ends: one line
//!    `stacd: kernel uevents unavailable: <why>`, exit 1, every connection kept (systemd
//!    restarts it). `WATCHDOG=1` at half the unit's `WatchdogSec` when set;
//!    `STATUS=` follows the controller count.

use std::process::ExitCode;

use crate::cli::DaemonArgs;
use crate::config::Daemon;
use crate::dbus::stafd_follow::follow_stafd;
use crate::dbus::{serve_stac_on, BusConnect, StacHandle};
use crate::kernel::SupportedOptions;
use crate::runtime::state::load_stac;

use super::actor::CoreHandle;
use super::common::{abandon, ended, Env, Started};
use super::stac;

pub use super::common::RunError;

/// The program name (log identifier, runtime directory).
pub const PROG: &str = "stacd";

/// stacd after argument parsing (`--version` and `--check-config` are handled by the
/// caller). Returns the process exit status.
#[must_use]
pub fn run(args: &DaemonArgs) -> ExitCode {
    super::common::run(Daemon::Stacd, args, |s| serve(Env::system(PROG), s))
}

async fn serve(mut env: Env, mut started: Started) -> Result<(), RunError> {
    let enough = SupportedOptions::host_iface; // nvme-stas's check of the kernel's options
                                               // The bus handshake runs while the kernel is read (issue 20), if `run` did not start it.
    let bus = started.bus.take().unwrap_or_else(BusConnect::start);
    let (mut serving, p) = (env.prepare(Daemon::Stacd, started, load_stac, enough)).await?;
    let core =
        CoreHandle::start::<stac::Core>(env.kernel, p.setup, p.host_key, p.uevents, p.on_tron);
    let handle = StacHandle {
        snapshot: core.snapshot(),
        commands: core.commands(),
    };
    serving.mark("core");
    let conn = match bus.join().await {
        Ok(c) => c,
        Err(e) => return Err(abandon(core.stop(false), e).await),
    };
    serving.mark("bus");
    let server = match serve_stac_on(conn, handle).await {
        Ok(s) => s,
        Err(e) => return Err(abandon(core.stop(false), e).await),
    };
    serving.mark_two("objects", server.objects_took(), "name");
    let follower = match follow_stafd(server.connection(), core.feed()).await {
        Ok(f) => f,
        Err(e) => {
            let e = abandon(core.stop(false), e).await;
            server.shutdown().await;
            return Err(e);
        }
    };
    let reload = |cfg| core.reload(cfg);
    let lost = serving
        .until_stopped(core.snapshot(), reload, server.lost())
        .await;
    follower.stop().await;
    let core_ended = core.stop(false).await;
    server.shutdown().await;
    ended(PROG, lost, core_ended)
}
