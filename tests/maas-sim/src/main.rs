//! maas-sim: a MAAS 2.0 region API on loopback, for fence_maas tests and benchmarks.
//!
//! It behaves as the MAAS sources do where a fence agent can tell: OAuth 1.0 PLAINTEXT
//! checked on every API call (401 otherwise), `machines/?hostname=&id=`, machine reads,
//! `op=query_power_state`, and power operations that answer 200 with the machine as it *was*
//! and change the power state only after a delay, `null` for power type manual, 403 for
//! locked machines, 409 for power_on of a Ready machine, Allocated machines deploying on
//! power_on, a running machine power-cycling on power_on. Faults are set per machine at run
//! time through `/_sim/` control endpoints (no auth; loopback test tool): 503, 504, 500,
//! hang, slow, stuck_on, flapping, unknown, error. A machine may run a shell command when it
//! goes off (e.g. kill a process, so a cluster test sees a node die).
//!
//! Usage:
//!   maas-sim serve [--listen 127.0.0.1:5240] [--port-file F] (--machines FILE | --generate N)
//!                  (--api-key KEY | --api-key-file F) [--power-delay-ms 1000] [--events F]
//!   maas-sim ctl ADDR METHOD PATH [JSON]     e.g. ctl 127.0.0.1:5240 POST /_sim/machines/compute-1 '{"fault":"503"}'
//!
//! `/redfish/v1/…` answers a minimal Redfish power read of the first machine, so the benchmark
//! can run fence-agents' fence_redfish against the same server.
//!
//! Control endpoints: GET /_sim/events (one line per power event, in order), POST
//! /_sim/events/clear, GET /_sim/requests, GET|POST /_sim/machines/<hostname or system_id>
//! (POST merges a JSON object into the machine: fault, power_state, status_name, locked,
//! power_type, power_delay_ms, slow_ms, on_power_off, on_power_on).

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
struct SimMachine {
    system_id: String,
    hostname: String,
    domain: String,
    status_name: String,
    power_state: String,
    power_type: String,
    locked: bool,
    owner: Option<String>,
    tags: Vec<String>,
    zone: String,
    pool: String,
    ip_addresses: Vec<String>,
    /// "", "503", "504", "500", "hang", "slow", "stuck_on", "flapping", "unknown", "error".
    fault: String,
    /// Delay before a power change takes effect (default: --power-delay-ms).
    power_delay_ms: Option<u64>,
    /// Extra latency of every machine request under fault "slow".
    slow_ms: u64,
    /// `sh -c` when the machine goes off / on.
    on_power_off: Option<String>,
    on_power_on: Option<String>,
    #[serde(skip)]
    generation: u64,
    #[serde(skip)]
    flap: bool,
}

impl Default for SimMachine {
    fn default() -> Self {
        SimMachine {
            system_id: String::new(),
            hostname: String::new(),
            domain: "maas".into(),
            status_name: "Deployed".into(),
            power_state: "on".into(),
            power_type: "ipmi".into(),
            locked: false,
            owner: Some("admin".into()),
            tags: Vec::new(),
            zone: "default".into(),
            pool: "default".into(),
            ip_addresses: Vec::new(),
            fault: String::new(),
            power_delay_ms: None,
            slow_ms: 2000,
            on_power_off: None,
            on_power_on: None,
            generation: 0,
            flap: false,
        }
    }
}

