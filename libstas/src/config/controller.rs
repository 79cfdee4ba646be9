//! The `controller=` / `exclude=` string: `;`-separated `key=value` tokens
//! (nvme-stas-behaviour.md §1.5), and the per-controller connection overrides it carries.
//!
//! One deliberate difference from nvme-stas: the value of a secret key is everything after
//! its first `=`. nvme-stas drops every token with more than one `=`, and so silently drops
//! a DH-HMAC-CHAP key whose base64 ends in `=` padding (48- and 64-byte keys), which makes
//! the host connect without authentication.
//!
//! The TLS keys (DECISIONS.md item 22; nvme-stas 2.x has none): `tls=true|false`,
//! `keyring=<serial>` and `tls-key=<serial>`, a key serial being decimal or `0x`
//! hexadecimal. stas does not import keys: a `tls-key` that is not a serial (a key in
//! interchange format `NVMeTLSkey-1:…`, a PIN, a name) is refused here, before anything can
//! keep or show it ([`TokenProblem::TlsKeyNotSerial`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::identity::{parse_host_key, InvalidValue};
use crate::kernel::fabrics::parse_key_serial;
use crate::model::trid::{TidDefaults, TransportId, TID_KEYS};

/// Keys whose values are secrets: never shown in `Debug`, logs, D-Bus or CLI output. They are
/// also the only keys whose values may contain `=` (base64 padding).
pub const SECRET_KEYS: [&str; 2] = ["dhchap-secret", "dhchap-ctrl-secret"];

/// Keys stas understands in a `controller=` string, besides the identity keys: nvme-stas's
/// and the TLS keys.
pub const PARAM_KEYS: [&str; 15] = [
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
    "tls",
    "tls-key",
    "keyring",
];

/// The key of the TLS key: its value must be a key serial (see the module docs).
pub const TLS_KEY: &str = "tls-key";

/// A parsed controller string: key → value, after the `nqn` → `subsysnqn` rename.
/// `Debug` redacts secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CtrlDict(pub BTreeMap<String, String>);

impl fmt::Debug for CtrlDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Redacted(&self.0).fmt(f)
    }
}

