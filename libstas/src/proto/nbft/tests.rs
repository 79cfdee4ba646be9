//! Unit tests of the NBFT parser and builder. Offsets written as numbers are those of
//! ecosystem-2026.md §6.2 (not the `layout` constants), so a wrong constant fails here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use uuid::Uuid;

use super::build::{fix_checksum, samples, TableSpec};
use super::*;

fn sample(name: &str) -> TableSpec {
    samples()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap()
}

fn le16(t: &[u8], off: usize) -> usize {
    usize::from(u16::from_le_bytes([t[off], t[off + 1]]))
}

fn le32(t: &[u8], off: usize) -> usize {
    usize::try_from(u32::from_le_bytes([
        t[off],
        t[off + 1],
        t[off + 2],
        t[off + 3],
    ]))
    .unwrap()
}

/// Offset of descriptor `i` (0-based) of the list whose control field is at `64 + field`.
fn desc(t: &[u8], field: usize, i: usize) -> usize {
    le32(t, 64 + field) + i * le16(t, 64 + field + 4)
}

const HFI: usize = 16;
const SSNS: usize = 24;
const SEC: usize = 32;
const DISC: usize = 40;

/// Patches a table and fixes its checksum.
fn patched(mut t: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    f(&mut t);
    fix_checksum(&mut t);
    t
}

