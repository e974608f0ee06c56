//! The `/_sim/` endpoints tests drive the simulator with (no authentication: a loopback test
//! tool): GET events (one line per power event, in order), POST events/clear, GET requests,
//! GET|POST machines/<hostname or system_id> (POST merges a JSON object into the machine:
//! fault, power_state, status_name, locked, power_type, power_delay_ms, slow_ms,
//! on_power_off, on_power_on).

use super::machine::SimMachine;
use super::{json, lock, text, Reply, Shared};

pub fn control_request(sim: &Shared, method: &str, path: &str, body: &str) -> Reply {
    let mut s = lock(sim);
    match (method, path) {
        ("GET", "events") => text(
            200,
            s.events
                .iter()
                .map(|e| format!("{e}\n"))
                .collect::<String>(),
        ),
        ("POST", "events/clear") => {
            s.events.clear();
            s.requests.clear();
            text(200, "")
        }
        ("GET", "requests") => text(
            200,
            s.requests
                .iter()
                .map(|e| format!("{e}\n"))
                .collect::<String>(),
        ),
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
