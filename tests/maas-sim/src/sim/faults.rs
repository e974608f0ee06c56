//! Faults a test sets on a machine at run time (`fault`): what a MAAS in trouble answers.
//!
//! * before any machine request: `503` (no rack controller), `500` (power driver error),
//!   `hang` (never answers), `slow` (answers after `slow_ms`);
//! * on `query_power_state`: `504` (BMC timed out), `error`, `unknown`, `flapping` (on for
//!   `flap_ms`, then off for `flap_ms`, and so on, from when the fault was set: a machine that
//!   keeps coming back on, or a BMC that cannot make up its mind, whatever is asked of it);
//!   power type `manual` reads `unknown`;
//! * on a power change: `stuck_on` (the change never happens; see [`crate::sim::power`]).

use super::machine::SimMachine;
use super::{text, Reply};
use std::time::{Duration, Instant};

/// What a fault does before a machine request is looked at: an answer instead of the real
/// one, or a delay (`hang` never returns).
pub fn before_request(fault: &str, slow_ms: u64) -> Option<Reply> {
    match fault {
        "503" => Some(text(
            503,
            "Unable to connect to any rack controller; no connections available.",
        )),
        "500" => Some(text(500, "PowerActionFail: power driver error")),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "slow" => {
            std::thread::sleep(Duration::from_millis(slow_ms));
            None
        }
        _ => None,
    }
}

/// What a flapping machine reads at `now`: on during the first `flap_ms` after the fault was
/// set, off during the next, and so on.
pub fn flapping_state(m: &mut SimMachine, now: Instant) -> &'static str {
    let since = *m.flap_since.get_or_insert(now);
    let period = m.flap_ms.max(1) as u128;
    let phase = now.saturating_duration_since(since).as_millis() / period;
    if phase.is_multiple_of(2) {
        "on"
    } else {
        "off"
    }
}

/// The state `query_power_state` reports under `fault`, or the error it answers instead.
pub fn power_reading(m: &mut SimMachine, fault: &str) -> Result<String, Reply> {
    if fault == "504" {
        return Err(text(
            504,
            "Timed out waiting for power response from the BMC.",
        ));
    }
    let state = match fault {
        "error" => "error".to_string(),
        "unknown" => "unknown".to_string(),
        "flapping" => flapping_state(m, Instant::now()).to_string(),
        _ if m.power_type == "manual" => "unknown".to_string(),
        _ => m.power_state.clone(),
    };
    if state != "error" {
        m.power_state = state.clone();
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flapping_follows_the_clock_not_the_reads() {
        let mut m = SimMachine {
            fault: "flapping".into(),
            flap_ms: 100,
            ..SimMachine::default()
        };
        let t0 = Instant::now();
        m.flap_since = Some(t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Many reads within one phase agree; the state changes only when the period passes.
        assert_eq!(flapping_state(&mut m, at(0)), "on");
        assert_eq!(flapping_state(&mut m, at(1)), "on");
        assert_eq!(flapping_state(&mut m, at(99)), "on");
        assert_eq!(flapping_state(&mut m, at(100)), "off");
        assert_eq!(flapping_state(&mut m, at(150)), "off");
        assert_eq!(flapping_state(&mut m, at(199)), "off");
        assert_eq!(flapping_state(&mut m, at(200)), "on");
        assert_eq!(flapping_state(&mut m, at(350)), "off");
    }
}
