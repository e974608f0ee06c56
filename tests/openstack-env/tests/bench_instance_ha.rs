//! bench/instance-ha: instance recovery time on the real OpenStack, oxha against Debian's
//! masakari-monitors on the same cluster. Not a test (no timed asserts; ignored, so CI never
//! runs it): `bench/instance-ha/run` runs it and keeps its table.
//!
//! * guest crash → instance running again: masakari-restart as the README configures it (its
//!   defaults: every monitor listens for libvirt events, `nova_stop`), the same without
//!   `nova_stop`, and masakari-instancemonitor; then what each monitor costs the compute host
//!   (CPU and resident memory over two idle minutes, side by side);
//! * node death → instance ACTIVE elsewhere, each round broken into its phases from the
//!   cluster's and OpenStack's own records (connection loss detected, fencing decided and
//!   fence_maas's confirmed power-off in Pacemaker's logs, the fencing's end in the fencers' history, the
//!   notification in masakari-api's log, the evacuation in nova's instance actions): fence_maas
//!   and fence_masakari as documented (it notifies once nova counts the host down, Masakari's
//!   `wait_period_after_service_update` 0 s), the same with `nova_down_wait=0` and the wait at
//!   12 s (before it waited for nova), with `nova_force_down` (wait 0 s), that again with the
//!   remote connections' monitor at 1 s / 2 s, and masakari-hostmonitor (on the three compute hosts,
//!   configured as the charm does; fence_maas alone in the fencing levels, Masakari's wait
//!   12 s; the node killed at phases spread evenly over the monitor's 60 s polling cycle).
//!
//! Every round: segment S1 (`auto`, the three hosts), bionic-1 on virt-node-02.maas (the only
//! host whose Pacemaker name is its nova name, which masakari-hostmonitor needs). Rounds per
//! setting: OXHA_BENCH_ROUNDS (3) for a host, OXHA_BENCH_CRASH_ROUNDS (7) for a crash;
//! OXHA_BENCH_ONLY picks settings by the names the rounds print.

use oxha_harness::wait_for;
use oxha_multinode::storm::{fence_history, log_time, utc_offset};
use oxha_multinode::{now, FULL_NODES, REMOTE_MONITOR};
use oxha_openstack_env::{compute, Compute, Monitor, OpenStack, COMPUTES, POWER_DEVICE};
use std::time::Duration;

const V01: &str = "virt-node-01.maas";
const V02: &str = "virt-node-02.maas";
const V10: &str = "virt-node-10.maas";
/// masakari-hostmonitor's `monitoring_interval` (the package's default, which the charm keeps):
/// it looks at Pacemaker's view once per interval.
const HOSTMONITOR_INTERVAL: f64 = 60.0;
/// Masakari's duplicate_notification_detection_interval in scripts/openstack-env.
const DUPLICATE_WINDOW: f64 = 10.0;
/// The remote connections' monitor the README recommends for a short detection (interval,
/// timeout): a compute host that dies without a word is noticed within 1 + 2 s.
const FAST_REMOTE_MONITOR: (&str, &str) = ("1s", "2s");
/// How long the monitors' cost is measured, idle.
const COST_WINDOW: Duration = Duration::from_secs(120);

/// OXHA_BENCH_ONLY=restart,hostmonitor,... runs only those settings (all by default).
fn wanted(setting: &str) -> bool {
    std::env::var("OXHA_BENCH_ONLY")
        .map(|only| only.split(',').any(|s| s.trim() == setting))
        .unwrap_or(true)
}

