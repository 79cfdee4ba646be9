//! NVMe/TCP PDU framing and encoding, controller side (sans-IO).
//!
//! This module owns the wire format; what the commands mean is [`crate::session`]'s.
//! - [`Reader`] buffers the bytes a host sends and cuts them into validated [`HostPdu`]s:
//!   common header checks (the lowest invalid field is the one reported), the header digest,
//!   the data digest. A fatal error comes back as [`RxError`], to answer with
//!   [`c2h_term_req`] (or, for a malformed termination request, to close without a word).
//! - [`Link`] is what the ICReq negotiated (digests, host PDU data alignment); it encodes
//!   the PDUs the controller sends after it: CapsuleResp and C2HData. [`ic_resp`] and
//!   [`c2h_term_req`] encode the two that never carry digests.
//! - [`Sqe`] reads the submission queue entry of a command capsule; [`Cqe`] is the
//!   completion queue entry of a response capsule.
//! - [`crc32c`] computes the digests.
//!
//! Layouts are those of the Linux kernel's `include/linux/nvme-tcp.h` and
//! `include/linux/nvme.h`: an 8-byte common header (type, flags, hlen, pdo, plen le32),
//! then the PDU-specific header, the header digest, padding up to pdo, the data and the data
//! digest. Digests are CRC32C stored little-endian; header and data digests follow the ICReq,
//! the IC and termination PDUs never carry any.

use thiserror::Error;

/// PDU type: Initialize Connection Request (host to controller).
pub const TYPE_IC_REQ: u8 = 0x00;
/// PDU type: Initialize Connection Response.
pub const TYPE_IC_RESP: u8 = 0x01;
/// PDU type: Host to Controller Terminate Connection Request.
pub const TYPE_H2C_TERM: u8 = 0x02;
/// PDU type: Controller to Host Terminate Connection Request.
pub const TYPE_C2H_TERM: u8 = 0x03;
/// PDU type: Command Capsule.
pub const TYPE_CMD: u8 = 0x04;
/// PDU type: Response Capsule.
pub const TYPE_RSP: u8 = 0x05;
/// PDU type: Host to Controller Data.
pub const TYPE_H2C_DATA: u8 = 0x06;
/// PDU type: Controller to Host Data.
pub const TYPE_C2H_DATA: u8 = 0x07;
/// PDU type: Ready to Transfer.
pub const TYPE_R2T: u8 = 0x09;

/// Flag: a header digest follows the PDU header.
pub const FLAG_HDGST: u8 = 0x01;
/// Flag: a data digest follows the PDU data.
pub const FLAG_DDGST: u8 = 0x02;
/// Data PDU flag: last PDU of the transfer.
pub const FLAG_DATA_LAST: u8 = 0x04;
/// C2HData flag: the command succeeded, no CapsuleResp follows (never used here).
pub const FLAG_DATA_SUCCESS: u8 = 0x08;

/// Length of the common header.
pub const COMMON_HLEN: usize = 8;
/// Header length of ICReq and ICResp.
pub const IC_HLEN: u8 = 128;
/// The ICReq's length, as a buffer length.
const IC_LEN: usize = IC_HLEN as usize;
/// Header length of a command capsule (common header and a 64-byte SQE).
pub const CMD_HLEN: u8 = 72;
/// Header length of a response capsule (common header and a 16-byte CQE).
pub const RSP_HLEN: u8 = 24;
/// Header length of H2CData, C2HData and R2T.
pub const DATA_HLEN: u8 = 24;
/// Header length of the termination requests.
pub const TERM_HLEN: u8 = 24;
/// Length of a header or data digest.
pub const DIGEST_LEN: usize = 4;
/// Most bytes of the offending PDU header a C2HTermReq carries (plen at most 152).
pub const TERM_MAX_DATA: usize = 128;

