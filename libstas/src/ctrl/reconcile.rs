//! stafd's reconcile step (nvme-stas `Staf._config_ctrls_finish`, nvme-stas-behaviour.md
//! §5.3, §5.11) as pure functions: which discovery controllers are wanted, which running
//! ones to add and to remove.
//!
//! Inputs: the configured controllers ([`configured`], from `controller=`), the controllers
//! a discovery source reports (mDNS, a later issue: today the daemon passes none), the
//! referral entries of every current controller's log, the exclusion patterns, the
//! `ip-family` setting, the result of host-name resolution (done by the caller, see
//! [`names_to_resolve`] and [`pick_address`]), and the running controllers.
//!
//! Differences from nvme-stas, on purpose: FC and loop `controller=` entries are kept
//! (DECISIONS.md item 4; upstream drops every entry with an empty trsvcid).
//!
//! The rules both daemons' reconciles apply are here too, crate-private, and
//! [`super::stac_reconcile`] uses them: which traddrs are host names to resolve, what an
//! `exclude=` pattern sees, resolution of configured host names, the exclusion and address
//! screen, one wanted entry per identity, "a dropped controller is removed even when a
//! daemon would keep it", and "wanted and not running: add" (`ReconcileCandidate`,
//! `SharedDropReason`, `resolve_configured`, `select`, `unwanted`, `to_add`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use crate::config::controller::CtrlDict;
use crate::config::controller::Redacted;
use crate::config::exclusions::ExclusionList;
use crate::config::service::{ConnectParams as CfgParams, ServiceConfig};
use crate::model::filter::{check_address, is_excluded, AddressProblem, ExcludePattern, IpFamily};
use crate::model::ip::parse_ip;
use crate::model::snapshot::Origin;
use crate::model::trid::{TidDefaults, Transport, TransportId, WELL_KNOWN_DISC_NQN};

/// A candidate controller from one source. `Debug` redacts the secrets of `cfg`.
#[derive(Clone, PartialEq)]
pub struct Candidate {
    /// Identity (the traddr may still be a host name for configured entries).
    pub tid: TransportId,
    /// Where it came from.
    pub origin: Origin,
    /// Extra `controller=` keys (connection parameters, unknown keys, secrets); empty for
    /// discovered controllers and referrals.
    pub cfg: BTreeMap<String, String>,
    /// Valid per-controller connection overrides.
    pub overrides: CfgParams,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("tid", &self.tid)
            .field("origin", &self.origin)
            .field("cfg", &Redacted(&self.cfg))
            .field("overrides", &self.overrides)
            .finish()
    }
}

shared_rules!(Candidate, DropReason);

impl Candidate {
    fn from_tid(tid: TransportId, origin: Origin) -> Self {
        Self {
            tid,
            origin,
            cfg: BTreeMap::new(),
            overrides: CfgParams::default(),
        }
    }
}

/// Why a candidate is not wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// `controller=` entry without a transport (or an fc one without traddr).
    Incomplete(&'static str),
    /// Matched an `exclude=` pattern.
    Excluded,
    /// Transport or address rejected by the address filter.
    Address(AddressProblem),
    /// The host name did not resolve to an address of an allowed family.
    Unresolved(String),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete(what) => write!(f, "incomplete controller entry: no {what}"),
            Self::Excluded => f.write_str("excluded"),
            Self::Address(p) => p.fmt(f),
            Self::Unresolved(name) => write!(f, "cannot resolve host name {name}"),
        }
    }
}

/// What the reconcile knows about a running controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// Its origin now.
    pub origin: Origin,
    /// nvme-stas `is_unresponsive()` (aging of discovered controllers expired).
    pub unresponsive: bool,
}

/// What excludes a controller from a reconcile: the configuration's `exclude=` patterns
/// and the host's exclusion list of nvme-cli 3 (`/etc/nvme/exclusions.conf(.d)`, matched
/// with the host ID `hostid`; DECISIONS.md item 19).
#[derive(Debug, Clone, Copy)]
pub struct Screen<'a> {
    /// `exclude=` patterns.
    pub patterns: &'a [ExcludePattern],
    /// The host's exclusion list, as read for this pass.
    pub list: &'a ExclusionList,
    /// The host ID the list's `hostid=` fields are matched against.
    pub hostid: &'a str,
}

