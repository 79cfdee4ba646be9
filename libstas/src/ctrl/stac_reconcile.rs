//! stacd's reconcile step (nvme-stas `Stac._config_ctrls_finish`, nvme-stas-behaviour.md
//! §5.9–5.11) as pure functions: which I/O controllers are wanted, which running ones to
//! add, to disconnect, to forget, or to keep while stafd's answer is not known, and which
//! foreign kernel connections the audit of `all-connections-matching-disconnect-trtypes`
//! disconnects.
//!
//! Sources:
//! - stacd.conf's `controller=` entries ([`configured`]): transport, traddr (not for loop)
//!   and subsystem NQN are mandatory; FC and loop entries are kept (DECISIONS.md item 4);
//! - stafd's discovery log pages ([`StafdMemory`]): entries of subtype `nvme`, turned into
//!   identities that inherit the discovery controller's host-traddr, host-iface and host NQN
//!   (§4); entries whose strings could not reach `/dev/nvme-fabrics` safely are dropped
//!   with a reason (DECISIONS.md item 14).
//!
//! Exclusions and the address filter (`ip-family`) apply to both. A running controller that
//! an exclusion or the address filter drops is removed whatever stafd says.
//!
//! **stafd unreachable is not "no log pages"** (DECISIONS.md item 8). [`StafdMemory`]
//! remembers the entries of every discovery controller it has seen read. While stafd is
//! unreachable (name without owner, failed call, restarting) its last entries stay wanted
//! and nothing else is removed either; when stafd answers but has not read a controller's
//! log yet (it restarted without its cache), stacd keeps using the entries it remembers for
//! that controller, and a controller stafd does not list (yet) is forgotten only when stafd
//! signalled `dc_removed`. Only a controller stacd never saw read leaves a gap: then
//! connections that no source vouched for during this run (adopted at a warm restart, or
//! foreign ones the audit found) and whose host fields match that controller's are kept
//! until it is read.
//!
//! Disposal of a controller that is no longer wanted follows the §5.9 table
//! ([`DisconnectPolicy::disposal`]): `only-stas-connections` disconnects,
//! `no-disconnect` only forgets, `all-connections-matching-disconnect-trtypes` disconnects
//! the transports of `disconnect-trtypes` and forgets the others.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::controller::Redacted;
use crate::config::service::{ConnectParams as CfgParams, DisconnectScope, ServiceConfig};
use crate::kernel::matching::cid_matches_tid;
use crate::kernel::{Controller, IfAddr, OWNER_STAS};
use crate::model::filter::{AddressProblem, IpFamily};
use crate::model::snapshot::DlpeDict;
use crate::model::trid::{TidDefaults, Transport, TransportId, WELL_KNOWN_DISC_NQN};
use crate::proto::identify::CntrlType;
use crate::proto::validate::{
    check_nqn, check_port, check_value, ValueError, MAX_IFACE_LEN, MAX_TRADDR_LEN,
};

use super::reconcile::{resolve_configured, select, shared_rules, to_add, unwanted, Screen};

/// The `info()` key under which stafd shows its discovery log read.
const GET_LOG_OP_KEY: &str = "get log page operation";

/// One discovery controller of stafd with its log page entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcLog {
    /// The discovery controller.
    pub dc: TransportId,
    /// Its entries; `None` while stafd has not read its log yet (no cached entries and no
    /// successful read: an empty list would mean "nothing", which is not known).
    pub entries: Option<Vec<DlpeDict>>,
}

impl DcLog {
    /// From one element of `get_all_log_pages(true)`: the controller's `details()`
    /// dictionary and its entries. The log counts as read when there are entries or when
    /// stafd's `get log page operation` completed successfully.
    #[must_use]
    pub fn from_wire(dc: &BTreeMap<String, String>, pages: Vec<DlpeDict>) -> Self {
        let tid = TransportId::from_cid(dc, &TidDefaults::default());
        let read = !pages.is_empty()
            || dc
                .get(GET_LOG_OP_KEY)
                .is_some_and(|op| op.contains("'completed': True"));
        Self {
            dc: tid,
            entries: read.then_some(pages),
        }
    }
}

