//! Scenario 3 with a level whose first device "succeeds" without powering anything off: the
//! pacemaker-remote compute node dies while its fencing level runs, before fence_masakari,
//! first charm-hacluster's `st-null` (`stonith:null`, created with the charm's own crm command
//! and run by the fencer through fence_legacy and cluster-glue's null plugin), then
//! fence_heuristics_ping (fence-agents: "not a fence agent by itself"). Each of them returns
//! success, the level reaches fence_masakari, and fence_masakari refuses with the reason: the
//! level fails, the node stays UNCLEAN, its workload is not recovered, MAAS powers nothing off
//! and Masakari hears nothing. The device's monitor refuses the configuration too.

use oxha_multinode::masakari::{Masakari, MASAKARI_DEV, POWER_DEV, WORKLOAD};
use oxha_multinode::{MultiCluster, FULL_NODES, INFRA_ADDR, REMOTE_NODE};
use std::time::Duration;

/// charm-hacluster's `configure_null_stonith_resource` for the compute node, as the argv its
/// `pcmk.commit` runs (the command string split on white space).
const CHARM_ST_NULL: &[&str] = &[
    "configure",
    "primitive",
    "st-null",
    "stonith:null",
    "params",
    "hostlist='compute1'",
    "op",
    "monitor",
    "interval=25",
    "start-delay=25",
    "timeout=25",
];

/// The lines of every full node's pacemaker log holding `needle` (the fencer that runs a
/// device may be any of them).
fn logged(cluster: &MultiCluster, needle: &str) -> Vec<String> {
    FULL_NODES
        .iter()
        .flat_map(|node| cluster.log_lines(node, &[needle]))
        .collect()
}

/// Waits until the fencer has failed to fence compute1 twice more than when called, and the
/// notifier has logged `reason` (which only the level just set can make it give: an attempt
/// already under way when the level changed counts as a failure, not as a proof).
fn two_more_failures(cluster: &MultiCluster, through: &str, reason: &str) {
    let before = cluster.fence_attempts("node1", REMOTE_NODE).0;
    oxha_harness::wait_for(
        &format!(
            "two more failed fencing attempts of {REMOTE_NODE} through {through}, and its refusal"
        ),
        Duration::from_secs(120),
        || {
            let failed = cluster.fence_attempts("node1", REMOTE_NODE).0;
            (failed >= before + 2 && !logged(cluster, reason).is_empty()).then_some(())
        },
    );
}

/// `device` succeeded for compute1, the notifier after it ran and refused with `reason`.
fn ran_and_refused(cluster: &MultiCluster, device: &str, reason: &str) {
    let succeeded = logged(cluster, &format!("{REMOTE_NODE} using {device} returned 0"));
    assert!(
        !succeeded.is_empty(),
        "{device} never succeeded for {REMOTE_NODE}: the level did not reach the notifier\n{}",
        cluster.logs()
    );
    let notifier = logged(
        cluster,
        &format!("{REMOTE_NODE} using {MASAKARI_DEV} returned"),
    );
    assert!(
        !notifier.is_empty() && notifier.iter().all(|l| !l.contains("returned 0")),
        "fenced's runs of {MASAKARI_DEV}: {notifier:?}\n{}",
        cluster.logs()
    );
    let why = logged(cluster, reason);
    assert!(
        why.iter().any(|l| l.contains("fence_masakari")),
        "no refusal '{reason}' logged\n{}",
        cluster.logs()
    );
    eprintln!("{device}: {}", succeeded[0]);
    eprintln!("refusal: {}", why[0]);
}

#[test]
fn st_null_or_heuristics_before_the_notifier_fence_nothing_and_tell_masakari_nothing() {
    let _s = MultiCluster::serial();
    oxha_harness::fence_agent("fence_maas");
    oxha_harness::fence_agent("fence_masakari");
    oxha_harness::tool("maas-sim");
    let cluster = MultiCluster::start();
    let masakari = Masakari::start_with_remotes(&cluster, &[REMOTE_NODE]);

    // Configured right first (the notifier's start runs a monitor, which checks the
    // topology), with a slow monitor, so that the levels below are met by the fencing.
    let text = masakari.compute_fencing(REMOTE_NODE, "600s");
    cluster.crm_configure("node1", &text).expect_ok();
    cluster.crm("node1", CHARM_ST_NULL).expect_ok();
    cluster
        .crm_configure(
            "node1",
            &format!(
                "primitive heuristics stonith:fence_heuristics_ping \\\n\
                 \tparams ping_targets={INFRA_ADDR} pcmk_host_list={REMOTE_NODE} \\\n\
                 \top monitor interval=600s\n"
            ),
        )
        .expect_ok();
    let on = cluster.wait_active_one("node1", WORKLOAD, Duration::from_secs(60));
    assert_eq!(on, REMOTE_NODE);
    oxha_harness::wait_for(
        "the compute fence devices, st-null and heuristics registered on node1",
        Duration::from_secs(60),
        || {
            let n1 = cluster.registered_devices("node1");
            [POWER_DEV, MASAKARI_DEV, "st-null", "heuristics"]
                .iter()
                .all(|d| n1.contains(d))
                .then_some(())
        },
    );
    assert!(
        cluster.active_on("node1", MASAKARI_DEV) == ["node1"],
        "the notifier started (its monitor passed) while the topology was right"
    );

    // charm-hacluster's null device before the notifier. In the CIB it is a stonith-class
    // primitive of type "null"; the fencer runs it through fence_legacy (cluster-glue).
    let st_null = cluster.run(
        "node1",
        &[
            "cibadmin",
            "--query",
            "--xpath",
            "//primitive[@id='st-null']",
        ],
    );
    assert!(
        st_null.stdout.contains(r#"class="stonith""#) && st_null.stdout.contains(r#"type="null""#),
        "{st_null}"
    );
    cluster.set_fencing_levels("node1", REMOTE_NODE, &[&["st-null", MASAKARI_DEV]]);
    cluster.kill(REMOTE_NODE);
    let reason = "'st-null' (null) is cluster-glue's null plugin";
    two_more_failures(&cluster, "st-null", reason);
    oxha_multinode::masakari::assert_nothing_recovered(&cluster, &masakari, "st-null");
    ran_and_refused(&cluster, "st-null", reason);
    assert!(
        !logged(&cluster, "fence_legacy").is_empty(),
        "the fencer never ran fence_legacy for st-null\n{}",
        cluster.logs()
    );

    // fence_heuristics_ping (its ping target answers) before the notifier.
    cluster.set_fencing_levels("node1", REMOTE_NODE, &[&["heuristics", MASAKARI_DEV]]);
    let reason = "'heuristics' (fence_heuristics_ping) is not a fence agent by itself";
    two_more_failures(&cluster, "heuristics", reason);
    oxha_multinode::masakari::assert_nothing_recovered(&cluster, &masakari, "heuristics");
    ran_and_refused(&cluster, "heuristics", reason);

    // The device's monitor makes the same check, so the mistake shows before an incident.
    let options = format!(
        "{}\naction=monitor\n",
        masakari.device_params().replace(' ', "\n")
    );
    let r = cluster.run_stdin("node1", &["fence_masakari"], Some(&options));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains(reason), "{r}");
    assert!(masakari.notifications().is_empty());
}
