//! Sessions driven with PDUs built here as the Linux host (6.1) builds them, and the answers
//! decoded here (digests checked) independently of the encoder.

use std::cell::RefCell;
use std::sync::Arc;

use super::*;
use crate::pdu::{crc32c, le16, le32, le64};

const NQN: &str = "nqn.2024-01.io.example.stas:cdc";
const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:f8b4b5b0-6f5a-4b0e-9e5c-0123456789ab";
const CNTLID: u16 = 7;

fn controller() -> Controller {
    Controller {
        nqn: NQN.into(),
        dctype: DcType::Cdc,
        serial: "SN-0042".into(),
        model: "stas-cdc".into(),
        firmware: "0.1.0".into(),
        pleo: true,
        dim: true,
    }
}

/// A discovery log of a header and two entries; byte 0 (in genctr) is the LSP it answers.
struct TestCatalog {
    lsps: RefCell<Vec<u8>>,
}

const LOG_LEN: usize = 3 * 1024;

impl TestCatalog {
    fn new() -> Self {
        Self {
            lsps: RefCell::new(Vec::new()),
        }
    }
}

fn log_byte(i: usize) -> u8 {
    u8::try_from(i % 251).unwrap() | 1
}

impl Catalog for TestCatalog {
    fn discovery_log(&self, lsp: u8) -> Vec<u8> {
        self.lsps.borrow_mut().push(lsp);
        let mut log: Vec<u8> = (0..LOG_LEN).map(log_byte).collect();
        log[0] = lsp;
        log
    }
}

// ---- the host side --------------------------------------------------------------------

/// What the host asked for in its ICReq.
#[derive(Debug, Clone, Copy, Default)]
struct Host {
    hdgst: bool,
    ddgst: bool,
    hpda: u8,
}

impl Host {
    const DIGESTS: Self = Self {
        hdgst: true,
        ddgst: true,
        hpda: 0,
    };

    fn ic_req(self) -> Vec<u8> {
        let mut p = vec![0u8; 128];
        p[2] = 128;
        p[4..8].copy_from_slice(&128u32.to_le_bytes());
        p[10] = self.hpda;
        p[11] = u8::from(self.hdgst) | (u8::from(self.ddgst) << 1);
        p
    }

    /// A command capsule as nvme_tcp_setup_cmd_pdu builds it: pdo 0 without data.
    fn capsule(self, sqe: &[u8; 64], data: &[u8]) -> Vec<u8> {
        let hd = if self.hdgst { 4 } else { 0 };
        let dd = self.ddgst && !data.is_empty();
        let mut p = vec![0u8; 72];
        p[0] = 0x04;
        p[1] = u8::from(self.hdgst) | if dd { 0x02 } else { 0 };
        p[2] = 72;
        p[3] = if data.is_empty() { 0 } else { 72 + hd };
        let plen = 72 + u32::from(hd) + u32::try_from(data.len()).unwrap() + if dd { 4 } else { 0 };
        p[4..8].copy_from_slice(&plen.to_le_bytes());
        p[8..].copy_from_slice(sqe);
        if self.hdgst {
            let d = crc32c(&p);
            p.extend_from_slice(&d.to_le_bytes());
        }
        p.extend_from_slice(data);
        if dd {
            p.extend_from_slice(&crc32c(data).to_le_bytes());
        }
        p
    }
}

