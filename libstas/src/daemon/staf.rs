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

use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::actor::{state_writer, strip_secrets, Actor, Base, CoreBase, CoreHandle, CoreSetup};
use super::resolve::PassInputs;
use crate::config::service::{ConnectParams as CfgParams, ServiceConfig};
use crate::ctrl::dc::{Dc, DcSettings, Event, TimerKind};
use crate::ctrl::reconcile;
use crate::identity::HostIdentity;
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, CtrlState, Kernel, Topology};
use crate::model::snapshot::{AvahiView, CoreCommand, CoreEvent};
use crate::model::trid::TransportId;
use crate::proto::uevent::NvmeEventKind;
use crate::runtime::state::{save_staf, StafState};

use super::nvmecli;
use super::uevents::{UeventMsg, UeventsUnavailable};

/// Capacity of the change-event broadcast.
pub const EVENT_QUEUE: usize = 256;
/// Capacity of the mDNS report channel.
const DISCOVERY_QUEUE: usize = 4;
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
    /// What either core starts from (`initial_state`: stafd's warm-restart DCs).
    pub core: CoreSetup<StafState>,
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

/// Handles on a running core: [`CoreHandle`]'s (snapshot, commands, reload) and the
/// change events.
#[derive(Debug)]
pub struct StafCore {
    handle: CoreHandle<DiscoveryReport>,
    events: broadcast::Sender<CoreEvent>,
}

impl std::ops::Deref for StafCore {
    type Target = CoreHandle<DiscoveryReport>;
    fn deref(&self) -> &Self::Target {
        &self.handle
    }
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
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let (state_tx, writer) = state_writer(
            setup.core.save_state,
            &setup.core.state_path,
            &setup.core.initial_state,
            save_staf,
        );
        let ev = events.clone();
        let handle = CoreHandle::spawn(uevents, DISCOVERY_QUEUE, writer, |input| {
            Core::new(kernel, setup, input, ev, state_tx, on_tron)
        });
        Self { handle, events }
    }

    /// A new subscription to the change events.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<CoreEvent> {
        self.events.subscribe()
    }

    /// Where the mDNS browser sends the full list of reachable controllers it currently
    /// sees (and its state).
    #[must_use]
    pub fn discovery_feed(&self) -> mpsc::Sender<DiscoveryReport> {
        self.handle.feed()
    }

    /// Shuts the core down (keeping or dropping connections per `persistent-connections`)
    /// and waits for it, at most `SHUTDOWN_GRACE` plus the state write.
    ///
    /// # Errors
    /// The core had stopped by itself because the uevent source failed or ended (it kept
    /// every connection then): the daemon must exit non-zero.
    pub async fn shutdown(self) -> Result<(), UeventsUnavailable> {
        self.handle.stop(false).await
    }

    /// Shuts the core down keeping every connection (no deregistration) whatever
    /// `persistent-connections` says: stafd exits to be restarted at once (it lost the bus),
    /// and the next stafd adopts the controllers from the state file and the kernel.
    ///
    /// # Errors
    /// As [`StafCore::shutdown`].
    pub async fn shutdown_keeping_connections(self) -> Result<(), UeventsUnavailable> {
        self.handle.stop(true).await
    }
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
    PassReady(PassInputs),
}

