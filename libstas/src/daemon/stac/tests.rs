//! Actor-level tests of the stacd core: the real core task over the [`FakeKernel`], under
//! paused tokio time, with stafd's views injected through the core's channel (no D-Bus),
//! checked through what it publishes and what the fake kernel saw (connects, deletes).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use tokio::time::Instant;

use super::*;
use crate::config::{Daemon, ServiceConfig};
use crate::ctrl::stac_reconcile::DcLog;
use crate::daemon::actor::CoreHandle;
use crate::daemon::testkit::{self, Kit, HOSTID, HOSTNQN};
use crate::daemon::uevents::Follow;
use crate::kernel::fake::tests::{connect as fake_connect, tid as fake_tid};
use crate::kernel::fake::{FakeKernel, FakeTarget, TargetId};
use crate::kernel::Kernel;
use crate::model::snapshot::CoreCommand;
use crate::model::snapshot::{CtrlView, DlpeDict};
use crate::model::trid::WELL_KNOWN_DISC_NQN;
use crate::proto::consts::{subtype, trtype};
use crate::proto::dlp::{LogEntry, Tsas};
use crate::proto::identify::CntrlType;
use crate::runtime::notify::Watchdog;
use crate::runtime::state::load_stac;

const SUB: &str = "nqn.2024-01.io.example:sub";
const HOST_KEY: &str = "DHHC-1:00:aG9zdGtleWhvc3RrZXlob3N0a2V5aG9zdGtleTEyMzQ=:";
const CTRL_KEY: &str = "DHHC-1:00:Y3RybGtleWN0cmxrZXljdHJsa2V5Y3RybGtleTEyMzQ1:";

fn conf(text: &str) -> ServiceConfig {
    testkit::conf(Daemon::Stacd, text)
}

fn nqn(i: u32) -> String {
    format!("{SUB}{i}")
}

fn entry(i: u32, eflags: u16) -> DlpeDict {
    LogEntry {
        trtype: trtype::TCP,
        adrfam: 1,
        subtype: subtype::NVME,
        treq: 0,
        portid: 1,
        cntlid: 0xffff,
        asqsz: 32,
        eflags,
        trsvcid: "4420".into(),
        subnqn: nqn(i),
        traddr: "127.0.0.1".into(),
        tsas: Tsas::Tcp { sectype: 0 },
    }
    .to_stas_dict()
}

fn dc() -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: "127.0.0.1".into(),
        trsvcid: "8009".into(),
        subsysnqn: WELL_KNOWN_DISC_NQN.into(),
        host_nqn: HOSTNQN.into(),
        ..TransportId::default()
    }
}

/// stafd's answer: one DC at 127.0.0.1:8009 listing subsystems `range`.
fn known(range: impl IntoIterator<Item = u32>) -> StafdView {
    StafdView::Known {
        dcs: vec![DcLog {
            dc: dc(),
            entries: Some(range.into_iter().map(|i| entry(i, 0)).collect()),
        }],
        dc_removed: false,
    }
}

/// Connects subsystem `i` as `nvme connect` would (another orchestrator): its device.
fn by_hand(k: &FakeKernel, i: u32) -> String {
    let tid = TransportId {
        transport: "tcp".into(),
        traddr: "127.0.0.1".into(),
        trsvcid: "4420".into(),
        subsysnqn: nqn(i),
        host_nqn: HOSTNQN.into(),
        ..TransportId::default()
    };
    let params = crate::kernel::ConnectParams::new(&tid, HOSTID, crate::kernel::CtrlKind::Io);
    let cs = crate::kernel::build_connect_string(&params, &k.supported_options().unwrap());
    k.connect(&cs.unwrap()).unwrap().device()
}

fn targets(k: &FakeKernel, n: u32) -> Vec<TargetId> {
    (1..=n)
        .map(|i| k.add_target(FakeTarget::io("tcp", "127.0.0.1", "4420", &nqn(i))))
        .collect()
}

type Rig = testkit::Rig<StafdView>;

fn start(k: &Arc<FakeKernel>, text: &str, dir: tempfile::TempDir, host_key: bool) -> Rig {
    start_cfg(k, conf(text), dir, host_key)
}

fn start_cfg(
    k: &Arc<FakeKernel>,
    cfg: ServiceConfig,
    dir: tempfile::TempDir,
    host_key: bool,
) -> Rig {
    let (kit, rx) = Kit::new(k, Follow::Io, dir);
    let host = testkit::host(None, host_key);
    let setup = kit.setup(cfg, host, load_stac, Watchdog::default());
    let host_key = host_key.then(|| Secret::new(HOST_KEY.into()));
    let core = CoreHandle::start::<Core>(kit.kernel(), setup, host_key, rx, kit.tron_hook());
    Rig::of(kit, core)
}

impl Rig {
    fn new(k: FakeKernel, text: &str) -> Self {
        start(&Arc::new(k), text, tempfile::tempdir().unwrap(), false)
    }

    /// stacd with `text` over subsystems `1..=n`.
    fn with(n: u32, text: &str) -> Self {
        let k = FakeKernel::new();
        targets(&k, n);
        Self::new(k, text)
    }

    /// stacd with subsystems `1..=n`, all listed by stafd and connected.
    async fn listing(n: u32) -> Self {
        let mut r = Self::with(n, "");
        r.listed(1..=n).await;
        r
    }

