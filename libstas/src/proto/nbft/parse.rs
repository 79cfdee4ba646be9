//! The parser: whole-table checks, then the host descriptor and the four descriptor lists.
//! Every read goes through the total helpers below (`get`, never indexing), so no input can
//! panic it.

use std::fmt::Display;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;

use uuid::Uuid;

use super::layout::{self as l, control as c, header as h};
use super::{
    ssns_flags, Discovery, Hfi, Host, Nbft, Parsed, PrimaryAdmin, Problem, Security, Ssns,
    SsnsExtInfo, TableError,
};

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        a.copy_from_slice(s);
    }
    a
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(arr(b, off))
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}

/// A 16-byte address field: IPv4-mapped folded to IPv4, unspecified (either form) = `None`.
pub(super) fn ip_at(b: &[u8], off: usize) -> Option<IpAddr> {
    let v6 = Ipv6Addr::from(arr::<16>(b, off));
    let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
    (!ip.is_unspecified()).then_some(ip)
}

/// A descriptor index: 0 = none.
fn opt_index(v: u8) -> Option<u8> {
    (v != 0).then_some(v)
}

struct Ctx<'a> {
    name: &'a str,
    /// The table, cut to the header's length.
    t: &'a [u8],
    heap: Range<u64>,
    problems: Vec<Problem>,
}

/// A heap reference that could not be used (the problem is already recorded).
struct Bad;