fn ok(t: &[u8]) -> Parsed {
    parse("NBFT", t).unwrap()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

fn offsets(p: &Parsed) -> Vec<usize> {
    p.problems.iter().map(|p| p.offset).collect()
}

/// The indexes of the SSNS the parser kept.
fn ssns_indexes(p: &Parsed) -> Vec<u16> {
    p.table.subsystems.iter().map(|s| s.index).collect()
}

/// The indexes of the HFIs the parser kept.
fn hfi_indexes(p: &Parsed) -> Vec<u8> {
    p.table.hfis.iter().map(|h| h.index).collect()
}

#[test]
fn boot_table_round_trips_every_field() {
    let t = sample("boot").build();
    let p = ok(&t);
    assert_eq!(p.problems, vec![]);
    let n = &p.table;
    assert_eq!(n.name, "NBFT");
    assert_eq!(n.minor, 0);
    assert_eq!(
        n.host,
        Host {
            nqn: Some("nqn.2014-08.org.example:host.boot-client".into()),
            id: Some(Uuid::parse_str("5a1e0b07-3c11-4d2e-9f40-6a7701234567").unwrap()),
            nqn_configured: true,
            id_configured: true,
            primary_admin: PrimaryAdmin::NotIndicated,
        }
    );
    assert_eq!(
        n.hfis,
        vec![Hfi {
            index: 1,
            transport: "tcp".into(),
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            vlan: 0,
            ip: v4(192, 0, 2, 10),
            prefix: 24,
            gateway: v4(192, 0, 2, 1),
            dhcp_server: v4(192, 0, 2, 2),
            primary_dns: v4(192, 0, 2, 53),
            secondary_dns: v4(192, 0, 2, 54),
            route_metric: 300,
            ip_origin: 3,
            pci_sbdf: 0x1810,
            host_name: None,
            global_route: true,
            dhcp_override: true,
        }]
    );
    assert_eq!(n.hfis[0].mac_string(), "52:54:00:12:34:56");
    assert_eq!(
        n.discovery,
        vec![Discovery {
            index: 1,
            hfi: Some(1),
            security: None,
            uri: "nvme+tcp://192.0.2.30:8009/".into(),
            nqn: None,
        }]
    );
    let storage = "nqn.2014-08.org.example:storage.array7";
    let nid = *b"nbft-stas-ns\0\0\0\x0c";
    let ns1 = Ssns {
        index: 1,
        transport: "tcp".into(),
        traddr: "192.0.2.20".into(),
        trsvcid: "4420".into(),
        port_id: 1,
        nsid: 12,
        nid_type: 2,
        nid,
        nqn: storage.into(),
        primary_hfi: Some(1),
        secondary_hfis: vec![],
        discovery: Some(1),
        security: None,
        hdr_digest: false,
        data_digest: false,
        flags: 0x31, // valid, extended info, separate discovery controller
        non_bootable: false,
        unavailable: false,
        extended: Some(SsnsExtInfo {
            controller_id: 3,
            asqsz: Some(32),
            dhcp_root_path: None,
        }),
    };
    let ns2 = Ssns {
        index: 2,
        traddr: "192.0.2.21".into(),
        port_id: 2,
        extended: Some(SsnsExtInfo {
            controller_id: 4097,
            asqsz: None,
            dhcp_root_path: None,
        }),
        ..ns1.clone()
    };
    assert_eq!(n.subsystems, vec![ns1, ns2]);
    assert_eq!(n.security, vec![]);
    assert_eq!(n.subsystems[1].hfi_indexes().collect::<Vec<_>>(), vec![1]);
    assert_eq!(n.hfi(1).map(|h| h.index), Some(1));
    assert!(n.hfi(2).is_none());
    assert_eq!(
        n.subsystem(2).map(|s| s.traddr.as_str()),
        Some("192.0.2.21")
    );
    assert_eq!(n.discovery_descriptor(1).map(|d| d.index), Some(1));
    assert!(n.security_descriptor(1).is_none());
    assert_eq!(
        n.discovery[0].address(),
        Some(DcAddress {
            transport: "tcp".into(),
            traddr: "192.0.2.30".into(),
            trsvcid: "8009".into(),
        })
    );
}

#[test]
fn built_table_has_the_spec_layout() {
    let t = sample("boot").build();
    // Header.
    assert_eq!(&t[0..4], b"NBFT");
    assert_eq!(le32(&t, 4), t.len());
    assert_eq!(t[8], 1);
    assert_eq!(t.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
    for b in t[10..24].iter().chain(&t[28..32]) {
        assert!(
            b.is_ascii_graphic() || *b == b' ',
            "OEM/creator byte {b:#x}"
        );
    }
    assert_eq!(&t[10..16], b"STAS  ");
    assert_eq!(&t[16..24], b"STASNBFT");
    assert_eq!(&t[28..32], b"STAS");
    assert_eq!((le32(&t, 24), le32(&t, 32)), (1, 1));
    assert_eq!(t[50], 0);
    // Control at 64: host at 128 (32 bytes), HFI list at 160, SSNS at 192, no security,
    // discovery at 448, heap from 480 to the end.
    assert_eq!((t[64], t[70] & 1), (1, 1));
    assert_eq!((le32(&t, 72), le16(&t, 76)), (128, 32));
    assert_eq!((le32(&t, 80), le16(&t, 84), t[87]), (160, 32, 1));
    assert_eq!((le32(&t, 88), le16(&t, 92), t[95]), (192, 128, 2));
    assert_eq!((le32(&t, 96), t[103]), (0, 0));
    assert_eq!((le32(&t, 104), le16(&t, 108), t[111]), (448, 32, 1));
    assert_eq!((le32(&t, 36), le32(&t, 40)), (480, t.len() - 480));
    // Host: flags valid | id configured | nqn configured; NQN first in the heap, length
    // without its NUL, NUL after it.
    assert_eq!((t[128], t[129]), (2, 0b0000_0111));
    assert_eq!(&t[130..134], &[0x5a, 0x1e, 0x0b, 0x07]);
    assert_eq!((le32(&t, 146), le16(&t, 150)), (480, 40));
    assert_eq!(&t[480..520], b"nqn.2014-08.org.example:host.boot-client");
    assert_eq!(t[520], 0);
    // HFI 1 and its 128-byte transport info in the heap.
    assert_eq!(&t[160..164], &[3, 1, 1, 3]);
    assert_eq!((le32(&t, 176), le16(&t, 180)), (521, 128));
    let ti = &t[521..649];
    assert_eq!(&ti[0..4], &[7, 1, 3, 1]);
    assert_eq!((le16(ti, 4), ti[6]), (1, 0b111));
    assert_eq!(le32(ti, 7), 0x1810);
    assert_eq!(&ti[11..17], &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!((le16(ti, 17), ti[19]), (0, 3));
    assert_eq!(
        &ti[20..36],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]
    );
    assert_eq!(ti[36], 24);
    assert_eq!(&ti[49..53], &[192, 0, 2, 1]);
    assert_eq!(le16(ti, 54), 300);
    assert_eq!(&ti[68..72], &[192, 0, 2, 53]);
    assert_eq!(&ti[84..88], &[192, 0, 2, 54]);
    assert_eq!(&ti[100..104], &[192, 0, 2, 2]);
    // SSNS 1.
    let s = 192;
    assert_eq!((t[s], le16(&t, s + 1), le16(&t, s + 3)), (4, 1, 0x31));
    assert_eq!((t[s + 5], le16(&t, s + 6), t[s + 8]), (3, 1, 1));
    let (a, alen) = (le32(&t, s + 10), le16(&t, s + 14));
    assert_eq!(
        (alen, &t[a + 12..a + 16]),
        (16, [192u8, 0, 2, 20].as_slice())
    );
    let (p, plen) = (le32(&t, s + 16), le16(&t, s + 20));
    assert_eq!(&t[p..=p + plen], b"4420\0");
    assert_eq!((le16(&t, s + 22), le32(&t, s + 24), t[s + 28]), (1, 12, 2));
    assert_eq!(&t[s + 29..s + 33], b"nbft");
    assert_eq!((t[s + 45], t[s + 46]), (0, 1));
    let (h, hlen) = (le32(&t, s + 48), le16(&t, s + 52));
    assert_eq!(&t[h..h + hlen], &[1]);
    let (x, xlen) = (le32(&t, s + 60), le16(&t, s + 64));
    assert_eq!(xlen, 18);
    assert_eq!((t[x], t[x + 1], le16(&t, x + 2)), (9, 1, 1));
    assert_eq!(
        (le32(&t, x + 4), le16(&t, x + 8), le16(&t, x + 10)),
        (3, 3, 32)
    );
    // Discovery 1.
    let d = 448;
    assert_eq!(&t[d..d + 5], &[6, 1, 1, 1, 0]);
    let (u, ulen) = (le32(&t, d + 6), le16(&t, d + 10));
    assert_eq!(&t[u..=u + ulen], b"nvme+tcp://192.0.2.30:8009/\0");
    assert_eq!(le16(&t, d + 16), 0);
}

#[test]
fn every_sample_round_trips_through_the_builder() {
    for (name, spec) in samples() {
        let t = spec.build();
        let p = parse(name, &t).unwrap();
        assert_eq!(p.problems, vec![], "{name}");
        let again = TableSpec::from_table(&p.table).build();
        assert_eq!(again, t, "{name}");
    }
}

#[test]
fn empty_input_is_an_error() {
    let e = parse("NBFT", &[]).unwrap_err();
    assert_eq!(e.offset, 0);
    assert_eq!(
        e.to_string(),
        "NBFT: offset 0x0: table truncated: 0 bytes, shorter than its header and control \
         descriptor (128 bytes)"
    );
}

#[test]
fn garbage_is_an_error() {
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..256)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    let e = parse("NBFT", &garbage).unwrap_err();
    assert_eq!(e.offset, 0, "{e}");
    assert!(e.message.starts_with("signature"), "{e}");
    // Garbage behind a correct signature: refused at the length or the checksum.
    let mut g = garbage.clone();
    g[..4].copy_from_slice(b"NBFT");
    let e = parse("NBFT", &g).unwrap_err();
    assert_eq!(e.offset, 4, "{e}");
    g[4..8].copy_from_slice(&256u32.to_le_bytes());
    g[9] = 0;
    let sum = g.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    g[9] = 1u8.wrapping_sub(sum); // sums to 1
    let e = parse("NBFT", &g).unwrap_err();
    assert_eq!(e.offset, 9, "{e}");
    assert_eq!(
        e.message,
        "bad checksum: the table's bytes sum to 0x01, not 0"
    );
}

#[test]
fn truncated_table_names_the_offset() {
    let t = sample("boot").build();
    let e = parse("NBFT", &t[..300]).unwrap_err();
    assert_eq!(e.offset, 4);
    assert_eq!(
        e.message,
        format!(
            "table truncated: header length {} exceeds the 300 bytes present",
            t.len()
        )
    );
    let e = parse("NBFT", &t[..100]).unwrap_err();
    assert_eq!((e.offset, e.message.contains("100 bytes")), (100, true));
    // Bytes after the header's length are not part of the table.
    let mut longer = t.clone();
    longer.extend_from_slice(b"trailing");
    assert_eq!(ok(&longer), ok(&t));
}

#[test]
fn whole_table_checks_name_their_field() {
    let t = sample("boot").build();
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        (
            "checksum",
            {
                let mut b = t.clone();
                b[100] ^= 0x40;
                b
            },
            9,
        ),
        ("signature", patched(t.clone(), |b| b[3] = b'X'), 0),
        (
            "header length below 128",
            patched(t.clone(), |b| {
                b[4..8].copy_from_slice(&100u32.to_le_bytes())
            }),
            4,
        ),
        ("major revision", patched(t.clone(), |b| b[8] = 2), 8),
        ("minor revision", patched(t.clone(), |b| b[50] = 2), 50),
        (
            "heap beyond the table",
            patched(t.clone(), |b| {
                let len = u32::try_from(b.len()).unwrap();
                b[40..44].copy_from_slice(&len.to_le_bytes());
            }),
            36,
        ),
        ("control ID", patched(t.clone(), |b| b[64] = 5), 64),
        ("control invalid", patched(t.clone(), |b| b[70] = 0), 70),
        (
            "host before the control end",
            patched(t.clone(), |b| b[72] = 64),
            72,
        ),
        (
            "host beyond the table",
            patched(t.clone(), |b| {
                let at = u32::try_from(b.len() - 16).unwrap();
                b[72..76].copy_from_slice(&at.to_le_bytes());
            }),
            72,
        ),
        ("host ID", patched(t.clone(), |b| b[128] = 3), 128),
        ("host invalid", patched(t.clone(), |b| b[129] &= !1), 129),
    ];
    for (what, bytes, offset) in cases {
        let e = parse("NBFT1", &bytes).unwrap_err();
        assert_eq!(e.offset, offset, "{what}: {e}");
        assert_eq!(e.table, "NBFT1", "{what}");
    }
}

