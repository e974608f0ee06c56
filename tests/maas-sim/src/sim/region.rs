//! Region-wide behaviour a test sets at run time (`/_sim/region`, or `serve` options): the
//! default power delay of every machine and a rate limit. A MAAS region has a bounded pool of
//! API workers (and often a proxy in front); when a rack fails and every fencer asks at once,
//! the requests beyond what it can take are answered 503, to be retried later. The simulator
//! models that with a token bucket over all API requests: `rate_burst` requests at once, then
//! `rate_per_s` a second.

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    /// A full bucket. `per_second` must be positive; `burst` is at least one request.
    pub fn new(per_second: f64, burst: f64, now: Instant) -> RateLimit {
        let burst = burst.max(1.0);
        RateLimit {
            per_second,
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// Takes a token for one request at `now`, or says how long until the next one.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// What `/_sim/region` reads and sets.
#[derive(Clone, Debug, Default)]
pub struct Region {
    /// Delay before a power change takes effect, for machines without their own.
    pub power_delay_ms: u64,
    /// None: every request is served.
    pub rate_limit: Option<RateLimit>,
    /// API requests answered 503 by the rate limit so far.
    pub rate_limited: u64,
    /// API requests admitted so far.
    pub admitted: u64,
}

impl Region {
    /// Admits one API request at `now`, or answers how long the client should wait.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        let verdict = match &mut self.rate_limit {
            Some(limit) => limit.take(now),
            None => Ok(()),
        };
        match verdict {
            Ok(()) => self.admitted += 1,
            Err(_) => self.rate_limited += 1,
        }
        verdict
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "power_delay_ms": self.power_delay_ms,
            "rate_per_s": self.rate_limit.as_ref().map_or(0.0, |l| l.per_second),
            "rate_burst": self.rate_limit.as_ref().map_or(0.0, |l| l.burst),
            "rate_limited": self.rate_limited,
            "admitted": self.admitted,
        })
    }

    /// Applies a JSON object: `power_delay_ms`, `rate_per_s` (0 turns the limit off),
    /// `rate_burst` (default: one second's worth), `reset_counters`.
    pub fn patch(&mut self, patch: &serde_json::Value, now: Instant) -> Result<(), String> {
        let obj = patch.as_object().ok_or("a JSON object is expected")?;
        for key in obj.keys() {
            if ![
                "power_delay_ms",
                "rate_per_s",
                "rate_burst",
                "reset_counters",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("unknown region setting '{key}'"));
            }
        }
        let number = |key: &str| -> Result<Option<f64>, String> {
            match obj.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .map(Some)
                    .ok_or_else(|| format!("{key} must be a number >= 0")),
            }
        };
        if let Some(ms) = number("power_delay_ms")? {
            self.power_delay_ms = ms as u64;
        }
        let burst = number("rate_burst")?;
        if let Some(rate) = number("rate_per_s")? {
            self.rate_limit =
                (rate > 0.0).then(|| RateLimit::new(rate, burst.unwrap_or(rate), now));
        } else if let (Some(burst), Some(limit)) = (burst, &self.rate_limit) {
            self.rate_limit = Some(RateLimit::new(limit.per_second, burst, now));
        }
        if obj.get("reset_counters").and_then(|v| v.as_bool()) == Some(true) {
            self.rate_limited = 0;
            self.admitted = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut region = Region::default();
        region
            .patch(&serde_json::json!({"rate_per_s": 4, "rate_burst": 3}), t0)
            .unwrap();
        // A burst of 3 passes, the 4th waits a quarter of a second.
        for _ in 0..3 {
            assert!(region.admit(t0).is_ok());
        }
        let wait = region.admit(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-6, "{wait:?}");
        // A quarter of a second later, one more; not two.
        let t1 = t0 + Duration::from_millis(250);
        assert!(region.admit(t1).is_ok());
        assert!(region.admit(t1).is_err());
        // A long pause refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(region.admit(t2).is_ok());
        }
        assert!(region.admit(t2).is_err());
        assert_eq!((region.admitted, region.rate_limited), (7, 3));
        region
            .patch(&serde_json::json!({"rate_per_s": 0}), t2)
            .unwrap();
        assert!(region.admit(t2).is_ok());
        assert!(region
            .patch(&serde_json::json!({"rate_per_s": -1}), t2)
            .is_err());
        assert!(region.patch(&serde_json::json!({"rate": 1}), t2).is_err());
    }
}
