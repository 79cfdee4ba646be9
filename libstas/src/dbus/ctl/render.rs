//! Human-readable output of stafctl / stacctl: aligned tables for lists, indented
//! `key  value` blocks for detailed records. Machines use `--json` instead, whose keys are
//! nvme-stas's dictionary keys.

use std::fmt::Write as _;

use serde_json::Value;

use super::super::shapes::StrDict;
use crate::model::trid::TID_KEYS;

/// Shown for an empty value.
const EMPTY: &str = "-";

/// An aligned table: a header row and one row per record, columns separated by two spaces;
/// the last column is not padded. Empty cells show `-`.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| if s.is_empty() { EMPTY } else { s }.to_owned();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            if i + 1 < widths.len() {
                let _ = write!(l, "{c:<w$}", w = widths[i]);
            } else {
                l.push_str(c);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for r in &rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// Keys of a controller dictionary in reading order: the transport id, `device`, then the
/// rest alphabetically.
fn ordered_keys(d: &StrDict) -> Vec<&str> {
    let mut keys: Vec<&str> = TID_KEYS
        .iter()
        .copied()
        .chain(["device"])
        .filter(|k| d.contains_key(*k))
        .collect();
    keys.extend(
        d.keys()
            .map(String::as_str)
            .filter(|k| !TID_KEYS.contains(k) && *k != "device"),
    );
    keys
}

/// `key  value` lines, keys padded to the longest, indented by `indent` spaces.
#[must_use]
pub fn block<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>, indent: usize) -> String {
    let pairs: Vec<(&str, String)> = pairs.into_iter().collect();
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let v = if v.is_empty() { EMPTY.to_owned() } else { v };
        let _ = writeln!(out, "{:indent$}{k:<w$}  {v}", "");
    }
    out
}

/// The one-line title of a controller: `nvme0  tcp 192.168.1.10:8009 <subsysnqn> [<host-iface>]
/// [<host-traddr>]` (an IPv6 address in brackets before the port).
#[must_use]
pub fn controller_title(d: &StrDict) -> String {
    let g = |k: &str| d.get(k).map_or("", String::as_str);
    let traddr = g("traddr");
    let mut t = format!("{}  {} ", g("device"), g("transport"));
    if g("trsvcid").is_empty() {
        t.push_str(traddr);
    } else if traddr.contains(':') {
        let _ = write!(t, "[{traddr}]:{}", g("trsvcid"));
    } else {
        let _ = write!(t, "{traddr}:{}", g("trsvcid"));
    }
    for k in ["subsysnqn", "host-iface", "host-traddr"] {
        if !g(k).is_empty() {
            let _ = write!(t, " {}", g(k));
        }
    }
    t
}

/// A controller as a titled block of all its keys.
#[must_use]
pub fn controller_block(d: &StrDict) -> String {
    let mut out = controller_title(d);
    out.push('\n');
    out.push_str(&block(
        ordered_keys(d).into_iter().map(|k| (k, d[k].clone())),
        4,
    ));
    out
}

