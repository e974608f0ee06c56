//! The demo scripts parse, `run clean` is safe when no demo runs, and (ignored by default: it
//! takes minutes, and CI runs the same scenarios in tests/openstack-env) the whole instance-HA
//! demo runs to its end and prints the walkthrough's tables.

use oxha_harness::{run, run_env};

fn script(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn scripts_parse() {
    run(&["bash", "-n", &script("run")]).expect_ok();
    run(&["bash", "-n", &script("vip")]).expect_ok();
}

#[test]
fn clean_without_a_cluster_is_a_no_op() {
    let state = std::env::temp_dir().join(format!("oxha-demo-test-{}", std::process::id()));
    let state = state.to_string_lossy().into_owned();
    let out = run_env(
        &["bash", &script("run"), "clean"],
        &[("OXHA_DEMO_STATE", &state)],
        None,
    )
    .expect_ok();
    assert!(out.stdout.contains("no demo cluster running"), "{out}");
    assert!(!std::path::Path::new(&state).exists());
}

#[test]
fn unknown_argument_is_refused() {
    let out = run(&["bash", &script("run"), "bogus"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("usage: tests/demo/run"), "{out}");
}

/// `make demo` as a person runs it (the build skipped: the tests run against ./stage), then
/// `make demo-clean`.
#[test]
#[ignore = "the whole demo: a cluster and a real OpenStack, about 6 minutes"]
fn instance_ha_demo_runs_to_the_end() {
    let state = std::env::temp_dir().join(format!("oxha-demo-test-{}", std::process::id()));
    let state = state.to_string_lossy().into_owned();
    let env = [
        ("OXHA_DEMO_STATE", state.as_str()),
        ("OXHA_DEMO_SKIP_BUILD", "1"),
    ];
    let out = run_env(&["bash", &script("run")], &env, None);
    let cleaned = run_env(&["bash", &script("run"), "clean"], &env, None);
    println!("{}", out.stdout);
    assert!(out.ok(), "the demo failed: {out}");
    assert!(cleaned.ok(), "make demo-clean failed: {cleaned}");
    assert!(
        !std::path::Path::new(&state).exists(),
        "make demo-clean left {state}"
    );
    let text = &out.stdout;
    for expected in [
        // compute service list before, with the reserved host disabled, and after the failure
        "| Host              | Status   | State |",
        "| virt-node-01.maas | disabled | up    |",
        "| virt-node-02.maas | disabled | down  |",
        // segment host list before and after
        "| name              | reserved | on_maintenance |",
        "| virt-node-01.maas | True     | False          |",
        "| virt-node-02.maas | False    | True           |",
        // server show after the evacuation
        "| OS-EXT-SRV-ATTR:host | virt-node-01.maas |",
        // the timings of both acts
        "qemu killed → Masakari notified",
        "node death → fenced (MAAS off)",
        "bionic-1 ACTIVE on virt-node-01.maas",
        "make demo-clean",
    ] {
        assert!(
            text.contains(expected),
            "the demo did not print {expected:?}"
        );
    }
}
