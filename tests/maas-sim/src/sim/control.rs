//! The `/_sim/` endpoints tests drive the simulator with (no authentication: a loopback test
//! tool): GET events (one line per power event, in order; `?time=1` puts the time of each,
//! seconds since the epoch, first), POST events/clear, GET requests (`?time=1` likewise),
//! GET|POST region (region-wide settings: `power_delay_ms`, `rate_per_s`, `rate_burst`,
//! `reset_counters`; it answers them with the counters `rate_limited` and `admitted`),
//! GET|POST machines/<hostname or system_id> (POST merges a JSON object into the machine:
//! fault, power_state, status_name, locked, power_type, power_delay_ms, slow_ms, flap_ms,
//! on_power_off, on_power_on).

use super::machine::SimMachine;
use super::{json, lock, text, Reply, Shared};
use std::time::Instant;

/// Log lines, with their times first when the query asks for `time=1`.
fn lines(log: &[(f64, String)], timed: bool) -> String {
    log.iter()
        .map(|(at, line)| {
            if timed {
                format!("{at:.6} {line}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

pub fn control_request(
    sim: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &str,
) -> Reply {
    let timed = query.iter().any(|(k, v)| k == "time" && v == "1");
    let mut s = lock(sim);
    match (method, path) {
        ("GET", "events") => text(200, lines(&s.events, timed)),
        ("POST", "events/clear") => {
            s.events.clear();
            s.requests.clear();
            text(200, "")
        }
        ("GET", "requests") => text(200, lines(&s.requests, timed)),
        ("GET", "region") => json(200, &s.region.to_json()),
        ("POST", "region") => {
            let patch: serde_json::Value = match serde_json::from_str(body) {
                Ok(v) => v,
                Err(e) => return text(400, format!("bad JSON: {e}")),
            };
            match s.region.patch(&patch, Instant::now()) {
                Ok(()) => json(200, &s.region.to_json()),
                Err(e) => text(400, e),
            }
        }
        (_, p) if p.starts_with("machines/") => {
            let name = p.trim_start_matches("machines/").trim_end_matches('/');
            let Some(m) = s.find(name) else {
                return text(404, format!("no machine {name}"));
            };
            if method == "POST" {
                let patch: serde_json::Value = match serde_json::from_str(body) {
                    Ok(v) => v,
                    Err(e) => return text(400, format!("bad JSON: {e}")),
                };
                let mut current = match serde_json::to_value(&*m) {
                    Ok(v) => v,
                    Err(e) => return text(500, e.to_string()),
                };
                if let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) {
                    for (k, v) in p {
                        cur.insert(k.clone(), v.clone());
                    }
                }
                match serde_json::from_value::<SimMachine>(current) {
                    Ok(mut new) => {
                        new.generation = m.generation + 1;
                        // Flapping counts from when it was set (or its period changed).
                        let restarts =
                            patch.get("fault").is_some() || patch.get("flap_ms").is_some();
                        new.flap_since = if restarts {
                            (new.fault == "flapping").then(Instant::now)
                        } else {
                            m.flap_since
                        };
                        *m = new;
                    }
                    Err(e) => return text(400, format!("bad machine: {e}")),
                }
            }
            match serde_json::to_value(&*m) {
                Ok(v) => json(200, &v),
                Err(e) => text(500, e.to_string()),
            }
        }
        _ => text(404, "unknown control endpoint"),
    }
}
