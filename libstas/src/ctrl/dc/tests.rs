//! Unit tests of the discovery-controller state machine: every timer value, the
//! register → supported → get-log chain and its variants, AEN/rediscover/remove handling,
//! referrals, disposal (deregistration) and zeroconf aging.

use std::time::{Duration, SystemTime};

use super::*;
use crate::proto::consts::{subtype, trtype};
use crate::proto::dlp::Tsas;

const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

fn settings() -> DcSettings {
    DcSettings {
        host_id: HOSTID.into(),
        pleo: true,
        params: CfgParams {
            kato: Some(30),
            hdr_digest: Some(false),
            data_digest: Some(false),
            ..CfgParams::default()
        },
        persistence: Persistence::For(Duration::from_secs(600)),
        persistent: Persistent::Force,
        epcsd_poll: Duration::from_secs(900),
        dhchap_secret: None,
        dhchap_ctrl_secret: None,
        kernel_tls: false,
    }
}

fn tid(transport: &str) -> TransportId {
    TransportId {
        transport: transport.into(),
        traddr: "192.0.2.1".into(),
        trsvcid: "8009".into(),
        subsysnqn: WELL_KNOWN_DISC_NQN.into(),
        host_iface: "eth1".into(),
        host_nqn: HOST.into(),
        ..TransportId::default()
    }
}

fn entry(sub: u8, traddr: &str, nqn: &str) -> LogEntry {
    LogEntry {
        trtype: trtype::TCP,
        adrfam: 1,
        subtype: sub,
        treq: 0,
        portid: 1,
        cntlid: 0xffff,
        asqsz: 32,
        eflags: 0,
        trsvcid: if sub == subtype::REFERRAL {
            "8009"
        } else {
            "4420"
        }
        .into(),
        subnqn: nqn.into(),
        traddr: traddr.into(),
        tsas: Tsas::Tcp { sectype: 0 },
    }
}

const NOW: SystemTime = SystemTime::UNIX_EPOCH;

struct H {
    dc: Dc,
}

impl H {
    fn new(transport: &str, origin: Origin) -> Self {
        Self {
            dc: Dc::new(
                tid(transport),
                BTreeMap::new(),
                origin,
                settings(),
                Vec::new(),
            ),
        }
    }
    fn tcp() -> Self {
        Self::new("tcp", Origin::Configured)
    }
    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.dc.handle(e, NOW)
    }
    /// Start and connect successfully with `dctype`; returns the actions of the connect.
    fn connected(&mut self, dctype: Option<DcType>) -> Vec<Action> {
        let t = op_token(&self.ev(Event::Start));
        self.ev(Event::ConnectDone {
            token: t,
            device: "nvme0".into(),
            dctype,
        })
    }
    /// Completes the chain (whatever its steps) with `entries`.
    fn finish_chain(&mut self, mut acts: Vec<Action>, entries: &[LogEntry]) -> Vec<Action> {
        loop {
            let next = match acts.iter().find_map(op) {
                Some((t, "register")) => Event::RegisterDone { token: t },
                Some((t, "supported")) => Event::SupportedDone {
                    token: t,
                    pleos: true,
                },
                Some((t, "getlog")) => {
                    return self.ev(Event::LogPageDone {
                        token: t,
                        entries: entries.to_vec(),
                    })
                }
                other => panic!("no chain step in {acts:?} ({other:?})"),
            };
            acts = self.ev(next);
        }
    }
}

fn op(a: &Action) -> Option<(Token, &'static str)> {
    match a {
        Action::Connect { token, .. } => Some((*token, "connect")),
        Action::Register { token, .. } => Some((*token, "register")),
        Action::GetSupported { token, .. } => Some((*token, "supported")),
        Action::GetLogPage { token, .. } => Some((*token, "getlog")),
        Action::Deregister { token, .. } => Some((*token, "deregister")),
        Action::Disconnect { token, .. } => Some((*token, "disconnect")),
        _ => None,
    }
}

fn op_token(acts: &[Action]) -> Token {
    acts.iter()
        .find_map(op)
        .unwrap_or_else(|| panic!("no operation in {acts:?}"))
        .0
}

fn ops(acts: &[Action]) -> Vec<&'static str> {
    acts.iter().filter_map(op).map(|(_, n)| n).collect()
}