/// The exclusion list of a screen with patterns only.
static NO_EXCLUSIONS: ExclusionList = ExclusionList::EMPTY;

impl<'a> Screen<'a> {
    /// The `exclude=` patterns alone (no exclusion list).
    #[must_use]
    pub fn patterns(patterns: &'a [ExcludePattern]) -> Self {
        Self {
            patterns,
            list: &NO_EXCLUSIONS,
            hostid: "",
        }
    }

    /// Whether `c` is excluded.
    pub fn excludes<C: ReconcileCandidate>(&self, c: &C) -> bool {
        is_excluded(&c.dict(), self.patterns)
            || self
                .list
                .matching(c.tid(), Some(self.hostid).filter(|h| !h.is_empty()))
                .is_some()
    }
}

/// Everything one reconcile pass looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// From [`configured`].
    pub configured: &'a [Candidate],
    /// Reachable controllers reported by a discovery source (mDNS).
    pub discovered: &'a [TransportId],
    /// Referral entries of the current controllers' logs (host fields inherited).
    pub referrals: &'a [TransportId],
    /// `exclude=` patterns and the exclusion list.
    pub excludes: Screen<'a>,
    /// `[Global] ip-family`.
    pub ip_family: IpFamily,
    /// Host name → resolved address (`None`: failed), for the names of
    /// [`names_to_resolve`].
    pub resolved: &'a BTreeMap<String, Option<IpAddr>>,
    /// The running controllers.
    pub current: &'a BTreeMap<TransportId, Current>,
}

/// The outcome of one pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Every wanted controller with its origin (precedence applied) and configuration.
    pub wanted: BTreeMap<TransportId, Candidate>,
    /// Wanted and not running: create.
    pub add: Vec<TransportId>,
    /// Running and not wanted any more: deregister and disconnect.
    pub remove: Vec<TransportId>,
    /// Running `discovered` controllers kept although no source reports them (tolerates
    /// mDNS outages until aging removes them).
    pub kept: Vec<TransportId>,
    /// Candidates dropped, with the reason (to log).
    pub dropped: Vec<(TransportId, DropReason)>,
    /// Emit `dc_removed`.
    pub dc_removed: bool,
}

/// The `controller=` entries of stafd's configuration as candidates: TID construction rules
/// (trsvcid default, `ignore-iface`, host NQN default), an empty subsystem NQN means the
/// well-known discovery NQN, and entries without a transport (or an fc one without traddr)
/// are dropped.
#[must_use]
pub fn configured(
    cfg: &ServiceConfig,
    defaults: &TidDefaults,
) -> (Vec<Candidate>, Vec<(TransportId, DropReason)>) {
    let entries = cfg.controllers.iter().map(|c| (&c.dict, &c.overrides));
    candidates(entries, Origin::Configured, defaults)
}

/// The discovery controllers of the firmware's NBFT (2.x layout, as nvme-stas 2.3+), by the
/// rules of [`configured`], with origin `nbft`.
#[must_use]
pub fn nbft(
    dcs: &[CtrlDict],
    defaults: &TidDefaults,
) -> (Vec<Candidate>, Vec<(TransportId, DropReason)>) {
    let none = CfgParams::default();
    candidates(dcs.iter().map(|d| (d, &none)), Origin::Nbft, defaults)
}

fn candidates<'a>(
    entries: impl Iterator<Item = (&'a CtrlDict, &'a CfgParams)>,
    origin: Origin,
    defaults: &TidDefaults,
) -> (Vec<Candidate>, Vec<(TransportId, DropReason)>) {
    let mut ok = Vec::new();
    let mut dropped = Vec::new();
    for (dict, overrides) in entries {
        let mut tid = dict.tid(defaults);
        if tid.subsysnqn.is_empty() {
            tid.subsysnqn = WELL_KNOWN_DISC_NQN.to_owned();
        }
        let needs_traddr = matches!(
            tid.transport_kind(),
            Some(Transport::Tcp | Transport::Rdma | Transport::Fc)
        );
        if tid.transport.is_empty() {
            dropped.push((tid, DropReason::Incomplete("transport")));
        } else if needs_traddr && tid.traddr.is_empty() {
            dropped.push((tid, DropReason::Incomplete("traddr")));
        } else {
            ok.push(Candidate {
                tid,
                origin,
                cfg: dict.cfg(),
                overrides: overrides.clone(),
            });
        }
    }
    (ok, dropped)
}

