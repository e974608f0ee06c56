//! fence_maas confirms off over time, run directly (no cluster) against the MAAS simulator on
//! loopback: readings of off without a break for `confirm_interval` (1 s by default), never
//! two readings a few milliseconds apart. A machine that flaps (on for `flap_ms`, off for
//! `flap_ms`, whatever is asked of it) faster than that is never reported off; one whose off
//! lasts longer is. Run `make stage` first.

use maas_sim::LocalSim;
use oxha_harness::{fence_agent, run_env, Run};

const KEY: &str = "oxhaConfConsumer01:oxhaConfTokenKey01:oxhaConfSecretPart0123456789abcd";
const MACHINES: &str = r#"[
  {"hostname": "flap-1", "system_id": "f1aaaa"},
  {"hostname": "ok-1", "system_id": "o1bbbb"}
]"#;

fn agent(sim: &LocalSim, rest: &str) -> Run {
    let options = format!(
        "ip=127.0.0.1\nipport={}\napi_key_file={}\n{rest}",
        sim.port, sim.key_file
    );
    let path = fence_agent("fence_maas").to_string_lossy().into_owned();
    run_env(&[&path], &[], Some(&options))
}

/// Sets `flap-1` flapping with `flap_ms` each way, from now, and clears the logs.
fn flap(sim: &LocalSim, flap_ms: u64) {
    sim.set(
        "flap-1",
        &format!(r#"{{"fault": "flapping", "flap_ms": {flap_ms}, "power_state": "on"}}"#),
    );
    sim.ctl("POST", "/_sim/events/clear", "").expect_ok();
}

#[test]
fn a_machine_flapping_faster_than_confirm_interval_is_never_off() {
    let sim = LocalSim::start("flap-fast", MACHINES, KEY, 100);
    // On and off phases of 400 and 700 ms: longer than the spacing of the confirming readings
    // (a quarter of the 1 s default), shorter than the interval.
    for flap_ms in [400, 700] {
        for action in ["off", "reboot"] {
            flap(&sim, flap_ms);
            let r = agent(
                &sim,
                &format!("action={action}\nplug=flap-1\npower_timeout=8\n"),
            );
            eprintln!("flapping {flap_ms} ms, {action}: rc {}", r.code);
            assert_eq!(
                r.code, 1,
                "{action} of a machine flapping every {flap_ms} ms: {r}"
            );
            assert!(!r.stdout.contains("Success"), "{r}");
            assert!(r.stderr.contains("flaps"), "{r}");
            let events = sim.events("flap-1");
            assert!(
                !events.iter().any(|e| e.contains("power_on")),
                "{action}: power_on without a confirmed off: {events:?}"
            );
        }
    }
}

#[test]
fn a_machine_whose_off_outlasts_confirm_interval_is_off() {
    let sim = LocalSim::start("flap-slow", MACHINES, KEY, 100);
    // 1 s each way: with the default interval (1 s) it is never confirmed (an off phase ends
    // exactly one interval after it began, before the last reading); with 0.2 s it is.
    flap(&sim, 1000);
    let r = agent(&sim, "action=off\nplug=flap-1\npower_timeout=8\n");
    assert_eq!(r.code, 1, "{r}");
    flap(&sim, 1000);
    let r = agent(
        &sim,
        "action=off\nplug=flap-1\npower_timeout=8\nconfirm_interval=0.2\n",
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Success: Powered OFF\n"),
        "{r}"
    );
    // 2.5 s each way, default interval: the first off phase holds long enough.
    flap(&sim, 2500);
    let r = agent(&sim, "action=off\nplug=flap-1\n");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Success: Powered OFF\n"),
        "{r}"
    );
}

#[test]
fn off_is_confirmed_by_readings_one_confirm_interval_apart() {
    let sim = LocalSim::start("confirm", MACHINES, KEY, 200);
    for (confirm, options) in [(1.0, ""), (0.5, "confirm_interval=0.5\n")] {
        sim.set("ok-1", r#"{"power_state": "on", "fault": ""}"#);
        sim.ctl("POST", "/_sim/events/clear", "").expect_ok();
        let r = agent(&sim, &format!("action=off\nplug=ok-1\n{options}"));
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "Success: Powered OFF\n"),
            "{r}"
        );
        let off_at = sim
            .timed_events()
            .into_iter()
            .find(|(_, e)| e == "ok-1 off")
            .map(|(at, _)| at)
            .expect("the simulator powered ok-1 off");
        let queries: Vec<f64> = sim
            .timed_requests()
            .into_iter()
            .filter(|(_, r)| r.contains("/o1bbbb/ op=query_power_state 200"))
            .map(|(at, _)| at)
            .collect();
        let after: Vec<f64> = queries.iter().copied().filter(|at| *at > off_at).collect();
        let span = after.last().copied().unwrap_or(0.0) - after.first().copied().unwrap_or(0.0);
        eprintln!(
            "confirm_interval {confirm} s: {} readings in all, {} after the machine went off, {span:.3} s from the first to the last",
            queries.len(),
            after.len()
        );
        // The simulator logs a request when it answers; the agent starts the last reading a
        // full interval after the first one answered.
        assert!(
            span >= confirm - 0.001,
            "off readings only {span:.3} s apart"
        );
        // The first that sees off, then a quarter of the interval apart: not a busy loop (and
        // fewer on a loaded machine, where a late reading cuts the last wait short).
        assert!(
            (2..=6).contains(&after.len()),
            "{} readings after off",
            after.len()
        );
        assert!(queries.len() <= 9, "{} readings in all", queries.len());
    }
}
