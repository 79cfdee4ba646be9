//! stafd's avahi-daemon client (`libstas::dbus::avahi`) against a fake
//! `org.freedesktop.Avahi` on a private dbus-daemon: the object lifecycle and the signal
//! handling, without root or network namespaces (tests/zeroconf/run covers the real
//! avahi-daemon).

mod dbus_fixture;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dbus_fixture::{require, Bus};
use libstas::ctrl::zeroconf::{Input, Resolved, ServiceKey};
use libstas::dbus::avahi::{browse_avahi, AvahiBus, AVAHI_BUS_NAME};
use libstas::dbus::bus_connection;
use tokio::sync::mpsc;
use zbus::object_server::SignalEmitter;
use zbus::wire::OwnedObjectPath;
use zbus::Connection;

const STYPE: &str = "_nvme-disc._tcp";
const BROWSER: &str = "org.freedesktop.Avahi.ServiceBrowser";
const RESOLVER: &str = "org.freedesktop.Avahi.ServiceResolver";

type Log = Arc<Mutex<Vec<String>>>;

/// A freeable avahi object: records `Free`.
struct Obj {
    path: String,
    log: Log,
}

#[zbus::interface(name = "org.freedesktop.Avahi.ServiceBrowser")]
impl Obj {
    #[zbus(name = "Free")]
    fn free(&self) {
        self.log.lock().unwrap().push(format!("Free {}", self.path));
    }
}

struct Res(Obj);

#[zbus::interface(name = "org.freedesktop.Avahi.ServiceResolver")]
impl Res {
    #[zbus(name = "Free")]
    fn free(&self) {
        self.0.free();
    }
}

/// `org.freedesktop.Avahi.Server` at `/`: creates objects and logs every call.
struct Server {
    log: Log,
    next: Mutex<u32>,
}

impl Server {
    fn path(&self, kind: &str) -> String {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        format!("/Client0/{kind}{n}")
    }
}

#[zbus::interface(name = "org.freedesktop.Avahi.Server")]
impl Server {
    #[zbus(name = "GetVersionString")]
    fn get_version_string(&self) -> String {
        "avahi 0.8".into()
    }

    #[zbus(name = "ServiceBrowserNew")]
    async fn service_browser_new(
        &self,
        #[zbus(connection)] conn: &Connection,
        interface: i32,
        protocol: i32,
        stype: String,
        domain: String,
        flags: u32,
    ) -> OwnedObjectPath {
        let path = self.path("ServiceBrowser");
        let obj = Obj {
            path: path.clone(),
            log: Arc::clone(&self.log),
        };
        conn.object_server().at(path.as_str(), obj).await.unwrap();
        self.log.lock().unwrap().push(format!(
            "ServiceBrowserNew {interface} {protocol} {stype} {domain} {flags} -> {path}"
        ));
        OwnedObjectPath::try_from(path).unwrap()
    }

    #[zbus(name = "ServiceResolverNew")]
    #[allow(clippy::too_many_arguments)]
    async fn service_resolver_new(
        &self,
        #[zbus(connection)] conn: &Connection,
        interface: i32,
        protocol: i32,
        name: String,
        stype: String,
        domain: String,
        aprotocol: i32,
        flags: u32,
    ) -> OwnedObjectPath {
        let path = self.path("ServiceResolver");
        let obj = Res(Obj {
            path: path.clone(),
            log: Arc::clone(&self.log),
        });
        conn.object_server().at(path.as_str(), obj).await.unwrap();
        self.log.lock().unwrap().push(format!(
            "ServiceResolverNew {interface} {protocol} {name} {stype} {domain} {aprotocol} {flags} -> {path}"
        ));
        OwnedObjectPath::try_from(path).unwrap()
    }
}

async fn next(rx: &mut mpsc::Receiver<Input>) -> Input {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no input from the avahi client within 5 s")
        .expect("channel closed")
}

/// Waits until the fake logged a line starting with `prefix`; returns it.
async fn logged(log: &Log, prefix: &str) -> String {
    for _ in 0..100 {
        if let Some(l) = log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|l| l.starts_with(prefix))
        {
            return l.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the fake avahi never saw {prefix:?}: {:?}",
        log.lock().unwrap()
    );
}

fn created_path(line: &str) -> String {
    line.rsplit(" -> ").next().unwrap().to_owned()
}

