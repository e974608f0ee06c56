//! The simulator, by concern: [`machine`] (what a machine is), [`faults`] (what can go wrong,
//! set per machine at run time), [`power`] (asynchronous power changes and their hooks),
//! [`api`] (the MAAS 2.0 and Redfish endpoints), [`describe`] (the API description python-libmaas
//! reads), [`region`] (region-wide power delay and rate
//! limit), [`control`] (the `/_sim/` endpoints tests drive it with) and [`server`] (HTTP,
//! options, start).

pub mod api;
pub mod control;
pub mod describe;
pub mod faults;
pub mod machine;
pub mod power;
pub mod region;
pub mod server;

use machine::SimMachine;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// The whole simulated region: machines, the power event log, the request log, the key, the
/// region-wide settings.
pub struct Sim {
    pub machines: Vec<SimMachine>,
    /// Power events, each with when it happened (seconds since the epoch).
    pub events: Vec<(f64, String)>,
    /// API requests (`METHOD path op=OP status`), each with when it was answered.
    pub requests: Vec<(f64, String)>,
    pub events_file: Option<String>,
    pub consumer_key: String,
    pub token_key: String,
    pub token_secret: String,
    pub region: region::Region,
}

/// Seconds since the epoch: the clock the tests compare events with (Pacemaker's logs,
/// Masakari's generated_time).
pub fn epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
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
        self.events.push((epoch(), line));
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
    pub content_type: &'static str,
    pub location: Option<String>,
    /// Seconds for `Retry-After`; none is sent without it.
    pub retry_after: Option<u64>,
}

/// What MAAS's JSON emitter sends with every success (api/tests/test_api.py asserts it).
pub const JSON: &str = "application/json; charset=utf-8";
/// What MAAS sends with its errors (maasserver/exceptions.py, middleware.py).
pub const TEXT: &str = "text/plain; charset=utf-8";
/// The `Retry-After` MAAS sends with a 503 for a missing rack connection
/// (middleware.py `RETRY_AFTER_SERVICE_UNAVAILABLE`).
pub const MAAS_RETRY_AFTER: u64 = 10;

pub fn json(status: u16, v: &serde_json::Value) -> Reply {
    Reply {
        status,
        body: v.to_string(),
        content_type: JSON,
        location: None,
        retry_after: None,
    }
}

pub fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        content_type: TEXT,
        location: None,
        retry_after: None,
    }
}