impl<'a> Ctx<'a> {
    fn problem(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            table: self.name.to_owned(),
            offset,
            message: message.into(),
        });
    }

    /// The heap object referenced at `ref_off`: `Ok(None)` when its length is 0.
    fn heap_obj(
        &mut self,
        ref_off: usize,
        what: &dyn Display,
    ) -> Result<Option<(usize, &'a [u8])>, Bad> {
        let off = u64::from(le32(self.t, ref_off));
        let len = u64::from(le16(self.t, ref_off + 4));
        if len == 0 {
            return Ok(None);
        }
        if off < self.heap.start || off + len > self.heap.end {
            self.problem(
                ref_off,
                format!(
                    "{what}: heap object {off:#x}+{len} is outside the heap {:#x}..{:#x}",
                    self.heap.start, self.heap.end
                ),
            );
            return Err(Bad);
        }
        let (start, end) = (to_usize(off), to_usize(off + len));
        match self.t.get(start..end) {
            Some(obj) => Ok(Some((start, obj))),
            None => {
                self.problem(ref_off, format!("{what}: heap object outside the table"));
                Err(Bad)
            }
        }
    }

    /// A heap string: ends at its first NUL, found within the object or right after it
    /// (inside the heap); UTF-8.
    fn heap_str(&mut self, ref_off: usize, what: &dyn Display) -> Result<Option<String>, Bad> {
        let Some((start, obj)) = self.heap_obj(ref_off, what)? else {
            return Ok(None);
        };
        let after = start + obj.len();
        let end = match obj.iter().position(|&b| b == 0) {
            Some(p) => p,
            None if (after as u64) < self.heap.end && self.t.get(after) == Some(&0) => obj.len(),
            None => {
                self.problem(ref_off, format!("{what}: string is not NUL-terminated"));
                return Err(Bad);
            }
        };
        match std::str::from_utf8(obj.get(..end).unwrap_or_default()) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => {
                self.problem(ref_off, format!("{what}: string is not UTF-8"));
                Err(Bad)
            }
        }
    }

    /// A heap string the descriptor cannot do without (`field` of `what`, e.g. `URI` of
    /// `discovery 1`): absent or unusable drops the descriptor (recorded).
    fn required_str(&mut self, ref_off: usize, what: &str, field: &str) -> Result<String, Bad> {
        match self.heap_str(ref_off, &format!("{what} {field} (descriptor dropped)"))? {
            Some(s) => Ok(s),
            None => {
                self.problem(ref_off, format!("{what}: no {field}; dropped"));
                Err(Bad)
            }
        }
    }

    /// The descriptors of one list of the control descriptor: (table offset, bytes).
    fn list(&mut self, field: usize, what: &str, min_len: usize) -> Vec<(usize, &'a [u8])> {
        let at = l::CONTROL_OFF + field;
        let off = u64::from(le32(self.t, at));
        let entry_len = le16(self.t, at + c::LIST_ENTRY_LEN);
        let count = u8_at(self.t, at + c::LIST_COUNT);
        let mut out = Vec::new();
        if count == 0 {
            return out;
        }
        if usize::from(entry_len) < min_len {
            self.problem(
                at + c::LIST_ENTRY_LEN,
                format!(
                    "{what} descriptor length {entry_len} is below {min_len}: {count} \
                     descriptors dropped"
                ),
            );
            return out;
        }
        for i in 0..u64::from(count) {
            let start = off + i * u64::from(entry_len);
            let end = start + min_len as u64;
            match self.t.get(to_usize(start)..to_usize(end)) {
                Some(d) if start >= l::MIN_TABLE_LEN as u64 => out.push((to_usize(start), d)),
                _ => {
                    self.problem(
                        at,
                        format!(
                            "{what} descriptor {} of {count} at {start:#x} is not inside the \
                             table after the control descriptor: it and the rest of the \
                             list dropped",
                            i + 1
                        ),
                    );
                    break;
                }
            }
        }
        out
    }

    /// Checks the valid flag of a descriptor (at `at`); `Err` = dropped (recorded).
    fn check_valid(&mut self, at: usize, valid: bool, what: &str) -> Result<(), Bad> {
        if valid {
            return Ok(());
        }
        self.problem(at, format!("{what} descriptor valid flag clear; dropped"));
        Err(Bad)
    }

    /// Checks the structure ID and the index of a descriptor; `Err` = dropped (recorded).
    fn check_id(&mut self, off: usize, d: &[u8], want: u8, what: &str) -> Result<(), Bad> {
        let got = u8_at(d, 0);
        if got == want {
            return Ok(());
        }
        self.problem(
            off,
            format!("{what} descriptor: structure ID {got}, expected {want}; dropped"),
        );
        Err(Bad)
    }

    /// Checks a transport type byte (at `at`) of descriptor `what`: only TCP is kept.
    fn check_tcp(&mut self, at: usize, what: &str) -> Result<(), Bad> {
        let trtype = u8_at(self.t, at);
        if trtype == l::TRTYPE_TCP {
            return Ok(());
        }
        self.problem(
            at,
            format!("{what}: transport type {trtype} is not tcp (3); dropped"),
        );
        Err(Bad)
    }

    /// The descriptor index in the byte at `at` (0: none) when `exists` finds it; otherwise
    /// `missing(index)` is recorded and the result is `Err` (a field that is only cleared
    /// takes `unwrap_or(None)`).
    fn reference(
        &mut self,
        at: usize,
        exists: impl FnOnce(u8) -> bool,
        missing: impl FnOnce(u8) -> String,
    ) -> Result<Option<u8>, Bad> {
        match opt_index(u8_at(self.t, at)) {
            Some(i) if !exists(i) => {
                self.problem(at, missing(i));
                Err(Bad)
            }
            index => Ok(index),
        }
    }

    fn check_index(&mut self, off: usize, what: &str, index: u16, taken: bool) -> Result<(), Bad> {
        if index == 0 {
            self.problem(off, format!("{what} descriptor with index 0; dropped"));
            return Err(Bad);
        }
        if taken {
            self.problem(
                off,
                format!("{what} {index}: index already used by an earlier descriptor; dropped"),
            );
            return Err(Bad);
        }
        Ok(())
    }
}

fn fail(name: &str, offset: usize, message: String) -> TableError {
    TableError {
        table: name.to_owned(),
        offset,
        message,
    }
}

