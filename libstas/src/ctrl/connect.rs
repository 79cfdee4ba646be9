//! The connect side that stafd's discovery-controller machine ([`super::dc`]) and stacd's
//! I/O-controller machine ([`super::ioc`]) share, sans-IO like them: operation [`Token`]s and
//! the dropping of stale completions (`InFlight`), the connect attempt counter with
//! nvme-stas's backoff (3 s after the first failure, 60 s after the others, 3 s after a
//! kernel `remove`) and the outcome of a connect (`Link`), the counters an operation shows
//! on D-Bus (`OpStat`), the timer bookkeeping (`Timers`), removal (`Disposal`), and the
//! connection parameters both kinds of controller send (`base_params`).
//!
//! What differs stays in the machines: a discovery controller retries forever and runs the
//! register → supported → get-log chain once connected; an I/O controller stops retrying
//! at the `connect-attempts-on-ncc` gate and carries queue and DH-HMAC-CHAP settings.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use crate::config::service::ConnectParams as CfgParams;
use crate::kernel::fabrics::{ConnectParams, CtrlKind};
use crate::model::snapshot::{OpView, TimerView};
use crate::model::trid::TransportId;

use super::timers::{CONNECT_RETRY, FAST_CONNECT_RETRY, RETRY_AFTER_REMOVE};

/// Identifies one operation of one controller; completions carry it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// The operation in flight (at most one per controller) and the token counter.
#[derive(Debug, Clone)]
pub(crate) struct InFlight<O> {
    current: Option<(Token, O)>,
    next: u64,
}

impl<O> Default for InFlight<O> {
    fn default() -> Self {
        Self {
            current: None,
            next: 0,
        }
    }
}

impl<O: Copy + Eq + Debug> InFlight<O> {
    /// Starts `op` under a new token.
    pub(crate) fn begin(&mut self, op: O) -> Token {
        self.next += 1;
        let token = Token(self.next);
        self.current = Some((token, op));
        token
    }

    /// Clears the op in flight if it is `op` under `token`. Returns false for a stale
    /// completion (logged at trace level).
    pub(crate) fn complete(&mut self, token: Token, op: O, tid: &TransportId) -> bool {
        match self.current {
            Some((t, o)) if t == token && o == op => {
                self.current = None;
                true
            }
            _ => {
                tracing::trace!(%tid, ?token, ?op, "stale completion ignored");
                false
            }
        }
    }

    /// Forgets the op in flight (its result no longer matters).
    pub(crate) fn clear(&mut self) {
        self.current = None;
    }

    /// The op in flight.
    pub(crate) fn op(&self) -> Option<O> {
        self.current.map(|(_, o)| o)
    }

    /// Whether `op` is in flight.
    pub(crate) fn is(&self, op: O) -> bool {
        self.op() == Some(op)
    }

    /// Nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// Whether the machine waits for the result of `token`.
    pub(crate) fn awaits(&self, token: Token) -> bool {
        self.current.is_some_and(|(t, _)| t == token)
    }
}

/// Counters of one kind of operation (shown by `controller_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OpStat {
    pub(crate) created: bool,
    pub(crate) fail_count: u32,
    pub(crate) completed: Option<bool>,
    pub(crate) error: Option<String>,
}

impl OpStat {
    pub(crate) fn start(&mut self) {
        self.created = true;
        self.completed = None;
    }

    pub(crate) fn ok(&mut self) {
        self.fail_count = 0;
        self.completed = Some(true);
        self.error = None;
    }

    pub(crate) fn fail(&mut self, e: &str) {
        self.fail_count = self.fail_count.saturating_add(1);
        self.completed = Some(false);
        self.error = Some(e.to_owned());
    }

    /// The D-Bus view, once the operation ran: not completed while `running`.
    pub(crate) fn view(
        &self,
        running: bool,
        alive: bool,
        retry_timer: Option<TimerView>,
    ) -> Option<OpView> {
        self.created.then(|| OpView {
            fail_count: self.fail_count,
            completed: if running { None } else { self.completed },
            alive,
            retry_timer,
            error: self.error.clone(),
        })
    }
}

