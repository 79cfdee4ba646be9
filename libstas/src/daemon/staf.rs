//! The stafd core: the [`Actor`] that owns every discovery controller ([`Dc`] state
//! machines) and what mDNS reports, on the one skeleton of [`super::actor`] (the task,
//! channels, topology, timers, debouncer, table and state writer).
//!
//! Every [`crate::kernel::Kernel`] call runs on a blocking thread (a connect can block for
//! a minute under a kernel mutex); the core itself never blocks. Its only wake-ups are messages and the next
//! timer deadline: nothing polls. The topology is updated from uevents (the uevent thread
//! reads what the event changed about the one controller concerned) and from connect
//! results, never rescanned. It follows discovery controllers only: once the kernel names a
//! controller an I/O controller (`cntrltype`), the uevent thread leaves it out
//! ([`super::uevents::Follow::Discovery`]).
//!
//! A matching existing kernel controller is adopted instead of connecting (nvme-stas §5.10),
//! so a restarted stafd takes over its persistent connections without creating new ones.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::actor::{base_in_field, strip_secrets, Actor, Base, CoreBase, CoreHandle};
use crate::config::controller::CtrlDict;
use crate::config::service::{ConnectParams as CfgParams, Layout, Persistence, Persistent};
use crate::ctrl::dc::{Action, Dc, DcSettings, Event, TimerKind};
use crate::ctrl::reconcile;
use crate::fsutil::FsError;
use crate::identity::HostIdentity;
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, CtrlState, Topology};
use crate::model::snapshot::{AvahiView, CoreEvent, CtrlView, DcPart, Origin, UnresponsiveView};
use crate::model::trid::TransportId;
use crate::proto::uevent::NvmeEventKind;
use crate::runtime::state::{save_staf, StafState, StafStateDc};

use super::nvmecli;
use super::uevents::UeventMsg;

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

/// What stafd's core starts from beside its [`super::actor::CoreSetup`].
#[derive(Debug)]
pub struct StafOwn {
    /// `systemctl`, to start `nvmf-connect` for discovery controllers stafd does not
    /// manage (nvme-cli interop, §5.14). Set by `serve` once the udev rule's shadow is in
    /// place, after the bus name is owned; unset, nvme-cli's own rule does it.
    pub nvmf_connect: Arc<OnceLock<PathBuf>>,
    /// Where the change events go.
    pub events: broadcast::Sender<CoreEvent>,
    /// The discovery controllers of the firmware's NBFT (added in the 2.x layout).
    pub nbft_dcs: Vec<CtrlDict>,
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

/// Handles on a running core ([`CoreHandle`]: snapshot, commands, the mDNS feed, reload,
/// stop: keeping or dropping connections per `persistent-connections`, or keeping every
/// one whatever it says when told to, for an exit to be restarted at once).
pub type StafCore = CoreHandle<DiscoveryReport>;

/// The stafd core (started by [`CoreHandle::start`]): the warm-restart controllers start
/// at once, then the first reconcile runs.
pub(crate) struct Core {
    base: Base<Dc, (), Infallible, StafState>,
    nvmf_connect: Arc<OnceLock<PathBuf>>,
    claimed: BTreeMap<u64, String>,
    connected_seen: BTreeSet<String>,
    echo_expected: BTreeSet<String>,
    discovered: Vec<TransportId>,
    avahi: AvahiView,
    events: broadcast::Sender<CoreEvent>,
    nbft_dcs: Vec<CtrlDict>,
}

impl Core {
    /// The configured DCs and, in the 2.x layout, the NBFT's (DECISIONS.md item 20; the
    /// 3.x layout leaves the firmware's DCs alone, as nvme-stas 3.x does), with the entries
    /// dropped.
    pub(super) fn wanted_by_config(
        &self,
    ) -> (
        Vec<reconcile::Candidate>,
        Vec<(TransportId, reconcile::DropReason)>,
    ) {
        let defaults = self.base.tid_defaults();
        let (mut ok, mut dropped) = reconcile::configured(&self.base.cfg, &defaults);
        if self.base.cfg.layout == Layout::Stas2 {
            let (n, d) = reconcile::nbft(&self.nbft_dcs, &defaults);
            ok.extend(n);
            dropped.extend(d);
        }
        (ok, dropped)
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
}

impl Actor for Core {
    type Machine = Dc;
    type Extra = ();
    type State = StafState;
    type OwnInput = Infallible;
    type Feed = DiscoveryReport;
    type Candidate = reconcile::Candidate;
    type Own = StafOwn;
    const FEED_QUEUE: usize = DISCOVERY_QUEUE;
    const SHUTDOWN_GRACE: Duration = SHUTDOWN_GRACE;
    const GRACE_EXPIRED: &'static str = "giving up waiting for controllers to disconnect";
    const SAVE: fn(&Path, &StafState) -> Result<(), FsError> = save_staf;

    fn new(
        base: CoreBase<Self>,
        StafOwn {
            nvmf_connect,
            events,
            nbft_dcs,
        }: StafOwn,
    ) -> Self {
        Self {
            base,
            nvmf_connect,
            nbft_dcs,
            claimed: BTreeMap::new(),
            connected_seen: BTreeSet::new(),
            echo_expected: BTreeSet::new(),
            discovered: Vec::new(),
            avahi: AvahiView::default(),
            events,
        }
    }

    /// The DCs of the state file, with the configuration and per-controller overrides
    /// stafd.conf gives them now (a warm-restart connect uses the same `kato`,
    /// `reconnect-delay`, … as the first one did).
    fn warm_restart(&mut self, state: StafState) {
        let configured = self.configured_by_tid();
        for s in state.dcs {
            if self.base.ctrls.live().contains_key(&s.tid) {
                continue;
            }
            let (cfg, overrides) = configured.get(&s.tid).cloned().unwrap_or_default();
            let settings = self.settings_for(&cfg, &overrides);
            let dc = Dc::new(s.tid, strip_secrets(&cfg), s.origin, settings, s.log_pages);
            self.base.ctrls.insert(dc, ());
        }
    }

