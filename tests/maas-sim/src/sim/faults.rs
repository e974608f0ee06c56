//! Faults a test sets on a machine at run time (`fault`): what a MAAS in trouble answers.
//!
//! * before any machine request: `503` (no rack controller), `500` (power driver error),
//!   `hang` (never answers), `slow` (answers after `slow_ms`);
//! * on `query_power_state`: `504` (BMC timed out), `error`, `unknown`, `flapping` (off and on
//!   in turn); power type `manual` reads `unknown`;
//! * on a power change: `stuck_on` (the change never happens; see [`crate::sim::power`]).

use super::machine::SimMachine;
use super::{text, Reply};
use std::time::Duration;

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
        "flapping" => {
            m.flap = !m.flap;
            if m.flap { "off" } else { "on" }.to_string()
        }
        _ if m.power_type == "manual" => "unknown".to_string(),
        _ => m.power_state.clone(),
    };
    if state != "error" {
        m.power_state = state.clone();
    }
    Ok(state)
}
