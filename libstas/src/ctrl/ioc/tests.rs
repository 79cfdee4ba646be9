//! Unit tests of the I/O-controller state machine: connect and adopt, the 3 s / 60 s retry
//! timers, the NCC gate (`connect-attempts-on-ncc`) and NCC clearing, kernel `remove`,
//! reload, and disposal with and without disconnect.

use super::*;
use crate::ctrl::connect::capture_logs;
use crate::kernel::fabrics::{build_connect_string, SupportedOptions};
use crate::kernel::fake::KERNEL_6_1_OPTIONS;

const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

fn settings(attempts_on_ncc: i64) -> IocSettings {
    IocSettings {
        host_id: HOSTID.into(),
        params: CfgParams::default(),
        dhchap_secret: None,
        dhchap_ctrl_secret: None,
        attempts_on_ncc,
        kernel_tls: false,
    }
}

fn tid() -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: "192.0.2.1".into(),
        trsvcid: "4420".into(),
        subsysnqn: "nqn.2024-01.io.example:sub1".into(),
        host_nqn: HOST.into(),
        ..TransportId::default()
    }
}

fn dlpe(eflags: u32) -> DlpeDict {
    [
        ("trtype", "tcp".to_owned()),
        ("traddr", "192.0.2.1".to_owned()),
        ("subnqn", "nqn.2024-01.io.example:sub1".to_owned()),
        ("eflags", eflags.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

struct H {
    ioc: Ioc,
}

impl H {
    fn new(s: IocSettings, entry: Option<DlpeDict>) -> Self {
        Self {
            ioc: Ioc::new(tid(), BTreeMap::new(), s, entry),
        }
    }

    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.ioc.handle(e)
    }

    /// Starts and expects a connect; returns its token.
    fn connect_token(actions: &[Action]) -> Token {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Connect { token, .. } => Some(*token),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Connect in {actions:?}"))
    }

    fn fail(&mut self, token: Token) -> Vec<Action> {
        self.ev(Event::ConnectFailed {
            token,
            error: "connection refused".into(),
            permanent: false,
        })
    }
}

fn timer_of(actions: &[Action]) -> Option<Duration> {
    actions.iter().find_map(|a| match a {
        Action::StartTimer(TimerKind::ConnectRetry, d) => Some(*d),
        _ => None,
    })
}

#[test]
fn connects_with_io_parameters_and_secrets() {
    let mut s = settings(0);
    s.params = CfgParams {
        kato: Some(20),
        nr_io_queues: Some(4),
        queue_size: Some(64),
        ctrl_loss_tmo: Some(-1),
        hdr_digest: Some(true),
        ..CfgParams::default()
    };
    s.dhchap_secret = Some(Secret::new(
        "DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTIzNA==:".into(),
    ));
    let mut h = H::new(s, None);
    let a = h.ev(Event::Start);
    let Some(Action::Connect { params, .. }) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(params.kind, Some(CtrlKind::Io));
    let opts = SupportedOptions::from_reply(KERNEL_6_1_OPTIONS).unwrap();
    let cs = build_connect_string(params, &opts).unwrap();
    let text = cs.as_str();
    for want in [
        "nqn=nqn.2024-01.io.example:sub1",
        "trsvcid=4420",
        "nr_io_queues=4",
        "queue_size=64",
        "keep_alive_tmo=20",
        "ctrl_loss_tmo=-1",
        "hdr_digest",
        "dhchap_secret=DHHC-1:",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    assert!(!text.contains("discovery"), "{text}");
    assert!(
        !format!("{a:?}").contains("c2VjcmV0"),
        "a secret in Debug output"
    );
    assert!(
        !cs.to_string().contains("c2VjcmV0"),
        "a secret in the logged string"
    );
}

#[test]
fn connect_success_resets_and_adopt_logs_differently() {
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    assert!(h.ioc.connecting());
    assert_eq!(h.ioc.connect_attempts(), 1);
    let view = h.ioc.connect_view(None).unwrap();
    assert_eq!(view.completed, None, "in flight");
    assert!(h
        .ev(Event::Adopted {
            token: t,
            device: "nvme3".into()
        })
        .is_empty());
    assert_eq!(h.ioc.device(), Some("nvme3"));
    assert_eq!(h.ioc.connect_attempts(), 0);
    assert!(
        h.ioc.connect_view(None).is_none(),
        "no pending connect once connected"
    );
    // A stale completion is ignored.
    assert!(h
        .ev(Event::ConnectDone {
            token: t,
            device: "nvme9".into()
        })
        .is_empty());
    assert_eq!(h.ioc.device(), Some("nvme3"));
}

#[test]
fn retry_3s_then_60s_forever_without_ncc() {
    let mut h = H::new(settings(2), Some(dlpe(0)));
    let mut t = H::connect_token(&h.ev(Event::Start));
    let mut delays = Vec::new();
    for _ in 0..5 {
        let a = h.fail(t);
        delays.push(timer_of(&a).expect("retry timer"));
        assert!(h.ioc.timer_running(TimerKind::ConnectRetry));
        t = H::connect_token(&h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
    }
    assert_eq!(
        delays,
        vec![
            Duration::from_secs(3),
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60)
        ]
    );
    assert_eq!(h.ioc.stalled(), None);
    let v = h.ioc.connect_view(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(v.completed, None);
}

#[test]
fn ncc_gate_stops_after_the_configured_attempts() {
    // connect-attempts-on-ncc = 2 (1 is read as 2 by the configuration).
    let mut h = H::new(settings(2), Some(dlpe(4)));
    assert!(h.ioc.ncc());
    let t = H::connect_token(&h.ev(Event::Start));
    let a = h.fail(t);
    assert_eq!(timer_of(&a), Some(Duration::from_secs(3)), "attempt 1 < 2");
    let t = H::connect_token(&h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
    let a = h.fail(t);
    assert_eq!(timer_of(&a), None, "attempt 2 reached the gate: {a:?}");
    assert_eq!(h.ioc.stalled(), Some(Stalled::NccGate));
    assert!(!h.ioc.timer_running(TimerKind::ConnectRetry));
    // A repeated entry with NCC still set changes nothing.
    assert!(h.ev(Event::UpdateDlpe(Some(dlpe(4)))).is_empty());
    // NCC clears: attempts reset, connect now.
    let a = h.ev(Event::UpdateDlpe(Some(dlpe(0))));
    H::connect_token(&a);
    assert_eq!(h.ioc.connect_attempts(), 1);
    assert_eq!(h.ioc.stalled(), None);
}

#[test]
fn ncc_zero_never_gives_up_and_negative_gives_up_at_once() {
    let mut h = H::new(settings(0), Some(dlpe(4)));
    let mut t = H::connect_token(&h.ev(Event::Start));
    for _ in 0..4 {
        assert!(timer_of(&h.fail(t)).is_some());
        t = H::connect_token(&h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
    }
    let mut h = H::new(settings(-1), Some(dlpe(4)));
    let t = H::connect_token(&h.ev(Event::Start));
    assert_eq!(timer_of(&h.fail(t)), None);
    assert_eq!(h.ioc.stalled(), Some(Stalled::NccGate));
    // Without NCC the same setting does not gate.
    let mut h = H::new(settings(-1), Some(dlpe(3)));
    let t = H::connect_token(&h.ev(Event::Start));
    assert!(timer_of(&h.fail(t)).is_some());
}

#[test]
fn ncc_clearing_while_connected_or_retrying_does_not_connect_twice() {
    let mut h = H::new(settings(2), Some(dlpe(4)));
    let t = H::connect_token(&h.ev(Event::Start));
    // In flight: no second connect.
    assert!(h.ev(Event::UpdateDlpe(Some(dlpe(0)))).is_empty());
    h.ev(Event::ConnectDone {
        token: t,
        device: "nvme1".into(),
    });
    h.ev(Event::UpdateDlpe(Some(dlpe(4))));
    assert!(h.ev(Event::UpdateDlpe(None)).is_empty(), "connected");
    assert_eq!(h.ioc.dlpe(), None);
}

#[test]
fn kernel_remove_reconnects_in_3s_with_attempts_reset() {
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    let t2 = H::connect_token(
        &h.fail(t)
            .into_iter()
            .chain(h.ev(Event::TimerFired(TimerKind::ConnectRetry)))
            .collect::<Vec<_>>(),
    );
    h.ev(Event::ConnectDone {
        token: t2,
        device: "nvme0".into(),
    });
    // Other uevents change nothing.
    assert!(h.ev(Event::Uevent(NvmeEventKind::Connected)).is_empty());
    let a = h.ev(Event::Uevent(NvmeEventKind::Removed));
    assert_eq!(timer_of(&a), Some(Duration::from_secs(3)));
    assert_eq!(h.ioc.device(), None);
    assert_eq!(h.ioc.connect_attempts(), 0);
    let t3 = H::connect_token(&h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
    assert_eq!(h.ioc.connect_attempts(), 1);
    // A failure after remove starts over at 3 s.
    assert_eq!(timer_of(&h.fail(t3)), Some(Duration::from_secs(3)));
}

#[test]
fn kernel_remove_with_ncc_and_negative_gate_does_not_reconnect() {
    let mut h = H::new(settings(-1), Some(dlpe(4)));
    let t = H::connect_token(&h.ev(Event::Start));
    h.ev(Event::ConnectDone {
        token: t,
        device: "nvme0".into(),
    });
    assert!(h.ev(Event::Uevent(NvmeEventKind::Removed)).is_empty());
    assert_eq!(h.ioc.stalled(), Some(Stalled::NccGate));
}

#[test]
fn reload_connects_now_only_when_idle() {
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    h.ev(Event::ConnectFailed {
        token: t,
        error: "bad option".into(),
        permanent: true,
    });
    assert_eq!(h.ioc.stalled(), Some(Stalled::Permanent));
    assert!(!h.ioc.timer_running(TimerKind::ConnectRetry));
    let t = H::connect_token(&h.ev(Event::Reload(settings(0))));
    // In flight: a reload does nothing more.
    assert!(h.ev(Event::Reload(settings(0))).is_empty());
    // Retry timer running: the reload waits for it.
    let a = h.fail(t);
    assert!(timer_of(&a).is_some());
    assert!(h.ev(Event::Reload(settings(0))).is_empty());
    let t = H::connect_token(&h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
    h.ev(Event::ConnectDone {
        token: t,
        device: "nvme2".into(),
    });
    // Connected: nothing.
    assert!(h.ev(Event::Reload(settings(5))).is_empty());
    assert_eq!(h.ioc.settings().attempts_on_ncc, 5);
}

#[test]
fn remove_disconnects_after_the_connect_in_flight() {
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    assert!(
        h.ev(Event::Remove { keep: false }).is_empty(),
        "waits for the connect"
    );
    assert!(h.ioc.is_disposing());
    let a = h.ev(Event::ConnectDone {
        token: t,
        device: "nvme4".into(),
    });
    let Some(Action::Disconnect { token, device }) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(device, "nvme4");
    let token = *token;
    // The kernel's remove may arrive before the disconnect completes.
    let a = h.ev(Event::Uevent(NvmeEventKind::Removed));
    assert_eq!(a, vec![Action::Disposed]);
    assert!(h.ioc.is_disposed());
    assert!(h.ev(Event::Disconnected { token }).is_empty(), "disposed");
}

#[test]
fn remove_of_a_connected_controller_and_of_an_unconnected_one() {
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    h.ev(Event::ConnectDone {
        token: t,
        device: "nvme1".into(),
    });
    let a = h.ev(Event::Remove { keep: false });
    let Some(Action::Disconnect { token, .. }) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(
        h.ev(Event::Disconnected { token: *token }),
        vec![Action::Disposed]
    );

    // Not connected, retry timer running: cancelled, disposed at once.
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    h.fail(t);
    let a = h.ev(Event::Remove { keep: false });
    assert_eq!(
        a,
        vec![
            Action::CancelTimer(TimerKind::ConnectRetry),
            Action::Disposed
        ]
    );
}

#[test]
fn keep_and_shutdown_never_disconnect() {
    for ev in [Event::Remove { keep: true }, Event::Shutdown] {
        let mut h = H::new(settings(0), None);
        let t = H::connect_token(&h.ev(Event::Start));
        h.ev(Event::ConnectDone {
            token: t,
            device: "nvme1".into(),
        });
        let a = h.ev(ev);
        assert_eq!(a, vec![Action::Disposed]);
        assert!(h.ev(Event::Uevent(NvmeEventKind::Removed)).is_empty());
    }
    // Shutdown during a connect: forgotten at once; the result is ignored.
    let mut h = H::new(settings(0), None);
    let t = H::connect_token(&h.ev(Event::Start));
    assert_eq!(h.ev(Event::Shutdown), vec![Action::Disposed]);
    assert!(h
        .ev(Event::ConnectDone {
            token: t,
            device: "nvme1".into()
        })
        .is_empty());
}

#[test]
fn existing_controller_disconnects_on_remove() {
    let mut ioc = Ioc::existing(tid(), "nvme7".into(), settings(0));
    assert_eq!(ioc.device(), Some("nvme7"));
    let a = ioc.handle(Event::Start);
    assert!(a.is_empty(), "already connected: {a:?}");
    let a = ioc.handle(Event::Remove { keep: false });
    assert!(matches!(&a[..], [Action::Disconnect { device, .. }] if device == "nvme7"));
}

#[test]
fn ncc_flag_of_entries() {
    assert!(dlpe_ncc(&dlpe(4)));
    assert!(dlpe_ncc(&dlpe(7)));
    assert!(!dlpe_ncc(&dlpe(3)));
    assert!(!dlpe_ncc(&DlpeDict::new()));
    let mut d = DlpeDict::new();
    d.insert("eflags".into(), "x".into());
    assert!(!dlpe_ncc(&d));
}

/// A TCP entry with TREQ `treq` (its dictionary text) and TSAS SECTYPE `sectype` (its name).
fn tls_dlpe(treq: &str, sectype: &str) -> DlpeDict {
    let mut d = dlpe(0);
    d.insert("treq".into(), treq.into());
    d.insert("tsas".into(), format!("{{'sectype': '{sectype}'}}"));
    d
}

fn tls_settings(kernel_tls: bool, tls: Option<bool>) -> IocSettings {
    let mut s = settings(0);
    s.kernel_tls = kernel_tls;
    s.params.tls = tls;
    s
}

fn connect_params(actions: &[Action]) -> &ConnectParams {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Connect { params, .. } => Some(params.as_ref()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Connect in {actions:?}"))
}

#[test]
fn treq_required_with_a_sectype_connects_with_tls() {
    const KERNEL_6_12: &str =
        "transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,keyring=%d,tls_key=%d,tls";
    let opts = SupportedOptions::from_reply(KERNEL_6_12).unwrap();
    // "5": required + SQ flow control disable (nvmet 6.12 with addr_tsas=tls1.3).
    for (treq, sectype) in [("required", "tls1.3"), ("5", "tls1.3"), ("required", "tls")] {
        let mut h = H::new(tls_settings(true, None), Some(tls_dlpe(treq, sectype)));
        let a = h.ev(Event::Start);
        let p = connect_params(&a);
        assert!(p.tls, "{treq} {sectype}");
        let cs = build_connect_string(p, &opts).unwrap();
        assert!(cs.as_str().ends_with(",tls"), "{cs}");
    }
}

#[test]
fn treq_without_a_sectype_or_not_required_changes_nothing() {
    for (treq, sectype) in [
        ("required", "none"),
        ("not required", "tls1.3"),
        ("not specified", "tls1.3"),
        ("disable sqflow", "tls1.3"),
        ("6", "tls1.3"),
    ] {
        // Neither with a kernel that has tls nor with one that has not.
        for kernel_tls in [true, false] {
            let mut h = H::new(
                tls_settings(kernel_tls, None),
                Some(tls_dlpe(treq, sectype)),
            );
            assert!(!connect_params(&h.ev(Event::Start)).tls, "{treq} {sectype}");
        }
        // What the configuration says stands.
        let mut h = H::new(
            tls_settings(true, Some(true)),
            Some(tls_dlpe(treq, sectype)),
        );
        assert!(connect_params(&h.ev(Event::Start)).tls);
    }
    // No entry (a configured controller stafd does not list): the configuration decides.
    let mut h = H::new(tls_settings(false, None), None);
    assert!(!connect_params(&h.ev(Event::Start)).tls);
}

#[test]
fn treq_required_but_configured_tls_false_is_not_connected_with_the_reason() {
    let mut h = H::new(
        tls_settings(true, Some(false)),
        Some(tls_dlpe("required", "tls1.3")),
    );
    let (a, logs) = capture_logs(|| h.ev(Event::Start));
    assert!(a.is_empty(), "no connect, no timer: {a:?}");
    assert_eq!(h.ioc.stalled(), Some(Stalled::SecureChannel));
    assert_eq!(h.ioc.connect_attempts(), 0);
    let why = "the discovery log entry requires a secure channel (TREQ required, TSAS tls1.3) \
               but the configuration sets tls=false for this controller";
    let view = h.ioc.connect_view(None).unwrap();
    assert_eq!(view.error.as_deref(), Some(why));
    assert_eq!(view.completed, Some(false));
    assert!(view.retry_timer.is_none());
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(
        warnings[0].contains(&format!("{why}: not connecting")),
        "{logs}"
    );
    // A reload that changes nothing: still refused, not logged again as a warning.
    let (a, logs) = capture_logs(|| h.ev(Event::Reload(tls_settings(true, Some(false)))));
    assert!(a.is_empty());
    assert!(!logs.contains("WARN"), "{logs}");
    // The configuration no longer says tls=false: connected with tls.
    let a = h.ev(Event::Reload(tls_settings(true, None)));
    assert!(connect_params(&a).tls);
    assert_eq!(h.ioc.stalled(), None);
}

#[test]
fn treq_required_on_a_kernel_without_tls_warns_once_and_never_retries() {
    let mut h = H::new(
        tls_settings(false, None),
        Some(tls_dlpe("required", "tls1.3")),
    );
    let (a, logs) = capture_logs(|| {
        let mut a = h.ev(Event::Start);
        // Nothing the machine gets without a reload or a new entry restarts it.
        a.extend(h.ev(Event::TimerFired(TimerKind::ConnectRetry)));
        a.extend(h.ev(Event::Start));
        a.extend(h.ev(Event::UpdateDlpe(Some(tls_dlpe("required", "tls1.3")))));
        a
    });
    assert!(a.is_empty(), "no connect and no retry timer: {a:?}");
    assert!(!h.ioc.timer_running(TimerKind::ConnectRetry));
    assert_eq!(h.ioc.stalled(), Some(Stalled::SecureChannel));
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(
        warnings[0].contains(
            "the discovery log entry requires a secure channel (TREQ required, TSAS tls1.3) \
             but this kernel has no `tls` connect option: not connecting"
        ),
        "{logs}"
    );
    assert!(
        warnings[0].contains("nqn.2024-01.io.example:sub1"),
        "names the controller: {logs}"
    );
    // A configured tls=true does not help: the kernel has no tls.
    let a = h.ev(Event::Reload(tls_settings(false, Some(true))));
    assert!(a.is_empty());
    assert!(h.ev(Event::Reload(tls_settings(false, None))).is_empty());
    // A new entry that no longer requires a secure channel: connected, without tls.
    let a = h.ev(Event::UpdateDlpe(Some(tls_dlpe("not required", "tls1.3"))));
    assert!(!connect_params(&a).tls);
    assert_eq!(h.ioc.stalled(), None);
}

#[test]
fn a_retrying_controller_applies_the_rule_of_a_new_entry_at_its_next_attempt() {
    let mut h = H::new(
        tls_settings(false, None),
        Some(tls_dlpe("not specified", "none")),
    );
    let t = H::connect_token(&h.ev(Event::Start));
    assert!(timer_of(&h.fail(t)).is_some());
    assert!(h
        .ev(Event::UpdateDlpe(Some(tls_dlpe("required", "tls1.3"))))
        .is_empty());
    let a = h.ev(Event::TimerFired(TimerKind::ConnectRetry));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(h.ioc.stalled(), Some(Stalled::SecureChannel));
}
