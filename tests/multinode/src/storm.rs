//! Fencing storms: a rack of pacemaker-remote compute nodes, each with one fencing-topology
//! level `fence_maas` (the MAAS simulator: the power) then `fence_masakari` (the real Masakari
//! API: the notification), many of which lose power at the same moment. Shared by the storm
//! scenario (`tests/storm.rs`) and the scaling benchmark (`tests/storm_bench.rs`).
//!
//! What a storm is measured by, per dead node, on clocks that do not depend on Pacemaker's
//! logs: the MAAS simulator's power events (with their times), Masakari's notifications (with
//! fence_masakari's `generated_time`), and the fencers' history.

use crate::masakari::{epoch_of, Masakari};
use crate::{now, MultiCluster, Topology};
use oxha_harness::wait_for;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The power device and the notifier of every compute node.
pub const POWER_DEV: &str = "fence_rack_power";
pub const MASAKARI_DEV: &str = "fence_rack_masakari";

/// `compute01`, `compute02`, ...: the compute nodes' Pacemaker names, host names and MAAS
/// machines.
pub fn computes(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("compute{i:02}")).collect()
}

/// A cluster of the three full nodes and these compute nodes.
pub fn topology(computes: &[String]) -> Topology {
    let pairs: Vec<(&str, &str)> = computes.iter().map(|c| (c.as_str(), c.as_str())).collect();
    Topology::new(&pairs, None)
}

/// How the rack's fencing is set up.
#[derive(Clone, Debug)]
pub struct Fencing {
    /// `concurrent-fencing` (Pacemaker 2.1's default is false, Pacemaker 3's true).
    pub concurrent: bool,
    /// `pcmk_action_limit` of both devices: how many of their actions may run at once on
    /// one node (Pacemaker's default is 1; -1 is no limit).
    pub action_limit: i32,
}

impl Default for Fencing {
    fn default() -> Self {
        Fencing {
            concurrent: true,
            action_limit: -1,
        }
    }
}

/// Configures the rack's fencing in one CIB change: one fence_maas device and one
/// fence_masakari device (pinned to Masakari's node) for every compute node, a level per
/// compute node (power, then notifier), and the fencing properties; waits until both devices
/// run and are registered.
pub fn configure(cluster: &MultiCluster, masakari: &Masakari, computes: &[String], f: &Fencing) {
    let hosts = computes.join(" ");
    let key = cluster.start_maas_sim();
    let power = format!(
        "ip={} ipport={} api_key_file={}",
        crate::INFRA_ADDR,
        crate::MAAS_PORT,
        key.display()
    );
    let mut text = format!(
        "primitive {POWER_DEV} stonith:fence_maas params {power} \\\n\
         \tpcmk_host_list=\"{hosts}\" pcmk_action_limit={limit} \\\n\
         \tpcmk_off_timeout=60s pcmk_reboot_timeout=60s \\\n\
         \top monitor interval=120s\n\
         primitive {MASAKARI_DEV} stonith:fence_masakari \\\n\
         \tparams {masakari_params} pcmk_host_list=\"{hosts}\" pcmk_action_limit={limit} \\\n\
         \top monitor interval=120s\n\
         {pin}\
         property concurrent-fencing={concurrent}\n\
         fencing_topology",
        limit = f.action_limit,
        masakari_params = masakari.device_params(),
        pin = masakari.pin_device(MASAKARI_DEV),
        concurrent = f.concurrent,
    );
    for c in computes {
        text.push_str(&format!(" \\\n\t{c}: {POWER_DEV},{MASAKARI_DEV}"));
    }
    text.push('\n');
    eprintln!(
        "storm: {} compute nodes, concurrent-fencing={}, pcmk_action_limit={}",
        computes.len(),
        f.concurrent,
        f.action_limit
    );
    cluster.crm_configure("node1", &text).expect_ok();
    wait_for(
        "the rack's fence devices registered on node1",
        Duration::from_secs(60),
        || {
            let registered = cluster.registered_devices("node1");
            (registered.contains(POWER_DEV) && registered.contains(MASAKARI_DEV)).then_some(())
        },
    );
}

