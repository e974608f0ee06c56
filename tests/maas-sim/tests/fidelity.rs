//! The simulator answers as MAAS does: for every answer of `fixtures/maas-*/answers.json`
//! (MAAS's own, taken from its sources), the simulator asked the same question answers the same
//! status, content type and `Retry-After`, the same error text, and JSON of the same shape:
//! the fields fence_maas uses present with MAAS's types and the fixture's values, every other
//! key one MAAS machines have, with MAAS's type. Runs the simulator cargo built; no stage needed.

use maas_sim::fixtures::{self, kind, Answer, Expected, USED_FIELDS};
use maas_sim::LocalSim;
use serde_json::Value;

const KEY: &str = "fidelityConsumer01:fidelityTokenKey01:fidelitySecret0123456789abcdef";

fn start() -> LocalSim {
    LocalSim::start_binary(
        env!("CARGO_BIN_EXE_maas-sim"),
        "fidelity",
        &fixtures::sim_machines(),
        KEY,
        3_600_000,
    )
}

/// Differences between a MAAS machine object and the simulator's, keyed by field.
fn machine_differences(maas: &Value, sim: &Value, fields: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(maas_obj), Some(sim_obj)) = (maas.as_object(), sim.as_object()) else {
        return vec![format!("not both objects: {} / {}", kind(maas), kind(sim))];
    };
    for field in USED_FIELDS {
        match (maas_obj.get(*field), sim_obj.get(*field)) {
            (Some(m), Some(s)) => {
                // Objects (domain, zone, pool) are compared by name: ids are the database's.
                let (m, s) = match (m, s) {
                    (Value::Object(_), Value::Object(_)) => (&m["name"], &s["name"]),
                    _ => (m, s),
                };
                if m != s {
                    out.push(format!("{field}: MAAS {m}, simulator {s}"));
                }
            }
            (Some(_), None) => out.push(format!("{field}: missing from the simulator's answer")),
            (None, _) => out.push(format!("{field}: missing from MAAS's answer (bad fixture)")),
        }
    }
    for (key, value) in sim_obj {
        if key != "resource_uri" && !fields.contains(key) {
            out.push(format!("{key}: not a field of MAAS machines"));
        }
        if let Some(m) = maas_obj.get(key) {
            let nullable = m.is_null() || value.is_null();
            if kind(m) != kind(value) && !nullable {
                out.push(format!(
                    "{key}: MAAS gives a {}, the simulator a {}",
                    kind(m),
                    kind(value)
                ));
            }
        }
    }
    out
}

/// Differences between MAAS's answer and the simulator's to one question.
fn differences(expected: &Expected, got: &Answer, fields: &[String]) -> Vec<String> {
    let want = &expected.answer;
    let mut out = Vec::new();
    if want.status != got.status {
        out.push(format!(
            "status: MAAS {}, simulator {}",
            want.status, got.status
        ));
    }
    if want.content_type != got.content_type {
        out.push(format!(
            "content type: MAAS {:?}, simulator {:?}",
            want.content_type, got.content_type
        ));
    }
    if want.retry_after != got.retry_after {
        out.push(format!(
            "Retry-After: MAAS {:?}, simulator {:?}",
            want.retry_after, got.retry_after
        ));
    }
    if !want
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        if want.body != got.body {
            out.push(format!(
                "body: MAAS {:?}, simulator {:?}",
                want.body, got.body
            ));
        }
        return out;
    }
    let maas: Value = serde_json::from_str(&want.body).expect("fixture JSON");
    let sim: Value = match serde_json::from_str(&got.body) {
        Ok(v) => v,
        Err(e) => {
            out.push(format!("body: not JSON ({e}): {:?}", got.body));
            return out;
        }
    };
    match (&maas, &sim) {
        (Value::Array(maas), Value::Array(sim)) => {
            // MAAS orders by database id, the simulator by system_id: match them up by id.
            let id = |m: &Value| m["system_id"].as_str().unwrap_or("").to_string();
            if maas.len() != sim.len() {
                out.push(format!(
                    "list: MAAS {} machines, simulator {}",
                    maas.len(),
                    sim.len()
                ));
            }
            for m in maas {
                match sim.iter().find(|s| id(s) == id(m)) {
                    Some(s) => out.extend(
                        machine_differences(m, s, fields)
                            .into_iter()
                            .map(|d| format!("{}: {d}", id(m))),
                    ),
                    None => out.push(format!("list: {} missing from the simulator's", id(m))),
                }
            }
        }
        (Value::Object(m), Value::Object(s)) if m.contains_key("system_id") => {
            out.extend(machine_differences(&maas, &sim, fields));
        }
        (Value::Object(m), Value::Object(s)) => {
            // whoami, query_power_state: the same keys, of the same types.
            let keys = |o: &serde_json::Map<String, Value>| {
                o.iter()
                    .map(|(k, v)| format!("{k}:{}", kind(v)))
                    .collect::<std::collections::BTreeSet<_>>()
            };
            if keys(m) != keys(s) {
                out.push(format!("keys: MAAS {:?}, simulator {:?}", keys(m), keys(s)));
            }
            if m.get("state").is_some() && m.get("state") != s.get("state") {
                out.push(format!(
                    "state: MAAS {:?}, simulator {:?}",
                    m.get("state"),
                    s.get("state")
                ));
            }
        }
        (m, s) if m != s => out.push(format!("body: MAAS {m}, simulator {s}")),
        _ => {}
    }
    out
}

