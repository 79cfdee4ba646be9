//! What stafd's and stacd's `run` share: the nvme-stas startup checks, loading the service
//! configuration and the host identity with their diagnostics logged ([`start`]), the
//! uevent source, the kernel's first answers ([`first_answers`]), the current-thread
//! runtime with its exit mapping, and the signal / status loop.

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, watch};

use crate::cli::DaemonArgs;
use crate::config::{self, Daemon, ServiceConfig, SysConf};
use crate::dbus::stafd_follow::FollowError;
use crate::dbus::{ConnectionLost, DbusError};
use crate::identity::{HostConfig, HostIdentity, IdentityError, IdentityPaths, Secret};
use crate::kernel::fabrics::SupportedOptions;
use crate::kernel::{IfAddr, Kernel, KernelError, Topology};
use crate::model::snapshot::Snapshot;
use crate::runtime::logging::{self, LogHandle};
use crate::runtime::notify;
use crate::runtime::signals::{Signal, Signals};

use super::actor::CoreSetup;
use super::staf::Host;
use super::uevents::{spawn_netlink, Follow, UeventMsg, UeventsUnavailable, UEVENT_QUEUE};

/// The kernel's fabrics device.
pub const NVME_FABRICS: &str = "/dev/nvme-fabrics";
/// How long the runtime waits for blocking kernel calls at exit.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// What a daemon's `run` has before its runtime starts.
pub struct Started {
    /// The logger (its debug switch follows `tron`).
    pub log: LogHandle,
    /// The configuration file (re-read on SIGHUP).
    pub conf_file: PathBuf,
    /// Its content.
    pub config: ServiceConfig,
    /// Debug logging on (`--tron` or the file's `tron`).
    pub tron: bool,
    /// The host.
    pub host: Host,
    /// The host's DH-HMAC-CHAP key.
    pub host_key: Option<Secret>,
}

