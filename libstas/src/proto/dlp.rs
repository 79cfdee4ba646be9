//! The Discovery Log Page (LID 0x70): header and entries from bytes, the sanitizing and
//! validation every entry goes through before it can be used, the nvme-stas string
//! dictionary of an entry (nvme-stas-behaviour.md §2.3), and an encoder (for the fake kernel,
//! tests and fuzzing round trips).
//!
//! Layout (kernel-interface.md §3.3, little-endian): a 1024-byte header (GENCTR @0, NUMREC @8,
//! RECFMT @16) followed by NUMREC 1024-byte entries.
//!
//! Sanitizing follows libnvme and nvme-stas: strings end at the first NUL, surrounding
//! whitespace is stripped, an FC `nn-0x…,pn-0x…` address gets its `:` back. Entries whose
//! address is `0.0.0.0`, `::` or empty are placeholders some CDCs emit and are dropped.
//! Every remaining string is validated (DECISIONS.md item 14): a bad entry is reported in
//! [`DiscoveryLog::rejected`] and skipped, the rest of the page is used.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::consts::{
    adrfam, adrfam_str, subtype, subtype_str, treq, treq_from_str, treq_str, trtype, trtype_str,
};
use super::validate::{
    check_port, check_value, ValueError, MAX_SPEC_NQN_LEN, MAX_TRADDR_LEN, MAX_TRSVCID_LEN,
};

/// Size of the log page header.
pub const HEADER_LEN: usize = 1024;
/// Size of one entry.
pub const ENTRY_LEN: usize = 1024;
/// Bytes to read to get GENCTR, NUMREC and RECFMT (18 rounded up to a dword).
pub const HEADER_READ_LEN: usize = 20;
/// Default cap on NUMREC: a hostile controller can claim 2^64 entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 4096;

/// Errors that make a whole log page unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DlpError {
    /// Fewer bytes than the header needs.
    #[error("discovery log header truncated: {0} bytes")]
    ShortHeader(usize),
    /// The header claims more entries than the bytes hold.
    #[error("discovery log truncated: {numrec} entries announced, {available} present")]
    Truncated {
        /// Entries announced by NUMREC.
        numrec: u64,
        /// Entries present in the buffer.
        available: u64,
    },
    /// NUMREC is above the sanity cap.
    #[error("discovery log announces {numrec} entries, more than the limit of {max}")]
    TooManyEntries {
        /// Entries announced by NUMREC.
        numrec: u64,
        /// The cap.
        max: u64,
    },
}

/// Why one entry was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryError {
    /// Fewer than 1024 bytes.
    #[error("entry truncated: {0} bytes")]
    Truncated(usize),
    /// A string field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    NotUtf8 {
        /// Field name.
        field: &'static str,
    },
    /// A string field failed validation.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// The value (escaped by `{:?}` when displayed).
        value: String,
        /// What is wrong with it.
        reason: ValueError,
    },
}

/// The log page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DlpHeader {
    /// Generation counter.
    pub genctr: u64,
    /// Number of records.
    pub numrec: u64,
    /// Record format.
    pub recfmt: u16,
}

impl DlpHeader {
    /// Parses the first 18 bytes of the log page.
    ///
    /// # Errors
    /// [`DlpError::ShortHeader`] when `buf` is shorter than 18 bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, DlpError> {
        if buf.len() < 18 {
            return Err(DlpError::ShortHeader(buf.len()));
        }
        Ok(Self {
            genctr: le_u64(buf, 0),
            numrec: le_u64(buf, 8),
            recfmt: le_u16(buf, 16),
        })
    }

    /// Encodes the header into a 1024-byte block.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&self.genctr.to_le_bytes());
        out[8..16].copy_from_slice(&self.numrec.to_le_bytes());
        out[16..18].copy_from_slice(&self.recfmt.to_le_bytes());
        out
    }
}

