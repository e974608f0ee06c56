//! The Masakari test environment inside a test cluster node: the real Masakari API and engine
//! (Debian's python3-masakari: noauth2, SQLite, fake:// transport, both in one process),
//! libvirtd with five diskless TCG guests and, for the tests of keystone authentication, a real
//! keystone (Debian's python3-keystone under uwsgi, SQLite) whose catalog's `instance-ha`
//! endpoint is this Masakari (see `scripts/masakari-env` and `scripts/masakari_env.py`).
//!
//! There is no nova here, and no stand-in for one: Masakari's engine takes each notification
//! (a failed host goes on maintenance, its first step) and then fails its recovery flow at the
//! first nova call. Tests here assert what the agents and the Masakari API do; what the engine
//! then does through nova is asserted on a real OpenStack, in `tests/openstack-env`
//! (`instance_ha/main.rs`): the restart of a crashed HA_Enabled instance (`s1_instance_restart`),
//! the evacuation of a fenced host's instances (`s2`–`s4`). Masakari's API adds a host to a
//! segment only if nova knows it, so `up` writes the segment's hosts with Masakari's own object
//! layer; every other call goes through the API.
//!
//! This environment once had a keystone + nova stub. Where its assertions went:
//! * masakari-restart, "Masakari restarts the crashed guest" (stub nova's stop/start): the
//!   suite now ends at the stored `LIFECYCLE/STOPPED_FAILED` notification and restarts the
//!   guest itself; the restart through nova is `s1_instance_restart`.
//! * masakari-restart and fence_masakari keystone auth (a stub that took any password): this
//!   real keystone — its 401 for a wrong password, never shown; the catalog's endpoint, and a
//!   catalog miss for another region; one token per action.
//! * the multi-node `remote` scenario, "the engine finishes" (a stub nova without instances):
//!   the engine puts the host on maintenance; the evacuation is `s2`–`s4`.
//!
//! Everything runs in the node's namespaces, so the agents under test (run by Pacemaker or
//! with [`MasakariEnv::agent`]) reach Masakari at 127.0.0.1:15868, keystone at 127.0.0.1:15869
//! and libvirt at qemu:///system, and nothing touches the host. It all dies with the node.

