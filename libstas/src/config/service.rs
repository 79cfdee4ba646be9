//! `stafd.conf` and `stacd.conf`: the per-daemon option tables, defaults, value checks,
//! deprecated aliases and the controller lists (nvme-stas-behaviour.md §1.4–1.7).
//!
//! Every value goes raw text → checked → typed. A value that fails a check is a
//! [`Diagnostic`](super::Diagnostic) naming file and line, and the option keeps its default
//! (DECISIONS.md item 2). A per-controller override that fails its check inherits the
//! `[Global]` value of the file (item 5).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::controller::{parse_controller, CtrlDict, PARAM_KEYS, TLS_KEY};
use super::ini::{Diagnostics, Ini, ValueLine};
pub use super::layout::Layout;
use super::timeparse::{systemd_timespan, timeparse};
use crate::kernel::fabrics::parse_key_serial;
use crate::model::filter::{ExcludePattern, IpFamily};
use crate::model::trid::{Transport, TID_KEYS};

/// Which daemon a configuration is for: decides which options are legal and their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// The discovery daemon (stafd.conf).
    Stafd,
    /// The connection daemon (stacd.conf).
    Stacd,
}

impl Daemon {
    /// `stafd` or `stacd`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Stafd => "stafd",
            Self::Stacd => "stacd",
        }
    }
}

/// Section names.
pub mod sections {
    /// `[Global]`
    pub const GLOBAL: &str = "Global";
    /// `[Service Discovery]` (stafd)
    pub const SERVICE_DISCOVERY: &str = "Service Discovery";
    /// `[Discovery controller connection management]` (stafd)
    pub const DC_MGMT: &str = "Discovery controller connection management";
    /// `[I/O controller connection management]` (stacd)
    pub const IOC_MGMT: &str = "I/O controller connection management";
    /// `[Controllers]`
    pub const CONTROLLERS: &str = "Controllers";
}
use sections::{CONTROLLERS, DC_MGMT, GLOBAL, IOC_MGMT, SERVICE_DISCOVERY};

/// The legal (section, option) pairs of each daemon in each layout (documented in
/// [`super::doc`]).
#[must_use]
pub fn legal(daemon: Daemon, layout: Layout) -> &'static [(&'static str, &'static [&'static str])] {
    match (daemon, layout) {
        (Daemon::Stafd, Layout::Stas3) => &[
            (GLOBAL, &["tron", "ignore-iface", "ip-family", "pleo"]),
            (SERVICE_DISCOVERY, &["zeroconf"]),
            (
                DC_MGMT,
                &["epcsd-poll-interval-minutes", "dc-giveup-timeout"],
            ),
        ],
        (Daemon::Stacd, Layout::Stas3) => &[
            (GLOBAL, &["tron", "ignore-iface", "ip-family"]),
            (
                IOC_MGMT,
                &["honor-fabric-zoning", "connect-attempts-on-ncc"],
            ),
        ],
        (Daemon::Stafd, Layout::Stas2) => &[
            (
                GLOBAL,
                &[
                    "tron",
                    "hdr-digest",
                    "data-digest",
                    "kato",
                    "queue-size",
                    "reconnect-delay",
                    "ctrl-loss-tmo",
                    "disable-sqflow",
                    "ignore-iface",
                    "ip-family",
                    "pleo",
                    "persistent-connections",
                    "tls",
                    "keyring",
                ],
            ),
            (SERVICE_DISCOVERY, &["zeroconf"]),
            (
                DC_MGMT,
                &[
                    "persistent-connections",
                    "zeroconf-connections-persistence",
                    "persistent",
                    "epcsd-poll-interval-minutes",
                ],
            ),
            (CONTROLLERS, &["controller", "exclude", "blacklist"]),
        ],
        (Daemon::Stacd, Layout::Stas2) => &[
            (
                GLOBAL,
                &[
                    "tron",
                    "hdr-digest",
                    "data-digest",
                    "kato",
                    "queue-size",
                    "nr-io-queues",
                    "nr-write-queues",
                    "nr-poll-queues",
                    "reconnect-delay",
                    "ctrl-loss-tmo",
                    "disable-sqflow",
                    "ignore-iface",
                    "ip-family",
                    "tls",
                    "keyring",
                ],
            ),
            (
                IOC_MGMT,
                &[
                    "disconnect-scope",
                    "disconnect-trtypes",
                    "connect-attempts-on-ncc",
                ],
            ),
            (CONTROLLERS, &["controller", "exclude", "blacklist"]),
        ],
    }
}

