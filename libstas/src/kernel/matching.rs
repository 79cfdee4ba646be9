//! Does an existing kernel controller serve a candidate connection? The rules of
//! nvme-stas `_cid_matches_tid` (nvme-stas-behaviour.md §5.10, kernel-interface.md §2.6),
//! with the TP8013 exception for the well-known discovery NQN.
//!
//! - transport, trsvcid and host NQN must be equal strings;
//! - subsystem NQN equal, unless the candidate uses the well-known discovery NQN (a DC may
//!   report its unique NQN in sysfs);
//! - traddr: IP equality for tcp/rdma (case, zero compression and IPv4-mapped forms do not
//!   matter), case-insensitive text for fc/loop;
//! - tcp with a candidate host-traddr or host-iface: when the controller shows `src_addr`
//!   (6.1+, live), host-traddr must equal it and host-iface must be the interface owning it;
//!   otherwise (legacy) compare with the controller's host_traddr/host_iface, deriving one
//!   from the other through the interface list, and assume a match when it has neither;
//! - fc: host-traddr equal, case-insensitive (mandatory);
//! - rdma: host-traddr IP-equal when the candidate gives one.
//!
//! One deliberate choice where nvme-stas's code and the spec differ: legacy controller with
//! only a host_iface and a candidate host-traddr: the spec's rule (compare with the
//! interface's *primary* address of that family) is used, not nvme-stas's "only if the
//! interface has exactly one address".

use std::net::IpAddr;

use super::netif::{iface_of, ip_key, primary_addr, IfAddr};
use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};

/// The identity of an existing controller, as read from sysfs (nvme-stas's "cid").
/// Empty strings mean "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingId {
    /// Transport.
    pub transport: String,
    /// Target address.
    pub traddr: String,
    /// Target service id.
    pub trsvcid: String,
    /// Subsystem NQN (sysfs, i.e. from Identify).
    pub subsysnqn: String,
    /// Host address given at connect time.
    pub host_traddr: String,
    /// Host interface given at connect time.
    pub host_iface: String,
    /// Host NQN.
    pub host_nqn: String,
    /// Actual source address (6.1+, live only).
    pub src_addr: String,
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.eq_ignore_ascii_case("none")).then_some(s)
}

fn addr_eq(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x == y)
}

/// Legacy TCP source-side rule (no `src_addr`).
fn tcp_legacy(
    cid: &ExistingId,
    cand_traddr: Option<&str>,
    cand_iface: Option<&str>,
    ifaddrs: &[IfAddr],
) -> bool {
    let cid_iface = nonempty(&cid.host_iface);
    let cid_traddr = nonempty(&cid.host_traddr).and_then(ip_key);
    match (cid_iface, cid_traddr) {
        // Nothing known about the existing connection's source: optimistic match.
        (None, None) => true,
        (None, Some(cid_addr)) => {
            if let Some(t) = cand_traddr {
                if !addr_eq(ip_key(t), Some(cid_addr)) {
                    return false;
                }
            }
            if let Some(i) = cand_iface {
                if iface_of(ifaddrs, cid_addr) != Some(i) {
                    return false;
                }
            }
            true
        }
        (Some(ci), None) => {
            if cand_iface.is_some_and(|i| i != ci) {
                return false;
            }
            if let Some(t) = cand_traddr {
                let Some(t) = ip_key(t) else {
                    return false;
                };
                if primary_addr(ifaddrs, ci, t) != Some(t) {
                    return false;
                }
            }
            true
        }
        (Some(ci), Some(cid_addr)) => {
            if cand_iface.is_some_and(|i| i != ci) {
                return false;
            }
            if let Some(t) = cand_traddr {
                if !addr_eq(ip_key(t), Some(cid_addr)) {
                    return false;
                }
            }
            true
        }
    }
}