/// Largest PDU taken from a host. The Linux host puts at most 8 KiB of data in an admin
/// capsule (`NVME_TCP_ADMIN_CCSZ`), so its biggest PDU is 72 + 4 + 8192 + 4 bytes.
pub const MAX_HOST_PDU: u32 = 16 * 1024;
/// MAXH2CDATA announced in ICResp (the Linux host wants at least 4096 and a multiple of 4;
/// no H2CData is ever solicited, as no R2T is ever sent).
pub const MAXH2CDATA: u32 = 128 * 1024;
const _: () = assert!(MAXH2CDATA >= 4096 && MAXH2CDATA % 4 == 0);

/// Fatal error status: invalid PDU header field (FEI: byte offset of the field).
pub const FES_INVALID_HEADER: u16 = 0x01;
/// Fatal error status: PDU sequence error.
pub const FES_SEQUENCE: u16 = 0x02;
/// Fatal error status: header digest error.
pub const FES_HEADER_DIGEST: u16 = 0x03;
/// Fatal error status: data transfer out of range.
pub const FES_OUT_OF_RANGE: u16 = 0x04;
/// Fatal error status: data transfer limit exceeded.
pub const FES_LIMIT_EXCEEDED: u16 = 0x05;
/// Fatal error status: unsupported parameter.
pub const FES_UNSUPPORTED_PARAMETER: u16 = 0x06;

/// FEI of an invalid `type` (byte offset in the header).
const FEI_TYPE: u32 = 0;
const FEI_FLAGS: u32 = 1;
const FEI_HLEN: u32 = 2;
const FEI_PDO: u32 = 3;
const FEI_PLEN: u32 = 4;
const FEI_PFV: u32 = 8;
const FEI_HPDA: u32 = 10;

/// The CRC32C (Castagnoli) lookup table, reflected polynomial 0x82F63B78.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n: u32 = 0;
    let mut i = 0;
    while i < 256 {
        let mut c = n;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        n += 1;
        i += 1;
    }
    table
};

/// CRC32C of `data` (initial value and final xor all ones), as NVMe/TCP digests use it.
#[must_use]
pub fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC32C_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// The little-endian u16 at `off` in `b` (0 past the end).
#[must_use]
pub fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

/// The little-endian u32 at `off` in `b` (0 past the end).
#[must_use]
pub fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The little-endian u64 at `off` in `b` (0 past the end).
#[must_use]
pub fn le64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// An Initialize Connection Request, as validated by [`Reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcReq {
    /// PDU format version (always 0 here: other values are refused).
    pub pfv: u16,
    /// Host PDU data alignment, in dwords, 0's based (0 to 31).
    pub hpda: u8,
    /// Header digests asked for.
    pub hdgst: bool,
    /// Data digests asked for.
    pub ddgst: bool,
    /// Maximum outstanding R2Ts per command, 0's based.
    pub maxr2t: u32,
}

/// The submission queue entry of a command capsule (64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sqe(pub [u8; 64]);

/// SGL descriptor type of in-capsule data: data block, offset subtype.
pub const SGL_IN_CAPSULE: u8 = 0x01;
/// SGL descriptor type of data the controller transfers: transport data block (0x5A).
pub const SGL_TRANSPORT: u8 = 0x5A;

impl Sqe {
    /// Byte `off` of the entry (0 past the end).
    #[must_use]
    pub fn byte(&self, off: usize) -> u8 {
        self.0.get(off).copied().unwrap_or(0)
    }
    /// Little-endian u16 at `off`.
    #[must_use]
    pub fn le16(&self, off: usize) -> u16 {
        le16(&self.0, off)
    }
    /// Little-endian u32 at `off`.
    #[must_use]
    pub fn le32(&self, off: usize) -> u32 {
        le32(&self.0, off)
    }
    /// Little-endian u64 at `off`.
    #[must_use]
    pub fn le64(&self, off: usize) -> u64 {
        le64(&self.0, off)
    }
    /// Opcode (byte 0).
    #[must_use]
    pub fn opcode(&self) -> u8 {
        self.byte(0)
    }
    /// Command identifier (bytes 2-3).
    #[must_use]
    pub fn cid(&self) -> u16 {
        self.le16(2)
    }
    /// Fabrics command type (byte 4, fabrics commands only).
    #[must_use]
    pub fn fctype(&self) -> u8 {
        self.byte(4)
    }
    /// SGL descriptor address or offset (bytes 24-31).
    #[must_use]
    pub fn sgl_addr(&self) -> u64 {
        self.le64(24)
    }
    /// SGL descriptor length (bytes 32-35).
    #[must_use]
    pub fn sgl_len(&self) -> u32 {
        self.le32(32)
    }
    /// SGL descriptor type (byte 39).
    #[must_use]
    pub fn sgl_type(&self) -> u8 {
        self.byte(39)
    }
}

