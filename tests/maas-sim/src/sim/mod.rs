//! The simulator, by concern: [`machine`] (what a machine is), [`faults`] (what can go wrong,
//! set per machine at run time), [`power`] (asynchronous power changes and their hooks),
//! [`api`] (the MAAS 2.0 and Redfish endpoints), [`control`] (the `/_sim/` endpoints tests
//! drive it with) and [`server`] (HTTP, options, start).

pub mod api;
pub mod control;
pub mod faults;
pub mod machine;
pub mod power;
pub mod server;

use machine::SimMachine;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// The whole simulated region: machines, the power event log, the request log, the key.
pub struct Sim {
    pub machines: Vec<SimMachine>,
    pub events: Vec<String>,
    pub requests: Vec<String>,
    pub events_file: Option<String>,
    pub consumer_key: String,
    pub token_key: String,
    pub token_secret: String,
    pub power_delay_ms: u64,
}

pub type Shared = Arc<Mutex<Sim>>;

pub fn lock(s: &Shared) -> MutexGuard<'_, Sim> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sim {
    pub fn event(&mut self, line: String) {
        if let Some(path) = &self.events_file {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        self.events.push(line);
    }

    pub fn find(&mut self, name: &str) -> Option<&mut SimMachine> {
        self.machines
            .iter_mut()
            .find(|m| m.system_id == name || m.hostname == name || m.fqdn() == name)
    }
}

/// One HTTP answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub json: bool,
    pub location: Option<String>,
}

pub fn json(status: u16, v: &serde_json::Value) -> Reply {
    Reply {
        status,
        body: v.to_string(),
        json: true,
        location: None,
    }
}

pub fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        json: false,
        location: None,
    }
}