struct Core {
    base: Base<Dc, (), TimerKind, Input, StafState>,
    nvmf_connect: Option<PathBuf>,
    claimed: BTreeMap<u64, String>,
    connected_seen: BTreeSet<String>,
    echo_expected: BTreeSet<String>,
    discovered: Vec<TransportId>,
    avahi: AvahiView,
    events: broadcast::Sender<CoreEvent>,
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
        let (base, state) = Base::new(kernel, setup.core, input_tx, state_tx, on_tron);
        let mut core = Self {
            base,
            nvmf_connect: setup.nvmf_connect,
            claimed: BTreeMap::new(),
            connected_seen: BTreeSet::new(),
            echo_expected: BTreeSet::new(),
            discovered: Vec::new(),
            avahi: AvahiView::default(),
            events,
        };
        core.warm_restart(state);
        core.publish();
        core
    }

    /// The DCs of the state file, with the configuration and per-controller overrides
    /// stafd.conf gives them now (a warm-restart connect uses the same `kato`,
    /// `reconnect-delay`, … as the first one did).
    fn warm_restart(&mut self, state: StafState) {
        let (cands, _) = reconcile::configured(&self.base.cfg, &self.base.tid_defaults());
        for s in state.dcs {
            if self.base.ctrls.live().contains_key(&s.tid) {
                continue;
            }
            let (cfg, overrides) = cands
                .iter()
                .find(|c| c.tid == s.tid)
                .map(|c| (strip_secrets(&c.cfg), c.overrides.clone()))
                .unwrap_or_default();
            let settings = self.settings_for(&overrides);
            let dc = Dc::new(s.tid, cfg, s.origin, settings, s.log_pages);
            self.base.ctrls.insert(dc, ());
        }
    }

    fn settings_for(&self, overrides: &CfgParams) -> DcSettings {
        DcSettings {
            host_id: self.base.host.id.clone(),
            pleo: self.base.cfg.global.pleo,
            params: overrides.or(&self.base.cfg.global.params),
            persistence: self.base.cfg.stafd.zeroconf_persistence,
        }
    }

    fn owned_devices(&self) -> BTreeSet<String> {
        self.base
            .ctrls
            .all()
            .filter_map(|(_, dc)| dc.device().map(str::to_owned))
            .chain(self.claimed.values().cloned())
            .collect()
    }

    /// Uevents were lost: `topo` is the re-scanned topology. What the lost events would
    /// have told each controller is worked out from it: a device gone (or now another
    /// controller's) is a `remove`; a live one re-reads its log (a lost AEN leaves the
    /// controller's AEN masked until the log is read), or resyncs when it reconnected
    /// meanwhile (new controller ID, or not live before). A controller not connected
    /// finds a matching kernel controller at its next connect (adoption).
    fn on_resync(&mut self, topo: Topology) {
        let old = std::mem::replace(&mut self.base.topo, topo);
        // A `connected` echo expected may have been lost: a later one is a reconnect.
        self.echo_expected.clear();
        let topo = &self.base.topo;
        self.connected_seen.retain(|d| topo.by_name(d).is_some());
        let todo: Vec<(u64, Event)> = self
            .base
            .ctrls
            .all()
            .filter_map(|(id, dc)| {
                let dev = dc.device()?;
                let ev = match self.base.topo.by_name(dev) {
                    Some(c) if cid_matches_tid(&c.existing_id(), dc.tid(), &self.base.ifaddrs) => {
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
        let Some(dc) = self.base.ctrls.get_mut(id) else {
            return;
        };
        let actions = dc.handle(ev, SystemTime::now());
        let device = dc.device().map(str::to_owned);
        self.base.ctrls.set_device(id, device.as_deref());
        for a in actions {
            self.perform(id, a);
        }
    }
}

impl Actor for Core {
    type Machine = Dc;
    type Extra = ();
    type Timer = TimerKind;
    type State = StafState;
    type Input = Input;
    type Feed = DiscoveryReport;
    const SHUTDOWN_GRACE: Duration = SHUTDOWN_GRACE;
    const GRACE_EXPIRED: &'static str = "giving up waiting for controllers to disconnect";

    fn base(&self) -> &CoreBase<Self> {
        &self.base
    }

    fn base_mut(&mut self) -> &mut CoreBase<Self> {
        &mut self.base
    }

    fn names_to_resolve(&self) -> BTreeSet<String> {
        let (cands, _) = reconcile::configured(&self.base.cfg, &self.base.tid_defaults());
        reconcile::names_to_resolve(&cands, &self.base.cfg.excludes)
    }

    fn reconcile(&mut self, resolved: BTreeMap<String, Option<IpAddr>>) {
        self.apply_reconcile(&resolved);
    }

    fn pass_ready(inputs: PassInputs) -> Input {
        Input::PassReady(inputs)
    }

    fn start(&mut self) {
        let ids: Vec<u64> = self.base.ctrls.live().values().map(|s| s.id).collect();
        for id in ids {
            self.feed(id, Event::Start);
        }
        self.trigger_reconcile();
        self.publish();
    }

    fn reload(&mut self, cfg: ServiceConfig) {
        let tron = self.take_config(cfg);
        self.base.set_tron(tron);
        let (cands, _) = reconcile::configured(&self.base.cfg, &self.base.tid_defaults());
        let updates: Vec<(u64, DcSettings)> = self
            .base
            .ctrls
            .live()
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

    fn on_input(&mut self, i: Input) {
        match i {
            Input::Done { id, event, ctrl } => {
                self.claimed.remove(&id);
                if let Some(c) = ctrl {
                    self.base.topo.insert(*c);
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
            Input::PassReady(inputs) => self.finish_pass(inputs),
        }
    }

    fn on_uevent(&mut self, msg: UeventMsg) {
        match msg {
            UeventMsg::Resync(topo) => self.on_resync(topo),
            // Only during a shutdown: the run loop ends on it.
            UeventMsg::Failed(_) => {}
            UeventMsg::Event { event, update } => {
                let dev = event.device.clone();
                self.base.topo.apply_update(event.instance, update);
                if event.kind == NvmeEventKind::Removed {
                    self.connected_seen.remove(&dev);
                    self.echo_expected.remove(&dev);
                }
                let owner = self.base.ctrls.owner_of(&dev);
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
                        && self.base.topo.by_name(&dev).is_some_and(Controller::is_dc)
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

    fn on_command(&mut self, command: CoreCommand) {
        match command {
            CoreCommand::SetTron(on) => self.base.set_tron(on),
        }
    }

    fn on_feed(&mut self, report: DiscoveryReport) {
        self.avahi = report.avahi;
        if report.dcs != self.discovered {
            self.discovered = report.dcs;
            self.trigger_reconcile();
        }
    }

    fn deadline(&self, _publish_due: bool) -> Option<Instant> {
        match (
            self.base.timers.next_deadline(),
            self.base.debounce.deadline(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        for (id, kind) in self.base.timers.expire(now) {
            self.feed(id, Event::TimerFired(kind));
        }
        if self.base.debounce.poll(now) {
            self.start_pass();
        }
    }

    fn publish(&mut self) {
        Core::publish(self);
    }

    /// stafd publishes after every message (a snapshot of a few DCs is cheap).
    fn settle(&mut self) {
        Core::publish(self);
    }

    /// Keeps or drops the connections per `persistent-connections` (`keep_all`: keeps
    /// them whatever it says).
    fn begin_shutdown(&mut self, keep_all: bool) {
        let keep = keep_all || self.base.cfg.stafd.persistent_connections;
        tracing::info!(keep_connections = keep, "stopping");
        self.save_state();
        self.base.shutting_down = true;
        let tids: Vec<TransportId> = self.base.ctrls.live().keys().cloned().collect();
        for tid in tids {
            if let Some(id) = self.base.ctrls.retire(&tid) {
                self.feed(id, Event::Shutdown { keep });
            }
        }
        Core::publish(self);
    }
}

mod ops;
mod pass;
mod view;

#[cfg(test)]
mod tests;
