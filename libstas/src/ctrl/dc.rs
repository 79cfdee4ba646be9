//! The discovery-controller state machine (nvme-stas `Dc`, nvme-stas-behaviour.md §5.6–5.8),
//! sans-IO: [`Dc::handle`] takes one [`Event`] and returns the [`Action`]s the caller must
//! perform. Nothing here touches the kernel, a clock or a channel; the stafd core actor
//! executes the actions (kernel calls on blocking threads, timers in its timer wheel) and
//! feeds the results back as events.
//!
//! Lifecycle:
//!
//! ```text
//! Start / connect retry timer ──▶ Connect ──▶ ConnectDone | Adopted ──▶ chain
//!                                        └──▶ ConnectFailed ──▶ retry 3 s, then 60 s forever
//! chain: [Register (tcp, dctype ddc|cdc)] ─▶ [Supported (pleo, dctype != cdc)] ─▶ GetLog{lsp}
//!        retries: register 5 s, supported 5 s, get-log 20 s
//! GetLog done ──▶ store entries, LogPagesChanged, ReferralsChanged when referrals moved
//! uevents: AEN 0x70f002 ─▶ GetLog; rediscover/connected ─▶ resync (whole chain, DIM again);
//!          events lost (socket overflow) ─▶ GetLog, or resync when it reconnected meanwhile;
//!          remove ─▶ forget the device, keep the cached entries, reconnect in 3 s
//! Remove / Shutdown{keep=false}: wait for the in-flight op, Deregister (if registered),
//!          Disconnect, Disposed.   Shutdown{keep=true}: Disposed at once.
//! ```
//!
//! A referral carries the entry that names it (the referring controller's log): the TREQ
//! rule ([`super::connect::treq_rule`], DECISIONS.md item 22) is checked before every
//! connect, as for an I/O controller: an entry that requires a secure channel is connected
//! with `tls`, or not at all (one warning, the reason on the connect operation, no retry
//! until a reload or a new entry: like a permanent failure).
//!
//! Every operation carries a [`Token`]; a completion whose token is not the one in flight
//! (the device went away meanwhile, the controller is being disposed of) is ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::service::{ConnectParams as CfgParams, Persistence, Persistent};
use crate::identity::Secret;
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::model::snapshot::{DlpeDict, OpView, Origin, TimerView};
use crate::model::trid::{TransportId, WELL_KNOWN_DISC_NQN};
use crate::proto::consts::{eflags, AEN_DISC_LOG_CHANGED, LSP_PLEO};
use crate::proto::dlp::{LogEntry, SecureChannel};
use crate::proto::identify::DcType;
use crate::proto::uevent::NvmeEventKind;

use super::connect::{
    base_params, machine_common, ConnectFailure, Disposal, InFlight, Link, MachineAction, OpStat,
    Timers, TreqGate,
};
use super::timers::{GET_LOG_PAGE_RETRY, GET_SUPPORTED_RETRY, REGISTRATION_RETRY};

pub use super::connect::Token;

/// The timers a discovery controller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Connect retry (3 s after the first failure, 60 s after the others, 3 s after remove).
    ConnectRetry,
    /// DIM registration retry (5 s).
    RegisterRetry,
    /// Supported Log Pages retry (5 s).
    SupportedRetry,
    /// Discovery log retry (20 s).
    GetLogRetry,
    /// zeroconf aging (`zeroconf-connections-persistence`).
    Aging,
    /// The next read of a parked controller's log (`epcsd-poll-interval-minutes`).
    EpcsdPoll,
}

/// Why a registration did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterFailure {
    /// The controller does not take registrations (not TCP, dctype not ddc/cdc): skip.
    NotSupported,
    /// The controller answered with an NVMe status: logged as a warning, not retried
    /// (nvme-stas "Registration error").
    Rejected(String),
    /// The command could not be issued (controller not live, ioctl error): retried in 5 s.
    Failed(String),
}

/// What the controller needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DcSettings {
    /// Host ID sent with every connect.
    pub host_id: String,
    /// `[Global] pleo`.
    pub pleo: bool,
    /// Connection parameters (per-controller overrides over `[Global]`).
    pub params: CfgParams,
    /// `zeroconf-connections-persistence` (aging of `discovered` controllers).
    pub persistence: Persistence,
    /// Whether the connection is held (`persistent`: no, auto by EPCSD, force).
    pub persistent: Persistent,
    /// How often a parked controller's log is read again.
    pub epcsd_poll: Duration,
    /// DH-HMAC-CHAP host secret: only in the 3.x layout (`kxchap-secret`); 2.x, like
    /// libnvme 1.x, authenticates I/O controllers only.
    pub dhchap_secret: Option<Secret>,
    /// DH-HMAC-CHAP controller secret (3.x layout).
    pub dhchap_ctrl_secret: Option<Secret>,
    /// Whether the kernel lists the `tls` connect option (for the TREQ rule).
    pub kernel_tls: bool,
}

