//! `stas-kcheck`: drives libstas's kernel interface against the real kernel and prints JSON,
//! for the VM rig scenarios (`tests/vm/scenarios/kernel-*.sh`). Every subcommand prints one
//! JSON document on stdout. Exit status: 0 success, 1 the operation failed (the JSON says
//! why, with `"ok": false`), 2 usage error.
//!
//! ```text
//! stas-kcheck options
//! stas-kcheck connect --traddr 127.0.0.1 --trsvcid 8009 [--nqn NQN] [--io] [--kato 30] ...
//! stas-kcheck topology | ctrl nvme0 | delete nvme0
//! stas-kcheck match --traddr ::1 --trsvcid 4420 --nqn NQN --io
//! stas-kcheck dlp nvme0 [--lsp 2] | slp nvme0 | identify nvme0
//! stas-kcheck wait-event nvme0 --kind aen --timeout 20 [--ready FILE]
//! stas-kcheck compare-dlp nvme0 nvme-discover.json
//! stas-kcheck compare-topology nvme-list-subsys.json
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use libstas::kernel::admin::{get_discovery_log, identify, supported_log_pages, DlpOptions};
use libstas::kernel::fabrics::{build_connect_string, ConnectParams, CtrlKind, OptionsSource};
use libstas::kernel::netlink::UeventSocket;
use libstas::kernel::{ConnectError, Controller, Kernel, KernelPaths, SysKernel, Topology};
use libstas::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};
use libstas::proto::address::CtrlAddress;
use libstas::proto::dlp::LogEntry;
use libstas::proto::uevent::NvmeEventKind;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "stas-kcheck",
    about = "Exercise libstas against the running kernel; JSON output"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Options the kernel accepts on /dev/nvme-fabrics.
    Options {
        /// Print the names one per line instead of JSON (for shell comparisons).
        #[arg(long)]
        names: bool,
    },
    /// Connect a discovery (default) or I/O controller.
    Connect(Target),
    /// Find an existing controller for a candidate connection (nvme-stas matching rules).
    Match(Target),
    /// All controllers.
    Topology,
    /// One controller.
    Ctrl {
        /// nvme<N>
        device: String,
    },
    /// Delete a controller.
    Delete {
        /// nvme<N>
        device: String,
    },
    /// Read the discovery log page.
    Dlp {
        /// nvme<N>
        device: String,
        /// LSP bits (2 = PLEO).
        #[arg(long, default_value_t = 0)]
        lsp: u8,
    },
    /// Supported Log Pages.
    Slp {
        /// nvme<N>
        device: String,
    },
    /// Identify Controller.
    Identify {
        /// nvme<N>
        device: String,
    },
    /// Wait for a uevent on a controller (netlink socket).
    WaitEvent {
        /// nvme<N>
        device: String,
        /// aen, connected, rediscover, add, remove
        #[arg(long, default_value = "aen")]
        kind: String,
        /// Seconds.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// File created once the socket listens.
        #[arg(long)]
        ready: Option<PathBuf>,
    },
    /// Compare our discovery log of DEVICE with `nvme discover -o json` output.
    CompareDlp {
        /// nvme<N>
        device: String,
        /// nvme-cli JSON file.
        json: PathBuf,
    },
    /// Compare the topology with `nvme list-subsys -o json` output.
    CompareTopology {
        /// nvme-cli JSON file.
        json: PathBuf,
    },
}

#[derive(Args)]
struct Target {
    /// tcp, rdma, fc, loop
    #[arg(long, default_value = "tcp")]
    transport: String,
    #[arg(long)]
    traddr: String,
    #[arg(long, default_value = "")]
    trsvcid: String,
    /// Subsystem NQN (default: the well-known discovery NQN).
    #[arg(long, default_value = WELL_KNOWN_DISC_NQN)]
    nqn: String,
    #[arg(long, default_value = "")]
    host_traddr: String,
    #[arg(long, default_value = "")]
    host_iface: String,
    /// Host NQN (default: /etc/nvme/hostnqn).
    #[arg(long)]
    hostnqn: Option<String>,
    /// Host ID (default: /etc/nvme/hostid).
    #[arg(long)]
    hostid: Option<String>,
    /// An I/O controller (default: discovery controller).
    #[arg(long)]
    io: bool,
    /// keep_alive_tmo.
    #[arg(long)]
    kato: Option<u32>,
    /// ctrl_loss_tmo.
    #[arg(long)]
    ctrl_loss_tmo: Option<i32>,
    /// reconnect_delay.
    #[arg(long)]
    reconnect_delay: Option<u32>,
    /// duplicate_connect.
    #[arg(long)]
    duplicate: bool,
}