    base_in_field!();

    fn configured(&self) -> Vec<reconcile::Candidate> {
        self.wanted_by_config().0
    }

    /// A DC's keys: its overrides and its own `persistent=` (an invalid one is ignored).
    fn settings_for(&self, cfg: &BTreeMap<String, String>, o: &CfgParams) -> DcSettings {
        let stafd = &self.base.cfg.stafd;
        let persistent = cfg.get("persistent").and_then(|v| Persistent::parse(v));
        // 2.x, like libnvme 1.x, sends discovery controllers no DH-HMAC-CHAP secret.
        let stas3 = self.base.cfg.layout == Layout::Stas3;
        let secret = |k: &str| self.base.secret_for(cfg, o, k).flatten().filter(|_| stas3);
        // An NBFT DC connects with the firmware's host ID when it has the firmware's NQN.
        let nbft_id = (cfg.get("host-id"))
            .filter(|_| self.nbft_dcs.iter().any(|d| d.cfg() == *cfg))
            .cloned();
        DcSettings {
            host_id: nbft_id.unwrap_or_else(|| self.base.host_id_for(cfg, o)),
            pleo: self.base.cfg.global.pleo,
            params: o.or(&self.base.cfg.global.params),
            persistence: stafd.zeroconf_persistence,
            persistent: persistent.unwrap_or(stafd.persistent),
            epcsd_poll: stafd.epcsd_poll,
            dhchap_secret: secret("dhchap-secret"),
            dhchap_ctrl_secret: secret("dhchap-ctrl-secret"),
            kernel_tls: self.base.options.tls(),
        }
    }

    fn reconcile(&mut self, resolved: BTreeMap<String, Option<IpAddr>>) {
        self.apply_reconcile(&resolved);
    }

    fn start(&mut self) {
        self.feed_live(|_, _| Event::Start);
        self.trigger_reconcile();
        self.publish();
    }

    fn on_done(&mut self, id: u64, event: Event) {
        self.claimed.remove(&id);
        if let Event::ConnectDone { device, .. } = &event {
            // The kernel sends `connected` while creating the controller: if it has not
            // arrived yet, it is the echo of our own connect, not a reconnect.
            if !self.connected_seen.remove(device) {
                self.echo_expected.insert(device.clone());
            }
        }
        self.feed(id, event);
    }

    fn on_own_input(&mut self, never: Infallible) {
        match never {}
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
                } else if let Some(systemctl) = self.nvmf_connect.get() {
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

    fn on_feed(&mut self, report: DiscoveryReport) {
        self.avahi = report.avahi;
        if report.dcs != self.discovered {
            self.discovered = report.dcs;
            self.trigger_reconcile();
        }
    }

    fn perform(&mut self, id: u64, action: Action) {
        self.run_action(id, action);
    }

    fn publish(&mut self) {
        self.base.send_snapshot(self.build_snapshot());
    }

    /// stafd publishes after every message (a snapshot of a few DCs is cheap).
    fn settle(&mut self) {
        self.publish();
    }

    /// Keeps or drops the connections per `persistent-connections` (`keep_all`: keeps
    /// them whatever it says).
    fn begin_shutdown(&mut self, keep_all: bool) {
        let keep = keep_all || self.base.cfg.stafd.persistent_connections;
        tracing::info!(keep_connections = keep, "stopping");
        self.retire_all(|| Event::Shutdown { keep });
    }

    fn state(&self) -> StafState {
        StafState {
            dcs: (self.base.ctrls.live().values())
                .map(|s| StafStateDc {
                    tid: s.ctrl.tid().clone(),
                    origin: s.ctrl.origin(),
                    log_pages: s.ctrl.log_pages().to_vec(),
                })
                .collect(),
            ..StafState::default()
        }
    }

    fn view(&self, dc: &Dc, id: u64, now: Instant) -> CtrlView {
        let rem = |k: TimerKind| self.base.timers.remaining(&(id, k), now);
        let (attrs, connected) = self.base.kernel_view(dc.device());
        let unresponsive = (dc.origin() == Origin::Discovered).then(|| UnresponsiveView {
            timeout: match dc.settings().persistence {
                Persistence::For(d) => Some(d),
                Persistence::Forever => None,
            },
            since: dc.lost_since(),
            timer: dc.timer_view(TimerKind::Aging, rem(TimerKind::Aging)),
        });
        CtrlView {
            tid: dc.tid().clone(),
            cfg: strip_secrets(dc.cfg()),
            device: dc.device().map(str::to_owned),
            connected,
            connect_attempts: dc.connect_attempts(),
            retry_connect_timer: dc
                .timer_view(TimerKind::ConnectRetry, rem(TimerKind::ConnectRetry)),
            connect_op: dc.connect_view(rem(TimerKind::ConnectRetry)),
            attrs,
            dc: Some(DcPart {
                origin: dc.origin(),
                unresponsive,
                register_op: dc.register_view(rem(TimerKind::RegisterRetry)),
                supported_op: dc.supported_view(rem(TimerKind::SupportedRetry)),
                get_log_op: dc.get_log_view(rem(TimerKind::GetLogRetry)),
                log_pages: Arc::clone(dc.log_pages()),
                parked: dc.parked(),
            }),
            ioc: None,
        }
    }

    fn avahi(&self) -> Option<AvahiView> {
        Some(self.avahi.clone())
    }
}

mod ops;
mod pass;

#[cfg(test)]
mod tests;