fn timers(acts: &[Action]) -> Vec<(TimerKind, Duration)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::StartTimer(k, d) => Some((*k, *d)),
            _ => None,
        })
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn connect_retries_3s_then_60s_forever() {
    let mut h = H::tcp();
    let a = h.ev(Event::Start);
    let Some(Action::Connect { token, params }) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(params.kind, Some(CtrlKind::Discovery));
    assert_eq!(params.keep_alive_tmo, Some(30));
    assert_eq!(params.host_id, HOSTID);
    assert_eq!(params.host_iface, "eth1");
    let mut token = *token;
    let mut expected = vec![secs(3), secs(60), secs(60), secs(60)];
    for (i, want) in expected.drain(..).enumerate() {
        let a = h.ev(Event::ConnectFailed {
            token,
            error: "refused".into(),
            permanent: false,
        });
        assert_eq!(
            timers(&a),
            vec![(TimerKind::ConnectRetry, want)],
            "failure {i}"
        );
        assert!(ops(&a).is_empty());
        assert_eq!(h.dc.connect_attempts(), u32::try_from(i).unwrap() + 1);
        let a = h.ev(Event::TimerFired(TimerKind::ConnectRetry));
        assert_eq!(ops(&a), vec!["connect"]);
        token = op_token(&a);
    }
    let a = h.ev(Event::ConnectDone {
        token,
        device: "nvme3".into(),
        dctype: Some(DcType::None),
    });
    assert_eq!(h.dc.device(), Some("nvme3"));
    assert_eq!(h.dc.connect_attempts(), 0);
    assert_eq!(ops(&a), vec!["supported"]);
}

#[test]
fn a_stale_timer_or_completion_does_nothing() {
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    assert!(h.ev(Event::TimerFired(TimerKind::ConnectRetry)).is_empty());
    assert!(h.ev(Event::RegisterDone { token: Token(99) }).is_empty());
    assert!(h
        .ev(Event::ConnectDone {
            token: Token(t.0 + 7),
            device: "nvme9".into(),
            dctype: None
        })
        .is_empty());
    assert_eq!(h.dc.device(), None);
}

#[test]
fn ddc_with_pleo_registers_reads_supported_then_log_with_pleo() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    assert_eq!(ops(&a), vec!["register"]);
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert!(h.dc.registered());
    assert_eq!(ops(&a), vec!["supported"]);
    let a = h.ev(Event::SupportedDone {
        token: op_token(&a),
        pleos: true,
    });
    assert!(matches!(
        a.as_slice(),
        [Action::GetLogPage { lsp: LSP_PLEO, device, .. }] if device == "nvme0"
    ));
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![entry(subtype::NVME, "192.0.2.1", "nqn.io:1")],
    });
    assert_eq!(
        a,
        vec![Action::LogPagesChanged {
            device: "nvme0".into()
        }]
    );
    assert_eq!(h.dc.log_pages().len(), 1);
    assert_eq!(h.dc.log_pages()[0]["subnqn"], "nqn.io:1");
}

#[test]
fn chain_variants_by_dctype_transport_and_pleo() {
    // CDC: register, no Supported Log Pages, log without PLEO.
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Cdc));
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert!(matches!(a.as_slice(), [Action::GetLogPage { lsp: 0, .. }]));
    // dctype none: no registration; PLEO not supported → lsp 0.
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::None));
    assert_eq!(ops(&a), vec!["supported"]);
    let a = h.ev(Event::SupportedDone {
        token: op_token(&a),
        pleos: false,
    });
    assert!(matches!(a.as_slice(), [Action::GetLogPage { lsp: 0, .. }]));
    // RDMA DDC: registration is TCP only.
    let mut h = H::new("rdma", Origin::Configured);
    assert_eq!(ops(&h.connected(Some(DcType::Ddc))), vec!["supported"]);
    // pleo disabled: DDC registers then reads the log directly.
    let mut h = H::tcp();
    h.dc.settings.pleo = false;
    let a = h.connected(Some(DcType::Ddc));
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert!(matches!(a.as_slice(), [Action::GetLogPage { lsp: 0, .. }]));
}

