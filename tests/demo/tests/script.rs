//! The demo script parses, and `run clean` is safe when no demo cluster exists. The demo itself
//! (a multi-node cluster, a failover) is what tests/multinode tests; `make demo` is run by hand.

use oxha_harness::{run, run_env};

fn script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/run").to_string()
}

#[test]
fn script_parses() {
    run(&["bash", "-n", &script()]).expect_ok();
}

#[test]
fn clean_without_a_cluster_is_a_no_op() {
    let state = std::env::temp_dir().join(format!("oxha-demo-test-{}", std::process::id()));
    let state = state.to_string_lossy().into_owned();
    let out = run_env(
        &["bash", &script(), "clean"],
        &[("OXHA_DEMO_STATE", &state)],
        None,
    )
    .expect_ok();
    assert!(out.stdout.contains("no demo cluster running"), "{out}");
    assert!(!std::path::Path::new(&state).exists());
}