fn set16(s: &mut [u8; 64], off: usize, v: u16) {
    s[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn set32(s: &mut [u8; 64], off: usize, v: u32) {
    s[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set64(s: &mut [u8; 64], off: usize, v: u64) {
    s[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// An SQE with SGLs (flags 0x40) and no data (a null transport SGL).
fn sqe(opcode: u8, cid: u16) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[0] = opcode;
    s[1] = 0x40;
    set16(&mut s, 2, cid);
    s[39] = 0x5A;
    s
}

/// An SQE reading `len` bytes (a transport SGL).
fn sqe_read(opcode: u8, cid: u16, len: u32) -> [u8; 64] {
    let mut s = sqe(opcode, cid);
    set32(&mut s, 32, len);
    s
}

/// An SQE whose `len` bytes of data are in the capsule.
fn sqe_write(opcode: u8, cid: u16, len: usize) -> [u8; 64] {
    let mut s = sqe(opcode, cid);
    set32(&mut s, 32, u32::try_from(len).unwrap());
    s[39] = 0x01;
    s
}

fn fabrics(fctype: u8, cid: u16) -> [u8; 64] {
    let mut s = sqe(0x7F, cid);
    s[4] = fctype;
    s
}

fn connect_sqe(cid: u16, qid: u16, sqsize: u16, kato_ms: u32) -> [u8; 64] {
    let mut s = sqe_write(0x7F, cid, 1024);
    s[4] = 0x01;
    set16(&mut s, 42, qid);
    set16(&mut s, 44, sqsize);
    set32(&mut s, 48, kato_ms);
    s
}

fn connect_data(subnqn: &str, hostnqn: &str) -> Vec<u8> {
    let mut d = vec![0u8; 1024];
    d[..16].copy_from_slice(&[0x5A; 16]);
    d[16..18].copy_from_slice(&0xFFFFu16.to_le_bytes());
    d[256..256 + subnqn.len()].copy_from_slice(subnqn.as_bytes());
    d[512..512 + hostnqn.len()].copy_from_slice(hostnqn.as_bytes());
    d
}

fn property_get(cid: u16, offset: u32, eight: bool) -> [u8; 64] {
    let mut s = fabrics(0x04, cid);
    s[40] = u8::from(eight);
    set32(&mut s, 44, offset);
    s
}

fn property_set(cid: u16, offset: u32, value: u64) -> [u8; 64] {
    let mut s = fabrics(0x00, cid);
    set32(&mut s, 44, offset);
    set64(&mut s, 48, value);
    s
}

fn identify(cid: u16, cns: u8) -> [u8; 64] {
    let mut s = sqe_read(0x06, cid, 4096);
    s[40] = cns;
    s
}

fn get_log_page(cid: u16, lid: u8, lsp: u8, rae: bool, offset: u64, len: u32) -> [u8; 64] {
    let numd = len / 4 - 1;
    let mut s = sqe_read(0x02, cid, len);
    s[40] = lid;
    s[41] = lsp | if rae { 0x80 } else { 0 };
    set16(&mut s, 42, u16::try_from(numd & 0xFFFF).unwrap());
    set16(&mut s, 44, u16::try_from(numd >> 16).unwrap());
    set64(&mut s, 48, offset);
    s
}

fn features(opcode: u8, cid: u16, fid: u8, value: u32) -> [u8; 64] {
    let mut s = sqe(opcode, cid);
    s[40] = fid;
    set32(&mut s, 44, value);
    s
}

// ---- decoding what the controller sends --------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pdu {
    pdu_type: u8,
    flags: u8,
    hlen: u8,
    pdo: u8,
    plen: u32,
    header: Vec<u8>,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Completion {
    result: u64,
    sqhd: u16,
    sqid: u16,
    cid: u16,
    status: u16,
}

impl Pdu {
    fn cqe(&self) -> Completion {
        assert_eq!((self.pdu_type, self.hlen), (0x05, 24), "{self:?}");
        let h = &self.header;
        Completion {
            result: le64(h, 8),
            sqhd: le16(h, 16),
            sqid: le16(h, 18),
            cid: le16(h, 20),
            status: le16(h, 22) >> 1,
        }
    }
}

/// Splits `bytes` into PDUs, checking their framing and, after the IC exchange, that the
/// digests the host asked for are there and right.
fn parse(mut bytes: &[u8], host: Host) -> Vec<Pdu> {
    let mut pdus = Vec::new();
    while !bytes.is_empty() {
        let plen = le32(bytes, 4);
        let (pdu_type, flags, hlen, pdo) = (bytes[0], bytes[1], bytes[2], bytes[3]);
        let pdu = &bytes[..usize::try_from(plen).unwrap()];
        let hlen_ = usize::from(hlen);
        let mut end = pdu.len();
        let digests = !matches!(pdu_type, 0x01 | 0x03);
        if digests {
            assert_eq!(flags & 0x01 != 0, host.hdgst, "HDGSTF");
            if host.hdgst {
                assert_eq!(le32(pdu, hlen_), crc32c(&pdu[..hlen_]), "header digest");
            }
        }
        let mut data = Vec::new();
        if pdo != 0 {
            let has_ddgst = digests && host.ddgst;
            assert_eq!(flags & 0x02 != 0, has_ddgst, "DDGSTF");
            if has_ddgst {
                end -= 4;
                assert_eq!(
                    le32(pdu, end),
                    crc32c(&pdu[usize::from(pdo)..end]),
                    "data digest"
                );
            }
            data = pdu[usize::from(pdo)..end].to_vec();
        } else if pdu_type == 0x03 {
            data = pdu[hlen_..].to_vec();
        }
        pdus.push(Pdu {
            pdu_type,
            flags,
            hlen,
            pdo,
            plen,
            header: pdu[..hlen_].to_vec(),
            data,
        });
        bytes = &bytes[pdu.len()..];
    }
    pdus
}

/// A session, its catalog, and the host on the other end.
struct Rig {
    session: Session,
    catalog: TestCatalog,
    host: Host,
}

impl Rig {
    fn new(host: Host) -> Self {
        Self::with(controller(), host)
    }

    fn with(ctrl: Controller, host: Host) -> Self {
        Self {
            session: Session::new(Arc::new(ctrl), CNTLID),
            catalog: TestCatalog::new(),
            host,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Output> {
        self.session.receive(bytes, &self.catalog)
    }

    /// Sends a capsule; returns the PDUs and events it brought.
    fn exchange(&mut self, sqe: &[u8; 64], data: &[u8]) -> (Vec<Pdu>, Vec<Event>) {
        let bytes = self.host.capsule(sqe, data);
        let out = self.feed(&bytes);
        split(&out, self.host)
    }

    /// Sends a capsule expecting one response capsule only.
    fn command(&mut self, sqe: &[u8; 64], data: &[u8]) -> Completion {
        let (pdus, _) = self.exchange(sqe, data);
        assert_eq!(pdus.len(), 1, "{pdus:?}");
        pdus[0].cqe()
    }

    /// Sends a capsule expecting one C2HData and its response capsule.
    fn read(&mut self, sqe: &[u8; 64]) -> (Pdu, Completion) {
        let (pdus, _) = self.exchange(sqe, &[]);
        assert_eq!(pdus.len(), 2, "{pdus:?}");
        assert_eq!(pdus[0].pdu_type, 0x07);
        (pdus[0].clone(), pdus[1].cqe())
    }

    fn ic(&mut self) -> Vec<Output> {
        let ic = self.host.ic_req();
        self.feed(&ic)
    }

    fn connect(&mut self) -> Completion {
        self.command(&connect_sqe(1, 0, 31, 0), &connect_data(NQN, HOSTNQN))
    }

    /// ICReq, Connect, CC.EN as the Linux host does them.
    fn setup(host: Host) -> Self {
        let mut rig = Self::new(host);
        rig.ic();
        assert_eq!(rig.connect().status, 0);
        assert_eq!(
            rig.command(&property_set(2, 0x14, 0x0046_0001), &[]).status,
            0
        );
        rig
    }

    /// Enables the discovery log change notice.
    fn enable_aen(&mut self) {
        let c = self.command(&features(0x09, 9, 0x0B, AEN_DISC_CHANGE), &[]);
        assert_eq!((c.status, c.result), (0, u64::from(AEN_DISC_CHANGE)));
    }

    fn aer(&mut self, cid: u16) -> (Vec<Pdu>, Vec<Event>) {
        self.exchange(&sqe(0x0C, cid), &[])
    }

    fn log_changed(&mut self) -> Vec<Pdu> {
        let out = self.session.log_changed();
        split(&out, self.host).0
    }
}

fn split(out: &[Output], host: Host) -> (Vec<Pdu>, Vec<Event>) {
    let mut pdus = Vec::new();
    let mut events = Vec::new();
    for o in out {
        match o {
            Output::Send(b) => pdus.extend(parse(b, host)),
            Output::Event(e) => events.push(e.clone()),
            Output::Close { .. } => {}
        }
    }
    (pdus, events)
}

const DNR: u16 = 0x4000;

// ---- connection setup -------------------------------------------------------------------

#[test]
fn ic_exchange_without_digests() {
    let mut rig = Rig::new(Host::default());
    let out = rig.ic();
    assert_eq!(
        out[0],
        Output::Event(Event::IcReq {
            pfv: 0,
            hpda: 0,
            hdgst: false,
            ddgst: false,
            maxr2t: 0
        })
    );
    let Output::Send(p) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(out.len(), 2);
    assert_eq!(p.len(), 128);
    assert_eq!(&p[..4], &[0x01, 0, 128, 0]);
    assert_eq!(le32(p, 4), 128, "plen");
    assert_eq!((le16(p, 8), p[10], p[11]), (0, 0, 0), "pfv, cpda, digest");
    let maxh2cdata = le32(p, 12);
    assert!(maxh2cdata >= 4096 && maxh2cdata % 4 == 0);
}

#[test]
fn ic_exchange_with_digests_checks_them() {
    let mut rig = Rig::new(Host::DIGESTS);
    let out = rig.ic();
    let Output::Send(p) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(p[11], 0x03, "both digests echoed");
    assert_eq!(p.len(), 128, "no digest on ICResp");
    // parse() checks HDGSTF, DDGSTF and both digests on everything that follows.
    assert_eq!(rig.connect().status, 0);
    rig.command(&property_set(2, 0x14, 1), &[]);
    let (data, done) = rig.read(&identify(3, 1));
    assert_eq!(
        (data.flags, data.pdo, data.data.len()),
        (0x04 | 0x03, 28, 4096)
    );
    assert_eq!(done.status, 0);
}

#[test]
fn c2h_data_honours_the_host_alignment() {
    let mut rig = Rig::setup(Host {
        hdgst: true,
        ddgst: false,
        hpda: 1,
    });
    let (data, _) = rig.read(&identify(3, 1));
    assert_eq!((data.pdo, data.data.len()), (32, 4096));
}

#[test]
fn connect_admin_queue_returns_the_cntlid() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let (pdus, events) = rig.exchange(
        &connect_sqe(0x11, 0, 31, 120_000),
        &connect_data(NQN, HOSTNQN),
    );
    let c = pdus[0].cqe();
    assert_eq!(
        c,
        Completion {
            result: u64::from(CNTLID),
            sqhd: 1,
            sqid: 0,
            cid: 0x11,
            status: 0
        }
    );
    assert_eq!(
        events,
        [Event::Connect {
            qid: 0,
            sqsize: 31,
            kato_ms: 120_000,
            cntlid: 0xFFFF,
            host_id: [0x5A; 16],
            host_nqn: HOSTNQN.into(),
            subnqn: NQN.into(),
            accepted: true
        }]
    );
    assert!(rig.session.connected());
    let kato = rig.command(&features(0x0A, 2, 0x0F, 0), &[]);
    assert_eq!(kato.status, 0x4001, "admin commands wait for CC.EN");
}

#[test]
fn connect_to_the_well_known_nqn_is_accepted() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let c = rig.command(
        &connect_sqe(1, 0, 31, 0),
        &connect_data(WELL_KNOWN_NQN, HOSTNQN),
    );
    assert_eq!((c.status, c.result), (0, u64::from(CNTLID)));
}

#[test]
fn connect_to_another_subsystem_is_refused() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let other = connect_data("nqn.2024-01.io.example:other", HOSTNQN);
    let (pdus, events) = rig.exchange(&connect_sqe(1, 0, 31, 0), &other);
    let c = pdus[0].cqe();
    assert_eq!((c.status, c.result, c.sqhd), (0x182 | DNR, 0x0001_0100, 0));
    assert!(
        matches!(&events[0], Event::Connect { accepted: false, subnqn, .. } if subnqn.ends_with("other"))
    );
    assert!(!rig.session.connected());
    assert_eq!(rig.connect().status, 0, "a later Connect may succeed");
}

#[test]
fn connect_to_an_io_queue_is_refused() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let c = rig.command(&connect_sqe(1, 1, 127, 0), &connect_data(NQN, HOSTNQN));
    assert_eq!((c.status, c.result), (0x182 | DNR, 42));
    assert!(!rig.session.connected());
}

#[test]
fn connect_parameter_checks() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let mut static_cntlid = connect_data(NQN, HOSTNQN);
    static_cntlid[16..18].copy_from_slice(&3u16.to_le_bytes());
    let c = rig.command(&connect_sqe(1, 0, 31, 0), &static_cntlid);
    assert_eq!((c.status, c.result), (0x182 | DNR, 0x0001_0010));
    let c = rig.command(&connect_sqe(1, 0, 0, 0), &connect_data(NQN, HOSTNQN));
    assert_eq!((c.status, c.result), (0x182 | DNR, 44), "sqsize 0");
    let mut recfmt = connect_sqe(1, 0, 31, 0);
    recfmt[40] = 1;
    let c = rig.command(&recfmt, &connect_data(NQN, HOSTNQN));
    assert_eq!(c.status, 0x180 | DNR);
    let c = rig.command(
        &connect_sqe(1, 0, 31, 0),
        &connect_data(NQN, HOSTNQN)[..512],
    );
    assert_eq!(c.status, 0x0F | DNR, "short connect data");
    let mut transport = connect_sqe(1, 0, 31, 0);
    transport[39] = 0x5A;
    let c = rig.command(&transport, &[]);
    assert_eq!(c.status, 0x02 | DNR, "data left for an R2T");
    assert!(!rig.session.connected());
    assert_eq!(rig.connect().status, 0);
    let c = rig.command(&connect_sqe(1, 0, 31, 0), &connect_data(NQN, HOSTNQN));
    assert_eq!(c.status, 0x01 | DNR, "a second Connect");
}

#[test]
fn commands_before_connect_are_invalid_opcodes() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let (pdus, _) = rig.exchange(&identify(1, 1), &[]);
    assert_eq!(pdus.len(), 1, "no data");
    assert_eq!((pdus[0].cqe().status, pdus[0].cqe().sqhd), (0x01 | DNR, 0));
    let c = rig.command(&property_get(2, 0, true), &[]);
    assert_eq!(c.status, 0x01 | DNR);
    assert!(rig.log_changed().is_empty());
}

// ---- properties ---------------------------------------------------------------------------

#[test]
fn properties_follow_cc() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    rig.connect();
    let get = |rig: &mut Rig, offset, eight| {
        let c = rig.command(&property_get(5, offset, eight), &[]);
        assert_eq!(c.status, 0, "property {offset:#x}");
        c.result
    };
    let cap = get(&mut rig, 0x00, true);
    assert_eq!(cap & 0xFFFF, 1023, "MQES");
    assert_eq!((cap >> 16) & 1, 1, "CQR");
    assert_eq!((cap >> 24) & 0xFF, 15, "TO");
    assert_eq!((cap >> 37) & 0xFF, 1, "CSS: NVM");
    assert_eq!((cap >> 48) & 0xF, 0, "MPSMIN: 4 KiB");
    assert_eq!(get(&mut rig, 0x08, false), 0x0001_0300, "VS");
    assert_eq!(get(&mut rig, 0x1C, false), 0, "CSTS");

    // As nvme_enable_ctrl: CSS NVM, MPS 4K, AMS RR, SHN none, IOSQES 6, IOCQES 4, EN.
    let cc = (6 << 16) | (4 << 20) | 1;
    assert_eq!(rig.command(&property_set(6, 0x14, cc), &[]).status, 0);
    assert_eq!(get(&mut rig, 0x1C, false), 1, "RDY");
    assert_eq!(get(&mut rig, 0x14, false), cc);

    // nvme_shutdown_ctrl: SHN normal, then polls SHST.
    assert_eq!(
        rig.command(&property_set(7, 0x14, cc | (1 << 14)), &[])
            .status,
        0
    );
    assert_eq!(
        get(&mut rig, 0x1C, false),
        0b1000,
        "SHST complete, not ready"
    );
    assert_eq!(get(&mut rig, 0x14, false), 0, "CC cleared, as nvmet");
    assert_eq!(rig.command(&identify(8, 1), &[]).status, 0x01 | DNR);

    let bad = [
        property_get(9, 0x00, false),
        property_get(9, 0x08, true),
        property_get(9, 0x20, false),
        property_set(9, 0x1C, 1),
    ];
    for sqe in &bad {
        assert_eq!(rig.command(sqe, &[]).status, 0x02 | DNR);
    }
}