#[test]
fn step_retry_timers_5s_5s_20s() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    let a = h.ev(Event::RegisterFailed {
        token: op_token(&a),
        failure: RegisterFailure::Failed("EAGAIN".into()),
    });
    assert_eq!(timers(&a), vec![(TimerKind::RegisterRetry, secs(5))]);
    assert!(ops(&a).is_empty());
    let a = h.ev(Event::TimerFired(TimerKind::RegisterRetry));
    assert_eq!(ops(&a), vec!["register"]);
    // A status error is a warning: go on without retrying.
    let a = h.ev(Event::RegisterFailed {
        token: op_token(&a),
        failure: RegisterFailure::Rejected("status 0x4002".into()),
    });
    assert_eq!(ops(&a), vec!["supported"]);
    assert!(!h.dc.registered());
    let a = h.ev(Event::SupportedFailed {
        token: op_token(&a),
        error: "EIO".into(),
    });
    assert_eq!(timers(&a), vec![(TimerKind::SupportedRetry, secs(5))]);
    let a = h.ev(Event::TimerFired(TimerKind::SupportedRetry));
    let a = h.ev(Event::SupportedDone {
        token: op_token(&a),
        pleos: false,
    });
    let a = h.ev(Event::LogPageFailed {
        token: op_token(&a),
        error: "EIO".into(),
    });
    assert_eq!(timers(&a), vec![(TimerKind::GetLogRetry, secs(20))]);
    let a = h.ev(Event::TimerFired(TimerKind::GetLogRetry));
    assert_eq!(ops(&a), vec!["getlog"]);
    let v = h.dc.get_log_view(Some(secs(1))).unwrap();
    assert_eq!((v.fail_count, v.completed), (1, None));
}

#[test]
fn not_supported_registration_is_skipped() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    let a = h.ev(Event::RegisterFailed {
        token: op_token(&a),
        failure: RegisterFailure::NotSupported,
    });
    assert_eq!(ops(&a), vec!["supported"]);
}

#[test]
fn aen_rereads_the_log() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::None));
    h.finish_chain(a, &[]);
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    assert!(matches!(
        a.as_slice(),
        [Action::GetLogPage { lsp: LSP_PLEO, .. }]
    ));
    // An AEN during the read: one more read after it.
    assert!(h
        .ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)))
        .is_empty());
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![],
    });
    assert_eq!(ops(&a), vec!["getlog"]);
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![],
    });
    assert_eq!(ops(&a), Vec::<&str>::new());
    // Other AENs are ignored.
    assert!(h
        .ev(Event::Uevent(NvmeEventKind::Aen(0x0001_0002)))
        .is_empty());
    // While waiting to retry the log read, an AEN reads at once.
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    let _ = h.ev(Event::LogPageFailed {
        token: op_token(&a),
        error: "x".into(),
    });
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    assert_eq!(a[0], Action::CancelTimer(TimerKind::GetLogRetry));
    assert_eq!(ops(&a), vec!["getlog"]);
}

#[test]
fn events_lost_rereads_or_resyncs() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    h.finish_chain(a, &[]);
    // Still connected: only the log is read again (that re-arms the AEN).
    let a = h.ev(Event::EventsLost { reconnected: false });
    assert_eq!(ops(&a), vec!["getlog"]);
    // Lost again during that read: one more read after it.
    assert!(h.ev(Event::EventsLost { reconnected: false }).is_empty());
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![],
    });
    assert_eq!(ops(&a), vec!["getlog"]);
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![entry(subtype::NVME, "127.0.0.1", "nqn.new")],
    });
    assert!(matches!(a.as_slice(), [Action::LogPagesChanged { .. }]));
    assert_eq!(h.dc.log_pages().len(), 1);
    // Reconnected meanwhile: the whole chain, registration first.
    let a = h.ev(Event::EventsLost { reconnected: true });
    assert_eq!(ops(&a), vec!["register"]);
    h.finish_chain(a, &[]);
    // Not connected, or being disposed of: nothing.
    let _ = h.ev(Event::Uevent(NvmeEventKind::Removed));
    assert!(h.ev(Event::EventsLost { reconnected: false }).is_empty());
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::None));
    h.finish_chain(a, &[]);
    let _ = h.ev(Event::Shutdown { keep: true });
    assert!(h.ev(Event::EventsLost { reconnected: true }).is_empty());
}

