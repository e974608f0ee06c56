//! The demo scripts parse, `run clean` is safe when no demo runs, the entry points into a
//! running demo (`openstack`, `crm_mon`, `crm`, `exec`, `reinsert`) refuse with one line when
//! there is none, and (ignored by default: it takes minutes, and CI runs the same scenarios in
//! tests/openstack-env) the whole instance-HA demo runs to its end and prints the walkthrough's
//! tables.

use oxha_harness::{run, run_env, Run};
use std::path::{Path, PathBuf};

fn script(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The short commands the demo prints, each with arguments it accepts when a demo runs.
const ENTRY_POINTS: [(&str, &[&str]); 5] = [
    ("openstack", &["server", "list"]),
    ("crm_mon", &[]),
    ("crm", &["configure", "show"]),
    ("exec", &["node1", "true"]),
    ("reinsert", &[]),
];

#[test]
fn scripts_parse() {
    for name in ["run", "vip", "running"]
        .into_iter()
        .chain(ENTRY_POINTS.iter().map(|(name, _)| *name))
    {
        run(&["bash", "-n", &script(name)]).expect_ok();
    }
}

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("oxha-demo-test-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs entry point `name` with `args` against the demo state `link` (OXHA_DEMO_STATE).
fn entry_point(name: &str, args: &[&str], link: &Path) -> Run {
    let path = script(name);
    let mut argv = vec![path.as_str()];
    argv.extend_from_slice(args);
    run_env(&argv, &[("OXHA_DEMO_STATE", &link.to_string_lossy())], None)
}

/// Fails unless `out` is a refusal: exit code ≠ 0, nothing on stdout, one line on stderr
/// naming the script and containing `reason`.
#[track_caller]
fn assert_refused(name: &str, out: &Run, reason: &str) {
    assert_ne!(out.code, 0, "{name} did not refuse: {out}");
    assert_eq!(out.stdout, "", "{name} printed on stdout: {out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: not one line: {out}");
    assert!(
        lines[0].starts_with(&format!("{name}: ")) && lines[0].contains(reason),
        "{name}: {:?} does not say {reason:?}",
        lines[0]
    );
}

#[test]
fn entry_points_refuse_when_no_demo_runs() {
    let scratch = Scratch::new("none");
    let link = scratch.0.join("oxha-demo");
    for (name, args) in ENTRY_POINTS {
        let out = entry_point(name, args, &link);
        assert_refused(name, &out, "no demo is running");
        assert!(out.stderr.contains("make demo"), "{name}: {out}");
    }
}

/// The symlink make demo leaves, pointing at a cluster that is gone (the machine rebooted,
/// the cluster was torn down by hand).
#[test]
fn entry_points_refuse_a_stopped_demo() {
    let scratch = Scratch::new("stopped");
    let state = scratch.0.join("state");
    std::fs::create_dir_all(state.join("openstack")).expect("state");
    let link = scratch.0.join("oxha-demo");
    std::os::unix::fs::symlink(&state, &link).expect("link");
    for (name, args) in ENTRY_POINTS {
        let out = entry_point(name, args, &link);
        assert_refused(name, &out, "left from a stopped one");
    }
    // A dangling link says the same.
    std::fs::remove_dir_all(&state).expect("remove state");
    for (name, args) in ENTRY_POINTS {
        let out = entry_point(name, args, &link);
        assert_refused(name, &out, "left from a stopped one");
    }
}

/// The VIP demo (tests/demo/run vip) has a cluster but no OpenStack: the OpenStack entry
/// points say so. (A live process stands in for the cluster's switch: this test's own.)
#[test]
fn openstack_entry_points_refuse_the_vip_demo() {
    let scratch = Scratch::new("vip");
    let state = scratch.0.join("state");
    std::fs::create_dir_all(&state).expect("state");
    std::fs::write(state.join("switch.pid"), std::process::id().to_string()).expect("pid");
    for (name, args) in [ENTRY_POINTS[0], ENTRY_POINTS[4]] {
        let out = entry_point(name, args, &state);
        assert_refused(name, &out, "has no OpenStack");
    }
}

#[test]
fn entry_points_refuse_missing_arguments() {
    let scratch = Scratch::new("usage");
    let link = scratch.0.join("oxha-demo");
    for (name, args) in [("openstack", &[][..]), ("crm", &[]), ("exec", &["node1"])] {
        let out = entry_point(name, args, &link);
        assert_refused(name, &out, &format!("usage: tests/demo/{name}"));
    }
}

#[test]
fn make_demo_reinsert_runs_the_reinsert_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = run(&[
        "make",
        "--no-print-directory",
        "-n",
        "-C",
        &root.to_string_lossy(),
        "demo-reinsert",
    ])
    .expect_ok();
    assert_eq!(out.stdout.trim(), "bash tests/demo/reinsert", "{out}");
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
#[ignore = "the whole demo: a cluster and a real OpenStack, several minutes"]
fn instance_ha_demo_runs_to_the_end() {
    let state = std::env::temp_dir().join(format!("oxha-demo-test-{}", std::process::id()));
    let state = state.to_string_lossy().into_owned();
    let env = [
        ("OXHA_DEMO_STATE", state.as_str()),
        ("OXHA_DEMO_SKIP_BUILD", "1"),
    ];
    let out = run_env(&["bash", &script("run")], &env, None);
    // make demo-reinsert: both failed hosts back, virt-node-01.maas's forced_down cleared.
    let reinserted = out
        .ok()
        .then(|| run_env(&["bash", &script("reinsert")], &env, None));
    let cleaned = run_env(&["bash", &script("run"), "clean"], &env, None);
    println!("{}", out.stdout);
    assert!(out.ok(), "the demo failed: {out}");
    let reinserted = reinserted.expect("the demo ran");
    println!("{}", reinserted.stdout);
    assert!(reinserted.ok(), "make demo-reinsert failed: {reinserted}");
    // Cells compared without their padding (the widths depend on the other rows).
    let words = reinserted
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for host in [
        "virt-node-01.maas",
        "virt-node-02.maas",
        "virt-node-10.maas",
    ] {
        assert!(
            words.contains(&format!("| {host} | enabled | up | False |")),
            "{host} not back in service: {reinserted}"
        );
    }
    assert!(cleaned.ok(), "make demo-clean failed: {cleaned}");
    assert!(
        !std::path::Path::new(&state).exists(),
        "make demo-clean left {state}"
    );
    let text = &out.stdout;
    for expected in [
        // compute service list before, with the reserved host disabled, and after the failure
        "| Host              | Status   | State | Forced Down |",
        "| virt-node-01.maas | disabled | up    |",
        "| virt-node-02.maas | disabled | down  | False       |",
        // segment host list before and after
        "| name              | reserved | on_maintenance |",
        "| virt-node-01.maas | True     | False          |",
        "| virt-node-02.maas | False    | True           |",
        // server show after the evacuation
        "| OS-EXT-SRV-ATTR:host | virt-node-01.maas |",
        // the timings of the three acts
        "qemu killed → Masakari notified",
        "node death → fenced (MAAS off)",
        "bionic-1 ACTIVE on virt-node-01.maas",
        "bionic-1 ACTIVE on virt-node-10.maas",
        // act 3: virt-node-01.maas forced down, the walkthrough's Forced Down column
        "| virt-node-01.maas | disabled | down  | True        |",
        // both evacuations in one table, and the entry points
        "| virt-node-02.maas → virt-node-01.maas   | default: nova_force_down=false, wait 12 s",
        "| virt-node-01.maas → virt-node-10.maas   | ★ fast path: nova_force_down=true, wait 0 s",
        "tests/demo/openstack server list",
        "tests/demo/crm_mon",
        "make demo-reinsert",
        "make demo-clean",
    ] {
        assert!(
            text.contains(expected),
            "the demo did not print {expected:?}"
        );
    }
}
