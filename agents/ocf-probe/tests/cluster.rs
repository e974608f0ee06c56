//! ocf-lib's OCF side under a real Pacemaker: configured with crm and with pcs, checked with
//! ocf-tester, crm_resource --validate and pcs resource describe.

use oxha_harness::{wait_for, Cluster};
use std::time::Duration;

const AGENT: &str = "/usr/lib/ocf/resource.d/oxha/ocf-probe";
const WAIT: Duration = Duration::from_secs(60);

fn state_of(cluster: &Cluster, id: &str) -> Option<String> {
    let r = cluster.sh(&format!("cat /run/resource-agents/ocf-probe-{id}.state"));
    r.ok().then_some(r.stdout)
}

#[test]
fn crm_primitive_runs_monitors_and_recovers() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    c.crm(&[
        "configure",
        "primitive",
        "p_crm",
        "ocf:oxha:ocf-probe",
        "params",
        "fake=one",
        "op",
        "monitor",
        "interval=2s",
    ])
    .expect_ok();
    c.wait_started("p_crm", WAIT);
    assert_eq!(state_of(c, "p_crm").as_deref(), Some("one"));

    // The state vanishes behind Pacemaker's back: the next monitor reports 7, Pacemaker
    // records the failure and starts the resource again.
    c.sh("rm /run/resource-agents/ocf-probe-p_crm.state")
        .expect_ok();
    wait_for("the failed monitor to be recorded", WAIT, || {
        (!c.failures("p_crm").is_empty()).then_some(())
    });
    wait_for("p_crm to be recovered", WAIT, || state_of(c, "p_crm"));
    c.wait_started("p_crm", WAIT);

    // A reloadable parameter changes through reload-agent, without a restart.
    c.run(&[
        "crm_resource",
        "--resource",
        "p_crm",
        "--set-parameter",
        "fake",
        "--parameter-value",
        "two",
    ])
    .expect_ok();
    wait_for("reload-agent to apply fake=two", WAIT, || {
        (state_of(c, "p_crm").as_deref() == Some("two")).then_some(())
    });
    let log = std::fs::read_to_string(c.state_dir().join("pacemaker.log")).unwrap_or_default();
    assert!(
        log.contains("p_crm_reload-agent_0"),
        "Pacemaker must have used reload-agent:\n{}",
        c.logs()
    );

    c.crm(&["resource", "stop", "p_crm"]).expect_ok();
    c.wait_stopped("p_crm", WAIT);
    assert!(state_of(c, "p_crm").is_none());
    c.crm(&["configure", "delete", "p_crm"]).expect_ok();
}

#[test]
fn pcs_resource_create_and_describe() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    let describe = c
        .pcs(&["resource", "describe", "ocf:oxha:ocf-probe"])
        .expect_ok();
    assert!(describe.stdout.contains("op_sleep"), "{describe}");
    c.pcs(&[
        "resource",
        "create",
        "p_pcs",
        "ocf:oxha:ocf-probe",
        "fake=pcs",
        "op",
        "monitor",
        "interval=5s",
    ])
    .expect_ok();
    c.wait_started("p_pcs", WAIT);
    assert_eq!(state_of(c, "p_pcs").as_deref(), Some("pcs"));
    // pcs refuses parameters the metadata does not declare.
    let bad = c.pcs(&[
        "resource",
        "create",
        "p_unknown",
        "ocf:oxha:ocf-probe",
        "no_such_param=1",
    ]);
    assert!(!bad.ok() && bad.stderr.contains("no_such_param"), "{bad}");
    c.pcs(&["resource", "delete", "p_pcs"]).expect_ok();
    c.wait_stopped("p_pcs", WAIT);
}

#[test]
fn invalid_parameters_fail_the_start_with_the_reason_shown() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    c.crm(&[
        "configure",
        "primitive",
        "p_bad",
        "ocf:oxha:ocf-probe",
        "params",
        "op_sleep=whenever",
    ])
    .expect_ok();
    let failure = wait_for("the failed start to be recorded", WAIT, || {
        c.failures("p_bad").into_iter().next()
    });
    let reason = failure.replace("&amp;", "&").replace("&apos;", "'");
    assert!(
        reason.contains("parameter 'op_sleep': invalid value 'whenever'"),
        "{failure}"
    );
    assert!(
        failure.contains("exitstatus=\"not configured\"") || failure.contains("exitcode=\"6\""),
        "{failure}"
    );
    c.crm(&["configure", "delete", "--force", "p_bad"])
        .expect_ok();
    c.run(&["crm_resource", "--cleanup"]).expect_ok();
}

#[test]
fn crm_resource_validate() {
    let c = Cluster::shared();
    let ok = c.validate("ocf-probe", &["op_sleep=1s"]);
    assert!(ok.ok(), "{ok}");
    let bad = c.validate("ocf-probe", &["op_sleep=later"]);
    assert_eq!(bad.code, 6, "{bad}");
    assert!(
        format!("{}{}", bad.stdout, bad.stderr).contains("op_sleep"),
        "{bad}"
    );
    let info = c.crm(&["ra", "info", "ocf:oxha:ocf-probe"]).expect_ok();
    assert!(info.stdout.contains("op_sleep"), "{info}");
}

#[test]
fn ocf_tester_behavioural_checks_pass() {
    let c = Cluster::shared();
    let r = c.run(&["ocf-tester", "-n", "tester1", "-o", "fake=x", AGENT]);
    // ocf-tester validates metadata against the OCF 1.0 DTD, which has no place for 1.1
    // elements (Pacemaker's own Dummy fails it too). That one check may fail; nothing else.
    let failures: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("* rc="))
        .filter(|l| {
            !l.ends_with("Your agent produces meta-data which does not conform to ra-api-1.dtd")
        })
        .collect();
    assert!(r.ok() || r.stderr.contains("failed 1 tests"), "{r}");
    assert!(
        failures.is_empty(),
        "ocf-tester failures besides the DTD check: {failures:?}\n{r}"
    );
}