/// The MAAS simulator's region-wide settings (`power_delay_ms`, `rate_per_s`, `rate_burst`,
/// `reset_counters`), changed and read back.
pub fn maas_region(cluster: &MultiCluster, patch: &str) -> serde_json::Value {
    let r = cluster
        .maas_ctl("POST", "/_sim/region", Some(patch))
        .expect_ok();
    serde_json::from_str(&r.stdout).unwrap_or_default()
}

/// Every MAAS power event with its time (seconds since the epoch): (time, machine, event).
pub fn maas_timed_events(cluster: &MultiCluster) -> Vec<(f64, String, String)> {
    cluster
        .maas_ctl("GET", "/_sim/events?time=1", None)
        .expect_ok()
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            Some((
                w.next()?.parse().ok()?,
                w.next()?.to_string(),
                w.next()?.to_string(),
            ))
        })
        .collect()
}

/// Masakari host uuid → host name, for every host of every segment.
pub fn masakari_hosts(masakari: &Masakari) -> BTreeMap<String, String> {
    let mut hosts = BTreeMap::new();
    let segments = masakari
        .api("GET", "/segments")
        .unwrap_or_else(|e| panic!("Masakari segments: {e}"));
    for seg in segments["segments"].as_array().into_iter().flatten() {
        let uuid = seg["uuid"].as_str().unwrap_or_default();
        let list = masakari
            .api("GET", &format!("/segments/{uuid}/hosts"))
            .unwrap_or_else(|e| panic!("Masakari hosts: {e}"));
        for h in list["hosts"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (h["uuid"].as_str(), h["name"].as_str()) {
                hosts.insert(id.to_string(), name.to_string());
            }
        }
    }
    hosts
}

/// What happened to one node during a storm.
#[derive(Clone, Debug, Default)]
pub struct NodeOutcome {
    /// Power events MAAS logged for its machine (`power_off stop_mode=hard`, `off`, ...).
    pub maas_events: Vec<String>,
    /// When MAAS powered it off (the simulator's `off` event).
    pub off_at: Option<f64>,
    /// fence_masakari's `generated_time` of each COMPUTE_HOST notification for it.
    pub notified_at: Vec<f64>,
    /// The notifications' payloads: (event, host_status, cluster_status).
    pub payloads: Vec<(String, String, String)>,
    /// Fencing operations on it in the fencers' history: (succeeded, failed).
    pub fencings: (usize, usize),
    /// When the fencer's history says the successful fencing completed.
    pub fenced_at: Option<f64>,
}

/// Everything a storm left behind, per compute node, since `since`.
pub struct Storm {
    pub since: f64,
    pub nodes: BTreeMap<String, NodeOutcome>,
}

/// Reads the storm's traces: MAAS events since `since`, every Masakari notification, the
/// fencers' history as node1 sees it.
pub fn collect(
    cluster: &MultiCluster,
    masakari: &Masakari,
    hosts: &BTreeMap<String, String>,
    computes: &[String],
    since: f64,
) -> Storm {
    let mut nodes: BTreeMap<String, NodeOutcome> = computes
        .iter()
        .map(|c| (c.clone(), NodeOutcome::default()))
        .collect();
    for (at, machine, event) in maas_timed_events(cluster) {
        let Some(node) = nodes.get_mut(&machine) else {
            continue;
        };
        if at < since {
            continue;
        }
        if event == "off" && node.off_at.is_none() {
            node.off_at = Some(at);
        }
        node.maas_events.push(event);
    }
    for n in masakari.notifications() {
        let generated = n["generated_time"].as_str().and_then(epoch_of);
        let host = n["source_host_uuid"]
            .as_str()
            .and_then(|u| hosts.get(u))
            .cloned();
        let (Some(generated), Some(host)) = (generated, host) else {
            continue;
        };
        if generated < since || n["type"] != "COMPUTE_HOST" {
            continue;
        }
        let Some(node) = nodes.get_mut(&host) else {
            continue;
        };
        let p = &n["payload"];
        let word = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        node.notified_at.push(generated);
        node.payloads
            .push((word("event"), word("host_status"), word("cluster_status")));
    }
    for event in fence_history(cluster) {
        // `completed` has whole seconds.
        if event.completed < since.floor() {
            continue;
        }
        if let Some(node) = nodes.get_mut(&event.target) {
            if event.succeeded {
                node.fencings.0 += 1;
                node.fenced_at = Some(event.completed);
            } else {
                node.fencings.1 += 1;
            }
        }
    }
    Storm { since, nodes }
}