/// Parses one NBFT. `name` is the table's file name (`NBFT`, `NBFT1`, …), used in messages.
///
/// # Errors
/// A [`TableError`] when the table as a whole is unusable: shorter than its header and control
/// descriptor, not signed `NBFT`, header length beyond the bytes or below 128, checksum not 0,
/// major revision not 1, minor revision above 1, heap outside the table, control descriptor
/// with a wrong ID or its valid flag clear, host descriptor out of range, with a wrong ID or
/// its valid flag clear.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Parsed, TableError> {
    if bytes.len() < l::MIN_TABLE_LEN {
        return Err(fail(
            name,
            bytes.len(),
            format!(
                "table truncated: {} bytes, shorter than its header and control descriptor \
                 ({} bytes)",
                bytes.len(),
                l::MIN_TABLE_LEN
            ),
        ));
    }
    if bytes.get(h::SIGNATURE..h::SIGNATURE + 4) != Some(b"NBFT".as_slice()) {
        return Err(fail(
            name,
            h::SIGNATURE,
            format!(
                "signature {:?}, expected \"NBFT\"",
                String::from_utf8_lossy(&arr::<4>(bytes, h::SIGNATURE))
            ),
        ));
    }
    let length = to_usize(u64::from(le32(bytes, h::LENGTH)));
    if length > bytes.len() {
        return Err(fail(
            name,
            h::LENGTH,
            format!(
                "table truncated: header length {length} exceeds the {} bytes present",
                bytes.len()
            ),
        ));
    }
    if length < l::MIN_TABLE_LEN {
        return Err(fail(
            name,
            h::LENGTH,
            format!("header length {length} is below {}", l::MIN_TABLE_LEN),
        ));
    }
    let t = bytes.get(..length).unwrap_or(bytes);
    let sum = t.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    if sum != 0 {
        return Err(fail(
            name,
            h::CHECKSUM,
            format!("bad checksum: the table's bytes sum to {sum:#04x}, not 0"),
        ));
    }
    let major = u8_at(t, h::MAJOR);
    if major != 1 {
        return Err(fail(
            name,
            h::MAJOR,
            format!("unsupported major revision {major} (1 expected)"),
        ));
    }
    let minor = u8_at(t, h::MINOR);
    if minor > 1 {
        return Err(fail(
            name,
            h::MINOR,
            format!("unsupported minor revision {minor} (0 or 1 expected)"),
        ));
    }
    let heap_off = u64::from(le32(t, h::HEAP_OFFSET));
    let heap_len = u64::from(le32(t, h::HEAP_LENGTH));
    if heap_off + heap_len > length as u64 {
        return Err(fail(
            name,
            h::HEAP_OFFSET,
            format!("heap {heap_off:#x}+{heap_len} exceeds the table length {length}"),
        ));
    }
    let ctl = l::CONTROL_OFF;
    let ctl_id = u8_at(t, ctl + c::ID);
    if ctl_id != l::id::CONTROL {
        return Err(fail(
            name,
            ctl + c::ID,
            format!("control descriptor structure ID {ctl_id}, expected 1"),
        ));
    }
    if u8_at(t, ctl + c::FLAGS) & 1 == 0 {
        return Err(fail(
            name,
            ctl + c::FLAGS,
            "control descriptor valid flag clear".to_owned(),
        ));
    }
    let host_off = to_usize(u64::from(le32(t, ctl + c::HOST)));
    if host_off < l::MIN_TABLE_LEN || host_off.saturating_add(l::HOST_LEN) > length {
        return Err(fail(
            name,
            ctl + c::HOST,
            format!(
                "host descriptor at {host_off:#x} is outside the table (after the control \
                 descriptor, {} bytes)",
                l::HOST_LEN
            ),
        ));
    }
    let hd = t.get(host_off..host_off + l::HOST_LEN).unwrap_or_default();
    if u8_at(hd, 0) != l::id::HOST {
        return Err(fail(
            name,
            host_off,
            format!("host descriptor structure ID {}, expected 2", u8_at(hd, 0)),
        ));
    }
    let hflags = u8_at(hd, l::host::FLAGS);
    if hflags & l::host::VALID == 0 {
        return Err(fail(
            name,
            host_off + l::host::FLAGS,
            "host descriptor valid flag clear".to_owned(),
        ));
    }

    let mut cx = Ctx {
        name,
        t,
        heap: heap_off..heap_off + heap_len,
        problems: Vec::new(),
    };
    let id_bytes = arr::<16>(hd, l::host::ID);
    let host = Host {
        nqn: cx
            .heap_str(host_off + l::host::NQN, &"host NQN")
            .unwrap_or(None),
        id: (id_bytes != [0; 16]).then(|| Uuid::from_bytes(id_bytes)),
        nqn_configured: hflags & l::host::NQN_CONFIGURED != 0,
        id_configured: hflags & l::host::ID_CONFIGURED != 0,
        primary_admin: PrimaryAdmin::from_bits(hflags >> l::host::PRIMARY_ADMIN_SHIFT),
    };
    let mut table = Nbft {
        name: name.to_owned(),
        minor,
        host,
        hfis: Vec::new(),
        subsystems: Vec::new(),
        discovery: Vec::new(),
        security: Vec::new(),
    };
    for (off, d) in cx.list(c::HFI, "HFI", l::HFI_LEN) {
        if let Ok(hfi) = read_hfi(&mut cx, &table, off, d) {
            table.hfis.push(hfi);
        }
    }
    for (off, d) in cx.list(c::SECURITY, "security", l::SECURITY_LEN) {
        if let Ok(s) = read_security(&mut cx, &table, off, d) {
            table.security.push(s);
        }
    }
    for (off, d) in cx.list(c::DISCOVERY, "discovery", l::DISCOVERY_LEN) {
        if let Ok(x) = read_discovery(&mut cx, &table, off, d) {
            table.discovery.push(x);
        }
    }
    for (off, d) in cx.list(c::SSNS, "SSNS", l::SSNS_LEN) {
        if let Ok(s) = read_ssns(&mut cx, &table, off, d) {
            table.subsystems.push(s);
        }
    }
    Ok(Parsed {
        table,
        problems: cx.problems,
    })
}

