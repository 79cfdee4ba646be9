//! One host connection to the discovery controller (sans-IO).
//!
//! A [`Session`] owns the state of one NVMe/TCP connection: the connection setup (ICReq),
//! the admin queue (Connect, SQ head), the controller properties (CC, CSTS), the features
//! (keep alive timer, asynchronous event configuration) and the Asynchronous Event Requests
//! it holds. Bytes come in through [`Session::receive`]; the bytes to write, the events to
//! record and the order to close come out as [`Output`]s, in order.
//!
//! It answers as the Linux kernel's target answers a discovery connection
//! (`drivers/nvme/target/{tcp,fabrics-cmd,discovery,admin-cmd,core}.c`), with the additions
//! of TP8010/TP8013: the DCTYPE field of Identify, the Supported Log Pages log (with PLEOS),
//! and the Discovery Information Management command (DIM). Like nvmet it never sends R2T:
//! write data must come in the capsule (the Linux host puts up to 8 KiB there on the admin
//! queue).

use std::sync::Arc;

use crate::pdu::{self, Capsule, Cqe, HostPdu, IcReq, Link, Reader, RxError};

/// The well-known discovery subsystem NQN.
pub const WELL_KNOWN_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";
/// Most Asynchronous Event Requests held at once (nvmet's `NVMET_ASYNC_EVENTS`).
pub const MAX_AERS: usize = 4;
/// Largest read transfer (Get Log Page) served; larger requests get Invalid Field.
pub const MAX_READ_LEN: u64 = 4 << 20;
/// Asynchronous event configuration bit (feature 0x0B) of the discovery log change notice.
pub const AEN_DISC_CHANGE: u32 = 1 << 31;
/// AER completion result of a discovery log change: notice (2), info 0xF0, log page 0x70.
pub const AEN_DISC_CHANGE_RESULT: u32 = 0x0070_F002;

/// CAP.MQES (0's based): nvmet's 1024-entry queues, so that a host whose queue_size is 128
/// (the Linux default, discovery included) does not warn about "clamping down".
const MQES: u64 = 1023;
/// Identify MAXCMD: MQES + 1, as nvmet.
const MAXCMD: u16 = 1024;
/// CAP: MQES, CQR (required on fabrics), TO 15 (7.5 s), CSS bit 37 (NVM command set).
pub const CAP: u64 = MQES | (1 << 16) | (15 << 24) | (1 << 37);
/// VS: 1.3.0, nvmet's default version in Linux 6.1.
pub const VS: u32 = 0x0001_0300;

const REG_CAP: u32 = 0x00;
const REG_VS: u32 = 0x08;
const REG_CC: u32 = 0x14;
const REG_CSTS: u32 = 0x1C;

const CC_EN: u32 = 1;
const CC_SHN_MASK: u32 = 3 << 14;
const CSTS_RDY: u32 = 1;
const CSTS_CFS: u32 = 1 << 1;
const CSTS_SHST_CMPLT: u32 = 2 << 2;

const OPC_GET_LOG_PAGE: u8 = 0x02;
const OPC_IDENTIFY: u8 = 0x06;
const OPC_SET_FEATURES: u8 = 0x09;
const OPC_GET_FEATURES: u8 = 0x0A;
const OPC_ASYNC_EVENT: u8 = 0x0C;
const OPC_KEEP_ALIVE: u8 = 0x18;
const OPC_DIM: u8 = 0x21;
const OPC_FABRICS: u8 = 0x7F;

const FCTYPE_PROPERTY_SET: u8 = 0x00;
const FCTYPE_CONNECT: u8 = 0x01;
const FCTYPE_PROPERTY_GET: u8 = 0x04;

const FID_ASYNC_EVENT: u8 = 0x0B;
const FID_KATO: u8 = 0x0F;

const LID_SUPPORTED: u8 = 0x00;
const LID_DISCOVERY: u8 = 0x70;
/// Supported Log Pages: the log page is supported.
const LSUPP: u32 = 1;
/// Supported Log Pages, LID 0x70: port local entries only (LSP bit 1) supported.
const PLEOS: u32 = 1 << 17;

