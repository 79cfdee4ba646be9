//! A leading-edge debouncer (DECISIONS.md item 15), pure: the caller owns the clock.
//!
//! nvme-stas restarts a 1.5 s "soak" timer on every event that can change the controller
//! set and reconciles when it expires, so every change waits at least 1.5 s. Here the first
//! trigger of a quiet period runs at once and opens a soak window; triggers inside the
//! window are coalesced into exactly one more pass when it closes, which opens a new window.
//!
//! Issue 20 narrows what a window holds back, so that only a storm waits:
//! - **Per source.** Each trigger names its source (stacd: the discovery controller whose
//!   log changed; `None`: the daemon's own changes). A source's first trigger in a quiet
//!   period runs at once even while another source's window is open, so N discovery
//!   controllers announcing one change each get their pass without waiting for a soak.
//! - **The burst's end.** A window closes [`QUIET_GAP`] after its last trigger, or at the
//!   soak's end if triggers keep coming closer together than that. A burst of a few changes
//!   gets its coalesced pass right after the burst, and a pass that ran long before the next
//!   change leaves no window open to delay it. A storm (changes closer than the gap, such as
//!   10 per second) still costs one pass per soak period and source.
//!
//! A pass reads every input, so any pass (leading or trailing) settles every pending source.

use std::collections::BTreeMap;
use std::ops::Add;
use std::time::Duration;

/// How long a source must stay quiet for its burst to be over (less than the 100 ms between
/// the changes of a 10-per-second storm would let the storm through, more than the 0.3 s
/// AEN budget allows for the coalesced pass of a second discovery controller).
pub const QUIET_GAP: Duration = Duration::from_millis(150);

/// What the caller must do after [`Debouncer::trigger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Run the pass now (leading edge).
    RunNow,
    /// Nothing now: the pass is coalesced into the one at the end of the window.
    Coalesced,
}

/// One source's open window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window<I> {
    opened: I,
    last: I,
    pending: bool,
}

/// The debouncer. `I` is the caller's instant type (`tokio::time::Instant` in the daemon,
/// anything ordered that adds a `Duration` in tests); `K` names a trigger's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debouncer<I, K = ()> {
    soak: Duration,
    gap: Duration,
    windows: BTreeMap<K, Window<I>>,
}

impl<I: Copy + Ord + Add<Duration, Output = I>, K: Ord + Clone> Debouncer<I, K> {
    /// A debouncer with soak time `soak` and the [`QUIET_GAP`].
    #[must_use]
    pub fn new(soak: Duration) -> Self {
        Self::with_gap(soak, QUIET_GAP)
    }

    /// A debouncer with soak time `soak` whose windows close `gap` after their last trigger.
    #[must_use]
    pub fn with_gap(soak: Duration, gap: Duration) -> Self {
        Self {
            soak,
            gap: gap.min(soak),
            windows: BTreeMap::new(),
        }
    }

    /// The soak time.
    #[must_use]
    pub fn soak(&self) -> Duration {
        self.soak
    }

    fn closes(&self, w: &Window<I>) -> I {
        (w.opened + self.soak).min(w.last + self.gap)
    }

    /// An event from `source` arrived at `now`.
    pub fn trigger(&mut self, source: K, now: I) -> Trigger {
        let open = self
            .windows
            .get(&source)
            .is_some_and(|w| now < self.closes(w));
        if open {
            if let Some(w) = self.windows.get_mut(&source) {
                w.pending = true;
                w.last = now;
            }
            return Trigger::Coalesced;
        }
        self.ran();
        self.windows.insert(
            source,
            Window {
                opened: now,
                last: now,
                pending: false,
            },
        );
        Trigger::RunNow
    }

    /// A pass runs now (the caller's, or the debouncer's): it settles every pending source,
    /// whose window stays open.
    fn ran(&mut self) {
        for w in self.windows.values_mut() {
            w.pending = false;
        }
    }

    /// When [`Debouncer::poll`] must be called next (`None`: idle, nothing to wait for).
    #[must_use]
    pub fn deadline(&self) -> Option<I> {
        self.windows.values().map(|w| self.closes(w)).min()
    }

