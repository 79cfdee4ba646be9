//! Serving stafd's and stacd's objects: register the interfaces, then own the well-known name
//! (so no call can arrive before its handler exists), then forward the core's change events
//! as D-Bus signals. The daemon sends `READY=1` once [`serve_staf`] / [`serve_stac`] returns.
//!
//! The `*_on` variants take an existing connection: a bus connection (the name is requested)
//! or a peer-to-peer one (no name), for tests.
//!
//! [`DbusServer::lost`] completes when the connection ends without the daemon closing it
//! (dbus-daemon stopped or restarted, the socket failed): zbus's socket reader then marks the
//! connection closed ([`Connection::closed`]), whatever else shares it (the avahi client,
//! the stafd follower). The daemons exit non-zero on it so that the service manager restarts
//! them on the new bus; nothing is polled.

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use zbus::fdo::{ReleaseNameReply, RequestNameFlags, RequestNameReply};
use zbus::object_server::{Interface, SignalEmitter};
use zbus::Connection;

use super::debug::{AnnounceTron, CoreLink, StacDebug, StafDebug};
use super::error::DbusError;
use super::names::{ServiceNames, STAC, STAF};
use super::stac::StacInterface;
use super::staf::StafInterface;
use crate::model::snapshot::{CoreCommand, CoreEvent, Snapshot};

/// What stafd's D-Bus adapter needs from the core: the snapshot receiver, the event
/// subscription (turned into `log_pages_changed` / `dc_removed`), and the command sender.
#[derive(Debug)]
pub struct StafHandle {
    /// Latest published state.
    pub snapshot: watch::Receiver<Snapshot>,
    /// Change events.
    pub events: broadcast::Receiver<CoreEvent>,
    /// Commands back to the core (`SetTron`).
    pub commands: mpsc::Sender<CoreCommand>,
}

/// What stacd's D-Bus adapter needs from the core (stacd emits no signals of its own).
#[derive(Debug)]
pub struct StacHandle {
    /// Latest published state.
    pub snapshot: watch::Receiver<Snapshot>,
    /// Commands back to the core (`SetTron`).
    pub commands: mpsc::Sender<CoreCommand>,
}

/// A served daemon object: the connection and the task that forwards core events as signals.
/// Dropping it stops the forwarding; [`DbusServer::shutdown`] also gives the name back.
#[derive(Debug)]
pub struct DbusServer {
    conn: Connection,
    names: ServiceNames,
    forwarder: AbortOnDrop,
    objects: std::time::Duration,
}

/// How long [`DbusServer::shutdown`] waits for the connection to close.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A task that is cancelled when its handle is dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The daemon's bus connection ended without the daemon closing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the bus closed the connection (dbus-daemon stopped or restarted?)")]
pub struct ConnectionLost;

impl DbusServer {
    /// Completes when the connection is closed from the other end or fails (the bus daemon
    /// stopped, restarted or dropped this client; a socket error). Never completes while the
    /// connection works. Cancel-safe: drop it and call again at will.
    pub async fn lost(&self) -> ConnectionLost {
        self.conn.closed().await;
        ConnectionLost
    }

    /// How long registering the objects took (the rest of the serve call owned the name):
    /// the daemons' start-up split.
    #[must_use]
    pub fn objects_took(&self) -> std::time::Duration {
        self.objects
    }

    /// The connection the objects are served on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Stops forwarding signals, releases the well-known name (on a bus) and closes the
    /// connection, so clients see the daemon go away at once. Closing waits at most a couple
    /// of seconds (longer only if the caller still holds clones of the connection).
    pub async fn shutdown(self) {
        let Self {
            conn,
            names,
            mut forwarder,
            ..
        } = self;
        // The task holds a clone of the connection: end it before closing.
        forwarder.0.abort();
        let _ = (&mut forwarder.0).await;
        if conn.is_bus() {
            if let Err(e) = release_name(&conn, names.bus_name).await {
                tracing::debug!("releasing {}: {e}", names.bus_name);
            }
        }
        if tokio::time::timeout(CLOSE_TIMEOUT, conn.graceful_shutdown())
            .await
            .is_err()
        {
            tracing::debug!("the D-Bus connection is still referenced; not waiting for it");
        }
    }
}

/// The system bus handshake running in a task of its own, so that a daemon does its other
/// start-up work meanwhile (dropped: aborted).
pub struct BusConnect(tokio::task::JoinHandle<Result<Connection, DbusError>>);

