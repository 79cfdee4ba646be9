//! Identify Controller fields and the Supported Log Pages log (sans-IO decoders), and the
//! controller-type enums shared with the sysfs topology.
//!
//! Offsets: kernel-interface.md §3.5 and §3.7.

use std::fmt;

use thiserror::Error;

/// Errors decoding a data structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The buffer is shorter than the structure.
    #[error("{what} truncated: {got} bytes, {need} needed")]
    Short {
        /// Which structure.
        what: &'static str,
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
}

/// Controller type (Identify CNTRLTYPE, sysfs `cntrltype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CntrlType {
    /// I/O controller.
    Io,
    /// Discovery controller.
    Discovery,
    /// Administrative controller.
    Admin,
    /// Not reported (pre-1.4 targets) or unknown.
    Reserved,
}

impl CntrlType {
    /// From the Identify byte.
    #[must_use]
    pub fn from_identify(v: u8) -> Self {
        match v {
            1 => Self::Io,
            2 => Self::Discovery,
            3 => Self::Admin,
            _ => Self::Reserved,
        }
    }

    /// From the sysfs text (`io`, `discovery`, `admin`, `reserved`); `None` if unknown.
    #[must_use]
    pub fn from_sysfs(s: &str) -> Option<Self> {
        match s {
            "io" => Some(Self::Io),
            "discovery" => Some(Self::Discovery),
            "admin" => Some(Self::Admin),
            "reserved" => Some(Self::Reserved),
            _ => None,
        }
    }

    /// The sysfs spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Discovery => "discovery",
            Self::Admin => "admin",
            Self::Reserved => "reserved",
        }
    }
}

impl fmt::Display for CntrlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Discovery controller type (Identify DCTYPE, sysfs `dctype`; TP8010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DcType {
    /// Not reported.
    None,
    /// Direct discovery controller.
    Ddc,
    /// Central discovery controller.
    Cdc,
    /// Reserved value.
    Reserved,
}

impl DcType {
    /// From the Identify byte.
    #[must_use]
    pub fn from_identify(v: u8) -> Self {
        match v {
            0 => Self::None,
            1 => Self::Ddc,
            2 => Self::Cdc,
            _ => Self::Reserved,
        }
    }

    /// From the sysfs text; `None` if unknown.
    #[must_use]
    pub fn from_sysfs(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "ddc" => Some(Self::Ddc),
            "cdc" => Some(Self::Cdc),
            "reserved" => Some(Self::Reserved),
            _ => None,
        }
    }

    /// The sysfs spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ddc => "ddc",
            Self::Cdc => "cdc",
            Self::Reserved => "reserved",
        }
    }

    /// Whether the controller takes TP8010 registrations (DDC or CDC).
    #[must_use]
    pub fn supports_registration(self) -> bool {
        matches!(self, Self::Ddc | Self::Cdc)
    }
}

impl fmt::Display for DcType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Identify Controller fields a host daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifyCtrl {
    /// Serial number, trimmed.
    pub serial: String,
    /// Model number, trimmed.
    pub model: String,
    /// Firmware revision, trimmed.
    pub firmware: String,
    /// Controller id.
    pub cntlid: u16,
    /// Optional asynchronous events supported.
    pub oaes: u32,
    /// Controller type.
    pub cntrltype: CntrlType,
    /// Keep alive support granularity (units of 100 ms).
    pub kas: u16,
    /// Subsystem NQN, trimmed.
    pub subnqn: String,
    /// Discovery controller type.
    pub dctype: DcType,
}

impl IdentifyCtrl {
    /// OAES bit 31: discovery log page change notices supported.
    #[must_use]
    pub fn disc_log_change_notices(&self) -> bool {
        self.oaes & (1 << 31) != 0
    }
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_owned()
}

/// Decodes the 4096-byte Identify Controller structure.
///
/// # Errors
/// [`DecodeError::Short`] when fewer than 4096 bytes are given.
pub fn parse_identify_ctrl(b: &[u8]) -> Result<IdentifyCtrl, DecodeError> {
    if b.len() < 4096 {
        return Err(DecodeError::Short {
            what: "identify controller",
            got: b.len(),
            need: 4096,
        });
    }
    Ok(IdentifyCtrl {
        serial: text(&b[4..24]),
        model: text(&b[24..64]),
        firmware: text(&b[64..72]),
        cntlid: u16::from_le_bytes([b[78], b[79]]),
        oaes: u32::from_le_bytes([b[92], b[93], b[94], b[95]]),
        cntrltype: CntrlType::from_identify(b[111]),
        kas: u16::from_le_bytes([b[320], b[321]]),
        subnqn: text(&b[768..1024]),
        dctype: DcType::from_identify(b[1806]),
    })
}

