//! Driving maas-sim from tests: start it inside a cluster node (where fence agents run), change
//! machines and faults at run time, read the power events. The simulator itself is the
//! `maas-sim` binary (src/main.rs), staged as `stage/tools/maas-sim`.

pub mod fixtures;

use oxha_harness::{wait_for, Cluster, Run};
use std::path::PathBuf;
use std::time::Duration;

/// A running simulator inside a cluster node, and where to reach it.
pub struct MaasSim {
    pub cluster: &'static Cluster,
    /// Holds the key file, the machines file, the event log and the simulator's output.
    pub dir: PathBuf,
    /// `127.0.0.1:<port>`, inside the node's network namespace.
    pub addr: String,
    pub port: String,
    pub key_file: String,
}

/// The staged simulator binary.
pub fn binary() -> String {
    oxha_harness::tool("maas-sim")
        .to_string_lossy()
        .into_owned()
}

impl MaasSim {
    /// Starts maas-sim in `cluster`'s node on a free loopback port, serving `machines` (JSON
    /// array) with `api_key`, power changes taking `power_delay_ms`.
    pub fn start(
        cluster: &'static Cluster,
        name: &str,
        machines: &str,
        api_key: &str,
        power_delay_ms: u32,
    ) -> MaasSim {
        let dir = std::env::temp_dir().join(format!("maas-sim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("simulator dir");
        let key_file = dir.join("maas.key");
        std::fs::write(&key_file, format!("{api_key}\n")).expect("key file");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
                .expect("chmod key file");
        }
        std::fs::write(dir.join("machines.json"), machines).expect("machines file");
        let d = dir.to_string_lossy();
        cluster
            .sh(&format!(
                "{} serve --listen 127.0.0.1:0 --port-file {d}/port --machines {d}/machines.json \
                 --api-key-file {d}/maas.key --power-delay-ms {power_delay_ms} --events {d}/events \
                 >{d}/sim.log 2>&1 </dev/null &",
                binary()
            ))
            .expect_ok();
        let port = wait_for("maas-sim to listen", Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("port"))
                .ok()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
        });
        MaasSim {
            cluster,
            addr: format!("127.0.0.1:{port}"),
            port,
            key_file: key_file.to_string_lossy().into_owned(),
            dir,
        }
    }

    /// `maas-sim ctl` against this simulator (the `/_sim/` control endpoints).
    pub fn ctl(&self, method: &str, path: &str, body: &str) -> Run {
        self.cluster
            .run(&[&binary(), "ctl", &self.addr, method, path, body])
    }

    /// Puts a machine back to Deployed, on, no fault, then applies `patch` (a JSON object).
    pub fn set(&self, machine: &str, patch: &str) {
        self.ctl(
            "POST",
            &format!("/_sim/machines/{machine}"),
            r#"{"fault": "", "power_state": "on", "status_name": "Deployed", "locked": false, "power_type": "ipmi"}"#,
        )
        .expect_ok();
        if !patch.is_empty() {
            self.ctl("POST", &format!("/_sim/machines/{machine}"), patch)
                .expect_ok();
        }
    }

    pub fn power_state(&self, machine: &str) -> String {
        let out = self
            .ctl("GET", &format!("/_sim/machines/{machine}"), "")
            .expect_ok()
            .stdout;
        let v: serde_json::Value = serde_json::from_str(&out).expect("machine JSON");
        v["power_state"].as_str().unwrap_or("").to_string()
    }

    /// Power events of one machine, in order (`compute-1 power_off`, `compute-1 off`, ...).
    pub fn events(&self, machine: &str) -> Vec<String> {
        let out = self.ctl("GET", "/_sim/events", "").expect_ok().stdout;
        out.lines()
            .filter(|l| l.starts_with(&format!("{machine} ")))
            .map(str::to_string)
            .collect()
    }

    /// Device options for a fence_maas resource talking to this simulator.
    pub fn device_options(&self) -> Vec<String> {
        vec![
            "ip=127.0.0.1".into(),
            format!("ipport={}", self.port),
            format!("api_key_file={}", self.key_file),
        ]
    }
}

/// A simulator on this machine's loopback (not in a cluster node), for tests that run the
/// staged agents directly. Killed when dropped.
pub struct LocalSim {
    child: std::process::Child,
    /// The simulator binary, which also runs `ctl`.
    binary: String,
    pub dir: PathBuf,
    pub addr: String,
    pub port: String,
    pub key_file: String,
}

