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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use thiserror::Error;

use crate::cli::DaemonArgs;
use crate::config::{self, Daemon, ServiceConfig};
use crate::dbus::stafd_follow::{follow_stafd, FollowError};
use crate::dbus::{serve_stac, ConnectionLost, DbusError, StacHandle};
use crate::identity::{IdentityPaths, Secret};
use crate::kernel::{Kernel, KernelError, KernelPaths, SysKernel, Topology};
use crate::model::snapshot::Snapshot;
use crate::runtime::signals::Signals;
use crate::runtime::state::{load_stac, state_path};
use crate::runtime::{logging, notify};

use super::common::open_uevents;
use super::common::{
    block_on, conf_file, load_config, resolve_host, serve_until_stopped, startup_checks,
    NVME_FABRICS,
};
use super::stac::{StacCore, StacSetup};
use super::staf::Host;
use super::uevents::{Follow, UeventsUnavailable};

/// The program name (log identifier, runtime directory).
pub const PROG: &str = "stacd";

/// Why stacd stopped with an error after starting.
#[derive(Debug, Error)]
pub enum RunError {
    /// The tokio runtime or the signal handlers could not be set up.
    #[error("cannot start: {0}")]
    Setup(#[from] std::io::Error),
    /// The kernel's option list cannot be read (not root?).
    #[error("cannot read the supported NVMe-oF options: {0}")]
    Kernel(#[from] KernelError),
    /// The D-Bus name or objects could not be set up.
    #[error("cannot serve on D-Bus: {0}")]
    Dbus(#[from] DbusError),
    /// stafd's name and signals could not be followed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// The bus connection ended under the running daemon (every connection kept).
    #[error("lost the D-Bus connection: {0}")]
    BusLost(#[from] ConnectionLost),
    /// The uevent socket cannot be opened, or the uevent source ended (every connection
    /// is kept; systemd restarts stacd, which adopts them).
    #[error(transparent)]
    Uevents(#[from] UeventsUnavailable),
}

/// stacd after argument parsing (`--version` and `--check-config` are handled by the
/// caller). Returns the process exit status.
#[must_use]
pub fn run(args: &DaemonArgs) -> ExitCode {
    if let Err(msg) = startup_checks(PROG, Path::new(NVME_FABRICS)) {
        eprintln!("{msg}");
        return ExitCode::FAILURE;
    }
    let log = logging::init(PROG, args.syslog, args.tron);
    let conf_file = conf_file(Daemon::Stacd, args.conf_file.as_deref());
    let cfg = load_config(Daemon::Stacd, &conf_file);
    let tron = args.tron || cfg.global.tron;
    log.set_tron(tron);
    let (host, host_key) =
        match resolve_host(Path::new(config::SYS_CONF), &IdentityPaths::default()) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("{PROG}: {e}");
                return ExitCode::FAILURE;
            }
        };
    block_on(PROG, serve(cfg, host, host_key, tron, log, conf_file))
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
    let (options, topology, ifaddrs, initial_state) = {
        let k = Arc::clone(&kernel);
        let p = path.clone();
        tokio::task::spawn_blocking(move || {
            (
                k.supported_options(),
                Topology::scan(k.as_ref()),
                k.interface_addresses(),
                load_stac(&p),
            )
        })
        .await
        .map_err(|e| RunError::Setup(std::io::Error::other(e)))?
    };
    let options = options?;
    tracing::debug!("{options}");
    if !options.host_iface() {
        tracing::warn!("Kernel does not appear to support all the options needed to run this program. Consider updating to a later kernel version.");
    }
    let topology = topology.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the NVMe controllers");
        Topology::default()
    });
    let ifaddrs = ifaddrs.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list interface addresses");
        Vec::new()
    });
    let setup = StacSetup {
        config: cfg,
        host,
        host_key,
        tron,
        kernel_options: options,
        topology,
        ifaddrs,
        state_path: path,
        initial_state,
        save_state: true,
        watchdog: notify::Watchdog::systemd(),
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
            let ended = core.shutdown().await;
            server.shutdown().await;
            ended?;
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
    let lost = tokio::select! {
        () = serving => None,
        lost = server.lost() => Some(lost),
    };
    follower.stop().await;
    let ended = core.shutdown().await;
    server.shutdown().await;
    if let Some(lost) = lost {
        return Err(lost.into());
    }
    ended?;
    tracing::info!("{PROG} stopped");
    Ok(())
}
