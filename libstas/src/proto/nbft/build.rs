//! Fixture generator: a [`TableSpec`] (what the table says) → NBFT bytes in the layout of
//! ecosystem-2026.md §6.2, with a correct heap and checksum, which [`super::parse`] reads back
//! and an ACPI loader (qemu `-acpitable file=…`, the kernel) accepts: signature `NBFT`, header
//! length = total length, the bytes sum to 0 mod 256, printable OEM and creator IDs.
//!
//! Layout written: header (64) at 0, control (64) at 64, host (32) at 128, then the HFI, SSNS,
//! security and discovery lists (entry lengths 32, 128, 64, 32), then the heap. Heap strings
//! are written the way libnvme expects them: `length` = string length, followed by a NUL (an
//! empty string is one NUL byte of length 1, since length 0 means absent).
//!
//! Choices made for compatibility with libnvme's reader (nvme-cli `connect-all --nbft`):
//! an SSNS with no secondary HFI gets a one-byte secondary list holding its primary HFI index
//! (libnvme drops an SSNS whose secondary-HFI object is absent, and skips a secondary equal to
//! the primary; so does [`super::parse`]); the default minor revision is 0 (older libnvme
//! accepts only 0). A discovery descriptor without an NQN is written without one, which is
//! legal but which libnvme drops.
//!
//! Counts are one byte in the control descriptor: at most 255 descriptors of each kind are
//! written, the rest are ignored; heap strings are cut at 65534 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use super::layout::{self as l, control as c, header as h};
use super::{ssns_flags, Discovery, Hfi, Host, Nbft, PrimaryAdmin, Security, Ssns, SsnsExtInfo};

/// A whole table: the parsed types ([`Host`], [`Hfi`], [`Ssns`], [`Discovery`], [`Security`])
/// say what each descriptor holds, so that [`from_table`](Self::from_table) is a copy.
///
/// Fields of the parsed types that the layout does not hold are not written: `transport`
/// (always TCP), [`Ssns::non_bootable`] and [`Ssns::unavailable`] (they follow from
/// [`Ssns::flags`]). The builder adds the valid bit to every descriptor's flags, and
/// [`ssns_flags::EXTENDED_INFO`] to an SSNS with [`Ssns::extended`]; an [`Ssns::traddr`] that
/// is not an IP address is written as zero (which the parser refuses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSpec {
    /// The host descriptor (`id` `None`: all zero).
    pub host: Host,
    /// HFI descriptors, in this order.
    pub hfis: Vec<Hfi>,
    /// SSNS descriptors, in this order.
    pub subsystems: Vec<Ssns>,
    /// Discovery descriptors, in this order.
    pub discovery: Vec<Discovery>,
    /// Security profile descriptors, in this order.
    pub security: Vec<Security>,
    /// Minor revision written in the header (default 0).
    pub minor: u8,
}

/// One HFI and its TCP transport info (the parser reads `dhcp_server` only with
/// `dhcp_override`).
pub type HfiSpec = Hfi;

/// One subsystem-namespace descriptor (an empty `secondary_hfis` is written as the primary's
/// index, see the module doc).
pub type SsnsSpec = Ssns;

/// One discovery descriptor.
pub type DiscoverySpec = Discovery;

/// One security profile descriptor.
pub type SecuritySpec = Security;

impl Hfi {
    /// An HFI with an address and prefix; everything else zero or off.
    #[must_use]
    pub fn new(index: u8, mac: [u8; 6], ip: IpAddr, prefix: u8) -> Self {
        Self {
            index,
            transport: "tcp".to_owned(),
            mac,
            vlan: 0,
            ip: Some(ip),
            prefix,
            gateway: None,
            dhcp_server: None,
            primary_dns: None,
            secondary_dns: None,
            route_metric: 0,
            ip_origin: 0,
            pci_sbdf: 0,
            host_name: None,
            global_route: false,
            dhcp_override: false,
        }
    }
}

