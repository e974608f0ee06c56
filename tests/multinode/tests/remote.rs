//! Scenario 3: the pacemaker-remote compute node dies. The cluster fences it through a fencing
//! topology of two devices in one level, run in order, as the charms configure a
//! masakari-monitored compute node: fence_maas (against the MAAS simulator: the power) and
//! fence_masakari (against the real Masakari API + engine of tests/masakari-env, running in
//! node1: the notification that makes Masakari evacuate the host; there is no nova here, so
//! the engine's part checked is its first step, the host put on maintenance).
//!
//! First with MAAS failing for the compute machine (503): the level fails at the power device,
//! the node stays UNCLEAN, its workload is not recovered and Masakari hears nothing. Then MAAS
//! recovers: the node is powered off, and only then Masakari gets exactly one COMPUTE_HOST
//! notification (STOPPED / NORMAL / OFFLINE) for it.

use oxha_multinode::masakari::{epoch_of, Masakari, MASAKARI_DEV, POWER_DEV, WORKLOAD};
use oxha_multinode::{now, timing, MultiCluster, FULL_NODES, REMOTE_NODE};
use std::time::Duration;

/// The first line of `node`'s pacemaker log that contains every one of `needles`.
fn first_log_line(cluster: &MultiCluster, node: &str, needles: &[&str]) -> Option<String> {
    cluster.log_lines(node, needles).into_iter().next()
}

