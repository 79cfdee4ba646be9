//! Where a daemon's core learns about kernel controller events: a dedicated thread blocked on
//! the kernel's uevent netlink socket (works without systemd-udevd; no polling), feeding a
//! bounded channel. The thread also reads what an event changed, so the core updates its one
//! shared [`Topology`] without touching sysfs on a runtime worker.
//!
//! The thread's [`Tracker`] reads as little as an event allows:
//!
//! - a controller it has read in full once Identify was done gets only its [`Dynamic`]
//!   fields re-read (`state`, `address`, `cntlid`) on `connected`, `rediscover` and other
//!   changes; `remove` and AENs read nothing;
//! - a new controller (`add`) on a 5.18+ kernel has no identity yet (no subsystem NQN,
//!   `cntrltype` `reserved`) and sends `connected` once it has one: nothing more is read
//!   until then; older kernels send no `connected`, so their controllers are read in full
//!   at `add`;
//! - before reading a controller in full, its `cntrltype` tells whether the daemon follows
//!   it at all ([`Follow`]): stafd leaves I/O controllers out, stacd discovery controllers.
//!
//! Tests use [`fake_feed`], which turns [`FakeKernel`] events into the same messages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::thread;

use tokio::sync::mpsc;

use crate::kernel::fake::FakeKernel;
use crate::kernel::netlink::UeventSocket;
use crate::kernel::{CtrlAttr, CtrlUpdate, Dynamic, Kernel, KernelError, Topology};
use crate::proto::identify::CntrlType;
use crate::proto::uevent::{NvmeEvent, NvmeEventKind};

/// Capacity of the uevent channel: bursts of this many events wait in the kernel socket
/// buffer (4 MiB) rather than in memory here.
pub const UEVENT_QUEUE: usize = 1024;

/// Test knob: the uevent socket's receive buffer in bytes (instead of 4 MiB), read once when
/// the socket opens. A tiny buffer makes a burst of uevents overflow it (ENOBUFS), which the
/// real-kernel rig uses to exercise the resynchronisation.
pub const RCVBUF_ENV: &str = "STAS_UEVENT_RCVBUF";

/// The value of [`RCVBUF_ENV`]: a positive byte count, anything else ignored.
fn rcvbuf_knob(v: Option<&str>) -> Option<usize> {
    v.and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// One message from the uevent source.
#[derive(Debug, Clone)]
pub enum UeventMsg {
    /// An NVMe controller event, with what it changed in the topology.
    Event {
        /// The event.
        event: NvmeEvent,
        /// The controller's new entry in the topology (see [`Tracker`]).
        update: CtrlUpdate,
    },
    /// Events were lost (socket overflow): the whole topology, re-scanned.
    Resync(Topology),
    /// The source gives up (the socket keeps failing): why. Nothing follows.
    Failed(String),
}

/// The daemon cannot learn about kernel controller events: the uevent socket cannot be
/// opened, or the source ended. The daemons exit non-zero with this one line (systemd's
/// `Restart=on-failure` starts them again; the connections are kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel uevents unavailable: {0}")]
pub struct UeventsUnavailable(pub String);

/// Why the uevent channel closed without a [`UeventMsg::Failed`].
pub const SOURCE_ENDED: &str = "the uevent source ended";

/// Consecutive socket errors after which the reader thread gives up.
pub const MAX_SOCKET_ERRORS: u32 = 100;

/// Which controllers a daemon's topology follows, decided from `cntrltype` (5.18+). A
/// controller without one (older kernels, old targets: `reserved`) is always followed, and
/// the core classifies it by its own rules ([`crate::kernel::Controller::is_dc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Follow {
    /// Every controller.
    #[default]
    All,
    /// All but I/O controllers (stafd: it adopts and serves discovery controllers only).
    Discovery,
    /// All but discovery controllers (stacd: a discovery controller has no namespaces, so it
    /// is never an I/O controller to adopt or audit).
    Io,
}

impl Follow {
    fn wants(self, t: CntrlType) -> bool {
        match self {
            Self::All => true,
            Self::Discovery => t != CntrlType::Io,
            Self::Io => t != CntrlType::Discovery,
        }
    }
}

/// What the thread remembers of a controller between events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Read in full after Identify: later changes re-read the [`Dynamic`] fields only.
    Identified,
    /// Not followed: later events read nothing.
    Ignored,
}

/// The uevent thread's memory: per controller, whether it was read in full or is not
/// followed. Sans-IO apart from the reads through the [`Kernel`] seam.
#[derive(Debug, Default)]
pub struct Tracker {
    follow: Follow,
    seen: BTreeMap<u32, Seen>,
}