/// Transport specific address subtype of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tsas {
    /// TCP: security type (0 none, 1 TLS 1.2, 2 TLS 1.3).
    Tcp {
        /// SECTYPE.
        sectype: u8,
    },
    /// RDMA parameters.
    Rdma {
        /// QP service type.
        qptype: u8,
        /// Provider type.
        prtype: u8,
        /// Connection management service.
        cms: u8,
        /// Partition key.
        pkey: u16,
    },
    /// Other transports: not interpreted.
    Other,
}

impl Tsas {
    fn parse(trtype_v: u8, b: &[u8]) -> Self {
        match trtype_v {
            trtype::TCP => Self::Tcp { sectype: b[0] },
            trtype::RDMA => Self::Rdma {
                qptype: b[0],
                prtype: b[1],
                cms: b[2],
                pkey: le_u16(b, 8),
            },
            _ => Self::Other,
        }
    }

    fn encode(self, b: &mut [u8]) {
        match self {
            Self::Tcp { sectype } => b[0] = sectype,
            Self::Rdma {
                qptype,
                prtype,
                cms,
                pkey,
            } => {
                b[0] = qptype;
                b[1] = prtype;
                b[2] = cms;
                b[8..10].copy_from_slice(&pkey.to_le_bytes());
            }
            Self::Other => {}
        }
    }

    /// The Python `repr()` of libnvme's tsas dict, as nvme-stas stores it; `None` for
    /// transports that have no tsas key.
    #[must_use]
    pub fn python_repr(&self) -> Option<String> {
        match *self {
            Self::Tcp { sectype } => Some(format!("{{'sectype': '{}'}}", sectype_name(sectype))),
            Self::Rdma {
                qptype,
                prtype,
                cms,
                ..
            } => {
                let q = match qptype {
                    1 => "connected",
                    2 => "datagram",
                    _ => "reserved",
                };
                let p = match prtype {
                    1 => "not specified",
                    2 => "infiniband",
                    3 => "roce",
                    4 => "rocev2",
                    5 => "iwarp",
                    _ => "reserved",
                };
                let c = if cms == 1 { "cm" } else { "reserved" };
                Some(format!(
                    "{{'qptype': '{q}', 'prtype': '{p}', 'cms': '{c}'}}"
                ))
            }
            Self::Other => None,
        }
    }
}

/// The name of a TCP SECTYPE, as libnvme spells it in `tsas`.
#[must_use]
pub fn sectype_name(sectype: u8) -> &'static str {
    match sectype {
        0 => "none",
        1 => "tls",
        2 => "tls1.3",
        _ => "reserved",
    }
}

/// What a TCP entry says about the connection's secure channel (ecosystem-2026.md §7.2):
/// TREQ and the SECTYPE of its TSAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecureChannel {
    /// TREQ (bits 1:0: not specified, required, not required).
    pub treq: u8,
    /// TSAS SECTYPE (0 none, 1 TLS 1.2, 2 TLS 1.3).
    pub sectype: u8,
}

impl SecureChannel {
    /// From an entry; `None` when it is not a TCP entry.
    #[must_use]
    pub fn of(entry: &LogEntry) -> Option<Self> {
        match entry.tsas {
            Tsas::Tcp { sectype } if entry.trtype == trtype::TCP => Some(Self {
                treq: entry.treq,
                sectype,
            }),
            _ => None,
        }
    }

    /// From an entry's nvme-stas dictionary (what stafd publishes and stacd receives):
    /// `None` when it is not a TCP entry or its `treq` / `tsas` cannot be read back.
    #[must_use]
    pub fn from_stas_dict(d: &BTreeMap<String, String>) -> Option<Self> {
        if d.get("trtype").map(String::as_str) != Some("tcp") {
            return None;
        }
        let treq = treq_from_str(d.get("treq")?)?;
        let name = (d.get("tsas")?)
            .strip_prefix("{'sectype': '")?
            .strip_suffix("'}")?;
        let sectype = (0..=3).find(|&v| sectype_name(v) == name)?;
        Some(Self { treq, sectype })
    }

