//! The key table (ecosystem-2026.md §3.3): each key's class, where it may appear, how its value
//! is checked; and the `controller =` path specification.

use super::{Address, Params, Value};
use crate::config::service::Persistent;
use crate::identity::value::is_canonical_uuid;

/// The accepted sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// `[Discovery Controller Defaults]`.
    DcDefaults,
    /// `[I/O Controller Defaults]`.
    IocDefaults,
    /// `[Host]`.
    Host,
    /// `[Discovery Controller]`.
    Dc,
    /// `[Subsystem]`.
    Subsystem,
}

impl Section {
    pub(crate) const ALL: [Section; 5] = [
        Self::DcDefaults,
        Self::IocDefaults,
        Self::Host,
        Self::Dc,
        Self::Subsystem,
    ];

    /// The name between the brackets.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DcDefaults => "Discovery Controller Defaults",
            Self::IocDefaults => "I/O Controller Defaults",
            Self::Host => "Host",
            Self::Dc => "Discovery Controller",
            Self::Subsystem => "Subsystem",
        }
    }

    /// The section named `name` (case-sensitive).
    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The section whose name matches `name` ignoring ASCII case (for hints).
    pub(super) fn from_name_ignore_case(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Key classes and types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// TUNABLE, INT.
    Int,
    /// TUNABLE, BOOL.
    Bool,
    /// DC_TUNABLE `persistent`.
    Persistent,
    /// SECURITY, BOOL (`tls`, `concat`).
    SecurityBool,
    /// SECURITY, STRING.
    SecurityStr,
    /// IDENTITY (`hostnqn`, `hostid`, `hostsymname`).
    Identity,
    /// `nqn`.
    Nqn,
    /// `controller`.
    Controller,
}

/// Every key of the format with its class (documented in [`crate::config::doc`]).
pub(crate) const KEYS: &[(&str, Class)] = &[
    ("nr-io-queues", Class::Int),
    ("nr-write-queues", Class::Int),
    ("nr-poll-queues", Class::Int),
    ("queue-size", Class::Int),
    ("keep-alive-tmo", Class::Int),
    ("reconnect-delay", Class::Int),
    ("ctrl-loss-tmo", Class::Int),
    ("fast-io-fail-tmo", Class::Int),
    ("tos", Class::Int),
    ("duplicate-connect", Class::Bool),
    ("disable-sqflow", Class::Bool),
    ("hdr-digest", Class::Bool),
    ("data-digest", Class::Bool),
    ("persistent", Class::Persistent),
    ("tls", Class::SecurityBool),
    ("concat", Class::SecurityBool),
    ("tls-key", Class::SecurityStr),
    ("tls-key-identity", Class::SecurityStr),
    ("keyring", Class::SecurityStr),
    ("kxchap-secret", Class::SecurityStr),
    ("kxchap-ctrl-secret", Class::SecurityStr),
    ("hostnqn", Class::Identity),
    ("hostid", Class::Identity),
    ("hostsymname", Class::Identity),
    ("nqn", Class::Nqn),
    ("controller", Class::Controller),
];

/// The addressing keys of a `controller =` line.
pub(crate) const ADDRESS_KEYS: [&str; 5] = [
    "transport",
    "traddr",
    "trsvcid",
    "host-traddr",
    "host-iface",
];

/// The class of a known key (case-sensitive).
pub(super) fn class_of(key: &str) -> Option<Class> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

/// A known key matching `key` ignoring ASCII case (for hints).
pub(super) fn known_ignore_case(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|(k, _)| *k)
        .chain(ADDRESS_KEYS)
        .find(|k| k.eq_ignore_ascii_case(key))
}

impl Class {
    /// Whether a key of this class may appear in `section`.
    pub(crate) fn allowed_in(self, section: Section) -> bool {
        match self {
            Self::Int | Self::Bool | Self::SecurityBool | Self::SecurityStr => true,
            Self::Persistent => matches!(section, Section::DcDefaults | Section::Dc),
            Self::Identity => section == Section::Host,
            Self::Nqn | Self::Controller => matches!(section, Section::Dc | Section::Subsystem),
        }
    }

    /// Whether this class holds a parameter (something that cascades).
    pub(super) fn is_param(self) -> bool {
        matches!(
            self,
            Self::Int | Self::Bool | Self::Persistent | Self::SecurityBool | Self::SecurityStr
        )
    }

    fn is_security(self) -> bool {
        matches!(self, Self::SecurityBool | Self::SecurityStr)
    }
}

/// `strtol(s, &end, 0)` consuming the whole string, within `i32` range: optional sign, then
/// `0x`/`0X` hexadecimal, a leading `0` octal, decimal otherwise (`0x10` is 16, `010` is 8).
#[must_use]
pub fn parse_int(s: &str) -> Option<i32> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, hex)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Leading zeros cannot overflow the parse; strip them so only the magnitude counts.
    let significant = digits.trim_start_matches('0');
    let magnitude = if significant.is_empty() {
        0
    } else {
        i64::from_str_radix(significant, radix).ok()?
    };
    i32::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// systemd's `parse_boolean`: `1 yes y true t on` / `0 no n false f off`, case-insensitive.
