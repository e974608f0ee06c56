//! Budgeting work against the time Pacemaker allows.
//!
//! Pacemaker never warns an agent: when an operation's timeout passes it SIGKILLs the agent's
//! process group and records a timeout (a stop timeout means fencing). An agent that watches
//! its own deadline can instead stop early with an exit reason that says what it was waiting for.

use std::time::{Duration, Instant};

/// The point in time by which an action must have finished, or no limit.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Option<Instant>,
}

impl Deadline {
    pub fn none() -> Deadline {
        Deadline { end: None }
    }

    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Instant::now().checked_add(budget),
        }
    }

    /// The agent's own deadline for an operation Pacemaker gave `timeout` to: it keeps a
    /// margin (10 %, at least 0.5 s, at most 5 s) to report before the SIGKILL lands.
    pub fn for_operation(timeout: Duration) -> Deadline {
        let margin = (timeout / 10).clamp(Duration::from_millis(500), Duration::from_secs(5));
        Deadline::after(timeout.saturating_sub(margin))
    }

    /// Time left, `None` when unlimited.
    pub fn remaining(&self) -> Option<Duration> {
        self.end
            .map(|end| end.saturating_duration_since(Instant::now()))
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.end, other.end) {
            (Some(a), Some(b)) => Deadline {
                end: Some(a.min(b)),
            },
            (Some(a), None) | (None, Some(a)) => Deadline { end: Some(a) },
            (None, None) => Deadline { end: None },
        }
    }

    /// `wanted`, cut down to what is left (for socket and HTTP timeouts).
    pub fn cap(&self, wanted: Duration) -> Duration {
        match self.remaining() {
            Some(r) => wanted.min(r),
            None => wanted,
        }
    }

    /// Sleeps for `d` or until the deadline, whichever is first. False if the deadline passed.
    pub fn sleep(&self, d: Duration) -> bool {
        std::thread::sleep(self.cap(d));
        !self.expired()
    }

    /// Calls `probe` every `every` until it returns `Some` or the deadline passes.
    /// The probe always runs at least once, even with an expired deadline.
    pub fn poll<T>(&self, every: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            if self.expired() || !self.sleep(every) {
                return probe();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_margin() {
        // The end lies between "18 s after before" and "18 s after after", however long the
        // call took on a loaded machine.
        let ends_after = |timeout: Duration, keeps: Duration| {
            let before = Instant::now();
            let d = Deadline::for_operation(timeout);
            let after = Instant::now();
            let end = d.end.expect("a deadline");
            assert!(end >= before + keeps && end <= after + keeps, "{timeout:?}");
        };
        ends_after(Duration::from_secs(20), Duration::from_secs(18));
        ends_after(Duration::from_secs(2), Duration::from_millis(1500));
        ends_after(Duration::from_secs(120), Duration::from_secs(115));
        let d = Deadline::for_operation(Duration::from_millis(100));
        assert!(d.expired());
    }

    #[test]
    fn poll_gives_up_at_the_deadline() {
        let d = Deadline::after(Duration::from_millis(50));
        let mut calls = 0;
        let got: Option<()> = d.poll(Duration::from_millis(10), || {
            calls += 1;
            None
        });
        assert!(got.is_none());
        assert!(calls >= 2);
        assert!(d.expired());
    }

    #[test]
    fn poll_returns_first_success() {
        let d = Deadline::none();
        let mut n = 0;
        let got = d.poll(Duration::from_millis(1), || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got, Some(3));
    }

    #[test]
    fn min_and_cap() {
        let none = Deadline::none();
        assert!(none.remaining().is_none());
        assert_eq!(none.cap(Duration::from_secs(3)), Duration::from_secs(3));
        let short = Deadline::after(Duration::from_secs(1));
        assert!(none.min(short).remaining().is_some());
        assert!(short.cap(Duration::from_secs(60)) <= Duration::from_secs(1));
    }
}
