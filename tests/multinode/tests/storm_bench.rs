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
//!
//! `bench_storm_region` (bench/storm/run --region): the same at the scale of a region, 8 to 64
//! compute nodes, 3/8 of them dying at once, MAAS rate-limited; the storm's checks, fence_maas's
//! memory and the cluster daemons' CPU per count, with and without the controllers' load
//! throttling (`load-threshold`).

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

/// One region-scale round's figures.
struct RegionRound {
    nodes: usize,
    dead: usize,
    /// Seconds from the power loss to the last Masakari notification (generated_time).
    notified: f64,
    fenced: f64,
    batches: usize,
    failed: usize,
    /// Requests the MAAS simulator turned away (rate limit) and admitted.
    rate_limited: u64,
    admitted: u64,
    /// fence_maas: largest peak RSS of one invocation, largest total of those running at once,
    /// most running at once (KB, KB, count).
    maas_kb: u64,
    maas_total_kb: u64,
    maas_concurrent: usize,
    /// CPU seconds of the cluster daemons during the storm (power loss → idle), summed over
    /// the full nodes, in `storm::DAEMONS` order.
    cpu: Vec<f64>,
    /// The host's 1-minute load average when the nodes died (every node shares it here).
    load: f64,
    /// "High CPU load detected" lines of the controllers during the storm.
    high_load: usize,
    violations: Vec<String>,
}