impl Target {
    fn kind(&self) -> CtrlKind {
        if self.io {
            CtrlKind::Io
        } else {
            CtrlKind::Discovery
        }
    }

    fn tid(&self) -> Result<TransportId> {
        let hostnqn = match &self.hostnqn {
            Some(h) => h.clone(),
            None => first_line("/etc/nvme/hostnqn")?,
        };
        Ok(TransportId {
            transport: self.transport.clone(),
            traddr: self.traddr.clone(),
            trsvcid: libstas::model::trid::effective_trsvcid(&self.transport, &self.trsvcid),
            subsysnqn: self.nqn.clone(),
            host_traddr: self.host_traddr.clone(),
            host_iface: self.host_iface.clone(),
            host_nqn: hostnqn,
        })
    }

    fn hostid(&self) -> Result<String> {
        match &self.hostid {
            Some(h) => Ok(h.clone()),
            None => first_line("/etc/nvme/hostid"),
        }
    }
}

fn first_line(path: &str) -> Result<String> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(s.lines().next().unwrap_or_default().trim().to_owned())
}

fn opt(s: Option<&String>) -> Value {
    s.map_or(Value::Null, |v| Value::String(v.clone()))
}

fn ctrl_json(c: &Controller) -> Value {
    json!({
        "device": c.device,
        "instance": c.instance,
        "transport": c.transport,
        "traddr": opt(c.address.traddr.as_ref()),
        "trsvcid": opt(c.address.trsvcid.as_ref()),
        "host_traddr": opt(c.address.host_traddr.as_ref()),
        "host_iface": opt(c.address.host_iface.as_ref()),
        "src_addr": opt(c.address.src_addr.as_ref()),
        "subsysnqn": c.subsysnqn,
        "state": c.state.as_str(),
        "cntrltype": c.cntrltype.map(|t| t.as_str()),
        "dctype": c.dctype.map(|t| t.as_str()),
        "hostnqn": c.hostnqn,
        "hostid": c.hostid,
        "kato": c.kato,
        "cntlid": c.cntlid,
        "model": c.model,
        "serial": c.serial,
        "firmware_rev": c.firmware_rev,
        "subsystem": c.subsystem,
        "subsystype": c.subsystype,
        "namespaces": c.namespaces().collect::<Vec<_>>(),
        "is_dc": c.is_dc(),
        "is_ioc": c.is_ioc(),
    })
}

fn connect_error_kind(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::Build(_) => "invalid-parameters",
        ConnectError::AlreadyConnected => "already-connected",
        ConnectError::Refused => "refused",
        ConnectError::TimedOut => "timed-out",
        ConnectError::Unreachable(_) => "unreachable",
        ConnectError::AddressNotAvailable => "address-not-available",
        ConnectError::RejectedByTarget => "rejected-by-target",
        ConnectError::InvalidArgument => "invalid-argument",
        ConnectError::NoSuchInterface => "no-such-interface",
        ConnectError::Authentication(_) => "authentication",
        ConnectError::NotSupported => "not-supported",
        ConnectError::Busy(_) => "busy",
        ConnectError::OutOfMemory => "out-of-memory",
        ConnectError::FabricsUnavailable => "fabrics-unavailable",
        ConnectError::PermissionDenied => "permission-denied",
        ConnectError::BadReply(_) => "bad-reply",
        ConnectError::Os(_) => "os-error",
    }
}

fn failed(what: &str, err: &dyn std::fmt::Display) -> (Value, bool) {
    (
        json!({"ok": false, "op": what, "error": err.to_string()}),
        false,
    )
}

