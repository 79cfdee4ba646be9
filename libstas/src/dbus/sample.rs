//! Fixed, self-consistent snapshots for exercising the D-Bus layer without a kernel: the
//! golden introspection test, the private-bus integration tests and the CLI tests serve
//! these.
//!
//! They deliberately carry a `dhchap-secret` in a controller's `cfg` (which the core never
//! publishes) so tests can prove the adapter filters secrets on its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::model::snapshot::{
    CtrlAttrs, CtrlView, DcPart, DlpeDict, IocPart, OpView, Origin, ProcessView, Snapshot,
    TimerView, UnresponsiveView,
};
use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};

/// The host NQN of the samples.
pub const HOSTNQN: &str = "nqn.2014-08.org.nvmexpress:uuid:e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
/// The host ID of the samples.
pub const HOSTID: &str = "e2dd6d3b-2a42-46c4-b116-261ddf5b0683";
/// A secret that the samples carry and no output may show.
pub const SECRET: &str = "DHHC-1:00:VGhpcyBpcyBhIHNlY3JldCBrZXkgZm9yIHRlc3RzIQ==:";

fn dict(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn timer(secs: u64, remaining_ms: Option<u64>) -> TimerView {
    TimerView {
        period: Duration::from_secs(secs),
        remaining: remaining_ms.map(Duration::from_millis),
    }
}

/// The TID of the sample's configured, connected discovery controller.
#[must_use]
pub fn configured_dc_tid() -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: "192.168.56.10".into(),
        trsvcid: "8009".into(),
        subsysnqn: WELL_KNOWN_DISC_NQN.into(),
        host_traddr: String::new(),
        host_iface: "eth0".into(),
        host_nqn: HOSTNQN.into(),
    }
}

/// The TID of the sample's mDNS-discovered, unreachable discovery controller.
#[must_use]
pub fn discovered_dc_tid() -> TransportId {
    TransportId {
        transport: "tcp".into(),
        traddr: "fe80::1".into(),
        trsvcid: "8009".into(),
        subsysnqn: "nqn.1988-11.com.example:cdc".into(),
        host_traddr: String::new(),
        host_iface: "eth1".into(),
        host_nqn: HOSTNQN.into(),
    }
}

/// The log page entries of the configured discovery controller: one NVM subsystem, one
/// referral.
#[must_use]
pub fn log_pages() -> Vec<DlpeDict> {
    vec![
        dict(&[
            ("trtype", "tcp"),
            ("adrfam", "ipv4"),
            ("traddr", "192.168.56.20"),
            ("trsvcid", "4420"),
            ("subnqn", "nqn.1988-11.com.example:subsys1"),
            ("subtype", "nvme"),
            ("treq", "not specified"),
            ("tsas", "{'sectype': 'none'}"),
            ("portid", "1"),
            ("cntlid", "65535"),
            ("asqsz", "32"),
            ("eflags", "0"),
        ]),
        dict(&[
            ("trtype", "tcp"),
            ("adrfam", "ipv4"),
            ("traddr", "192.168.56.11"),
            ("trsvcid", "8009"),
            ("subnqn", WELL_KNOWN_DISC_NQN),
            ("subtype", "referral"),
            ("treq", "not specified"),
            ("tsas", "{'sectype': 'none'}"),
            ("portid", "2"),
            ("cntlid", "65535"),
            ("asqsz", "32"),
            ("eflags", "0"),
        ]),
    ]
}

/// The process part: tron off, a host key configured, ignore-iface off.
#[must_use]
pub fn process(daemon: &str) -> ProcessView {
    ProcessView {
        tron: false,
        hostnqn: HOSTNQN.into(),
        hostid: HOSTID.into(),
        hostkey_set: true,
        symname: "sample-host".into(),
        last_known_config_file: PathBuf::from(format!("/run/{daemon}/last-known-config.toml")),
        config_soak_timer: TimerView {
            period: Duration::from_millis(1500),
            remaining: None,
        },
        kernel_tp8013: true,
        kernel_host_iface: true,
        ignore_iface: false,
        avahi: None,
        config_layout: "2.x",
    }
}

/// stafd's sample: a configured DC connected as `nvme0` with two log page entries, and a
/// discovered DC that is not responding (connect pending, aging timer running).
#[must_use]
pub fn staf_snapshot() -> Snapshot {
    let configured = CtrlView {
        tid: configured_dc_tid(),
        cfg: dict(&[("kato", "30"), ("dhchap-secret", SECRET)]),
        device: Some("nvme0".into()),
        connected: true,
        connect_attempts: 0,
        retry_connect_timer: timer(60, None),
        connect_op: None,
        attrs: CtrlAttrs {
            hostid: HOSTID.into(),
            hostnqn: HOSTNQN.into(),
            model: "Linux".into(),
            serial: "0123456789abcdef".into(),
            dctype: "cdc".into(),
            cntrltype: "discovery".into(),
            owner: "stas".into(),
        },
        dc: Some(DcPart {
            origin: Origin::Configured,
            unresponsive: None,
            register_op: None,
            supported_op: None,
            get_log_op: Some(OpView {
                fail_count: 0,
                completed: Some(true),
                alive: true,
                retry_timer: None,
                error: None,
            }),
            log_pages: Arc::from(log_pages()),
            parked: false,
        }),
        ioc: None,
    };
    let discovered = CtrlView {
        tid: discovered_dc_tid(),
        cfg: BTreeMap::new(),
        device: None,
        connected: false,
        connect_attempts: 3,
        retry_connect_timer: timer(60, Some(12_300)),
        connect_op: Some(OpView {
            fail_count: 3,
            completed: Some(false),
            alive: true,
            retry_timer: None,
            error: Some("Connection refused".into()),
        }),
        attrs: CtrlAttrs::default(),
        dc: Some(DcPart {
            origin: Origin::Discovered,
            unresponsive: Some(UnresponsiveView {
                timeout: Some(Duration::from_secs(259_200)),
                since: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
                timer: timer(259_200, Some(100_000)),
            }),
            register_op: None,
            supported_op: None,
            get_log_op: None,
            log_pages: Arc::from(Vec::<DlpeDict>::new()),
            parked: false,
        }),
        ioc: None,
    };
    Snapshot {
        ctrls: vec![configured, discovered],
        process: process("stafd"),
    }
}

/// stacd's sample: one I/O controller from the configured DC's log page, connected as
/// `nvme1`.
#[must_use]
pub fn stac_snapshot() -> Snapshot {
    let dlpe = log_pages().swap_remove(0);
    let ioc = CtrlView {
        tid: TransportId {
            transport: "tcp".into(),
            traddr: "192.168.56.20".into(),
            trsvcid: "4420".into(),
            subsysnqn: "nqn.1988-11.com.example:subsys1".into(),
            host_traddr: String::new(),
            host_iface: "eth0".into(),
            host_nqn: HOSTNQN.into(),
        },
        cfg: dict(&[("dhchap-ctrl-secret", SECRET)]),
        device: Some("nvme1".into()),
        connected: true,
        connect_attempts: 0,
        retry_connect_timer: timer(60, None),
        connect_op: None,
        attrs: CtrlAttrs {
            hostid: HOSTID.into(),
            hostnqn: HOSTNQN.into(),
            model: "Linux".into(),
            serial: "fedcba9876543210".into(),
            dctype: String::new(),
            cntrltype: "io".into(),
            owner: "stas".into(),
        },
        dc: None,
        ioc: Some(IocPart {
            dlpe: Some(Arc::new(dlpe)),
        }),
    };
    Snapshot {
        ctrls: vec![ioc],
        process: process("stacd"),
    }
}
