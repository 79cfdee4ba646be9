//! The stafd core actor: one task that owns every discovery controller ([`Dc`] state
//! machines), the shared kernel [`Topology`], the timers and the reconcile debouncer, and
//! performs what the state machines ask for.
//!
//! ```text
//!  uevent thread ──UeventMsg (bounded)──┐
//!  D-Bus adapter ──CoreCommand (bounded)─┤
//!  run() signals ──Control (bounded)─────┼──▶ core task ──watch<Snapshot>──▶ D-Bus readers
//!  mDNS driver ──DiscoveryReport (bnd)───┤          └──broadcast<CoreEvent>──▶ signals
//!  op tasks ──Input::Done (bounded)──────┘          └──watch<StafState>──▶ state writer
//!                ▲                                   │
//!                └── spawn_blocking(Kernel call) ◀───┘ (connect, DIM, log reads, delete)
//! ```
//!
//! Every [`Kernel`] call runs on a blocking thread (a connect can block for a minute under a
//! kernel mutex); the core itself never blocks. Its only wake-ups are messages and the next
//! timer deadline: nothing polls. The topology is updated from uevents (the uevent thread
//! reads what the event changed about the one controller concerned) and from connect
//! results, never rescanned. It follows discovery controllers only: once the kernel names a
//! controller an I/O controller (`cntrltype`), the uevent thread leaves it out
//! ([`uevents::Follow::Discovery`]).
//!
//! A matching existing kernel controller is adopted instead of connecting (nvme-stas §5.10),
//! so a restarted stafd takes over its persistent connections without creating new ones.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::index::Index;
use crate::config::controller::SECRET_KEYS;
use crate::config::service::{ConnectParams as CfgParams, ServiceConfig};
use crate::ctrl::dc::{Dc, DcSettings, Event, TimerKind};
use crate::ctrl::debounce::Debouncer;
use crate::ctrl::reconcile::{self, NameCache};
use crate::ctrl::timers::CONF_SOAK;
use crate::identity::HostIdentity;
use crate::kernel::fabrics::SupportedOptions;
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, CtrlState, IfAddr, Kernel, Topology};
use crate::model::snapshot::{AvahiView, CoreCommand, CoreEvent, ProcessView, Snapshot, TimerView};
use crate::model::trid::{TidDefaults, TransportId};
use crate::proto::uevent::NvmeEventKind;
use crate::runtime::notify::{self, Watchdog};
use crate::runtime::state::{save_staf, StafState};

use super::nvmecli;
use super::uevents::{UeventMsg, UeventsUnavailable, SOURCE_ENDED};
use super::wheel::{sleep_until_opt, Wheel};

/// Capacity of the core's input channel (operation results, reconcile data).
pub const INPUT_QUEUE: usize = 256;
/// Capacity of the command channel (D-Bus).
pub const COMMAND_QUEUE: usize = 16;
/// Capacity of the change-event broadcast.
pub const EVENT_QUEUE: usize = 256;
/// How long a shutdown waits for deregistrations and disconnects.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The host identity the core uses (the key itself never enters the core).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host NQN (default for every controller without `host-nqn`).
    pub nqn: String,
    /// Host ID.
    pub id: String,
    /// Symbolic name for registrations.
    pub symname: Option<String>,
    /// Whether a host key is configured.
    pub key_set: bool,
}

impl Host {
    /// From a resolved identity.
    #[must_use]
    pub fn from_identity(id: &HostIdentity) -> Self {
        Self {
            nqn: id.nqn.as_str().to_owned(),
            id: id.id.to_string(),
            symname: id.symname.clone(),
            key_set: id.key.is_some(),
        }
    }
}

/// What the core starts from.
#[derive(Debug)]
pub struct StafSetup {
    /// stafd.conf.
    pub config: ServiceConfig,
    /// Host identity.
    pub host: Host,
    /// Debug logging on at start (`--tron` or the file's `tron`).
    pub tron: bool,
    /// `/dev/nvme-fabrics` options.
    pub kernel_options: SupportedOptions,
    /// The controllers that exist now (one scan at start).
    pub topology: Topology,
    /// Interface addresses (for matching host-iface/host-traddr).
    pub ifaddrs: Vec<IfAddr>,
    /// The warm-restart state file.
    pub state_path: PathBuf,
    /// Its content at start.
    pub initial_state: StafState,
    /// Write the state file (tests may turn it off).
    pub save_state: bool,
    /// `WATCHDOG=1`, sent from the core's own loop.
    pub watchdog: Watchdog,
    /// `systemctl`, to start `nvmf-connect` for discovery controllers stafd does not
    /// manage (nvme-cli interop, §5.14); `None` disables it.
    pub nvmf_connect: Option<PathBuf>,
}