impl Ssns {
    /// An SSNS for `nqn` at `traddr`:`trsvcid`, NSID 1, no HFI or descriptor references.
    #[must_use]
    pub fn new(index: u16, traddr: IpAddr, trsvcid: &str, nqn: &str) -> Self {
        Self {
            index,
            transport: "tcp".to_owned(),
            traddr: traddr.to_string(),
            trsvcid: trsvcid.to_owned(),
            port_id: 0,
            nsid: 1,
            nid_type: 0,
            nid: [0; 16],
            nqn: nqn.to_owned(),
            primary_hfi: None,
            secondary_hfis: Vec::new(),
            discovery: None,
            security: None,
            hdr_digest: false,
            data_digest: false,
            flags: 0,
            non_bootable: false,
            unavailable: false,
            extended: None,
        }
    }

    /// Sets the primary HFI.
    #[must_use]
    pub fn with_hfi(mut self, index: u8) -> Self {
        self.primary_hfi = Some(index);
        self
    }

    /// Sets the primary discovery descriptor (and the separate-discovery flag).
    #[must_use]
    pub fn with_discovery(mut self, index: u8) -> Self {
        self.discovery = Some(index);
        self.flags |= ssns_flags::SEPARATE_DISCOVERY;
        self
    }

    /// Sets the security descriptor (and the use-security flag).
    #[must_use]
    pub fn with_security(mut self, index: u8) -> Self {
        self.security = Some(index);
        self.flags |= ssns_flags::USE_SECURITY;
        self
    }
}

impl Discovery {
    /// A discovery descriptor with a URI only.
    #[must_use]
    pub fn new(index: u8, uri: &str) -> Self {
        Self {
            index,
            hfi: None,
            security: None,
            uri: uri.to_owned(),
            nqn: None,
        }
    }
}

impl Security {
    /// A security descriptor whose secret is at `path` (a Redfish host-interface URI).
    #[must_use]
    pub fn new(index: u8, path: &str) -> Self {
        Self {
            index,
            flags: 1,
            secret_type: 2,
            secret_path: Some(path.to_owned()),
        }
    }
}

/// Heap under construction; references are absolute table offsets.
struct Heap {
    base: usize,
    bytes: Vec<u8>,
}

fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Heap {
    fn reference(&self, at: usize, len: usize) -> [u8; 6] {
        let mut r = [0u8; 6];
        r[..4].copy_from_slice(&u32_of(self.base + at).to_le_bytes());
        r[4..].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes());
        r
    }

    /// A binary object (empty: absent).
    fn put(&mut self, data: &[u8]) -> [u8; 6] {
        if data.is_empty() {
            return [0; 6];
        }
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        let at = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.reference(at, data.len())
    }

    /// A string: length = string length, NUL after it (empty: one NUL, length 1).
    fn put_str(&mut self, s: &str) -> [u8; 6] {
        let b = &s.as_bytes()[..s.len().min(usize::from(u16::MAX) - 1)];
        let at = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.bytes.push(0);
        self.reference(at, b.len().max(1))
    }

    fn put_opt_str(&mut self, s: Option<&str>) -> [u8; 6] {
        s.map_or([0; 6], |s| self.put_str(s))
    }
}

/// 16-byte address field: IPv4 as IPv4-mapped IPv6, `None` as zero.
fn ip_bytes(ip: Option<IpAddr>) -> [u8; 16] {
    match ip {
        None => [0; 16],
        Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(v6)) => v6.octets(),
    }
}

fn put(b: &mut [u8], off: usize, data: &[u8]) {
    if let Some(dst) = b.get_mut(off..off + data.len()) {
        dst.copy_from_slice(data);
    }
}

fn index_byte(i: Option<u8>) -> u8 {
    i.unwrap_or(0)
}

/// Sets the checksum byte so that the table's bytes sum to 0 mod 256 (after patching a table
/// in a test, for example).
pub fn fix_checksum(table: &mut [u8]) {
    if let Some(ck) = table.get_mut(h::CHECKSUM) {
        *ck = 0;
    }
    let sum = table.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    if let Some(ck) = table.get_mut(h::CHECKSUM) {
        *ck = 0u8.wrapping_sub(sum);
    }
}

impl TableSpec {
    /// A table for a host with this NQN (marked configured) and nothing else.
    #[must_use]
    pub fn new(host_nqn: &str) -> Self {
        Self {
            host: Host {
                nqn: Some(host_nqn.to_owned()),
                nqn_configured: true,
                ..Host::default()
            },
            ..Self::default()
        }
    }