    /// libnvme's rule for entries it connects (ecosystem-2026.md §7.3): TREQ says a secure
    /// channel is required and SECTYPE names one: the connection must use TLS.
    #[must_use]
    pub fn requires_tls(&self) -> bool {
        self.sectype != 0 && self.treq & treq::SECURE_CHANNEL_MASK == treq::REQUIRED
    }

    /// The SECTYPE's name (`tls`, `tls1.3`, …).
    #[must_use]
    pub fn sectype_name(&self) -> &'static str {
        sectype_name(self.sectype)
    }
}

/// One validated discovery log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// TRTYPE.
    pub trtype: u8,
    /// ADRFAM.
    pub adrfam: u8,
    /// SUBTYPE.
    pub subtype: u8,
    /// TREQ (bitfield).
    pub treq: u8,
    /// PORTID.
    pub portid: u16,
    /// CNTLID.
    pub cntlid: u16,
    /// ASQSZ.
    pub asqsz: u16,
    /// EFLAGS.
    pub eflags: u16,
    /// TRSVCID, sanitized.
    pub trsvcid: String,
    /// SUBNQN, sanitized.
    pub subnqn: String,
    /// TRADDR, sanitized.
    pub traddr: String,
    /// TSAS.
    pub tsas: Tsas,
}

impl LogEntry {
    /// The transport word to connect with (`tcp`, `rdma`, `fc`, `loop`), if connectable.
    #[must_use]
    pub fn transport(&self) -> Option<&'static str> {
        super::consts::trtype_transport(self.trtype)
    }

    /// A referral to another discovery controller.
    #[must_use]
    pub fn is_referral(&self) -> bool {
        self.subtype == subtype::REFERRAL
    }

    /// The entry of the discovery controller that returned the page (TP8013).
    #[must_use]
    pub fn is_current_discovery(&self) -> bool {
        self.subtype == subtype::CURRENT_DISCOVERY
    }

    /// An NVM subsystem (I/O controller) entry.
    #[must_use]
    pub fn is_nvm(&self) -> bool {
        self.subtype == subtype::NVME
    }

    /// EFLAGS NCC: no CDC connectivity.
    #[must_use]
    pub fn ncc(&self) -> bool {
        self.eflags & super::consts::eflags::NCC != 0
    }

    /// The nvme-stas DLPE dictionary: every value a string, exact spellings of §2.3.
    #[must_use]
    pub fn to_stas_dict(&self) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            d.insert(k.to_owned(), v);
        };
        put("trtype", trtype_str(self.trtype));
        put("adrfam", adrfam_str(self.adrfam));
        put("traddr", self.traddr.clone());
        put("trsvcid", self.trsvcid.clone());
        put("subnqn", self.subnqn.clone());
        put("subtype", subtype_str(self.subtype));
        put("treq", treq_str(self.treq));
        if let Some(t) = self.tsas.python_repr() {
            put("tsas", t);
        }
        put("portid", self.portid.to_string());
        put("cntlid", self.cntlid.to_string());
        put("asqsz", self.asqsz.to_string());
        put("eflags", self.eflags.to_string());
        d
    }

    /// Encodes the entry into its 1024-byte wire form (strings NUL padded).
    ///
    /// Strings longer than their field are cut (this encoder is for tests and the fake).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; ENTRY_LEN];
        b[0] = self.trtype;
        b[1] = self.adrfam;
        b[2] = self.subtype;
        b[3] = self.treq;
        b[4..6].copy_from_slice(&self.portid.to_le_bytes());
        b[6..8].copy_from_slice(&self.cntlid.to_le_bytes());
        b[8..10].copy_from_slice(&self.asqsz.to_le_bytes());
        b[10..12].copy_from_slice(&self.eflags.to_le_bytes());
        put_str(&mut b[32..64], &self.trsvcid);
        put_str(&mut b[256..512], &self.subnqn);
        put_str(&mut b[512..768], &self.traddr);
        self.tsas.encode(&mut b[768..1024]);
        b
    }
}