#[test]
fn bad_cc_makes_a_fatal_status() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    rig.connect();
    rig.command(&property_set(2, 0x14, (1 << 7) | 1), &[]);
    assert_eq!(
        rig.command(&property_get(3, 0x1C, false), &[]).result,
        0b10,
        "CFS"
    );
}

// ---- identify --------------------------------------------------------------------------------

#[test]
fn identify_controller_fields() {
    let mut rig = Rig::setup(Host::default());
    let (pdu, done) = rig.read(&identify(0x21, 1));
    assert_eq!(done.status, 0);
    let id = &pdu.data;
    assert_eq!(id.len(), 4096);
    assert_eq!(&id[4..24], b"SN-0042             ", "sn");
    assert_eq!(&id[24..64], format!("{:<40}", "stas-cdc").as_bytes(), "mn");
    assert_eq!(&id[64..72], b"0.1.0   ", "fr");
    assert_eq!(id[77], 0, "mdts");
    assert_eq!(le16(id, 78), CNTLID, "cntlid");
    assert_eq!(le32(id, 80), 0x0001_0300, "ver");
    assert_eq!(le32(id, 92), 1 << 31, "oaes: discovery log change");
    assert_eq!(id[111], 2, "cntrltype: discovery");
    assert_eq!(id[259], 3, "aerl");
    assert_eq!(id[261], 1 << 2, "lpa");
    assert_eq!(le16(id, 514), 1024, "maxcmd");
    assert_eq!(le32(id, 536), 1 | (1 << 20), "sgls");
    assert_eq!(&id[768..768 + NQN.len()], NQN.as_bytes(), "subnqn");
    assert!(id[768 + NQN.len()..1024].iter().all(|&b| b == 0));
    assert_eq!(le16(id, 1800), 0, "icdoff");
    assert_eq!(id[1806], 2, "dctype: CDC");

    let mut ddc = Rig::setup(Host::default());
    ddc.session.ctrl = Arc::new(Controller {
        dctype: DcType::Ddc,
        ..controller()
    });
    assert_eq!(ddc.read(&identify(1, 1)).0.data[1806], 1);
}