/// Connection parameters: the `[Global]` values and the per-controller overrides.
/// `None` means "not set": the kernel's own default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectParams {
    /// TCP header digest.
    pub hdr_digest: Option<bool>,
    /// TCP data digest.
    pub data_digest: Option<bool>,
    /// Keep-alive timeout, seconds.
    pub kato: Option<u32>,
    /// I/O queue depth (16..=1024).
    pub queue_size: Option<u32>,
    /// Number of I/O queues.
    pub nr_io_queues: Option<u32>,
    /// Number of write queues.
    pub nr_write_queues: Option<u32>,
    /// Number of poll queues.
    pub nr_poll_queues: Option<u32>,
    /// Reconnect delay, seconds.
    pub reconnect_delay: Option<u32>,
    /// Controller loss timeout, seconds; negative means forever.
    pub ctrl_loss_tmo: Option<i32>,
    /// Disable SQ flow control.
    pub disable_sqflow: Option<bool>,
    /// Fast I/O fail timeout, seconds (3.x layout: `fast-io-fail-tmo`).
    pub fast_io_fail_tmo: Option<i32>,
    /// Type of service (3.x layout: `tos`).
    pub tos: Option<i32>,
    /// Allow a duplicate connection (3.x layout: `duplicate-connect`).
    pub duplicate_connect: Option<bool>,
    /// TLS on the connection (`tls`, both layouts; tcp only).
    pub tls: Option<bool>,
    /// Secure channel concatenation (3.x layout: `concat`; tcp only).
    pub concat: Option<bool>,
    /// Keyring holding the TLS key, a key serial (`keyring`, both layouts).
    pub keyring: Option<i32>,
    /// The TLS key, a key serial (`tls-key`: 3.x layout, 2.x `controller=` only).
    pub tls_key: Option<i32>,
    /// The cascade is already applied (3.x layout): nothing is inherited from `[Global]`,
    /// and an unset field means the kernel default (a reset, or never set).
    pub sealed: bool,
}

impl ConnectParams {
    /// `self` with every unset field taken from `base` (an override over `[Global]`);
    /// `self` unchanged when it is [`sealed`](Self::sealed).
    #[must_use]
    pub fn or(&self, base: &Self) -> Self {
        if self.sealed {
            return self.clone();
        }
        Self {
            hdr_digest: self.hdr_digest.or(base.hdr_digest),
            data_digest: self.data_digest.or(base.data_digest),
            kato: self.kato.or(base.kato),
            queue_size: self.queue_size.or(base.queue_size),
            nr_io_queues: self.nr_io_queues.or(base.nr_io_queues),
            nr_write_queues: self.nr_write_queues.or(base.nr_write_queues),
            nr_poll_queues: self.nr_poll_queues.or(base.nr_poll_queues),
            reconnect_delay: self.reconnect_delay.or(base.reconnect_delay),
            ctrl_loss_tmo: self.ctrl_loss_tmo.or(base.ctrl_loss_tmo),
            disable_sqflow: self.disable_sqflow.or(base.disable_sqflow),
            fast_io_fail_tmo: self.fast_io_fail_tmo.or(base.fast_io_fail_tmo),
            tos: self.tos.or(base.tos),
            duplicate_connect: self.duplicate_connect.or(base.duplicate_connect),
            tls: self.tls.or(base.tls),
            concat: self.concat.or(base.concat),
            keyring: self.keyring.or(base.keyring),
            tls_key: self.tls_key.or(base.tls_key),
            sealed: base.sealed,
        }
    }
}

/// `[Global]` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalOptions {
    /// Trace on (debug logging).
    pub tron: bool,
    /// Strip `host-iface` from every TID.
    pub ignore_iface: bool,
    /// Allowed target address families.
    pub ip_family: IpFamily,
    /// Port Local Entries Only (stafd).
    pub pleo: bool,
    /// Default connection parameters.
    pub params: ConnectParams,
}

/// How long a zeroconf-discovered DC that is gone is kept (`zeroconf-connections-persistence`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Persistence {
    /// Never purged (a negative value, `-1` in the documentation).
    Forever,
    /// Purged after this long.
    For(Duration),
}

