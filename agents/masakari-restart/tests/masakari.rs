//! masakari-restart against the real Masakari API (noauth2, and behind a real keystone's
//! catalog) and real libvirt/qemu guests, in a real single-node cluster (see tests/masakari-env).
//! Run `make stage` first.
//!
//! These tests end where the agent's work ends: the notification stored by Masakari. There is
//! no nova here, so the tests restart a crashed guest themselves (as nova would); Masakari
//! restarting a crashed instance through a real nova is `s1_instance_restart` in
//! tests/openstack-env.

use oxha_harness::{wait_for, Cluster, Run};
use oxha_masakari_env::{
    uuid_of, MasakariEnv, KEYSTONE_PASSWORD, KEYSTONE_PROJECT, KEYSTONE_USER, MASAKARI_URL,
};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

static ENV: OnceLock<MasakariEnv> = OnceLock::new();

/// Masakari's duplicate window in this suite: long enough that a guest crashing again within
/// seconds falls in it for sure, short enough to see the held report accepted after it.
const DUPLICATE_WINDOW: u32 = 30;

fn env() -> &'static MasakariEnv {
    ENV.get_or_init(|| {
        MasakariEnv::up_with_duplicate_window(Cluster::shared(), &["node1"], DUPLICATE_WINDOW)
    })
}

/// Runs monitors until one's output contains `what` (a held report accepted once Masakari's
/// duplicate window has passed); returns that output.
#[track_caller]
fn monitor_until(dir: &str, extra: &[(&str, &str)], what: &str) -> Run {
    wait_for(
        &format!("a monitor saying '{what}'"),
        Duration::from_secs(u64::from(DUPLICATE_WINDOW) + 60),
        || {
            let r = agent("monitor", dir, extra).expect_ok();
            r.stderr.contains(what).then_some(r)
        },
    )
}

/// The agent as Pacemaker would run it, with noauth against the test Masakari, polling only
/// (`event_wait=0`: each monitor returns after its poll).
fn agent(action: &str, state_dir: &str, extra: &[(&str, &str)]) -> Run {
    let mut vars = vec![("OCF_RESKEY_event_wait", "0")];
    vars.extend_from_slice(extra);
    agent_as_configured(action, state_dir, &vars)
}

/// [`agent`] with the agent's own default for `event_wait`.
fn agent_as_configured(action: &str, state_dir: &str, extra: &[(&str, &str)]) -> Run {
    let mut vars = vec![
        ("OCF_RESOURCE_INSTANCE", "mr-test"),
        ("OCF_RESKEY_auth_mode", "noauth"),
        ("OCF_RESKEY_masakari_url", MASAKARI_URL),
        ("OCF_RESKEY_state_dir", state_dir),
        ("OCF_RESKEY_CRM_meta_interval", "10000"),
        ("OCF_RESKEY_CRM_meta_timeout", "20000"),
    ];
    vars.extend_from_slice(extra);
    env().agent(
        &PathBuf::from("/usr/lib/ocf/resource.d/oxha/masakari-restart"),
        action,
        &vars,
    )
}

fn pending(state_dir: &str) -> Vec<Value> {
    let state = env()
        .cluster
        .run(&["cat", &format!("{state_dir}/state.json")])
        .expect_ok();
    let doc: Value = serde_json::from_str(&state.stdout).expect("state.json is JSON");
    doc["pending"].as_array().cloned().unwrap_or_default()
}

/// Waits until Masakari has stored `count` notifications about `uuid` and returns them.
#[track_caller]
fn wait_notified(uuid: &str, count: usize) -> Vec<Value> {
    let env = env();
    wait_for(
        &format!("{count} notification(s) for {uuid} stored by Masakari"),
        Duration::from_secs(30),
        || {
            let ns = env.notifications_for(uuid);
            (ns.len() == count).then_some(ns)
        },
    )
}

/// Waits until Masakari holds `count` notifications for `uuid` and has ended every recovery
/// (none `new` or `running`); fails if it ignored the guest (the test would prove nothing).
fn wait_recovery_ended(env: &MasakariEnv, uuid: &str, count: usize) {
    let statuses = wait_for(
        &format!("Masakari's recoveries of {uuid} to end"),
        Duration::from_secs(120),
        || {
            let statuses = env.statuses_for(uuid);
            (statuses.len() == count
                && statuses
                    .iter()
                    .all(|s| !matches!(s.as_str(), "new" | "running")))
            .then_some(statuses)
        },
    );
    assert!(
        !statuses.iter().any(|s| s == "ignored"),
        "Masakari ignored the guest: the test proves nothing ({statuses:?})"
    );
}

