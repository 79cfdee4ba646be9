//! The I/O-controller state machine (nvme-stas `Ioc`, nvme-stas-behaviour.md §5.9–5.10),
//! sans-IO: [`Ioc::handle`] takes one [`Event`] and returns the [`Action`]s the caller must
//! perform. Nothing here touches the kernel, a clock or a channel; the stacd core actor
//! executes the actions (kernel calls on blocking threads, timers in its timer wheel) and
//! feeds the results back as events.
//!
//! Lifecycle:
//!
//! ```text
//! Start / retry timer ──▶ Connect ──▶ ConnectDone | Adopted ──▶ connected (attempts = 0)
//!                                └──▶ ConnectFailed ──▶ retry 3 s, then 60 s, while the gate
//!                                                       allows (NCC: connect-attempts-on-ncc)
//! kernel `remove` ──▶ attempts = 0, reconnect in 3 s (gate permitting)
//! UpdateDlpe: NCC set → clear while not connected ──▶ attempts = 0, connect now
//!            TREQ rule no longer refuses (while stalled by it) ──▶ connect now
//! Reload: not connected, nothing pending and no retry timer ──▶ connect now
//! Remove{keep=false}: wait for the op in flight, Disconnect, Disposed
//! Remove{keep=true} / Shutdown: Disposed at once (the kernel connection stays)
//! ```
//!
//! The retry gate is nvme-stas's `_should_try_to_reconnect`: the maximum number of attempts
//! is `connect-attempts-on-ncc` while the log page entry that names the controller has the
//! EFLAGS "not connected to CDC" bit (NCC, bit 2) set, and unlimited otherwise (`0`).
//! Stopping only means the retry timer is not re-armed: a reload or NCC clearing restarts.
//!
//! The TREQ rule ([`super::connect::treq_rule`], DECISIONS.md item 22) is checked before
//! every connect: a TCP entry whose TREQ requires a secure channel (and whose TSAS names
//! one) is connected with `tls`, or, when the configuration says `tls=false` or the kernel
//! has no `tls` option, not at all: one warning, the reason on the connect operation, no
//! retry timer ([`Stalled::SecureChannel`]) until a reload or a new entry changes things.
//!
//! Every operation carries a [`Token`]; a completion whose token is not the one in flight is
//! ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::service::ConnectParams as CfgParams;
use crate::identity::Secret;
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::model::snapshot::{DlpeDict, OpView, TimerView};
use crate::model::trid::TransportId;
use crate::proto::uevent::NvmeEventKind;

pub use super::connect::Token;
use super::connect::{
    base_params, machine_common, ConnectFailure, Disposal, InFlight, Link, MachineAction, Timers,
    TreqGate,
};

/// The EFLAGS bit "not connected to CDC" (NCC) of a discovery log page entry.
pub const EFLAGS_NCC: u64 = 1 << 2;

/// Whether a log page entry (nvme-stas string dict) has EFLAGS.NCC set. A missing or
/// unparseable `eflags` means no.
#[must_use]
pub fn dlpe_ncc(dlpe: &DlpeDict) -> bool {
    dlpe.get("eflags")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|f| f & EFLAGS_NCC != 0)
}

/// The timers an I/O controller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Connect retry (3 s after the first failure, 60 s after the others, 3 s after remove).
    ConnectRetry,
}

/// What the controller needs from the configuration. `Debug` never shows the secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocSettings {
    /// Host ID sent with every connect.
    pub host_id: String,
    /// Connection parameters (per-controller overrides over `[Global]`).
    pub params: CfgParams,
    /// DH-HMAC-CHAP host secret: the `controller=` line's `dhchap-secret`, else the host
    /// key (DECISIONS.md item 7).
    pub dhchap_secret: Option<Secret>,
    /// DH-HMAC-CHAP controller secret (bidirectional authentication).
    pub dhchap_ctrl_secret: Option<Secret>,
    /// `connect-attempts-on-ncc` (0: never give up; 1 was already changed to 2).
    pub attempts_on_ncc: i64,
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
    },
    /// An existing kernel controller serves us (warm restart, nvme-cli, audit): no new
    /// connection.
    Adopted {
        /// The operation.
        token: Token,
        /// `nvme<N>`.
        device: String,
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
    /// A disconnect finished (its outcome does not change what follows).
    Disconnected {
        /// The operation.
        token: Token,
    },
    /// A uevent about this controller's device.
    Uevent(NvmeEventKind),
    /// A timer the machine started expired.
    TimerFired(TimerKind),
    /// The log page entry that names this controller (after a reconcile), if any.
    UpdateDlpe(Option<DlpeDict>),
    /// Configuration reloaded (SIGHUP): new settings; connect now if idle.
    Reload(IocSettings),
    /// The controller is no longer wanted: disconnect it (`keep = false`) or just forget
    /// it (`keep = true`), per `disconnect-scope`.
    Remove {
        /// Keep the kernel connection.
        keep: bool,
    },
    /// The daemon stops: stacd always keeps I/O connections (§5.13).
    Shutdown,
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
    /// Delete the kernel controller. Answer with [`Event::Disconnected`].
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
    /// Nothing left to do: forget the controller.
    Disposed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Connect,
    Disconnect,
}