/// One operation of the fencers' history.
#[derive(Clone, Debug)]
pub struct FenceEvent {
    pub target: String,
    pub succeeded: bool,
    /// Seconds since the epoch.
    pub completed: f64,
}

/// The fencers' history as a running full node's fencer knows it (`stonith_admin --history '*'
/// --output-as=xml --verbose`: without `--verbose` the XML lists nothing), asked of the first
/// full node that runs: node1 may be the DC a test killed, and the fencers share one history.
fn history_xml(cluster: &MultiCluster) -> String {
    let node = crate::FULL_NODES
        .iter()
        .copied()
        .find(|n| cluster.running(n))
        .unwrap_or("node1");
    cluster
        .run(
            node,
            &[
                "stonith_admin",
                "--history",
                "*",
                "--output-as=xml",
                "--verbose",
            ],
        )
        .stdout
}

/// Nothing more can fence or notify: the DC's controller is idle (no transition, so no fence
/// action left to schedule), no fence action is pending in the history, and no fencer has a
/// child (an agent, or a fork of its own) running.
pub fn fencing_idle(cluster: &MultiCluster) -> bool {
    let dc = cluster.run("node1", &["crmadmin", "--dc_lookup", "--quiet"]);
    let dc = dc.stdout.trim();
    if dc.is_empty() {
        return false;
    }
    let state = cluster.run("node1", &["crmadmin", "--status", dc, "--quiet"]);
    if state.stdout.trim() != "S_IDLE" {
        return false;
    }
    if history_xml(cluster).contains(r#"status="pending""#) {
        return false;
    }
    fencers(cluster).iter().all(|f| children(*f).is_empty())
}

/// Every completed fencing operation in the history, as a running full node's fencer knows
/// it.
/// `completed` has whole seconds.
pub fn fence_history(cluster: &MultiCluster) -> Vec<FenceEvent> {
    let xml = history_xml(cluster);
    let mut events = Vec::new();
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Empty(e)) | Ok(quick_xml::events::Event::Start(e))
                if e.name().as_ref() == b"fence_event" =>
            {
                let mut attrs: BTreeMap<String, String> = BTreeMap::new();
                for a in e.attributes().flatten() {
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    let value = a
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    attrs.insert(key, value);
                }
                let status = attrs.get("status").cloned().unwrap_or_default();
                if status == "pending" {
                    continue;
                }
                let completed = attrs
                    .get("completed")
                    .and_then(|c| history_time(c))
                    .unwrap_or(0.0);
                events.push(FenceEvent {
                    target: attrs.get("target").cloned().unwrap_or_default(),
                    succeeded: status == "success",
                    completed,
                });
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    events
}

/// A history `completed` time (`2026-12-03 11:20:01.123456Z` or without the fraction or zone,
/// in UTC) as seconds since the epoch.
fn history_time(text: &str) -> Option<f64> {
    epoch_of(text.trim())
}

impl Storm {
    /// The nodes that did not die (no kill): nothing may have touched them.
    pub fn untouched(&self, dead: &[String]) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(name, _)| !dead.contains(name))
            .filter(|(_, o)| {
                !o.maas_events.is_empty() || !o.notified_at.is_empty() || o.fencings != (0, 0)
            })
            .map(|(name, o)| format!("{name}: {o:?}"))
            .collect()
    }

    /// Is every dead node powered off, fenced and notified?
    pub fn complete(&self, dead: &[String]) -> bool {
        dead.iter().all(|d| {
            self.nodes.get(d).is_some_and(|o| {
                o.off_at.is_some() && !o.notified_at.is_empty() && o.fencings.0 > 0
            })
        })
    }

    /// What a storm must not do, one line each: a dead node powered off other than once by
    /// MAAS, powered on, fenced other than once, notified other than once or not as
    /// STOPPED / NORMAL / OFFLINE, or notified before MAAS powered it off; a live node touched.
    pub fn violations(&self, dead: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        for d in dead {
            let Some(o) = self.nodes.get(d) else {
                found.push(format!("{d}: no outcome"));
                continue;
            };
            let count = |e: &str| o.maas_events.iter().filter(|x| x.starts_with(e)).count();
            if count("off") != 1 || count("power_on") != 0 {
                found.push(format!("{d}: MAAS events {:?}", o.maas_events));
            }
            if o.fencings.0 != 1 {
                found.push(format!("{d}: fenced {} times", o.fencings.0));
            }
            if o.notified_at.len() != 1 {
                found.push(format!("{d}: {} notifications", o.notified_at.len()));
            }
            let stopped = ("STOPPED".into(), "NORMAL".into(), "OFFLINE".into());
            if o.payloads.iter().any(|p| *p != stopped) {
                found.push(format!("{d}: payloads {:?}", o.payloads));
            }
            let off = o.off_at.unwrap_or(f64::MAX);
            if o.notified_at.iter().any(|n| *n < off) {
                found.push(format!("{d}: notified before MAAS powered it off: {o:?}"));
            }
        }
        found.extend(
            self.untouched(dead)
                .into_iter()
                .map(|l| format!("live {l}")),
        );
        found
    }

    /// The latest of a per-node time over the dead nodes, relative to the storm's start.
    pub fn last(&self, dead: &[String], of: impl Fn(&NodeOutcome) -> Option<f64>) -> f64 {
        dead.iter()
            .filter_map(|d| self.nodes.get(d).and_then(&of))
            .fold(0.0, f64::max)
            - self.since
    }
}