fn entry_json(e: &LogEntry) -> Value {
    let d: BTreeMap<String, String> = e.to_stas_dict();
    json!(d)
}

/// nvme-cli's spelling of a SUBTYPE in `nvme discover -o json`.
fn nvme_cli_subtype(v: u8) -> String {
    match v {
        1 => "discovery subsystem referral".into(),
        2 => "nvme subsystem".into(),
        3 => "current discovery subsystem".into(),
        other => other.to_string(),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn compare_dlp(k: &SysKernel, device: &str, path: &PathBuf) -> Result<(Value, bool)> {
    let cli: Value = serde_json::from_str(&std::fs::read_to_string(path)?)
        .context("parsing nvme discover JSON")?;
    let records = cli
        .get("records")
        .and_then(Value::as_array)
        .context("no \"records\" array")?;
    let log = match get_discovery_log(k, device, &DlpOptions::default()) {
        Ok(l) => l,
        Err(e) => return Ok(failed("dlp", &e)),
    };
    let mut diffs = Vec::new();
    if let Some(g) = cli.get("genctr").and_then(Value::as_u64) {
        if g != log.header.genctr {
            diffs.push(format!(
                "genctr: nvme-cli {g}, libstas {}",
                log.header.genctr
            ));
        }
    }
    if records.len() != log.entries.len() {
        diffs.push(format!(
            "records: nvme-cli {}, libstas {}",
            records.len(),
            log.entries.len()
        ));
    }
    for (i, (r, e)) in records.iter().zip(&log.entries).enumerate() {
        let d = e.to_stas_dict();
        let pairs = [
            ("trtype", d["trtype"].clone()),
            ("adrfam", d["adrfam"].clone()),
            ("subtype", nvme_cli_subtype(e.subtype)),
            ("portid", d["portid"].clone()),
            ("trsvcid", d["trsvcid"].clone()),
            ("subnqn", d["subnqn"].clone()),
            ("traddr", d["traddr"].clone()),
        ];
        for (key, ours) in pairs {
            let theirs = as_text(r.get(key).unwrap_or(&Value::Null));
            if theirs != ours {
                diffs.push(format!(
                    "record {i} {key}: nvme-cli {theirs:?}, libstas {ours:?}"
                ));
            }
        }
    }
    let ok = diffs.is_empty();
    Ok((
        json!({"ok": ok, "records": log.entries.len(), "genctr": log.header.genctr, "differences": diffs}),
        ok,
    ))
}

/// Collects `(subsystem name, subsystem NQN, path object)` from `nvme list-subsys -o json`,
/// whatever the nesting (nvme-cli 2.x wraps subsystems in host objects).
fn collect_paths<'a>(
    v: &'a Value,
    subsys: Option<(&'a str, &'a str)>,
    out: &mut Vec<(String, String, &'a Value)>,
) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_paths(x, subsys, out)),
        Value::Object(o) => {
            let here = match (
                o.get("Name").and_then(Value::as_str),
                o.get("NQN").and_then(Value::as_str),
            ) {
                (Some(n), Some(q)) if n.starts_with("nvme-subsys") => Some((n, q)),
                _ => subsys,
            };
            if o.contains_key("Transport") {
                if let Some((n, q)) = subsys {
                    out.push((n.to_owned(), q.to_owned(), v));
                }
            }
            o.values().for_each(|x| collect_paths(x, here, out));
        }
        _ => {}
    }
}

