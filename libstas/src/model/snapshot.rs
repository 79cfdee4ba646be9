//! The contract between a daemon's core and its readers (the D-Bus adapter, the state file):
//! immutable snapshots the core publishes on a `tokio::sync::watch` channel, the change
//! events it broadcasts, and the commands readers may send back.
//!
//! These are plain data: no zbus, no tokio. The D-Bus layer turns them into nvme-stas's
//! string dictionaries (nvme-stas-behaviour.md §2.3). Secrets never enter a snapshot: the
//! core removes `dhchap-secret` / `dhchap-ctrl-secret` from `cfg` before publishing
//! (DECISIONS.md item 6).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::trid::TransportId;

/// A re-armable one-shot timer as nvme-stas shows it: `"60.0s [off]"` when stopped,
/// `"60.0s [12.3s]"` with the time remaining when running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerView {
    /// The timer's interval.
    pub period: Duration,
    /// Time left, when the timer is running.
    pub remaining: Option<Duration>,
}

/// A pending asynchronous operation (connect, register, get log page, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpView {
    /// Consecutive failures so far.
    pub fail_count: u32,
    /// `None` while running, `Some(true)` on success, `Some(false)` on failure.
    pub completed: Option<bool>,
    /// False once cancelled.
    pub alive: bool,
    /// The retry timer, when a retry is scheduled.
    pub retry_timer: Option<TimerView>,
    /// The last error, in words.
    pub error: Option<String>,
}

/// Where a discovery controller came from. Precedence when several sources name the same
/// controller: configured > nbft > referral > discovered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `controller=` in stafd.conf.
    Configured,
    /// The firmware's NBFT (2.x layout): a boot path, never disconnected by stafd.
    Nbft,
    /// A referral entry in another DC's log page.
    Referral,
    /// mDNS (TP8009).
    Discovered,
}

impl Origin {
    /// nvme-stas's word: `configured`, `nbft`, `referral`, `discovered`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Nbft => "nbft",
            Self::Referral => "referral",
            Self::Discovered => "discovered",
        }
    }
}

/// Aging state of an mDNS-discovered DC (nvme-stas §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnresponsiveView {
    /// `None` = forever (never purged).
    pub timeout: Option<Duration>,
    /// When the DC was last seen lost, if it is lost now.
    pub since: Option<SystemTime>,
    /// The purge timer.
    pub timer: TimerView,
}

/// Controller attributes read from sysfs (empty strings when unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtrlAttrs {
    /// Host ID the connection uses.
    pub hostid: String,
    /// Host NQN the connection uses.
    pub hostnqn: String,
    /// Model, trimmed.
    pub model: String,
    /// Serial number, trimmed.
    pub serial: String,
    /// `ddc`, `cdc`, `none` or empty.
    pub dctype: String,
    /// `discovery`, `io`, `admin` or empty.
    pub cntrltype: String,
    /// Its owner in nvme-cli 3's registry (`stas` for what stas holds), empty when unowned.
    pub owner: String,
}

/// One log page entry in nvme-stas's string-dict shape (`trtype`, `adrfam`, `traddr`, …).
pub type DlpeDict = BTreeMap<String, String>;

/// Everything published about one controller.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrlView {
    /// Identity.
    pub tid: TransportId,
    /// Extra keys of the `controller=` line (connection parameters, unknown keys); never
    /// secrets.
    pub cfg: BTreeMap<String, String>,
    /// Kernel device (`nvme3`) when connected or adopted.
    pub device: Option<String>,
    /// Whether the kernel controller is live.
    pub connected: bool,
    /// Connection attempts since the last success.
    pub connect_attempts: u32,
    /// The connect retry timer.
    pub retry_connect_timer: TimerView,
    /// The pending connect, if any.
    pub connect_op: Option<OpView>,
    /// sysfs attributes (for `details`).
    pub attrs: CtrlAttrs,
    /// Discovery-controller part (stafd); `None` for I/O controllers.
    pub dc: Option<DcPart>,
    /// I/O-controller part (stacd); `None` for discovery controllers.
    pub ioc: Option<IocPart>,
}

