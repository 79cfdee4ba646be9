//! The NBFT (NVMe Boot Firmware Table), an ACPI table the pre-OS NVMe/TCP driver leaves
//! behind (`/sys/firmware/acpi/tables/NBFT`, `NBFT1`, …): this module owns reading one table
//! from its bytes ([`parse`], sans-IO: the caller reads the files), the discovery-controller
//! URI of a discovery descriptor ([`parse_uri`]), and a fixture generator ([`build`]) that
//! writes tables in the same layout for tests, fuzzing and the real-kernel rig.
//!
//! Layout (ecosystem-2026.md §6.2; all integers little-endian): a 64-byte ACPI header, a
//! 64-byte control descriptor at offset 64 that locates the host descriptor and four
//! descriptor lists (HFI, SSNS, security, discovery), and a heap. Variable-size data (strings,
//! the HFI transport info, the SSNS address) live in the heap and are referenced by a 6-byte
//! *heap object reference* (`le32` offset from the start of the table, `le16` length; length 0
//! = absent). Descriptor indexes are 1-based and 0 means "none"; they stay 1-based here.
//!
//! Validation. A table that fails a whole-table check (too short, signature, checksum, header
//! length, revision, heap bounds, control or host descriptor) is a [`TableError`]. A problem
//! inside one descriptor drops that descriptor, or only the field when the rest stays
//! meaningful, and is reported as a [`Problem`] in [`Parsed::problems`]; the rest of the table
//! is used. Every length comes from the table and is checked against the table's bytes before
//! use, so hostile input can neither panic the parser nor make it allocate more than the
//! table's size (plus at most 255 descriptors of each kind).
//!
//! Choices where libnvme's behaviour and the Boot Specification leave room:
//! - a heap string ends at its first NUL, which must lie within the object's `length` bytes
//!   or be the byte right after it (the form libnvme expects, `length` = string length), and
//!   inside the heap; strings must be UTF-8;
//! - the SSNS transport address is a 16-byte IPv6 or IPv4-mapped address (as libnvme reads
//!   it); IPv4-mapped addresses are folded to IPv4, an all-zero address is "none";
//! - a reference to a security descriptor that is absent or invalid drops the referencing
//!   descriptor (using it without its security profile would downgrade the connection); a
//!   missing primary HFI drops the SSNS (as libnvme does); a missing discovery descriptor or
//!   discovery-descriptor HFI only clears that field; a missing secondary HFI is left out;
//! - index 0 or an index already used by an earlier descriptor of the same kind drops the
//!   descriptor (a lookup by index would be ambiguous).
#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use thiserror::Error;
use uuid::Uuid;

pub mod build;
mod layout;
mod parse;
#[cfg(test)]
mod tests;

pub use parse::parse;

/// The well-known discovery subsystem NQN, used when a discovery descriptor has no NQN.
pub const WELL_KNOWN_DISCOVERY_NQN: &str = crate::model::trid::WELL_KNOWN_DISC_NQN;

/// The default discovery service port (a URI without a port).
pub const DEFAULT_DISCOVERY_PORT: &str = "8009";

/// Bits of the SSNS descriptor flags ([`Ssns::flags`]).
pub mod ssns_flags {
    /// Descriptor valid.
    pub const VALID: u16 = 1 << 0;
    /// Non-bootable entry.
    pub const NON_BOOTABLE: u16 = 1 << 1;
    /// Use the security descriptor index field.
    pub const USE_SECURITY: u16 = 1 << 2;
    /// DHCP root-path override.
    pub const DHCP_ROOT_PATH_OVERRIDE: u16 = 1 << 3;
    /// The SSNS extended-information heap object is in use.
    pub const EXTENDED_INFO: u16 = 1 << 4;
    /// Separate discovery controller.
    pub const SEPARATE_DISCOVERY: u16 = 1 << 5;
    /// Discovered namespace.
    pub const DISCOVERED: u16 = 1 << 6;
    /// Mask of the unavailable-namespace state (bits 7–8).
    pub const UNAVAILABLE_MASK: u16 = 0x0180;
    /// Unavailable-namespace state: the namespace was available to the pre-OS driver.
    pub const AVAILABLE: u16 = 0x0080;
    /// Unavailable-namespace state: the namespace was configured but unavailable.
    pub const UNAVAILABLE: u16 = 0x0100;
}

