//! The stack the soak compares oxha with (`SOAK_STACK=charms`): what Charmed OpenStack deploys
//! today on the same cloud. charm-hacluster's `stonith:external/maas` (its plugin, unmodified,
//! taken from a charm-hacluster checkout at run time: `$CHARM_HACLUSTER`) is the compute hosts'
//! only fencing; masakari-hostmonitor reports hosts Pacemaker sees offline and
//! masakari-instancemonitor reports guest crashes, both on every compute host as
//! charm-masakari-monitors configures them; no fence_masakari, no masakari-restart.

use oxha_openstack_env::{Compute, Monitor, OpenStack};

/// Replaces oxha's agents by the charms' stack on a fresh cloud.
pub fn deploy(os: &OpenStack) {
    os.use_charm_maas_plugin()
        .unwrap_or_else(|e| panic!("the charms' stonith:external/maas cannot run here: {e}"));
    os.set_masakari_restart(false);
    for &c in os.computes() {
        start_monitors(os, c);
    }
}

/// The monitors of a compute host, started as systemd starts them at its boot (they died with
/// its power).
pub fn start_monitors(os: &OpenStack, c: Compute) {
    os.start_masakari_monitor(c, Monitor::Host, "");
    os.start_masakari_monitor(c, Monitor::Instance, "");
}