#[test]
fn minor_revision_1_is_accepted_and_2_refused() {
    let mut spec = sample("boot");
    spec.minor = 1;
    assert_eq!(ok(&spec.build()).table.minor, 1);
    spec.minor = 2;
    let e = parse("NBFT", &spec.build()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "NBFT: offset 0x32: unsupported minor revision 2 (0 or 1 expected)"
    );
}

#[test]
fn out_of_range_heap_reference_drops_only_that_field_or_descriptor() {
    let t = sample("boot").build();
    // Host NQN length running past the heap: the NQN is dropped, the rest is used.
    let b = patched(t.clone(), |b| {
        b[150..152].copy_from_slice(&0xfff0u16.to_le_bytes())
    });
    let p = ok(&b);
    assert_eq!(p.table.host.nqn, None);
    assert_eq!(p.table.hfis.len(), 1);
    assert_eq!(p.table.subsystems.len(), 2);
    assert_eq!(offsets(&p), vec![146]);
    assert!(p.problems[0]
        .message
        .starts_with("host NQN: heap object 0x1e0+65520 is outside the heap 0x1e0.."));
    // SSNS 2's NQN pointing into the header: SSNS 2 is dropped, SSNS 1 kept.
    let s2 = desc(&t, SSNS, 1);
    let b = patched(t.clone(), |b| {
        b[s2 + 54..s2 + 58].copy_from_slice(&8u32.to_le_bytes())
    });
    let p = ok(&b);
    assert_eq!(ssns_indexes(&p), vec![1]);
    assert_eq!(offsets(&p), vec![s2 + 54]);
    assert_eq!(
        p.problems[0].to_string(),
        format!(
            "NBFT: offset {:#x}: SSNS 2 subsystem NQN (descriptor dropped): heap object \
             0x8+38 is outside the heap 0x1e0..{:#x}",
            s2 + 54,
            t.len()
        )
    );
    // The HFI host name (an optional field) out of range: only the name is dropped.
    let mut spec = sample("boot");
    spec.hfis[0].host_name = Some("client".into());
    let t = spec.build();
    let ti = le32(&t, desc(&t, HFI, 0) + 16);
    let b = patched(t, |b| {
        b[ti + 104..ti + 108].copy_from_slice(&0u32.to_le_bytes())
    });
    let p = ok(&b);
    assert_eq!(offsets(&p), vec![ti + 104]);
    assert_eq!(
        (p.table.hfis.len(), p.table.hfis[0].host_name.as_deref()),
        (1, None)
    );
}

