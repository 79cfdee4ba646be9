//! Actor-level tests of the stafd core: the real core task over the [`FakeKernel`], under
//! paused tokio time, checked through what it publishes (snapshots, change events) and what
//! the fake kernel saw (connects, registrations, log reads, deletes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::*;
use crate::config::{Daemon, ServiceConfig};
use crate::daemon::actor::CoreHandle;
use crate::daemon::testkit::{self, Kit, HOSTID, HOSTNQN};
use crate::daemon::uevents::Follow;
use crate::kernel::fake::{tas_of, FakeAdminFailure, FakeKernel, FakeTarget, TargetId};
use crate::kernel::CtrlState;
use crate::kernel::Kernel;
use crate::model::snapshot::CoreCommand;
use crate::model::snapshot::{CtrlView, Origin};
use crate::model::trid::WELL_KNOWN_DISC_NQN;
use crate::proto::consts::DimTask;
use crate::proto::consts::{subtype, trtype, LID_DISCOVERY, LSP_PLEO};
use crate::proto::dlp::{LogEntry, Tsas};
use crate::proto::identify::DcType;
use crate::runtime::notify::Watchdog;
use crate::runtime::state::load_staf;

fn conf(text: &str) -> ServiceConfig {
    testkit::conf(Daemon::Stafd, text)
}

fn nvm(i: u16, traddr: &str) -> LogEntry {
    LogEntry {
        trtype: trtype::TCP,
        adrfam: if traddr.contains(':') { 2 } else { 1 },
        subtype: subtype::NVME,
        treq: 0,
        portid: 1,
        cntlid: 0xffff,
        asqsz: 32,
        eflags: 0,
        trsvcid: "4420".into(),
        subnqn: format!("nqn.2024-01.io.example:sub{i}"),
        traddr: traddr.into(),
        tsas: Tsas::Tcp { sectype: 0 },
    }
}

fn referral(traddr: &str, adrfam: u8) -> LogEntry {
    LogEntry {
        subtype: subtype::REFERRAL,
        adrfam,
        trsvcid: "8009".into(),
        subnqn: WELL_KNOWN_DISC_NQN.into(),
        traddr: traddr.into(),
        ..nvm(0, "127.0.0.1")
    }
}

fn ddc(traddr: &str, log: Vec<LogEntry>) -> FakeTarget {
    let mut t = FakeTarget::discovery("tcp", traddr, "8009");
    t.dctype = DcType::Ddc;
    t.pleo = true;
    t.log = log;
    t
}

type Rig = testkit::Rig<DiscoveryReport>;

fn start(k: &Arc<FakeKernel>, text: &str, dir: tempfile::TempDir) -> Rig {
    start_watched(k, conf(text), dir, Watchdog::default())
}

fn start_watched(
    k: &Arc<FakeKernel>,
    cfg: ServiceConfig,
    dir: tempfile::TempDir,
    watchdog: Watchdog,
) -> Rig {
    let (kit, rx) = Kit::new(k, Follow::Discovery, dir);
    let host = testkit::host(Some("stas-test"), false);
    let setup = kit.setup(cfg, host, load_staf, watchdog);
    let (events, _) = broadcast::channel(EVENT_QUEUE);
    let own = StafOwn {
        nvmf_connect: Arc::default(),
        events: events.clone(),
        nbft_dcs: k
            .boot_tables()
            .discovery_controllers(&k.interfaces_by_mac()),
    };
    let core = CoreHandle::start::<Core>(kit.kernel(), setup, own, rx, kit.tron_hook());
    let mut r = Rig::of(kit, core);
    r.events = Some(events.subscribe());
    r
}

impl Rig {
    fn new(k: FakeKernel, text: &str) -> Self {
        start(&Arc::new(k), text, tempfile::tempdir().unwrap())
    }

    /// stafd with one DC (127.0.0.1) serving `log`, after its first log read.
    async fn one_dc(log: Vec<LogEntry>) -> (Self, TargetId) {
        let k = FakeKernel::new();
        let id = k.add_target(ddc("127.0.0.1", log));
        let mut r = Self::new(k, ONE_DC);
        r.event().await;
        (r, id)
    }

    fn ctrl(&self, traddr: &str) -> Option<CtrlView> {
        let snap = self.snap.borrow();
        snap.ctrls.iter().find(|c| c.tid.traddr == traddr).cloned()
    }
}

fn log_len(c: &CtrlView) -> usize {
    c.dc.as_ref().map_or(0, |d| d.log_pages.len())
}

const ONE_DC: &str = "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\n";
const NOT_PERSISTENT: &str = "[Discovery controller connection management]\npersistent-connections=false\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\n";