#[test]
fn rediscover_reregisters_and_rereads() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    h.finish_chain(a, &[]);
    for kind in [NvmeEventKind::Rediscover, NvmeEventKind::Connected] {
        let a = h.ev(Event::Uevent(kind));
        assert_eq!(ops(&a), vec!["register"], "{kind:?}");
        let a = h.finish_chain(a, &[]);
        assert!(matches!(a.as_slice(), [Action::LogPagesChanged { .. }]));
    }
    // During the chain: restart it from the registration once the current step is done.
    let a = h.ev(Event::Uevent(NvmeEventKind::Rediscover));
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert_eq!(ops(&a), vec!["supported"]);
    assert!(h.ev(Event::Uevent(NvmeEventKind::Rediscover)).is_empty());
    let a = h.ev(Event::SupportedDone {
        token: op_token(&a),
        pleos: true,
    });
    assert_eq!(ops(&a), vec!["register"]);
}

#[test]
fn remove_keeps_the_cache_and_reconnects_in_3s() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::None));
    h.finish_chain(a, &[entry(subtype::NVME, "192.0.2.1", "nqn.io:1")]);
    // A get-log in flight when the device goes away.
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    let stale = op_token(&a);
    let a = h.ev(Event::Uevent(NvmeEventKind::Removed));
    assert_eq!(timers(&a), vec![(TimerKind::ConnectRetry, secs(3))]);
    assert_eq!(h.dc.device(), None);
    assert_eq!(h.dc.log_pages().len(), 1, "cached entries kept");
    assert!(h
        .ev(Event::LogPageDone {
            token: stale,
            entries: vec![]
        })
        .is_empty());
    assert_eq!(h.dc.log_pages().len(), 1);
    let a = h.ev(Event::TimerFired(TimerKind::ConnectRetry));
    assert_eq!(ops(&a), vec!["connect"]);
    // A failure after a remove: fast retry first.
    let a = h.ev(Event::ConnectFailed {
        token: op_token(&a),
        error: "refused".into(),
        permanent: false,
    });
    assert_eq!(timers(&a), vec![(TimerKind::ConnectRetry, secs(3))]);
}

#[test]
fn referrals_follow_the_log_and_inherit_host_fields() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::None));
    let page = [
        entry(subtype::NVME, "192.0.2.1", "nqn.io:1"),
        entry(subtype::REFERRAL, "192.0.2.9", WELL_KNOWN_DISC_NQN),
        entry(subtype::CURRENT_DISCOVERY, "192.0.2.1", WELL_KNOWN_DISC_NQN),
    ];
    let a = h.finish_chain(a, &page);
    assert!(a.contains(&Action::ReferralsChanged));
    let r = h.dc.referrals();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].traddr, "192.0.2.9");
    assert_eq!(r[0].host_iface, "eth1");
    assert_eq!(r[0].host_nqn, HOST);
    // Same referrals again: no reconcile needed.
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: page.to_vec(),
    });
    assert!(!a.contains(&Action::ReferralsChanged));
    // Referral gone.
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: page[..1].to_vec(),
    });
    assert!(a.contains(&Action::ReferralsChanged));
    assert!(h.dc.referrals().is_empty());
    // A warm-restart cache carries its referrals.
    let cached = Dc::new(
        tid("tcp"),
        BTreeMap::new(),
        Origin::Configured,
        settings(),
        page.iter().map(LogEntry::to_stas_dict).collect(),
    );
    assert_eq!(cached.referrals().len(), 1);
}

#[test]
fn remove_deregisters_then_disconnects() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    h.finish_chain(a, &[]);
    let a = h.ev(Event::Remove);
    assert!(matches!(a.as_slice(), [Action::Deregister { device, .. }] if device == "nvme0"));
    let a = h.ev(Event::Deregistered {
        token: op_token(&a),
    });
    assert!(matches!(a.as_slice(), [Action::Disconnect { device, .. }] if device == "nvme0"));
    let a = h.ev(Event::Disconnected {
        token: op_token(&a),
    });
    assert_eq!(a, vec![Action::Disposed]);
    assert!(h.dc.is_disposed());
    assert!(h.ev(Event::Start).is_empty());
}

