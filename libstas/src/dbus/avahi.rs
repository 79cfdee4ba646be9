//! stafd's client of avahi-daemon (`org.freedesktop.Avahi`): browses the TP8009 service
//! types and turns avahi's signals into [`Input`]s for the mDNS browser state
//! ([`crate::ctrl::zeroconf`]). Nothing here interprets a service; this module only owns the
//! D-Bus objects' lifecycle (nvme-stas-behaviour.md §5.4).
//!
//! - While avahi-daemon owns its name: subscribe to every signal its unique name sends
//!   (before creating anything: avahi's objects emit at once), create one
//!   `ServiceBrowserNew(any interface, any protocol, type, "local", USE_MULTICAST)` per type,
//!   and a `ServiceResolverNew` for each new `(interface, protocol, name, type, domain)`,
//!   freed again on `ItemRemove`.
//! - When the name loses its owner (avahi-daemon stopped): [`Input::Available`]`(false)`,
//!   everything is forgotten, and while it stays absent `GetVersionString` is called every
//!   [`AVAHI_WAKE_UP`] (that starts a socket- or bus-activated avahi-daemon). When the name
//!   gets an owner again, browsing starts anew.
//!
//! Stopping the browser (dropping [`AvahiBrowser`]) frees the browsers and resolvers.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zbus::fdo::{DBusProxy, NameOwnerChangedStream};
use zbus::message::Type as MsgType;
use zbus::names::{BusName, OwnedUniqueName};
use zbus::wire::OwnedObjectPath;
use zbus::{Connection, MatchRule, Message, MessageStream};

use crate::ctrl::zeroconf::{Input, Resolved, ServiceKey, AVAHI_WAKE_UP};

/// avahi-daemon's bus name.
pub const AVAHI_BUS_NAME: &str = "org.freedesktop.Avahi";
const SERVER_IFACE: &str = "org.freedesktop.Avahi.Server";
const BROWSER_IFACE: &str = "org.freedesktop.Avahi.ServiceBrowser";
const RESOLVER_IFACE: &str = "org.freedesktop.Avahi.ServiceResolver";
/// `AVAHI_IF_UNSPEC`, `AVAHI_PROTO_UNSPEC`.
const UNSPEC: i32 = -1;
/// `AVAHI_LOOKUP_USE_MULTICAST`.
const USE_MULTICAST: u32 = 2;
/// How many avahi signals may wait unread.
const SIGNAL_QUEUE: usize = 256;

/// Browsing could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch avahi-daemon on D-Bus: {0}")]
pub struct AvahiError(String);

/// How long [`AvahiBrowser::stop`] waits for avahi's objects to be freed.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The running browser; dropping it stops browsing (abruptly: avahi-daemon frees the
/// objects only when the connection closes), [`AvahiBrowser::stop`] frees them first.
#[derive(Debug)]
pub struct AvahiBrowser {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for AvahiBrowser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AvahiBrowser {
    /// Stops browsing: frees the browsers and resolvers, then ends the task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_TIMEOUT, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// The bus avahi-daemon is on (the system bus), as the daemons see it without zbus.
#[derive(Debug, Clone)]
pub struct AvahiBus(Connection);

impl AvahiBus {
    /// The connection a D-Bus server uses (stafd's own).
    #[must_use]
    pub fn of(server: &super::DbusServer) -> Self {
        Self(server.connection().clone())
    }