/// What stacd learned from stafd most recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StafdView {
    /// stafd cannot be asked: its bus name has no owner, the call failed or timed out.
    Unknown,
    /// stafd answered `get_all_log_pages`.
    Known {
        /// Its discovery controllers.
        dcs: Vec<DcLog>,
        /// stafd signalled `dc_removed` since the previous answer: the controllers it no
        /// longer lists are gone. Without that signal a missing controller is kept as
        /// remembered (a stafd that just started may not have created its controllers
        /// yet).
        dc_removed: bool,
    },
}

/// stacd's memory of stafd's discovery controllers (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StafdMemory {
    reachable: bool,
    dcs: BTreeMap<TransportId, Option<Arc<[DlpeDict]>>>,
}

impl StafdMemory {
    /// Takes a new view. A controller stafd answers without a read log keeps the entries
    /// remembered for it; a controller stafd no longer lists is forgotten only when stafd
    /// signalled a removal (else it is kept as remembered). `Unknown` changes nothing but
    /// reachability. Returns whether anything changed.
    pub fn apply(&mut self, view: StafdView) -> bool {
        let before = self.clone();
        match view {
            StafdView::Unknown => self.reachable = false,
            StafdView::Known {
                dcs: list,
                dc_removed,
            } => {
                self.reachable = true;
                let mut dcs = if dc_removed {
                    BTreeMap::new()
                } else {
                    std::mem::take(&mut self.dcs)
                };
                for d in list {
                    let entries = match d.entries {
                        Some(e) => Some(Arc::from(e)),
                        None => before.dcs.get(&d.dc).cloned().flatten(),
                    };
                    dcs.insert(d.dc, entries);
                }
                self.dcs = dcs;
            }
        }
        *self != before
    }

    /// The discovery controllers whose entries differ from `before`'s (listed in one and
    /// not the other, or with other entries): the sources of the change.
    #[must_use]
    pub fn changed_dcs(&self, before: &Self) -> Vec<TransportId> {
        let mut out: Vec<TransportId> = (self.dcs.iter())
            .filter(|(t, e)| before.dcs.get(*t) != Some(*e))
            .map(|(t, _)| t.clone())
            .collect();
        out.extend(
            (before.dcs.keys())
                .filter(|t| !self.dcs.contains_key(*t))
                .cloned(),
        );
        out
    }

    /// Whether stafd answered last time.
    #[must_use]
    pub fn reachable(&self) -> bool {
        self.reachable
    }

    /// The discovery controllers whose entries are not known (never seen read).
    pub fn unresolved(&self) -> impl Iterator<Item = &TransportId> {
        self.dcs.iter().filter(|(_, e)| e.is_none()).map(|(t, _)| t)
    }

    /// Reachable and every controller's entries known.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.reachable && self.unresolved().next().is_none()
    }

    /// The known discovery controllers and their entries.
    pub fn logs(&self) -> impl Iterator<Item = (&TransportId, &[DlpeDict])> {
        self.dcs
            .iter()
            .filter_map(|(t, e)| e.as_deref().map(|e| (t, e)))
    }

    /// Whether a controller stacd never saw read has the same host fields as `tid`, so
    /// that its log might name `tid`.
    #[must_use]
    pub fn might_name(&self, tid: &TransportId) -> bool {
        self.unresolved().any(|dc| {
            dc.host_traddr == tid.host_traddr
                && dc.host_iface == tid.host_iface
                && dc.host_nqn == tid.host_nqn
        })
    }
}

