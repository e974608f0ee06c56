//! The API description (`GET /MAAS/api/2.0/describe/`) that python-libmaas, and so
//! charm-hacluster's `external/maas` stonith plugin, reads on connect: served without
//! authentication as MAAS serves it, with absolute URIs on the address the client used, and
//! naming only calls the simulator answers. Runs the simulator cargo built; no stage needed.

use maas_sim::fixtures;
use maas_sim::LocalSim;
use serde_json::Value;

const KEY: &str = "describeConsumer:describeToken:describeSecret";

fn start() -> LocalSim {
    LocalSim::start_binary(
        env!("CARGO_BIN_EXE_maas-sim"),
        "describe",
        r#"[{"hostname": "virt-node-01", "power_state": "on"}]"#,
        KEY,
        3_600_000,
    )
}

#[test]
fn the_description_is_served_anonymously_and_every_call_it_names_is_answered() {
    let sim = start();
    let got = fixtures::http(&sim.addr, "GET", "/MAAS/api/2.0/describe/", &[], "");
    assert_eq!(got.status, 200, "{got:?}");
    // python-libmaas refuses any other content type (bones/helpers.py fetch_api_description).
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    let d: Value = serde_json::from_str(&got.body).expect("the description is JSON");
    assert_eq!(d["doc"], "MAAS API");

    let resources = d["resources"].as_array().expect("resources");
    let handler = |name: &str| {
        resources
            .iter()
            .flat_map(|r| [&r["auth"], &r["anon"]])
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in the description"))
    };
    // What the plugin calls: machines.list, machine power_off/power_on, version.get.
    for (name, params) in [
        ("MachinesHandler", vec![]),
        ("MachineHandler", vec!["system_id"]),
        ("VersionHandler", vec![]),
    ] {
        let h = handler(name);
        assert_eq!(h["params"], serde_json::json!(params), "{name}");
    }

    let machine = sim
        .request("GET", "machines/?hostname=virt-node-01", &[])
        .body;
    let machines: Value = serde_json::from_str(&machine).expect("machines list");
    let system_id = machines[0]["system_id"].as_str().expect("system_id");
    let prefix = format!("http://{}/MAAS/api/2.0/", sim.addr);
    let mut calls = 0;
    for resource in resources {
        for kind in ["anon", "auth"] {
            let h = &resource[kind];
            if h.is_null() {
                continue;
            }
            let uri = h["uri"].as_str().expect("uri");
            let path = uri
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{uri} is not absolute on {prefix}"))
                .replace("{system_id}", system_id);
            for action in h["actions"].as_array().expect("actions") {
                let method = action["method"].as_str().expect("method");
                let target = match action["op"].as_str() {
                    Some(op) => format!("{path}?op={op}"),
                    None => path.clone(),
                };
                let answer = sim.request(method, &target, &[]);
                assert!(
                    (200..300).contains(&answer.status),
                    "{method} {target} (described as {}) answered {answer:?}",
                    action["name"]
                );
                calls += 1;
            }
        }
    }
    assert!(calls >= 5, "only {calls} calls described");
}