    /// stafd lists subsystems `range`: waits until that many controllers are connected.
    async fn listed(&mut self, range: impl IntoIterator<Item = u32>) {
        let ids: Vec<u32> = range.into_iter().collect();
        let n = ids.len();
        self.view(known(ids)).await;
        self.connected(n).await;
    }

    async fn view(&self, v: StafdView) {
        self.feed(v).await;
    }

    fn ctrl(&self, i: u32) -> Option<CtrlView> {
        let snap = self.snap.borrow();
        snap.ctrls
            .iter()
            .find(|c| c.tid.subsysnqn == nqn(i))
            .cloned()
    }
}

#[tokio::test(start_paused = true)]
async fn connects_every_listed_controller_at_once() {
    let mut r = Rig::with(32, "");
    let t0 = Instant::now();
    r.listed(1..=32).await;
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_millis(100),
        "no soak or per-controller delay: {elapsed:?}"
    );
    let connects = r.kit.k.connect_log();
    assert_eq!(connects.len(), 32);
    assert!(connects.iter().all(|c| c.contains("trsvcid=4420")
        && c.contains(&format!("hostnqn={HOSTNQN}"))
        && !c.contains("keep_alive_tmo")
        && !c.contains("discovery")));
    let c = r.ctrl(7).unwrap();
    assert_eq!(c.attrs.cntrltype, "io");
    assert_eq!(
        c.ioc.as_ref().unwrap().dlpe.as_ref().unwrap()["subnqn"],
        nqn(7)
    );
    assert!(r.kit.k.deleted().is_empty());
    r.stop().await;
    let st = load_stac(&r.kit.dir.path().join("last-known-config.toml"));
    assert_eq!(st.iocs.len(), 32);
    assert!(
        r.kit.k.deleted().is_empty(),
        "stacd keeps I/O connections on exit"
    );
}