fn high_load_lines(cluster: &MultiCluster) -> usize {
    oxha_multinode::FULL_NODES
        .iter()
        .map(|n| cluster.log_lines(n, &["High CPU load detected"]).len())
        .sum()
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn region_round(nodes: usize, dead: usize, region: &str, load_threshold: &str) -> RegionRound {
    let computes = storm::computes(nodes);
    let refs: Vec<&str> = computes.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let cluster = MultiCluster::start_with(storm::topology(&computes));
    let masakari = Masakari::start_with_remotes(&cluster, &refs);
    storm::configure(&cluster, &masakari, &computes, &Fencing::default());
    eprintln!(
        "bench: {nodes} compute nodes up and configured in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // The controller throttles its transitions when the node's load is above
    // `load-threshold` (default 80 % of the cores): one action at a time per node.
    cluster
        .crm_configure(
            "node1",
            &format!("property load-threshold={load_threshold}\n"),
        )
        .expect_ok();
    storm::maas_region(&cluster, region);
    let hosts = storm::masakari_hosts(&masakari);
    let load = load_average();
    let high_before = high_load_lines(&cluster);
    let dying: Vec<String> = computes[..dead].to_vec();
    let memory = AgentMemory::start(&cluster, Duration::from_millis(20));
    let cpu_before = storm::daemon_cpu(&cluster);
    let s = storm::storm(
        &cluster,
        &masakari,
        &hosts,
        &computes,
        &dying,
        Duration::from_secs(600),
    );
    let cpu_after = storm::daemon_cpu(&cluster);
    let mem = memory.finish();
    let counters = storm::maas_region(&cluster, "{}");
    let timelines = storm::timelines(&cluster, &dying, s.since);
    let maas = mem.get("fence_maas").cloned().unwrap_or_default();
    RegionRound {
        nodes,
        dead,
        notified: s.last(&dying, |o| o.notified_at.first().copied()),
        fenced: timelines
            .values()
            .filter_map(|t| t.fenced)
            .fold(0.0, f64::max)
            - s.since,
        batches: batches(&timelines),
        failed: dying.iter().map(|d| s.nodes[d].fencings.1).sum(),
        rate_limited: counters["rate_limited"].as_u64().unwrap_or(0),
        admitted: counters["admitted"].as_u64().unwrap_or(0),
        maas_kb: maas.peak_kb,
        maas_total_kb: maas.peak_total_kb,
        maas_concurrent: maas.peak_concurrent,
        cpu: storm::DAEMONS
            .iter()
            .map(|(_, name)| cpu_after[name] - cpu_before[name])
            .collect(),
        load,
        high_load: high_load_lines(&cluster) - high_before,
        violations: s.violations(&dying),
    }
}

/// The storm at the scale of a region: for each count N in `OXHA_BENCH_STORM_NODES` (default
/// `8 16 32 64`), one cluster of N pacemaker-remote compute nodes (light: pacemaker-remoted
/// alone, no guests) of which 3/8 die at once (24 of 64), MAAS rate-limited
/// (`OXHA_BENCH_STORM_REGION`, default 10 requests/s, burst 10, 200 ms power delay). Printed:
/// per count, the checks (each dead node fenced once, powered off by MAAS once before its one
/// notification, no live node touched), time to the last notification, fence_maas's memory,
/// the daemons' CPU, and each figure's ratio to the smallest count's, side by side.
#[test]
#[ignore]
fn bench_storm_region() {
    let counts: Vec<usize> = env_or("OXHA_BENCH_STORM_NODES", "8 16 32 64")
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let region = env_or(
        "OXHA_BENCH_STORM_REGION",
        r#"{"power_delay_ms": 200, "rate_per_s": 10, "rate_burst": 10, "reset_counters": true}"#,
    );
    let thresholds = env_or("OXHA_BENCH_STORM_LOAD_THRESHOLDS", "80% 10000%");
    let mut bad = 0;
    for threshold in thresholds.split_whitespace() {
        bad += region_pass(&counts, &region, threshold);
    }
    assert_eq!(
        bad, 0,
        "the storm's checks failed (see the VIOLATION lines)"
    );
}

/// One cluster per count at this `load-threshold`; prints the lines and the table; answers
/// how many checks failed.
fn region_pass(counts: &[usize], region: &str, threshold: &str) -> usize {
    let mut rounds: Vec<RegionRound> = Vec::new();
    for &n in counts {
        let dead = (n * 3 / 8).max(1);
        let r = region_round(n, dead, region, threshold);
        println!(
            "\nbench: region load-threshold {threshold} nodes {} dead {} notified {:.2} fenced {:.2} batches {} failed {} rate_limited {} admitted {} fence_maas peak {} KB total {} KB concurrent {} cpu {} load {:.1} high-load {} violations {}",
            r.nodes,
            r.dead,
            r.notified,
            r.fenced,
            r.batches,
            r.failed,
            r.rate_limited,
            r.admitted,
            r.maas_kb,
            r.maas_total_kb,
            r.maas_concurrent,
            r.cpu.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join("/"),
            r.load,
            r.high_load,
            r.violations.len()
        );
        for v in &r.violations {
            println!("bench: region load-threshold {threshold} nodes {n} VIOLATION {v}");
        }
        rounds.push(r);
    }
    let bad = rounds.iter().map(|r| r.violations.len()).sum();
    let Some(base) = rounds.first() else {
        return bad;
    };
    let names: Vec<&str> = storm::DAEMONS.iter().map(|(_, n)| *n).collect();
    println!(
        "\nbench: region table, load-threshold={threshold} (one run; MAAS region {region}; ratios to {} nodes)",
        base.nodes
    );
    println!(
        "bench: | compute nodes | dead | checks | last notified (s) | ratio | fence_maas peak RSS one / all at once (MB) | running at once | {} CPU (s) | ratio | MAAS requests admitted / rate-limited | failed fence attempts | fencing batches | load at the storm / high-load notices |",
        names.join(" / ")
    );
    println!("bench: |---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let base_cpu: f64 = base.cpu.iter().sum();
    for r in &rounds {
        let cpu: f64 = r.cpu.iter().sum();
        println!(
            "bench: | {} | {} | {} | {:.1} | {:.2} | {:.1} / {:.1} | {} | {} | {:.2} | {} / {} | {} | {} | {:.1} / {} |",
            r.nodes,
            r.dead,
            if r.violations.is_empty() { "all hold".to_string() } else { format!("{} violations", r.violations.len()) },
            r.notified,
            r.notified / base.notified,
            r.maas_kb as f64 / 1024.0,
            r.maas_total_kb as f64 / 1024.0,
            r.maas_concurrent,
            r.cpu.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(" / "),
            cpu / base_cpu,
            r.admitted,
            r.rate_limited,
            r.failed,
            r.batches,
            r.load,
            r.high_load,
        );
    }
    bad
}
