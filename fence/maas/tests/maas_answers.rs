//! fence_maas reads MAAS's own answers (`tests/maas-sim/fixtures/maas-*/`, taken from the MAAS
//! sources) as they are meant, and reads the simulator's answers to the same questions the same
//! way: the simulator every other fence_maas test runs against stands for MAAS where fence_maas
//! can tell. The simulator tests need `make stage`; the fixture test does not.

use fence_maas::api::{
    error_answer, parse_machine, parse_machine_list, parse_machines, parse_power_answer,
    parse_power_state, parse_whoami, retry_wait, ListedMachine, MaasError, Machine,
};
use maas_sim::fixtures::{self, Answer, Expected};
use maas_sim::LocalSim;
use oxha_harness::{fence_agent, run_env};
use serde_json::Value;

const KEY: &str = "answersConsumer001:answersTokenKey001:answersSecret0123456789abcdefgh";

/// What fence_maas makes of one answer.
#[derive(Debug, PartialEq)]
enum Read {
    Machine(Machine),
    /// A `machines/` answer as target resolution and as `list` read it, sorted by system_id
    /// and hostname (MAAS orders by database id, the simulator by system_id).
    Machines(Vec<Machine>, Vec<ListedMachine>),
    State(String),
    Power(Result<(), MaasError>),
    User(String),
    /// An error answer, and whether fence_maas would send the request again.
    Error(MaasError, bool),
}