/// [`ReconcileCandidate`] for candidate type `$cand` (fields `tid`, `cfg`, `overrides`) and
/// [`SharedDropReason`] for its reason type `$reason` (variants `Excluded`, `Address`,
/// `Unresolved`): what plugs a reconcile into the shared rules.
macro_rules! shared_rules {
    ($cand:ty, $reason:ty) => {
        impl $crate::ctrl::reconcile::ReconcileCandidate for $cand {
            fn tid(&self) -> &TransportId {
                &self.tid
            }
            fn tid_mut(&mut self) -> &mut TransportId {
                &mut self.tid
            }
            fn cfg(&self) -> &BTreeMap<String, String> {
                &self.cfg
            }
            fn overrides(&self) -> &CfgParams {
                &self.overrides
            }
        }

        impl $crate::ctrl::reconcile::SharedDropReason for $reason {
            fn excluded() -> Self {
                Self::Excluded
            }
            fn address(p: AddressProblem) -> Self {
                Self::Address(p)
            }
            fn unresolved(name: String) -> Self {
                Self::Unresolved(name)
            }
        }
    };
}
pub(crate) use shared_rules;

/// A candidate of either daemon's reconcile, as the shared rules see it.
pub trait ReconcileCandidate: Clone {
    /// Its identity.
    fn tid(&self) -> &TransportId;
    /// Its identity, to put the resolved address in.
    fn tid_mut(&mut self) -> &mut TransportId;
    /// Its extra `controller=` keys.
    fn cfg(&self) -> &BTreeMap<String, String>;
    /// Its valid connection overrides.
    fn overrides(&self) -> &CfgParams;

    /// What an `exclude=` pattern sees: the identity's keys, plus the `controller=` keys
    /// that do not name an identity field.
    fn dict(&self) -> BTreeMap<String, String> {
        let mut d = self.tid().as_dict();
        for (k, v) in self.cfg() {
            d.entry(k.clone()).or_insert_with(|| v.clone());
        }
        d
    }
}

/// The reasons to drop a candidate that both reconciles share.
pub(crate) trait SharedDropReason {
    /// Matched an `exclude=` pattern.
    fn excluded() -> Self;
    /// Rejected by the address filter.
    fn address(p: AddressProblem) -> Self;
    /// The host name did not resolve.
    fn unresolved(name: String) -> Self;
}

/// Whether the traddr is a host name to resolve: tcp/rdma and not an IP address.
pub(crate) fn is_host_name(tid: &TransportId) -> bool {
    tid.transport_kind().is_some_and(Transport::is_ip_based)
        && parse_ip(&tid.traddr, false).is_none()
}

/// The host names (tcp/rdma traddrs that are not IP addresses) of `configured` that are not
/// already excluded (nvme-stas applies the exclusions once before resolving).
#[must_use]
pub fn names_to_resolve<C: ReconcileCandidate>(
    configured: &[C],
    excludes: &Screen<'_>,
) -> BTreeSet<String> {
    configured
        .iter()
        .filter(|c| is_host_name(c.tid()) && !excludes.excludes(*c))
        .map(|c| c.tid().traddr.clone())
        .collect()
}

/// The configured candidates with their host names replaced by the resolved addresses.
/// A host-name candidate that is excluded (nvme-stas applies the exclusions once before
/// resolving) or did not resolve is dropped, with the reason.
pub(crate) fn resolve_configured<C: ReconcileCandidate, R: SharedDropReason>(
    configured: &[C],
    excludes: &Screen<'_>,
    resolved: &BTreeMap<String, Option<IpAddr>>,
    dropped: &mut Vec<(TransportId, R)>,
) -> Vec<C> {
    let mut ok = Vec::new();
    for c in configured {
        let mut c = c.clone();
        if is_host_name(c.tid()) {
            if excludes.excludes(&c) {
                dropped.push((c.tid().clone(), R::excluded()));
                continue;
            }
            match resolved.get(&c.tid().traddr).copied().flatten() {
                Some(ip) => c.tid_mut().traddr = ip.to_string(),
                None => {
                    let name = c.tid().traddr.clone();
                    dropped.push((c.tid().clone(), R::unresolved(name)));
                    continue;
                }
            }
        }
        ok.push(c);
    }
    ok
}