#[must_use]
pub fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "yes", "y", "true", "t", "on"];
    const FALSE: [&str; 6] = ["0", "no", "n", "false", "f", "off"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// The structural NQN check of §3.3: `nqn.` + 4 digits + `-` + month `01`..`12` + `.` + at least
/// one character; every character 0x21..0x7e; at most 223 bytes.
#[must_use]
pub fn check_nqn_structure(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 13 || b.len() > 223 || !b.iter().all(|c| (0x21..=0x7e).contains(c)) {
        return false;
    }
    let month = &b[9..11];
    b.starts_with(b"nqn.")
        && b[4..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && month.iter().all(u8::is_ascii_digit)
        && (b"01".as_slice()..=b"12".as_slice()).contains(&month)
        && b[11] == b'.'
}

/// A `hostid` value: a UUID in its hyphenated 8-4-4-4-12 hex form (any case) that is not all
/// zeros.
#[must_use]
pub fn check_hostid(s: &str) -> bool {
    is_canonical_uuid(s) && s.bytes().any(|c| c.is_ascii_hexdigit() && c != b'0')
}

/// Hint appended to value errors that look like an inline comment.
fn inline_comment_hint(value: &str) -> &'static str {
    if value.contains('#') {
        " (inline comments are not supported: put comments on their own line)"
    } else {
        ""
    }
}

/// Parses the value of a parameter key (`class.is_param()`); empty is a reset (`Ok(None)`).
/// Error messages never repeat a STRING value (it may be a secret).
pub(super) fn parse_param(key: &str, class: Class, value: &str) -> Result<Option<Value>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match class {
        Class::Int => parse_int(value).map(Value::Int).ok_or_else(|| {
            format!(
                "{key}: '{value}' is not an integer (decimal, 0x hexadecimal or 0 octal, \
                 within the int range){}",
                inline_comment_hint(value)
            )
        }),
        Class::Bool | Class::SecurityBool => parse_bool(value).map(Value::Bool).ok_or_else(|| {
            format!(
                "{key}: '{value}' is not a boolean (yes/no, true/false, on/off, 1/0){}",
                inline_comment_hint(value)
            )
        }),
        Class::Persistent => Persistent::parse(&value.to_ascii_lowercase())
            .map(Value::Persistent)
            .ok_or_else(|| {
                format!(
                    "persistent: '{value}' is not one of no, auto, force{}",
                    inline_comment_hint(value)
                )
            }),
        Class::SecurityStr => check_string(key, value).map(|()| Value::Str(value.to_owned())),
        Class::Identity | Class::Nqn | Class::Controller => Err(format!("{key}: not a parameter")),
    }
    .map(Some)
}

/// STRING: anything without CR or LF.
pub(super) fn check_string(key: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n']) {
        Err(format!(
            "{key}: the value contains a carriage return or line feed"
        ))
    } else {
        Ok(())
    }
}

/// A parsed `controller =` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathSpec {
    /// The addressing keys.
    pub(super) address: Address,
    /// The per-path overrides, in line order.
    pub(super) params: Params,
}

/// Parses a `controller =` value. `in_dc`: the line is under `[Discovery Controller]`, where
/// `persistent` may be overridden per path. Every problem of the line is reported.
pub(crate) fn parse_controller(spec: &str, in_dc: bool) -> Result<PathSpec, Vec<String>> {
    let mut errors = Vec::new();
    let mut addr: [Option<String>; 5] = Default::default();
    let mut params = Params::new();
    let tokens = spec
        .split(';')
        .map(super::lex::trim)
        .filter(|t| !t.is_empty());
    for (n, token) in tokens.enumerate() {
        let Some((key, value)) = token.split_once('=') else {
            errors.push(format!("controller: token {} is not key=value", n + 1));
            continue;
        };
        let (key, value) = (super::lex::trim(key), super::lex::trim(value));
        if let Some(i) = ADDRESS_KEYS.iter().position(|k| *k == key) {
            if addr[i].is_some() {
                errors.push(format!("controller: '{key}' given more than once"));
            } else if value.is_empty() {
                errors.push(format!("controller: '{key}' must not be empty"));
                // Counts as given: do not also report it missing.
                addr[i] = Some(String::new());
            } else if let Err(e) = check_string(key, value) {
                errors.push(format!("controller: {e}"));
                addr[i] = Some(String::new());
            } else {
                addr[i] = Some(value.to_owned());
            }
            continue;
        }
        match class_of(key) {
            Some(c @ (Class::Int | Class::Bool)) => match parse_param(key, c, value) {
                Ok(v) => params.set(key, v),
                Err(e) => errors.push(format!("controller: {e}")),
            },
            Some(Class::Persistent) if in_dc => match parse_param(key, Class::Persistent, value) {
                Ok(v) => params.set(key, v),
                Err(e) => errors.push(format!("controller: {e}")),
            },
            Some(Class::Persistent) => errors.push(
                "controller: 'persistent' is only valid on a controller line under \
                 [Discovery Controller]"
                    .to_owned(),
            ),
            Some(c) if c.is_security() => errors.push(format!(
                "controller: '{key}' cannot be set per path: security keys are bound to the \
                 (hostnqn, subsysnqn) pair; set it in the section"
            )),
            Some(Class::Nqn) => errors.push(
                "controller: 'nqn' cannot be set on a controller line; set nqn = in the section"
                    .to_owned(),
            ),
            Some(_) => errors.push(format!(
                "controller: '{key}' cannot be set on a controller line"
            )),
            None => errors.push(match known_ignore_case(key) {
                Some(k) => {
                    format!("controller: unknown key '{key}' (keys are case-sensitive: '{k}'?)")
                }
                None => format!("controller: unknown key '{key}'"),
            }),
        }
    }
    let [transport, traddr, trsvcid, host_traddr, host_iface] = addr;
    let (Some(transport), Some(traddr)) = (transport, traddr) else {
        errors.push("controller: needs transport and traddr".to_owned());
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PathSpec {
        address: Address {
            transport,
            traddr,
            trsvcid,
            host_traddr,
            host_iface,
        },
        params,
    })
}