/// A wanted (or candidate) I/O controller. `Debug` redacts the secrets of `cfg`.
#[derive(Clone, PartialEq)]
pub struct IocCandidate {
    /// Identity (the traddr may still be a host name for configured entries).
    pub tid: TransportId,
    /// Extra `controller=` keys (connection parameters, unknown keys, secrets); empty for
    /// controllers only stafd names.
    pub cfg: BTreeMap<String, String>,
    /// Valid per-controller connection overrides.
    pub overrides: CfgParams,
    /// The log page entry that names it (the first one, when several discovery
    /// controllers do).
    pub dlpe: Option<DlpeDict>,
    /// Named by a `controller=` entry.
    pub configured: bool,
    /// The discovery controllers whose logs name it.
    pub dcs: Vec<TransportId>,
}

impl fmt::Debug for IocCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IocCandidate")
            .field("tid", &self.tid)
            .field("cfg", &Redacted(&self.cfg))
            .field("overrides", &self.overrides)
            .field("dlpe", &self.dlpe)
            .field("configured", &self.configured)
            .field("dcs", &self.dcs)
            .finish()
    }
}

shared_rules!(IocCandidate, IocDropReason);

impl IocCandidate {
    /// Adds what another source says about the same controller: a `controller=` entry
    /// gives the configuration; a log page the entry (first one kept) and its controller.
    fn merge(&mut self, other: Self) {
        if other.configured && !self.configured {
            self.cfg = other.cfg;
            self.overrides = other.overrides;
            self.configured = true;
        }
        if self.dlpe.is_none() {
            self.dlpe = other.dlpe;
        }
        for dc in other.dcs {
            if !self.dcs.contains(&dc) {
                self.dcs.push(dc);
            }
        }
    }
}

/// Why a candidate is not wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IocDropReason {
    /// `controller=` entry without a transport, traddr or subsystem NQN.
    Incomplete(&'static str),
    /// A log page entry with a value that cannot go to the kernel.
    Invalid(&'static str, ValueError),
    /// Matched an `exclude=` pattern.
    Excluded,
    /// Transport or address rejected by the address filter.
    Address(AddressProblem),
    /// The host name did not resolve to an address of an allowed family.
    Unresolved(String),
    /// Another orchestrator owns the kernel controller (nvme-cli 3's registry).
    Owned(String),
}

impl fmt::Display for IocDropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete(what) => write!(f, "incomplete controller entry: no {what}"),
            Self::Invalid(field, e) => write!(f, "invalid {field} in the log page entry: {e}"),
            Self::Excluded => f.write_str("excluded"),
            Self::Address(p) => p.fmt(f),
            Self::Unresolved(name) => write!(f, "cannot resolve host name {name}"),
            Self::Owned(owner) => write!(f, "owned by {owner} (nvme-cli registry)"),
        }
    }
}

/// What to do with a running controller that is no longer wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Delete the kernel controller.
    Disconnect,
    /// Forget it; the kernel connection stays.
    Forget,
}

/// `disconnect-scope` and `disconnect-trtypes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectPolicy {
    /// The scope.
    pub scope: DisconnectScope,
    /// The transports of `disconnect-trtypes`.
    pub trtypes: Vec<Transport>,
}

impl DisconnectPolicy {
    /// From stacd.conf.
    #[must_use]
    pub fn from_config(cfg: &ServiceConfig) -> Self {
        Self {
            scope: cfg.stacd.disconnect_scope,
            trtypes: cfg.stacd.disconnect_trtypes.clone(),
        }
    }

    fn covers(&self, transport: &str) -> bool {
        Transport::parse(transport).is_some_and(|t| self.trtypes.contains(&t))
    }

    /// The §5.9 table: what happens to a controller that is no longer wanted.
    #[must_use]
    pub fn disposal(&self, tid: &TransportId) -> Disposal {
        match self.scope {
            DisconnectScope::OnlyStasConnections => Disposal::Disconnect,
            DisconnectScope::NoDisconnect => Disposal::Forget,
            DisconnectScope::AllConnectionsMatchingDisconnectTrtypes => {
                if self.covers(&tid.transport) {
                    Disposal::Disconnect
                } else {
                    Disposal::Forget
                }
            }
        }
    }