    /// A connection of its own to the bus at `address` (tests, tools).
    ///
    /// # Errors
    /// The bus cannot be reached.
    pub async fn at(address: &str) -> Result<Self, super::DbusError> {
        super::bus_connection(address).await.map(Self)
    }
}

/// Watches avahi-daemon's name on `bus` and browses `stypes` whenever it is there, sending
/// what avahi reports to `tx` (`Found` without an interface name: the caller looks it up).
///
/// # Errors
/// The name-owner subscription could not be made.
pub async fn browse_avahi(
    bus: AvahiBus,
    stypes: Vec<String>,
    tx: mpsc::Sender<Input>,
) -> Result<AvahiBrowser, AvahiError> {
    let conn = bus.0;
    let err = |e: zbus::Error| AvahiError(e.to_string());
    let dbus = DBusProxy::new(&conn).await.map_err(err)?;
    let owner = dbus
        .receive_name_owner_changed_with_args(&[(0, AVAHI_BUS_NAME)])
        .await
        .map_err(err)?;
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(watch(conn, dbus, owner, stypes, tx, stop_rx));
    Ok(AvahiBrowser {
        stop: Some(stop),
        task,
    })
}

async fn watch(
    conn: Connection,
    dbus: DBusProxy<'static>,
    mut owner: NameOwnerChangedStream,
    stypes: Vec<String>,
    tx: mpsc::Sender<Input>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(name) = BusName::try_from(AVAHI_BUS_NAME) else {
        return;
    };
    loop {
        if let Ok(unique) = dbus.get_name_owner(name.clone()).await {
            tracing::info!(owner = %unique, "avahi-daemon is on the bus: browsing {stypes:?}");
            if tx.send(Input::Available(true)).await.is_err() {
                return;
            }
            let mut session = Session::new(&conn, unique);
            let end = session.run(&stypes, &tx, &mut owner, &mut stop).await;
            session.free().await;
            match end {
                Ok(SessionEnd::Stopped) => return,
                Ok(SessionEnd::AvahiGone) => {}
                Err(e) => tracing::error!(error = %e, "browsing through avahi-daemon failed"),
            }
        }
        if tx.send(Input::Available(false)).await.is_err() {
            return;
        }
        // Absent: wait for the name, poking avahi-daemon now and then.
        loop {
            tokio::select! {
                s = owner.next() => match s.map(|s| s.args().map(|a| a.new_owner().is_some())) {
                    Some(Ok(true)) => break,
                    Some(_) => {}
                    None => {
                        // stafd reports the lost bus itself (and exits).
                        tracing::debug!("the bus connection ended: zeroconf stops");
                        return;
                    }
                },
                () = tokio::time::sleep(AVAHI_WAKE_UP) => {
                    let woke = conn
                        .call_method(Some(AVAHI_BUS_NAME), "/", Some(SERVER_IFACE), "GetVersionString", &())
                        .await
                        .is_ok();
                    if woke {
                        break;
                    }
                }
                () = tx.closed() => return,
                _ = &mut stop => return,
            }
        }
    }
}

/// Why a session ended without an error.
enum SessionEnd {
    /// avahi-daemon left the bus.
    AvahiGone,
    /// Browsing was stopped (or nobody listens any more).
    Stopped,
}

/// The browsers and resolvers of one avahi-daemon instance.
struct Session<'c> {
    conn: &'c Connection,
    owner: OwnedUniqueName,
    browsers: Vec<OwnedObjectPath>,
    resolvers: BTreeMap<ServiceKey, OwnedObjectPath>,
    /// Resolver object path → its service.
    by_path: BTreeMap<String, ServiceKey>,
}

/// Why a session ended with an error.
type SessionError = zbus::Error;

impl<'c> Session<'c> {
    fn new(conn: &'c Connection, owner: OwnedUniqueName) -> Self {
        Self {
            conn,
            owner,
            browsers: Vec::new(),
            resolvers: BTreeMap::new(),
            by_path: BTreeMap::new(),
        }
    }

    async fn server_call<B, R>(&self, method: &str, body: &B) -> Result<R, SessionError>
    where
        B: serde::Serialize + zbus::wire::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::wire::Type,
    {
        let reply = self
            .conn
            .call_method(
                Some(self.owner.as_ref()),
                "/",
                Some(SERVER_IFACE),
                method,
                body,
            )
            .await?;
        reply.body().deserialize::<R>()
    }

