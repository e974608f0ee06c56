//! The deployment walkthrough's instance-HA scenarios on a real OpenStack: one cluster and one
//! OpenStack for the whole binary (started by the first test, torn down when the binary exits),
//! scenarios one at a time, each starting from the same state (every host up and enabled, no
//! server, no segment, the settings as started; [`OpenStack::fresh`]). `forced_down` holds
//! fence_masakari's `nova_force_down` scenarios. Every step is the real `openstack` client; assertions are on the tables
//! it prints (the walkthrough's, row by row).

use oxha_multinode::now;
use oxha_openstack_env::{compute, rows, OpenStack, COMPUTES};

mod check;
mod forced_down;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub(crate) const V01: &str = "virt-node-01.maas";
pub(crate) const V02: &str = "virt-node-02.maas";
pub(crate) const V10: &str = "virt-node-10.maas";
const EVACUATION: Duration = Duration::from_secs(240);

pub(crate) fn stack() -> std::sync::MutexGuard<'static, Option<OpenStack>> {
    static STACK: OnceLock<Mutex<Option<OpenStack>>> = OnceLock::new();
    let guard = STACK
        .get_or_init(|| Mutex::new(std::panic::catch_unwind(OpenStack::start).ok()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    assert!(
        guard.is_some(),
        "the OpenStack did not start (see the first test's output)"
    );
    guard
}

/// Prints the end of every service log and of the cluster's logs when a scenario fails.
pub(crate) struct LogsOnFailure<'a>(&'a OpenStack);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- logs after the failure\n{}", self.0.logs());
        }
    }
}

/// Exactly one qemu runs `server` across the live compute hosts, on `host`'s node.
fn runs_once_on(os: &OpenStack, server: &str, host: &str) {
    let instance = os.instance_name(server);
    let running: Vec<&str> = COMPUTES
        .iter()
        .filter(|c| !os.qemu_pids(c.node, &instance).is_empty())
        .map(|c| c.host)
        .collect();
    assert_eq!(running, [host], "{server} ({instance}) runs on {running:?}");
}

#[test]
fn s1_instance_restart() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    os.create_segment("S1", "auto", None);
    std::thread::scope(|s| {
        for name in ["bionic-1", "bionic-2", "bionic-3"] {
            s.spawn(move || os.boot_server(name, V02));
        }
    });
    os.openstack(&["server", "set", "--property", "HA_Enabled=True", "bionic-1"])
        .expect_ok();
    let node = compute(V02).node;

    // An operator stops bionic-3: never reported.
    os.openstack(&["server", "stop", "bionic-3"]).expect_ok();
    os.wait_server_status("bionic-3", "SHUTOFF", Duration::from_secs(60));

    // bionic-1 (HA_Enabled) crashes: restarted on the same host.
    let instance = os.instance_name("bionic-1");
    let old = os.qemu_pids(node, &instance);
    assert_eq!(old.len(), 1, "one qemu for bionic-1: {old:?}");
    let killed = now();
    os.cluster
        .run(node, &["kill", "-9", &old[0].to_string()])
        .expect_ok();
    let (new, restarted_at) = os.wait_new_qemu(node, &instance, &old, Duration::from_secs(120));
    let restarted = restarted_at - killed;
    os.wait_server_host("bionic-1", V02, Duration::from_secs(60));
    let active = now() - killed;
    let id1 = os
        .openstack(&["server", "show", "bionic-1", "-f", "value", "-c", "id"])
        .stdout
        .trim()
        .to_string();
    let vm = os
        .notifications()
        .into_iter()
        .find(|n| n.kind == "VM" && n.payload.contains(&id1))
        .expect("a VM notification for bionic-1");
    assert!(vm.payload.contains("STOPPED_FAILED"), "{vm:?}");
    // masakari-restart stopped it in nova before it notified (nova_stop, on by default), so
    // Masakari's recovery found it stopped.
    let stopped = os.cluster.log_lines(node, &["nova stopped", &instance]);
    assert!(
        !stopped.is_empty(),
        "masakari-restart did not stop {instance} in nova before notifying:\n{}",
        os.cluster.log_lines(node, &[&instance]).join("\n")
    );
    eprintln!(
        "timing: instance restart: qemu killed → Masakari notified {:.1}s → new qemu {restarted:.1}s (pid {} → {}) → ACTIVE {active:.1}s",
        vm.generated_at - killed,
        old[0],
        new
    );
    assert_eq!(
        os.server_host_table("bionic-1")
            .field("OS-EXT-SRV-ATTR:host")
            .as_deref(),
        Some(V02)
    );

    // bionic-2 has no HA_Enabled: reported, but Masakari leaves it off.
    let id2 = os
        .openstack(&["server", "show", "bionic-2", "-f", "value", "-c", "id"])
        .stdout
        .trim()
        .to_string();
    let instance2 = os.instance_name("bionic-2");
    let pids2 = os.qemu_pids(node, &instance2);
    assert_eq!(pids2.len(), 1);
    os.cluster
        .run(node, &["kill", "-9", &pids2[0].to_string()])
        .expect_ok();
    let n2 = os.wait_notification(
        "Masakari to finish bionic-2's notification",
        Duration::from_secs(120),
        |n| {
            n.kind == "VM" && n.payload.contains(&id2) && n.status != "new" && n.status != "running"
        },
    );
    eprintln!("bionic-2 (no HA_Enabled): notification {}", n2.status);
    os.wait_server_status("bionic-2", "SHUTOFF", Duration::from_secs(60));
    assert!(
        os.qemu_pids(node, &instance2).is_empty(),
        "bionic-2 was restarted"
    );

    // bionic-3, stopped before bionic-2 crashed, was never reported.
    let id3 = os
        .openstack(&["server", "show", "bionic-3", "-f", "value", "-c", "id"])
        .stdout
        .trim()
        .to_string();
    let reported: Vec<_> = os
        .notifications()
        .into_iter()
        .filter(|n| n.payload.contains(&id3))
        .collect();
    assert!(reported.is_empty(), "operator stop reported: {reported:?}");
    os.wait_server_status("bionic-3", "SHUTOFF", Duration::from_secs(5));
}

