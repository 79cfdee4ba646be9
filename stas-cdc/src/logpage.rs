//! The discovery log stas-cdc announces: its definition file (TOML) and its encoding as
//! an NVMe-oF Discovery Log Page (1024-byte header, 1024-byte entries).
//!
//! The file is what an operator or a test edits:
//!
//! ```toml
//! [[entry]]                       # one discovery log page entry
//! subtype = "current"             # nvme | referral | current (this DC itself), or 0-255
//! traddr = "127.0.0.1"
//! trsvcid = "8010"
//! subnqn = "nqn.2014-08.org.nvmexpress.discovery"
//! eflags = ["epcsd"]              # duprentinfo | epcsd | ncc, or a number
//!
//! [[entry]]
//! traddr = "127.0.0.1"            # subtype "nvme" and trtype "tcp" by default
//! trsvcid = "4420"
//! subnqn = "nqn.2024-01.io.example.stas:subsys1"
//! port-local = false              # left out of a port-local-entries-only (PLEO) answer
//! ```
//!
//! Strings are copied byte for byte into their fixed-size fields (cut at the field size,
//! with no NUL then): a test can announce control characters, `,` or `=` in a field, or a
//! field with no terminator, exactly as a hostile fabric could. Only the file's own syntax
//! and names are checked, and every problem names the file, the entry and the field.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

/// Size of the discovery log page header, and of each entry.
pub const RECORD_LEN: usize = 1024;
/// Get Log Page LSP bit: port-local entries only.
pub const LSP_PLEO: u8 = 1 << 1;

/// A problem with the log definition file.
#[derive(Debug, Error)]
pub enum LogFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a log definition.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A field has a value stas-cdc does not know.
    #[error("{path}: entry {entry}: {field}: {message}")]
    Field {
        /// The file.
        path: String,
        /// 1-based entry number.
        entry: usize,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A name from a fixed table, or the raw number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Code {
    Num(u16),
    Name(String),
}

impl Code {
    fn resolve(&self, table: &[(&str, u16)], max: u16) -> Result<u16, String> {
        match self {
            Code::Num(n) if *n <= max => Ok(*n),
            Code::Num(n) => Err(format!("{n} is out of range (0-{max})")),
            Code::Name(s) => table
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(s))
                .map(|&(_, v)| v)
                .ok_or_else(|| {
                    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                    format!(
                        "unknown name {s:?} (one of {}, or a number)",
                        names.join(", ")
                    )
                }),
        }
    }
}

const SUBTYPES: &[(&str, u16)] = &[("referral", 1), ("nvme", 2), ("current", 3)];
const TRTYPES: &[(&str, u16)] = &[("rdma", 1), ("fc", 2), ("tcp", 3), ("loop", 254)];
const ADRFAMS: &[(&str, u16)] = &[
    ("pci", 0),
    ("ipv4", 1),
    ("ipv6", 2),
    ("ib", 3),
    ("fc", 4),
    ("loop", 254),
];
const EFLAGS: &[(&str, u16)] = &[("duprentinfo", 1), ("epcsd", 2), ("ncc", 4)];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    entry: Vec<EntrySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EntrySpec {
    subtype: Option<Code>,
    trtype: Option<Code>,
    adrfam: Option<Code>,
    #[serde(default)]
    traddr: String,
    #[serde(default)]
    trsvcid: String,
    #[serde(default)]
    subnqn: String,
    #[serde(default)]
    portid: u16,
    cntlid: Option<u16>,
    asqsz: Option<u16>,
    #[serde(default)]
    treq: u8,
    #[serde(default)]
    eflags: Vec<Code>,
    #[serde(default)]
    tsas: String,
    port_local: Option<bool>,
}

/// One resolved discovery log page entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// SUBTYPE (1 referral, 2 NVM subsystem, 3 current discovery subsystem).
    pub subtype: u8,
    /// TRTYPE.
    pub trtype: u8,
    /// ADRFAM.
    pub adrfam: u8,
    /// TREQ.
    pub treq: u8,
    /// PORTID.
    pub portid: u16,
    /// CNTLID.
    pub cntlid: u16,
    /// ASQSZ.
    pub asqsz: u16,
    /// EFLAGS.
    pub eflags: u16,
    /// TRSVCID bytes.
    pub trsvcid: Vec<u8>,
    /// SUBNQN bytes.
    pub subnqn: Vec<u8>,
    /// TRADDR bytes.
    pub traddr: Vec<u8>,
    /// TSAS bytes.
    pub tsas: Vec<u8>,
    /// Part of a port-local-entries-only answer.
    pub port_local: bool,
}