    /// The spec that [`build`](Self::build)s a table with the same content as `t` (what the
    /// parser kept of it): parsing the result gives `t` back.
    #[must_use]
    pub fn from_table(t: &Nbft) -> Self {
        Self {
            host: t.host.clone(),
            hfis: t.hfis.clone(),
            subsystems: t.subsystems.clone(),
            discovery: t.discovery.clone(),
            security: t.security.clone(),
            minor: t.minor,
        }
    }

    /// The table's bytes.
    #[must_use]
    pub fn build(&self) -> Vec<u8> {
        const MAX: usize = 255;
        let hfis = &self.hfis[..self.hfis.len().min(MAX)];
        let ssns = &self.subsystems[..self.subsystems.len().min(MAX)];
        let sec = &self.security[..self.security.len().min(MAX)];
        let disc = &self.discovery[..self.discovery.len().min(MAX)];

        let host_off = l::MIN_TABLE_LEN;
        let hfi_off = host_off + l::HOST_LEN;
        let ssns_off = hfi_off + hfis.len() * l::HFI_LEN;
        let sec_off = ssns_off + ssns.len() * l::SSNS_LEN;
        let disc_off = sec_off + sec.len() * l::SECURITY_LEN;
        let heap_off = disc_off + disc.len() * l::DISCOVERY_LEN;
        let mut heap = Heap {
            base: heap_off,
            bytes: Vec::new(),
        };
        let mut t = vec![0u8; heap_off];

        // Host descriptor.
        let host = &self.host;
        let mut hflags =
            l::host::VALID | (host.primary_admin.bits() << l::host::PRIMARY_ADMIN_SHIFT);
        if host.id_configured {
            hflags |= l::host::ID_CONFIGURED;
        }
        if host.nqn_configured {
            hflags |= l::host::NQN_CONFIGURED;
        }
        t[host_off] = l::id::HOST;
        t[host_off + l::host::FLAGS] = hflags;
        put(
            &mut t,
            host_off + l::host::ID,
            &host.id.map_or([0u8; 16], Uuid::into_bytes),
        );
        let r = heap.put_opt_str(host.nqn.as_deref());
        put(&mut t, host_off + l::host::NQN, &r);

        for (i, x) in hfis.iter().enumerate() {
            let d = hfi_off + i * l::HFI_LEN;
            t[d] = l::id::HFI;
            t[d + l::hfi::INDEX] = x.index;
            t[d + l::hfi::FLAGS] = 1;
            t[d + l::hfi::TRTYPE] = l::TRTYPE_TCP;
            let r = write_tcp_info(&mut heap, x);
            put(&mut t, d + l::hfi::TRINFO, &r);
        }
        for (i, s) in ssns.iter().enumerate() {
            let d = ssns_off + i * l::SSNS_LEN;
            write_ssns(&mut t, d, &mut heap, s);
        }
        for (i, s) in sec.iter().enumerate() {
            use l::security as x;
            let d = sec_off + i * l::SECURITY_LEN;
            t[d] = l::id::SECURITY;
            t[d + x::INDEX] = s.index;
            put(&mut t, d + x::FLAGS, &(s.flags | 1).to_le_bytes());
            t[d + x::SECRET_TYPE] = s.secret_type;
            let r = heap.put_opt_str(s.secret_path.as_deref());
            put(&mut t, d + x::SECRET_PATH, &r);
        }
        for (i, s) in disc.iter().enumerate() {
            use l::discovery as x;
            let d = disc_off + i * l::DISCOVERY_LEN;
            t[d] = l::id::DISCOVERY;
            t[d + x::FLAGS] = 1;
            t[d + x::INDEX] = s.index;
            t[d + x::HFI] = index_byte(s.hfi);
            t[d + x::SECURITY] = index_byte(s.security);
            let r = heap.put_str(&s.uri);
            put(&mut t, d + x::URI, &r);
            let r = heap.put_opt_str(s.nqn.as_deref());
            put(&mut t, d + x::NQN, &r);
        }

        // Control descriptor.
        let ctl = l::CONTROL_OFF;
        t[ctl + c::ID] = l::id::CONTROL;
        t[ctl + c::MAJOR] = 1;
        t[ctl + c::MINOR] = 0;
        put(&mut t, ctl + c::CSL, &64u16.to_le_bytes());
        t[ctl + c::FLAGS] = 1;
        put(&mut t, ctl + c::HOST, &u32_of(host_off).to_le_bytes());
        put(&mut t, ctl + c::HOST + 4, &32u16.to_le_bytes());
        t[ctl + c::HOST_VERSION] = 1;
        for (field, off, len, count) in [
            (c::HFI, hfi_off, l::HFI_LEN, hfis.len()),
            (c::SSNS, ssns_off, l::SSNS_LEN, ssns.len()),
            (c::SECURITY, sec_off, l::SECURITY_LEN, sec.len()),
            (c::DISCOVERY, disc_off, l::DISCOVERY_LEN, disc.len()),
        ] {
            let at = ctl + field;
            let off = if count == 0 { 0 } else { off };
            put(&mut t, at, &u32_of(off).to_le_bytes());
            put(
                &mut t,
                at + c::LIST_ENTRY_LEN,
                &u16::try_from(len).unwrap_or(0).to_le_bytes(),
            );
            t[at + c::LIST_VERSION] = 1;
            t[at + c::LIST_COUNT] = u8::try_from(count).unwrap_or(u8::MAX);
        }

        // Header.
        let heap_len = heap.bytes.len();
        t.extend_from_slice(&heap.bytes);
        let total = t.len();
        put(&mut t, h::SIGNATURE, b"NBFT");
        put(&mut t, h::LENGTH, &u32_of(total).to_le_bytes());
        t[h::MAJOR] = 1;
        put(&mut t, h::OEM_ID, b"STAS  ");
        put(&mut t, h::OEM_TABLE_ID, b"STASNBFT");
        put(&mut t, h::OEM_REVISION, &1u32.to_le_bytes());
        put(&mut t, h::CREATOR_ID, b"STAS");
        put(&mut t, h::CREATOR_REVISION, &1u32.to_le_bytes());
        put(&mut t, h::HEAP_OFFSET, &u32_of(heap_off).to_le_bytes());
        put(&mut t, h::HEAP_LENGTH, &u32_of(heap_len).to_le_bytes());
        t[h::MINOR] = self.minor;
        fix_checksum(&mut t);
        t
    }
}