/// Inputs of the state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The controller was created: connect (or adopt) now.
    Start,
    /// A new kernel controller was created for us.
    ConnectDone {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
        /// DC type (sysfs, else Identify; `None` when unknown).
        dctype: Option<DcType>,
    },
    /// An existing kernel controller serves us (warm restart, nvme-cli): no new connection.
    Adopted {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
        /// DC type (sysfs, else Identify; `None` when unknown).
        dctype: Option<DcType>,
    },
    /// The connect failed.
    ConnectFailed {
        /// The operation.
        token: Token,
        /// Why, in words.
        error: String,
        /// Retrying cannot help (the parameters themselves are invalid).
        permanent: bool,
    },
    /// DIM registration accepted.
    RegisterDone {
        /// The operation.
        token: Token,
    },
    /// DIM registration not accepted.
    RegisterFailed {
        /// The operation.
        token: Token,
        /// Why.
        failure: RegisterFailure,
    },
    /// Supported Log Pages read.
    SupportedDone {
        /// The operation.
        token: Token,
        /// The discovery log supports Port Local Entries Only.
        pleos: bool,
    },
    /// Supported Log Pages failed.
    SupportedFailed {
        /// The operation.
        token: Token,
        /// Why.
        error: String,
    },
    /// The discovery log was read; `entries` are already validated (bad entries were
    /// logged and skipped by the reader).
    LogPageDone {
        /// The operation.
        token: Token,
        /// The entries.
        entries: Vec<LogEntry>,
    },
    /// The discovery log read failed.
    LogPageFailed {
        /// The operation.
        token: Token,
        /// Why.
        error: String,
    },
    /// A deregistration finished (its outcome does not change what follows).
    Deregistered {
        /// The operation.
        token: Token,
    },
    /// A disconnect finished (its outcome does not change what follows).
    Disconnected {
        /// The operation.
        token: Token,
    },
    /// A uevent about this controller's device (already filtered by the caller: the
    /// `connected` echo of our own connect is not forwarded).
    Uevent(NvmeEventKind),
    /// Uevents were lost (the uevent socket overflowed) while this controller's device
    /// stayed: an AEN may be among them, and the controller's AEN stays masked until the
    /// log is read again, so read it now. `reconnected`: the controller reconnected
    /// meanwhile (its `connected` was lost too): resync the whole chain (DIM again).
    EventsLost {
        /// The controller reconnected while the events were lost.
        reconnected: bool,
    },
    /// A timer the machine started expired.
    TimerFired(TimerKind),
    /// Configuration reloaded (SIGHUP): new settings, re-check aging, resync (DIM again).
    Reload(DcSettings),
    /// The controller's origin after a reconcile (precedence already applied).
    SetOrigin(Origin),
    /// Whether mDNS currently reports this controller (aging of `discovered` ones).
    Reported(bool),
    /// The log page entry that names this controller (a referral), after a reconcile.
    UpdateEntry(Option<DlpeDict>),
    /// The controller is no longer wanted: deregister and disconnect.
    Remove,
    /// The daemon stops: keep the connection (`persistent-connections`) or drop it
    /// (deregister first).
    Shutdown {
        /// Keep the kernel connection.
        keep: bool,
    },
}

/// Outputs of the state machine, in the order they must be performed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Adopt a matching existing kernel controller, or connect with these parameters.
    /// Answer with [`Event::Adopted`], [`Event::ConnectDone`] or [`Event::ConnectFailed`].
    Connect {
        /// The operation.
        token: Token,
        /// The parameters (not yet validated: the connect-string builder does that).
        params: Box<ConnectParams>,
    },
    /// TP8010 DIM register on `device`. Answer with `RegisterDone` / `RegisterFailed`.
    Register {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
    },
    /// Read Supported Log Pages. Answer with `SupportedDone` / `SupportedFailed`.
    GetSupported {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
    },
    /// Read the discovery log with these LSP bits. Answer with `LogPageDone` /
    /// `LogPageFailed`.
    GetLogPage {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
        /// LSP (PLEO when supported).
        lsp: u8,
    },
    /// TP8010 DIM deregister. Answer with `Deregistered`.
    Deregister {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
    },
    /// Delete the kernel controller. Answer with `Disconnected`.
    Disconnect {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
    },
    /// (Re)start a timer: its deadline becomes now + the duration.
    StartTimer(TimerKind, Duration),
    /// Stop a timer (no-op when not running).
    CancelTimer(TimerKind),
    /// New log entries are stored: publish, then signal `log_pages_changed`.
    LogPagesChanged {
        /// The device they were read from.
        device: String,
    },
    /// The referral entries changed: reconcile.
    ReferralsChanged,
    /// The aging timer expired: reconcile (the controller now reports unresponsive).
    RequestReconcile,
    /// Nothing left to do: forget the controller.
    Disposed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Register,
    Supported,
    GetLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Connect,
    Step(Step),
    Deregister,
    Disconnect,
}

machine_common!(Dc, DcSettings);

/// Aging of an mDNS-discovered controller (§5.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Aging {
    reported: bool,
    lost_since: Option<SystemTime>,
    expired: bool,
}