/// Kills `dead` together and waits until every one is powered off by MAAS, fenced and
/// notified to Masakari, polling the traces; returns them.
pub fn storm(
    cluster: &MultiCluster,
    masakari: &Masakari,
    hosts: &BTreeMap<String, String>,
    computes: &[String],
    dead: &[String],
    timeout: Duration,
) -> Storm {
    let refs: Vec<&str> = dead.iter().map(String::as_str).collect();
    let since = now();
    cluster.kill_together(&refs);
    eprintln!(
        "storm: killed {} at once ({:.2} s)",
        dead.join(" "),
        now() - since
    );
    let started = std::time::Instant::now();
    let mut last = None;
    while started.elapsed() < timeout {
        let s = collect(cluster, masakari, hosts, computes, since);
        if s.complete(dead) {
            // A late duplicate (a second notification, a second power-off) can only come from
            // a fence action still under way or still to be scheduled: count once nothing is.
            let complete = now();
            wait_for(
                "the cluster idle after the storm (DC in S_IDLE, no fence action pending, no agent running)",
                Duration::from_secs(120),
                || fencing_idle(cluster).then_some(()),
            );
            eprintln!("storm: complete, then idle after {:.1} s", now() - complete);
            return collect(cluster, masakari, hosts, computes, since);
        }
        last = Some(s);
        std::thread::sleep(Duration::from_millis(500));
    }
    let pending: Vec<String> = last
        .map(|s| {
            dead.iter()
                .filter(|d| !s.complete(std::slice::from_ref(*d)))
                .map(|d| format!("{d}: {:?}", s.nodes.get(d)))
                .collect()
        })
        .unwrap_or_default();
    panic!(
        "the storm did not complete within {timeout:?}; pending:\n{}\n{}",
        pending.join("\n"),
        cluster.logs()
    );
}

/// Memory of the fence agents the fencers run, sampled from `/proc`: every `every`, the
/// children of each full node's `pacemaker-fenced` (a fence agent is a direct child of the
/// fencer) and their own children (fence_masakari's `cibadmin`). Per agent name: how many
/// invocations were seen, the largest peak resident set of one (`VmHWM`, the kernel's high-water
/// mark, read while the process runs), and the largest total resident set (`VmRSS`) of all
/// agent processes and their children at one sample. An invocation shorter than the sampling
/// interval can be missed, and growth in its last interval is not seen.
pub struct AgentMemory {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<BTreeMap<String, AgentStats>>>,
}

#[derive(Clone, Debug, Default)]
pub struct AgentStats {
    pub invocations: usize,
    pub peak_kb: u64,
    pub peak_total_kb: u64,
    pub peak_concurrent: usize,
}