#[test]
fn remove_waits_for_the_operation_in_flight() {
    // Connect in flight: wait, then disconnect what it created (never registered).
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    assert!(h.ev(Event::Remove).is_empty());
    let a = h.ev(Event::ConnectDone {
        token: t,
        device: "nvme1".into(),
        dctype: Some(DcType::Ddc),
    });
    assert_eq!(ops(&a), vec!["disconnect"]);
    // Register in flight: it completes, then deregister and disconnect.
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    assert!(h.ev(Event::Remove).is_empty());
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert_eq!(ops(&a), vec!["deregister"]);
    // Connect failing while being removed: done.
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    h.ev(Event::Remove);
    let a = h.ev(Event::ConnectFailed {
        token: t,
        error: "x".into(),
        permanent: false,
    });
    assert_eq!(a, vec![Action::Disposed]);
}

#[test]
fn shutdown_keeps_or_drops_the_connection() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    let a = h.finish_chain(a, &[]);
    assert!(!a.is_empty());
    let a = h.ev(Event::Shutdown { keep: true });
    assert_eq!(
        a,
        vec![Action::Disposed],
        "keep: no deregistration, no disconnect"
    );
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    h.finish_chain(a, &[]);
    assert_eq!(
        ops(&h.ev(Event::Shutdown { keep: false })),
        vec!["deregister"]
    );
    // Not connected, retry timer running: cancel it and finish.
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    h.ev(Event::ConnectFailed {
        token: t,
        error: "x".into(),
        permanent: false,
    });
    let a = h.ev(Event::Shutdown { keep: false });
    assert_eq!(
        a,
        vec![
            Action::CancelTimer(TimerKind::ConnectRetry),
            Action::Disposed
        ]
    );
}

#[test]
fn reload_resends_dim_with_new_settings() {
    let mut h = H::tcp();
    let a = h.connected(Some(DcType::Ddc));
    h.finish_chain(a, &[]);
    let mut s = settings();
    s.pleo = false;
    let a = h.ev(Event::Reload(s));
    assert_eq!(ops(&a), vec!["register"]);
    let a = h.ev(Event::RegisterDone {
        token: op_token(&a),
    });
    assert!(matches!(a.as_slice(), [Action::GetLogPage { lsp: 0, .. }]));
}

#[test]
fn permanent_failure_waits_for_a_reload() {
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    let a = h.ev(Event::ConnectFailed {
        token: t,
        error: "invalid traddr".into(),
        permanent: true,
    });
    assert!(a.is_empty());
    assert_eq!(ops(&h.ev(Event::Reload(settings()))), vec!["connect"]);
}

#[test]
fn zeroconf_aging() {
    let mut h = H::new("tcp", Origin::Discovered);
    assert!(!h.dc.is_unresponsive());
    // Not reported, not connected: start aging once.
    let a = h.ev(Event::Reported(false));
    assert_eq!(timers(&a), vec![(TimerKind::Aging, secs(600))]);
    assert!(
        timers(&h.ev(Event::Reported(false))).is_empty(),
        "started once"
    );
    assert_eq!(h.dc.lost_since(), Some(NOW));
    assert_eq!(
        h.ev(Event::TimerFired(TimerKind::Aging)),
        vec![Action::RequestReconcile]
    );
    assert!(h.dc.is_unresponsive());
    // Reported again: aging stops.
    let a = h.ev(Event::Reported(true));
    assert!(!h.dc.is_unresponsive());
    assert!(a.is_empty(), "timer already expired: nothing to cancel");
    let a = h.ev(Event::Reported(false));
    assert_eq!(timers(&a), vec![(TimerKind::Aging, secs(600))]);
    // Connected: aging stops.
    let t = op_token(&h.ev(Event::Start));
    let a = h.ev(Event::ConnectDone {
        token: t,
        device: "nvme0".into(),
        dctype: None,
    });
    assert!(a.contains(&Action::CancelTimer(TimerKind::Aging)));
    // Configured controllers never age; forever never purges.
    let mut h = H::tcp();
    assert!(timers(&h.ev(Event::Reported(false))).is_empty());
    let mut h = H::new("tcp", Origin::Discovered);
    h.dc.settings.persistence = Persistence::Forever;
    assert!(timers(&h.ev(Event::Reported(false))).is_empty());
    // An origin that becomes configured stops aging.
    let mut h = H::new("tcp", Origin::Discovered);
    h.ev(Event::Reported(false));
    assert_eq!(
        h.ev(Event::SetOrigin(Origin::Configured)),
        vec![Action::CancelTimer(TimerKind::Aging)]
    );
}

