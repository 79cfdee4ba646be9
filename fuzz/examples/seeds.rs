//! Writes the seed inputs of each fuzz target into `fuzz/corpus/<target>/seed-<name>`:
//! well-formed inputs made with libstas's own encoders (discovery log pages, DIM payloads)
//! and hand-written kernel text, so the fuzzer starts past the length and header checks.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds [DIR]` (from the repository
//! root; an ordinary, uninstrumented build; DIR defaults to `fuzz/corpus`). `tools/fuzz` then
//! merges the seeds into the corpus.

use std::fs;
use std::path::{Path, PathBuf};

use libstas::proto::consts::{adrfam, eflags, subtype, treq, trtype};
use libstas::proto::dim::{decode_dim, encode_dim, DimRequest};
use libstas::proto::dlp::{encode_log, parse_log, LogEntry, Tsas};
use libstas::proto::nbft;
use stas_cdc::fuzz::host;
use stas_cdc::session::{Event, Output};

/// One discovery log entry: transport, address family, subsystem type, traddr, trsvcid,
/// subnqn and tsas; the other fields are typical values.
type Entry = (u8, u8, u8, &'static str, &'static str, &'static str, Tsas);

fn entry(&(trtype_v, adrfam_v, subtype_v, traddr, trsvcid, subnqn, tsas): &Entry) -> LogEntry {
    LogEntry {
        trtype: trtype_v,
        adrfam: adrfam_v,
        subtype: subtype_v,
        treq: treq::NOT_SPECIFIED,
        portid: 1,
        cntlid: 0xffff,
        asqsz: 32,
        eflags: 0,
        trsvcid: trsvcid.into(),
        subnqn: subnqn.into(),
        traddr: traddr.into(),
        tsas,
    }
}

fn dlp_seeds() -> Vec<(&'static str, Vec<u8>)> {
    const DISC: &str = "nqn.2014-08.org.nvmexpress.discovery";
    const NO_TLS: Tsas = Tsas::Tcp { sectype: 0 };
    let table: [Entry; 7] = [
        (
            trtype::TCP,
            adrfam::IP4,
            subtype::NVME,
            "192.0.2.10",
            "4420",
            "nqn.2024-01.io.example:sub1",
            NO_TLS,
        ),
        (
            trtype::TCP,
            adrfam::IP6,
            subtype::NVME,
            "2001:db8::10",
            "4420",
            "nqn.2024-01.io.example:sub2",
            Tsas::Tcp { sectype: 2 },
        ),
        (
            trtype::TCP,
            adrfam::IP4,
            subtype::CURRENT_DISCOVERY,
            "192.0.2.1",
            "8009",
            DISC,
            NO_TLS,
        ),
        (
            trtype::TCP,
            adrfam::IP4,
            subtype::REFERRAL,
            "192.0.2.2",
            "8009",
            DISC,
            Tsas::Tcp { sectype: 1 },
        ),
        (
            trtype::RDMA,
            adrfam::IP4,
            subtype::NVME,
            "198.51.100.7",
            "4420",
            "nqn.2024-01.io.example:rdma",
            Tsas::Rdma {
                qptype: 1,
                prtype: 4,
                cms: 1,
                pkey: 0xffff,
            },
        ),
        (
            trtype::FC,
            adrfam::FC,
            subtype::NVME,
            "nn-0x2000000000000001:pn-0x1000000000000001",
            "none",
            "nqn.2024-01.io.example:fc",
            Tsas::Other,
        ),
        // A placeholder entry (traddr 0.0.0.0), counted but not kept.
        (
            trtype::TCP,
            adrfam::IP4,
            subtype::NVME,
            "0.0.0.0",
            "4420",
            "nqn.2024-01.io.example:sub3",
            NO_TLS,
        ),
    ];
    let [tcp, mut tls, mut cdc, referral, rdma, fc, placeholder] = table.each_ref().map(entry);
    tls.treq = treq::REQUIRED | treq::DISABLE_SQFLOW;
    cdc.eflags = eflags::DUPRETINFO | eflags::EPCSD | eflags::NCC;
    vec![
        ("empty", encode_log(1, &[])),
        ("tcp", encode_log(2, &[tcp.clone()])),
        ("tcp-tls-ip6-cdc", encode_log(3, &[tls, cdc])),
        ("referral-rdma-fc", encode_log(4, &[referral, rdma, fc])),
        ("placeholder", encode_log(5, &[placeholder, tcp])),
    ]
}

fn dim_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let req = DimRequest {
        host_nqn: "nqn.2014-08.org.nvmexpress:uuid:8ae2b12c-3d28-4458-83e3-658e571ed4b8",
        host_id: "8ae2b12c-3d28-4458-83e3-658e571ed4b8",
        entity_name: "host1",
        entity_version: "Linux 6.1.0 Debian 12",
        symname: None,
        adrfam: adrfam::IP4,
    };
    let named = DimRequest {
        symname: Some("rack 4, slot 2"),
        adrfam: adrfam::IP6,
        ..req.clone()
    };
    vec![
        ("plain", encode_dim(&req).expect("valid DIM request")),
        (
            "symname-ip6",
            encode_dim(&named).expect("valid DIM request"),
        ),
    ]
}

