//! The anchor stack's fencing on the real cluster: charm-hacluster's `stonith:external/maas`
//! plugin, taken unmodified from `$CHARM_HACLUSTER` (scripts/anchor-maas-plugin), as `st-maas`
//! in the place of fence_maas + fence_masakari ([`OpenStack::use_charm_maas_plugin`]), then
//! oxha's fencing back ([`OpenStack::use_oxha_fencing`]). A compute host that loses power is
//! fenced through the plugin while MAAS answers 503 for its machine (every attempt fails,
//! nothing is powered), then once MAAS answers again: the simulator records the power-off, the
//! machine off, then the power-on (Pacemaker's reboot is the plugin's `reset`). Nothing tells
//! Masakari (fence_masakari is stopped; masakari-hostmonitor is the soak's to run).

use oxha_harness::wait_for;
use oxha_openstack_env::{OpenStack, COMPUTES, MASAKARI_DEVICE, POWER_DEVICE};
use std::time::Duration;

/// Where scripts/anchor-maas-plugin takes the plugin from when `CHARM_HACLUSTER` is unset.
const DEFAULT_CHARM_CHECKOUT: &str = "/work/.mirror/openstack+charm-hacluster/repo";

/// Not in `make test`: it needs PyPI and a charm-hacluster checkout, costs 4-5 minutes, and tests
/// the stack oxha is compared with, not oxha. `SOAK_STACK=charms make soak` runs the plugin too;
/// run this one with `cargo test -p oxha-openstack-env --test anchor_fencing -- --ignored`.
#[test]
#[ignore = "the charms' stack (PyPI, a charm-hacluster checkout): -- --ignored"]
fn a_dead_compute_host_is_fenced_through_the_charms_maas_plugin() {
    // The plugin is never part of oxha: without a charm-hacluster checkout there is nothing to
    // run. Said loudly, and only when none was asked for (a CHARM_HACLUSTER that is not a
    // checkout fails the test in use_charm_maas_plugin).
    if std::env::var_os("CHARM_HACLUSTER").is_none()
        && !std::path::Path::new(DEFAULT_CHARM_CHECKOUT).exists()
    {
        eprintln!(
            "anchor_fencing: SKIPPED: no charm-hacluster checkout (set CHARM_HACLUSTER; \
             default {DEFAULT_CHARM_CHECKOUT})"
        );
        return;
    }
    let os = OpenStack::start();
    let victim = COMPUTES[1];
    // Another cluster on this machine (a soak) may be running the plugin: leave it then.
    let installed_before = OpenStack::charm_maas_plugin_installed();
    os.use_charm_maas_plugin()
        .unwrap_or_else(|e| panic!("{e}\n{}", os.logs()));
    assert!(
        os.charm_maas_plugin_commit().is_some_and(|c| c.len() == 40),
        "the plugin's charm-hacluster commit is recorded"
    );
    let devices = os
        .cluster
        .run("node1", &["stonith_admin", "--list", victim.node])
        .stdout;
    assert!(
        devices.contains(OpenStack::CHARM_MAAS_DEVICE)
            && !devices.contains(POWER_DEVICE)
            && !devices.contains(MASAKARI_DEVICE),
        "only st-maas may fence {}: {devices}",
        victim.node
    );

    // MAAS refuses the machine's power calls: the plugin fails (a traceback, exit 1), so the
    // fencing fails and is retried, and nothing is powered.
    os.cluster.set_maas_fault(victim.node, "503");
    let events_before = os.cluster.maas_events(victim.node).len();
    let (failed_before, _) = os.cluster.fence_attempts("node1", victim.node);
    let died = os.kill_compute(victim.node);
    wait_for(
        &format!("a failed fencing of {} while MAAS answers 503", victim.node),
        Duration::from_secs(120),
        || (os.cluster.fence_attempts("node1", victim.node).0 > failed_before).then_some(()),
    );
    let during_503 = os.cluster.maas_events(victim.node)[events_before..].to_vec();
    assert!(
        during_503.is_empty(),
        "MAAS powered something while it answered 503: {during_503:?}"
    );

    // MAAS answers again: the next attempt powers the machine off, sees it off, powers it on.
    os.cluster.set_maas_fault(victim.node, "");
    let events = wait_for(
        &format!("MAAS to power {} off and on again", victim.node),
        Duration::from_secs(180),
        || {
            let events = os.cluster.maas_events(victim.node)[events_before..].to_vec();
            let off = events.iter().position(|e| e == "off")?;
            events[off..].iter().any(|e| e == "on").then_some(events)
        },
    );
    eprintln!(
        "anchor: {} fenced through st-maas {:.1}s after it died: {events:?}",
        victim.node,
        oxha_multinode::now() - died
    );
    assert!(
        events.first().is_some_and(|e| e.starts_with("power_off")),
        "{events:?}"
    );
    // The plugin exits after its power_on request: the fencer records the reboot then.
    wait_for(
        &format!(
            "a successful reboot of {} in the fencing history",
            victim.node
        ),
        Duration::from_secs(60),
        || {
            let history = os.cluster.fence_history("node1", victim.node);
            history
                .lines()
                .any(|l| l.starts_with("reboot of") && l.contains("successful"))
                .then_some(())
        },
    );
    assert!(
        os.notifications().iter().all(|n| n.kind != "COMPUTE_HOST"),
        "something in Pacemaker notified Masakari: {:?}",
        os.notifications()
    );

    os.boot_compute(victim);
    os.use_oxha_fencing()
        .unwrap_or_else(|e| panic!("{e}\n{}", os.logs()));
    if !installed_before {
        OpenStack::uninstall_charm_maas_plugin().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !OpenStack::charm_maas_plugin_installed(),
            "the plugin is left installed"
        );
    }
    let devices = os
        .cluster
        .run("node1", &["stonith_admin", "--list", victim.node])
        .stdout;
    assert!(
        devices.contains(POWER_DEVICE) && !devices.contains(OpenStack::CHARM_MAAS_DEVICE),
        "oxha's devices fence {} again: {devices}",
        victim.node
    );
}