#[test]
fn views() {
    let mut h = H::tcp();
    let t = op_token(&h.ev(Event::Start));
    let v = h.dc.connect_view(None).unwrap();
    assert_eq!((v.fail_count, v.completed, v.alive), (0, None, true));
    h.ev(Event::ConnectFailed {
        token: t,
        error: "refused".into(),
        permanent: false,
    });
    let v = h.dc.connect_view(Some(secs(2))).unwrap();
    assert_eq!(v.completed, Some(false));
    assert_eq!(v.error.as_deref(), Some("refused"));
    assert_eq!(
        v.retry_timer,
        Some(TimerView {
            period: secs(3),
            remaining: Some(secs(2))
        })
    );
    let tv = h.dc.timer_view(TimerKind::RegisterRetry, Some(secs(1)));
    assert_eq!((tv.period, tv.remaining), (secs(5), None), "not running");
    assert!(h.dc.register_view(None).is_none(), "never ran");
}

/// The DC's own ("current discovery subsystem") entry with EFLAGS `eflags`.
fn self_entry(eflags: u16) -> LogEntry {
    let mut e = entry(subtype::CURRENT_DISCOVERY, "192.0.2.1", WELL_KNOWN_DISC_NQN);
    e.eflags = eflags;
    e.trsvcid = "8009".into();
    e
}

/// A DC under `persistent`, connected, whose first log read returns `entries`: the
/// actions after that read.
fn read_under(persistent: Persistent, entries: &[LogEntry]) -> (H, Vec<Action>) {
    let mut h = H::tcp();
    h.dc.settings.persistent = persistent;
    let a = h.connected(Some(DcType::Ddc));
    let a = h.finish_chain(a, entries);
    (h, a)
}

#[test]
fn persistent_decides_by_epcsd_whether_the_connection_is_held() {
    let nvm = entry(subtype::NVME, "192.0.2.9", "nqn.2024-01.io.example:s1");
    let epcsd0 = [self_entry(0), nvm.clone()];
    let epcsd1 = [self_entry(eflags::EPCSD), nvm.clone()];
    for (persistent, entries, parks) in [
        (Persistent::Force, &epcsd0[..], false),
        (Persistent::Auto, &epcsd1[..], false),
        (Persistent::Auto, &epcsd0[..], true),
        // No self entry: EPCSD 0.
        (Persistent::Auto, &[nvm.clone()][..], true),
        (Persistent::No, &epcsd1[..], true),
    ] {
        let (h, a) = read_under(persistent, entries);
        let what = format!("{persistent:?} {entries:?}");
        assert_eq!(h.dc.parked(), parks, "{what}");
        assert_eq!(ops(&a).contains(&"disconnect"), parks, "{what}: {a:?}");
        assert!(!ops(&a).contains(&"deregister"), "{what}");
        assert_eq!(
            h.dc.log_pages().len(),
            entries.len(),
            "log pages kept: {what}"
        );
    }
}

#[test]
fn a_parked_dc_polls_its_log_and_is_never_lost() {
    let entries = [self_entry(0)];
    let (mut h, a) = read_under(Persistent::Auto, &entries);
    let t = op_token(&a);
    // The kernel's `remove` of our own disconnect comes first: not a loss.
    let a = h.ev(Event::Uevent(NvmeEventKind::Removed));
    assert_eq!(timers(&a), vec![(TimerKind::EpcsdPoll, secs(900))]);
    assert!(h.ev(Event::Disconnected { token: t }).is_empty(), "stale");
    assert!(h.dc.parked() && h.dc.device().is_none() && !h.dc.is_disposed());
    assert_eq!(h.dc.log_pages().len(), 1);
    // The poll connects and reads again; still EPCSD 0: parked again.
    let a = h.ev(Event::TimerFired(TimerKind::EpcsdPoll));
    let t = op_token(&a);
    let a = h.ev(Event::ConnectDone {
        token: t,
        device: "nvme5".into(),
        dctype: Some(DcType::Ddc),
    });
    let a = h.finish_chain(a, &entries);
    let t = op_token(&a);
    assert_eq!(ops(&a), vec!["disconnect"]);
    // This time the disconnect finishes first.
    let a = h.ev(Event::Disconnected { token: t });
    assert_eq!(timers(&a), vec![(TimerKind::EpcsdPoll, secs(900))]);
    assert!(!h.dc.is_disposed());
    // A reload to `force` connects at once and holds.
    let mut s = settings();
    s.persistent = Persistent::Force;
    let a = h.ev(Event::Reload(s));
    assert_eq!(ops(&a), vec!["connect"]);
    assert!(!h.dc.parked());
}