const CNS_CTRL: u8 = 0x01;
const IDENTIFY_LEN: u64 = 4096;
const CONNECT_DATA_LEN: u32 = 1024;
const CONNECT_SQFLOW_DISABLE: u8 = 1 << 2;

// Status codes (SCT << 8 | SC, with DNR), as sent before the shift over the phase bit.
const DNR: u16 = 0x4000;
const SUCCESS: u16 = 0;
const INVALID_OPCODE: u16 = DNR | 0x01;
const INVALID_FIELD: u16 = DNR | 0x02;
const SGL_DATA_LEN_INVALID: u16 = DNR | 0x0F;
const SGL_OFFSET_INVALID: u16 = DNR | 0x16;
const TRANSIENT_TRANSPORT_ERROR: u16 = 0x22;
const ASYNC_LIMIT: u16 = DNR | 0x105;
const INVALID_LOG_PAGE: u16 = DNR | 0x109;
const CONNECT_FORMAT: u16 = DNR | 0x180;
const CONNECT_INVALID_PARAM: u16 = DNR | 0x182;

// Connect Invalid Parameters results: IATTR (bit 16: in the data) and IPO (byte offset).
const IPO_SQE_QID: u64 = 42;
const IPO_SQE_SQSIZE: u64 = 44;
const IPO_DATA_CNTLID: u64 = (1 << 16) | 16;
const IPO_DATA_SUBNQN: u64 = (1 << 16) | 256;

/// Identity and behaviour of the discovery controller (fixed for the process).
#[derive(Debug, Clone)]
pub struct Controller {
    /// NQN it answers to (unique = TP8013, or the well-known one); Identify SUBNQN. A
    /// Connect to the well-known discovery NQN is accepted too.
    pub nqn: String,
    /// Identify DCTYPE.
    pub dctype: DcType,
    /// Identify SN (20 bytes, space padded).
    pub serial: String,
    /// Identify MN (40 bytes, space padded).
    pub model: String,
    /// Identify FR (8 bytes, space padded).
    pub firmware: String,
    /// Advertise PLEOS in Supported Log Pages.
    pub pleo: bool,
    /// Accept DIM (else Invalid Opcode, like a DC without TP8010).
    pub dim: bool,
}

/// Discovery controller type (Identify DCTYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcType {
    /// Not reported (0).
    None,
    /// Direct discovery controller (1).
    Ddc,
    /// Central discovery controller (2).
    Cdc,
}

impl DcType {
    /// The value on the wire.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Ddc => 1,
            Self::Cdc => 2,
        }
    }
}

/// Where the discovery log bytes come from (implemented by the server over the log file).
pub trait Catalog {
    /// The whole discovery log page (1024-byte header + entries) answering a Get Log Page
    /// with this LSP.
    fn discovery_log(&self, lsp: u8) -> Vec<u8>;
}

/// What to do after feeding a [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes to write to the socket.
    Send(Vec<u8>),
    /// Something to record.
    Event(Event),
    /// Close the connection (after writing everything sent before it).
    Close {
        /// Why.
        reason: String,
    },
}

