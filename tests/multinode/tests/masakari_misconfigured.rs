//! Scenario 3 with the notifier misconfigured: the pacemaker-remote compute node dies while
//! its fencing level runs fence_masakari *before* the power device. fence_masakari reads the
//! live CIB, refuses (it would tell Masakari a host is down that nobody powered off), the level
//! fails, and so the node is NOT considered fenced: it stays UNCLEAN, its workload is not
//! recovered elsewhere, MAAS powers nothing off and Masakari hears nothing. The device's
//! monitor fails too (a failed device in crm_mon at its next monitor).

use oxha_multinode::masakari::{Masakari, MASAKARI_DEV, POWER_DEV, WORKLOAD};
use oxha_multinode::{MultiCluster, REMOTE_NODE};
use std::time::Duration;

#[test]
fn notifier_before_the_power_device_fences_nothing_and_tells_masakari_nothing() {
    let _s = MultiCluster::serial();
    oxha_harness::fence_agent("fence_maas");
    oxha_harness::fence_agent("fence_masakari");
    oxha_harness::tool("maas-sim");
    let cluster = MultiCluster::start();
    let masakari = Masakari::start_with_remotes(&cluster, &[REMOTE_NODE]);

    // Configured right first (the notifier's start runs a monitor, which checks the topology),
    // with a slow monitor, so that the misconfiguration below is met by the fencing, not by a
    // monitor that would take the device away first.
    let text = masakari.compute_fencing(REMOTE_NODE, "600s");
    cluster.crm_configure("node1", &text).expect_ok();
    let on = cluster.wait_active_one("node1", WORKLOAD, Duration::from_secs(60));
    assert_eq!(on, REMOTE_NODE);
    oxha_harness::wait_for(
        "both compute fence devices registered on node1",
        Duration::from_secs(60),
        || {
            let n1 = cluster.registered_devices("node1");
            (n1.contains(POWER_DEV) && n1.contains(MASAKARI_DEV)).then_some(())
        },
    );
    assert!(
        cluster.active_on("node1", MASAKARI_DEV) == ["node1"],
        "the notifier started (its monitor passed) while the topology was right"
    );

    // The mistake: the notifier first in the level (one CIB change: no moment without a
    // level, when the fencer could use the power device alone).
    cluster.set_fencing_levels("node1", REMOTE_NODE, &[&[MASAKARI_DEV, POWER_DEV]]);
    cluster.kill(REMOTE_NODE);

    oxha_harness::wait_for(
        "two failed fencing attempts of compute1",
        Duration::from_secs(90),
        || (cluster.fence_attempts("node1", REMOTE_NODE).0 >= 2).then_some(()),
    );
    oxha_multinode::masakari::assert_nothing_recovered(&cluster, &masakari, "the misordered level");
    // The fencer did run the notifier for compute1, and it refused with the reason.
    let ran = cluster.log_lines("node1", &["compute1 using", MASAKARI_DEV, "returned"]);
    assert!(
        !ran.is_empty() && ran.iter().all(|l| !l.contains("returned 0")),
        "fenced's runs of {MASAKARI_DEV}: {ran:?}\n{}",
        cluster.logs()
    );
    let why = cluster.log_lines("node1", &["fence_masakari", "before any power device"]);
    assert!(
        !why.is_empty(),
        "no refusal reason logged\n{}",
        cluster.logs()
    );
    eprintln!("refusal: {}", why[0]);

    // The device's monitor makes the same check, so the mistake shows before an incident.
    let options = format!(
        "{}\naction=monitor\n",
        masakari.device_params().replace(' ', "\n")
    );
    let r = cluster.run_stdin("node1", &["fence_masakari"], Some(&options));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("before any power device"), "{r}");
    assert!(masakari.notifications().is_empty());
}