#[test]
fn strings_need_a_nul_within_or_right_after_their_length() {
    let t = sample("boot").build();
    // Length including the NUL: same value, no problem.
    let b = patched(t.clone(), |b| b[150] = 41);
    assert_eq!(ok(&b), ok(&t));
    // A NUL inside the object: the string ends there.
    let b = patched(t.clone(), |b| b[480 + 3] = 0);
    assert_eq!(ok(&b).table.host.nqn.as_deref(), Some("nqn"));
    // No terminator: dropped with a problem.
    let b = patched(t.clone(), |b| b[520] = b'x');
    let p = ok(&b);
    assert_eq!(p.table.host.nqn, None);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(
        p.problems[0].to_string(),
        "NBFT: offset 0x92: host NQN: string is not NUL-terminated"
    );
    // The terminator right after the object but outside the heap: the discovery URI is the
    // last heap object, its NUL the heap's last byte; a heap one byte shorter drops it.
    let d = desc(&t, DISC, 0);
    let (u, ulen) = (le32(&t, d + 6), le16(&t, d + 10));
    assert_eq!(u + ulen + 1, t.len());
    let heap_len = u32::try_from(t.len() - 480 - 1).unwrap();
    let p = ok(&patched(t.clone(), |b| {
        b[40..44].copy_from_slice(&heap_len.to_le_bytes());
    }));
    assert_eq!(p.table.discovery, vec![]);
    let (s1, s2) = (desc(&t, SSNS, 0), desc(&t, SSNS, 1));
    assert_eq!(offsets(&p), vec![d + 6, s1 + 8, s2 + 8]);
    assert_eq!(
        p.problems[0].message,
        "discovery 1 URI (descriptor dropped): string is not NUL-terminated"
    );
    // Not UTF-8: dropped.
    let b = patched(t, |b| b[481] = 0xff);
    let p = ok(&b);
    assert_eq!(p.table.host.nqn, None);
    assert!(p.problems[0].message.ends_with("not UTF-8"));
}