#[tokio::test(start_paused = true)]
async fn connects_registers_reads_and_publishes() {
    let k = FakeKernel::new();
    k.add_target(ddc(
        "127.0.0.1",
        vec![nvm(1, "127.0.0.1"), nvm(2, "127.0.0.1")],
    ));
    let t0 = Instant::now();
    let mut r = Rig::new(k, ONE_DC);
    let ev = r.event().await;
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_millis(100),
        "leading edge: no soak delay ({elapsed:?})"
    );
    let CoreEvent::LogPagesChanged { tid, device } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(device, "nvme0");
    assert_eq!(tid.traddr, "127.0.0.1");
    assert_eq!(tid.subsysnqn, WELL_KNOWN_DISC_NQN);
    let c = r.ctrl("127.0.0.1").unwrap();
    assert_eq!(c.device.as_deref(), Some("nvme0"));
    assert!(c.connected);
    assert_eq!(log_len(&c), 2, "snapshot published before the signal");
    assert_eq!(c.dc.as_ref().unwrap().origin, Origin::Configured);
    assert_eq!(c.attrs.dctype, "ddc");
    let connects = r.kit.k.connect_log();
    assert_eq!(connects.len(), 1);
    assert!(connects[0].contains("keep_alive_tmo=30"), "{}", connects[0]);
    assert!(connects[0].contains(&format!("hostid={HOSTID}")));
    let regs = r.kit.k.registrations();
    assert_eq!(regs.len(), 1);
    assert_eq!(tas_of(&regs[0]), Some(DimTask::Register));
    assert_eq!(regs[0].summary.symname.as_deref(), Some("stas-test"));
    let disc_reads: Vec<u8> = r
        .kit
        .k
        .log_reads()
        .iter()
        .filter(|(_, g)| g.lid == LID_DISCOVERY)
        .map(|(_, g)| g.lsp)
        .collect();
    assert!(!disc_reads.is_empty() && disc_reads.iter().all(|l| *l == LSP_PLEO));
    // The state file follows.
    r.stop().await;
    let st = load_staf(&r.kit.dir.path().join("last-known-config.toml"));
    assert_eq!(st.dcs.len(), 1);
    assert_eq!(st.dcs[0].log_pages.len(), 2);
    assert!(
        r.kit.k.deleted().is_empty(),
        "persistent connections are kept on exit"
    );
    assert_eq!(
        r.kit.k.registrations().len(),
        1,
        "no deregistration when kept"
    );
}