fn put_str(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

fn le_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// A fixed-width string field: bytes up to the first NUL, UTF-8, surrounding whitespace
/// stripped (libnvme trims trailing spaces; nvme-stas strips every value).
fn field(b: &[u8], name: &'static str) -> Result<String, EntryError> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = std::str::from_utf8(&b[..end]).map_err(|_| EntryError::NotUtf8 { field: name })?;
    Ok(s.trim().to_owned())
}

fn invalid(field: &'static str, value: &str, reason: ValueError) -> EntryError {
    EntryError::Invalid {
        field,
        value: value.to_owned(),
        reason,
    }
}

/// Whether an address is one of the placeholders nvme-stas drops (`0.0.0.0`, `::`, empty).
#[must_use]
pub fn is_placeholder_traddr(traddr: &str) -> bool {
    traddr.is_empty() || traddr == "0.0.0.0" || traddr == "::"
}

fn check_ip(value: &str, v6: bool) -> Result<(), ValueError> {
    check_value(value, MAX_TRADDR_LEN)?;
    // An IPv6 address may carry a `%scope` suffix.
    let (addr, scope) = match value.split_once('%') {
        Some((a, s)) if v6 => (a, Some(s)),
        _ => (value, None),
    };
    let ok = if v6 {
        addr.parse::<Ipv6Addr>().is_ok()
    } else {
        addr.parse::<Ipv4Addr>().is_ok()
    };
    if !ok {
        return Err(ValueError::Malformed(if v6 {
            "not an IPv6 address"
        } else {
            "not an IPv4 address"
        }));
    }
    if let Some(scope) = scope {
        check_value(scope, super::validate::MAX_IFACE_LEN)?;
    }
    Ok(())
}

/// Parses, sanitizes and validates one 1024-byte entry.
///
/// Returns `Ok(None)` for a placeholder entry (address `0.0.0.0`, `::` or empty).
///
/// # Errors
/// An [`EntryError`] naming the field that failed.
pub fn parse_entry(b: &[u8]) -> Result<Option<LogEntry>, EntryError> {
    if b.len() < ENTRY_LEN {
        return Err(EntryError::Truncated(b.len()));
    }
    let trtype_v = b[0];
    let adrfam_v = b[1];
    let trsvcid = field(&b[32..64], "trsvcid")?;
    let subnqn = field(&b[256..512], "subnqn")?;
    let mut traddr = field(&b[512..768], "traddr")?;
    if is_placeholder_traddr(&traddr) {
        return Ok(None);
    }
    if trtype_v == trtype::FC && traddr.starts_with("nn-0x") {
        if let Some(pos) = traddr.find(",pn-0x") {
            traddr.replace_range(pos..=pos, ":");
        }
    }
    match adrfam_v {
        adrfam::IP4 => check_ip(&traddr, false),
        adrfam::IP6 => check_ip(&traddr, true),
        _ => check_value(&traddr, MAX_TRADDR_LEN),
    }
    .map_err(|e| invalid("traddr", &traddr, e))?;
    if matches!(trtype_v, trtype::TCP | trtype::RDMA) {
        check_port(&trsvcid).map_err(|e| invalid("trsvcid", &trsvcid, e))?;
    } else if !trsvcid.is_empty() {
        check_value(&trsvcid, MAX_TRSVCID_LEN).map_err(|e| invalid("trsvcid", &trsvcid, e))?;
    }
    check_value(&subnqn, MAX_SPEC_NQN_LEN).map_err(|e| invalid("subnqn", &subnqn, e))?;
    Ok(Some(LogEntry {
        trtype: trtype_v,
        adrfam: adrfam_v,
        subtype: b[2],
        treq: b[3],
        portid: le_u16(b, 4),
        cntlid: le_u16(b, 6),
        asqsz: le_u16(b, 8),
        eflags: le_u16(b, 10),
        trsvcid,
        subnqn,
        traddr,
        tsas: Tsas::parse(trtype_v, &b[768..1024]),
    }))
}

/// An entry that was skipped, with its index in the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    /// Zero-based index of the entry in the page.
    pub index: u64,
    /// Why it was skipped.
    pub error: EntryError,
}