#[test]
fn two_tables_are_parsed_independently() {
    let first = sample("boot").build();
    let second = sample("ipv6-security").build();
    let a = parse("NBFT", &first).unwrap();
    let b = parse("NBFT1", &second).unwrap();
    assert_eq!(
        (a.table.name.as_str(), b.table.name.as_str()),
        ("NBFT", "NBFT1")
    );
    assert_eq!(a.table.hfis[0].ip, v4(192, 0, 2, 10));
    assert_eq!(b.table.hfis[0].vlan, 100);
    assert_eq!((a.table.subsystems.len(), b.table.subsystems.len()), (2, 1));
    // A broken second table does not affect the first.
    let mut broken = second.clone();
    broken[20] ^= 1;
    let e = parse("NBFT1", &broken).unwrap_err();
    assert_eq!((e.table.as_str(), e.offset), ("NBFT1", 9));
    assert_eq!(parse("NBFT", &first).unwrap(), a);
}

#[test]
fn discovery_descriptor_without_nqn_means_the_well_known_nqn() {
    let boot = ok(&sample("boot").build());
    assert_eq!(boot.table.discovery[0].nqn, None);
    assert_eq!(
        boot.table.discovery[0].subsysnqn(),
        "nqn.2014-08.org.nvmexpress.discovery"
    );
    let v6 = ok(&sample("ipv6-security").build());
    assert_eq!(
        v6.table.discovery[0].nqn.as_deref(),
        Some("nqn.2014-08.org.example:discovery.cdc")
    );
    assert_eq!(
        v6.table.discovery[0].subsysnqn(),
        "nqn.2014-08.org.example:discovery.cdc"
    );
}

#[test]
fn ipv6_hfi_and_security_descriptor() {
    let t = sample("ipv6-security").build();
    let p = ok(&t);
    assert_eq!(p.problems, vec![]);
    let n = &p.table;
    assert_eq!(n.minor, 1);
    assert_eq!(n.host.primary_admin, PrimaryAdmin::Selected);
    let fd = |last| {
        Some(IpAddr::V6(Ipv6Addr::new(
            0xfd00, 0xdb8, 0, 7, 0, 0, 0, last,
        )))
    };
    let h = &n.hfis[0];
    assert_eq!(
        (h.ip, h.prefix, h.vlan, h.gateway),
        (fd(0x10), 64, 100, fd(1))
    );
    assert_eq!((h.dhcp_server, h.primary_dns), (None, None));
    assert_eq!(h.host_name.as_deref(), Some("boot-client"));
    assert_eq!(
        n.security,
        vec![Security {
            index: 1,
            flags: 1,
            secret_type: 2,
            secret_path: Some("https://bmc.example/redfish/v1/KeyService/NVMeoFSecrets/1".into()),
        }]
    );
    let s = &n.subsystems[0];
    assert_eq!(
        (s.traddr.as_str(), s.security),
        ("fd00:db8:0:7::20", Some(1))
    );
    assert_eq!(s.flags, 0x1 | 0x4 | 0x8 | 0x10);
    assert_eq!(
        s.extended,
        Some(SsnsExtInfo {
            controller_id: 0,
            asqsz: None,
            dhcp_root_path: Some("nvme+tcp://[fd00:db8:0:7::20]:4420/".into()),
        })
    );
    assert_eq!(n.discovery[0].security, Some(1));
    assert_eq!(
        n.discovery[0].address().map(|a| a.traddr),
        Some("fd00:db8:0:7::30".to_owned())
    );
    // The security descriptor invalid: it and both descriptors that use it are dropped.
    let sec = desc(&t, SEC, 0);
    let p = ok(&patched(t.clone(), |b| b[sec + 2] = 0));
    assert_eq!(p.table.security, vec![]);
    assert_eq!(p.table.discovery, vec![]);
    assert_eq!(p.table.subsystems, vec![]);
    assert_eq!(p.table.hfis.len(), 1);
    let d = desc(&t, DISC, 0);
    let s = desc(&t, SSNS, 0);
    assert_eq!(offsets(&p), vec![sec + 2, d + 4, s + 45]);
    assert_eq!(
        p.problems[0].message,
        "security descriptor valid flag clear; dropped"
    );
}