fn status_code(name: &str) -> u32 {
    const NAMES: &[&str] = &[
        "New",
        "Commissioning",
        "Failed commissioning",
        "Missing",
        "Ready",
        "Reserved",
        "Deployed",
        "Retired",
        "Broken",
        "Deploying",
        "Allocated",
        "Failed deployment",
        "Releasing",
        "Releasing failed",
        "Disk erasing",
        "Failed disk erasing",
        "Rescue mode",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(0, |p| p as u32)
}

impl SimMachine {
    fn fqdn(&self) -> String {
        format!("{}.{}", self.hostname, self.domain)
    }

    /// The machine object as MAAS 2.0 renders it (the fields of api/examples/nodes.json).
    fn to_json(&self) -> serde_json::Value {
        let uri = format!("/MAAS/api/2.0/machines/{}/", self.system_id);
        serde_json::json!({
            "system_id": self.system_id,
            "hostname": self.hostname,
            "fqdn": self.fqdn(),
            "domain": {"name": self.domain, "id": 0, "is_default": true, "authoritative": true,
                       "ttl": null, "resource_record_count": 0, "resource_uri": "/MAAS/api/2.0/domains/0/"},
            "power_state": self.power_state,
            "power_type": self.power_type,
            "status": status_code(&self.status_name),
            "status_name": self.status_name,
            "status_action": "",
            "status_message": "",
            "owner": self.owner,
            "owner_data": {},
            "locked": self.locked,
            "node_type": 0,
            "node_type_name": "Machine",
            "zone": {"name": self.zone, "id": 1, "description": "", "resource_uri": format!("/MAAS/api/2.0/zones/{}/", self.zone)},
            "pool": {"name": self.pool, "id": 1, "description": "", "resource_uri": "/MAAS/api/2.0/resourcepool/1/"},
            "tag_names": self.tags,
            "ip_addresses": self.ip_addresses,
            "architecture": "amd64/generic",
            "osystem": "ubuntu",
            "distro_series": "jammy",
            "hwe_kernel": "ga-22.04",
            "min_hwe_kernel": "",
            "netboot": false,
            "cpu_count": 64,
            "cpu_speed": 2400,
            "memory": 262144,
            "storage": 1920383.410176,
            "swap_size": null,
            "description": "",
            "hardware_uuid": format!("4c4c4544-0000-1000-8000-{:0>12}", self.system_id),
            "boot_disk": null,
            "testing_status_name": "Passed",
            "commissioning_status_name": "Passed",
            "virtualblockdevice_set": [],
            "special_filesystems": [],
            "resource_uri": uri,
        })
    }
}

struct Sim {
    machines: Vec<SimMachine>,
    events: Vec<String>,
    requests: Vec<String>,
    events_file: Option<String>,
    consumer_key: String,
    token_key: String,
    token_secret: String,
    power_delay_ms: u64,
}

type Shared = Arc<Mutex<Sim>>;

fn lock(s: &Shared) -> MutexGuard<'_, Sim> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sim {
    fn event(&mut self, line: String) {
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

    fn find(&mut self, name: &str) -> Option<&mut SimMachine> {
        self.machines
            .iter_mut()
            .find(|m| m.system_id == name || m.hostname == name || m.fqdn() == name)
    }
}

struct Reply {
    status: u16,
    body: String,
    json: bool,
    location: Option<String>,
}

fn json(status: u16, v: &serde_json::Value) -> Reply {
    Reply {
        status,
        body: v.to_string(),
        json: true,
        location: None,
    }
}

fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        json: false,
        location: None,
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks a MAAS OAuth header (auth.py: the six necessary parameters, PLAINTEXT, integer
/// timestamp, consumer key, token and signature `&<token_secret>`).
fn check_auth(header: Option<&str>, sim: &Sim) -> Result<(), Reply> {
    let Some(header) = header else {
        return Err(text(
            401,
            "Authorization Error: 'OAuth' authorization required",
        ));
    };
    let Some(params) = header.trim().strip_prefix("OAuth ") else {
        return Err(text(401, "Authorization Error: not an OAuth header"));
    };
    let mut found = std::collections::HashMap::new();
    for part in params.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            let v = v.trim().trim_matches('"');
            found.insert(k.trim().to_string(), percent_decode(v));
        }
    }
    for needed in [
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
    ] {
        if !found.contains_key(needed) {
            return Err(text(
                401,
                format!("Authorization Error: missing OAuth parameter {needed}"),
            ));
        }
    }
    let get = |k: &str| found.get(k).map(String::as_str).unwrap_or("");
    if get("oauth_timestamp").parse::<u64>().is_err() {
        return Err(text(400, "Invalid timestamp"));
    }
    if get("oauth_signature_method") != "PLAINTEXT" {
        return Err(text(
            401,
            "Authorization Error: unsupported signature method",
        ));
    }
    if get("oauth_consumer_key") != sim.consumer_key {
        return Err(text(401, "Authorization Error: Invalid API key."));
    }
    if get("oauth_token") != sim.token_key
        || get("oauth_signature") != format!("&{}", sim.token_secret)
    {
        return Err(text(
            401,
            format!("Invalid access token: {}", get("oauth_token")),
        ));
    }
    Ok(())
}

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
fn schedule_power(
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
            if m.generation != generation || m.fault == "stuck_on" {
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

fn machine_request(
    sim: &Shared,
    id: &str,
    method: &str,
    op: Option<&str>,
    form: &[(String, String)],
) -> Reply {
    let (fault, slow) = {
        let mut s = lock(sim);
        match s.machines.iter_mut().find(|m| m.system_id == id) {
            Some(m) => (m.fault.clone(), m.slow_ms),
            None => return text(404, "No Machine matches the given query."),
        }
    };
    match fault.as_str() {
        "503" => {
            return text(
                503,
                "Unable to connect to any rack controller; no connections available.",
            )
        }
        "500" => return text(500, "PowerActionFail: power driver error"),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        "slow" => std::thread::sleep(Duration::from_millis(slow)),
        _ => {}
    }
    let mut s = lock(sim);
    let delay_default = s.power_delay_ms;
    let Some(m) = s.machines.iter_mut().find(|m| m.system_id == id) else {
        return text(404, "No Machine matches the given query.");
    };
    match (method, op) {
        ("GET", None) => json(200, &m.to_json()),
        ("GET", Some("query_power_state")) => {
            if fault == "504" {
                return text(504, "Timed out waiting for power response from the BMC.");
            }
            let state = match fault.as_str() {
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
            json(200, &serde_json::json!({ "state": state }))
        }
        ("POST", Some(op @ ("power_off" | "power_on"))) => {
            if m.locked {
                return text(403, "");
            }
            if m.power_type == "manual" {
                return json(200, &serde_json::Value::Null);
            }
            let old = m.to_json();
            let hostname = m.hostname.clone();
            let system_id = m.system_id.clone();
            let delay = m.power_delay_ms.unwrap_or(delay_default);
            let field = |k: &str| {
                form.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let event;
            let target;
            if op == "power_off" {
                let stop_mode = match field("stop_mode").as_str() {
                    "soft" => "soft",
                    _ => "hard",
                };
                event = format!("{hostname} power_off stop_mode={stop_mode}");
                target = "off";
            } else {
                match m.status_name.as_str() {
                    "Deployed" => {}
                    "Allocated" => {
                        m.status_name = "Deploying".into();
                    }
                    _ => return text(409, "Can't start node: it hasn't been allocated."),
                }
                event = if m.status_name == "Deploying" {
                    format!("{hostname} power_on deploy")
                } else if m.power_state == "on" {
                    format!("{hostname} power_on cycle")
                } else {
                    format!("{hostname} power_on")
                };
                target = "on";
            }
            m.generation += 1;
            let generation = m.generation;
            s.event(event);
            drop(s);
            schedule_power(sim, system_id, target, generation, delay);
            json(200, &old)
        }
        (m, op) => text(
            400,
            format!(
                "Unrecognised signature: method={m} op={}",
                op.unwrap_or("None")
            ),
        ),
    }
}

fn api_request(
    sim: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    form: &[(String, String)],
) -> Reply {
    let op = query
        .iter()
        .chain(form.iter())
        .find(|(k, _)| k == "op")
        .map(|(_, v)| v.as_str());
    if path == "machines/" {
        if method != "GET" || op.is_some() {
            return text(
                400,
                format!(
                    "Unrecognised signature: method={method} op={}",
                    op.unwrap_or("None")
                ),
            );
        }
        let values = |key: &str| -> Vec<&str> {
            query
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let hostnames = values("hostname");
        let ids = values("id");
        let s = lock(sim);
        let mut out = String::from("[");
        let mut first = true;
        let mut selected: Vec<&SimMachine> = s
            .machines
            .iter()
            .filter(|m| hostnames.is_empty() || hostnames.contains(&m.hostname.as_str()))
            .filter(|m| ids.is_empty() || ids.contains(&m.system_id.as_str()))
            .collect();
        selected.sort_by(|a, b| a.system_id.cmp(&b.system_id));
        for m in selected {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(&m.to_json().to_string());
        }
        out.push(']');
        return Reply {
            status: 200,
            body: out,
            json: true,
            location: None,
        };
    }
    if path == "users/" {
        return match (method, op) {
            ("GET", Some("whoami")) => json(
                200,
                &serde_json::json!({"is_superuser": true, "username": "admin", "email": "admin@example.invalid",
                                    "is_local": true, "resource_uri": "/MAAS/api/2.0/users/admin/"}),
            ),
            _ => text(
                400,
                format!(
                    "Unrecognised signature: method={method} op={}",
                    op.unwrap_or("None")
                ),
            ),
        };
    }
    if let Some(id) = path
        .strip_prefix("machines/")
        .and_then(|r| r.strip_suffix('/'))
    {
        if !id.contains('/') {
            return machine_request(sim, id, method, op, form);
        }
    }
    text(404, "Not Found")
}

fn control_request(sim: &Shared, method: &str, path: &str, body: &str) -> Reply {
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

fn handle(sim: Shared, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_string();
    let url = req.url().to_string();
    let (path, query_string) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let query: Vec<(String, String)> = form_urlencoded::parse(query_string.as_bytes())
        .into_owned()
        .collect();
    let mut body = String::new();
    let _ = req.as_reader().take(4 << 20).read_to_string(&mut body);
    let header = |name: &str| {
        req.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
    };
    let form: Vec<(String, String)> = if header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    } else {
        Vec::new()
    };
    let reply = if let Some(p) = path.strip_prefix("/_sim/") {
        control_request(&sim, &method, p, &body)
    } else if path.starts_with("/redfish/v1") {
        redfish_request(&sim, path)
    } else if path == "/MAAS/api/version/" {
        text(200, "2.0")
    } else if path == "/MAAS/api/2.0/version/" {
        json(
            200,
            &serde_json::json!({"capabilities": ["authenticate-api", "static-ipaddresses"], "version": "2.9.2 (maas-sim)", "subversion": "maas-sim"}),
        )
    } else if let Some(p) = path.strip_prefix("/MAAS/api/2.0/") {
        if !p.is_empty() && !p.ends_with('/') {
            // Django's APPEND_SLASH: GETs are redirected, POSTs fail.
            if method == "GET" {
                let mut r = text(301, "");
                r.location = Some(format!(
                    "{path}/{}",
                    if query_string.is_empty() {
                        String::new()
                    } else {
                        format!("?{query_string}")
                    }
                ));
                r
            } else {
                text(500, "RuntimeError: POST to a URL without a trailing slash")
            }
        } else {
            let auth = {
                let s = lock(&sim);
                check_auth(header("authorization").as_deref(), &s)
            };
            match auth {
                Err(r) => r,
                Ok(()) => api_request(&sim, &method, p, &query, &form),
            }
        }
    } else {
        text(404, "Not Found")
    };
    if !path.starts_with("/_sim/") {
        let mut s = lock(&sim);
        if s.requests.len() < 100_000 {
            let op = query
                .iter()
                .chain(form.iter())
                .find(|(k, _)| k == "op")
                .map(|(_, v)| v.clone());
            s.requests.push(format!(
                "{method} {path} op={} {}",
                op.as_deref().unwrap_or("-"),
                reply.status
            ));
        }
    }
    let content_type = if reply.json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", content_type) {
        response.add_header(h);
    }
    if reply.status == 503 {
        if let Ok(h) = tiny_http::Header::from_bytes("Retry-After", "5") {
            response.add_header(h);
        }
    }
    if let Some(loc) = reply.location {
        if let Ok(h) = tiny_http::Header::from_bytes("Location", loc.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = req.respond(response);
}

/// Just enough Redfish (service root, systems collection, one system per machine) for
/// fence_redfish to read a power state: the benchmark's Python agent doing the same work.
fn redfish_request(sim: &Shared, path: &str) -> Reply {
    let s = lock(sim);
    match path.trim_end_matches('/') {
        "/redfish/v1" => json(
            200,
            &serde_json::json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}}),
        ),
        "/redfish/v1/Systems" => {
            let members: Vec<serde_json::Value> = s
                .machines
                .iter()
                .take(1)
                .map(|m| serde_json::json!({"@odata.id": format!("/redfish/v1/Systems/{}", m.system_id)}))
                .collect();
            json(200, &serde_json::json!({"Members": members}))
        }
        p => match p
            .strip_prefix("/redfish/v1/Systems/")
            .and_then(|id| s.machines.iter().find(|m| m.system_id == id))
        {
            Some(m) => json(
                200,
                &serde_json::json!({"PowerState": if m.power_state == "off" { "Off" } else { "On" },
                    "Actions": {"#ComputerSystem.Reset": {"target": format!("/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset", m.system_id)}}}),
            ),
            None => text(404, "Not Found"),
        },
    }
}

/// A six-character lowercase id, as MAAS's system_ids look.
fn system_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut x = n.wrapping_mul(2_654_435_761) ^ 0x5bd1e995;
    let mut id = String::new();
    for _ in 0..6 {
        id.push(ALPHABET[x % ALPHABET.len()] as char);
        x /= ALPHABET.len();
    }
    id
}

fn generate(count: usize) -> Vec<SimMachine> {
    (1..=count)
        .map(|i| SimMachine {
            system_id: format!("{}{i}", &system_id(i)[..2]),
            hostname: format!("node-{i:05}"),
            tags: if i % 10 == 0 {
                vec!["compute".into()]
            } else {
                vec!["storage".into()]
            },
            zone: format!("zone-{}", i % 4),
            pool: format!("pool-{}", i % 3),
            ip_addresses: vec![format!(
                "10.{}.{}.{}",
                i / 65536 % 256,
                i / 256 % 256,
                i % 256
            )],
            ..SimMachine::default()
        })
        .collect()
}

fn fail(msg: &str) -> ! {
    eprintln!("maas-sim: {msg}");
    std::process::exit(2)
}

fn serve(args: &[String]) {
    let mut listen = "127.0.0.1:5240".to_string();
    let mut port_file = None;
    let mut machines_file = None;
    let mut generate_count = None;
    let mut key = None;
    let mut power_delay_ms = 1000;
    let mut events_file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = value(),
            "--port-file" => port_file = Some(value()),
            "--machines" => machines_file = Some(value()),
            "--generate" => {
                generate_count = Some(
                    value()
                        .parse::<usize>()
                        .unwrap_or_else(|_| fail("--generate needs a number")),
                )
            }
            "--api-key" => key = Some(value()),
            "--api-key-file" => {
                let path = value();
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| fail(&format!("{path}: {e}")));
                key = Some(text.lines().next().unwrap_or("").trim().to_string());
            }
            "--power-delay-ms" => {
                power_delay_ms = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--power-delay-ms needs a number"))
            }
            "--events" => events_file = Some(value()),
            other => fail(&format!("unknown option {other}")),
        }
    }
    let key = key.unwrap_or_else(|| fail("--api-key or --api-key-file is required"));
    let parts: Vec<&str> = key.split(':').collect();
    if parts.len() != 3 {
        fail("the API key must be consumer:token:secret");
    }
    let mut machines = match (machines_file, generate_count) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            serde_json::from_str::<Vec<SimMachine>>(&text)
                .unwrap_or_else(|e| fail(&format!("{path}: {e}")))
        }
        (None, Some(n)) => generate(n),
        (None, None) => fail("--machines FILE or --generate N is required"),
    };
    for (i, m) in machines.iter_mut().enumerate() {
        if m.system_id.is_empty() {
            m.system_id = system_id(i + 1);
        }
    }
    let server = tiny_http::Server::http(listen.as_str())
        .unwrap_or_else(|e| fail(&format!("listen {listen}: {e}")));
    let port = server.server_addr().to_ip().map(|a| a.port()).unwrap_or(0);
    let sim: Shared = Arc::new(Mutex::new(Sim {
        machines,
        events: Vec::new(),
        requests: Vec::new(),
        events_file,
        consumer_key: parts[0].into(),
        token_key: parts[1].into(),
        token_secret: parts[2].into(),
        power_delay_ms,
    }));
    if let Some(path) = port_file {
        // Written whole under a temporary name, so a reader never sees a partial port.
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, format!("{port}\n"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            fail(&format!("cannot write {path}"));
        }
    }
    eprintln!("maas-sim: listening on port {port}");
    for req in server.incoming_requests() {
        let sim = sim.clone();
        std::thread::spawn(move || handle(sim, req));
    }
}

