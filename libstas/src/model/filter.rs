//! Filtering rules applied to candidate controllers (nvme-stas-behaviour.md §5.11):
//! exclusion patterns, and address validity with the `ip-family` setting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::ip::parse_ip;
use super::trid::{Transport, TransportId};

/// The address families allowed for TCP/RDMA target addresses (`[Global] ip-family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFamily {
    /// IPv4 allowed.
    pub v4: bool,
    /// IPv6 allowed.
    pub v6: bool,
}

impl Default for IpFamily {
    fn default() -> Self {
        Self { v4: true, v6: true }
    }
}

impl IpFamily {
    /// Parses exactly `ipv4`, `ipv6`, `ipv4+ipv6` or `ipv6+ipv4` (case-sensitive).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ipv4" => Some(Self {
                v4: true,
                v6: false,
            }),
            "ipv6" => Some(Self {
                v4: false,
                v6: true,
            }),
            "ipv4+ipv6" | "ipv6+ipv4" => Some(Self::default()),
            _ => None,
        }
    }

    /// Whether `ip` is of an allowed family.
    #[must_use]
    pub fn allows(self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(_) => self.v4,
            IpAddr::V6(_) => self.v6,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.v4, self.v6) {
            (true, false) => "ipv4",
            (false, true) => "ipv6",
            _ => "ipv4+ipv6",
        })
    }
}

/// An `exclude=` pattern: every key/value pair must equal the controller's.
pub type ExcludePattern = BTreeMap<String, String>;

/// Whether a controller, given as its full dictionary (identity keys plus connection
/// parameters, nvme-stas's `tid.as_dict()`), is excluded by any pattern. A key the controller
/// does not have never matches. Empty patterns are not accepted by the configuration reader,
/// so they never reach this function with the meaning "everything".
#[must_use]
pub fn is_excluded(ctrl: &BTreeMap<String, String>, patterns: &[ExcludePattern]) -> bool {
    patterns.iter().any(|pat| {
        !pat.is_empty()
            && pat
                .iter()
                .all(|(k, v)| ctrl.get(k).is_some_and(|cv| cv == v))
    })
}

/// Why a candidate was dropped by the address filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    /// The transport is not tcp, rdma, fc or loop.
    InvalidTransport(String),
    /// tcp/rdma with a traddr that is not an IP address.
    InvalidAddress(String),
    /// The address family is disabled by `ip-family`.
    FamilyDisabled(String, IpFamily),
}

impl fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidTransport(t) => write!(f, "Invalid transport {t}"),
            Self::InvalidAddress(a) => write!(f, "Invalid traddr {a}: not an IP address"),
            Self::FamilyDisabled(a, fam) => {
                write!(f, "traddr {a} is not allowed by ip-family={fam}")
            }
        }
    }
}

/// nvme-stas `remove_invalid_addresses` for one TID: tcp/rdma need an IP address of an allowed
/// family; fc and loop are always accepted; any other transport is rejected.
///
/// # Errors
/// The reason the candidate must be dropped.
pub fn check_address(tid: &TransportId, family: IpFamily) -> Result<(), AddressProblem> {
    match tid.transport_kind() {
        None => Err(AddressProblem::InvalidTransport(tid.transport.clone())),
        Some(Transport::Fc | Transport::Loop) => Ok(()),
        Some(Transport::Tcp | Transport::Rdma) => match parse_ip(&tid.traddr, false) {
            None => Err(AddressProblem::InvalidAddress(tid.traddr.clone())),
            Some(ip) if !family.allows(ip) => {
                Err(AddressProblem::FamilyDisabled(tid.traddr.clone(), family))
            }
            Some(_) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ctrl() -> BTreeMap<String, String> {
        m(&[
            ("transport", "tcp"),
            ("traddr", "10.10.10.10"),
            ("trsvcid", "8009"),
            ("subsysnqn", "nqn.x"),
            ("host-traddr", ""),
            ("host-iface", "eth1"),
            ("host-nqn", "nqn.h"),
            ("kato", "30"),
        ])
    }

    #[test]
    fn excluded_truth_table() {
        let c = ctrl();
        assert!(!is_excluded(&c, &[]), "empty list");
        assert!(is_excluded(&c, std::slice::from_ref(&c)), "exact match");
        assert!(is_excluded(
            &c,
            &[m(&[("transport", "tcp"), ("traddr", "10.10.10.10")])]
        ));
        assert!(
            is_excluded(&c, &[m(&[("host-iface", "eth1")])]),
            "partial pattern"
        );
        assert!(
            !is_excluded(&c, &[m(&[("transport", "tcp"), ("traddr", "10.10.10.11")])]),
            "one field mismatch"
        );
        assert!(
            !is_excluded(&c, &[m(&[("foo", "bar")])]),
            "key missing from controller"
        );
        assert!(
            is_excluded(&c, &[m(&[("traddr", "1.1.1.1")]), m(&[("kato", "30")])]),
            "multiple patterns, cfg key"
        );
        assert!(
            !is_excluded(&c, &[m(&[])]),
            "an empty pattern excludes nothing"
        );
    }

    fn tid(transport: &str, traddr: &str) -> TransportId {
        TransportId {
            transport: transport.into(),
            traddr: traddr.into(),
            ..TransportId::default()
        }
    }

    #[test]
    fn address_validity_per_family() {
        let all = IpFamily::default();
        let v4 = IpFamily::parse("ipv4").unwrap();
        let v6 = IpFamily::parse("ipv6").unwrap();
        assert!(check_address(&tid("tcp", "1.1.1.1"), all).is_ok());
        assert!(check_address(&tid("tcp", "555.555.555.555"), all).is_err());
        assert!(check_address(&tid("tcp", "1.1.1.1"), v6).is_err());
        assert!(check_address(&tid("rdma", "2607:f8b0:4002:c2c::71"), v4).is_err());
        assert!(check_address(&tid("rdma", "2607:f8b0:4002:c2c::71"), v6).is_ok());
        assert!(check_address(&tid("fc", "nn-0x1:pn-0x2"), v4).is_ok());
        assert!(check_address(&tid("loop", ""), v6).is_ok());
        assert_eq!(
            check_address(&tid("blah", "1.1.1.1"), all)
                .unwrap_err()
                .to_string(),
            "Invalid transport blah"
        );
    }

    #[test]
    fn ip_family_words() {
        assert_eq!(IpFamily::parse("ipv6+ipv4"), Some(IpFamily::default()));
        assert_eq!(IpFamily::parse("IPv4"), None);
        assert_eq!(IpFamily::parse("ipv4").unwrap().to_string(), "ipv4");
    }
}