#[test]
fn valid_flag_clear_drops_the_descriptor() {
    let t = sample("boot").build();
    let s1 = desc(&t, SSNS, 0);
    let p = ok(&patched(t.clone(), |b| b[s1 + 3] &= !1));
    assert_eq!(ssns_indexes(&p), vec![2]);
    assert_eq!(offsets(&p), vec![s1 + 3]);
    assert_eq!(
        p.problems[0].message,
        "SSNS descriptor valid flag clear; dropped"
    );
    // The discovery descriptor invalid: dropped, and the SSNS lose their reference to it.
    let d = desc(&t, DISC, 0);
    let p = ok(&patched(t.clone(), |b| b[d + 1] = 0));
    assert_eq!(p.table.discovery, vec![]);
    assert!(p.table.subsystems.iter().all(|s| s.discovery.is_none()));
    assert_eq!(offsets(&p), vec![d + 1, s1 + 8, desc(&t, SSNS, 1) + 8]);
    // The HFI invalid: dropped; the discovery descriptor loses its HFI; the SSNS, whose
    // primary HFI it was, are dropped.
    let m = sample("multipath").build();
    let h1 = desc(&m, HFI, 0);
    let p = ok(&patched(m.clone(), |b| b[h1 + 2] = 0));
    assert_eq!(hfi_indexes(&p), vec![2]);
    assert_eq!(p.table.subsystems, vec![]);
    assert_eq!(offsets(&p), vec![h1 + 2, desc(&m, SSNS, 0) + 46]);
    // The HFI transport info invalid: the HFI is dropped.
    let ti = le32(&m, h1 + 16);
    let p = ok(&patched(m, |b| b[ti + 6] = 0));
    assert_eq!(offsets(&p)[0], ti);
    assert!(p.problems[0].message.ends_with("valid flag clear"));
}

#[test]
fn hfi_transport_info_index_must_match() {
    let t = sample("multipath").build();
    let h2 = desc(&t, HFI, 1);
    let ti = le32(&t, h2 + 16);
    let p = ok(&patched(t, |b| b[ti + 4] = 1));
    assert_eq!(hfi_indexes(&p), vec![1]);
    assert_eq!(
        p.problems[0].message,
        "HFI 2 transport info (HFI dropped): HFI index 1 does not match"
    );
    // The SSNS keeps HFI 1 and loses its secondary HFI 2.
    assert_eq!(p.table.subsystems[0].secondary_hfis, Vec::<u8>::new());
    assert_eq!(p.problems.len(), 2);
}

#[test]
fn non_tcp_transports_are_dropped() {
    let t = sample("multipath").build();
    let s = desc(&t, SSNS, 0);
    let p = ok(&patched(t.clone(), |b| b[s + 5] = 1));
    assert_eq!(p.table.subsystems, vec![]);
    assert_eq!(
        p.problems[0].message,
        "SSNS 1: transport type 1 is not tcp (3); dropped"
    );
    let h = desc(&t, HFI, 1);
    let p = ok(&patched(t, |b| b[h + 3] = 2));
    assert_eq!(p.table.hfis.len(), 1);
    assert_eq!(offsets(&p)[0], h + 3);
}