/// One discovery controller. See the module docs.
#[derive(Debug, Clone)]
pub struct Dc {
    tid: TransportId,
    cfg: BTreeMap<String, String>,
    settings: DcSettings,
    origin: Origin,
    link: Link,
    dctype: Option<DcType>,
    ops: InFlight<Op>,
    chain: Option<Step>,
    resync_pending: bool,
    reread_pending: bool,
    registered: bool,
    lsp: u8,
    permanent_failure: bool,
    /// The referral entry that names it, if any (for the TREQ rule).
    entry: Option<DlpeDict>,
    /// The TREQ rule's last refusal (logged once).
    treq: TreqGate,
    register: OpStat,
    supported: OpStat,
    get_log: OpStat,
    log_pages: Arc<[DlpeDict]>,
    referrals: Vec<TransportId>,
    aging: Aging,
    timers: Timers<TimerKind>,
    disposal: Disposal,
    /// Not held (EPCSD and `persistent`): disconnected after its log was read, polled.
    parked: bool,
    /// Whether to hold this connection was decided (once per connection).
    decided: bool,
}

/// The EPCSD bit of a discovery log's self entry (SUBTYPE 3, "current discovery
/// subsystem"): false without one.
fn epcsd(log_pages: &[DlpeDict]) -> bool {
    (log_pages.iter())
        .find(|d| d.get("subtype").map(String::as_str) == Some("discovery"))
        .and_then(|d| d.get("eflags")?.trim().parse::<u16>().ok())
        .is_some_and(|f| f & eflags::EPCSD != 0)
}

/// Referral entries of a discovery log (nvme-stas dictionaries) as controller identities
/// inheriting the parent's host fields (§4 "DLPE to TID"), sorted, without duplicates.
/// Entries of unknown transports are skipped; an empty NQN means the well-known discovery
/// NQN.
#[must_use]
pub fn referrals_of(log_pages: &[DlpeDict], parent: &TransportId) -> Vec<TransportId> {
    let mut v: Vec<TransportId> = (referral_entries(log_pages, parent).into_iter())
        .map(|(t, _)| t)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The referral entries of a discovery log, in log order, each with the controller
/// identity it names (as [`referrals_of`] lists them).
#[must_use]
pub fn referral_entries<'a>(
    log_pages: &'a [DlpeDict],
    parent: &TransportId,
) -> Vec<(TransportId, &'a DlpeDict)> {
    let get = |d: &DlpeDict, k: &str| d.get(k).cloned().unwrap_or_default();
    log_pages
        .iter()
        .filter(|d| d.get("subtype").map(String::as_str) == Some("referral"))
        .filter(|d| {
            matches!(
                d.get("trtype").map(String::as_str),
                Some("tcp" | "rdma" | "fc" | "loop")
            )
        })
        .map(|d| {
            let mut nqn = get(d, "subnqn");
            if nqn.is_empty() {
                nqn = WELL_KNOWN_DISC_NQN.to_owned();
            }
            let tid = TransportId::from_dlpe(
                &get(d, "trtype"),
                &get(d, "traddr"),
                &get(d, "trsvcid"),
                &nqn,
                parent,
            );
            (tid, d)
        })
        .collect()
}

impl Dc {
    /// A controller with identity `tid`, extra `controller=` keys `cfg` (secrets already
    /// removed), and the cached entries of a previous run (warm restart) or none. Send
    /// [`Event::Start`] to begin.
    #[must_use]
    pub fn new(
        tid: TransportId,
        cfg: BTreeMap<String, String>,
        origin: Origin,
        settings: DcSettings,
        cached: Vec<DlpeDict>,
    ) -> Self {
        let referrals = referrals_of(&cached, &tid);
        Self {
            tid,
            cfg,
            settings,
            origin,
            link: Link::default(),
            dctype: None,
            ops: InFlight::default(),
            chain: None,
            resync_pending: false,
            reread_pending: false,
            registered: false,
            lsp: 0,
            permanent_failure: false,
            entry: None,
            treq: TreqGate::default(),
            register: OpStat::default(),
            supported: OpStat::default(),
            get_log: OpStat::default(),
            log_pages: cached.into(),
            referrals,
            aging: Aging::default(),
            timers: Timers::default(),
            disposal: Disposal::default(),
            parked: false,
            decided: false,
        }
    }

    /// The same controller, named by the log page entry `entry` (a referral's): the TREQ
    /// rule applies to its connects. Set it before [`Event::Start`].
    #[must_use]
    pub fn with_entry(mut self, entry: Option<DlpeDict>) -> Self {
        self.entry = entry;
        self
    }

    /// The log page entry that names the controller, if any.
    #[must_use]
    pub fn entry(&self) -> Option<&DlpeDict> {
        self.entry.as_ref()
    }

    /// Where it came from.
    #[must_use]
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The cached discovery log entries.
    #[must_use]
    pub fn log_pages(&self) -> &Arc<[DlpeDict]> {
        &self.log_pages
    }

    /// Referral entries of the cached log, as controller identities.
    #[must_use]
    pub fn referrals(&self) -> &[TransportId] {
        &self.referrals
    }

    /// Whether the host registered with the controller (TP8010) since it connected.
    #[must_use]
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// nvme-stas `is_unresponsive()`: a `discovered` controller that mDNS no longer reports,
    /// that is not connected, and whose aging timer expired.
    #[must_use]
    pub fn is_unresponsive(&self) -> bool {
        self.origin == Origin::Discovered
            && !self.aging.reported
            && self.link.device().is_none()
            && self.aging.lost_since.is_some()
            && self.aging.expired
    }