    /// Whether a pass was coalesced and is waiting for a window to close.
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.windows.values().any(|w| w.pending)
    }

    /// Advances to `now`. Returns true when a coalesced pass must run now; its source's
    /// window starts again (a storm keeps being coalesced). Windows that close with
    /// nothing pending are dropped.
    pub fn poll(&mut self, now: I) -> bool {
        let due: Vec<K> = (self.windows.iter())
            .filter(|(_, w)| now >= self.closes(w))
            .map(|(k, _)| k.clone())
            .collect();
        let mut run = false;
        for k in due {
            let Some(w) = self.windows.get_mut(&k) else {
                continue;
            };
            if w.pending {
                *w = Window {
                    opened: now,
                    last: now,
                    pending: false,
                };
                run = true;
            } else {
                self.windows.remove(&k);
            }
        }
        if run {
            self.ran();
        }
        run
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
        assert_eq!(d.trigger((), t0), Trigger::RunNow);
        assert_eq!(d.deadline(), Some(t0 + QUIET_GAP));
        assert!(!d.poll(t0 + QUIET_GAP), "nothing pending: no pass");
        assert_eq!(d.deadline(), None, "idle again");
        assert_eq!(
            d.trigger((), t0 + ms(200)),
            Trigger::RunNow,
            "a change after the gap is a new quiet period's first"
        );
    }

    #[test]
    fn a_burst_is_coalesced_into_one_pass_right_after_it() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        assert_eq!(d.trigger((), t0), Trigger::RunNow);
        assert_eq!(d.trigger((), t0 + ms(40)), Trigger::Coalesced);
        assert_eq!(d.trigger((), t0 + ms(90)), Trigger::Coalesced);
        assert_eq!(d.deadline(), Some(t0 + ms(90) + QUIET_GAP));
        assert!(!d.poll(t0 + ms(239)));
        assert!(d.poll(t0 + ms(240)), "the burst is over: its pass runs");
        assert!(!d.poll(t0 + ms(390)), "and nothing more");
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_storm_is_coalesced_into_one_pass_per_soak() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        assert_eq!(d.trigger((), t0), Trigger::RunNow);
        // 10 changes per second until 4.4 s: one pass per soak (1.5, 3.0 and 4.5 s), and
        // none after the storm.
        let mut passes = vec![];
        for i in 1..=44 {
            let now = t0 + ms(100 * i);
            if d.poll(now) {
                passes.push(100 * i);
            }
            assert_eq!(d.trigger((), now), Trigger::Coalesced, "change {i}");
        }
        let mut t = 4400;
        while let Some(at) = d.deadline() {
            t = u64::try_from((at - t0).as_millis()).unwrap();
            if d.poll(at) {
                passes.push(t);
            }
        }
        assert_eq!(passes, [1500, 3000, 4500], "last poll at {t} ms");
    }

    #[test]
    fn each_source_has_its_own_leading_edge() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        assert_eq!(d.trigger("dc1", t0), Trigger::RunNow);
        assert_eq!(
            d.trigger("dc2", t0 + ms(30)),
            Trigger::RunNow,
            "a second DC's change does not wait for the first one's window"
        );
        assert_eq!(d.trigger("dc1", t0 + ms(60)), Trigger::Coalesced);
        assert!(d.is_pending());
        assert_eq!(
            d.trigger("dc3", t0 + ms(70)),
            Trigger::RunNow,
            "a third DC's change runs a pass"
        );
        assert!(!d.is_pending(), "which settles what dc1 held back");
        while let Some(at) = d.deadline() {
            assert!(!d.poll(at), "no pass left over");
        }
    }

    #[test]
    fn a_late_poll_still_runs_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(SOAK);
        d.trigger((), t0);
        d.trigger((), t0 + ms(10));
        assert!(d.poll(t0 + ms(10_000)));
        assert!(!d.poll(t0 + ms(10_001)));
        // A trigger after the (new) window expired but before poll ran is a leading edge.
        assert_eq!(d.trigger((), t0 + ms(20_000)), Trigger::RunNow);
    }
}
