//! stafd's mDNS (TP8009) driver: one task that owns the browser state
//! ([`crate::ctrl::zeroconf::Zeroconf`]), runs the avahi-daemon client
//! ([`crate::dbus::avahi`]) while `zeroconf` is enabled, performs the reachability probes,
//! and sends the stafd core a [`DiscoveryReport`] whenever the reachable list or the
//! browser's state changes.
//!
//! ```text
//!  avahi client ──Input (bounded)──┐
//!  probe tasks ──ProbeDone (bnd)───┼──▶ driver ──DiscoveryReport (bounded)──▶ stafd core
//!  stafd run() ──Reload (bounded)──┘
//! ```
//!
//! A probe is a TCP connect to the announced address, bound to the interface the
//! announcement came from (`SO_BINDTODEVICE`), given [`PROBE_TIMEOUT`]. Interface indexes
//! are turned into names here, in stafd's own network namespace.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ctrl::zeroconf::{Action, Input, Zeroconf, SERVICE_TYPES};
use crate::dbus::avahi::{browse_avahi, AvahiBrowser, AvahiBus};
use crate::model::trid::TidDefaults;

use super::staf::DiscoveryReport;
use super::wheel::sleep_until_opt;

/// How long one reachability probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Capacity of the driver's input channels.
pub const ZEROCONF_QUEUE: usize = 256;

/// A reload of `stafd.conf`, as far as mDNS is concerned.
#[derive(Debug, Clone)]
pub struct ZeroconfConfig {
    /// `[Service Discovery] zeroconf`.
    pub enabled: bool,
    /// Host NQN and `ignore-iface` for the TIDs of discovered controllers.
    pub defaults: TidDefaults,
}

/// The running driver.
#[derive(Debug)]
pub struct ZeroconfDriver {
    reload: mpsc::Sender<ZeroconfConfig>,
    task: JoinHandle<()>,
}

impl ZeroconfDriver {
    /// Starts the driver on `conn` (the bus where avahi-daemon lives); `tp8013` is
    /// whether the kernel has the `discovery` option.
    #[must_use]
    pub fn spawn(
        conn: AvahiBus,
        cfg: ZeroconfConfig,
        tp8013: bool,
        feed: mpsc::Sender<DiscoveryReport>,
    ) -> Self {
        let (reload, rx) = mpsc::channel(4);
        let zc = Zeroconf::new(cfg.enabled, tp8013, cfg.defaults);
        let task = tokio::spawn(drive(zc, conn, feed, rx));
        Self { reload, task }
    }

    /// Applies a reloaded configuration.
    pub async fn reload(&self, cfg: ZeroconfConfig) {
        let _ = self.reload.send(cfg).await;
    }

    /// Stops browsing (avahi's objects are freed).
    pub async fn stop(self) {
        drop(self.reload);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "zeroconf task failed");
        }
    }
}

async fn start_browsing(conn: &AvahiBus, tx: &mpsc::Sender<Input>) -> Option<AvahiBrowser> {
    let stypes = SERVICE_TYPES.iter().map(|s| (*s).to_owned()).collect();
    match browse_avahi(conn.clone(), stypes, tx.clone()).await {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(error = %e, "zeroconf disabled");
            None
        }
    }
}

async fn drive(
    mut zc: Zeroconf,
    conn: AvahiBus,
    feed: mpsc::Sender<DiscoveryReport>,
    mut reload: mpsc::Receiver<ZeroconfConfig>,
) {
    let (avahi_tx, mut avahi_rx) = mpsc::channel(ZEROCONF_QUEUE);
    let (probe_tx, mut probe_rx) = mpsc::channel(ZEROCONF_QUEUE);
    let mut browser = if zc.enabled() {
        start_browsing(&conn, &avahi_tx).await
    } else {
        None
    };
    let mut last: Option<DiscoveryReport> = None;
    loop {
        let inputs = tokio::select! {
            Some(i) = avahi_rx.recv() => vec![with_ifname(i)],
            Some(i) = probe_rx.recv() => vec![i],
            r = reload.recv() => match r {
                Some(cfg) => {
                    let mut v = vec![Input::Defaults(cfg.defaults)];
                    if cfg.enabled != zc.enabled() {
                        tracing::info!(enabled = cfg.enabled, "zeroconf {}", if cfg.enabled { "enabled" } else { "disabled" });
                        if let Some(b) = browser.take() {
                            b.stop().await;
                        }
                        if cfg.enabled {
                            browser = start_browsing(&conn, &avahi_tx).await;
                        }
                        v.push(Input::Enabled(cfg.enabled));
                    }
                    v
                }
                None => break,
            },
            () = sleep_until_opt(zc.next_deadline()) => vec![Input::Tick],
        };
        let now = Instant::now();
        for input in inputs {
            for action in zc.handle(now, input) {
                if let Action::Probe { key, addr, iface } = action {
                    let tx = probe_tx.clone();
                    tokio::spawn(async move {
                        let reachable = probe(addr, &iface).await;
                        let done = Input::ProbeDone {
                            key,
                            addr,
                            reachable,
                        };
                        let _ = tx.send(done).await;
                    });
                }
            }
        }
        let report = DiscoveryReport {
            dcs: zc.reachable(),
            avahi: zc.view(now),
        };
        let changed = last.as_ref().is_none_or(|l| {
            l.dcs != report.dcs
                || l.avahi.services != report.avahi.services
                || l.avahi.service_types != report.avahi.service_types
                || l.avahi.wake_up_timer.remaining.is_some()
                    != report.avahi.wake_up_timer.remaining.is_some()
        });
        if changed {
            last = Some(report.clone());
            if feed.send(report).await.is_err() {
                break;
            }
        }
    }
    if let Some(b) = browser {
        b.stop().await;
    }
}

/// Fills in the interface name of a resolved service (in this network namespace).
fn with_ifname(input: Input) -> Input {
    match input {
        Input::Found {
            key,
            resolved,
            ifname: None,
        } => {
            let ifname = u32::try_from(key.iface)
                .ok()
                .and_then(|i| nix::net::if_::if_indextoname(i).ok())
                .and_then(|c| c.into_string().ok());
            Input::Found {
                key,
                resolved,
                ifname,
            }
        }
        other => other,
    }
}

/// A TCP connect to `addr` bound to `iface` (nvme-stas's reachability check).
async fn probe(mut addr: SocketAddr, iface: &str) -> bool {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    };
    let socket = match socket {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot create a socket for the reachability check");
            return false;
        }
    };
    if !iface.is_empty() {
        if let Err(e) = socket.bind_device(Some(iface.as_bytes())) {
            tracing::warn!(iface, error = %e, "cannot bind the reachability check to the interface");
        }
        if let SocketAddr::V6(v6) = &mut addr {
            if v6.ip().is_unicast_link_local() {
                if let Ok(i) = nix::net::if_::if_nametoindex(iface) {
                    v6.set_scope_id(i);
                }
            }
        }
    }
    let ok = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, socket.connect(addr)).await,
        Ok(Ok(_))
    );
    tracing::debug!(%addr, iface, reachable = ok, "reachability check");
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probe_tells_a_listener_from_a_closed_port() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        assert!(probe(addr, "").await);
        drop(l);
        assert!(!probe(addr, "").await);
    }
}