impl Tracker {
    /// A tracker following `follow`.
    #[must_use]
    pub fn new(follow: Follow) -> Self {
        Self {
            follow,
            seen: BTreeMap::new(),
        }
    }

    /// Forgets everything (after a full re-scan).
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// Reads what `ev` changed about its controller (see the module docs).
    pub fn update(&mut self, k: &dyn Kernel, ev: &NvmeEvent) -> CtrlUpdate {
        let i = ev.instance;
        match ev.kind {
            NvmeEventKind::Aen(_) => return CtrlUpdate::Keep,
            NvmeEventKind::Removed => {
                self.seen.remove(&i);
                return CtrlUpdate::Drop;
            }
            // A new controller under this instance (or `add` replayed): start over.
            NvmeEventKind::Added => {
                self.seen.remove(&i);
            }
            NvmeEventKind::Connected | NvmeEventKind::Rediscover | NvmeEventKind::Changed => {
                match self.seen.get(&i) {
                    Some(Seen::Ignored) => return CtrlUpdate::Keep,
                    Some(Seen::Identified) => {
                        return match Dynamic::read(k, ev) {
                            Some(d) => CtrlUpdate::Dynamic(Box::new(d)),
                            None => {
                                self.seen.remove(&i);
                                CtrlUpdate::Drop
                            }
                        };
                    }
                    None => {}
                }
            }
        }
        let nqn = k.read_ctrl_attr(&ev.device, CtrlAttr::Subsysnqn);
        let cntrltype = k.read_ctrl_attr(&ev.device, CtrlAttr::Cntrltype);
        if nqn.is_none() && cntrltype.is_some() {
            // 5.18+ before Identify: `connected` follows once the controller has an identity.
            // Keep, not Drop: the core may have it already (its own connect returns before
            // this thread gets to the `add`).
            return CtrlUpdate::Keep;
        }
        if cntrltype
            .as_deref()
            .and_then(CntrlType::from_sysfs)
            .is_some_and(|t| !self.follow.wants(t))
        {
            self.seen.insert(i, Seen::Ignored);
            return CtrlUpdate::Drop;
        }
        match k.read_controller(&ev.device) {
            Ok(Some(c)) => {
                if !c.subsysnqn.is_empty() {
                    self.seen.insert(i, Seen::Identified);
                }
                CtrlUpdate::Full(Box::new(c))
            }
            Ok(None) => CtrlUpdate::Drop,
            Err(e) => {
                tracing::warn!(device = %ev.device, error = %e, "cannot read the controller");
                CtrlUpdate::Drop
            }
        }
    }
}

/// Opens the netlink socket and starts the reader thread, which reads only the controllers
/// `follow` asks for. The thread ends when the core drops the receiver (on the next event),
/// at process exit, or after [`MAX_SOCKET_ERRORS`] consecutive socket errors (it sends
/// [`UeventMsg::Failed`] first).
///
/// # Errors
/// The socket cannot be opened or bound (not root, no netlink).
pub fn spawn_netlink(
    kernel: Arc<dyn Kernel>,
    follow: Follow,
    tx: mpsc::Sender<UeventMsg>,
) -> Result<thread::JoinHandle<()>, KernelError> {
    let rcvbuf = rcvbuf_knob(std::env::var(RCVBUF_ENV).ok().as_deref());
    if let Some(n) = rcvbuf {
        tracing::warn!(bytes = n, "{RCVBUF_ENV} set: uevent socket receive buffer of {n} bytes (test knob; events will be lost in bursts)");
    }
    let sock = UeventSocket::open_with_rcvbuf(rcvbuf)?;
    thread::Builder::new()
        .name("stas-uevents".into())
        .spawn(move || netlink_loop(&sock, kernel.as_ref(), follow, &tx))
        .map_err(|e| KernelError::new("spawn", "uevent thread", e))
}

fn netlink_loop(sock: &UeventSocket, k: &dyn Kernel, follow: Follow, tx: &mpsc::Sender<UeventMsg>) {
    let mut consecutive_errors = 0u32;
    let mut tracker = Tracker::new(follow);
    loop {
        let msg = match sock.recv(None) {
            Ok(Some(u)) => {
                consecutive_errors = 0;
                let Some(event) = u.nvme_event() else {
                    continue;
                };
                let update = tracker.update(k, &event);
                UeventMsg::Event { event, update }
            }
            Ok(None) => continue,
            Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                tracing::warn!(error = %e, "uevents were lost; re-reading the controller topology");
                tracker.reset();
                match Topology::scan(k) {
                    Ok(t) => UeventMsg::Resync(t),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot re-read the controller topology");
                        continue;
                    }
                }
            }
            Err(e) => {
                consecutive_errors += 1;
                tracing::error!(error = %e, "uevent socket error");
                if consecutive_errors >= MAX_SOCKET_ERRORS {
                    let _ = tx.blocking_send(UeventMsg::Failed(format!(
                        "{consecutive_errors} consecutive errors on the uevent socket, the last: {e}"
                    )));
                    return;
                }
                continue;
            }
        };
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
}

