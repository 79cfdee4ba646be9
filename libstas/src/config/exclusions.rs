//! The system-wide exclusion list of nvme-cli 3 (ecosystem-2026.md §2): reading
//! `/etc/nvme/exclusions.conf` and `/etc/nvme/exclusions.conf.d/*.conf`, parsing their
//! `exclusion = <fields>` entries strictly, and deciding whether a connection is excluded.
//!
//! This module only reads the lists; it never writes them (that is `nvme exclusion` and
//! `nvme disconnect --exclude`). Reading is fail-open: a missing or unreadable file, an
//! invalid entry or a malformed section simply excludes nothing. The lists are not cached:
//! callers load them again before each decision, as nvme-cli does.
//!
//! Choices where the contract is silent:
//! - Lines longer than 4095 bytes are split into 4095-byte pieces, each read as its own line,
//!   as nvme-cli's 4096-byte line buffer does (the pieces after the first are normally invalid
//!   and ignored).
//! - A key repeated in one entry: the last value wins.
//! - A section header is the text between `[` and the first `]`, trimmed; anything after the
//!   `]` is ignored.
//! - An IPv6 scope (`%eth0`) must be non-empty and is only allowed on IPv6 addresses; when
//!   matching, the scopes must be equal (both absent, or the same string).
//! - An FC address is `nn-0x<hex>` then `:` or `,` then `pn-0x<hex>` (lower-case prefixes,
//!   hex digits in either case, at least one digit each); it is stored with `:`.

use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::model::ip::{ip_equal, parse_ip};
use crate::model::trid::TransportId;

/// The system's list directory.
pub const NVME_DIR: &str = "/etc/nvme";

/// File name of the default list inside the list directory.
const MAIN_FILE: &str = "exclusions.conf";
/// Directory of the named lists inside the list directory.
const DROP_IN_DIR: &str = "exclusions.conf.d";
/// Suffix of a named list.
const DROP_IN_SUFFIX: &[u8] = b".conf";
/// The only section that holds entries.
const SECTION: &str = "exclusions";
/// The only key of an entry line.
const ENTRY_KEY: &str = "exclusion";
/// Longest line nvme-cli reads in one piece (a 4096-byte buffer with its terminating NUL).
const LINE_MAX: usize = 4095;

/// One valid `exclusion =` entry (every field optional; at least one set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exclusion {
    /// `transport`: exact transport word (`tcp`, `rdma`, `fc`, …).
    pub transport: Option<String>,
    /// `traddr`: target address, canonical for tcp/rdma/fc entries.
    pub traddr: Option<String>,
    /// `trsvcid`: transport service id (port).
    pub trsvcid: Option<String>,
    /// `nqn`: subsystem NQN.
    pub nqn: Option<String>,
    /// `host-traddr`: host address, canonical for tcp/rdma/fc entries.
    pub host_traddr: Option<String>,
    /// `host-iface`: host interface.
    pub host_iface: Option<String>,
    /// `hostnqn`: host NQN.
    pub hostnqn: Option<String>,
    /// `hostid`: host ID.
    pub hostid: Option<String>,
}