/// Whether the existing controller `cid` can serve the candidate connection `tid`.
#[must_use]
pub fn cid_matches_tid(cid: &ExistingId, tid: &TransportId, ifaddrs: &[IfAddr]) -> bool {
    if cid.transport != tid.transport || cid.trsvcid != tid.trsvcid || cid.host_nqn != tid.host_nqn
    {
        return false;
    }
    if cid.subsysnqn != tid.subsysnqn && tid.subsysnqn != WELL_KNOWN_DISC_NQN {
        return false;
    }
    let traddr_ok = match tid.transport.as_str() {
        "tcp" | "rdma" => addr_eq(ip_key(&tid.traddr), ip_key(&cid.traddr)),
        _ => tid.traddr.eq_ignore_ascii_case(&cid.traddr),
    };
    if !traddr_ok {
        return false;
    }
    let cand_traddr = nonempty(&tid.host_traddr);
    let cand_iface = nonempty(&tid.host_iface);
    match tid.transport.as_str() {
        "tcp" if cand_traddr.is_some() || cand_iface.is_some() => {
            let Some(src) = nonempty(&cid.src_addr).and_then(ip_key) else {
                return tcp_legacy(cid, cand_traddr, cand_iface, ifaddrs);
            };
            if let Some(t) = cand_traddr {
                if !addr_eq(ip_key(t), Some(src)) {
                    return false;
                }
            }
            if let Some(i) = cand_iface {
                if iface_of(ifaddrs, src) != Some(i) {
                    return false;
                }
            }
            true
        }
        "fc" => tid.host_traddr.eq_ignore_ascii_case(&cid.host_traddr),
        "rdma" => cand_traddr.is_none_or(|t| addr_eq(ip_key(t), ip_key(&cid.host_traddr))),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    //! The test-udev.py `_cid_matches_tid` matrix (nvme-stas-behaviour.md §6), run for
    //! every address of a fixed interface list (two interfaces, IPv4 and IPv6, one with two
    //! addresses per family), plus the TP8013 and host-NQN rows.
    use super::*;

    const TRADDR4: &str = "1.2.3.4";
    const TRADDR4_REV: &str = "4.3.2.1";
    const TRADDR6: &str = "FE80::aaaa:BBBB:cccc:dddd";
    const TRADDR6_REV: &str = "fe80::DDDD:cccc:bbbb:AAAA";

    fn ifaces() -> Vec<IfAddr> {
        [
            ("lo", "127.0.0.1"),
            ("lo", "::1"),
            ("eth0", "192.168.1.2"),
            ("eth0", "192.168.1.3"),
            ("eth0", "fe80::1"),
            ("eth0", "2001:db8::1"),
            ("wlan0", "10.0.0.7"),
            ("wlan0", "fe80::7"),
        ]
        .iter()
        .filter_map(|(i, a)| IfAddr::new(i, a))
        .collect()
    }

    fn traddr(v6: bool, rev: bool) -> &'static str {
        match (v6, rev) {
            (false, false) => TRADDR4,
            (false, true) => TRADDR4_REV,
            (true, false) => TRADDR6,
            (true, true) => TRADDR6_REV,
        }
    }

    fn tid(pairs: &[(&str, &str)]) -> TransportId {
        let mut t = TransportId::default();
        for (k, v) in pairs {
            let v = (*v).to_owned();
            match *k {
                "transport" => t.transport = v,
                "traddr" => t.traddr = v,
                "trsvcid" => t.trsvcid = v,
                "subsysnqn" => t.subsysnqn = v,
                "host-traddr" => t.host_traddr = v,
                "host-iface" => t.host_iface = v,
                "host-nqn" => t.host_nqn = v,
                other => panic!("{other}"),
            }
        }
        t
    }

    fn cid(v6: bool, host_traddr: &str, host_iface: &str, src_addr: &str) -> ExistingId {
        ExistingId {
            transport: "tcp".into(),
            traddr: traddr(v6, false).into(),
            trsvcid: "8009".into(),
            subsysnqn: "hello".into(),
            host_traddr: host_traddr.into(),
            host_iface: host_iface.into(),
            host_nqn: String::new(),
            src_addr: src_addr.into(),
        }
    }

    /// The 12 numbered candidates of `get_tids_to_test` with their expected result.
    fn numbered(v6: bool, src: &str, ifname: &str) -> Vec<(u32, TransportId, bool)> {
        let t = traddr(v6, false);
        vec![
            (
                1,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                true,
            ),
            (
                2,
                tid(&[
                    ("transport", "blah"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                false,
            ),
            (
                3,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", traddr(v6, true)),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                false,
            ),
            (
                4,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8010"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                false,
            ),
            (
                5,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", "255.255.255.255"),
                    ("host-iface", ifname),
                ]),
                false,
            ),
            (
                6,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", "blah"),
                ]),
                false,
            ),
            (
                7,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "bob"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                false,
            ),
            (
                8,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-iface", ifname),
                ]),
                true,
            ),
            (
                9,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                ]),
                true,
            ),
            (
                10,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                ]),
                true,
            ),
            (
                11,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-traddr", src),
                    ("host-iface", ifname),
                ]),
                true,
            ),
            (
                12,
                tid(&[
                    ("transport", "tcp"),
                    ("traddr", t),
                    ("trsvcid", "8009"),
                    ("subsysnqn", "hello"),
                    ("host-iface", ifname),
                ]),
                true,
            ),
        ]
    }

    fn for_each_local(v6: bool, mut f: impl FnMut(&str, &str, &[String])) {
        let l = ifaces();
        let mut names: Vec<&str> = l.iter().map(|a| a.iface.as_str()).collect();
        names.dedup();
        for ifname in names {
            let addrs: Vec<String> = l
                .iter()
                .filter(|a| a.iface == ifname && a.addr.is_ipv6() == v6)
                .map(|a| a.addr.to_string())
                .collect();
            for src in &addrs {
                f(ifname, src, &addrs);
            }
        }
    }

    #[test]
    fn numbered_cases_with_src_addr_and_legacy() {
        let l = ifaces();
        for v6 in [false, true] {
            let mut ran = 0;
            for_each_local(v6, |ifname, src, _| {
                let live = cid(v6, src, ifname, src);
                let legacy = cid(v6, src, ifname, "");
                for (case, t, want) in numbered(v6, src, ifname) {
                    assert_eq!(
                        cid_matches_tid(&live, &t, &l),
                        want,
                        "case {case} v6={v6} {ifname} {src}"
                    );
                    assert_eq!(
                        cid_matches_tid(&legacy, &t, &l),
                        want,
                        "legacy case {case} v6={v6} {ifname} {src}"
                    );
                    ran += 1;
                }
            });
            assert!(ran >= 24);
        }
    }

    #[test]
    fn legacy_extras() {
        let l = ifaces();
        for v6 in [false, true] {
            let t = traddr(v6, false);
            let other = if v6 { "AAAA::FFFF" } else { "1.1.1.1" };
            let base = [
                ("transport", "tcp"),
                ("traddr", t),
                ("trsvcid", "8009"),
                ("subsysnqn", "hello"),
            ];
            let with = |extra: &[(&'static str, &str)]| {
                let mut v: Vec<(&str, &str)> = base.to_vec();
                v.extend_from_slice(extra);
                tid(&v)
            };
            for_each_local(v6, |ifname, src, addrs| {
                // A: device with no host info; candidate host-traddr anything: optimistic.
                let none = cid(v6, "", "", "");
                assert!(
                    cid_matches_tid(&none, &with(&[("host-traddr", other)]), &l),
                    "A.1"
                );
                // Device iface-only, candidate without host info.
                let iface_only = cid(v6, "", ifname, "");
                assert!(cid_matches_tid(&iface_only, &with(&[]), &l), "A.2");
                // B/C/D: device traddr-only.
                let traddr_only = cid(v6, src, "", "");
                assert!(
                    !cid_matches_tid(&traddr_only, &with(&[("host-traddr", other)]), &l),
                    "B"
                );
                assert!(
                    !cid_matches_tid(&traddr_only, &with(&[("host-iface", "blah")]), &l),
                    "C"
                );
                assert!(
                    cid_matches_tid(&traddr_only, &with(&[("host-iface", ifname)]), &l),
                    "D {ifname} {src}"
                );
                // E/F/G: device iface-only.
                assert!(
                    !cid_matches_tid(
                        &iface_only,
                        &with(&[("host-traddr", other), ("host-iface", "blah")]),
                        &l
                    ),
                    "E"
                );
                assert!(
                    !cid_matches_tid(&iface_only, &with(&[("host-traddr", other)]), &l),
                    "F"
                );
                // G: the primary address of the family on that interface matches; any
                // other address of the interface does not.
                let primary = &addrs[0];
                assert!(
                    cid_matches_tid(&iface_only, &with(&[("host-traddr", primary)]), &l),
                    "G {ifname} {primary}"
                );
                if src != primary {
                    assert!(
                        !cid_matches_tid(&iface_only, &with(&[("host-traddr", src)]), &l),
                        "G' {src}"
                    );
                }
            });
        }
    }

    #[test]
    fn fc_and_rdma() {
        let l = ifaces();
        let fc = ExistingId {
            transport: "fc".into(),
            traddr: "ABC".into(),
            subsysnqn: "hello".into(),
            host_traddr: "AAA::BBBB".into(),
            ..ExistingId::default()
        };
        let fct = |h: &str| {
            tid(&[
                ("transport", "fc"),
                ("traddr", "abc"),
                ("subsysnqn", "hello"),
                ("host-traddr", h),
            ])
        };
        assert!(
            cid_matches_tid(&fc, &fct("aaa::bbbb"), &l),
            "FC-1 (case-insensitive)"
        );
        assert!(!cid_matches_tid(&fc, &fct("BBBB::AAA"), &l), "FC-2");
        let rdma = ExistingId {
            transport: "rdma".into(),
            traddr: "2.3.4.5".into(),
            trsvcid: "4444".into(),
            subsysnqn: "hello".into(),
            host_traddr: "5.4.3.2".into(),
            ..ExistingId::default()
        };
        let rt = |h: &str| {
            tid(&[
                ("transport", "rdma"),
                ("traddr", "2.3.4.5"),
                ("trsvcid", "4444"),
                ("subsysnqn", "hello"),
                ("host-traddr", h),
            ])
        };
        assert!(cid_matches_tid(&rdma, &rt("5.4.3.2"), &l), "RDMA-1");
        assert!(!cid_matches_tid(&rdma, &rt("5.5.6.6"), &l), "RDMA-2");
        assert!(cid_matches_tid(&rdma, &rt(""), &l), "RDMA-3");
        assert!(
            cid_matches_tid(&rdma, &rt("::ffff:5.4.3.2"), &l),
            "IPv4-mapped folds"
        );
    }

    #[test]
    fn well_known_nqn_and_host_nqn() {
        let l = ifaces();
        let mut dc = cid(false, "", "", "127.0.0.1");
        dc.subsysnqn = "nqn.1988-11.com.dell:SFSS:2:20220208134025e8".into();
        let wk = tid(&[
            ("transport", "tcp"),
            ("traddr", "1.2.3.4"),
            ("trsvcid", "8009"),
            ("subsysnqn", WELL_KNOWN_DISC_NQN),
        ]);
        assert!(
            cid_matches_tid(&dc, &wk, &l),
            "TP8013: well-known NQN matches a unique-NQN DC"
        );
        let other = tid(&[
            ("transport", "tcp"),
            ("traddr", "1.2.3.4"),
            ("trsvcid", "8009"),
            ("subsysnqn", "nqn.other"),
        ]);
        assert!(!cid_matches_tid(&dc, &other, &l));
        let mut hn = wk.clone();
        hn.host_nqn = "nqn.2014-08.org.nvmexpress:uuid:other".into();
        assert!(!cid_matches_tid(&dc, &hn, &l), "host NQN must be equal");
        let mut none = cid(false, "none", "none", "");
        none.subsysnqn = WELL_KNOWN_DISC_NQN.into();
        let c = tid(&[
            ("transport", "tcp"),
            ("traddr", "1.2.3.4"),
            ("trsvcid", "8009"),
            ("subsysnqn", WELL_KNOWN_DISC_NQN),
            ("host-traddr", "9.9.9.9"),
        ]);
        assert!(
            cid_matches_tid(&none, &c, &l),
            "`none` host fields count as unset"
        );
    }
}
