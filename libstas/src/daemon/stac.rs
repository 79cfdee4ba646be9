//! The stacd core actor: one task that owns every I/O controller ([`Ioc`] state machines),
//! the shared kernel [`Topology`], stacd's memory of stafd's log pages, the timers and the
//! reconcile debouncer, and performs what the state machines ask for.
//!
//! ```text
//!  uevent thread ──UeventMsg (bounded)──┐
//!  D-Bus adapter ──CoreCommand (bounded)─┤
//!  run() signals ──Control (bounded)─────┼──▶ core task ──watch<Snapshot>──▶ D-Bus readers
//!  stafd follower ──StafdView (bounded)──┤          └──watch<StacState>──▶ state writer
//!  op tasks ──Input (bounded)────────────┘
//!                ▲                                   │
//!                └── spawn_blocking(Kernel call) ◀───┘ (connect, delete)
//! ```
//!
//! Every [`Kernel`] call runs on a blocking thread; the core never blocks. Connects of many
//! controllers are all issued at once, without any delay of ours: they run concurrently on
//! blocking threads (at most [`CONNECT_CONCURRENCY`] at a time; the kernel serializes them
//! under its own mutex anyway). The core wakes only on a message or the next deadline.
//! Its topology leaves discovery controllers out ([`uevents::Follow::Io`]).
//!
//! Startup (warm restart, §5.12): controllers of the state file that a kernel controller
//! matches are adopted at once; nothing is created or removed until the first answer about
//! stafd (known or not) arrives, or [`FIRST_VIEW_WAIT`] passed. stafd being unreachable
//! never removes anything (see [`crate::ctrl::stac_reconcile`]). Shutdown keeps every
//! connection (§5.13).
//!
//! Reconcile passes are paced by the leading-edge debouncer (DECISIONS.md item 15). A new
//! view of stafd first runs the pure reconcile as a dry run: a view that changes nothing
//! (stafd signals after every log read, changed or not) costs no pass and opens no soak
//! window, so the view that does bring new entries is applied at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::index::Index;
use crate::config::controller::SECRET_KEYS;
use crate::config::service::{ConnectParams as CfgParams, ServiceConfig};
use crate::ctrl::debounce::Debouncer;
use crate::ctrl::ioc::{Event, Ioc, IocSettings, TimerKind, Token};
use crate::ctrl::reconcile::NameCache;
use crate::ctrl::stac_reconcile::{self, DisconnectPolicy, StafdMemory, StafdView};
use crate::ctrl::timers::CONF_SOAK;
use crate::identity::Secret;
use crate::kernel::fabrics::SupportedOptions;
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, CtrlKind, CtrlState, CtrlUpdate, IfAddr, Kernel, Topology};
use crate::model::snapshot::{CoreCommand, ProcessView, Snapshot, TimerView};
use crate::model::trid::{TidDefaults, TransportId};
use crate::proto::uevent::NvmeEventKind;
use crate::runtime::notify::{self, Watchdog};
use crate::runtime::state::{save_stac, StacState};

use super::staf::{Host, TronHook};
use super::uevents::{UeventMsg, UeventsUnavailable, SOURCE_ENDED};
use super::wheel::{sleep_until_opt, Wheel};

/// Capacity of the core's input channel (operation results, reconcile data).
pub const INPUT_QUEUE: usize = 256;
/// Capacity of the command channel (D-Bus).
pub const COMMAND_QUEUE: usize = 16;
/// Capacity of the stafd view channel.
pub const VIEW_QUEUE: usize = 16;
/// How long the first pass waits for the first answer about stafd.
pub const FIRST_VIEW_WAIT: Duration = Duration::from_secs(3);
/// nvme-stas's "add" uevent soak: the audit runs this long after a foreign controller
/// appears (sysfs settles).
pub const ADD_EVENT_SOAK: Duration = Duration::from_secs(1);
/// Connects running at the same time (the kernel serializes them; this only bounds the
/// blocking threads).
pub const CONNECT_CONCURRENCY: usize = 8;
/// How long a shutdown waits for disconnects already under way.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Shortest time between two snapshots while changes keep coming (the first change after
/// a quiet period is published at once).
pub const PUBLISH_MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Publishing may take at most one part in this many of the time: a snapshot of many
/// controllers costs more, so bursts publish less often (never more than
/// `PUBLISH_MIN_INTERVAL` late for small ones).
pub const PUBLISH_COST_RATIO: u32 = 50;