    /// Whether foreign connections are audited (and disconnected when nobody wants them).
    #[must_use]
    pub fn audits(&self) -> bool {
        self.scope == DisconnectScope::AllConnectionsMatchingDisconnectTrtypes
    }
}

/// What the reconcile knows about a running controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Running {
    /// A source wanted it at some point of this run (false for controllers adopted at a
    /// warm restart that no source named since).
    pub vouched: bool,
}

/// The kernel as the audit sees it.
#[derive(Debug, Clone, Copy)]
pub struct KernelView<'a> {
    /// Every controller.
    pub ctrls: &'a [&'a Controller],
    /// Devices stacd's controllers hold (running or being removed).
    pub owned: &'a BTreeSet<String>,
    /// Interface addresses (for matching host-traddr / host-iface).
    pub ifaddrs: &'a [IfAddr],
    /// The I/O controllers another orchestrator owns (nvme-cli 3's registry): never
    /// adopted, connected again or disconnected (DECISIONS.md item 19). Always filled.
    pub foreign: &'a [&'a Controller],
}

impl KernelView<'_> {
    /// No controllers (a dry run, or a test without a kernel).
    #[must_use]
    pub fn empty() -> KernelView<'static> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        KernelView {
            ctrls: &[],
            owned: &NONE,
            ifaddrs: &[],
            foreign: &[],
        }
    }
}

/// Everything one pass looks at.
#[derive(Debug, Clone, Copy)]
pub struct IocInputs<'a> {
    /// From [`configured`].
    pub configured: &'a [IocCandidate],
    /// stafd's log pages.
    pub stafd: &'a StafdMemory,
    /// `exclude=` patterns and the exclusion list.
    pub excludes: Screen<'a>,
    /// `[Global] ip-family`.
    pub ip_family: IpFamily,
    /// Host name → resolved address (`None`: failed), for [`super::reconcile::names_to_resolve`].
    pub resolved: &'a BTreeMap<String, Option<IpAddr>>,
    /// The running controllers.
    pub current: &'a BTreeMap<TransportId, Running>,
    /// The kernel's controllers, for the audit (used only when the policy audits).
    pub kernel: KernelView<'a>,
    /// `disconnect-scope` / `disconnect-trtypes`.
    pub policy: &'a DisconnectPolicy,
}

/// The outcome of one pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IocPlan {
    /// Every wanted controller.
    pub wanted: BTreeMap<TransportId, IocCandidate>,
    /// Wanted and not running: create.
    pub add: Vec<TransportId>,
    /// Running and not wanted any more, with what to do.
    pub remove: Vec<(TransportId, Disposal)>,
    /// Running, not wanted by any known source, kept because stafd's answer is not known.
    pub waiting: Vec<TransportId>,
    /// Foreign kernel controllers to disconnect (audit).
    pub disconnect_foreign: Vec<(TransportId, String)>,
    /// Candidates dropped, with the reason (to log).
    pub dropped: Vec<(TransportId, IocDropReason)>,
}

/// The `controller=` entries of stacd's configuration as candidates: TID construction rules
/// (trsvcid default, `ignore-iface`, host NQN default); transport, subsystem NQN and (but
/// for loop) traddr are mandatory. Differs from stafd's on purpose: an empty subsystem NQN
/// drops the entry (stafd defaults it to the well-known discovery NQN, which names no I/O
/// subsystem).
#[must_use]
pub fn configured(
    cfg: &ServiceConfig,
    defaults: &TidDefaults,
) -> (Vec<IocCandidate>, Vec<(TransportId, IocDropReason)>) {
    let mut ok = Vec::new();
    let mut dropped = Vec::new();
    for c in &cfg.controllers {
        let tid = c.dict.tid(defaults);
        let missing = if tid.transport.is_empty() {
            Some("transport")
        } else if tid.traddr.is_empty() && tid.transport_kind() != Some(Transport::Loop) {
            Some("traddr")
        } else if tid.subsysnqn.is_empty() {
            Some("subsysnqn")
        } else {
            None
        };
        match missing {
            Some(what) => dropped.push((tid, IocDropReason::Incomplete(what))),
            None => ok.push(IocCandidate {
                tid,
                cfg: c.dict.cfg(),
                overrides: c.overrides.clone(),
                dlpe: None,
                configured: true,
                dcs: Vec::new(),
            }),
        }
    }
    (ok, dropped)
}