    /// When the controller was last seen lost (aging), if it is lost now.
    #[must_use]
    pub fn lost_since(&self) -> Option<SystemTime> {
        self.aging.lost_since
    }

    /// The view of timer `kind` with the remaining time the caller's timer wheel knows.
    #[must_use]
    pub fn timer_view(&self, kind: TimerKind, remaining: Option<Duration>) -> TimerView {
        let period = self.timers.period(kind).unwrap_or(match kind {
            TimerKind::ConnectRetry => self.link.retry_period(),
            TimerKind::RegisterRetry => REGISTRATION_RETRY,
            TimerKind::SupportedRetry => GET_SUPPORTED_RETRY,
            TimerKind::GetLogRetry => GET_LOG_PAGE_RETRY,
            TimerKind::Aging => match self.settings.persistence {
                Persistence::For(d) => d,
                Persistence::Forever => Duration::ZERO,
            },
            TimerKind::EpcsdPoll => self.settings.epcsd_poll,
        });
        TimerView {
            period,
            remaining: remaining.filter(|_| self.timer_running(kind)),
        }
    }

    /// The retry timer of an operation, for its view, while it runs.
    fn retry_view(&self, retry: TimerKind, remaining: Option<Duration>) -> Option<TimerView> {
        self.timer_running(retry)
            .then(|| self.timer_view(retry, remaining))
    }

    fn op_view(
        &self,
        stat: &OpStat,
        op: Op,
        retry: TimerKind,
        remaining: Option<Duration>,
    ) -> Option<OpView> {
        stat.view(
            self.ops.is(op),
            !self.disposal.done(),
            self.retry_view(retry, remaining),
        )
    }

    /// The pending connect, while not connected.
    #[must_use]
    pub fn connect_view(&self, retry_remaining: Option<Duration>) -> Option<OpView> {
        self.link.view(
            self.ops.is(Op::Connect),
            !self.disposal.done(),
            self.retry_view(TimerKind::ConnectRetry, retry_remaining),
        )
    }

    /// The registration operation, once it ran.
    #[must_use]
    pub fn register_view(&self, retry_remaining: Option<Duration>) -> Option<OpView> {
        self.op_view(
            &self.register,
            Op::Step(Step::Register),
            TimerKind::RegisterRetry,
            retry_remaining,
        )
    }

    /// The Supported Log Pages operation, once it ran.
    #[must_use]
    pub fn supported_view(&self, retry_remaining: Option<Duration>) -> Option<OpView> {
        self.op_view(
            &self.supported,
            Op::Step(Step::Supported),
            TimerKind::SupportedRetry,
            retry_remaining,
        )
    }

    /// The discovery log operation, once it ran.
    #[must_use]
    pub fn get_log_view(&self, retry_remaining: Option<Duration>) -> Option<OpView> {
        self.op_view(
            &self.get_log,
            Op::Step(Step::GetLog),
            TimerKind::GetLogRetry,
            retry_remaining,
        )
    }

    /// The device for log lines: `nvme?` when not connected (nvme-stas's spelling).
    fn dev(&self) -> &str {
        self.link.dev()
    }

    /// The device, owned (for an action).
    fn device_owned(&self) -> Option<String> {
        self.link.device().map(str::to_owned)
    }

    fn start_timer(&mut self, kind: TimerKind, d: Duration, out: &mut Vec<Action>) {
        self.timers.start(kind, d, out);
    }

    fn cancel_timer(&mut self, kind: TimerKind, out: &mut Vec<Action>) {
        self.timers.cancel(kind, out);
    }

    fn cancel_step_timers(&mut self, out: &mut Vec<Action>) {
        for k in [
            TimerKind::RegisterRetry,
            TimerKind::SupportedRetry,
            TimerKind::GetLogRetry,
        ] {
            self.cancel_timer(k, out);
        }
    }

