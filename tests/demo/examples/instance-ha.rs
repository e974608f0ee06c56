//! `make demo`: the deployment walkthrough's instance-HA chapter told on the real stack
//! (`tests/openstack-env`): Pacemaker with oxha's agents, Debian's OpenStack driven by the real
//! `openstack` client, and the walkthrough's commands and tables. `tests/demo/run` builds and
//! stages the agents, then runs this with `OXHA_KEEP_CLUSTER` set, so the cluster and the
//! OpenStack outlive it until `make demo-clean`.
//!
//! 1. the stack starts (progress lines, cold or warm start time);
//! 2. `openstack compute service list`, Pacemaker's view, segment S1 (`reserved_host`,
//!    virt-node-01.maas reserved and disabled), bionic-1 booted on virt-node-02.maas;
//! 3. instance restart: `HA_Enabled=True`, its qemu `kill -9`ed, masakari-restart notifies,
//!    Masakari restarts it through nova;
//! 4. host failure: virt-node-02.maas loses power, fence_maas → fence_masakari → Masakari
//!    evacuates bionic-1 to the reserved host; node death → fenced → notified → ACTIVE.
//!
//! `OXHA_DEMO_FORCE_DOWN=1` runs act 4 with fence_masakari's `nova_force_down=true` and
//! Masakari's `wait_period_after_service_update = 0`.

use oxha_harness::wait_for;
use oxha_multinode::now;
use oxha_openstack_env::{
    cache_dir, compute, segment_host_list, OpenStack, COMPUTES, COMPUTE_SERVICE_FORCED_LIST,
    COMPUTE_SERVICE_LIST, MASAKARI_DEVICE, POWER_DEVICE,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const V01: &str = "virt-node-01.maas";
const V02: &str = "virt-node-02.maas";
const V10: &str = "virt-node-10.maas";

fn step(n: &mut u32, what: &str) {
    *n += 1;
    println!("\n\x1b[1m==> [{n}] {what}\x1b[0m");
}

fn info(line: &str) {
    println!("    {line}");
}

fn indented(text: &str) {
    for line in text.lines() {
        println!("      {line}");
    }
}

/// Runs the real client in the control node and prints the command and what it printed.
fn show(os: &OpenStack, args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.to_string()
            }
        })
        .collect();
    println!("    $ openstack {}", quoted.join(" "));
    let r = os.openstack(args);
    indented(&r.stdout);
    if !r.ok() {
        indented(&r.stderr);
        panic!("openstack {} failed (exit {})", quoted.join(" "), r.code);
    }
    r.stdout
}

/// Runs a command in a cluster node and prints it.
fn show_in(os: &OpenStack, node: &str, argv: &[&str]) -> String {
    println!("    [{node}] $ {}", argv.join(" "));
    let r = os.cluster.run(node, argv);
    indented(&r.stdout);
    indented(&r.stderr);
    r.stdout
}

fn secs(t: f64) -> String {
    format!("{t:.1} s")
}