fn write_tcp_info(heap: &mut Heap, x: &Hfi) -> [u8; 6] {
    use l::tcp_info as ti;
    let name = heap.put_opt_str(x.host_name.as_deref());
    let mut b = vec![0u8; l::HFI_TCP_INFO_LEN];
    b[0] = l::id::HFI_TRINFO;
    b[ti::VERSION] = 1;
    b[ti::TRTYPE] = l::TRTYPE_TCP;
    b[ti::TRINFO_VERSION] = 1;
    put(&mut b, ti::HFI_INDEX, &u16::from(x.index).to_le_bytes());
    let mut flags = ti::VALID;
    if x.global_route {
        flags |= ti::GLOBAL_ROUTE;
    }
    if x.dhcp_override {
        flags |= ti::DHCP_OVERRIDE;
    }
    b[ti::FLAGS] = flags;
    put(&mut b, ti::PCI_SBDF, &x.pci_sbdf.to_le_bytes());
    put(&mut b, ti::MAC, &x.mac);
    put(&mut b, ti::VLAN, &x.vlan.to_le_bytes());
    b[ti::IP_ORIGIN] = x.ip_origin;
    put(&mut b, ti::IP, &ip_bytes(x.ip));
    b[ti::PREFIX] = x.prefix;
    put(&mut b, ti::GATEWAY, &ip_bytes(x.gateway));
    put(&mut b, ti::ROUTE_METRIC, &x.route_metric.to_le_bytes());
    put(&mut b, ti::PRIMARY_DNS, &ip_bytes(x.primary_dns));
    put(&mut b, ti::SECONDARY_DNS, &ip_bytes(x.secondary_dns));
    put(&mut b, ti::DHCP_SERVER, &ip_bytes(x.dhcp_server));
    put(&mut b, ti::HOST_NAME, &name);
    heap.put(&b)
}