    /// Handles one event; returns what to do, in order.
    pub fn handle(&mut self, ev: Event, now: SystemTime) -> Vec<Action> {
        let mut out = Vec::new();
        if self.disposal.done() {
            return out;
        }
        match ev {
            Event::Start => {
                if !self.disposal.asked() && self.ops.is_idle() && self.link.device().is_none() {
                    self.try_connect(&mut out);
                }
            }
            Event::ConnectDone {
                token,
                device,
                dctype,
            } => self.on_connected(token, device, dctype, false, now, &mut out),
            Event::Adopted {
                token,
                device,
                dctype,
            } => self.on_connected(token, device, dctype, true, now, &mut out),
            Event::ConnectFailed {
                token,
                error,
                permanent,
            } => self.on_connect_failed(token, &error, permanent, now, &mut out),
            Event::RegisterDone { token } => {
                if self
                    .ops
                    .complete(token, Op::Step(Step::Register), &self.tid)
                {
                    self.register.ok();
                    self.registered = true;
                    tracing::debug!(tid = %self.tid, device = self.dev(), "registered with the discovery controller (TP8010)");
                    self.step_done(Step::Register, &mut out);
                }
            }
            Event::RegisterFailed { token, failure } => {
                if self
                    .ops
                    .complete(token, Op::Step(Step::Register), &self.tid)
                {
                    self.on_register_failed(failure, &mut out);
                }
            }
            Event::SupportedDone { token, pleos } => {
                if self
                    .ops
                    .complete(token, Op::Step(Step::Supported), &self.tid)
                {
                    self.supported.ok();
                    self.lsp = if pleos { LSP_PLEO } else { 0 };
                    self.step_done(Step::Supported, &mut out);
                }
            }
            Event::SupportedFailed { token, error } => {
                if self
                    .ops
                    .complete(token, Op::Step(Step::Supported), &self.tid)
                {
                    self.supported.fail(&error);
                    tracing::debug!(tid = %self.tid, device = self.dev(), %error, "Supported Log Pages failed; retrying in 5 s");
                    self.step_failed(Step::Supported, GET_SUPPORTED_RETRY, &mut out);
                }
            }
            Event::LogPageDone { token, entries } => {
                if self.ops.complete(token, Op::Step(Step::GetLog), &self.tid) {
                    self.on_log(&entries, &mut out);
                }
            }
            Event::LogPageFailed { token, error } => {
                if self.ops.complete(token, Op::Step(Step::GetLog), &self.tid) {
                    self.get_log.fail(&error);
                    if self.get_log.fail_count == 1 {
                        tracing::warn!(tid = %self.tid, device = self.dev(), %error, "failed to read the discovery log; retrying in 20 s");
                    } else {
                        tracing::debug!(tid = %self.tid, device = self.dev(), %error, "failed to read the discovery log; retrying in 20 s");
                    }
                    self.step_failed(Step::GetLog, GET_LOG_PAGE_RETRY, &mut out);
                }
            }
            Event::Deregistered { token } => {
                if self.ops.complete(token, Op::Deregister, &self.tid) {
                    self.registered = false;
                    self.continue_dispose(&mut out);
                }
            }
            Event::Disconnected { token } => {
                if self.ops.complete(token, Op::Disconnect, &self.tid) {
                    self.link.set_device(None);
                    if self.parked && !self.disposal.asked() {
                        self.poll_later(&mut out);
                    } else {
                        self.disposal.finish(&mut out);
                    }
                }
            }
            Event::Uevent(kind) => self.on_uevent(kind, now, &mut out),
            Event::EventsLost { reconnected } => {
                if self.disposal.asked() || self.link.device().is_none() {
                    return out;
                }
                if reconnected {
                    tracing::info!(tid = %self.tid, device = self.dev(), "uevents were lost and the controller reconnected meanwhile: resync");
                    self.resync(&mut out);
                } else {
                    tracing::info!(tid = %self.tid, device = self.dev(), "uevents were lost: reading the discovery log again");
                    self.reread(&mut out);
                }
            }
            Event::TimerFired(kind) => self.on_timer(kind, &mut out),
            Event::Reload(settings) => {
                self.settings = settings;
                if self.parked && self.settings.persistent == Persistent::Force {
                    self.parked = false;
                    self.cancel_timer(TimerKind::EpcsdPoll, &mut out);
                    if self.link.device().is_none() && self.ops.is_idle() && !self.disposal.asked()
                    {
                        self.try_connect(&mut out);
                    }
                }
                self.check_aging(now, &mut out);
                // A DC reconnects on reload only after a permanent failure: otherwise its
                // retry timer runs (it retries forever). An IOC also restarts after its NCC
                // gate stopped it.
                if !self.disposal.asked() {
                    if self.link.device().is_some() {
                        self.resync(&mut out);
                    } else if self.permanent_failure && self.ops.is_idle() {
                        self.permanent_failure = false;
                        self.try_connect(&mut out);
                    }
                }
            }
            Event::SetOrigin(origin) => {
                self.origin = origin;
                self.check_aging(now, &mut out);
            }
            Event::Reported(reported) => {
                self.aging.reported = reported;
                self.check_aging(now, &mut out);
            }
            Event::UpdateEntry(entry) => {
                self.entry = entry;
                // Refused by the TREQ rule: a new entry may change that.
                let idle = self.ops.is_idle() && self.link.device().is_none();
                if self.treq.refused() && self.permanent_failure && idle && !self.disposal.asked() {
                    self.permanent_failure = false;
                    self.try_connect(&mut out);
                }
            }
            Event::Remove => self.dispose(false, &mut out),
            Event::Shutdown { keep } => self.dispose(keep, &mut out),
        }
        out
    }

    /// The common parameters and the secrets the settings carry (3.x layout only): a
    /// discovery controller gets no queue settings (an I/O controller does, see
    /// [`super::ioc`]).
    fn connect_params(&self) -> ConnectParams {
        let mut c = base_params(
            &self.tid,
            &self.settings.host_id,
            CtrlKind::Discovery,
            &self.settings.params,
        );
        let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
        c.dhchap_secret = expose(&self.settings.dhchap_secret);
        c.dhchap_ctrl_secret = expose(&self.settings.dhchap_ctrl_secret);
        c
    }

    fn try_connect(&mut self, out: &mut Vec<Action>) {
        self.cancel_timer(TimerKind::ConnectRetry, out);
        let params = self.connect_params();
        let admitted = self.treq.admit(
            &self.tid,
            self.entry.as_ref(),
            &self.settings.params,
            self.settings.kernel_tls,
            &mut self.link,
            params,
        );
        let Some(params) = admitted else {
            // Like a permanent failure: nothing retries until a reload or a new entry.
            self.permanent_failure = true;
            return;
        };
        self.link.begin(&self.tid);
        let token = self.ops.begin(Op::Connect);
        out.push(Action::Connect {
            token,
            params: Box::new(params),
        });
    }