use oxha_harness::{Cluster, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MASAKARI_URL: &str = "http://127.0.0.1:15868/v1";
pub const KEYSTONE_URL: &str = "http://127.0.0.1:15869/v3";
/// The agents' keystone credentials (the same constants as in `scripts/masakari_env.py`).
pub const KEYSTONE_USER: &str = "oxha";
pub const KEYSTONE_PASSWORD: &str = "k3ystone-S3cret";
pub const KEYSTONE_PROJECT: &str = "services";
pub const GUESTS: [(&str, &str); 5] = [
    ("guest1", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c01"),
    ("guest2", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c02"),
    ("guest3", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c03"),
    ("guest4", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c04"),
    ("guest5", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c05"),
];

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/masakari-env")
}

/// Where keystone's bootstrapped database and keys are kept between runs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("OXHA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| oxha_harness::workspace_root().join("target/oxha-cache"))
        .join("masakari-env")
}

pub fn uuid_of(guest: &str) -> &'static str {
    GUESTS
        .iter()
        .find(|(name, _)| *name == guest)
        .map(|(_, uuid)| *uuid)
        .unwrap_or_else(|| panic!("no test guest named {guest}"))
}

pub struct MasakariEnv {
    pub cluster: &'static Cluster,
    pub dir: PathBuf,
    keystone: std::sync::OnceLock<()>,
}

impl MasakariEnv {
    /// Starts everything inside `cluster`'s node; `hosts` are put in segment `seg1`.
    pub fn up(cluster: &'static Cluster, hosts: &[&str]) -> MasakariEnv {
        Self::start(cluster, hosts, true)
    }

    /// [`MasakariEnv::up`] with Masakari's `duplicate_notification_detection_interval` at
    /// `seconds` instead of its default 180 (what oxha documents: 10).
    pub fn up_with_duplicate_window(
        cluster: &'static Cluster,
        hosts: &[&str],
        seconds: u32,
    ) -> MasakariEnv {
        Self::start_with(cluster, hosts, true, Some(seconds))
    }

    /// Masakari only, for tests that need no guests (fencing).
    pub fn up_without_libvirt(cluster: &'static Cluster, hosts: &[&str]) -> MasakariEnv {
        Self::start(cluster, hosts, false)
    }

    fn start(cluster: &'static Cluster, hosts: &[&str], libvirt: bool) -> MasakariEnv {
        Self::start_with(cluster, hosts, libvirt, None)
    }

    fn start_with(
        cluster: &'static Cluster,
        hosts: &[&str],
        libvirt: bool,
        duplicate_window: Option<u32>,
    ) -> MasakariEnv {
        let dir = cluster.state_dir().join("masakari");
        let started = std::time::Instant::now();
        let script = script();
        let dir_s = dir.to_string_lossy().into_owned();
        let window = duplicate_window.map(|s| format!("MASAKARI_DUPLICATE_INTERVAL={s}"));
        let mut argv = vec!["env"];
        argv.extend(window.as_deref());
        argv.extend([script.to_str().unwrap_or("masakari-env"), "up", &dir_s]);
        if !libvirt {
            argv.push("--no-libvirt");
        }
        argv.extend_from_slice(hosts);
        let up = cluster.run(&argv);
        let env = MasakariEnv {
            cluster,
            dir,
            keystone: std::sync::OnceLock::new(),
        };
        assert!(
            up.ok(),
            "masakari environment did not come up: {up}\n{}",
            env.logs()
        );
        eprintln!(
            "masakari-env: up after {:.1}s",
            started.elapsed().as_secs_f64()
        );
        env
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let script = script();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut argv = vec![script.to_str().unwrap_or("masakari-env"), args[0], &dir];
        argv.extend_from_slice(&args[1..]);
        self.cluster.run(&argv)
    }

    /// One Masakari API call made inside the node.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> Result<Value, String> {
        let mut args = vec!["api", method, path];
        if let Some(b) = body {
            args.push(b);
        }
        let r = self.run(&args);
        serde_json::from_str(r.stdout.trim()).map_err(|e| format!("{e}: {r}"))
    }

    /// Every notification Masakari stored, oldest first.
    pub fn notifications(&self) -> Vec<Value> {
        let doc = self
            .api(
                "GET",
                "/notifications?sort_key=created_at&sort_dir=asc",
                None,
            )
            .unwrap_or_else(|e| panic!("listing notifications: {e}"));
        doc["notifications"].as_array().cloned().unwrap_or_default()
    }

    /// Notifications about one instance.
    pub fn notifications_for(&self, uuid: &str) -> Vec<Value> {
        self.notifications()
            .into_iter()
            .filter(|n| n["payload"]["instance_uuid"].as_str() == Some(uuid))
            .collect()
    }

    /// The uuid Masakari gave host `name`.
    pub fn host_uuid(&self, name: &str) -> String {
        let segments = self
            .api("GET", "/segments", None)
            .unwrap_or_else(|e| panic!("segments: {e}"));
        for seg in segments["segments"].as_array().into_iter().flatten() {
            let seg_uuid = seg["uuid"].as_str().unwrap_or_default();
            let hosts = self
                .api("GET", &format!("/segments/{seg_uuid}/hosts"), None)
                .unwrap_or_else(|e| panic!("hosts: {e}"));
            for h in hosts["hosts"].as_array().into_iter().flatten() {
                if h["name"].as_str() == Some(name) {
                    return h["uuid"].as_str().unwrap_or_default().to_string();
                }
            }
        }
        panic!("no Masakari host {name}")
    }

    /// Notifications whose source is host `name`.
    pub fn notifications_from(&self, name: &str) -> Vec<Value> {
        let uuid = self.host_uuid(name);
        self.notifications()
            .into_iter()
            .filter(|n| n["source_host_uuid"].as_str() == Some(uuid.as_str()))
            .collect()
    }

    /// Starts the real keystone (once per environment; the first start in a workspace
    /// bootstraps its database and caches it) and returns its URL.
    pub fn keystone(&self) -> &'static str {
        self.keystone.get_or_init(|| {
            let started = std::time::Instant::now();
            let cache = cache_dir().to_string_lossy().into_owned();
            let r = self.run(&["keystone", &cache]);
            assert!(r.ok(), "keystone did not come up: {r}\n{}", self.logs());
            eprintln!(
                "masakari-env: keystone up after {:.1}s",
                started.elapsed().as_secs_f64()
            );
        });
        KEYSTONE_URL
    }

    /// How many tokens keystone has issued (`POST /v3/auth/tokens` answered 201, from its
    /// request log).
    pub fn tokens_issued(&self) -> usize {
        std::fs::read_to_string(self.dir.join("keystone.out"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("POST /v3/auth/tokens") && l.contains("HTTP/1.1 201"))
            .count()
    }

    /// The status of every notification about `uuid` (new, running, error, ...).
    pub fn statuses_for(&self, uuid: &str) -> Vec<String> {
        self.notifications_for(uuid)
            .iter()
            .map(|n| n["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn virsh(&self, args: &[&str]) -> Run {
        let mut argv = vec!["env", "LC_ALL=C", "virsh", "-c", "qemu:///system"];
        argv.extend_from_slice(args);
        self.cluster.run(&argv)
    }

    /// `running (booted)`, `shut off (crashed)`, ...
    pub fn domstate(&self, guest: &str) -> String {
        self.virsh(&["domstate", "--reason", guest])
            .stdout
            .trim()
            .to_string()
    }

    /// Kills the guest's qemu with SIGKILL: libvirt sees it as a crash (Stopped Failed).
    pub fn crash(&self, guest: &str) {
        let pid = self
            .run(&["guest-pid", guest])
            .expect_ok()
            .stdout
            .trim()
            .to_string();
        self.cluster.run(&["kill", "-9", &pid]).expect_ok();
        oxha_harness::wait_for(
            &format!("{guest} to be crashed"),
            Duration::from_secs(20),
            || (self.domstate(guest) == "shut off (crashed)").then_some(()),
        );
    }

    /// Starts a guest again if it is not running (cleanup between tests).
    pub fn ensure_running(&self, guest: &str) {
        if !self.domstate(guest).starts_with("running") {
            self.virsh(&["start", guest]).expect_ok();
        }
    }

    pub fn masakari_stop(&self) {
        self.run(&["masakari-stop"]).expect_ok();
    }

    pub fn masakari_start(&self) {
        self.run(&["masakari-start"]).expect_ok();
    }

    /// Runs a staged OCF agent inside the node, as Pacemaker would (environment, no argv
    /// parameters).
    pub fn agent(&self, agent: &Path, action: &str, env: &[(&str, &str)]) -> Run {
        let mut argv: Vec<String> = vec!["env".into(), "OCF_ROOT=/usr/lib/ocf".into()];
        argv.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.push(agent.to_string_lossy().into_owned());
        argv.push(action.into());
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.cluster.run(&refs)
    }

    /// Tail of the environment's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "masakari.log",
            "masakari.out",
            "keystone.out",
            "keystone-bootstrap.out",
            "libvirtd.out",
        ] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(name)) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(25);
                out.push_str(&format!("--- {name}\n{}\n", lines[from..].join("\n")));
            }
        }
        out
    }
}