/// A table the parser refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{table}: offset {offset:#x}: {message}")]
pub struct TableError {
    /// The table's file name (`NBFT`, `NBFT1`, …).
    pub table: String,
    /// Byte offset in the table of the field at fault.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// A descriptor or field the parser dropped; the rest of the table is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table's file name (`NBFT`, `NBFT1`, …).
    pub table: String,
    /// Byte offset in the table of the descriptor or field at fault.
    pub offset: usize,
    /// What is wrong and what was dropped.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: offset {:#x}: {}",
            self.table, self.offset, self.message
        )
    }
}

/// A parsed table and what was dropped from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The usable content.
    pub table: Nbft,
    /// Descriptors and fields dropped, in table order.
    pub problems: Vec<Problem>,
}

/// The usable content of one NBFT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nbft {
    /// The table's file name, as given to [`parse`].
    pub name: String,
    /// Minor revision (0 or 1).
    pub minor: u8,
    /// The host descriptor.
    pub host: Host,
    /// Host fabric interfaces, in table order.
    pub hfis: Vec<Hfi>,
    /// Subsystem-namespace descriptors, in table order.
    pub subsystems: Vec<Ssns>,
    /// Discovery descriptors, in table order.
    pub discovery: Vec<Discovery>,
    /// Security profile descriptors, in table order.
    pub security: Vec<Security>,
}

impl Nbft {
    /// The HFI with this (1-based) index.
    #[must_use]
    pub fn hfi(&self, index: u8) -> Option<&Hfi> {
        self.hfis.iter().find(|h| h.index == index)
    }

    /// The SSNS descriptor with this (1-based) index.
    #[must_use]
    pub fn subsystem(&self, index: u16) -> Option<&Ssns> {
        self.subsystems.iter().find(|s| s.index == index)
    }

    /// The discovery descriptor with this (1-based) index.
    #[must_use]
    pub fn discovery_descriptor(&self, index: u8) -> Option<&Discovery> {
        self.discovery.iter().find(|d| d.index == index)
    }

    /// The security profile descriptor with this (1-based) index.
    #[must_use]
    pub fn security_descriptor(&self, index: u8) -> Option<&Security> {
        self.security.iter().find(|s| s.index == index)
    }

    /// Every string of the table (for checks that apply to all of them).
    #[must_use]
    pub fn strings(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        v.extend(self.host.nqn.as_deref());
        for h in &self.hfis {
            v.push(&h.transport);
            v.extend(h.host_name.as_deref());
        }
        for s in &self.subsystems {
            v.extend([&*s.transport, &*s.traddr, &*s.trsvcid, &*s.nqn]);
            if let Some(x) = &s.extended {
                v.extend(x.dhcp_root_path.as_deref());
            }
        }
        for d in &self.discovery {
            v.push(&d.uri);
            v.extend(d.nqn.as_deref());
        }
        for s in &self.security {
            v.extend(s.secret_path.as_deref());
        }
        v
    }
}

/// Primary administrative host flag of the host descriptor (flags bits 3–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrimaryAdmin {
    /// 0: not indicated.
    #[default]
    NotIndicated,
    /// 1: this host was not selected as the primary administrative host.
    Unselected,
    /// 2: this host was selected as the primary administrative host.
    Selected,
    /// 3: reserved.
    Reserved,
}

