//! Decoding of the TP8010 Discovery Information Management payload a host sends (a
//! 1024-byte header and Discovery Information Entries, basic or extended), into the
//! fields stas-cdc records. It is the controller's own reading, written apart from
//! libstas's encoder so that a test compares two readings of the bytes, not one.

use serde::Serialize;

/// Size of the DIM header.
const HEADER_LEN: usize = 1024;
/// Fixed part of an entry (a basic entry is exactly this long).
const ENTRY_FIXED: usize = 1024;
/// Fixed part of an extended entry (TEL, NUMEXAT, reserved follow the basic fields).
const EXT_ENTRY_FIXED: usize = 1032;
/// ENTFMT of extended entries.
const ENTFMT_EXTENDED: u16 = 2;

/// TAS names, as recorded.
#[must_use]
pub fn task_name(tas: u8) -> &'static str {
    match tas {
        0 => "register",
        1 => "deregister",
        2 => "update",
        _ => "reserved",
    }
}

/// A decoded DIM payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dim {
    /// TDL.
    pub tdl: u32,
    /// NUMENT.
    pub nument: u64,
    /// ENTFMT (1 basic, 2 extended).
    pub entfmt: u16,
    /// ETYPE (1 host, 2 DDC, 3 CDC).
    pub etype: u16,
    /// PORTLCL.
    pub portlcl: u8,
    /// EKTYPE.
    pub ektype: u16,
    /// EID.
    pub eid: String,
    /// ENAME.
    pub ename: String,
    /// EVER.
    pub ever: String,
    /// The entries that could be decoded.
    pub entries: Vec<DimEntry>,
    /// What is wrong with the payload, if anything (the fields above are what was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One Discovery Information Entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DimEntry {
    /// TRTYPE.
    pub trtype: u8,
    /// ADRFAM.
    pub adrfam: u8,
    /// SUBTYPE.
    pub subtype: u8,
    /// TREQ.
    pub treq: u8,
    /// PORTID.
    pub portid: u16,
    /// CNTLID.
    pub cntlid: u16,
    /// ASQSZ.
    pub asqsz: u16,
    /// TRSVCID.
    pub trsvcid: String,
    /// NQN.
    pub nqn: String,
    /// TRADDR.
    pub traddr: String,
    /// TSAS, hex when not all zero.
    pub tsas: String,
    /// Extended attributes.
    pub exat: Vec<Exat>,
}

/// One extended attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exat {
    /// EXATTYPE.
    #[serde(rename = "type")]
    pub kind: u16,
    /// EXATLEN.
    pub len: u16,
    /// The value: a UUID for the host id (type 1), text for the symbolic name (type 2,
    /// trailing spaces kept), hex otherwise.
    pub value: String,
}

/// NUL-terminated text, with anything not printable escaped.
fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end])
        .escape_debug()
        .to_string()
}