/// A completion queue entry to send in a response capsule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cqe {
    /// Command specific result (dword 0 and dword 1).
    pub result: u64,
    /// Submission queue head pointer.
    pub sqhd: u16,
    /// Submission queue identifier.
    pub sqid: u16,
    /// Command identifier.
    pub cid: u16,
    /// Status: SCT in bits 10:8, SC in bits 7:0, DNR 0x4000 (sent shifted left by one,
    /// above the phase bit).
    pub status: u16,
}

/// A PDU from the host, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPdu {
    /// ICReq (only as the first PDU).
    IcReq(IcReq),
    /// A command capsule.
    Command(Capsule),
    /// The host terminates the connection (the controller answers none).
    TermReq {
        /// Fatal error status.
        fes: u16,
        /// Fatal error information.
        fei: u32,
    },
}

/// A command capsule: its SQE and in-capsule data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capsule {
    /// The submission queue entry.
    pub sqe: Sqe,
    /// The in-capsule data (empty when none).
    pub data: Vec<u8>,
    /// False when the data digest did not match: the command must not be executed.
    pub data_digest_ok: bool,
}

/// A fatal error in what the host sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RxError {
    /// Answer with a C2HTermReq (see [`c2h_term_req`]), then close.
    #[error("{reason} (FES {fes:#x}, FEI {fei:#x})")]
    Fatal {
        /// Fatal error status.
        fes: u16,
        /// Fatal error information (for an invalid header field: its byte offset).
        fei: u32,
        /// The offending PDU header, as much of it as was received (at most 128 bytes).
        header: Vec<u8>,
        /// What was wrong, for the records.
        reason: String,
    },
    /// Close without a termination request (a malformed termination request).
    #[error("{0}")]
    Abort(String),
}

/// What the ICReq negotiated: how PDUs after it are framed, both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// Header digests on.
    pub hdgst: bool,
    /// Data digests on.
    pub ddgst: bool,
    /// Host PDU data alignment (dwords, 0's based): data in C2HData starts at a multiple of
    /// `(hpda + 1) * 4` bytes.
    pub hpda: u8,
}

impl Link {
    fn hdgst_len(self) -> usize {
        if self.hdgst {
            DIGEST_LEN
        } else {
            0
        }
    }

    /// A PDU: `hdr` (all hlen bytes; flags, pdo and plen are filled in here), the header
    /// digest, padding up to `pdo`, the data and the data digest.
    fn pdu(self, hdr: &[u8], flags: u8, data: &[u8], pdo: usize) -> Vec<u8> {
        let mut flags = flags;
        if self.hdgst {
            flags |= FLAG_HDGST;
        }
        let ddgst = self.ddgst && !data.is_empty();
        if ddgst {
            flags |= FLAG_DDGST;
        }
        let body = if data.is_empty() {
            hdr.len() + self.hdgst_len()
        } else {
            pdo + data.len() + if ddgst { DIGEST_LEN } else { 0 }
        };
        let mut out = Vec::with_capacity(body);
        out.extend_from_slice(hdr);
        put(&mut out, 1, &[flags]);
        put(&mut out, 3, &[if data.is_empty() { 0 } else { small(pdo) }]);
        put(
            &mut out,
            4,
            &u32::try_from(body).unwrap_or(u32::MAX).to_le_bytes(),
        );
        if self.hdgst {
            let digest = crc32c(&out);
            out.extend_from_slice(&digest.to_le_bytes());
        }
        if !data.is_empty() {
            out.resize(pdo, 0);
            out.extend_from_slice(data);
            if ddgst {
                out.extend_from_slice(&crc32c(data).to_le_bytes());
            }
        }
        out
    }