#[test]
fn s2_reserved_host_evacuation_then_reinsert() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    os.create_segment("S1", "reserved_host", Some(V01));
    os.boot_server("bionic-1", V02);
    assert_eq!(
        os.compute_service_table().sorted_rows(),
        rows(&[
            &[V01, "disabled", "up"],
            &[V10, "enabled", "up"],
            &[V02, "enabled", "up"],
        ])
    );
    assert_eq!(
        os.segment_host_table("S1").sorted_rows(),
        rows(&[
            &[V01, "True", "False"],
            &[V10, "False", "False"],
            &[V02, "False", "False"],
        ])
    );
    assert_eq!(
        os.server_host_table("bionic-1")
            .field("OS-EXT-SRV-ATTR:host")
            .as_deref(),
        Some(V02)
    );

    let (rec, landed) = os.fail_host(compute(V02), "bionic-1", &[V01, V10]);
    rec.print("reserved_host");
    assert_eq!(landed, V01, "reserved_host must use the reserved host");
    // Masakari enabled the reserved host; nova sees the failed one disabled and down.
    let services = oxha_harness::wait_for(
        "virt-node-02.maas down in nova",
        Duration::from_secs(60),
        || {
            let t = os.compute_service_table();
            t.rows
                .iter()
                .any(|r| r == &[V02, "disabled", "down"])
                .then_some(t)
        },
    );
    assert_eq!(
        services.sorted_rows(),
        rows(&[
            &[V01, "enabled", "up"],
            &[V10, "enabled", "up"],
            &[V02, "disabled", "down"],
        ]),
        "{}",
        services.text
    );
    assert_eq!(
        os.segment_host_table("S1").sorted_rows(),
        rows(&[
            &[V01, "False", "False"],
            &[V10, "False", "False"],
            &[V02, "False", "True"],
        ])
    );
    assert_eq!(
        os.server_host_table("bionic-1")
            .field("OS-EXT-SRV-ATTR:host")
            .as_deref(),
        Some(V01)
    );
    runs_once_on(os, "bionic-1", V01);

    // The walkthrough's reinsert: the host comes back disabled (nova) and on maintenance
    // (Masakari) until the operator says otherwise; then it takes instances again.
    os.reboot_compute(compute(V02));
    assert!(os.compute_service_table().rows.contains(&vec![
        V02.to_string(),
        "disabled".into(),
        "up".into()
    ]));
    assert!(os.segment_host_table("S1").rows.contains(&vec![
        V02.to_string(),
        "False".into(),
        "True".into()
    ]));
    os.reinsert("S1", V02);
    assert_eq!(
        os.segment_host_table("S1").sorted_rows(),
        rows(&[
            &[V01, "False", "False"],
            &[V10, "False", "False"],
            &[V02, "False", "False"],
        ])
    );
    os.boot_server("bionic-2", V02);
    runs_once_on(os, "bionic-2", V02);
}

#[test]
fn s3_auto_evacuation() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    os.create_segment("S2", "auto", None);
    os.boot_server("bionic-1", V01);
    let (rec, landed) = os.fail_host(compute(V01), "bionic-1", &[V02, V10]);
    rec.print("auto");
    runs_once_on(os, "bionic-1", &landed);
    assert_eq!(
        os.segment_host_table("S2").sorted_rows(),
        rows(&[
            &[V10, "False", "False"],
            &[V02, "False", "False"],
            &[V01, "False", "True"],
        ])
    );
}

