//! stacd's `run`: everything between argument parsing and exit.
//!
//! 1. Startup checks as nvme-stas does them: root, `/dev/nvme-fabrics` (exit 1 with
//!    nvme-stas's messages).
//! 2. Logging (journal with `--syslog`), `stacd.conf` (diagnostics logged, never fatal),
//!    the host identity with its DH-HMAC-CHAP key (a missing or invalid host NQN or ID is
//!    fatal, one clear line).
//! 3. A current-thread tokio runtime: signal handlers first, the uevent thread, one
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

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::DaemonArgs;
use crate::config::{Daemon, ServiceConfig};
use crate::dbus::stafd_follow::follow_stafd;
use crate::dbus::{serve_stac, StacHandle};
use crate::identity::Secret;
use crate::kernel::{Kernel, KernelPaths, SupportedOptions, SysKernel};
use crate::model::snapshot::Snapshot;
use crate::runtime::signals::Signals;
use crate::runtime::state::{load_stac, state_path};
use crate::runtime::{logging, notify};

use super::common::{
    block_on, ended, first_answers, open_uevents, serve_or_lose, serve_until_stopped, start,
    Started,
};
use super::stac::{StacCore, StacSetup};
use super::staf::Host;
use super::uevents::Follow;

pub use super::common::RunError;

/// The program name (log identifier, runtime directory).
pub const PROG: &str = "stacd";

/// stacd after argument parsing (`--version` and `--check-config` are handled by the
/// caller). Returns the process exit status.
#[must_use]
pub fn run(args: &DaemonArgs) -> ExitCode {
    let Started {
        log,
        conf_file,
        config,
        tron,
        host,
        host_key,
    } = match start(PROG, Daemon::Stacd, args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    block_on(PROG, serve(config, host, host_key, tron, log, conf_file))
}

fn status_line(s: &Snapshot) -> String {
    let connected = s.ctrls.iter().filter(|c| c.connected).count();
    format!("{} I/O controller(s), {connected} connected", s.ctrls.len())
}

async fn serve(
    cfg: ServiceConfig,
    host: Host,
    host_key: Option<Secret>,
    tron: bool,
    log: logging::LogHandle,
    conf_file: PathBuf,
) -> Result<(), RunError> {
    let mut signals = Signals::new()?;
    let kernel: Arc<dyn Kernel> = Arc::new(SysKernel::new(KernelPaths::default()));
    let urx = open_uevents(&kernel, Follow::Io)?;
    let path = state_path(PROG);
    let answers = first_answers(&kernel, &path, load_stac, SupportedOptions::host_iface).await?;
    let setup = StacSetup {
        core: answers.into_setup(cfg, host, tron, path),
        host_key,
    };
    let hook = log.clone();
    let core = StacCore::spawn(kernel, setup, urx, Box::new(move |on| hook.set_tron(on)));
    let server = match serve_stac(StacHandle {
        snapshot: core.snapshot(),
        commands: core.commands(),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            core.shutdown().await?;
            return Err(e.into());
        }
    };
    let follower = match follow_stafd(server.connection(), core.stafd_feed()).await {
        Ok(f) => f,
        Err(e) => {
            let core_ended = core.shutdown().await;
            server.shutdown().await;
            core_ended?;
            return Err(e.into());
        }
    };
    notify::ready("Ready");
    tracing::info!("{PROG} ready");

    let serving = serve_until_stopped(
        Daemon::Stacd,
        &conf_file,
        &mut signals,
        core.snapshot(),
        status_line,
        |cfg| core.reload(cfg),
    );
    let lost = serve_or_lose(serving, server.lost()).await;
    follower.stop().await;
    let core_ended = core.shutdown().await;
    server.shutdown().await;
    ended(PROG, lost, core_ended)
}
