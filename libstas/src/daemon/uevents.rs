//! Where the stafd core learns about kernel controller events: a dedicated thread blocked on
//! the kernel's uevent netlink socket (works without systemd-udevd; no polling), feeding a
//! bounded channel. The thread also re-reads the controller an event is about, so the core
//! updates its one shared [`Topology`] without touching sysfs on a runtime worker.
//!
//! Tests use [`fake_feed`], which turns [`FakeKernel`] events into the same messages.

use std::sync::{Arc, Weak};
use std::thread;

use tokio::sync::mpsc;

use crate::kernel::fake::FakeKernel;
use crate::kernel::netlink::UeventSocket;
use crate::kernel::{Controller, Kernel, KernelError, Topology};
use crate::proto::uevent::{NvmeEvent, NvmeEventKind};

/// Capacity of the uevent channel: bursts of this many events wait in the kernel socket
/// buffer (4 MiB) rather than in memory here.
pub const UEVENT_QUEUE: usize = 1024;

/// One message from the uevent source.
#[derive(Debug, Clone)]
pub enum UeventMsg {
    /// An NVMe controller event, with the controller as sysfs shows it after the event
    /// (`None` for `remove` and AENs, or when it is already gone).
    Event {
        /// The event.
        event: NvmeEvent,
        /// The controller re-read after the event.
        ctrl: Option<Box<Controller>>,
    },
    /// Events were lost (socket overflow): the whole topology, re-scanned.
    Resync(Topology),
}

fn reread(k: &dyn Kernel, ev: &NvmeEvent) -> Option<Box<Controller>> {
    match ev.kind {
        NvmeEventKind::Removed | NvmeEventKind::Aen(_) => None,
        _ => k.read_controller(&ev.device).ok().flatten().map(Box::new),
    }
}

/// Opens the netlink socket and starts the reader thread. The thread ends when the core
/// drops the receiver (on the next event) or at process exit.
///
/// # Errors
/// The socket cannot be opened or bound (not root, no netlink).
pub fn spawn_netlink(
    kernel: Arc<dyn Kernel>,
    tx: mpsc::Sender<UeventMsg>,
) -> Result<thread::JoinHandle<()>, KernelError> {
    let sock = UeventSocket::open()?;
    thread::Builder::new()
        .name("stafd-uevents".into())
        .spawn(move || netlink_loop(&sock, kernel.as_ref(), &tx))
        .map_err(|e| KernelError::new("spawn", "uevent thread", e))
}

fn netlink_loop(sock: &UeventSocket, k: &dyn Kernel, tx: &mpsc::Sender<UeventMsg>) {
    let mut consecutive_errors = 0u32;
    loop {
        let msg = match sock.recv(None) {
            Ok(Some(u)) => {
                consecutive_errors = 0;
                let Some(event) = u.nvme_event() else {
                    continue;
                };
                let ctrl = reread(k, &event);
                UeventMsg::Event { event, ctrl }
            }
            Ok(None) => continue,
            Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                tracing::warn!(error = %e, "uevents were lost; re-reading the controller topology");
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
                if consecutive_errors >= 100 {
                    tracing::error!("giving up on the uevent socket");
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

/// Routes the events of a [`FakeKernel`] into `tx`, as the netlink thread would (the
/// controller is re-read from the fake). Events are dropped with a warning when the channel
/// is full (the fake calls the sink from async test code, which must not block).
pub fn fake_feed(kernel: &Arc<FakeKernel>, tx: mpsc::Sender<UeventMsg>) {
    let weak: Weak<FakeKernel> = Arc::downgrade(kernel);
    kernel.set_event_sink(Arc::new(move |event: NvmeEvent| {
        let ctrl = weak.upgrade().and_then(|k| reread(k.as_ref(), &event));
        if tx.try_send(UeventMsg::Event { event, ctrl }).is_err() {
            tracing::warn!("fake uevent dropped: channel full or closed");
        }
    }));
}
