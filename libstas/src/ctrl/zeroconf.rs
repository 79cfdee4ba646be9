//! stafd's mDNS (TP8009) browser state without I/O (nvme-stas-behaviour.md §5.4): the
//! services avahi-daemon reports, what their TXT records say, whether each one passed the
//! reachability check, and the list of discovery controllers that results.
//!
//! Inputs are avahi's browser and resolver events (already decoded from D-Bus) and the
//! results of the TCP reachability probes; outputs are [`Action`]s: probe this address
//! bound to that interface, or report this list of controllers to the stafd core. The
//! caller ([`crate::daemon::zeroconf`]) owns the clock, the sockets and the D-Bus client.
//!
//! Rules kept from nvme-stas: a service is identified by `(interface, protocol, name,
//! type, domain)`; only resolved, valid and reachable services are reported; TCP services
//! are probed with backoff 5, 10, 30, 60, 300, 600, 600… s (RDMA counts as reachable);
//! `host-iface` is the interface the announcement arrived on (tcp only); the same address
//! on two interfaces is logged as a misconfiguration. When avahi-daemon goes away every
//! service is forgotten; the core keeps the discovered controllers it has (§5.3 rule 5)
//! and ages them per `zeroconf-connections-persistence` (§5.8).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use crate::model::snapshot::{AvahiServiceView, AvahiView, TimerView};
use crate::model::trid::{TidDefaults, TransportId};
use crate::proto::txt::dc_txt;
use crate::proto::validate::{check_value, MAX_IFACE_LEN};

/// The DNS-SD service types of TP8009.
pub const SERVICE_TYPES: [&str; 2] = ["_nvme-disc._tcp", "_nvme-disc._udp"];

pub use crate::model::snapshot::AVAHI_WAKE_UP;

/// Reachability retry delays, in order; the last repeats.
pub const PROBE_BACKOFF: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(600),
];

/// avahi's `AVAHI_PROTO_INET`.
pub const PROTO_INET: i32 = 0;

/// A service as avahi-daemon identifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Interface index (in stafd's network namespace).
    pub iface: i32,
    /// `AVAHI_PROTO_INET` (0) or `AVAHI_PROTO_INET6` (1).
    pub proto: i32,
    /// Instance name (free text).
    pub name: String,
    /// Service type.
    pub stype: String,
    /// Domain (`local`).
    pub domain: String,
}

/// What a resolver found for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Target host name.
    pub host: String,
    /// Address text as avahi gives it.
    pub address: String,
    /// Port.
    pub port: u16,
    /// TXT record entries.
    pub txt: Vec<Vec<u8>>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// avahi-daemon appeared (`true`) or went away (`false`).
    Available(bool),
    /// A browser reported a service (`ItemNew`).
    ItemNew(ServiceKey),
    /// A browser withdrew a service (`ItemRemove`).
    ItemRemove(ServiceKey),
    /// A resolver found (or re-found) a service; `ifname` is the name of `key.iface` in
    /// stafd's network namespace, when it has one.
    Found {
        /// The service.
        key: ServiceKey,
        /// Its data.
        resolved: Resolved,
        /// The interface name.
        ifname: Option<String>,
    },
    /// A reachability probe ended.
    ProbeDone {
        /// The service probed.
        key: ServiceKey,
        /// The address probed (a result for an address the service no longer has is
        /// ignored).
        addr: SocketAddr,
        /// Whether the TCP connect succeeded.
        reachable: bool,
    },
    /// `[Service Discovery] zeroconf` (on reload).
    Enabled(bool),
    /// The TID defaults changed (`ignore-iface`, on reload).
    Defaults(TidDefaults),
    /// A deadline passed.
    Tick,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Connect to `addr` over TCP, bound to `iface`, and answer with [`Input::ProbeDone`].
    Probe {
        /// The service.
        key: ServiceKey,
        /// Where.
        addr: SocketAddr,
        /// Interface name to bind to.
        iface: String,
    },
    /// Tell the stafd core the complete list of reachable discovery controllers.
    Report(Vec<TransportId>),
}