#[test]
fn s3_rh_priority_without_usable_reserved_host_falls_back_to_auto() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    // No reserved host at all: the reserved_host flow fails, auto takes over. The failed host
    // is virt-node-10, known to Pacemaker as `virt-node-10`: fence_masakari's plug comes from
    // pcmk_host_map.
    os.create_segment("S3", "rh_priority", None);
    os.boot_server("bionic-1", V10);
    let (rec, landed) = os.fail_host(compute(V10), "bionic-1", &[V01, V02]);
    rec.print("rh_priority");
    // fence_masakari was asked to fence `virt-node-10` and notified for `virt-node-10.maas`.
    let host_uuid = os
        .openstack(&[
            "segment", "host", "show", "S3", V10, "-f", "value", "-c", "uuid",
        ])
        .expect_ok()
        .stdout
        .trim()
        .to_string();
    let last = os
        .notifications()
        .into_iter()
        .rev()
        .find(|n| n.kind == "COMPUTE_HOST")
        .expect("a COMPUTE_HOST notification");
    assert_eq!(last.source_host_uuid, host_uuid, "{last:?}");
    runs_once_on(os, "bionic-1", &landed);
    assert_eq!(
        os.segment_host_table("S3").sorted_rows(),
        rows(&[
            &[V10, "False", "True"],
            &[V02, "False", "False"],
            &[V01, "False", "False"],
        ])
    );
}

#[test]
fn s3_auto_priority() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    // auto first: the only enabled survivor (virt-node-10) takes the instance; the reserved
    // host stays reserved and disabled.
    os.create_segment("S4", "auto_priority", Some(V01));
    os.boot_server("bionic-1", V02);
    let (rec, landed) = os.fail_host(compute(V02), "bionic-1", &[V01, V10]);
    rec.print("auto_priority");
    assert_eq!(landed, V10);
    runs_once_on(os, "bionic-1", V10);
    assert_eq!(
        os.segment_host_table("S4").sorted_rows(),
        rows(&[
            &[V01, "True", "False"],
            &[V10, "False", "False"],
            &[V02, "False", "True"],
        ])
    );
}

#[test]
fn s4_fencing_fails_nothing_is_evacuated() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh();
    os.create_segment("S5", "auto", None);
    os.boot_server("bionic-1", V01);
    let victim = compute(V01);
    os.cluster.set_maas_fault(victim.node, "503");
    let notified_before = os.notifications().len();
    let events_before = os.cluster.maas_events(victim.node).len();
    let died = os.kill_compute(victim.node);
    oxha_harness::wait_for(
        "two failed fencing attempts",
        Duration::from_secs(90),
        || {
            let h = os.cluster.fence_history("node1", victim.node);
            (h.lines().filter(|l| l.contains("failed")).count() >= 2).then_some(())
        },
    );
    // Long enough for nova to see the host down and Masakari to have acted, had it been told.
    oxha_harness::wait_for(
        "nova to see the dead host down",
        Duration::from_secs(60),
        || {
            os.compute_service_table()
                .rows
                .iter()
                .any(|r| r[0] == V01 && r[2] == "down")
                .then_some(())
        },
    );
    assert_eq!(
        os.notifications().len(),
        notified_before,
        "Masakari was notified while fencing failed"
    );
    assert_eq!(
        os.server_state("bionic-1").map(|s| s.1).as_deref(),
        Some(V01)
    );
    let instance = os.instance_name("bionic-1");
    for c in COMPUTES.iter().filter(|c| c.host != V01) {
        assert!(
            os.qemu_pids(c.node, &instance).is_empty(),
            "bionic-1 started on {} while its host is unfenced",
            c.host
        );
    }
    assert!(
        !os.cluster.maas_events(victim.node)[events_before..]
            .iter()
            .any(|e| e == "off"),
        "MAAS powered it off despite the fault"
    );
    eprintln!(
        "fencing failed for {:.1}s: no notification, no evacuation",
        now() - died
    );
    // MAAS back: fenced, then evacuated, started exactly once.
    os.cluster.set_maas_fault(victim.node, "");
    let landed = oxha_harness::wait_for(
        "bionic-1 ACTIVE elsewhere once MAAS is back",
        EVACUATION,
        || {
            let (status, host) = os.server_state("bionic-1")?;
            (status == "ACTIVE" && host != V01).then_some(host)
        },
    );
    runs_once_on(os, "bionic-1", &landed);
}
