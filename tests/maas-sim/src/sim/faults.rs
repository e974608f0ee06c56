//! Faults a test sets on a machine at run time (`fault`): what a MAAS in trouble answers.
//!
//! * before any machine request: `503` (MAAS's answer when no rack controller is connected,
//!   given to every machine request: a region in trouble, or a proxy in front of it), `500`
//!   (power driver error), `hang` (never answers), `slow` (answers after `slow_ms`);
//! * `no_rack`: what MAAS itself does when no rack controller reaches the BMC: reads answer,
//!   `query_power_state` answers 503 (the power query needs a rack), power changes are
//!   accepted (MAAS sends them after the commit, so the API cannot fail them) and never
//!   happen;
//! * on `query_power_state`: `504` (MAAS gave up waiting for the BMC), `error`, `unknown`,
//!   `flapping` (on for `flap_ms`, then off for `flap_ms`, and so on, from when the fault was
//!   set: a machine that keeps coming back on, or a BMC that cannot make up its mind,
//!   whatever is asked of it); power type `manual` reads `unknown`;
//! * on a power change: `stuck_on` (the change never happens; see [`crate::sim::power`]).
//!
//! The bodies, content types and `Retry-After` are MAAS's own: see
//! `tests/maas-sim/fixtures/maas-*/README.md`.

use super::machine::SimMachine;
use super::{text, Reply, MAAS_RETRY_AFTER};
use std::time::{Duration, Instant};

/// What a fault does before a machine request is looked at: an answer instead of the real
/// one, or a delay (`hang` never returns).
pub fn before_request(fault: &str, slow_ms: u64) -> Option<Reply> {
    match fault {
        "503" => Some(no_rack_controller()),
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

/// The rack controller MAAS names when it has no connection to it (the system_id of
/// api/examples/rackcontrollers.json).
pub const RACK_ID: &str = "fcka3t";

/// MAAS's answer when no rack controller can be reached (NoConnectionsAvailable, turned into
/// a 503 with `Retry-After` by APIRPCErrorsMiddleware).
pub fn no_rack_controller() -> Reply {
    Reply {
        retry_after: Some(MAAS_RETRY_AFTER),
        ..text(
            503,
            format!(
                "Unable to connect to any rack controller {RACK_ID}; no connections available."
            ),
        )
    }
}

/// MAAS's answer when its 60 s wait for the power query runs out: crochet's TimeoutError
/// carries no message, so MAAS words one (clusterrpc/utils.py), 504 without `Retry-After`.
pub fn power_query_timed_out() -> Reply {
    text(
        504,
        "Unexpected exception: TimeoutError. See /var/log/maas/regiond.log on the region server for more information.",
    )
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
    match fault {
        "504" => return Err(power_query_timed_out()),
        "no_rack" => return Err(no_rack_controller()),
        _ => {}
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