fn compare_topology(k: &SysKernel, path: &PathBuf) -> Result<(Value, bool)> {
    let cli: Value = serde_json::from_str(&std::fs::read_to_string(path)?)
        .context("parsing nvme list-subsys JSON")?;
    let topo = match Topology::scan(k) {
        Ok(t) => t,
        Err(e) => return Ok(failed("topology", &e)),
    };
    let mut paths = Vec::new();
    collect_paths(&cli, None, &mut paths);
    let mut diffs = Vec::new();
    let mut seen = Vec::new();
    for (sname, snqn, p) in &paths {
        let name = as_text(p.get("Name").unwrap_or(&Value::Null));
        let Some(c) = topo.by_name(&name) else {
            diffs.push(format!("{name}: listed by nvme-cli, not found by libstas"));
            continue;
        };
        seen.push(name.clone());
        let their_addr = CtrlAddress::parse(&as_text(p.get("Address").unwrap_or(&Value::Null)));
        let mut ours = c.address.clone();
        if their_addr.host_traddr.is_none() {
            ours.host_traddr = None; // from the uevent file; nvme-cli shows the address attribute
        }
        if their_addr.host_iface.is_none() {
            ours.host_iface = None;
        }
        let checks = [
            (
                "transport",
                as_text(p.get("Transport").unwrap_or(&Value::Null)),
                c.transport.clone(),
            ),
            (
                "state",
                as_text(p.get("State").unwrap_or(&Value::Null)),
                c.state.as_str().to_owned(),
            ),
            (
                "subsystem",
                sname.clone(),
                c.subsystem.clone().unwrap_or_default(),
            ),
            ("subsysnqn", snqn.clone(), c.subsysnqn.clone()),
            ("address", format!("{their_addr:?}"), format!("{ours:?}")),
        ];
        for (what, theirs, ours) in checks {
            if theirs != ours {
                diffs.push(format!(
                    "{name} {what}: nvme-cli {theirs:?}, libstas {ours:?}"
                ));
            }
        }
    }
    for c in topo.iter() {
        if !seen.contains(&c.device) {
            diffs.push(format!(
                "{}: found by libstas, not listed by nvme-cli",
                c.device
            ));
        }
    }
    let ok = diffs.is_empty() && !paths.is_empty();
    Ok((
        json!({"ok": ok, "controllers": seen, "differences": diffs}),
        ok,
    ))
}

fn wait_event(
    device: &str,
    kind: &str,
    timeout: u64,
    ready: Option<&PathBuf>,
) -> Result<(Value, bool)> {
    let sock = UeventSocket::open()?;
    if let Some(r) = ready {
        std::fs::write(r, "ready\n")?;
    }
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(u) = sock.recv(Some(left))? else {
            break;
        };
        let Some(ev) = u.nvme_event() else {
            continue;
        };
        seen.push(
            json!({"device": ev.device, "kind": format!("{:?}", ev.kind), "seqnum": ev.seqnum}),
        );
        if ev.device != device {
            continue;
        }
        let hit = match (kind, ev.kind) {
            ("aen", NvmeEventKind::Aen(v)) => Some(
                json!({"aen": format!("{v:#08x}"), "disc_log_change": ev.is_disc_log_change()}),
            ),
            ("connected", NvmeEventKind::Connected)
            | ("rediscover", NvmeEventKind::Rediscover)
            | ("add", NvmeEventKind::Added)
            | ("remove", NvmeEventKind::Removed) => Some(json!({})),
            _ => None,
        };
        if let Some(mut v) = hit {
            v["ok"] = json!(true);
            v["device"] = json!(ev.device);
            v["kind"] = json!(kind);
            v["traddr"] = json!(ev.traddr);
            v["trsvcid"] = json!(ev.trsvcid);
            return Ok((v, true));
        }
    }
    Ok((
        json!({"ok": false, "error": format!("no {kind} event for {device} within {timeout}s"), "seen": seen}),
        false,
    ))
}

