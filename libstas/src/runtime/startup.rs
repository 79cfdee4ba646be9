//! The start-up split (issue 20): how long each step between `main` and owning the bus name
//! took. Each daemon marks its steps as it goes and logs the split with its `ready` line, so
//! `tools/bench` can print where the time from exec to the bus name goes.

use std::fmt;
use std::time::{Duration, Instant};

/// The steps marked so far, each with the time since the previous mark.
#[derive(Debug, Clone)]
pub struct Startup {
    t0: Instant,
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl Startup {
    /// Starts the clock (the daemon's `run`, right after argument parsing).
    #[must_use]
    pub fn begin() -> Self {
        let now = Instant::now();
        Self {
            t0: now,
            last: now,
            steps: Vec::with_capacity(16),
        }
    }

    /// Step `step` ended now.
    pub fn mark(&mut self, step: &'static str) {
        let now = Instant::now();
        self.steps.push((step, now - self.last));
        self.last = now;
    }

    /// Two steps ended now, the first of which took `first_took` (measured by the callee).
    pub fn mark_two(&mut self, first: &'static str, first_took: Duration, second: &'static str) {
        let now = Instant::now();
        let both = now - self.last;
        let first_took = first_took.min(both);
        self.steps.push((first, first_took));
        self.steps.push((second, both - first_took));
        self.last = now;
    }

    /// The time from [`Startup::begin`] to the last mark.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.last - self.t0
    }
}

/// `step=ms,step=ms,…`: one token, so a log line keeps it as one field.
impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (step, d)) in self.steps.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{step}:{:.1}", d.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_lists_every_step_in_order_and_adds_up() {
        let mut s = Startup::begin();
        s.mark("config");
        std::thread::sleep(Duration::from_millis(2));
        s.mark("bus");
        let text = s.to_string();
        let steps: Vec<&str> = text
            .split(',')
            .map(|t| t.split(':').next().unwrap())
            .collect();
        assert_eq!(steps, ["config", "bus"]);
        let ms: f64 = text
            .split(',')
            .map(|t| t.split(':').nth(1).unwrap().parse::<f64>().unwrap())
            .sum();
        assert!(ms >= 2.0, "{text}");
        assert!((ms - s.total().as_secs_f64() * 1e3).abs() < 0.2, "{text}");
    }
}
