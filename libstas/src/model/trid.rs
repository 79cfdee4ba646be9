//! The transport identity (TID) of a controller: the 7-field key used everywhere.
//!
//! Equality and hashing are the exact string 7-tuple
//! `(transport, traddr, trsvcid, subsysnqn, host_traddr, host_iface, host_nqn)`, as in
//! nvme-stas (`staslib/trid.py`): there is deliberately no IP normalisation, so `FE80::1` and
//! `fe80::1` are different identities. The fuzzy "is this kernel controller the same
//! connection" question is answered elsewhere (the kernel matching rules).

use std::collections::BTreeMap;
use std::fmt;

/// The well-known discovery subsystem NQN.
pub const WELL_KNOWN_DISC_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";

/// Keys of the identity part of a controller dictionary, in nvme-stas's order.
pub const TID_KEYS: [&str; 7] = [
    "transport",
    "traddr",
    "trsvcid",
    "subsysnqn",
    "host-traddr",
    "host-iface",
    "host-nqn",
];

/// Transports nvme-stas knows. Anything else is carried as a string and dropped by the
/// address filter with "Invalid transport".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// NVMe/TCP.
    Tcp,
    /// NVMe/RDMA (RoCE, iWARP, InfiniBand).
    Rdma,
    /// NVMe/FC.
    Fc,
    /// The nvmet loop transport.
    Loop,
}

impl Transport {
    /// Parses the exact lower-case transport word (`tcp`, `rdma`, `fc`, `loop`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(Self::Tcp),
            "rdma" => Some(Self::Rdma),
            "fc" => Some(Self::Fc),
            "loop" => Some(Self::Loop),
            _ => None,
        }
    }

    /// The transport word as written in configuration and to the kernel.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Rdma => "rdma",
            Self::Fc => "fc",
            Self::Loop => "loop",
        }
    }

    /// Whether `traddr` is an IP address (or a host name to resolve) for this transport.
    #[must_use]
    pub fn is_ip_based(self) -> bool {
        matches!(self, Self::Tcp | Self::Rdma)
    }
}

/// The default `trsvcid` for a transport when the user left it empty: 8009 for tcp and 4420
/// for rdma. For every other transport the service id is forced to `""` whatever was given.
#[must_use]
pub fn effective_trsvcid(transport: &str, trsvcid: &str) -> String {
    match transport {
        "tcp" if trsvcid.is_empty() => "8009".to_owned(),
        "rdma" if trsvcid.is_empty() => "4420".to_owned(),
        "tcp" | "rdma" => trsvcid.to_owned(),
        _ => String::new(),
    }
}

/// Identity of one controller connection.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub struct TransportId {
    /// `tcp`, `rdma`, `fc`, `loop` (or an unknown word, rejected later).
    pub transport: String,
    /// Target address: IP address, host name (before resolution) or FC `nn-…:pn-…`.
    pub traddr: String,
    /// Transport service id (TCP port); empty for fc and loop.
    pub trsvcid: String,
    /// Subsystem NQN.
    pub subsysnqn: String,
    /// Host source address (TCP/RDMA) or host WWNN/WWPN (FC).
    pub host_traddr: String,
    /// Host interface the connection is bound to.
    pub host_iface: String,
    /// Host NQN used for this connection.
    pub host_nqn: String,
}

/// Context applied when a TID is built from a controller dictionary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TidDefaults {
    /// Host NQN used when the dictionary has no `host-nqn` (the sys.conf NQN).
    pub host_nqn: String,
    /// `[Global] ignore-iface`: strip `host-iface` at construction.
    pub ignore_iface: bool,
}

impl TransportId {
    /// Builds a TID from a controller dictionary (`controller=` keys, DLPE or mDNS data),
    /// applying nvme-stas's construction rules: trsvcid defaults, `ignore-iface`, host-nqn
    /// default.
    #[must_use]
    pub fn from_cid(cid: &BTreeMap<String, String>, defaults: &TidDefaults) -> Self {
        let get = |k: &str| cid.get(k).map(String::as_str).unwrap_or_default();
        let transport = get("transport").to_owned();
        let trsvcid = effective_trsvcid(&transport, get("trsvcid"));
        let host_iface = if defaults.ignore_iface {
            String::new()
        } else {
            get("host-iface").to_owned()
        };
        let host_nqn = match get("host-nqn") {
            "" => defaults.host_nqn.clone(),
            nqn => nqn.to_owned(),
        };
        Self {
            traddr: get("traddr").to_owned(),
            trsvcid,
            subsysnqn: get("subsysnqn").to_owned(),
            host_traddr: get("host-traddr").to_owned(),
            host_iface,
            host_nqn,
            transport,
        }
    }

    /// Builds the TID of a discovery log page entry: target fields from the entry, host
    /// fields inherited from the discovery controller `dc` that returned it.
    #[must_use]
    pub fn from_dlpe(trtype: &str, traddr: &str, trsvcid: &str, subnqn: &str, dc: &Self) -> Self {
        Self {
            transport: trtype.to_owned(),
            traddr: traddr.to_owned(),
            trsvcid: effective_trsvcid(trtype, trsvcid),
            subsysnqn: subnqn.to_owned(),
            host_traddr: dc.host_traddr.clone(),
            host_iface: dc.host_iface.clone(),
            host_nqn: dc.host_nqn.clone(),
        }
    }

