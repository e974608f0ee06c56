//! `oxha-check` on the real stack: nothing reported on the clean walkthrough cluster; then each
//! rule broken on the real thing (the CIB, the MAAS simulator, nova, Masakari, a running
//! masakari-hostmonitor), seen reported with its rule and subject, and repaired, where the
//! fix is a command the stack has, by running the very command oxha-check printed.
//! On the instance-HA suite's stack (one for the binary), the steps in order in one test, each
//! leaving the stack clean.

use oxha_openstack_env::{Monitor, OpenStack, COMPUTES, CONTROL, MASAKARI_DEVICE, POWER_DEVICE};
use serde_json::Value;

const OBSERVER: &str = "node1";
const SEGMENT: &str = "S1";

/// One run of the staged oxha-check: its exit code and its findings as (rule, subject, fix).
struct Check {
    code: i32,
    findings: Vec<(String, String, String)>,
    text: String,
}

impl Check {
    fn has(&self, rule: &str, subject: &str) -> Option<&str> {
        self.findings
            .iter()
            .find(|(r, s, _)| r == rule && s == subject)
            .map(|(_, _, fix)| fix.as_str())
    }
}

fn check_on(os: &OpenStack, node: &str, extra: &[&str]) -> Check {
    let mut argv = vec!["oxha-check", "--json"];
    argv.extend_from_slice(extra);
    let r = os.cluster.run(node, &argv);
    let doc: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("oxha-check --json printed no JSON ({e}): {r}"));
    let findings = doc["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                    (s("rule"), s("subject"), s("fix"))
                })
                .collect()
        })
        .unwrap_or_default();
    Check {
        code: r.code,
        findings,
        text: format!("{r}"),
    }
}

fn check(os: &OpenStack) -> Check {
    check_on(os, OBSERVER, &[])
}

#[track_caller]
fn expect_clean(os: &OpenStack, after: &str) {
    let c = check(os);
    assert!(
        c.code == 0 && c.findings.is_empty(),
        "after {after}: expected nothing reported, got exit {}: {}",
        c.code,
        c.text
    );
}

/// Breaks something, expects `rule` on `subject` (and exit `code`), returns the fix printed.
#[track_caller]
fn expect_reported(os: &OpenStack, rule: &str, subject: &str, code: i32) -> String {
    let c = check(os);
    let fix = c
        .has(rule, subject)
        .unwrap_or_else(|| panic!("{rule} on {subject} not reported: {}", c.text))
        .to_string();
    assert_eq!(c.code, code, "exit code: {}", c.text);
    // The fix never holds a secret of the stack.
    assert!(
        !c.text.contains("oxha-masakari") && !c.text.contains("oxhasecret"),
        "{}",
        c.text
    );
    fix
}

/// Runs a printed fix in the observer node (a cibadmin/crm_resource command).
#[track_caller]
fn run_fix_in_cluster(os: &OpenStack, fix: &str) {
    os.cluster.sh(OBSERVER, fix).expect_ok();
}

/// Runs a printed `openstack ...` fix with the stack's client (the words after `openstack`;
/// the fixes oxha-check prints for these rules have no quoted words).
#[track_caller]
fn run_openstack_fix(os: &OpenStack, fix: &str) {
    let words: Vec<&str> = fix.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"openstack"), "{fix}");
    os.openstack(&words[1..]).expect_ok();
}