/// Whether stafd holds a discovery connection (`persistent`; DECISIONS.md item 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistent {
    /// Never: read the log, then disconnect and poll ("park").
    No,
    /// When the DC says it supports it (EPCSD in its own log entry); park otherwise.
    Auto,
    /// Always (nvme-stas 2.x's behaviour; the 2.x layout's default).
    Force,
}

impl Persistent {
    /// The configuration word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Auto => "auto",
            Self::Force => "force",
        }
    }

    /// The value of a configuration word.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::No, Self::Auto, Self::Force]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// 15 minutes, the default of `epcsd-poll-interval-minutes`.
pub const DEFAULT_EPCSD_POLL: Duration = Duration::from_secs(15 * 60);

/// `disconnect-scope` of stacd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectScope {
    /// Disconnect what stacd connected or adopted (default).
    OnlyStasConnections,
    /// Also audit and disconnect foreign connections of `disconnect-trtypes`.
    AllConnectionsMatchingDisconnectTrtypes,
    /// Never disconnect.
    NoDisconnect,
}

impl DisconnectScope {
    /// The configuration word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnlyStasConnections => "only-stas-connections",
            Self::AllConnectionsMatchingDisconnectTrtypes => {
                "all-connections-matching-disconnect-trtypes"
            }
            Self::NoDisconnect => "no-disconnect",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::OnlyStasConnections,
            Self::AllConnectionsMatchingDisconnectTrtypes,
            Self::NoDisconnect,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for DisconnectScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `controller=` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredController {
    /// Line of the value in the file.
    pub line: usize,
    /// Every key the user wrote (after `nqn` → `subsysnqn`), secrets redacted in `Debug`.
    pub dict: CtrlDict,
    /// Valid per-controller overrides; an invalid one is left unset so `[Global]` applies.
    pub overrides: ConnectParams,
}

/// Options of stafd only.
#[derive(Debug, Clone, PartialEq)]
pub struct StafdOptions {
    /// `[Service Discovery] zeroconf`.
    pub zeroconf: bool,
    /// Keep DC connections on exit.
    pub persistent_connections: bool,
    /// Aging of zeroconf-discovered DCs.
    pub zeroconf_persistence: Persistence,
    /// `persistent`: whether discovery connections are held (a controller's own
    /// `persistent=` key wins).
    pub persistent: Persistent,
    /// How often a parked DC's log is read again.
    pub epcsd_poll: Duration,
}

/// Options of stacd only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StacdOptions {
    /// What to disconnect when a controller is no longer wanted.
    pub disconnect_scope: DisconnectScope,
    /// Transports covered by the audit (sorted, no duplicates).
    pub disconnect_trtypes: Vec<Transport>,
    /// Attempts before giving up on an IOC with NCC set (0 = never give up).
    pub connect_attempts_on_ncc: i64,
}

/// A validated `stafd.conf` or `stacd.conf`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// The daemon the file was read for.
    pub daemon: Daemon,
    /// `[Global]`.
    pub global: GlobalOptions,
    /// stafd options (defaults when read for stacd).
    pub stafd: StafdOptions,
    /// stacd options (defaults when read for stafd).
    pub stacd: StacdOptions,
    /// `[Controllers] controller=` entries in file order.
    pub controllers: Vec<ConfiguredController>,
    /// `[Controllers] exclude=` (and legacy `blacklist=`) patterns in file order.
    pub excludes: Vec<ExcludePattern>,
    /// Which configuration layout the daemon runs on.
    pub layout: Layout,
    /// Extra keys (secrets, TLS keys) for controllers that have no configured entry: the
    /// 3.x layout's main-file scope (`[I/O Controller Defaults]`, `[Host]`); empty in 2.x.
    pub scope: std::collections::BTreeMap<String, String>,
    /// 3.x layout: the discovery controllers of drop-ins, whose file scope the
    /// controllers learned through them take (ecosystem-2026.md §3.5); empty in 2.x.
    pub origin_scopes: Vec<OriginScope>,
}

/// A configured discovery controller of a 3.x drop-in, and what a controller learned
/// through it (an I/O controller of its log, for stacd; a referral, for stafd) connects
/// with: its file's defaults and `[Host]`, not the main file's.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginScope {
    /// The discovery controller, as its `controller=` keys.
    pub dc: CtrlDict,
    /// The file's parameters for the daemon's controllers (sealed).
    pub params: ConnectParams,
    /// The file's secrets and its persona's `host-id`.
    pub extra: std::collections::BTreeMap<String, String>,
}