    fn on_connected(
        &mut self,
        token: Token,
        device: String,
        dctype: Option<DcType>,
        adopted: bool,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        if !self.ops.complete(token, Op::Connect, &self.tid) {
            return;
        }
        self.permanent_failure = false;
        self.cancel_timer(TimerKind::ConnectRetry, out);
        self.link.connected(&self.tid, device, adopted);
        self.dctype = dctype;
        self.registered = false;
        self.decided = false;
        self.check_aging(now, out);
        if self.disposal.asked() {
            self.continue_dispose(out);
            return;
        }
        self.start_chain(out);
    }

    fn on_connect_failed(
        &mut self,
        token: Token,
        error: &str,
        permanent: bool,
        now: SystemTime,
        out: &mut Vec<Action>,
    ) {
        if !self.ops.complete(token, Op::Connect, &self.tid) {
            return;
        }
        match self
            .link
            .failed(&self.tid, error, permanent, self.disposal.asked())
        {
            ConnectFailure::Disposing => {
                self.disposal.finish(out);
                return;
            }
            ConnectFailure::Permanent => self.permanent_failure = true,
            // No gate here: a discovery controller retries forever (an I/O controller
            // stops at `connect-attempts-on-ncc`).
            ConnectFailure::Transient => {
                let delay = self.link.retry_delay(&self.tid, error);
                self.start_timer(TimerKind::ConnectRetry, delay, out);
            }
        }
        self.check_aging(now, out);
    }

    fn registration_supported(&self) -> bool {
        self.tid.transport == "tcp" && self.dctype.is_some_and(DcType::supports_registration)
    }

    fn first_step(&self) -> Step {
        if self.registration_supported() {
            Step::Register
        } else {
            self.after_register()
        }
    }

    fn after_register(&self) -> Step {
        if self.settings.pleo && self.dctype != Some(DcType::Cdc) {
            Step::Supported
        } else {
            Step::GetLog
        }
    }

    fn start_chain(&mut self, out: &mut Vec<Action>) {
        self.cancel_step_timers(out);
        self.resync_pending = false;
        self.reread_pending = false;
        let first = self.first_step();
        if first == Step::GetLog {
            self.lsp = 0;
        }
        self.run_step(first, out);
    }

    fn run_step(&mut self, step: Step, out: &mut Vec<Action>) {
        let Some(device) = self.device_owned() else {
            return;
        };
        self.chain = Some(step);
        let token = self.ops.begin(Op::Step(step));
        out.push(match step {
            Step::Register => {
                self.register.start();
                Action::Register { token, device }
            }
            Step::Supported => {
                self.supported.start();
                Action::GetSupported { token, device }
            }
            Step::GetLog => {
                self.get_log.start();
                Action::GetLogPage {
                    token,
                    device,
                    lsp: self.lsp,
                }
            }
        });
    }

    /// After a step, whatever its outcome: dispose if asked meanwhile, restart the chain
    /// if a resync came in. Returns whether it did either.
    fn step_preempted(&mut self, out: &mut Vec<Action>) -> bool {
        if self.disposal.asked() {
            self.continue_dispose(out);
            true
        } else if self.resync_pending {
            self.start_chain(out);
            true
        } else {
            false
        }
    }

    /// After a step: dispose if asked meanwhile, restart the chain if a resync came in,
    /// else go on.
    fn step_done(&mut self, step: Step, out: &mut Vec<Action>) {
        if self.step_preempted(out) {
            return;
        }
        match step {
            Step::Register => {
                let next = self.after_register();
                if next == Step::GetLog {
                    self.lsp = 0;
                }
                self.run_step(next, out);
            }
            Step::Supported => self.run_step(Step::GetLog, out),
            Step::GetLog => {
                self.chain = None;
                if self.reread_pending {
                    self.reread_pending = false;
                    self.run_step(Step::GetLog, out);
                } else if !self.decided {
                    self.decide_persistence(out);
                }
            }
        }
    }

    fn step_failed(&mut self, step: Step, retry: Duration, out: &mut Vec<Action>) {
        if self.step_preempted(out) {
            return;
        }
        self.chain = Some(step);
        let kind = match step {
            Step::Register => TimerKind::RegisterRetry,
            Step::Supported => TimerKind::SupportedRetry,
            Step::GetLog => TimerKind::GetLogRetry,
        };
        self.start_timer(kind, retry, out);
    }

    fn on_register_failed(&mut self, failure: RegisterFailure, out: &mut Vec<Action>) {
        match failure {
            RegisterFailure::NotSupported => {
                self.register.ok();
                tracing::debug!(tid = %self.tid, device = self.dev(), "the controller does not take registrations");
                self.step_done(Step::Register, out);
            }
            RegisterFailure::Rejected(e) => {
                self.register.fail(&e);
                tracing::warn!(tid = %self.tid, device = self.dev(), error = %e, "Registration error.");
                self.step_done(Step::Register, out);
            }
            RegisterFailure::Failed(e) => {
                self.register.fail(&e);
                if self.register.fail_count == 1 {
                    tracing::error!(tid = %self.tid, device = self.dev(), error = %e, "Failed to register with the discovery controller; retrying every 5 s");
                } else {
                    tracing::debug!(tid = %self.tid, device = self.dev(), error = %e, "registration failed");
                }
                self.step_failed(Step::Register, REGISTRATION_RETRY, out);
            }
        }
    }

