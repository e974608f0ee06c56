//! Scenario 2: the VIP holder loses the cluster (ring) network but stays on the service
//! network, where clients can still reach it — the split-brain case. A prober in its own
//! namespace asks for the VIP every 50 ms and records every responder: at no moment may two
//! nodes answer. The majority fences the minority node; the VIP moves.

use oxha_multinode::{now, timing, ArpProber, MultiCluster, FULL_NODES, VIP};
use std::time::Duration;

const VIP_RES: &str = "res_masakari_f8b6bde_vip";

#[test]
fn partitioned_vip_holder_is_fenced_and_never_two_answer() {
    let _s = MultiCluster::serial();
    let cluster = MultiCluster::start();
    cluster.configure_fencing();
    cluster.configure_vip_and_clone();

    let holder = cluster.wait_active_one("node1", VIP_RES, Duration::from_secs(60));
    let majority: Vec<&str> = FULL_NODES
        .iter()
        .copied()
        .filter(|n| *n != holder)
        .collect();
    let observer = majority[0];
    let holder_mac = cluster.svc_mac(&holder);
    let prober = ArpProber::start(&cluster, VIP, Duration::from_millis(50));
    prober.wait_reply_from(&holder_mac, 0.0, Duration::from_secs(10));
    eprintln!("VIP {VIP} on {holder} ({holder_mac}); cutting {holder}'s ring link");

    let cut = now();
    cluster.partition(&holder);

    // The majority fences the minority: the power controller cuts it when its plug goes off.
    let off = oxha_harness::wait_for(
        &format!("{holder} powered off by fencing"),
        Duration::from_secs(60),
        || cluster.powered_off_at(&holder, cut),
    );
    let reply = prober.wait_reply_not_from(&holder_mac, cut, Duration::from_secs(60));
    let new_holder = cluster.wait_active_one(observer, VIP_RES, Duration::from_secs(30));
    assert!(
        majority.contains(&new_holder.as_str()),
        "VIP on {new_holder}, not in the majority"
    );
    let new_mac = cluster.svc_mac(&new_holder);
    assert_eq!(reply.mac, new_mac);
    // A few more samples after the handover, then judge the whole record.
    prober.wait_reply_from(&new_mac, reply.at + 1.0, Duration::from_secs(10));

    let doubles = prober.double_answers();
    assert!(
        doubles.is_empty(),
        "two nodes answered one ARP request (split brain): {doubles:?}"
    );
    let runs = prober.responder_runs();
    assert_eq!(
        runs,
        vec![holder_mac.clone(), new_mac.clone()],
        "responders flapped: {runs:?}"
    );
    let last_old = prober.last_from(&holder_mac).map(|r| r.at).unwrap_or(cut);
    assert!(
        last_old < reply.at,
        "old holder answered at {last_old}, after the new one at {}",
        reply.at
    );
    let history = cluster.fence_history(observer, &holder);
    assert!(
        history.contains("successful") || history.contains("done"),
        "no successful fencing of {holder}:\n{history}"
    );
    assert!(
        !cluster.running(&holder),
        "{holder} still running after fencing"
    );

    eprintln!(
        "VIP moved {holder} → {new_holder}; last answer from {holder} {:.2}s after the cut",
        last_old - cut
    );
    timing(
        "scenario2 partition → minority powered off (fenced)",
        off - cut,
    );
    timing(
        "scenario2 partition → last ARP answer from old holder",
        last_old - cut,
    );
    timing(
        "scenario2 partition → VIP answers on new node",
        reply.at - cut,
    );
}
