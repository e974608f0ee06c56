//! `ocf:oxha:vip` under a real Pacemaker (one shared single-node cluster, `make stage` first).
//! The node has its own network namespace; the tests give it a veth pair, so the virtual IP
//! lives on an interface that exists only inside the node.

use oxha_harness::{wait_for, Cluster};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The node's veth pair (`vx0` carries the VIP, `vx1` is its up peer), made once.
fn cluster_with_veth() -> &'static Cluster {
    static VETH: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let cluster = Cluster::shared();
    VETH.get_or_init(|| {
        cluster
            .sh("ip link add vx0 type veth peer name vx1 && ip link set vx1 up && ip link set vx0 up && ip addr add 192.0.2.1/24 dev vx0")
            .expect_ok();
    });
    cluster
}

/// Waits for the transition to finish and the address to be (or not be) on vx0.
#[track_caller]
fn settle(cluster: &Cluster, ip: &str, present: bool) {
    cluster.wait_idle(TIMEOUT);
    wait_for(&format!("{ip} present={present}"), TIMEOUT, || {
        (address_present(cluster, ip) == present).then_some(())
    });
}

fn address_present(cluster: &Cluster, ip: &str) -> bool {
    cluster
        .sh("ip -o addr show dev vx0")
        .stdout
        .contains(&format!(" {ip}/"))
}

#[test]
fn metadata_tools_and_validation() {
    let cluster = cluster_with_veth();
    let describe = cluster
        .pcs(&["resource", "describe", "ocf:oxha:vip"])
        .expect_ok();
    for word in [
        "ip (unique group: ip)",
        "ipv6addr (unique group: ip)",
        "cidr_netmask",
        "arp_count",
    ] {
        assert!(
            describe.stdout.contains(word),
            "pcs describe lacks {word}: {describe}"
        );
    }
    cluster.crm(&["ra", "info", "ocf:oxha:vip"]).expect_ok();
    cluster
        .validate("vip", &["ip=192.0.2.10", "cidr_netmask=24", "nic=vx0"])
        .expect_ok();
    let bad = cluster.validate("vip", &["ip=192.0.2.10", "cidr_netmask=99"]);
    assert!(!bad.ok(), "{bad}");
    let text = format!("{}{}", bad.stdout, bad.stderr);
    assert!(
        text.contains("99") && text.to_lowercase().contains("cidr_netmask"),
        "{bad}"
    );
}

#[test]
fn pacemaker_starts_recovers_stops_and_moves_the_vip() {
    let _serial = Cluster::serial();
    let cluster = cluster_with_veth();
    let ip = "192.0.2.50";
    cluster
        .crm(&[
            "configure",
            "primitive",
            "vip",
            "ocf:oxha:vip",
            "params",
            &format!("ip={ip}"),
            "cidr_netmask=24",
            "nic=vx0",
            "op",
            "monitor",
            "interval=5s",
            "timeout=20s",
        ])
        .expect_ok();
    cluster.wait_started("vip", TIMEOUT);
    settle(cluster, ip, true);

    // Someone deletes the address: the next monitor notices, Pacemaker puts it back.
    cluster
        .sh(&format!("ip addr del {ip}/24 dev vx0"))
        .expect_ok();
    wait_for("the monitor failure to be recorded", TIMEOUT, || {
        (!cluster.failures("vip").is_empty()).then_some(())
    });
    wait_for("the address to come back", TIMEOUT, || {
        address_present(cluster, ip).then_some(())
    });
    cluster.wait_started("vip", TIMEOUT);
    cluster
        .run(&["crm_resource", "--cleanup", "--resource", "vip"])
        .expect_ok();
    // The cleanup re-probes; the probe must find the VIP running, not restart it.
    cluster.wait_idle(TIMEOUT);
    cluster.wait_started("vip", TIMEOUT);
    assert!(
        cluster.failures("vip").is_empty(),
        "{:?}",
        cluster.failures("vip")
    );

    cluster.crm(&["resource", "stop", "vip"]).expect_ok();
    cluster.wait_stopped("vip", TIMEOUT);
    settle(cluster, ip, false);
    cluster.crm(&["resource", "start", "vip"]).expect_ok();
    cluster.wait_started("vip", TIMEOUT);
    settle(cluster, ip, true);

    // Standby moves everything off the (only) node; online brings it back. (No node name:
    // crmsh skips a named node it cannot ping, and the node's name does not resolve here.)
    cluster.crm(&["node", "standby"]).expect_ok();
    cluster.wait_stopped("vip", TIMEOUT);
    settle(cluster, ip, false);
    cluster.crm(&["node", "online"]).expect_ok();
    cluster.wait_started("vip", TIMEOUT);
    settle(cluster, ip, true);

    cluster.crm(&["resource", "stop", "vip"]).expect_ok();
    cluster.wait_stopped("vip", TIMEOUT);
    cluster.crm(&["configure", "delete", "vip"]).expect_ok();
    assert!(!address_present(cluster, ip));
}

