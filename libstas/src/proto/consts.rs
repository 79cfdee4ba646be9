//! Numeric constants of the NVMe-oF wire formats this crate speaks, with the exact spellings
//! nvme-stas (through libnvme's Python binding) uses when it turns them into strings.
//!
//! Sources: NVMe base specification 2.0 (Get Log Page, Identify, Discovery Log Page),
//! TP8010 (DIM), kernel-interface.md §3–§4.

/// Admin opcode: Get Log Page.
pub const OPC_GET_LOG_PAGE: u8 = 0x02;
/// Admin opcode: Identify.
pub const OPC_IDENTIFY: u8 = 0x06;
/// Admin opcode: Discovery Information Management (TP8010).
pub const OPC_DIM: u8 = 0x21;

/// Log page id: Supported Log Pages.
pub const LID_SUPPORTED_LOG_PAGES: u8 = 0x00;
/// Log page id: Discovery Log Page.
pub const LID_DISCOVERY: u8 = 0x70;

/// Identify CNS value: Identify Controller.
pub const CNS_CTRL: u32 = 0x01;

/// NSID "none" used for the discovery log page.
pub const NSID_NONE: u32 = 0;
/// NSID "all" used for the Supported Log Pages log.
pub const NSID_ALL: u32 = 0xFFFF_FFFF;

/// Discovery-log LSP bit 0: extended entries (never set by us).
pub const LSP_EXTDLPE: u8 = 1 << 0;
/// Discovery-log LSP bit 1: Port Local Entries Only.
pub const LSP_PLEO: u8 = 1 << 1;
/// Discovery-log LSP bit 2: all NVM subsystem entries.
pub const LSP_ALLSUBE: u8 = 1 << 2;

/// Value of `NVME_AEN` for "discovery log page changed" (notice, info 0xF0, LID 0x70).
pub const AEN_DISC_LOG_CHANGED: u32 = 0x0070_f002;

/// Transport types (DLPE TRTYPE).
pub mod trtype {
    /// Not specified.
    pub const UNSPECIFIED: u8 = 0;
    /// RDMA.
    pub const RDMA: u8 = 1;
    /// Fibre Channel.
    pub const FC: u8 = 2;
    /// TCP.
    pub const TCP: u8 = 3;
    /// Intra-host (loop).
    pub const LOOP: u8 = 254;
}

/// Address families (DLPE ADRFAM).
pub mod adrfam {
    /// PCI (libnvme's name for 0).
    pub const PCI: u8 = 0;
    /// IPv4.
    pub const IP4: u8 = 1;
    /// IPv6.
    pub const IP6: u8 = 2;
    /// InfiniBand.
    pub const IB: u8 = 3;
    /// Fibre Channel.
    pub const FC: u8 = 4;
    /// Intra-host.
    pub const LOOP: u8 = 254;
}

/// Subsystem types (DLPE SUBTYPE).
pub mod subtype {
    /// A referral to another discovery service.
    pub const REFERRAL: u8 = 1;
    /// An NVM subsystem.
    pub const NVME: u8 = 2;
    /// The current discovery subsystem (TP8013).
    pub const CURRENT_DISCOVERY: u8 = 3;
}

/// Transport requirements (DLPE TREQ) values libnvme names.
pub mod treq {
    /// Secure channel not specified.
    pub const NOT_SPECIFIED: u8 = 0;
    /// Secure channel required.
    pub const REQUIRED: u8 = 1;
    /// Secure channel not required.
    pub const NOT_REQUIRED: u8 = 2;
    /// SQ flow control disable supported (bit 2).
    pub const DISABLE_SQFLOW: u8 = 4;
    /// Bits 1:0, the secure channel requirement (one of the three values above; 3 is
    /// reserved).
    pub const SECURE_CHANNEL_MASK: u8 = 3;
}