    fn on_log(&mut self, entries: &[LogEntry], out: &mut Vec<Action>) {
        self.get_log.ok();
        let dicts: Vec<DlpeDict> = entries.iter().map(LogEntry::to_stas_dict).collect();
        tracing::info!(tid = %self.tid, device = self.dev(), records = dicts.len(), "Received discovery log pages (num records={}).", dicts.len());
        let referrals = referrals_of(&dicts, &self.tid);
        // What the referral entries say about the secure channel counts too: the TREQ rule
        // of the referred controllers depends on it.
        let secure = |pages: &[DlpeDict]| -> Vec<(TransportId, Option<SecureChannel>)> {
            (referral_entries(pages, &self.tid).into_iter())
                .map(|(t, d)| (t, SecureChannel::from_stas_dict(d)))
                .collect()
        };
        let secure_changed = (!referrals.is_empty() || !self.referrals.is_empty())
            && secure(&self.log_pages) != secure(&dicts);
        self.log_pages = dicts.into();
        if let Some(device) = self.device_owned() {
            out.push(Action::LogPagesChanged { device });
        }
        if referrals != self.referrals || secure_changed {
            self.referrals = referrals;
            out.push(Action::ReferralsChanged);
        }
        self.step_done(Step::GetLog, out);
    }

    /// After the first complete log read of a connection: hold it, or park (disconnect,
    /// keep the log pages, read them again every `epcsd-poll-interval-minutes`), by
    /// `persistent` and the EPCSD bit of the controller's own log entry (§4.2: its self
    /// entry; without one, 0).
    fn decide_persistence(&mut self, out: &mut Vec<Action>) {
        if self.disposal.asked() || !self.ops.is_idle() {
            return;
        }
        let Some(device) = self.device_owned() else {
            return;
        };
        self.decided = true;
        let epcsd = epcsd(&self.log_pages);
        let park = match self.settings.persistent {
            Persistent::No => true,
            Persistent::Auto => !epcsd,
            Persistent::Force => false,
        };
        self.parked = park;
        if !park {
            return;
        }
        let every = self.settings.epcsd_poll;
        tracing::info!(tid = %self.tid, %device, persistent = self.settings.persistent.as_str(), epcsd, ?every, "not holding the discovery connection: parked, log pages kept, read again periodically");
        self.cancel_step_timers(out);
        let token = self.ops.begin(Op::Disconnect);
        out.push(Action::Disconnect { token, device });
    }

    /// Parked and disconnected: the next read in `epcsd-poll-interval-minutes`.
    fn poll_later(&mut self, out: &mut Vec<Action>) {
        self.registered = false;
        self.chain = None;
        self.start_timer(TimerKind::EpcsdPoll, self.settings.epcsd_poll, out);
    }

    /// Whether the controller holds no connection now because it is parked.
    #[must_use]
    pub fn parked(&self) -> bool {
        self.parked
    }

    fn on_uevent(&mut self, kind: NvmeEventKind, now: SystemTime, out: &mut Vec<Action>) {
        match kind {
            NvmeEventKind::Aen(AEN_DISC_LOG_CHANGED) => {
                tracing::info!(tid = %self.tid, device = self.dev(), "Received AEN: Change of Discovery Log Page (0x70f002)");
                if self.disposal.asked() || self.link.device().is_none() {
                    return;
                }
                self.reread(out);
            }
            NvmeEventKind::Aen(aen) => {
                tracing::debug!(tid = %self.tid, device = self.dev(), aen = %format_args!("{aen:#08x}"), "AEN ignored");
            }
            NvmeEventKind::Rediscover | NvmeEventKind::Connected => {
                if self.link.device().is_none() || self.disposal.asked() {
                    return;
                }
                // 6.1 sends `rediscover` then `connected` for one reconnect: the second
                // must not restart the chain the first one started.
                if kind == NvmeEventKind::Connected && matches!(self.ops.op(), Some(Op::Step(_))) {
                    return;
                }
                tracing::debug!(tid = %self.tid, device = self.dev(), event = ?kind, "controller (re)connected: resync");
                self.resync(out);
            }
            NvmeEventKind::Removed => self.on_removed(now, out),
            NvmeEventKind::Added | NvmeEventKind::Changed => {}
        }
    }

    /// The log changed (or may have): read it, after the read under way if there is one.
    fn reread(&mut self, out: &mut Vec<Action>) {
        match (self.ops.op(), self.chain) {
            // The read under way may predate the change: read again after it.
            (Some(Op::Step(Step::GetLog)), _) => self.reread_pending = true,
            // Register/Supported under way: the chain reads the log anyway.
            (Some(_), _) => {}
            (None, None) => self.run_step(Step::GetLog, out),
            (None, Some(Step::GetLog)) => {
                self.cancel_timer(TimerKind::GetLogRetry, out);
                self.run_step(Step::GetLog, out);
            }
            // Waiting to retry Register/Supported: the chain will read the log.
            (None, Some(_)) => {}
        }
    }

