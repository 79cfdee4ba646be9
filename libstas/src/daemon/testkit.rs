//! The fixture both cores' actor tests share (`staf/tests.rs`, `stac/tests.rs`): the
//! in-memory kernel with its uevent feed, the host, the configuration parser, the debug
//! switch hook, waiting on snapshots in virtual time, and provoking a uevent overflow.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use super::actor::{CoreHandle, CoreSetup};
use super::staf::{Host, TronHook};
use super::uevents::{fake_feed_following, Follow, UeventMsg, UeventsUnavailable, UEVENT_QUEUE};
use crate::config::{ini, Daemon, Diagnostics, ServiceConfig};
use crate::kernel::fake::FakeKernel;
use crate::kernel::{Kernel, Topology};
use crate::model::snapshot::{CoreEvent, OpView, Snapshot};
use crate::runtime::notify::Watchdog;

pub const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e4498cf1-1a81-4cfd-9f10-9e947466ed0f";
pub const HOSTID: &str = "e4498cf1-1a81-4cfd-9f10-9e947466ed0f";

/// `text` parsed as `daemon`'s configuration file.
pub fn conf(daemon: Daemon, text: &str) -> ServiceConfig {
    let name = match daemon {
        Daemon::Stafd => "stafd.conf",
        Daemon::Stacd => "stacd.conf",
    };
    let mut d = Diagnostics::new(Path::new(name));
    let i = ini::parse(text, &mut d);
    ServiceConfig::from_ini(daemon, &i, &mut d)
}

/// `text` as the 3.x layout's `/etc/nvme/nvme-stas.conf` (it must have no error), over
/// `daemon`'s 3.x defaults.
pub fn conf3(daemon: Daemon, text: &str) -> ServiceConfig {
    conf3_files(daemon, &[(crate::config::nvmeconf::NVME_STAS_CONF, text)])
}

/// Files (path, text) of the 3.x layout, the first the main file (no error allowed), over
/// `daemon`'s 3.x defaults.
pub fn conf3_files(daemon: Daemon, files: &[(&str, &str)]) -> ServiceConfig {
    use crate::config::{layout, nvmeconf, service::Layout};
    let sources: Vec<nvmeconf::Source> = (files.iter())
        .map(|(path, text)| nvmeconf::Source {
            path: path.into(),
            text: (*text).to_owned(),
        })
        .collect();
    let parsed = nvmeconf::parse(Path::new(files[0].0), &sources);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    let mut cfg = ServiceConfig::defaults_in(daemon, Layout::Stas3);
    layout::apply(daemon, &parsed.conf, &mut cfg);
    cfg
}

/// The test host.
pub fn host(symname: Option<&str>, key_set: bool) -> Host {
    Host {
        nqn: HOSTNQN.into(),
        id: HOSTID.into(),
        symname: symname.map(str::to_owned),
        key_set,
    }
}

/// What a core under test runs against: the fake kernel feeding its uevent channel, the
/// state directory, and the debug switch the core flips.
pub struct Kit {
    /// The in-memory kernel.
    pub k: Arc<FakeKernel>,
    /// The uevent channel (as the netlink thread holds it: resyncs, or dropped).
    pub uevents: Option<mpsc::Sender<UeventMsg>>,
    /// Which controllers the feed follows.
    pub follow: Follow,
    /// The debug switch, as the core's hook last set it.
    pub tron: Arc<AtomicBool>,
    /// The state directory.
    pub dir: tempfile::TempDir,
}

impl Kit {
    /// The kit, and the uevent receiver for the core.
    pub fn new(
        k: &Arc<FakeKernel>,
        follow: Follow,
        dir: tempfile::TempDir,
    ) -> (Self, mpsc::Receiver<UeventMsg>) {
        let (tx, rx) = mpsc::channel(UEVENT_QUEUE);
        fake_feed_following(k, follow, tx.clone());
        let kit = Self {
            k: Arc::clone(k),
            uevents: Some(tx),
            follow,
            tron: Arc::new(AtomicBool::new(false)),
            dir,
        };
        (kit, rx)
    }

    /// The warm-restart state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("last-known-config.toml")
    }

    /// The kernel seam over the fake.
    pub fn kernel(&self) -> Arc<dyn Kernel> {
        Arc::clone(&self.k) as Arc<dyn Kernel>
    }

    /// A core's setup as `run` makes it: `config` for `host`, the kernel's first answers,
    /// the state file as `load` reads it now.
    pub fn setup<S>(
        &self,
        config: ServiceConfig,
        host: Host,
        load: fn(&Path) -> S,
        watchdog: Watchdog,
    ) -> CoreSetup<S> {
        let state_path = self.state_path();
        CoreSetup {
            config,
            host,
            tron: false,
            kernel_options: self.k.supported_options().unwrap(),
            topology: Topology::scan(self.k.as_ref()).unwrap(),
            ifaddrs: self.k.interface_addresses().unwrap(),
            initial_state: load(&state_path),
            state_path,
            save_state: true,
            watchdog,
        }
    }

    /// The hook the core calls when its debug switch changes.
    pub fn tron_hook(&self) -> TronHook {
        let t = Arc::clone(&self.tron);
        Box::new(move |on| t.store(on, Ordering::SeqCst))
    }

    /// A uevent socket overflow: events are lost while `during` changes the kernel, then
    /// the source re-reads the topology (as the netlink thread does after ENOBUFS).
    pub async fn overflow(&self, during: impl FnOnce(&FakeKernel)) {
        self.k.set_event_sink(Arc::new(|_| {}));
        during(&self.k);
        let tx = self.uevents.clone().unwrap();
        fake_feed_following(&self.k, self.follow, tx.clone());
        let topo = Topology::scan(self.k.as_ref()).unwrap();
        tx.send(UeventMsg::Resync(topo)).await.unwrap();
    }
}