fn run(cli: Cli) -> Result<(Value, bool)> {
    let k = SysKernel::new(KernelPaths::default());
    Ok(match cli.cmd {
        Cmd::Options { names } => match k.supported_options() {
            Ok(o) if names => (json!(o.names()), true),
            Ok(o) => {
                let source = match o.source() {
                    OptionsSource::Kernel => json!("kernel"),
                    OptionsSource::VersionTable { release, reason } => {
                        json!({"table": release, "reason": reason})
                    }
                };
                (
                    json!({"ok": true, "source": source, "options": o.names()}),
                    true,
                )
            }
            Err(e) => failed("options", &e),
        },
        Cmd::Connect(t) => {
            let tid = t.tid()?;
            let mut p = ConnectParams::new(&tid, &t.hostid()?, t.kind());
            p.keep_alive_tmo = t.kato;
            p.ctrl_loss_tmo = t.ctrl_loss_tmo;
            p.reconnect_delay = t.reconnect_delay;
            p.duplicate_connect = t.duplicate;
            let o = k.supported_options()?;
            let cs = match build_connect_string(&p, &o) {
                Ok(cs) => cs,
                Err(e) => return Ok(failed("build", &e)),
            };
            match k.connect(&cs) {
                Ok(r) => (
                    json!({"ok": true, "device": r.device(), "instance": r.instance, "cntlid": r.cntlid,
                           "connect_string": cs.to_string(), "dropped": cs.dropped()}),
                    true,
                ),
                Err(e) => (
                    json!({"ok": false, "op": "connect", "error": e.to_string(), "error_kind": connect_error_kind(&e),
                           "errno": e.errno().map(|n| n as i32), "connect_string": cs.to_string()}),
                    false,
                ),
            }
        }
        Cmd::Match(t) => {
            let tid = t.tid()?;
            let topo = Topology::scan(&k)?;
            let ifs = k.interface_addresses()?;
            match topo.find_match(&tid, t.kind(), &ifs) {
                Some(c) => (json!({"ok": true, "device": c.device}), true),
                None => (json!({"ok": false, "device": null}), false),
            }
        }
        Cmd::Topology => match Topology::scan(&k) {
            Ok(t) => (
                json!({"ok": true, "controllers": t.iter().map(ctrl_json).collect::<Vec<_>>()}),
                true,
            ),
            Err(e) => failed("topology", &e),
        },
        Cmd::Ctrl { device } => match k.read_controller(&device)? {
            Some(c) => (json!({"ok": true, "controller": ctrl_json(&c)}), true),
            None => (
                json!({"ok": false, "error": format!("{device} does not exist")}),
                false,
            ),
        },
        Cmd::Delete { device } => match k.delete_controller(&device) {
            Ok(()) => (json!({"ok": true, "device": device}), true),
            Err(e) => failed("delete", &e),
        },
        Cmd::Dlp { device, lsp } => {
            let opts = DlpOptions {
                lsp,
                ..DlpOptions::default()
            };
            match get_discovery_log(&k, &device, &opts) {
                Ok(log) => (
                    json!({"ok": true, "genctr": log.header.genctr, "numrec": log.header.numrec,
                           "entries": log.entries.iter().map(entry_json).collect::<Vec<_>>(),
                           "placeholders": log.placeholders,
                           "rejected": log.rejected.iter().map(|r| json!({"index": r.index, "error": r.error.to_string()})).collect::<Vec<_>>()}),
                    true,
                ),
                Err(e) => failed("dlp", &e),
            }
        }
        Cmd::Slp { device } => match supported_log_pages(&k, &device) {
            Ok(s) => (
                json!({"ok": true, "dlp": format!("{:#010x}", s.lid(0x70)), "pleo": s.pleo_supported(),
                       "dlp_options": libstas::proto::identify::dlp_options_names(s.dlp_options())}),
                true,
            ),
            Err(e) => failed("slp", &e),
        },
        Cmd::Identify { device } => match identify(&k, &device) {
            Ok(id) => (
                json!({"ok": true, "serial": id.serial, "model": id.model, "firmware": id.firmware, "cntlid": id.cntlid,
                       "cntrltype": id.cntrltype.as_str(), "dctype": id.dctype.as_str(), "subnqn": id.subnqn,
                       "disc_log_change_notices": id.disc_log_change_notices()}),
                true,
            ),
            Err(e) => failed("identify", &e),
        },
        Cmd::WaitEvent {
            device,
            kind,
            timeout,
            ready,
        } => wait_event(&device, &kind, timeout, ready.as_ref())?,
        Cmd::CompareDlp { device, json } => compare_dlp(&k, &device, &json)?,
        Cmd::CompareTopology { json } => compare_topology(&k, &json)?,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok((Value::Array(lines), ok)) => {
            // `options --names`: plain lines for shell comparisons.
            for l in lines {
                println!("{}", as_text(&l));
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok((v, ok)) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            println!("{}", json!({"ok": false, "error": format!("{e:#}")}));
            ExitCode::from(1)
        }
    }
}
