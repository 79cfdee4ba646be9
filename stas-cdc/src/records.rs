//! What stas-cdc keeps for the operator or the test that drives it: a log line per
//! event on stderr and, with --state-dir, `events.jsonl`, the raw DIM payloads in
//! `dim/NNNN.bin` and the current registrations in `registrations.json`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{json, Map, Value};
use stas_cdc::dim::{self, task_name};
use stas_cdc::session::Event;

/// Which connection an event belongs to.
#[derive(Debug, Clone)]
pub struct Conn {
    /// Connection number, from 1.
    pub id: u64,
    /// The host's address and port.
    pub peer: SocketAddr,
}

/// The record keeper (one per process, behind a mutex).
pub struct Recorder {
    dir: Option<PathBuf>,
    events: Option<File>,
    seq: u64,
    dims: u64,
    /// Registered hosts, keyed by host NQN and host address.
    registrations: BTreeMap<String, Value>,
}

/// Seconds since boot, as the guest's logs show them.
fn uptime() -> f64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

impl Recorder {
    /// A recorder writing into `dir` (created if needed), or only to the log.
    ///
    /// # Errors
    /// When the directory or its files cannot be created.
    pub fn new(dir: Option<&Path>) -> anyhow::Result<Recorder> {
        let events = match dir {
            None => None,
            Some(d) => {
                fs::create_dir_all(d.join("dim"))
                    .with_context(|| format!("cannot create {}", d.join("dim").display()))?;
                let p = d.join("events.jsonl");
                Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&p)
                        .with_context(|| format!("cannot open {}", p.display()))?,
                )
            }
        };
        let r = Recorder {
            dir: dir.map(Path::to_path_buf),
            events,
            seq: 0,
            dims: 0,
            registrations: BTreeMap::new(),
        };
        r.save_registrations();
        Ok(r)
    }

    /// Records one event with its fields (an object).
    pub fn note(&mut self, conn: Option<&Conn>, event: &str, fields: Value) {
        self.seq += 1;
        let mut obj = Map::new();
        obj.insert("seq".into(), self.seq.into());
        obj.insert("uptime".into(), json!((uptime() * 100.0).round() / 100.0));
        if let Some(c) = conn {
            obj.insert("conn".into(), c.id.into());
            obj.insert("peer".into(), c.peer.to_string().into());
        }
        obj.insert("event".into(), event.into());
        if let Value::Object(f) = fields {
            obj.extend(f);
        }
        let line = Value::Object(obj).to_string();
        if let Some(f) = &mut self.events {
            if let Err(e) = writeln!(f, "{line}") {
                tracing::warn!("cannot write events.jsonl: {e}");
            }
        }
        tracing::debug!("{line}");
    }

    /// Records what a session reported, with the log line an operator wants to see.
    pub fn session_event(&mut self, conn: &Conn, ev: &Event) {
        let (name, fields) = match ev {
            Event::Dim { tas, data } => return self.dim(conn, *tas, data),
            Event::Connect {
                qid,
                sqsize,
                kato_ms,
                cntlid,
                host_id,
                host_nqn,
                subnqn,
                accepted,
            } => {
                tracing::info!(conn = conn.id, peer = %conn.peer, %host_nqn, %subnqn, cntlid, kato_ms, accepted, "connect");
                let host_id: String = host_id.iter().map(|b| format!("{b:02x}")).collect();
                let f = json!({"qid": qid, "sqsize": sqsize, "kato_ms": kato_ms, "cntlid": cntlid,
                    "hostid": host_id, "hostnqn": host_nqn, "subnqn": subnqn, "accepted": accepted});
                ("connect", f)
            }
            Event::IcReq {
                pfv,
                hpda,
                hdgst,
                ddgst,
                maxr2t,
            } => (
                "icreq",
                json!({"pfv": pfv, "hpda": hpda, "hdgst": hdgst, "ddgst": ddgst, "maxr2t": maxr2t}),
            ),
            Event::PropertyGet { offset, value } => {
                ("property-get", json!({"offset": offset, "value": value}))
            }
            Event::PropertySet { offset, value } => {
                ("property-set", json!({"offset": offset, "value": value}))
            }
            Event::Identify { cns } => ("identify", json!({ "cns": cns })),
            Event::GetLogPage {
                lid,
                lsp,
                rae,
                offset,
                len,
            } => {
                tracing::debug!(conn = conn.id, lid, lsp, rae, offset, len, "get log page");
                (
                    "get-log-page",
                    json!({"lid": lid, "lsp": lsp, "rae": rae, "offset": offset, "len": len}),
                )
            }
            Event::SetFeatures { fid, value } => {
                ("set-features", json!({"fid": fid, "value": value}))
            }
            Event::GetFeatures { fid } => ("get-features", json!({ "fid": fid })),
            Event::KeepAlive => ("keep-alive", json!({})),
            Event::AerHeld { cid } => ("aer-held", json!({ "cid": cid })),
            Event::AenSent { result } => {
                tracing::info!(conn = conn.id, peer = %conn.peer, result = format!("{result:#010x}"), "AEN sent");
                ("aen", json!({ "result": format!("{result:#010x}") }))
            }
            Event::Unsupported { opcode, fctype } => {
                tracing::info!(conn = conn.id, opcode, ?fctype, "unsupported command");
                ("unsupported", json!({"opcode": opcode, "fctype": fctype}))
            }
            Event::ProtocolError { reason } => {
                tracing::warn!(conn = conn.id, peer = %conn.peer, %reason, "protocol error");
                ("protocol-error", json!({ "reason": reason }))
            }
        };
        self.note(Some(conn), name, fields);
    }

    /// A DIM: raw bytes kept, fields decoded, registrations updated.
    fn dim(&mut self, conn: &Conn, tas: u8, data: &[u8]) {
        self.dims += 1;
        let decoded = dim::decode(data);
        let file = format!("dim/{:04}.bin", self.dims);
        if let Some(d) = &self.dir {
            if let Err(e) = fs::write(d.join(&file), data) {
                tracing::warn!("cannot write {file}: {e}");
            }
        }
        let task = task_name(tas);
        tracing::info!(
            conn = conn.id, peer = %conn.peer, task, host = %decoded.eid,
            bytes = data.len(), error = ?decoded.error, "DIM"
        );
        let address = conn.peer.ip().to_string();
        let key = format!("{} {address}", decoded.eid);
        match tas {
            0 | 2 if decoded.error.is_none() => {
                let reg = json!({"hostnqn": decoded.eid, "address": address,
                    "entity-name": decoded.ename, "entity-version": decoded.ever, "file": file});
                self.registrations.insert(key, reg);
            }
            1 => {
                self.registrations.remove(&key);
            }
            _ => {}
        }
        let fields =
            json!({"task": task, "tas": tas, "bytes": data.len(), "file": file, "dim": decoded});
        self.note(Some(conn), "dim", fields);
        self.save_registrations();
    }

    fn save_registrations(&self) {
        let Some(d) = &self.dir else { return };
        let list: Vec<&Value> = self.registrations.values().collect();
        let text = format!(
            "{}\n",
            Value::from(list.into_iter().cloned().collect::<Vec<_>>())
        );
        let tmp = d.join(".registrations.json.tmp");
        let r = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, d.join("registrations.json")));
        if let Err(e) = r {
            tracing::warn!("cannot write registrations.json: {e}");
        }
    }
}