/// Routes the events of a [`FakeKernel`] into `tx`, as the netlink thread would, following
/// every controller. Events are dropped with a warning when the channel is full (the fake
/// calls the sink from async test code, which must not block).
pub fn fake_feed(kernel: &Arc<FakeKernel>, tx: mpsc::Sender<UeventMsg>) {
    fake_feed_following(kernel, Follow::All, tx);
}

/// [`fake_feed`] for a daemon that follows only `follow`.
pub fn fake_feed_following(kernel: &Arc<FakeKernel>, follow: Follow, tx: mpsc::Sender<UeventMsg>) {
    let weak: Weak<FakeKernel> = Arc::downgrade(kernel);
    let tracker = Mutex::new(Tracker::new(follow));
    kernel.set_event_sink(Arc::new(move |event: NvmeEvent| {
        let Some(k) = weak.upgrade() else {
            return;
        };
        let update = match tracker.lock() {
            Ok(mut t) => t.update(k.as_ref(), &event),
            Err(_) => return,
        };
        if tx.try_send(UeventMsg::Event { event, update }).is_err() {
            tracing::warn!("fake uevent dropped: channel full or closed");
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fake::tests::{connect as fake_connect, tid};
    use crate::kernel::fake::{event, FakeTarget};
    use crate::kernel::{Controller, CtrlKind, CtrlState};
    use crate::model::trid::WELL_KNOWN_DISC_NQN;
    use crate::proto::identify::DcType;

    fn connect(k: &FakeKernel, traddr: &str, trsvcid: &str, nqn: &str, kind: CtrlKind) -> String {
        fake_connect(k, &tid(traddr, trsvcid, nqn), kind)
            .unwrap()
            .device()
    }

    /// Feeds the queued events of `k` through `tr` into `topo`, as the thread and a core do.
    fn pump(k: &FakeKernel, tr: &mut Tracker, topo: &mut Topology) -> Vec<CtrlUpdate> {
        k.take_events()
            .iter()
            .map(|ev| {
                let u = tr.update(k, ev);
                topo.apply_update(ev.instance, u.clone());
                u
            })
            .collect()
    }

    /// A full scan, keeping what `follow` keeps.
    fn rescan(k: &FakeKernel, follow: Follow) -> Topology {
        let mut t = Topology::default();
        for c in Topology::scan(k).unwrap().iter() {
            if c.cntrltype.is_none_or(|ty| follow.wants(ty)) {
                t.insert(c.clone());
            }
        }
        t
    }

    /// A DC (127.0.0.1:8009) and an I/O controller (127.0.0.1:4420) connected, their events
    /// pumped into a topology following `follow`.
    struct Rig {
        k: FakeKernel,
        tr: Tracker,
        topo: Topology,
        dc: String,
        io: String,
        dc_target: crate::kernel::fake::TargetId,
    }

    fn rig(follow: Follow) -> Rig {
        let k = FakeKernel::new();
        let dc_target = k.add_target(FakeTarget::discovery("tcp", "127.0.0.1", "8009"));
        k.add_target(FakeTarget::io("tcp", "127.0.0.1", "4420", "nqn.io"));
        let mut tr = Tracker::new(follow);
        let mut topo = Topology::default();
        let dc = connect(
            &k,
            "127.0.0.1",
            "8009",
            WELL_KNOWN_DISC_NQN,
            CtrlKind::Discovery,
        );
        let io = connect(&k, "127.0.0.1", "4420", "nqn.io", CtrlKind::Io);
        pump(&k, &mut tr, &mut topo);
        Rig {
            k,
            tr,
            topo,
            dc,
            io,
            dc_target,
        }
    }

    #[test]
    fn incremental_updates_equal_a_full_rescan() {
        let Rig {
            k,
            mut tr,
            mut topo,
            dc,
            io: _,
            dc_target,
        } = rig(Follow::All);
        k.add_target(FakeTarget::io("tcp", "::1", "4420", "nqn.io2"));
        let io2 = connect(&k, "::1", "4420", "nqn.io2", CtrlKind::Io);
        pump(&k, &mut tr, &mut topo);
        assert_eq!(topo, rescan(&k, Follow::All));
        assert_eq!(topo.len(), 3);

        // A path loss, then a reconnect: only the dynamic fields are re-read, and they are
        // what changed (state, src_addr back, a new cntlid).
        let before = topo.by_name(&io2).unwrap().clone();
        k.set_state(&io2, CtrlState::Connecting);
        k.set_state(&dc, CtrlState::Connecting);
        k.reconnect(&io2);
        k.reconnect(&dc);
        let updates = pump(&k, &mut tr, &mut topo);
        assert_eq!(updates.len(), 3, "connected, rediscover, connected");
        assert!(updates.iter().all(|u| matches!(u, CtrlUpdate::Dynamic(_))));
        assert_eq!(topo, rescan(&k, Follow::All));
        let after = topo.by_name(&io2).unwrap();
        assert_ne!(after.cntlid, before.cntlid);
        assert_eq!(after.address, before.address);

        // An AEN reads nothing; a removal drops the controller.
        k.set_log(dc_target, Vec::new());
        assert_eq!(pump(&k, &mut tr, &mut topo), vec![CtrlUpdate::Keep]);
        k.lose_controller(&io2);
        assert_eq!(pump(&k, &mut tr, &mut topo), vec![CtrlUpdate::Drop]);
        assert_eq!(topo, rescan(&k, Follow::All));

        // The instance comes back as a new controller: read in full again.
        let again = connect(&k, "::1", "4420", "nqn.io2", CtrlKind::Io);
        assert_eq!(again, io2);
        let updates = pump(&k, &mut tr, &mut topo);
        assert!(matches!(updates[0], CtrlUpdate::Full(_)));
        assert_eq!(topo, rescan(&k, Follow::All));
    }

    #[test]
    fn a_controller_is_read_once_it_has_an_identity() {
        let k = FakeKernel::new();
        let mut tr = Tracker::new(Follow::All);
        let mut topo = Topology::default();
        // 5.18+ at `add`: no subsystem NQN yet, cntrltype `reserved`.
        let mut c = Controller::new(4, "tcp");
        c.address.traddr = Some("127.0.0.1".into());
        c.address.trsvcid = Some("4420".into());
        c.state = CtrlState::New;
        c.cntrltype = Some(CntrlType::Reserved);
        c.dctype = Some(DcType::None);
        k.add_controller(c.clone(), None);
        let first = c.clone();
        let ev = |kind| event(&first, kind);
        assert_eq!(tr.update(&k, &ev(NvmeEventKind::Added)), CtrlUpdate::Keep);
        // Identify done, live: `connected` reads it in full, as a scan would.
        c.state = CtrlState::Live;
        c.subsysnqn = "nqn.io".into();
        c.cntrltype = Some(CntrlType::Io);
        c.cntlid = Some(7);
        c.model = "Linux".into();
        c.address.src_addr = Some("127.0.0.1".into());
        k.add_controller(c.clone(), None);
        let u = tr.update(&k, &ev(NvmeEventKind::Connected));
        assert_eq!(u, CtrlUpdate::Full(Box::new(c.clone())));
        topo.apply_update(4, u);
        assert_eq!(topo, rescan(&k, Follow::All));

        // Before 5.18 (no cntrltype, no `connected`): read in full at `add`, and again at
        // the next event while it has no identity.
        let mut old = Controller::new(5, "tcp");
        old.state = CtrlState::Connecting;
        k.add_controller(old.clone(), None);
        let added = event(&old, NvmeEventKind::Added);
        assert_eq!(
            tr.update(&k, &added),
            CtrlUpdate::Full(Box::new(old.clone()))
        );
        old.subsysnqn = "nqn.old".into();
        k.add_controller(old.clone(), None);
        let changed = event(&old, NvmeEventKind::Changed);
        assert_eq!(tr.update(&k, &changed), CtrlUpdate::Full(Box::new(old)));
        assert!(matches!(tr.update(&k, &changed), CtrlUpdate::Dynamic(_)));
    }

    #[test]
    fn each_daemon_follows_its_kind_only() {
        for follow in [Follow::Discovery, Follow::Io] {
            let Rig {
                k,
                mut tr,
                mut topo,
                dc,
                io,
                dc_target: _,
            } = rig(follow);
            assert_eq!(topo, rescan(&k, follow));
            assert_eq!(topo.len(), 1);
            let (kept, left_out) = match follow {
                Follow::Discovery => (&dc, &io),
                _ => (&io, &dc),
            };
            assert!(topo.by_name(kept).is_some());
            // Later events about the controller left out read nothing.
            k.set_state(left_out, CtrlState::Connecting);
            k.reconnect(left_out);
            assert!(pump(&k, &mut tr, &mut topo)
                .iter()
                .all(|u| *u == CtrlUpdate::Keep));
            k.reconnect(kept);
            pump(&k, &mut tr, &mut topo);
            assert_eq!(topo, rescan(&k, follow));
        }
    }
}
