//! Scenario 3: the pacemaker-remote compute node dies. The cluster fences it through a fencing
//! topology of two devices in one level, run in order: the power device (fence_maas in
//! production) and the Masakari notifier (fence_masakari), as the charms configure a
//! masakari-monitored compute node.
//!
//! The power level already switches by itself: it is fence_maas against the MAAS simulator when
//! both are staged (`agents::node_fence_class`), fence_probe otherwise.
//!
//! TODO(lead), once fence_masakari and tests/masakari-env are merged — the notifier level:
//! 1. start the real Masakari in node1: `cluster.run("node1", &[masakari-env, "up", DIR,
//!    "--no-libvirt", "compute1"])` (its API listens on 127.0.0.1:15868 inside node1; the
//!    segment must hold the host `compute1`, the pacemaker node name = fence_masakari's plug);
//! 2. `OXHA_REMOTE_NOTIFY_CLASS=stonith:fence_masakari` and, instead of `notify_params`, the
//!    connection parameters masakari-env uses (noauth2 / its keystone stub), plus a location
//!    constraint keeping the device on node1 (`location masakari_dev_on_node1
//!    fence_compute_masakari rule -inf: #uname ne node1`): fenced runs a device only where its
//!    resource may run, and only node1 reaches that 127.0.0.1;
//! 3. replace the `notifier_log` wait and the "exactly once" assertion by: Masakari lists
//!    exactly one notification, type COMPUTE_HOST, hostname compute1
//!    (`masakari-env api DIR GET /v1/notifications`), created after the power level.

use oxha_multinode::{agents, now, timing, MultiCluster, REMOTE_NODE};
use std::time::{Duration, UNIX_EPOCH};

fn class(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| "stonith:fence_probe".into())
}

fn mtime(path: &std::path::Path) -> Option<f64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    m.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

#[test]
fn dead_compute_node_is_fenced_by_power_then_notifier() {
    let _s = MultiCluster::serial();
    let cluster = MultiCluster::start();
    cluster.configure_fencing();
    cluster.add_remote();

    // The notifier stand-in: its own plug directory, whose "off" cuts nothing.
    let notifier_dir = cluster.state_dir().join("plugs-masakari");
    std::fs::create_dir_all(&notifier_dir).expect("notifier plug dir");
    std::fs::write(notifier_dir.join(REMOTE_NODE), "on").expect("notifier plug");
    // The power level: the nodes' device class (fence_maas against the MAAS simulator when
    // staged, else fence_probe on compute1's plug).
    let power_class =
        std::env::var("OXHA_REMOTE_POWER_CLASS").unwrap_or_else(|_| agents::node_fence_class());
    let power_params = cluster.fence_params(&power_class, &[REMOTE_NODE]);
    let notify_params = format!("plug_dir={} lag=0", notifier_dir.display());
    let text = format!(
        "primitive fence_compute_power {power_class} params {power_params} \\\n\
         \top monitor interval=120s\n\
         primitive fence_compute_masakari {notify} params {notify_params} pcmk_host_list={REMOTE_NODE} \\\n\
         \top monitor interval=120s\n\
         fencing_topology {REMOTE_NODE}: fence_compute_power,fence_compute_masakari\n\
         primitive compute_workload ocf:pacemaker:Dummy op monitor interval=5s\n\
         location workload_on_compute compute_workload inf: {REMOTE_NODE}\n",
        notify = class("OXHA_REMOTE_NOTIFY_CLASS"),
    );
    cluster.crm_configure("node1", &text).expect_ok();
    let on = cluster.wait_active_one("node1", "compute_workload", Duration::from_secs(60));
    assert_eq!(on, REMOTE_NODE);

    let died = now();
    cluster.kill(REMOTE_NODE);

    let notifier_log = notifier_dir.join("log");
    oxha_harness::wait_for(
        "both fencing levels to run",
        Duration::from_secs(90),
        || {
            let notified = std::fs::read_to_string(&notifier_log)
                .unwrap_or_default()
                .contains(&format!("{REMOTE_NODE} off"));
            (cluster.plug(REMOTE_NODE) == "off" && notified).then_some(())
        },
    );
    // The power level's time: when compute1's plug went off (fence_probe confirmed it, or the
    // MAAS simulator's power-off hook wrote it).
    let power_at = cluster.plug_changed_at(REMOTE_NODE).unwrap_or(0.0);
    let notify_at = mtime(&notifier_log).unwrap_or(0.0);
    assert!(
        power_at <= notify_at,
        "the notifier ran before the power device"
    );
    let notifications = std::fs::read_to_string(&notifier_log)
        .unwrap_or_default()
        .matches("off")
        .count();
    assert_eq!(notifications, 1, "the notifier must run exactly once");
    cluster.wait_node(
        "node1",
        REMOTE_NODE,
        "offline and clean",
        Duration::from_secs(30),
        |s| !s.online && !s.unclean,
    );
    let history = cluster.fence_history("node1", REMOTE_NODE);
    assert!(
        history.contains("successful"),
        "no successful fencing of {REMOTE_NODE}:\n{history}"
    );
    eprintln!("{history}");

    timing("scenario3 compute death → power level", power_at - died);
    timing("scenario3 compute death → notifier level", notify_at - died);
}
