//! HTTP (tiny_http, one thread per request), routing, the rate limit, the request log, and
//! `serve`'s options.

use super::machine::{generate, system_id, SimMachine};
use super::region::Region;
use super::{api, control, epoch, json, lock, text, Reply, Shared, Sim};
use crate::fail;
use std::io::Read;
use std::sync::{Arc, Mutex};

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
        control::control_request(&sim, &method, p, &query, &body)
    } else if path.starts_with("/redfish/v1") {
        api::redfish_request(&sim, path)
    } else if path == "/MAAS/api/version/" {
        text(200, "2.0")
    } else if path == "/MAAS/api/2.0/describe/" && method == "GET" {
        // Anonymous in MAAS (urls_api.py: "API URLs accessible to anonymous users").
        // Every HTTP/1.1 client sends Host; Django falls back to the server name.
        let host = header("host").unwrap_or_else(|| "localhost".to_string());
        super::describe::describe(&host)
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
            let admitted = lock(&sim).region.admit(std::time::Instant::now());
            let auth = admitted.map_err(rate_limited).and_then(|()| {
                let s = lock(&sim);
                api::check_auth(header("authorization").as_deref(), &s)
            });
            match auth {
                Err(r) => r,
                Ok(()) => api::api_request(&sim, &method, p, &query, &form),
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
            let line = format!(
                "{method} {path} op={} {}",
                op.as_deref().unwrap_or("-"),
                reply.status
            );
            s.requests.push((epoch(), line));
        }
    }
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", reply.content_type) {
        response.add_header(h);
    }
    if let Some(seconds) = reply.retry_after {
        if let Ok(h) = tiny_http::Header::from_bytes("Retry-After", seconds.to_string().as_bytes())
        {
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

/// The answer to a request beyond the rate limit: what a region out of API workers (or the
/// proxy in front of it) answers, with the whole seconds until a request would pass.
fn rate_limited(wait: std::time::Duration) -> Reply {
    Reply {
        retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
        ..text(
            503,
            "Service Unavailable: the region is serving too many requests (maas-sim rate limit)",
        )
    }
}

pub fn serve(args: &[String]) {
    let mut listen = "127.0.0.1:5240".to_string();
    let mut port_file = None;
    let mut machines_file = None;
    let mut generate_count = None;
    let mut key = None;
    let mut power_delay_ms = 1000;
    let mut events_file = None;
    let mut region_patch = serde_json::Map::new();
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
            "--rate-per-s" | "--rate-burst" => {
                let n = value()
                    .parse::<f64>()
                    .unwrap_or_else(|_| fail(&format!("{a} needs a number")));
                let key = a.trim_start_matches("--").replace('-', "_");
                region_patch.insert(key, serde_json::json!(n));
            }
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
    let mut region = Region {
        power_delay_ms,
        ..Region::default()
    };
    region
        .patch(
            &serde_json::Value::Object(region_patch),
            std::time::Instant::now(),
        )
        .unwrap_or_else(|e| fail(&e));
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
        region,
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