/// A core under test: its kit, its handle (until stopped), its snapshots and (stafd) its
/// change events.
pub struct Rig<F> {
    /// The fake kernel and state directory.
    pub kit: Kit,
    /// The running core.
    pub core: Option<CoreHandle<F>>,
    /// Its snapshots.
    pub snap: watch::Receiver<Snapshot>,
    /// stafd's change events.
    pub events: Option<broadcast::Receiver<CoreEvent>>,
}

impl<F: Send + 'static> Rig<F> {
    /// The rig of `core`.
    pub fn of(kit: Kit, core: CoreHandle<F>) -> Self {
        Self {
            kit,
            snap: core.snapshot(),
            core: Some(core),
            events: None,
        }
    }

    /// The running core.
    pub fn core(&self) -> &CoreHandle<F> {
        self.core.as_ref().expect("the core runs")
    }

    /// Waits (virtual time) until the snapshot satisfies `pred`.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Snapshot) -> bool) {
        until(&mut self.snap, what, pred).await;
    }

    /// Waits (virtual time) until `n` controllers are connected.
    pub async fn connected(&mut self, n: usize) {
        self.until(&format!("{n} connected"), |s| {
            s.ctrls.iter().filter(|c| c.connected).count() == n
        })
        .await;
    }

    /// The devices of the published controllers.
    pub fn devices(&self) -> Vec<String> {
        let snap = self.snap.borrow();
        snap.ctrls.iter().filter_map(|c| c.device.clone()).collect()
    }

    /// The next change event (virtual-time bounded).
    pub async fn event(&mut self) -> CoreEvent {
        let events = self.events.as_mut().expect("a core with events");
        tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .expect("no event")
            .expect("event channel")
    }

    /// Stops the core (which must not have stopped by itself), keeping every connection
    /// or not.
    pub async fn stop_keeping(&mut self, keep_all: bool) {
        if let Some(c) = self.core.take() {
            c.stop(keep_all).await.expect("the core stopped by itself");
        }
    }

    /// Stops the core as SIGTERM does.
    pub async fn stop(&mut self) {
        self.stop_keeping(false).await;
    }

    /// Stops the core, which stopped by itself: why.
    pub async fn stop_failed(&mut self) -> UeventsUnavailable {
        let core = self.core.take().expect("the core runs");
        core.stop(false).await.unwrap_err()
    }

    /// Waits (virtual time) until the core task stopped by itself.
    pub async fn ended(&mut self) {
        let r = tokio::time::timeout(Duration::from_secs(60), async {
            while self.snap.changed().await.is_ok() {}
        })
        .await;
        assert!(r.is_ok(), "the core kept running");
    }

    /// Reloads `config`.
    pub async fn reload(&self, config: ServiceConfig) {
        self.core().reload(config).await;
    }

    /// Sends a message of the daemon's feed.
    pub async fn feed(&self, msg: F) {
        self.core().feed().send(msg).await.unwrap();
    }
}

/// Whether the first controller's connect failed `n` times in a row.
pub fn connect_failures(n: u32) -> impl Fn(&Snapshot) -> bool {
    move |s| {
        (s.ctrls.first())
            .and_then(|c| c.connect_op.as_ref())
            .is_some_and(|o| o.fail_count == n)
    }
}

/// Asserts what a connect refused before anything reached the kernel leaves: one failure
/// whose error says `why`, no retry timer, and nothing written to `/dev/nvme-fabrics`.
pub fn assert_refused_once(op: Option<OpView>, k: &FakeKernel, why: &str) {
    let op = op.expect("a connect operation");
    assert_eq!(op.fail_count, 1, "no retry loop");
    assert!(op.retry_timer.is_none());
    assert!(
        op.error.as_deref().is_some_and(|e| e.contains(why)),
        "{op:?}"
    );
    assert!(k.connect_log().is_empty(), "nothing written to the kernel");
}

/// Waits (virtual time) until the snapshot satisfies `pred`.
pub async fn until(
    snap: &mut watch::Receiver<Snapshot>,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) {
    let r = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            if pred(&snap.borrow_and_update()) {
                return;
            }
            if snap.changed().await.is_err() {
                panic!("core ended while waiting for {what}");
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "timed out waiting for {what}: {:#?}",
        *snap.borrow()
    );
}