impl BusConnect {
    /// Starts [`system_bus`] on the current runtime.
    #[must_use]
    pub fn start() -> Self {
        Self(tokio::spawn(system_bus()))
    }

    /// The connection, once the handshake is done.
    ///
    /// # Errors
    /// As [`system_bus`].
    pub async fn join(mut self) -> Result<Connection, DbusError> {
        match (&mut self.0).await {
            Ok(r) => r,
            Err(e) => Err(DbusError::Connect(e.to_string())),
        }
    }
}

impl Drop for BusConnect {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
///
/// # Errors
/// [`DbusError::Connect`] when the bus cannot be reached.
pub async fn system_bus() -> Result<Connection, DbusError> {
    zbus::connection::Builder::system()
        .build()
        .await
        .map_err(|e| DbusError::Connect(e.to_string()))
}

/// Connects to the bus at `address` (`unix:path=…`): a private bus in tests, or a daemon
/// told to use one.
///
/// # Errors
/// [`DbusError::Connect`] when the bus cannot be reached.
pub async fn bus_connection(address: &str) -> Result<Connection, DbusError> {
    zbus::connection::Builder::address(address)
        .build()
        .await
        .map_err(|e| DbusError::Connect(format!("{address}: {e}")))
}

/// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured), serves
/// `org.nvmexpress.staf` and `org.nvmexpress.staf.debug` at `/org/nvmexpress/staf`, owns the
/// name `org.nvmexpress.staf`, and starts forwarding core events as signals. Returns once the
/// name is owned.
///
/// # Errors
/// The bus is unreachable, an interface cannot be registered, or the name cannot be owned
/// (taken by another process, or refused by the bus policy).
pub async fn serve_staf(handle: StafHandle) -> Result<DbusServer, DbusError> {
    serve_staf_on(system_bus().await?, handle).await
}

/// [`serve_staf`] on an existing connection. On a bus connection the name is requested after
/// the interfaces are registered; on a peer-to-peer connection no name is involved.
///
/// # Errors
/// As [`serve_staf`], without the connect step.
pub async fn serve_staf_on(conn: Connection, handle: StafHandle) -> Result<DbusServer, DbusError> {
    let t0 = std::time::Instant::now();
    let link = CoreLink::new(handle.snapshot, handle.commands);
    register(&conn, &STAF, StafInterface::new(link.clone())).await?;
    register(&conn, &STAF, StafDebug::new(link.clone())).await?;
    let objects = t0.elapsed();
    own_name(&conn, &STAF).await?;
    let forwarder = AbortOnDrop(tokio::spawn(forward::<StafDebug>(
        conn.clone(),
        STAF,
        link,
        Some(handle.events),
    )));
    Ok(DbusServer {
        conn,
        names: STAF,
        forwarder,
        objects,
    })
}

/// Connects to the system bus, serves `org.nvmexpress.stac` and `org.nvmexpress.stac.debug`
/// at `/org/nvmexpress/stac`, and owns the name `org.nvmexpress.stac`.
///
/// # Errors
/// As [`serve_staf`].
pub async fn serve_stac(handle: StacHandle) -> Result<DbusServer, DbusError> {
    serve_stac_on(system_bus().await?, handle).await
}

/// [`serve_stac`] on an existing (bus or peer-to-peer) connection.
///
/// # Errors
/// As [`serve_staf_on`].
pub async fn serve_stac_on(conn: Connection, handle: StacHandle) -> Result<DbusServer, DbusError> {
    let t0 = std::time::Instant::now();
    let link = CoreLink::new(handle.snapshot, handle.commands);
    register(&conn, &STAC, StacInterface::new(link.clone())).await?;
    register(&conn, &STAC, StacDebug::new(link.clone())).await?;
    let objects = t0.elapsed();
    own_name(&conn, &STAC).await?;
    let forwarder = AbortOnDrop(tokio::spawn(forward::<StacDebug>(
        conn.clone(),
        STAC,
        link,
        None,
    )));
    Ok(DbusServer {
        conn,
        names: STAC,
        forwarder,
        objects,
    })
}

/// Registers `iface` at the service's path; registering an interface twice is an error.
async fn register<I: Interface>(
    conn: &Connection,
    names: &ServiceNames,
    iface: I,
) -> Result<(), DbusError> {
    let name = I::name().to_string();
    let iface_name = if name == names.iface {
        names.iface
    } else {
        names.debug_iface
    };
    match conn.object_server().at(names.path, iface).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(DbusError::Serve {
            iface: iface_name,
            path: names.path,
            reason: "already served on this connection".into(),
        }),
        Err(e) => Err(DbusError::serve(names, iface_name, &e)),
    }
}