/// A minimal HTTP/1.1 client for the control endpoints (the test tools run it inside the
/// node's network namespace, where only the simulator is reachable).
fn ctl(args: &[String]) {
    let [addr, method, path, rest @ ..] = args else {
        fail("usage: maas-sim ctl ADDR METHOD PATH [BODY]");
    };
    let body = rest.first().cloned().unwrap_or_default();
    let mut stream = std::net::TcpStream::connect(addr.as_str())
        .unwrap_or_else(|e| fail(&format!("connect {addr}: {e}")));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // tiny_http may answer chunked; the control bodies are small, so undo it simply.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    print!("{body}");
    if !(200..300).contains(&status) {
        eprintln!("maas-sim ctl: HTTP {status}");
        std::process::exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, rest)) if cmd == "serve" => serve(rest),
        Some((cmd, rest)) if cmd == "ctl" => ctl(rest),
        _ => fail("usage: maas-sim serve ... | maas-sim ctl ADDR METHOD PATH [BODY]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Sim {
        Sim {
            machines: generate(3),
            events: Vec::new(),
            requests: Vec::new(),
            events_file: None,
            consumer_key: "CK".into(),
            token_key: "TK".into(),
            token_secret: "TS".into(),
            power_delay_ms: 0,
        }
    }

    #[test]
    fn oauth_header_checks() {
        let s = sim();
        let good = r#"OAuth realm="OAuth", oauth_nonce="1", oauth_timestamp="1795561625", oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="CK", oauth_token="TK", oauth_signature="%26TS""#;
        assert!(check_auth(Some(good), &s).is_ok());
        // The unencoded form some clients send is accepted too, as MAAS's parser unquotes.
        assert!(check_auth(Some(&good.replace("%26TS", "&TS")), &s).is_ok());
        let cases = [
            (None::<String>, 401),
            (Some("Basic abc".to_string()), 401),
            (Some(good.replace("oauth_nonce=\"1\", ", "")), 401),
            (Some(good.replace("1795561625", "soon")), 400),
            (Some(good.replace("PLAINTEXT", "HMAC-SHA1")), 401),
            (Some(good.replace("\"CK\"", "\"XX\"")), 401),
            (Some(good.replace("\"TK\"", "\"XX\"")), 401),
            (Some(good.replace("%26TS", "%26XX")), 401),
        ];
        for (header, status) in cases {
            let got = check_auth(header.as_deref(), &s).err().map(|r| r.status);
            assert_eq!(got, Some(status), "{header:?}");
        }
    }

    #[test]
    fn generated_machines_are_unique_and_realistic() {
        let machines = generate(10_000);
        let mut ids: Vec<&str> = machines.iter().map(|m| m.system_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10_000);
        let one = machines[0].to_json().to_string();
        assert!(
            one.len() > 1000,
            "a machine object should be MAAS-sized: {}",
            one.len()
        );
    }
}