/// The Supported Log Pages log (LID 0): 256 little-endian dwords indexed by LID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedLogPages(pub Vec<u32>);

/// Bit 16 of the discovery log's entry: extended entries supported.
pub const EXTDLPES: u32 = 1 << 16;
/// Bit 17: Port Local Entries Only supported.
pub const PLEOS: u32 = 1 << 17;
/// Bit 18: all NVM subsystem entries supported.
pub const ALLSUBES: u32 = 1 << 18;

impl SupportedLogPages {
    /// Size of the log.
    pub const LEN: usize = 1024;

    /// Decodes the 1024-byte log.
    ///
    /// # Errors
    /// [`DecodeError::Short`] when fewer than 1024 bytes are given.
    pub fn parse(b: &[u8]) -> Result<Self, DecodeError> {
        if b.len() < Self::LEN {
            return Err(DecodeError::Short {
                what: "supported log pages",
                got: b.len(),
                need: Self::LEN,
            });
        }
        Ok(Self(
            b[..Self::LEN]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// The dword of one log page id.
    #[must_use]
    pub fn lid(&self, lid: u8) -> u32 {
        self.0.get(usize::from(lid)).copied().unwrap_or(0)
    }

    /// The LID-specific support bits (31:16) of the discovery log, shifted down.
    #[must_use]
    pub fn dlp_options(&self) -> u16 {
        u16::try_from(self.lid(super::consts::LID_DISCOVERY) >> 16).unwrap_or(u16::MAX)
    }

    /// Whether the discovery log supports PLEO (bit 17 of entry 0x70).
    #[must_use]
    pub fn pleo_supported(&self) -> bool {
        self.lid(super::consts::LID_DISCOVERY) & PLEOS != 0
    }
}

/// nvme-stas `dlp_supp_opts_as_string`: names of the discovery log options in `opts`
/// (bits 31:16 shifted down).
#[must_use]
pub fn dlp_options_names(opts: u16) -> Vec<&'static str> {
    [(1u16, "EXTDLPES"), (2, "PLEOS"), (4, "ALLSUBES")]
        .iter()
        .filter(|(bit, _)| opts & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_offsets() {
        let mut b = vec![0u8; 4096];
        b[4..24].copy_from_slice(b"b4cf05c8341bd35e725a");
        b[24..29].copy_from_slice(b"Linux");
        b[29..64].fill(b' ');
        b[64..72].copy_from_slice(b"6.1.0-56");
        b[78] = 1;
        b[92..96].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        b[111] = 2;
        b[320] = 100;
        let nqn = b"nqn.2014-08.org.nvmexpress.discovery";
        b[768..768 + nqn.len()].copy_from_slice(nqn);
        b[1806] = 1;
        let id = parse_identify_ctrl(&b).unwrap();
        assert_eq!(id.serial, "b4cf05c8341bd35e725a");
        assert_eq!(id.model, "Linux");
        assert_eq!(id.firmware, "6.1.0-56");
        assert_eq!(id.cntlid, 1);
        assert!(id.disc_log_change_notices());
        assert_eq!(id.cntrltype, CntrlType::Discovery);
        assert_eq!(id.kas, 100);
        assert_eq!(id.subnqn, "nqn.2014-08.org.nvmexpress.discovery");
        assert_eq!(id.dctype, DcType::Ddc);
        assert!(parse_identify_ctrl(&b[..4095]).is_err());
        assert_eq!(CntrlType::from_identify(0), CntrlType::Reserved);
    }

    #[test]
    fn supported_log_pages() {
        let mut b = vec![0u8; 1024];
        b[0x70 * 4..0x70 * 4 + 4].copy_from_slice(&(PLEOS | 1).to_le_bytes());
        let s = SupportedLogPages::parse(&b).unwrap();
        assert!(s.pleo_supported());
        assert_eq!(s.dlp_options(), 2);
        assert_eq!(dlp_options_names(7), vec!["EXTDLPES", "PLEOS", "ALLSUBES"]);
        assert_eq!(dlp_options_names(s.dlp_options()), vec!["PLEOS"]);
        assert!(SupportedLogPages::parse(&b[..10]).is_err());
    }
}
