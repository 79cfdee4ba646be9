//! The systemd notify protocol (`Type=notify` units, DECISIONS.md item 12). Every function
//! is a no-op returning `Ok` when `NOTIFY_SOCKET` is unset (not started by systemd).
//! Failures to notify are logged, never fatal: the daemon's job matters more than systemd's
//! bookkeeping.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// `READY=1` (after the bus name is owned), with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=…`: what the daemon is doing, shown by `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC` (required by systemd ≥ 253 for `Type=notify-reload`,
/// harmless before).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often to send `WATCHDOG=1` (half of `WatchdogSec`), when the unit asks for it.
#[must_use]
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The `WATCHDOG=1` keep-alive of a daemon core. The core's own loop waits on
/// [`tick`] next to its inputs and calls [`Watchdog::ping`], so a core that is stuck
/// (a handler that never returns, a loop that stopped) stops the pings and systemd restarts
/// the daemon, while the rest of the process may still look alive.
#[derive(Clone)]
pub struct Watchdog {
    period: Option<Duration>,
    ping: Arc<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Default for Watchdog {
    /// No keep-alive.
    fn default() -> Self {
        Self::new(None, Arc::new(|| {}))
    }
}

impl Watchdog {
    /// What the unit asks for: `WATCHDOG=1` at half its `WatchdogSec`, or nothing.
    #[must_use]
    pub fn systemd() -> Self {
        Self::new(watchdog_interval(), Arc::new(watchdog))
    }

    /// `ping` every `period` (tests count the pings).
    #[must_use]
    pub fn new(period: Option<Duration>, ping: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self { period, ping }
    }

    /// The timer a core waits on; `None` when no keep-alive is asked for. A core that was
    /// late does not send a burst of pings afterwards.
    #[must_use]
    pub fn timer(&self) -> Option<tokio::time::Interval> {
        self.period.map(|p| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        })
    }

    /// Sends one keep-alive.
    pub fn ping(&self) {
        (self.ping)();
    }
}

/// The next tick of `timer`; never, without one.
pub async fn tick(timer: Option<&mut tokio::time::Interval>) {
    match timer {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