/// The whole log definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

fn u8_of(v: u16) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

impl Log {
    /// Reads and resolves a log definition file.
    ///
    /// # Errors
    /// [`LogFileError`] naming the file, the entry and the field.
    pub fn load(path: &Path) -> Result<Log, LogFileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LogFileError::Read {
            path: name.clone(),
            source,
        })?;
        Log::parse(&name, &text)
    }

    /// Parses a log definition; `path` only names it in errors.
    ///
    /// # Errors
    /// [`LogFileError`] naming the file, the entry and the field.
    pub fn parse(path: &str, text: &str) -> Result<Log, LogFileError> {
        let spec: FileSpec = toml::from_str(text).map_err(|e| LogFileError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let entries = spec
            .entry
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.resolve().map_err(|(field, message)| LogFileError::Field {
                    path: path.to_owned(),
                    entry: i + 1,
                    field,
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Log { entries })
    }

    /// The Discovery Log Page with this generation counter: every entry, or only the
    /// port-local ones when `port_local_only` (a Get Log Page with LSP PLEO).
    #[must_use]
    pub fn encode(&self, genctr: u64, port_local_only: bool) -> Vec<u8> {
        let entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.port_local || !port_local_only)
            .collect();
        let mut page = vec![0u8; RECORD_LEN * (1 + entries.len())];
        page[0..8].copy_from_slice(&genctr.to_le_bytes());
        page[8..16].copy_from_slice(&(entries.len() as u64).to_le_bytes());
        for (e, rec) in entries
            .iter()
            .zip(page[RECORD_LEN..].chunks_mut(RECORD_LEN))
        {
            e.write(rec);
        }
        page
    }
}

impl EntrySpec {
    fn resolve(&self) -> Result<Entry, (&'static str, String)> {
        let code = |field: &'static str, c: &Option<Code>, table, default: u16, max| {
            c.as_ref()
                .map_or(Ok(default), |c| c.resolve(table, max))
                .map_err(|m| (field, m))
        };
        let adrfam_default = if self.traddr.contains(':') { 2 } else { 1 };
        let mut eflags = 0u16;
        for f in &self.eflags {
            eflags |= f.resolve(EFLAGS, u16::MAX).map_err(|m| ("eflags", m))?;
        }
        Ok(Entry {
            subtype: u8_of(code("subtype", &self.subtype, SUBTYPES, 2, 255)?),
            trtype: u8_of(code("trtype", &self.trtype, TRTYPES, 3, 255)?),
            adrfam: u8_of(code("adrfam", &self.adrfam, ADRFAMS, adrfam_default, 255)?),
            treq: self.treq,
            portid: self.portid,
            cntlid: self.cntlid.unwrap_or(0xffff),
            asqsz: self.asqsz.unwrap_or(32),
            eflags,
            trsvcid: self.trsvcid.as_bytes().to_vec(),
            subnqn: self.subnqn.as_bytes().to_vec(),
            traddr: self.traddr.as_bytes().to_vec(),
            tsas: self.tsas.as_bytes().to_vec(),
            port_local: self.port_local.unwrap_or(true),
        })
    }
}

fn put(dst: &mut [u8], src: &[u8]) {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
}

impl Entry {
    /// Writes the 1024-byte entry (fields cut at their size, NUL padded).
    fn write(&self, rec: &mut [u8]) {
        rec[0] = self.trtype;
        rec[1] = self.adrfam;
        rec[2] = self.subtype;
        rec[3] = self.treq;
        rec[4..6].copy_from_slice(&self.portid.to_le_bytes());
        rec[6..8].copy_from_slice(&self.cntlid.to_le_bytes());
        rec[8..10].copy_from_slice(&self.asqsz.to_le_bytes());
        rec[10..12].copy_from_slice(&self.eflags.to_le_bytes());
        put(&mut rec[32..64], &self.trsvcid);
        put(&mut rec[256..512], &self.subnqn);
        put(&mut rec[512..768], &self.traddr);
        put(&mut rec[768..1024], &self.tsas);
    }
}