machine_common!(Ioc, IocSettings);

/// Why the machine is not retrying although it is not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stalled {
    /// The parameters are invalid: waiting for a reload.
    Permanent,
    /// NCC is set and `connect-attempts-on-ncc` attempts failed: waiting for a reload or
    /// NCC to clear.
    NccGate,
    /// The log page entry requires a secure channel that cannot be had (the configuration
    /// says `tls=false`, or the kernel has no `tls`): waiting for a reload or a new entry.
    SecureChannel,
}

/// One I/O controller. See the module docs.
#[derive(Debug, Clone)]
pub struct Ioc {
    tid: TransportId,
    cfg: BTreeMap<String, String>,
    settings: IocSettings,
    dlpe: Option<Arc<DlpeDict>>,
    link: Link,
    ops: InFlight<Op>,
    stalled: Option<Stalled>,
    /// The TREQ rule's last refusal (logged once).
    treq: TreqGate,
    timers: Timers<TimerKind>,
    disposal: Disposal,
}

impl Ioc {
    /// A controller with identity `tid`, extra `controller=` keys `cfg` (secrets already
    /// removed; shown on D-Bus) and the log page entry that names it, if any. Send
    /// [`Event::Start`] to begin.
    #[must_use]
    pub fn new(
        tid: TransportId,
        cfg: BTreeMap<String, String>,
        settings: IocSettings,
        dlpe: Option<DlpeDict>,
    ) -> Self {
        Self {
            tid,
            cfg,
            settings,
            dlpe: dlpe.map(Arc::new),
            link: Link::default(),
            ops: InFlight::default(),
            stalled: None,
            treq: TreqGate::default(),
            timers: Timers::default(),
            disposal: Disposal::default(),
        }
    }

    /// A controller for a kernel controller that already exists and that nobody asked for
    /// (the audit of `all-connections-matching-disconnect-trtypes`): it starts connected to
    /// `device`, typically to be removed at once.
    #[must_use]
    pub fn existing(tid: TransportId, device: String, settings: IocSettings) -> Self {
        let mut ioc = Self::new(tid, BTreeMap::new(), settings, None);
        ioc.link.set_device(Some(device));
        ioc
    }

    /// The log page entry that names the controller, if any.
    #[must_use]
    pub fn dlpe(&self) -> Option<&DlpeDict> {
        self.dlpe.as_deref()
    }

    /// The same entry, shared (for snapshots).
    #[must_use]
    pub fn dlpe_shared(&self) -> Option<&Arc<DlpeDict>> {
        self.dlpe.as_ref()
    }

    /// Whether the entry has EFLAGS.NCC set.
    #[must_use]
    pub fn ncc(&self) -> bool {
        self.dlpe().is_some_and(dlpe_ncc)
    }

    /// Why the machine stopped retrying, if it did.
    #[must_use]
    pub fn stalled(&self) -> Option<Stalled> {
        self.stalled
    }

    /// Whether a connect is in flight.
    #[must_use]
    pub fn connecting(&self) -> bool {
        self.ops.is(Op::Connect)
    }

    /// The view of the retry timer with the remaining time the caller's timer wheel knows.
    #[must_use]
    pub fn timer_view(&self, remaining: Option<Duration>) -> TimerView {
        let kind = TimerKind::ConnectRetry;
        TimerView {
            period: self.timers.period(kind).unwrap_or(self.link.retry_period()),
            remaining: remaining.filter(|_| self.timers.running(kind)),
        }
    }

