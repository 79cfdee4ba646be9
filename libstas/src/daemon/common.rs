//! What stafd's and stacd's `run` share: the nvme-stas startup checks, loading the service
//! configuration and the host identity with their diagnostics logged ([`start`]), the
//! uevent source and the kernel's first answers ([`Env::prepare`]), the current-thread
//! runtime with its exit mapping ([`run`]), and the signal / status loop ([`Serving`]).

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, watch};

use crate::cli::DaemonArgs;
use crate::config::layout::{self, DaemonFiles, Layout, LayoutPaths};
use crate::config::{self, Daemon, ServiceConfig, SysConf};
use crate::dbus::stafd_follow::FollowError;
use crate::dbus::{BusConnect, ConnectionLost, DbusError};
use crate::identity::{HostConfig, HostIdentity, IdentityError, IdentityPaths, Secret};
use crate::kernel::fabrics::SupportedOptions;
use crate::kernel::{Kernel, KernelError, KernelPaths, SysKernel, Topology};
use crate::model::snapshot::Snapshot;
use crate::runtime::logging::{self, LogHandle};
use crate::runtime::notify;
use crate::runtime::signals::{Signal, Signals};
use crate::runtime::startup::Startup;
use crate::runtime::state::state_path;

use super::actor::CoreSetup;
use super::staf::{Host, TronHook};
use super::uevents::{spawn_netlink, Follow, UeventMsg, UeventsUnavailable, UEVENT_QUEUE};

/// The kernel's fabrics device.
pub const NVME_FABRICS: &str = "/dev/nvme-fabrics";
/// How long the runtime waits for blocking kernel calls at exit.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// What a daemon's `run` has before its runtime starts.
pub struct Started {
    /// The logger (its debug switch follows `tron`).
    pub log: LogHandle,
    /// The configuration layout and its files (re-read on SIGHUP).
    pub files: DaemonFiles,
    /// Its content.
    pub config: ServiceConfig,
    /// Debug logging on (`--tron` or the file's `tron`).
    pub tron: bool,
    /// The host.
    pub host: Host,
    /// The host's DH-HMAC-CHAP key.
    pub host_key: Option<Secret>,
    /// The start-up split so far.
    pub startup: Startup,
    /// The bus handshake under way (`None`: `serve` starts it).
    pub bus: Option<BusConnect>,
}

/// What a daemon runs against: the real host (from its `run`) or, in tests, the in-memory
/// kernel.
pub struct Env {
    /// The kernel seam.
    pub kernel: Arc<dyn Kernel>,
    /// Where uevents come from: `None` for the kernel's netlink socket, or a channel fed by
    /// the in-memory kernel ([`super::uevents::fake_feed`]).
    pub uevents: Option<mpsc::Receiver<UeventMsg>>,
    /// The warm-restart state file.
    pub state_path: PathBuf,
    /// stafd's nvme-cli interplay (§5.14): the udev rule shadow and `nvmf-connect@` for
    /// unmanaged DCs.
    pub nvmecli_interop: bool,
}

impl Env {
    /// The real host of daemon `prog`.
    #[must_use]
    pub fn system(prog: &str) -> Self {
        Self {
            kernel: Arc::new(SysKernel::new(KernelPaths::default())),
            uevents: None,
            state_path: state_path(prog),
            nvmecli_interop: true,
        }
    }

    /// The start of `daemon`'s `serve`: the signal handlers first, the uevent source
    /// (following its controllers), the kernel's first answers (nvme-stas's warning when `enough`
    /// says the options fall short)
    /// with the state file as `load` reads it, and the core's setup from them and `started`.
    ///
    /// # Errors
    /// The signal handlers, the uevent socket or the kernel's option list.
    pub async fn prepare<S: Send + 'static>(
        &mut self,
        daemon: Daemon,
        started: Started,
        load: fn(&Path) -> S,
        enough: fn(&SupportedOptions) -> bool,
    ) -> Result<(Serving, Prepared<S>), RunError> {
        let mut startup = started.startup;
        startup.mark("runtime");
        let signals = Signals::new()?;
        let uevents = match self.uevents.take() {
            Some(rx) => rx,
            None => {
                let follow = match daemon {
                    Daemon::Stafd => Follow::Discovery,
                    Daemon::Stacd => Follow::Io,
                };
                open_uevents(&self.kernel, follow)?
            }
        };
        let (k, path) = (Arc::clone(&self.kernel), self.state_path.clone());
        let (options, topology, ifaddrs, state) = tokio::task::spawn_blocking(move || {
            let topology = Topology::scan(k.as_ref()).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the NVMe controllers");
                Topology::default()
            });
            let ifaddrs = k.interface_addresses().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot list interface addresses");
                Vec::new()
            });
            (k.supported_options(), topology, ifaddrs, load(&path))
        })
        .await
        .map_err(std::io::Error::other)?;
        startup.mark("signals+uevents+kernel+state");
        let options = options?;
        tracing::debug!("{options}");
        if !enough(&options) {
            tracing::warn!("Kernel does not appear to support all the options needed to run this program. Consider updating to a later kernel version.");
        }
        let setup = CoreSetup {
            config: started.config,
            host: started.host,
            tron: started.tron,
            kernel_options: options,
            topology,
            ifaddrs,
            state_path: self.state_path.clone(),
            initial_state: state,
            save_state: true,
            watchdog: notify::Watchdog::systemd(),
        };
        let serving = Serving {
            daemon,
            signals,
            files: started.files,
            startup,
        };
        let prepared = Prepared {
            uevents,
            setup,
            host_key: started.host_key,
            on_tron: Box::new(move |on| started.log.set_tron(on)),
        };
        Ok((serving, prepared))
    }
}