#[test]
fn identify_answers_only_the_controller_cns() {
    let mut rig = Rig::setup(Host::default());
    // Linux 6.1 may ask for CNS 6 (I/O command set specific controller); nvmet refuses it.
    let (pdus, events) = rig.exchange(&identify(4, 6), &[]);
    assert_eq!(pdus.len(), 1);
    assert_eq!(pdus[0].cqe().status, 0x02 | DNR);
    assert_eq!(events, [Event::Identify { cns: 6 }]);
    let short = sqe_read(0x06, 5, 1024);
    let mut short = short;
    short[40] = 1;
    assert_eq!(
        rig.command(&short, &[]).status,
        0x0F | DNR,
        "transfer length"
    );
}

// ---- log pages --------------------------------------------------------------------------------

#[test]
fn discovery_log_page_exact_length_offset_and_zero_fill() {
    let mut rig = Rig::setup(Host::default());
    let (pdus, events) = rig.exchange(&get_log_page(0x33, 0x70, 2, false, 0, 4096), &[]);
    assert_eq!(
        events,
        [Event::GetLogPage {
            lid: 0x70,
            lsp: 2,
            rae: false,
            offset: 0,
            len: 4096
        }]
    );
    assert_eq!(*rig.catalog.lsps.borrow(), [2], "LSP passed through");
    let (c2h, done) = (&pdus[0], pdus[1].cqe());
    assert_eq!(
        (c2h.pdu_type, c2h.flags, c2h.hlen, c2h.pdo),
        (0x07, 0x04, 24, 24)
    );
    assert_eq!(c2h.plen, 24 + 4096);
    let h = &c2h.header;
    assert_eq!(
        (le16(h, 8), le16(h, 10), le32(h, 12), le32(h, 16)),
        (0x33, 0, 0, 4096)
    );
    assert_eq!((done.cid, done.status), (0x33, 0));
    let log = &c2h.data;
    assert_eq!(log.len(), 4096, "exactly what was asked");
    assert_eq!(log[0], 2);
    assert!((1..LOG_LEN).all(|i| log[i] == log_byte(i)));
    assert!(
        log[LOG_LEN..].iter().all(|&b| b == 0),
        "zero filled past the page"
    );

    let (c2h, _) = rig.read(&get_log_page(1, 0x70, 0, true, 1024, 1024));
    assert!(
        (0..1024).all(|i| c2h.data[i] == log_byte(1024 + i)),
        "the first entry"
    );
    let (c2h, _) = rig.read(&get_log_page(1, 0x70, 0, false, 3072, 16));
    assert_eq!(c2h.data, [0; 16], "at the end: nothing but zeros");

    let c = rig.command(&get_log_page(1, 0x70, 0, false, 4096, 16), &[]);
    assert_eq!(c.status, 0x02 | DNR, "past the end");
    let c = rig.command(&get_log_page(1, 0x70, 0, false, 6, 16), &[]);
    assert_eq!(c.status, 0x02 | DNR, "offset not dword aligned");
    let mut mismatch = get_log_page(1, 0x70, 0, false, 0, 1024);
    set32(&mut mismatch, 32, 512);
    assert_eq!(rig.command(&mismatch, &[]).status, 0x0F | DNR, "SGL length");
    let huge = get_log_page(1, 0x70, 0, false, 0, 64 << 20);
    assert_eq!(
        rig.command(&huge, &[]).status,
        0x02 | DNR,
        "larger than served"
    );
}