/// 72 hours, the default of `zeroconf-connections-persistence`.
pub const DEFAULT_ZEROCONF_PERSISTENCE: Duration = Duration::from_secs(72 * 3600);

impl ServiceConfig {
    /// The configuration a daemon runs with when its file is missing or empty.
    #[must_use]
    pub fn defaults(daemon: Daemon) -> Self {
        Self {
            daemon,
            global: GlobalOptions {
                tron: false,
                ignore_iface: false,
                ip_family: IpFamily::default(),
                pleo: true,
                params: ConnectParams {
                    hdr_digest: Some(false),
                    data_digest: Some(false),
                    kato: (daemon == Daemon::Stafd).then_some(30),
                    ..ConnectParams::default()
                },
            },
            stafd: StafdOptions {
                zeroconf: true,
                persistent_connections: true,
                zeroconf_persistence: Persistence::For(DEFAULT_ZEROCONF_PERSISTENCE),
                persistent: Persistent::Force,
                epcsd_poll: DEFAULT_EPCSD_POLL,
            },
            stacd: StacdOptions {
                disconnect_scope: DisconnectScope::OnlyStasConnections,
                disconnect_trtypes: vec![Transport::Tcp],
                connect_attempts_on_ncc: 0,
            },
            controllers: Vec::new(),
            excludes: Vec::new(),
            layout: Layout::Stas2,
            scope: std::collections::BTreeMap::new(),
            origin_scopes: Vec::new(),
        }
    }

    /// The defaults of `daemon` in `layout`. The 3.x layout differs: `persistent` is `auto`
    /// (upstream's default, DECISIONS.md item 18), connections are kept on exit, and no
    /// connection parameter has a daemon default (the cascade of nvme-stas.conf decides).
    #[must_use]
    pub fn defaults_in(daemon: Daemon, layout: Layout) -> Self {
        let mut cfg = Self::defaults(daemon);
        cfg.layout = layout;
        if layout == Layout::Stas3 {
            cfg.stafd.persistent = Persistent::Auto;
            cfg.global.params = ConnectParams {
                sealed: true,
                ..ConnectParams::default()
            };
        }
        cfg
    }

    /// Builds the configuration from a parsed 2.x file, adding a diagnostic for every
    /// problem.
    #[must_use]
    pub fn from_ini(daemon: Daemon, ini: &Ini, diags: &mut Diagnostics) -> Self {
        Self::from_ini_in(daemon, Layout::Stas2, ini, diags)
    }

    /// Builds the configuration from a parsed file of `layout` (`/etc/stas/stafd.conf` or
    /// `/etc/nvme/stafd.conf`, …), adding a diagnostic for every problem. In the 3.x layout
    /// the file holds daemon behaviour only: the controllers and connection parameters come
    /// from nvme-stas.conf ([`super::layout`]).
    #[must_use]
    pub fn from_ini_in(daemon: Daemon, layout: Layout, ini: &Ini, diags: &mut Diagnostics) -> Self {
        check_legal(daemon, layout, ini, diags);
        let mut cfg = Self::defaults_in(daemon, layout);
        let mut r = Reader { ini, diags };
        r.read_shared(daemon, &mut cfg);
        if layout == Layout::Stas3 {
            r.read_stas3(daemon, &mut cfg);
            return cfg;
        }

        let g = &mut cfg.global;
        let global_params = read_params(false, &mut |key, check| r.scalar_str(GLOBAL, key, check));
        g.params = global_params.or(&g.params);

        match daemon {
            Daemon::Stafd => {
                let new = r.scalar(
                    DC_MGMT,
                    "persistent-connections",
                    bool_word("true", "false"),
                );
                let legacy = r.scalar(GLOBAL, "persistent-connections", bool_word("true", "false"));
                if let Some(line) = r.ini.last(GLOBAL, "persistent-connections") {
                    r.diags.warning(
                        Some(line.line),
                        format!(
                            "[{GLOBAL}] persistent-connections is deprecated; \
                             use [{DC_MGMT}] persistent-connections"
                        ),
                    );
                }
                cfg.stafd.persistent_connections = match (new, legacy) {
                    (None, None) => true,
                    (n, l) => n.unwrap_or(false) || l.unwrap_or(false),
                };
                if let Some(v) = r.scalar(DC_MGMT, "zeroconf-connections-persistence", persistence)
                {
                    cfg.stafd.zeroconf_persistence = v;
                }
                if let Some(v) = r.scalar(DC_MGMT, "persistent", |s| {
                    Persistent::parse(s).ok_or_else(|| "expected no, auto or force".to_owned())
                }) {
                    cfg.stafd.persistent = v;
                }
            }
            Daemon::Stacd => {
                if let Some(v) = r.scalar(IOC_MGMT, "disconnect-scope", |s| {
                    DisconnectScope::parse(s).ok_or_else(|| {
                        "expected only-stas-connections, \
                         all-connections-matching-disconnect-trtypes or no-disconnect"
                            .to_owned()
                    })
                }) {
                    cfg.stacd.disconnect_scope = v;
                }
                if let Some(line) = r.ini.last(IOC_MGMT, "disconnect-trtypes") {
                    cfg.stacd.disconnect_trtypes = trtypes(line, r.diags);
                }
            }
        }

        cfg.controllers = r.controllers();
        cfg.excludes = r.excludes();
        cfg
    }
}

