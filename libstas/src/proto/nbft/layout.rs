//! Byte offsets and sizes of the NBFT structures (ecosystem-2026.md §6.2), shared by the
//! parser and the builder. Offsets inside a structure are relative to its start.

/// ACPI header size.
pub const HEADER_LEN: usize = 64;
/// Offset of the control descriptor.
pub const CONTROL_OFF: usize = 64;
/// Control descriptor size.
pub const CONTROL_LEN: usize = 64;
/// Smallest table: header and control descriptor.
pub const MIN_TABLE_LEN: usize = HEADER_LEN + CONTROL_LEN;
/// Host descriptor size.
pub const HOST_LEN: usize = 32;
/// HFI descriptor size.
pub const HFI_LEN: usize = 32;
/// HFI TCP transport info size (as written).
pub const HFI_TCP_INFO_LEN: usize = 128;
/// HFI TCP transport info bytes the parser needs (through the host-name reference).
pub const HFI_TCP_INFO_MIN: usize = 110;
/// SSNS descriptor size.
pub const SSNS_LEN: usize = 128;
/// Security profile descriptor size.
pub const SECURITY_LEN: usize = 64;
/// Discovery descriptor size.
pub const DISCOVERY_LEN: usize = 32;
/// SSNS extended info size.
pub const SSNS_EXT_LEN: usize = 18;
/// The SSNS transport address object: a 16-byte IP address.
pub const IP_LEN: usize = 16;

/// Structure IDs.
pub mod id {
    /// Control descriptor.
    pub const CONTROL: u8 = 1;
    /// Host descriptor.
    pub const HOST: u8 = 2;
    /// HFI descriptor.
    pub const HFI: u8 = 3;
    /// SSNS descriptor.
    pub const SSNS: u8 = 4;
    /// Security profile descriptor.
    pub const SECURITY: u8 = 5;
    /// Discovery descriptor.
    pub const DISCOVERY: u8 = 6;
    /// HFI transport info.
    pub const HFI_TRINFO: u8 = 7;
    /// SSNS extended info.
    pub const SSNS_EXT: u8 = 9;
}

/// NVMe/TCP transport type.
pub const TRTYPE_TCP: u8 = 3;

/// Header fields.
pub mod header {
    /// Signature `NBFT`.
    pub const SIGNATURE: usize = 0;
    /// `le32` table length.
    pub const LENGTH: usize = 4;
    /// Major revision (1).
    pub const MAJOR: usize = 8;
    /// Checksum byte.
    pub const CHECKSUM: usize = 9;
    /// OEM ID, 6 bytes.
    pub const OEM_ID: usize = 10;
    /// OEM table ID, 8 bytes.
    pub const OEM_TABLE_ID: usize = 16;
    /// `le32` OEM revision.
    pub const OEM_REVISION: usize = 24;
    /// Creator ID, 4 bytes.
    pub const CREATOR_ID: usize = 28;
    /// `le32` creator revision.
    pub const CREATOR_REVISION: usize = 32;
    /// `le32` heap offset.
    pub const HEAP_OFFSET: usize = 36;
    /// `le32` heap length.
    pub const HEAP_LENGTH: usize = 40;
    /// Minor revision.
    pub const MINOR: usize = 50;
}

/// Control descriptor fields.
pub mod control {
    /// Structure ID (1).
    pub const ID: usize = 0;
    /// Major revision.
    pub const MAJOR: usize = 1;
    /// Minor revision.
    pub const MINOR: usize = 2;
    /// `le16` control structure length.
    pub const CSL: usize = 4;
    /// Flags (bit 0 valid).
    pub const FLAGS: usize = 6;
    /// Heap-style reference to the host descriptor.
    pub const HOST: usize = 8;
    /// Host descriptor version.
    pub const HOST_VERSION: usize = 14;
    /// HFI list: `le32` offset, `le16` entry length, version, count.
    pub const HFI: usize = 16;
    /// SSNS list.
    pub const SSNS: usize = 24;
    /// Security list.
    pub const SECURITY: usize = 32;
    /// Discovery list.
    pub const DISCOVERY: usize = 40;
    /// Within a list field: `le16` entry length.
    pub const LIST_ENTRY_LEN: usize = 4;
    /// Within a list field: version.
    pub const LIST_VERSION: usize = 6;
    /// Within a list field: count.
    pub const LIST_COUNT: usize = 7;
}

/// Host descriptor fields.
pub mod host {
    /// Flags.
    pub const FLAGS: usize = 1;
    /// Host ID, 16 bytes.
    pub const ID: usize = 2;
    /// Host NQN reference.
    pub const NQN: usize = 18;
    /// Flags bit 0.
    pub const VALID: u8 = 1;
    /// Flags bit 1.
    pub const ID_CONFIGURED: u8 = 2;
    /// Flags bit 2.
    pub const NQN_CONFIGURED: u8 = 4;
    /// Flags bits 3–4 shift.
    pub const PRIMARY_ADMIN_SHIFT: u8 = 3;
}