/// What the core starts from.
#[derive(Debug)]
pub struct StacSetup {
    /// stacd.conf.
    pub config: ServiceConfig,
    /// Host identity (without the key).
    pub host: Host,
    /// The host DH-HMAC-CHAP key (sys.conf / `/etc/nvme/hostkey`), used for every I/O
    /// controller whose `controller=` line has no `dhchap-secret`.
    pub host_key: Option<Secret>,
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
    pub initial_state: StacState,
    /// Write the state file (tests may turn it off).
    pub save_state: bool,
    /// `WATCHDOG=1`, sent from the core's own loop.
    pub watchdog: Watchdog,
}

/// Requests from the daemon's main task.
#[derive(Debug)]
pub enum Control {
    /// SIGHUP: the new stacd.conf; `done` fires once it is applied.
    Reload {
        /// The configuration.
        config: Box<ServiceConfig>,
        /// Acknowledgement.
        done: oneshot::Sender<()>,
    },
    /// SIGTERM/SIGINT: forget every controller (connections kept) and end the task.
    Shutdown,
}

/// Handles on a running core.
#[derive(Debug)]
pub struct StacCore {
    snapshot: watch::Receiver<Snapshot>,
    commands: mpsc::Sender<CoreCommand>,
    control: mpsc::Sender<Control>,
    views: mpsc::Sender<StafdView>,
    task: JoinHandle<Result<(), UeventsUnavailable>>,
}

impl StacCore {
    /// Starts the core on the current tokio runtime: warm-restart controllers are adopted
    /// at once; the first reconcile runs when the first view of stafd arrives.
    #[must_use]
    pub fn spawn(
        kernel: Arc<dyn Kernel>,
        setup: StacSetup,
        uevents: mpsc::Receiver<UeventMsg>,
        on_tron: TronHook,
    ) -> Self {
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ctl_tx, ctl_rx) = mpsc::channel(4);
        let (view_tx, view_rx) = mpsc::channel(VIEW_QUEUE);
        let (state_tx, state_writer) = if setup.save_state {
            let (tx, rx) = watch::channel(setup.initial_state.clone());
            let path = setup.state_path.clone();
            (Some(tx), Some(tokio::spawn(write_state(path, rx))))
        } else {
            (None, None)
        };
        let mut core = Core::new(kernel, setup, input_tx, state_tx, on_tron);
        let snapshot = core.snapshot_tx.subscribe();
        let task = tokio::spawn(async move {
            let r = core
                .run(Rx {
                    input: input_rx,
                    uevents,
                    commands: cmd_rx,
                    control: ctl_rx,
                    views: view_rx,
                })
                .await;
            drop(core);
            if let Some(w) = state_writer {
                let _ = w.await;
            }
            r
        });
        Self {
            snapshot,
            commands: cmd_tx,
            control: ctl_tx,
            views: view_tx,
            task,
        }
    }

    /// The published state.
    #[must_use]
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }

    /// The command sender (for the D-Bus adapter).
    #[must_use]
    pub fn commands(&self) -> mpsc::Sender<CoreCommand> {
        self.commands.clone()
    }

    /// Where the stafd follower sends what it learns.
    #[must_use]
    pub fn stafd_feed(&self) -> mpsc::Sender<StafdView> {
        self.views.clone()
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

    /// Shuts the core down (every connection kept) and waits for it and the state write.
    ///
    /// # Errors
    /// The core had stopped by itself because the uevent source failed or ended (every
    /// connection kept, as always): the daemon must exit non-zero.
    pub async fn shutdown(self) -> Result<(), UeventsUnavailable> {
        let _ = self.control.send(Control::Shutdown).await;
        match self.task.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "core task failed");
                Ok(())
            }
        }
    }
}