    /// A response capsule carrying `cqe`.
    #[must_use]
    pub fn capsule_resp(self, cqe: &Cqe) -> Vec<u8> {
        let mut hdr = header(TYPE_RSP, RSP_HLEN);
        put(&mut hdr, 8, &cqe.result.to_le_bytes());
        put(&mut hdr, 16, &cqe.sqhd.to_le_bytes());
        put(&mut hdr, 18, &cqe.sqid.to_le_bytes());
        put(&mut hdr, 20, &cqe.cid.to_le_bytes());
        put(&mut hdr, 22, &(cqe.status << 1).to_le_bytes());
        self.pdu(&hdr, 0, &[], 0)
    }

    /// One C2HData PDU carrying all of a command's `data` (offset 0, LAST_PDU set, never
    /// SUCCESS: a response capsule follows).
    #[must_use]
    pub fn c2h_data(self, cid: u16, data: &[u8]) -> Vec<u8> {
        let mut hdr = header(TYPE_C2H_DATA, DATA_HLEN);
        put(&mut hdr, 8, &cid.to_le_bytes());
        put(
            &mut hdr,
            16,
            &u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes(),
        );
        let align = (usize::from(self.hpda) + 1) * 4;
        let pdo = (usize::from(DATA_HLEN) + self.hdgst_len()).next_multiple_of(align);
        self.pdu(&hdr, FLAG_DATA_LAST, data, pdo)
    }
}

/// A zeroed PDU header of `hlen` bytes with its type and hlen set.
fn header(pdu_type: u8, hlen: u8) -> Vec<u8> {
    let mut hdr = vec![0u8; usize::from(hlen)];
    put(&mut hdr, 0, &[pdu_type, 0, hlen]);
    hdr
}

