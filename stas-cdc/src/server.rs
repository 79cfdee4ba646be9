//! The I/O around the sans-IO sessions: listeners, one task per host connection,
//! signals (reload the log, drop connections, stop), and the records.
//!
//! Channels: a `watch` of the log generation (a change completes held AERs through
//! `Session::log_changed`) and a `watch` of the drop epoch (SIGUSR1 closes every
//! connection). The log itself sits behind a lock that each read takes a snapshot of.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::Context;
use serde_json::json;
use stas_cdc::logpage::{Log, LSP_PLEO};
use stas_cdc::session::{Catalog, Controller, DcType, Output, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::records::{Conn, Recorder};

/// What `main` hands over.
pub struct Options {
    /// Listening addresses.
    pub listen: Vec<SocketAddr>,
    /// The controller's identity.
    pub ctrl: Arc<Controller>,
    /// The log definition file (re-read on SIGHUP).
    pub log_path: PathBuf,
    /// Its first reading.
    pub log: Log,
    /// Where to keep records.
    pub state_dir: Option<PathBuf>,
}

struct Shared {
    ctrl: Arc<Controller>,
    /// The log and its generation counter.
    log: RwLock<(Arc<Log>, u64)>,
    records: Mutex<Recorder>,
    next_conn: AtomicU64,
    next_cntlid: AtomicU16,
    gen_tx: watch::Sender<u64>,
    drop_tx: watch::Sender<u64>,
}

/// The log as one Get Log Page sees it.
struct Snapshot {
    log: Arc<Log>,
    genctr: u64,
    pleo: bool,
}

impl Catalog for Snapshot {
    fn discovery_log(&self, lsp: u8) -> Vec<u8> {
        self.log
            .encode(self.genctr, self.pleo && lsp & LSP_PLEO != 0)
    }
}

impl Shared {
    fn record<F: FnOnce(&mut Recorder)>(&self, f: F) {
        f(&mut self.records.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn snapshot(&self) -> Snapshot {
        let g = self.log.read().unwrap_or_else(PoisonError::into_inner);
        Snapshot {
            log: Arc::clone(&g.0),
            genctr: g.1,
            pleo: self.ctrl.pleo,
        }
    }

    /// Controller ids 1..=0xFFEF, unique among the live connections of a run.
    fn cntlid(&self) -> u16 {
        let n = self.next_cntlid.fetch_add(1, Ordering::Relaxed);
        n % 0xFFEF + 1
    }

    /// SIGHUP: re-read the file; a changed log gets the next generation and an AEN.
    fn reload(&self, path: &std::path::Path) {
        let new = match Log::load(path) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("reload refused, keeping the current log: {e}");
                self.record(|r| r.note(None, "reload-refused", json!({"error": e.to_string()})));
                return;
            }
        };
        let entries = new.entries.len();
        let genctr = {
            let mut g = self.log.write().unwrap_or_else(PoisonError::into_inner);
            if *g.0 == new {
                tracing::info!(genctr = g.1, "log unchanged");
                return;
            }
            g.1 += 1;
            g.0 = Arc::new(new);
            g.1
        };
        tracing::info!(genctr, entries, "log changed");
        self.record(|r| r.note(None, "log", json!({"genctr": genctr, "entries": entries})));
        self.gen_tx.send_replace(genctr);
    }
}

/// Runs until SIGTERM or SIGINT.
///
/// # Errors
/// When an address cannot be listened on, or the records cannot be kept.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for a in &opts.listen {
        let l = TcpListener::bind(a)
            .await
            .with_context(|| format!("cannot listen on {a}"))?;
        listeners.push(l);
    }
    let records = Recorder::new(opts.state_dir.as_deref())?;
    let entries = opts.log.entries.len();
    let shared = Arc::new(Shared {
        ctrl: Arc::clone(&opts.ctrl),
        log: RwLock::new((Arc::new(opts.log), 1)),
        records: Mutex::new(records),
        next_conn: AtomicU64::new(1),
        next_cntlid: AtomicU16::new(0),
        gen_tx: watch::channel(1).0,
        drop_tx: watch::channel(0).0,
    });
    let dctype = match opts.ctrl.dctype {
        DcType::Cdc => "cdc",
        DcType::Ddc => "ddc",
        DcType::None => "none",
    };
    let addrs: Vec<String> = opts.listen.iter().map(ToString::to_string).collect();
    tracing::info!(
        "listening on {} (nqn {}, dctype {dctype}, {entries} log entries, genctr 1)",
        addrs.join(" "),
        opts.ctrl.nqn
    );
    shared.record(|r| {
        let f =
            json!({"listen": addrs, "nqn": opts.ctrl.nqn, "dctype": dctype, "entries": entries});
        r.note(None, "start", f);
    });
    for l in listeners {
        tokio::spawn(accept_loop(l, Arc::clone(&shared)));
    }
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => shared.reload(&opts.log_path),
            _ = usr1.recv() => {
                tracing::info!("dropping every connection (SIGUSR1)");
                shared.drop_tx.send_modify(|n| *n += 1);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping");
    shared.record(|r| r.note(None, "stop", json!({})));
    Ok(())
}

async fn accept_loop(l: TcpListener, shared: Arc<Shared>) {
    loop {
        match l.accept().await {
            Ok((sock, peer)) => {
                let conn = Conn {
                    id: shared.next_conn.fetch_add(1, Ordering::Relaxed),
                    peer,
                };
                tokio::spawn(serve(sock, conn, Arc::clone(&shared)));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One host connection, until either side closes it.
async fn serve(mut sock: TcpStream, conn: Conn, shared: Arc<Shared>) {
    let _ = sock.set_nodelay(true);
    let cntlid = shared.cntlid();
    shared.record(|r| r.note(Some(&conn), "accept", json!({ "cntlid": cntlid })));
    let mut session = Session::new(Arc::clone(&shared.ctrl), cntlid);
    let mut gen_rx = shared.gen_tx.subscribe();
    let mut drop_rx = shared.drop_tx.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    let why = loop {
        let outputs = tokio::select! {
            r = sock.read(&mut buf) => match r {
                Ok(0) => break "closed by the host".to_owned(),
                Ok(n) => session.receive(&buf[..n], &shared.snapshot()),
                Err(e) => break format!("read error: {e}"),
            },
            _ = gen_rx.changed() => session.log_changed(),
            _ = drop_rx.changed() => break "dropped on request".to_owned(),
        };
        match deliver(&mut sock, &conn, &shared, outputs).await {
            Ok(None) => {}
            Ok(Some(reason)) => break reason,
            Err(e) => break format!("write error: {e}"),
        }
    };
    tracing::info!(conn = conn.id, peer = %conn.peer, "connection closed: {why}");
    shared.record(|r| r.note(Some(&conn), "close", json!({ "reason": why })));
}

/// Performs a session's outputs in order; `Some(reason)` when it asked to close.
async fn deliver(
    sock: &mut TcpStream,
    conn: &Conn,
    shared: &Shared,
    outputs: Vec<Output>,
) -> std::io::Result<Option<String>> {
    for o in outputs {
        match o {
            Output::Send(bytes) => sock.write_all(&bytes).await?,
            Output::Event(ev) => shared.record(|r| r.session_event(conn, &ev)),
            Output::Close { reason } => {
                let _ = sock.shutdown().await;
                return Ok(Some(reason));
            }
        }
    }
    Ok(None)
}
