//! Scenario 1: the node holding the VIP dies. The survivors fence it (the fence device powers
//! it off), then the VIP group and the service clone run on the survivors. Prints the
//! failover time: node death → first ARP answer for the VIP from the new holder.
//!
//! The nodes get the agents the way a user does: the oxha package (`make deb`) installed with
//! dpkg -i in each node's own root, not the staged binaries. This scenario runs three agents of
//! the package through both of Pacemaker's lookups: vip and haproxy (execd, the OCF root) and
//! fence_maas (fenced, /usr/sbin).

use oxha_multinode::{agents, now, timing, ArpProber, MultiCluster, Topology, FULL_NODES, VIP};
use std::time::Duration;

const VIP_RES: &str = "res_masakari_f8b6bde_vip";
const SVC_RES: &str = "res_masakari_haproxy";

#[test]
fn vip_holder_dies_is_fenced_and_vip_moves() {
    let _s = MultiCluster::serial();
    let deb = oxha_harness::deb_package();
    assert!(deb.exists(), "{} missing: run `make deb`", deb.display());
    let cluster =
        MultiCluster::start_with(Topology::default().with_setup(oxha_harness::NodeSetup {
            root: None,
            deb: Some(deb),
        }));
    for node in FULL_NODES {
        let owner = cluster.run(node, &["dpkg", "-S", "/usr/sbin/fence_maas"]);
        assert!(
            owner.ok() && owner.stdout.starts_with("oxha:"),
            "{node}: fence_maas is not the package's: {owner}"
        );
    }
    cluster.configure_fencing();
    cluster.configure_vip_and_clone();

    let holder = cluster.wait_active_one("node1", VIP_RES, Duration::from_secs(60));
    oxha_harness::wait_for(
        "the service clone on all three nodes",
        Duration::from_secs(60),
        || (cluster.active_on("node1", SVC_RES) == FULL_NODES).then_some(()),
    );
    let survivors: Vec<&str> = FULL_NODES
        .iter()
        .copied()
        .filter(|n| *n != holder)
        .collect();
    let observer = survivors[0];
    let holder_mac = cluster.svc_mac(&holder);
    let prober = ArpProber::start(&cluster, VIP, Duration::from_millis(50));
    prober.wait_reply_from(&holder_mac, 0.0, Duration::from_secs(10));
    eprintln!("VIP {VIP} on {holder} ({holder_mac}); killing {holder}");

    let died = now();
    cluster.kill(&holder);

    // The survivors fence it: the plug goes off through the fence agent, and the fencer
    // records the success.
    oxha_harness::wait_for(
        &format!("{holder}'s plug to be turned off"),
        Duration::from_secs(60),
        || (cluster.plug(&holder) == "off").then_some(()),
    );
    let fenced = cluster.plug_changed_at(&holder).unwrap_or_else(now);
    let reply = prober.wait_reply_not_from(&holder_mac, died, Duration::from_secs(60));
    let new_holder = cluster.wait_active_one(observer, VIP_RES, Duration::from_secs(30));
    assert!(
        survivors.contains(&new_holder.as_str()),
        "VIP on {new_holder}, not a survivor"
    );
    assert_eq!(
        reply.mac,
        cluster.svc_mac(&new_holder),
        "the ARP answer comes from the new holder"
    );

    let history = cluster.fence_history(observer, &holder);
    assert!(
        history.contains("successful") || history.contains("done"),
        "no successful fencing of {holder}:\n{history}"
    );
    cluster.wait_node(
        observer,
        &holder,
        "offline and clean",
        Duration::from_secs(30),
        |s| !s.online && !s.unclean,
    );
    oxha_harness::wait_for(
        "the service clone on both survivors",
        Duration::from_secs(30),
        || (cluster.active_on(observer, SVC_RES) == survivors).then_some(()),
    );

    // The dead node never answered again and no request had two answerers.
    assert!(
        prober.first_from(&holder_mac, died + 0.5).is_none(),
        "{holder} answered after its death"
    );
    assert!(
        prober.double_answers().is_empty(),
        "two nodes answered one ARP request: {:?}",
        prober.double_answers()
    );

    // With the real haproxy clone, the API answers through the VIP again.
    if agents::service_class() == "ocf:oxha:haproxy" {
        let answer =
            oxha_harness::wait_for("the API behind the VIP", Duration::from_secs(30), || {
                cluster.http_get(VIP, 15868)
            });
        assert!(
            answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
            "API answered: {answer}"
        );
        timing(
            "scenario1 node death → API answers through the VIP (upper bound)",
            now() - died,
        );
    }

    eprintln!("VIP moved {holder} → {new_holder}");
    timing("scenario1 node death → plug off (fenced)", fenced - died);
    timing(
        "scenario1 node death → VIP answers on new node",
        reply.at - died,
    );
}
