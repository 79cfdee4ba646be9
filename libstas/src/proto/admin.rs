//! NVMe admin command encoding (sans-IO): the command dwords for Get Log Page, Identify
//! Controller and Discovery Information Management, and the decoding of the status the
//! passthrough ioctl returns. The ioctl itself lives in `kernel::ioctl`.

use std::fmt;

use thiserror::Error;

use super::consts::{CNS_CTRL, NSID_NONE, OPC_DIM, OPC_GET_LOG_PAGE, OPC_IDENTIFY};

/// Size of the Identify Controller data structure.
pub const IDENTIFY_LEN: u32 = 4096;

/// Direction of the data transfer, from opcode bits 1:0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDir {
    /// No data.
    None,
    /// Host to controller (the buffer is read by the kernel).
    ToDevice,
    /// Controller to host (the buffer is filled by the kernel).
    FromDevice,
    /// Both (bidirectional; not used here).
    Both,
}

/// An admin command as the passthrough ioctl takes it (without the buffer pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdminCmd {
    /// Opcode.
    pub opcode: u8,
    /// Namespace id.
    pub nsid: u32,
    /// Command dword 10.
    pub cdw10: u32,
    /// Command dword 11.
    pub cdw11: u32,
    /// Command dword 12.
    pub cdw12: u32,
    /// Command dword 13.
    pub cdw13: u32,
    /// Command dword 14.
    pub cdw14: u32,
    /// Command dword 15.
    pub cdw15: u32,
    /// Data length in bytes.
    pub data_len: u32,
    /// Timeout in milliseconds (0 = driver default).
    pub timeout_ms: u32,
}

impl AdminCmd {
    /// Data direction derived from the opcode.
    #[must_use]
    pub fn data_dir(&self) -> DataDir {
        match self.opcode & 0x3 {
            0 => DataDir::None,
            1 => DataDir::ToDevice,
            2 => DataDir::FromDevice,
            _ => DataDir::Both,
        }
    }
}

/// Errors building a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CmdError {
    /// Length is zero or not a multiple of 4.
    #[error("log page length {0} is not a non-zero multiple of 4")]
    BadLength(u32),
    /// Offset is not dword aligned.
    #[error("log page offset {0} is not dword aligned")]
    BadOffset(u64),
}

/// The fields of a Get Log Page command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetLogPage {
    /// Log page id.
    pub lid: u8,
    /// Log specific field (7 bits).
    pub lsp: u8,
    /// Retain Asynchronous Event.
    pub rae: bool,
    /// Namespace id.
    pub nsid: u32,
    /// Byte offset into the log.
    pub offset: u64,
    /// Bytes to transfer.
    pub len: u32,
}

impl GetLogPage {
    /// Encodes the command (kernel-interface.md §3.2).
    ///
    /// # Errors
    /// [`CmdError`] when the length or offset is not dword aligned.
    pub fn encode(&self) -> Result<AdminCmd, CmdError> {
        if self.len == 0 || self.len % 4 != 0 {
            return Err(CmdError::BadLength(self.len));
        }
        if self.offset % 4 != 0 {
            return Err(CmdError::BadOffset(self.offset));
        }
        let numd = self.len / 4 - 1;
        let cdw10 = u32::from(self.lid)
            | (u32::from(self.lsp & 0x7f) << 8)
            | (u32::from(self.rae) << 15)
            | ((numd & 0xffff) << 16);
        let [lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3] = self.offset.to_le_bytes();
        Ok(AdminCmd {
            opcode: OPC_GET_LOG_PAGE,
            nsid: self.nsid,
            cdw10,
            cdw11: numd >> 16,
            cdw12: u32::from_le_bytes([lo0, lo1, lo2, lo3]),
            cdw13: u32::from_le_bytes([hi0, hi1, hi2, hi3]),
            data_len: self.len,
            ..AdminCmd::default()
        })
    }

    /// Decodes a Get Log Page command (used by the fake kernel); `None` for other opcodes.
    #[must_use]
    pub fn decode(cmd: &AdminCmd) -> Option<Self> {
        if cmd.opcode != OPC_GET_LOG_PAGE {
            return None;
        }
        let numd = (cmd.cdw10 >> 16) | ((cmd.cdw11 & 0xffff) << 16);
        let [lid, ..] = cmd.cdw10.to_le_bytes();
        let [_, lsp_rae, ..] = cmd.cdw10.to_le_bytes();
        Some(Self {
            lid,
            lsp: lsp_rae & 0x7f,
            rae: lsp_rae & 0x80 != 0,
            nsid: cmd.nsid,
            offset: u64::from(cmd.cdw12) | (u64::from(cmd.cdw13) << 32),
            len: numd.saturating_add(1).saturating_mul(4),
        })
    }
}