/// What every controller machine of module `ctrl::X` has: its accessors (fields `tid`,
/// `cfg`, `settings`, `link`, `ops`, `disposal`, `timers`) and [`MachineAction`] for
/// `X::Action` over `X::TimerKind`.
macro_rules! machine_common {
    ($machine:ident, $settings:ident) => {
        impl $machine {
            /// The identity.
            #[must_use]
            pub fn tid(&self) -> &TransportId {
                &self.tid
            }

            /// Extra `controller=` keys (no secrets).
            #[must_use]
            pub fn cfg(&self) -> &BTreeMap<String, String> {
                &self.cfg
            }

            /// Replaces the extra keys (a reload changed the `controller=` line).
            pub fn set_cfg(&mut self, cfg: BTreeMap<String, String>) {
                self.cfg = cfg;
            }

            /// The settings in use.
            #[must_use]
            pub fn settings(&self) -> &$settings {
                &self.settings
            }

            /// Replaces the settings without reconnecting or resyncing (a reconcile pass saw
            /// new per-controller parameters; they apply to the next connect).
            pub fn set_settings(&mut self, settings: $settings) {
                self.settings = settings;
            }

            /// The kernel device, while connected or adopted.
            #[must_use]
            pub fn device(&self) -> Option<&str> {
                self.link.device()
            }

            /// Connection attempts since the last success.
            #[must_use]
            pub fn connect_attempts(&self) -> u32 {
                self.link.attempts()
            }

            /// Whether the machine is waiting for the result of `token`.
            #[must_use]
            pub fn awaits(&self, token: Token) -> bool {
                self.ops.awaits(token)
            }

            /// Whether it is letting go (a disconnect, or a removal or exit that keeps the
            /// connection).
            #[must_use]
            pub fn is_disposing(&self) -> bool {
                self.disposal.asked()
            }

            /// Whether [`Action::Disposed`] was returned.
            #[must_use]
            pub fn is_disposed(&self) -> bool {
                self.disposal.done()
            }

            /// Whether timer `kind` is running.
            #[must_use]
            pub fn timer_running(&self, kind: TimerKind) -> bool {
                self.timers.running(kind)
            }
        }

        impl MachineAction<TimerKind> for Action {
            fn start_timer(kind: TimerKind, d: Duration) -> Self {
                Self::StartTimer(kind, d)
            }
            fn cancel_timer(kind: TimerKind) -> Self {
                Self::CancelTimer(kind)
            }
            fn disposed() -> Self {
                Self::Disposed
            }
        }
    };
}
pub(crate) use machine_common;

/// The actions of a machine that the shared parts emit: starting and stopping timers of
/// kind `K`, and the end of the controller.
pub(crate) trait MachineAction<K> {
    fn start_timer(kind: K, d: Duration) -> Self;
    fn cancel_timer(kind: K) -> Self;
    fn disposed() -> Self;
}

/// Removal of a controller. It is asked for once (later requests are ignored); the machine
/// is done once it emitted `Disposed`, and ignores every event after that.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disposal {
    asked: bool,
    done: bool,
}

impl Disposal {
    /// Whether removal was asked for.
    pub(crate) fn asked(&self) -> bool {
        self.asked
    }

    /// Whether `Disposed` was emitted.
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// Asks for removal. False when it already was: nothing to do.
    pub(crate) fn ask(&mut self) -> bool {
        !std::mem::replace(&mut self.asked, true)
    }

    /// Done: emit `Disposed`.
    pub(crate) fn finish<K, A: MachineAction<K>>(&mut self, out: &mut Vec<A>) {
        self.done = true;
        out.push(A::disposed());
    }

    /// Done at once, the kernel connection (if any) stays.
    pub(crate) fn keep<K, A: MachineAction<K>>(
        &mut self,
        tid: &TransportId,
        device: Option<&str>,
        out: &mut Vec<A>,
    ) {
        if let Some(d) = device {
            tracing::debug!(%tid, device = %d, "keeping the connection");
        }
        self.finish(out);
    }
}

/// The running timers and their periods. Starting or cancelling one also emits the action
/// the caller's timer wheel performs.
#[derive(Debug, Clone)]
pub(crate) struct Timers<K> {
    running: BTreeMap<K, Duration>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self {
            running: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// (Re)starts `kind`.
    pub(crate) fn start<A: MachineAction<K>>(&mut self, kind: K, d: Duration, out: &mut Vec<A>) {
        self.running.insert(kind, d);
        out.push(A::start_timer(kind, d));
    }

    /// Stops `kind` if it runs.
    pub(crate) fn cancel<A: MachineAction<K>>(&mut self, kind: K, out: &mut Vec<A>) {
        if self.running.remove(&kind).is_some() {
            out.push(A::cancel_timer(kind));
        }
    }

    /// Stops every running timer.
    pub(crate) fn cancel_all<A: MachineAction<K>>(&mut self, out: &mut Vec<A>) {
        let kinds: Vec<K> = self.running.keys().copied().collect();
        for k in kinds {
            self.cancel(k, out);
        }
    }

    /// `kind` expired: forget it. False when it was not running (a stale expiry).
    pub(crate) fn fired(&mut self, kind: K) -> bool {
        self.running.remove(&kind).is_some()
    }

    /// Whether `kind` runs.
    pub(crate) fn running(&self, kind: K) -> bool {
        self.running.contains_key(&kind)
    }

    /// The period `kind` runs with.
    pub(crate) fn period(&self, kind: K) -> Option<Duration> {
        self.running.get(&kind).copied()
    }
}

/// What a failed connect leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// The controller is being removed: it is done.
    Disposing,
    /// Retrying cannot help: wait for a reload (already logged).
    Permanent,
    /// Retry, if the machine's own gate allows ([`Link::retry_delay`]).
    Transient,
}