#[test]
fn the_simulator_answers_what_maas_answers() {
    let fields: Vec<String> = serde_json::from_value(fixtures::json("machine-fields.json"))
        .expect("machine-fields.json: a list of names");
    let sim = start();
    let answers = fixtures::answers();
    assert!(
        answers.len() >= 15,
        "answers.json lost answers: {}",
        answers.len()
    );
    let mut failures = Vec::new();
    let mut compared = 0;
    for expected in answers.iter().filter(|e| e.simulated) {
        let got = fixtures::replay(&sim, expected);
        let diffs = differences(expected, &got, &fields);
        eprintln!(
            "{} ({}): {} {} -> {} {}",
            expected.name,
            expected.provenance,
            expected.method,
            expected.path,
            got.status,
            if diffs.is_empty() { "same" } else { "DIFFERS" }
        );
        for d in diffs {
            failures.push(format!("{}: {d}", expected.name));
        }
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} answers compared");
    assert!(
        failures.is_empty(),
        "the simulator differs from MAAS:\n{}",
        failures.join("\n")
    );
}

/// The comparison itself can fail: a simulator answer with a wrong status, content type,
/// `Retry-After`, body text, a field of the wrong type or value, a field MAAS does not have,
/// is reported.
#[test]
fn the_comparison_catches_each_kind_of_difference() {
    let fields: Vec<String> =
        serde_json::from_value(fixtures::json("machine-fields.json")).expect("machine-fields.json");
    let answers = fixtures::answers();
    let find = |name: &str| {
        answers
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("answers.json has no '{name}'"))
            .clone()
    };
    let check = |expected: &Expected, got: Answer, want: &str| {
        let diffs = differences(expected, &got, &fields);
        assert!(
            diffs.iter().any(|d| d.contains(want)),
            "{}: expected a difference about {want}, got {diffs:?}",
            expected.name
        );
    };
    let no_rack = find("query_power_state, no rack controller reaches the BMC");
    assert!(differences(&no_rack, &no_rack.answer, &fields).is_empty());
    check(
        &no_rack,
        Answer {
            status: 500,
            ..no_rack.answer.clone()
        },
        "status",
    );
    check(
        &no_rack,
        Answer {
            retry_after: Some("5".into()),
            ..no_rack.answer.clone()
        },
        "Retry-After",
    );
    check(
        &no_rack,
        Answer {
            retry_after: None,
            ..no_rack.answer.clone()
        },
        "Retry-After",
    );
    check(
        &no_rack,
        Answer {
            content_type: Some("application/json".into()),
            ..no_rack.answer.clone()
        },
        "content type",
    );
    check(
        &no_rack,
        Answer {
            body: "Service Unavailable".into(),
            ..no_rack.answer.clone()
        },
        "body",
    );

    let read = find("machine read, Deployed");
    assert!(differences(&read, &read.answer, &fields).is_empty());
    let mut machine: Value = serde_json::from_str(&read.answer.body).expect("fixture");
    let altered = |f: &dyn Fn(&mut Value)| {
        let mut m = machine.clone();
        f(&mut m);
        Answer {
            body: m.to_string(),
            ..read.answer.clone()
        }
    };
    check(&read, altered(&|m| m["locked"] = "no".into()), "locked");
    check(
        &read,
        altered(&|m| m["power_state"] = "off".into()),
        "power_state",
    );
    check(
        &read,
        altered(&|m| m["zone"]["name"] = "elsewhere".into()),
        "zone",
    );
    check(
        &read,
        altered(&|m| m["cpu_count"] = "4".into()),
        "cpu_count",
    );
    check(&read, altered(&|m| m["invented"] = 1.into()), "not a field");
    machine.as_object_mut().map(|o| o.remove("hostname"));
    check(
        &read,
        Answer {
            body: machine.to_string(),
            ..read.answer.clone()
        },
        "hostname",
    );

    let whoami = find("whoami");
    check(
        &whoami,
        Answer {
            body: r#"{"username": "admin"}"#.into(),
            ..whoami.answer.clone()
        },
        "keys",
    );
}