/// Copies `bytes` into `buf` at `off` (nothing when it does not fit).
pub(crate) fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// `n` as a byte (saturating; callers keep it below 256).
fn small(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// The ICResp answering an ICReq: PFV 0, CPDA 0, the digests the host asked for.
#[must_use]
pub fn ic_resp(hdgst: bool, ddgst: bool) -> Vec<u8> {
    let mut pdu = header(TYPE_IC_RESP, IC_HLEN);
    put(&mut pdu, 4, &u32::from(IC_HLEN).to_le_bytes());
    put(&mut pdu, 11, &[u8::from(hdgst) | (u8::from(ddgst) << 1)]);
    put(&mut pdu, 12, &MAXH2CDATA.to_le_bytes());
    pdu
}

/// A C2HTermReq: FES at byte 8, FEI at byte 10, then the offending PDU header (at most
/// 128 bytes). It never carries digests.
#[must_use]
pub fn c2h_term_req(fes: u16, fei: u32, offending: &[u8]) -> Vec<u8> {
    let data = offending.get(..TERM_MAX_DATA).unwrap_or(offending);
    let mut pdu = header(TYPE_C2H_TERM, TERM_HLEN);
    let plen = u32::from(TERM_HLEN) + u32::try_from(data.len()).unwrap_or(0);
    put(&mut pdu, 4, &plen.to_le_bytes());
    put(&mut pdu, 8, &fes.to_le_bytes());
    put(&mut pdu, 10, &fei.to_le_bytes());
    pdu.extend_from_slice(data);
    pdu
}

/// Cuts the byte stream from a host into PDUs.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// An empty reader.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet taken as a whole PDU.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole PDU, `Ok(None)` until it is all there. `link` is `None` until the
    /// ICReq is taken (the only PDU then allowed), then what it negotiated.
    ///
    /// # Errors
    /// [`RxError`] for a PDU that breaks the protocol; the reader is then of no further use.
    pub fn next(&mut self, link: Option<Link>) -> Result<Option<HostPdu>, RxError> {
        let Some(ch) = self.buf.get(..COMMON_HLEN) else {
            return Ok(None);
        };
        let (pdu_type, flags, hlen, pdo) = (ch[0], ch[1], ch[2], ch[3]);
        let plen = le32(ch, 4);
        let Some(link) = link else {
            return self.ic_req(pdu_type, hlen, pdo, plen);
        };
        match pdu_type {
            TYPE_CMD => self.command(link, flags, hlen, pdo, plen),
            TYPE_H2C_TERM => self.term_req(hlen, plen),
            TYPE_IC_REQ => Err(self.fatal(FES_SEQUENCE, FEI_TYPE, "ICReq on a live connection")),
            TYPE_H2C_DATA => Err(self.fatal(FES_SEQUENCE, FEI_TYPE, "H2CData but no R2T was sent")),
            other => Err(self.fatal(
                FES_INVALID_HEADER,
                FEI_TYPE,
                &format!("PDU type {other:#04x} is not one a host sends"),
            )),
        }
    }

    fn ic_req(
        &mut self,
        pdu_type: u8,
        hlen: u8,
        pdo: u8,
        plen: u32,
    ) -> Result<Option<HostPdu>, RxError> {
        if pdu_type != TYPE_IC_REQ {
            return Err(
                if matches!(pdu_type, TYPE_CMD | TYPE_H2C_DATA | TYPE_H2C_TERM) {
                    self.fatal(FES_SEQUENCE, FEI_TYPE, "first PDU is not an ICReq")
                } else {
                    self.fatal(
                        FES_INVALID_HEADER,
                        FEI_TYPE,
                        &format!("PDU type {pdu_type:#04x} is not one a host sends"),
                    )
                },
            );
        }
        if hlen != IC_HLEN {
            return Err(self.fatal(FES_INVALID_HEADER, FEI_HLEN, "ICReq hlen is not 128"));
        }
        if pdo != 0 {
            return Err(self.fatal(FES_INVALID_HEADER, FEI_PDO, "ICReq pdo is not 0"));
        }
        if plen != u32::from(IC_HLEN) {
            return Err(self.fatal(FES_INVALID_HEADER, FEI_PLEN, "ICReq plen is not 128"));
        }
        let Some(pdu) = self.buf.get(..IC_LEN) else {
            return Ok(None);
        };
        let ic = IcReq {
            pfv: le16(pdu, 8),
            hpda: pdu[10],
            hdgst: pdu[11] & 0x01 != 0,
            ddgst: pdu[11] & 0x02 != 0,
            maxr2t: le32(pdu, 12),
        };
        if ic.pfv != 0 {
            return Err(self.fatal_with(IC_LEN, FES_INVALID_HEADER, FEI_PFV, "ICReq pfv is not 0"));
        }
        if ic.hpda > 31 {
            return Err(self.fatal_with(
                IC_LEN,
                FES_INVALID_HEADER,
                FEI_HPDA,
                "ICReq hpda is above 31",
            ));
        }
        self.buf.drain(..IC_LEN);
        Ok(Some(HostPdu::IcReq(ic)))
    }

    fn term_req(&mut self, hlen: u8, plen: u32) -> Result<Option<HostPdu>, RxError> {
        let max = u32::from(TERM_HLEN) + u32::try_from(TERM_MAX_DATA).unwrap_or(0);
        if hlen != TERM_HLEN || plen < u32::from(TERM_HLEN) || plen > max {
            return Err(RxError::Abort("malformed H2CTermReq".into()));
        }
        let len = usize::try_from(plen).unwrap_or(usize::MAX);
        let Some(pdu) = self.buf.get(..len) else {
            return Ok(None);
        };
        let (fes, fei) = (le16(pdu, 8), le32(pdu, 10));
        self.buf.drain(..len);
        Ok(Some(HostPdu::TermReq { fes, fei }))
    }

    fn command(
        &mut self,
        link: Link,
        flags: u8,
        hlen: u8,
        pdo: u8,
        plen: u32,
    ) -> Result<Option<HostPdu>, RxError> {
        let invalid = |this: &Self, fei, reason: &str| this.fatal(FES_INVALID_HEADER, fei, reason);
        if flags & !(FLAG_HDGST | FLAG_DDGST) != 0 {
            return Err(invalid(self, FEI_FLAGS, "undefined capsule flags"));
        }
        if (flags & FLAG_HDGST != 0) != link.hdgst {
            return Err(invalid(self, FEI_FLAGS, "HDGSTF does not match the ICReq"));
        }
        if flags & FLAG_DDGST != 0 && !link.ddgst {
            return Err(invalid(self, FEI_FLAGS, "DDGSTF but no data digests"));
        }
        if hlen != CMD_HLEN {
            return Err(invalid(self, FEI_HLEN, "command capsule hlen is not 72"));
        }
        let full_hlen = usize::from(CMD_HLEN) + link.hdgst_len();
        let total = usize::try_from(plen).unwrap_or(usize::MAX);
        if total < full_hlen {
            return Err(invalid(self, FEI_PLEN, "plen is shorter than the header"));
        }
        if plen > MAX_HOST_PDU {
            return Err(self.fatal(FES_LIMIT_EXCEEDED, 0, "capsule larger than 16 KiB"));
        }
        let pdo = usize::from(pdo);
        let mut data_len = 0;
        if total > full_hlen {
            if pdo < full_hlen || pdo > total || pdo % 4 != 0 {
                return Err(invalid(self, FEI_PDO, "pdo does not point at the data"));
            }
            data_len = total - pdo;
            if link.ddgst {
                if flags & FLAG_DDGST == 0 {
                    return Err(invalid(self, FEI_FLAGS, "data without a data digest"));
                }
                if data_len <= DIGEST_LEN {
                    return Err(invalid(self, FEI_PLEN, "data too short for its digest"));
                }
                data_len -= DIGEST_LEN;
            }
        } else if flags & FLAG_DDGST != 0 {
            return Err(invalid(self, FEI_FLAGS, "DDGSTF on a capsule without data"));
        } else if pdo != 0 && pdo != full_hlen {
            return Err(invalid(self, FEI_PDO, "pdo set on a capsule without data"));
        }
        let Some(pdu) = self.buf.get(..total) else {
            return Ok(None);
        };
        let hlen = usize::from(CMD_HLEN);
        if link.hdgst && crc32c(&pdu[..hlen]) != le32(pdu, hlen) {
            return Err(self.fatal_with(hlen, FES_HEADER_DIGEST, 0, "header digest error"));
        }
        let mut sqe = [0u8; 64];
        sqe.copy_from_slice(&pdu[COMMON_HLEN..hlen]);
        let data = pdu.get(pdo..pdo + data_len).unwrap_or_default().to_vec();
        let data_digest_ok =
            !link.ddgst || data.is_empty() || crc32c(&data) == le32(pdu, pdo + data_len);
        self.buf.drain(..total);
        Ok(Some(HostPdu::Command(Capsule {
            sqe: Sqe(sqe),
            data,
            data_digest_ok,
        })))
    }

    /// A fatal error found in the common header of the PDU at the head of the buffer: the
    /// report carries those 8 bytes, whatever else has arrived (so that it does not
    /// depend on how the bytes were cut into reads).
    fn fatal(&self, fes: u16, fei: u32, reason: &str) -> RxError {
        self.fatal_with(COMMON_HLEN, fes, fei, reason)
    }

    /// A fatal error found once the whole header of `hlen` bytes had arrived.
    fn fatal_with(&self, hlen: usize, fes: u16, fei: u32, reason: &str) -> RxError {
        let len = hlen.min(TERM_MAX_DATA).min(self.buf.len());
        RxError::Fatal {
            fes,
            fei,
            header: self.buf.get(..len).unwrap_or_default().to_vec(),
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
