//! The MAAS 2.0 API as a fence agent sees it: OAuth 1.0 PLAINTEXT checked on every call (401
//! otherwise), `machines/?hostname=&id=`, machine reads, `op=query_power_state`, power
//! operations, `users/?op=whoami`; and just enough Redfish for the benchmark's fence_redfish.

use super::machine::SimMachine;
use super::{faults, json, lock, power, text, Reply, Shared, Sim};

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks a MAAS OAuth header (auth.py: the six necessary parameters, PLAINTEXT, integer
/// timestamp, consumer key, token and signature `&<token_secret>`).
pub fn check_auth(header: Option<&str>, sim: &Sim) -> Result<(), Reply> {
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

/// MAAS's answer for an unknown system_id: Django's Http404 text, which MAAS's piston
/// error handler (api/support.py) sends as bare `text/plain`.
fn machine_not_found() -> Reply {
    Reply {
        content_type: "text/plain",
        ..text(404, "No Machine matches the given query.")
    }
}

/// A request on `machines/<id>/`: faults first, then the read, the power query or the power
/// change.
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
            None => return machine_not_found(),
        }
    };
    if let Some(reply) = faults::before_request(&fault, slow) {
        return reply;
    }
    let mut s = lock(sim);
    let delay_default = s.region.power_delay_ms;
    let Some(m) = s.machines.iter_mut().find(|m| m.system_id == id) else {
        return machine_not_found();
    };
    match (method, op) {
        ("GET", None) => json(200, &m.to_json()),
        ("GET", Some("query_power_state")) => match faults::power_reading(m, &fault) {
            Ok(state) => json(200, &serde_json::json!({ "state": state })),
            Err(reply) => reply,
        },
        ("POST", Some(op @ ("power_off" | "power_on"))) => {
            let (reply, accepted) = power::request(m, op, form, delay_default);
            if let Some(a) = accepted {
                s.event(a.event.clone());
                drop(s);
                power::schedule_power(sim, a.system_id, a.target, a.generation, a.delay_ms);
            }
            reply
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

pub fn api_request(
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
            body: out,
            ..json(200, &serde_json::Value::Null)
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
    // MAAS's answer for a path no handler serves (api/tests/test_not_found.py).
    text(404, format!("Unknown API endpoint: /MAAS/api/2.0/{path}."))
}

/// Just enough Redfish (service root, systems collection, one system per machine) for
/// fence_redfish to read a power state: the benchmark's Python agent doing the same work.
pub fn redfish_request(sim: &Shared, path: &str) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Sim {
        Sim {
            machines: crate::sim::machine::generate(3),
            events: Vec::new(),
            requests: Vec::new(),
            events_file: None,
            consumer_key: "CK".into(),
            token_key: "TK".into(),
            token_secret: "TS".into(),
            region: Default::default(),
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
}