fn text_seeds(target: &str) -> Vec<(&'static str, Vec<u8>)> {
    let text: &[(&'static str, &str)] = match target {
        "fabrics_reply" => &[
            ("connect", "instance=3,cntlid=1\n"),
            (
                "options",
                "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,\
                 hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,\
                 disable_sqflow,hdr_digest,data_digest,tos=%d,discovery,tls\n",
            ),
            (
                "option-string",
                "transport=tcp,traddr=192.0.2.1,trsvcid=8009,nqn=nqn.x,discovery",
            ),
        ],
        "uevent" => &[
            (
                "aen",
                "change@/devices/virtual/nvme-fabrics/ctl/nvme2\0ACTION=change\0\
                 DEVPATH=/devices/virtual/nvme-fabrics/ctl/nvme2\0SUBSYSTEM=nvme\0\
                 NVME_AEN=0x70f002\0MAJOR=238\0MINOR=2\0DEVNAME=nvme2\0SEQNUM=4711\0",
            ),
            (
                "add",
                "add@/devices/virtual/nvme-fabrics/ctl/nvme0\0ACTION=add\0\
                 DEVPATH=/devices/virtual/nvme-fabrics/ctl/nvme0\0SUBSYSTEM=nvme\0\
                 DEVNAME=nvme0\0SEQNUM=12\0",
            ),
            (
                "connected",
                "change@/devices/virtual/nvme-fabrics/ctl/nvme1\0ACTION=change\0\
                 DEVPATH=/devices/virtual/nvme-fabrics/ctl/nvme1\0SUBSYSTEM=nvme\0\
                 NVME_EVENT=connected\0NVME_TRTYPE=tcp\0NVME_TRADDR=192.0.2.1\0\
                 NVME_TRSVCID=8009\0NVME_HOST_TRADDR=none\0NVME_HOST_IFACE=eth0\0SEQNUM=13\0",
            ),
            (
                "remove",
                "remove@/devices/virtual/nvme-fabrics/ctl/nvme1\0ACTION=remove\0\
                 DEVPATH=/devices/virtual/nvme-fabrics/ctl/nvme1\0SUBSYSTEM=nvme\0SEQNUM=14\0",
            ),
            ("libudev", "libudev\0\u{1}\u{2}\u{3}"),
        ],
        "sysfs_address" => &[
            (
                "tcp",
                "traddr=192.0.2.1,trsvcid=4420,src_addr=192.0.2.100\n",
            ),
            (
                "all",
                "traddr=fe80::1%eth0,trsvcid=8009,host_traddr=fe80::2,host_iface=eth0,\
                 src_addr=fe80::2%eth0\n",
            ),
            ("pcie", "0000:01:00.0\n"),
            ("none", "traddr=192.0.2.1,trsvcid=none,host_iface=none\n"),
        ],
        _ => &[],
    };
    text.iter()
        .map(|(n, s)| (*n, s.as_bytes().to_vec()))
        .collect()
}

/// libstas's sample NBFTs (built by its fixture builder).
fn nbft_seeds() -> Vec<(&'static str, Vec<u8>)> {
    nbft::build::samples()
        .into_iter()
        .map(|(name, spec)| (name, spec.build()))
        .collect()
}

/// stas-cdc session inputs: a mode byte (odd: after a generated ICReq and Connect; the high
/// nibble: how many read sizes follow), then what a Linux host sends on a discovery
/// connection: Identify, Get Log Page (Supported Log Pages, the discovery log with PLEO),
/// Set Features, an AER, Keep Alive and a DIM registration.
fn cdc_session_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let read = |opcode, cid, cdw10: u32, len| {
        let mut sqe = host::sqe(opcode, cid, &[cdw10]);
        host::sgl(&mut sqe, len, false);
        host::capsule(&sqe, &[])
    };
    let dim = encode_dim(&DimRequest {
        host_nqn: "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001",
        host_id: "00000000-0000-0000-0000-000000000001",
        entity_name: "host",
        entity_version: "Linux 6.1",
        symname: Some("rack7"),
        adrfam: adrfam::IP4,
    })
    .expect("DIM seed encodes");
    let mut dim_sqe = host::sqe(0x21, 7, &[0]);
    host::sgl(&mut dim_sqe, dim.len(), true);
    let mut admin = vec![0x01];
    admin.extend(read(0x06, 2, 1, 4096));
    admin.extend(read(0x02, 3, 0x00FF_0000, 1024));
    admin.extend(read(0x02, 4, 0x00FF_0270, 1024));
    admin.extend(host::capsule(&host::sqe(0x09, 5, &[0x0B, 1 << 31]), &[]));
    admin.extend(host::capsule(&host::sqe(0x0C, 6, &[]), &[]));
    admin.extend(host::capsule(&dim_sqe, &dim));
    admin.extend(host::capsule(&host::sqe(0x18, 8, &[]), &[]));
    let mut cut = vec![0x30, 1, 9, 16];
    cut.extend(host::hello());
    cut.extend(read(0x02, 2, 0x00FF_8070, 1024));
    vec![("admin", admin), ("cut-reads", cut)]
}