impl Exclusion {
    /// The keys in their canonical order, with the field each one sets.
    fn fields(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("transport", self.transport.as_deref()),
            ("traddr", self.traddr.as_deref()),
            ("trsvcid", self.trsvcid.as_deref()),
            ("nqn", self.nqn.as_deref()),
            ("host-traddr", self.host_traddr.as_deref()),
            ("host-iface", self.host_iface.as_deref()),
            ("hostnqn", self.hostnqn.as_deref()),
            ("hostid", self.hostid.as_deref()),
        ]
    }

    /// The field a key sets, or `None` for an unknown key.
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "transport" => &mut self.transport,
            "traddr" => &mut self.traddr,
            "trsvcid" => &mut self.trsvcid,
            "nqn" => &mut self.nqn,
            "host-traddr" => &mut self.host_traddr,
            "host-iface" => &mut self.host_iface,
            "hostnqn" => &mut self.hostnqn,
            "hostid" => &mut self.hostid,
            _ => return None,
        })
    }

    /// Whether no field is set (such an entry never matches).
    fn is_blank(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_none())
    }

    /// Parses the `<fields>` of one entry strictly; None when invalid (§2.2).
    ///
    /// `key=value` tokens separated by `;`, whitespace around keys and values trimmed, empty
    /// tokens allowed. A bare token, an empty value, an unknown key, an address that does not
    /// fit the entry's transport, or no field at all makes the entry invalid.
    #[must_use]
    pub fn parse(fields: &str) -> Option<Self> {
        let mut e = Self::default();
        for token in fields.split(';') {
            let token = token.trim();
            if token.is_empty() {
                continue;
            }
            let (key, value) = token.split_once('=')?;
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            *e.slot(key.trim())? = Some(value.to_owned());
        }
        if e.is_blank() {
            return None;
        }
        let transport = e.transport.clone();
        for addr in [&mut e.traddr, &mut e.host_traddr] {
            if let Some(a) = addr.as_deref() {
                let canonical = match transport.as_deref() {
                    Some("tcp" | "rdma") => canonical_ip(a)?,
                    Some("fc") => canonical_fc(a)?,
                    _ => continue,
                };
                *addr = Some(canonical);
            }
        }
        Some(e)
    }

    /// Whether this entry matches a connection `tid` with host ID `hostid` (§2.3).
    ///
    /// Every field the entry sets must match; a field the connection has no value for (an
    /// empty string, or no `hostid`) does not match. Addresses compare as IP addresses
    /// (IPv4-mapped IPv6 equals its IPv4 address) or, for FC, case-insensitively; every other
    /// field is an exact string comparison. An entry that sets no field never matches.
    #[must_use]
    pub fn matches(&self, tid: &TransportId, hostid: Option<&str>) -> bool {
        if self.is_blank() {
            return false;
        }
        let fc = tid.transport == "fc" || self.transport.as_deref() == Some("fc");
        let exact =
            |want: Option<&str>, have: &str| want.is_none_or(|w| !have.is_empty() && w == have);
        let addr = |want: Option<&str>, have: &str| want.is_none_or(|w| addr_equal(w, have, fc));
        exact(self.transport.as_deref(), &tid.transport)
            && addr(self.traddr.as_deref(), &tid.traddr)
            && exact(self.trsvcid.as_deref(), &tid.trsvcid)
            && exact(self.nqn.as_deref(), &tid.subsysnqn)
            && addr(self.host_traddr.as_deref(), &tid.host_traddr)
            && exact(self.host_iface.as_deref(), &tid.host_iface)
            && exact(self.hostnqn.as_deref(), &tid.host_nqn)
            && exact(self.hostid.as_deref(), hostid.unwrap_or_default())
    }
}

impl fmt::Display for Exclusion {
    /// The canonical `key=value;...` form, keys in the §2.2 order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (key, value) in self.fields() {
            if let Some(v) = value {
                write!(f, "{sep}{key}={v}")?;
                sep = ";";
            }
        }
        Ok(())
    }
}

/// Splits an optional IPv6 scope (`%eth0`) off an address.
fn split_scope(a: &str) -> (&str, Option<&str>) {
    match a.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (a, None),
    }
}

/// The canonical text of a numeric IP address (scope kept verbatim), or None when `a` is not
/// one.
fn canonical_ip(a: &str) -> Option<String> {
    let (ip, scope) = split_scope(a);
    let parsed = parse_ip(ip, false)?;
    match (parsed, scope) {
        (_, None) => Some(parsed.to_string()),
        (IpAddr::V6(v6), Some(s)) if !s.is_empty() => Some(format!("{v6}%{s}")),
        _ => None,
    }
}

/// `nn-0x<hex>:pn-0x<hex>` with a `,` separator turned into `:`, or None when `a` does not
/// have that shape.
fn canonical_fc(a: &str) -> Option<String> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let rest = a.strip_prefix("nn-0x")?;
    let (nn, pn) = rest.split_once([':', ','])?;
    let pn = pn.strip_prefix("pn-0x")?;
    (hex(nn) && hex(pn)).then(|| format!("nn-0x{nn}:pn-0x{pn}"))
}

