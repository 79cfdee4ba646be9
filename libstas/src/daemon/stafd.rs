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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::DaemonArgs;
use crate::config::{Daemon, ServiceConfig};
use crate::dbus::avahi::AvahiBus;
use crate::dbus::{serve_staf, StafHandle};
use crate::kernel::{Kernel, KernelPaths, SysKernel};
use crate::model::trid::TidDefaults;
use crate::runtime::signals::Signals;
use crate::runtime::state::{load_staf, state_path};
use crate::runtime::{logging, notify};

use super::common::{
    block_on, ended, first_answers, open_uevents, serve_or_lose, serve_until_stopped, start,
    Started,
};
use super::nvmecli::{self, find_systemctl, RuleShadow};
use super::staf::{Host, StafCore, StafSetup};
use super::uevents::{Follow, UeventMsg};
use super::zeroconf::{ZeroconfConfig, ZeroconfDriver};

pub use super::common::RunError;

/// The program name (log identifier, runtime directory).
pub const PROG: &str = "stafd";

/// stafd after argument parsing (`--version` and `--check-config` are handled by the
/// caller). Returns the process exit status.
#[must_use]
pub fn run(args: &DaemonArgs) -> ExitCode {
    let started = match start(PROG, Daemon::Stafd, args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let kernel: Arc<dyn Kernel> = Arc::new(SysKernel::new(KernelPaths::default()));
    let env = StafdEnv {
        kernel,
        uevents: None,
        state_path: state_path(PROG),
        nvmecli_interop: true,
    };
    let Started {
        log,
        conf_file,
        config,
        tron,
        host,
        ..
    } = started;
    block_on(PROG, serve(env, config, host, tron, log, conf_file))
}

/// What stafd runs against: the real host (from [`run`]) or, in tests, the in-memory kernel.
pub struct StafdEnv {
    /// The kernel seam.
    pub kernel: Arc<dyn Kernel>,
    /// Where uevents come from: `None` for the kernel's netlink socket, or a channel fed by
    /// the in-memory kernel ([`super::uevents::fake_feed`]).
    pub uevents: Option<tokio::sync::mpsc::Receiver<UeventMsg>>,
    /// The warm-restart state file.
    pub state_path: PathBuf,
    /// nvme-cli interplay (§5.14): the udev rule shadow and `nvmf-connect@` for unmanaged DCs.
    pub nvmecli_interop: bool,
}

fn status_line(s: &crate::model::snapshot::Snapshot) -> String {
    let connected = s.ctrls.iter().filter(|c| c.connected).count();
    format!(
        "{} discovery controller(s), {connected} connected",
        s.ctrls.len()
    )
}

/// stafd's life on a tokio runtime, from the kernel's first answers to the end of shutdown:
/// the core, `org.nvmexpress.staf`, mDNS browsing, then signals until SIGTERM/SIGINT.
///
/// # Errors
/// [`RunError`] when stafd cannot start.
pub async fn serve(
    env: StafdEnv,
    cfg: ServiceConfig,
    host: Host,
    tron: bool,
    log: logging::LogHandle,
    conf_file: PathBuf,
) -> Result<(), RunError> {
    let mut signals = Signals::new()?;
    let kernel = env.kernel;
    let urx = match env.uevents {
        Some(rx) => rx,
        None => open_uevents(&kernel, Follow::Discovery)?,
    };
    let path = env.state_path;
    let answers = first_answers(&kernel, &path, load_staf, |o| {
        o.host_iface() && o.discovery()
    })
    .await?;
    let zc_config = |cfg: &ServiceConfig| ZeroconfConfig {
        enabled: cfg.stafd.zeroconf,
        defaults: TidDefaults {
            host_nqn: host.nqn.clone(),
            ignore_iface: cfg.global.ignore_iface,
        },
    };
    let zc_initial = zc_config(&cfg);
    let tp8013 = answers.options.discovery();
    let setup = StafSetup {
        core: answers.into_setup(cfg, host.clone(), tron, path),
        nvmf_connect: if env.nvmecli_interop {
            find_systemctl()
        } else {
            None
        },
    };
    let hook = log.clone();
    let core = StafCore::spawn(kernel, setup, urx, Box::new(move |on| hook.set_tron(on)));
    let server = match serve_staf(StafHandle {
        snapshot: core.snapshot(),
        events: core.subscribe(),
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
    let zeroconf = ZeroconfDriver::spawn(
        AvahiBus::of(&server),
        zc_initial,
        tp8013,
        core.discovery_feed(),
    );
    let shadow = find_systemctl()
        .filter(|_| env.nvmecli_interop)
        .and_then(|sc| RuleShadow::install(Path::new(nvmecli::RUN_RULES_DIR), &sc));
    notify::ready("Ready");
    tracing::info!("{PROG} ready");

    let serving = serve_until_stopped(
        Daemon::Stafd,
        &conf_file,
        &mut signals,
        core.snapshot(),
        status_line,
        |cfg| {
            let zc = zc_config(&cfg);
            let (core, zeroconf) = (&core, &zeroconf);
            async move {
                zeroconf.reload(zc).await;
                core.reload(cfg).await;
            }
        },
    );
    let lost = serve_or_lose(serving, server.lost()).await;
    zeroconf.stop().await;
    let core_ended = if lost.is_some() {
        core.shutdown_keeping_connections().await
    } else {
        core.shutdown().await
    };
    if let Some(shadow) = shadow {
        shadow.remove();
    }
    server.shutdown().await;
    ended(PROG, lost, core_ended)
}