/// Controllers as a table of their identity.
#[must_use]
pub fn controllers_table(list: &[StrDict]) -> String {
    const COLS: [(&str, &str); 8] = [
        ("DEVICE", "device"),
        ("TRANSPORT", "transport"),
        ("TRADDR", "traddr"),
        ("TRSVCID", "trsvcid"),
        ("HOST-IFACE", "host-iface"),
        ("HOST-TRADDR", "host-traddr"),
        ("SUBSYSNQN", "subsysnqn"),
        ("OWNER", "owner"),
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            COLS.iter()
                .map(|(_, k)| match d.get(*k).map(String::as_str) {
                    // Unowned (or a daemon without the registry).
                    None | Some("") if *k == "owner" => "-".to_owned(),
                    v => v.unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .collect();
    table(&COLS.map(|(h, _)| h), &rows)
}

/// Log page entries as a table.
#[must_use]
pub fn log_pages_table(entries: &[StrDict]) -> String {
    const COLS: [(&str, &str); 8] = [
        ("SUBTYPE", "subtype"),
        ("TRTYPE", "trtype"),
        ("ADRFAM", "adrfam"),
        ("TRADDR", "traddr"),
        ("TRSVCID", "trsvcid"),
        ("PORTID", "portid"),
        ("TREQ", "treq"),
        ("SUBNQN", "subnqn"),
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|d| {
            COLS.iter()
                .map(|(_, k)| match d.get(*k).map(String::as_str) {
                    // Unowned (or a daemon without the registry).
                    None | Some("") if *k == "owner" => "-".to_owned(),
                    v => v.unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .collect();
    table(&COLS.map(|(h, _)| h), &rows)
}

/// Indents every line of `text` by `n` spaces.
#[must_use]
pub fn indent(text: &str, n: usize) -> String {
    text.lines().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "{:n$}{l}", "");
        out
    })
}

/// A JSON scalar as plain text (`true`, `1.5s [off]`); nested values as compact JSON.
#[must_use]
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A JSON object as a `key  value` block (nested objects indented under their key).
#[must_use]
pub fn object_block(v: &Value, indent_by: usize) -> String {
    let Some(map) = v.as_object() else {
        return format!("{:indent_by$}{}\n", "", scalar_text(v));
    };
    let (nested, flat): (Vec<_>, Vec<_>) = map.iter().partition(|(_, v)| v.is_object());
    let mut out = block(
        flat.into_iter().map(|(k, v)| (k.as_str(), scalar_text(v))),
        indent_by,
    );
    for (k, v) in nested {
        let _ = writeln!(out, "{:indent_by$}{k}", "");
        out.push_str(&object_block(v, indent_by + 4));
    }
    out
}

/// Pretty JSON followed by a newline.
#[must_use]
pub fn json(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

/// A list of string dictionaries as a JSON value.
#[must_use]
pub fn dicts_value(list: &[StrDict]) -> Value {
    Value::Array(
        list.iter()
            .map(|d| {
                Value::Object(
                    d.iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(pairs: &[(&str, &str)]) -> StrDict {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tables_align_and_mark_empty_cells() {
        let t = table(
            &["A", "LONGER", "C"],
            &[
                vec!["x".into(), String::new(), "last".into()],
                vec!["wide-cell".into(), "y".into(), String::new()],
            ],
        );
        assert_eq!(
            t,
            "A          LONGER  C\n\
             x          -       last\n\
             wide-cell  y       -\n"
        );
    }

    #[test]
    fn controller_blocks_put_the_identity_first() {
        let c = d(&[
            ("transport", "tcp"),
            ("traddr", "10.0.0.1"),
            ("trsvcid", "8009"),
            ("subsysnqn", "nqn.x"),
            ("host-traddr", ""),
            ("host-iface", "eth0"),
            ("host-nqn", "nqn.h"),
            ("device", "nvme0"),
            ("connected", "True"),
            ("kato", "30"),
        ]);
        assert_eq!(controller_title(&c), "nvme0  tcp 10.0.0.1:8009 nqn.x eth0");
        let mut v6 = c.clone();
        v6.insert("traddr".into(), "fe80::1".into());
        assert_eq!(
            controller_title(&v6),
            "nvme0  tcp [fe80::1]:8009 nqn.x eth0"
        );
        let mut fc = c.clone();
        fc.insert("trsvcid".into(), String::new());
        assert_eq!(controller_title(&fc), "nvme0  tcp 10.0.0.1 nqn.x eth0");
        assert_eq!(
            controller_block(&c),
            "nvme0  tcp 10.0.0.1:8009 nqn.x eth0\n\
             \x20   transport    tcp\n\
             \x20   traddr       10.0.0.1\n\
             \x20   trsvcid      8009\n\
             \x20   subsysnqn    nqn.x\n\
             \x20   host-traddr  -\n\
             \x20   host-iface   eth0\n\
             \x20   host-nqn     nqn.h\n\
             \x20   device       nvme0\n\
             \x20   connected    True\n\
             \x20   kato         30\n"
        );
    }

    #[test]
    fn objects_render_nested_values_under_their_key() {
        let v: Value =
            serde_json::from_str(r#"{"tron": false, "b": "x", "avahi": {"k": "v"}}"#).unwrap();
        assert_eq!(
            object_block(&v, 0),
            "b     x\ntron  false\navahi\n    k  v\n"
        );
    }
}