impl LocalSim {
    /// The staged simulator (`make stage`).
    pub fn start(name: &str, machines: &str, api_key: &str, power_delay_ms: u32) -> LocalSim {
        LocalSim::start_binary(&binary(), name, machines, api_key, power_delay_ms)
    }

    /// The simulator at `binary` (the crate's own tests run the one cargo built).
    pub fn start_binary(
        binary: &str,
        name: &str,
        machines: &str,
        api_key: &str,
        power_delay_ms: u32,
    ) -> LocalSim {
        let dir =
            std::env::temp_dir().join(format!("maas-sim-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("simulator dir");
        let key_file = dir.join("maas.key");
        std::fs::write(&key_file, format!("{api_key}\n")).expect("key file");
        std::fs::write(dir.join("machines.json"), machines).expect("machines file");
        let log = std::fs::File::create(dir.join("sim.log")).expect("log file");
        let child = std::process::Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--port-file"])
            .arg(dir.join("port"))
            .arg("--machines")
            .arg(dir.join("machines.json"))
            .arg("--api-key-file")
            .arg(&key_file)
            .args(["--power-delay-ms", &power_delay_ms.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("maas-sim (run `make stage`)");
        let port = wait_for("maas-sim to listen", Duration::from_secs(10), || {
            std::fs::read_to_string(dir.join("port"))
                .ok()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
        });
        LocalSim {
            child,
            binary: binary.to_string(),
            addr: format!("127.0.0.1:{port}"),
            port,
            key_file: key_file.to_string_lossy().into_owned(),
            dir,
        }
    }

    pub fn ctl(&self, method: &str, path: &str, body: &str) -> Run {
        oxha_harness::run(&[&self.binary, "ctl", &self.addr, method, path, body])
    }

    /// An API request (`path` below `/MAAS/api/2.0/`, with its query), signed with the
    /// simulator's key; `form` goes urlencoded in the body.
    pub fn request(&self, method: &str, path: &str, form: &[(&str, &str)]) -> fixtures::Answer {
        let key = std::fs::read_to_string(&self.key_file).expect("key file");
        let mut headers = vec![("Authorization", fixtures::oauth_header(&key))];
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        if !form.is_empty() {
            headers.push((
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ));
        }
        fixtures::http(
            &self.addr,
            method,
            &format!("/MAAS/api/2.0/{path}"),
            &headers,
            &body,
        )
    }

    /// Merges `patch` (a JSON object) into a machine.
    pub fn set(&self, machine: &str, patch: &str) {
        self.ctl("POST", &format!("/_sim/machines/{machine}"), patch)
            .expect_ok();
    }

    /// Power events of one machine, in order.
    pub fn events(&self, machine: &str) -> Vec<String> {
        let out = self.ctl("GET", "/_sim/events", "").expect_ok().stdout;
        out.lines()
            .filter(|l| l.starts_with(&format!("{machine} ")))
            .map(str::to_string)
            .collect()
    }

    /// Every power event with its time: (seconds since the epoch, `hostname event`).
    pub fn timed_events(&self) -> Vec<(f64, String)> {
        timed(
            &self
                .ctl("GET", "/_sim/events?time=1", "")
                .expect_ok()
                .stdout,
        )
    }

    /// Every API request with the time it was answered: (seconds since the epoch,
    /// `METHOD path op=OP status`).
    pub fn timed_requests(&self) -> Vec<(f64, String)> {
        timed(
            &self
                .ctl("GET", "/_sim/requests?time=1", "")
                .expect_ok()
                .stdout,
        )
    }

    /// Changes the region-wide settings (`power_delay_ms`, `rate_per_s`, `rate_burst`,
    /// `reset_counters`) and returns them with the counters.
    pub fn region(&self, patch: &str) -> serde_json::Value {
        let out = self.ctl("POST", "/_sim/region", patch).expect_ok().stdout;
        serde_json::from_str(&out).expect("region JSON")
    }
}

/// Parses `?time=1` log lines: `<epoch seconds> <rest>`.
pub fn timed(text: &str) -> Vec<(f64, String)> {
    text.lines()
        .filter_map(|l| {
            let (at, rest) = l.split_once(' ')?;
            Some((at.parse().ok()?, rest.to_string()))
        })
        .collect()
}

impl Drop for LocalSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