#[test]
fn supported_log_pages_with_and_without_pleos() {
    for pleo in [true, false] {
        let mut rig = Rig::with(
            Controller {
                pleo,
                ..controller()
            },
            Host::default(),
        );
        rig.ic();
        rig.connect();
        rig.command(&property_set(2, 0x14, 1), &[]);
        let (c2h, done) = rig.read(&get_log_page(1, 0x00, 0, false, 0, 1024));
        assert_eq!(done.status, 0);
        let log = &c2h.data;
        assert_eq!(log.len(), 1024);
        assert_eq!(le32(log, 0), 1, "LID 0: LSUPP");
        let dlp = le32(log, 4 * 0x70);
        assert_eq!(dlp, if pleo { 1 | (1 << 17) } else { 1 }, "LID 0x70");
        let others = (1..256)
            .filter(|&lid| lid != 0x70)
            .map(|lid| le32(log, 4 * lid));
        assert!(others.into_iter().all(|v| v == 0));
    }
}

#[test]
fn other_log_pages_are_invalid() {
    let mut rig = Rig::setup(Host::default());
    for lid in [0x01, 0x02, 0x05, 0x71, 0xFF] {
        let c = rig.command(&get_log_page(1, lid, 0, false, 0, 512), &[]);
        assert_eq!(c.status, 0x109 | DNR, "LID {lid:#x}");
    }
}

// ---- features ------------------------------------------------------------------------------

#[test]
fn features_keep_what_was_set() {
    let mut rig = Rig::setup(Host::default());
    let get = |rig: &mut Rig, fid| rig.command(&features(0x0A, 3, fid, 0), &[]);
    assert_eq!(get(&mut rig, 0x0B).result, 0, "no notice enabled at first");
    rig.enable_aen();
    assert_eq!(get(&mut rig, 0x0B).result, u64::from(AEN_DISC_CHANGE));
    let c = rig.command(&features(0x09, 4, 0x0B, AEN_DISC_CHANGE | (1 << 8)), &[]);
    assert_eq!(c.status, 0x02 | DNR, "a notice a DC does not send");
    assert_eq!(
        get(&mut rig, 0x0B).result,
        u64::from(AEN_DISC_CHANGE),
        "unchanged"
    );

    assert_eq!(rig.command(&features(0x09, 5, 0x0F, 30_000), &[]).status, 0);
    assert_eq!(get(&mut rig, 0x0F).result, 30_000);
    rig.command(&features(0x09, 5, 0x0F, 1500), &[]);
    assert_eq!(get(&mut rig, 0x0F).result, 2000, "whole seconds, as nvmet");

    assert_eq!(get(&mut rig, 0x07).status, 0x02 | DNR);
    let (_, events) = rig.exchange(&features(0x09, 6, 0x07, 0x0001_0001), &[]);
    assert_eq!(
        events,
        [Event::SetFeatures {
            fid: 7,
            value: 0x0001_0001
        }]
    );
}

#[test]
fn the_connect_kato_is_the_first_keep_alive_timer() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    rig.command(&connect_sqe(1, 0, 31, 30_000), &connect_data(NQN, HOSTNQN));
    rig.command(&property_set(2, 0x14, 1), &[]);
    assert_eq!(rig.command(&features(0x0A, 3, 0x0F, 0), &[]).result, 30_000);
}