fn write_ssns(t: &mut [u8], d: usize, heap: &mut Heap, s: &Ssns) {
    use l::ssns as x;
    let mut flags = s.flags | ssns_flags::VALID;
    if s.extended.is_some() {
        flags |= ssns_flags::EXTENDED_INFO;
    }
    let mut trflags = x::TRFLAG_VALID;
    if s.hdr_digest {
        trflags |= x::HDR_DIGEST;
    }
    if s.data_digest {
        trflags |= x::DATA_DIGEST;
    }
    t[d] = l::id::SSNS;
    put(t, d + x::INDEX, &s.index.to_le_bytes());
    put(t, d + x::FLAGS, &flags.to_le_bytes());
    t[d + x::TRTYPE] = l::TRTYPE_TCP;
    put(t, d + x::TRFLAGS, &trflags.to_le_bytes());
    t[d + x::DISCOVERY] = index_byte(s.discovery);
    let traddr = s
        .traddr
        .parse()
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let r = heap.put(&ip_bytes(Some(traddr)));
    put(t, d + x::TRADDR, &r);
    let r = heap.put_str(&s.trsvcid);
    put(t, d + x::TRSVCID, &r);
    put(t, d + x::PORT_ID, &s.port_id.to_le_bytes());
    put(t, d + x::NSID, &s.nsid.to_le_bytes());
    t[d + x::NID_TYPE] = s.nid_type;
    put(t, d + x::NID, &s.nid);
    t[d + x::SECURITY] = index_byte(s.security);
    t[d + x::PRIMARY_HFI] = index_byte(s.primary_hfi);
    let secondary = if s.secondary_hfis.is_empty() {
        s.primary_hfi.into_iter().collect()
    } else {
        s.secondary_hfis.clone()
    };
    let r = heap.put(&secondary);
    put(t, d + x::SECONDARY_HFIS, &r);
    let r = heap.put_str(&s.nqn);
    put(t, d + x::NQN, &r);
    if let Some(e) = &s.extended {
        use l::ssns_ext as y;
        let root = heap.put_opt_str(e.dhcp_root_path.as_deref());
        let mut b = [0u8; l::SSNS_EXT_LEN];
        b[0] = l::id::SSNS_EXT;
        b[y::VERSION] = 1;
        put(&mut b, y::SSNS_INDEX, &s.index.to_le_bytes());
        let mut xflags = y::VALID;
        if e.asqsz.is_some() {
            xflags |= y::ADMIN_ASQSZ;
        }
        put(&mut b, y::FLAGS, &xflags.to_le_bytes());
        put(&mut b, y::CNTLID, &e.controller_id.to_le_bytes());
        put(&mut b, y::ASQSZ, &e.asqsz.unwrap_or(0).to_le_bytes());
        put(&mut b, y::ROOT_PATH, &root);
        let r = heap.put(&b);
        put(t, d + x::EXT_INFO, &r);
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Named sample tables (the fuzz seeds, and the unit tests' starting points):
///
/// - `host-only`: host NQN and ID, no descriptor;
/// - `boot`: the shape of a typical firmware table: one HFI (IPv4, DHCP, DNS, default route),
///   one discovery descriptor without NQN, two SSNS of one subsystem behind it, with
///   extended info (controller IDs);
/// - `ipv6-security`: an IPv6 HFI on a VLAN, a security descriptor used by the SSNS and the
///   discovery descriptor (which names its NQN), minor revision 1;
/// - `multipath`: two HFIs, one SSNS reaching its subsystem through both, digests on,
///   non-bootable and unavailable flags.
#[must_use]
pub fn samples() -> Vec<(&'static str, TableSpec)> {
    let host_id = Uuid::from_bytes([
        0x5a, 0x1e, 0x0b, 0x07, 0x3c, 0x11, 0x4d, 0x2e, 0x9f, 0x40, 0x6a, 0x77, 0x01, 0x23, 0x45,
        0x67,
    ]);
    let mut host_only = TableSpec::new("nqn.2014-08.org.example:host.boot-client");
    host_only.host.id = Some(host_id);
    host_only.host.id_configured = true;

    let mut hfi = Hfi::new(
        1,
        [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        v4(192, 0, 2, 10),
        24,
    );
    hfi.gateway = Some(v4(192, 0, 2, 1));
    hfi.dhcp_server = Some(v4(192, 0, 2, 2));
    hfi.primary_dns = Some(v4(192, 0, 2, 53));
    hfi.secondary_dns = Some(v4(192, 0, 2, 54));
    hfi.route_metric = 300;
    hfi.ip_origin = 3;
    hfi.pci_sbdf = 0x0000_1810; // 0000:18:02.0
    hfi.dhcp_override = true;
    hfi.global_route = true;
    let storage = "nqn.2014-08.org.example:storage.array7";
    let mut ns1 = Ssns::new(1, v4(192, 0, 2, 20), "4420", storage)
        .with_hfi(1)
        .with_discovery(1);
    ns1.nsid = 12;
    ns1.nid_type = 2;
    ns1.nid = [
        0x6e, 0x62, 0x66, 0x74, 0x2d, 0x73, 0x74, 0x61, 0x73, 0x2d, 0x6e, 0x73, 0x00, 0x00, 0x00,
        0x0c,
    ];
    ns1.port_id = 1;
    ns1.extended = Some(SsnsExtInfo {
        controller_id: 3,
        asqsz: Some(32),
        dhcp_root_path: None,
    });
    let mut ns2 = ns1.clone();
    ns2.index = 2;
    ns2.traddr = "192.0.2.21".to_owned();
    ns2.port_id = 2;
    ns2.extended = Some(SsnsExtInfo {
        controller_id: 4097,
        asqsz: None,
        dhcp_root_path: None,
    });
    let mut dc = Discovery::new(1, "nvme+tcp://192.0.2.30:8009/");
    dc.hfi = Some(1);
    let boot = TableSpec {
        hfis: vec![hfi],
        subsystems: vec![ns1, ns2],
        discovery: vec![dc],
        ..host_only.clone()
    };

    let fd = |last: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, 0xdb8, 0, 7, 0, 0, 0, last));
    let mut hfi6 = Hfi::new(1, [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef], fd(0x10), 64);
    hfi6.vlan = 100;
    hfi6.gateway = Some(fd(1));
    hfi6.host_name = Some("boot-client".to_owned());
    let mut dc6 = Discovery::new(1, "nvme+tcp://[fd00:db8:0:7::30]/");
    dc6.hfi = Some(1);
    dc6.security = Some(1);
    dc6.nqn = Some("nqn.2014-08.org.example:discovery.cdc".to_owned());
    let mut ns6 = Ssns::new(1, fd(0x20), "4420", storage)
        .with_hfi(1)
        .with_security(1);
    ns6.extended = Some(SsnsExtInfo {
        controller_id: 0,
        asqsz: None,
        dhcp_root_path: Some("nvme+tcp://[fd00:db8:0:7::20]:4420/".to_owned()),
    });
    ns6.flags |= ssns_flags::DHCP_ROOT_PATH_OVERRIDE;
    let mut ipv6 = TableSpec {
        hfis: vec![hfi6],
        subsystems: vec![ns6],
        discovery: vec![dc6],
        security: vec![Security::new(
            1,
            "https://bmc.example/redfish/v1/KeyService/NVMeoFSecrets/1",
        )],
        minor: 1,
        ..host_only.clone()
    };
    ipv6.host.primary_admin = PrimaryAdmin::Selected;

    let mut a = Hfi::new(1, [0x02, 0, 0, 0, 0, 0x0a], v4(198, 51, 100, 10), 24);
    a.pci_sbdf = 0x0000_0300;
    let mut b = Hfi::new(2, [0x02, 0, 0, 0, 0, 0x0b], v4(203, 0, 113, 10), 24);
    b.pci_sbdf = 0x0000_0301;
    b.vlan = 20;
    let mut mp = Ssns::new(1, v4(198, 51, 100, 20), "4420", storage).with_hfi(1);
    mp.secondary_hfis = vec![2];
    mp.hdr_digest = true;
    mp.data_digest = true;
    mp.nsid = 3;
    mp.flags |= ssns_flags::NON_BOOTABLE | ssns_flags::UNAVAILABLE;
    let multipath = TableSpec {
        hfis: vec![a, b],
        subsystems: vec![mp],
        ..host_only.clone()
    };

    vec![
        ("host-only", host_only),
        ("boot", boot),
        ("ipv6-security", ipv6),
        ("multipath", multipath),
    ]
}