/// Something that happened on a session, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The host's ICReq (answered with an ICResp echoing the digests).
    IcReq {
        /// PDU format version.
        pfv: u16,
        /// Host PDU data alignment.
        hpda: u8,
        /// Header digests on.
        hdgst: bool,
        /// Data digests on.
        ddgst: bool,
        /// Maximum outstanding R2Ts (0's based).
        maxr2t: u32,
    },
    /// A Connect command.
    Connect {
        /// Queue ID.
        qid: u16,
        /// Submission queue size (0's based).
        sqsize: u16,
        /// Keep alive timeout (ms).
        kato_ms: u32,
        /// Controller ID the host asked for in the Connect data (0xFFFF: any); the one
        /// given is the session's.
        cntlid: u16,
        /// Host identifier.
        host_id: [u8; 16],
        /// Host NQN.
        host_nqn: String,
        /// Subsystem NQN the host asked for.
        subnqn: String,
        /// Whether the Connect succeeded.
        accepted: bool,
    },
    /// A Property Get (`value` 0 when the property is not one served).
    PropertyGet {
        /// Property offset.
        offset: u32,
        /// Value returned.
        value: u64,
    },
    /// A Property Set.
    PropertySet {
        /// Property offset.
        offset: u32,
        /// Value written.
        value: u64,
    },
    /// An Identify command.
    Identify {
        /// Controller or Namespace Structure.
        cns: u8,
    },
    /// A Get Log Page command.
    GetLogPage {
        /// Log page identifier.
        lid: u8,
        /// Log specific parameter.
        lsp: u8,
        /// Retain asynchronous event.
        rae: bool,
        /// Log page offset (bytes).
        offset: u64,
        /// Bytes asked for (saturated at `u32::MAX`).
        len: u32,
    },
    /// A Set Features command.
    SetFeatures {
        /// Feature identifier.
        fid: u8,
        /// CDW11.
        value: u32,
    },
    /// A Get Features command.
    GetFeatures {
        /// Feature identifier.
        fid: u8,
    },
    /// A Keep Alive command.
    KeepAlive,
    /// An Asynchronous Event Request is held.
    AerHeld {
        /// Its command identifier.
        cid: u16,
    },
    /// An Asynchronous Event Request was completed with this result.
    AenSent {
        /// Completion dword 0.
        result: u32,
    },
    /// A Discovery Information Management command (accepted).
    Dim {
        /// Task (0 register, 1 deregister, 2 update).
        tas: u8,
        /// The raw payload.
        data: Vec<u8>,
    },
    /// A command this controller does not take (answered Invalid Opcode).
    Unsupported {
        /// Opcode.
        opcode: u8,
        /// Fabrics command type (fabrics commands only).
        fctype: Option<u8>,
    },
    /// The host broke the protocol (fatal ones come with a [`Output::Close`]).
    ProtocolError {
        /// What was wrong.
        reason: String,
    },
}

/// How a command moves data, to check its SGL against.
#[derive(Debug, Clone, Copy)]
enum Xfer {
    None,
    /// Controller to host, exactly this many bytes.
    Read(u64),
    /// Host to controller, in the capsule: exactly this many bytes, or any.
    Write(Option<u32>),
}

/// How a command ends.
enum Reply {
    /// Completed now, with this status, result and read data.
    Done {
        status: u16,
        result: u64,
        data: Option<Vec<u8>>,
    },
    /// Held (an Asynchronous Event Request).
    Held,
}

fn status(status: u16) -> Reply {
    Reply::Done {
        status,
        result: 0,
        data: None,
    }
}

fn result(result: u64) -> Reply {
    Reply::Done {
        status: SUCCESS,
        result,
        data: None,
    }
}

fn data(data: Vec<u8>) -> Reply {
    Reply::Done {
        status: SUCCESS,
        result: 0,
        data: Some(data),
    }
}

/// One host connection (one admin queue).
#[derive(Debug)]
pub struct Session {
    ctrl: Arc<Controller>,
    cntlid: u16,
    reader: Reader,
    /// What the ICReq negotiated; `None` until then.
    link: Option<Link>,
    closed: bool,
    connected: bool,
    /// Admin submission queue entries (sqsize + 1), once connected.
    sq_entries: Option<u32>,
    sqhd: u16,
    sqflow_disabled: bool,
    cc: u32,
    csts: u32,
    kato_s: u32,
    aen_enabled: u32,
    /// The discovery log change notice was queued and the log not read since (RAE clear).
    aen_masked: bool,
    /// A notice waits for an Asynchronous Event Request.
    aen_pending: bool,
    aers: Vec<u16>,
}

impl Session {
    /// A session for a new connection; `cntlid` is the controller ID it gives (unique
    /// among the live sessions).
    #[must_use]
    pub fn new(ctrl: Arc<Controller>, cntlid: u16) -> Self {
        Self {
            ctrl,
            cntlid,
            reader: Reader::new(),
            link: None,
            closed: false,
            connected: false,
            sq_entries: None,
            sqhd: 0,
            sqflow_disabled: false,
            cc: 0,
            csts: 0,
            kato_s: 0,
            aen_enabled: 0,
            aen_masked: false,
            aen_pending: false,
            aers: Vec::new(),
        }
    }