impl PrimaryAdmin {
    /// From the two-bit field value (higher bits ignored).
    #[must_use]
    pub fn from_bits(v: u8) -> Self {
        match v & 3 {
            0 => Self::NotIndicated,
            1 => Self::Unselected,
            2 => Self::Selected,
            _ => Self::Reserved,
        }
    }

    /// The two-bit field value.
    #[must_use]
    pub fn bits(self) -> u8 {
        match self {
            Self::NotIndicated => 0,
            Self::Unselected => 1,
            Self::Selected => 2,
            Self::Reserved => 3,
        }
    }
}

/// The host descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Host {
    /// Host NQN (absent, or dropped with a [`Problem`]: `None`).
    pub nqn: Option<String>,
    /// Host ID (all zero: `None`). The 16 bytes in table order.
    pub id: Option<Uuid>,
    /// Flags bit 2: the host NQN was administratively configured.
    pub nqn_configured: bool,
    /// Flags bit 1: the host ID was administratively configured.
    pub id_configured: bool,
    /// Flags bits 3–4.
    pub primary_admin: PrimaryAdmin,
}

/// A host fabric interface: the HFI descriptor and its TCP transport info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hfi {
    /// 1-based index.
    pub index: u8,
    /// Transport: always `tcp` (other transports are dropped).
    pub transport: String,
    /// MAC address of the interface.
    pub mac: [u8; 6],
    /// VLAN ID (0: none).
    pub vlan: u16,
    /// IP address (IPv4-mapped folded to IPv4; all zero: `None`).
    pub ip: Option<IpAddr>,
    /// Subnet prefix length.
    pub prefix: u8,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// DHCP server; read only when `dhcp_override` is set (as libnvme does).
    pub dhcp_server: Option<IpAddr>,
    /// Primary DNS server.
    pub primary_dns: Option<IpAddr>,
    /// Secondary DNS server.
    pub secondary_dns: Option<IpAddr>,
    /// Route metric.
    pub route_metric: u16,
    /// IP origin (the raw byte).
    pub ip_origin: u8,
    /// PCI segment/bus/device/function (segment << 16 | bus << 8 | device << 3 | function).
    pub pci_sbdf: u32,
    /// Host name from the transport info, if any.
    pub host_name: Option<String>,
    /// Transport info flags bit 1: the pre-OS driver used this interface as the default route.
    pub global_route: bool,
    /// Transport info flags bit 2: DHCP override.
    pub dhcp_override: bool,
}

impl Hfi {
    /// The MAC address as `aa:bb:cc:dd:ee:ff` (lower case, as sysfs `address` shows it).
    #[must_use]
    pub fn mac_string(&self) -> String {
        let m = self.mac;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// The SSNS extended information (structure ID 9), when the SSNS flags say it is in use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SsnsExtInfo {
    /// Controller ID of the first controller the pre-OS driver associated (0: not specified).
    pub controller_id: u16,
    /// Admin submission queue size, when it was administratively configured.
    pub asqsz: Option<u16>,
    /// DHCP root-path string.
    pub dhcp_root_path: Option<String>,
}

/// A subsystem-namespace descriptor: one boot namespace behind one subsystem port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssns {
    /// 1-based index.
    pub index: u16,
    /// Transport: always `tcp`.
    pub transport: String,
    /// Subsystem transport address (an IP address in text form).
    pub traddr: String,
    /// Subsystem transport service ID (port).
    pub trsvcid: String,
    /// Subsystem port ID.
    pub port_id: u16,
    /// Namespace ID.
    pub nsid: u32,
    /// Namespace identifier type (1 EUI-64, 2 NGUID, 3 UUID).
    pub nid_type: u8,
    /// Namespace identifier.
    pub nid: [u8; 16],
    /// Subsystem NQN.
    pub nqn: String,
    /// Primary HFI index (0 in the table: `None`).
    pub primary_hfi: Option<u8>,
    /// Secondary HFI indexes that exist, without 0, duplicates or the primary.
    pub secondary_hfis: Vec<u8>,
    /// Primary discovery descriptor index.
    pub discovery: Option<u8>,
    /// Security profile descriptor index.
    pub security: Option<u8>,
    /// Transport flags bit 1: PDU header digest required.
    pub hdr_digest: bool,
    /// Transport flags bit 2: data digest required.
    pub data_digest: bool,
    /// The raw SSNS flags ([`ssns_flags`]).
    pub flags: u16,
    /// Flags bit 1 (derived from `flags`: the builder writes `flags`, not this).
    pub non_bootable: bool,
    /// Unavailable-namespace state is "unavailable" (flags bits 7–8 = 2; derived from
    /// `flags` like `non_bootable`).
    pub unavailable: bool,
    /// Extended information.
    pub extended: Option<SsnsExtInfo>,
}