async fn write_state(path: PathBuf, mut rx: watch::Receiver<StacState>) {
    while rx.changed().await.is_ok() {
        let state = rx.borrow_and_update().clone();
        let p = path.clone();
        match tokio::task::spawn_blocking(move || save_stac(&p, &state)).await {
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
    views: mpsc::Receiver<StafdView>,
}

/// Messages the core sends itself through spawned tasks.
enum Input {
    /// A kernel operation finished.
    Done {
        id: u64,
        event: Event,
        ctrl: Option<Box<Controller>>,
    },
    /// The kernel refused a connect as a duplicate (EALREADY): here is a fresh scan to find
    /// the existing controller in.
    Duplicate {
        id: u64,
        token: Token,
        scan: Vec<Controller>,
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
    ioc: Ioc,
    /// A source wanted it during this run.
    vouched: bool,
}

struct Core {
    kernel: Arc<dyn Kernel>,
    watchdog: Watchdog,
    cfg: ServiceConfig,
    cfg_generation: u64,
    host: Host,
    host_key: Option<Secret>,
    tron: bool,
    on_tron: TronHook,
    options: SupportedOptions,
    topo: Topology,
    ifaddrs: Vec<IfAddr>,
    state_path: PathBuf,
    iocs: BTreeMap<TransportId, Slot>,
    dying: BTreeMap<u64, Ioc>,
    next_id: u64,
    timers: Wheel<(u64, TimerKind)>,
    debounce: Debouncer<Instant>,
    pass_running: bool,
    pass_again: bool,
    names: NameCache,
    index: Index,
    resolved: BTreeMap<String, Option<IpAddr>>,
    stafd: StafdMemory,
    first_view: Option<Instant>,
    audit_at: Option<Instant>,
    last_dropped: BTreeSet<(TransportId, String)>,
    waiting_logged: usize,
    connects: Arc<Semaphore>,
    input_tx: mpsc::Sender<Input>,
    snapshot_tx: watch::Sender<Snapshot>,
    state_tx: Option<watch::Sender<StacState>>,
    dirty: bool,
    next_publish: Option<Instant>,
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
        setup: StacSetup,
        input_tx: mpsc::Sender<Input>,
        state_tx: Option<watch::Sender<StacState>>,
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
            host_key: setup.host_key,
            tron: setup.tron,
            on_tron,
            options: setup.kernel_options,
            topo: setup.topology,
            ifaddrs: setup.ifaddrs,
            state_path: setup.state_path,
            iocs: BTreeMap::new(),
            dying: BTreeMap::new(),
            next_id: 0,
            timers: Wheel::default(),
            debounce: Debouncer::new(CONF_SOAK),
            pass_running: false,
            pass_again: false,
            names: NameCache::default(),
            index: Index::default(),
            resolved: BTreeMap::new(),
            stafd: StafdMemory::default(),
            first_view: None,
            audit_at: None,
            last_dropped: BTreeSet::new(),
            waiting_logged: 0,
            connects: Arc::new(Semaphore::new(CONNECT_CONCURRENCY)),
            input_tx,
            snapshot_tx,
            state_tx,
            dirty: true,
            next_publish: None,
            shutting_down: false,
        };
        core.warm_restart(setup.initial_state);
        core.publish();
        core
    }

    /// §5.12: a controller of the state file is recreated only when a kernel controller
    /// matches it (it is then adopted when the core starts); nothing is connected.
    fn warm_restart(&mut self, state: StacState) {
        let (cands, _) = stac_reconcile::configured(&self.cfg, &self.tid_defaults());
        for tid in state.iocs {
            if self.iocs.contains_key(&tid) || self.find_existing(&tid).is_none() {
                continue;
            }
            let (cfg, overrides) = cands
                .iter()
                .find(|c| c.tid == tid)
                .map(|c| (c.cfg.clone(), c.overrides.clone()))
                .unwrap_or_default();
            let settings = self.settings_for(&cfg, &overrides);
            let ioc = Ioc::new(tid, strip_secrets(&cfg), settings, None);
            self.insert(ioc, false);
        }
    }

    fn tid_defaults(&self) -> TidDefaults {
        TidDefaults {
            host_nqn: self.host.nqn.clone(),
            ignore_iface: self.cfg.global.ignore_iface,
        }
    }

    fn policy(&self) -> DisconnectPolicy {
        DisconnectPolicy::from_config(&self.cfg)
    }

    /// Settings of one controller: its overrides over `[Global]`; its own DH-HMAC-CHAP
    /// secret, else the host key (DECISIONS.md item 7).
    fn settings_for(&self, cfg: &BTreeMap<String, String>, overrides: &CfgParams) -> IocSettings {
        let secret = |k: &str| {
            cfg.get(k)
                .filter(|v| !v.is_empty())
                .map(|v| Secret::new(v.clone()))
        };
        IocSettings {
            host_id: self.host.id.clone(),
            params: overrides.or(&self.cfg.global.params),
            dhchap_secret: secret("dhchap-secret").or_else(|| self.host_key.clone()),
            dhchap_ctrl_secret: secret("dhchap-ctrl-secret"),
            attempts_on_ncc: self.cfg.stacd.connect_attempts_on_ncc,
        }
    }

    /// Adds a controller to the map (not started).
    fn insert(&mut self, ioc: Ioc, vouched: bool) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.live(id, ioc.tid());
        self.index.set_device(id, ioc.device());
        self.iocs
            .insert(ioc.tid().clone(), Slot { id, ioc, vouched });
        self.dirty = true;
        id
    }

    /// Moves the controller of `tid` from the map to the dying set; its id.
    fn retire(&mut self, tid: &TransportId) -> Option<u64> {
        let slot = self.iocs.remove(tid)?;
        self.index.retire(slot.id);
        self.dying.insert(slot.id, slot.ioc);
        Some(slot.id)
    }

    /// Adds a controller straight to the dying set (an audit's foreign disconnect); its id.
    fn insert_dying(&mut self, ioc: Ioc) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.index.set_device(id, ioc.device());
        self.dying.insert(id, ioc);
        id
    }

    /// Drops dying controller `id` (it let go of its kernel controller).
    fn forget(&mut self, id: u64) {
        self.dying.remove(&id);
        self.index.forget(id);
    }

    fn ioc_mut(&mut self, id: u64) -> Option<&mut Ioc> {
        if let Some(ioc) = self.dying.get_mut(&id) {
            return Some(ioc);
        }
        let tid = self.index.tid(id)?;
        self.iocs
            .get_mut(tid)
            .filter(|s| s.id == id)
            .map(|s| &mut s.ioc)
    }

    fn ioc_ref(&self, id: u64) -> Option<&Ioc> {
        self.dying.get(&id).or_else(|| {
            let tid = self.index.tid(id)?;
            self.iocs.get(tid).filter(|s| s.id == id).map(|s| &s.ioc)
        })
    }

    fn all_iocs(&self) -> impl Iterator<Item = (u64, &Ioc)> {
        self.iocs
            .values()
            .map(|s| (s.id, &s.ioc))
            .chain(self.dying.iter().map(|(id, i)| (*id, i)))
    }

    /// The controller holding `device` (through the index; debug builds check it against a
    /// scan of every controller, so each core test checks the index too).
    fn owner_of(&self, device: &str) -> Option<u64> {
        let found = self
            .index
            .owner(device)
            .filter(|id| self.ioc_ref(*id).and_then(Ioc::device) == Some(device));
        debug_assert_eq!(
            found,
            self.all_iocs()
                .find(|(_, i)| i.device() == Some(device))
                .map(|(id, _)| id),
            "index out of step for {device}"
        );
        found
    }

    fn owned_devices(&self) -> BTreeSet<String> {
        self.all_iocs()
            .filter_map(|(_, i)| i.device().map(str::to_owned))
            .collect()
    }

    /// An existing kernel I/O controller that `tid` can adopt and that no controller of
    /// ours holds; a live one is preferred (the §5.10 rules).
    fn find_existing(&self, tid: &TransportId) -> Option<&Controller> {
        let mut found: Option<&Controller> = None;
        for c in self.topo.iter() {
            // The subsystem NQN must be equal (cheap, checked first: N controllers, N
            // candidates).
            if c.subsysnqn != tid.subsysnqn
                || c.state.is_going_away()
                || !c.is_kind(CtrlKind::Io)
                || !cid_matches_tid(&c.existing_id(), tid, &self.ifaddrs)
                || self.owner_of(&c.device).is_some()
            {
                continue;
            }
            if c.state == CtrlState::Live {
                return Some(c);
            }
            found = found.or(Some(c));
        }
        found
    }

    /// The core's loop until a shutdown, or until the uevent source fails or ends (then
    /// the reason is returned; connections are kept either way).
    async fn run(&mut self, mut rx: Rx) -> Result<(), UeventsUnavailable> {
        let ids: Vec<u64> = self.iocs.values().map(|s| s.id).collect();
        for id in ids {
            self.feed(id, Event::Start);
        }
        self.first_view = Some(Instant::now() + FIRST_VIEW_WAIT);
        let mut commands_open = true;
        let mut views_open = true;
        let mut watchdog = self.watchdog.timer();
        let mut failed = None;
        loop {
            let now = Instant::now();
            let publish_due = self.dirty && self.next_publish.is_none_or(|t| t <= now);
            // A publication held back is a deadline; a due one is the last branch below.
            let deadline = [
                self.timers.next_deadline(),
                self.debounce.deadline(),
                self.first_view,
                self.audit_at,
                self.next_publish.filter(|_| self.dirty && !publish_due),
            ]
            .into_iter()
            .flatten()
            .min();
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
                    Some(Control::Shutdown) | None => break,
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
                v = rx.views.recv(), if views_open => match v {
                    Some(v) => self.on_view(v),
                    None => views_open = false,
                },
                () = sleep_until_opt(deadline) => self.on_deadline(),
                // Only when nothing else is ready: a burst costs one snapshot.
                () = std::future::ready(()), if publish_due => self.publish(),
            }
        }
        self.shutdown(&mut rx).await;
        failed.map_or(Ok(()), Err)
    }

    fn set_tron(&mut self, on: bool) {
        self.tron = on;
        (self.on_tron)(on);
        self.dirty = true;
        tracing::info!(tron = on, "debug logging {}", if on { "on" } else { "off" });
    }

    fn reload(&mut self, cfg: ServiceConfig) {
        tracing::info!("reloading configuration");
        let tron = cfg.global.tron;
        self.cfg = cfg;
        self.cfg_generation += 1;
        self.set_tron(tron);
        let (cands, _) = stac_reconcile::configured(&self.cfg, &self.tid_defaults());
        let updates: Vec<(u64, IocSettings)> = self
            .iocs
            .iter()
            .map(|(tid, s)| {
                let (cfg, o) = cands
                    .iter()
                    .find(|c| &c.tid == tid)
                    .map(|c| (c.cfg.clone(), c.overrides.clone()))
                    .unwrap_or_default();
                (s.id, self.settings_for(&cfg, &o))
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
        if self.first_view.is_some_and(|d| d <= now) {
            self.first_view = None;
            tracing::warn!("no answer about stafd yet; reconciling without its log pages (nothing stafd may want is removed)");
            self.start_pass();
        }
        if self.audit_at.is_some_and(|d| d <= now) {
            self.audit_at = None;
            self.trigger_reconcile();
        }
        if self.debounce.poll(now) {
            self.start_pass();
        }
        self.dirty = true;
    }

    fn on_input(&mut self, i: Input) {
        match i {
            Input::Done { id, event, ctrl } => {
                if let Some(c) = ctrl {
                    self.topo.insert(*c);
                }
                self.feed(id, event);
            }
            Input::Duplicate { id, token, scan } => self.on_duplicate(id, token, scan),
            Input::PassReady {
                generation,
                resolved,
                ifaddrs,
            } => self.finish_pass(generation, resolved, ifaddrs),
        }
    }

    fn on_uevent(&mut self, msg: UeventMsg) {
        self.dirty = true;
        match msg {
            UeventMsg::Resync(topo) => {
                // Uevents were lost: a device gone (or now another controller's) is a
                // `remove`; then a full pass over the re-scanned topology (what was added
                // or removed meanwhile), and the audit after the add soak when it is on.
                self.topo = topo;
                let gone: Vec<u64> = self
                    .all_iocs()
                    .filter(|(_, i)| {
                        i.device().is_some_and(|d| {
                            self.topo.by_name(d).is_none_or(|c| {
                                !cid_matches_tid(&c.existing_id(), i.tid(), &self.ifaddrs)
                            })
                        })
                    })
                    .map(|(id, _)| id)
                    .collect();
                tracing::info!(
                    gone = gone.len(),
                    "uevents were lost: reconciling against the re-read topology"
                );
                for id in gone {
                    self.feed(id, Event::Uevent(NvmeEventKind::Removed));
                }
                self.trigger_reconcile();
                if self.policy().audits() {
                    self.audit_at = Some(Instant::now() + ADD_EVENT_SOAK);
                }
            }
            // Only during a shutdown: the run loop ends on it.
            UeventMsg::Failed(_) => {}
            UeventMsg::Event { event, update } => {
                let dev = event.device.clone();
                let read_in_full = matches!(update, CtrlUpdate::Full(_));
                self.topo.apply_update(event.instance, update);
                let added = (event.kind == NvmeEventKind::Added && read_in_full)
                    .then(|| self.topo.get(event.instance).cloned())
                    .flatten();
                match self.owner_of(&dev) {
                    Some(id) => self.feed(id, Event::Uevent(event.kind)),
                    None => {
                        if let Some(c) = added {
                            self.maybe_audit(&c);
                        }
                    }
                }
            }
        }
    }

    /// A controller appeared that no controller of ours holds: with the audit on, and when
    /// it is not one of our connects in flight, audit 1 s later (nvme-stas's add soak).
    fn maybe_audit(&mut self, c: &Controller) {
        let policy = self.policy();
        if !policy.audits() || !stac_reconcile::is_audited_ioc(c, &policy) {
            return;
        }
        let id = c.existing_id();
        let ours = self
            .iocs
            .keys()
            .any(|t| cid_matches_tid(&id, t, &self.ifaddrs));
        if !ours {
            tracing::debug!(device = %c.device, "new I/O controller not ours: audit in 1 s");
            self.audit_at = Some(Instant::now() + ADD_EVENT_SOAK);
        }
    }

    /// Gives `ev` to controller `id` and performs the actions.
    fn feed(&mut self, id: u64, ev: Event) {
        let Some(ioc) = self.ioc_mut(id) else {
            return;
        };
        let actions = ioc.handle(ev);
        let device = ioc.device().map(str::to_owned);
        self.index.set_device(id, device.as_deref());
        self.dirty = true;
        for a in actions {
            self.perform(id, a);
        }
    }

    async fn shutdown(&mut self, rx: &mut Rx) {
        tracing::info!(
            controllers = self.iocs.len(),
            "stopping; I/O connections are kept"
        );
        self.save_state();
        self.shutting_down = true;
        let tids: Vec<TransportId> = self.iocs.keys().cloned().collect();
        for tid in tids {
            if let Some(id) = self.retire(&tid) {
                self.feed(id, Event::Shutdown);
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
                    tracing::warn!(left = self.dying.len(), "giving up waiting for disconnects under way");
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