/// A parsed discovery log page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveryLog {
    /// The header.
    pub header: DlpHeader,
    /// Valid entries, in page order.
    pub entries: Vec<LogEntry>,
    /// Number of placeholder entries dropped.
    pub placeholders: u64,
    /// Entries skipped because they failed validation.
    pub rejected: Vec<RejectedEntry>,
}

impl DiscoveryLog {
    /// Builds the log from a header and the bytes of its entries (which start at offset
    /// 1024 of the page).
    ///
    /// # Errors
    /// [`DlpError::TooManyEntries`] above `max_entries`, [`DlpError::Truncated`] when
    /// `entries` holds fewer than NUMREC entries.
    pub fn from_parts(
        header: DlpHeader,
        entries: &[u8],
        max_entries: u64,
    ) -> Result<Self, DlpError> {
        if header.numrec > max_entries {
            return Err(DlpError::TooManyEntries {
                numrec: header.numrec,
                max: max_entries,
            });
        }
        let available = u64::try_from(entries.len() / ENTRY_LEN).unwrap_or(u64::MAX);
        if available < header.numrec {
            return Err(DlpError::Truncated {
                numrec: header.numrec,
                available,
            });
        }
        let mut log = Self {
            header,
            ..Self::default()
        };
        for (index, chunk) in (0..header.numrec).zip(entries.chunks_exact(ENTRY_LEN)) {
            match parse_entry(chunk) {
                Ok(Some(e)) => log.entries.push(e),
                Ok(None) => log.placeholders += 1,
                Err(error) => log.rejected.push(RejectedEntry { index, error }),
            }
        }
        Ok(log)
    }

    /// The DLPE dictionaries nvme-stas publishes for this page.
    #[must_use]
    pub fn stas_dicts(&self) -> Vec<BTreeMap<String, String>> {
        self.entries.iter().map(LogEntry::to_stas_dict).collect()
    }
}

/// Parses a whole log page image (header at 0, entries from 1024).
///
/// A page with NUMREC 0 may be as short as the 18 header bytes.
///
/// # Errors
/// See [`DlpHeader::parse`] and [`DiscoveryLog::from_parts`].
pub fn parse_log(buf: &[u8], max_entries: u64) -> Result<DiscoveryLog, DlpError> {
    let header = DlpHeader::parse(buf)?;
    let entries = buf.get(HEADER_LEN..).unwrap_or(&[]);
    DiscoveryLog::from_parts(header, entries, max_entries)
}