/// What the mDNS browser ([`super::zeroconf`]) tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryReport {
    /// Every reachable discovery controller it sees now.
    pub dcs: Vec<TransportId>,
    /// Its state, for `process_info`.
    pub avahi: AvahiView,
}

/// Called when the debug switch changes (SetTron, reload).
pub type TronHook = Box<dyn Fn(bool) + Send + Sync>;

/// Requests from the daemon's main task.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP: the new stafd.conf; `done` fires once it is applied.
    Reload {
        /// The configuration.
        config: Box<ServiceConfig>,
        /// Acknowledgement.
        done: oneshot::Sender<()>,
    },
    /// SIGTERM/SIGINT: dispose of every controller and end the task.
    Shutdown {
        /// Keep every connection whatever `persistent-connections` says (an exit for a
        /// restart, such as after losing the bus).
        keep_all: bool,
    },
}

/// Handles on a running core.
#[derive(Debug)]
pub struct StafCore {
    snapshot: watch::Receiver<Snapshot>,
    events: broadcast::Sender<CoreEvent>,
    commands: mpsc::Sender<CoreCommand>,
    control: mpsc::Sender<Control>,
    discovery: mpsc::Sender<DiscoveryReport>,
    task: JoinHandle<Result<(), UeventsUnavailable>>,
}

impl StafCore {
    /// Starts the core on the current tokio runtime: the warm-restart controllers start at
    /// once, then the first reconcile runs.
    #[must_use]
    pub fn spawn(
        kernel: Arc<dyn Kernel>,
        setup: StafSetup,
        uevents: mpsc::Receiver<UeventMsg>,
        on_tron: TronHook,
    ) -> Self {
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ctl_tx, ctl_rx) = mpsc::channel(4);
        let (disc_tx, disc_rx) = mpsc::channel(4);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let (state_tx, state_writer) = if setup.save_state {
            let (tx, rx) = watch::channel(setup.initial_state.clone());
            let path = setup.state_path.clone();
            (Some(tx), Some(tokio::spawn(write_state(path, rx))))
        } else {
            (None, None)
        };
        let mut core = Core::new(kernel, setup, input_tx, events.clone(), state_tx, on_tron);
        let snapshot = core.snapshot_rx();
        let task = tokio::spawn(async move {
            let r = core
                .run(Rx {
                    input: input_rx,
                    uevents,
                    commands: cmd_rx,
                    control: ctl_rx,
                    discovery: disc_rx,
                })
                .await;
            if let Some(w) = state_writer {
                let _ = w.await;
            }
            r
        });
        Self {
            snapshot,
            events,
            commands: cmd_tx,
            control: ctl_tx,
            discovery: disc_tx,
            task,
        }
    }

    /// The published state.
    #[must_use]
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// A new subscription to the change events.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.events.subscribe()
    }

    /// The command sender (for the D-Bus adapter).
    #[must_use]
    pub fn commands(&self) -> mpsc::Sender<CoreCommand> {
        self.commands.clone()
    }

    /// Where the mDNS browser sends the full list of reachable controllers it currently
    /// sees (and its state).
    #[must_use]
    pub fn discovery_feed(&self) -> mpsc::Sender<DiscoveryReport> {
        self.discovery.clone()
    }

    /// Applies a reloaded configuration; returns once the core took it.
    pub async fn reload(&self, config: ServiceConfig) {
        let (done, rx) = oneshot::channel();
        if self
            .control
            .send(Control::Reload {
                config: Box::new(config),
                done,
            })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Shuts the core down (keeping or dropping connections per `persistent-connections`)
    /// and waits for it, at most `SHUTDOWN_GRACE` plus the state write.
    ///
    /// # Errors
    /// The core had stopped by itself because the uevent source failed or ended (it kept
    /// every connection then): the daemon must exit non-zero.
    pub async fn shutdown(self) -> Result<(), UeventsUnavailable> {
        self.stop(false).await
    }

    /// Shuts the core down keeping every connection (no deregistration) whatever
    /// `persistent-connections` says: stafd exits to be restarted at once (it lost the bus),
    /// and the next stafd adopts the controllers from the state file and the kernel.
    ///
    /// # Errors
    /// As [`StafCore::shutdown`].
    pub async fn shutdown_keeping_connections(self) -> Result<(), UeventsUnavailable> {
        self.stop(true).await
    }

    async fn stop(self, keep_all: bool) -> Result<(), UeventsUnavailable> {
        let _ = self.control.send(Control::Shutdown { keep_all }).await;
        match self.task.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "core task failed");
                Ok(())
            }
        }
    }
}

