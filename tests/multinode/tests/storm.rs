//! Scenario 6: a rack fails. Eighteen pacemaker-remote compute nodes, each with one
//! fencing-topology level, fence_maas (the MAAS simulator: the power) then fence_masakari (the
//! real Masakari API + engine of tests/masakari-env, in node1: the notification), fenced
//! concurrently (`concurrent-fencing=true`, set explicitly: Pacemaker 2.1's default is false,
//! Pacemaker 3's true; `pcmk_action_limit=-1` on both devices, whose default of 1 would run
//! one action at a time per device and node).
//!
//! Storm 1: eight compute nodes lose power at the same moment, MAAS as usual (0.2 s per power
//! change). Storm 2: eight others, with MAAS slowed (2 s per power change) and rate-limited
//! (a token bucket over every API request; beyond it 503 with Retry-After). Each time: every
//! dead node is powered off by MAAS exactly once and fenced once (one successful fencing in
//! the history, the power device's off returning 0 once), Masakari gets exactly one
//! COMPUTE_HOST notification per dead node (STOPPED / NORMAL / OFFLINE), generated after MAAS
//! powered that node off, and the nodes that did not die see no power event, no fencing and no
//! notification. Failures on the way (503s) are allowed and retried; lies are not.
//!
//! Printed: the time from the power loss to the last node powered off, fenced and notified,
//! and the fence agents' memory (sampled from /proc: see `storm::AgentMemory`).

use oxha_multinode::masakari::Masakari;
use oxha_multinode::storm::{self, AgentMemory, Fencing, Storm, POWER_DEV};
use oxha_multinode::{timing, MultiCluster, FULL_NODES};
use std::time::Duration;

const COMPUTES: usize = 18;

/// How many lines of the full nodes' pacemaker logs contain every one of `needles`.
fn log_count(cluster: &MultiCluster, needles: &[&str]) -> usize {
    FULL_NODES
        .iter()
        .map(|n| cluster.log_lines(n, needles).len())
        .sum()
}

/// Everything a storm must have done, and nothing more.
fn check(cluster: &MultiCluster, s: &Storm, dead: &[String], live: &[String], name: &str) {
    // Every dead node powered off once by MAAS, fenced once, notified once (STOPPED / NORMAL /
    // OFFLINE) after the power-off; no node that did not die in this storm touched (the nodes
    // of an earlier storm are not this one's to judge: `live` are).
    let violations: Vec<String> = s
        .violations(dead)
        .into_iter()
        .filter(|v| {
            v.strip_prefix("live ")
                .is_none_or(|line| live.iter().any(|l| line.starts_with(&format!("{l}:"))))
        })
        .collect();
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    for d in dead {
        let o = &s.nodes[d];
        assert!(
            o.maas_events.iter().any(|e| e.starts_with("power_off")),
            "{name}: {d}: {o:?}"
        );
        assert_eq!(
            log_count(
                cluster,
                &[&format!("targeting {d} using {POWER_DEV} returned 0")]
            ),
            1,
            "{name}: {d}: fence_maas confirmed it off once (fencers' logs)"
        );
    }
    let full: Vec<String> = storm::maas_timed_events(cluster)
        .into_iter()
        .filter(|(at, machine, _)| *at >= s.since && FULL_NODES.contains(&machine.as_str()))
        .map(|(_, machine, event)| format!("{machine} {event}"))
        .collect();
    assert!(full.is_empty(), "{name}: full nodes powered: {full:?}");
}

fn report(cluster: &MultiCluster, name: &str, s: &Storm, dead: &[String]) {
    let timelines = storm::timelines(cluster, dead, s.since);
    let last = |of: fn(&storm::Timeline) -> Option<f64>| {
        timelines.values().filter_map(of).fold(0.0, f64::max) - s.since
    };
    timing(
        &format!("{name}: power loss → last connection failure seen"),
        last(|t| t.detected),
    );
    timing(
        &format!("{name}: power loss → last fencing requested"),
        last(|t| t.requested),
    );
    timing(
        &format!("{name}: power loss → last MAAS power-off"),
        s.last(dead, |o| o.off_at),
    );
    timing(
        &format!("{name}: power loss → last node fenced (fencers' logs)"),
        last(|t| t.fenced),
    );
    timing(
        &format!("{name}: power loss → last Masakari notification (generated_time)"),
        s.last(dead, |o| o.notified_at.first().copied()),
    );
}

