//! TP8010 Discovery Information Management payload (`struct nvmf_dim_data` with one
//! extended Discovery Information Entry), encoder and a decoder for tests and the fake.
//!
//! Layout: kernel-interface.md §4.3. All integers little-endian; strings NUL padded except
//! the symbolic-name attribute, which is space padded to a multiple of 4.

use thiserror::Error;

use super::consts::{adrfam, trtype};
use super::validate::{check_hostid, check_nqn, ValueError};

/// DIM header size.
pub const DIM_HEADER_LEN: usize = 1024;
/// Fixed part of an extended DIE (before the extended attributes).
pub const DIE_FIXED_LEN: usize = 1032;
/// ENTFMT: extended entries.
pub const ENTFMT_EXTENDED: u16 = 2;
/// ETYPE: host.
pub const ETYPE_HOST: u16 = 1;
/// EKTYPE value libnvme sends ("mandated").
pub const EKTYPE: u16 = 0x5F;
/// Extended attribute type: host id.
pub const EXAT_HOSTID: u16 = 1;
/// Extended attribute type: symbolic name.
pub const EXAT_SYMNAME: u16 = 2;

/// Errors building a DIM payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DimError {
    /// The host NQN is not usable.
    #[error("invalid host NQN: {0}")]
    HostNqn(ValueError),
    /// The host id is not a UUID.
    #[error("invalid host id: {0}")]
    HostId(ValueError),
    /// The symbolic name does not fit in one attribute.
    #[error("symbolic name is {0} bytes, at most 256 allowed")]
    SymnameTooLong(usize),
    /// The DC address family is neither IPv4 nor IPv6.
    #[error("address family {0} cannot be registered")]
    AdrFam(u8),
}

/// Inputs of one registration command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimRequest<'a> {
    /// Host NQN (EID and DIE NQN).
    pub host_nqn: &'a str,
    /// Host id, canonical UUID text.
    pub host_id: &'a str,
    /// Entity name: the host name.
    pub entity_name: &'a str,
    /// Entity version: `"<ostype> <osrelease> <NAME> <VERSION_ID>"`.
    pub entity_version: &'a str,
    /// Optional host symbolic name.
    pub symname: Option<&'a str>,
    /// DIE ADRFAM: [`adrfam::IP4`] or [`adrfam::IP6`] (family of the DC's address).
    pub adrfam: u8,
}

fn put(dst: &mut [u8], s: &[u8]) {
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s[..n]);
}

/// Copies at most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> &[u8] {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn le16(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap_or(u16::MAX).to_le_bytes()
}

fn le32(v: usize) -> [u8; 4] {
    u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes()
}

/// Encodes the DIM data (header + one extended DIE) for the request.
///
/// # Errors
/// [`DimError`] when an input is unusable.
pub fn encode_dim(req: &DimRequest<'_>) -> Result<Vec<u8>, DimError> {
    check_nqn(req.host_nqn).map_err(DimError::HostNqn)?;
    check_hostid(req.host_id).map_err(DimError::HostId)?;
    let host_id = uuid::Uuid::parse_str(req.host_id)
        .map_err(|_| DimError::HostId(ValueError::Malformed("not a UUID")))?;
    if req.adrfam != adrfam::IP4 && req.adrfam != adrfam::IP6 {
        return Err(DimError::AdrFam(req.adrfam));
    }
    let symname = req.symname.filter(|s| !s.is_empty());
    if let Some(s) = symname {
        if s.len() > 256 {
            return Err(DimError::SymnameTooLong(s.len()));
        }
    }
    let hostid_exat = 4 + 16;
    let sym_exat = symname.map_or(0, |s| 4 + round4(s.len()));
    let tel = DIE_FIXED_LEN + hostid_exat + sym_exat;
    let tdl = DIM_HEADER_LEN + tel;
    let mut b = vec![0u8; tdl];

    // Header.
    b[0..4].copy_from_slice(&le32(tdl));
    b[8..16].copy_from_slice(&1u64.to_le_bytes());
    b[16..18].copy_from_slice(&ENTFMT_EXTENDED.to_le_bytes());
    b[18..20].copy_from_slice(&ETYPE_HOST.to_le_bytes());
    b[22..24].copy_from_slice(&EKTYPE.to_le_bytes());
    put(&mut b[24..280], req.host_nqn.as_bytes());
    put(&mut b[280..536], cut(req.entity_name, 255));
    put(&mut b[536..600], cut(req.entity_version, 63));

    // Extended DIE.
    let die = &mut b[DIM_HEADER_LEN..];
    die[0] = trtype::TCP;
    die[1] = req.adrfam;
    put(&mut die[256..512], req.host_nqn.as_bytes());
    die[1024..1028].copy_from_slice(&le32(tel));
    die[1028..1030].copy_from_slice(&le16(if symname.is_some() { 2 } else { 1 }));
    let exat = &mut die[DIE_FIXED_LEN..];
    exat[0..2].copy_from_slice(&EXAT_HOSTID.to_le_bytes());
    exat[2..4].copy_from_slice(&16u16.to_le_bytes());
    exat[4..20].copy_from_slice(host_id.as_bytes());
    if let Some(s) = symname {
        let len = round4(s.len());
        let a = &mut exat[hostid_exat..];
        a[0..2].copy_from_slice(&EXAT_SYMNAME.to_le_bytes());
        a[2..4].copy_from_slice(&le16(len));
        a[4..4 + len].fill(b' ');
        a[4..4 + s.len()].copy_from_slice(s.as_bytes());
    }
    Ok(b)
}

