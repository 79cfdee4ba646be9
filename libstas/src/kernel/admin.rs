//! Admin procedures built on the one passthrough primitive of the [`Kernel`] seam, so they
//! run the same against the real kernel and the fake: the generation-consistent discovery
//! log read, Supported Log Pages, Identify Controller (cntrltype/dctype fallback) and TP8010
//! registration.

use super::error::AdminError;
use super::sysfs::Controller;
use super::Kernel;
use crate::proto::admin::{dim, identify_ctrl, GetLogPage, IDENTIFY_LEN};
use crate::proto::consts::{
    adrfam, DimTask, LID_DISCOVERY, LID_SUPPORTED_LOG_PAGES, NSID_ALL, NSID_NONE,
};
use crate::proto::dim::{encode_dim, DimRequest};
use crate::proto::dlp::{
    DiscoveryLog, DlpError, DlpHeader, DEFAULT_MAX_ENTRIES, HEADER_LEN, HEADER_READ_LEN,
};
use crate::proto::identify::{
    parse_identify_ctrl, CntrlType, DcType, IdentifyCtrl, SupportedLogPages,
};

/// The Get Log Page transfer every controller takes (libnvme reads in 4 KiB chunks).
pub const CHUNK: usize = 4096;
/// The transfer tried first (issue 20): Linux nvmet builds its whole discovery log for every
/// Get Log Page, so reading 256 entries in 4 KiB chunks costs 65 builds of the whole log
/// (0.2 s in the rig) where 64 KiB chunks cost 5. A controller or host kernel that refuses
/// it (beyond MDTS / max_hw_sectors: EINVAL, or an error status) is read in [`CHUNK`]s.
pub const BIG_CHUNK: usize = 64 * 1024;

/// How to read the discovery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlpOptions {
    /// LSP bits (e.g. [`crate::proto::consts::LSP_PLEO`]); send only what the DC supports.
    pub lsp: u8,
    /// Attempts when the generation counter moves during the read (nvme-stas: 6).
    pub max_retries: u32,
    /// Cap on NUMREC.
    pub max_entries: u64,
    /// The transfer to try first ([`BIG_CHUNK`]; never less than [`CHUNK`]).
    pub chunk: usize,
}

impl Default for DlpOptions {
    fn default() -> Self {
        Self {
            lsp: 0,
            max_retries: 6,
            max_entries: DEFAULT_MAX_ENTRIES,
            chunk: BIG_CHUNK,
        }
    }
}

fn get_log(k: &dyn Kernel, device: &str, glp: GetLogPage) -> Result<Vec<u8>, AdminError> {
    let cmd = glp.encode()?;
    let mut buf = vec![0u8; usize::try_from(glp.len).unwrap_or(0)];
    k.admin(device, &cmd, &mut buf)?;
    Ok(buf)
}

fn read_header(k: &dyn Kernel, device: &str, lsp: u8, rae: bool) -> Result<DlpHeader, AdminError> {
    let glp = GetLogPage {
        lid: LID_DISCOVERY,
        lsp,
        rae,
        nsid: NSID_NONE,
        offset: 0,
        len: u32::try_from(HEADER_READ_LEN).unwrap_or(20),
    };
    let buf = get_log(k, device, glp)?;
    DlpHeader::parse(&buf).map_err(|source| AdminError::Log {
        device: device.to_owned(),
        source,
    })
}