fn print_memory(name: &str, stats: &std::collections::BTreeMap<String, storm::AgentStats>) {
    for (agent, m) in stats {
        eprintln!(
            "memory: {name}: {agent}: {} invocations seen, peak RSS of one {:.1} MB, \
             at most {} at once using {:.1} MB together (children included)",
            m.invocations,
            m.peak_kb as f64 / 1024.0,
            m.peak_concurrent,
            m.peak_total_kb as f64 / 1024.0
        );
    }
}

#[test]
fn a_rack_fails_and_every_dead_node_is_powered_off_then_reported_once() {
    let _s = MultiCluster::serial();
    oxha_harness::fence_agent("fence_maas");
    oxha_harness::fence_agent("fence_masakari");
    oxha_harness::tool("maas-sim");
    let computes = storm::computes(COMPUTES);
    let refs: Vec<&str> = computes.iter().map(String::as_str).collect();
    let started = oxha_multinode::now();
    let cluster = MultiCluster::start_with(storm::topology(&computes));
    let masakari = Masakari::start_with_remotes(&cluster, &refs);
    storm::configure(&cluster, &masakari, &computes, &Fencing::default());
    let hosts = storm::masakari_hosts(&masakari);
    assert_eq!(hosts.len(), COMPUTES, "Masakari hosts: {hosts:?}");
    timing(
        "storm setup (cluster, MAAS, Masakari, 18 remote nodes)",
        oxha_multinode::now() - started,
    );

    // Storm 1: eight nodes, MAAS as usual.
    let dead: Vec<String> = computes[..8].to_vec();
    let live: Vec<String> = computes[16..].to_vec();
    let memory = AgentMemory::start(&cluster, Duration::from_millis(20));
    let s = storm::storm(
        &cluster,
        &masakari,
        &hosts,
        &computes,
        &dead,
        Duration::from_secs(120),
    );
    let stats = memory.finish();
    check(&cluster, &s, &dead, &computes[8..], "storm 1");
    for d in &dead {
        let o = &s.nodes[d];
        assert_eq!(
            o.maas_events,
            ["power_off stop_mode=hard", "off"],
            "storm 1: {d}: MAAS events"
        );
        assert_eq!(o.fencings.1, 0, "storm 1: {d}: no failed fencing: {o:?}");
    }
    report(&cluster, "storm 1 (8 nodes)", &s, &dead);
    print_memory("storm 1", &stats);

    // Storm 2: eight more, MAAS slowed to 2 s per power change and rate-limited.
    let region = storm::maas_region(
        &cluster,
        r#"{"power_delay_ms": 2000, "rate_per_s": 4, "rate_burst": 3, "reset_counters": true}"#,
    );
    eprintln!("storm 2: MAAS region {region}");
    let dead: Vec<String> = computes[8..16].to_vec();
    let memory = AgentMemory::start(&cluster, Duration::from_millis(20));
    let s = storm::storm(
        &cluster,
        &masakari,
        &hosts,
        &computes,
        &dead,
        Duration::from_secs(240),
    );
    let stats = memory.finish();
    let region = storm::maas_region(&cluster, "{}");
    eprintln!("storm 2: MAAS region after {region}");
    check(&cluster, &s, &dead, &live, "storm 2");
    assert!(
        region["rate_limited"].as_u64().unwrap_or(0) > 0,
        "storm 2 must meet the rate limit: {region}"
    );
    let failed: usize = dead.iter().map(|d| s.nodes[d].fencings.1).sum();
    eprintln!("storm 2: {failed} failed fencing attempts, retried");
    report(
        &cluster,
        "storm 2 (8 nodes, MAAS 2 s and rate-limited)",
        &s,
        &dead,
    );
    print_memory("storm 2", &stats);
}