/// HFI descriptor fields.
pub mod hfi {
    /// Index.
    pub const INDEX: usize = 1;
    /// Flags (bit 0 valid).
    pub const FLAGS: usize = 2;
    /// Transport type.
    pub const TRTYPE: usize = 3;
    /// Transport info reference.
    pub const TRINFO: usize = 16;
}

/// HFI TCP transport info fields.
pub mod tcp_info {
    /// Version (1).
    pub const VERSION: usize = 1;
    /// Transport type.
    pub const TRTYPE: usize = 2;
    /// Transport info version.
    pub const TRINFO_VERSION: usize = 3;
    /// `le16` HFI index.
    pub const HFI_INDEX: usize = 4;
    /// Flags.
    pub const FLAGS: usize = 6;
    /// `le32` PCI SBDF.
    pub const PCI_SBDF: usize = 7;
    /// MAC address, 6 bytes.
    pub const MAC: usize = 11;
    /// `le16` VLAN.
    pub const VLAN: usize = 17;
    /// IP origin.
    pub const IP_ORIGIN: usize = 19;
    /// IP address, 16 bytes.
    pub const IP: usize = 20;
    /// Prefix length.
    pub const PREFIX: usize = 36;
    /// Gateway, 16 bytes.
    pub const GATEWAY: usize = 37;
    /// `le16` route metric.
    pub const ROUTE_METRIC: usize = 54;
    /// Primary DNS, 16 bytes.
    pub const PRIMARY_DNS: usize = 56;
    /// Secondary DNS, 16 bytes.
    pub const SECONDARY_DNS: usize = 72;
    /// DHCP server, 16 bytes.
    pub const DHCP_SERVER: usize = 88;
    /// Host name reference.
    pub const HOST_NAME: usize = 104;
    /// Flags bit 0.
    pub const VALID: u8 = 1;
    /// Flags bit 1.
    pub const GLOBAL_ROUTE: u8 = 2;
    /// Flags bit 2.
    pub const DHCP_OVERRIDE: u8 = 4;
}

/// SSNS descriptor fields.
pub mod ssns {
    /// `le16` index.
    pub const INDEX: usize = 1;
    /// `le16` flags.
    pub const FLAGS: usize = 3;
    /// Transport type.
    pub const TRTYPE: usize = 5;
    /// `le16` transport flags.
    pub const TRFLAGS: usize = 6;
    /// Primary discovery descriptor index.
    pub const DISCOVERY: usize = 8;
    /// Transport address reference.
    pub const TRADDR: usize = 10;
    /// Transport service ID reference.
    pub const TRSVCID: usize = 16;
    /// `le16` subsystem port ID.
    pub const PORT_ID: usize = 22;
    /// `le32` NSID.
    pub const NSID: usize = 24;
    /// NID type.
    pub const NID_TYPE: usize = 28;
    /// NID, 16 bytes.
    pub const NID: usize = 29;
    /// Security descriptor index.
    pub const SECURITY: usize = 45;
    /// Primary HFI index.
    pub const PRIMARY_HFI: usize = 46;
    /// Secondary HFI list reference.
    pub const SECONDARY_HFIS: usize = 48;
    /// Subsystem NQN reference.
    pub const NQN: usize = 54;
    /// Extended info reference.
    pub const EXT_INFO: usize = 60;
    /// Transport flags bit 0.
    pub const TRFLAG_VALID: u16 = 1;
    /// Transport flags bit 1.
    pub const HDR_DIGEST: u16 = 2;
    /// Transport flags bit 2.
    pub const DATA_DIGEST: u16 = 4;
}

/// SSNS extended info fields.
pub mod ssns_ext {
    /// Version (1).
    pub const VERSION: usize = 1;
    /// `le16` SSNS index.
    pub const SSNS_INDEX: usize = 2;
    /// `le32` flags.
    pub const FLAGS: usize = 4;
    /// `le16` controller ID.
    pub const CNTLID: usize = 8;
    /// `le16` ASQSZ.
    pub const ASQSZ: usize = 10;
    /// DHCP root-path reference.
    pub const ROOT_PATH: usize = 12;
    /// Flags bit 0.
    pub const VALID: u32 = 1;
    /// Flags bit 1: ASQSZ administratively configured.
    pub const ADMIN_ASQSZ: u32 = 2;
}

/// Security profile descriptor fields.
pub mod security {
    /// Index.
    pub const INDEX: usize = 1;
    /// `le16` flags.
    pub const FLAGS: usize = 2;
    /// Secret type.
    pub const SECRET_TYPE: usize = 4;
    /// Secret key path reference.
    pub const SECRET_PATH: usize = 36;
}

/// Discovery descriptor fields.
pub mod discovery {
    /// Flags (bit 0 valid).
    pub const FLAGS: usize = 1;
    /// Index.
    pub const INDEX: usize = 2;
    /// HFI index.
    pub const HFI: usize = 3;
    /// Security descriptor index.
    pub const SECURITY: usize = 4;
    /// URI reference.
    pub const URI: usize = 6;
    /// NQN reference.
    pub const NQN: usize = 12;
}