/// The connection of one controller: its kernel device, the attempts since the last
/// success, the current retry period and the connect operation's counters.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    device: Option<String>,
    attempts: u32,
    retry_period: Duration,
    stat: OpStat,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            device: None,
            attempts: 0,
            retry_period: CONNECT_RETRY,
            stat: OpStat::default(),
        }
    }
}

impl Link {
    /// The kernel device, while connected or adopted.
    pub(crate) fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    /// Takes the device (it went away).
    pub(crate) fn take_device(&mut self) -> Option<String> {
        self.device.take()
    }

    /// Sets or clears the device.
    pub(crate) fn set_device(&mut self, device: Option<String>) {
        self.device = device;
    }

    /// The device for log lines: `nvme?` when not connected (nvme-stas's spelling).
    pub(crate) fn dev(&self) -> &str {
        self.device.as_deref().unwrap_or("nvme?")
    }

    /// Connection attempts since the last success.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Forgets the attempts (a fresh start: the gate that stopped retrying opened).
    pub(crate) fn reset_attempts(&mut self) {
        self.attempts = 0;
    }

    /// The period of the connect retry timer, last started or next to start.
    pub(crate) fn retry_period(&self) -> Duration {
        self.retry_period
    }

    /// A connect attempt starts.
    pub(crate) fn begin(&mut self, tid: &TransportId) {
        self.attempts = self.attempts.saturating_add(1);
        self.stat.start();
        tracing::debug!(%tid, attempt = self.attempts, "connecting");
    }

    /// The connect succeeded (`adopted`: an existing kernel controller serves us).
    pub(crate) fn connected(&mut self, tid: &TransportId, device: String, adopted: bool) {
        self.stat.ok();
        self.attempts = 0;
        if adopted {
            tracing::info!(%tid, %device, "adopted existing kernel controller");
        } else {
            tracing::info!(%tid, %device, "Connection established!");
        }
        self.device = Some(device);
    }

    /// The connect failed: what now.
    pub(crate) fn failed(
        &mut self,
        tid: &TransportId,
        error: &str,
        permanent: bool,
        disposing: bool,
    ) -> ConnectFailure {
        self.stat.fail(error);
        if disposing {
            ConnectFailure::Disposing
        } else if permanent {
            tracing::error!(%tid, %error, "Failed to connect to controller; not retrying until the configuration is reloaded");
            ConnectFailure::Permanent
        } else {
            ConnectFailure::Transient
        }
    }

    /// The backoff after a transient failure: 3 s after the first attempt, 60 s after the
    /// others (no jitter, no exponential growth: nvme-stas's values). Logs the failure.
    pub(crate) fn retry_delay(&mut self, tid: &TransportId, error: &str) -> Duration {
        let delay = if self.attempts <= 1 {
            tracing::info!(%tid, %error, "Failed to connect to controller; retrying in 3 s");
            FAST_CONNECT_RETRY
        } else {
            if self.attempts == 2 {
                tracing::error!(%tid, %error, "Failed to connect to controller. Retrying every 60 s");
            } else {
                tracing::debug!(%tid, %error, attempt = self.attempts, "Failed to connect to controller");
            }
            CONNECT_RETRY
        };
        self.retry_period = delay;
        delay
    }

    /// The kernel removed the controller (its device is already taken): start over, first
    /// retry after 3 s. Returns that delay.
    pub(crate) fn after_remove(&mut self) -> Duration {
        self.attempts = 0;
        self.retry_period = RETRY_AFTER_REMOVE;
        RETRY_AFTER_REMOVE
    }

    /// The pending connect, while not connected and once one ran.
    pub(crate) fn view(
        &self,
        connecting: bool,
        alive: bool,
        retry_timer: Option<TimerView>,
    ) -> Option<OpView> {
        if self.device.is_some() {
            return None;
        }
        self.stat.view(connecting, alive, retry_timer)
    }
}

/// The connection parameters both kinds of controller send: identity, host ID, keep-alive,
/// reconnect and loss timeouts, digests and flow control, from the configuration (digests
/// and `disable-sqflow` off unless set).
#[must_use]
pub(crate) fn base_params(
    tid: &TransportId,
    host_id: &str,
    kind: CtrlKind,
    p: &CfgParams,
) -> ConnectParams {
    let mut c = ConnectParams::new(tid, host_id, kind);
    c.keep_alive_tmo = p.kato;
    c.reconnect_delay = p.reconnect_delay;
    c.ctrl_loss_tmo = p.ctrl_loss_tmo;
    c.hdr_digest = p.hdr_digest.unwrap_or(false);
    c.data_digest = p.data_digest.unwrap_or(false);
    c.disable_sqflow = p.disable_sqflow.unwrap_or(false);
    c.fast_io_fail_tmo = p.fast_io_fail_tmo;
    c.tos = p.tos;
    c.duplicate_connect = p.duplicate_connect.unwrap_or(false);
    c.tls = p.tls.unwrap_or(false);
    c.concat = p.concat.unwrap_or(false);
    c.keyring = p.keyring.map(|n| n.to_string());
    c.tls_key = p.tls_key.map(|n| n.to_string());
    c
}