    /// Runs until avahi-daemon loses its name or browsing is stopped (`Ok`), or a call
    /// fails (`Err`).
    async fn run(
        &mut self,
        stypes: &[String],
        tx: &mpsc::Sender<Input>,
        owner: &mut NameOwnerChangedStream,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<SessionEnd, SessionError> {
        let rule = MatchRule::builder()
            .msg_type(MsgType::Signal)
            .sender(self.owner.clone())
            .build()?;
        let mut signals =
            MessageStream::for_match_rule(rule, self.conn, NonZeroUsize::new(SIGNAL_QUEUE)).await?;
        for stype in stypes {
            let path: OwnedObjectPath = self
                .server_call(
                    "ServiceBrowserNew",
                    &(UNSPEC, UNSPEC, stype.as_str(), "local", USE_MULTICAST),
                )
                .await?;
            tracing::debug!(%path, stype, "avahi service browser created");
            self.browsers.push(path);
        }
        loop {
            tokio::select! {
                m = signals.next() => match m {
                    Some(Ok(m)) => {
                        if let Some(input) = self.on_signal(&m).await {
                            if tx.send(input).await.is_err() {
                                return Ok(SessionEnd::Stopped);
                            }
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "unreadable avahi signal"),
                    None => return Ok(SessionEnd::AvahiGone),
                },
                s = owner.next() => match s.map(|s| s.args().map(|a| a.new_owner().is_some())) {
                    Some(Ok(true)) | Some(Err(_)) => {}
                    Some(Ok(false)) | None => {
                        tracing::warn!("avahi-daemon left the bus");
                        return Ok(SessionEnd::AvahiGone);
                    }
                },
                () = tx.closed() => return Ok(SessionEnd::Stopped),
                _ = &mut *stop => return Ok(SessionEnd::Stopped),
            }
        }
    }

    async fn on_signal(&mut self, m: &Message) -> Option<Input> {
        let h = m.header();
        let iface = h.interface()?.as_str().to_owned();
        let member = h.member()?.as_str().to_owned();
        let path = OwnedObjectPath::from(h.path()?.clone());
        let body = m.body();
        match (iface.as_str(), member.as_str()) {
            (BROWSER_IFACE, "ItemNew" | "ItemRemove") => {
                if !self.browsers.contains(&path) {
                    return None;
                }
                let (iface_idx, proto, name, stype, domain, _flags): (
                    i32,
                    i32,
                    String,
                    String,
                    String,
                    u32,
                ) = body.deserialize().ok()?;
                let key = ServiceKey {
                    iface: iface_idx,
                    proto,
                    name,
                    stype,
                    domain,
                };
                if member == "ItemNew" {
                    self.resolve(&key).await;
                    Some(Input::ItemNew(key))
                } else {
                    if let Some(p) = self.resolvers.remove(&key) {
                        self.by_path.remove(p.as_str());
                        let _ = self.free_object(&p, RESOLVER_IFACE).await;
                    }
                    Some(Input::ItemRemove(key))
                }
            }
            (RESOLVER_IFACE, "Found") => {
                let key = self.by_path.get(path.as_str())?.clone();
                type Found = (
                    i32,
                    i32,
                    String,
                    String,
                    String,
                    String,
                    i32,
                    String,
                    u16,
                    Vec<Vec<u8>>,
                    u32,
                );
                let (_, _, _, _, _, host, _aproto, address, port, txt, _flags): Found =
                    match body.deserialize() {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable avahi Found signal");
                            return None;
                        }
                    };
                Some(Input::Found {
                    key,
                    resolved: Resolved {
                        host,
                        address,
                        port,
                        txt,
                    },
                    ifname: None,
                })
            }
            (RESOLVER_IFACE, "Failure") => {
                let key = self.by_path.get(path.as_str())?;
                let (error,): (String,) = body.deserialize().ok()?;
                if error.contains("Timeout") {
                    tracing::debug!(name = %key.name, error, "avahi resolver timed out");
                } else {
                    tracing::error!(name = %key.name, error, "avahi could not resolve a service");
                }
                None
            }
            (BROWSER_IFACE, "Failure") => {
                let (error,): (String,) = body.deserialize().ok()?;
                tracing::error!(error, "avahi service browser failed");
                None
            }
            _ => None,
        }
    }

    async fn resolve(&mut self, key: &ServiceKey) {
        if self.resolvers.contains_key(key) {
            return;
        }
        let r: Result<OwnedObjectPath, _> = self
            .server_call(
                "ServiceResolverNew",
                &(
                    key.iface,
                    key.proto,
                    key.name.as_str(),
                    key.stype.as_str(),
                    key.domain.as_str(),
                    // The address family the service was browsed on: an announcement seen
                    // over IPv4 resolves to its IPv4 address, one seen over IPv6 to its IPv6
                    // address (with UNSPEC avahi may answer both with the same family, and
                    // one DC would be lost).
                    key.proto,
                    USE_MULTICAST,
                ),
            )
            .await;
        match r {
            Ok(p) => {
                self.by_path.insert(p.as_str().to_owned(), key.clone());
                self.resolvers.insert(key.clone(), p);
            }
            Err(e) => {
                tracing::error!(name = %key.name, error = %e, "cannot create an avahi resolver")
            }
        }
    }

    /// Frees one avahi object; whether avahi-daemon said yes.
    async fn free_object(&self, path: &OwnedObjectPath, iface: &str) -> bool {
        self.conn
            .call_method(Some(self.owner.as_ref()), path, Some(iface), "Free", &())
            .await
            .is_ok()
    }

    /// Frees every object this session created (refused when avahi-daemon is gone).
    async fn free(&mut self) {
        let mut asked = 0;
        let mut freed = 0;
        let resolvers = std::mem::take(&mut self.resolvers).into_values();
        let browsers = std::mem::take(&mut self.browsers);
        self.by_path.clear();
        for (p, iface) in resolvers
            .map(|p| (p, RESOLVER_IFACE))
            .chain(browsers.into_iter().map(|p| (p, BROWSER_IFACE)))
        {
            asked += 1;
            freed += usize::from(self.free_object(&p, iface).await);
        }
        tracing::debug!("freed {freed} of {asked} avahi objects");
    }
}