/// `WATCHDOG=1` comes from the core's own loop: at its period while the core runs, and
/// never once the core has stopped (the daemon's other tasks cannot keep it alive).
#[tokio::test(start_paused = true)]
async fn watchdog_pings_come_from_the_core_loop() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    let pings = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pings);
    let wd = Watchdog::new(
        Some(Duration::from_secs(10)),
        Arc::new(move || {
            p.fetch_add(1, Ordering::SeqCst);
        }),
    );
    let mut r = start_watched(&k, conf(ONE_DC), tempfile::tempdir().unwrap(), wd);
    r.event().await;
    tokio::time::sleep(Duration::from_secs(35)).await;
    let n = pings.load(Ordering::SeqCst);
    assert!((3..=4).contains(&n), "{n} pings in 35 s at a 10 s period");
    r.stop().await;
    let after_stop = pings.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        pings.load(Ordering::SeqCst),
        after_stop,
        "no ping once the core stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn aen_rereads_and_signals_again() {
    let (mut r, id) = Rig::one_dc(vec![nvm(1, "127.0.0.1")]).await;
    let t = Instant::now();
    r.kit
        .k
        .set_log(id, vec![nvm(1, "127.0.0.1"), nvm(2, "127.0.0.1")]);
    let ev = r.event().await;
    assert!(matches!(ev, CoreEvent::LogPagesChanged { .. }));
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 2);
    assert_eq!(
        r.kit.k.registrations().len(),
        1,
        "an AEN does not re-register"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn connect_retry_3s_then_60s() {
    let k = FakeKernel::new();
    let id = k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    k.set_target_listening(id, false);
    let mut r = Rig::new(k, ONE_DC);
    let attempts = testkit::connect_failures;
    r.until("first failure", attempts(1)).await;
    let t1 = Instant::now();
    r.until("second failure", attempts(2)).await;
    let t2 = Instant::now();
    r.until("third failure", attempts(3)).await;
    let t3 = Instant::now();
    assert_eq!((t2 - t1).as_secs(), 3);
    assert_eq!((t3 - t2).as_secs(), 60);
    let c = r.ctrl("127.0.0.1").unwrap();
    assert_eq!(c.retry_connect_timer.period, Duration::from_secs(60));
    assert!(c.retry_connect_timer.remaining.is_some());
    r.kit.k.set_target_listening(id, true);
    r.event().await;
    assert_eq!((Instant::now() - t3).as_secs(), 60);
    assert_eq!(r.kit.k.connect_log().len(), 4);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn outage_rediscover_reregisters_and_remove_reconnects_in_3s() {
    let (mut r, id) = Rig::one_dc(vec![nvm(1, "127.0.0.1")]).await;
    // Path loss: the controller is reconnecting; then it comes back (rediscover+connected).
    r.kit.k.set_target_listening(id, false);
    r.kit.k.set_state("nvme0", CtrlState::Connecting);
    tokio::time::sleep(Duration::from_secs(30)).await;
    r.kit.k.set_target_listening(id, true);
    r.kit
        .k
        .set_log(id, vec![nvm(1, "127.0.0.1"), nvm(2, "127.0.0.1")]);
    r.kit.k.reconnect("nvme0");
    let ev = r.event().await;
    assert!(matches!(ev, CoreEvent::LogPagesChanged { ref device, .. } if device == "nvme0"));
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 2);
    assert_eq!(
        r.kit.k.registrations().len(),
        2,
        "DIM re-sent after the reconnect"
    );
    assert_eq!(
        r.kit.k.connect_log().len(),
        1,
        "the kernel reconnected, not us"
    );
    // The kernel gives up (ctrl-loss-tmo): entries are kept, reconnect in 3 s.
    r.kit.k.set_target_listening(id, false);
    r.kit.k.lose_controller("nvme0");
    let t = Instant::now();
    r.until("device forgotten", |s| s.ctrls[0].device.is_none())
        .await;
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 2, "cache kept");
    r.until("reconnect attempt", |s| {
        s.ctrls[0]
            .connect_op
            .as_ref()
            .is_some_and(|o| o.fail_count == 1)
    })
    .await;
    assert_eq!(t.elapsed().as_secs(), 3);
    r.kit.k.set_target_listening(id, true);
    let ev = r.event().await;
    assert!(matches!(ev, CoreEvent::LogPagesChanged { .. }));
    assert_eq!(
        t.elapsed().as_secs(),
        6,
        "3 s after remove, then the fast retry (3 s)"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn exclusion_on_reload_deregisters_and_disconnects() {
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    k.add_target(ddc("::1", vec![nvm(1, "::1")]));
    let two = "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\ncontroller = transport=tcp;traddr=::1\n";
    let mut r = Rig::new(k, two);
    r.until("both read", |s| {
        s.ctrls.len() == 2 && s.ctrls.iter().all(|c| log_len(c) == 1)
    })
    .await;
    assert_eq!(r.kit.k.registrations().len(), 2);
    let v6dev = r.ctrl("::1").unwrap().device.unwrap();
    r.reload(conf(&format!("{two}exclude = traddr=::1\n")))
        .await;
    r.until("::1 removed", |s| s.ctrls.len() == 1).await;
    loop {
        if r.event().await == CoreEvent::DcRemoved {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let regs = r.kit.k.registrations();
    let dereg: Vec<&str> = regs
        .iter()
        .filter(|g| tas_of(g) == Some(DimTask::Deregister))
        .map(|g| g.device.as_str())
        .collect();
    assert_eq!(
        dereg,
        vec![v6dev.as_str()],
        "deregistered from the excluded DC only"
    );
    assert_eq!(r.kit.k.deleted(), vec![v6dev.clone()]);
    // The reload re-sent DIM to the DC that stays.
    let v4dev = r.ctrl("127.0.0.1").unwrap().device.unwrap();
    let reg4 = regs
        .iter()
        .filter(|g| g.device == v4dev && tas_of(g) == Some(DimTask::Register))
        .count();
    assert_eq!(reg4, 2);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn referral_followed_with_parent_host_fields_and_dropped_when_gone() {
    let k = FakeKernel::new();
    let a = k.add_target(ddc(
        "127.0.0.1",
        vec![nvm(1, "127.0.0.1"), referral("::1", 2)],
    ));
    k.add_target(ddc("::1", vec![nvm(2, "::1")]));
    let mut r = Rig::new(
        k,
        "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;host-iface=lo\n",
    );
    r.until("referral connected", |s| {
        s.ctrls
            .iter()
            .any(|c| c.tid.traddr == "::1" && log_len(c) == 1)
    })
    .await;
    let b = r.ctrl("::1").unwrap();
    assert_eq!(b.dc.as_ref().unwrap().origin, Origin::Referral);
    assert_eq!(
        b.tid.host_iface, "lo",
        "host fields inherited from the parent"
    );
    assert_eq!(b.tid.host_nqn, HOSTNQN);
    assert!(r
        .kit
        .k
        .connect_log()
        .iter()
        .any(|c| c.contains("traddr=::1") && c.contains("host_iface=lo")));
    // The referral disappears from the parent's log: the referred DC is removed.
    r.kit.k.set_log(a, vec![nvm(1, "127.0.0.1")]);
    r.until("referral removed", |s| s.ctrls.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(r.kit.k.deleted(), vec![b.device.unwrap()]);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn malformed_entries_never_reach_the_kernel() {
    let k = FakeKernel::new();
    let mut evil = referral("1.2.3.4,hostnqn=evil", 1);
    evil.trsvcid = "8009".into();
    // A referral whose address family is not IP: passes the page parser, then the address
    // filter drops it (not an IP address for tcp).
    let mut odd = referral("evil.example", 3);
    odd.trsvcid = "8009".into();
    k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1"), evil, odd]));
    let mut r = Rig::new(k, ONE_DC);
    r.event().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let c = r.ctrl("127.0.0.1").unwrap();
    let pages = &c.dc.as_ref().unwrap().log_pages;
    assert_eq!(
        pages.len(),
        2,
        "the entry with a comma is skipped: {pages:?}"
    );
    assert_eq!(
        r.snap.borrow().ctrls.len(),
        1,
        "no DC for the bad referrals"
    );
    for c in r.kit.k.connect_log() {
        assert!(!c.contains("evil"), "{c}");
    }
    assert_eq!(r.kit.k.connect_log().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warm_restart_adopts_without_connecting() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let mut r = start(&k, ONE_DC, dir);
    r.event().await;
    r.stop().await;
    assert_eq!(k.connect_log().len(), 1);
    assert_eq!(k.list_controllers().unwrap(), vec!["nvme0"]);
    // Second life: the state file gives the entries at once; the kernel controller is
    // adopted.
    let dir = r.kit.dir;
    let mut r = start(&k, ONE_DC, dir);
    assert_eq!(
        log_len(&r.ctrl("127.0.0.1").unwrap()),
        1,
        "cached entries at start"
    );
    let ev = r.event().await;
    assert!(matches!(ev, CoreEvent::LogPagesChanged { ref device, .. } if device == "nvme0"));
    assert_eq!(k.connect_log().len(), 1, "no new connection");
    assert_eq!(k.list_controllers().unwrap(), vec!["nvme0"]);
    assert_eq!(
        k.registrations().len(),
        2,
        "registered again after the restart"
    );
    r.stop().await;
    assert!(path.join("last-known-config.toml").exists());
}

/// A DC of the state file whose kernel controller is gone by the next start is connected
/// again with its per-controller overrides from stafd.conf, not with `[Global]`'s.
#[tokio::test(start_paused = true)]
async fn warm_restart_connects_with_the_controllers_overrides() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    let conf =
        "[Global]\nkato=30\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;kato=7\n";
    let mut r = start(&k, conf, tempfile::tempdir().unwrap());
    r.event().await;
    r.stop().await;
    k.delete_controller("nvme0").unwrap();
    let dir = r.kit.dir;
    let mut r = start(&k, conf, dir);
    r.event().await;
    let connects = k.connect_log();
    assert_eq!(connects.len(), 2);
    assert!(connects[1].contains("keep_alive_tmo=7"), "{}", connects[1]);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_without_persistence_deregisters_and_disconnects() {
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![]));
    let mut r = Rig::new(k, NOT_PERSISTENT);
    r.event().await;
    r.stop().await;
    let regs = r.kit.k.registrations();
    assert_eq!(
        regs.iter().map(tas_of).collect::<Vec<_>>(),
        vec![Some(DimTask::Register), Some(DimTask::Deregister)]
    );
    assert_eq!(r.kit.k.deleted(), vec!["nvme0"]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_keeping_connections_overrides_persistence() {
    // An exit for a restart (the bus was lost): nothing deregistered, nothing deleted, even
    // with persistent-connections=false; the state file names the controller for the next
    // stafd.
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![]));
    let mut r = Rig::new(k, NOT_PERSISTENT);
    r.event().await;
    r.stop_keeping(true).await;
    let regs = r.kit.k.registrations();
    assert_eq!(
        regs.iter().map(tas_of).collect::<Vec<_>>(),
        vec![Some(DimTask::Register)]
    );
    assert!(
        r.kit.k.deleted().is_empty(),
        "deleted: {:?}",
        r.kit.k.deleted()
    );
    let state = load_staf(&r.kit.dir.path().join("last-known-config.toml"));
    assert_eq!(state.dcs.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn referral_storm_is_debounced() {
    // Five referral changes 100 ms apart: the first reconcile runs at once, the rest are
    // coalesced into one pass once the burst is over (QUIET_GAP after the last).
    let k = FakeKernel::new();
    let a = k.add_target(ddc("127.0.0.1", vec![]));
    for i in 1..=5 {
        let mut t = ddc(&format!("127.0.0.{}", i + 1), vec![]);
        t.dctype = DcType::None;
        k.add_target(t);
    }
    let mut r = Rig::new(k, ONE_DC);
    r.event().await;
    // Let the start-up reconcile's window close.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t0 = Instant::now();
    for i in 1..=5u8 {
        let refs = (1..=i)
            .map(|j| referral(&format!("127.0.0.{}", j + 1), 1))
            .collect();
        r.kit.k.set_log(a, refs);
        r.event().await;
        if i == 1 {
            r.until("first referral at once", |s| s.ctrls.len() == 2)
                .await;
            assert!(t0.elapsed() < Duration::from_millis(100));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        r.snap.borrow().ctrls.len(),
        2,
        "later changes wait for the window"
    );
    r.until("coalesced pass", |s| s.ctrls.len() == 6).await;
    let e = t0.elapsed();
    assert!(
        e >= Duration::from_millis(550) && e < Duration::from_millis(650),
        "{e:?}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn set_tron_and_reload_tron() {
    let k = FakeKernel::new();
    let mut r = Rig::new(k, "");
    r.core()
        .commands()
        .send(CoreCommand::SetTron(true))
        .await
        .unwrap();
    r.until("tron", |s| s.process.tron).await;
    assert!(r.kit.tron.load(Ordering::SeqCst));
    r.reload(conf("[Global]\ntron=false\n")).await;
    r.until("troff", |s| !s.process.tron).await;
    assert!(!r.kit.tron.load(Ordering::SeqCst));
    assert_eq!(r.snap.borrow().process.hostnqn, HOSTNQN);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn adoption_never_takes_a_device_twice() {
    // Two configured DCs that the same existing controller would match (same address,
    // one with the well-known NQN, one with the DC's unique NQN): only one adopts it.
    let k = FakeKernel::new();
    let mut t = ddc("127.0.0.1", vec![]);
    t.nqn = "nqn.2024-01.io.example:dc".into();
    let id: TargetId = k.add_target(t);
    let _ = id;
    let mut r = Rig::new(
        k,
        "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\ncontroller = transport=tcp;traddr=127.0.0.1;nqn=nqn.2024-01.io.example:dc\n",
    );
    r.until("both connected", |s| {
        s.ctrls.len() == 2 && s.ctrls.iter().all(|c| c.device.is_some())
    })
    .await;
    let devs: BTreeSet<String> = r
        .snap
        .borrow()
        .ctrls
        .iter()
        .filter_map(|c| c.device.clone())
        .collect();
    assert_eq!(devs.len(), 2);
    assert!(r
        .kit
        .k
        .connect_log()
        .iter()
        .any(|c| c.contains(",discovery")));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn supported_log_pages_rejected_means_no_pleo() {
    // Linux nvmet answers LID 0 on a discovery controller with Invalid Field: read the log
    // without PLEO at once instead of retrying forever.
    let k = FakeKernel::new();
    let mut t = ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]);
    t.dctype = DcType::None;
    k.add_target(t);
    k.fail_next_admin(None, FakeAdminFailure::Status(0x4002));
    let t0 = Instant::now();
    let mut r = Rig::new(k, ONE_DC);
    r.event().await;
    assert!(t0.elapsed() < Duration::from_millis(100));
    let lsps: Vec<u8> = r
        .kit
        .k
        .log_reads()
        .iter()
        .filter(|(_, g)| g.lid == LID_DISCOVERY)
        .map(|(_, g)| g.lsp)
        .collect();
    assert!(!lsps.is_empty() && lsps.iter().all(|l| *l == 0), "{lsps:?}");
    // A transport failure of the same read is retried in 5 s.
    let k = FakeKernel::new();
    let mut t = ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]);
    t.dctype = DcType::None;
    k.add_target(t);
    k.fail_next_admin(None, FakeAdminFailure::Errno(Errno::EIO));
    let t0 = Instant::now();
    let mut r2 = Rig::new(k, ONE_DC);
    r2.event().await;
    assert_eq!(t0.elapsed().as_secs(), 5);
    r.stop().await;
    r2.stop().await;
}

fn mdns_dc(traddr: &str) -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: traddr.into(),
        trsvcid: "8009".into(),
        subsysnqn: WELL_KNOWN_DISC_NQN.into(),
        host_traddr: String::new(),
        host_iface: "lo".into(),
        host_nqn: HOSTNQN.into(),
    }
}

async fn report(r: &Rig, dcs: Vec<TransportId>) {
    r.feed(DiscoveryReport {
        dcs,
        avahi: AvahiView::default(),
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn discovered_dc_connects_then_ages_out_after_persistence() {
    let k = FakeKernel::new();
    let id = k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    let mut r = Rig::new(
        k,
        "[Discovery controller connection management]\nzeroconf-connections-persistence = 1 hour\n",
    );
    report(&r, vec![mdns_dc("127.0.0.1")]).await;
    r.until("discovered DC connected", |s| {
        s.ctrls
            .first()
            .is_some_and(|c| c.connected && log_len(c) == 1)
    })
    .await;
    let c = r.ctrl("127.0.0.1").unwrap();
    assert_eq!(c.dc.as_ref().unwrap().origin, Origin::Discovered);
    assert_eq!(c.tid.host_iface, "lo");
    // avahi-daemon goes away: nothing reported, but the DC is connected: kept, no timer.
    report(&r, vec![]).await;
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(r.ctrl("127.0.0.1").is_some_and(|c| c.connected));
    assert!(r.kit.k.deleted().is_empty());
    // The target goes away too: kept for the persistence, then removed.
    r.kit.k.set_target_listening(id, false);
    r.kit.k.lose_controller("nvme0");
    let lost = Instant::now();
    r.until("DC lost", |s| s.ctrls.first().is_some_and(|c| !c.connected))
        .await;
    tokio::time::sleep(Duration::from_secs(3500)).await;
    assert!(r.ctrl("127.0.0.1").is_some(), "removed before 1 hour");
    r.until("aged out", |s| s.ctrls.is_empty()).await;
    let after = lost.elapsed();
    assert!(
        after >= Duration::from_secs(3600) && after < Duration::from_secs(3700),
        "aged out after {after:?}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn discovered_dc_reappearing_stops_the_aging() {
    let k = FakeKernel::new();
    let id = k.add_target(ddc("127.0.0.1", vec![]));
    let mut r = Rig::new(
        k,
        "[Discovery controller connection management]\nzeroconf-connections-persistence = 60\n",
    );
    report(&r, vec![mdns_dc("127.0.0.1")]).await;
    r.until("connected", |s| {
        s.ctrls.first().is_some_and(|c| c.connected)
    })
    .await;
    r.kit.k.set_target_listening(id, false);
    r.kit.k.lose_controller("nvme0");
    report(&r, vec![]).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    report(&r, vec![mdns_dc("127.0.0.1")]).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        r.ctrl("127.0.0.1").is_some(),
        "reported again: not aged out"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn excluded_or_wrong_family_discovered_dcs_are_not_connected() {
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![]));
    k.add_target(ddc("::1", vec![]));
    let mut r = Rig::new(
        k,
        "[Global]\nip-family = ipv6\n[Controllers]\nexclude = traddr=::1;trsvcid=8009\n",
    );
    report(&r, vec![mdns_dc("127.0.0.1"), mdns_dc("::1")]).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        r.snap.borrow().ctrls.is_empty(),
        "{:?}",
        r.snap.borrow().ctrls
    );
    assert!(r.kit.k.connect_log().is_empty());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_aen_lost_in_an_overflow_is_recovered_by_the_resync() {
    let (mut r, id) = Rig::one_dc(vec![nvm(1, "127.0.0.1")]).await;
    // The AEN of this change is lost; the controller's AEN stays masked until a read.
    r.kit
        .overflow(|k| k.set_log(id, vec![nvm(1, "127.0.0.1"), nvm(2, "127.0.0.1")]))
        .await;
    assert!(matches!(r.event().await, CoreEvent::LogPagesChanged { .. }));
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 2);
    assert_eq!(
        r.kit.k.registrations().len(),
        1,
        "not reconnected: no DIM again"
    );
    assert_eq!(r.kit.k.connect_log().len(), 1);
    // The read re-armed the AEN: the next change arrives as usual.
    r.kit
        .k
        .set_log(id, (1..=3).map(|i| nvm(i, "127.0.0.1")).collect());
    assert!(matches!(r.event().await, CoreEvent::LogPagesChanged { .. }));
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 3);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn controllers_that_reconnected_or_vanished_in_an_overflow() {
    let k = FakeKernel::new();
    let a = k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    k.add_target(ddc("::1", vec![nvm(1, "::1")]));
    let mut r = Rig::new(
        k,
        "[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\ncontroller = transport=tcp;traddr=::1\n",
    );
    r.until("both read", |s| {
        s.ctrls.len() == 2 && s.ctrls.iter().all(|c| log_len(c) == 1)
    })
    .await;
    let v4 = r.ctrl("127.0.0.1").unwrap().device.unwrap();
    let v6 = r.ctrl("::1").unwrap().device.unwrap();
    assert_eq!(r.kit.k.registrations().len(), 2);
    // 127.0.0.1 loses its path and reconnects (rediscover, connected lost) and its log
    // changes (AEN lost); ::1 is removed by the kernel (remove lost).
    r.kit
        .overflow(|k| {
            k.set_state(&v4, CtrlState::Connecting);
            k.reconnect(&v4);
            k.set_log(a, vec![nvm(1, "127.0.0.1"), nvm(2, "127.0.0.1")]);
            k.lose_controller(&v6);
        })
        .await;
    r.until("127.0.0.1 resynced", |s| {
        s.ctrls
            .iter()
            .any(|c| c.tid.traddr == "127.0.0.1" && log_len(c) == 2)
    })
    .await;
    let regs = r.kit.k.registrations();
    assert_eq!(
        regs.iter().filter(|g| g.device == v4).count(),
        2,
        "the reconnected DC registers again"
    );
    // ::1: forgotten device, reconnected 3 s later.
    r.until("::1 reconnected", |s| {
        s.ctrls
            .iter()
            .any(|c| c.tid.traddr == "::1" && c.connected && c.device.is_some())
    })
    .await;
    assert_eq!(r.kit.k.connect_log().len(), 3);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_uevent_source_ending_stops_the_core_keeping_every_connection() {
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![]));
    // Without persistence a normal stop deregisters and disconnects: this one must not.
    let mut r = Rig::new(k, NOT_PERSISTENT);
    r.event().await;
    // Every sender gone (the netlink thread ended).
    r.kit.k.set_event_sink(Arc::new(|_| {}));
    drop(r.kit.uevents.take());
    r.ended().await;
    let e = r.stop_failed().await;
    assert_eq!(
        e.to_string(),
        "kernel uevents unavailable: the uevent source ended"
    );
    assert!(r.kit.k.deleted().is_empty(), "nothing disconnected");
    assert_eq!(r.kit.k.registrations().len(), 1, "no deregistration");
    // The reader thread giving up says why.
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![]));
    let mut r = Rig::new(k, ONE_DC);
    r.event().await;
    let tx = r.kit.uevents.clone().unwrap();
    tx.send(UeventMsg::Failed("100 consecutive errors".into()))
        .await
        .unwrap();
    r.ended().await;
    let e = r.stop_failed().await;
    assert_eq!(e.0, "100 consecutive errors");
    assert!(r.kit.k.deleted().is_empty());
}

/// nvme-cli 3's registry: a DC stafd connects is registered as stas's; at the next start,
/// one another orchestrator took meanwhile is not adopted (stafd connects its own), and
/// neither is it disconnected when stafd stops dropping its connections.
#[tokio::test(start_paused = true)]
async fn the_registry_decides_which_dc_stafd_adopts() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    let mut r = start(&k, NOT_PERSISTENT, tempfile::tempdir().unwrap());
    r.event().await;
    assert_eq!(
        k.owner("nvme0").as_deref(),
        Some("stas"),
        "registered at connect"
    );
    r.stop_keeping(true).await;
    k.set_owner("nvme0", Some("autoconnect"));
    let mut r = start(&k, NOT_PERSISTENT, r.kit.dir);
    let ev = r.event().await;
    assert!(matches!(ev, CoreEvent::LogPagesChanged { ref device, .. } if device == "nvme1"));
    assert_eq!(k.connect_log().len(), 2, "its own connection");
    assert_eq!(k.owner("nvme1").as_deref(), Some("stas"));
    r.stop().await;
    assert_eq!(k.deleted(), ["nvme1"], "only its own is disconnected");
    assert_eq!(k.owner("nvme0").as_deref(), Some("autoconnect"));
}

/// A DC stafd holds that another orchestrator takes over (re-stamps in the registry) is
/// left to it: no DIM on it any more (not even the reload's resync), no disconnect at the
/// next pass or at exit; stafd connects its own with the log pages it had.
#[tokio::test(start_paused = true)]
async fn a_dc_another_orchestrator_takes_over_is_left_to_it() {
    let (mut r, _) = Rig::one_dc(vec![nvm(1, "127.0.0.1")]).await;
    r.kit.k.set_owner("nvme0", Some("autoconnect"));
    r.reload(conf(NOT_PERSISTENT)).await;
    // The reload's resync may read nvme0's log first (without DIM); then nvme1's.
    while !matches!(r.event().await, CoreEvent::LogPagesChanged { ref device, .. } if device == "nvme1")
    {
    }
    assert_eq!(r.kit.k.connect_log().len(), 2);
    let regs: Vec<_> = (r.kit.k.registrations().iter())
        .map(|g| (g.device.clone(), tas_of(g)))
        .collect();
    assert_eq!(
        regs,
        [
            ("nvme0".into(), Some(DimTask::Register)),
            ("nvme1".into(), Some(DimTask::Register)),
        ],
        "nvme0 registered once, before it was taken over"
    );
    assert_eq!(log_len(&r.ctrl("127.0.0.1").unwrap()), 1, "log pages kept");
    r.stop().await;
    assert_eq!(r.kit.k.deleted(), ["nvme1"], "only its own is disconnected");
    assert_eq!(r.kit.k.owner("nvme0").as_deref(), Some("autoconnect"));
}

/// The 3.x layout: a `[Discovery Controller]` connects with its cascade (the controller
/// line's keep-alive over the defaults' reset-free values) and the `[Host]`'s
/// `kxchap-secret`; the same secret on a 2.x `controller=` line is not sent (libnvme 1.x,
/// hence nvme-stas 2.x, authenticated I/O controllers only).
#[tokio::test(start_paused = true)]
async fn the_3x_layout_dc_gets_its_cascade_and_host_secret() {
    const KEY: &str = "DHHC-1:00:aG9zdGtleWhvc3RrZXlob3N0a2V5aG9zdGtleTEyMzQ=:";
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    let text = format!(
        "[Discovery Controller Defaults]\nreconnect-delay = 2\n[Host]\nkxchap-secret = {KEY}\n\
         [Discovery Controller]\ncontroller = transport=tcp;traddr=127.0.0.1;keep-alive-tmo=20\n"
    );
    let cfg = crate::daemon::testkit::conf3(Daemon::Stafd, &text);
    let mut r = start_watched(&k, cfg, tempfile::tempdir().unwrap(), Watchdog::default());
    r.event().await;
    let c = &k.connect_log()[0];
    assert!(
        c.contains("keep_alive_tmo=20") && c.contains("reconnect_delay=2"),
        "{c}"
    );
    assert!(c.contains(&format!("dhchap_secret={KEY}")), "{c}");
    r.stop().await;

    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    let text =
        format!("[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;dhchap-secret={KEY}\n");
    let mut r = start(&k, &text, tempfile::tempdir().unwrap());
    r.event().await;
    let c = &k.connect_log()[0];
    assert!(!c.contains("dhchap_secret"), "2.x: {c}");
    r.stop().await;
}

/// The 3.x layout: a referral from a drop-in's discovery controller connects with that
/// file's discovery defaults, not the main file's.
#[tokio::test(start_paused = true)]
async fn a_referral_takes_its_drop_in_referrers_scope() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![referral("::1", 2)]));
    k.add_target(ddc("::1", vec![]));
    let cfg = crate::daemon::testkit::conf3_files(
        Daemon::Stafd,
        &[
            (
                "/etc/nvme/nvme-stas.conf",
                // Held DCs: a parked one (auto, no EPCSD here) is connected only briefly.
                "[Discovery Controller Defaults]\nreconnect-delay = 3\npersistent = force\n",
            ),
            (
                "/etc/nvme/nvme-stas.conf.d/lab.conf",
                "[Discovery Controller Defaults]\nreconnect-delay = 7\n\
                 [Discovery Controller]\ncontroller = transport=tcp;traddr=127.0.0.1\n",
            ),
        ],
    );
    let mut r = start_watched(&k, cfg, tempfile::tempdir().unwrap(), Watchdog::default());
    r.until("referral connected", |s| {
        s.ctrls.iter().any(|c| c.tid.traddr == "::1" && c.connected)
    })
    .await;
    let log = k.connect_log();
    assert_eq!(log.len(), 2, "{log:?}");
    for c in &log {
        assert!(
            c.contains("reconnect_delay=7") && c.contains("keep_alive_tmo=30"),
            "{c}"
        );
    }
    r.stop().await;
}

const NBFT_HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:0b6a5a3e-0000-4000-8000-00000000b007";
const NBFT_HOSTID: &str = "0b6a5a3e-0000-4000-8000-00000000b007";

/// An NBFT naming the DC at 127.0.0.1:8009 (no port in its URI), for a host NQN and ID the
/// firmware configured.
fn nbft_table() -> Vec<(String, Vec<u8>)> {
    use crate::proto::nbft::build::{DiscoverySpec, TableSpec};
    let mut t = TableSpec::new(NBFT_HOSTNQN);
    t.host.id = NBFT_HOSTID.parse().ok();
    t.host.id_configured = true;
    t.discovery
        .push(DiscoverySpec::new(1, "nvme+tcp://127.0.0.1/"));
    vec![("NBFT".to_owned(), t.build())]
}

/// The 2.x layout adds the NBFT's discovery controllers (origin `nbft`, as nvme-stas
/// 2.3+), and never disconnects them: not at an exit without persistent connections, not
/// when the exclusion list names them. The 3.x layout leaves them alone.
#[tokio::test(start_paused = true)]
async fn nbft_dcs_are_added_in_2x_and_never_disconnected() {
    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    k.set_nbft(&nbft_table(), &[]);
    let text = "[Discovery controller connection management]\npersistent-connections=false\n";
    let mut r = start(&k, text, tempfile::tempdir().unwrap());
    r.until("the NBFT's DC connected", |s| {
        s.ctrls
            .iter()
            .any(|c| c.connected && c.dc.as_ref().is_some_and(|d| d.origin == Origin::Nbft))
    })
    .await;
    assert_eq!(r.ctrl("127.0.0.1").unwrap().tid.trsvcid, "8009");
    let c = &k.connect_log()[0];
    assert!(
        c.contains(&format!("hostnqn={NBFT_HOSTNQN},hostid={NBFT_HOSTID}")),
        "{c}"
    );
    k.set_exclusions("[exclusions]\nexclusion = traddr=127.0.0.1\n");
    r.reload(conf(text)).await;
    r.until("the excluded DC is let go", |s| s.ctrls.is_empty())
        .await;
    r.stop().await;
    assert!(k.deleted().is_empty(), "{:?}", k.deleted());

    let k = Arc::new(FakeKernel::new());
    k.add_target(ddc("127.0.0.1", vec![]));
    k.set_nbft(&nbft_table(), &[]);
    let cfg = crate::daemon::testkit::conf3(Daemon::Stafd, "");
    let mut r = start_watched(&k, cfg, tempfile::tempdir().unwrap(), Watchdog::default());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.snap.borrow().ctrls.is_empty());
    assert!(k.connect_log().is_empty());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_referral_that_requires_tls_is_not_connected_without_it() {
    // 6.1: no `tls`.
    let k = FakeKernel::new();
    let mut tls = referral("::1", 2);
    tls.treq = 5;
    tls.tsas = Tsas::Tcp { sectype: 2 };
    let a = k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1"), tls.clone()]));
    k.add_target(ddc("::1", vec![nvm(2, "::1")]));
    let mut r = Rig::new(k, ONE_DC);
    r.until("referral refused", |s| {
        s.ctrls.iter().any(|c| {
            c.tid.traddr == "::1"
                && c.connect_op
                    .as_ref()
                    .and_then(|o| o.error.as_deref())
                    .is_some_and(|e| e.ends_with("but this kernel has no `tls` connect option"))
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        !r.kit
            .k
            .connect_log()
            .iter()
            .any(|c| c.contains("traddr=::1")),
        "never tried"
    );
    assert!(r
        .ctrl("::1")
        .unwrap()
        .connect_op
        .unwrap()
        .retry_timer
        .is_none());
    // The referring log no longer requires TLS: connected.
    tls.treq = 2;
    r.kit.k.set_log(a, vec![nvm(1, "127.0.0.1"), tls]);
    r.until("referral connected", |s| {
        s.ctrls
            .iter()
            .any(|c| c.tid.traddr == "::1" && c.device.is_some())
    })
    .await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_referral_that_requires_tls_is_connected_with_it() {
    const KERNEL_6_12: &str = "transport=%s,traddr=%s,trsvcid=%s,nqn=%s,hostnqn=%s,hostid=%s,keep_alive_tmo=%d,ctrl_loss_tmo=%d,hdr_digest,data_digest,keyring=%d,tls_key=%d,discovery,tls";
    let k = FakeKernel::new();
    k.set_supported_options(crate::kernel::SupportedOptions::from_reply(KERNEL_6_12).unwrap());
    let mut tls = referral("::1", 2);
    tls.treq = 1;
    tls.tsas = Tsas::Tcp { sectype: 2 };
    k.add_target(ddc("127.0.0.1", vec![tls]));
    k.add_target(ddc("::1", vec![nvm(2, "::1")]));
    let mut r = Rig::new(k, ONE_DC);
    r.until("referral connected", |s| {
        s.ctrls
            .iter()
            .any(|c| c.tid.traddr == "::1" && c.device.is_some())
    })
    .await;
    let log = r.kit.k.connect_log();
    let referred = log.iter().find(|c| c.contains("traddr=::1")).unwrap();
    assert!(referred.ends_with(",tls"), "{referred}");
    let parent = log.iter().find(|c| c.contains("traddr=127.0.0.1")).unwrap();
    assert!(!parent.contains("tls"), "{parent}");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn configured_tls_on_a_kernel_without_it_fails_once_and_is_not_retried() {
    let k = FakeKernel::new();
    k.add_target(ddc("127.0.0.1", vec![nvm(1, "127.0.0.1")]));
    let mut r = Rig::new(
        k,
        "[Global]\ntls=true\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1\n",
    );
    r.until("failed", testkit::connect_failures(1)).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let op = r.ctrl("127.0.0.1").unwrap().connect_op;
    testkit::assert_refused_once(op, &r.kit.k, "does not support the tls option");
    r.stop().await;
}
