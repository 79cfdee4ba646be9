//! The stacd core: the [`Actor`] that owns every I/O controller ([`Ioc`] state machines)
//! and stacd's memory of stafd's log pages, on the one skeleton of [`super::actor`] (the
//! task, channels, topology, timers, debouncer, table and state writer).
//!
//! Every [`crate::kernel::Kernel`] call runs on a blocking thread; the core never blocks.
//! Connects of many controllers are all issued at once, without any delay of ours: they queue
//! for the core's [`super::actor::FABRICS_WRITERS`] permits (the kernel serializes them under
//! its own mutex anyway) and each runs on a blocking thread. The core wakes only on a message or the next deadline.
//! Its topology leaves discovery controllers out ([`super::uevents::Follow::Io`]).
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
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::actor::{base_in_field, may_take, strip_secrets, Actor, Base, CoreBase, CoreHandle};
use crate::config::service::ConnectParams as CfgParams;
use crate::ctrl::ioc::{Action, Event, Ioc, IocSettings, TimerKind, Token};
use crate::ctrl::stac_reconcile::{self, DisconnectPolicy, StafdMemory, StafdView};
use crate::fsutil::FsError;
use crate::identity::Secret;
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, CtrlKind, CtrlState, CtrlUpdate, OWNER_NBFT, OWNER_STAS};
use crate::model::snapshot::{CtrlView, IocPart, TimerView};
use crate::model::trid::TransportId;
use crate::proto::uevent::NvmeEventKind;
use crate::runtime::state::{save_stac, StacState};

use super::uevents::UeventMsg;

/// Capacity of the stafd view channel.
pub const VIEW_QUEUE: usize = 16;
/// How long the first pass waits for the first answer about stafd.
pub const FIRST_VIEW_WAIT: Duration = Duration::from_secs(3);
/// nvme-stas's "add" uevent soak: the audit runs this long after a foreign controller
/// appears (sysfs settles).
pub const ADD_EVENT_SOAK: Duration = Duration::from_secs(1);
/// How long a shutdown waits for disconnects already under way.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Shortest time between two snapshots while changes keep coming (the first change after
/// a quiet period is published at once).
pub const PUBLISH_MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Publishing may take at most one part in this many of the time: a snapshot of many
/// controllers costs more, so bursts publish less often (never more than
/// `PUBLISH_MIN_INTERVAL` late for small ones).
pub const PUBLISH_COST_RATIO: u32 = 50;

/// Handles on a running core ([`CoreHandle`]: snapshot, commands, the feed of stafd's
/// views, reload, stop). A stop keeps every connection, whatever it is told.
pub type StacCore = CoreHandle<StafdView>;

/// What stacd's own tasks send its core.
pub(crate) enum StacInput {
    /// The kernel refused a connect as a duplicate (EALREADY): here is a fresh scan to
    /// find the existing controller in.
    Duplicate {
        id: u64,
        token: Token,
        scan: Vec<Controller>,
    },
    /// Controller `id` adopted `device`, and the registry says `owner` holds it.
    Claimed {
        id: u64,
        device: String,
        owner: String,
    },
}

/// The stacd core (started by [`CoreHandle::start`] with the host DH-HMAC-CHAP key, used
/// for every I/O controller whose `controller=` line has no `dhchap-secret`): warm-restart
/// controllers are adopted at once; the first reconcile runs when the first view of stafd
/// arrives.
pub(crate) struct Core {
    /// The controllers' slot `extra` says a source wanted it during this run.
    base: Base<Ioc, bool, StacInput, StacState>,
    host_key: Option<Secret>,
    resolved: BTreeMap<String, Option<IpAddr>>,
    stafd: StafdMemory,
    first_view: Option<Instant>,
    audit_at: Option<Instant>,
    waiting_logged: usize,
    dirty: bool,
    next_publish: Option<Instant>,
}

impl Core {
    fn policy(&self) -> DisconnectPolicy {
        DisconnectPolicy::from_config(&self.base.cfg)
    }