/// The wanted controllers among `all` (one per identity, several sources combined by
/// `combine(wanted, other)`), and the identities that must be removed even when running:
/// those an `exclude=` pattern or the address filter (`ip-family`, transport, address
/// syntax) drops. Drops are added to `dropped`.
pub(crate) fn select<C: ReconcileCandidate, R: SharedDropReason>(
    all: Vec<C>,
    excludes: &Screen<'_>,
    family: IpFamily,
    dropped: &mut Vec<(TransportId, R)>,
    combine: impl Fn(&mut C, C),
) -> (BTreeMap<TransportId, C>, BTreeSet<TransportId>) {
    let mut wanted: BTreeMap<TransportId, C> = BTreeMap::new();
    let mut must_remove = BTreeSet::new();
    for c in all {
        let problem = if excludes.excludes(&c) {
            Some(R::excluded())
        } else {
            check_address(c.tid(), family).err().map(R::address)
        };
        if let Some(reason) = problem {
            must_remove.insert(c.tid().clone());
            dropped.push((c.tid().clone(), reason));
            continue;
        }
        match wanted.get_mut(c.tid()) {
            Some(w) => combine(w, c),
            None => {
                wanted.insert(c.tid().clone(), c);
            }
        }
    }
    (wanted, must_remove)
}

/// The running controllers no source wants any more, split into those kept for now
/// (`keep` says so and no drop named them: an exclusion or the address filter always
/// removes) and those to remove, in `current`'s order.
pub(crate) fn unwanted<W, C>(
    current: &BTreeMap<TransportId, C>,
    wanted: &BTreeMap<TransportId, W>,
    must_remove: &BTreeSet<TransportId>,
    keep: impl Fn(&TransportId, &C) -> bool,
) -> (Vec<TransportId>, Vec<TransportId>) {
    let mut kept = Vec::new();
    let mut remove = Vec::new();
    for (tid, cur) in current {
        if wanted.contains_key(tid) {
            continue;
        }
        if !must_remove.contains(tid) && keep(tid, cur) {
            kept.push(tid.clone());
        } else {
            remove.push(tid.clone());
        }
    }
    (kept, remove)
}

/// Wanted and not running: the controllers to create.
pub(crate) fn to_add<W, C>(
    wanted: &BTreeMap<TransportId, W>,
    current: &BTreeMap<TransportId, C>,
) -> Vec<TransportId> {
    wanted
        .keys()
        .filter(|t| !current.contains_key(*t))
        .cloned()
        .collect()
}

/// nvme-stas's choice among the addresses of a host name: the first IPv4 one when IPv4 is
/// allowed, otherwise the first IPv6 one (when allowed).
#[must_use]
pub fn pick_address(addrs: &[IpAddr], family: IpFamily) -> Option<IpAddr> {
    let first = |v6: bool| addrs.iter().copied().find(|a| a.is_ipv6() == v6);
    if family.v4 {
        if let Some(a) = first(false) {
            return Some(a);
        }
    }
    if family.v6 {
        return first(true);
    }
    None
}

/// The last address each host name resolved to. A lookup that fails (DNS down, a timeout)
/// keeps the name's last good address, so a DNS outage never removes a discovery or I/O
/// controller that is configured and connected; a name never resolved stays unresolved.
/// Names no pass asks for any more are forgotten.
#[derive(Debug, Clone, Default)]
pub struct NameCache {
    last: BTreeMap<String, IpAddr>,
}

impl NameCache {
    /// This pass's answers, with failures replaced by the last good address.
    pub fn apply(
        &mut self,
        fresh: BTreeMap<String, Option<IpAddr>>,
    ) -> BTreeMap<String, Option<IpAddr>> {
        self.last.retain(|name, _| fresh.contains_key(name));
        fresh
            .into_iter()
            .map(|(name, addr)| {
                let addr = match addr {
                    Some(a) => {
                        self.last.insert(name.clone(), a);
                        Some(a)
                    }
                    None => {
                        let kept = self.last.get(&name).copied();
                        if let Some(a) = kept {
                            tracing::warn!(name, address = %a, "host name did not resolve; keeping its last address");
                        }
                        kept
                    }
                };
                (name, addr)
            })
            .collect()
    }
}