/// Where an option of the 2.x files went in the 3.x layout (for the diagnostic of a
/// leftover in /etc/nvme/stafd.conf or stacd.conf).
fn moved_in_stas3(key: &str) -> Option<&'static str> {
    Some(match key {
        "kato" | "queue-size" | "reconnect-delay" | "ctrl-loss-tmo" | "hdr-digest"
        | "data-digest" | "disable-sqflow" | "nr-io-queues" | "nr-write-queues"
        | "nr-poll-queues" | "persistent" | "tls" | "keyring" | "tls-key" => {
            "connection parameters belong in /etc/nvme/nvme-stas.conf (the *Controller Defaults sections)"
        }
        "controller" => {
            "controllers belong in /etc/nvme/nvme-stas.conf ([Discovery Controller] and [Subsystem] sections)"
        }
        "exclude" | "blacklist" => "exclusions belong in /etc/nvme/exclusions.conf(.d)",
        "persistent-connections" => {
            "removed in the 3.x layout: the connections still open at exit are kept"
        }
        "zeroconf-connections-persistence" => "renamed dc-giveup-timeout in the 3.x layout",
        "disconnect-scope" => "replaced by honor-fabric-zoning in the 3.x layout",
        "disconnect-trtypes" => "removed in the 3.x layout (stacd only disconnects its own connections)",
        _ => return None,
    })
}

/// Warns about unknown sections and options.
fn check_legal(daemon: Daemon, layout: Layout, ini: &Ini, diags: &mut Diagnostics) {
    let table = legal(daemon, layout);
    for sec in &ini.sections {
        let Some((_, opts)) = table.iter().find(|(name, _)| *name == sec.name) else {
            if layout == Layout::Stas3 && sec.name == CONTROLLERS {
                let why = moved_in_stas3("controller").unwrap_or_default();
                diags.error(
                    Some(sec.line),
                    format!("section [{CONTROLLERS}] is ignored: {why}"),
                );
                continue;
            }
            let known: Vec<_> = table.iter().map(|(n, _)| format!("[{n}]")).collect();
            diags.error(
                Some(sec.line),
                format!(
                    "invalid section [{}] for {} (ignored); valid sections: {}",
                    sec.name,
                    daemon.name(),
                    known.join(", ")
                ),
            );
            continue;
        };
        let mut seen = BTreeSet::new();
        for e in &sec.entries {
            if !opts.contains(&e.key.as_str()) && seen.insert(e.key.clone()) {
                if e.key == TLS_KEY && layout == Layout::Stas2 {
                    diags.error(
                        Some(e.line),
                        format!(
                            "option \"{TLS_KEY}\" in [{}] is ignored (the value is not shown): \
                             a TLS key belongs to one host and subsystem pair; set it on the \
                             controller= line (as tls-key=<key serial>)",
                            sec.name
                        ),
                    );
                    continue;
                }
                if let Some(why) = moved_in_stas3(&e.key).filter(|_| layout == Layout::Stas3) {
                    diags.error(
                        Some(e.line),
                        format!("option \"{}\" in [{}] is ignored: {why}", e.key, sec.name),
                    );
                    continue;
                }
                diags.error(
                    Some(e.line),
                    format!(
                        "invalid option \"{}\" in [{}] for {} (ignored)",
                        e.key,
                        sec.name,
                        daemon.name()
                    ),
                );
            }
        }
    }
}

/// A value checker: text → typed value, or a description of what was expected.
type Check<'a, T> = &'a dyn Fn(&str) -> Result<T, String>;