    /// Feeds bytes read from the socket; returns what to do, in order. Nothing once closed.
    pub fn receive(&mut self, bytes: &[u8], catalog: &dyn Catalog) -> Vec<Output> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        self.reader.push(bytes);
        while !self.closed {
            match self.reader.next(self.link) {
                Ok(None) => break,
                Ok(Some(HostPdu::IcReq(ic))) => self.ic_req(ic, &mut out),
                Ok(Some(HostPdu::Command(capsule))) => self.command(&capsule, catalog, &mut out),
                Ok(Some(HostPdu::TermReq { fes, fei })) => {
                    let reason =
                        format!("host terminated the connection (FES {fes:#x}, FEI {fei:#x})");
                    self.close(reason, None, &mut out);
                }
                Err(RxError::Abort(reason)) => self.close(reason, None, &mut out),
                Err(RxError::Fatal {
                    fes,
                    fei,
                    header,
                    reason,
                }) => {
                    let term = pdu::c2h_term_req(fes, fei, &header);
                    let reason = format!("{reason} (FES {fes:#x}, FEI {fei:#x})");
                    self.close(reason, Some(term), &mut out);
                }
            }
        }
        out
    }

    /// The discovery log changed: completes a held AER if the host enabled the notice and
    /// it is not masked (as nvmet: the notice is masked from then until the host reads the
    /// log with RAE clear; without a held AER it waits for the next one).
    pub fn log_changed(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if self.closed
            || !self.connected
            || self.aen_enabled & AEN_DISC_CHANGE == 0
            || self.aen_masked
        {
            return out;
        }
        self.aen_masked = true;
        if !self.send_aen(&mut out) {
            self.aen_pending = true;
        }
        out
    }

    /// Whether a Connect succeeded on this session.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Records why, sends the termination request if any, closes.
    fn close(&mut self, reason: String, term: Option<Vec<u8>>, out: &mut Vec<Output>) {
        self.closed = true;
        event(
            out,
            Event::ProtocolError {
                reason: reason.clone(),
            },
        );
        out.extend(term.map(Output::Send));
        out.push(Output::Close { reason });
    }

    fn ic_req(&mut self, ic: IcReq, out: &mut Vec<Output>) {
        out.push(Output::Event(Event::IcReq {
            pfv: ic.pfv,
            hpda: ic.hpda,
            hdgst: ic.hdgst,
            ddgst: ic.ddgst,
            maxr2t: ic.maxr2t,
        }));
        out.push(Output::Send(pdu::ic_resp(ic.hdgst, ic.ddgst)));
        self.link = Some(Link {
            hdgst: ic.hdgst,
            ddgst: ic.ddgst,
            hpda: ic.hpda,
        });
    }

    fn command(&mut self, capsule: &Capsule, catalog: &dyn Catalog, out: &mut Vec<Output>) {
        let sqe = &capsule.sqe;
        let reply = if !capsule.data_digest_ok {
            // Not fatal: the host may retry the command.
            event(
                out,
                Event::ProtocolError {
                    reason: format!("data digest error in command {:#04x}", sqe.opcode()),
                },
            );
            status(TRANSIENT_TRANSPORT_ERROR)
        } else if sqe.opcode() == OPC_FABRICS {
            self.fabrics(capsule, out)
        } else if !self.connected || self.csts & CSTS_RDY == 0 {
            // nvmet: Invalid Opcode on an unconnected queue, and on a controller not ready.
            let when = if self.connected { "CC.EN" } else { "Connect" };
            event(
                out,
                Event::ProtocolError {
                    reason: format!("admin command {:#04x} before {when}", sqe.opcode()),
                },
            );
            status(INVALID_OPCODE)
        } else {
            self.admin(capsule, catalog, out)
        };
        if let Reply::Done {
            status,
            result,
            data,
        } = reply
        {
            self.complete(sqe.cid(), status, result, data.as_deref(), out);
        }
    }

    /// Sends the data (one C2HData) and the response capsule of a command.
    fn complete(
        &mut self,
        cid: u16,
        status: u16,
        result: u64,
        data: Option<&[u8]>,
        out: &mut Vec<Output>,
    ) {
        let Some(link) = self.link else { return };
        if let Some(data) = data.filter(|d| status == SUCCESS && !d.is_empty()) {
            out.push(Output::Send(link.c2h_data(cid, data)));
        }
        // nvmet: the head moves at each completion, modulo the queue size, once the queue
        // exists; 0xFFFF when the host disabled SQ flow control.
        if self.sqflow_disabled {
            self.sqhd = 0xFFFF;
        } else if let Some(entries) = self.sq_entries {
            self.sqhd = u16::try_from((u32::from(self.sqhd) + 1) % entries).unwrap_or(0);
        }
        out.push(Output::Send(link.capsule_resp(&Cqe {
            result,
            sqhd: self.sqhd,
            sqid: 0,
            cid,
            status,
        })));
    }

    /// Completes a held AER with the discovery log change notice; false when none is held.
    fn send_aen(&mut self, out: &mut Vec<Output>) -> bool {
        let Some(cid) = self.aers.pop() else {
            return false;
        };
        event(
            out,
            Event::AenSent {
                result: AEN_DISC_CHANGE_RESULT,
            },
        );
        let result = u64::from(AEN_DISC_CHANGE_RESULT);
        self.complete(cid, SUCCESS, result, None, out);
        true
    }

    fn fabrics(&mut self, capsule: &Capsule, out: &mut Vec<Output>) -> Reply {
        let fctype = capsule.sqe.fctype();
        match (self.connected, fctype) {
            (false, FCTYPE_CONNECT) => self.connect(capsule, out),
            (true, FCTYPE_PROPERTY_GET) => self.property_get(capsule, out),
            (true, FCTYPE_PROPERTY_SET) => self.property_set(capsule, out),
            (false, _) => {
                event(
                    out,
                    Event::ProtocolError {
                        reason: format!("fabrics command {fctype:#04x} before Connect"),
                    },
                );
                status(INVALID_OPCODE)
            }
            (true, _) => {
                event(
                    out,
                    Event::Unsupported {
                        opcode: OPC_FABRICS,
                        fctype: Some(fctype),
                    },
                );
                status(INVALID_OPCODE)
            }
        }
    }

    fn connect(&mut self, capsule: &Capsule, out: &mut Vec<Output>) -> Reply {
        let (sqe, d) = (&capsule.sqe, capsule.data.as_slice());
        let (qid, sqsize, cattr, kato_ms) =
            (sqe.le16(42), sqe.le16(44), sqe.byte(46), sqe.le32(48));
        let host_id = d
            .get(..16)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 16]);
        let cntlid = pdu::le16(d, 16);
        let subnqn = nqn(d, 256);
        let host_nqn = nqn(d, 512);
        // Its data errors are recorded after the Connect itself.
        let mut notes = Vec::new();
        let reply = match xfer(capsule, Xfer::Write(Some(CONNECT_DATA_LEN)), &mut notes) {
            Err(s) => status(s),
            Ok(()) if sqe.le16(40) != 0 => status(CONNECT_FORMAT),
            Ok(()) if qid != 0 => invalid_param(IPO_SQE_QID),
            Ok(()) if cntlid != 0xFFFF => invalid_param(IPO_DATA_CNTLID),
            Ok(()) if subnqn != self.ctrl.nqn && subnqn != WELL_KNOWN_NQN => {
                invalid_param(IPO_DATA_SUBNQN)
            }
            Ok(()) if sqsize == 0 => invalid_param(IPO_SQE_SQSIZE),
            Ok(()) => {
                self.connected = true;
                self.sq_entries = Some(u32::from(sqsize) + 1);
                self.sqflow_disabled = cattr & CONNECT_SQFLOW_DISABLE != 0;
                self.kato_s = kato_ms.div_ceil(1000);
                result(u64::from(self.cntlid))
            }
        };
        let accepted = matches!(
            reply,
            Reply::Done {
                status: SUCCESS,
                ..
            }
        );
        event(
            out,
            Event::Connect {
                qid,
                sqsize,
                kato_ms,
                cntlid,
                host_id,
                host_nqn,
                subnqn,
                accepted,
            },
        );
        out.append(&mut notes);
        reply
    }

    fn property_get(&self, capsule: &Capsule, out: &mut Vec<Output>) -> Reply {
        let (attrib, offset) = (capsule.sqe.byte(40), capsule.sqe.le32(44));
        let value = if attrib & 1 != 0 {
            (offset == REG_CAP).then_some(CAP)
        } else {
            match offset {
                REG_VS => Some(VS),
                REG_CC => Some(self.cc),
                REG_CSTS => Some(self.csts),
                _ => None,
            }
            .map(u64::from)
        };
        event(
            out,
            Event::PropertyGet {
                offset,
                value: value.unwrap_or(0),
            },
        );
        if let Err(s) = xfer(capsule, Xfer::None, out) {
            return status(s);
        }
        value.map_or(status(INVALID_FIELD), result)
    }

    fn property_set(&mut self, capsule: &Capsule, out: &mut Vec<Output>) -> Reply {
        let sqe = &capsule.sqe;
        let (attrib, offset, value) = (sqe.byte(40), sqe.le32(44), sqe.le64(48));
        event(out, Event::PropertySet { offset, value });
        if let Err(s) = xfer(capsule, Xfer::None, out) {
            return status(s);
        }
        if attrib & 1 != 0 || offset != REG_CC {
            return status(INVALID_FIELD);
        }
        self.update_cc(u32::try_from(value & 0xFFFF_FFFF).unwrap_or(0));
        result(0)
    }

    /// CC written: as nvmet_update_cc.
    fn update_cc(&mut self, new: u32) {
        let old = self.cc;
        self.cc = new;
        if new & CC_EN != 0 && old & CC_EN == 0 {
            let (css, mps, ams) = ((new >> 4) & 7, (new >> 7) & 0xF, (new >> 11) & 7);
            self.csts = if mps != 0 || ams != 0 || !matches!(css, 0 | 6) {
                CSTS_CFS
            } else {
                CSTS_RDY
            };
        }
        if new & CC_EN == 0 && old & CC_EN != 0 {
            self.clear();
        }
        if new & CC_SHN_MASK != 0 && old & CC_SHN_MASK == 0 {
            self.clear();
            self.csts |= CSTS_SHST_CMPLT;
        }
        if new & CC_SHN_MASK == 0 && old & CC_SHN_MASK != 0 {
            self.csts &= !CSTS_SHST_CMPLT;
        }
    }

    fn clear(&mut self) {
        self.csts &= !CSTS_RDY;
        self.cc = 0;
    }

    fn admin(&mut self, capsule: &Capsule, catalog: &dyn Catalog, out: &mut Vec<Output>) -> Reply {
        let sqe = &capsule.sqe;
        match sqe.opcode() {
            OPC_GET_LOG_PAGE => self.get_log_page(capsule, catalog, out),
            OPC_IDENTIFY => {
                let cns = sqe.byte(40);
                event(out, Event::Identify { cns });
                match xfer(capsule, Xfer::Read(IDENTIFY_LEN), out) {
                    Err(s) => status(s),
                    Ok(()) if cns != CNS_CTRL => status(INVALID_FIELD),
                    Ok(()) => data(self.identify()),
                }
            }
            OPC_SET_FEATURES => {
                let (fid, value) = (sqe.byte(40), sqe.le32(44));
                event(out, Event::SetFeatures { fid, value });
                match xfer(capsule, Xfer::None, out) {
                    Err(s) => status(s),
                    Ok(()) if fid == FID_ASYNC_EVENT && value & !AEN_DISC_CHANGE == 0 => {
                        self.aen_enabled = value;
                        result(u64::from(value))
                    }
                    Ok(()) if fid == FID_KATO => {
                        self.kato_s = value.div_ceil(1000);
                        result(u64::from(self.kato_s))
                    }
                    Ok(()) => status(INVALID_FIELD),
                }
            }
            OPC_GET_FEATURES => {
                let fid = sqe.byte(40);
                event(out, Event::GetFeatures { fid });
                match xfer(capsule, Xfer::None, out) {
                    Err(s) => status(s),
                    Ok(()) if fid == FID_ASYNC_EVENT => result(u64::from(self.aen_enabled)),
                    Ok(()) if fid == FID_KATO => {
                        result(u64::from(self.kato_s.saturating_mul(1000)))
                    }
                    Ok(()) => status(INVALID_FIELD),
                }
            }
            OPC_ASYNC_EVENT => {
                if let Err(s) = xfer(capsule, Xfer::None, out) {
                    return status(s);
                }
                if self.aers.len() >= MAX_AERS {
                    return status(ASYNC_LIMIT);
                }
                self.aers.push(sqe.cid());
                event(out, Event::AerHeld { cid: sqe.cid() });
                if self.aen_pending && self.send_aen(out) {
                    self.aen_pending = false;
                }
                Reply::Held
            }
            OPC_KEEP_ALIVE => {
                event(out, Event::KeepAlive);
                match xfer(capsule, Xfer::None, out) {
                    Err(s) => status(s),
                    Ok(()) => result(0),
                }
            }
            OPC_DIM if self.ctrl.dim => match xfer(capsule, Xfer::Write(None), out) {
                Err(s) => status(s),
                Ok(()) => {
                    event(
                        out,
                        Event::Dim {
                            tas: sqe.byte(40) & 0x0F,
                            data: capsule.data.clone(),
                        },
                    );
                    result(0)
                }
            },
            opcode => {
                event(
                    out,
                    Event::Unsupported {
                        opcode,
                        fctype: None,
                    },
                );
                status(INVALID_OPCODE)
            }
        }
    }

    fn get_log_page(
        &mut self,
        capsule: &Capsule,
        catalog: &dyn Catalog,
        out: &mut Vec<Output>,
    ) -> Reply {
        let sqe = &capsule.sqe;
        let (lid, lsp, rae) = (sqe.byte(40), sqe.byte(41) & 0x7F, sqe.byte(41) & 0x80 != 0);
        let numd = (u64::from(sqe.le16(44)) << 16) | u64::from(sqe.le16(42));
        let (len, offset) = ((numd + 1) * 4, sqe.le64(48));
        event(
            out,
            Event::GetLogPage {
                lid,
                lsp,
                rae,
                offset,
                len: u32::try_from(len).unwrap_or(u32::MAX),
            },
        );
        if let Err(s) = xfer(capsule, Xfer::Read(len), out) {
            return status(s);
        }
        let page = match lid {
            _ if len > MAX_READ_LEN => return status(INVALID_FIELD),
            LID_SUPPORTED => self.supported_log_pages(),
            LID_DISCOVERY => catalog.discovery_log(lsp),
            _ => return status(INVALID_LOG_PAGE),
        };
        // nvmet: the offset must be dword aligned; past the end there is nothing to give.
        let Some(rest) = usize::try_from(offset)
            .ok()
            .filter(|_| offset % 4 == 0)
            .and_then(|o| page.get(o..))
        else {
            return status(INVALID_FIELD);
        };
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let n = rest.len().min(bytes.len());
        bytes[..n].copy_from_slice(&rest[..n]);
        if lid == LID_DISCOVERY && !rae {
            self.aen_masked = false;
        }
        data(bytes)
    }

    /// Identify Controller (CNS 1), as nvmet's discovery controller fills it, plus DCTYPE
    /// and AERL. Offsets are those of `struct nvme_id_ctrl`.
    fn identify(&self) -> Vec<u8> {
        let mut id = vec![0u8; 4096];
        text(&mut id, 4, 20, &self.ctrl.serial);
        text(&mut id, 24, 40, &self.ctrl.model);
        text(&mut id, 64, 8, &self.ctrl.firmware);
        pdu::put(&mut id, 78, &self.cntlid.to_le_bytes());
        pdu::put(&mut id, 80, &VS.to_le_bytes());
        pdu::put(&mut id, 92, &AEN_DISC_CHANGE.to_le_bytes()); // OAES
        pdu::put(&mut id, 111, &[2]); // CNTRLTYPE: discovery
        pdu::put(&mut id, 259, &[u8::try_from(MAX_AERS - 1).unwrap_or(0)]); // AERL
        pdu::put(&mut id, 261, &[1 << 2]); // LPA: extended data for Get Log Page
        pdu::put(&mut id, 514, &MAXCMD.to_le_bytes());
        pdu::put(&mut id, 536, &(1u32 | (1 << 20)).to_le_bytes()); // SGLS: SGLs, in-capsule offsets
        let nqn = self.ctrl.nqn.as_bytes();
        pdu::put(&mut id, 768, nqn.get(..255).unwrap_or(nqn)); // SUBNQN, NUL terminated
        pdu::put(&mut id, 1806, &[self.ctrl.dctype.code()]);
        id
    }

    /// The Supported Log Pages log: itself and the discovery log (with PLEOS if so).
    fn supported_log_pages(&self) -> Vec<u8> {
        let mut log = vec![0u8; 1024];
        pdu::put(&mut log, 0, &LSUPP.to_le_bytes());
        let disc = LSUPP | if self.ctrl.pleo { PLEOS } else { 0 };
        pdu::put(
            &mut log,
            4 * usize::from(LID_DISCOVERY),
            &disc.to_le_bytes(),
        );
        log
    }
}