fn proc_status(pid: u32) -> Option<(String, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let kb = |name: &str| -> u64 {
        field(name)
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some((field("Name:")?.to_string(), kb("VmHWM:"), kb("VmRSS:")))
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The host pid of each full node's pacemaker-fenced.
fn fencers(cluster: &MultiCluster) -> Vec<u32> {
    full_node_daemons(cluster, "pacemaker-fence")
}

/// The host pids of the processes whose name is `comm` (the kernel keeps 15 characters of a
/// name: `pacemaker-fence`, `pacemaker-contr`) in the full nodes' pid namespaces.
fn full_node_daemons(cluster: &MultiCluster, want: &str) -> Vec<u32> {
    let namespaces: BTreeSet<String> = crate::FULL_NODES
        .iter()
        .filter_map(|n| {
            let pid =
                std::fs::read_to_string(cluster.state_dir().join("nodes").join(n).join("pid"))
                    .ok()?;
            std::fs::read_link(format!("/proc/{}/ns/pid", pid.trim()))
                .ok()
                .map(|l| l.to_string_lossy().into_owned())
        })
        .collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != want {
            continue;
        }
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        if namespaces.contains(&ns) {
            found.push(pid);
        }
    }
    found
}

/// The cluster daemons whose CPU a storm costs, by the name the kernel keeps (15 characters)
/// and the name they are reported by.
pub const DAEMONS: [(&str, &str); 4] = [
    ("pacemaker-contr", "pacemaker-controld"),
    ("pacemaker-fence", "pacemaker-fenced"),
    ("pacemaker-based", "pacemaker-based"),
    ("pacemaker-sched", "pacemaker-schedulerd"),
];

/// CPU seconds (user + system, the daemon's own, not its children's) each of [`DAEMONS`] has
/// used so far, summed over the full nodes: take it before and after a storm.
pub fn daemon_cpu(cluster: &MultiCluster) -> BTreeMap<&'static str, f64> {
    // Clock ticks per second: 100 on every Linux this runs on (USER_HZ), asked all the same.
    let hz: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    DAEMONS
        .iter()
        .map(|(comm, name)| {
            let ticks: u64 = full_node_daemons(cluster, comm)
                .into_iter()
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    // The fields after the name in parentheses; utime and stime are the 14th
                    // and 15th of the line, the 12th and 13th after the name.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
                })
                .sum();
            (*name, ticks as f64 / hz)
        })
        .collect()
}