/// Lower-case hex of `b`, or "" when it is all zero.
fn hex(b: &[u8]) -> String {
    if b.iter().all(|&c| c == 0) {
        return String::new();
    }
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn uuid(b: &[u8]) -> String {
    let h: String = b.iter().map(|c| format!("{c:02x}")).collect();
    if h.len() != 32 {
        return h;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes a DIM payload as far as it goes; a problem is reported in [`Dim::error`].
#[must_use]
pub fn decode(b: &[u8]) -> Dim {
    let mut d = Dim::default();
    let Some(h) = b.get(..HEADER_LEN) else {
        d.error = Some(format!(
            "{} bytes: shorter than the 1024-byte header",
            b.len()
        ));
        return d;
    };
    d.tdl = le32(h, 0);
    d.nument = u64::from(le32(h, 8)) | (u64::from(le32(h, 12)) << 32);
    d.entfmt = le16(h, 16);
    d.etype = le16(h, 18);
    d.portlcl = h[20];
    d.ektype = le16(h, 22);
    d.eid = text(&h[24..280]);
    d.ename = text(&h[280..536]);
    d.ever = text(&h[536..600]);
    if usize::try_from(d.tdl).ok() != Some(b.len()) {
        d.error = Some(format!("TDL {} but {} bytes sent", d.tdl, b.len()));
    }
    let mut rest = &b[HEADER_LEN..];
    for i in 0..d.nument.min(64) {
        match entry(rest, d.entfmt == ENTFMT_EXTENDED) {
            Ok((e, len)) => {
                d.entries.push(e);
                rest = &rest[len..];
            }
            Err(why) => {
                d.error.get_or_insert(format!("entry {}: {why}", i + 1));
                break;
            }
        }
    }
    if d.error.is_none() && !rest.is_empty() {
        d.error = Some(format!("{} bytes after the last entry", rest.len()));
    }
    d
}

/// One entry and its length.
fn entry(b: &[u8], extended: bool) -> Result<(DimEntry, usize), String> {
    let fixed = if extended {
        EXT_ENTRY_FIXED
    } else {
        ENTRY_FIXED
    };
    let f = b
        .get(..fixed)
        .ok_or_else(|| format!("{} bytes left, {fixed} needed", b.len()))?;
    let mut e = DimEntry {
        trtype: f[0],
        adrfam: f[1],
        subtype: f[2],
        treq: f[3],
        portid: le16(f, 4),
        cntlid: le16(f, 6),
        asqsz: le16(f, 8),
        trsvcid: text(&f[32..64]),
        nqn: text(&f[256..512]),
        traddr: text(&f[512..768]),
        tsas: hex(&f[768..1024]),
        exat: Vec::new(),
    };
    if !extended {
        return Ok((e, fixed));
    }
    let tel = usize::try_from(le32(f, 1024)).map_err(|_| "TEL too large".to_owned())?;
    let numexat = le16(f, 1028);
    if tel < fixed || tel > b.len() {
        return Err(format!("TEL {tel} with {} bytes left", b.len()));
    }
    let mut at = fixed;
    for _ in 0..numexat {
        let head = b
            .get(at..at + 4)
            .filter(|_| at + 4 <= tel)
            .ok_or("extended attribute past TEL")?;
        let kind = le16(head, 0);
        let len = le16(head, 2);
        let val = b
            .get(at + 4..at + 4 + usize::from(len))
            .filter(|_| at + 4 + usize::from(len) <= tel)
            .ok_or("extended attribute value past TEL")?;
        let value = match kind {
            1 => uuid(val),
            2 => String::from_utf8_lossy(val).escape_debug().to_string(),
            _ => hex(val),
        };
        e.exat.push(Exat { kind, len, value });
        at += 4 + usize::from(len);
    }
    if at != tel {
        return Err(format!("extended attributes end at {at}, TEL is {tel}"));
    }
    Ok((e, tel))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload laid out by hand from TP8010 (not with libstas's encoder).
    fn sample(symname: Option<&str>) -> Vec<u8> {
        let nqn = b"nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100";
        let sym = symname.map_or(0, |s| 4 + s.len().div_ceil(4) * 4);
        let tel = 1032 + 20 + sym;
        let mut b = vec![0u8; 1024 + tel];
        let tdl = u32::try_from(b.len()).unwrap();
        b[0..4].copy_from_slice(&tdl.to_le_bytes());
        b[8] = 1;
        b[16] = 2;
        b[18] = 1;
        b[22] = 0x5f;
        b[24..24 + nqn.len()].copy_from_slice(nqn);
        b[280..283].copy_from_slice(b"vm1");
        b[536..550].copy_from_slice(b"Linux 6.1.0-57");
        let e = &mut b[1024..];
        e[0] = 3;
        e[1] = 1;
        e[256..256 + nqn.len()].copy_from_slice(nqn);
        e[1024..1028].copy_from_slice(&u32::try_from(tel).unwrap().to_le_bytes());
        e[1028] = if symname.is_some() { 2 } else { 1 };
        e[1032] = 1;
        e[1034] = 16;
        for (i, v) in e[1036..1052].iter_mut().enumerate() {
            *v = u8::try_from(i).unwrap();
        }
        if let Some(s) = symname {
            let len = s.len().div_ceil(4) * 4;
            e[1052] = 2;
            e[1054] = u8::try_from(len).unwrap();
            e[1056..1056 + len].fill(b' ');
            e[1056..1056 + s.len()].copy_from_slice(s.as_bytes());
        }
        b
    }

    #[test]
    fn a_host_registration_decodes() {
        let d = decode(&sample(Some("rack7")));
        assert_eq!(d.error, None);
        assert_eq!(
            (d.tdl, d.nument, d.entfmt, d.etype, d.ektype),
            (2088, 1, 2, 1, 0x5f)
        );
        assert!(d.eid.ends_with("050403020100"));
        assert_eq!(
            (d.ename.as_str(), d.ever.as_str()),
            ("vm1", "Linux 6.1.0-57")
        );
        let e = &d.entries[0];
        assert_eq!((e.trtype, e.adrfam, e.traddr.as_str()), (3, 1, ""));
        assert_eq!(e.nqn, d.eid);
        assert_eq!(e.exat[0].value, "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!((e.exat[1].len, e.exat[1].value.as_str()), (8, "rack7   "));
    }

    #[test]
    fn without_a_symname_one_attribute() {
        let d = decode(&sample(None));
        assert_eq!((d.tdl, d.error), (2076, None));
        assert_eq!(d.entries[0].exat.len(), 1);
    }

    #[test]
    fn damaged_payloads_say_what_is_wrong() {
        assert!(decode(&[0; 10]).error.unwrap().contains("shorter"));
        let mut b = sample(None);
        b.truncate(1500);
        let d = decode(&b);
        assert_eq!(d.eid.len(), 68);
        assert!(d.error.unwrap().contains("TDL 2076 but 1500"));
        let mut b = sample(None);
        b[1024 + 1034] = 200;
        assert!(decode(&b).error.unwrap().contains("past TEL"));
    }

    #[test]
    fn no_input_panics() {
        let base = sample(Some("x"));
        for cut in 0..base.len() {
            let _ = decode(&base[..cut]);
        }
        let mut b = base.clone();
        for i in (0..b.len()).step_by(7) {
            b[i] ^= 0xa5;
            let _ = decode(&b);
        }
    }
}