/// The time of day (seconds) of a pacemaker log line: `Nov 25 03:21:18.312 node3 ...`.
fn time_of_day(line: &str) -> Option<f64> {
    let clock = line.split_whitespace().nth(2)?;
    let mut hms = clock.splitn(3, ':');
    let h: f64 = hms.next()?.parse().ok()?;
    let m: f64 = hms.next()?.parse().ok()?;
    let s: f64 = hms.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

#[test]
fn dead_compute_node_is_powered_off_then_reported_to_masakari_once() {
    let _s = MultiCluster::serial();
    // Scenario 3 is always fence_maas (against maas-sim) then fence_masakari.
    oxha_harness::fence_agent("fence_maas");
    oxha_harness::fence_agent("fence_masakari");
    oxha_harness::tool("maas-sim");
    eprintln!("remote: agents: power fence stonith:fence_maas, then stonith:fence_masakari");
    let t0 = now();
    let cluster = MultiCluster::start();
    let masakari = Masakari::start_with_remotes(&cluster, &[REMOTE_NODE]);
    let compute_uuid = masakari.host_uuid(REMOTE_NODE);

    let text = masakari.compute_fencing(REMOTE_NODE, "120s");
    cluster.crm_configure("node1", &text).expect_ok();
    let on = cluster.wait_active_one("node1", WORKLOAD, Duration::from_secs(60));
    assert_eq!(on, REMOTE_NODE);
    // The fencer registers a device only where its resource may run: the Masakari notifier
    // on node1 alone (only node1 reaches its API), the power device everywhere.
    oxha_harness::wait_for(
        "both compute fence devices registered on node1, the power device on node2",
        Duration::from_secs(60),
        || {
            let (n1, n2) = (
                cluster.registered_devices("node1"),
                cluster.registered_devices("node2"),
            );
            (n1.contains(POWER_DEV) && n1.contains(MASAKARI_DEV) && n2.contains(POWER_DEV))
                .then_some(())
        },
    );
    assert!(
        !cluster.registered_devices("node2").contains(MASAKARI_DEV),
        "the Masakari device must be registered on node1 only"
    );
    assert!(masakari.notifications().is_empty());
    let ready = now();

    // Phase 1: MAAS cannot power the compute machine (503). The level fails at the power
    // device; fence_masakari must never run.
    cluster.set_maas_fault(REMOTE_NODE, "503");
    let died = now();
    cluster.kill(REMOTE_NODE);
    oxha_harness::wait_for(
        "two failed fencing attempts of compute1",
        Duration::from_secs(60),
        || (cluster.fence_attempts("node1", REMOTE_NODE).0 >= 2).then_some(()),
    );
    let failed_at = now();
    oxha_multinode::masakari::assert_nothing_recovered(&cluster, &masakari, "its failing fencing");
    assert!(
        first_log_line(
            &cluster,
            "node1",
            &["targeting compute1 using", MASAKARI_DEV]
        )
        .is_none(),
        "fenced ran {MASAKARI_DEV} after a failed power device"
    );
    let (failures, _) = cluster.fence_attempts("node1", REMOTE_NODE);
    eprintln!("{failures} failed fencing attempts of {REMOTE_NODE}; Masakari heard nothing");

    // Phase 2: MAAS recovers. Power-off first, then exactly one notification.
    let back = now();
    cluster.set_maas_fault(REMOTE_NODE, "");
    let first = oxha_harness::wait_for(
        "Masakari to receive a notification",
        Duration::from_secs(90),
        || masakari.notifications().into_iter().next(),
    );
    let notified_seen = now();
    cluster.wait_node(
        "node1",
        REMOTE_NODE,
        "offline and clean",
        Duration::from_secs(30),
        |s| !s.online && !s.unclean,
    );
    // Its workload comes back on a full node, now that the compute node is known off.
    let recovered = cluster.wait_active_one("node1", WORKLOAD, Duration::from_secs(30));
    assert!(FULL_NODES.contains(&recovered.as_str()), "{recovered}");

    let power = cluster.maas_events(REMOTE_NODE);
    assert_eq!(
        power,
        ["power_off stop_mode=hard", "off"],
        "MAAS power events for {REMOTE_NODE}"
    );
    // The MAAS simulator's power-off hook turned the plug off when the machine went off.
    let powered_off = cluster
        .plug_changed_at(REMOTE_NODE)
        .filter(|_| cluster.plug(REMOTE_NODE) == "off")
        .expect("MAAS's power-off hook did not turn compute1's plug off");
    // fence_masakari's own timestamp of the notification (microseconds).
    let generated = first["generated_time"]
        .as_str()
        .and_then(epoch_of)
        .unwrap_or_else(|| panic!("no generated_time in {first}"));
    assert!(
        powered_off <= generated,
        "Masakari was notified ({generated:.3}) before MAAS powered {REMOTE_NODE} off ({powered_off:.3})"
    );
    // The fencers' view: the power device's off returned before the notifier's, and the
    // notifier ran on node1.
    let power_line = FULL_NODES
        .iter()
        .find_map(|n| first_log_line(&cluster, n, &["compute1 using", POWER_DEV, "returned 0"]));
    let masakari_line = first_log_line(
        &cluster,
        "node1",
        &["compute1 using", MASAKARI_DEV, "returned 0"],
    );
    eprintln!("{power_line:?}\n{masakari_line:?}");
    let (Some(power_line), Some(masakari_line)) = (power_line, masakari_line) else {
        panic!(
            "fenced logged no successful off for both devices\n{}",
            cluster.logs()
        )
    };
    // Every node logs with milliseconds on the same clock.
    assert!(
        time_of_day(&power_line) <= time_of_day(&masakari_line),
        "the notifier's off finished before the power device's:\n{power_line}\n{masakari_line}"
    );

    // The notification itself, once everything settled: one, for compute1, what fence_masakari
    // posts for a fenced compute node.
    let all = masakari.notifications();
    assert_eq!(all.len(), 1, "Masakari notifications: {all:#?}");
    let n = &all[0];
    let p = &n["payload"];
    assert_eq!(n["type"], "COMPUTE_HOST", "{n:#}");
    assert_eq!(
        n["source_host_uuid"].as_str(),
        Some(compute_uuid.as_str()),
        "{n:#}"
    );
    assert_eq!(
        (
            p["event"].as_str(),
            p["host_status"].as_str(),
            p["cluster_status"].as_str()
        ),
        (Some("STOPPED"), Some("NORMAL"), Some("OFFLINE")),
        "{n:#}"
    );
    assert_eq!(
        cluster.fence_attempts("node1", REMOTE_NODE).1,
        1,
        "one successful fencing"
    );
    // Masakari's engine takes it: its host-failure flow first puts compute1 on maintenance.
    // (There is no nova in this cluster, so the flow stops there; the evacuation through a real
    // nova is tests/openstack-env's `s2_reserved_host_evacuation_then_reinsert`.)
    oxha_harness::wait_for(
        "Masakari's engine to put compute1 on maintenance",
        Duration::from_secs(60),
        || {
            masakari.host(REMOTE_NODE)?["on_maintenance"]
                .as_bool()?
                .then_some(())
        },
    );
    let processed = now();

    timing(
        "scenario3 setup (cluster, MAAS, Masakari, remote)",
        ready - t0,
    );
    timing(
        "scenario3 compute death → second failed fencing (MAAS 503)",
        failed_at - died,
    );
    timing(
        "scenario3 MAAS back → MAAS powered compute1 off",
        powered_off - back,
    );
    timing("scenario3 MAAS back → Masakari notified", generated - back);
    timing(
        "scenario3 power off → Masakari notified",
        generated - powered_off,
    );
    timing(
        "scenario3 MAAS back → notification listed",
        notified_seen - back,
    );
    timing(
        "scenario3 MAAS back → compute1 on maintenance in Masakari",
        processed - back,
    );
}
