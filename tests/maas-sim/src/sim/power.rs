//! Power changes as MAAS makes them: `power_off`/`power_on` answer 200 with the machine as it
//! *was* and the change happens after a delay (or never: fault `stuck_on`); manual power types
//! answer `null`, locked machines 403, power_on of a machine nobody owns (Ready) 409; power_on
//! deploys an Allocated machine and power-cycles a running one. A machine may run a shell command when it
//! goes off or on (a test kills a node's processes that way).

use super::machine::SimMachine;
use super::{json, lock, text, Reply, Shared};
use std::time::Duration;

fn run_hook(cmd: &str) {
    let _ = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Applies a power change after the machine's delay, unless a newer power op came first.
pub fn schedule_power(
    sim: &Shared,
    system_id: String,
    target: &'static str,
    generation: u64,
    delay: u64,
) {
    let sim = sim.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(delay));
        let hook = {
            let mut s = lock(&sim);
            let Some(m) = s.find(&system_id) else { return };
            if m.generation != generation || m.fault == "stuck_on" || m.fault == "no_rack" {
                return;
            }
            m.power_state = target.into();
            let hostname = m.hostname.clone();
            let hook = if target == "off" {
                m.on_power_off.clone()
            } else {
                m.on_power_on.clone()
            };
            s.event(format!("{hostname} {target}"));
            hook
        };
        if let Some(cmd) = hook {
            run_hook(&cmd);
        }
    });
}

/// A power change MAAS accepted: the event to log and when it takes effect.
pub struct Accepted {
    pub event: String,
    pub system_id: String,
    pub target: &'static str,
    pub generation: u64,
    pub delay_ms: u64,
}

/// `op=power_off` / `op=power_on` on machine `m`: the answer, and the change to schedule
/// (with [`schedule_power`], once the simulator is unlocked) if MAAS accepted it.
pub fn request(
    m: &mut SimMachine,
    op: &str,
    form: &[(String, String)],
    delay_default: u64,
) -> (Reply, Option<Accepted>) {
    if m.locked {
        return (text(403, ""), None);
    }
    if m.power_type == "manual" {
        return (json(200, &serde_json::Value::Null), None);
    }
    let old = m.to_json();
    let hostname = m.hostname.clone();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (event, target) = if op == "power_off" {
        let stop_mode = match field("stop_mode").as_str() {
            "soft" => "soft",
            _ => "hard",
        };
        (format!("{hostname} power_off stop_mode={stop_mode}"), "off")
    } else {
        // MAAS refuses to start a machine without an owner (api/nodes.py power_on); a Ready
        // machine has none (release clears it), whatever the machines file says.
        if m.owner.is_none() || m.status_name == "Ready" {
            return (
                text(409, "Can't start node: it hasn't been allocated."),
                None,
            );
        }
        if m.status_name == "Allocated" {
            m.status_name = "Deploying".into();
        }
        let event = if m.status_name == "Deploying" {
            format!("{hostname} power_on deploy")
        } else if m.power_state == "on" {
            format!("{hostname} power_on cycle")
        } else {
            format!("{hostname} power_on")
        };
        (event, "on")
    };
    m.generation += 1;
    let accepted = Accepted {
        event,
        system_id: m.system_id.clone(),
        target,
        generation: m.generation,
        delay_ms: m.power_delay_ms.unwrap_or(delay_default),
    };
    (json(200, &old), Some(accepted))
}