impl AgentMemory {
    pub fn start(cluster: &MultiCluster, every: Duration) -> AgentMemory {
        let fencers = fencers(cluster);
        assert_eq!(
            fencers.len(),
            crate::FULL_NODES.len(),
            "one pacemaker-fenced per full node: {fencers:?}"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut stats: BTreeMap<String, AgentStats> = BTreeMap::new();
            let mut seen: BTreeSet<(u32, String)> = BTreeSet::new();
            while !flag.load(Ordering::Relaxed) {
                let mut total: BTreeMap<String, (u64, usize)> = BTreeMap::new();
                for fencer in &fencers {
                    for agent in children(*fencer) {
                        // The fencer also forks copies of itself for a moment.
                        let Some((name, hwm, rss)) =
                            proc_status(agent).filter(|(name, _, _)| name.starts_with("fence_"))
                        else {
                            continue;
                        };
                        let below: u64 = children(agent)
                            .into_iter()
                            .filter_map(proc_status)
                            .map(|(_, _, rss)| rss)
                            .sum();
                        let s = stats.entry(name.clone()).or_default();
                        if seen.insert((agent, name.clone())) {
                            s.invocations += 1;
                        }
                        s.peak_kb = s.peak_kb.max(hwm);
                        let t = total.entry(name).or_default();
                        t.0 += rss + below;
                        t.1 += 1;
                    }
                }
                for (name, (kb, count)) in total {
                    let s = stats.entry(name).or_default();
                    s.peak_total_kb = s.peak_total_kb.max(kb);
                    s.peak_concurrent = s.peak_concurrent.max(count);
                }
                std::thread::sleep(every);
            }
            stats
        });
        AgentMemory {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling; per agent name (`fence_maas`, `fence_masakari`), what was seen.
    pub fn finish(mut self) -> BTreeMap<String, AgentStats> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for AgentMemory {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Milestones of one node's fencing in the full nodes' pacemaker logs (seconds since the
/// epoch; the earliest line of each kind at or after the storm's start, on any full node).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Its connection's monitor failed (the cluster noticed).
    pub detected: Option<f64>,
    /// The DC's controller asked the fencer to fence it.
    pub requested: Option<f64>,
    /// The fencer asked a node to run the power device (fence_maas) on it.
    pub power_started: Option<f64>,
    /// The power device's off returned success.
    pub power_done: Option<f64>,
    /// The whole fencing (both devices of the level) succeeded.
    pub fenced: Option<f64>,
}

/// The local time zone's offset from UTC, in seconds (the nodes log local time).
pub fn utc_offset() -> f64 {
    let out = oxha_harness::run(&["date", "+%z"]).stdout;
    let z = out.trim();
    let sign = if z.starts_with('-') { -1.0 } else { 1.0 };
    let digits = z.trim_start_matches(['+', '-']);
    let (h, m) = digits.split_at(digits.len().min(2));
    sign * (h.parse::<f64>().unwrap_or(0.0) * 3600.0 + m.parse::<f64>().unwrap_or(0.0) * 60.0)
}

/// A pacemaker.log line's time (`Dec 03 11:28:23.753 node1 ...`, local time, no year) as
/// seconds since the epoch, taking the year from `around` (an epoch time near it).
pub fn log_time(line: &str, around: f64, offset: f64) -> Option<f64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut w = line.split_whitespace();
    let name = w.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? + 1;
    let day: u32 = w.next()?.parse().ok()?;
    let clock = w.next()?;
    // The year of `around` (close enough: a storm does not span New Year).
    let year = 1970 + (around / 31_556_952.0) as i64;
    let at = epoch_of(&format!("{year:04}-{month:02}-{day:02}T{clock}"))? - offset;
    // Near a year's end the guess can be a year off.
    [at, at - 31_536_000.0, at + 31_536_000.0]
        .into_iter()
        .min_by(|a, b| (a - around).abs().total_cmp(&(b - around).abs()))
}

/// Each node's [`Timeline`] from the full nodes' logs, since `since`.
pub fn timelines(
    cluster: &MultiCluster,
    nodes: &[String],
    since: f64,
) -> BTreeMap<String, Timeline> {
    let offset = utc_offset();
    let mut lines: Vec<(f64, String)> = Vec::new();
    for n in crate::FULL_NODES {
        let log = cluster
            .state_dir()
            .join("nodes")
            .join(n)
            .join("pacemaker.log");
        for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
            if let Some(at) = log_time(line, since, offset) {
                if at >= since - 0.001 {
                    lines.push((at, line.to_string()));
                }
            }
        }
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = |needles: &[&str]| -> Option<f64> {
        lines
            .iter()
            .find(|(_, l)| needles.iter().all(|n| l.contains(n)))
            .map(|(at, _)| *at)
    };
    nodes
        .iter()
        .map(|d| {
            let t = Timeline {
                detected: first(&[&format!("monitor operation for {d} on"), "error:"]),
                requested: first(&[&format!("Requesting fencing (off) of node {d} ")]),
                power_started: first(&[&format!(
                    "perform 'off' action targeting {d} using {POWER_DEV}"
                )]),
                power_done: first(&[
                    &format!("Action 'off' targeting {d} using {POWER_DEV} on behalf"),
                    ": complete",
                ]),
                fenced: first(&[
                    &format!("Operation 'off' targeting {d} by "),
                    ": OK (complete)",
                ]),
            };
            (d.clone(), t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times() {
        // 2026-12-03 11:28:23.753 UTC
        let around = 1_796_297_303.0;
        let at = log_time(
            "Dec 03 11:28:23.753 node1 pacemaker-fenced [83] ...",
            around,
            0.0,
        );
        assert!(
            (at.unwrap_or(0.0) - 1_796_297_303.753).abs() < 1e-6,
            "{at:?}"
        );
        // Logged in UTC+1: an hour earlier in UTC.
        let at = log_time("Dec 03 12:28:23.753 node1 x", around, 3600.0);
        assert!(
            (at.unwrap_or(0.0) - 1_796_297_303.753).abs() < 1e-6,
            "{at:?}"
        );
        // A line from the last day of the year seen just after New Year.
        let new_year = 1_798_761_600.0; // 2027-01-01 00:00:00 UTC
        let at = log_time("Dec 31 23:59:59.000 n x", new_year + 5.0, 0.0);
        assert!(
            (at.unwrap_or(0.0) - (new_year - 1.0)).abs() < 1e-6,
            "{at:?}"
        );
        assert_eq!(log_time("not a log line", around, 0.0), None);
    }
}