fn read(expected: &Expected, answer: &Answer) -> Result<Read, MaasError> {
    if !(200..300).contains(&answer.status) {
        let (error, retry_after) =
            error_answer(answer.status, answer.retry_after.as_deref(), &answer.body);
        let again = answer.status == 503 && retry_wait(retry_after).is_some();
        return Ok(Read::Error(error, again));
    }
    let body = answer.body.as_str();
    Ok(match (expected.op(), expected.system_id()) {
        (Some("query_power_state"), _) => Read::State(parse_power_state(body)?),
        (Some(op @ ("power_off" | "power_on")), _) => Read::Power(parse_power_answer(op, body)),
        (Some("whoami"), _) => Read::User(parse_whoami(body)?),
        (None, Some(id)) => Read::Machine(parse_machine(id, body)?),
        (None, None) => {
            let mut machines = parse_machines(body)?;
            machines.sort_by(|a, b| a.system_id.cmp(&b.system_id));
            let mut listed = Vec::new();
            parse_machine_list(body.as_bytes(), &mut |m| listed.push(m))?;
            listed.sort_by(|a, b| a.hostname.cmp(&b.hostname));
            Read::Machines(machines, listed)
        }
        (Some(op), _) => panic!("{}: no reader for op={op}", expected.name),
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A machine as its JSON says, read field by field without fence_maas's types.
fn machine_of(v: &Value) -> Machine {
    Machine {
        system_id: text(&v["system_id"]),
        hostname: text(&v["hostname"]),
        fqdn: text(&v["fqdn"]),
        status_name: text(&v["status_name"]),
        power_state: text(&v["power_state"]),
        power_type: text(&v["power_type"]),
    }
}

fn listed_of(v: &Value) -> ListedMachine {
    ListedMachine {
        hostname: text(&v["hostname"]),
        fqdn: text(&v["fqdn"]),
        power_state: text(&v["power_state"]),
        tag_names: v["tag_names"]
            .as_array()
            .map(|t| t.iter().map(text).collect())
            .unwrap_or_default(),
        zone: v["zone"]["name"].as_str().map(str::to_string),
        pool: v["pool"]["name"].as_str().map(str::to_string),
    }
}

/// fence_maas reads every MAAS answer to what the answer carries: the fields it uses, the
/// power state, the user; a `null` power answer as a failure; every error with its status and
/// MAAS's text, a 503 sent again only when MAAS does not ask for more than 2 s.
#[test]
fn fence_maas_reads_maas_answers_as_meant() {
    let mut checked = 0;
    for expected in fixtures::answers() {
        let answer = &expected.answer;
        let got = read(&expected, answer).unwrap_or_else(|e| {
            panic!(
                "{}: fence_maas cannot read MAAS's answer: {e}",
                expected.name
            )
        });
        let json = || -> Value { serde_json::from_str(&answer.body).expect("fixture JSON") };
        let want = match &got {
            Read::Machine(_) => Read::Machine(machine_of(&json())),
            Read::Machines(..) => {
                let all = json();
                let all = all.as_array().expect("a list");
                let mut machines: Vec<Machine> = all.iter().map(machine_of).collect();
                machines.sort_by(|a, b| a.system_id.cmp(&b.system_id));
                let mut listed: Vec<ListedMachine> = all.iter().map(listed_of).collect();
                listed.sort_by(|a, b| a.hostname.cmp(&b.hostname));
                assert!(machines.len() >= 3, "{}: a short list", expected.name);
                Read::Machines(machines, listed)
            }
            Read::State(_) => Read::State(text(&json()["state"])),
            Read::Power(_) if json().is_null() => Read::Power(Err(MaasError::Body(format!(
                "{} answered null: MAAS sent no power action (power type manual, or a controller)",
                expected.op().unwrap_or_default()
            )))),
            Read::Power(_) => Read::Power(Ok(())),
            Read::User(_) => Read::User(text(&json()["username"])),
            Read::Error(..) => {
                let error = MaasError::Http {
                    status: answer.status,
                    body: answer.body.clone(),
                };
                // MAAS's no-rack 503 asks for 10 s: more than fence_maas waits, so the fencer
                // moves on at once. A 503 without Retry-After did nothing either: again in 1 s.
                let again = answer.status == 503 && answer.retry_after.is_none();
                Read::Error(error, again)
            }
        };
        assert_eq!(got, want, "{}", expected.name);
        if let Read::Error(e, _) = &got {
            let message = e.to_string();
            assert!(
                message.contains(&answer.status.to_string())
                    && message.contains(&answer.body)
                    && !message.contains('\n'),
                "{}: {message}",
                expected.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} MAAS answers read");
}

/// The simulator's answers, read by fence_maas, are MAAS's answers read by fence_maas.
#[test]
fn fence_maas_reads_the_simulator_as_it_reads_maas() {
    let sim = LocalSim::start("answers", &fixtures::sim_machines(), KEY, 3_600_000);
    let mut compared = 0;
    for expected in fixtures::answers().iter().filter(|e| e.simulated) {
        let from_maas = read(expected, &expected.answer).expect("MAAS's answer reads");
        let answer = fixtures::replay(&sim, expected);
        let from_sim = read(expected, &answer).unwrap_or_else(|e| {
            panic!(
                "{}: fence_maas cannot read the simulator: {e}",
                expected.name
            )
        });
        assert_eq!(from_sim, from_maas, "{}", expected.name);
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} answers compared");
}

/// With no rack controller reaching the BMC, MAAS would accept a power_off and never power
/// off, and the live reading answers 503 asking for 10 s: off fails at once, without waiting
/// and asking again, and is never reported.
#[test]
fn off_fails_at_once_when_no_rack_controller_reaches_the_bmc() {
    let sim = LocalSim::start("no-rack", &fixtures::sim_machines(), KEY, 100);
    sim.set("e8xa8m", r#"{"fault": "no_rack", "power_state": "on"}"#);
    let options = format!(
        "ip=127.0.0.1\nipport={}\napi_key_file={}\naction=off\nplug=node2\npower_timeout=10\n",
        sim.port, sim.key_file
    );
    let agent = fence_agent("fence_maas").to_string_lossy().into_owned();
    let r = run_env(&[&agent], &[], Some(&options));
    assert_eq!(r.code, 1, "{r}");
    assert!(!r.stdout.contains("Success"), "{r}");
    assert!(r.stderr.contains("503"), "{r}");
    let requests = sim.ctl("GET", "/_sim/requests", "").expect_ok().stdout;
    assert_eq!(
        requests.matches("op=query_power_state 503").count(),
        1,
        "a 503 asking for 10 s is not repeated: {requests}"
    );
    let events = sim.events("node2");
    assert!(!events.iter().any(|e| e == "node2 off"), "{events:?}");
}