/// The guest running again, started by the test (nova's part: there is no nova here).
fn restart(guest: &str) {
    env().ensure_running(guest);
}

#[test]
fn crash_under_pacemaker_is_reported_to_masakari() {
    let _s = Cluster::serial();
    let env = env();
    let cluster = env.cluster;
    let uuid = uuid_of("guest1");
    // hostname left to its default: the node's name (node1, no domain in this node); the
    // monitor pcs takes from the agent's metadata, listening for events by default.
    cluster
        .pcs(&[
            "resource",
            "create",
            "mr",
            "ocf:oxha:masakari-restart",
            "auth_mode=noauth",
            &format!("masakari_url={MASAKARI_URL}"),
            "clone",
        ])
        .expect_ok();
    cluster.wait_started("mr", Duration::from_secs(60));
    assert!(env.notifications_for(uuid).is_empty());

    env.crash("guest1");
    let ns = wait_notified(uuid, 1);
    let n = &ns[0];
    assert_eq!(n["type"], "VM");
    assert_eq!(n["payload"]["event"], "LIFECYCLE");
    assert_eq!(n["payload"]["vir_domain_event"], "STOPPED_FAILED");
    // From this host: Masakari resolved the agent's hostname (the node's name) to node1.
    assert_eq!(
        n["source_host_uuid"].as_str(),
        Some(env.host_uuid("node1").as_str()),
        "{n}"
    );
    restart("guest1");
    assert!(
        cluster.failures("mr").is_empty(),
        "{:?}",
        cluster.failures("mr")
    );

    cluster.pcs(&["resource", "delete", "mr"]).expect_ok();
    cluster.wait_stopped("mr", Duration::from_secs(60));
}