// ---- asynchronous events -----------------------------------------------------------------------

#[test]
fn aer_is_held_then_completed_on_a_log_change() {
    let mut rig = Rig::setup(Host::DIGESTS);
    rig.enable_aen();
    let (pdus, events) = rig.aer(0x1F);
    assert!(pdus.is_empty());
    assert_eq!(events, [Event::AerHeld { cid: 0x1F }]);
    let out = rig.session.log_changed();
    assert_eq!(
        out[0],
        Output::Event(Event::AenSent {
            result: 0x0070_F002
        })
    );
    let pdus = split(&out, rig.host).0;
    assert_eq!(pdus.len(), 1);
    let c = pdus[0].cqe();
    assert_eq!((c.cid, c.status, c.result), (0x1F, 0, 0x0070_F002));
}

#[test]
fn the_notice_stays_masked_until_the_log_is_read_with_rae_clear() {
    let mut rig = Rig::setup(Host::default());
    rig.enable_aen();
    rig.aer(1);
    assert_eq!(rig.log_changed().len(), 1);
    rig.aer(2);
    assert!(rig.log_changed().is_empty(), "masked");
    rig.read(&get_log_page(3, 0x70, 0, true, 0, 1024));
    assert!(
        rig.log_changed().is_empty(),
        "a read with RAE set keeps it masked"
    );
    rig.read(&get_log_page(4, 0x00, 0, false, 0, 1024));
    assert!(
        rig.log_changed().is_empty(),
        "only the discovery log unmasks it"
    );
    rig.read(&get_log_page(5, 0x70, 0, false, 0, 1024));
    let pdus = rig.log_changed();
    assert_eq!(pdus.len(), 1);
    assert_eq!((pdus[0].cqe().cid, pdus[0].cqe().result), (2, 0x0070_F002));
}

#[test]
fn a_change_without_a_held_aer_waits_for_the_next_one() {
    let mut rig = Rig::setup(Host::default());
    rig.enable_aen();
    assert!(rig.log_changed().is_empty(), "no AER held");
    assert!(
        rig.log_changed().is_empty(),
        "a second change is the same notice"
    );
    let (pdus, events) = rig.aer(8);
    assert_eq!(
        events,
        [
            Event::AerHeld { cid: 8 },
            Event::AenSent {
                result: 0x0070_F002
            }
        ]
    );
    assert_eq!((pdus.len(), pdus[0].cqe().cid), (1, 8));
    let (pdus, _) = rig.aer(9);
    assert!(pdus.is_empty(), "one notice only");
    assert!(rig.log_changed().is_empty(), "masked until the log is read");
}

#[test]
fn no_notice_unless_the_host_enabled_it() {
    let mut rig = Rig::setup(Host::default());
    rig.aer(1);
    assert!(rig.session.log_changed().is_empty());
    rig.command(&features(0x09, 2, 0x0B, 0), &[]);
    assert!(rig.session.log_changed().is_empty());
    rig.enable_aen();
    assert_eq!(rig.log_changed()[0].cqe().cid, 1, "the AER was still held");
}

#[test]
fn aers_beyond_the_limit_are_refused() {
    let mut rig = Rig::setup(Host::default());
    for cid in 1..=4 {
        assert!(rig.aer(cid).0.is_empty());
    }
    let (pdus, _) = rig.aer(5);
    assert_eq!(pdus[0].cqe().status, 0x105 | DNR);
}

// ---- other commands -------------------------------------------------------------------------

#[test]
fn dim_records_the_payload() {
    let payload: Vec<u8> = (0..1432u32)
        .map(|i| u8::try_from(i % 253).unwrap())
        .collect();
    for host in [Host::default(), Host::DIGESTS] {
        let mut rig = Rig::setup(host);
        let mut dim = sqe_write(0x21, 0x44, payload.len());
        dim[40] = 0x02; // TAS: update
        let (pdus, events) = rig.exchange(&dim, &payload);
        assert_eq!(
            events,
            [Event::Dim {
                tas: 2,
                data: payload.clone()
            }]
        );
        assert_eq!(
            (pdus.len(), pdus[0].cqe().status, pdus[0].cqe().cid),
            (1, 0, 0x44)
        );
    }
}

#[test]
fn dim_needs_in_capsule_data_and_the_feature() {
    let mut rig = Rig::setup(Host::default());
    let c = rig.command(&sqe_read(0x21, 1, 9000), &[]);
    assert_eq!(
        c.status,
        0x02 | DNR,
        "data the host would send after an R2T"
    );
    let mut offset = sqe_write(0x21, 1, 4);
    set64(&mut offset, 24, 8);
    assert_eq!(
        rig.command(&offset, b"abcd").status,
        0x16 | DNR,
        "in-capsule offset"
    );

    let mut plain = Rig::with(
        Controller {
            dim: false,
            ..controller()
        },
        Host::default(),
    );
    plain.ic();
    plain.connect();
    plain.command(&property_set(2, 0x14, 1), &[]);
    let (pdus, events) = plain.exchange(&sqe_write(0x21, 1, 4), b"abcd");
    assert_eq!(pdus[0].cqe().status, 0x01 | DNR);
    assert_eq!(
        events,
        [Event::Unsupported {
            opcode: 0x21,
            fctype: None
        }]
    );
}

#[test]
fn keep_alive_and_unsupported_commands() {
    let mut rig = Rig::setup(Host::default());
    let (pdus, events) = rig.exchange(&sqe(0x18, 3), &[]);
    assert_eq!((pdus[0].cqe().status, events), (0, vec![Event::KeepAlive]));
    for opcode in [0x01, 0x08, 0x10, 0x80] {
        let (pdus, events) = rig.exchange(&sqe(opcode, 4), &[]);
        assert_eq!(pdus[0].cqe().status, 0x01 | DNR);
        assert_eq!(
            events,
            [Event::Unsupported {
                opcode,
                fctype: None
            }]
        );
    }
    for fctype in [0x05, 0x06, 0x08] {
        let (pdus, events) = rig.exchange(&fabrics(fctype, 5), &[]);
        assert_eq!(pdus[0].cqe().status, 0x01 | DNR);
        assert_eq!(
            events,
            [Event::Unsupported {
                opcode: 0x7F,
                fctype: Some(fctype)
            }]
        );
    }
}

