//! fence_masakari and nova's view of the fenced host, against the real nova. Masakari's wait
//! after disabling the failed host's service (`wait_period_after_service_update`) stands for
//! nova counting the host down; fence_masakari makes it unneeded in either of two ways, and
//! both run here with the wait at 0: with `nova_force_down` it marks the service forced_down
//! after the power fence (nova counts it down at once); by default (`nova_down_wait`) it
//! notifies only once nova counts it down (after `service_down_time`). The instance_ha binary's
//! cluster and OpenStack, the walkthrough's reserved_host segment, every step through the real
//! `openstack` client.

use super::{stack, LogsOnFailure, V01, V02, V10};
use oxha_multinode::now;
use oxha_openstack_env::{compute, rows, OpenStack, Recovery};
use std::time::Duration;

/// The walkthrough's S1 (virt-node-01.maas reserved and disabled) and bionic-1 on
/// virt-node-02.maas.
fn seed_segment(os: &OpenStack) {
    os.create_segment("S1", "reserved_host", Some(V01));
    os.boot_server("bionic-1", V02);
}

/// Kills virt-node-02.maas and follows the recovery to bionic-1 ACTIVE on the reserved host,
/// watching nova's forced_down flag meanwhile: returns the timings and when (seconds after the
/// death) nova first showed the service forced down. Seeing it forced down before MAAS
/// powered the host off fails the test.
fn fail_v02(os: &OpenStack) -> (Recovery, Option<f64>) {
    let victim = compute(V02);
    let events_before = os.cluster.maas_events(victim.node).len();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (recovery, forced_at) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if os.forced_down(V02) == Some(true) {
                    let seen = now();
                    let off = os.cluster.maas_events(victim.node)[events_before..]
                        .iter()
                        .any(|e| e == "off");
                    return Some((seen, off));
                }
                // Poll pacing (each client run takes a second or more anyway).
                std::thread::sleep(Duration::from_millis(200));
            }
            None
        });
        let (rec, landed) = os.fail_host(victim, "bionic-1", &[V01, V10]);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(landed, V01, "reserved_host must use the reserved host");
        let seen = watcher
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Some((_, off)) = seen {
            assert!(
                off,
                "nova showed {V02} forced down before MAAS powered it off"
            );
        }
        let died = rec.died_at;
        (rec, seen.map(|(at, _)| at - died))
    });
    (recovery, forced_at)
}

#[test]
fn forced_down_evacuates_without_waiting_then_reinsert() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh_with(true, 0);
    seed_segment(os);
    let before = os.compute_service_forced_table();
    eprintln!("{}", before.text);
    assert_eq!(
        before.sorted_rows(),
        rows(&[
            &[V01, "disabled", "up", "False"],
            &[V10, "enabled", "up", "False"],
            &[V02, "enabled", "up", "False"],
        ])
    );

    let (rec, forced_at) = fail_v02(os);
    rec.print("reserved_host, nova_force_down=true, wait_period_after_service_update=0");
    let forced_at = forced_at.expect("nova never showed virt-node-02.maas forced down");
    eprintln!("timing: node death → nova shows forced_down {forced_at:.1}s");
    let after = os.compute_service_forced_table();
    eprintln!("{}", after.text);
    assert_eq!(
        after.sorted_rows(),
        rows(&[
            &[V01, "enabled", "up", "False"],
            &[V10, "enabled", "up", "False"],
            &[V02, "disabled", "down", "True"],
        ])
    );
    assert_eq!(
        os.segment_host_table("S1").sorted_rows(),
        rows(&[
            &[V01, "False", "False"],
            &[V10, "False", "False"],
            &[V02, "False", "True"],
        ])
    );

    // The reinsert: the host boots and nova-compute runs again, but a forced-down service
    // stays down whatever its heartbeats say, so nothing is scheduled there until the operator
    // clears it with the walkthrough's other two commands.
    os.boot_compute(compute(V02));
    let rebooted = os.compute_service_forced_table();
    assert!(
        rebooted.rows.contains(&vec![
            V02.to_string(),
            "disabled".into(),
            "down".into(),
            "True".into()
        ]),
        "{}",
        rebooted.text
    );
    os.clear_forced_down(V02);
    os.wait_computes_up(&[V02], Duration::from_secs(120));
    os.reinsert("S1", V02);
    let back = os.compute_service_forced_table();
    eprintln!("{}", back.text);
    assert_eq!(
        back.sorted_rows(),
        rows(&[
            &[V01, "enabled", "up", "False"],
            &[V10, "enabled", "up", "False"],
            &[V02, "enabled", "up", "False"],
        ])
    );
    os.boot_server("bionic-2", V02);
}

#[test]
fn without_forced_down_fence_masakari_notifies_once_nova_counts_the_host_down() {
    let guard = stack();
    let os = guard.as_ref().expect("stack");
    let _logs = LogsOnFailure(os);
    os.fresh_with(false, 0);
    seed_segment(os);
    let (rec, forced_at) = fail_v02(os);
    rec.print(
        "reserved_host, nova_force_down=false (nova_down_wait), wait_period_after_service_update=0",
    );
    assert_eq!(
        forced_at, None,
        "nova_force_down=false forced the service down"
    );
    assert_eq!(os.forced_down(V02), Some(false));
    // nova's own word: when Masakari disabled the service (its first step on the
    // notification), nova already counted the host down. Notified any earlier, nova would
    // have called the dead host and logged the failed call rpc_response_timeout later.
    assert_eq!(
        os.nova_counted_down_at_disable(V02, rec.died_at),
        Some(true),
        "nova-api did not count {V02} down when Masakari disabled it"
    );
    let after = os.compute_service_forced_table();
    eprintln!("{}", after.text);
    assert!(after.rows.contains(&vec![
        V02.to_string(),
        "disabled".into(),
        "down".into(),
        "False".into()
    ]));
}