    fn resync(&mut self, out: &mut Vec<Action>) {
        match self.ops.op() {
            Some(Op::Step(_)) => self.resync_pending = true,
            Some(_) => {}
            None => self.start_chain(out),
        }
    }

    fn on_removed(&mut self, now: SystemTime, out: &mut Vec<Action>) {
        let Some(device) = self.link.take_device() else {
            return;
        };
        tracing::info!(tid = %self.tid, %device, "kernel removed the controller; keeping its log pages, reconnecting in 3 s");
        self.registered = false;
        self.chain = None;
        self.resync_pending = false;
        self.reread_pending = false;
        self.cancel_step_timers(out);
        match self.ops.op() {
            // A step on the old device: its result no longer matters.
            Some(Op::Step(_)) => self.ops.clear(),
            // Our own parking disconnect: parked is not lost.
            Some(Op::Disconnect) if self.parked && !self.disposal.asked() => {
                self.ops.clear();
                self.poll_later(out);
                return;
            }
            Some(Op::Deregister | Op::Disconnect) => {
                self.ops.clear();
                self.disposal.finish(out);
                return;
            }
            _ => {}
        }
        if self.disposal.asked() {
            if self.ops.is_idle() {
                self.disposal.finish(out);
            }
            return;
        }
        // No NCC gate on reconnects either (an I/O controller has one).
        let delay = self.link.after_remove();
        if self.ops.is_idle() {
            self.start_timer(TimerKind::ConnectRetry, delay, out);
        }
        self.check_aging(now, out);
    }

    fn on_timer(&mut self, kind: TimerKind, out: &mut Vec<Action>) {
        if !self.timers.fired(kind) {
            return;
        }
        if self.disposal.asked() {
            return;
        }
        match kind {
            TimerKind::ConnectRetry => {
                if self.link.device().is_none() && self.ops.is_idle() {
                    self.try_connect(out);
                }
            }
            TimerKind::RegisterRetry => self.retry_step(Step::Register, out),
            TimerKind::SupportedRetry => self.retry_step(Step::Supported, out),
            TimerKind::GetLogRetry => self.retry_step(Step::GetLog, out),
            TimerKind::EpcsdPoll => {
                if self.link.device().is_none() && self.ops.is_idle() {
                    tracing::debug!(tid = %self.tid, "parked: connecting to read the log again");
                    self.try_connect(out);
                }
            }
            TimerKind::Aging => {
                self.aging.expired = true;
                tracing::info!(tid = %self.tid, "discovered controller unresponsive for too long: removing");
                out.push(Action::RequestReconcile);
            }
        }
    }

    fn retry_step(&mut self, step: Step, out: &mut Vec<Action>) {
        if self.ops.is_idle() && self.chain == Some(step) && self.link.device().is_some() {
            self.run_step(step, out);
        }
    }

    /// §5.8: a `discovered` controller that mDNS does not report and that is not connected
    /// starts aging; anything else stops it.
    fn check_aging(&mut self, now: SystemTime, out: &mut Vec<Action>) {
        let lost = self.origin == Origin::Discovered
            && !self.aging.reported
            && self.link.device().is_none()
            && !self.parked;
        if !lost {
            if self.aging.lost_since.take().is_some() {
                self.cancel_timer(TimerKind::Aging, out);
            }
            self.aging.expired = false;
            return;
        }
        match self.settings.persistence {
            Persistence::Forever => {
                tracing::debug!(tid = %self.tid, "Controller not responding. Retrying...");
            }
            Persistence::For(d) => {
                if self.aging.lost_since.is_none() {
                    self.aging.lost_since = Some(now);
                    self.aging.expired = false;
                    tracing::info!(tid = %self.tid, after = ?d, "Controller is not responding. Will be removed unless restored");
                    self.start_timer(TimerKind::Aging, d, out);
                }
            }
        }
    }

    fn dispose(&mut self, keep: bool, out: &mut Vec<Action>) {
        if !self.disposal.ask() {
            return;
        }
        self.timers.cancel_all(out);
        // stafd keeps a DC's connection only at shutdown with `persistent-connections`, and
        // always a boot path of the firmware's NBFT (DECISIONS.md item 20); stacd keeps I/O
        // connections at every shutdown (see ioc.rs).
        if keep || self.origin == Origin::Nbft {
            self.disposal.keep(&self.tid, self.link.device(), out);
            return;
        }
        if self.ops.is_idle() {
            self.continue_dispose(out);
        }
    }

    fn continue_dispose(&mut self, out: &mut Vec<Action>) {
        if !self.ops.is_idle() {
            return;
        }
        let Some(device) = self.device_owned() else {
            self.disposal.finish(out);
            return;
        };
        // TP8010: deregister before disconnecting (an I/O controller just disconnects).
        if self.registered {
            let token = self.ops.begin(Op::Deregister);
            out.push(Action::Deregister { token, device });
        } else {
            tracing::info!(tid = %self.tid, %device, "Disconnect initiated");
            let token = self.ops.begin(Op::Disconnect);
            out.push(Action::Disconnect { token, device });
        }
    }
}

#[cfg(test)]
mod tests;
