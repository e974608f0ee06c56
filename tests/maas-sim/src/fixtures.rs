//! MAAS's own answers (`fixtures/maas-*/`, taken from the MAAS sources: see the README there)
//! and the means to ask the simulator the same questions: what `tests/fidelity.rs` and
//! fence_maas's `tests/maas_answers.rs` compare.

use crate::LocalSim;
use serde_json::Value;
use std::path::PathBuf;

/// The MAAS release the fixtures come from.
pub const MAAS: &str = "maas-3.5-9e51f33";

/// The machine fields fence_maas reads or decides on, besides those it only prints.
pub const USED_FIELDS: &[&str] = &[
    "system_id",
    "hostname",
    "fqdn",
    "domain",
    "power_state",
    "power_type",
    "status",
    "status_name",
    "owner",
    "locked",
    "zone",
    "pool",
    "tag_names",
];

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(MAAS)
}

pub fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What came back for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

/// One answer MAAS gives, and the request that gets it (`answers.json`).
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub method: String,
    /// Below `/MAAS/api/2.0/`, with its query.
    pub path: String,
    pub form: Vec<(String, String)>,
    /// Applied to the simulator's machine before the request (`{"fault": "no_rack"}`).
    pub sim_patch: Option<Value>,
    /// False for answers the simulator does not model.
    pub simulated: bool,
    pub provenance: String,
    pub answer: Answer,
}

impl Expected {
    /// The operation asked for (`op=`), if any.
    pub fn op(&self) -> Option<&str> {
        let query = self.path.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("op="))
            .chain(
                self.form
                    .iter()
                    .filter(|(k, _)| k == "op")
                    .map(|(_, v)| v.as_str()),
            )
            .next()
    }

    /// The system_id of a `machines/<id>/` request.
    pub fn system_id(&self) -> Option<&str> {
        let path = self.path.split('?').next().unwrap_or("");
        path.strip_prefix("machines/")
            .and_then(|r| r.strip_suffix('/'))
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }
}

/// Every answer of `answers.json`.
pub fn answers() -> Vec<Expected> {
    let manifest = json("answers.json");
    let text = |v: &Value, key: &str| v[key].as_str().map(str::to_string);
    manifest["answers"]
        .as_array()
        .expect("answers.json: an array of answers")
        .iter()
        .map(|a| {
            let name = text(a, "name").expect("answer name");
            let request = &a["request"];
            let body = match (text(a, "body"), text(a, "body_file")) {
                (Some(body), None) => body,
                (None, Some(file)) => read(&file),
                _ => panic!("{name}: exactly one of body, body_file"),
            };
            Expected {
                method: text(request, "method").expect("request method"),
                path: text(request, "path").expect("request path"),
                form: request["form"]
                    .as_object()
                    .map(|f| {
                        f.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                sim_patch: a.get("sim_patch").cloned(),
                simulated: a["simulated"].as_bool().unwrap_or(true),
                provenance: text(a, "provenance").expect("provenance"),
                answer: Answer {
                    status: a["status"].as_u64().expect("status") as u16,
                    content_type: text(a, "content_type"),
                    retry_after: text(a, "retry_after"),
                    body,
                },
                name,
            }
        })
        .collect()
}

/// Every machine object of the fixtures, one per system_id.
pub fn machine_objects() -> Vec<Value> {
    let mut all: Vec<Value> = [
        "machine-read.json",
        "machine-deployed.json",
        "machine-ready.json",
        "machine-manual.json",
        "power-off.json",
    ]
    .iter()
    .map(|f| json(f))
    .collect();
    all.extend(
        json("machines-list.json")
            .as_array()
            .cloned()
            .expect("machines-list.json: an array"),
    );
    let mut seen = std::collections::HashSet::new();
    all.retain(|m| seen.insert(m["system_id"].as_str().unwrap_or("").to_string()));
    all
}

/// A MAAS machine object as the simulator's machines file describes it.
pub fn sim_machine(m: &Value) -> Value {
    serde_json::json!({
        "system_id": m["system_id"],
        "hostname": m["hostname"],
        "domain": m["domain"]["name"],
        "status_name": m["status_name"],
        "power_state": m["power_state"],
        "power_type": m["power_type"],
        "locked": m["locked"],
        "owner": m["owner"],
        "tags": m["tag_names"],
        "zone": m["zone"]["name"],
        "pool": m["pool"]["name"],
        "ip_addresses": m["ip_addresses"],
    })
}

/// The simulator's machines file for the fixtures' machines.
pub fn sim_machines() -> String {
    Value::Array(machine_objects().iter().map(sim_machine).collect()).to_string()
}

/// Asks `sim` what `expected` asks MAAS, every machine first put back as the fixtures have it
/// (no fault, power changes far off), then `sim_patch` applied.
pub fn replay(sim: &LocalSim, expected: &Expected) -> Answer {
    for m in machine_objects() {
        let mut state = sim_machine(&m);
        state["fault"] = "".into();
        state["power_delay_ms"] = 3_600_000.into();
        let id = m["system_id"].as_str().unwrap_or("");
        if let (Some(patch), Some(target)) = (&expected.sim_patch, expected.system_id()) {
            if target == id {
                for (k, v) in patch.as_object().into_iter().flatten() {
                    state[k] = v.clone();
                }
            }
        }
        sim.set(id, &state.to_string());
    }
    let form: Vec<(&str, &str)> = expected
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sim.request(&expected.method, &expected.path, &form)
}

/// The JSON type of a value, as a word.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One HTTP/1.1 request on a fresh connection, read to its end.
pub fn http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Answer {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let raw = String::from_utf8_lossy(&raw);
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Answer {
        status,
        content_type: field("content-type"),
        retry_after: field("retry-after"),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `Authorization` header MAAS clients send for `key` (`consumer:token:secret`): OAuth 1.0
/// PLAINTEXT, the signature `&<secret>` percent-encoded.
pub fn oauth_header(key: &str) -> String {
    let parts: Vec<&str> = key.trim().split(':').collect();
    let [consumer, token, secret] = parts[..] else {
        panic!("an API key has three fields");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "OAuth realm=\"\", oauth_nonce=\"{now}1\", oauth_timestamp=\"{now}\", oauth_version=\"1.0\", \
         oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{consumer}\", \
         oauth_token=\"{token}\", oauth_signature=\"%26{secret}\""
    )
}
