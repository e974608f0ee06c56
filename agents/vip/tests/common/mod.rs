//! The lab every vip integration test builds: a pair of network namespaces joined by a veth
//! pair (names unique to this process), the agent run inside the first ("node"), the second
//! ("peer") watching or playing another host. The namespaces and the lab's HA_RSCTMP directory
//! are deleted when the lab is dropped, pass or fail. Run `make stage` first.
#![allow(dead_code)]

use oxha_harness::{ocf_agent, run, run_env, Run};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Where the agents it replaces live (resource-agents).
pub const HEARTBEAT: &str = "/usr/lib/ocf/resource.d/heartbeat";

/// Two namespaces, `node` (interface `va`, 192.0.2.1/24, 2001:db8::1/64) and `peer`
/// (interface `vb`, .2 / ::2), joined by a veth pair.
pub struct Lab {
    pub node: String,
    pub peer: String,
    /// HA_RSCTMP of every agent run in this lab: state files of one test never meet another's.
    pub rsctmp: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("oxha-vip-{}-{n}", std::process::id());
        let lab = Lab {
            node: format!("{base}-node"),
            peer: format!("{base}-peer"),
            rsctmp: std::env::temp_dir().join(format!("{base}-rsctmp")),
        };
        std::fs::create_dir_all(&lab.rsctmp).expect("HA_RSCTMP for the lab");
        for ns in [&lab.node, &lab.peer] {
            run(&["ip", "netns", "add", ns]).expect_ok();
        }
        run(&[
            "ip", "link", "add", "va", "netns", &lab.node, "type", "veth", "peer", "name", "vb",
            "netns", &lab.peer,
        ])
        .expect_ok();
        for (ns, dev, n) in [(&lab.node, "va", 1), (&lab.peer, "vb", 2)] {
            // nodad on the base addresses: they are fixtures, not what is under test.
            for cmd in [
                "link set lo up".to_string(),
                format!("addr add 192.0.2.{n}/24 dev {dev}"),
                format!("addr add 2001:db8::{n}/64 dev {dev} nodad"),
                format!("link set {dev} up"),
            ] {
                let mut argv = vec!["ip", "-n", ns];
                argv.extend(cmd.split(' '));
                run(&argv).expect_ok();
            }
        }
        lab
    }

    pub fn ip(&self, ns: &str, args: &str) -> Run {
        let mut argv = vec!["ip", "-n", ns];
        argv.extend(args.split(' '));
        run(&argv)
    }

    /// `ip -o addr show dev <dev>` in a namespace.
    pub fn addrs(&self, ns: &str, dev: &str) -> String {
        self.ip(ns, &format!("-o addr show dev {dev}"))
            .expect_ok()
            .stdout
    }

    /// The MAC address of a namespace's veth end.
    pub fn mac(&self, ns: &str, dev: &str) -> String {
        self.ip(ns, &format!("-o link show dev {dev}"))
            .expect_ok()
            .stdout
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    /// Runs the staged vip agent in the node namespace with `OCF_RESKEY_<k>=<v>` for each param.
    pub fn agent(&self, action: &str, params: &[(&str, &str)]) -> Run {
        self.agent_env(action, params, &[])
    }

    pub fn agent_env(&self, action: &str, params: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
        let agent = ocf_agent("vip");
        assert!(
            agent.exists(),
            "{} missing: run `make stage` first",
            agent.display()
        );
        let mut r = self.run_agent(&self.node, &agent.to_string_lossy(), action, params, env);
        r.command = format!("vip {action} {params:?} {env:?}");
        r
    }

    /// Runs a resource-agents agent (`IPaddr2`, `IPv6addr`) in the node namespace.
    pub fn heartbeat(
        &self,
        agent: &str,
        action: &str,
        params: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Run {
        let path = format!("{HEARTBEAT}/{agent}");
        let mut r = self.run_agent(&self.node, &path, action, params, env);
        r.command = format!("{agent} {action} {params:?} {env:?}");
        r
    }

    /// Runs the staged vip agent in the peer namespace (the "other host").
    pub fn agent_on_peer(&self, action: &str, params: &[(&str, &str)]) -> Run {
        let agent = ocf_agent("vip");
        let mut r = self.run_agent(&self.peer, &agent.to_string_lossy(), action, params, &[]);
        r.command = format!("[peer] vip {action} {params:?}");
        r
    }

    fn run_agent(
        &self,
        ns: &str,
        agent: &str,
        action: &str,
        params: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Run {
        let rsctmp = self.rsctmp.join(ns);
        std::fs::create_dir_all(&rsctmp).expect("HA_RSCTMP");
        let mut vars: Vec<(String, String)> = vec![
            ("OCF_ROOT".into(), "/usr/lib/ocf".into()),
            ("OCF_RESOURCE_INSTANCE".into(), "vip-test".into()),
            ("HA_RSCTMP".into(), rsctmp.to_string_lossy().into_owned()),
        ];
        vars.extend(
            params
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_env(&["ip", "netns", "exec", ns, agent, action], &refs, None)
    }

    /// The announcer the last start in the node namespace left, as its pid file names it.
    pub fn announcer_pid(&self) -> Option<i32> {
        let file = self.rsctmp.join(&self.node).join("vip-vip-test.announcer");
        let text = std::fs::read_to_string(file).ok()?;
        let mut words = text.split_whitespace();
        let pid: i32 = words.next()?.parse().ok()?;
        let start: u64 = words.next()?.parse().ok()?;
        (process_start(pid) == Some(start)).then_some(pid)
    }

    /// Starts tcpdump (`-tt`: epoch timestamps) on the peer's `vb` and returns once it is
    /// capturing; it ends after `count` packets (or 20 s).
    pub fn capture(&self, filter: &str, count: u32) -> Capture {
        Capture::start(&self.peer, "vb", filter, count, 20)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.node, &self.peer] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.rsctmp);
    }
}

pub struct Capture {
    child: std::process::Child,
}

/// One captured packet: when (epoch seconds) and tcpdump's line.
pub struct Packet {
    pub at: f64,
    pub line: String,
}

impl Capture {
    /// tcpdump in namespace `ns` on `dev`, once it is capturing; it ends after `count` packets
    /// or `seconds`.
    pub fn start(ns: &str, dev: &str, filter: &str, count: u32, seconds: u32) -> Capture {
        let count_text = count.to_string();
        let seconds_text = seconds.to_string();
        let mut argv = vec![
            "netns",
            "exec",
            ns,
            "timeout",
            &seconds_text,
            "tcpdump",
            "-l",
            "-n",
            "-e",
            "-tt",
            "-i",
            dev,
            "-c",
            &count_text,
        ];
        argv.extend(filter.split(' '));
        let mut child = Command::new("ip")
            .args(&argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump runs");
        // tcpdump says "listening on" once the capture is open.
        let stderr = child.stderr.take().expect("stderr piped");
        let mut reader = std::io::BufReader::new(stderr);
        let mut said = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("tcpdump did not start: {said}"),
                Ok(_) if line.contains("listening on") => break,
                Ok(_) => said.push_str(&line),
            }
        }
        // Keep draining stderr so tcpdump never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Capture { child }
    }

    /// Waits for the capture to end and returns its packets.
    pub fn packets(self) -> Vec<Packet> {
        let out = self.child.wait_with_output().expect("tcpdump finishes");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (at, _) = l.split_once(' ')?;
                Some(Packet {
                    at: at.parse().ok()?,
                    line: l.to_string(),
                })
            })
            .collect()
    }
}

/// Seconds since the epoch, the clock of tcpdump's `-tt`.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Start time of a live, non-zombie process (`/proc/<pid>/stat` field 22).
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

pub const V4: &[(&str, &str)] = &[("ip", "192.0.2.10"), ("nic", "va"), ("cidr_netmask", "24")];
pub const V6: &[(&str, &str)] = &[
    ("ip", "2001:db8::10"),
    ("nic", "va"),
    ("cidr_netmask", "64"),
];

/// `params` plus more.
pub fn with<'a>(
    params: &[(&'a str, &'a str)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    params.iter().chain(more).copied().collect()
}

pub fn exit_reason(r: &Run) -> String {
    r.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .next_back()
        .unwrap_or("")
        .to_string()
}