/// Reads the discovery log of `device` consistently (kernel-interface.md §3.4): header,
/// entries in [`BIG_CHUNK`]s (else 4 KiB ones), header again, retried while the generation counter moves.
/// Every read retains the AEN (RAE=1) except the final header read, which clears it so the
/// controller re-arms its "log changed" notification; that final read is done even for an
/// empty log.
///
/// # Errors
/// [`AdminError`]: command failure, NUMREC above the cap, a log that keeps changing, or an
/// inconsistent NUMREC.
pub fn get_discovery_log(
    k: &dyn Kernel,
    device: &str,
    opts: &DlpOptions,
) -> Result<DiscoveryLog, AdminError> {
    let mut retries = 0;
    let mut chunk = opts.chunk.max(CHUNK);
    loop {
        let hdr = read_header(k, device, opts.lsp, true)?;
        if hdr.numrec > opts.max_entries {
            // Still clear RAE so the controller keeps notifying us.
            read_header(k, device, opts.lsp, false)?;
            return Err(AdminError::Log {
                device: device.to_owned(),
                source: DlpError::TooManyEntries {
                    numrec: hdr.numrec,
                    max: opts.max_entries,
                },
            });
        }
        let total = usize::try_from(hdr.numrec)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024);
        let mut entries = Vec::with_capacity(total);
        let mut off = 0;
        let mut shrank = false;
        while off < total {
            let len = chunk.min(total - off);
            let glp = GetLogPage {
                lid: LID_DISCOVERY,
                lsp: opts.lsp,
                rae: true,
                nsid: NSID_NONE,
                offset: u64::try_from(HEADER_LEN + off).unwrap_or(u64::MAX),
                len: u32::try_from(len).unwrap_or(u32::MAX),
            };
            match get_log(k, device, glp) {
                Ok(b) => entries.extend_from_slice(&b),
                // Too large for the controller or the host: this read and the next ones in
                // CHUNKs (a log that shrank fails the same way again, below).
                Err(e) if len > CHUNK => {
                    tracing::debug!(%device, len, error = %e, "discovery log read in 4 KiB chunks");
                    chunk = CHUNK;
                    continue;
                }
                // The log shrank since its header was read (nvmet answers an offset past
                // its end with Invalid Field): a generation change, read it again.
                Err(e) if e.status().is_some_and(|s| s.sct() == 0 && s.sc() == 0x02) => {
                    shrank = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            off += len;
        }
        let again = if shrank {
            None
        } else {
            Some(read_header(k, device, opts.lsp, false)?)
        };
        if let Some(again) = again.filter(|a| a.genctr == hdr.genctr) {
            if again.numrec != hdr.numrec {
                return Err(AdminError::NumrecChanged {
                    device: device.to_owned(),
                    from: hdr.numrec,
                    to: again.numrec,
                });
            }
            return DiscoveryLog::from_parts(hdr, &entries, opts.max_entries).map_err(|source| {
                AdminError::Log {
                    device: device.to_owned(),
                    source,
                }
            });
        }
        retries += 1;
        if retries >= opts.max_retries {
            // Still clear RAE so the controller keeps notifying us.
            if shrank {
                read_header(k, device, opts.lsp, false)?;
            }
            return Err(AdminError::GenerationChanged {
                device: device.to_owned(),
            });
        }
    }
}

/// Reads the Supported Log Pages log (LID 0) with RAE=1, as nvme-stas does.
///
/// # Errors
/// [`AdminError`] from the command or a short reply.
pub fn supported_log_pages(k: &dyn Kernel, device: &str) -> Result<SupportedLogPages, AdminError> {
    let glp = GetLogPage {
        lid: LID_SUPPORTED_LOG_PAGES,
        lsp: 0,
        rae: true,
        nsid: NSID_ALL,
        offset: 0,
        len: u32::try_from(SupportedLogPages::LEN).unwrap_or(1024),
    };
    Ok(SupportedLogPages::parse(&get_log(k, device, glp)?)?)
}

/// Identify Controller.
///
/// # Errors
/// [`AdminError`] from the command.
pub fn identify(k: &dyn Kernel, device: &str) -> Result<IdentifyCtrl, AdminError> {
    let cmd = identify_ctrl();
    let mut buf = vec![0u8; usize::try_from(IDENTIFY_LEN).unwrap_or(4096)];
    k.admin(device, &cmd, &mut buf)?;
    Ok(parse_identify_ctrl(&buf)?)
}

/// The controller's `(cntrltype, dctype)`: from sysfs when present (5.18+), else from
/// Identify (what libnvme does).
///
/// # Errors
/// [`AdminError`] from Identify when it was needed.
pub fn ctrl_types(k: &dyn Kernel, c: &Controller) -> Result<(CntrlType, DcType), AdminError> {
    if let (Some(t), Some(d)) = (c.cntrltype, c.dctype) {
        return Ok((t, d));
    }
    let id = identify(k, &c.device)?;
    Ok((
        c.cntrltype.unwrap_or(id.cntrltype),
        c.dctype.unwrap_or(id.dctype),
    ))
}

/// Host facts carried in a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Host name (DIM ENAME).
    pub hostname: String,
    /// `"<ostype> <osrelease> <NAME> <VERSION_ID>"` (DIM EVER).
    pub os_version: String,
}