#[test]
fn operator_stop_is_not_reported_and_a_second_crash_within_the_duplicate_window_is_held() {
    let _s = Cluster::serial();
    let env = env();
    let dir = "/run/mr-guest2";
    let uuid = uuid_of("guest2");
    agent("start", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    agent("start", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();

    // An operator stop (virsh destroy) is a stop, not a crash.
    env.virsh(&["destroy", "guest2"]).expect_ok();
    agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    assert!(
        env.notifications_for(uuid).is_empty(),
        "{:?}",
        env.notifications_for(uuid)
    );
    assert!(pending(dir).is_empty());
    env.virsh(&["start", "guest2"]).expect_ok();
    agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();

    // A crash: reported at the next monitor. The guest runs again (restarted here, as nova
    // would), and the agent sees it running.
    env.crash("guest2");
    let r = agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    assert!(r.stderr.contains("accepted"), "{r}");
    wait_notified(uuid, 1);
    restart("guest2");
    agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();

    // The same guest crashes again within Masakari's duplicate window (seconds after the
    // first): Masakari refuses the report as a duplicate of the first crash. Dropping it would
    // leave the guest down: it is held, and sent again until Masakari accepts it.
    env.crash("guest2");
    let r = agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    assert!(
        r.stderr.contains("as a duplicate of an earlier crash"),
        "{r}"
    );
    let held = pending(dir);
    assert!(
        held.len() == 1 && held[0]["held"] == true,
        "the refused report is held: {held:?}"
    );
    assert_eq!(env.notifications_for(uuid).len(), 1);
    let r = monitor_until(dir, &[("OCF_RESKEY_hostname", "node1")], "accepted");
    assert!(!r.stderr.contains("reporting"), "not a new incident: {r}");
    assert!(pending(dir).is_empty(), "{:?}", pending(dir));
    let notes = wait_notified(uuid, 2);
    let times: Vec<&str> = notes
        .iter()
        .filter_map(|n| n["generated_time"].as_str())
        .collect();
    assert!(times.len() == 2 && times[0] != times[1], "{notes:?}");

    agent("stop", dir, &[]).expect_ok();
    agent("stop", dir, &[]).expect_ok();
    agent("monitor", dir, &[]).expect_code(7);
    env.ensure_running("guest2");
}

#[test]
fn masakari_down_during_the_crash_is_delivered_later_with_the_original_time() {
    let _s = Cluster::serial();
    let env = env();
    let dir = "/run/mr-guest3";
    let uuid = uuid_of("guest3");
    let fast = [
        ("OCF_RESKEY_hostname", "node1"),
        ("OCF_RESKEY_retry_max", "2"),
        ("OCF_RESKEY_retry_interval", "200ms"),
    ];
    agent("start", dir, &fast).expect_ok();
    env.masakari_stop();
    env.crash("guest3");
    let r = agent("monitor", dir, &fast);
    // Masakari down must not fail the monitor (no restart loop).
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("not delivered"), "{r}");
    let kept = pending(dir);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let generated = kept[0]["notification"]["generated_time"]
        .as_str()
        .expect("generated_time")
        .to_string();
    agent("monitor", dir, &fast).expect_ok();
    assert_eq!(pending(dir).len(), 1);

    env.masakari_start();
    let r = agent("monitor", dir, &fast).expect_ok();
    assert!(r.stderr.contains("accepted"), "{r}");
    assert!(pending(dir).is_empty());
    let ns = wait_notified(uuid, 1);
    // Masakari stores the time without the zone suffix.
    let stored = ns[0]["generated_time"].as_str().unwrap_or_default();
    assert_eq!(stored, generated.trim_end_matches('Z'), "{ns:?}");
    agent("stop", dir, &[]).expect_ok();
    restart("guest3");
}

#[test]
fn by_default_a_crash_is_reported_while_the_monitor_listens() {
    let _s = Cluster::serial();
    let env = env();
    let dir = "/run/mr-events";
    let uuid = uuid_of("guest4");
    agent("start", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    // event_wait left to its default, the monitor's timeout to the metadata's (40 s).
    let listening = std::thread::spawn(move || {
        agent_as_configured(
            "monitor",
            dir,
            &[
                ("OCF_RESKEY_hostname", "node1"),
                ("OCF_RESKEY_CRM_meta_interval", "2000"),
                ("OCF_RESKEY_CRM_meta_timeout", "40000"),
            ],
        )
    });
    wait_for(
        "the monitor to listen for libvirt events",
        Duration::from_secs(20),
        || {
            env.cluster
                .run(&["pgrep", "-f", "event --event lifecycle"])
                .ok()
                .then_some(())
        },
    );
    env.crash("guest4");
    wait_for("the notification", Duration::from_secs(10), || {
        (env.notifications_for(uuid).len() == 1).then_some(())
    });
    assert!(
        !listening.is_finished(),
        "reported by the listening monitor, not after it"
    );
    let r = listening.join().expect("monitor thread").expect_ok();
    assert!(r.stderr.contains("accepted"), "{r}");
    agent("stop", dir, &[]).expect_ok();
    restart("guest4");
}

/// Keystone v3 against a real keystone: the Masakari endpoint from its catalog, one token for
/// every request of a monitor, a wrong password refused by keystone (incidents kept, the
/// password nowhere in the output), a catalog without the endpoint for the configured region.
#[test]
fn keystone_auth_uses_the_catalog_and_never_shows_the_password() {
    let _s = Cluster::serial();
    let env = env();
    let keystone = env.keystone();
    let dir = "/run/mr-keystone";
    // Two incidents already pending (as left by an earlier monitor), for instances that are
    // not guests here.
    let uuids = [
        "0d0e0f10-1112-4314-9516-171819202122",
        "0d0e0f10-1112-4314-9516-171819202123",
    ];
    let incident = |uuid: &str, second: u32| {
        serde_json::json!({"domain": format!("elsewhere-{second}"), "attempts": 0, "notification": {
            "type": "VM", "hostname": "node1",
            "generated_time": format!("2026-01-02T03:04:0{second}.000006Z"),
            "payload": {"event": "LIFECYCLE", "instance_uuid": uuid, "vir_domain_event": "STOPPED_FAILED"}}})
    };
    cluster_write(
        &format!("{dir}/state.json"),
        &serde_json::json!({"domains": {}, "libvirt_failures": 0,
            "pending": [incident(uuids[0], 5), incident(uuids[1], 6)]})
        .to_string(),
    );
    env.cluster
        .run(&["touch", &format!("{dir}/running")])
        .expect_ok();
    let keystone_params = |password: &'static str, region: &'static str| {
        vec![
            ("OCF_RESKEY_auth_mode", "keystone"),
            // Empty = unset: the endpoint must come from the keystone catalog.
            ("OCF_RESKEY_masakari_url", ""),
            ("OCF_RESKEY_auth_url", keystone),
            ("OCF_RESKEY_username", KEYSTONE_USER),
            ("OCF_RESKEY_password", password),
            ("OCF_RESKEY_project_name", KEYSTONE_PROJECT),
            ("OCF_RESKEY_region_name", region),
            ("OCF_RESKEY_hostname", "node1"),
            ("OCF_RESKEY_retry_max", "1"),
            ("HA_debug", "1"),
        ]
    };
    let tokens = env.tokens_issued();

    // Keystone refuses the password: a configuration error, the incidents wait for the fix
    // and the monitor does not fail (no restart loop).
    let r = agent(
        "monitor",
        dir,
        &keystone_params("wrong-password", "RegionOne"),
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr.contains("not delivered (HTTP 401)")
            && r.stderr.contains("requires authentication"),
        "{r}"
    );
    assert!(!r.stderr.contains("wrong-password"), "{r}");
    assert_eq!(pending(dir).len(), 2, "bad credentials keep the incidents");

    // The right password, but no instance-ha endpoint in the catalog for that region.
    let r = agent(
        "monitor",
        dir,
        &keystone_params(KEYSTONE_PASSWORD, "RegionTwo"),
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stderr
            .contains("no instance-ha endpoint (interface public, region RegionTwo)"),
        "{r}"
    );
    assert_eq!(pending(dir).len(), 2, "a catalog miss keeps the incidents");
    assert_eq!(
        env.tokens_issued(),
        tokens + 1,
        "one token for the catalog miss"
    );

    // Everything right: both incidents delivered to the catalog's Masakari, with the token the
    // catalog miss got (kept in state_dir, readable by root only: a token is scoped to the user
    // and project, not to a region).
    let kept = env
        .cluster
        .run(&["stat", "-c", "%a %U", &format!("{dir}/keystone-token")]);
    assert_eq!(kept.stdout.trim(), "600 root", "{kept}");
    let r = agent(
        "monitor",
        dir,
        &keystone_params(KEYSTONE_PASSWORD, "RegionOne"),
    )
    .expect_ok();
    assert_eq!(r.stderr.matches("accepted").count(), 2, "{r}");
    assert!(
        !r.stderr.contains(KEYSTONE_PASSWORD) && !r.stdout.contains(KEYSTONE_PASSWORD),
        "{r}"
    );
    assert_eq!(
        env.tokens_issued(),
        tokens + 1,
        "the kept token for the two notifications of the next monitor"
    );
    assert!(pending(dir).is_empty(), "{:?}", pending(dir));
    for (uuid, second) in [(uuids[0], 5), (uuids[1], 6)] {
        let ns = env.notifications_for(uuid);
        assert_eq!(ns.len(), 1, "{ns:?}");
        assert_eq!(
            ns[0]["generated_time"],
            format!("2026-01-02T03:04:0{second}.000006")
        );
    }
    agent("stop", dir, &[]).expect_ok();
}

fn cluster_write(path: &str, content: &str) {
    let dir = std::path::Path::new(path)
        .parent()
        .and_then(|p| p.to_str())
        .unwrap_or("/");
    env().cluster.run(&["mkdir", "-p", dir]).expect_ok();
    env()
        .cluster
        .run_stdin(&["sh", "-c", &format!("cat > {path}")], Some(content))
        .expect_ok();
}

#[test]
fn libvirt_unreachable_fails_the_monitor_only_after_n_polls() {
    let _s = Cluster::serial();
    let dir = "/run/mr-libvirt";
    agent("start", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    let broken = [
        ("OCF_RESKEY_hostname", "node1"),
        (
            "OCF_RESKEY_libvirt_uri",
            "qemu+unix:///system?socket=/nonexistent/sock",
        ),
        ("OCF_RESKEY_libvirt_failures", "2"),
    ];
    agent("monitor", dir, &broken).expect_code(0);
    let r = agent("monitor", dir, &broken).expect_code(1);
    assert!(
        r.stderr
            .contains("ocf-exit-reason:libvirt unreachable for 2 polls"),
        "{r}"
    );
    // One good poll resets the count.
    agent("monitor", dir, &[("OCF_RESKEY_hostname", "node1")]).expect_ok();
    agent("monitor", dir, &broken).expect_code(0);
    agent("stop", dir, &[]).expect_ok();
}

#[test]
fn bad_configuration_is_reported_not_panicked() {
    let _s = Cluster::serial();
    let r = env().agent(
        &PathBuf::from("/usr/lib/ocf/resource.d/oxha/masakari-restart"),
        "start",
        &[("OCF_RESKEY_auth_mode", "noauth")],
    );
    assert_eq!(r.code, 6, "{r}");
    assert!(r.stderr.contains("needs masakari_url"), "{r}");
    let r = agent(
        "validate-all",
        "/run/mr-x",
        &[("OCF_RESKEY_report", "crashed,bogus")],
    );
    assert_eq!(r.code, 6, "{r}");
    let r = agent("start", "/run/mr-x", &[("OCF_RESKEY_hostname", "bad host")]);
    assert_eq!(r.code, 6, "{r}");
}

#[test]
fn ocf_tester_passes() {
    let _s = Cluster::serial();
    let r = env().cluster.run(&[
        "ocf-tester",
        "-n",
        "mrt",
        "-o",
        "auth_mode=noauth",
        "-o",
        &format!("masakari_url={MASAKARI_URL}"),
        "-o",
        "hostname=node1",
        "-o",
        "state_dir=/run/mr-tester",
        "/usr/lib/ocf/resource.d/oxha/masakari-restart",
    ]);
    let out = format!("{}{}", r.stdout, r.stderr);
    // ocf-tester checks metadata against the OCF 1.0 DTD, which rejects 1.1 elements; that one
    // failure is accepted (pacemaker's own Dummy fails it too), nothing else.
    let failures: Vec<&str> = out.lines().filter(|l| l.starts_with("* rc=")).collect();
    let dtd_only = failures.len() == 1 && failures[0].contains("does not conform to ra-api-1.dtd");
    assert!(
        r.ok() || (dtd_only && out.contains("failed 1 tests")),
        "ocf-tester: {out}"
    );
}

#[test]
fn metadata_validates_against_ocf_1_1() {
    oxha_harness::valid_metadata("masakari-restart");
}

/// The state file's `followed` entry for `uuid`: (notification uuid, reports), if followed.
fn followed(state_dir: &str, uuid: &str) -> Option<(String, u64)> {
    let state = env()
        .cluster
        .run(&["cat", &format!("{state_dir}/state.json")])
        .expect_ok();
    let doc: Value = serde_json::from_str(&state.stdout).expect("state.json is JSON");
    let f = doc["followed"].get(uuid)?;
    Some((
        f["notification_uuid"].as_str()?.to_string(),
        f["reports"].as_u64()?,
    ))
}

/// A guest crashed again right after its restart, or one Masakari's recovery did not bring
/// back: still crashed once the recovery ended, it is reported again. There is no nova here, so
/// every recovery ends in error with the guest still crashed; the report again comes inside
/// Masakari's duplicate window of the first, is held until the window has passed, accepted, and
/// followed until the guest runs again.
#[test]
fn a_guest_still_crashed_when_masakari_is_done_is_reported_again() {
    let _s = Cluster::serial();
    let env = env();
    let dir = "/run/mr-follow";
    let host = [("OCF_RESKEY_hostname", "node1")];
    agent("start", dir, &host).expect_ok();
    // guest5: no other test crashes it (each has a guest of its own: Masakari's duplicate
    // window is per guest).
    let guest = "guest5";
    let uuid = uuid_of(guest);
    env.ensure_running(guest);
    agent("monitor", dir, &host).expect_ok();
    let before = env.notifications_for(uuid).len();
    env.crash(guest);
    let r = agent("monitor", dir, &host).expect_ok();
    assert!(r.stderr.contains("accepted"), "{r}");
    let (first, reports) = followed(dir, uuid).expect("the accepted crash is followed");
    assert_eq!(reports, 1);
    // While Masakari works on it, nothing more is sent.
    let done = wait_for(
        "Masakari's recovery to end",
        Duration::from_secs(120),
        || {
            let statuses = env.statuses_for(uuid);
            let last = statuses.first().cloned().unwrap_or_default();
            (env.notifications_for(uuid).len() == before + 1
                && !matches!(last.as_str(), "new" | "running"))
            .then_some(last)
        },
    );
    assert_ne!(
        done, "ignored",
        "Masakari ignored the guest: the test proves nothing"
    );

    // Reported again: inside Masakari's duplicate window of the first report, so refused and
    // held, then accepted once the window has passed, and followed in turn.
    let r = agent("monitor", dir, &host).expect_ok();
    assert!(
        r.stderr.contains("is still crashed") && r.stderr.contains("reporting it again (2 of 3)"),
        "{r}"
    );
    if !r.stderr.contains("accepted") {
        assert!(
            r.stderr.contains("as a duplicate of an earlier crash"),
            "{r}"
        );
        monitor_until(dir, &host, "accepted");
    }
    let (second, reports) = followed(dir, uuid).expect("the report again is followed");
    assert_ne!(second, first);
    assert_eq!(reports, 2);
    assert!(pending(dir).is_empty(), "{:?}", pending(dir));
    assert_eq!(env.notifications_for(uuid).len(), before + 2);
    wait_recovery_ended(env, uuid, before + 2);

    // Running again: no longer followed; a later crash is a new one.
    restart(guest);
    let r = agent("monitor", dir, &host).expect_ok();
    assert!(!r.stderr.contains("reporting"), "{r}");
    assert_eq!(followed(dir, uuid), None);
    agent("stop", dir, &[]).expect_ok();
}
