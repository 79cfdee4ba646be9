//! DNS-SD TXT records of TP8009 discovery-controller announcements (`_nvme-disc._tcp`,
//! `_nvme-disc._udp`), read as nvme-stas reads them (nvme-stas-behaviour.md §5.4):
//!
//! - a TXT record is a list of byte strings; an entry is kept only if it is UTF-8, has no
//!   control character, and splits on `=` into exactly two parts with a non-empty key;
//! - keys are case-insensitive (lower-cased here); values are kept as they are;
//! - `p=` names the transport: `tcp` → `tcp`; `roce`, `iwarp`, `rdma` → `rdma`; anything
//!   else, or no `p`, rejects the announcement;
//! - `nqn=` is the DC's NQN (TP8013); absent or empty → the well-known discovery NQN.
//!
//! Values are network input (DECISIONS.md item 14): the NQN passes the same check as every
//! other string that may reach `/dev/nvme-fabrics`; a bad one rejects the announcement.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::model::trid::WELL_KNOWN_DISC_NQN;

use super::validate::{check_nqn, ValueError};

/// One TXT entry as nvme-stas keeps it: UTF-8, no control character, exactly one `=`, a
/// non-empty key (lower-cased). `None` for an entry nvme-stas ignores.
fn entry(raw: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(raw).ok()?;
    if s.chars().any(char::is_control) {
        return None;
    }
    let mut parts = s.split('=');
    let (key, value) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || key.is_empty() {
        return None;
    }
    Some((key.to_lowercase(), value.to_owned()))
}

/// The key/value pairs of a TXT record (keys lower-cased, entries that nvme-stas would
/// ignore left out; a repeated key keeps its last value, like a Python dict).
#[must_use]
pub fn parse_txt(entries: &[Vec<u8>]) -> BTreeMap<String, String> {
    entries.iter().filter_map(|raw| entry(raw)).collect()
}

/// Why an announcement is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxtError {
    /// No `p=` key, or a value that names no NVMe-oF transport.
    #[error("Received invalid/undefined protocol in mDNS TXT field: {0:?}")]
    Protocol(Option<String>),
    /// The `nqn=` value could reach the kernel's option parser unsafely.
    #[error("invalid NQN in mDNS TXT field: {0}")]
    Nqn(ValueError),
}

/// What a TXT record says about a discovery controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcTxt {
    /// `tcp` or `rdma`.
    pub transport: &'static str,
    /// The NQN to connect with.
    pub subsysnqn: String,
    /// How many TXT entries were malformed and left out (worth a log line: an `nqn=` with a
    /// second `=` is one of them, and the well-known NQN is then used).
    pub ignored: usize,
}

/// Interprets a TXT record; `tp8013` is whether the kernel has the `discovery` connect
/// option (without it the well-known NQN is always used).
///
/// # Errors
/// [`TxtError`] when the announcement must be ignored.
pub fn dc_txt(entries: &[Vec<u8>], tp8013: bool) -> Result<DcTxt, TxtError> {
    let parsed: Vec<Option<(String, String)>> = entries.iter().map(|raw| entry(raw)).collect();
    let ignored = parsed.iter().filter(|e| e.is_none()).count();
    let txt: BTreeMap<String, String> = parsed.into_iter().flatten().collect();
    let p = txt.get("p").map(|p| p.trim().to_lowercase());
    let transport = match p.as_deref() {
        Some("tcp") => "tcp",
        Some("roce" | "iwarp" | "rdma") => "rdma",
        _ => return Err(TxtError::Protocol(txt.get("p").cloned())),
    };
    let nqn = txt.get("nqn").map_or("", |n| n.trim());
    let subsysnqn = if !tp8013 || nqn.is_empty() {
        WELL_KNOWN_DISC_NQN.to_owned()
    } else {
        check_nqn(nqn).map_err(TxtError::Nqn)?;
        nqn.to_owned()
    };
    Ok(DcTxt {
        transport,
        subsysnqn,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn txt(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn entries_are_kept_as_nvme_stas_keeps_them() {
        let got = parse_txt(&txt(&["NqN=Starfleet", "p=", "blah", "=", "=x", "a=b=c"]));
        let want: BTreeMap<String, String> = [("nqn", "Starfleet"), ("p", "")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(got, want);
        assert!(parse_txt(&[b"p=tc\x07p".to_vec(), vec![0xff, b'=', b'x']]).is_empty());
    }

    #[test]
    fn protocol_mapping() {
        for (p, t) in [
            ("tcp", "tcp"),
            (" TCP ", "tcp"),
            ("roce", "rdma"),
            ("iWARP", "rdma"),
            ("rdma", "rdma"),
        ] {
            let got = dc_txt(&txt(&[&format!("p={p}")]), true).unwrap();
            assert_eq!(got.transport, t, "p={p}");
            assert_eq!(got.subsysnqn, WELL_KNOWN_DISC_NQN);
        }
        for bad in ["p=walmart", "p=", "p=tcp,rdma", "nqn=x"] {
            assert!(
                matches!(dc_txt(&txt(&[bad]), true), Err(TxtError::Protocol(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn nqn_follows_tp8013_and_is_validated() {
        let rec = txt(&["P=tcp", "NQN=nqn.2024-01.com.example:dc1"]);
        assert_eq!(
            dc_txt(&rec, true).unwrap().subsysnqn,
            "nqn.2024-01.com.example:dc1"
        );
        assert_eq!(dc_txt(&rec, false).unwrap().subsysnqn, WELL_KNOWN_DISC_NQN);
        for bad in ["nqn=a,hostnqn", "nqn=a b"] {
            let r = dc_txt(&txt(&["p=tcp", bad]), true);
            assert!(matches!(r, Err(TxtError::Nqn(_))), "{bad}: {r:?}");
        }
        let sneaky = dc_txt(&txt(&["p=tcp", "nqn=a,hostnqn=evil"]), true).unwrap();
        assert_eq!(
            (sneaky.subsysnqn.as_str(), sneaky.ignored),
            (WELL_KNOWN_DISC_NQN, 1)
        );
        let long = format!("nqn={}", "n".repeat(300));
        assert!(dc_txt(&txt(&["p=tcp", &long]), true).is_err());
    }

    proptest! {
        #[test]
        fn total_and_safe(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
            if let Ok(dc) = dc_txt(&entries, true) {
                prop_assert!(check_nqn(&dc.subsysnqn).is_ok());
            }
        }
    }
}
