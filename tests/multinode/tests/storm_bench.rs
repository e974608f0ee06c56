//! Benchmark (ignored by `cargo test`; run by bench/storm/run): how the time from a rack's
//! power loss to the last dead node fenced and reported to Masakari grows with the number of
//! nodes that die at once. For each size N in `OXHA_BENCH_STORM_SIZES` (default `1 8 16`) and
//! each of `OXHA_BENCH_ROUNDS` rounds (default 3): a fresh cluster with N + 2 pacemaker-remote
//! compute nodes (one fencing level each, fence_maas then fence_masakari, as in the storm
//! scenario), N of them killed at once. `OXHA_BENCH_STORM_FENCING=serial` runs Pacemaker 2.1's
//! defaults (`concurrent-fencing=false`, `pcmk_action_limit=1`) instead of
//! `concurrent-fencing=true` with `pcmk_action_limit=-1`; `OXHA_BENCH_STORM_DELAY_MS` sets
//! MAAS's power delay (default 200 ms).
//!
//! Printed: a `bench: ...` line per round and a table of medians: from the power loss to the
//! last connection failure seen, the last fencing requested, the last MAAS power-off, the last
//! node fenced, the last Masakari notification; and per node, what the time is made of
//! (detection, waiting for the fencing to be requested, the power device, the notifier), how
//! many batches the cluster fenced them in, and the agents' peak memory.

use oxha_multinode::masakari::Masakari;
use oxha_multinode::storm::{self, AgentMemory, Fencing, Timeline};
use oxha_multinode::MultiCluster;
use std::collections::BTreeMap;
use std::time::Duration;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One round's figures (seconds).
#[derive(Default)]
struct Round {
    detected: f64,
    requested: f64,
    powered_off: f64,
    fenced: f64,
    notified: f64,
    /// Per node: power loss → connection failure seen.
    detect: Vec<f64>,
    /// Per node: failure seen → fencing requested.
    wait: Vec<f64>,
    /// Per node: fencing requested → power device started (the fencers' query).
    query: Vec<f64>,
    /// Per node: fence_maas (power device started → returned).
    power: Vec<f64>,
    /// Per node: fence_masakari (power device returned → fencing complete).
    notify: Vec<f64>,
    batches: usize,
    failed: usize,
    maas_kb: u64,
    masakari_kb: u64,
}