impl fmt::Display for Entry {
    /// One line for logs and `--check`: the strings with control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).escape_debug().to_string();
        write!(
            f,
            "subtype={} trtype={} adrfam={} traddr=\"{}\" trsvcid=\"{}\" subnqn=\"{}\" eflags={:#x}{}",
            self.subtype,
            self.trtype,
            self.adrfam,
            s(&self.traddr),
            s(&self.trsvcid),
            s(&self.subnqn),
            self.eflags,
            if self.port_local { "" } else { " (not port-local)" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[entry]]
subtype = "current"
traddr = "127.0.0.1"
trsvcid = "8010"
subnqn = "nqn.2014-08.org.nvmexpress.discovery"
eflags = ["epcsd", "ncc"]

[[entry]]
traddr = "::1"
trsvcid = "4420"
subnqn = "nqn.2024-01.io.example.stas:subsys1"
port-local = false

[[entry]]
trtype = 200
traddr = "a,b=c\u0001"
subnqn = "nqn.x"
"#;

    #[test]
    fn entries_resolve_with_defaults() {
        let log = Log::parse("t.toml", SAMPLE).unwrap();
        let [cur, nvme, odd] = &log.entries[..] else {
            panic!("{log:?}")
        };
        assert_eq!((cur.subtype, cur.trtype, cur.adrfam), (3, 3, 1));
        assert_eq!(cur.eflags, 2 | 4);
        assert_eq!(
            (nvme.subtype, nvme.adrfam, nvme.cntlid, nvme.asqsz),
            (2, 2, 0xffff, 32)
        );
        assert!(!nvme.port_local);
        assert_eq!(odd.trtype, 200);
        assert_eq!(odd.traddr, b"a,b=c\x01");
    }

    #[test]
    fn the_page_has_the_header_and_the_fields_at_their_offsets() {
        let log = Log::parse("t.toml", SAMPLE).unwrap();
        let page = log.encode(7, false);
        assert_eq!(page.len(), 4 * RECORD_LEN);
        assert_eq!(u64::from_le_bytes(page[0..8].try_into().unwrap()), 7);
        assert_eq!(u64::from_le_bytes(page[8..16].try_into().unwrap()), 3);
        let e = &page[2 * RECORD_LEN..3 * RECORD_LEN];
        assert_eq!(&e[0..4], &[3, 2, 2, 0]);
        assert_eq!(&e[6..8], &[0xff, 0xff]);
        assert_eq!(&e[32..37], b"4420\0");
        assert_eq!(&e[512..516], b"::1\0");
        assert_eq!(&e[256..291], b"nqn.2024-01.io.example.stas:subsys1");
        let cur = &page[RECORD_LEN..2 * RECORD_LEN];
        assert_eq!(u16::from_le_bytes([cur[10], cur[11]]), 6);
    }

    #[test]
    fn pleo_leaves_out_entries_that_are_not_port_local() {
        let log = Log::parse("t.toml", SAMPLE).unwrap();
        let page = log.encode(1, true);
        assert_eq!(page.len(), 3 * RECORD_LEN);
        assert_eq!(u64::from_le_bytes(page[8..16].try_into().unwrap()), 2);
        assert_eq!(page[2 * RECORD_LEN + 512], b'a');
    }

    #[test]
    fn an_over_long_field_fills_it_without_a_terminator() {
        let long = "x".repeat(300);
        let text = format!(
            "[[entry]]\ntraddr = \"{long}\"\ntrsvcid = \"{}\"\n",
            "9".repeat(40)
        );
        let page = Log::parse("t", &text).unwrap().encode(1, false);
        let e = &page[RECORD_LEN..];
        assert!(e[512..768].iter().all(|&b| b == b'x'));
        assert!(e[32..64].iter().all(|&b| b == b'9'));
        assert_eq!(e[64], 0);
    }

    #[test]
    fn errors_name_the_file_entry_and_field() {
        let e = Log::parse("f.toml", "[[entry]]\n[[entry]]\nsubtype = \"bogus\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("f.toml: entry 2: subtype: unknown name \"bogus\""),
            "{msg}"
        );
        let e = Log::parse("f.toml", "[[entry]]\nadrfam = 300\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("entry 1: adrfam: 300 is out of range"),
            "{e}"
        );
        let e = Log::parse("f.toml", "[[entry]]\ncolour = 1\n").unwrap_err();
        assert!(
            e.to_string().starts_with("f.toml: ") && e.to_string().contains("colour"),
            "{e}"
        );
        assert!(Log::load(Path::new("/nonexistent/x.toml")).is_err());
    }

    #[test]
    fn an_empty_file_is_an_empty_log() {
        let page = Log::parse("t", "").unwrap().encode(3, true);
        assert_eq!(page.len(), RECORD_LEN);
        assert_eq!(page[0], 3);
    }
}