/// Checks the strings of an identity built from a log page entry (DECISIONS.md item 14):
/// they came from the network through stafd.
fn check_entry_tid(tid: &TransportId) -> Result<(), IocDropReason> {
    let bad = |field: &'static str| move |e: ValueError| IocDropReason::Invalid(field, e);
    if !(tid.traddr.is_empty() && tid.transport_kind() == Some(Transport::Loop)) {
        check_value(&tid.traddr, MAX_TRADDR_LEN).map_err(bad("traddr"))?;
    }
    if !tid.trsvcid.is_empty() {
        check_port(&tid.trsvcid).map_err(bad("trsvcid"))?;
    }
    check_nqn(&tid.subsysnqn).map_err(bad("subnqn"))?;
    if !tid.host_traddr.is_empty() {
        check_value(&tid.host_traddr, MAX_TRADDR_LEN).map_err(bad("host-traddr"))?;
    }
    if !tid.host_iface.is_empty() {
        check_value(&tid.host_iface, MAX_IFACE_LEN).map_err(bad("host-iface"))?;
    }
    check_nqn(&tid.host_nqn).map_err(bad("host-nqn"))?;
    Ok(())
}

/// The I/O controllers stafd's logs name: entries of subtype `nvme`, with the host fields of
/// the discovery controller that returned them. Entries with unusable strings are dropped
/// with a reason; several controllers naming the same identity give one candidate.
#[must_use]
pub fn from_stafd(stafd: &StafdMemory) -> (Vec<IocCandidate>, Vec<(TransportId, IocDropReason)>) {
    let mut by_tid: BTreeMap<TransportId, IocCandidate> = BTreeMap::new();
    let mut dropped = Vec::new();
    let get = |d: &DlpeDict, k: &str| d.get(k).map_or("", String::as_str).to_owned();
    for (dc, entries) in stafd.logs() {
        for e in entries
            .iter()
            .filter(|e| e.get("subtype").map(String::as_str) == Some("nvme"))
        {
            let tid = TransportId::from_dlpe(
                &get(e, "trtype"),
                &get(e, "traddr"),
                &get(e, "trsvcid"),
                &get(e, "subnqn"),
                dc,
            );
            if let Err(reason) = check_entry_tid(&tid) {
                dropped.push((tid, reason));
                continue;
            }
            let cand = IocCandidate {
                tid: tid.clone(),
                cfg: BTreeMap::new(),
                overrides: CfgParams::default(),
                dlpe: Some(e.clone()),
                configured: false,
                dcs: vec![dc.clone()],
            };
            match by_tid.get_mut(&tid) {
                Some(c) => c.merge(cand),
                None => {
                    by_tid.insert(tid, cand);
                }
            }
        }
    }
    (by_tid.into_values().collect(), dropped)
}

/// Whether a kernel controller is an I/O controller the audit may touch: of a transport of
/// `disconnect-trtypes` (so never PCIe or loop), not being deleted, and an I/O controller
/// by `cntrltype` (5.18+) or, without it, by having namespaces and not the well-known
/// discovery NQN. Discovery controllers never qualify.
#[must_use]
pub fn is_audited_ioc(c: &Controller, policy: &DisconnectPolicy) -> bool {
    if c.state.is_going_away() || !policy.covers(&c.transport) {
        return false;
    }
    match c.cntrltype {
        Some(CntrlType::Io) => true,
        Some(_) => false,
        None => !c.children.is_empty() && c.subsysnqn != WELL_KNOWN_DISC_NQN,
    }
}