/// Address comparison: equal strings, the same IP address (with equal scopes), or for FC the
/// same text ignoring case and the `,`/`:` separator. An empty connection address never
/// matches.
fn addr_equal(want: &str, have: &str, fc: bool) -> bool {
    if have.is_empty() {
        return false;
    }
    if want == have {
        return true;
    }
    if fc {
        let norm = |s: &str| s.replace(',', ":");
        return norm(want).eq_ignore_ascii_case(&norm(have));
    }
    let ((w, ws), (h, hs)) = (split_scope(want), split_scope(have));
    ws == hs && ip_equal(w, h)
}

/// Every valid entry of the host's lists, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExclusionList {
    entries: Vec<Exclusion>,
}

impl ExclusionList {
    /// No entry.
    pub const EMPTY: Self = Self {
        entries: Vec::new(),
    };

    /// The entries of one file's text (invalid entries skipped silently).
    ///
    /// Only `exclusion = …` lines inside an `[exclusions]` section count; comments (`#`),
    /// other sections, other keys and lines after a malformed header are ignored.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut list = Self::default();
        list.parse_bytes(text.as_bytes());
        list
    }

    /// Appends the entries of one file's bytes (invalid UTF-8 is replaced, so it matches
    /// nothing).
    fn parse_bytes(&mut self, bytes: &[u8]) {
        let mut in_section = false;
        let pieces = bytes
            .split(|&b| b == b'\n')
            .flat_map(|line| line.chunks(LINE_MAX));
        for piece in pieces {
            let text = String::from_utf8_lossy(piece);
            let line = text.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                in_section = header
                    .split_once(']')
                    .is_some_and(|(name, _)| name.trim() == SECTION);
                continue;
            }
            if !in_section {
                continue;
            }
            let Some((key, fields)) = line.split_once('=') else {
                continue;
            };
            if key.trim() == ENTRY_KEY {
                self.entries.extend(Exclusion::parse(fields));
            }
        }
    }

    /// Appends the entries of the file at `path`. A missing file contributes nothing; an
    /// unreadable one too, with a debug log.
    fn read_file(&mut self, path: &Path) {
        match fs::read(path) {
            Ok(bytes) => self.parse_bytes(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::debug!(
                path = %path.display(),
                error = %crate::fsutil::describe(&e),
                "exclusion list unreadable: ignored"
            ),
        }
    }

    /// Reads `<nvme_dir>/exclusions.conf` and every `<nvme_dir>/exclusions.conf.d/*.conf`
    /// (name longer than ".conf"; sorted by file name for a stable order); missing or
    /// unreadable files contribute nothing (fail-open; unreadable ones logged with tracing at
    /// debug, naming the path). `nvme_dir` is normally [`NVME_DIR`].
    #[must_use]
    pub fn load(nvme_dir: &Path) -> Self {
        let mut list = Self::default();
        list.read_file(&nvme_dir.join(MAIN_FILE));
        let dir = nvme_dir.join(DROP_IN_DIR);
        let mut names: Vec<_> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|ent| match ent {
                    Ok(ent) => Some(ent.file_name()),
                    Err(e) => {
                        tracing::debug!(
                            path = %dir.display(),
                            error = %crate::fsutil::describe(&e),
                            "exclusion list directory entry unreadable: ignored"
                        );
                        None
                    }
                })
                .filter(|n| {
                    let b = n.as_bytes();
                    b.len() > DROP_IN_SUFFIX.len() && b.ends_with(DROP_IN_SUFFIX)
                })
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::debug!(
                    path = %dir.display(),
                    error = %crate::fsutil::describe(&e),
                    "exclusion list directory unreadable: ignored"
                );
                Vec::new()
            }
        };
        names.sort();
        for name in names {
            list.read_file(&dir.join(name));
        }
        list
    }

    /// The entries, in reading order.
    #[must_use]
    pub fn entries(&self) -> &[Exclusion] {
        &self.entries
    }

    /// Whether there is no valid entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry that matches, if any.
    #[must_use]
    pub fn matching(&self, tid: &TransportId, hostid: Option<&str>) -> Option<&Exclusion> {
        self.entries.iter().find(|e| e.matches(tid, hostid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
[exclusions]
exclusion = transport=tcp;traddr=192.0.2.10;trsvcid=4420;nqn=nqn.2024-01.com.example:vol1
exclusion = nqn=nqn.2024-01.com.example:retired
exclusion = host-iface=eth3
";

    fn tcp(traddr: &str, nqn: &str) -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: traddr.into(),
            trsvcid: "4420".into(),
            subsysnqn: nqn.into(),
            host_traddr: String::new(),
            host_iface: String::new(),
            host_nqn: "nqn.host".into(),
        }
    }

    fn fc(traddr: &str, host_traddr: &str) -> TransportId {
        TransportId {
            transport: "fc".into(),
            traddr: traddr.into(),
            subsysnqn: "nqn.s".into(),
            host_traddr: host_traddr.into(),
            ..TransportId::default()
        }
    }

    fn one(fields: &str) -> Exclusion {
        Exclusion::parse(fields).unwrap_or_else(|| panic!("{fields:?} should be valid"))
    }

    fn in_section(body: &str) -> ExclusionList {
        ExclusionList::parse(&format!("[exclusions]\n{body}"))
    }

    #[test]
    fn spec_example() {
        let list = ExclusionList::parse(EXAMPLE);
        let shown: Vec<String> = list.entries().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "transport=tcp;traddr=192.0.2.10;trsvcid=4420;nqn=nqn.2024-01.com.example:vol1",
                "nqn=nqn.2024-01.com.example:retired",
                "host-iface=eth3",
            ]
        );
        assert_eq!(list.entries()[0].trsvcid.as_deref(), Some("4420"));
        assert_eq!(list.entries()[2].host_iface.as_deref(), Some("eth3"));

        let vol1 = tcp("192.0.2.10", "nqn.2024-01.com.example:vol1");
        assert_eq!(list.matching(&vol1, None), Some(&list.entries()[0]));
        let other_port = TransportId {
            trsvcid: "4421".into(),
            ..vol1.clone()
        };
        assert_eq!(list.matching(&other_port, None), None);
        let retired = tcp("198.51.100.1", "nqn.2024-01.com.example:retired");
        assert_eq!(list.matching(&retired, None), Some(&list.entries()[1]));
        let on_eth3 = TransportId {
            host_iface: "eth3".into(),
            ..tcp("198.51.100.1", "nqn.x")
        };
        assert_eq!(list.matching(&on_eth3, None), Some(&list.entries()[2]));
        assert_eq!(list.matching(&tcp("198.51.100.1", "nqn.x"), None), None);
        assert!(!list.is_empty());
        assert!(ExclusionList::default().is_empty());
    }

    #[test]
    fn display_round_trips_in_key_order() {
        let e = one(" hostid = h ;hostnqn=hn; host-iface=i;host-traddr=1.2.3.4;nqn=n;trsvcid=1;traddr=5.6.7.8;transport=tcp");
        let s = e.to_string();
        assert_eq!(
            s,
            "transport=tcp;traddr=5.6.7.8;trsvcid=1;nqn=n;host-traddr=1.2.3.4;host-iface=i;hostnqn=hn;hostid=h"
        );
        assert_eq!(Exclusion::parse(&s), Some(e));
    }

    #[test]
    fn comments_and_blank_lines() {
        let list = ExclusionList::parse(
            "# a comment\n\n   \n[exclusions]\r\n  # exclusion = nqn=commented\n\texclusion = nqn=a\r\n\n",
        );
        assert_eq!(list.entries(), [one("nqn=a")]);
    }

    #[test]
    fn semicolon_is_not_a_comment() {
        // A line starting with ';' is an ordinary line: its key is "; exclusion", not
        // "exclusion", so it is ignored; and inside the fields ';' separates tokens.
        let list =
            in_section("; exclusion = nqn=a\nexclusion = nqn=b ; hostnqn=h ; # not a comment\n");
        assert!(list.is_empty());
        let list = in_section("; exclusion = nqn=a\nexclusion = nqn=b ; hostnqn=h\n");
        assert_eq!(list.entries().len(), 1);
        assert_eq!(list.entries()[0].to_string(), "nqn=b;hostnqn=h");
    }

    #[test]
    fn sections() {
        let list = ExclusionList::parse(
            "exclusion = nqn=before\n\
             [exclusions]\n\
             exclusion = nqn=in\n\
             [other]\n\
             exclusion = nqn=other\n\
             [ exclusions ] trailing\n\
             exclusion = nqn=again\n\
             [Exclusions]\n\
             exclusion = nqn=case\n\
             [exclusions]\n\
             exclusion = nqn=third\n\
             [exclusions\n\
             exclusion = nqn=after-malformed\n",
        );
        let nqns: Vec<_> = list.entries().iter().map(|e| e.nqn.as_deref()).collect();
        assert_eq!(nqns, [Some("in"), Some("again"), Some("third")]);
    }

    #[test]
    fn entry_key_is_exact() {
        let list = in_section(
            "Exclusion = nqn=a\nexclusions = nqn=b\nexclude = nqn=c\nexclusion nqn=d\n exclusion\t= nqn=e\n",
        );
        assert_eq!(list.entries(), [one("nqn=e")]);
    }

    #[test]
    fn invalid_entries() {
        for bad in [
            "subsysnqn=nqn.a",
            "host_traddr=1.2.3.4",
            "nqn=a;host_iface=eth0",
            "nqn=a;bare",
            "nqn",
            "nqn=",
            "nqn= ;hostnqn=h",
            "=value",
            "NQN=a",
        ] {
            assert_eq!(Exclusion::parse(bad), None, "{bad:?}");
        }
        // An invalid entry is skipped silently; the others still count.
        let list = in_section("exclusion = nqn=a;bogus=1\nexclusion = nqn=b\n");
        assert_eq!(list.entries(), [one("nqn=b")]);
    }

    #[test]
    fn empty_tokens_and_trimming() {
        let e = one(";; nqn = a b ;;");
        assert_eq!(e.nqn.as_deref(), Some("a b"));
        assert_eq!(e.to_string(), "nqn=a b");
        // The value is everything after the first '='.
        assert_eq!(one("hostid=x=y").hostid.as_deref(), Some("x=y"));
        // A repeated key: the last value wins.
        assert_eq!(one("nqn=a;nqn=b").nqn.as_deref(), Some("b"));
    }

    #[test]
    fn entry_without_fields_never_matches() {
        for blank in ["", "   ", ";", ";;;"] {
            assert_eq!(Exclusion::parse(blank), None, "{blank:?}");
        }
        assert!(in_section("exclusion =\nexclusion = ;;\n").is_empty());
        assert!(!Exclusion::default().matches(&tcp("1.2.3.4", "n"), Some("h")));
        assert!(!Exclusion::default().matches(&TransportId::default(), None));
    }

    #[test]
    fn ip_transports_need_numeric_addresses() {
        for bad in [
            "transport=tcp;traddr=storage.example.com",
            "transport=rdma;traddr=host",
            "transport=tcp;host-traddr=localhost",
            "traddr=host;transport=tcp",
            "transport=tcp;traddr=1.2.3.4%eth0",
            "transport=tcp;traddr=fe80::1%",
            "transport=tcp;traddr=01.2.3.4",
        ] {
            assert_eq!(Exclusion::parse(bad), None, "{bad:?}");
        }
        // Without a transport, addresses are kept as written.
        let e = one("traddr=Storage.Example.COM;host-traddr=FE80:0::1");
        assert_eq!(e.traddr.as_deref(), Some("Storage.Example.COM"));
        assert_eq!(e.host_traddr.as_deref(), Some("FE80:0::1"));
        // With another transport too.
        assert_eq!(
            one("transport=loop;traddr=whatever").traddr.as_deref(),
            Some("whatever")
        );
    }

    #[test]
    fn ipv6_canonical_and_mapped_equality() {
        let e = one("transport=tcp;traddr=2001:DB8:0:0:0:0:0:1;host-traddr=::FFFF:192.0.2.1");
        assert_eq!(e.traddr.as_deref(), Some("2001:db8::1"));
        assert_eq!(e.host_traddr.as_deref(), Some("::ffff:192.0.2.1"));

        let mut tid = tcp("2001:0db8:0000::0001", "n");
        tid.host_traddr = "192.0.2.1".into();
        assert!(e.matches(&tid, None));
        tid.host_traddr = "192.0.2.2".into();
        assert!(!e.matches(&tid, None));

        // Address-aware without a transport, and in both directions.
        assert!(one("traddr=192.0.2.1").matches(&tcp("::ffff:192.0.2.1", "n"), None));
        assert!(one("traddr=::ffff:c000:201").matches(&tcp("192.0.2.1", "n"), None));
        assert!(one("traddr=2001:DB8::1").matches(&tcp("2001:db8:0::1", "n"), None));
        assert!(!one("traddr=2001:db8::1").matches(&tcp("2001:db8::2", "n"), None));
        // Non-IP text is compared exactly.
        assert!(one("traddr=name").matches(&tcp("name", "n"), None));
        assert!(!one("traddr=name").matches(&tcp("Name", "n"), None));
    }

    #[test]
    fn ipv6_scope_kept() {
        let e = one("transport=tcp;traddr=FE80:0:0::1%Eth0");
        assert_eq!(e.traddr.as_deref(), Some("fe80::1%Eth0"));
        assert_eq!(e.to_string(), "transport=tcp;traddr=fe80::1%Eth0");
        assert!(e.matches(&tcp("fe80::0:1%Eth0", "n"), None));
        assert!(!e.matches(&tcp("fe80::1%eth0", "n"), None));
        assert!(!e.matches(&tcp("fe80::1", "n"), None));
        assert!(!one("transport=tcp;traddr=fe80::1").matches(&tcp("fe80::1%eth0", "n"), None));
    }

    #[test]
    fn fc_addresses() {
        let e = one("transport=fc;traddr=nn-0x10000000C9AbCdEf,pn-0x20000000c9abcdef;host-traddr=nn-0x1:pn-0x2");
        assert_eq!(
            e.traddr.as_deref(),
            Some("nn-0x10000000C9AbCdEf:pn-0x20000000c9abcdef")
        );
        assert_eq!(e.host_traddr.as_deref(), Some("nn-0x1:pn-0x2"));
        assert!(e.matches(
            &fc(
                "nn-0x10000000c9abcdef:pn-0x20000000C9ABCDEF",
                "NN-0X1:PN-0X2"
            ),
            None
        ));
        assert!(!e.matches(&fc("nn-0x10000000c9abcdef:pn-0x3", "nn-0x1:pn-0x2"), None));
        // Case-insensitive against an FC connection even when the entry names no transport.
        assert!(one("traddr=nn-0xAB:pn-0xCD").matches(&fc("nn-0xab:pn-0xcd", ""), None));
        for bad in [
            "transport=fc;traddr=nn-0x:pn-0x1",
            "transport=fc;traddr=nn-0x1;pn-0x2",
            "transport=fc;traddr=nn-0x1",
            "transport=fc;traddr=nn-0x1:pn-0xzz",
            "transport=fc;traddr=1.2.3.4",
            "transport=fc;host-traddr=nn-0x1:xx-0x2",
            "transport=fc;traddr=nn-0x1:pn-0x2:pn-0x3",
        ] {
            assert_eq!(Exclusion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn field_the_connection_lacks_does_not_match() {
        let tid = tcp("1.2.3.4", "nqn.s");
        assert!(!one("host-iface=eth0").matches(&tid, None));
        assert!(!one("host-traddr=5.6.7.8").matches(&tid, None));
        assert!(!one("hostid=abc").matches(&tid, None));
        assert!(!one("hostid=abc").matches(&tid, Some("")));
        assert!(one("hostid=abc").matches(&tid, Some("abc")));
        assert!(!one("hostid=abc").matches(&tid, Some("ABC")));
        assert!(!one("nqn=nqn.s").matches(&TransportId::default(), None));
        // Other fields are exact and case-sensitive.
        assert!(one("hostnqn=nqn.host;nqn=nqn.s;trsvcid=4420").matches(&tid, None));
        assert!(!one("hostnqn=NQN.host").matches(&tid, None));
        assert!(!one("transport=TCP").matches(&tid, None));
        assert!(!one("transport=tcp;nqn=nqn.other").matches(&tid, None));
    }

    #[test]
    fn long_lines_are_split() {
        // A physical line of 4095 bytes and more: the bytes after 4095 are read as a new line.
        let filler = "#".repeat(LINE_MAX);
        let list = in_section(&format!("{filler}exclusion = nqn=hidden\n"));
        assert_eq!(list.entries(), [one("nqn=hidden")]);
        // An entry cut at 4095 bytes keeps its first piece; the rest has no '=' and is ignored.
        let long = "a".repeat(5000);
        let list = in_section(&format!("exclusion = nqn={long}\n"));
        assert_eq!(list.entries().len(), 1);
        let nqn = list.entries()[0].nqn.as_deref().unwrap_or_default();
        assert_eq!(nqn.len(), LINE_MAX - "exclusion = nqn=".len());
        // A line of exactly 4095 bytes is read whole.
        let nqn = "b".repeat(LINE_MAX - "exclusion = nqn=".len());
        let list = in_section(&format!("exclusion = nqn={nqn}\n"));
        assert_eq!(list.entries()[0].nqn.as_deref(), Some(nqn.as_str()));
    }

    #[test]
    fn non_utf8_bytes_do_not_break_the_file() {
        let mut list = ExclusionList::default();
        list.parse_bytes(b"[exclusions]\nexclusion = nqn=\xff\xfe\nexclusion = nqn=ok\n");
        assert_eq!(list.entries().len(), 2);
        assert_eq!(list.entries()[1], one("nqn=ok"));
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    #[test]
    fn load_main_and_drop_ins() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            &dir.join("exclusions.conf"),
            "[exclusions]\nexclusion = nqn=main\n",
        );
        let d = dir.join("exclusions.conf.d");
        fs::create_dir(&d).expect("mkdir");
        write(&d.join("b.conf"), "[exclusions]\nexclusion = nqn=b\n");
        write(
            &d.join("a.conf"),
            "[exclusions]\nexclusion = nqn=a\nexclusion = bogus\n",
        );
        write(&d.join("x.txt"), "[exclusions]\nexclusion = nqn=txt\n");
        write(&d.join(".conf"), "[exclusions]\nexclusion = nqn=dotconf\n");
        write(&d.join("c.conf.bak"), "[exclusions]\nexclusion = nqn=bak\n");
        // A section does not carry over from one file to the next.
        write(&d.join("c.conf"), "exclusion = nqn=no-section\n");
        fs::create_dir(d.join("sub.conf")).expect("mkdir");

        let list = ExclusionList::load(dir);
        let nqns: Vec<_> = list.entries().iter().map(|e| e.nqn.as_deref()).collect();
        assert_eq!(nqns, [Some("main"), Some("a"), Some("b")]);
        assert!(list.matching(&tcp("1.2.3.4", "b"), None).is_some());
        assert!(list.matching(&tcp("1.2.3.4", "txt"), None).is_none());
    }

    #[test]
    fn load_drop_ins_without_main_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path().join("exclusions.conf.d");
        fs::create_dir(&d).expect("mkdir");
        write(
            &d.join("ops.conf"),
            "[exclusions]\nexclusion = host-iface=eth9\n",
        );
        let list = ExclusionList::load(tmp.path());
        assert_eq!(list.entries(), [one("host-iface=eth9")]);
    }

    #[test]
    fn load_missing_dir_is_empty() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(ExclusionList::load(tmp.path()).is_empty());
        assert!(ExclusionList::load(&tmp.path().join("does/not/exist")).is_empty());
    }

    #[test]
    fn load_unreadable_file_fails_open() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let main = dir.join("exclusions.conf");
        write(&main, "[exclusions]\nexclusion = nqn=secret\n");
        let d = dir.join("exclusions.conf.d");
        fs::create_dir(&d).expect("mkdir");
        write(&d.join("ok.conf"), "[exclusions]\nexclusion = nqn=ok\n");
        fs::set_permissions(&main, fs::Permissions::from_mode(0o000)).expect("chmod");
        let readable = fs::read(&main).is_ok(); // root reads anything
        let list = ExclusionList::load(dir);
        fs::set_permissions(&main, fs::Permissions::from_mode(0o644)).expect("chmod");
        if readable {
            return;
        }
        assert_eq!(list.entries(), [one("nqn=ok")]);
    }
}
