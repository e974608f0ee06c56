//! What a violation needs to be understood after the cloud is gone: the cluster's, MAAS's and
//! OpenStack's logs kept in one archive under `target/`, and the network as the nodes saw it
//! when Pacemaker lost a host no fault had touched.

use oxha_multinode::FULL_NODES;
use oxha_openstack_env::OpenStack;
use std::path::PathBuf;
use std::process::Command;

/// Keeps the run's logs (power and link log, every node's pacemaker.log, the MAAS simulator's
/// requests and events, OpenStack's logs) in `target/soak-evidence/seed-SEED-EPOCH.tar.gz`.
pub fn keep(os: &OpenStack, seed: u64) -> Result<PathBuf, String> {
    let dir = oxha_harness::workspace_root().join("target/soak-evidence");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(format!(
        "seed-{seed}-{}.tar.gz",
        oxha_multinode::now() as u64
    ));
    let state = os.state_dir();
    let wanted: Vec<String> = [
        "power.log",
        "maas-sim.log",
        "maas-events",
        "nodes",
        "openstack/logs",
    ]
    .into_iter()
    .filter(|p| state.join(p).exists())
    .map(str::to_string)
    .collect();
    let out = Command::new("tar")
        .arg("czf")
        .arg(&file)
        .arg("-C")
        .arg(state)
        // Only logs: a node's directory also holds sockets and its daemons' state.
        .args([
            "--exclude=*.sock",
            "--exclude=*.pid",
            "--exclude=cib*",
            "--exclude=*.db",
        ])
        .args(&wanted)
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    // tar exits 1 when a file changed while it read it (logs still written): still an archive.
    match out.status.code() {
        Some(0) | Some(1) => Ok(file),
        _ => Err(format!(
            "tar: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("failed")
        )),
    }
}

/// The network as it was: the switch's ports (which node links exist, up or down, in which
/// bridge), the lost node's addresses, and every running full node's neighbour table.
pub fn network_snapshot(os: &OpenStack, node: &str) -> String {
    let mut out = String::new();
    let state = os.state_dir();
    if let Ok(pid) = std::fs::read_to_string(state.join("switch.pid")) {
        for argv in [&["ip", "-br", "link"][..], &["bridge", "link"][..]] {
            if let Ok(o) = Command::new("nsenter")
                .args(["-t", pid.trim(), "-n", "--"])
                .args(argv)
                .output()
            {
                out.push_str(&format!("switch$ {}\n", argv.join(" ")));
                out.push_str(&String::from_utf8_lossy(&o.stdout));
            }
        }
    }
    if os.cluster.running(node) {
        let r = os.cluster.run(node, &["ip", "-br", "addr"]);
        out.push_str(&format!("{node}$ ip -br addr\n{}", r.stdout));
    } else {
        out.push_str(&format!("{node}: not running\n"));
    }
    for full in FULL_NODES {
        if os.cluster.running(full) {
            let r = os.cluster.run(full, &["ip", "neigh"]);
            out.push_str(&format!("{full}$ ip neigh\n{}", r.stdout));
        }
    }
    out
}