async fn emit<B: serde::Serialize + zbus::wire::DynamicType>(
    conn: &Connection,
    path: &str,
    iface: &str,
    member: &str,
    body: &B,
) {
    let e = SignalEmitter::new(conn, path.to_owned()).unwrap();
    conn.emit_signal(None::<()>, e.path(), iface, member, body)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browses_resolves_follows_the_daemon_and_frees_its_objects() {
    if require(
        "browses_resolves_follows_the_daemon_and_frees_its_objects",
        &["dbus-daemon"],
    )
    .is_none()
    {
        return;
    }
    let bus = Bus::permissive();
    let log: Log = Arc::default();
    let avahi = bus_connection(&bus.address).await.unwrap();
    avahi
        .object_server()
        .at(
            "/",
            Server {
                log: Arc::clone(&log),
                next: Mutex::new(0),
            },
        )
        .await
        .unwrap();
    avahi.request_name(AVAHI_BUS_NAME).await.unwrap();

    let (tx, mut rx) = mpsc::channel(16);
    let browser = browse_avahi(
        AvahiBus::at(&bus.address).await.unwrap(),
        vec![STYPE.to_owned()],
        tx,
    )
    .await
    .unwrap();
    assert_eq!(next(&mut rx).await, Input::Available(true));
    let line = logged(&log, "ServiceBrowserNew").await;
    assert!(
        line.starts_with("ServiceBrowserNew -1 -1 _nvme-disc._tcp local 2 -> "),
        "{line}"
    );
    let bpath = created_path(&line);

    // ItemNew: reported, and a resolver is created for exactly that service.
    let item = (2i32, 0i32, "array-a", STYPE, "local", 0u32);
    emit(&avahi, &bpath, BROWSER, "ItemNew", &item).await;
    let key = ServiceKey {
        iface: 2,
        proto: 0,
        name: "array-a".into(),
        stype: STYPE.into(),
        domain: "local".into(),
    };
    assert_eq!(next(&mut rx).await, Input::ItemNew(key.clone()));
    let line = logged(&log, "ServiceResolverNew").await;
    assert!(
        line.starts_with("ServiceResolverNew 2 0 array-a _nvme-disc._tcp local 0 2 -> "),
        "{line}"
    );
    let rpath = created_path(&line);

    // The same service seen over IPv6 resolves for IPv6 (aprotocol 1), not for any family:
    // with AVAHI_PROTO_UNSPEC both resolutions may come back with one family.
    let item6 = (2i32, 1i32, "array-a", STYPE, "local", 0u32);
    emit(&avahi, &bpath, BROWSER, "ItemNew", &item6).await;
    let key6 = ServiceKey {
        proto: 1,
        ..key.clone()
    };
    assert_eq!(next(&mut rx).await, Input::ItemNew(key6));
    let line = logged(&log, "ServiceResolverNew 2 1").await;
    assert!(
        line.starts_with("ServiceResolverNew 2 1 array-a _nvme-disc._tcp local 1 2 -> "),
        "{line}"
    );

    // A look-alike signal from another sender is not avahi's: ignored.
    let impostor = bus_connection(&bus.address).await.unwrap();
    let fake_item = (2i32, 0i32, "evil", STYPE, "local", 0u32);
    emit(&impostor, &bpath, BROWSER, "ItemNew", &fake_item).await;

    // Found from the resolver: the TXT record and address come through untouched.
    let found = (
        2i32,
        0i32,
        "array-a",
        STYPE,
        "local",
        "array-a.local",
        0i32,
        "192.0.2.2",
        8009u16,
        vec![b"p=tcp".to_vec(), b"nqn=nqn.x".to_vec()],
        0u32,
    );
    emit(&avahi, &rpath, RESOLVER, "Found", &found).await;
    assert_eq!(
        next(&mut rx).await,
        Input::Found {
            key: key.clone(),
            resolved: Resolved {
                host: "array-a.local".into(),
                address: "192.0.2.2".into(),
                port: 8009,
                txt: vec![b"p=tcp".to_vec(), b"nqn=nqn.x".to_vec()],
            },
            ifname: None,
        }
    );

    // ItemRemove: reported, and the resolver freed.
    emit(&avahi, &bpath, BROWSER, "ItemRemove", &item).await;
    assert_eq!(next(&mut rx).await, Input::ItemRemove(key));
    assert_eq!(
        logged(&log, "Free /Client0/ServiceResolver").await,
        format!("Free {rpath}")
    );

    // avahi-daemon leaves the bus, and comes back: browsing starts over.
    avahi.release_name(AVAHI_BUS_NAME).await.unwrap();
    assert_eq!(next(&mut rx).await, Input::Available(false));
    log.lock().unwrap().clear();
    avahi.request_name(AVAHI_BUS_NAME).await.unwrap();
    assert_eq!(next(&mut rx).await, Input::Available(true));
    let bpath2 = created_path(&logged(&log, "ServiceBrowserNew").await);
    assert_ne!(bpath2, bpath);

    // Stopping frees the browser.
    browser.stop().await;
    assert_eq!(logged(&log, "Free").await, format!("Free {bpath2}"));
    assert!(
        rx.recv().await.is_none(),
        "nothing after stop (the impostor's ItemNew never came)"
    );
}