/// What a DIM payload says, decoded (for the fake kernel and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimSummary {
    /// TDL.
    pub tdl: u32,
    /// NUMENT.
    pub nument: u64,
    /// ETYPE.
    pub etype: u16,
    /// EID (host NQN).
    pub eid: String,
    /// ENAME.
    pub ename: String,
    /// EVER.
    pub ever: String,
    /// Host id attribute, as a UUID string.
    pub host_id: Option<String>,
    /// Symbolic name attribute, trailing spaces removed.
    pub symname: Option<String>,
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Decodes a DIM payload; `None` when it is malformed or truncated.
#[must_use]
pub fn decode_dim(b: &[u8]) -> Option<DimSummary> {
    let hdr = b.get(..DIM_HEADER_LEN)?;
    let tdl = u32::from_le_bytes(hdr[0..4].try_into().ok()?);
    let mut s = DimSummary {
        tdl,
        nument: u64::from_le_bytes(hdr[8..16].try_into().ok()?),
        etype: u16::from_le_bytes([hdr[18], hdr[19]]),
        eid: cstr(&hdr[24..280]),
        ename: cstr(&hdr[280..536]),
        ever: cstr(&hdr[536..600]),
        host_id: None,
        symname: None,
    };
    let die = b.get(DIM_HEADER_LEN..)?;
    let fixed = die.get(..DIE_FIXED_LEN)?;
    let numexat = u16::from_le_bytes([fixed[1028], fixed[1029]]);
    let mut rest = &die[DIE_FIXED_LEN..];
    for _ in 0..numexat {
        let head = rest.get(..4)?;
        let ty = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let val = rest.get(4..4 + len)?;
        match ty {
            EXAT_HOSTID => {
                let bytes: [u8; 16] = val.get(..16)?.try_into().ok()?;
                s.host_id = Some(uuid::Uuid::from_bytes(bytes).to_string());
            }
            EXAT_SYMNAME => {
                s.symname = Some(
                    String::from_utf8_lossy(val)
                        .trim_end_matches(' ')
                        .to_owned(),
                );
            }
            _ => {}
        }
        rest = &rest[4 + len..];
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:01234567-89ab-cdef-0123-456789abcdef";
    const HOSTID: &str = "01234567-89ab-cdef-0123-456789abcdef";

    fn req(symname: Option<&'static str>) -> DimRequest<'static> {
        DimRequest {
            host_nqn: NQN,
            host_id: HOSTID,
            entity_name: "host1",
            entity_version: "Linux 6.1.0-56-amd64 Debian GNU/Linux 12",
            symname,
            adrfam: adrfam::IP4,
        }
    }

    #[test]
    fn hostid_only_sizes_and_offsets() {
        let b = encode_dim(&req(None)).unwrap();
        assert_eq!(b.len(), 2076);
        assert_eq!(&b[0..4], &2076u32.to_le_bytes());
        assert_eq!(&b[4..8], &[0; 4]);
        assert_eq!(&b[8..16], &1u64.to_le_bytes());
        assert_eq!(&b[16..18], &[2, 0]);
        assert_eq!(&b[18..20], &[1, 0]);
        assert_eq!(b[20], 0);
        assert_eq!(&b[22..24], &[0x5f, 0]);
        assert_eq!(&b[24..24 + NQN.len()], NQN.as_bytes());
        assert_eq!(b[24 + NQN.len()], 0);
        assert_eq!(&b[280..285], b"host1");
        assert_eq!(&b[536..541], b"Linux");
        let die = &b[1024..];
        assert_eq!((die[0], die[1], die[2], die[3]), (3, 1, 0, 0));
        assert!(die[32..64].iter().all(|&c| c == 0));
        assert_eq!(&die[256..256 + NQN.len()], NQN.as_bytes());
        assert!(
            die[512..768].iter().all(|&c| c == 0),
            "TRADDR must be empty"
        );
        assert_eq!(&die[1024..1028], &1052u32.to_le_bytes());
        assert_eq!(&die[1028..1030], &[1, 0]);
        assert_eq!(&die[1032..1036], &[1, 0, 16, 0]);
        assert_eq!(
            &die[1036..1052],
            &[
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ]
        );
    }

    #[test]
    fn symname_is_space_padded() {
        let b = encode_dim(&req(Some("abcdefghij"))).unwrap();
        assert_eq!(b.len(), 2092);
        let die = &b[1024..];
        assert_eq!(&die[1024..1028], &1068u32.to_le_bytes());
        assert_eq!(&die[1028..1030], &[2, 0]);
        assert_eq!(&die[1052..1056], &[2, 0, 12, 0]);
        assert_eq!(&die[1056..1068], b"abcdefghij  ");
        let s = decode_dim(&b).unwrap();
        assert_eq!(s.symname.as_deref(), Some("abcdefghij"));
        assert_eq!(s.host_id.as_deref(), Some(HOSTID));
        assert_eq!(s.eid, NQN);
        assert_eq!((s.tdl, s.nument, s.etype), (2092, 1, 1));
    }

    #[test]
    fn version_is_truncated_and_inputs_checked() {
        let long = "x".repeat(100);
        let mut r = req(None);
        r.entity_version = &long;
        let b = encode_dim(&r).unwrap();
        assert_eq!(decode_dim(&b).unwrap().ever.len(), 63);
        r.adrfam = 3;
        assert_eq!(encode_dim(&r), Err(DimError::AdrFam(3)));
        let mut r = req(None);
        r.host_id = "nope";
        assert!(matches!(encode_dim(&r), Err(DimError::HostId(_))));
        assert_eq!(decode_dim(&[0; 100]), None);
    }
}