/// The start of either daemon's `run`: the nvme-stas startup checks, logging, the
/// configuration and the host identity. `Err(exit status)` after printing why when the
/// daemon cannot run.
///
/// # Errors
/// Not root, no `/dev/nvme-fabrics`, or no valid host NQN/ID.
pub fn start(prog: &str, daemon: Daemon, args: &DaemonArgs) -> Result<Started, ExitCode> {
    if let Err(msg) = startup_checks(prog, Path::new(NVME_FABRICS)) {
        eprintln!("{msg}");
        return Err(ExitCode::FAILURE);
    }
    let log = logging::init(prog, args.syslog, args.tron);
    let conf_file = conf_file(daemon, args.conf_file.as_deref());
    let config = load_config(daemon, &conf_file);
    let tron = args.tron || config.global.tron;
    log.set_tron(tron);
    match resolve_host(Path::new(config::SYS_CONF), &IdentityPaths::default()) {
        Ok((host, host_key)) => Ok(Started {
            log,
            conf_file,
            config,
            tron,
            host,
            host_key,
        }),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{prog}: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Why a daemon stopped with an error after starting.
#[derive(Debug, Error)]
pub enum RunError {
    /// The tokio runtime or the signal handlers could not be set up.
    #[error("cannot start: {0}")]
    Setup(#[from] std::io::Error),
    /// The kernel's first answers could not be had (the option list is unreadable).
    #[error(transparent)]
    Kernel(#[from] FirstAnswersError),
    /// The D-Bus name or objects could not be set up.
    #[error("cannot serve on D-Bus: {0}")]
    Dbus(#[from] DbusError),
    /// stacd: stafd's name and signals could not be followed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// The bus connection ended under the running daemon (every connection was kept, the
    /// state saved: a restart takes them over).
    #[error("lost the D-Bus connection: {0}")]
    BusLost(#[from] ConnectionLost),
    /// The uevent socket cannot be opened, or the uevent source ended (every connection
    /// is kept; systemd restarts the daemon, which adopts them).
    #[error(transparent)]
    Uevents(#[from] UeventsUnavailable),
}

/// Runs `serving` (the signal loop) until it ends, or until the bus connection is lost
/// first (`Some`).
pub async fn serve_or_lose(
    serving: impl Future<Output = ()>,
    lost: impl Future<Output = ConnectionLost>,
) -> Option<ConnectionLost> {
    tokio::select! {
        () = serving => None,
        lost = lost => Some(lost),
    }
}

/// How a daemon's `serve` ends once everything is shut down: the bus loss, else the
/// uevent source's failure, else a clean stop (logged).
///
/// # Errors
/// The bus was lost, or the uevent source failed.
pub fn ended(
    prog: &str,
    lost: Option<ConnectionLost>,
    core: Result<(), UeventsUnavailable>,
) -> Result<(), RunError> {
    if let Some(lost) = lost {
        return Err(lost.into());
    }
    core?;
    tracing::info!("{prog} stopped");
    Ok(())
}

/// Why the kernel's first answers could not be had.
#[derive(Debug, Error)]
pub enum FirstAnswersError {
    /// The blocking task failed.
    #[error("cannot start: {0}")]
    Setup(std::io::Error),
    /// The kernel's option list cannot be read (not root?).
    #[error("cannot read the supported NVMe-oF options: {0}")]
    Kernel(#[from] KernelError),
}

/// What a core starts from, read once off the runtime.
pub struct FirstAnswers<S> {
    /// `/dev/nvme-fabrics` options.
    pub options: SupportedOptions,
    /// The controllers that exist now (empty, logged, when unreadable).
    pub topology: Topology,
    /// Interface addresses (empty, logged, when unreadable).
    pub ifaddrs: Vec<IfAddr>,
    /// The warm-restart state.
    pub state: S,
}

impl<S> FirstAnswers<S> {
    /// What a core starts from on the real host: these answers, the configuration, the
    /// host and the state file (written), with systemd's watchdog.
    #[must_use]
    pub fn into_setup(
        self,
        config: ServiceConfig,
        host: Host,
        tron: bool,
        state_path: PathBuf,
    ) -> CoreSetup<S> {
        CoreSetup {
            config,
            host,
            tron,
            kernel_options: self.options,
            topology: self.topology,
            ifaddrs: self.ifaddrs,
            state_path,
            initial_state: self.state,
            save_state: true,
            watchdog: notify::Watchdog::systemd(),
        }
    }
}

/// The kernel's options (with nvme-stas's warning when `enough` says they fall short), one
/// scan of the controllers, the interface addresses and the state file read by `load`, all
/// on a blocking thread.
///
/// # Errors
/// The option list cannot be read.
pub async fn first_answers<S: Send + 'static>(
    kernel: &Arc<dyn Kernel>,
    state_path: &Path,
    load: fn(&Path) -> S,
    enough: fn(&SupportedOptions) -> bool,
) -> Result<FirstAnswers<S>, FirstAnswersError> {
    let k = Arc::clone(kernel);
    let p = state_path.to_owned();
    let (options, topology, ifaddrs, state) = tokio::task::spawn_blocking(move || {
        (
            k.supported_options(),
            Topology::scan(k.as_ref()),
            k.interface_addresses(),
            load(&p),
        )
    })
    .await
    .map_err(|e| FirstAnswersError::Setup(std::io::Error::other(e)))?;
    let options = options?;
    tracing::debug!("{options}");
    if !enough(&options) {
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
    Ok(FirstAnswers {
        options,
        topology,
        ifaddrs,
        state,
    })
}

/// The configuration file of `daemon`: `-f` or the default.
#[must_use]
pub fn conf_file(daemon: Daemon, given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || {
            PathBuf::from(match daemon {
                Daemon::Stafd => config::STAFD_CONF,
                Daemon::Stacd => config::STACD_CONF,
            })
        },
        Path::to_owned,
    )
}

/// Loads the daemon's configuration, logging every diagnostic; an unreadable file means the
/// defaults.
#[must_use]
pub fn load_config(daemon: Daemon, path: &Path) -> ServiceConfig {
    match config::load_service(daemon, path) {
        Ok(l) => {
            for d in &l.diagnostics {
                if d.is_error() {
                    tracing::error!("{d}");
                } else {
                    tracing::warn!("{d}");
                }
            }
            l.config
        }
        Err(e) => {
            tracing::error!("{e}; using the default configuration");
            ServiceConfig::defaults(daemon)
        }
    }
}

/// Resolves the host identity from `sys.conf` and `/etc/nvme`: the host and its DHCHAP key.
///
/// # Errors
/// The host NQN or ID is missing or invalid.
pub fn resolve_host(
    sys_conf: &Path,
    paths: &IdentityPaths,
) -> Result<(Host, Option<Secret>), IdentityError> {
    let sys = match config::load_sys_conf(sys_conf) {
        Ok(l) => {
            for d in &l.diagnostics {
                tracing::warn!("{d}");
            }
            l.config
        }
        Err(e) => {
            tracing::warn!("{e}; using the /etc/nvme defaults");
            SysConf::default()
        }
    };
    let r = HostIdentity::resolve(&HostConfig::from_sysconf(&sys), paths)?;
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    Ok((Host::from_identity(&r.identity), r.identity.key))
}

/// Opens the kernel's uevent socket and starts its reader thread (following `follow`).
///
/// # Errors
/// The socket cannot be opened: the daemon cannot run without controller events.
pub fn open_uevents(
    kernel: &Arc<dyn Kernel>,
    follow: Follow,
) -> Result<mpsc::Receiver<UeventMsg>, UeventsUnavailable> {
    let (tx, rx) = mpsc::channel(UEVENT_QUEUE);
    spawn_netlink(Arc::clone(kernel), follow, tx)
        .map_err(|e| UeventsUnavailable(format!("cannot open the uevent socket: {e}")))?;
    Ok(rx)
}

/// The nvme-stas startup checks: `Err(message)` when `prog` cannot run here.
///
/// # Errors
/// The message to print (not root, no `/dev/nvme-fabrics`).
pub fn startup_checks(prog: &str, fabrics: &Path) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(format!(
            "Permission denied. You need root privileges to run {prog}."
        ));
    }
    if !fabrics.exists() {
        return Err("Fatal error: missing nvme-tcp kernel module".to_owned());
    }
    Ok(())
}

/// Runs `serve` on a current-thread runtime and maps its result to the exit status
/// (errors logged and printed as `prog: error`).
pub fn block_on<E: Display>(prog: &str, serve: impl Future<Output = Result<(), E>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prog}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(serve);
    rt.shutdown_timeout(EXIT_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{prog}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The daemon's life after `READY=1`: SIGHUP re-reads `conf_file` (`RELOADING=1`, `reload`,
/// `READY=1`), snapshot changes update `STATUS=` (through `status_line`). `WATCHDOG=1` is
/// not sent here but by the core's own loop ([`notify::Watchdog`]). Returns on SIGTERM/SIGINT (after `STOPPING=1`) or when the
/// core is gone.
pub async fn serve_until_stopped<F, Fut>(
    daemon: Daemon,
    conf_file: &Path,
    signals: &mut Signals,
    mut snap: watch::Receiver<Snapshot>,
    status_line: fn(&Snapshot) -> String,
    mut reload: F,
) where
    F: FnMut(ServiceConfig) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut last_status = String::new();
    loop {
        tokio::select! {
            s = signals.recv() => match s {
                Signal::Reload => {
                    notify::reloading();
                    let f = conf_file.to_owned();
                    let cfg = tokio::task::spawn_blocking(move || load_config(daemon, &f))
                        .await
                        .unwrap_or_else(|_| ServiceConfig::defaults(daemon));
                    reload(cfg).await;
                    // READY=1 with the controller summary again: `Ready` alone would stay
                    // the status until the snapshot next changes.
                    last_status = status_line(&snap.borrow_and_update());
                    notify::ready(&last_status);
                }
                Signal::Terminate => break,
            },
            r = snap.changed() => {
                if r.is_err() {
                    break;
                }
                let line = status_line(&snap.borrow_and_update());
                if line != last_status {
                    notify::status(&line);
                    last_status = line;
                }
            }
        }
    }
    notify::stopping();
    notify::status("Stopping");
}