fn read_hfi(cx: &mut Ctx<'_>, table: &Nbft, off: usize, d: &[u8]) -> Result<Hfi, Bad> {
    use l::tcp_info as ti;
    cx.check_valid(off + l::hfi::FLAGS, u8_at(d, l::hfi::FLAGS) & 1 != 0, "HFI")?;
    cx.check_id(off, d, l::id::HFI, "HFI")?;
    let index = u8_at(d, l::hfi::INDEX);
    cx.check_index(
        off + l::hfi::INDEX,
        "HFI",
        index.into(),
        table.hfi(index).is_some(),
    )?;
    cx.check_tcp(off + l::hfi::TRTYPE, &format!("HFI {index}"))?;
    let what = format!("HFI {index} transport info (HFI dropped)");
    let ref_off = off + l::hfi::TRINFO;
    let Some((ti_off, info)) = cx.heap_obj(ref_off, &what)? else {
        cx.problem(ref_off, format!("HFI {index}: no transport info; dropped"));
        return Err(Bad);
    };
    let bad = if info.len() < l::HFI_TCP_INFO_MIN {
        Some(format!(
            "{} bytes, at least {} expected",
            info.len(),
            l::HFI_TCP_INFO_MIN
        ))
    } else if u8_at(info, 0) != l::id::HFI_TRINFO {
        Some(format!("structure ID {}, expected 7", u8_at(info, 0)))
    } else if u8_at(info, ti::VERSION) != 1 {
        Some(format!("version {}, expected 1", u8_at(info, ti::VERSION)))
    } else if u8_at(info, ti::FLAGS) & ti::VALID == 0 {
        Some("valid flag clear".to_owned())
    } else if le16(info, ti::HFI_INDEX) != u16::from(index) {
        Some(format!(
            "HFI index {} does not match",
            le16(info, ti::HFI_INDEX)
        ))
    } else {
        None
    };
    if let Some(why) = bad {
        cx.problem(ti_off, format!("{what}: {why}"));
        return Err(Bad);
    }
    let flags = u8_at(info, ti::FLAGS);
    let dhcp_override = flags & ti::DHCP_OVERRIDE != 0;
    let host_name = cx
        .heap_str(ti_off + ti::HOST_NAME, &format!("HFI {index} host name"))
        .unwrap_or(None);
    Ok(Hfi {
        index,
        transport: "tcp".to_owned(),
        mac: arr(info, ti::MAC),
        vlan: le16(info, ti::VLAN),
        ip: ip_at(info, ti::IP),
        prefix: u8_at(info, ti::PREFIX),
        gateway: ip_at(info, ti::GATEWAY),
        dhcp_server: if dhcp_override {
            ip_at(info, ti::DHCP_SERVER)
        } else {
            None
        },
        primary_dns: ip_at(info, ti::PRIMARY_DNS),
        secondary_dns: ip_at(info, ti::SECONDARY_DNS),
        route_metric: le16(info, ti::ROUTE_METRIC),
        ip_origin: u8_at(info, ti::IP_ORIGIN),
        pci_sbdf: le32(info, ti::PCI_SBDF),
        host_name,
        global_route: flags & ti::GLOBAL_ROUTE != 0,
        dhcp_override,
    })
}