/// What only discovery controllers have.
#[derive(Debug, Clone, PartialEq)]
pub struct DcPart {
    /// Where it came from.
    pub origin: Origin,
    /// Aging state, for `discovered` DCs.
    pub unresponsive: Option<UnresponsiveView>,
    /// Pending DIM registration.
    pub register_op: Option<OpView>,
    /// Pending Supported Log Pages read.
    pub supported_op: Option<OpView>,
    /// Pending discovery log read.
    pub get_log_op: Option<OpView>,
    /// Cached discovery log entries (kept across kernel `remove` and restarts).
    pub log_pages: Arc<[DlpeDict]>,
    /// Not held (EPCSD and `persistent`): disconnected, its log read again periodically.
    pub parked: bool,
}

/// What only I/O controllers have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocPart {
    /// The log page entry that made stacd want this controller, if any (shared with the
    /// core: publishing a snapshot does not copy it).
    pub dlpe: Option<Arc<DlpeDict>>,
}

/// Process-wide state for `process_info`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessView {
    /// Debug logging on.
    pub tron: bool,
    /// Host NQN in use.
    pub hostnqn: String,
    /// Host ID in use.
    pub hostid: String,
    /// Whether a host key is configured (the key itself is never published).
    pub hostkey_set: bool,
    /// Symbolic name, empty when none.
    pub symname: String,
    /// Warm-restart state file.
    pub last_known_config_file: PathBuf,
    /// The reconcile debounce timer.
    pub config_soak_timer: TimerView,
    /// Kernel supports the `discovery` option (TP8013).
    pub kernel_tp8013: bool,
    /// Kernel supports `host_iface`.
    pub kernel_host_iface: bool,
    /// `[Global] ignore-iface`: D-Bus callers' TIDs are rebuilt with the same rule.
    pub ignore_iface: bool,
    /// stafd's mDNS browser (`None` in stacd).
    pub avahi: Option<AvahiView>,
    /// The configuration layout in use: `2.x` (/etc/stas) or `3.x` (/etc/nvme).
    pub config_layout: &'static str,
}

/// How often stafd tries to wake avahi-daemon while it is absent (nvme-stas's 60 s).
pub const AVAHI_WAKE_UP: Duration = Duration::from_secs(60);

/// stafd's mDNS (TP8009) browsing, for `process_info`'s `avahi` section. The default is
/// nvme-stas's fresh view: `60.0s [off]`, no service type, no service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvahiView {
    /// The timer that retries while avahi-daemon is absent.
    pub wake_up_timer: TimerView,
    /// The DNS-SD service types browsed (empty when zeroconf is disabled).
    pub service_types: Vec<String>,
    /// Every resolved announcement, by nvme-stas's key text
    /// `(<iface>, <IPv4|IPv6>, <name>.<domain>, <stype>)`.
    pub services: Vec<(String, AvahiServiceView)>,
}

impl Default for AvahiView {
    fn default() -> Self {
        Self {
            wake_up_timer: TimerView {
                period: AVAHI_WAKE_UP,
                remaining: None,
            },
            service_types: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// One resolved mDNS announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvahiServiceView {
    /// `tcp` or `rdma`.
    pub transport: String,
    /// Resolved address.
    pub traddr: String,
    /// Port.
    pub trsvcid: String,
    /// Interface it was seen on (tcp only).
    pub host_iface: String,
    /// The DC's NQN.
    pub subsysnqn: String,
    /// Whether the reachability check succeeded.
    pub reachable: bool,
}

/// A daemon's published state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Controllers, in a stable order (by TID).
    pub ctrls: Vec<CtrlView>,
    /// Process-wide state.
    pub process: ProcessView,
}

impl Snapshot {
    /// The controller whose TID equals `tid` exactly.
    #[must_use]
    pub fn find(&self, tid: &TransportId) -> Option<&CtrlView> {
        self.ctrls.iter().find(|c| &c.tid == tid)
    }
}

/// Change events the core broadcasts (turned into D-Bus signals by the adapter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// A discovery log page was read (successfully), changed or not.
    LogPagesChanged {
        /// The discovery controller.
        tid: TransportId,
        /// Its kernel device.
        device: String,
    },
    /// A reconcile pass removed at least one discovery controller.
    DcRemoved,
}

/// Commands a reader may send to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreCommand {
    /// Switch debug logging on or off (the `tron` property).
    SetTron(bool),
}