#[test]
fn oxha_check_reports_each_broken_rule_and_nothing_on_the_clean_stack() {
    let guard = crate::stack();
    let os = guard.as_ref().expect("stack");
    let _logs = crate::LogsOnFailure(os);
    os.fresh();
    os.create_segment(SEGMENT, "auto", None);
    expect_clean(os, "start");
    let v01 = COMPUTES[0];
    let v02 = COMPUTES[1];
    let v10 = COMPUTES[2];

    // 1. A remote node without a fencing level; the printed cibadmin command restores it.
    os.cluster
        .run(
            OBSERVER,
            &[
                "cibadmin",
                "--delete",
                "--xpath",
                &format!("//fencing-level[@target='{}']", v10.node),
            ],
        )
        .expect_ok();
    let fix = expect_reported(os, "no-fencing-level", v10.node, 2);
    assert!(
        fix.contains(&format!("devices=\"{POWER_DEVICE},{MASAKARI_DEVICE}\"")),
        "{fix}"
    );
    run_fix_in_cluster(os, &fix);
    expect_clean(os, "the level was recreated");

    // 2. fence_masakari first in a level.
    let level = os
        .cluster
        .run(
            OBSERVER,
            &[
                "cibadmin",
                "--query",
                "--xpath",
                &format!("//fencing-level[@target='{}']", v02.node),
            ],
        )
        .expect_ok()
        .stdout;
    let id = level
        .split("id=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("level id")
        .to_string();
    os.cluster
        .run(
            OBSERVER,
            &[
                "cibadmin",
                "--modify",
                "--xml-text",
                &format!("<fencing-level id=\"{id}\" devices=\"{MASAKARI_DEVICE}\"/>"),
            ],
        )
        .expect_ok();
    let fix = expect_reported(os, "no-power-before-masakari", &id, 2);
    // The printed fix puts the power device first; the stack's own layout has it once.
    os.cluster
        .run(
            OBSERVER,
            &[
                "cibadmin",
                "--modify",
                "--xml-text",
                &format!(
                    "<fencing-level id=\"{id}\" devices=\"{POWER_DEVICE},{MASAKARI_DEVICE}\"/>"
                ),
            ],
        )
        .expect_ok();
    assert!(
        fix.contains(&format!("devices=\"{POWER_DEVICE},{MASAKARI_DEVICE}\"")),
        "{fix}"
    );
    expect_clean(os, "the level was repaired");

    // 3. The walkthrough's virt-node-10 / virt-node-10.maas without its pcmk_host_map entry.
    os.cluster
        .run(
            OBSERVER,
            &[
                "crm_resource",
                "--resource",
                MASAKARI_DEVICE,
                "--delete-parameter",
                "pcmk_host_map",
            ],
        )
        .expect_ok();
    let fix = expect_reported(os, "segment-host-no-node", v10.host, 2);
    assert!(fix.contains(&format!("{}:{}", v10.node, v10.host)), "{fix}");
    run_fix_in_cluster(os, &fix);
    expect_clean(os, "the host map was restored");

    // 4. fence_maas's plug for a node names no MAAS machine.
    os.cluster
        .run(
            OBSERVER,
            &[
                "crm_resource",
                "--resource",
                POWER_DEVICE,
                "--set-parameter",
                "pcmk_host_map",
                "--parameter-value",
                &format!("{}:no-such-machine", v02.node),
            ],
        )
        .expect_ok();
    expect_reported(os, "maas-no-single-machine", v02.node, 2);
    os.cluster
        .run(
            OBSERVER,
            &[
                "crm_resource",
                "--resource",
                POWER_DEVICE,
                "--delete-parameter",
                "pcmk_host_map",
            ],
        )
        .expect_ok();
    expect_clean(os, "the MAAS map was removed");

    // 5. The MAAS machine not Deployed, then with the manual power type (the simulator's
    //    machine changed as MAAS would show it).
    let machine = |patch: &str| {
        os.cluster
            .maas_ctl("POST", &format!("/_sim/machines/{}", v01.node), Some(patch))
            .expect_ok();
    };
    machine(r#"{"status_name": "Ready"}"#);
    let fix = expect_reported(os, "maas-not-deployed", v01.node, 2);
    assert!(fix.starts_with("maas PROFILE machine deploy "), "{fix}");
    machine(r#"{"status_name": "Deployed", "power_type": "manual"}"#);
    expect_reported(os, "maas-manual-power", v01.node, 2);
    machine(r#"{"power_type": "ipmi"}"#);
    expect_clean(os, "the machine was Deployed with IPMI power again");

    // 6. A segment host nova does not know (and no Pacemaker node maps to). Masakari checks
    //    the name with nova when a host is added, so the host is left behind the way it is in
    //    a real cloud: its row stays while nova knows the machine by another name (written
    //    to Masakari's database directly, as the rename leaves it).
    os.cluster
        .run(
            CONTROL,
            &[
                "mariadb",
                "--socket=/run/mysqld/mysqld.sock",
                "masakari",
                "-e",
                &format!(
                    "INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type, \
                     control_attributes, failover_segment_id, on_maintenance) \
                     SELECT NOW(), 0, UUID(), 'ghost-1.maas', 0, 'COMPUTE', 'SSH', uuid, 0 \
                     FROM failover_segments WHERE name = '{SEGMENT}' AND deleted = 0"
                ),
            ],
        )
        .expect_ok();
    let fix = expect_reported(os, "segment-host-no-nova", "ghost-1.maas", 2);
    assert!(check(os)
        .has("segment-host-no-node", "ghost-1.maas")
        .is_some());
    run_openstack_fix(os, &fix);
    expect_clean(os, "the ghost host was deleted");

    // 7. A nova compute host in no segment: a warning.
    os.openstack(&["segment", "host", "delete", SEGMENT, v01.host])
        .expect_ok();
    let fix = expect_reported(os, "compute-not-in-segment", v01.host, 1);
    run_openstack_fix(os, &fix);
    expect_clean(os, "the host was put back in its segment");

    // 8. A reserved host nova has enabled.
    os.openstack(&[
        "segment",
        "host",
        "update",
        "--reserved=True",
        SEGMENT,
        v02.host,
    ])
    .expect_ok();
    let fix = expect_reported(os, "reserved-host-enabled", v02.host, 1);
    assert!(
        fix.starts_with("openstack compute service set --disable"),
        "{fix}"
    );
    os.openstack(&[
        "compute",
        "service",
        "set",
        "--disable",
        v02.host,
        "nova-compute",
    ])
    .expect_ok();
    expect_clean(os, "the reserved host was disabled");
    os.openstack(&[
        "segment",
        "host",
        "update",
        "--reserved=False",
        SEGMENT,
        v02.host,
    ])
    .expect_ok();
    os.openstack(&[
        "compute",
        "service",
        "set",
        "--enable",
        v02.host,
        "nova-compute",
    ])
    .expect_ok();
    expect_clean(os, "the host was no longer reserved");

    // 9. A reserved_host segment with no reserved host.
    os.openstack(&["segment", "create", "R1", "reserved_host", "COMPUTE"])
        .expect_ok();
    expect_reported(os, "no-reserved-host-left", "R1", 2);
    os.openstack(&["segment", "delete", "R1"]).expect_ok();
    expect_clean(os, "the empty reserved_host segment was deleted");

    // 10. A host left on maintenance while it runs.
    os.openstack(&[
        "segment",
        "host",
        "update",
        "--on_maintenance=True",
        SEGMENT,
        v02.host,
    ])
    .expect_ok();
    let fix = expect_reported(os, "left-on-maintenance", v02.host, 1);
    run_openstack_fix(os, &fix);
    expect_clean(os, "maintenance was cleared with the printed command");

    // 11. A host left forced_down while its Pacemaker node is online.
    os.openstack(&[
        "--os-compute-api-version",
        "2.53",
        "compute",
        "service",
        "set",
        "--down",
        v10.host,
        "nova-compute",
    ])
    .expect_ok();
    let fix = expect_reported(os, "left-forced-down", v10.host, 1);
    run_openstack_fix(os, &fix);
    expect_clean(os, "forced_down was cleared with the printed command");

    // 12. masakari-hostmonitor running beside fence_masakari: seen from the compute host it
    //     runs on (its process), with the CIB the observer read.
    let cib = os.state_dir().join("oxha-check-cib.xml");
    let xml = os
        .cluster
        .run(OBSERVER, &["cibadmin", "--query"])
        .expect_ok()
        .stdout;
    std::fs::write(&cib, xml).expect("write the CIB");
    let cib_arg = cib.to_string_lossy().into_owned();
    let before = check_on(os, v01.node, &["--cib", &cib_arg]);
    assert!(
        before
            .has("hostmonitor-beside-fence-masakari", "masakari-hostmonitor")
            .is_none(),
        "{}",
        before.text
    );
    os.start_masakari_monitor(v01, Monitor::Host, "");
    let with = check_on(os, v01.node, &["--cib", &cib_arg]);
    os.stop_masakari_monitor(v01, Monitor::Host);
    let fix = with
        .has("hostmonitor-beside-fence-masakari", "masakari-hostmonitor")
        .unwrap_or_else(|| panic!("hostmonitor not reported: {}", with.text))
        .to_string();
    assert!(
        fix.starts_with("systemctl disable --now masakari-hostmonitor"),
        "{fix}"
    );
    assert_eq!(with.code, 2, "{}", with.text);
    expect_clean(os, "everything");
}