fn main() {
    let link = PathBuf::from(std::env::var("OXHA_DEMO_STATE").unwrap_or("/tmp/oxha-demo".into()));
    let force_down = std::env::var_os("OXHA_DEMO_FORCE_DOWN").is_some();
    let mut n = 1; // step 1 is the build, in tests/demo/run

    step(
        &mut n,
        "Start the cluster and the OpenStack (Debian 12's Zed packages)",
    );
    info("3 cluster nodes (corosync + pacemaker), 3 pacemaker-remote compute hosts named as in the walkthrough");
    info("(libvirtd with qemu TCG + nova-compute each, one shared instances_path), a control node with");
    info("MariaDB, RabbitMQ, keystone, glance, placement, neutron-api, nova, masakari; the MAAS simulator");
    let cached = std::fs::read_dir(cache_dir())
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("control-"))
        })
        .unwrap_or(false);
    info(if cached {
        "databases cached from an earlier run: a warm start (about a minute)"
    } else {
        "no cached databases: a cold start (the bootstrap creates them, about two minutes)"
    });
    // Where the cluster will keep its state (tests/multinode), linked before it starts, so
    // that make demo-clean finds it even if the start fails half-way.
    point_at(
        &link,
        &std::env::temp_dir().join(format!("oxha-mn-{}", std::process::id())),
    );
    let started = Instant::now();
    let os = OpenStack::start();
    let took = started.elapsed().as_secs_f64();
    point_at(&link, os.state_dir());
    info(&format!(
        "stack ready after {took:.0} s ({} start); state and logs in {}",
        if cached { "warm" } else { "cold" },
        os.state_dir().display()
    ));

    step(&mut n, "The compute services nova sees");
    show(&os, COMPUTE_SERVICE_LIST);

    step(&mut n, "Pacemaker: the compute hosts as remote nodes, fence_maas then fence_masakari per host, masakari-restart cloned");
    show_in(&os, "node1", &["crm_mon", "-1", "--exclude=summary"]);
    show_in(
        &os,
        "node1",
        &["cibadmin", "--query", "--scope", "fencing-topology"],
    );
    info(&format!(
        "each level: {POWER_DEVICE} (MAAS power off, confirmed) then {MASAKARI_DEVICE} (notifies Masakari)"
    ));

    step(&mut n, "Segment S1 (reserved_host), as in the walkthrough");
    show(
        &os,
        &["segment", "create", "S1", "reserved_host", "COMPUTE"],
    );
    show(
        &os,
        &["segment", "host", "create", V10, "COMPUTE", "SSH", "S1"],
    );
    show(
        &os,
        &["segment", "host", "create", V02, "COMPUTE", "SSH", "S1"],
    );
    show(
        &os,
        &[
            "segment",
            "host",
            "create",
            "--reserved",
            "True",
            V01,
            "COMPUTE",
            "SSH",
            "S1",
        ],
    );
    show(
        &os,
        &[
            "compute",
            "service",
            "set",
            "--disable",
            V01,
            "nova-compute",
        ],
    );
    show(&os, &["segment", "list"]);
    show(&os, &segment_host_list("S1"));
    show(&os, COMPUTE_SERVICE_LIST);

    step(
        &mut n,
        "Boot bionic-1 on virt-node-02.maas (image tiny: a boot sector that halts)",
    );
    info(&format!(
        "$ openstack --os-compute-api-version 2.74 server create --image tiny --flavor m1.tiny --nic none --host {V02} --wait bionic-1"
    ));
    os.boot_server("bionic-1", V02);
    show(
        &os,
        &[
            "server",
            "show",
            "bionic-1",
            "-c",
            "OS-EXT-SRV-ATTR:host",
            "-c",
            "OS-EXT-SRV-ATTR:instance_name",
        ],
    );

    restart_act(&os, &mut n);
    evacuation_act(&os, &mut n, force_down);

    step(
        &mut n,
        "The cluster and the OpenStack keep running. Look around:",
    );
    let state = os.state_dir().display().to_string();
    let mc = "tests/multinode/scripts/mcluster";
    let env = "$PWD/tests/openstack-env/scripts/openstack-env";
    info(&format!("crm_mon:    {mc} exec {state} node1 crm_mon"));
    info(&format!(
        "openstack:  {mc} exec {state} control {env} os {state} server list"
    ));
    info("            (any openstack command: compute service list, segment host list S1, notification list, ...)");
    info(&format!("reinsert {V02} (power on, Pacemaker, libvirtd + nova-compute, then the walkthrough's commands):"));
    info(&format!("            {mc} boot {state} {V02}"));
    info(&format!(
        "            {mc} exec {state} node1 crm resource cleanup {V02}"
    ));
    info(&format!(
        "            {mc} exec {state} {V02} {env} compute {state} {V02} {}",
        compute(V02).addr
    ));
    if force_down {
        info(&format!(
            "            openstack --os-compute-api-version 2.53 compute service set --up {V02} nova-compute"
        ));
    }
    info(&format!(
        "            openstack compute service set --enable {V02} nova-compute"
    ));
    info(&format!(
        "            openstack segment host update --on_maintenance=False S1 {V02}"
    ));
    info(&format!(
        "logs:       {state}/openstack/logs/, {state}/nodes/<node>/pacemaker.log ({} links there)",
        link.display()
    ));
    info("stop it:    make demo-clean");
}