#[test]
fn an_aen_read_does_not_park_a_held_connection_again() {
    let (mut h, a) = read_under(Persistent::Auto, &[self_entry(eflags::EPCSD)]);
    assert!(ops(&a).is_empty());
    let a = h.ev(Event::Uevent(NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED)));
    // Even if the self entry lost EPCSD meanwhile: decided once per connection.
    let a = h.ev(Event::LogPageDone {
        token: op_token(&a),
        entries: vec![self_entry(0)],
    });
    assert!(!ops(&a).contains(&"disconnect") && !h.dc.parked());
}

/// A referral's entry with TREQ `treq` and TSAS SECTYPE `sectype`.
fn tls_referral(treq: u8, sectype: u8) -> DlpeDict {
    let mut e = entry(subtype::REFERRAL, "192.0.2.1", WELL_KNOWN_DISC_NQN);
    e.treq = treq;
    e.tsas = Tsas::Tcp { sectype };
    e.to_stas_dict()
}

fn referral_dc(kernel_tls: bool, tls: Option<bool>, e: DlpeDict) -> H {
    let mut s = settings();
    s.kernel_tls = kernel_tls;
    s.params.tls = tls;
    H {
        dc: Dc::new(tid("tcp"), BTreeMap::new(), Origin::Referral, s, Vec::new())
            .with_entry(Some(e)),
    }
}

fn connect_tls(actions: &[Action]) -> Option<bool> {
    actions.iter().find_map(|a| match a {
        Action::Connect { params, .. } => Some(params.tls),
        _ => None,
    })
}

#[test]
fn a_referral_that_requires_tls_connects_with_it_or_not_at_all() {
    assert_eq!(
        connect_tls(&referral_dc(true, None, tls_referral(1, 2)).ev(Event::Start)),
        Some(true)
    );
    for (treq, sectype) in [(1, 0), (2, 2), (0, 2)] {
        let a = referral_dc(false, None, tls_referral(treq, sectype)).ev(Event::Start);
        assert_eq!(connect_tls(&a), Some(false), "{treq} {sectype}");
    }
    // Kernel without tls: one warning, no connect, no retry timer.
    let mut h = referral_dc(false, None, tls_referral(5, 2));
    let (a, logs) = crate::ctrl::connect::capture_logs(|| {
        let mut a = h.ev(Event::Start);
        a.extend(h.ev(Event::Reload(h.dc.settings().clone())));
        a.extend(h.ev(Event::UpdateEntry(Some(tls_referral(5, 2)))));
        a
    });
    assert!(a.is_empty(), "{a:?}");
    assert!(!h.dc.timer_running(TimerKind::ConnectRetry));
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(warnings[0].contains(
        "the discovery log entry requires a secure channel (TREQ required, TSAS tls1.3) \
         but this kernel has no `tls` connect option: not connecting"
    ));
    let view = h.dc.link.view(false, true, None).unwrap();
    assert!(view.error.unwrap().ends_with("no `tls` connect option"));
    // The referring log changes: TLS no longer required, connected.
    let a = h.ev(Event::UpdateEntry(Some(tls_referral(2, 2))));
    assert_eq!(connect_tls(&a), Some(false));
    // Configured tls=false: not connected either.
    let mut h = referral_dc(true, Some(false), tls_referral(1, 1));
    assert!(h.ev(Event::Start).is_empty());
    assert!(h.dc.entry().is_some());
}
