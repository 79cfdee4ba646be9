//! Pure conversions from the core's snapshot views to nvme-stas's string dictionaries and
//! JSON texts (nvme-stas-behaviour.md §2.3): the id dict, `info()`, `details()`, the
//! `process_info` object and the `get_all_log_pages` list.
//!
//! No I/O and no zbus here: the interfaces call these on the latest snapshot. Secret-looking
//! keys are dropped from every dictionary even though the core already strips them
//! (DECISIONS.md item 6, defence in depth), and `process_info` publishes only whether a host
//! key is set, never the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::pyrepr::{asctime_utc, py_bool, py_dict_repr, seconds_number, timer_text, PyValue};
use crate::model::snapshot::{
    AvahiView, CtrlView, DlpeDict, OpView, Origin, ProcessView, Snapshot,
};

/// One `a{ss}` dictionary as it goes on the wire (sorted keys; D-Bus dicts have no order
/// that clients rely on).
pub type StrDict = BTreeMap<String, String>;

/// What `process_info` shows as `hostkey` when a host key is configured. The key itself never
/// leaves the daemon; without a key the value is `null`, as nvme-stas gives it.
pub const HOSTKEY_SET_MARKER: &str = "(set)";

/// The `device` value of a controller without a kernel device.
pub const NO_DEVICE: &str = "nvme?";

/// The EFLAGS bit "not connected to CDC" (NCC).
const EFLAGS_NCC: u64 = 1 << 2;

/// Whether a dictionary key names secret material: the DH-HMAC-CHAP secrets, TLS keys and
/// PSKs. Such keys are never published, whatever a view carries.
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("secret") || k.contains("psk") || k.ends_with("key")
}

fn put(d: &mut StrDict, k: &str, v: impl Into<String>) {
    d.insert(k.to_owned(), v.into());
}

/// nvme-stas's `controller_id_dict()`: the seven TID keys, the extra keys of the
/// `controller=` line (secrets removed), and `device` (`nvmeN` or `nvme?`).
#[must_use]
pub fn id_dict(c: &CtrlView) -> StrDict {
    let mut d: StrDict = c
        .cfg
        .iter()
        .filter(|(k, _)| !is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in c.tid.fields() {
        put(&mut d, k, v);
    }
    // nvme-stas 3.0's name of the host NQN, next to 2.x's (DECISIONS.md item 21).
    put(&mut d, "hostnqn", c.tid.host_nqn.as_str());
    put(&mut d, "device", c.device.as_deref().unwrap_or(NO_DEVICE));
    // stas's extension: the kernel controller's owner in nvme-cli 3's registry.
    put(&mut d, "owner", c.attrs.owner.as_str());
    d
}

/// nvme-stas's `AsyncTask.as_dict()` as `str()` shows it:
/// `{'fail count': 0, 'completed': False, 'alive': True}` plus `retry timer` and `error`.
#[must_use]
pub fn op_text(op: &OpView) -> String {
    let retry = op.retry_timer.as_ref().map(timer_text);
    let mut items = vec![
        ("fail count", PyValue::Int(u64::from(op.fail_count))),
        (
            "completed",
            op.completed.map_or(PyValue::None, PyValue::Bool),
        ),
        ("alive", PyValue::Bool(op.alive)),
    ];
    if let Some(r) = retry.as_deref() {
        items.push(("retry timer", PyValue::Str(r)));
    }
    if let Some(e) = op.error.as_deref() {
        items.push(("error", PyValue::Str(e)));
    }
    py_dict_repr(items)
}

/// `"<n> sec"`, or `"forever"` when discovered controllers are never purged.
fn unresponsive_timeout_text(timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) => format!("{} sec", seconds_number(t)),
        None => "forever".to_owned(),
    }
}