impl Ssns {
    /// The HFI indexes to connect through: the primary, then the secondaries.
    pub fn hfi_indexes(&self) -> impl Iterator<Item = u8> + '_ {
        self.primary_hfi
            .into_iter()
            .chain(self.secondary_hfis.iter().copied())
    }
}

/// A discovery descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// 1-based index.
    pub index: u8,
    /// HFI index.
    pub hfi: Option<u8>,
    /// Security profile descriptor index.
    pub security: Option<u8>,
    /// Discovery controller URI, e.g. `nvme+tcp://192.0.2.1:8009/`.
    pub uri: String,
    /// Discovery controller NQN; `None` = the well-known discovery NQN.
    pub nqn: Option<String>,
}

impl Discovery {
    /// The discovery controller's address, if its URI is a supported one ([`parse_uri`]).
    #[must_use]
    pub fn address(&self) -> Option<DcAddress> {
        parse_uri(&self.uri)
    }

    /// The subsystem NQN to connect to: the descriptor's, or the well-known discovery NQN.
    #[must_use]
    pub fn subsysnqn(&self) -> &str {
        self.nqn.as_deref().unwrap_or(WELL_KNOWN_DISCOVERY_NQN)
    }
}

/// A security profile descriptor (the fields stas uses; the algorithm lists are not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// 1-based index.
    pub index: u8,
    /// The raw flags (bit 0 valid, in-band authentication, secure channel, policy lists).
    pub flags: u16,
    /// Secret type (bit 1: the secret path is a Redfish host-interface URI).
    pub secret_type: u8,
    /// Secret key path: a URI naming where the key is, not the key.
    pub secret_path: Option<String>,
}

/// Where a discovery controller is, from its NBFT URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcAddress {
    /// Transport (`tcp`).
    pub transport: String,
    /// Address, IPv6 without brackets.
    pub traddr: String,
    /// Port (8009 when the URI has none).
    pub trsvcid: String,
}

/// Parses a discovery-controller URI `nvme+tcp://host[:port][/]`.
///
/// The scheme is `nvme+<transport>` (case-insensitive) and only `tcp` is accepted. The host is
/// an IPv4 address, a host name (letters, digits, `-`, `.`), or an IPv6 address in brackets
/// (`[fe80::1]:8009`; the brackets are removed). A missing port is 8009. The path must be empty
/// or `/`; user info, query, fragment, an empty or out-of-range port give `None`.
#[must_use]
pub fn parse_uri(uri: &str) -> Option<DcAddress> {
    let (scheme, rest) = uri.split_once("://")?;
    let transport = scheme
        .to_ascii_lowercase()
        .strip_prefix("nvme+")?
        .to_owned();
    if transport != "tcp" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") || authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (addr, after) = inner.split_once(']')?;
        addr.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (addr, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return None;
        }
        (host, port)
    };
    let trsvcid = match port {
        None => DEFAULT_DISCOVERY_PORT.to_owned(),
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => n.to_string(),
                _ => return None,
            }
        }
    };
    Some(DcAddress {
        transport,
        traddr: host.to_owned(),
        trsvcid,
    })
}