fn read_security(cx: &mut Ctx<'_>, table: &Nbft, off: usize, d: &[u8]) -> Result<Security, Bad> {
    use l::security as s;
    let flags = le16(d, s::FLAGS);
    cx.check_valid(off + s::FLAGS, flags & 1 != 0, "security")?;
    cx.check_id(off, d, l::id::SECURITY, "security")?;
    let index = u8_at(d, s::INDEX);
    cx.check_index(
        off + s::INDEX,
        "security",
        index.into(),
        table.security_descriptor(index).is_some(),
    )?;
    let secret_path = cx.heap_str(
        off + s::SECRET_PATH,
        &format!("security {index} secret path (descriptor dropped)"),
    )?;
    Ok(Security {
        index,
        flags,
        secret_type: u8_at(d, s::SECRET_TYPE),
        secret_path,
    })
}

fn read_discovery(cx: &mut Ctx<'_>, table: &Nbft, off: usize, d: &[u8]) -> Result<Discovery, Bad> {
    use l::discovery as x;
    cx.check_valid(off + x::FLAGS, u8_at(d, x::FLAGS) & 1 != 0, "discovery")?;
    cx.check_id(off, d, l::id::DISCOVERY, "discovery")?;
    let index = u8_at(d, x::INDEX);
    cx.check_index(
        off + x::INDEX,
        "discovery",
        index.into(),
        table.discovery_descriptor(index).is_some(),
    )?;
    let name = format!("discovery {index}");
    let security = cx.reference(
        off + x::SECURITY,
        |i| table.security_descriptor(i).is_some(),
        |i| format!("{name}: security descriptor {i} does not exist; descriptor dropped"),
    )?;
    let hfi = cx
        .reference(
            off + x::HFI,
            |i| table.hfi(i).is_some(),
            |i| format!("{name}: HFI {i} does not exist; HFI field dropped"),
        )
        .unwrap_or(None);
    let uri = cx.required_str(off + x::URI, &name, "URI")?;
    let nqn = cx.heap_str(off + x::NQN, &format!("{name} NQN (descriptor dropped)"))?;
    Ok(Discovery {
        index,
        hfi,
        security,
        uri,
        nqn,
    })
}