/// nvme-stas's `info()`: the id dict plus `connect attempts`, `retry connect timer`, the
/// pending operations, and for a discovery controller its `origin` (with the aging state of
/// an mDNS-discovered one).
#[must_use]
pub fn info(c: &CtrlView) -> StrDict {
    let mut d = id_dict(c);
    put(&mut d, "connect attempts", c.connect_attempts.to_string());
    put(
        &mut d,
        "retry connect timer",
        timer_text(&c.retry_connect_timer),
    );
    if let Some(op) = &c.connect_op {
        put(&mut d, "connect operation", op_text(op));
    }
    if let Some(dc) = &c.dc {
        put(&mut d, "origin", dc.origin.as_str());
        // stas's extension: the DC is not held (EPCSD, `persistent`) and is polled.
        if dc.parked {
            put(&mut d, "parked", py_bool(true));
        }
        if let (Origin::Discovered, Some(u)) = (dc.origin, &dc.unresponsive) {
            put(&mut d, "unresponsive timer", timer_text(&u.timer));
            put(
                &mut d,
                "unresponsive timeout",
                unresponsive_timeout_text(u.timeout),
            );
            put(
                &mut d,
                "unresponsive time",
                u.since.map_or_else(|| "---".to_owned(), asctime_utc),
            );
        }
        for (key, op) in [
            ("get log page operation", &dc.get_log_op),
            ("register operation", &dc.register_op),
            ("get supported log page operation", &dc.supported_op),
        ] {
            if let Some(op) = op {
                put(&mut d, key, op_text(op));
            }
        }
    }
    d
}

/// A sysfs attribute as nvme-stas reads it: `(efault)` means unreadable, shown as `''`.
fn attr(v: &str) -> &str {
    if v == "(efault)" {
        ""
    } else {
        v
    }
}

/// nvme-stas's `details()`: `info()` plus the sysfs attributes `hostid, hostnqn, model,
/// serial, dctype, cntrltype` and `connected`; an I/O controller adds `dlpe` (the Python
/// `str()` of its log page entry, `None` without one) and `dlpe.eflags.ncc`.
#[must_use]
pub fn details(c: &CtrlView) -> StrDict {
    let mut d = info(c);
    let a = &c.attrs;
    for (k, v) in [
        ("hostid", &a.hostid),
        ("hostnqn", &a.hostnqn),
        ("model", &a.model),
        ("serial", &a.serial),
        ("dctype", &a.dctype),
        ("cntrltype", &a.cntrltype),
    ] {
        put(&mut d, k, attr(v));
    }
    put(&mut d, "connected", py_bool(c.connected));
    if let Some(ioc) = &c.ioc {
        put(&mut d, "dlpe", dlpe_text(ioc.dlpe.as_deref()));
        put(&mut d, "dlpe.eflags.ncc", py_bool(ncc(ioc.dlpe.as_deref())));
    }
    d
}

/// The id dict, or `details()` when `detailed` (what `list_controllers(detailed)` returns).
#[must_use]
pub fn controller_dict(c: &CtrlView, detailed: bool) -> StrDict {
    if detailed {
        details(c)
    } else {
        id_dict(c)
    }
}

/// `list_controllers(detailed)`: one dictionary per controller, in snapshot order.
#[must_use]
pub fn list_controllers(s: &Snapshot, detailed: bool) -> Vec<StrDict> {
    s.ctrls
        .iter()
        .map(|c| controller_dict(c, detailed))
        .collect()
}

/// A log page entry with secret-looking keys removed (entries carry none; defence in depth).
fn clean_dlpe(e: &DlpeDict) -> StrDict {
    e.iter()
        .filter(|(k, _)| !is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The cached log page entries of a discovery controller; `[]` for anything else.
#[must_use]
pub fn log_pages(c: &CtrlView) -> Vec<StrDict> {
    c.dc.as_ref()
        .map(|dc| dc.log_pages.iter().map(clean_dlpe).collect())
        .unwrap_or_default()
}

/// Python `str()` of a log page entry dict, or `None`.
fn dlpe_text(dlpe: Option<&DlpeDict>) -> String {
    match dlpe {
        None => "None".to_owned(),
        Some(e) => py_dict_repr(
            e.iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k.as_str(), PyValue::Str(v))),
        ),
    }
}