/// Identity of the host for a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registrant<'a> {
    /// Host NQN.
    pub host_nqn: &'a str,
    /// Host ID.
    pub host_id: &'a str,
    /// Optional host symbolic name.
    pub symname: Option<&'a str>,
}

/// Sends a TP8010 DIM command (register, deregister or update) to discovery controller `c`.
/// Only TCP discovery controllers of type DDC or CDC take registrations. The DIE carries an
/// empty TRADDR (the DC uses the connection's source address) and the address family of the
/// connection (source address when known, else the DC's address). Returns CQE dword 0.
///
/// # Errors
/// [`AdminError::NotSupported`] for other controllers; [`AdminError::Status`] when the DC
/// rejects the registration; other [`AdminError`]s from the command.
pub fn dim_send(
    k: &dyn Kernel,
    c: &Controller,
    tas: DimTask,
    who: &Registrant<'_>,
) -> Result<u32, AdminError> {
    if c.transport != "tcp" {
        return Err(AdminError::NotSupported {
            device: c.device.clone(),
            what: "registration (TP8010) is only defined for TCP discovery controllers",
        });
    }
    let (_, dctype) = ctrl_types(k, c)?;
    if !dctype.supports_registration() {
        return Err(AdminError::NotSupported {
            device: c.device.clone(),
            what: "the discovery controller does not take registrations (dctype is not ddc/cdc)",
        });
    }
    let family_of = |s: &Option<String>| s.as_deref().and_then(super::netif::ip_key);
    let v6 = family_of(&c.address.src_addr)
        .or_else(|| family_of(&c.address.traddr))
        .is_some_and(|a| a.is_ipv6());
    let info = k.host_info();
    let payload = encode_dim(&DimRequest {
        host_nqn: who.host_nqn,
        host_id: who.host_id,
        entity_name: &info.hostname,
        entity_version: &info.os_version,
        symname: who.symname,
        adrfam: if v6 { adrfam::IP6 } else { adrfam::IP4 },
    })?;
    let mut buf = payload;
    let cmd = dim(tas, u32::try_from(buf.len()).unwrap_or(u32::MAX));
    k.admin(&c.device, &cmd, &mut buf)
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;
    use crate::kernel::fabrics::{build_connect_string, ConnectParams, CtrlKind};
    use crate::kernel::fake::{FakeAdminFailure, FakeKernel, FakeTarget, TargetId};
    use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};
    use crate::proto::admin::NvmeStatus;
    use crate::proto::consts::{AEN_DISC_LOG_CHANGED, LSP_PLEO};
    use crate::proto::dlp::{LogEntry, Tsas};
    use crate::proto::uevent::NvmeEventKind;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
    const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

    fn entry(i: u16) -> LogEntry {
        LogEntry {
            trtype: 3,
            adrfam: 1,
            subtype: 2,
            treq: 0,
            portid: 1,
            cntlid: 0xffff,
            asqsz: 32,
            eflags: 0,
            trsvcid: "4420".into(),
            subnqn: format!("nqn.2024-01.io.example:sub{i}"),
            traddr: "127.0.0.1".into(),
            tsas: Tsas::Tcp { sectype: 0 },
        }
    }

    fn setup(target: FakeTarget) -> (FakeKernel, TargetId, Controller) {
        let k = FakeKernel::new();
        let id = k.add_target(target);
        let t = k.target(id).unwrap();
        let tid = TransportId {
            transport: t.transport.clone(),
            traddr: t.traddr.clone(),
            trsvcid: t.trsvcid.clone(),
            subsysnqn: WELL_KNOWN_DISC_NQN.into(),
            host_nqn: HOSTNQN.into(),
            ..TransportId::default()
        };
        let o = k.supported_options().unwrap();
        let cs = build_connect_string(&ConnectParams::new(&tid, HOSTID, CtrlKind::Discovery), &o)
            .unwrap();
        let r = k.connect(&cs).unwrap();
        let c = k.read_controller(&r.device()).unwrap().unwrap();
        k.take_events();
        (k, id, c)
    }

    fn rae_pattern(k: &FakeKernel) -> Vec<(u64, u32, bool)> {
        k.log_reads()
            .iter()
            .map(|(_, g)| (g.offset, g.len, g.rae))
            .collect()
    }

    #[test]
    fn consistent_read_in_chunks_with_rae_cleared_last() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.log = (0..5).map(entry).collect();
        let (k, _, c) = setup(t);
        let log = get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        assert_eq!(log.entries, (0..5).map(entry).collect::<Vec<_>>());
        assert_eq!(
            rae_pattern(&k),
            vec![(0, 20, true), (1024, 5120, true), (0, 20, false)]
        );
        // 4 KiB chunks when asked for.
        let opts = DlpOptions {
            chunk: CHUNK,
            ..DlpOptions::default()
        };
        let before = rae_pattern(&k).len();
        get_discovery_log(&k, &c.device, &opts).unwrap();
        assert_eq!(
            rae_pattern(&k)[before..],
            vec![
                (0, 20, true),
                (1024, 4096, true),
                (5120, 1024, true),
                (0, 20, false)
            ]
        );
    }

    #[test]
    fn a_controller_that_refuses_large_transfers_is_read_in_4k_chunks() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.log = (0..70).map(entry).collect();
        let (k, _, c) = setup(t);
        get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        assert_eq!(
            rae_pattern(&k),
            vec![
                (0, 20, true),
                (1024, 65536, true),
                (66560, 6144, true),
                (0, 20, false)
            ],
            "70 entries in two transfers"
        );
        // The host allows 4 KiB: the refused 64 KiB read (not recorded) is read again in
        // 4 KiB chunks, and so is the rest.
        k.set_max_transfer(CHUNK);
        let before = rae_pattern(&k).len();
        let log = get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        assert_eq!(log.entries, (0..70).map(entry).collect::<Vec<_>>());
        let reads = &rae_pattern(&k)[before..];
        assert_eq!(reads.len(), 1 + 18 + 1, "header, 18 chunks, header");
        assert!(reads[1..19].iter().all(|r| r.1 <= 4096 && r.2));
        assert_eq!(reads[19], (0, 20, false));
    }

    #[test]
    fn empty_log_still_clears_rae() {
        let (k, _, c) = setup(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        let log = get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        assert!(log.entries.is_empty());
        assert_eq!(rae_pattern(&k), vec![(0, 20, true), (0, 20, false)]);
    }

    #[test]
    fn generation_change_is_retried_then_reported() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.log = vec![entry(1)];
        let (k, id, c) = setup(t);
        k.change_log_during_next_read(id, vec![entry(2), entry(3)]);
        let log = get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        assert_eq!(log.entries, vec![entry(2), entry(3)]);
        assert_eq!(
            k.log_reads().len(),
            6,
            "two rounds of header/entries/header"
        );
        // A log that changes on every read exhausts the retries.
        let opts = DlpOptions {
            max_retries: 1,
            ..DlpOptions::default()
        };
        k.change_log_during_next_read(id, vec![entry(4)]);
        assert!(matches!(
            get_discovery_log(&k, &c.device, &opts),
            Err(AdminError::GenerationChanged { .. })
        ));
    }

    #[test]
    fn numrec_cap_and_failures() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.log = (0..3).map(entry).collect();
        let (k, _, c) = setup(t);
        let opts = DlpOptions {
            max_entries: 2,
            ..DlpOptions::default()
        };
        assert!(matches!(
            get_discovery_log(&k, &c.device, &opts),
            Err(AdminError::Log { .. })
        ));
        assert!(
            !k.log_reads().last().unwrap().1.rae,
            "RAE cleared even when refusing the log"
        );
        k.fail_next_admin(Some(&c.device), FakeAdminFailure::Status(0x370));
        let e = get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap_err();
        assert_eq!(e.status(), Some(NvmeStatus(0x370)));
        k.fail_next_admin(None, FakeAdminFailure::Errno(Errno::EINTR));
        assert!(matches!(
            get_discovery_log(&k, &c.device, &DlpOptions::default()),
            Err(AdminError::Os {
                errno: Errno::EINTR,
                ..
            })
        ));
        k.set_state(&c.device, crate::kernel::CtrlState::Connecting);
        assert!(matches!(
            get_discovery_log(&k, &c.device, &DlpOptions::default()),
            Err(AdminError::Open {
                errno: Errno::EAGAIN,
                ..
            })
        ));
    }

    #[test]
    fn aen_is_masked_until_the_log_is_read_with_rae_cleared() {
        let (k, id, c) = setup(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        let aens = |k: &FakeKernel| {
            k.take_events()
                .into_iter()
                .filter(|e| e.kind == NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED))
                .count()
        };
        k.set_log(id, vec![entry(1)]);
        assert_eq!(aens(&k), 1);
        k.set_log(id, vec![entry(1), entry(2)]);
        assert_eq!(aens(&k), 0, "masked: no read since the last AEN");
        get_discovery_log(&k, &c.device, &DlpOptions::default()).unwrap();
        k.set_log(id, vec![entry(3)]);
        assert_eq!(aens(&k), 1, "re-armed by the RAE=0 read");
    }

    #[test]
    fn a_log_shrinking_during_the_read_is_read_again() {
        let (k, id, c) = setup(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        // 8 entries: two 4 KiB chunks; after the first, the log shrinks to 2 entries and
        // the second chunk's offset is past its end.
        k.set_log(id, (1..=8).map(entry).collect());
        k.change_log_during_next_read(id, vec![entry(1), entry(2)]);
        let opts = DlpOptions {
            chunk: CHUNK,
            ..DlpOptions::default()
        };
        let log = get_discovery_log(&k, &c.device, &opts).unwrap();
        assert_eq!(log.entries.len(), 2);
        let last = k.log_reads().pop().unwrap().1;
        assert!(!last.rae, "the last read clears RAE");
    }

    #[test]
    fn supported_log_pages_pleo_and_identify_fallback() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.pleo = true;
        t.dctype = DcType::Ddc;
        let (k, _, c) = setup(t);
        let slp = supported_log_pages(&k, &c.device).unwrap();
        assert!(slp.pleo_supported());
        let (_, g) = k.log_reads().pop().unwrap();
        assert_eq!((g.lid, g.nsid, g.rae, g.len), (0, 0xffff_ffff, true, 1024));
        let opts = DlpOptions {
            lsp: LSP_PLEO,
            ..DlpOptions::default()
        };
        get_discovery_log(&k, &c.device, &opts).unwrap();
        assert!(k.log_reads().iter().skip(1).all(|(_, g)| g.lsp == LSP_PLEO));
        // A pre-5.18 view of the controller: types come from Identify.
        let mut old = c.clone();
        old.cntrltype = None;
        old.dctype = None;
        assert_eq!(
            ctrl_types(&k, &old).unwrap(),
            (CntrlType::Discovery, DcType::Ddc)
        );
        let id = identify(&k, &c.device).unwrap();
        assert_eq!(id.subnqn, WELL_KNOWN_DISC_NQN);
        assert!(id.disc_log_change_notices());
    }

    #[test]
    fn registration_rules_and_payload() {
        let mut t = FakeTarget::discovery("tcp", "127.0.0.1", "8009");
        t.dctype = DcType::Cdc;
        let (k, _, c) = setup(t);
        let who = Registrant {
            host_nqn: HOSTNQN,
            host_id: HOSTID,
            symname: Some("myhost"),
        };
        assert_eq!(dim_send(&k, &c, DimTask::Register, &who).unwrap(), 0);
        dim_send(&k, &c, DimTask::Deregister, &who).unwrap();
        let regs = k.registrations();
        assert_eq!(regs.len(), 2);
        assert_eq!((regs[0].tas, regs[1].tas), (0, 1));
        let s = &regs[0].summary;
        assert_eq!(s.eid, HOSTNQN);
        assert_eq!(s.host_id.as_deref(), Some(HOSTID));
        assert_eq!(s.symname.as_deref(), Some("myhost"));
        assert_eq!(s.ename, "fakehost");
        let (k2, _, plain) = setup(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        assert!(matches!(
            dim_send(&k2, &plain, DimTask::Register, &who),
            Err(AdminError::NotSupported { .. })
        ));
        let mut fc = plain.clone();
        fc.transport = "fc".into();
        assert!(matches!(
            dim_send(&k2, &fc, DimTask::Register, &who),
            Err(AdminError::NotSupported { .. })
        ));
    }
}