/// Encodes a full log page image from a generation counter and entries.
#[must_use]
pub fn encode_log(genctr: u64, entries: &[LogEntry]) -> Vec<u8> {
    let header = DlpHeader {
        genctr,
        numrec: u64::try_from(entries.len()).unwrap_or(u64::MAX),
        recfmt: 0,
    };
    let mut out = header.encode();
    for e in entries {
        out.extend_from_slice(&e.encode());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_entry(traddr: &str, trsvcid: &str, subnqn: &str, subtype_v: u8) -> LogEntry {
        LogEntry {
            trtype: trtype::TCP,
            adrfam: if traddr.contains(':') {
                adrfam::IP6
            } else {
                adrfam::IP4
            },
            subtype: subtype_v,
            treq: 0,
            portid: 1,
            cntlid: 0xffff,
            asqsz: 32,
            eflags: 0,
            trsvcid: trsvcid.into(),
            subnqn: subnqn.into(),
            traddr: traddr.into(),
            tsas: Tsas::Tcp { sectype: 0 },
        }
    }

    /// A hand-built entry image following the table of kernel-interface.md §3.3.
    fn raw_entry() -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        b[0] = 3; // tcp
        b[1] = 1; // ipv4
        b[2] = 2; // nvme
        b[3] = 4; // treq: disable sqflow
        b[4] = 0x02; // portid 0x0102
        b[5] = 0x01;
        b[6] = 0xff; // cntlid 0xffff
        b[7] = 0xff;
        b[8] = 0x20; // asqsz 32
        b[10] = 0x06; // eflags EPCSD|NCC
        b[32..36].copy_from_slice(b"4420");
        let nqn = b"nqn.2014-08.org.example:subsys1";
        b[256..256 + nqn.len()].copy_from_slice(nqn);
        // SPDK-style space padding after the address.
        let addr = b"192.168.1.20    ";
        b[512..512 + addr.len()].copy_from_slice(addr);
        b[768] = 2; // sectype tls1.3
        b
    }

    #[test]
    fn header_fields_at_spec_offsets() {
        let mut b = vec![0u8; 20];
        b[0] = 7;
        b[8] = 2;
        b[16] = 1;
        let h = DlpHeader::parse(&b).unwrap();
        assert_eq!(
            h,
            DlpHeader {
                genctr: 7,
                numrec: 2,
                recfmt: 1
            }
        );
        assert_eq!(DlpHeader::parse(&b[..17]), Err(DlpError::ShortHeader(17)));
        assert_eq!(&h.encode()[..20], &b[..]);
    }

    #[test]
    fn entry_fields_and_dict_are_exact() {
        let e = parse_entry(&raw_entry()).unwrap().unwrap();
        assert_eq!(e.traddr, "192.168.1.20");
        assert_eq!(e.portid, 0x0102);
        assert!(e.ncc());
        let d = e.to_stas_dict();
        let expect: BTreeMap<String, String> = [
            ("trtype", "tcp"),
            ("adrfam", "ipv4"),
            ("traddr", "192.168.1.20"),
            ("trsvcid", "4420"),
            ("subnqn", "nqn.2014-08.org.example:subsys1"),
            ("subtype", "nvme"),
            ("treq", "disable sqflow"),
            ("tsas", "{'sectype': 'tls1.3'}"),
            ("portid", "258"),
            ("cntlid", "65535"),
            ("asqsz", "32"),
            ("eflags", "6"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(d, expect);
    }

    #[test]
    fn secure_channel_from_entry_and_from_its_stas_dict() {
        let mut e = tcp_entry("10.0.0.1", "4420", "nqn.x:a", subtype::NVME);
        // (treq, sectype, requires tls): nvmet 6.12 with addr_tsas=tls1.3 says treq 5
        // (required + SQ flow control disable), which the dictionary spells "5".
        let cases = [
            (0, 2, false),
            (1, 2, true),
            (5, 2, true),
            (1, 1, true),
            (1, 0, false),
            (2, 2, false),
            (6, 2, false),
            (3, 2, false),
            (4, 2, false),
        ];
        for (treq, sectype, tls) in cases {
            e.treq = treq;
            e.tsas = Tsas::Tcp { sectype };
            let sc = SecureChannel::of(&e).unwrap();
            assert_eq!(sc.requires_tls(), tls, "treq {treq} sectype {sectype}");
            assert_eq!(SecureChannel::from_stas_dict(&e.to_stas_dict()), Some(sc));
        }
        e.tsas = Tsas::Tcp { sectype: 7 };
        let back = SecureChannel::from_stas_dict(&e.to_stas_dict()).unwrap();
        assert!(back.requires_tls() == SecureChannel::of(&e).unwrap().requires_tls());
        assert_eq!(back.sectype_name(), "reserved");
        let mut d = e.to_stas_dict();
        d.insert("treq".into(), "unrecognized".into());
        assert_eq!(SecureChannel::from_stas_dict(&d), None);
        d.insert("treq".into(), "required".into());
        d.remove("tsas");
        assert_eq!(SecureChannel::from_stas_dict(&d), None);
        e.trtype = trtype::RDMA;
        e.tsas = Tsas::Other;
        assert_eq!(SecureChannel::of(&e), None);
        assert_eq!(SecureChannel::from_stas_dict(&e.to_stas_dict()), None);
    }

    #[test]
    fn rdma_tsas_repr_and_unknown_values() {
        let mut b = raw_entry();
        b[0] = 1; // rdma
        b[3] = 5; // treq 5 is not one of the named values
        b[768] = 1;
        b[769] = 4;
        b[770] = 1;
        let d = parse_entry(&b).unwrap().unwrap().to_stas_dict();
        assert_eq!(d["trtype"], "rdma");
        assert_eq!(d["treq"], "5");
        assert_eq!(
            d["tsas"],
            "{'qptype': 'connected', 'prtype': 'rocev2', 'cms': 'cm'}"
        );
        b[0] = 2; // fc: no tsas key
        b[1] = 4;
        b[32..36].copy_from_slice(&[0; 4]);
        let addr = b"nn-0x1000000044001123,pn-0x2000000055001123";
        b[512..768].fill(0);
        b[512..512 + addr.len()].copy_from_slice(addr);
        let e = parse_entry(&b).unwrap().unwrap();
        assert_eq!(e.traddr, "nn-0x1000000044001123:pn-0x2000000055001123");
        let d = e.to_stas_dict();
        assert!(!d.contains_key("tsas"));
        assert_eq!(d["adrfam"], "fc");
        assert_eq!(d["trsvcid"], "");
    }

    #[test]
    fn placeholders_are_dropped() {
        for addr in ["0.0.0.0", "::", ""] {
            let e = tcp_entry(addr, "4420", "nqn.x", 2);
            assert_eq!(parse_entry(&e.encode()), Ok(None), "{addr}");
        }
    }

    #[test]
    fn hostile_strings_are_rejected_not_fatal() {
        let good = tcp_entry("10.0.0.1", "4420", "nqn.good", 2);
        let comma = tcp_entry("10.0.0.2", "4420", "nqn.bad,traddr=1.2.3.4", 2);
        let eq = tcp_entry("10.0.0.3", "4420", "nqn.bad=x", 2);
        let port = tcp_entry("10.0.0.4", "44x", "nqn.p", 2);
        let addr = tcp_entry("10.0.0.999", "4420", "nqn.a", 2);
        let mut ctrl = tcp_entry("10.0.0.5", "4420", "nqn.c", 2).encode();
        ctrl[256 + 3] = 0x07; // BEL inside the NQN
        let mut utf = tcp_entry("10.0.0.6", "4420", "nqn.u", 2).encode();
        utf[256] = 0xff;
        let mut page = encode_log(9, &[good.clone(), comma, eq, port, addr, good.clone()]);
        page.extend_from_slice(&ctrl);
        page.extend_from_slice(&utf);
        page[8] = 8; // numrec
        let log = parse_log(&page, 100).unwrap();
        assert_eq!(log.header.genctr, 9);
        assert_eq!(log.entries, vec![good.clone(), good]);
        let idx: Vec<u64> = log.rejected.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![1, 2, 3, 4, 6, 7]);
        assert!(matches!(
            &log.rejected[0].error,
            EntryError::Invalid {
                field: "subnqn",
                reason: ValueError::Forbidden { ch: ',', .. },
                ..
            }
        ));
        assert!(matches!(
            &log.rejected[5].error,
            EntryError::NotUtf8 { field: "subnqn" }
        ));
        let shown = log.rejected[0].error.to_string();
        assert!(shown.contains("subnqn"), "{shown}");
    }

    #[test]
    fn numrec_cap_and_truncation() {
        let page = encode_log(1, &[tcp_entry("::1", "8009", "nqn.d", 3)]);
        assert!(parse_log(&page, 1).is_ok());
        assert_eq!(
            parse_log(&page, 0),
            Err(DlpError::TooManyEntries { numrec: 1, max: 0 })
        );
        assert_eq!(
            parse_log(&page[..1500], 10),
            Err(DlpError::Truncated {
                numrec: 1,
                available: 0
            })
        );
        let empty = encode_log(3, &[]);
        let log = parse_log(&empty[..20], 10).unwrap();
        assert!(log.entries.is_empty());
    }

    #[test]
    fn ipv6_with_scope_and_round_trip() {
        let e = tcp_entry("fe80::1%eth0", "8009", "nqn.d", 3);
        let page = encode_log(5, std::slice::from_ref(&e));
        let log = parse_log(&page, 10).unwrap();
        assert_eq!(log.entries, vec![e]);
        assert!(log.entries[0].is_current_discovery());
    }
}