/// The walkthrough's instance restart: bionic-1 gets HA_Enabled, its qemu is killed, and
/// masakari-restart + Masakari start it again on the same host.
fn restart_act(os: &OpenStack, n: &mut u32) {
    step(
        n,
        "Act 1: an instance crashes (the walkthrough's \"instance restart\")",
    );
    show(
        os,
        &["server", "set", "--property", "HA_Enabled=True", "bionic-1"],
    );
    let node = compute(V02).node;
    let instance = os.instance_name("bionic-1");
    let guest = format!("guest={instance},");
    let old = os.qemu_pids(node, &instance);
    show_in(os, node, &["pgrep", "-f", &guest]);
    let Some(pid) = old.first() else {
        panic!("no qemu runs bionic-1 ({instance}) on {node}")
    };
    let killed = now();
    show_in(os, node, &["kill", "-9", &pid.to_string()]);
    info("masakari-restart (ocf:oxha:masakari-restart, cloned on the compute hosts) sees the domain crashed,");
    info("posts a VM notification (STOPPED_FAILED); Masakari stops and starts the server through nova");
    let (_, new_qemu) = os.wait_new_qemu(node, &instance, &old, Duration::from_secs(120));
    let active = os.wait_server_host("bionic-1", V02, Duration::from_secs(120));
    // When masakari-api accepted it (its log, to the millisecond).
    let notified = os.notification_accepted_after(killed).map(|at| at - killed);
    show_in(os, node, &["pgrep", "-f", &guest]);
    show(
        os,
        &[
            "notification",
            "list",
            "-c",
            "type",
            "-c",
            "status",
            "-c",
            "generated_time",
            "-c",
            "payload",
        ],
    );
    show(
        os,
        &[
            "server",
            "show",
            "bionic-1",
            "-c",
            "status",
            "-c",
            "OS-EXT-SRV-ATTR:host",
        ],
    );
    info(&format!(
        "qemu killed → Masakari notified {} → new qemu {} → ACTIVE {} (same host, {V02})",
        notified.map_or("?".into(), secs),
        secs(new_qemu - killed),
        secs(active - killed)
    ));
}

/// The walkthrough's host failure with a reserved host: virt-node-02.maas loses power.
fn evacuation_act(os: &OpenStack, n: &mut u32, force_down: bool) {
    step(
        n,
        "Act 2: virt-node-02.maas loses power (the walkthrough's reserved_host evacuation)",
    );
    if force_down {
        info("OXHA_DEMO_FORCE_DOWN: fence_masakari nova_force_down=true, Masakari wait_period_after_service_update = 0");
        os.set_nova_force_down(true);
        os.set_masakari_wait(0);
    }
    info("every process of its node is killed at once (qemu included); Pacemaker's connection to it fails,");
    info("the survivors fence it: fence_maas asks MAAS to power it off and waits until MAAS says off,");
    info("then fence_masakari (same fencing level) tells Masakari; Masakari disables it in nova,");
    info("enables the reserved host, and evacuates bionic-1 there (shared instances_path)");
    let (rec, landed) = os.fail_host(compute(V02), "bionic-1", &[V01, V10]);
    // When masakari-api accepted fence_masakari's notification (its log, to the millisecond).
    let notified = os
        .notification_accepted_after(rec.died_at)
        .map(|at| at - rec.died_at);
    info(&format!(
        "node death → fenced (MAAS off) {} → Masakari notified {} → bionic-1 ACTIVE on {landed} {}",
        rec.fenced.map_or("?".into(), secs),
        notified.map_or("?".into(), secs),
        rec.active.map_or("?".into(), secs)
    ));
    show_in(os, "node1", &["stonith_admin", "--history", V02]);
    info(&format!(
        "MAAS power events for {V02}: {}",
        os.cluster.maas_events(V02).join("; ")
    ));
    // nova counts the service down once service_down_time has passed since its last heartbeat
    // (at once with forced_down); Masakari has already disabled it.
    wait_for(
        &format!("nova to show {V02} down"),
        Duration::from_secs(60),
        || {
            os.compute_service_table()
                .rows
                .iter()
                .any(|r| {
                    r.first().map(String::as_str) == Some(V02)
                        && r.get(2).map(String::as_str) == Some("down")
                })
                .then_some(())
        },
    );
    if force_down {
        show(os, COMPUTE_SERVICE_FORCED_LIST);
    } else {
        show(os, COMPUTE_SERVICE_LIST);
    }
    show(os, &segment_host_list("S1"));
    show(
        os,
        &["server", "show", "bionic-1", "-c", "OS-EXT-SRV-ATTR:host"],
    );
    show(
        os,
        &[
            "notification",
            "list",
            "-c",
            "type",
            "-c",
            "status",
            "-c",
            "generated_time",
        ],
    );
    let instance = os.instance_name("bionic-1");
    let running: Vec<&str> = COMPUTES
        .iter()
        .filter(|c| !os.qemu_pids(c.node, &instance).is_empty())
        .map(|c| c.host)
        .collect();
    info(&format!("qemu processes running bionic-1: on {running:?}"));
}

/// `OXHA_DEMO_STATE` (a symlink) names the cluster's state directory for `make demo-clean`.
fn point_at(link: &Path, state: &Path) {
    let _ = std::fs::remove_file(link);
    if let Err(e) = std::os::unix::fs::symlink(state, link) {
        eprintln!(
            "demo: cannot link {} to {}: {e}",
            link.display(),
            state.display()
        );
    }
}