struct Reader<'a> {
    ini: &'a Ini,
    diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    /// The options both layouts' files have, with the same meaning.
    fn read_shared(&mut self, daemon: Daemon, cfg: &mut ServiceConfig) {
        let g = &mut cfg.global;
        if let Some(v) = self.scalar(GLOBAL, "tron", bool_word("true", "false")) {
            g.tron = v;
        }
        if let Some(v) = self.scalar(GLOBAL, "ignore-iface", bool_word("true", "false")) {
            g.ignore_iface = v;
        }
        if let Some(v) = self.scalar(GLOBAL, "ip-family", ip_family) {
            g.ip_family = v;
        }
        match daemon {
            Daemon::Stafd => {
                if let Some(v) = self.scalar(GLOBAL, "pleo", bool_word("enabled", "disabled")) {
                    g.pleo = v;
                }
                if let Some(v) = self.scalar(
                    SERVICE_DISCOVERY,
                    "zeroconf",
                    bool_word("enabled", "disabled"),
                ) {
                    cfg.stafd.zeroconf = v;
                }
                if let Some(v) = self.scalar(DC_MGMT, "epcsd-poll-interval-minutes", poll_minutes) {
                    cfg.stafd.epcsd_poll = v;
                }
            }
            Daemon::Stacd => {
                if let Some(v) = self.scalar(IOC_MGMT, "connect-attempts-on-ncc", |s| {
                    py_int(s)
                        .map(|n| if n == 1 { 2 } else { n })
                        .ok_or_else(|| "expected an integer".to_owned())
                }) {
                    cfg.stacd.connect_attempts_on_ncc = v;
                }
            }
        }
    }

    /// The options only the 3.x layout's /etc/nvme/stafd.conf and stacd.conf have
    /// (ecosystem-2026.md §3.7).
    fn read_stas3(&mut self, daemon: Daemon, cfg: &mut ServiceConfig) {
        match daemon {
            Daemon::Stafd => {
                if let Some(v) = self.scalar(DC_MGMT, "dc-giveup-timeout", |s| {
                    match systemd_timespan(s) {
                        Some(secs) if secs.is_infinite() => Ok(Persistence::Forever),
                        Some(secs) => Duration::try_from_secs_f64(secs)
                            .map(Persistence::For)
                            .map_err(|e| e.to_string()),
                        None => Err("not a systemd time span such as 72h or infinity".to_owned()),
                    }
                }) {
                    cfg.stafd.zeroconf_persistence = v;
                }
            }
            Daemon::Stacd => {
                if let Some(v) = self.scalar(IOC_MGMT, "honor-fabric-zoning", |s| {
                    match s.to_ascii_lowercase().as_str() {
                        "yes" | "true" | "1" | "on" => Ok(DisconnectScope::OnlyStasConnections),
                        "no" | "false" | "0" | "off" => Ok(DisconnectScope::NoDisconnect),
                        _ => Err("expected yes or no".to_owned()),
                    }
                }) {
                    cfg.stacd.disconnect_scope = v;
                }
            }
        }
    }

    /// The checked value of a scalar option (its last occurrence), or `None` when absent or
    /// invalid (with a diagnostic).
    fn scalar<T>(
        &mut self,
        section: &str,
        key: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.scalar_str(section, key, &check)
    }

    fn scalar_str<T>(&mut self, section: &str, key: &str, check: Check<'_, T>) -> Option<T> {
        let v = self.ini.last(section, key)?;
        checked(
            v,
            &format!("[{section}] {key}"),
            check,
            self.diags,
            "the default is used",
        )
    }

    fn controllers(&mut self) -> Vec<ConfiguredController> {
        let mut out = Vec::new();
        for v in self.ini.values(CONTROLLERS, "controller") {
            if v.text.is_empty() {
                continue;
            }
            let (dict, problems) = parse_controller(&v.text, false);
            for p in problems {
                if p.is_error() {
                    self.diags.error(Some(v.line), format!("controller: {p}"));
                } else {
                    self.diags.warning(Some(v.line), format!("controller: {p}"));
                }
            }
            if dict.0.is_empty() {
                self.diags.error(
                    Some(v.line),
                    "controller: no key=value pairs; entry ignored",
                );
                continue;
            }
            self.check_dict(&dict, v.line, "controller");
            let overrides = read_params(true, &mut |key, check| {
                let raw = dict.0.get(key)?;
                let line = ValueLine {
                    text: raw.clone(),
                    line: v.line,
                };
                checked(
                    &line,
                    &format!("controller: {key}"),
                    check,
                    self.diags,
                    "the [Global] value is used",
                )
            });
            // stafd's own key (DECISIONS.md item 18).
            let persistent = dict.0.get("persistent");
            if let Some(p) = persistent.filter(|p| Persistent::parse(p).is_none()) {
                self.diags.warning(
                    Some(v.line),
                    format!("controller: persistent={p}: expected no, auto or force; [{DC_MGMT}] persistent is used"),
                );
            }
            out.push(ConfiguredController {
                line: v.line,
                dict,
                overrides,
            });
        }
        out
    }

    fn excludes(&mut self) -> Vec<ExcludePattern> {
        let mut out = Vec::new();
        for key in ["exclude", "blacklist"] {
            for v in self.ini.values(CONTROLLERS, key) {
                if v.text.is_empty() {
                    continue;
                }
                if key == "blacklist" {
                    self.diags.warning(
                        Some(v.line),
                        "blacklist= is deprecated; it is read as exclude=",
                    );
                }
                let (dict, problems) = parse_controller(&v.text, true);
                for p in problems {
                    self.diags.warning(Some(v.line), format!("{key}: {p}"));
                }
                if dict.0.is_empty() {
                    self.diags.error(
                        Some(v.line),
                        format!("{key}: empty pattern would match nothing useful; ignored"),
                    );
                    continue;
                }
                self.check_dict(&dict, v.line, key);
                out.push(dict.0);
            }
        }
        out
    }

    /// Warnings about a controller dictionary that nvme-stas would accept but that cannot
    /// work as the user meant.
    fn check_dict(&mut self, dict: &CtrlDict, line: usize, what: &str) {
        for (k, v) in &dict.0 {
            // `persistent=` is stafd's own per-DC key (checked in `controllers`).
            let known = TID_KEYS.contains(&k.as_str())
                || PARAM_KEYS.contains(&k.as_str())
                || (what == "controller" && k == "persistent");
            if !known {
                self.diags.warning(
                    Some(line),
                    format!("{what}: unknown key \"{k}\" (kept for matching, not used to connect)"),
                );
            }
            if v.contains(',') {
                self.diags.error(
                    Some(line),
                    format!(
                        "{what}: value of \"{k}\" contains ','; keys are separated by ';' \
                         and such a value can never be passed to the kernel"
                    ),
                );
            }
        }
        if let Some(t) = dict.0.get("transport") {
            if Transport::parse(t).is_none() {
                self.diags.warning(
                    Some(line),
                    format!("{what}: transport \"{t}\" is not tcp, rdma, fc or loop"),
                );
            }
        }
    }
}