fn read_ssns(cx: &mut Ctx<'_>, table: &Nbft, off: usize, d: &[u8]) -> Result<Ssns, Bad> {
    use l::ssns as s;
    let flags = le16(d, s::FLAGS);
    cx.check_valid(off + s::FLAGS, flags & ssns_flags::VALID != 0, "SSNS")?;
    cx.check_id(off, d, l::id::SSNS, "SSNS")?;
    let index = le16(d, s::INDEX);
    cx.check_index(
        off + s::INDEX,
        "SSNS",
        index,
        table.subsystem(index).is_some(),
    )?;
    let name = format!("SSNS {index}");
    cx.check_tcp(off + s::TRTYPE, &name)?;
    let security = cx.reference(
        off + s::SECURITY,
        |i| table.security_descriptor(i).is_some(),
        |i| format!("{name}: security descriptor {i} does not exist; dropped"),
    )?;
    let primary_hfi = cx.reference(
        off + s::PRIMARY_HFI,
        |i| table.hfi(i).is_some(),
        |i| format!("{name}: primary HFI {i} does not exist; dropped"),
    )?;
    let discovery = cx
        .reference(
            off + s::DISCOVERY,
            |i| table.discovery_descriptor(i).is_some(),
            |i| format!("{name}: discovery descriptor {i} does not exist; discovery field dropped"),
        )
        .unwrap_or(None);
    let what = format!("SSNS {index} transport address (descriptor dropped)");
    let traddr = match cx.heap_obj(off + s::TRADDR, &what)? {
        Some((_, a)) if a.len() == l::IP_LEN => ip_at(a, 0),
        Some((_, a)) => {
            cx.problem(
                off + s::TRADDR,
                format!("{what}: {} bytes, a 16-byte IP address expected", a.len()),
            );
            return Err(Bad);
        }
        None => None,
    };
    let Some(traddr) = traddr else {
        cx.problem(
            off + s::TRADDR,
            format!("{name}: no transport address; dropped"),
        );
        return Err(Bad);
    };
    let trsvcid = cx.required_str(off + s::TRSVCID, &name, "transport service ID")?;
    let nqn = cx.required_str(off + s::NQN, &name, "subsystem NQN")?;
    let mut secondary_hfis: Vec<u8> = Vec::new();
    let what = format!("SSNS {index} secondary HFIs (field dropped)");
    if let Ok(Some((_, list))) = cx.heap_obj(off + s::SECONDARY_HFIS, &what) {
        for &i in list {
            if i == 0 || Some(i) == primary_hfi || secondary_hfis.contains(&i) {
                continue;
            }
            if table.hfi(i).is_some() {
                secondary_hfis.push(i);
            } else {
                cx.problem(
                    off + s::SECONDARY_HFIS,
                    format!("SSNS {index}: secondary HFI {i} does not exist; left out"),
                );
            }
        }
    }
    let extended = if flags & ssns_flags::EXTENDED_INFO != 0 {
        read_ssns_ext(cx, off + s::EXT_INFO, index)
    } else {
        None
    };
    let trflags = le16(d, s::TRFLAGS);
    Ok(Ssns {
        index,
        transport: "tcp".to_owned(),
        traddr: traddr.to_string(),
        trsvcid,
        port_id: le16(d, s::PORT_ID),
        nsid: le32(d, s::NSID),
        nid_type: u8_at(d, s::NID_TYPE),
        nid: arr(d, s::NID),
        nqn,
        primary_hfi,
        secondary_hfis,
        discovery,
        security,
        hdr_digest: trflags & s::HDR_DIGEST != 0,
        data_digest: trflags & s::DATA_DIGEST != 0,
        flags,
        non_bootable: flags & ssns_flags::NON_BOOTABLE != 0,
        unavailable: flags & ssns_flags::UNAVAILABLE_MASK == ssns_flags::UNAVAILABLE,
        extended,
    })
}

fn read_ssns_ext(cx: &mut Ctx<'_>, ref_off: usize, index: u16) -> Option<SsnsExtInfo> {
    use l::ssns_ext as x;
    let what = format!("SSNS {index} extended info (field dropped)");
    let (xoff, e) = cx.heap_obj(ref_off, &what).ok()??;
    let bad = if e.len() < l::SSNS_EXT_LEN {
        Some(format!(
            "{} bytes, at least {} expected",
            e.len(),
            l::SSNS_EXT_LEN
        ))
    } else if u8_at(e, 0) != l::id::SSNS_EXT {
        Some(format!("structure ID {}, expected 9", u8_at(e, 0)))
    } else if u8_at(e, x::VERSION) != 1 {
        Some(format!("version {}, expected 1", u8_at(e, x::VERSION)))
    } else if le16(e, x::SSNS_INDEX) != index {
        Some(format!(
            "SSNS index {} does not match",
            le16(e, x::SSNS_INDEX)
        ))
    } else if le32(e, x::FLAGS) & x::VALID == 0 {
        Some("valid flag clear".to_owned())
    } else {
        None
    };
    if let Some(why) = bad {
        cx.problem(xoff, format!("{what}: {why}"));
        return None;
    }
    let flags = le32(e, x::FLAGS);
    Some(SsnsExtInfo {
        controller_id: le16(e, x::CNTLID),
        asqsz: (flags & x::ADMIN_ASQSZ != 0).then(|| le16(e, x::ASQSZ)),
        dhcp_root_path: cx
            .heap_str(
                xoff + x::ROOT_PATH,
                &format!("SSNS {index} DHCP root path (field dropped)"),
            )
            .unwrap_or(None),
    })
}