/// Owns the well-known name on a bus connection, without queueing and without letting
/// another process take it over.
async fn own_name(conn: &Connection, names: &ServiceNames) -> Result<(), DbusError> {
    if !conn.is_bus() {
        return Ok(());
    }
    // The bus's own RequestName, one round trip: zbus's `request_name` first adds two match
    // rules (NameAcquired, NameLost) for name queueing and replacement, which a daemon that
    // neither queues nor lets itself be replaced does not use (issue 20: start-up).
    let flags = RequestNameFlags::DO_NOT_QUEUE;
    let reply = bus_call(conn, "RequestName", &(names.bus_name, flags))
        .await
        .and_then(|m| m.body().deserialize::<RequestNameReply>());
    match reply {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => Ok(()),
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) => {
            Err(DbusError::name(names, zbus::Error::NameTaken))
        }
        Err(e) => Err(DbusError::name(names, e)),
    }
}

/// Releases the name [`own_name`] owns (`Ok(false)` when it was not ours).
async fn release_name(conn: &Connection, name: &str) -> zbus::Result<bool> {
    let m = bus_call(conn, "ReleaseName", &name).await?;
    Ok(m.body().deserialize::<ReleaseNameReply>()? == ReleaseNameReply::Released)
}

/// A method call to the bus itself (`org.freedesktop.DBus`).
async fn bus_call<B>(conn: &Connection, method: &str, body: &B) -> zbus::Result<zbus::Message>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    conn.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        method,
        body,
    )
    .await
}

/// The next core event, or never once the subscription is gone.
async fn next_event(
    events: &mut Option<broadcast::Receiver<CoreEvent>>,
) -> Result<CoreEvent, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Forwards core events as signals and announces `tron` / `log_level` changes that did not
/// come through the D-Bus setter, until the core is gone.
async fn forward<D: AnnounceTron>(
    conn: Connection,
    names: ServiceNames,
    link: CoreLink,
    mut events: Option<broadcast::Receiver<CoreEvent>>,
) {
    let emitter = match SignalEmitter::new(&conn, names.path) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot emit signals at {}: {e}", names.path);
            return;
        }
    };
    let mut snapshot = Some(link.snapshot.clone());
    let mut last_tron = link.tron();
    while events.is_some() || snapshot.is_some() {
        tokio::select! {
            ev = next_event(&mut events) => match ev {
                Ok(ev) => emit_event(&emitter, &ev).await,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("D-Bus signals: {n} core events were dropped (slow consumer)");
                }
                Err(RecvError::Closed) => events = None,
            },
            changed = changed(&mut snapshot) => {
                if changed.is_err() {
                    snapshot = None;
                    continue;
                }
                let tron = snapshot
                    .as_mut()
                    .is_some_and(|rx| rx.borrow_and_update().process.tron);
                if tron != last_tron {
                    last_tron = tron;
                    let tron_too = link
                        .announced_tron
                        .swap(tron, std::sync::atomic::Ordering::SeqCst)
                        != tron;
                    announce::<D>(&conn, &emitter, names.path, tron_too).await;
                }
            }
        }
    }
}

async fn changed(
    rx: &mut Option<watch::Receiver<Snapshot>>,
) -> Result<(), watch::error::RecvError> {
    match rx {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
}

async fn announce<D: AnnounceTron>(
    conn: &Connection,
    emitter: &SignalEmitter<'_>,
    path: &str,
    tron_too: bool,
) {
    let result = match conn.object_server().interface::<_, D>(path).await {
        Ok(iface) => iface.get().await.announce(emitter, tron_too).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!("cannot announce the tron change on D-Bus: {e}");
    }
}

async fn emit_event(emitter: &SignalEmitter<'_>, ev: &CoreEvent) {
    let result = match ev {
        CoreEvent::LogPagesChanged { tid, device } => {
            StafInterface::log_pages_changed(
                emitter,
                &tid.transport,
                &tid.traddr,
                &tid.trsvcid,
                &tid.subsysnqn,
                &tid.host_traddr,
                &tid.host_iface,
                &tid.host_nqn,
                device,
            )
            .await
        }
        CoreEvent::DcRemoved => StafInterface::dc_removed(emitter).await,
    };
    if let Err(e) = result {
        tracing::warn!("cannot emit the D-Bus signal for {ev:?}: {e}");
    }
}