#[test]
fn pcs_creates_an_ipv6_vip_with_check_level_10() {
    let _serial = Cluster::serial();
    let cluster = cluster_with_veth();
    let ip = "2001:db8::50";
    cluster
        .pcs(&[
            "resource",
            "create",
            "vip6",
            "ocf:oxha:vip",
            &format!("ip={ip}"),
            "cidr_netmask=64",
            "nic=vx0",
            "op",
            "monitor",
            "interval=5s",
            "OCF_CHECK_LEVEL=10",
        ])
        .expect_ok();
    cluster.wait_started("vip6", TIMEOUT);
    settle(cluster, ip, true);
    cluster.pcs(&["resource", "disable", "vip6"]).expect_ok();
    cluster.wait_stopped("vip6", TIMEOUT);
    settle(cluster, ip, false);
    cluster.pcs(&["resource", "delete", "vip6"]).expect_ok();
}

#[test]
fn probe_on_a_node_without_the_nic_is_clean() {
    let _serial = Cluster::serial();
    let cluster = cluster_with_veth();
    // The interface does not exist in the node: the probe must say "stopped" (7), no failure,
    // and start must ban only this node (5), not the whole cluster (6).
    cluster
        .crm(&[
            "configure",
            "primitive",
            "vipx",
            "ocf:oxha:vip",
            "params",
            "ip=192.0.2.60",
            "cidr_netmask=24",
            "nic=eth77",
            "op",
            "monitor",
            "interval=5s",
        ])
        .expect_ok();
    wait_for("vipx start to fail", TIMEOUT, || {
        let failures = cluster.failures("vipx");
        failures
            .iter()
            .any(|f| f.contains("vipx_start_0"))
            .then_some(failures)
    })
    .iter()
    .for_each(|f| {
        assert!(
            f.contains("exitreason=\"interface eth77 does not exist on this node\""),
            "{f}"
        )
    });
    let failures = cluster.failures("vipx");
    assert!(
        !failures.iter().any(|f| f.contains("vipx_monitor_0")),
        "probe failed: {failures:?}"
    );
    assert!(
        failures
            .iter()
            // Pacemaker 3 says "Not installed", 2.1 "not installed".
            .all(|f| f.to_lowercase().contains("exitstatus=\"not installed\"")),
        "{failures:?}"
    );
    cluster
        .crm(&["configure", "delete", "--force", "vipx"])
        .expect_ok();
    cluster.run(&["crm_resource", "--cleanup", "--resource", "vipx"]);
}

/// Under pacemaker-execd: start returns while the announcer goes on, detached (its own session,
/// recorded in its pid file under HA_RSCTMP), and stop ends it.
#[test]
fn the_announcer_runs_detached_under_pacemaker_and_stop_ends_it() {
    let _serial = Cluster::serial();
    let cluster = cluster_with_veth();
    let ip = "192.0.2.70";
    cluster
        .crm(&[
            "configure",
            "primitive",
            "vipa",
            "ocf:oxha:vip",
            "params",
            &format!("ip={ip}"),
            "cidr_netmask=24",
            "nic=vx0",
            "arp_count=1000",
            "arp_interval=100",
            "op",
            "monitor",
            "interval=5s",
        ])
        .expect_ok();
    cluster.wait_started("vipa", TIMEOUT);
    settle(cluster, ip, true);
    let pid_file = "/run/resource-agents/vip-vipa.announcer";
    let pid = cluster.sh(&format!("cat {pid_file}")).expect_ok().stdout;
    let pid = pid
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    // Its own session: pacemaker-execd's kill of a timed-out operation's group cannot reach it.
    let session = cluster
        .sh(&format!("ps -o sid= -p {pid}"))
        .expect_ok()
        .stdout;
    assert_eq!(session.trim(), pid, "announcer {pid}");
    cluster.crm(&["resource", "stop", "vipa"]).expect_ok();
    cluster.wait_stopped("vipa", TIMEOUT);
    settle(cluster, ip, false);
    let left = cluster.sh(&format!(
        "test -e /proc/{pid} || echo gone; test -e {pid_file} || echo removed"
    ));
    assert_eq!(
        left.stdout.split_whitespace().collect::<Vec<_>>(),
        ["gone", "removed"],
        "{left}"
    );
    assert!(
        cluster.failures("vipa").is_empty(),
        "{:?}",
        cluster.failures("vipa")
    );
    cluster.crm(&["configure", "delete", "vipa"]).expect_ok();
}