fn event(out: &mut Vec<Output>, event: Event) {
    out.push(Output::Event(event));
}

/// Checks the command's SGL against how it moves data, as nvmet's TCP transport
/// (`nvmet_tcp_map_data`) and `nvmet_check_transfer_len` do; records what was wrong.
fn xfer(capsule: &Capsule, xfer: Xfer, out: &mut Vec<Output>) -> Result<(), u16> {
    let sqe = &capsule.sqe;
    let (len, in_capsule) = (sqe.sgl_len(), sqe.sgl_type() == pdu::SGL_IN_CAPSULE);
    let write = matches!(xfer, Xfer::Write(_));
    let expected = match xfer {
        Xfer::None => len == 0,
        Xfer::Read(n) => u64::from(len) == n,
        Xfer::Write(n) => n.is_none_or(|n| len == n),
    };
    let error = if in_capsule && len > 0 && !write {
        Some((INVALID_FIELD, "in-capsule data for a command that reads"))
    } else if in_capsule && sqe.sgl_addr() != 0 {
        Some((SGL_OFFSET_INVALID, "in-capsule data offset is not 0"))
    } else if in_capsule && usize::try_from(len).ok() != Some(capsule.data.len()) {
        Some((
            SGL_DATA_LEN_INVALID,
            "SGL length is not the capsule's data length",
        ))
    } else if !in_capsule && !capsule.data.is_empty() {
        Some((INVALID_FIELD, "capsule data the SGL does not describe"))
    } else if !in_capsule && write && len > 0 {
        Some((INVALID_FIELD, "write data not in the capsule (no R2T here)"))
    } else if !expected {
        Some((SGL_DATA_LEN_INVALID, "data length is not the command's"))
    } else {
        None
    };
    match error {
        None => Ok(()),
        Some((status, what)) => {
            let reason = format!("command {:#04x}: {what}", sqe.opcode());
            event(out, Event::ProtocolError { reason });
            Err(status)
        }
    }
}

fn invalid_param(ipo: u64) -> Reply {
    Reply::Done {
        status: CONNECT_INVALID_PARAM,
        result: ipo,
        data: None,
    }
}

/// An NQN field of the Connect data: 256 bytes from `off`, cut at the first NUL.
fn nqn(data: &[u8], off: usize) -> String {
    let field = data.get(off..).unwrap_or_default();
    let field = field.get(..256).unwrap_or(field);
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// An ASCII text field of Identify: `len` bytes at `off`, space padded (other than
/// printable ASCII becomes `?`).
fn text(buf: &mut [u8], off: usize, len: usize, s: &str) {
    let mut field = vec![b' '; len];
    for (dst, b) in field.iter_mut().zip(s.bytes()) {
        *dst = if b == b' ' || b.is_ascii_graphic() {
            b
        } else {
            b'?'
        };
    }
    pdu::put(buf, off, &field);
}

#[cfg(test)]
mod tests;