fn rounds() -> usize {
    std::env::var("OXHA_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// Rounds per guest-crash setting: OXHA_BENCH_CRASH_ROUNDS (7). More than for a host: a round
/// takes seconds, and Masakari's once-a-second check makes each setting's times bimodal.
fn crash_rounds() -> usize {
    std::env::var("OXHA_BENCH_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
}

/// One host failure: each phase in seconds after the node died (NaN when not recorded).
#[derive(Clone, Copy, Debug)]
struct HostRound {
    /// Pacemaker noticed the connection gone (poke timed out, or the connection lost).
    detected: f64,
    /// The scheduler decided to fence the node.
    decided: f64,
    /// fence_maas confirmed the machine off (its `off` returned 0, in the fencer's log).
    powered_off: f64,
    /// The fencers recorded the fencing done (the whole level: fence_maas, fence_masakari).
    fenced: f64,
    /// masakari-api accepted the COMPUTE_HOST notification.
    notified: f64,
    /// nova received the evacuation.
    evacuate: f64,
    /// The instance ACTIVE on another host.
    active: f64,
}

/// A phase's name in the table, and how to read it from a round.
type Phase = (&'static str, fn(&HostRound) -> f64);

const HOST_PHASES: [Phase; 7] = [
    ("connection lost", |r| r.detected),
    ("fencing decided", |r| r.decided),
    ("MAAS off confirmed", |r| r.powered_off),
    ("fencing done", |r| r.fenced),
    ("Masakari notified", |r| r.notified),
    ("nova asked to evacuate", |r| r.evacuate),
    ("ACTIVE elsewhere", |r| r.active),
];

/// One guest crash, seconds after the kill.
#[derive(Clone, Copy, Debug, Default)]
struct CrashRound {
    notified: f64,
    qemu: f64,
    active: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.retain(|x| !x.is_nan());
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// How a host-failure setting runs: fence_masakari's `nova_force_down`, Masakari's
/// `wait_period_after_service_update` (set again after every round's
/// [`OpenStack::fresh_with`]) and the remote connections' monitor.
#[derive(Clone, Copy)]
struct HostSettings {
    nova_force_down: bool,
    masakari_wait: u32,
    remote_monitor: (&'static str, &'static str),
}

/// As the stack starts: no forced_down, Masakari's wait 12 s (more than service_down_time).
const DEFAULTS: HostSettings = HostSettings {
    nova_force_down: false,
    masakari_wait: 12,
    remote_monitor: REMOTE_MONITOR,
};

fn setup_round(os: &OpenStack, settings: HostSettings) {
    os.fresh_with(settings.nova_force_down, settings.masakari_wait);
    os.create_segment("S1", "auto", None);
    os.boot_server("bionic-1", V02);
}

/// The earliest time after `since` at which a full node's pacemaker log has a line with
/// every one of `needles`.
fn logged(os: &OpenStack, needles: &[&str], since: f64) -> Option<f64> {
    let offset = utc_offset();
    FULL_NODES
        .iter()
        .flat_map(|full| os.cluster.log_lines(full, needles))
        .filter_map(|l| log_time(&l, since, offset))
        .filter(|at| *at >= since)
        .reduce(f64::min)
}

/// When `name` was ACTIVE on one of `hosts`, asked of nova's API every few hundred ms (the
/// client takes seconds per call); the client when the API does not answer.
fn wait_active_on(os: &OpenStack, name: &str, hosts: &[&str], timeout: Duration) -> f64 {
    wait_for(&format!("{name} ACTIVE on {hosts:?}"), timeout, || {
        let (status, host) = match os.api_servers() {
            Some(rows) => {
                let row = rows.into_iter().find(|r| r.name == name)?;
                (row.status, row.host)
            }
            None => os.server_state(name)?,
        };
        (status == "ACTIVE" && hosts.contains(&host.as_str())).then(now)
    })
}

/// Kills virt-node-02.maas, waits for bionic-1 ACTIVE on another host, then reads each phase
/// from the records.
fn host_round(os: &OpenStack) -> HostRound {
    let victim = compute(V02);
    let node = victim.node;
    let died = os.kill_compute(node);
    let active = wait_active_on(os, "bionic-1", &[V01, V10], Duration::from_secs(400));
    let fenced = wait_for(
        "the fencers to record the fencing of virt-node-02.maas",
        Duration::from_secs(60),
        || {
            fence_history(&os.cluster)
                .into_iter()
                .filter(|e| e.target == node && e.succeeded && e.completed >= died)
                .map(|e| e.completed)
                .reduce(f64::min)
        },
    );
    let detected = [
        logged(
            os,
            &["Timed out waiting for remote poke response from", node],
            died,
        ),
        logged(
            os,
            &["Lost connection to Pacemaker Remote node", node],
            died,
        ),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::min);
    let decided = logged(os, &[&format!("Remote node {node} will be fenced")], died);
    let maas_confirmed = logged(
        os,
        &[
            &format!("targeting {node} using {POWER_DEVICE} returned 0"),
            "Operation 'off'",
        ],
        died,
    );
    let notified = os
        .notification_accepted_after(died)
        .expect("Masakari accepted a host notification");
    let evacuate = os
        .server_action_at("bionic-1", "evacuate")
        .expect("nova recorded the evacuation");
    let after = |t: Option<f64>| t.map_or(f64::NAN, |t| t - died);
    HostRound {
        detected: after(detected),
        decided: after(decided),
        powered_off: after(maas_confirmed),
        fenced: fenced - died,
        notified: notified - died,
        evacuate: evacuate - died,
        active: active - died,
    }
}

/// Kills bionic-1's qemu on virt-node-02.maas and waits for it to run and be ACTIVE again.
fn crash_round(os: &OpenStack) -> CrashRound {
    let node = compute(V02).node;
    // Masakari refuses the same instance's failure again within its duplicate window.
    let last = os
        .notifications()
        .iter()
        .map(|n| n.generated_at)
        .fold(0.0, f64::max);
    wait_for(
        "Masakari's duplicate window to pass",
        Duration::from_secs(30),
        || (now() > last + DUPLICATE_WINDOW + 1.0).then_some(()),
    );
    let instance = os.instance_name("bionic-1");
    let old = os.qemu_pids(node, &instance);
    assert_eq!(old.len(), 1, "one qemu for bionic-1: {old:?}");
    let killed = now();
    os.cluster
        .run(node, &["kill", "-9", &old[0].to_string()])
        .expect_ok();
    let (_, qemu) = os.wait_new_qemu(node, &instance, &old, Duration::from_secs(180));
    let active = wait_active_on(os, "bionic-1", &[V02], Duration::from_secs(60));
    let notified = os
        .notification_accepted_after(killed)
        .expect("Masakari accepted a notification for bionic-1");
    CrashRound {
        notified: notified - killed,
        qemu: qemu - killed,
        active: active - killed,
    }
}

fn host_setting(
    os: &OpenStack,
    label: &str,
    settings: HostSettings,
    hostmonitor: bool,
) -> Vec<HostRound> {
    let remotes: Vec<&str> = COMPUTES.iter().map(|c| c.node).collect();
    let mut out = Vec::new();
    for round in 1..=rounds() {
        setup_round(os, settings);
        // After fresh_with: every host is up, so every connection resource takes it.
        if settings.remote_monitor != REMOTE_MONITOR {
            os.cluster
                .set_remote_monitor(&remotes, settings.remote_monitor);
        }
        if hostmonitor {
            // As systemd would at boot: the failed host's monitor came back with it.
            for c in COMPUTES {
                os.start_masakari_monitor(c, Monitor::Host, "");
            }
            // Each monitor has made its first check (start_masakari_monitor waits for it) and
            // checks again every HOSTMONITOR_INTERVAL. Killed at once, every round would meet
            // the longest wait for the next check; the rounds' kills are spread evenly over the
            // cycle instead (10, 30, 50 s after it for 3 rounds), so the median is the expected
            // case. A deliberate delay of the experiment, not a synchronisation.
            let phase = (round as f64 - 0.5) / rounds() as f64 * HOSTMONITOR_INTERVAL;
            eprintln!(
                "bench: {label} round {round}: the node dies {phase:.0}s into the monitors' cycle"
            );
            std::thread::sleep(Duration::from_secs_f64(phase));
        }
        let r = host_round(os);
        let phases: Vec<String> = HOST_PHASES
            .iter()
            .map(|(name, f)| format!("{name} {:.1}s", f(&r)))
            .collect();
        eprintln!("bench: {label} round {round}: {}", phases.join(", "));
        out.push(r);
    }
    if hostmonitor {
        for c in COMPUTES {
            os.stop_masakari_monitor(c, Monitor::Host);
        }
    }
    if settings.remote_monitor != REMOTE_MONITOR {
        os.fresh();
        os.cluster.set_remote_monitor(&remotes, REMOTE_MONITOR);
    }
    out
}

fn crash_setting(os: &OpenStack, label: &str) -> Vec<CrashRound> {
    setup_round(os, DEFAULTS);
    os.openstack(&["server", "set", "--property", "HA_Enabled=True", "bionic-1"])
        .expect_ok();
    (1..=crash_rounds())
        .map(|round| {
            let r = crash_round(os);
            eprintln!(
                "bench: {label} round {round}: notified {:.2}s, new qemu {:.2}s, ACTIVE {:.2}s",
                r.notified, r.qemu, r.active
            );
            r
        })
        .collect()
}

/// A process's CPU time (user + system, its finished children included) in seconds and its
/// resident memory in KiB, from /proc in `node`.
fn usage(os: &OpenStack, node: &str, pid: u32) -> Option<(f64, u64)> {
    let out = os
        .cluster
        .sh(
            node,
            &format!("cat /proc/{pid}/stat; grep VmRSS /proc/{pid}/status"),
        )
        .stdout;
    let (stat, status) = out.split_once('\n')?;
    let cpu = oxha_harness::proc_stat::ProcStat::parse(stat)?.cpu_seconds();
    let rss = status.split_whitespace().nth(1)?.parse().ok()?;
    Some((cpu, rss))
}

/// The resident memory (KiB) of every process of `node` whose command line matches `pattern`.
fn rss_of(os: &OpenStack, node: &str, pattern: &str) -> u64 {
    let out = os
        .cluster
        .sh(
            node,
            &format!(
                "for p in $(pgrep -f '{pattern}'); do grep VmRSS /proc/$p/status; done 2>/dev/null"
            ),
        )
        .stdout;
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// What watching one idle host's guests costs: (CPU seconds per hour, resident KiB), for
/// masakari-restart (the agent processes and their virsh, run by pacemaker-remoted, whose
/// children's CPU is counted when they end; its memory while a monitor listens) and for
/// masakari-instancemonitor (its daemon), measured over the same two minutes.
fn monitor_cost(os: &OpenStack) -> [(f64, u64); 2] {
    setup_round(os, DEFAULTS);
    let c: Compute = compute(V02);
    os.start_masakari_monitor(c, Monitor::Instance, "");
    let remoted = os
        .cluster
        .sh(c.node, "pgrep -o -f pacemaker-remoted")
        .stdout
        .trim()
        .parse::<u32>()
        .expect("pacemaker-remoted runs on the compute host");
    let monitor = os
        .masakari_monitor_pid(c, Monitor::Instance)
        .expect("masakari-instancemonitor runs");
    let (remoted_before, _) = usage(os, c.node, remoted).expect("pacemaker-remoted's usage");
    let (monitor_before, _) = usage(os, c.node, monitor).expect("instancemonitor's usage");
    let started = now();
    let mut agent_rss = 0;
    wait_for(
        "the measurement window to pass",
        COST_WINDOW + Duration::from_secs(30),
        || {
            agent_rss = agent_rss.max(
                rss_of(os, c.node, "[o]xha/masakari-restart")
                    + rss_of(os, c.node, "[v]irsh.* event"),
            );
            (now() - started >= COST_WINDOW.as_secs_f64()).then_some(())
        },
    );
    let elapsed = now() - started;
    let (remoted_after, _) = usage(os, c.node, remoted).expect("pacemaker-remoted's usage");
    let (monitor_after, monitor_rss) = usage(os, c.node, monitor).expect("instancemonitor's usage");
    os.stop_masakari_monitor(c, Monitor::Instance);
    let per_hour = |cpu: f64| cpu / elapsed * 3600.0;
    [
        (per_hour(remoted_after - remoted_before), agent_rss),
        (per_hour(monitor_after - monitor_before), monitor_rss),
    ]
}

#[test]
#[ignore = "a benchmark: bench/instance-ha/run"]
fn instance_recovery() {
    let os = OpenStack::start();
    // (setting, label, rounds): the setting names the ratios below use.
    let mut host: Vec<(&str, &str, Vec<HostRound>)> = Vec::new();
    let mut crash: Vec<(&str, Vec<CrashRound>)> = Vec::new();

    // Guest crashes first (every host up).
    if wanted("restart") {
        crash.push((
            "masakari-restart, defaults (events, nova_stop)",
            crash_setting(&os, "restart"),
        ));
    }
    if wanted("restart-no-nova-stop") {
        os.set_restart_param("nova_stop", Some("false"));
        crash.push((
            "masakari-restart, nova_stop=false",
            crash_setting(&os, "restart-no-nova-stop"),
        ));
        os.set_restart_param("nova_stop", None);
    }
    if wanted("instancemonitor") {
        os.set_masakari_restart(false);
        os.start_masakari_monitor(compute(V02), Monitor::Instance, "");
        crash.push((
            "masakari-instancemonitor",
            crash_setting(&os, "instancemonitor"),
        ));
        os.stop_masakari_monitor(compute(V02), Monitor::Instance);
        os.set_masakari_restart(true);
    }
    let cost = wanted("cost").then(|| monitor_cost(&os));

    // Host failures.
    let forced = HostSettings {
        nova_force_down: true,
        masakari_wait: 0,
        ..DEFAULTS
    };
    if wanted("oxha") {
        let documented = HostSettings {
            masakari_wait: 0,
            ..DEFAULTS
        };
        host.push((
            "oxha",
            "fence_maas + fence_masakari (waits for nova to count the host down), wait 0 s",
            host_setting(&os, "oxha", documented, false),
        ));
    }
    if wanted("oxha-no-down-wait") {
        os.set_fence_masakari_param("nova_down_wait", Some("0"));
        host.push((
            "oxha-no-down-wait",
            "fence_maas + fence_masakari nova_down_wait=0, wait 12 s",
            host_setting(&os, "oxha-no-down-wait", DEFAULTS, false),
        ));
        os.set_fence_masakari_param("nova_down_wait", None);
    }
    if wanted("oxha-forced-down") {
        host.push((
            "oxha-forced-down",
            "fence_maas + fence_masakari nova_force_down, wait 0 s",
            host_setting(&os, "oxha-forced-down", forced, false),
        ));
    }
    if wanted("oxha-forced-down-fast") {
        let fast = HostSettings {
            remote_monitor: FAST_REMOTE_MONITOR,
            ..forced
        };
        host.push((
            "oxha-forced-down-fast",
            "same, remote connection monitor 1 s / timeout 2 s",
            host_setting(&os, "oxha-forced-down-fast", fast, false),
        ));
    }
    if wanted("hostmonitor") {
        os.set_fence_masakari(false);
        host.push((
            "hostmonitor",
            "masakari-hostmonitor (charm config) + fence_maas, wait 12 s",
            host_setting(&os, "hostmonitor", DEFAULTS, true),
        ));
        os.set_fence_masakari(true);
    }
    os.fresh();

    println!(
        "\nnode death → instance ACTIVE elsewhere (medians of {} rounds, seconds after the death; remote connection monitor {} / timeout {} unless said)\n",
        rounds(),
        REMOTE_MONITOR.0,
        REMOTE_MONITOR.1
    );
    let names: Vec<&str> = HOST_PHASES.iter().map(|(n, _)| *n).collect();
    println!("| setting | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    let mut host_medians = std::collections::HashMap::new();
    for (setting, label, rs) in &host {
        let row: Vec<f64> = HOST_PHASES
            .iter()
            .map(|(_, f)| median(rs.iter().map(f).collect()))
            .collect();
        let cells: Vec<String> = row.iter().map(|m| format!("{m:.1}")).collect();
        println!("| {label} | {} |", cells.join(" | "));
        host_medians.insert(*setting, row[row.len() - 1]);
    }
    println!(
        "\nguest crash → instance running again (medians of {} rounds, seconds after the kill)\n",
        crash_rounds()
    );
    println!("| setting | Masakari notified | new qemu | ACTIVE |");
    println!("|---|---|---|---|");
    let mut crash_medians = Vec::new();
    for (label, rs) in &crash {
        let m = |f: fn(&CrashRound) -> f64| median(rs.iter().map(f).collect());
        let row = (m(|r| r.notified), m(|r| r.qemu), m(|r| r.active));
        println!("| {label} | {:.2} | {:.2} | {:.2} |", row.0, row.1, row.2);
        crash_medians.push(row.2);
    }
    if let Some([(restart_cpu, restart_rss), (monitor_cpu, monitor_rss)]) = cost {
        println!(
            "\nwatching one host's guests, idle, over {} s\n",
            COST_WINDOW.as_secs()
        );
        println!("| monitor | CPU seconds per hour | resident memory |");
        println!("|---|---|---|");
        println!("| masakari-restart (agent and virsh, while listening) | {restart_cpu:.1} | {restart_rss} KiB |");
        println!("| masakari-instancemonitor | {monitor_cpu:.1} | {monitor_rss} KiB |");
    }
    let ratios: Vec<String> = [
        ("oxha", "hostmonitor", "oxha / hostmonitor"),
        (
            "oxha-no-down-wait",
            "hostmonitor",
            "oxha with nova_down_wait=0 and Masakari's wait 12 s / hostmonitor",
        ),
        (
            "oxha-forced-down",
            "hostmonitor",
            "oxha with forced_down / hostmonitor",
        ),
        (
            "oxha-forced-down-fast",
            "hostmonitor",
            "forced_down with the 1 s / 2 s monitor / hostmonitor",
        ),
    ]
    .iter()
    .filter_map(|(a, b, what)| {
        Some(format!(
            "{what} {:.2}",
            host_medians.get(a)? / host_medians.get(b)?
        ))
    })
    .collect();
    if !ratios.is_empty() {
        println!("\nratios, node death → ACTIVE: {}", ratios.join(", "));
    }
    if let [default, no_stop, monitor] = crash_medians[..] {
        println!("ratios, guest crash → ACTIVE: masakari-restart defaults / instancemonitor {:.2}, nova_stop=false / instancemonitor {:.2}",
            default / monitor, no_stop / monitor);
    }
}