#[test]
fn sq_head_wraps_at_the_queue_size() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let c = rig.command(&connect_sqe(1, 0, 3, 0), &connect_data(NQN, HOSTNQN));
    assert_eq!(c.sqhd, 1);
    let heads: Vec<u16> = (0..5)
        .map(|_| rig.command(&property_get(2, 8, false), &[]).sqhd)
        .collect();
    assert_eq!(heads, [2, 3, 0, 1, 2]);

    let mut noflow = Rig::new(Host::default());
    noflow.ic();
    let mut connect = connect_sqe(1, 0, 31, 0);
    connect[46] = 1 << 2; // disable SQ flow control
    assert_eq!(
        noflow.command(&connect, &connect_data(NQN, HOSTNQN)).sqhd,
        0xFFFF
    );
    assert_eq!(noflow.command(&property_get(2, 8, false), &[]).sqhd, 0xFFFF);
}

#[test]
fn a_data_digest_error_fails_the_command_only() {
    let mut rig = Rig::setup(Host::DIGESTS);
    let mut bytes = rig.host.capsule(&sqe_write(0x21, 6, 8), b"12345678");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    let (pdus, events) = split(&rig.feed(&bytes), rig.host);
    assert_eq!(
        pdus[0].cqe().status,
        0x22,
        "transient transport error, may retry"
    );
    assert!(matches!(&events[..], [Event::ProtocolError { .. }]));
    assert_eq!(rig.command(&sqe(0x18, 7), &[]).status, 0, "still alive");
}

// ---- framing ------------------------------------------------------------------------------

/// A whole session as the Linux host runs it, with digests.
fn script() -> Vec<u8> {
    let host = Host::DIGESTS;
    let mut mut_dim = sqe_write(0x21, 10, 100);
    mut_dim[40] = 0;
    [
        host.ic_req(),
        host.capsule(&connect_sqe(1, 0, 31, 0), &connect_data(NQN, HOSTNQN)),
        host.capsule(&property_get(2, 0, true), &[]),
        host.capsule(&property_set(3, 0x14, 0x0046_0001), &[]),
        host.capsule(&property_get(4, 0x1C, false), &[]),
        host.capsule(&property_get(5, 0x08, false), &[]),
        host.capsule(&identify(6, 1), &[]),
        host.capsule(&features(0x09, 7, 0x0B, AEN_DISC_CHANGE), &[]),
        host.capsule(&sqe(0x0C, 8), &[]),
        host.capsule(&get_log_page(9, 0x70, 0, false, 0, 2048), &[]),
        host.capsule(&mut_dim, &[0xEE; 100]),
        host.capsule(&sqe(0x18, 11), &[]),
    ]
    .concat()
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn byte(&mut self) -> u8 {
        u8::try_from(self.next() & 0xFF).unwrap()
    }
}

#[test]
fn partial_pdus_give_the_same_outputs() {
    let bytes = script();
    let mut whole = Rig::new(Host::DIGESTS);
    let expected = whole.feed(&bytes);
    assert_eq!(split(&expected, Host::DIGESTS).0.len(), 13, "all answered");

    let mut bytewise = Rig::new(Host::DIGESTS);
    let outputs: Vec<Output> = bytes.iter().flat_map(|b| bytewise.feed(&[*b])).collect();
    assert_eq!(outputs, expected);

    let mut rng = XorShift(0x5EED_CAFE_F00D_0001);
    for _ in 0..20 {
        let mut chunked = Rig::new(Host::DIGESTS);
        let mut outputs = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(300));
            outputs.extend(chunked.feed(&rest[..n]));
            rest = &rest[n..];
        }
        assert_eq!(outputs, expected);
    }
}

/// Feeds `bytes`, expects a C2HTermReq with `fes`/`fei` and a close, then silence.
fn assert_terminated(rig: &mut Rig, bytes: &[u8], fes: u16, fei: u32) {
    let out = rig.feed(bytes);
    let n = out.len();
    assert!(n >= 3, "{out:?}");
    assert!(
        matches!(&out[n - 3], Output::Event(Event::ProtocolError { .. })),
        "{out:?}"
    );
    let Output::Send(term) = &out[n - 2] else {
        panic!("{out:?}")
    };
    assert!(matches!(&out[n - 1], Output::Close { .. }));
    assert_eq!(&term[..4], &[0x03, 0, 24, 0], "C2HTermReq, no digest");
    let plen = le32(term, 4);
    assert_eq!(usize::try_from(plen).unwrap(), term.len());
    assert!((24..=152).contains(&plen));
    assert_eq!(
        (le16(term, 8), le32(term, 10)),
        (fes, fei),
        "FES, FEI of {bytes:02x?}"
    );
    assert!(rig.feed(&Host::default().ic_req()).is_empty(), "closed");
    assert!(rig.session.log_changed().is_empty());
}

fn ic_then(host: Host, more: &[u8]) -> Vec<u8> {
    [host.ic_req(), more.to_vec()].concat()
}