/// `Debug` of a key → value map (a controller's extra keys) with the values of
/// [`SECRET_KEYS`] replaced by `<redacted>`: what every type holding such a map prints.
pub struct Redacted<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.0 {
            if SECRET_KEYS.contains(&k.as_str()) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// A raw `controller=` line with the values of its [`SECRET_KEYS`] tokens replaced by
/// `<redacted>` (for `Debug` of raw configuration text).
#[must_use]
pub fn redact_line(text: &str) -> String {
    text.split(';')
        .map(|tok| {
            let key = tok
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tok.contains('=') && SECRET_KEYS.contains(&key.as_str()) {
                let k = &tok[..tok.find('=').unwrap_or(0)];
                format!("{k}=<redacted>")
            } else {
                tok.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
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

/// Something wrong with a token of a controller string. The messages never show a value that
/// may be a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    /// A token without `=`; dropped.
    NoEquals(String),
    /// A token with an empty key (`=value`); dropped.
    EmptyKey,
    /// A token with more than one `=` (`key=val=extra`) whose key is not a secret key;
    /// dropped, as nvme-stas does. Only the key is kept: the value is not shown.
    ExtraEquals {
        /// The key (the text before the first `=`).
        key: String,
    },
    /// A secret that is not a valid DH-HMAC-CHAP key. It is kept as written, so that the
    /// connection fails instead of going ahead without this key.
    InvalidSecret {
        /// `dhchap-secret` or `dhchap-ctrl-secret`.
        key: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `tls-key` that is not a key serial (it may be a key: never shown). Refused: the
    /// token is dropped, so the controller connects without `tls_key` (with `tls`, the kernel
    /// then picks the PSK by its identity in the `.nvme` keyring).
    TlsKeyNotSerial,
}

impl TokenProblem {
    /// Whether the problem is an error (the configuration asks for something stas refuses)
    /// rather than a warning (a token nvme-stas would also have ignored).
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(self, Self::TlsKeyNotSerial)
    }
}

impl fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEquals(t) if t.contains("DHHC-") => {
                f.write_str("a token is not key=value (it looks like a secret, not shown); ignored")
            }
            Self::NoEquals(t) => write!(f, "token \"{t}\" is not key=value; ignored"),
            Self::EmptyKey => f.write_str("a token has no key (\"=value\"); ignored"),
            Self::ExtraEquals { key } => write!(
                f,
                "the value of \"{key}\" contains '=' (only {} values may); token ignored",
                SECRET_KEYS.join(" and ")
            ),
            Self::InvalidSecret { key, why } => write!(
                f,
                "{key} is not a valid DH-HMAC-CHAP secret ({why}; the value is not shown); \
                 connections with it will fail"
            ),
            Self::TlsKeyNotSerial => write!(
                f,
                "{TLS_KEY} refused: it is not a key serial number (the value is not shown); \
                 stas does not import keys: load the key into the kernel keyring (nvme-cli, \
                 keyctl) and give its serial (decimal or 0x hex, see `keyctl show`); without \
                 it the kernel looks the key up by its identity"
            ),
        }
    }
}

/// Parses a `controller=` (or, with `exclude = true`, an `exclude=`) value. Returns the
/// dictionary and the problems found: dropped tokens and invalid secrets.
#[must_use]
pub fn parse_controller(text: &str, exclude: bool) -> (CtrlDict, Vec<TokenProblem>) {
    let mut map = BTreeMap::new();
    let mut problems = Vec::new();
    for token in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let Some((key, value)) = token.split_once('=') else {
            problems.push(TokenProblem::NoEquals(token.to_owned()));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            problems.push(TokenProblem::EmptyKey);
            continue;
        }
        if key == TLS_KEY && !value.is_empty() && parse_key_serial(value).is_none() {
            problems.push(TokenProblem::TlsKeyNotSerial);
            continue;
        }
        let secret = SECRET_KEYS.iter().find(|&&k| k == key).copied();
        if value.contains('=') && secret.is_none() {
            problems.push(TokenProblem::ExtraEquals {
                key: key.to_owned(),
            });
            continue;
        }
        if let Some(key) = secret.filter(|_| !value.is_empty()) {
            if let Err(e) = parse_host_key(value) {
                let why = match e {
                    InvalidValue::HostKey(why) => why,
                    _ => "not a DHHC-1 key",
                };
                problems.push(TokenProblem::InvalidSecret { key, why });
            }
        }
        map.insert(key.to_owned(), value.to_owned());
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

    // Made with Python (not secrets): key = bytes(range(s, s + n)), then
    // "DHHC-1:00:" + b64encode(key + struct.pack("<I", zlib.crc32(key))) + ":".
    const KEY48: &str =
        "DHHC-1:00:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTvGwQfg==:";
    const KEY64: &str = "DHHC-1:00:BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRsueZT4=:";

    #[test]
    fn secret_with_base64_padding_is_kept() {
        let text = format!(
            "transport=tcp;traddr=1.1.1.1;dhchap-secret = {KEY48} ;dhchap-ctrl-secret={KEY64}"
        );
        let (d, p) = parse_controller(&text, false);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(d.get("dhchap-secret"), KEY48);
        assert_eq!(d.get("dhchap-ctrl-secret"), KEY64);
        assert_eq!(parse_controller(&text, true).0.get("dhchap-secret"), KEY48);
    }

    #[test]
    fn extra_equals_elsewhere_is_dropped_and_reported_by_key_only() {
        // `tls-key-identity` is a 3.x key 2.x does not have: still an ordinary key here.
        let (d, p) = parse_controller(&format!("transport=tcp;tls-key-identity={KEY48}"), false);
        assert_eq!(d, dict(&[("transport", "tcp")]));
        assert_eq!(
            p,
            [TokenProblem::ExtraEquals {
                key: "tls-key-identity".into()
            }]
        );
        let msg = p[0].to_string();
        assert!(
            msg.contains("\"tls-key-identity\"") && msg.contains("ignored"),
            "{msg}"
        );
        assert!(!msg.contains("ZGVm"), "value shown: {msg}");
        assert!(!p[0].is_error());
    }

    #[test]
    fn tls_keys_serials_kept_anything_else_refused_unseen() {
        let (d, p) = parse_controller(
            "transport=tcp;traddr=1.1.1.1;tls=true;tls-key=0x1a2b;keyring=123",
            false,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            (d.get("tls"), d.get("tls-key"), d.get("keyring")),
            ("true", "0x1a2b", "123")
        );
        const INTERCHANGE: &str =
            "NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:";
        for bad in [
            INTERCHANGE,
            "NVMeTLSkey-1:01:c2VjcmV0c2VjcmV0=:",
            "pin:1234",
            ".nvme",
            "0",
            "-5",
            "0x1ffffffff",
        ] {
            let (d, p) = parse_controller(&format!("transport=tcp;tls=true;tls-key={bad}"), false);
            assert_eq!(d, dict(&[("transport", "tcp"), ("tls", "true")]), "{bad}");
            assert_eq!(p, [TokenProblem::TlsKeyNotSerial], "{bad}");
            assert!(p[0].is_error());
            let msg = p[0].to_string();
            assert!(
                msg.contains("tls-key") && msg.contains("not a key serial"),
                "{msg}"
            );
            assert!(bad.len() < 3 || !msg.contains(bad), "value shown: {msg}");
            assert!(!format!("{d:?}").contains(bad));
        }
    }

    #[test]
    fn refused_tls_key_is_a_file_line_error_without_its_value() {
        use crate::config::ini::parse;
        use crate::config::{Daemon, Diagnostics, ServiceConfig, Severity};

        let text = "[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1;nqn=nqn.a;tls=true;tls-key=0x10\n\
             controller=transport=tcp;traddr=2.2.2.2;nqn=nqn.b;tls=true;tls-key=NVMeTLSkey-1:01:c2VjcmV0c2VjcmV0=:\n";
        let mut diags = Diagnostics::new(std::path::Path::new("stacd.conf"));
        let ini = parse(text, &mut diags);
        let cfg = ServiceConfig::from_ini(Daemon::Stacd, &ini, &mut diags);
        assert_eq!(cfg.controllers[0].overrides.tls_key, Some(16));
        assert_eq!(cfg.controllers[1].overrides.tls_key, None);
        assert_eq!(cfg.controllers[1].overrides.tls, Some(true));
        assert!(!cfg.controllers[1].dict.0.contains_key("tls-key"));
        let diags = diags.into_vec();
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].severity, Severity::Error);
        let shown = diags[0].to_string();
        assert!(
            shown.starts_with("stacd.conf:3: error: controller: tls-key refused"),
            "{shown}"
        );
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }

    #[test]
    fn invalid_secret_is_kept_and_reported_without_its_value() {
        let bad = KEY48.replace("vGwQfg", "AAAAAA");
        let (d, p) = parse_controller(&format!("transport=tcp;dhchap-secret={bad}"), false);
        assert_eq!(
            d.get("dhchap-secret"),
            bad,
            "kept: the connect fails closed"
        );
        assert_eq!(
            p,
            [TokenProblem::InvalidSecret {
                key: "dhchap-secret",
                why: "the CRC of the key does not match"
            }]
        );
        assert!(!p[0].to_string().contains("ZGVm"), "{}", p[0]);
        let (_, p) = parse_controller("dhchap-ctrl-secret=secret", false);
        assert!(
            matches!(
                p[..],
                [TokenProblem::InvalidSecret {
                    key: "dhchap-ctrl-secret",
                    ..
                }]
            ),
            "{p:?}"
        );
        let (d, p) = parse_controller("dhchap-secret=", false);
        assert!(
            p.is_empty() && d.get("dhchap-secret").is_empty(),
            "empty: no key"
        );
    }

    #[test]
    fn problems_never_show_secrets() {
        for text in [
            "=DHHC-1:00:c2VjcmV0:",
            "DHHC-1:00:c2VjcmV0:",
            "dhchap_secret=DHHC-1:00:c2VjcmV0=:",
            "dhchap-secret=DHHC-1:00:c2VjcmV0=:",
        ] {
            let (_, p) = parse_controller(text, false);
            assert_eq!(p.len(), 1, "{text}: {p:?}");
            assert!(!p[0].to_string().contains("c2VjcmV0"), "{}", p[0]);
        }
    }

    #[test]
    fn dropped_token_is_a_file_line_warning() {
        use crate::config::ini::parse;
        use crate::config::{Daemon, Diagnostics, ServiceConfig, Severity};

        let text = format!(
            "[Controllers]\ncontroller=transport=tcp;traddr=1.1.1.1;dhchap-secret={KEY64}\n\
             controller=transport=tcp;traddr=2.2.2.2;kato=1=2\n"
        );
        let mut diags = Diagnostics::new(std::path::Path::new("stacd.conf"));
        let ini = parse(&text, &mut diags);
        let cfg = ServiceConfig::from_ini(Daemon::Stacd, &ini, &mut diags);
        assert_eq!(cfg.controllers[0].dict.get("dhchap-secret"), KEY64);
        let diags = diags.into_vec();
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].severity, Severity::Warning);
        let shown = diags[0].to_string();
        assert!(
            shown.starts_with("stacd.conf:3: warning: controller: "),
            "{shown}"
        );
        assert!(shown.contains("\"kato\""), "{shown}");
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
