//! A leading-edge debouncer (DECISIONS.md item 15), pure: the caller owns the clock.
//!
//! nvme-stas restarts a 1.5 s "soak" timer on every event that can change the controller
//! set and reconciles when it expires, so every change waits at least 1.5 s. Here the first
//! trigger of a quiet period runs at once and opens a soak window; triggers inside the
//! window are coalesced into exactly one more pass when it closes, which opens a new window.
//! A storm therefore costs at most one pass per soak period, and a single event costs no
//! delay at all.

use std::ops::Add;
use std::time::Duration;

/// What the caller must do after [`Debouncer::trigger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Run the pass now (leading edge).
    RunNow,
    /// Nothing now: the pass is coalesced into the one at the end of the window.
    Coalesced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State<I> {
    Idle,
    Soaking { until: I, pending: bool },
}

/// The debouncer. `I` is the caller's instant type (`tokio::time::Instant` in the daemon,
/// anything ordered that adds a `Duration` in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debouncer<I> {
    soak: Duration,
    state: State<I>,
}

impl<I: Copy + Ord + Add<Duration, Output = I>> Debouncer<I> {
    /// A debouncer with soak time `soak`.
    #[must_use]
    pub fn new(soak: Duration) -> Self {
        Self {
            soak,
            state: State::Idle,
        }
    }

    /// The soak time.
    #[must_use]
    pub fn soak(&self) -> Duration {
        self.soak
    }

    /// An event arrived at `now`.
    pub fn trigger(&mut self, now: I) -> Trigger {
        match &mut self.state {
            State::Soaking { until, pending } if now < *until => {
                *pending = true;
                Trigger::Coalesced
            }
            _ => {
                self.state = State::Soaking {
                    until: now + self.soak,
                    pending: false,
                };
                Trigger::RunNow
            }
        }
    }

    /// When [`Debouncer::poll`] must be called next (`None`: idle, nothing to wait for).
    #[must_use]
    pub fn deadline(&self) -> Option<I> {
        match self.state {
            State::Idle => None,
            State::Soaking { until, .. } => Some(until),
        }
    }

    /// Whether a pass was coalesced and is waiting for the window to close.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Soaking { pending: true, .. })
    }

    /// Advances to `now`. Returns true when the coalesced pass must run now; that opens a
    /// new window. A window that closes with nothing pending returns to idle.
    pub fn poll(&mut self, now: I) -> bool {
        match self.state {
            State::Soaking { until, pending } if now >= until => {
                if pending {
                    self.state = State::Soaking {
                        until: now + self.soak,
                        pending: false,
                    };
                    true
                } else {
                    self.state = State::Idle;
                    false
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const SOAK: Duration = Duration::from_millis(1500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn leading_edge_runs_at_once_and_a_quiet_window_goes_idle() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        assert_eq!(d.deadline(), None);
        assert_eq!(d.trigger(t0), Trigger::RunNow);
        assert_eq!(d.deadline(), Some(t0 + SOAK));
        assert!(!d.poll(t0 + ms(1499)), "window still open");
        assert!(!d.poll(t0 + SOAK), "nothing pending: no pass");
        assert_eq!(d.deadline(), None, "idle again");
        assert_eq!(
            d.trigger(t0 + ms(2000)),
            Trigger::RunNow,
            "new quiet period"
        );
    }

    #[test]
    fn a_storm_is_coalesced_into_one_pass_per_window() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        assert_eq!(d.trigger(t0), Trigger::RunNow);
        for i in 1..=10 {
            assert_eq!(d.trigger(t0 + ms(100 * i)), Trigger::Coalesced);
        }
        assert!(d.is_pending());
        assert!(
            d.poll(t0 + SOAK),
            "one coalesced pass at the end of the window"
        );
        assert!(!d.is_pending());
        assert_eq!(d.deadline(), Some(t0 + SOAK + SOAK), "a new window opened");
        assert_eq!(d.trigger(t0 + ms(2000)), Trigger::Coalesced);
        assert!(!d.poll(t0 + ms(2999)));
        assert!(d.poll(t0 + ms(3000)));
        assert!(!d.poll(t0 + ms(4500)));
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_late_poll_still_runs_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        d.trigger(t0);
        d.trigger(t0 + ms(10));
        assert!(d.poll(t0 + ms(10_000)));
        assert!(!d.poll(t0 + ms(10_001)));
        // A trigger after the (new) window expired but before poll ran is a leading edge.
        assert_eq!(d.trigger(t0 + ms(20_000)), Trigger::RunNow);
    }
}