/// The identity of an existing kernel controller, as stacd would have built it.
#[must_use]
pub fn tid_of(c: &Controller) -> TransportId {
    let id = c.existing_id();
    TransportId {
        transport: id.transport,
        traddr: id.traddr,
        trsvcid: id.trsvcid,
        subsysnqn: id.subsysnqn,
        host_traddr: id.host_traddr,
        host_iface: id.host_iface,
        host_nqn: id.host_nqn,
    }
}

/// The audit of `all-connections-matching-disconnect-trtypes` (§5.9): kernel I/O
/// controllers of `disconnect-trtypes` that no stacd controller owns (`owned` devices) and
/// that match none of `ours` (running, connecting or wanted identities, so that a connect
/// in flight or an adoption to come is never mistaken for a foreign connection).
#[must_use]
pub fn audit<'a>(
    ctrls: impl IntoIterator<Item = &'a Controller>,
    policy: &DisconnectPolicy,
    owned: &BTreeSet<String>,
    ours: &[&TransportId],
    ifaddrs: &[IfAddr],
) -> Vec<(TransportId, String)> {
    if !policy.audits() {
        return Vec::new();
    }
    ctrls
        .into_iter()
        .filter(|c| is_audited_ioc(c, policy) && !owned.contains(&c.device))
        .filter(|c| c.owner.as_deref().is_none_or(|o| o == OWNER_STAS))
        .filter(|c| {
            let id = c.existing_id();
            !ours.iter().any(|t| cid_matches_tid(&id, t, ifaddrs))
        })
        .map(|c| (tid_of(c), c.device.clone()))
        .collect()
}

/// One reconcile pass (see the module docs).
#[must_use]
pub fn reconcile(inp: &IocInputs<'_>) -> IocPlan {
    let mut plan = IocPlan::default();
    let mut all = resolve_configured(
        inp.configured,
        &inp.excludes,
        inp.resolved,
        &mut plan.dropped,
    );
    let (from_logs, bad) = from_stafd(inp.stafd);
    plan.dropped.extend(bad);
    all.extend(from_logs);

    // Sources are merged (configuration + log page entry), where stafd keeps only the
    // candidate of the highest-precedence origin.
    let (wanted, mut must_remove) = select(
        all,
        &inp.excludes,
        inp.ip_family,
        &mut plan.dropped,
        IocCandidate::merge,
    );
    plan.wanted = wanted;
    // What another orchestrator holds is its own: not wanted, and let go without a
    // disconnect when running.
    let k = inp.kernel;
    let mut foreign = BTreeSet::new();
    plan.wanted.retain(|tid, _| {
        let owner = (k.foreign.iter())
            .find(|c| cid_matches_tid(&c.existing_id(), tid, k.ifaddrs))
            .and_then(|c| c.owner.clone());
        let Some(owner) = owner else {
            return true;
        };
        plan.dropped
            .push((tid.clone(), IocDropReason::Owned(owner)));
        foreign.insert(tid.clone());
        false
    });
    must_remove.extend(foreign.iter().cloned());

    let keep_for_stafd = |tid: &TransportId, vouched: bool| {
        !inp.stafd.reachable() || (!vouched && inp.stafd.might_name(tid))
    };
    let (waiting, remove) = unwanted(inp.current, &plan.wanted, &must_remove, |tid, run| {
        keep_for_stafd(tid, run.vouched)
    });
    plan.waiting = waiting;
    plan.remove = remove
        .into_iter()
        .map(|tid| {
            let disposal = if foreign.contains(&tid) {
                Disposal::Forget
            } else {
                inp.policy.disposal(&tid)
            };
            (tid, disposal)
        })
        .collect();
    if inp.policy.audits() {
        let ours: Vec<&TransportId> = inp.current.keys().chain(plan.wanted.keys()).collect();
        plan.disconnect_foreign = audit(
            k.ctrls.iter().copied(),
            inp.policy,
            k.owned,
            &ours,
            k.ifaddrs,
        )
        .into_iter()
        .filter(|(t, _)| !keep_for_stafd(t, false))
        .collect();
    }
    plan.add = to_add(&plan.wanted, inp.current);
    plan
}

#[cfg(test)]
mod tests;