#[test]
fn references_to_missing_descriptors() {
    let mut spec = sample("boot");
    spec.discovery[0].hfi = Some(9);
    spec.subsystems[0].secondary_hfis = vec![1, 0, 9, 0];
    spec.subsystems[1].primary_hfi = Some(7);
    spec.subsystems[1].discovery = Some(3);
    let t = spec.build();
    let p = ok(&t);
    assert_eq!(p.table.discovery[0].hfi, None);
    assert_eq!(p.table.subsystems.len(), 1);
    assert_eq!(p.table.subsystems[0].secondary_hfis, Vec::<u8>::new());
    let (d, s1, s2) = (desc(&t, DISC, 0), desc(&t, SSNS, 0), desc(&t, SSNS, 1));
    assert_eq!(offsets(&p), vec![d + 3, s1 + 48, s2 + 46]);
    assert_eq!(
        p.problems[1].message,
        "SSNS 1: secondary HFI 9 does not exist; left out"
    );
    // A discovery index that does not exist only clears that field.
    let mut spec = sample("boot");
    spec.subsystems[0].discovery = Some(3);
    let p = ok(&spec.build());
    assert_eq!(p.table.subsystems[0].discovery, None);
    assert_eq!(p.table.subsystems.len(), 2);
    assert_eq!(p.problems.len(), 1);
    // A primary HFI of 0 is "none": kept, no problem.
    let mut spec = sample("boot");
    spec.subsystems[0].primary_hfi = None;
    let p = ok(&spec.build());
    assert_eq!(
        (p.table.subsystems[0].primary_hfi, p.problems.len()),
        (None, 0)
    );
}

#[test]
fn secondary_hfis_drop_zero_duplicates_and_the_primary() {
    let mut spec = sample("multipath");
    let mut c = Hfi::new(3, [2, 0, 0, 0, 0, 0x0c], "192.0.2.99".parse().unwrap(), 24);
    c.route_metric = 5;
    spec.hfis.push(c);
    spec.subsystems[0].secondary_hfis = vec![3, 1, 0, 2, 3, 2];
    let p = ok(&spec.build());
    assert_eq!(p.problems, vec![]);
    assert_eq!(p.table.subsystems[0].secondary_hfis, vec![3, 2]);
    assert_eq!(
        p.table.subsystems[0].hfi_indexes().collect::<Vec<_>>(),
        vec![1, 3, 2]
    );
    let s = &p.table.subsystems[0];
    assert_eq!(
        (s.hdr_digest, s.data_digest, s.non_bootable, s.unavailable),
        (true, true, true, true)
    );
    assert_eq!(s.flags, 0x1 | 0x2 | 0x100);
}

#[test]
fn zero_and_duplicate_indexes_are_dropped() {
    let mut spec = sample("boot");
    let mut dup = spec.subsystems[0].clone();
    dup.traddr = "192.0.2.99".into();
    spec.subsystems.push(dup);
    let mut zero = Discovery::new(0, "nvme+tcp://192.0.2.31/");
    zero.nqn = Some("nqn.x".into());
    spec.discovery.push(zero);
    let t = spec.build();
    let p = ok(&t);
    assert_eq!(p.table.subsystems.len(), 2);
    assert_eq!(p.table.subsystems[0].traddr, "192.0.2.20");
    assert_eq!(p.table.discovery.len(), 1);
    assert_eq!(
        offsets(&p),
        vec![desc(&t, DISC, 1) + 2, desc(&t, SSNS, 2) + 1]
    );
    assert_eq!(
        p.problems[1].message,
        "SSNS 1: index already used by an earlier descriptor; dropped"
    );
}

#[test]
fn descriptor_lists_outside_the_table() {
    let t = sample("boot").build();
    // Two SSNS announced with an entry length that runs the second past the end.
    let p = ok(&patched(t.clone(), |b| {
        let len = u16::try_from(b.len()).unwrap();
        b[92..94].copy_from_slice(&(len - 192 - 64).to_le_bytes());
    }));
    assert_eq!(p.table.subsystems.len(), 1);
    assert_eq!(offsets(&p), vec![88]);
    // An entry length below the structure size drops the list.
    let p = ok(&patched(t.clone(), |b| b[84] = 16));
    assert_eq!(p.table.hfis, vec![]);
    assert_eq!(offsets(&p)[0], 84);
    // A list offset inside the header is refused.
    let p = ok(&patched(t, |b| {
        b[104..108].copy_from_slice(&32u32.to_le_bytes())
    }));
    assert_eq!(p.table.discovery, vec![]);
    assert_eq!(offsets(&p)[0], 104);
}