/// Identify Controller (CNS 1, 4096 bytes).
#[must_use]
pub fn identify_ctrl() -> AdminCmd {
    AdminCmd {
        opcode: OPC_IDENTIFY,
        nsid: NSID_NONE,
        cdw10: CNS_CTRL,
        data_len: IDENTIFY_LEN,
        ..AdminCmd::default()
    }
}

/// Discovery Information Management with task `tas` and a payload of `len` bytes.
#[must_use]
pub fn dim(tas: super::consts::DimTask, len: u32) -> AdminCmd {
    AdminCmd {
        opcode: OPC_DIM,
        nsid: NSID_NONE,
        cdw10: tas as u32 & 0xf,
        data_len: len,
        ..AdminCmd::default()
    }
}

/// A non-zero NVMe completion status as the passthrough ioctl returns it (CQE status
/// shifted right by one: SC 7:0, SCT 10:8, CRD 12:11, MORE 13, DNR 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmeStatus(pub u16);

impl NvmeStatus {
    /// Status code.
    #[must_use]
    pub fn sc(self) -> u8 {
        self.0.to_le_bytes()[0]
    }

    /// Status code type.
    #[must_use]
    pub fn sct(self) -> u8 {
        self.0.to_le_bytes()[1] & 0x7
    }

    /// Do Not Retry.
    #[must_use]
    pub fn dnr(self) -> bool {
        self.0 & 0x4000 != 0
    }

    /// A short description of common status values.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match (self.sct(), self.sc()) {
            (0, 0x01) => "invalid command opcode",
            (0, 0x02) => "invalid field in command",
            (0, 0x04) => "data transfer error",
            (0, 0x06) => "internal error",
            (0, 0x07) => "command abort requested",
            (0, 0x09) => "invalid log page offset or data",
            (1, 0x09) => "invalid log page",
            (3, 0x70) => "host pathing error (path down)",
            (3, _) => "path related error",
            (1, _) => "command specific error",
            _ => "controller error",
        }
    }
}

impl fmt::Display for NvmeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NVMe status {:#06x}: {}", self.0, self.describe())?;
        if self.dnr() {
            f.write_str(" (do not retry)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glp(len: u32, lsp: u8, rae: bool, offset: u64) -> AdminCmd {
        GetLogPage {
            lid: 0x70,
            lsp,
            rae,
            nsid: 0,
            offset,
            len,
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn cdw10_examples_from_the_spec() {
        assert_eq!(glp(20, 0, false, 0).cdw10, 0x0004_0070);
        assert_eq!(glp(20, 2, false, 0).cdw10, 0x0004_0270);
        assert_eq!(glp(4096, 0, false, 1024).cdw10, 0x03FF_0070);
        assert_eq!(glp(4096, 0, true, 1024).cdw10, 0x03FF_8070);
        let c = glp(4096, 0, true, 0x1_0000_0400);
        assert_eq!((c.cdw12, c.cdw13), (0x400, 1));
        assert_eq!(c.data_dir(), DataDir::FromDevice);
        let big = glp(1 << 20, 0, false, 0);
        assert_eq!((big.cdw10 >> 16, big.cdw11), (0xffff, 0x3));
    }

    #[test]
    fn decode_inverts_encode() {
        let g = GetLogPage {
            lid: 0,
            lsp: 0x7f,
            rae: true,
            nsid: 0xffff_ffff,
            offset: 8,
            len: 1 << 18,
        };
        assert_eq!(GetLogPage::decode(&g.encode().unwrap()), Some(g));
        assert_eq!(GetLogPage::decode(&identify_ctrl()), None);
    }

    #[test]
    fn bad_lengths() {
        let mut g = GetLogPage {
            lid: 0x70,
            lsp: 0,
            rae: false,
            nsid: 0,
            offset: 0,
            len: 18,
        };
        assert_eq!(g.encode(), Err(CmdError::BadLength(18)));
        g.len = 0;
        assert_eq!(g.encode(), Err(CmdError::BadLength(0)));
        g.len = 4;
        g.offset = 2;
        assert_eq!(g.encode(), Err(CmdError::BadOffset(2)));
    }

    #[test]
    fn other_commands_and_status() {
        let id = identify_ctrl();
        assert_eq!((id.opcode, id.cdw10, id.data_len), (0x06, 1, 4096));
        assert_eq!(id.data_dir(), DataDir::FromDevice);
        let d = dim(super::super::consts::DimTask::Deregister, 2076);
        assert_eq!((d.opcode, d.cdw10, d.data_len), (0x21, 1, 2076));
        assert_eq!(d.data_dir(), DataDir::ToDevice);
        let s = NvmeStatus(0x4002);
        assert!(s.dnr());
        assert_eq!((s.sct(), s.sc()), (0, 2));
        assert_eq!(
            s.to_string(),
            "NVMe status 0x4002: invalid field in command (do not retry)"
        );
        assert_eq!(
            NvmeStatus(0x370).describe(),
            "host pathing error (path down)"
        );
    }
}