/// What a daemon's core starts from once [`Env::prepare`] is done.
pub struct Prepared<S> {
    /// The uevent source.
    pub uevents: mpsc::Receiver<UeventMsg>,
    /// What the core starts from.
    pub setup: CoreSetup<S>,
    /// The host's DH-HMAC-CHAP key (stacd).
    pub host_key: Option<Secret>,
    /// Follows the core's debug switch with the logger's.
    pub on_tron: TronHook,
}

/// Either daemon's `run`: the startup checks, then on a current-thread runtime [`start`]
/// on a blocking thread while this one does the bus handshake, then `serve`. Returns the
/// process exit status.
pub fn run<Fut>(daemon: Daemon, args: &DaemonArgs, serve: impl FnOnce(Started) -> Fut) -> ExitCode
where
    Fut: Future<Output = Result<(), RunError>>,
{
    let prog = daemon.name();
    let mut startup = Startup::begin();
    if let Err(msg) = startup_checks(prog, Path::new(NVME_FABRICS)) {
        eprintln!("{msg}");
        return ExitCode::FAILURE;
    }
    startup.mark("checks");
    let Some(rt) = runtime(prog) else {
        return ExitCode::FAILURE;
    };
    let args = args.clone();
    let result = rt.block_on(async move {
        // Start-up (issue 20): the bus handshake runs on this thread while logging, the
        // configuration and the identity are set up on a blocking one.
        let bus = BusConnect::start();
        match tokio::task::spawn_blocking(move || start(prog, daemon, &args, startup)).await {
            Ok(Ok(mut started)) => {
                started.bus = Some(bus);
                Ok(serve(started).await)
            }
            Ok(Err(code)) => Err(code),
            Err(e) => {
                eprintln!("{prog}: {e}");
                Err(ExitCode::FAILURE)
            }
        }
    });
    rt.shutdown_timeout(EXIT_GRACE);
    result.map_or_else(|code| code, |r| exit_status(prog, r))
}

/// What `serve` returns when a step after the core's start fails: the core stopped first
/// (`stop`), and its own failure (the uevent source) wins over the step's error `e`.
pub async fn abandon(
    stop: impl Future<Output = Result<(), UeventsUnavailable>>,
    e: impl Into<RunError>,
) -> RunError {
    match stop.await {
        Err(u) => u.into(),
        Ok(()) => e.into(),
    }
}