async fn write_state(path: PathBuf, mut rx: watch::Receiver<StafState>) {
    while rx.changed().await.is_ok() {
        let state = rx.borrow_and_update().clone();
        let p = path.clone();
        match tokio::task::spawn_blocking(move || save_staf(&p, &state)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "Unable to save last known config");
            }
            Err(e) => tracing::error!(error = %e, "state writer failed"),
        }
    }
}

struct Rx {
    input: mpsc::Receiver<Input>,
    uevents: mpsc::Receiver<UeventMsg>,
    commands: mpsc::Receiver<CoreCommand>,
    control: mpsc::Receiver<Control>,
    discovery: mpsc::Receiver<DiscoveryReport>,
}

/// Messages the core sends itself through spawned tasks.
enum Input {
    /// A kernel operation finished.
    Done {
        id: u64,
        event: Event,
        ctrl: Option<Box<Controller>>,
    },
    /// Names resolved and interfaces read: run the reconcile.
    PassReady {
        generation: u64,
        resolved: BTreeMap<String, Option<IpAddr>>,
        ifaddrs: Option<Vec<IfAddr>>,
    },
}

struct Slot {
    id: u64,
    dc: Dc,
}

struct Core {
    kernel: Arc<dyn Kernel>,
    watchdog: Watchdog,
    cfg: ServiceConfig,
    cfg_generation: u64,
    host: Host,
    tron: bool,
    on_tron: TronHook,
    options: SupportedOptions,
    topo: Topology,
    ifaddrs: Vec<IfAddr>,
    state_path: PathBuf,
    nvmf_connect: Option<PathBuf>,
    dcs: BTreeMap<TransportId, Slot>,
    dying: BTreeMap<u64, Dc>,
    next_id: u64,
    claimed: BTreeMap<u64, String>,
    connected_seen: BTreeSet<String>,
    echo_expected: BTreeSet<String>,
    timers: Wheel<(u64, TimerKind)>,
    debounce: Debouncer<Instant>,
    pass_running: bool,
    pass_again: bool,
    names: NameCache,
    index: Index,
    discovered: Vec<TransportId>,
    avahi: AvahiView,
    last_dropped: BTreeSet<(TransportId, String)>,
    input_tx: mpsc::Sender<Input>,
    snapshot_tx: watch::Sender<Snapshot>,
    events: broadcast::Sender<CoreEvent>,
    state_tx: Option<watch::Sender<StafState>>,
    shutting_down: bool,
}