#[derive(Debug)]
struct Service {
    /// The controller it announces, once resolved and valid.
    dc: Option<Announced>,
    reachable: bool,
    probing: bool,
    failures: usize,
    next_probe: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Announced {
    tid: TransportId,
    addr: SocketAddr,
}

/// The browser state.
#[derive(Debug)]
pub struct Zeroconf {
    enabled: bool,
    tp8013: bool,
    defaults: TidDefaults,
    /// Since when avahi-daemon is absent (`None` while it is there or unknown).
    absent_since: Option<Instant>,
    services: BTreeMap<ServiceKey, Service>,
    reported: Vec<TransportId>,
}

impl Zeroconf {
    /// A browser; `tp8013` is whether the kernel has the `discovery` option.
    #[must_use]
    pub fn new(enabled: bool, tp8013: bool, defaults: TidDefaults) -> Self {
        Self {
            enabled,
            tp8013,
            defaults,
            absent_since: None,
            services: BTreeMap::new(),
            reported: Vec::new(),
        }
    }

    /// Whether browsing is on.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Handles one input.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Available(true) => self.absent_since = None,
            Input::Available(false) => {
                if self.absent_since.is_none() {
                    tracing::warn!("avahi-daemon not available, zeroconf not supported.");
                    self.absent_since = Some(now);
                }
                self.services.clear();
            }
            Input::Enabled(on) => {
                self.enabled = on;
                if !on {
                    self.services.clear();
                    self.absent_since = None;
                }
            }
            Input::Defaults(d) => {
                self.defaults = d;
                for s in self.services.values_mut() {
                    if let Some(dc) = &mut s.dc {
                        dc.tid.host_nqn.clone_from(&self.defaults.host_nqn);
                        if self.defaults.ignore_iface {
                            dc.tid.host_iface.clear();
                        }
                    }
                }
            }
            Input::ItemNew(key) => {
                if self.enabled {
                    tracing::debug!(name = %key.name, iface = key.iface, "mDNS service found");
                    self.services.entry(key).or_insert_with(|| Service {
                        dc: None,
                        reachable: false,
                        probing: false,
                        failures: 0,
                        next_probe: None,
                    });
                }
            }
            Input::ItemRemove(key) => {
                if self.services.remove(&key).is_some() {
                    tracing::info!(name = %key.name, iface = key.iface, "mDNS service withdrawn");
                }
            }
            Input::Found {
                key,
                resolved,
                ifname,
            } => self.found(now, &key, &resolved, ifname),
            Input::ProbeDone {
                key,
                addr,
                reachable,
            } => {
                let current = |s: &&mut Service| s.dc.as_ref().is_some_and(|d| d.addr == addr);
                if let Some(s) = self.services.get_mut(&key).filter(current) {
                    s.probing = false;
                    if reachable {
                        if !s.reachable {
                            tracing::info!(name = %key.name, "mDNS service reachable");
                        }
                        s.reachable = true;
                        s.failures = 0;
                        s.next_probe = None;
                    } else {
                        let delay = PROBE_BACKOFF[s.failures.min(PROBE_BACKOFF.len() - 1)];
                        if s.failures == 0 {
                            tracing::info!(name = %key.name, retry_s = delay.as_secs(), "mDNS service not reachable, will retry");
                        }
                        s.failures += 1;
                        s.next_probe = Some(now + delay);
                    }
                }
            }
            Input::Tick => {}
        }
        self.due_probes(now, &mut actions);
        if let Some(report) = self.report_if_changed() {
            actions.push(Action::Report(report));
        }
        actions
    }

    fn found(&mut self, now: Instant, key: &ServiceKey, r: &Resolved, ifname: Option<String>) {
        let announced = match self.announced(key, r, ifname) {
            Ok(a) => a,
            Err(why) => {
                tracing::error!(name = %key.name, iface = key.iface, address = %r.address, "ignoring mDNS service: {why}");
                self.services.remove(key);
                return;
            }
        };
        if let Some((other, _)) = self.services.iter().find(|(k, s)| {
            k.iface != key.iface
                && s.dc
                    .as_ref()
                    .is_some_and(|d| d.addr.ip() == announced.addr.ip())
        }) {
            tracing::error!(address = %announced.addr.ip(), iface = key.iface, other_iface = other.iface,
                "the same address is announced on two interfaces: network misconfiguration");
        }
        let Some(s) = self.services.get_mut(key) else {
            // Found after ItemRemove (or while disabled): nothing to do.
            return;
        };
        let changed = s.dc.as_ref().is_none_or(|d| d.tid != announced.tid);
        if changed {
            // A probe under way answers for the old data and is ignored.
            s.probing = false;
            s.reachable = announced.tid.transport == "rdma";
            s.failures = 0;
            s.next_probe = (!s.reachable).then_some(now);
        }
        s.dc = Some(announced);
    }

    fn announced(
        &self,
        key: &ServiceKey,
        r: &Resolved,
        ifname: Option<String>,
    ) -> Result<Announced, String> {
        let txt = dc_txt(&r.txt, self.tp8013).map_err(|e| e.to_string())?;
        if txt.ignored > 0 {
            tracing::warn!(name = %key.name, ignored = txt.ignored, "malformed mDNS TXT entries ignored");
        }
        let ip = normalise(
            r.address
                .trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("address {:?} is not an IP address", r.address))?,
        );
        let host_iface = if txt.transport == "tcp" && !self.defaults.ignore_iface {
            let name = ifname.ok_or_else(|| format!("no interface with index {}", key.iface))?;
            check_value(&name, MAX_IFACE_LEN).map_err(|e| format!("interface name: {e}"))?;
            name
        } else {
            String::new()
        };
        let tid = TransportId {
            transport: txt.transport.to_owned(),
            traddr: ip.to_string(),
            trsvcid: r.port.to_string(),
            subsysnqn: txt.subsysnqn,
            host_traddr: String::new(),
            host_iface,
            host_nqn: self.defaults.host_nqn.clone(),
        };
        Ok(Announced {
            tid,
            addr: SocketAddr::new(ip, r.port),
        })
    }

    fn due_probes(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for (key, s) in &mut self.services {
            let (Some(at), Some(dc)) = (s.next_probe, &s.dc) else {
                continue;
            };
            if at <= now && !s.probing {
                s.probing = true;
                s.next_probe = None;
                actions.push(Action::Probe {
                    key: key.clone(),
                    addr: dc.addr,
                    iface: dc.tid.host_iface.clone(),
                });
            }
        }
    }

    /// The reachable controllers, sorted and without duplicates.
    #[must_use]
    pub fn reachable(&self) -> Vec<TransportId> {
        let mut v: Vec<TransportId> = self
            .services
            .values()
            .filter(|s| s.reachable)
            .filter_map(|s| s.dc.as_ref().map(|d| d.tid.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn report_if_changed(&mut self) -> Option<Vec<TransportId>> {
        let now = self.reachable();
        (now != self.reported).then(|| {
            self.reported.clone_from(&now);
            now
        })
    }

    /// The next time [`Input::Tick`] is needed.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.services
            .values()
            .filter(|s| !s.probing)
            .filter_map(|s| s.next_probe)
            .min()
    }

    /// `process_info`'s `avahi` section.
    #[must_use]
    pub fn view(&self, now: Instant) -> AvahiView {
        let remaining = self.absent_since.map(|t| {
            let period = AVAHI_WAKE_UP.as_millis();
            let into = now.saturating_duration_since(t).as_millis() % period;
            Duration::from_millis(u64::try_from(period - into).unwrap_or(0))
        });
        AvahiView {
            wake_up_timer: TimerView {
                period: AVAHI_WAKE_UP,
                remaining,
            },
            service_types: if self.enabled {
                SERVICE_TYPES.iter().map(|s| (*s).to_owned()).collect()
            } else {
                Vec::new()
            },
            services: self
                .services
                .iter()
                .filter_map(|(k, s)| {
                    let dc = s.dc.as_ref()?;
                    let family = if k.proto == PROTO_INET {
                        "IPv4"
                    } else {
                        "IPv6"
                    };
                    let iface = if dc.tid.host_iface.is_empty() {
                        k.iface.to_string()
                    } else {
                        dc.tid.host_iface.clone()
                    };
                    Some((
                        format!("({iface}, {family}, {}.{}, {})", k.name, k.domain, k.stype),
                        AvahiServiceView {
                            transport: dc.tid.transport.clone(),
                            traddr: dc.tid.traddr.clone(),
                            trsvcid: dc.tid.trsvcid.clone(),
                            host_iface: dc.tid.host_iface.clone(),
                            subsysnqn: dc.tid.subsysnqn.clone(),
                            reachable: s.reachable,
                        },
                    ))
                })
                .collect(),
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4 (nvme-stas normalises them for the duplicate check).
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trid::WELL_KNOWN_DISC_NQN;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:host";

    fn defaults() -> TidDefaults {
        TidDefaults {
            host_nqn: HOSTNQN.into(),
            ignore_iface: false,
        }
    }

    fn key(proto: i32) -> ServiceKey {
        ServiceKey {
            iface: 2,
            proto,
            name: "array-a".into(),
            stype: SERVICE_TYPES[0].into(),
            domain: "local".into(),
        }
    }

    fn found(k: ServiceKey, address: &str, txt: &[&str]) -> Input {
        Input::Found {
            key: k,
            resolved: Resolved {
                host: "array-a.local".into(),
                address: address.into(),
                port: 8009,
                txt: txt.iter().map(|t| t.as_bytes().to_vec()).collect(),
            },
            ifname: Some("h0".into()),
        }
    }

    fn good() -> Input {
        found(
            key(0),
            "192.0.2.2",
            &["p=tcp", "nqn=nqn.2024-01.com.example:dc"],
        )
    }

    fn probe_done(reachable: bool) -> Input {
        Input::ProbeDone {
            key: key(0),
            addr: "192.0.2.2:8009".parse().unwrap(),
            reachable,
        }
    }

    #[test]
    fn a_probe_of_an_old_address_is_ignored() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(0)));
        assert_eq!(probes(&z.handle(t0, good())).len(), 1);
        // The service moves while the first probe runs: a new probe at once.
        let a = z.handle(t0, found(key(0), "192.0.2.3", &["p=tcp"]));
        assert_eq!(probes(&a)[0].0, "192.0.2.3:8009".parse().unwrap());
        // The old probe's success does not make the new address reachable.
        assert!(report(&z.handle(t0, probe_done(true))).is_none());
        assert!(z.reachable().is_empty());
    }

    fn probes(actions: &[Action]) -> Vec<(SocketAddr, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Probe { addr, iface, .. } => Some((*addr, iface.clone())),
                Action::Report(_) => None,
            })
            .collect()
    }

    fn report(actions: &[Action]) -> Option<Vec<TransportId>> {
        actions.iter().find_map(|a| match a {
            Action::Report(r) => Some(r.clone()),
            Action::Probe { .. } => None,
        })
    }

    #[test]
    fn tcp_service_is_reported_once_reachable() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        assert!(z.handle(t0, Input::ItemNew(key(0))).is_empty());
        let a = z.handle(t0, good());
        assert_eq!(
            probes(&a),
            vec![("192.0.2.2:8009".parse().unwrap(), "h0".to_owned())]
        );
        assert_eq!(report(&a), None, "not reported before the probe");
        let a = z.handle(t0, probe_done(true));
        let r = report(&a).expect("reported");
        assert_eq!(r.len(), 1);
        let tid = &r[0];
        assert_eq!(
            (
                tid.transport.as_str(),
                tid.traddr.as_str(),
                tid.trsvcid.as_str()
            ),
            ("tcp", "192.0.2.2", "8009")
        );
        assert_eq!(tid.host_iface, "h0");
        assert_eq!(tid.host_nqn, HOSTNQN);
        assert_eq!(tid.subsysnqn, "nqn.2024-01.com.example:dc");
        // Re-found with the same data: nothing new.
        let a = z.handle(t0, good());
        assert!(a.is_empty(), "{a:?}");
        // Withdrawn: the list is empty again.
        let a = z.handle(t0, Input::ItemRemove(key(0)));
        assert_eq!(report(&a), Some(vec![]));
    }

    #[test]
    fn unreachable_service_is_probed_with_backoff() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(0)));
        assert_eq!(
            probes(&z.handle(t0, found(key(0), "192.0.2.2", &["p=tcp"]))).len(),
            1
        );
        let mut now = t0;
        for delay in [5, 10, 30, 60, 300, 600, 600] {
            let a = z.handle(now, probe_done(false));
            assert!(a.is_empty());
            let next = z.next_deadline().unwrap();
            assert_eq!(next - now, Duration::from_secs(delay));
            assert!(probes(&z.handle(next - Duration::from_millis(1), Input::Tick)).is_empty());
            now = next;
            assert_eq!(probes(&z.handle(now, Input::Tick)).len(), 1);
            assert_eq!(z.next_deadline(), None, "no deadline while probing");
        }
    }

    #[test]
    fn rdma_is_reachable_without_probe_and_has_no_iface() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(1)));
        let a = z.handle(t0, found(key(1), "fd00::2", &["p=roce"]));
        assert!(probes(&a).is_empty());
        let r = report(&a).unwrap();
        assert_eq!(r[0].transport, "rdma");
        assert_eq!(r[0].host_iface, "");
        assert_eq!(r[0].subsysnqn, WELL_KNOWN_DISC_NQN);
    }

    #[test]
    fn hostile_or_invalid_announcements_are_ignored() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        for txt in [
            &["p=walmart"][..],
            &["nqn=nqn.x"][..],
            &["p=tcp", "nqn=nqn.x,hostnqn"][..],
        ] {
            z.handle(t0, Input::ItemNew(key(0)));
            let a = z.handle(t0, found(key(0), "192.0.2.2", txt));
            assert!(a.is_empty(), "{txt:?}: {a:?}");
            assert!(z.view(t0).services.is_empty());
        }
        z.handle(t0, Input::ItemNew(key(0)));
        assert!(z
            .handle(t0, found(key(0), "192.0.2.2,x", &["p=tcp"]))
            .is_empty());
        let mut k = key(0);
        k.iface = 9;
        z.handle(t0, Input::ItemNew(k.clone()));
        let a = z.handle(
            t0,
            Input::Found {
                key: k,
                resolved: Resolved {
                    host: String::new(),
                    address: "192.0.2.2".into(),
                    port: 8009,
                    txt: vec![b"p=tcp".to_vec()],
                },
                ifname: Some("a,b".into()),
            },
        );
        assert!(a.is_empty());
    }

    #[test]
    fn avahi_gone_forgets_services_and_runs_the_wake_up_timer() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(0)));
        z.handle(t0, found(key(0), "::ffff:192.0.2.2", &["p=rdma"]));
        assert_eq!(
            z.reachable()[0].traddr,
            "192.0.2.2",
            "IPv4-mapped normalised"
        );
        let a = z.handle(t0, Input::Available(false));
        assert_eq!(report(&a), Some(vec![]));
        let v = z.view(t0 + Duration::from_secs(70));
        assert_eq!(v.wake_up_timer.remaining, Some(Duration::from_secs(50)));
        z.handle(t0, Input::Available(true));
        assert_eq!(z.view(t0).wake_up_timer.remaining, None);
    }

    #[test]
    fn disabled_browser_ignores_items_and_shows_no_types() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(0)));
        z.handle(t0, found(key(0), "192.0.2.2", &["p=rdma"]));
        let a = z.handle(t0, Input::Enabled(false));
        assert_eq!(report(&a), Some(vec![]));
        assert!(z.view(t0).service_types.is_empty());
        z.handle(t0, Input::ItemNew(key(0)));
        assert!(z
            .handle(t0, found(key(0), "192.0.2.2", &["p=rdma"]))
            .is_empty());
    }

    #[test]
    fn view_uses_nvme_stas_key_text() {
        let t0 = Instant::now();
        let mut z = Zeroconf::new(true, true, defaults());
        z.handle(t0, Input::ItemNew(key(1)));
        z.handle(t0, found(key(1), "fd00::2", &["p=tcp"]));
        let v = z.view(t0);
        assert_eq!(
            v.services[0].0,
            "(h0, IPv6, array-a.local, _nvme-disc._tcp)"
        );
        assert!(!v.services[0].1.reachable);
        assert_eq!(v.service_types, SERVICE_TYPES);
    }
}
