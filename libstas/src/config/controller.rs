//! The `controller=` / `exclude=` string: `;`-separated `key=value` tokens
//! (nvme-stas-behaviour.md §1.5), and the per-controller connection overrides it carries.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::trid::{TidDefaults, TransportId, TID_KEYS};

/// Keys whose values are secrets: never shown in `Debug`, logs, D-Bus or CLI output.
pub const SECRET_KEYS: [&str; 2] = ["dhchap-secret", "dhchap-ctrl-secret"];

/// Keys nvme-stas understands in a `controller=` string, besides the identity keys.
pub const PARAM_KEYS: [&str; 12] = [
    "hdr-digest",
    "data-digest",
    "kato",
    "queue-size",
    "nr-io-queues",
    "nr-write-queues",
    "nr-poll-queues",
    "reconnect-delay",
    "ctrl-loss-tmo",
    "disable-sqflow",
    "dhchap-secret",
    "dhchap-ctrl-secret",
];

/// A parsed controller string: key → value, after the `nqn` → `subsysnqn` rename.
/// `Debug` redacts secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CtrlDict(pub BTreeMap<String, String>);

impl fmt::Debug for CtrlDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if SECRET_KEYS.contains(&k.as_str()) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

impl CtrlDict {
    /// The value of `key`, or `""`.
    #[must_use]
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    /// The transport identity this dictionary describes, built with nvme-stas's rules.
    #[must_use]
    pub fn tid(&self, defaults: &TidDefaults) -> TransportId {
        TransportId::from_cid(&self.0, defaults)
    }

    /// The non-identity keys (connection parameters and anything else the user wrote).
    #[must_use]
    pub fn cfg(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter(|(k, _)| !TID_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Something in a controller string that nvme-stas silently drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    /// A token that is not exactly `key=value` (no `=`, or more than one).
    Malformed(String),
    /// A token with an empty key (`=value`).
    EmptyKey(String),
}

impl fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(t) => write!(f, "token \"{t}\" is not key=value; ignored"),
            Self::EmptyKey(t) => write!(f, "token \"{t}\" has no key; ignored"),
        }
    }
}

/// Parses a `controller=` (or, with `exclude = true`, an `exclude=`) value. Returns the
/// dictionary and the tokens that were dropped.
#[must_use]
pub fn parse_controller(text: &str, exclude: bool) -> (CtrlDict, Vec<TokenProblem>) {
    let mut map = BTreeMap::new();
    let mut problems = Vec::new();
    for token in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let mut parts = token.split('=');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(v), None) => {
                let k = k.trim();
                if k.is_empty() {
                    problems.push(TokenProblem::EmptyKey(token.to_owned()));
                } else {
                    map.insert(k.to_owned(), v.trim().to_owned());
                }
            }
            _ => problems.push(TokenProblem::Malformed(token.to_owned())),
        }
    }
    if let Some(nqn) = map.remove("nqn") {
        map.insert("subsysnqn".to_owned(), nqn);
    }
    if exclude {
        map.remove("host-traddr");
    }
    (CtrlDict(map), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, &str)]) -> CtrlDict {
        CtrlDict(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn acceptance_parse_controller() {
        assert_eq!(parse_controller("", false).0, CtrlDict::default());
        assert_eq!(
            parse_controller("noequalsign", false).0,
            CtrlDict::default()
        );
        assert_eq!(
            parse_controller("key=val=extra", false).0,
            CtrlDict::default()
        );
        let (d, p) = parse_controller("transport=tcp;junk;a=b=c;traddr=1.1.1.1", false);
        assert_eq!(d, dict(&[("transport", "tcp"), ("traddr", "1.1.1.1")]));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn whitespace_rename_and_last_wins() {
        let (d, p) = parse_controller(
            " transport = tcp ; traddr=2001:db8::370:7334 ;host-iface=enp0s8; nqn=nqn.x ; traddr = 1.2.3.4 ;",
            false,
        );
        assert!(p.is_empty());
        assert_eq!(
            d,
            dict(&[
                ("transport", "tcp"),
                ("traddr", "1.2.3.4"),
                ("host-iface", "enp0s8"),
                ("subsysnqn", "nqn.x")
            ])
        );
        let (d, _) = parse_controller("subsysnqn=a;nqn=b", false);
        assert_eq!(d.get("subsysnqn"), "b");
    }

    #[test]
    fn exclude_drops_host_traddr() {
        let (d, _) = parse_controller("transport=tcp;traddr=10.10.10.10;host-traddr=1.1.1.1", true);
        assert_eq!(d, dict(&[("transport", "tcp"), ("traddr", "10.10.10.10")]));
    }

    #[test]
    fn comma_is_not_a_separator() {
        let (d, _) = parse_controller("host-iface=eth0,nqn=x", false);
        assert_eq!(d.get("host-iface"), "");
        assert!(d.0.is_empty(), "two '=' in one token: dropped");
    }

    #[test]
    fn debug_redacts_secrets() {
        let (d, _) = parse_controller("transport=tcp;dhchap-secret=DHHC-1:00:c2VjcmV0:", false);
        let s = format!("{d:?}");
        assert!(!s.contains("c2VjcmV0"), "{s}");
        assert!(s.contains("<redacted>"));
    }

    #[test]
    fn tid_and_cfg_split() {
        let (d, _) = parse_controller("transport=tcp;traddr=1.1.1.1;kato=71;foo=bar", false);
        let tid = d.tid(&TidDefaults::default());
        assert_eq!(tid.trsvcid, "8009");
        assert_eq!(d.cfg().keys().collect::<Vec<_>>(), ["foo", "kato"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}", ex in proptest::bool::ANY) {
            let _ = parse_controller(&s, ex);
        }
    }
}