/// The start of either daemon's `run` after the nvme-stas startup checks: logging, the
/// configuration and the host identity (`startup`: the split so far). `Err(exit status)`
/// after printing why when the daemon cannot run.
///
/// # Errors
/// No valid host NQN/ID.
pub fn start(
    prog: &str,
    daemon: Daemon,
    args: &DaemonArgs,
    mut startup: Startup,
) -> Result<Started, ExitCode> {
    let log = logging::init(prog, args.syslog, args.tron);
    startup.mark("logging");
    let files = daemon_files(daemon, args);
    tracing::info!(layout = %files.layout, "{}", files.describe());
    let loaded = load_daemon(daemon, &files);
    let config = loaded.as_ref().map_or_else(
        || ServiceConfig::defaults_in(daemon, files.layout),
        |l| l.loaded.config.clone(),
    );
    let tron = args.tron || config.global.tron;
    log.set_tron(tron);
    startup.mark("config");
    let host = match files.layout {
        Layout::Stas2 => resolve_host(&files.sys_conf, &IdentityPaths::default()),
        Layout::Stas3 => resolve_host_stas3(
            loaded.as_ref().and_then(|l| l.conn.as_ref()),
            &files.conn_conf,
            &IdentityPaths::default(),
        ),
    };
    match host {
        Ok((host, host_key)) => {
            startup.mark("identity");
            Ok(Started {
                log,
                files,
                config,
                tron,
                host,
                host_key,
                startup,
                bus: None,
            })
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{prog}: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// The layout and files `daemon` runs on, from its command line and the files present.
#[must_use]
pub fn daemon_files(daemon: Daemon, args: &DaemonArgs) -> DaemonFiles {
    DaemonFiles::choose(
        daemon,
        &LayoutPaths::default(),
        args.conf_file.as_deref(),
        args.conn_conf_file.as_deref(),
    )
}

/// Loads `daemon`'s configuration from `files`, logging every diagnostic. `None` when the
/// service file cannot be read (the caller uses the defaults, or keeps what it has).
#[must_use]
pub fn load_daemon(daemon: Daemon, files: &DaemonFiles) -> Option<layout::DaemonConfig> {
    match layout::load(daemon, files) {
        Ok(l) => {
            log_diagnostics(&l.loaded.diagnostics);
            Some(l)
        }
        Err(e) => {
            tracing::error!("{e}; using the default configuration");
            None
        }
    }
}

/// What a reload (SIGHUP) of `files` gives: the new configuration, or `None` to keep the
/// running one. The 3.x layout's nvme-stas.conf is taken as a unit: with an error in it,
/// the daemon keeps its last good configuration (libnvme's rule), and says so.
#[must_use]
pub fn reload_daemon(daemon: Daemon, files: &DaemonFiles) -> Option<ServiceConfig> {
    let Some(l) = load_daemon(daemon, files) else {
        return Some(ServiceConfig::defaults_in(daemon, files.layout));
    };
    if l.conn_rejected {
        tracing::error!(
            file = %files.conn_conf.display(),
            "reload refused: {} has errors; keeping the last good configuration",
            files.conn_conf.display()
        );
        return None;
    }
    Some(l.loaded.config)
}

fn log_diagnostics(diagnostics: &[config::Diagnostic]) {
    for d in diagnostics {
        if d.is_error() {
            tracing::error!("{d}");
        } else {
            tracing::warn!("{d}");
        }
    }
}

/// Why a daemon stopped with an error after starting.
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

/// A daemon's signals and configuration file, once it serves.
pub struct Serving {
    daemon: Daemon,
    signals: Signals,
    files: DaemonFiles,
    startup: Startup,
}

impl Serving {
    /// Start-up step `step` ended now (the split is logged with the `ready` line).
    pub fn mark(&mut self, step: &'static str) {
        self.startup.mark(step);
    }

    /// [`Startup::mark_two`].
    pub fn mark_two(&mut self, first: &'static str, first_took: Duration, second: &'static str) {
        self.startup.mark_two(first, first_took, second);
    }

    /// `READY=1`, then the signal loop (`reload` on SIGHUP, `STATUS=` updates) until
    /// SIGTERM/SIGINT, or until the bus connection is `lost` first (`Some`).
    pub async fn until_stopped<F, Fut>(
        &mut self,
        snapshot: watch::Receiver<Snapshot>,
        reload: F,
        lost: impl Future<Output = ConnectionLost>,
    ) -> Option<ConnectionLost>
    where
        F: FnMut(ServiceConfig) -> Fut,
        Fut: Future<Output = ()>,
    {
        notify::ready("Ready");
        tracing::info!(
            startup_ms = format_args!("{:.1}", self.startup.total().as_secs_f64() * 1e3),
            split = %self.startup,
            "{} ready",
            self.daemon.name()
        );
        tokio::select! {
            () = self.signal_loop(snapshot, reload) => None,
            lost = lost => Some(lost),
        }
    }

    /// SIGHUP re-reads the configuration file (`RELOADING=1`, `reload`, `READY=1`),
    /// snapshot changes update `STATUS=` (the controller count). `WATCHDOG=1` is not sent
    /// here but by the core's own loop ([`notify::Watchdog`]). Returns on SIGTERM/SIGINT
    /// (after `STOPPING=1`) or when the core is gone.
    async fn signal_loop<F, Fut>(&mut self, mut snap: watch::Receiver<Snapshot>, mut reload: F)
    where
        F: FnMut(ServiceConfig) -> Fut,
        Fut: Future<Output = ()>,
    {
        let daemon = self.daemon;
        let mut last_status = String::new();
        loop {
            tokio::select! {
                s = self.signals.recv() => match s {
                    Signal::Reload => {
                        notify::reloading();
                        let f = self.files.clone();
                        let cfg = tokio::task::spawn_blocking(move || reload_daemon(daemon, &f))
                            .await
                            .unwrap_or(None);
                        if let Some(cfg) = cfg {
                            reload(cfg).await;
                        }
                        // READY=1 with the controller summary again: `Ready` alone would
                        // stay the status until the snapshot next changes.
                        last_status = status_line(daemon, &snap.borrow_and_update());
                        notify::ready(&last_status);
                    }
                    Signal::Terminate => break,
                },
                r = snap.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let line = status_line(daemon, &snap.borrow_and_update());
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

/// Loads a 2.x service file, logging every diagnostic; an unreadable file means the
/// defaults (tests and tools that name one file).
#[must_use]
pub fn load_config(daemon: Daemon, path: &Path) -> ServiceConfig {
    load_daemon(daemon, &DaemonFiles::stas2(daemon, path))
        .map_or_else(|| ServiceConfig::defaults(daemon), |l| l.loaded.config)
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

/// Resolves the host identity of the 3.x layout from nvme-stas.conf's main `[Host]`
/// (`conf`, `None` when the file was rejected) and `/etc/nvme`. There is no host key: the
/// DH-HMAC-CHAP secrets come from the file's cascade.
///
/// # Errors
/// The host NQN or ID is missing or invalid.
pub fn resolve_host_stas3(
    conf: Option<&config::nvmeconf::NvmeConf>,
    conn_conf: &Path,
    paths: &IdentityPaths,
) -> Result<(Host, Option<Secret>), IdentityError> {
    let given = conf
        .map(|c| c.main_scope().identity.clone())
        .unwrap_or_default();
    let r = HostIdentity::resolve_stas3(&given, conn_conf, paths)?;
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    Ok((Host::from_identity(&r.identity), None))
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

/// The blocking pool's size: the connect of [`super::actor::FABRICS_WRITERS`] and three for
/// the other kernel calls (log pages, sysfs, the registry, the state file, name
/// resolution), so that a connect blocked for a minute in the kernel's mutex leaves them
/// room. tokio's default is 512, one thread per call in flight (issue 20).
pub const BLOCKING_THREADS: usize = super::actor::FABRICS_WRITERS + 3;
/// How long an idle blocking thread lives: long enough for a burst, short enough that an
/// idle daemon holds no thread beside its own two (the runtime's and the uevent reader).
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Runs `serve` on a current-thread runtime and maps its result to the exit status
/// (errors logged and printed as `prog: error`).
pub fn block_on<E: Display>(prog: &str, serve: impl Future<Output = Result<(), E>>) -> ExitCode {
    let Some(rt) = runtime(prog) else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(serve);
    rt.shutdown_timeout(EXIT_GRACE);
    exit_status(prog, result)
}

/// A daemon's runtime: current-thread, with a blocking pool of [`BLOCKING_THREADS`].
fn runtime(prog: &str) -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
        .inspect_err(|e| eprintln!("{prog}: cannot start the runtime: {e}"))
        .ok()
}

/// The exit status of `serve`'s result (an error logged and printed as `prog: error`).
fn exit_status<E: Display>(prog: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{prog}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `STATUS=`: how many controllers the daemon holds, and how many are connected.
fn status_line(daemon: Daemon, s: &Snapshot) -> String {
    let what = match daemon {
        Daemon::Stafd => "discovery",
        Daemon::Stacd => "I/O",
    };
    let connected = s.ctrls.iter().filter(|c| c.connected).count();
    format!(
        "{} {what} controller(s), {connected} connected",
        s.ctrls.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload of a 3.x host whose nvme-stas.conf has an error is refused (the core keeps
    /// its configuration); once the file is fixed the reload goes through.
    #[test]
    fn a_reload_of_a_rejected_connection_file_keeps_the_running_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let paths = LayoutPaths {
            etc_stas: dir.path().join("stas"),
            etc_nvme: dir.path().to_owned(),
        };
        let conn = dir.path().join("nvme-stas.conf");
        let good = "[Subsystem]\nnqn = nqn.2024-01.com.example:a\n\
                    controller = transport=tcp;traddr=192.0.2.1;trsvcid=4420\n";
        std::fs::write(
            &conn,
            format!("{good}[I/O Controller Defaults]\ntos = 1 # x\n"),
        )
        .unwrap();
        let files = DaemonFiles::choose(Daemon::Stacd, &paths, None, None);
        assert_eq!(files.layout, Layout::Stas3);
        assert!(reload_daemon(Daemon::Stacd, &files).is_none());
        std::fs::write(&conn, good).unwrap();
        let cfg = reload_daemon(Daemon::Stacd, &files).expect("a good file reloads");
        assert_eq!(cfg.controllers.len(), 1);
    }
}