fn main() -> std::io::Result<()> {
    // The corpus directory: fuzz/corpus unless given.
    let root = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let targets = [
        "dlp",
        "fabrics_reply",
        "uevent",
        "sysfs_address",
        "dim",
        "nbft",
        "cdc_session",
    ];
    for target in targets {
        let seeds = match target {
            "dlp" => dlp_seeds(),
            "dim" => dim_seeds(),
            "nbft" => nbft_seeds(),
            "cdc_session" => cdc_session_seeds(),
            t => text_seeds(t),
        };
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            // A seed the parser rejects outright would only test the error path.
            match target {
                "dlp" => {
                    let log = parse_log(&bytes, 64).expect("seed page parses");
                    assert!(
                        name == "empty" || !log.entries.is_empty(),
                        "{name}: no entry kept"
                    );
                }
                "dim" => assert!(decode_dim(&bytes).is_some(), "{name}: DIM seed decodes"),
                "nbft" => assert!(
                    nbft::parse(name, &bytes).is_ok(),
                    "{name}: NBFT seed parses"
                ),
                "cdc_session" => {
                    let out = stas_cdc::fuzz::replay(&bytes);
                    let bad = out.iter().find(|o| {
                        matches!(
                            o,
                            Output::Close { .. } | Output::Event(Event::ProtocolError { .. })
                        )
                    });
                    assert!(bad.is_none(), "{name}: {bad:?}");
                }
                _ => {}
            }
            let path = dir.join(format!("seed-{name}"));
            fs::write(&path, bytes)?;
            println!("{} ({} bytes)", path.display(), fs::metadata(&path)?.len());
        }
    }
    Ok(())
}