/// One reconcile pass (see the module docs).
#[must_use]
pub fn reconcile(inp: &Inputs<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut all = resolve_configured(
        inp.configured,
        &inp.excludes,
        inp.resolved,
        &mut plan.dropped,
    );
    all.extend(
        inp.discovered
            .iter()
            .map(|t| Candidate::from_tid(t.clone(), Origin::Discovered)),
    );
    all.extend(
        inp.referrals
            .iter()
            .map(|t| Candidate::from_tid(t.clone(), Origin::Referral)),
    );

    // Precedence configured > referral > discovered (the enum's order): one source wins,
    // where stacd merges what its sources say (configuration + log page entry).
    let (wanted, mut must_remove) = select(
        all,
        &inp.excludes,
        inp.ip_family,
        &mut plan.dropped,
        |w, c| {
            if c.origin < w.origin {
                *w = c;
            }
        },
    );
    plan.wanted = wanted;
    must_remove.extend(
        inp.current
            .iter()
            .filter(|(_, c)| c.origin == Origin::Discovered && c.unresponsive)
            .map(|(t, _)| t.clone()),
    );
    // Not wanted any more: a discovered DC is kept through mDNS outages until aging or a
    // drop removes it (stacd instead keeps controllers while stafd's answer is unknown).
    (plan.kept, plan.remove) = unwanted(inp.current, &plan.wanted, &must_remove, |_, cur| {
        cur.origin == Origin::Discovered
    });
    plan.add = to_add(&plan.wanted, inp.current);
    plan.dc_removed = !plan.remove.is_empty();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ini, Daemon, Diagnostics};

    const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

    fn conf(text: &str) -> ServiceConfig {
        let mut d = Diagnostics::new(std::path::Path::new("stafd.conf"));
        let i = ini::parse(text, &mut d);
        ServiceConfig::from_ini(Daemon::Stafd, &i, &mut d)
    }

    fn defaults() -> TidDefaults {
        TidDefaults {
            host_nqn: HOST.into(),
            ignore_iface: false,
        }
    }

    fn tid(transport: &str, traddr: &str, trsvcid: &str) -> TransportId {
        TransportId {
            transport: transport.into(),
            traddr: traddr.into(),
            trsvcid: trsvcid.into(),
            subsysnqn: WELL_KNOWN_DISC_NQN.into(),
            host_nqn: HOST.into(),
            ..TransportId::default()
        }
    }

    struct World {
        configured: Vec<Candidate>,
        discovered: Vec<TransportId>,
        referrals: Vec<TransportId>,
        excludes: Vec<ExcludePattern>,
        family: IpFamily,
        resolved: BTreeMap<String, Option<IpAddr>>,
        current: BTreeMap<TransportId, Current>,
    }

    impl World {
        fn new(text: &str) -> Self {
            let c = conf(text);
            let (configured, _) = configured(&c, &defaults());
            Self {
                configured,
                discovered: Vec::new(),
                referrals: Vec::new(),
                excludes: c.excludes,
                family: c.global.ip_family,
                resolved: BTreeMap::new(),
                current: BTreeMap::new(),
            }
        }
        fn run(&self) -> Plan {
            reconcile(&Inputs {
                configured: &self.configured,
                discovered: &self.discovered,
                referrals: &self.referrals,
                excludes: Screen::patterns(&self.excludes),
                ip_family: self.family,
                resolved: &self.resolved,
                current: &self.current,
            })
        }
        fn running(&mut self, t: TransportId, origin: Origin) {
            self.current.insert(
                t,
                Current {
                    origin,
                    unresponsive: false,
                },
            );
        }
    }

    #[test]
    fn name_cache_keeps_the_last_good_address() {
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let m = |v: &[(&str, Option<IpAddr>)]| -> BTreeMap<String, Option<IpAddr>> {
            v.iter().map(|(n, x)| ((*n).to_owned(), *x)).collect()
        };
        let mut c = NameCache::default();
        assert_eq!(
            c.apply(m(&[("dc.example", Some(a)), ("new.example", None)])),
            m(&[("dc.example", Some(a)), ("new.example", None)]),
            "never resolved: unresolved"
        );
        assert_eq!(
            c.apply(m(&[("dc.example", None)])),
            m(&[("dc.example", Some(a))]),
            "a failed lookup keeps the last address"
        );
        assert_eq!(
            c.apply(m(&[("dc.example", Some(b))])),
            m(&[("dc.example", Some(b))]),
            "a new answer wins"
        );
        c.apply(m(&[]));
        assert_eq!(
            c.apply(m(&[("dc.example", None)])),
            m(&[("dc.example", None)]),
            "a name no pass asked for is forgotten"
        );
    }

    /// A candidate's `Debug` (logged at debug level, printed by failing tests) never shows
    /// the DH-HMAC-CHAP secrets it carries to the connect.
    #[test]
    fn candidate_debug_redacts_secrets() {
        let c = conf(
            "[Controllers]\n\
             controller = transport=tcp;traddr=10.0.0.1;dhchap-secret=DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:\n",
        );
        let (ok, _) = configured(&c, &defaults());
        assert!(
            ok[0].cfg.contains_key("dhchap-secret"),
            "the secret is carried"
        );
        let shown = format!("{:?}", ok[0]);
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn configured_entries_defaults_fc_and_loop() {
        let c = conf(
            "[Controllers]\n\
             controller = transport=tcp;traddr=10.0.0.1;kato=20\n\
             controller = transport=tcp;traddr=10.0.0.2;trsvcid=8010;nqn=nqn.uniq:dc\n\
             controller = transport=fc;traddr=nn-0x1:pn-0x2;host-traddr=nn-0x3:pn-0x4\n\
             controller = transport=loop\n\
             controller = traddr=10.0.0.3\n\
             controller = transport=fc\n",
        );
        let (ok, dropped) = configured(&c, &defaults());
        let tids: Vec<&TransportId> = ok.iter().map(|c| &c.tid).collect();
        assert_eq!(tids.len(), 4);
        assert_eq!(tids[0], &tid("tcp", "10.0.0.1", "8009"));
        assert_eq!(ok[0].cfg.get("kato").map(String::as_str), Some("20"));
        assert_eq!(ok[0].overrides.kato, Some(20));
        assert_eq!(tids[1].subsysnqn, "nqn.uniq:dc");
        assert_eq!(tids[1].trsvcid, "8010");
        assert_eq!(
            (tids[2].transport.as_str(), tids[2].trsvcid.as_str()),
            ("fc", "")
        );
        assert_eq!(tids[3].transport, "loop");
        assert_eq!(tids[3].subsysnqn, WELL_KNOWN_DISC_NQN);
        assert_eq!(
            dropped.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            vec![
                DropReason::Incomplete("transport"),
                DropReason::Incomplete("traddr")
            ]
        );
    }

    #[test]
    fn add_and_remove_against_the_running_set() {
        let mut w = World::new(
            "[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1\ncontroller = transport=tcp;traddr=10.0.0.2\n",
        );
        w.running(tid("tcp", "10.0.0.2", "8009"), Origin::Configured);
        w.running(tid("tcp", "10.0.0.9", "8009"), Origin::Configured);
        let p = w.run();
        assert_eq!(p.add, vec![tid("tcp", "10.0.0.1", "8009")]);
        assert_eq!(p.remove, vec![tid("tcp", "10.0.0.9", "8009")]);
        assert!(p.dc_removed);
        assert_eq!(p.wanted.len(), 2);
        w.current.remove(&tid("tcp", "10.0.0.9", "8009"));
        assert!(!w.run().dc_removed);
    }

    #[test]
    fn exclusion_added_on_reload_removes_the_running_dc() {
        let mut w = World::new(
            "[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1\ncontroller = transport=tcp;traddr=10.0.0.2\nexclude = traddr=10.0.0.2\n",
        );
        w.running(tid("tcp", "10.0.0.1", "8009"), Origin::Configured);
        w.running(tid("tcp", "10.0.0.2", "8009"), Origin::Configured);
        let p = w.run();
        assert!(p.add.is_empty());
        assert_eq!(p.remove, vec![tid("tcp", "10.0.0.2", "8009")]);
        assert!(p.dc_removed);
        assert!(p
            .dropped
            .contains(&(tid("tcp", "10.0.0.2", "8009"), DropReason::Excluded)));
    }

    #[test]
    fn exclusion_patterns_see_cfg_keys() {
        let w = World::new(
            "[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1;kato=20\ncontroller = transport=tcp;traddr=10.0.0.2\nexclude = kato=20\n",
        );
        let p = w.run();
        assert_eq!(p.add, vec![tid("tcp", "10.0.0.2", "8009")]);
    }

    #[test]
    fn referrals_are_followed_and_discovered_kept_through_outages() {
        let mut w = World::new("[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1\n");
        let mut r = tid("tcp", "10.0.0.7", "8009");
        r.host_iface = "eth1".into();
        w.referrals.push(r.clone());
        w.referrals.push(tid("tcp", "10.0.0.1", "8009"));
        w.discovered.push(tid("tcp", "10.0.0.1", "8009"));
        let p = w.run();
        assert_eq!(p.wanted[&r].origin, Origin::Referral);
        assert_eq!(
            p.wanted[&tid("tcp", "10.0.0.1", "8009")].origin,
            Origin::Configured,
            "configured > referral > discovered"
        );
        assert_eq!(p.add.len(), 2);
        // A discovered DC that mDNS stops reporting is kept…
        let mut w = World::new("");
        w.running(tid("tcp", "10.0.0.5", "8009"), Origin::Discovered);
        let p = w.run();
        assert_eq!(p.kept, vec![tid("tcp", "10.0.0.5", "8009")]);
        assert!(p.remove.is_empty() && !p.dc_removed);
        // …until it is unresponsive…
        w.current
            .get_mut(&tid("tcp", "10.0.0.5", "8009"))
            .unwrap()
            .unresponsive = true;
        assert_eq!(w.run().remove, vec![tid("tcp", "10.0.0.5", "8009")]);
        // …or excluded.
        w.current
            .get_mut(&tid("tcp", "10.0.0.5", "8009"))
            .unwrap()
            .unresponsive = false;
        w.discovered.push(tid("tcp", "10.0.0.5", "8009"));
        w.excludes
            .push([("traddr".to_owned(), "10.0.0.5".to_owned())].into());
        assert_eq!(w.run().remove, vec![tid("tcp", "10.0.0.5", "8009")]);
    }

    #[test]
    fn referral_no_longer_listed_is_removed() {
        let mut w = World::new("");
        w.running(tid("tcp", "10.0.0.7", "8009"), Origin::Referral);
        let p = w.run();
        assert_eq!(p.remove, vec![tid("tcp", "10.0.0.7", "8009")]);
    }

    #[test]
    fn addresses_and_ip_family() {
        let mut w = World::new(
            "[Global]\nip-family=ipv6\n[Controllers]\ncontroller = transport=tcp;traddr=10.0.0.1\ncontroller = transport=tcp;traddr=::1\ncontroller = transport=blah;traddr=::2\n",
        );
        w.referrals.push(tid("tcp", "1.2.3.4.5", "8009"));
        let p = w.run();
        assert_eq!(p.add, vec![tid("tcp", "::1", "8009")]);
        let reasons: Vec<String> = p.dropped.iter().map(|(_, r)| r.to_string()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("ip-family=ipv6")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r == "Invalid transport blah"),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("1.2.3.4.5")),
            "{reasons:?}"
        );
    }

    #[test]
    fn host_names_resolved_as_inputs() {
        let mut w = World::new(
            "[Controllers]\ncontroller = transport=tcp;traddr=dc.example\ncontroller = transport=tcp;traddr=gone.example\ncontroller = transport=tcp;traddr=no.example\nexclude = traddr=no.example\n",
        );
        assert_eq!(
            names_to_resolve(&w.configured, &Screen::patterns(&w.excludes)),
            ["dc.example".to_owned(), "gone.example".to_owned()].into()
        );
        w.resolved
            .insert("dc.example".into(), Some("192.0.2.1".parse().unwrap()));
        w.resolved.insert("gone.example".into(), None);
        let p = w.run();
        assert_eq!(p.add, vec![tid("tcp", "192.0.2.1", "8009")]);
        assert!(p.dropped.contains(&(
            tid("tcp", "gone.example", "8009"),
            DropReason::Unresolved("gone.example".into())
        )));
        assert!(p
            .dropped
            .contains(&(tid("tcp", "no.example", "8009"), DropReason::Excluded)));
    }

    #[test]
    fn address_choice_follows_ip_family() {
        let a: Vec<IpAddr> = vec!["::1".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        let both = IpFamily::default();
        let v6 = IpFamily::parse("ipv6").unwrap();
        let v4 = IpFamily::parse("ipv4").unwrap();
        assert_eq!(pick_address(&a, both), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(pick_address(&a, v6), Some("::1".parse().unwrap()));
        assert_eq!(pick_address(&a[..1], v4), None);
        assert_eq!(pick_address(&a[..1], both), Some("::1".parse().unwrap()));
        assert_eq!(pick_address(&[], both), None);
    }
}