    fn owned_devices(&self) -> BTreeSet<String> {
        self.base
            .ctrls
            .all()
            .filter_map(|(_, i)| i.device().map(str::to_owned))
            .collect()
    }

    /// An existing kernel I/O controller that `tid` can adopt and that no controller of
    /// ours holds; a live one is preferred (the §5.10 rules).
    fn find_existing(&self, tid: &TransportId) -> Option<&Controller> {
        let mut found: Option<&Controller> = None;
        for c in self.base.topo.iter() {
            // The subsystem NQN must be equal (cheap, checked first: N controllers, N
            // candidates).
            if c.subsysnqn != tid.subsysnqn
                || c.state.is_going_away()
                || !may_take(c.owner.as_deref())
                || !c.is_kind(CtrlKind::Io)
                || !cid_matches_tid(&c.existing_id(), tid, &self.base.ifaddrs)
                || self.base.ctrls.owner_of(&c.device).is_some()
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

    /// A controller appeared that no controller of ours holds: with the audit on, and when
    /// it is not one of our connects in flight, audit 1 s later (nvme-stas's add soak).
    fn maybe_audit(&mut self, c: &Controller) {
        let policy = self.policy();
        if !policy.audits() || !stac_reconcile::is_audited_ioc(c, &policy) {
            return;
        }
        let id = c.existing_id();
        let ours = self
            .base
            .ctrls
            .live()
            .keys()
            .any(|t| cid_matches_tid(&id, t, &self.base.ifaddrs));
        if !ours {
            tracing::debug!(device = %c.device, "new I/O controller not ours: audit in 1 s");
            self.audit_at = Some(Instant::now() + ADD_EVENT_SOAK);
        }
    }

    /// A connect that returns after another controller took its kernel controller: the
    /// controller was removed while its connect blocked in the kernel, re-added (same
    /// transport id) meanwhile, and the new one adopted what the old connect created. The
    /// device is the new one's: to the old one the connect failed, so it lets go without
    /// deleting it (seen in the uevent-storm scenario: the old one deleted it, and the new
    /// one, no longer told about its device, stayed "connected" to nothing). The same
    /// once stacd is stopping: the new one may have let go keeping it, and every
    /// connection is kept at exit (§5.13).
    fn unless_taken(&self, id: u64, event: Event) -> Event {
        match event {
            Event::ConnectDone { token, device }
                if self.base.shutting_down
                    || self.base.ctrls.owner_of(&device).is_some_and(|o| o != id) =>
            {
                tracing::info!(%device, "connect finished late: the controller is another's, or kept at exit");
                Event::ConnectFailed {
                    token,
                    error: format!("{device} was adopted by another controller or kept at exit"),
                    permanent: false,
                }
            }
            e => e,
        }
    }
}

impl Actor for Core {
    type Machine = Ioc;
    type Extra = bool;
    type State = StacState;
    type OwnInput = StacInput;
    type Feed = StafdView;
    type Candidate = stac_reconcile::IocCandidate;
    type Own = Option<Secret>;
    const FEED_QUEUE: usize = VIEW_QUEUE;
    const SHUTDOWN_GRACE: Duration = SHUTDOWN_GRACE;
    const GRACE_EXPIRED: &'static str = "giving up waiting for disconnects under way";
    const SAVE: fn(&Path, &StacState) -> Result<(), FsError> = save_stac;

    fn new(base: CoreBase<Self>, host_key: Option<Secret>) -> Self {
        Self {
            base,
            host_key,
            resolved: BTreeMap::new(),
            stafd: StafdMemory::default(),
            first_view: None,
            audit_at: None,
            waiting_logged: 0,
            dirty: true,
            next_publish: None,
        }
    }

    /// §5.12: a controller of the state file is recreated only when a kernel controller
    /// matches it (it is then adopted when the core starts); nothing is connected.
    fn warm_restart(&mut self, state: StacState) {
        let configured = self.configured_by_tid();
        // And what the registry names stas's, in the state file or not (nvme-stas 3.x's
        // startup rule; another owner's is never taken: see `find_existing`).
        let registered: Vec<TransportId> = (self.base.topo.iter())
            .filter(|c| c.owner.as_deref() == Some(OWNER_STAS) && c.is_kind(CtrlKind::Io))
            .map(stac_reconcile::tid_of)
            .collect();
        for tid in state.iocs.into_iter().chain(registered) {
            if self.base.ctrls.live().contains_key(&tid) || self.find_existing(&tid).is_none() {
                continue;
            }
            let (cfg, overrides) = configured.get(&tid).cloned().unwrap_or_default();
            let settings = self.settings_for(&cfg, &overrides);
            let ioc = Ioc::new(tid, strip_secrets(&cfg), settings, None);
            self.base.ctrls.insert(ioc, false);
        }
    }

    base_in_field!();

    fn configured(&self) -> Vec<stac_reconcile::IocCandidate> {
        stac_reconcile::configured(&self.base.cfg, &self.base.tid_defaults()).0
    }

    /// Settings of one controller: its overrides over `[Global]`; its own DH-HMAC-CHAP
    /// secret, else the host key (DECISIONS.md item 7).
    fn settings_for(&self, cfg: &BTreeMap<String, String>, o: &CfgParams) -> IocSettings {
        // A configured 3.x controller carries its resolved secrets (an empty one is a
        // reset); any other takes the 3.x main scope's, then the 2.x host key.
        let secret = |k: &str| self.base.secret_for(cfg, o, k);
        let host_key = (!o.sealed).then(|| self.host_key.clone()).flatten();
        IocSettings {
            host_id: self.base.host_id_for(cfg, o),
            params: o.or(&self.base.cfg.global.params),
            dhchap_secret: secret("dhchap-secret").unwrap_or(host_key),
            dhchap_ctrl_secret: secret("dhchap-ctrl-secret").flatten(),
            attempts_on_ncc: self.base.cfg.stacd.connect_attempts_on_ncc,
            kernel_tls: self.base.options.tls(),
        }
    }

    fn reconcile(&mut self, resolved: BTreeMap<String, Option<IpAddr>>) {
        self.resolved = resolved;
        self.apply_reconcile();
    }

    fn start(&mut self) {
        self.feed_live(|_, _| Event::Start);
        self.first_view = Some(Instant::now() + FIRST_VIEW_WAIT);
    }

    fn on_done(&mut self, id: u64, event: Event) {
        let event = self.unless_taken(id, event);
        self.feed(id, event);
    }

    fn on_own_input(&mut self, input: StacInput) {
        match input {
            StacInput::Duplicate { id, token, scan } => self.on_duplicate(id, token, scan),
            StacInput::Claimed { id, device, owner } => self.on_claimed(id, &device, owner),
        }
    }

    fn on_uevent(&mut self, msg: UeventMsg) {
        self.dirty = true;
        match msg {
            UeventMsg::Resync(topo) => {
                // Uevents were lost: a device gone (or now another controller's) is a
                // `remove`; then a full pass over the re-scanned topology (what was added
                // or removed meanwhile), and the audit after the add soak when it is on.
                self.base.topo = topo;
                let gone: Vec<u64> = self
                    .base
                    .ctrls
                    .all()
                    .filter(|(_, i)| {
                        i.device().is_some_and(|d| {
                            self.base.topo.by_name(d).is_none_or(|c| {
                                !cid_matches_tid(&c.existing_id(), i.tid(), &self.base.ifaddrs)
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
                self.base.topo.apply_update(event.instance, update);
                let added = (event.kind == NvmeEventKind::Added && read_in_full)
                    .then(|| self.base.topo.get(event.instance).cloned())
                    .flatten();
                match self.base.ctrls.owner_of(&dev) {
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

    fn on_feed(&mut self, view: StafdView) {
        self.on_view(view);
    }

    /// The first-view wait, the audit, and a publication held back.
    fn own_deadline(&self, publish_due: bool) -> Option<Instant> {
        [
            self.first_view,
            self.audit_at,
            self.next_publish.filter(|_| self.dirty && !publish_due),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_own_deadline(&mut self, now: Instant) {
        if self.first_view.is_some_and(|d| d <= now) {
            self.first_view = None;
            tracing::warn!("no answer about stafd yet; reconciling without its log pages (nothing stafd may want is removed)");
            self.start_pass();
        }
        if self.audit_at.is_some_and(|d| d <= now) {
            self.audit_at = None;
            self.trigger_reconcile();
        }
    }

    fn touch(&mut self) {
        self.dirty = true;
    }

    fn may_reconcile(&self) -> bool {
        self.first_view.is_none()
    }

    fn perform(&mut self, id: u64, action: Action) {
        self.run_action(id, action);
    }

    /// Publishes the state when it changed, and sets when the next publication may be
    /// (see [`PUBLISH_COST_RATIO`]).
    fn publish(&mut self) {
        self.dirty = false;
        let started = std::time::Instant::now();
        self.base.send_snapshot(self.build_snapshot());
        let cost = started.elapsed() * PUBLISH_COST_RATIO;
        self.next_publish = Some(Instant::now() + cost.max(PUBLISH_MIN_INTERVAL));
    }

    fn state(&self) -> StacState {
        StacState {
            iocs: self.base.ctrls.live().keys().cloned().collect(),
            ..StacState::default()
        }
    }

    fn view(&self, ioc: &Ioc, id: u64, now: Instant) -> CtrlView {
        let rem = (self.base.timers).remaining(&(id, TimerKind::ConnectRetry), now);
        let (attrs, connected) = self.base.kernel_view(ioc.device());
        CtrlView {
            tid: ioc.tid().clone(),
            cfg: ioc.cfg().clone(),
            device: ioc.device().map(str::to_owned),
            connected,
            connect_attempts: ioc.connect_attempts(),
            retry_connect_timer: ioc.timer_view(rem),
            connect_op: ioc.connect_view(rem),
            attrs,
            dc: None,
            ioc: Some(IocPart {
                dlpe: ioc.dlpe_shared().cloned(),
            }),
        }
    }

    /// The firmware's boot controllers (owner `nbft`, from the registry or the NBFT): stacd
    /// never connects, claims or disconnects them, and shows them (DECISIONS.md item 20).
    fn unmanaged_views(&self) -> Vec<CtrlView> {
        (self.base.topo.iter())
            .filter(|c| c.is_kind(CtrlKind::Io) && c.owner.as_deref() == Some(OWNER_NBFT))
            .filter(|c| self.base.ctrls.owner_of(&c.device).is_none())
            .map(|c| {
                let (attrs, connected) = self.base.kernel_view(Some(&c.device));
                CtrlView {
                    tid: stac_reconcile::tid_of(c),
                    cfg: BTreeMap::new(),
                    device: Some(c.device.clone()),
                    connected,
                    connect_attempts: 0,
                    retry_connect_timer: TimerView::default(),
                    connect_op: None,
                    attrs,
                    dc: None,
                    ioc: Some(IocPart { dlpe: None }),
                }
            })
            .collect()
    }

    /// stacd publishes when nothing else is ready: a burst of a thousand controllers'
    /// events costs one snapshot.
    fn publish_due(&self) -> bool {
        self.dirty && self.next_publish.is_none_or(|t| t <= Instant::now())
    }

    /// Every connection is kept (§5.13), whatever `keep_all` says.
    fn begin_shutdown(&mut self, _keep_all: bool) {
        tracing::info!(
            controllers = self.base.ctrls.live().len(),
            "stopping; I/O connections are kept"
        );
        self.retire_all(|| Event::Shutdown);
    }
}

mod ops;
mod pass;

#[cfg(test)]
mod tests;