    /// The pending connect, while not connected.
    #[must_use]
    pub fn connect_view(&self, retry_remaining: Option<Duration>) -> Option<OpView> {
        self.link.view(
            self.connecting(),
            !self.disposal.done(),
            self.timer_running(TimerKind::ConnectRetry)
                .then(|| self.timer_view(retry_remaining)),
        )
    }

    /// Handles one event; returns what to do, in order.
    pub fn handle(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if self.disposal.done() {
            return out;
        }
        match ev {
            Event::Start => {
                if self.idle() {
                    self.try_connect(&mut out);
                }
            }
            Event::ConnectDone { token, device } => {
                self.on_connected(token, device, false, &mut out);
            }
            Event::Adopted { token, device } => self.on_connected(token, device, true, &mut out),
            Event::ConnectFailed {
                token,
                error,
                permanent,
            } => self.on_connect_failed(token, &error, permanent, &mut out),
            Event::Disconnected { token } => {
                if self.ops.complete(token, Op::Disconnect, &self.tid) {
                    self.link.set_device(None);
                    self.disposal.finish(&mut out);
                }
            }
            Event::Uevent(NvmeEventKind::Removed) => self.on_removed(&mut out),
            Event::Uevent(kind) => {
                tracing::trace!(tid = %self.tid, device = self.link.dev(), event = ?kind, "uevent");
            }
            Event::TimerFired(TimerKind::ConnectRetry) => {
                if self.timers.fired(TimerKind::ConnectRetry) && self.idle() {
                    self.try_connect(&mut out);
                }
            }
            Event::UpdateDlpe(dlpe) => self.update_dlpe(dlpe, &mut out),
            Event::Reload(settings) => {
                self.settings = settings;
                // Unlike a DC (which reconnects on reload only after a permanent failure),
                // an idle IOC without a pending retry connects now: that also restarts one
                // stopped at the NCC gate.
                if self.idle() && !self.timer_running(TimerKind::ConnectRetry) {
                    self.stalled = None;
                    self.try_connect(&mut out);
                }
            }
            Event::Remove { keep } => self.dispose(keep, &mut out),
            Event::Shutdown => self.dispose(true, &mut out),
        }
        out
    }

    /// Not connected, nothing in flight, not being removed.
    fn idle(&self) -> bool {
        !self.disposal.asked() && self.ops.is_idle() && self.link.device().is_none()
    }

    /// nvme-stas `_should_try_to_reconnect`. Only I/O controllers have this gate: a
    /// discovery controller retries forever.
    fn may_retry(&self) -> bool {
        let max = if self.ncc() {
            self.settings.attempts_on_ncc
        } else {
            0
        };
        max == 0 || i64::from(self.link.attempts()) < max
    }

    fn update_dlpe(&mut self, dlpe: Option<DlpeDict>, out: &mut Vec<Action>) {
        let was_ncc = self.ncc();
        self.dlpe = dlpe.map(Arc::new);
        if was_ncc && !self.ncc() && self.idle() {
            tracing::info!(tid = %self.tid, "NCC cleared: connecting now");
            self.link.reset_attempts();
            self.stalled = None;
            self.cancel_timer(out);
            self.try_connect(out);
        } else if self.stalled == Some(Stalled::SecureChannel) && self.idle() {
            // A new entry: connect if the rule lets it now (else it logs a new reason).
            self.try_connect(out);
        }
    }

    /// The common parameters plus what only an I/O controller carries: queue counts and
    /// sizes, and the DH-HMAC-CHAP secrets.
    fn connect_params(&self) -> ConnectParams {
        let p = &self.settings.params;
        let mut c = base_params(&self.tid, &self.settings.host_id, CtrlKind::Io, p);
        c.nr_io_queues = p.nr_io_queues;
        c.nr_write_queues = p.nr_write_queues;
        c.nr_poll_queues = p.nr_poll_queues;
        c.queue_size = p.queue_size;
        c.dhchap_secret = self
            .settings
            .dhchap_secret
            .as_ref()
            .map(|s| s.expose().to_owned());
        c.dhchap_ctrl_secret = self
            .settings
            .dhchap_ctrl_secret
            .as_ref()
            .map(|s| s.expose().to_owned());
        c
    }