fn between(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

/// How many separate groups the fencing requests came in (0.5 s apart or more).
fn batches(timelines: &BTreeMap<String, Timeline>) -> usize {
    let mut at: Vec<f64> = timelines.values().filter_map(|t| t.requested).collect();
    at.sort_by(|a, b| a.total_cmp(b));
    at.windows(2).filter(|w| w[1] - w[0] >= 0.5).count() + usize::from(!at.is_empty())
}

fn round(size: usize, fencing: &Fencing, delay_ms: u64) -> Round {
    let computes = storm::computes(size + 2);
    let refs: Vec<&str> = computes.iter().map(String::as_str).collect();
    let cluster = MultiCluster::start_with(storm::topology(&computes));
    let masakari = Masakari::start_with_remotes(&cluster, &refs);
    storm::configure(&cluster, &masakari, &computes, fencing);
    storm::maas_region(&cluster, &format!(r#"{{"power_delay_ms": {delay_ms}}}"#));
    let hosts = storm::masakari_hosts(&masakari);
    let dead: Vec<String> = computes[..size].to_vec();
    let memory = AgentMemory::start(&cluster, Duration::from_millis(20));
    let s = storm::storm(
        &cluster,
        &masakari,
        &hosts,
        &computes,
        &dead,
        Duration::from_secs(300),
    );
    let mem = memory.finish();
    let timelines = storm::timelines(&cluster, &dead, s.since);
    let last = |of: fn(&Timeline) -> Option<f64>| {
        timelines.values().filter_map(of).fold(0.0, f64::max) - s.since
    };
    let per = |f: &dyn Fn(&Timeline) -> Option<f64>| -> Vec<f64> {
        timelines.values().filter_map(f).collect()
    };
    let since = Some(s.since);
    Round {
        detected: last(|t| t.detected),
        requested: last(|t| t.requested),
        powered_off: s.last(&dead, |o| o.off_at),
        fenced: last(|t| t.fenced),
        notified: s.last(&dead, |o| o.notified_at.first().copied()),
        detect: per(&|t| between(since, t.detected)),
        wait: per(&|t| between(t.detected, t.requested)),
        query: per(&|t| between(t.requested, t.power_started)),
        power: per(&|t| between(t.power_started, t.power_done)),
        notify: per(&|t| between(t.power_done, t.fenced)),
        batches: batches(&timelines),
        failed: dead.iter().map(|d| s.nodes[d].fencings.1).sum(),
        maas_kb: mem.get("fence_maas").map_or(0, |m| m.peak_kb),
        masakari_kb: mem.get("fence_masakari").map_or(0, |m| m.peak_kb),
    }
}

#[test]
#[ignore]
fn bench_storm() {
    let sizes: Vec<usize> = env_or("OXHA_BENCH_STORM_SIZES", "1 8 16")
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let rounds: usize = env_or("OXHA_BENCH_ROUNDS", "3").parse().unwrap_or(3);
    let delay_ms: u64 = env_or("OXHA_BENCH_STORM_DELAY_MS", "200")
        .parse()
        .unwrap_or(200);
    let serial = env_or("OXHA_BENCH_STORM_FENCING", "concurrent") == "serial";
    let fencing = if serial {
        Fencing {
            concurrent: false,
            action_limit: 1,
        }
    } else {
        Fencing::default()
    };
    let mut results: Vec<(usize, Vec<Round>)> = Vec::new();
    for &size in &sizes {
        let mut rs = Vec::new();
        for r in 1..=rounds {
            let x = round(size, &fencing, delay_ms);
            println!(
                "\nbench: storm size {size} round {r} detected {:.2} requested {:.2} powered_off {:.2} fenced {:.2} notified {:.2} batches {} failed {}",
                x.detected, x.requested, x.powered_off, x.fenced, x.notified, x.batches, x.failed
            );
            rs.push(x);
        }
        results.push((size, rs));
    }
    println!(
        "\nbench: storm table (medians of {rounds} rounds; seconds from the power loss; concurrent-fencing={}, pcmk_action_limit={}, MAAS power delay {delay_ms} ms)",
        fencing.concurrent, fencing.action_limit
    );
    println!(
        "bench: | nodes | last failure seen | last fencing requested | last MAAS power-off | last fenced | last notified | batches | per node: detect / wait / query / fence_maas / fence_masakari | failed attempts | peak RSS fence_maas / fence_masakari |"
    );
    println!("bench: |---|---|---|---|---|---|---|---|---|---|");
    for (size, rs) in &results {
        let m = |f: &dyn Fn(&Round) -> f64| median(rs.iter().map(f).collect());
        let each = |f: &dyn Fn(&Round) -> &Vec<f64>| {
            median(rs.iter().flat_map(|r| f(r).iter().copied()).collect())
        };
        println!(
            "bench: | {size} | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.1} | {:.0} | {:.1} / {:.1} / {:.2} / {:.1} / {:.2} | {:.0} | {:.1} / {:.1} MB |",
            m(&|r| r.detected),
            m(&|r| r.requested),
            m(&|r| r.powered_off),
            m(&|r| r.fenced),
            m(&|r| r.notified),
            m(&|r| r.batches as f64),
            each(&|r| &r.detect),
            each(&|r| &r.wait),
            each(&|r| &r.query),
            each(&|r| &r.power),
            each(&|r| &r.notify),
            m(&|r| r.failed as f64),
            m(&|r| r.maas_kb as f64) / 1024.0,
            m(&|r| r.masakari_kb as f64) / 1024.0,
        );
    }
}
