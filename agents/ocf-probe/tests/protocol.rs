//! ocf-lib's OCF protocol, exercised through a real agent binary (the staged ocf-probe) with the
//! environment pacemaker-execd would give it. No cluster needed.

use oxha_harness::{ocf_agent, run, run_env, Run};

fn agent() -> String {
    ocf_agent("ocf-probe").to_string_lossy().into_owned()
}

fn state_file(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ocf-probe-protocol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name).to_string_lossy().into_owned()
}

fn action(action: &str, env: &[(&str, &str)]) -> Run {
    let a = agent();
    let mut full = vec![
        ("OCF_ROOT", "/usr/lib/ocf"),
        ("OCF_RESOURCE_INSTANCE", "p1"),
    ];
    full.extend_from_slice(env);
    run_env(&[&a, action], &full, None)
}

fn exit_reason(r: &Run) -> Option<String> {
    r.stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .map(str::to_string)
}

#[test]
fn meta_data_needs_no_environment_and_no_privileges() {
    let a = agent();
    let r = run(&["env", "-i", &a, "meta-data"]).expect_ok();
    assert!(r.stdout.contains("<version>1.1</version>"));
    // As the controller runs it: user hacluster (and nobody, as ocf-tester does).
    for user in ["hacluster", "nobody"] {
        let r = run(&[
            "setpriv",
            "--reuid",
            user,
            "--regid",
            "nogroup",
            "--clear-groups",
            &a,
            "meta-data",
        ]);
        assert!(r.ok(), "meta-data as {user}: {r}");
    }
}

#[test]
fn metadata_validates_against_pcs_ocf_1_1_schema() {
    oxha_harness::valid_metadata("ocf-probe");
}

#[test]
fn unknown_and_undeclared_actions_are_unimplemented_without_side_effects() {
    let state = state_file("unknown");
    for act in ["frobnicate", "promote", "migrate_to", ""] {
        let r = action(act, &[("OCF_RESKEY_state", &state)]).expect_code(3);
        assert!(
            exit_reason(&r).is_some_and(|m| m.contains("not supported")),
            "{r}"
        );
    }
    assert!(!std::path::Path::new(&state).exists());
    // No action at all: usage, OCF_ERR_ARGS.
    let a = agent();
    run(&[&a]).expect_code(2);
}

#[test]
fn lifecycle_is_idempotent_and_probes_are_detected() {
    let state = state_file("life");
    let env = [
        ("OCF_RESKEY_state", state.as_str()),
        ("OCF_RESKEY_CRM_meta_interval", "10000"),
    ];
    action("monitor", &env).expect_code(7);
    action("stop", &env).expect_ok();
    action("start", &env).expect_ok();
    action("start", &env).expect_ok();
    action("monitor", &env).expect_ok();
    action("status", &env).expect_ok();
    action("stop", &env).expect_ok();
    action("stop", &env).expect_ok();
    action("monitor", &env).expect_code(7);
}

#[test]
fn bad_parameters_are_configuration_errors_naming_parameter_and_value() {
    let r = action(
        "validate-all",
        &[("OCF_RESKEY_state", "/x"), ("OCF_CHECK_LEVEL", "10")],
    )
    .expect_ok();
    assert!(exit_reason(&r).is_none());
    for act in ["validate-all", "start", "monitor"] {
        let r = action(act, &[("OCF_RESKEY_op_sleep", "soonish")]).expect_code(6);
        assert_eq!(
            exit_reason(&r).as_deref(),
            Some("parameter 'op_sleep': invalid value 'soonish': expected a duration such as 10, 10s, 500ms or 2min"),
            "{r}"
        );
    }
}

#[test]
fn operations_stop_before_pacemaker_would_kill_them() {
    let state = state_file("slow");
    let started = std::time::Instant::now();
    let r = action(
        "start",
        &[
            ("OCF_RESKEY_state", &state),
            ("OCF_RESKEY_op_sleep", "60s"),
            ("OCF_RESKEY_CRM_meta_timeout", "3000"),
        ],
    )
    .expect_code(1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "must finish inside the timeout"
    );
    assert!(
        exit_reason(&r).is_some_and(|m| m.contains("timeout")),
        "{r}"
    );
}

#[test]
fn stop_with_unusable_parameters_succeeds() {
    // An empty value counts as unset; an undeclared parameter is ignored.
    let r = action(
        "stop",
        &[("OCF_RESKEY_state", ""), ("OCF_RESKEY_unknown", "1")],
    );
    assert!(r.ok(), "{r}");
}

#[test]
fn exit_reason_prefix_is_honoured() {
    let r = action("frobnicate", &[("OCF_EXIT_REASON_PREFIX", "why:")]).expect_code(3);
    assert!(r.stderr.lines().any(|l| l.starts_with("why:")), "{r}");
}

#[test]
fn logs_go_to_ha_logfile() {
    let log = state_file("agent.log");
    let _ = std::fs::remove_file(&log);
    action("frobnicate", &[("HA_LOGFILE", &log)]).expect_code(3);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("ocf-probe(p1)") && text.contains("ERROR"),
        "log: {text:?}"
    );
}

/// With HA_LOGFACILITY set, lines go to syslog's /dev/log as datagrams (no `logger` fork).
/// The agent runs in a private mount namespace whose /dev/log is a socket this test reads.
#[test]
fn logs_go_to_syslog_when_a_facility_is_set() {
    let dir = std::env::temp_dir().join(format!("ocf-probe-syslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let received = dir.join("received");
    let script = format!(
        r#"set -e
mkdir -p {d}/olddev
mount --bind /dev {d}/olddev
mount -t tmpfs tmpfs /dev
touch /dev/null && mount --bind {d}/olddev/null /dev/null
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open("{d}/ready", "w").close()
s.settimeout(10)
open("{r}", "wb").write(s.recv(4096))
' &
for i in $(seq 100); do [ -e {d}/ready ] && break; sleep 0.05; done
HA_LOGFACILITY=daemon OCF_RESOURCE_INSTANCE=p9 {agent} frobnicate || true
wait
"#,
        d = dir.display(),
        r = received.display(),
        agent = agent()
    );
    run(&[
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ])
    .expect_ok();
    let datagram = std::fs::read_to_string(&received).unwrap_or_default();
    // <PRI> = facility daemon (3) * 8 + severity err (3) = 27.
    assert!(datagram.starts_with("<27>ocf-probe(p9)["), "{datagram:?}");
    assert!(
        datagram.contains("ERROR: ocf-probe frobnicate: action 'frobnicate' is not supported"),
        "{datagram:?}"
    );
}
