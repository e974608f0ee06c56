//! maas-sim: a MAAS 2.0 region API on loopback, for fence_maas tests and benchmarks.
//!
//! It behaves as the MAAS sources do where a fence agent can tell: OAuth 1.0 PLAINTEXT
//! checked on every API call (401 otherwise), `machines/?hostname=&id=`, machine reads,
//! `op=query_power_state`, and power operations that answer 200 with the machine as it *was*
//! and change the power state only after a delay, `null` for power type manual, 403 for
//! locked machines, 409 for power_on of a machine nobody owns, Allocated machines deploying on
//! power_on, a running machine power-cycling on power_on. Faults are set per machine at run
//! time through `/_sim/` control endpoints (no auth; loopback test tool): 503, no_rack, 504,
//! 500, hang, slow, stuck_on, flapping (on and off in turn, `flap_ms` each), unknown, error. A
//! machine may run a shell command when it goes off (e.g. kill a process, so a cluster test
//! sees a node die). Region-wide, the default power delay and a rate limit (a token bucket
//! over every API request: 503 with Retry-After beyond it) can be changed at run time.
//!
//! Usage:
//!   maas-sim serve [--listen 127.0.0.1:5240] [--port-file F] (--machines FILE | --generate N)
//!                  (--api-key KEY | --api-key-file F) [--power-delay-ms 1000] [--events F]
//!                  [--rate-per-s R [--rate-burst B]]
//!   maas-sim ctl ADDR METHOD PATH [JSON]     e.g. ctl 127.0.0.1:5240 POST /_sim/machines/compute-1 '{"fault":"503"}'
//!
//! `GET /MAAS/api/2.0/describe/` (anonymous) serves MAAS's API description for the handlers and
//! actions above, which python-libmaas (charm-hacluster's `external/maas` plugin) needs to connect.
//!
//! `/redfish/v1/…` answers a minimal Redfish power read of the first machine, so the benchmark
//! can run fence-agents' fence_redfish against the same server.
//!
//! Control endpoints: GET /_sim/events (one line per power event, in order; `?time=1` prefixes
//! each with its time, seconds since the epoch), POST /_sim/events/clear, GET /_sim/requests
//! (`?time=1` likewise), GET|POST /_sim/region (power_delay_ms, rate_per_s, rate_burst,
//! reset_counters; answers the settings and the counters rate_limited and admitted), GET|POST
//! /_sim/machines/<hostname or system_id> (POST merges a JSON object into the machine: fault,
//! power_state, status_name, locked, power_type, power_delay_ms, slow_ms, flap_ms,
//! on_power_off, on_power_on).
//!
//! Status codes, content types, `Retry-After` and error bodies are MAAS's own, and the
//! answers have the shape of MAAS's: `fixtures/maas-*/` holds MAAS's answers, taken from its
//! sources, and `tests/fidelity.rs` compares the two.
//!
//! Source layout, by concern: `sim/machine.rs` (the machine model), `sim/faults.rs`,
//! `sim/power.rs` (asynchronous power changes), `sim/region.rs` (region-wide delay and rate
//! limit), `sim/api.rs` (MAAS and Redfish endpoints), `sim/describe.rs` (the API description),
//! `sim/control.rs` (`/_sim/`), `sim/server.rs` (HTTP and `serve` options); this file is the CLI.

mod sim;

use std::io::{Read, Write};

pub(crate) fn fail(msg: &str) -> ! {
    eprintln!("maas-sim: {msg}");
    std::process::exit(2)
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
        Some((cmd, rest)) if cmd == "serve" => sim::server::serve(rest),
        Some((cmd, rest)) if cmd == "ctl" => ctl(rest),
        _ => fail("usage: maas-sim serve ... | maas-sim ctl ADDR METHOD PATH [BODY]"),
    }
}