    /// The parsed transport, if it is one nvme-stas knows.
    #[must_use]
    pub fn transport_kind(&self) -> Option<Transport> {
        Transport::parse(&self.transport)
    }

    /// The identity as `(key, value)` pairs with nvme-stas's dictionary keys.
    #[must_use]
    pub fn fields(&self) -> [(&'static str, &str); 7] {
        [
            (TID_KEYS[0], &self.transport),
            (TID_KEYS[1], &self.traddr),
            (TID_KEYS[2], &self.trsvcid),
            (TID_KEYS[3], &self.subsysnqn),
            (TID_KEYS[4], &self.host_traddr),
            (TID_KEYS[5], &self.host_iface),
            (TID_KEYS[6], &self.host_nqn),
        ]
    }

    /// The identity as a dictionary (nvme-stas `as_dict()` without cfg).
    #[must_use]
    pub fn as_dict(&self) -> BTreeMap<String, String> {
        self.fields()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

impl fmt::Display for TransportId {
    /// `(<transport>, <traddr>, <trsvcid>[, <subsysnqn>][, <host_iface>][, <host_traddr>])`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {}", self.transport, self.traddr, self.trsvcid)?;
        for part in [&self.subsysnqn, &self.host_iface, &self.host_traddr] {
            if !part.is_empty() {
                write!(f, ", {part}")?;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn seven() -> BTreeMap<String, String> {
        cid(&[
            ("transport", "tcp"),
            ("traddr", "10.10.10.10"),
            ("trsvcid", "8009"),
            ("subsysnqn", "nqn.1988-11.com.dell:SFSS:2:20220208134025e8"),
            ("host-traddr", "1.2.3.4"),
            ("host-iface", "wlp0s20f3"),
            (
                "host-nqn",
                "nqn.2014-08.org.nvmexpress:uuid:01234567-0123-0123-0123-0123456789ab",
            ),
        ])
    }

    #[test]
    fn properties_echo_inputs_and_as_dict_round_trips() {
        let tid = TransportId::from_cid(&seven(), &TidDefaults::default());
        assert_eq!(tid.transport, "tcp");
        assert_eq!(tid.traddr, "10.10.10.10");
        assert_eq!(tid.trsvcid, "8009");
        assert_eq!(tid.host_iface, "wlp0s20f3");
        assert_eq!(tid.as_dict(), seven());
    }

    #[test]
    fn display_matches_nvme_stas() {
        let tid = TransportId::from_cid(&seven(), &TidDefaults::default());
        assert_eq!(
            tid.to_string(),
            "(tcp, 10.10.10.10, 8009, nqn.1988-11.com.dell:SFSS:2:20220208134025e8, wlp0s20f3, 1.2.3.4)"
        );
        let bare = TransportId::from_cid(
            &cid(&[("transport", "tcp"), ("traddr", "1.1.1.1")]),
            &TidDefaults::default(),
        );
        assert_eq!(bare.to_string(), "(tcp, 1.1.1.1, 8009)");
        assert!(bare.to_string().starts_with("(tcp,"));
    }

    #[test]
    fn equality_is_exact_strings() {
        let a = TransportId::from_cid(&seven(), &TidDefaults::default());
        let b = TransportId::from_cid(&seven(), &TidDefaults::default());
        assert_eq!(a, b);
        let mut other = seven();
        other.insert("traddr".into(), "10.10.10.11".into());
        assert_ne!(a, TransportId::from_cid(&other, &TidDefaults::default()));
        let mut upper = seven();
        upper.insert("traddr".into(), "FE80::1".into());
        let mut lower = seven();
        lower.insert("traddr".into(), "fe80::1".into());
        assert_ne!(
            TransportId::from_cid(&upper, &TidDefaults::default()),
            TransportId::from_cid(&lower, &TidDefaults::default())
        );
    }

    #[test]
    fn trsvcid_defaults_per_transport() {
        assert_eq!(effective_trsvcid("tcp", ""), "8009");
        assert_eq!(effective_trsvcid("rdma", ""), "4420");
        assert_eq!(effective_trsvcid("tcp", "4420"), "4420");
        assert_eq!(effective_trsvcid("fc", "4420"), "");
        assert_eq!(effective_trsvcid("loop", "1"), "");
        assert_eq!(effective_trsvcid("blah", "1"), "");
    }

    #[test]
    fn ignore_iface_and_host_nqn_default() {
        let d = TidDefaults {
            host_nqn: "nqn.2014-08.org.example:host".into(),
            ignore_iface: true,
        };
        let mut c = seven();
        c.remove("host-nqn");
        let tid = TransportId::from_cid(&c, &d);
        assert_eq!(tid.host_iface, "");
        assert_eq!(tid.host_nqn, "nqn.2014-08.org.example:host");
    }

    #[test]
    fn dlpe_inherits_host_fields_from_dc() {
        let dc = TransportId::from_cid(&seven(), &TidDefaults::default());
        let ioc = TransportId::from_dlpe("tcp", "192.0.2.5", "4420", "nqn.x", &dc);
        assert_eq!(ioc.traddr, "192.0.2.5");
        assert_eq!(ioc.trsvcid, "4420");
        assert_eq!(ioc.subsysnqn, "nqn.x");
        assert_eq!(ioc.host_traddr, dc.host_traddr);
        assert_eq!(ioc.host_iface, dc.host_iface);
        assert_eq!(ioc.host_nqn, dc.host_nqn);
    }
}