/// nvme-stas's `get_ncc(get_eflags(dlpe))`: the NCC bit of the entry's `eflags`.
fn ncc(dlpe: Option<&DlpeDict>) -> bool {
    dlpe.and_then(|e| e.get("eflags"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|f| f & EFLAGS_NCC != 0)
}

/// The `process_info` JSON object (§2.3), in nvme-stas's key order.
#[derive(Debug, Serialize)]
struct ProcessInfo<'a> {
    tron: bool,
    #[serde(rename = "log-level")]
    log_level: &'static str,
    hostnqn: &'a str,
    hostid: &'a str,
    hostkey: Option<&'static str>,
    symname: Option<&'a str>,
    #[serde(rename = "last known config file")]
    last_known_config_file: String,
    #[serde(rename = "config soak timer")]
    config_soak_timer: String,
    #[serde(rename = "kernel support.TP8013")]
    kernel_tp8013: &'static str,
    #[serde(rename = "kernel support.host_iface")]
    kernel_host_iface: &'static str,
    #[serde(rename = "configuration layout")]
    config_layout: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    avahi: Option<AvahiInfo>,
}

/// stafd's `avahi` section of `process_info`.
#[derive(Debug, Serialize)]
struct AvahiInfo {
    #[serde(rename = "avahi wake up timer")]
    wake_up_timer: String,
    #[serde(rename = "service types")]
    service_types: Vec<String>,
    services: BTreeMap<String, StrDict>,
}

fn avahi_info(v: &AvahiView) -> AvahiInfo {
    AvahiInfo {
        wake_up_timer: timer_text(&v.wake_up_timer),
        service_types: v.service_types.clone(),
        services: v
            .services
            .iter()
            .map(|(k, s)| {
                let mut d = StrDict::new();
                put(&mut d, "transport", &*s.transport);
                put(&mut d, "traddr", &*s.traddr);
                put(&mut d, "trsvcid", &*s.trsvcid);
                put(&mut d, "host-iface", &*s.host_iface);
                put(&mut d, "subsysnqn", &*s.subsysnqn);
                put(&mut d, "reachable", py_bool(s.reachable));
                (k.clone(), d)
            })
            .collect(),
    }
}

/// The `log_level` property: Python's level name, `DEBUG` with tron, `INFO` without.
#[must_use]
pub fn log_level(tron: bool) -> &'static str {
    if tron {
        "DEBUG"
    } else {
        "INFO"
    }
}

/// `process_info()`: a JSON object. `hostkey` is `"(set)"` when a host key is configured and
/// `null` otherwise (the key never appears); `symname` is `null` when unset, as in nvme-stas.
///
/// # Errors
/// Serialization failure (not expected: every value is a string or a boolean).
pub fn process_info(p: &ProcessView) -> Result<String, serde_json::Error> {
    serde_json::to_string(&ProcessInfo {
        tron: p.tron,
        log_level: log_level(p.tron),
        hostnqn: &p.hostnqn,
        hostid: &p.hostid,
        hostkey: p.hostkey_set.then_some(HOSTKEY_SET_MARKER),
        symname: Some(p.symname.as_str()).filter(|s| !s.is_empty()),
        last_known_config_file: p.last_known_config_file.display().to_string(),
        config_soak_timer: timer_text(&p.config_soak_timer),
        kernel_tp8013: py_bool(p.kernel_tp8013),
        kernel_host_iface: py_bool(p.kernel_host_iface),
        config_layout: p.config_layout,
        avahi: p.avahi.as_ref().map(avahi_info),
    })
}

/// `controller_info()`: the JSON of `info()` for `c`, or `{}` without a controller.
///
/// # Errors
/// Serialization failure (not expected).
pub fn controller_info(c: Option<&CtrlView>) -> Result<String, serde_json::Error> {
    match c {
        Some(c) => serde_json::to_string(&info(c)),
        None => Ok("{}".to_owned()),
    }
}

/// One element of `get_all_log_pages`.
#[derive(Debug, Serialize)]
struct DcLogPages {
    #[serde(rename = "discovery-controller")]
    dc: StrDict,
    #[serde(rename = "log-pages")]
    pages: Vec<StrDict>,
}