#[test]
fn ssns_address_must_be_16_bytes() {
    let t = sample("boot").build();
    let s = desc(&t, SSNS, 0);
    let p = ok(&patched(t.clone(), |b| b[s + 14] = 4));
    assert_eq!(p.table.subsystems.len(), 1);
    assert_eq!(
        p.problems[0].message,
        "SSNS 1 transport address (descriptor dropped): 4 bytes, a 16-byte IP address expected"
    );
    let a = le32(&t, s + 10);
    let p = ok(&patched(t, |b| b[a..a + 16].fill(0)));
    assert_eq!(
        p.problems[0].message,
        "SSNS 1: no transport address; dropped"
    );
}

#[test]
fn problem_display_format() {
    let p = Problem {
        table: "NBFT2".into(),
        offset: 0xc0,
        message: "SSNS descriptor valid flag clear; dropped".into(),
    };
    assert_eq!(
        p.to_string(),
        "NBFT2: offset 0xc0: SSNS descriptor valid flag clear; dropped"
    );
}

#[test]
fn parse_uri_cases() {
    for (uri, traddr, trsvcid) in [
        ("nvme+tcp://192.0.2.1:8009/", "192.0.2.1", "8009"),
        ("nvme+tcp://192.0.2.1/", "192.0.2.1", "8009"),
        ("nvme+tcp://192.0.2.1:4420", "192.0.2.1", "4420"),
        ("nvme+tcp://[fe80::1]:8009/", "fe80::1", "8009"),
        ("nvme+tcp://[2001:db8::5]/", "2001:db8::5", "8009"),
        ("NVME+TCP://cdc.example:8010/", "cdc.example", "8010"),
    ] {
        let want = DcAddress {
            transport: "tcp".into(),
            traddr: traddr.into(),
            trsvcid: trsvcid.into(),
        };
        assert_eq!(parse_uri(uri), Some(want), "{uri:?}");
    }
    for bad in [
        "",
        "nvme+tcp://",
        "nvme+tcp:///",
        "nvme+rdma://192.0.2.1:4420/",
        "nvme://192.0.2.1/",
        "tcp://192.0.2.1/",
        "http://192.0.2.1/",
        "nvme+tcp//192.0.2.1/",
        "nvme+tcp://192.0.2.1:/",
        "nvme+tcp://192.0.2.1:0/",
        "nvme+tcp://192.0.2.1:65536/",
        "nvme+tcp://192.0.2.1:80a/",
        "nvme+tcp://192.0.2.1:8009/path",
        "nvme+tcp://192.0.2.1:8009/?q",
        "nvme+tcp://user@192.0.2.1/",
        "nvme+tcp://fe80::1/",
        "nvme+tcp://[fe80::1/",
        "nvme+tcp://[not-v6]:8009/",
        "nvme+tcp://[fe80::1]8009/",
        "nvme+tcp://a,b/",
    ] {
        assert_eq!(parse_uri(bad), None, "{bad:?}");
    }
}

#[test]
fn no_panic_on_any_truncation_or_byte_flip() {
    for (name, spec) in samples() {
        let t = spec.build();
        for n in 0..t.len() {
            // A prefix with the header length fixed up: every descriptor and heap check.
            let mut cut = t[..n].to_vec();
            if n >= 8 {
                cut[4..8].copy_from_slice(&u32::try_from(n).unwrap().to_le_bytes());
                fix_checksum(&mut cut);
            }
            if let Ok(p) = parse(name, &cut) {
                assert!(p.table.strings().iter().all(|s| !s.contains('\0')));
            }
        }
        for i in 0..t.len() {
            for bit in [0x01u8, 0x80, 0xff] {
                let b = patched(t.clone(), |b| b[i] ^= bit);
                if let Ok(p) = parse(name, &b) {
                    assert!(p.table.strings().iter().all(|s| !s.contains('\0')));
                    let again = TableSpec::from_table(&p.table).build();
                    assert_eq!(parse(name, &again).unwrap().table, p.table, "{name} {i}");
                }
            }
        }
    }
}

#[test]
fn dhcp_server_is_read_only_with_the_override_flag() {
    let mut spec = sample("boot");
    spec.hfis[0].dhcp_override = false;
    spec.hfis[0].global_route = false;
    let t = spec.build();
    let ti = le32(&t, desc(&t, HFI, 0) + 16);
    assert_eq!(
        (t[ti + 6], &t[ti + 100..ti + 104]),
        (1, [192u8, 0, 2, 2].as_slice())
    );
    let h = &ok(&t).table.hfis[0];
    assert_eq!(
        (h.dhcp_server, h.dhcp_override, h.global_route),
        (None, false, false)
    );
    assert_eq!(h.gateway, v4(192, 0, 2, 1));
}
