//! The real Masakari (API + engine from tests/masakari-env, without libvirt; no nova, so the
//! engine stops at its first nova call) inside one node of the multi-node cluster. Its API listens on that node's 127.0.0.1:15868 only, so the
//! fence_masakari device must be kept on that node ([`Masakari::pin_device`]).

use crate::{MultiCluster, REMOTE_NODE};
use oxha_harness::Run;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use oxha_masakari_env::MASAKARI_URL;

/// The compute node's power fence device (fence_maas) in [`Masakari::compute_fencing`].
pub const POWER_DEV: &str = "fence_compute_power";
/// The compute node's Masakari notifier (fence_masakari) in [`Masakari::compute_fencing`].
pub const MASAKARI_DEV: &str = "fence_compute_masakari";
/// A workload kept on the compute node (ocf:pacemaker:Dummy).
pub const WORKLOAD: &str = "compute_workload";

pub struct Masakari<'c> {
    cluster: &'c MultiCluster,
    node: String,
    dir: PathBuf,
}

impl<'c> Masakari<'c> {
    /// Starts Masakari inside `node`, with `hosts` in segment `seg1`
    /// (the host names must be the Pacemaker node names: fence_masakari's plug). It dies with
    /// the node.
    pub fn start(cluster: &'c MultiCluster, node: &str, hosts: &[&str]) -> Masakari<'c> {
        let masakari = Masakari {
            cluster,
            node: node.to_string(),
            dir: cluster.state_dir().join("masakari"),
        };
        let started = Instant::now();
        let mut args = vec!["up", "--no-libvirt"];
        args.extend_from_slice(hosts);
        let up = masakari.env(&args);
        assert!(
            up.ok(),
            "Masakari did not come up in {node}: {up}\n{}",
            masakari.logs()
        );
        eprintln!(
            "masakari: up in {node} after {:.1}s",
            started.elapsed().as_secs_f64()
        );
        masakari
    }

    /// `masakari-env COMMAND DIR ARGS...` inside the node.
    fn env(&self, args: &[&str]) -> Run {
        let script = oxha_masakari_env::script();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut argv = vec![script.to_str().unwrap_or("masakari-env"), args[0], &dir];
        argv.extend_from_slice(&args[1..]);
        self.cluster.run(&self.node, &argv)
    }

    /// One API call, made inside the node.
    pub fn api(&self, method: &str, path: &str) -> Result<Value, String> {
        let r = self.env(&["api", method, path]);
        serde_json::from_str(r.stdout.trim()).map_err(|e| format!("{e}: {r}"))
    }

    /// Every notification Masakari stored, oldest first.
    pub fn notifications(&self) -> Vec<Value> {
        let doc = self
            .api("GET", "/notifications?sort_key=created_at&sort_dir=asc")
            .unwrap_or_else(|e| panic!("listing Masakari notifications: {e}"));
        doc["notifications"].as_array().cloned().unwrap_or_default()
    }

    /// Masakari's record of host `name` (uuid, on_maintenance, reserved, ...), or None when
    /// no segment has it or the API does not answer.
    pub fn host(&self, name: &str) -> Option<Value> {
        let segments = self.api("GET", "/segments").ok()?;
        for seg in segments["segments"].as_array().into_iter().flatten() {
            let seg_uuid = seg["uuid"].as_str().unwrap_or_default();
            let hosts = self
                .api("GET", &format!("/segments/{seg_uuid}/hosts"))
                .ok()?;
            for h in hosts["hosts"].as_array().into_iter().flatten() {
                if h["name"].as_str() == Some(name) {
                    return Some(h.clone());
                }
            }
        }
        None
    }

    /// Masakari in node1 with the remote nodes `remotes` as its hosts, started while the
    /// cluster's fencing is configured and the remote nodes join: Masakari's start (Python, a
    /// database migration) overlaps the cluster's own setup.
    pub fn start_with_remotes(cluster: &'c MultiCluster, remotes: &[&str]) -> Masakari<'c> {
        std::thread::scope(|s| {
            let masakari = s.spawn(|| Masakari::start(cluster, "node1", remotes));
            cluster.configure_fencing();
            cluster.add_remote_nodes(remotes);
            masakari
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The uuid Masakari gave host `name`.
    pub fn host_uuid(&self, name: &str) -> String {
        self.host(name)
            .and_then(|h| h["uuid"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("Masakari has no host {name}\n{}", self.logs()))
    }

    /// fence_masakari's device parameters for this Masakari (crm syntax).
    pub fn device_params(&self) -> String {
        format!("auth_mode=noauth masakari_url={MASAKARI_URL}")
    }

    /// A location constraint (crm syntax) keeping fence device `device` on the node Masakari
    /// runs in: the fencer registers (and runs) a device only where its resource may run, and
    /// only that node reaches the API on its loopback.
    pub fn pin_device(&self, device: &str) -> String {
        format!(
            "location {device}_on_{node} {device} rule -inf: #uname ne {node}\n",
            node = self.node
        )
    }

    /// The charms' fencing of a compute node (crm syntax): one topology level, [`POWER_DEV`]
    /// (fence_maas) then [`MASAKARI_DEV`] (fence_masakari, pinned to Masakari's node, its
    /// monitor every `notifier_monitor`), and [`WORKLOAD`] on `remote`.
    pub fn compute_fencing(&self, remote: &str, notifier_monitor: &str) -> String {
        let power_params = self.cluster.fence_params("stonith:fence_maas", &[remote]);
        format!(
            "primitive {POWER_DEV} stonith:fence_maas params {power_params} \\\n\
             \top monitor interval=120s\n\
             primitive {MASAKARI_DEV} stonith:fence_masakari \\\n\
             \tparams {masakari_params} pcmk_host_list={remote} \\\n\
             \top monitor interval={notifier_monitor}\n\
             {pin}\
             fencing_topology {remote}: {POWER_DEV},{MASAKARI_DEV}\n\
             primitive {WORKLOAD} ocf:pacemaker:Dummy op monitor interval=5s\n\
             location workload_on_compute {WORKLOAD} inf: {remote}\n",
            masakari_params = self.device_params(),
            pin = self.pin_device(MASAKARI_DEV),
        )
    }

    /// The tail of Masakari's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["masakari.log", "masakari.out", "db-sync.out"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(name)) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(25);
                out.push_str(&format!("--- {name}\n{}\n", lines[from..].join("\n")));
            }
        }
        out
    }
}

/// Nothing happened to [`REMOTE_NODE`] that only a confirmed power-off may cause: it stays
/// UNCLEAN, no fencing of it succeeded, [`WORKLOAD`] was not recovered elsewhere, Masakari was
/// told nothing, MAAS powered nothing off (`through`: what was tried, for the messages).
#[track_caller]
pub fn assert_nothing_recovered(cluster: &MultiCluster, masakari: &Masakari, through: &str) {
    let state = oxha_harness::wait_for("crm_mon on node1", Duration::from_secs(10), || {
        cluster.node_state("node1", REMOTE_NODE)
    });
    assert!(
        !state.online && state.unclean,
        "{REMOTE_NODE} must stay UNCLEAN through {through}: nothing confirmed it off: {state:?}"
    );
    assert_eq!(
        cluster.fence_attempts("node1", REMOTE_NODE).1,
        0,
        "a fencing through {through} succeeded"
    );
    let elsewhere: Vec<String> = cluster
        .active_on("node1", WORKLOAD)
        .into_iter()
        .filter(|n| n != REMOTE_NODE)
        .collect();
    assert!(
        elsewhere.is_empty(),
        "{WORKLOAD} recovered on {elsewhere:?} while {REMOTE_NODE} is unfenced ({through})"
    );
    assert!(
        masakari.notifications().is_empty(),
        "Masakari was told through {through}: {:?}",
        masakari.notifications()
    );
    assert!(
        !cluster
            .maas_events(REMOTE_NODE)
            .iter()
            .any(|e| e.starts_with("power_off")),
        "MAAS powered {REMOTE_NODE} off through {through}: {:?}",
        cluster.maas_events(REMOTE_NODE)
    );
}

/// Seconds since the epoch of a Masakari/OpenStack UTC timestamp
/// (`2026-11-25T03:20:01.123456`, optional fraction, optional `Z` or `+00:00`).
pub fn epoch_of(timestamp: &str) -> Option<f64> {
    let t = timestamp.trim();
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix("+00:00"))
        .unwrap_or(t);
    let (date, time) = t.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut hms = time.splitn(3, ':');
    let (h, m) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s = hms.next()?.parse::<f64>().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (era-based civil calendar).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + m * 60) as f64 + s)
}

#[cfg(test)]
mod tests {
    use super::epoch_of;

    #[test]
    fn timestamps() {
        assert_eq!(epoch_of("1970-01-01T00:00:00"), Some(0.0));
        assert_eq!(epoch_of("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        let t = epoch_of("2026-11-25T03:20:01.250000").unwrap_or_default();
        assert!((t - 1_795_576_801.25).abs() < 1e-6, "{t}");
        assert_eq!(epoch_of("2026-11-25 03:20:01+00:00"), Some(1_795_576_801.0));
        assert_eq!(epoch_of("yesterday"), None);
    }
}