#[tokio::test(start_paused = true)]
async fn stafd_unreachable_or_restarting_disconnects_nothing() {
    let mut r = Rig::listing(4).await;
    // stafd stops (its name loses its owner): 60 s without an answer.
    r.view(StafdView::Unknown).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(r.kit.k.deleted().is_empty());
    assert_eq!(r.snap.borrow().ctrls.len(), 4);
    // A kernel remove meanwhile still reconnects: the remembered entries stay wanted.
    r.kit.k.lose_controller("nvme2");
    tokio::time::sleep(Duration::from_secs(4)).await;
    r.connected(4).await;
    assert_eq!(r.kit.k.connect_log().len(), 5);
    // stafd is back without its cache: its DC is listed, its log not read yet.
    r.view(StafdView::Known {
        dcs: vec![DcLog {
            dc: dc(),
            entries: None,
        }],
        dc_removed: false,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(r.kit.k.deleted().is_empty());
    // Then the log: same entries, nothing changes.
    r.view(known(1..=4)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(r.kit.k.deleted().is_empty());
    assert_eq!(r.kit.k.connect_log().len(), 5);
    // stafd restarted without its state file answers before it created its DC: kept.
    r.view(StafdView::Known {
        dcs: vec![],
        dc_removed: false,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(r.kit.k.deleted().is_empty());
    r.view(known(1..=4)).await;
    // A subsystem leaves the log: its controller goes (default scope).
    r.view(known([1, 2, 4])).await;
    r.until("3 controllers", |s| s.ctrls.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(r.kit.k.deleted().len(), 1);
    assert!(r.ctrl(3).is_none());
    // stafd removed its DC (dc_removed): every controller it named goes.
    r.view(StafdView::Known {
        dcs: vec![],
        dc_removed: true,
    })
    .await;
    r.until("all gone", |s| s.ctrls.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(r.kit.k.deleted().len(), 4);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn no_disconnect_scope_forgets_only() {
    let mut r = Rig::with(
        2,
        "[I/O controller connection management]\ndisconnect-scope=no-disconnect\n",
    );
    r.listed(1..=2).await;
    r.view(known([2])).await;
    r.until("forgotten", |s| s.ctrls.len() == 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.kit.k.deleted().is_empty());
    assert_eq!(
        r.kit.k.list_controllers().unwrap().len(),
        2,
        "still in the kernel"
    );
    // Back in the log: the existing kernel controller is adopted, not connected again.
    r.listed(1..=2).await;
    assert_eq!(r.kit.k.connect_log().len(), 2);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn exclusion_on_reload_disconnects_only_the_matching_ones() {
    let mut r = Rig::listing(4).await;
    let dev2 = r.ctrl(2).unwrap().device.unwrap();
    // stafd away during the reload: the exclusion applies anyway.
    r.view(StafdView::Unknown).await;
    r.reload(conf(&format!(
        "[Controllers]\nexclude = subsysnqn={}\n",
        nqn(2)
    )))
    .await;
    r.until("excluded one gone", |s| s.ctrls.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(r.kit.k.deleted(), vec![dev2]);
    assert_eq!(r.kit.k.list_controllers().unwrap().len(), 3);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warm_restart_adopts_and_creates_or_removes_nothing() {
    let k = Arc::new(FakeKernel::new());
    targets(&k, 4);
    let dir = tempfile::tempdir().unwrap();
    let mut r = start(&k, "", dir, false);
    r.listed(1..=4).await;
    let before = r.devices();
    r.stop().await;
    let dir = r.kit.dir;
    // A state entry without a kernel controller is not recreated at start.
    let p = dir.path().join("last-known-config.toml");
    let mut st = load_stac(&p);
    let mut ghost = st.iocs[0].clone();
    ghost.subsysnqn = nqn(99);
    st.iocs.push(ghost);
    crate::runtime::state::save_stac(&p, &st).unwrap();

    let mut r = start(&k, "", dir, false);
    r.connected(4).await;
    assert_eq!(r.devices(), before);
    assert_eq!(r.snap.borrow().ctrls.len(), 4, "the ghost is not recreated");
    // No answer about stafd for a while: nothing created or removed.
    tokio::time::sleep(Duration::from_secs(10)).await;
    r.view(known(1..=4)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        r.kit.k.connect_log().len(),
        4,
        "no new connect after the restart"
    );
    assert!(r.kit.k.deleted().is_empty());
    assert_eq!(r.devices(), before);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warm_restart_without_state_adopts_through_the_log() {
    let k = FakeKernel::new();
    targets(&k, 2);
    let k = Arc::new(k);
    let mut r = start(&k, "", tempfile::tempdir().unwrap(), false);
    r.listed(1..=2).await;
    r.stop().await;
    let mut r = start(&k, "", tempfile::tempdir().unwrap(), false);
    r.listed(1..=2).await;
    assert_eq!(r.kit.k.connect_log().len(), 2);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn kernel_remove_reconnects_in_3s() {
    let mut r = Rig::listing(1).await;
    let t = Instant::now();
    r.kit.k.lose_controller("nvme0");
    r.until("gone", |s| s.ctrls.iter().all(|c| !c.connected))
        .await;
    r.connected(1).await;
    assert_eq!(t.elapsed().as_secs(), 3);
    assert_eq!(r.kit.k.connect_log().len(), 2);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn ncc_gate_and_ncc_clearing() {
    let k = FakeKernel::new();
    let ids = targets(&k, 1);
    k.set_target_listening(ids[0], false);
    let mut r = Rig::new(
        k,
        "[I/O controller connection management]\nconnect-attempts-on-ncc=1\n",
    );
    let with_ncc = StafdView::Known {
        dcs: vec![DcLog {
            dc: dc(),
            entries: Some(vec![entry(1, 4)]),
        }],
        dc_removed: false,
    };
    r.view(with_ncc).await;
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(r.kit.k.connect_log().len(), 2, "1 is read as 2 attempts");
    let c = r.ctrl(1).unwrap();
    assert_eq!(c.connect_op.as_ref().unwrap().fail_count, 2);
    assert!(c.retry_connect_timer.remaining.is_none(), "not retrying");
    // NCC clears (the controller got connected to its CDC): connect at once.
    r.kit.k.set_target_listening(ids[0], true);
    let t = Instant::now();
    r.listed([1]).await;
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(r.kit.k.connect_log().len(), 3);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retries_3s_then_60s_and_reload_connects_now() {
    let k = FakeKernel::new();
    let ids = targets(&k, 1);
    k.set_target_listening(ids[0], false);
    let mut r = Rig::new(k, "");
    r.view(known([1])).await;
    let fails = testkit::connect_failures;
    r.until("1", fails(1)).await;
    let t1 = Instant::now();
    r.until("2", fails(2)).await;
    let t2 = Instant::now();
    r.until("3", fails(3)).await;
    assert_eq!((t2 - t1).as_secs(), 3);
    assert_eq!(t2.elapsed().as_secs(), 60);
    r.kit.k.set_target_listening(ids[0], true);
    // A reload does not cut a running retry timer short…
    r.reload(conf("")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(r.kit.k.connect_log().len(), 3);
    // …the timer connects.
    r.connected(1).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn configured_controllers_secrets_and_parameters() {
    let k = Arc::new(FakeKernel::new());
    targets(&k, 2);
    let text = format!(
        "[Global]\nkato=25\n[Controllers]\n\
         controller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn={};dhchap-secret={CTRL_KEY};nr-io-queues=2\n",
        nqn(1)
    );
    let mut r = start(&k, &text, tempfile::tempdir().unwrap(), true);
    // stafd is not there: the configured controller connects anyway.
    r.view(StafdView::Unknown).await;
    r.connected(1).await;
    r.view(known([2])).await;
    r.connected(2).await;
    let log = r.kit.k.connect_log();
    let one = log.iter().find(|c| c.contains(&nqn(1))).unwrap();
    let two = log.iter().find(|c| c.contains(&nqn(2))).unwrap();
    assert!(one.contains(&format!("dhchap_secret={CTRL_KEY}")), "{one}");
    assert!(!one.contains(HOST_KEY), "the controller's key wins: {one}");
    assert!(one.contains("nr_io_queues=2") && one.contains("keep_alive_tmo=25"));
    assert!(two.contains(&format!("dhchap_secret={HOST_KEY}")), "{two}");
    // Nothing secret is published.
    let snap = format!("{:?}", *r.snap.borrow());
    assert!(!snap.contains("DHHC-1"), "{snap}");
    assert_eq!(
        r.ctrl(1)
            .unwrap()
            .cfg
            .get("nr-io-queues")
            .map(String::as_str),
        Some("2")
    );
    r.stop().await;
    let st = std::fs::read_to_string(r.kit.dir.path().join("last-known-config.toml")).unwrap();
    assert!(!st.contains("DHHC-1"));
}

/// The 3.x layout: a `[Subsystem]` connects with its resolved cascade (a reset leaves the
/// kernel default, a section's secret beats the defaults', an empty one means none), and
/// a controller from stafd's log gets the main file's `[I/O Controller Defaults]`.
#[tokio::test(start_paused = true)]
async fn the_3x_layout_connects_with_the_cascade() {
    let k = Arc::new(FakeKernel::new());
    targets(&k, 3);
    let text = format!(
        "[I/O Controller Defaults]\nctrl-loss-tmo = 600\nnr-io-queues = 4\nkxchap-secret = {HOST_KEY}\n\
         [Subsystem]\nnqn = {}\nctrl-loss-tmo =\nkxchap-secret = {CTRL_KEY}\n\
         controller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;reconnect-delay=5\n\
         [Subsystem]\nnqn = {}\nkxchap-secret =\n\
         controller = transport=tcp;traddr=127.0.0.1;trsvcid=4420\n",
        nqn(1),
        nqn(2)
    );
    let cfg = testkit::conf3(Daemon::Stacd, &text);
    let mut r = start_cfg(&k, cfg, tempfile::tempdir().unwrap(), false);
    r.view(StafdView::Unknown).await;
    r.connected(2).await;
    r.view(known([3])).await;
    r.connected(3).await;
    let log = r.kit.k.connect_log();
    let of = |i: u32| log.iter().find(|c| c.contains(&nqn(i))).unwrap().clone();
    let (one, two, three) = (of(1), of(2), of(3));
    assert!(
        one.contains("nr_io_queues=4") && one.contains("reconnect_delay=5"),
        "{one}"
    );
    assert!(!one.contains("ctrl_loss_tmo"), "reset: {one}");
    assert!(one.contains(&format!("dhchap_secret={CTRL_KEY}")), "{one}");
    assert!(
        two.contains("ctrl_loss_tmo=600") && !two.contains("dhchap_secret"),
        "{two}"
    );
    assert!(
        three.contains("nr_io_queues=4") && three.contains("ctrl_loss_tmo=600"),
        "{three}"
    );
    assert!(
        three.contains(&format!("dhchap_secret={HOST_KEY}")),
        "{three}"
    );
    assert!(!format!("{:?}", *r.snap.borrow()).contains("DHHC-1"));
    r.stop().await;
}

/// The 3.x layout: an I/O controller learned through a drop-in's discovery controller
/// takes that file's scope (its defaults over the main file's, its `[Host]`'s secret and
/// host ID); one learned through the main file's DC does not (ecosystem-2026.md §3.9 B).
#[tokio::test(start_paused = true)]
async fn a_drop_in_dc_lends_its_file_scope_to_what_it_lists() {
    const PROD_NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:5d3e1c2a-0000-4000-8000-000000000001";
    const PROD_ID: &str = "5d3e1c2a-0000-4000-8000-000000000001";
    let k = Arc::new(FakeKernel::new());
    targets(&k, 2);
    let prod = format!(
        "[Host]\nhostnqn = {PROD_NQN}\nhostid = {PROD_ID}\nkxchap-secret = {HOST_KEY}\n\
         [I/O Controller Defaults]\nreconnect-delay = 20\n\
         [Discovery Controller]\ncontroller = transport=tcp;traddr=127.0.0.2;trsvcid=8009\n"
    );
    let cfg = testkit::conf3_files(
        Daemon::Stacd,
        &[
            (
                "/etc/nvme/nvme-stas.conf",
                "[I/O Controller Defaults]\nnr-io-queues = 4\n",
            ),
            ("/etc/nvme/nvme-stas.conf.d/prod.conf", &prod),
        ],
    );
    let mut r = start_cfg(&k, cfg, tempfile::tempdir().unwrap(), false);
    let prod_dc = TransportId {
        traddr: "127.0.0.2".into(),
        host_nqn: PROD_NQN.into(),
        ..dc()
    };
    r.view(StafdView::Known {
        dcs: vec![
            DcLog {
                dc: dc(),
                entries: Some(vec![entry(1, 0)]),
            },
            DcLog {
                dc: prod_dc,
                entries: Some(vec![entry(2, 0)]),
            },
        ],
        dc_removed: false,
    })
    .await;
    r.connected(2).await;
    let log = r.kit.k.connect_log();
    let of = |i: u32| log.iter().find(|c| c.contains(&nqn(i))).unwrap().clone();
    let (main, prod) = (of(1), of(2));
    assert!(
        main.contains("nr_io_queues=4") && !main.contains("reconnect_delay"),
        "{main}"
    );
    assert!(
        !main.contains("dhchap") && main.contains(&format!("hostid={HOSTID}")),
        "{main}"
    );
    assert!(
        prod.contains("nr_io_queues=4") && prod.contains("reconnect_delay=20"),
        "{prod}"
    );
    assert!(
        prod.contains(&format!("hostnqn={PROD_NQN},hostid={PROD_ID}")),
        "{prod}"
    );
    assert!(
        prod.contains(&format!("dhchap_secret={HOST_KEY}")),
        "{prod}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn new_entry_applied_at_once_and_a_burst_coalesced() {
    let mut r = Rig::with(4, "");
    r.listed([1]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // stafd signals after every log read: an unchanged answer costs nothing…
    r.view(known([1])).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    // …so the answer that brings a new entry is applied at once (leading edge).
    let t = Instant::now();
    r.listed([1, 2]).await;
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    // A change from the same discovery controller right after it is coalesced into the
    // pass at the end of the burst (QUIET_GAP after it).
    r.listed([1, 2, 3]).await;
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited <= Duration::from_millis(250),
        "{waited:?}"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn audit_disconnects_foreign_ios_only() {
    let k = FakeKernel::new();
    targets(&k, 2);
    // A foreign I/O controller (someone ran nvme connect), a PCIe drive, a DC.
    let foreign_target = k.add_target(FakeTarget::io("tcp", "127.0.0.1", "4420", &nqn(9)));
    let mut foreign = crate::kernel::Controller::new(5, "tcp");
    foreign.address.traddr = Some("127.0.0.1".into());
    foreign.address.trsvcid = Some("4420".into());
    foreign.subsysnqn = nqn(9);
    foreign.hostnqn = HOSTNQN.into();
    foreign.cntrltype = Some(CntrlType::Io);
    foreign.children = vec!["nvme5c5n1".into()];
    k.add_controller(foreign, Some(foreign_target));
    let mut pcie = crate::kernel::Controller::new(6, "pcie");
    pcie.cntrltype = Some(CntrlType::Io);
    pcie.children = vec!["nvme6n1".into()];
    k.add_controller(pcie, None);
    let mut disc = crate::kernel::Controller::new(7, "tcp");
    disc.address.traddr = Some("127.0.0.1".into());
    disc.address.trsvcid = Some("8009".into());
    disc.subsysnqn = WELL_KNOWN_DISC_NQN.into();
    disc.hostnqn = HOSTNQN.into();
    disc.cntrltype = Some(CntrlType::Discovery);
    k.add_controller(disc, None);
    let mut r = Rig::new(
        k,
        "[I/O controller connection management]\n\
         disconnect-scope=all-connections-matching-disconnect-trtypes\n",
    );
    // Without an answer from stafd nothing foreign is touched.
    r.view(StafdView::Unknown).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.kit.k.deleted().is_empty());
    // stafd answers with nothing to connect: the audit runs all the same.
    r.view(known([])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.kit.k.deleted(), vec!["nvme5".to_owned()]);
    r.listed(1..=2).await;
    // A foreign connection made later is audited 1 s after its `add`.
    let t = Instant::now();
    let foreign_tid = TransportId {
        transport: "tcp".into(),
        traddr: "127.0.0.1".into(),
        trsvcid: "4420".into(),
        subsysnqn: nqn(9),
        host_nqn: HOSTNQN.into(),
        ..TransportId::default()
    };
    let params =
        crate::kernel::ConnectParams::new(&foreign_tid, HOSTID, crate::kernel::CtrlKind::Io);
    let cs = crate::kernel::build_connect_string(&params, &r.kit.k.supported_options().unwrap())
        .unwrap();
    let out = r.kit.k.connect(&cs);
    let dev = out.unwrap().device();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if r.kit.k.deleted().contains(&dev) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "not audited");
    }
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        r.kit.k.list_controllers().unwrap().len(),
        4,
        "2 ours, PCIe, DC"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn connect_failure_reasons_and_tron() {
    let k = FakeKernel::new();
    targets(&k, 1);
    k.fail_next_connect(Errno::ECONNREFUSED);
    let mut r = Rig::new(k, "");
    r.view(known([1])).await;
    r.until("failed once", |s| {
        s.ctrls
            .first()
            .and_then(|c| c.connect_op.as_ref())
            .is_some_and(|o| o.fail_count == 1 && o.error.is_some())
    })
    .await;
    r.connected(1).await;
    let cmd = r.core().commands();
    cmd.send(CoreCommand::SetTron(true)).await.unwrap();
    r.until("tron", |s| s.process.tron).await;
    assert!(r.kit.tron.load(Ordering::SeqCst));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn snapshots_are_paced_during_bursts() {
    let mut r = Rig::listing(32).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rx = r.snap.clone();
    rx.borrow_and_update();
    let counter = tokio::spawn(async move {
        let mut n = 0u32;
        while tokio::time::timeout(Duration::from_secs(2), rx.changed())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            rx.borrow_and_update();
            n += 1;
        }
        n
    });
    // 100 changes, 1 ms apart: the first is published at once, the rest paced.
    let cmd = r.core().commands();
    let t = Instant::now();
    for i in 0..100 {
        cmd.send(CoreCommand::SetTron(i % 2 == 0)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        if i == 0 {
            assert!(
                r.snap.borrow().process.tron,
                "leading edge published at once"
            );
        }
    }
    let burst = t.elapsed();
    let n = counter.await.unwrap();
    let most = u32::try_from(burst.as_millis() / PUBLISH_MIN_INTERVAL.as_millis()).unwrap() + 2;
    assert!(
        n >= 2 && n <= most,
        "{n} snapshots for 100 changes in {burst:?}"
    );
    assert!(
        !r.snap.borrow().process.tron,
        "the last change is published"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_the_topology_missed_is_adopted() {
    let mut r = Rig::with(1, "");
    // Someone connects subsystem 1 and the core never hears of it (event lost).
    r.kit.k.set_event_sink(Arc::new(|_| {}));
    let dev = by_hand(&r.kit.k, 1);
    r.listed([1]).await;
    assert_eq!(
        r.devices(),
        vec![dev],
        "the existing controller, adopted after EALREADY"
    );
    assert_eq!(
        r.kit.k.connect_log().len(),
        2,
        "ours was refused as a duplicate"
    );
    assert_eq!(r.kit.k.list_controllers().unwrap().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cold_start_with_stafd_applies_its_entries_at_once() {
    let mut r = Rig::with(4, "");
    // Started together: stafd is not on the bus yet, then it is but has not read its
    // DC's log, then it has.
    r.view(StafdView::Unknown).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.view(StafdView::Known {
        dcs: vec![DcLog {
            dc: dc(),
            entries: None,
        }],
        dc_removed: false,
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    r.listed(1..=4).await;
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "no soak window left open by the startup pass: {:?}",
        t.elapsed()
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_overflow_hiding_a_removal_and_a_reused_instance_reconnects() {
    let mut r = Rig::with(3, "");
    r.listed([1, 2]).await;
    // The two connects ran concurrently: d1 is the lower instance, whichever got it.
    let mut devs = [
        r.ctrl(1).unwrap().device.unwrap(),
        r.ctrl(2).unwrap().device.unwrap(),
    ];
    devs.sort_by_key(|d| d.trim_start_matches("nvme").parse::<u32>().unwrap());
    let [d1, d2] = devs;
    // Both controllers go away; a foreign controller (subsystem 3, nvme-cli) takes the
    // lower instance, d1. None of it is seen.
    r.kit
        .overflow(|k| {
            k.lose_controller(&d1);
            k.lose_controller(&d2);
            let c = fake_connect(k, &fake_tid("127.0.0.1", "4420", &nqn(3)), CtrlKind::Io).unwrap();
            assert_eq!(c.device(), d1, "instance reused");
        })
        .await;
    r.until("both reconnected elsewhere", |s| {
        s.ctrls.len() == 2
            && s.ctrls
                .iter()
                .all(|c| c.connected && c.device.as_ref().is_some_and(|d| *d != d1))
    })
    .await;
    assert_eq!(r.kit.k.connect_log().len(), 5, "2 + foreign + 2 reconnects");
    assert!(
        r.kit.k.deleted().is_empty(),
        "the foreign controller is left alone"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_uevent_source_ending_stops_the_core_keeping_every_connection() {
    let mut r = Rig::with(2, "");
    r.listed([1, 2]).await;
    r.kit.k.set_event_sink(Arc::new(|_| {}));
    drop(r.kit.uevents.take());
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while r.snap.changed().await.is_ok() {}
    })
    .await;
    assert!(ended.is_ok(), "the core kept running without uevents");
    let e = r.stop_failed().await;
    assert_eq!(
        e.to_string(),
        "kernel uevents unavailable: the uevent source ended"
    );
    assert!(r.kit.k.deleted().is_empty(), "nothing disconnected");
    let st = load_stac(&r.kit.dir.path().join("last-known-config.toml"));
    assert_eq!(st.iocs.len(), 2, "the state is saved for the restart");
}

/// A connect that returns after its controller was removed and added again, and the new
/// controller adopted what the connect created, leaves that device to the new one (the old
/// one deleted it in the uevent-storm scenario, and the new one stayed "connected" to
/// nothing). In real time: a connect blocked in the kernel holds a blocking thread, and
/// paused time does not advance while one runs.
#[tokio::test]
async fn a_connect_returning_late_leaves_its_device_to_the_successor() {
    let k = FakeKernel::new();
    targets(&k, 1);
    let hold = k.hold_next_connect();
    let mut r = Rig::new(k, "");
    r.view(known([1])).await;
    let t0 = std::time::Instant::now();
    while r.kit.k.list_controllers().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no connect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.until("connecting", |s| s.ctrls.len() == 1).await;
    r.view(known([])).await;
    r.until("removed", |s| s.ctrls.is_empty()).await;
    r.listed([1]).await;
    assert_eq!(r.devices(), ["nvme0"], "the successor adopted it");
    assert_eq!(r.kit.k.connect_log().len(), 1);
    hold.release();
    // The old controller takes its late connect as failed and lets go without deleting
    // (the stop waits for it).
    r.stop().await;
    assert!(r.kit.k.deleted().is_empty(), "{:?}", r.kit.k.deleted());
    assert_eq!(r.kit.k.list_controllers().unwrap(), ["nvme0"]);
}

/// nvme-cli 3's registry (DECISIONS.md item 19): what stas connects is registered as
/// stas's; a controller another orchestrator owns is never adopted, connected again or
/// disconnected (even when its subsystem leaves stafd's log, or at exit); an unowned one is
/// adopted and claimed.
#[tokio::test(start_paused = true)]
async fn the_registry_decides_what_is_stas_s() {
    let mut r = Rig::with(4, "");
    let theirs = by_hand(&r.kit.k, 1);
    let nbft = by_hand(&r.kit.k, 2);
    let unowned = by_hand(&r.kit.k, 3);
    r.kit.k.set_owner(&theirs, Some("discoverd"));
    r.kit.k.set_owner(&nbft, Some("nbft"));
    r.view(known(1..=4)).await;
    // Ours, and the boot path shown (never managed).
    r.until("3 controllers", |s| s.ctrls.len() == 3).await;
    r.connected(3).await;
    let k = Arc::clone(&r.kit.k);
    let owner = |d: &str| k.owner(d);
    assert_eq!(
        owner(&unowned).as_deref(),
        Some("stas"),
        "adopted and claimed"
    );
    let new = r.ctrl(4).unwrap().device.unwrap();
    assert_eq!(
        owner(&new).as_deref(),
        Some("stas"),
        "registered at connect"
    );
    assert!(r.ctrl(1).is_none(), "another's is not ours");
    assert_eq!(
        r.ctrl(2).unwrap().attrs.owner,
        "nbft",
        "a boot path is shown"
    );
    assert_eq!(r.kit.k.connect_log().len(), 4, "3 by hand, 1 by stacd");
    // Out of stafd's log: ours go, theirs stay.
    r.view(known([])).await;
    r.until("only the boot path", |s| s.ctrls.len() == 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut deleted = r.kit.k.deleted();
    deleted.sort();
    let mut ours = vec![unowned.clone(), new];
    ours.sort();
    assert_eq!(deleted, ours);
    assert_eq!(owner(&theirs).as_deref(), Some("discoverd"));
    assert_eq!(owner(&nbft).as_deref(), Some("nbft"));
    r.stop().await;
    assert_eq!(r.kit.k.list_controllers().unwrap(), [theirs, nbft]);
}

/// With the audit on, another orchestrator's controller is never disconnected; an unowned
/// foreign one is (nvme-stas's audit).
#[tokio::test(start_paused = true)]
async fn the_audit_leaves_another_orchestrator_s_controllers_alone() {
    let mut r = Rig::with(
        2,
        "[I/O controller connection management]\ndisconnect-scope=all-connections-matching-disconnect-trtypes\n",
    );
    let theirs = by_hand(&r.kit.k, 1);
    let unowned = by_hand(&r.kit.k, 2);
    r.kit.k.set_owner(&theirs, Some("autoconnect"));
    r.view(known([])).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(r.kit.k.deleted(), [unowned]);
    assert_eq!(r.kit.k.list_controllers().unwrap(), [theirs]);
    r.stop().await;
}

/// At start, stacd takes what the registry names stas's (state file or not), and an
/// unowned controller only when its state file names it.
#[tokio::test(start_paused = true)]
async fn at_start_the_registry_and_the_state_file_say_what_is_stas_s() {
    let k = FakeKernel::new();
    targets(&k, 3);
    let ours = by_hand(&k, 1);
    let stray = by_hand(&k, 2);
    k.set_owner(&ours, Some("stas"));
    let mut r = Rig::new(k, "");
    r.connected(1).await;
    assert_eq!(r.devices(), [ours]);
    assert!(
        r.ctrl(2).is_none(),
        "{stray}: unowned and not in the state file"
    );
    r.stop().await;
}

/// The host's exclusion list is read before every connect: an entry written while a
/// controller waits to retry stops the retries from connecting; removing it lets the next
/// one connect.
#[tokio::test(start_paused = true)]
async fn the_exclusion_list_is_read_before_every_connect() {
    let k = FakeKernel::new();
    let ids = targets(&k, 1);
    k.set_target_listening(ids[0], false);
    let mut r = Rig::new(k, "");
    r.view(known([1])).await;
    r.until("1", testkit::connect_failures(1)).await;
    let entry = format!(
        "[exclusions]\nexclusion = transport=tcp;traddr=127.0.0.1;nqn={}\n",
        nqn(1)
    );
    r.kit.k.set_exclusions(&entry);
    r.kit.k.set_target_listening(ids[0], true);
    r.until("2", testkit::connect_failures(2)).await;
    r.until("3", testkit::connect_failures(3)).await;
    assert!(r.kit.k.list_controllers().unwrap().is_empty());
    let c = r.ctrl(1).unwrap();
    let error = c.connect_op.unwrap().error.unwrap();
    assert!(error.contains("exclusion list"), "{error}");
    r.kit.k.set_exclusions("");
    r.connected(1).await;
    r.stop().await;
}

/// A boot controller of the firmware's NBFT (connected by the initramfs, no registry
/// entry): stacd shows it with owner `nbft`, makes no second connection when stafd lists
/// its subsystem, and never disconnects it (stafd stops listing it; stacd stops).
#[tokio::test(start_paused = true)]
async fn nbft_boot_controllers_are_shown_and_never_disconnected() {
    use crate::proto::nbft::build::{SsnsSpec, TableSpec};
    let k = Arc::new(FakeKernel::new());
    targets(&k, 2);
    let mut t = TableSpec::new(HOSTNQN);
    t.subsystems.push(SsnsSpec::new(
        1,
        "127.0.0.1".parse().unwrap(),
        "4420",
        &nqn(1),
    ));
    k.set_nbft(&[("NBFT".to_owned(), t.build())], &[]);
    let boot = by_hand(&k, 1);
    let mut r = start(&k, "", tempfile::tempdir().unwrap(), false);
    r.view(known([1, 2])).await;
    r.until("both shown", |s| {
        s.ctrls.len() == 2 && s.ctrls.iter().all(|c| c.connected)
    })
    .await;
    let c = r.ctrl(1).unwrap();
    assert_eq!(c.device.as_deref(), Some(boot.as_str()));
    assert_eq!(c.attrs.owner, "nbft");
    assert_eq!(
        k.connect_log().len(),
        2,
        "the boot path by hand, subsystem 2 by stacd"
    );
    r.view(known([2])).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(r.ctrl(1).is_some(), "still shown");
    r.stop().await;
    assert!(k.deleted().is_empty(), "{:?}", k.deleted());
}

/// Entry `i` with TREQ `treq` and TSAS SECTYPE `sectype`.
fn tls_entry(i: u32, treq: u8, sectype: u8) -> DlpeDict {
    let mut e = entry(i, 0);
    e.insert("treq".into(), crate::proto::consts::treq_str(treq));
    e.insert("tsas".into(), Tsas::Tcp { sectype }.python_repr().unwrap());
    e
}

fn view_of(entries: Vec<DlpeDict>) -> StafdView {
    StafdView::Known {
        dcs: vec![DcLog {
            dc: dc(),
            entries: Some(entries),
        }],
        dc_removed: false,
    }
}

/// Debian 12's 6.12 kernel: TLS built in, no `concat`.
fn kernel_6_12() -> FakeKernel {
    const KERNEL_6_12: &str = "instance=-1,cntlid=-1,transport=%s,traddr=%s,trsvcid=%s,nqn=%s,queue_size=%d,nr_io_queues=%d,reconnect_delay=%d,ctrl_loss_tmo=%d,keep_alive_tmo=%d,hostnqn=%s,host_traddr=%s,host_iface=%s,hostid=%s,duplicate_connect,disable_sqflow,hdr_digest,data_digest,nr_write_queues=%d,nr_poll_queues=%d,tos=%d,keyring=%d,tls_key=%d,fast_io_fail_tmo=%d,discovery,dhchap_secret=%s,dhchap_ctrl_secret=%s,tls";
    let k = FakeKernel::new();
    k.set_supported_options(crate::kernel::SupportedOptions::from_reply(KERNEL_6_12).unwrap());
    k
}

#[tokio::test(start_paused = true)]
async fn an_entry_that_requires_tls_is_connected_with_tls() {
    let k = kernel_6_12();
    targets(&k, 3);
    let mut r = Rig::new(k, "");
    // 5: required (+ SQ flow control disable), as nvmet 6.12 says with addr_tsas=tls1.3;
    // 2: not required; 1 with SECTYPE none: nothing to require.
    r.view(view_of(vec![
        tls_entry(1, 5, 2),
        tls_entry(2, 2, 2),
        tls_entry(3, 1, 0),
    ]))
    .await;
    r.connected(3).await;
    let log = r.kit.k.connect_log();
    let of = |i: u32| {
        log.iter()
            .find(|c| c.contains(&format!("nqn={},", nqn(i))))
            .unwrap()
            .clone()
    };
    assert!(of(1).ends_with(",tls"), "{}", of(1));
    assert!(!of(2).contains("tls") && !of(3).contains("tls"));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_entry_that_requires_tls_is_not_connected_without_it_and_not_retried() {
    // 6.1: no `tls`.
    let k = FakeKernel::new();
    targets(&k, 3);
    let mut r = Rig::new(
        k,
        &format!("[Controllers]\ncontroller=transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn={};tls=false\n", nqn(3)),
    );
    let k612 = "TREQ required, TSAS tls1.3";
    r.view(view_of(vec![
        entry(1, 0),
        tls_entry(2, 1, 2),
        tls_entry(3, 1, 2),
    ]))
    .await;
    r.until("refusals shown", |s| {
        s.ctrls
            .iter()
            .filter(|c| {
                c.connect_op
                    .as_ref()
                    .is_some_and(|o| o.error.as_deref().is_some_and(|e| e.contains(k612)))
            })
            .count()
            == 2
    })
    .await;
    r.connected(1).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        r.kit.k.connect_log().len(),
        1,
        "never tried: {:?}",
        r.kit.k.connect_log()
    );
    let err = |i: u32| r.ctrl(i).unwrap().connect_op.unwrap();
    assert!(err(2)
        .error
        .unwrap()
        .ends_with("but this kernel has no `tls` connect option"));
    assert!(err(3)
        .error
        .unwrap()
        .ends_with("but the configuration sets tls=false for this controller"));
    assert!(err(2).retry_timer.is_none() && err(2).fail_count == 1);
    // The entry changes (TLS no longer required): connected.
    r.view(view_of(vec![
        entry(1, 0),
        tls_entry(2, 2, 2),
        tls_entry(3, 1, 2),
    ]))
    .await;
    r.connected(2).await;
    assert_eq!(r.kit.k.connect_log().len(), 2);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn configured_tls_on_a_kernel_without_it_fails_once_and_is_not_retried() {
    let k = FakeKernel::new();
    targets(&k, 1);
    let mut r = Rig::new(
        k,
        &format!("[Controllers]\ncontroller=transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn={};tls=true\n", nqn(1)),
    );
    r.until("failed", testkit::connect_failures(1)).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let op = r.ctrl(1).unwrap().connect_op;
    testkit::assert_refused_once(op, &r.kit.k, "does not support the tls option");
    r.stop().await;
}