/// Entry flags (DLPE EFLAGS) bits.
pub mod eflags {
    /// Duplicate returned information.
    pub const DUPRETINFO: u16 = 1 << 0;
    /// Explicit persistent connection support for discovery.
    pub const EPCSD: u16 = 1 << 1;
    /// No CDC connectivity.
    pub const NCC: u16 = 1 << 2;
}

/// DIM task (cdw10 bits 3:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimTask {
    /// Register the host.
    Register = 0,
    /// Deregister the host.
    Deregister = 1,
    /// Update the registration.
    Update = 2,
}

/// String form of a TRTYPE, as nvme-stas publishes it (`<int>` for unknown values).
#[must_use]
pub fn trtype_str(v: u8) -> String {
    match v {
        trtype::UNSPECIFIED => "unspecified".into(),
        trtype::RDMA => "rdma".into(),
        trtype::FC => "fc".into(),
        trtype::TCP => "tcp".into(),
        trtype::LOOP => "loop".into(),
        other => other.to_string(),
    }
}

/// String form of an ADRFAM, as nvme-stas publishes it.
#[must_use]
pub fn adrfam_str(v: u8) -> String {
    match v {
        adrfam::PCI => "pci".into(),
        adrfam::IP4 => "ipv4".into(),
        adrfam::IP6 => "ipv6".into(),
        adrfam::IB => "infiniband".into(),
        adrfam::FC => "fc".into(),
        other => other.to_string(),
    }
}

/// String form of a SUBTYPE, as nvme-stas publishes it.
#[must_use]
pub fn subtype_str(v: u8) -> String {
    match v {
        subtype::REFERRAL => "referral".into(),
        subtype::NVME => "nvme".into(),
        subtype::CURRENT_DISCOVERY => "discovery".into(),
        other => other.to_string(),
    }
}

/// The TREQ values nvme-stas names (any other value is published as its number).
const TREQ_NAMES: [(u8, &str); 4] = [
    (treq::NOT_SPECIFIED, "not specified"),
    (treq::REQUIRED, "required"),
    (treq::NOT_REQUIRED, "not required"),
    (treq::DISABLE_SQFLOW, "disable sqflow"),
];

/// String form of a TREQ, as nvme-stas publishes it (only the four exact values are named).
#[must_use]
pub fn treq_str(v: u8) -> String {
    TREQ_NAMES
        .iter()
        .find(|(n, _)| *n == v)
        .map_or_else(|| v.to_string(), |(_, s)| (*s).to_owned())
}

/// The TREQ value of [`treq_str`]'s text (a name or a decimal number); `None` for anything
/// else (libnvme's `unrecognized`, say).
#[must_use]
pub fn treq_from_str(s: &str) -> Option<u8> {
    TREQ_NAMES
        .iter()
        .find(|(_, name)| *name == s)
        .map(|(v, _)| *v)
        .or_else(|| s.parse().ok())
}

/// Transport name for a TRTYPE, for building connections (`None` when not connectable).
#[must_use]
pub fn trtype_transport(v: u8) -> Option<&'static str> {
    match v {
        trtype::RDMA => Some("rdma"),
        trtype::FC => Some("fc"),
        trtype::TCP => Some("tcp"),
        trtype::LOOP => Some("loop"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_libnvme_binding() {
        assert_eq!(trtype_str(3), "tcp");
        assert_eq!(trtype_str(0), "unspecified");
        assert_eq!(trtype_str(254), "loop");
        assert_eq!(trtype_str(9), "9");
        assert_eq!(adrfam_str(0), "pci");
        assert_eq!(adrfam_str(2), "ipv6");
        assert_eq!(adrfam_str(254), "254");
        assert_eq!(subtype_str(3), "discovery");
        assert_eq!(subtype_str(1), "referral");
        assert_eq!(treq_str(4), "disable sqflow");
        assert_eq!(treq_str(5), "5");
        assert_eq!(AEN_DISC_LOG_CHANGED, (0x70 << 16) | (0xf0 << 8) | 0x02);
    }
}