fn checked<T>(
    v: &ValueLine,
    what: &str,
    check: Check<'_, T>,
    diags: &mut Diagnostics,
    fallback: &str,
) -> Option<T> {
    match check(&v.text) {
        Ok(x) => Some(x),
        Err(why) => {
            diags.error(
                Some(v.line),
                format!("{what}: invalid value \"{}\" ({why}); {fallback}", v.text),
            );
            None
        }
    }
}

/// Reads the connection parameters through `get(key, check)`; `tls-key` only for a
/// controller (`per_controller`): a TLS key belongs to one host and subsystem pair.
fn read_params(
    per_controller: bool,
    get: &mut dyn FnMut(&str, Check<'_, ParamValue>) -> Option<ParamValue>,
) -> ConnectParams {
    let b = |s: &str| bool_word("true", "false")(s).map(ParamValue::Bool);
    let u = |min: i64, max: i64| {
        move |s: &str| {
            let n = py_int(s).ok_or_else(|| "expected an integer".to_owned())?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            u32::try_from(n)
                .map(ParamValue::U32)
                .map_err(|_| format!("must be between {min} and {max}"))
        }
    };
    let as_bool = |v: Option<ParamValue>| match v {
        Some(ParamValue::Bool(b)) => Some(b),
        _ => None,
    };
    let as_u32 = |v: Option<ParamValue>| match v {
        Some(ParamValue::U32(n)) => Some(n),
        _ => None,
    };
    let max = i64::from(i32::MAX);
    let serial = |s: &str| {
        parse_key_serial(s.trim())
            .map(ParamValue::I32)
            .ok_or_else(|| "expected a key serial number, decimal or 0x hex".to_owned())
    };
    let as_i32 = |v: Option<ParamValue>| match v {
        Some(ParamValue::I32(n)) => Some(n),
        _ => None,
    };
    ConnectParams {
        hdr_digest: as_bool(get("hdr-digest", &b)),
        data_digest: as_bool(get("data-digest", &b)),
        kato: as_u32(get("kato", &u(0, max))),
        queue_size: as_u32(get("queue-size", &u(16, 1024))),
        nr_io_queues: as_u32(get("nr-io-queues", &u(1, max))),
        nr_write_queues: as_u32(get("nr-write-queues", &u(0, max))),
        nr_poll_queues: as_u32(get("nr-poll-queues", &u(0, max))),
        reconnect_delay: as_u32(get("reconnect-delay", &u(1, max))),
        ctrl_loss_tmo: match get("ctrl-loss-tmo", &|s: &str| {
            let n = py_int(s).ok_or_else(|| "expected an integer".to_owned())?;
            i32::try_from(n)
                .map(ParamValue::I32)
                .map_err(|_| "out of range".to_owned())
        }) {
            Some(ParamValue::I32(n)) => Some(n),
            _ => None,
        },
        disable_sqflow: as_bool(get("disable-sqflow", &b)),
        tls: as_bool(get("tls", &b)),
        keyring: as_i32(get("keyring", &serial)),
        // A value that is not a serial never gets here (`parse_controller` refused it).
        tls_key: as_i32(per_controller.then(|| get(TLS_KEY, &serial)).flatten()),
        ..ConnectParams::default()
    }
}

/// A checked connection parameter value.
#[derive(Debug, Clone, Copy)]
enum ParamValue {
    Bool(bool),
    U32(u32),
    I32(i32),
}

/// A case-insensitive two-word boolean (`true`/`false`, `enabled`/`disabled`).
fn bool_word(yes: &'static str, no: &'static str) -> impl Fn(&str) -> Result<bool, String> {
    move |s: &str| {
        let l = s.to_lowercase();
        if l == yes {
            Ok(true)
        } else if l == no {
            Ok(false)
        } else {
            Err(format!("expected {yes} or {no}"))
        }
    }
}

fn ip_family(s: &str) -> Result<IpFamily, String> {
    IpFamily::parse(s).ok_or_else(|| "expected ipv4, ipv6, ipv4+ipv6 or ipv6+ipv4".to_owned())
}

fn persistence(s: &str) -> Result<Persistence, String> {
    let secs = timeparse(s).ok_or_else(|| "not a time span such as 72hours or 3600".to_owned())?;
    if secs.is_nan() {
        Err("not a number".to_owned())
    } else if secs < 0.0 || secs.is_infinite() {
        Ok(Persistence::Forever)
    } else {
        Duration::try_from_secs_f64(secs)
            .map(Persistence::For)
            .map_err(|e| e.to_string())
    }
}

/// `epcsd-poll-interval-minutes`: minutes, more than 0 (fractions allowed: a test rig
/// polls every few seconds).
fn poll_minutes(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(m) if m > 0.0 && m.is_finite() => {
            Duration::try_from_secs_f64(m * 60.0).map_err(|e| e.to_string())
        }
        _ => Err("expected a number of minutes greater than 0".to_owned()),
    }
}

fn trtypes(v: &ValueLine, diags: &mut Diagnostics) -> Vec<Transport> {
    let mut out = BTreeSet::new();
    for item in v.text.split('+') {
        match item {
            "tcp" => out.insert(Transport::Tcp),
            "rdma" => out.insert(Transport::Rdma),
            "fc" => out.insert(Transport::Fc),
            other => {
                diags.error(
                    Some(v.line),
                    format!(
                        "[{IOC_MGMT}] disconnect-trtypes: \"{other}\" is not tcp, rdma or fc; ignored"
                    ),
                );
                false
            }
        };
    }
    if out.is_empty() {
        diags.error(
            Some(v.line),
            "[I/O controller connection management] disconnect-trtypes: nothing valid left; \
             the default (tcp) is used",
        );
        return vec![Transport::Tcp];
    }
    out.into_iter().collect()
}

/// Python's `int(text)`: surrounding whitespace, an optional sign, decimal digits with single
/// `_` between digits.
#[must_use]
pub fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = digits.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut n: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            if b[i - 1] == b'_' {
                return None;
            }
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -n } else { n })
}