/// `get_all_log_pages(detailed)`: a JSON list with one
/// `{"discovery-controller": <id dict or details>, "log-pages": [<dlpe>, …]}` per discovery
/// controller.
///
/// # Errors
/// Serialization failure (not expected).
pub fn all_log_pages(s: &Snapshot, detailed: bool) -> Result<String, serde_json::Error> {
    let list: Vec<DcLogPages> = s
        .ctrls
        .iter()
        .filter(|c| c.dc.is_some())
        .map(|c| DcLogPages {
            dc: controller_dict(c, detailed),
            pages: log_pages(c),
        })
        .collect();
    serde_json::to_string(&list)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::model::snapshot::{CtrlAttrs, DcPart, IocPart, TimerView, UnresponsiveView};
    use crate::model::trid::TransportId;

    const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";

    fn strs(pairs: &[(&str, &str)]) -> StrDict {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn tid() -> TransportId {
        TransportId {
            transport: "tcp".into(),
            traddr: "192.168.1.10".into(),
            trsvcid: "8009".into(),
            subsysnqn: "nqn.2014-08.org.nvmexpress.discovery".into(),
            host_traddr: String::new(),
            host_iface: "eth0".into(),
            host_nqn: HOSTNQN.into(),
        }
    }

    fn dlpe() -> DlpeDict {
        strs(&[
            ("trtype", "tcp"),
            ("adrfam", "ipv4"),
            ("traddr", "192.168.1.20"),
            ("trsvcid", "4420"),
            ("subnqn", "nqn.1988-11.com.example:sub1"),
            ("subtype", "nvme"),
            ("treq", "not specified"),
            ("tsas", "{'sectype': 'none'}"),
            ("portid", "1"),
            ("cntlid", "65535"),
            ("asqsz", "32"),
            ("eflags", "4"),
        ])
    }

    /// A fresh, unconnected discovery controller as nvme-stas shows it after construction.
    pub(crate) fn fresh_dc() -> CtrlView {
        CtrlView {
            tid: tid(),
            cfg: strs(&[("kato", "30"), ("dhchap-secret", "DHHC-1:00:c2VjcmV0:")]),
            device: None,
            connected: false,
            connect_attempts: 1,
            retry_connect_timer: TimerView {
                period: Duration::from_secs(60),
                remaining: None,
            },
            connect_op: Some(OpView {
                fail_count: 0,
                completed: Some(false),
                alive: true,
                retry_timer: None,
                error: None,
            }),
            attrs: CtrlAttrs::default(),
            dc: Some(DcPart {
                origin: Origin::Configured,
                unresponsive: None,
                register_op: None,
                supported_op: None,
                get_log_op: None,
                log_pages: Arc::from(vec![dlpe()]),
                parked: false,
            }),
            ioc: None,
        }
    }

    pub(crate) fn process() -> ProcessView {
        ProcessView {
            tron: false,
            hostnqn: HOSTNQN.into(),
            hostid: "e2dd6d3b-2a42-46c4-b116-261ddf5b0683".into(),
            hostkey_set: true,
            symname: "host-1".into(),
            last_known_config_file: PathBuf::from("/run/stafd/last-known-config.toml"),
            config_soak_timer: TimerView {
                period: Duration::from_millis(1500),
                remaining: None,
            },
            kernel_tp8013: true,
            kernel_host_iface: false,
            ignore_iface: false,
            avahi: None,
            config_layout: "3.x",
        }
    }

    fn id_keys() -> Vec<&'static str> {
        vec![
            "device",
            "host-iface",
            "host-nqn",
            "host-traddr",
            "hostnqn",
            "kato",
            "owner",
            "subsysnqn",
            "traddr",
            "transport",
            "trsvcid",
        ]
    }

    #[test]
    fn id_dict_golden() {
        let d = id_dict(&fresh_dc());
        assert_eq!(
            d,
            strs(&[
                ("transport", "tcp"),
                ("traddr", "192.168.1.10"),
                ("trsvcid", "8009"),
                ("subsysnqn", "nqn.2014-08.org.nvmexpress.discovery"),
                ("host-traddr", ""),
                ("host-iface", "eth0"),
                ("host-nqn", HOSTNQN),
                ("hostnqn", HOSTNQN),
                ("kato", "30"),
                ("device", "nvme?"),
                ("owner", ""),
            ])
        );
    }

    #[test]
    fn secrets_never_appear() {
        let mut c = fresh_dc();
        c.cfg
            .insert("dhchap-ctrl-secret".into(), "DHHC-1:01:eA==:".into());
        c.cfg.insert("tls-key".into(), "NVMeTLSkey-1:01:x:".into());
        c.cfg.insert("tls_key".into(), "x".into());
        c.cfg.insert("keyring".into(), ".nvme".into());
        c.ioc = Some(IocPart {
            dlpe: Some(Arc::new(dlpe())),
        });
        for d in [id_dict(&c), info(&c), details(&c)] {
            for k in d.keys() {
                assert!(!is_secret_key(k), "{k} published");
            }
            assert!(d
                .values()
                .all(|v| !v.contains("DHHC-1") && !v.contains("NVMeTLSkey")));
            assert_eq!(d["keyring"], ".nvme");
        }
        let s = Snapshot {
            ctrls: vec![c],
            process: process(),
        };
        let all = all_log_pages(&s, true).unwrap();
        assert!(!all.contains("DHHC-1") && !all.contains("secret"), "{all}");
    }

    #[test]
    fn info_golden_fresh_controller() {
        // test-controller.py: 'connect attempts': '1', 'retry connect timer': '60.0s [off]',
        // 'connect operation': "{'fail count': 0, 'completed': False, 'alive': True}".
        let d = info(&fresh_dc());
        let mut keys = id_keys();
        keys.extend([
            "connect attempts",
            "connect operation",
            "origin",
            "retry connect timer",
        ]);
        keys.sort_unstable();
        assert_eq!(d.keys().map(String::as_str).collect::<Vec<_>>(), keys);
        assert_eq!(d["connect attempts"], "1");
        assert_eq!(d["retry connect timer"], "60.0s [off]");
        assert_eq!(
            d["connect operation"],
            "{'fail count': 0, 'completed': False, 'alive': True}"
        );
        assert_eq!(d["origin"], "configured");
    }

    #[test]
    fn info_of_a_discovered_dc_with_pending_ops() {
        let mut c = fresh_dc();
        c.device = Some("nvme3".into());
        c.connect_op = None;
        c.retry_connect_timer.remaining = Some(Duration::from_millis(12_300));
        let dc = c.dc.as_mut().unwrap();
        dc.origin = Origin::Discovered;
        dc.unresponsive = Some(UnresponsiveView {
            timeout: Some(Duration::from_secs(259_200)),
            since: Some(UNIX_EPOCH + Duration::from_secs(1_644_327_625)),
            timer: TimerView {
                period: Duration::from_secs(259_200),
                remaining: Some(Duration::from_secs(100)),
            },
        });
        dc.get_log_op = Some(OpView {
            fail_count: 2,
            completed: None,
            alive: true,
            retry_timer: Some(TimerView {
                period: Duration::from_secs(20),
                remaining: Some(Duration::from_micros(3_500_000)),
            }),
            error: Some("Connection refused".into()),
        });
        dc.register_op = Some(OpView {
            fail_count: 0,
            completed: Some(true),
            alive: false,
            retry_timer: None,
            error: None,
        });
        let d = info(&c);
        assert_eq!(d["device"], "nvme3");
        assert!(!d.contains_key("connect operation"));
        assert_eq!(d["retry connect timer"], "60.0s [12.3s]");
        assert_eq!(d["origin"], "discovered");
        assert_eq!(d["unresponsive timer"], "259200.0s [100.0s]");
        assert_eq!(d["unresponsive timeout"], "259200 sec");
        assert_eq!(d["unresponsive time"], "Tue Feb  8 13:40:25 2022 UTC");
        assert_eq!(
            d["get log page operation"],
            "{'fail count': 2, 'completed': None, 'alive': True, \
             'retry timer': '20.0s [3.5s]', 'error': 'Connection refused'}"
        );
        assert_eq!(
            d["register operation"],
            "{'fail count': 0, 'completed': True, 'alive': False}"
        );
        assert!(!d.contains_key("get supported log page operation"));

        let dc = c.dc.as_mut().unwrap();
        dc.unresponsive = Some(UnresponsiveView {
            timeout: None,
            since: None,
            timer: TimerView {
                period: Duration::ZERO,
                remaining: None,
            },
        });
        let d = info(&c);
        assert_eq!(d["unresponsive timeout"], "forever");
        assert_eq!(d["unresponsive time"], "---");
        assert_eq!(d["unresponsive timer"], "0.0s [off]");

        // Only discovered DCs show the aging state.
        c.dc.as_mut().unwrap().origin = Origin::Referral;
        let d = info(&c);
        assert_eq!(d["origin"], "referral");
        assert!(!d.contains_key("unresponsive timer"));
    }

    #[test]
    fn details_golden() {
        let mut c = fresh_dc();
        c.attrs.model = "(efault)".into();
        c.attrs.dctype = "cdc".into();
        let d = details(&c);
        for k in ["hostid", "hostnqn", "model", "serial", "cntrltype"] {
            assert_eq!(d[k], "", "{k}");
        }
        assert_eq!(d["dctype"], "cdc");
        assert_eq!(d["connected"], "False");
        assert!(!d.contains_key("dlpe"));
        // Seven kernel attributes; `hostnqn` is also in the id dict (3.0's name of the TID's
        // host NQN), and details shows the kernel's, as nvme-stas 2.x does.
        assert_eq!(d.len(), info(&c).len() + 6);

        c.connected = true;
        assert_eq!(details(&c)["connected"], "True");
    }

    #[test]
    fn ioc_details_show_the_dlpe() {
        let mut c = fresh_dc();
        c.dc = None;
        c.ioc = Some(IocPart {
            dlpe: Some(Arc::new(dlpe())),
        });
        let d = details(&c);
        assert!(!d.contains_key("origin"));
        assert_eq!(
            d["dlpe"],
            "{'adrfam': 'ipv4', 'asqsz': '32', 'cntlid': '65535', 'eflags': '4', \
             'portid': '1', 'subnqn': 'nqn.1988-11.com.example:sub1', 'subtype': 'nvme', \
             'traddr': '192.168.1.20', 'treq': 'not specified', \
             'trsvcid': '4420', 'trtype': 'tcp', 'tsas': \"{'sectype': 'none'}\"}"
        );
        assert_eq!(d["dlpe.eflags.ncc"], "True");

        c.ioc = Some(IocPart {
            dlpe: Some(Arc::new(strs(&[("eflags", "3")]))),
        });
        assert_eq!(details(&c)["dlpe.eflags.ncc"], "False");
        c.ioc = Some(IocPart { dlpe: None });
        let d = details(&c);
        assert_eq!(d["dlpe"], "None");
        assert_eq!(d["dlpe.eflags.ncc"], "False");
        assert!(log_pages(&c).is_empty());
    }

    #[test]
    fn process_info_golden() {
        let json = process_info(&process()).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"tron":false,"log-level":"INFO","#,
                r#""hostnqn":"nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683","#,
                r#""hostid":"e2dd6d3b-2a42-46c4-b116-261ddf5b0683","hostkey":"(set)","#,
                r#""symname":"host-1","last known config file":"/run/stafd/last-known-config.toml","#,
                r#""config soak timer":"1.5s [off]","kernel support.TP8013":"True","#,
                r#""kernel support.host_iface":"False","configuration layout":"3.x"}"#
            )
        );
        let mut p = process();
        p.tron = true;
        p.hostkey_set = false;
        p.symname = String::new();
        let v: serde_json::Value = serde_json::from_str(&process_info(&p).unwrap()).unwrap();
        assert_eq!(v["tron"], true);
        assert_eq!(v["log-level"], "DEBUG");
        assert_eq!(
            v["hostkey"],
            serde_json::Value::Null,
            "unset: null, as nvme-stas"
        );
        assert_eq!(
            v["symname"],
            serde_json::Value::Null,
            "unset: null, as nvme-stas"
        );
        assert!(v.as_object().unwrap().contains_key("symname"));
    }

    #[test]
    fn process_info_avahi_section() {
        use crate::model::snapshot::{AvahiServiceView, AvahiView};
        let mut p = process();
        p.avahi = Some(AvahiView {
            wake_up_timer: TimerView {
                period: Duration::from_secs(60),
                remaining: Some(Duration::from_millis(12_300)),
            },
            service_types: vec!["_nvme-disc._tcp".into(), "_nvme-disc._udp".into()],
            services: vec![(
                "(h0, IPv4, dc.local, _nvme-disc._tcp)".into(),
                AvahiServiceView {
                    transport: "tcp".into(),
                    traddr: "192.0.2.2".into(),
                    trsvcid: "8009".into(),
                    host_iface: "h0".into(),
                    subsysnqn: "nqn.2014-08.org.nvmexpress.discovery".into(),
                    reachable: true,
                },
            )],
        });
        let v: serde_json::Value = serde_json::from_str(&process_info(&p).unwrap()).unwrap();
        assert_eq!(
            v["avahi"],
            serde_json::json!({
                "avahi wake up timer": "60.0s [12.3s]",
                "service types": ["_nvme-disc._tcp", "_nvme-disc._udp"],
                "services": {"(h0, IPv4, dc.local, _nvme-disc._tcp)": {
                    "transport": "tcp", "traddr": "192.0.2.2", "trsvcid": "8009",
                    "host-iface": "h0", "subsysnqn": "nqn.2014-08.org.nvmexpress.discovery",
                    "reachable": "True"}}
            })
        );
    }

    /// Before the mDNS browser reports (or with zeroconf disabled), the avahi section is
    /// nvme-stas's fresh one: the timer's period shows, off.
    #[test]
    fn process_info_fresh_avahi_section() {
        let mut p = process();
        p.avahi = Some(AvahiView::default());
        let v: serde_json::Value = serde_json::from_str(&process_info(&p).unwrap()).unwrap();
        assert_eq!(
            v["avahi"],
            serde_json::json!({"avahi wake up timer": "60.0s [off]", "service types": [], "services": {}})
        );
    }

    #[test]
    fn controller_info_json() {
        assert_eq!(controller_info(None).unwrap(), "{}");
        let c = fresh_dc();
        let v: StrDict = serde_json::from_str(&controller_info(Some(&c)).unwrap()).unwrap();
        assert_eq!(v, info(&c));
    }

    #[test]
    fn all_log_pages_golden() {
        let mut ioc = fresh_dc();
        ioc.dc = None;
        ioc.ioc = Some(IocPart { dlpe: None });
        let s = Snapshot {
            ctrls: vec![fresh_dc(), ioc],
            process: process(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&all_log_pages(&s, false).unwrap()).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), 1, "only discovery controllers");
        let dc: StrDict = serde_json::from_value(list[0]["discovery-controller"].clone()).unwrap();
        assert_eq!(dc, id_dict(&fresh_dc()));
        let pages: Vec<StrDict> = serde_json::from_value(list[0]["log-pages"].clone()).unwrap();
        assert_eq!(pages, vec![dlpe()]);

        let v: serde_json::Value = serde_json::from_str(&all_log_pages(&s, true).unwrap()).unwrap();
        let dc: StrDict = serde_json::from_value(v[0]["discovery-controller"].clone()).unwrap();
        assert_eq!(dc, details(&fresh_dc()));

        let empty = Snapshot {
            ctrls: vec![],
            process: process(),
        };
        assert_eq!(all_log_pages(&empty, true).unwrap(), "[]");
    }

    #[test]
    fn list_controllers_both_ways() {
        let s = Snapshot {
            ctrls: vec![fresh_dc()],
            process: process(),
        };
        assert_eq!(list_controllers(&s, false), vec![id_dict(&fresh_dc())]);
        assert_eq!(list_controllers(&s, true), vec![details(&fresh_dc())]);
    }
}