    fn try_connect(&mut self, out: &mut Vec<Action>) {
        self.cancel_timer(out);
        let params = self.connect_params();
        let admitted = self.treq.admit(
            &self.tid,
            self.dlpe.as_deref(),
            &self.settings.params,
            self.settings.kernel_tls,
            &mut self.link,
            params,
        );
        let Some(params) = admitted else {
            self.stalled = Some(Stalled::SecureChannel);
            return;
        };
        if self.stalled == Some(Stalled::SecureChannel) {
            self.stalled = None;
        }
        self.link.begin(&self.tid);
        let token = self.ops.begin(Op::Connect);
        out.push(Action::Connect {
            token,
            params: Box::new(params),
        });
    }

    fn on_connected(&mut self, token: Token, device: String, adopted: bool, out: &mut Vec<Action>) {
        if !self.ops.complete(token, Op::Connect, &self.tid) {
            return;
        }
        self.stalled = None;
        self.cancel_timer(out);
        self.link.connected(&self.tid, device, adopted);
        if self.disposal.asked() {
            self.continue_dispose(out);
        }
    }

    fn on_connect_failed(
        &mut self,
        token: Token,
        error: &str,
        permanent: bool,
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
            ConnectFailure::Permanent => {
                self.stalled = Some(Stalled::Permanent);
                return;
            }
            ConnectFailure::Transient => {}
        }
        // The rule both machines share is `Link::failed`; what differs on purpose follows:
        // an I/O controller stops at `connect-attempts-on-ncc` while NCC is set, and a
        // permanent failure stalls it until a reload (a DC keeps retrying).
        if !self.may_retry() {
            self.stalled = Some(Stalled::NccGate);
            tracing::warn!(tid = %self.tid, %error, attempts = self.link.attempts(), "Failed to connect to controller; NCC is set and connect-attempts-on-ncc is reached: not retrying until NCC clears or the configuration is reloaded");
            return;
        }
        let delay = self.link.retry_delay(&self.tid, error);
        self.start_timer(delay, out);
    }

    fn on_removed(&mut self, out: &mut Vec<Action>) {
        let Some(device) = self.link.take_device() else {
            return;
        };
        if self.ops.is(Op::Disconnect) {
            self.ops.clear();
            self.disposal.finish(out);
            return;
        }
        if self.disposal.asked() {
            if self.ops.is_idle() {
                self.disposal.finish(out);
            }
            return;
        }
        let delay = self.link.after_remove();
        // The NCC gate applies to reconnects too (a DC always reconnects).
        if !self.may_retry() {
            self.stalled = Some(Stalled::NccGate);
            tracing::info!(tid = %self.tid, %device, "kernel removed the controller; NCC is set: not reconnecting");
            return;
        }
        tracing::info!(tid = %self.tid, %device, "kernel removed the controller; reconnecting in 3 s");
        if self.ops.is_idle() {
            self.start_timer(delay, out);
        }
    }

    fn dispose(&mut self, keep: bool, out: &mut Vec<Action>) {
        if !self.disposal.ask() {
            return;
        }
        self.cancel_timer(out);
        // Differs from a DC on purpose: stacd keeps every I/O connection at shutdown
        // (§5.13) and `disconnect-scope` decides whether a removed one is disconnected or
        // only forgotten; stafd keeps a DC's connection only at shutdown with
        // `persistent-connections`. A DC also deregisters (TP8010) before it disconnects.
        if keep {
            self.disposal.keep(&self.tid, self.link.device(), out);
            return;
        }
        self.continue_dispose(out);
    }

    fn continue_dispose(&mut self, out: &mut Vec<Action>) {
        if !self.ops.is_idle() {
            return;
        }
        let Some(device) = self.link.device().map(str::to_owned) else {
            self.disposal.finish(out);
            return;
        };
        tracing::info!(tid = %self.tid, %device, "Disconnect initiated");
        let token = self.ops.begin(Op::Disconnect);
        out.push(Action::Disconnect { token, device });
    }

    fn start_timer(&mut self, d: Duration, out: &mut Vec<Action>) {
        self.timers.start(TimerKind::ConnectRetry, d, out);
    }

    fn cancel_timer(&mut self, out: &mut Vec<Action>) {
        self.timers.cancel(TimerKind::ConnectRetry, out);
    }
}

#[cfg(test)]
mod tests;