#[test]
fn malformed_input_is_terminated() {
    let plain = Host::default();
    let keep_alive = plain.capsule(&sqe(0x18, 1), &[]);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = keep_alive.clone();
        f(&mut b);
        ic_then(plain, &b)
    };
    let mut ic = plain.ic_req();
    ic[2] = 127;
    let bad_ic_hlen = ic.clone();
    let mut ic = plain.ic_req();
    ic[4] = 129;
    let bad_ic_plen = ic.clone();
    let mut ic = plain.ic_req();
    ic[8] = 1;
    let bad_pfv = ic.clone();
    let cases: Vec<(&str, Vec<u8>, u16, u32)> = vec![
        ("a capsule first", keep_alive.clone(), 2, 0),
        ("HTTP", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 1, 0),
        ("ICReq hlen", bad_ic_hlen, 1, 2),
        ("ICReq plen", bad_ic_plen, 1, 4),
        ("ICReq pfv", bad_pfv, 1, 8),
        ("ICReq twice", ic_then(plain, &plain.ic_req()), 2, 0),
        (
            "H2CData",
            ic_then(plain, &[6, 4, 24, 24, 32, 0, 0, 0]),
            2,
            0,
        ),
        (
            "a controller PDU",
            ic_then(plain, &[5, 0, 24, 0, 24, 0, 0, 0]),
            1,
            0,
        ),
        (
            "unknown type",
            ic_then(plain, &[0x0A, 0, 24, 0, 24, 0, 0, 0]),
            1,
            0,
        ),
        ("flags", with(&|b| b[1] = 0x10), 1, 1),
        ("HDGSTF not negotiated", with(&|b| b[1] = 0x01), 1, 1),
        ("hlen", with(&|b| b[2] = 71), 1, 2),
        ("plen < hlen", with(&|b| b[4] = 40), 1, 4),
        (
            "plen > cap",
            with(&|b| b[4..8].copy_from_slice(&0x10_0000u32.to_le_bytes())),
            5,
            0,
        ),
        (
            "pdo inside the header",
            with(&|b| {
                b[3] = 10;
                b[4] = 80;
                b.extend_from_slice(&[0; 8]);
            }),
            1,
            3,
        ),
    ];
    for (what, bytes, fes, fei) in cases {
        let mut rig = Rig::new(plain);
        println!("{what}");
        assert_terminated(&mut rig, &bytes, fes, fei);
    }

    // With header digests negotiated.
    let host = Host::DIGESTS;
    let mut rig = Rig::new(host);
    let mut capsule = host.capsule(&sqe(0x18, 1), &[]);
    capsule[72] ^= 1;
    assert_terminated(&mut rig, &ic_then(host, &capsule), 3, 0);
    let mut rig = Rig::new(host);
    let plain_capsule = plain.capsule(&sqe(0x18, 1), &[]);
    assert_terminated(&mut rig, &ic_then(host, &plain_capsule), 1, 1);
    let mut rig = Rig::new(host);
    let mut no_ddgst = host.capsule(&sqe_write(0x21, 1, 8), b"12345678");
    no_ddgst[1] = 0x01;
    assert_terminated(&mut rig, &ic_then(host, &no_ddgst), 1, 1);
}

#[test]
fn the_term_req_carries_the_offending_header() {
    let mut rig = Rig::new(Host::default());
    rig.ic();
    let mut bytes = Host::default().capsule(&sqe(0x18, 1), &[]);
    bytes[2] = 70;
    let out = rig.feed(&bytes);
    let Some(Output::Send(term)) = out.iter().find(|o| matches!(o, Output::Send(_))) else {
        panic!("{out:?}")
    };
    assert_eq!(le32(term, 4), 24 + 8);
    assert_eq!(&term[24..], &bytes[..8]);
}

#[test]
fn a_host_termination_closes_without_a_reply() {
    let mut rig = Rig::setup(Host::default());
    let mut term = vec![0u8; 24];
    term[0] = 0x02;
    term[2] = 24;
    term[4] = 24;
    let out = rig.feed(&term);
    assert!(out.iter().all(|o| !matches!(o, Output::Send(_))), "{out:?}");
    assert!(matches!(out.last(), Some(Output::Close { .. })));

    let mut rig = Rig::setup(Host::default());
    term[4] = 200; // malformed: closed at once, no reply either
    let out = rig.feed(&term);
    assert!(out.iter().all(|o| !matches!(o, Output::Send(_))), "{out:?}");
    assert!(matches!(out.last(), Some(Output::Close { .. })));
}

/// Checks what a session said about arbitrary input: every send is one whole PDU, a close
/// comes last, and nothing comes after it. Returns the response capsules sent.
fn check_outputs(out: &[Output], closed: &mut bool) -> usize {
    assert!(!*closed || out.is_empty(), "output after a close: {out:?}");
    let mut responses = 0;
    for (i, o) in out.iter().enumerate() {
        match o {
            Output::Send(b) => {
                assert!(b.len() >= 8);
                assert_eq!(usize::try_from(le32(b, 4)).unwrap(), b.len());
                responses += usize::from(b[0] == 0x05);
            }
            Output::Close { .. } => {
                assert_eq!(i, out.len() - 1, "close is last");
                *closed = true;
            }
            Output::Event(_) => {}
        }
    }
    responses
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x0123_4567_89AB_CDEF);
    let valid = script();
    let (mut closes, mut responses) = (0, 0);
    for round in 0..3000 {
        let host = if round % 2 == 0 {
            Host::DIGESTS
        } else {
            Host::default()
        };
        let mut rig = Rig::new(host);
        // Pure noise, noise after a good ICReq, or the good script with bytes flipped.
        let mut bytes = match round % 3 {
            0 => Vec::new(),
            1 => host.ic_req(),
            _ => valid.clone(),
        };
        if round % 3 == 2 {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.byte();
            }
        } else {
            let noise = rng.below(700);
            bytes.extend((0..noise).map(|_| rng.byte()));
        }
        let mut closed = false;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(200));
            let out = rig.feed(&rest[..n]);
            responses += check_outputs(&out, &mut closed);
            if rng.below(8) == 0 {
                let out = rig.session.log_changed();
                responses += check_outputs(&out, &mut closed);
            }
            rest = &rest[n..];
        }
        closes += usize::from(closed);
    }
    // Both ways out were taken, many times.
    assert!(
        closes > 2000 && responses > 4000,
        "{closes} closes, {responses} responses"
    );
}
