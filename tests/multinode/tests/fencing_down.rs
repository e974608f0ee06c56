//! Scenario 4: the fence device (MAAS) is down when the VIP holder dies. Fencing fails, and
//! Pacemaker must not recover the VIP from the unfenced node (no false success); once the
//! device is back, the node is fenced and the VIP moves.

use oxha_multinode::{now, timing, ArpProber, MultiCluster, FULL_NODES, VIP};
use std::time::Duration;

const VIP_RES: &str = "res_masakari_f8b6bde_vip";

/// Failed fencing attempts against `target` in the fencer's history.
fn failed_attempts(cluster: &MultiCluster, observer: &str, target: &str) -> usize {
    cluster
        .fence_history(observer, target)
        .lines()
        .filter(|l| l.contains("failed"))
        .count()
}

#[test]
fn no_recovery_while_fencing_fails_then_recovery() {
    let _s = MultiCluster::serial();
    let cluster = MultiCluster::start();
    cluster.configure_fencing();
    cluster.configure_vip_and_clone();

    let holder = cluster.wait_active_one("node1", VIP_RES, Duration::from_secs(60));
    let survivors: Vec<&str> = FULL_NODES
        .iter()
        .copied()
        .filter(|n| *n != holder)
        .collect();
    let observer = survivors[0];
    let holder_mac = cluster.svc_mac(&holder);
    let prober = ArpProber::start(&cluster, VIP, Duration::from_millis(50));
    prober.wait_reply_from(&holder_mac, 0.0, Duration::from_secs(10));

    cluster.set_fence_device(false);
    eprintln!("fence device down; killing VIP holder {holder}");
    let died = now();
    cluster.kill(&holder);

    // Fencing is attempted and fails, more than once.
    oxha_harness::wait_for(
        "two failed fencing attempts",
        Duration::from_secs(60),
        || (failed_attempts(&cluster, observer, &holder) >= 2).then_some(()),
    );
    let first_failures = now();
    // The dead node stays UNCLEAN and its VIP is not started anywhere; nobody answers for it.
    // Watch it for a while (every poll is an assertion, not a sleep).
    let watch_until = now() + 8.0;
    while now() < watch_until {
        // A crm_mon that could not answer (busy CIB) says nothing either way: ask again.
        let Some(state) = cluster.node_state(observer, &holder) else {
            continue;
        };
        assert!(
            !state.online && state.unclean,
            "{holder} must stay UNCLEAN while fencing fails: {state:?}"
        );
        let active: Vec<String> = cluster
            .active_on(observer, VIP_RES)
            .into_iter()
            .filter(|n| *n != holder)
            .collect();
        assert!(
            active.is_empty(),
            "VIP recovered on {active:?} while {holder} is unfenced"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let answered: Vec<_> = prober
        .replies()
        .into_iter()
        .filter(|r| r.at > died + 0.5)
        .collect();
    assert!(
        answered.is_empty(),
        "someone answered for the VIP while its holder was unfenced: {answered:?}"
    );
    let failures = failed_attempts(&cluster, observer, &holder);
    eprintln!("{failures} failed fencing attempts; VIP not recovered; device back");

    let back = now();
    cluster.set_fence_device(true);
    oxha_harness::wait_for(
        &format!("{holder}'s plug to be turned off"),
        Duration::from_secs(90),
        || (cluster.plug(&holder) == "off").then_some(()),
    );
    let fenced = cluster.plug_changed_at(&holder).unwrap_or_else(now);
    let reply = prober.wait_reply_not_from(&holder_mac, back, Duration::from_secs(60));
    let new_holder = cluster.wait_active_one(observer, VIP_RES, Duration::from_secs(30));
    assert!(survivors.contains(&new_holder.as_str()));
    assert_eq!(reply.mac, cluster.svc_mac(&new_holder));
    assert!(prober.double_answers().is_empty());
    cluster.wait_node(
        observer,
        &holder,
        "offline and clean",
        Duration::from_secs(30),
        |s| !s.online && !s.unclean,
    );

    timing(
        "scenario4 node death → second failed fencing attempt",
        first_failures - died,
    );
    timing("scenario4 device back → node fenced", fenced - back);
    timing(
        "scenario4 device back → VIP answers on new node",
        reply.at - back,
    );
}
