//! ocf-lib's fence side under a real pacemaker-fenced: devices created with pcs and crm, driven
//! with stonith_admin. fence_probe's plugs are files, so every power change is visible.

use oxha_harness::Cluster;
use std::path::PathBuf;

fn plug_dir(name: &str, plugs: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fence-probe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("plug dir");
    for (plug, state) in plugs {
        std::fs::write(dir.join(plug), state).expect("plug file");
    }
    dir
}

fn history(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn enable_stonith(c: &Cluster) {
    c.set_property("stonith-enabled", "true");
}

#[test]
fn pcs_stonith_device_reboots_off_then_on() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    enable_stonith(c);
    let dir = plug_dir("pcs", &[("compute-1", "on"), ("compute-2", "on")]);
    let plug_dir = format!("plug_dir={}", dir.display());
    c.pcs(&[
        "stonith",
        "create",
        "fp_pcs",
        "fence_probe",
        &plug_dir,
        "lag=2",
        "pcmk_host_list=compute-1 compute-2",
    ])
    .expect_ok();
    c.wait_started("fp_pcs", std::time::Duration::from_secs(60));

    c.run(&["stonith_admin", "--reboot", "compute-1", "--timeout", "60"])
        .expect_ok();
    assert_eq!(history(&dir), ["compute-1 off", "compute-1 on"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("compute-1")).unwrap_or_default(),
        "on"
    );

    c.run(&["stonith_admin", "--fence", "compute-2", "--timeout", "60"])
        .expect_ok();
    assert_eq!(
        std::fs::read_to_string(dir.join("compute-2")).unwrap_or_default(),
        "off"
    );
    // Already off: success without a device command.
    c.run(&["stonith_admin", "--fence", "compute-2", "--timeout", "60"])
        .expect_ok();
    assert_eq!(history(&dir).len(), 3, "{:?}", history(&dir));

    // --query runs the agent's monitor; --list-targets its list; --list asks who can fence.
    c.run(&["stonith_admin", "--query", "fp_pcs"]).expect_ok();
    let targets = c
        .run(&["stonith_admin", "--list-targets", "fp_pcs"])
        .expect_ok();
    assert!(
        targets.stdout.contains("compute-1") && targets.stdout.contains("compute-2"),
        "{targets}"
    );
    let devices = c.run(&["stonith_admin", "--list", "compute-2"]).expect_ok();
    assert!(devices.stdout.contains("fp_pcs"), "{devices}");
    c.pcs(&["stonith", "delete", "fp_pcs"]).expect_ok();
}

#[test]
fn crm_stonith_primitive_and_failures_are_never_success() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    enable_stonith(c);
    // compute-9 is in the host list but the device has no such plug: status fails, so the
    // fence must fail, never succeed.
    let dir = plug_dir("crm", &[("compute-3", "on")]);
    let params = format!("plug_dir={}", dir.display());
    c.crm(&[
        "configure",
        "primitive",
        "fp_crm",
        "stonith:fence_probe",
        "params",
        &params,
        "pcmk_host_list=compute-3 compute-9",
    ])
    .expect_ok();
    c.wait_started("fp_crm", std::time::Duration::from_secs(60));
    c.run(&["stonith_admin", "--reboot", "compute-3", "--timeout", "60"])
        .expect_ok();
    assert_eq!(history(&dir), ["compute-3 off", "compute-3 on"]);
    let failed = c.run(&["stonith_admin", "--reboot", "compute-9", "--timeout", "30"]);
    assert_ne!(failed.code, 0, "{failed}");
    // A device that never turns off (lag larger than the polls power_timeout allows).
    c.crm(&["configure", "delete", "--force", "fp_crm"])
        .expect_ok();
    c.crm(&[
        "configure",
        "primitive",
        "fp_stuck",
        "stonith:fence_probe",
        "params",
        &params,
        "lag=1000",
        "power_timeout=2",
        "pcmk_host_list=compute-3",
    ])
    .expect_ok();
    c.wait_started("fp_stuck", std::time::Duration::from_secs(60));
    let stuck = c.run(&["stonith_admin", "--fence", "compute-3", "--timeout", "30"]);
    assert_ne!(stuck.code, 0, "{stuck}");
    c.crm(&["configure", "delete", "--force", "fp_stuck"])
        .expect_ok();
}

#[test]
fn metadata_describe_and_validate() {
    let c = Cluster::shared();
    let meta = c
        .run(&["stonith_admin", "--metadata", "--agent", "fence_probe"])
        .expect_ok();
    assert!(meta.stdout.contains("plug_dir"), "{meta}");
    let describe = c.pcs(&["stonith", "describe", "fence_probe"]).expect_ok();
    assert!(describe.stdout.contains("plug_dir"), "{describe}");
    let ok = c.run(&[
        "stonith_admin",
        "--validate",
        "--agent",
        "fence_probe",
        "--option",
        "plug_dir=/tmp",
    ]);
    assert!(ok.ok(), "{ok}");
    let bad = c.run(&[
        "stonith_admin",
        "--validate",
        "--agent",
        "fence_probe",
        "--option",
        "lag=many",
    ]);
    assert!(!bad.ok(), "{bad}");
}

#[test]
fn metadata_validates_against_fence_agents_schema() {
    oxha_harness::valid_metadata("fence_probe");
}

#[test]
fn stdin_protocol_as_pacemaker_fenced_speaks_it() {
    let agent = oxha_harness::fence_agent("fence_probe");
    let dir = plug_dir("stdin", &[("n1", "on")]);
    let stdin = format!("action=reboot\nnodename=n1\nport=n1\nplug_dir={}\nstonith_status_sleep=0.05\nunknown_key=hidden-value\n", dir.display());
    let r = oxha_harness::run_env(
        &[agent.to_str().unwrap_or_default()],
        &[("PCMK_service", "pacemaker-fenced")],
        Some(&stdin),
    );
    assert!(r.ok(), "{r}");
    assert_eq!(r.stdout, "Success: Rebooted\n");
    assert!(
        r.stderr.contains("Ignoring unknown option 'unknown_key'"),
        "{r}"
    );
    assert!(
        !r.stderr.contains("hidden-value"),
        "values of unknown keys are never echoed: {r}"
    );
}
