//! The core actor's timers: one ordered set of deadlines, so the actor sleeps until the next
//! one and wakes for nothing else (no polling, performance-targets.md). Restarting a key
//! moves its deadline, like nvme-stas's re-armable one-shot timers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

/// Deadlines keyed by `K`.
#[derive(Debug)]
pub struct Wheel<K: Ord + Clone> {
    by_deadline: BTreeSet<(Instant, u64, K)>,
    by_key: BTreeMap<K, (Instant, u64)>,
    seq: u64,
}

impl<K: Ord + Clone> Default for Wheel<K> {
    fn default() -> Self {
        Self {
            by_deadline: BTreeSet::new(),
            by_key: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<K: Ord + Clone> Wheel<K> {
    /// (Re)starts `key`: it expires at `deadline`.
    pub fn start(&mut self, key: K, deadline: Instant) {
        self.cancel(&key);
        self.seq += 1;
        self.by_deadline.insert((deadline, self.seq, key.clone()));
        self.by_key.insert(key, (deadline, self.seq));
    }

    /// Stops `key` (no-op when not running).
    pub fn cancel(&mut self, key: &K) {
        if let Some((d, s)) = self.by_key.remove(key) {
            self.by_deadline.remove(&(d, s, key.clone()));
        }
    }

    /// Stops every key `pred` selects.
    pub fn cancel_where(&mut self, pred: impl Fn(&K) -> bool) {
        let keys: Vec<K> = self.by_key.keys().filter(|k| pred(k)).cloned().collect();
        for k in keys {
            self.cancel(&k);
        }
    }

    /// The earliest deadline.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(d, _, _)| *d)
    }

    /// Time left on `key` at `now`, if it is running.
    #[must_use]
    pub fn remaining(&self, key: &K, now: Instant) -> Option<Duration> {
        self.by_key
            .get(key)
            .map(|(d, _)| d.saturating_duration_since(now))
    }

    /// Removes and returns the keys whose deadline is at or before `now`, earliest first.
    pub fn expire(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        while let Some((d, _, _)) = self.by_deadline.first() {
            if *d > now {
                break;
            }
            if let Some((_, _, k)) = self.by_deadline.pop_first() {
                self.by_key.remove(&k);
                out.push(k);
            }
        }
        out
    }

    /// Number of running timers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// No timer running.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Sleeps until `deadline`, or forever without one (a `select!` arm for the next timer).
pub async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_moves_the_deadline_and_expiry_is_ordered() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Wheel::default();
        w.start("a", t0 + s(5));
        w.start("b", t0 + s(3));
        w.start("a", t0 + s(10));
        assert_eq!(w.len(), 2);
        assert_eq!(w.next_deadline(), Some(t0 + s(3)));
        assert_eq!(w.remaining(&"a", t0 + s(4)), Some(s(6)));
        assert_eq!(w.expire(t0 + s(5)), vec!["b"]);
        assert_eq!(w.expire(t0 + s(9)), Vec::<&str>::new());
        w.start("c", t0 + s(1));
        assert_eq!(w.expire(t0 + s(20)), vec!["c", "a"]);
        assert!(w.is_empty());
        w.start("d", t0);
        w.cancel(&"d");
        w.cancel(&"d");
        assert_eq!(w.next_deadline(), None);
        w.start("x1", t0);
        w.start("y", t0);
        w.start("x2", t0);
        w.cancel_where(|k| k.starts_with('x'));
        assert_eq!(w.expire(t0), vec!["y"]);
    }
}