fn strip_secrets(cfg: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    cfg.iter()
        .filter(|(k, _)| !SECRET_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Core {
    fn new(
        kernel: Arc<dyn Kernel>,
        setup: StafSetup,
        input_tx: mpsc::Sender<Input>,
        events: broadcast::Sender<CoreEvent>,
        state_tx: Option<watch::Sender<StafState>>,
        on_tron: TronHook,
    ) -> Self {
        let placeholder = Snapshot {
            ctrls: Vec::new(),
            process: ProcessView {
                tron: setup.tron,
                hostnqn: setup.host.nqn.clone(),
                hostid: setup.host.id.clone(),
                hostkey_set: setup.host.key_set,
                symname: setup.host.symname.clone().unwrap_or_default(),
                last_known_config_file: setup.state_path.clone(),
                config_soak_timer: TimerView {
                    period: CONF_SOAK,
                    remaining: None,
                },
                kernel_tp8013: setup.kernel_options.discovery(),
                kernel_host_iface: setup.kernel_options.host_iface(),
                ignore_iface: setup.config.global.ignore_iface,
                avahi: None,
            },
        };
        let (snapshot_tx, _) = watch::channel(placeholder);
        let mut core = Self {
            kernel,
            watchdog: setup.watchdog.clone(),
            cfg: setup.config,
            cfg_generation: 0,
            host: setup.host,
            tron: setup.tron,
            on_tron,
            options: setup.kernel_options,
            topo: setup.topology,
            ifaddrs: setup.ifaddrs,
            state_path: setup.state_path,
            nvmf_connect: setup.nvmf_connect,
            dcs: BTreeMap::new(),
            dying: BTreeMap::new(),
            next_id: 0,
            claimed: BTreeMap::new(),
            connected_seen: BTreeSet::new(),
            echo_expected: BTreeSet::new(),
            timers: Wheel::default(),
            debounce: Debouncer::new(CONF_SOAK),
            pass_running: false,
            pass_again: false,
            names: NameCache::default(),
            index: Index::default(),
            discovered: Vec::new(),
            avahi: AvahiView::default(),
            last_dropped: BTreeSet::new(),
            input_tx,
            snapshot_tx,
            events,
            state_tx,
            shutting_down: false,
        };
        core.warm_restart(setup.initial_state);
        core.publish();
        core
    }

    /// The DCs of the state file, with the configuration and per-controller overrides
    /// stafd.conf gives them now (a warm-restart connect uses the same `kato`,
    /// `reconnect-delay`, … as the first one did).
    fn warm_restart(&mut self, state: StafState) {
        let (cands, _) = reconcile::configured(&self.cfg, &self.tid_defaults());
        for s in state.dcs {
            if self.dcs.contains_key(&s.tid) {
                continue;
            }
            let (cfg, overrides) = cands
                .iter()
                .find(|c| c.tid == s.tid)
                .map(|c| (strip_secrets(&c.cfg), c.overrides.clone()))
                .unwrap_or_default();
            let settings = self.settings_for(&overrides);
            let dc = Dc::new(s.tid, cfg, s.origin, settings, s.log_pages);
            self.insert(dc);
        }
    }

    fn snapshot_rx(&self) -> watch::Receiver<Snapshot> {
        self.snapshot_tx.subscribe()
    }

    fn tid_defaults(&self) -> TidDefaults {
        TidDefaults {
            host_nqn: self.host.nqn.clone(),
            ignore_iface: self.cfg.global.ignore_iface,
        }
    }

    fn settings_for(&self, overrides: &CfgParams) -> DcSettings {
        DcSettings {
            host_id: self.host.id.clone(),
            pleo: self.cfg.global.pleo,
            params: overrides.or(&self.cfg.global.params),
            persistence: self.cfg.stafd.zeroconf_persistence,
        }
    }

    /// Adds a controller to the map (not started).
    fn insert(&mut self, dc: Dc) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.live(id, dc.tid());
        self.index.set_device(id, dc.device());
        self.dcs.insert(dc.tid().clone(), Slot { id, dc });
        id
    }

    /// Moves the controller of `tid` from the map to the dying set; its id.
    fn retire(&mut self, tid: &TransportId) -> Option<u64> {
        let slot = self.dcs.remove(tid)?;
        self.index.retire(slot.id);
        self.dying.insert(slot.id, slot.dc);
        Some(slot.id)
    }

    /// Drops dying controller `id` (it let go of its kernel controller).
    fn forget(&mut self, id: u64) {
        self.dying.remove(&id);
        self.index.forget(id);
    }

    fn id_of(&self, tid: &TransportId) -> Option<u64> {
        self.dcs.get(tid).map(|s| s.id)
    }

    fn dc_mut(&mut self, id: u64) -> Option<&mut Dc> {
        if let Some(dc) = self.dying.get_mut(&id) {
            return Some(dc);
        }
        let tid = self.index.tid(id)?;
        self.dcs
            .get_mut(tid)
            .filter(|s| s.id == id)
            .map(|s| &mut s.dc)
    }

    fn dc_ref(&self, id: u64) -> Option<&Dc> {
        self.dying.get(&id).or_else(|| {
            let tid = self.index.tid(id)?;
            self.dcs.get(tid).filter(|s| s.id == id).map(|s| &s.dc)
        })
    }

    /// The controller holding `device` (through the index; debug builds check it against a
    /// scan of every controller, so each core test checks the index too).
    fn owner_of(&self, device: &str) -> Option<u64> {
        let found = self
            .index
            .owner(device)
            .filter(|id| self.dc_ref(*id).and_then(Dc::device) == Some(device));
        debug_assert_eq!(
            found,
            self.dcs
                .values()
                .map(|s| (s.id, &s.dc))
                .chain(self.dying.iter().map(|(id, dc)| (*id, dc)))
                .find(|(_, dc)| dc.device() == Some(device))
                .map(|(id, _)| id),
            "index out of step for {device}"
        );
        found
    }

    fn owned_devices(&self) -> BTreeSet<String> {
        self.dcs
            .values()
            .map(|s| &s.dc)
            .chain(self.dying.values())
            .filter_map(|dc| dc.device().map(str::to_owned))
            .chain(self.claimed.values().cloned())
            .collect()
    }

    /// The core's loop until a shutdown, or until the uevent source fails or ends: then
    /// every connection is kept (whatever `persistent-connections` says: the daemon is
    /// restarted and adopts them) and the reason is returned.
    async fn run(&mut self, mut rx: Rx) -> Result<(), UeventsUnavailable> {
        let ids: Vec<u64> = self.dcs.values().map(|s| s.id).collect();
        for id in ids {
            self.feed(id, Event::Start);
        }
        self.trigger_reconcile();
        self.publish();
        let mut commands_open = true;
        let mut discovery_open = true;
        let mut watchdog = self.watchdog.timer();
        let mut keep_all_at_exit = false;
        let mut failed = None;
        loop {
            let deadline = match (self.timers.next_deadline(), self.debounce.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                // First, so a busy core still pings; a stuck one does not.
                () = notify::tick(watchdog.as_mut()) => self.watchdog.ping(),
                c = rx.control.recv() => match c {
                    Some(Control::Reload { config, done }) => {
                        self.reload(*config);
                        self.publish();
                        let _ = done.send(());
                    }
                    Some(Control::Shutdown { keep_all }) => {
                        keep_all_at_exit = keep_all;
                        break;
                    }
                    None => break,
                },
                i = rx.input.recv() => {
                    if let Some(i) = i {
                        self.on_input(i);
                    }
                }
                u = rx.uevents.recv() => match u {
                    Some(UeventMsg::Failed(why)) => {
                        failed = Some(UeventsUnavailable(why));
                        break;
                    }
                    Some(u) => self.on_uevent(u),
                    None => {
                        failed = Some(UeventsUnavailable(SOURCE_ENDED.to_owned()));
                        break;
                    }
                },
                c = rx.commands.recv(), if commands_open => match c {
                    Some(CoreCommand::SetTron(on)) => self.set_tron(on),
                    None => commands_open = false,
                },
                d = rx.discovery.recv(), if discovery_open => match d {
                    Some(report) => {
                        self.avahi = report.avahi;
                        if report.dcs != self.discovered {
                            self.discovered = report.dcs;
                            self.trigger_reconcile();
                        }
                    }
                    None => discovery_open = false,
                },
                () = sleep_until_opt(deadline) => self.on_deadline(),
            }
            self.publish();
        }
        let keep = keep_all_at_exit || failed.is_some() || self.cfg.stafd.persistent_connections;
        self.shutdown(&mut rx, keep).await;
        failed.map_or(Ok(()), Err)
    }

    fn set_tron(&mut self, on: bool) {
        self.tron = on;
        (self.on_tron)(on);
        tracing::info!(tron = on, "debug logging {}", if on { "on" } else { "off" });
    }

    fn reload(&mut self, cfg: ServiceConfig) {
        tracing::info!("reloading configuration");
        let tron = cfg.global.tron;
        self.cfg = cfg;
        self.cfg_generation += 1;
        self.set_tron(tron);
        let (cands, _) = reconcile::configured(&self.cfg, &self.tid_defaults());
        let updates: Vec<(u64, DcSettings)> = self
            .dcs
            .iter()
            .map(|(tid, s)| {
                let o = cands
                    .iter()
                    .find(|c| &c.tid == tid)
                    .map(|c| c.overrides.clone())
                    .unwrap_or_default();
                (s.id, self.settings_for(&o))
            })
            .collect();
        for (id, settings) in updates {
            self.feed(id, Event::Reload(settings));
        }
        self.trigger_reconcile();
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        for (id, kind) in self.timers.expire(now) {
            self.feed(id, Event::TimerFired(kind));
        }
        if self.debounce.poll(now) {
            self.start_pass();
        }
    }

    fn on_input(&mut self, i: Input) {
        match i {
            Input::Done { id, event, ctrl } => {
                self.claimed.remove(&id);
                if let Some(c) = ctrl {
                    self.topo.insert(*c);
                }
                if let Event::ConnectDone { device, .. } = &event {
                    // The kernel sends `connected` while creating the controller: if it has
                    // not arrived yet, it is the echo of our own connect, not a reconnect.
                    if !self.connected_seen.remove(device) {
                        self.echo_expected.insert(device.clone());
                    }
                }
                self.feed(id, event);
            }
            Input::PassReady {
                generation,
                resolved,
                ifaddrs,
            } => self.finish_pass(generation, resolved, ifaddrs),
        }
    }

    fn on_uevent(&mut self, msg: UeventMsg) {
        match msg {
            UeventMsg::Resync(topo) => self.on_resync(topo),
            // Only during a shutdown: the run loop ends on it.
            UeventMsg::Failed(_) => {}
            UeventMsg::Event { event, update } => {
                let dev = event.device.clone();
                self.topo.apply_update(event.instance, update);
                if event.kind == NvmeEventKind::Removed {
                    self.connected_seen.remove(&dev);
                    self.echo_expected.remove(&dev);
                }
                let owner = self.owner_of(&dev);
                if event.kind == NvmeEventKind::Connected {
                    match owner {
                        None => {
                            self.connected_seen.insert(dev.clone());
                        }
                        Some(_) if self.echo_expected.remove(&dev) => return,
                        Some(_) => {}
                    }
                }
                if let Some(id) = owner {
                    tracing::debug!(device = %dev, event = ?event.kind, "uevent");
                    self.feed(id, Event::Uevent(event.kind));
                } else if let Some(systemctl) = &self.nvmf_connect {
                    if nvmecli::wants_nvmf_connect(&event)
                        && self.topo.by_name(&dev).is_some_and(Controller::is_dc)
                    {
                        let systemctl = systemctl.clone();
                        tokio::task::spawn_blocking(move || {
                            nvmecli::start_nvmf_connect(&systemctl, &event);
                        });
                    }
                }
            }
        }
    }

    /// Uevents were lost: `topo` is the re-scanned topology. What the lost events would
    /// have told each controller is worked out from it: a device gone (or now another
    /// controller's) is a `remove`; a live one re-reads its log (a lost AEN leaves the
    /// controller's AEN masked until the log is read), or resyncs when it reconnected
    /// meanwhile (new controller ID, or not live before). A controller not connected
    /// finds a matching kernel controller at its next connect (adoption).
    fn on_resync(&mut self, topo: Topology) {
        let old = std::mem::replace(&mut self.topo, topo);
        // A `connected` echo expected may have been lost: a later one is a reconnect.
        self.echo_expected.clear();
        let topo = &self.topo;
        self.connected_seen.retain(|d| topo.by_name(d).is_some());
        let todo: Vec<(u64, Event)> = self
            .dcs
            .values()
            .map(|s| (s.id, &s.dc))
            .chain(self.dying.iter().map(|(i, d)| (*i, d)))
            .filter_map(|(id, dc)| {
                let dev = dc.device()?;
                let ev = match self.topo.by_name(dev) {
                    Some(c) if cid_matches_tid(&c.existing_id(), dc.tid(), &self.ifaddrs) => {
                        // Not live: its `connected` comes once it is.
                        if c.state != CtrlState::Live {
                            return None;
                        }
                        let reconnected = old
                            .by_name(dev)
                            .is_none_or(|o| o.state != CtrlState::Live || o.cntlid != c.cntlid);
                        Event::EventsLost { reconnected }
                    }
                    _ => Event::Uevent(NvmeEventKind::Removed),
                };
                Some((id, ev))
            })
            .collect();
        tracing::info!(
            controllers = todo.len(),
            "uevents were lost: checking every discovery controller against the kernel"
        );
        for (id, ev) in todo {
            self.feed(id, ev);
        }
    }

    /// Gives `ev` to controller `id` and performs the actions.
    fn feed(&mut self, id: u64, ev: Event) {
        let Some(dc) = self.dc_mut(id) else {
            return;
        };
        let actions = dc.handle(ev, SystemTime::now());
        let device = dc.device().map(str::to_owned);
        self.index.set_device(id, device.as_deref());
        for a in actions {
            self.perform(id, a);
        }
    }

    async fn shutdown(&mut self, rx: &mut Rx, keep: bool) {
        tracing::info!(keep_connections = keep, "stopping");
        self.save_state();
        self.shutting_down = true;
        let tids: Vec<TransportId> = self.dcs.keys().cloned().collect();
        for tid in tids {
            if let Some(id) = self.retire(&tid) {
                self.feed(id, Event::Shutdown { keep });
            }
        }
        self.publish();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while !self.dying.is_empty() {
            tokio::select! {
                i = rx.input.recv() => match i {
                    Some(i) => self.on_input(i),
                    None => break,
                },
                Some(u) = rx.uevents.recv() => self.on_uevent(u),
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(left = self.dying.len(), "giving up waiting for controllers to disconnect");
                    break;
                }
            }
        }
        self.state_tx = None;
    }
}

mod ops;
mod pass;
mod view;

#[cfg(test)]
mod tests;
