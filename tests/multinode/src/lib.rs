//! A real multi-node Pacemaker cluster for tests: three full nodes (`node1`..`node3`, corosync
//! with knet + pacemakerd) and one pacemaker-remote node (`compute1`), each in its own pid, net,
//! mount and UTS namespaces, wired by veth pairs to two bridges in a private "switch" namespace
//! (`scripts/mcluster` does the work; this crate drives it).
//!
//! * ring network `10.77.0.0/24` (corosync, the remote connection) — [`Link::Ring`]
//! * service network `10.77.1.0/24` (VIPs) — [`Link::Svc`]; a "client" namespace on it
//!   (`10.77.1.200`) runs the [`ArpProber`].
//!
//! Power: `<state>/plugs/<node>` is a plug of the test fence agent `fence_probe`
//! (`plug_dir=<state>/plugs`): a power controller kills a node the moment its plug reads
//! `off`, as a BMC or MAAS would cut its power. Everything is torn down when the
//! [`MultiCluster`] is dropped or the test process exits in any way (a watcher process waits
//! for EOF on a pipe only the test process holds).

pub mod masakari;
pub mod storm;

use oxha_harness::{run, run_env, wait_for, workspace_root, Run};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const FULL_NODES: [&str; 3] = ["node1", "node2", "node3"];
pub const REMOTE_NODE: &str = "compute1";
/// The remote node's address on the ring network (pacemaker connects to port 3121 there).
pub const REMOTE_ADDR: &str = "10.77.0.4";
/// The monitor of a remote node's connection resource as the tests create it: `(interval,
/// timeout)`. A remote node that dies without a word is noticed within 2 + 5 s.
pub const REMOTE_MONITOR: (&str, &str) = ("2s", "5s");
/// The VIP every scenario moves around, on the service network.
pub const VIP: &str = "10.77.1.100";
/// The switch's own address on the ring network: simulators (MAAS) listen there.
pub const INFRA_ADDR: &str = "10.77.0.254";
/// Where the MAAS simulator listens when fencing goes through fence_maas.
pub const MAAS_PORT: u16 = 5240;
const CLIENT_IF: &str = "svc0";
const CLIENT_MAC: &str = "02:00:0a:4d:01:c8";
const CLIENT_ADDR: &str = "10.77.1.200";

/// Agent classes. Every scenario runs oxha's agents; a stand-in (`ocf:heartbeat:IPaddr2`,
/// `ocf:pacemaker:Dummy`, `stonith:fence_probe`) runs only when the environment names it
/// (`OXHA_VIP_CLASS`, `OXHA_SERVICE_CLASS`, `OXHA_FENCE_CLASS`: the failover benchmark runs
/// IPaddr2 side by side with vip that way), never because an oxha binary or haproxy is missing:
/// that is a failure. [`MultiCluster::start`] prints the classes in effect.
pub mod agents {
    use super::*;

    fn named_or(var: &str, oxha: &str) -> String {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| oxha.to_string())
    }

    /// `ocf:oxha:vip`, or what `OXHA_VIP_CLASS` names (it must take `ip`, `cidr_netmask`, `nic`).
    pub fn vip_class() -> String {
        named_or("OXHA_VIP_CLASS", "ocf:oxha:vip")
    }

    /// `ocf:oxha:haproxy` (haproxy from Debian's package), or what `OXHA_SERVICE_CLASS` names.
    pub fn service_class() -> String {
        named_or("OXHA_SERVICE_CLASS", "ocf:oxha:haproxy")
    }

    /// Parameters for [`service_class`]: haproxy gets a config in the cluster's state directory
    /// (every node sees it) answering on the Masakari API port.
    pub fn service_params(cluster: &MultiCluster) -> String {
        if service_class() == "ocf:oxha:haproxy" {
            let cfg = cluster.state_dir().join("haproxy.cfg");
            let _ = std::fs::write(
                &cfg,
                "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend masakari_api\n    bind :15868\n    http-request return status 200 content-type text/plain string ok\n",
            );
            format!("params conffile={}", cfg.display())
        } else {
            String::new()
        }
    }

    /// The fence device class for the nodes: `stonith:fence_maas` (against the MAAS
    /// simulator), or what `OXHA_FENCE_CLASS` names (`stonith:fence_probe` drives the plugs
    /// directly).
    pub fn node_fence_class() -> String {
        named_or("OXHA_FENCE_CLASS", "stonith:fence_maas")
    }

    pub fn fencing_through_maas() -> bool {
        node_fence_class() == "stonith:fence_maas"
    }

    /// Fails, naming what is missing, unless every oxha agent these classes name is staged
    /// (and haproxy installed for the service clone): a scenario never quietly runs without
    /// the agent it claims to test.
    #[track_caller]
    pub fn require_staged() {
        if vip_class() == "ocf:oxha:vip" {
            oxha_harness::ocf_agent("vip");
        }
        if service_class() == "ocf:oxha:haproxy" {
            oxha_harness::ocf_agent("haproxy");
            assert!(
                Path::new("/usr/sbin/haproxy").exists(),
                "ocf:oxha:haproxy needs haproxy (/usr/sbin/haproxy): run tests/setup-deps"
            );
        }
        if fencing_through_maas() {
            oxha_harness::fence_agent("fence_maas");
            oxha_harness::tool("maas-sim");
        } else if node_fence_class() == "stonith:fence_probe" {
            oxha_harness::fence_agent("fence_probe");
        }
    }

    /// One line saying which agent classes a scenario runs.
    pub fn describe() -> String {
        format!(
            "VIP {}, service clone {}, node fencing {}",
            vip_class(),
            service_class(),
            node_fence_class()
        )
    }
}

/// One of a node's two links (veth to a bridge in the switch namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Ring,
    Svc,
}

/// What crm_mon says about one node (the harness's one crm_mon parser).
pub use oxha_harness::crm_mon::NodeState;

/// An event of the power controller log: `kill`ed by a test, `off` by its plug, `boot`.
#[derive(Clone, Debug)]
pub struct PowerEvent {
    pub at: f64,
    pub node: String,
    pub what: String,
}

/// Which nodes a cluster has beyond the three full ones: pacemaker-remote nodes (Pacemaker
/// name and UTS host name, which may differ: a short name vs an FQDN) and an optional control
/// node (namespaces and addresses only, no cluster daemon: for services a test runs in it).
#[derive(Clone, Debug)]
pub struct Topology {
    pub remotes: Vec<RemoteNode>,
    pub control: Option<String>,
    /// What the nodes run on and how the agents get into them (staged binaries by default).
    pub setup: oxha_harness::NodeSetup,
}

/// A pacemaker-remote node: `name` is its Pacemaker node name (the id of its
/// `ocf:pacemaker:remote` resource), `hostname` its own host name, `addr` its ring address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteNode {
    pub name: String,
    pub hostname: String,
    pub addr: String,
}

impl Default for Topology {
    /// `compute1` alone, as every scenario of this crate uses it.
    fn default() -> Self {
        Topology::new(&[(REMOTE_NODE, REMOTE_NODE)], None)
    }
}

impl Topology {
    /// Remote nodes as (Pacemaker name, host name), addressed `.4`, `.5`, ... on both networks;
    /// the control node (if any) is `.250` ([`CONTROL_ADDR`]).
    pub fn new(remotes: &[(&str, &str)], control: Option<&str>) -> Topology {
        Topology {
            remotes: remotes
                .iter()
                .enumerate()
                .map(|(i, (name, hostname))| RemoteNode {
                    name: name.to_string(),
                    hostname: hostname.to_string(),
                    addr: format!("10.77.0.{}", FULL_NODES.len() + 1 + i),
                })
                .collect(),
            control: control.map(str::to_string),
            setup: oxha_harness::NodeSetup::default(),
        }
    }

    /// The same topology with every node on `setup` (e.g. the package installed with `dpkg -i`).
    pub fn with_setup(self, setup: oxha_harness::NodeSetup) -> Topology {
        Topology { setup, ..self }
    }

    fn env(&self) -> Vec<(String, String)> {
        let remotes: Vec<String> = self
            .remotes
            .iter()
            .map(|r| format!("{}={}", r.name, r.hostname))
            .collect();
        let mut env: Vec<(String, String)> = self
            .setup
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        env.push(("MCLUSTER_REMOTES".to_string(), remotes.join(" ")));
        if let Some(c) = &self.control {
            env.push(("MCLUSTER_CONTROL".to_string(), c.clone()));
        }
        env
    }
}

/// The control node's address on the ring network (and `10.77.1.250` on the service network).
pub const CONTROL_ADDR: &str = "10.77.0.250";

/// The name a node's machine has in the MAAS simulator: its host name up to the first dot
/// (MAAS keeps the domain apart: `virt-node-01` in domain `maas` is `virt-node-01.maas`).
pub fn maas_hostname(node: &str) -> &str {
    node.split('.').next().unwrap_or(node)
}

pub struct MultiCluster {
    state: PathBuf,
    topology: Topology,
    _watcher: Option<std::process::ChildStdin>,
    /// Daemons started in the switch namespace (simulators): reaped after teardown.
    daemons: Mutex<Vec<Child>>,
}

static SERIAL: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
    workspace_root().join("tests/multinode/scripts/mcluster")
}

/// Seconds since the epoch, the clock of the power log and the prober.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl MultiCluster {
    /// Starts the switch, the client namespace, the power controller, the three full nodes and
    /// the remote node's daemon, and waits until the full nodes are online. STONITH is off until
    /// a test configures fencing ([`MultiCluster::configure_fencing`]); the remote node joins
    /// when a test adds its connection resource ([`MultiCluster::add_remote`]).
    pub fn start() -> MultiCluster {
        Self::start_with(Topology::default())
    }

    /// [`MultiCluster::start`] with other remote nodes, a control node, or nodes on their own
    /// root with the oxha package installed ([`Topology::setup`]).
    pub fn start_with(topology: Topology) -> MultiCluster {
        // One state directory per cluster, also for a process that starts several one after
        // the other (a benchmark): a cluster's exit watcher tears its directory down once the
        // cluster is dropped, and must never find the next cluster there.
        static CLUSTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = match n {
            0 => format!("oxha-mn-{}", std::process::id()),
            n => format!("oxha-mn-{}-{n}", std::process::id()),
        };
        let state = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&state);
        agents::require_staged();
        eprintln!("mcluster: agents: {}", agents::describe());
        let started = Instant::now();
        // The watcher first, so a failing start is torn down too.
        let watcher = oxha_harness::teardown_at_exit(&script(), &state);
        let env = topology.env();
        let env_refs: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let up = run_env(
            &[
                &script().to_string_lossy(),
                "up",
                &state.to_string_lossy(),
                &topology.setup.stage().to_string_lossy(),
            ],
            &env_refs,
            None,
        );
        let cluster = MultiCluster {
            state,
            topology,
            _watcher: watcher,
            daemons: Mutex::new(Vec::new()),
        };
        assert!(
            up.ok(),
            "multi-node cluster did not come up: {up}\n{}",
            cluster.logs()
        );
        if std::env::var_os("OXHA_KEEP_CLUSTER").is_some() {
            // Kept even when the cluster is never dropped (a static shared by a test binary):
            // the exit watcher leaves a state directory holding `keep` alone.
            let _ = std::fs::write(cluster.state.join("keep"), "");
        }
        eprintln!(
            "mcluster: {} online after {:.1}s (state {})",
            FULL_NODES.join(", "),
            started.elapsed().as_secs_f64(),
            cluster.state.display()
        );
        cluster
            .crm("node1", &["configure", "property", "stonith-enabled=false"])
            .expect_ok();
        cluster
    }

    /// Holds the tests of one binary to one at a time: `let _s = MultiCluster::serial();`.
    pub fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Every node with a power plug: the full nodes, then the remote nodes.
    pub fn power_nodes(&self) -> Vec<String> {
        FULL_NODES
            .iter()
            .map(|n| n.to_string())
            .chain(self.topology.remotes.iter().map(|r| r.name.clone()))
            .collect()
    }

    fn mcluster(&self, args: &[&str]) -> Run {
        let mut argv: Vec<String> = vec![
            script().to_string_lossy().into_owned(),
            args[0].to_string(),
            self.state.to_string_lossy().into_owned(),
        ];
        argv.extend(args[1..].iter().map(|s| s.to_string()));
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        run_env(&refs, &[], None)
    }

    /// Runs a command inside `node` (its mount, network, pid and UTS namespaces).
    pub fn run(&self, node: &str, argv: &[&str]) -> Run {
        self.run_stdin(node, argv, None)
    }

    pub fn run_stdin(&self, node: &str, argv: &[&str], stdin: Option<&str>) -> Run {
        let mut full: Vec<String> = vec![
            script().to_string_lossy().into_owned(),
            "exec".into(),
            self.state.to_string_lossy().into_owned(),
            node.into(),
        ];
        full.extend(argv.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut r = run_env(&refs, &[], stdin);
        r.command = format!("[{node}] {}", argv.join(" "));
        r
    }

    pub fn sh(&self, node: &str, script: &str) -> Run {
        self.run(node, &["sh", "-c", script])
    }

    pub fn crm(&self, node: &str, args: &[&str]) -> Run {
        let mut argv = vec!["crm"];
        argv.extend_from_slice(args);
        self.run(node, &argv)
    }

    /// `crm configure load update -` with `text` (several objects in one CIB change).
    pub fn crm_configure(&self, node: &str, text: &str) -> Run {
        self.run_stdin(
            node,
            &["crm", "configure", "load", "update", "-"],
            Some(text),
        )
    }

    pub fn pcs(&self, node: &str, args: &[&str]) -> Run {
        let mut argv = vec!["pcs"];
        argv.extend_from_slice(args);
        self.run(node, &argv)
    }

    /// Runs a command in the client namespace on the service network.
    pub fn client(&self, argv: &[&str]) -> Run {
        let mut args = vec!["client"];
        args.extend_from_slice(argv);
        self.mcluster(&args)
    }

    /// An HTTP/1.0 GET of `http://ip:port/` from the client namespace (bash /dev/tcp, 2 s
    /// limit): the response, or None when nothing answered.
    pub fn http_get(&self, ip: &str, port: u16) -> Option<String> {
        let script = format!(
            "exec 3<>/dev/tcp/{ip}/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let r = self.client(&["timeout", "2", "bash", "-c", &script]);
        (r.ok() && !r.stdout.is_empty()).then_some(r.stdout)
    }

    /// Kills every process of `node` at once (SIGKILL to its PID 1): a power loss.
    pub fn kill(&self, node: &str) {
        self.mcluster(&["kill", node]).expect_ok();
    }

    /// Kills every process of all these nodes at the same moment (a rack losing power): every
    /// link unplugged in one batch, then every node's PID 1 killed in one call.
    pub fn kill_together(&self, nodes: &[&str]) {
        let mut args = vec!["kill"];
        args.extend_from_slice(nodes);
        self.mcluster(&args).expect_ok();
    }

    /// Starts `node` again (plug on) and waits until its daemons are launched. With the MAAS
    /// simulator running, its machine reads "on" again too, as after a power-on through MAAS:
    /// otherwise the next fencing of the node finds it "already off" and powers nothing off.
    pub fn boot(&self, node: &str) {
        if self.state.join("maas.key").exists() {
            self.maas_ctl(
                "POST",
                &format!("/_sim/machines/{node}"),
                Some(r#"{"power_state":"on"}"#),
            )
            .expect_ok();
        }
        self.mcluster(&["boot", node]).expect_ok();
    }

    pub fn running(&self, node: &str) -> bool {
        self.mcluster(&["running", node]).ok()
    }

    /// Takes one of `node`'s links down (a partition) or up again (heal).
    pub fn set_link(&self, node: &str, link: Link, up: bool) {
        let which = if link == Link::Ring { "ring" } else { "svc" };
        self.mcluster(&["link", node, which, if up { "up" } else { "down" }])
            .expect_ok();
    }

    pub fn partition(&self, node: &str) {
        self.set_link(node, Link::Ring, false)
    }

    pub fn heal(&self, node: &str) {
        self.set_link(node, Link::Ring, true)
    }

    /// The MAC address of `node`'s service link (what answers ARP for a VIP it holds).
    pub fn svc_mac(&self, node: &str) -> String {
        let ip = self
            .run(node, &["ip", "-o", "link", "show", "svc0"])
            .expect_ok();
        ip.stdout
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default()
    }

    /// `crm_mon -1 --output-as=xml` as `observer` sees it (empty when it cannot answer).
    pub fn status_xml(&self, observer: &str) -> String {
        self.run(observer, &["crm_mon", "-1", "--output-as=xml"])
            .stdout
    }

    /// What crm_mon says as `observer` sees it, parsed; `None` when it could not answer.
    pub fn status(&self, observer: &str) -> Option<oxha_harness::crm_mon::Status> {
        oxha_harness::crm_mon::parse(&self.status_xml(observer)).ok()
    }

    /// `node`'s state as `observer` sees it.
    pub fn node_state(&self, observer: &str, node: &str) -> Option<NodeState> {
        self.status(observer)?.node(node).cloned()
    }

    /// Waits until `check` holds for `node` as `observer` sees it.
    #[track_caller]
    pub fn wait_node(
        &self,
        observer: &str,
        node: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&NodeState) -> bool,
    ) {
        wait_for(
            &format!("{node} {what} (seen from {observer})"),
            timeout,
            || {
                self.node_state(observer, node)
                    .filter(|s| check(s))
                    .map(|_| ())
            },
        )
    }

    /// The nodes where resource (or clone instance) `id` is active, as `observer` sees it.
    pub fn active_on(&self, observer: &str, id: &str) -> Vec<String> {
        let Some(status) = self.status(observer) else {
            return Vec::new();
        };
        let mut nodes: Vec<String> = status
            .instances(id)
            .filter(|r| r.active && r.role == "Started" && !r.failed)
            .flat_map(|r| r.nodes.iter().cloned())
            .collect();
        nodes.sort();
        nodes
    }

    /// Waits until `id` is active on exactly one node, and returns it.
    #[track_caller]
    pub fn wait_active_one(&self, observer: &str, id: &str, timeout: Duration) -> String {
        wait_for(&format!("{id} active on one node"), timeout, || {
            let nodes = self.active_on(observer, id);
            (nodes.len() == 1).then(|| nodes[0].clone())
        })
    }

    /// The power controller's log.
    pub fn power_log(&self) -> Vec<PowerEvent> {
        std::fs::read_to_string(self.state.join("power.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some(PowerEvent {
                    at: w.next()?.parse().ok()?,
                    node: w.next()?.to_string(),
                    what: w.next()?.to_string(),
                })
            })
            .collect()
    }

    /// When the power controller cut `node`'s power because its plug turned off, after `since`.
    pub fn powered_off_at(&self, node: &str, since: f64) -> Option<f64> {
        self.power_log()
            .into_iter()
            .find(|e| e.node == node && e.what == "off" && e.at >= since)
            .map(|e| e.at)
    }

    pub fn plug_dir(&self) -> PathBuf {
        self.state.join("plugs")
    }

    /// Takes the fence device away or brings it back. fence_probe: its plug directory
    /// disappears (every action fails). fence_maas: every machine of the MAAS simulator answers
    /// 503, as a MAAS region in trouble does.
    pub fn set_fence_device(&self, up: bool) {
        if agents::fencing_through_maas() {
            let body = if up {
                r#"{"fault":""}"#
            } else {
                r#"{"fault":"503"}"#
            };
            for node in self.power_nodes() {
                self.maas_ctl("POST", &format!("/_sim/machines/{node}"), Some(body))
                    .expect_ok();
            }
            return;
        }
        let (from, to) = (self.state.join("plugs.down"), self.plug_dir());
        let (from, to) = if up { (from, to) } else { (to, from) };
        std::fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("rename {} → {}: {e}", from.display(), to.display()));
    }

    pub fn plug(&self, node: &str) -> String {
        std::fs::read_to_string(self.plug_dir().join(node))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// When `node`'s plug file last changed (the fence agent turned it on or off).
    pub fn plug_changed_at(&self, node: &str) -> Option<f64> {
        let modified = std::fs::metadata(self.plug_dir().join(node))
            .ok()?
            .modified()
            .ok()?;
        modified
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    }

    /// Successful fencing of `target` in the fencer's history (`stonith_admin -H`), as `observer` sees it.
    pub fn fence_history(&self, observer: &str, target: &str) -> String {
        self.run(
            observer,
            &["stonith_admin", "--history", target, "--verbose"],
        )
        .stdout
    }

    /// Fencing attempts against `target` in the fencer's history, as `observer` sees it:
    /// (failed, successful).
    pub fn fence_attempts(&self, observer: &str, target: &str) -> (usize, usize) {
        let history = self.fence_history(observer, target);
        let count = |word: &str| history.lines().filter(|l| l.contains(word)).count();
        (count("failed"), count("successful"))
    }

    /// Replaces the whole fencing topology with one level per entry of `levels` (index from 1)
    /// for `target`, in one CIB change: clearing the levels then adding them (two changes)
    /// leaves a moment with no level, when the fencer may fence the target with any device.
    pub fn set_fencing_levels(&self, node: &str, target: &str, levels: &[&[&str]]) {
        let entries: String = levels
            .iter()
            .enumerate()
            .map(|(i, devices)| {
                format!(
                    r#"<fencing-level id="fl-{target}-{index}" index="{index}" target="{target}" devices="{}"/>"#,
                    devices.join(","),
                    index = i + 1
                )
            })
            .collect();
        let xml = format!("<fencing-topology>{entries}</fencing-topology>");
        self.run(
            node,
            &[
                "cibadmin",
                "--replace",
                "--scope",
                "fencing-topology",
                "--xml-text",
                &xml,
            ],
        )
        .expect_ok();
    }

    /// The fence devices the fencer on `node` has registered (`stonith_admin --list-registered`).
    pub fn registered_devices(&self, node: &str) -> String {
        self.run(node, &["stonith_admin", "--list-registered"])
            .stdout
    }

    /// The lines of `node`'s pacemaker log that contain every one of `needles`.
    pub fn log_lines(&self, node: &str, needles: &[&str]) -> Vec<String> {
        let log = self.state.join("nodes").join(node).join("pacemaker.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Turns on fencing through `fence_probe` (plug = node name, in [`MultiCluster::plug_dir`]) with
    /// short timeouts, `stonith-action=off` (a fenced node stays off until a test boots it) and
    /// `no-quorum-policy=stop`. The device's monitor is slow on purpose: a scenario that takes the
    /// device away must see fencing fail, not the device resource banned.
    pub fn configure_fencing(&self) {
        let class = agents::node_fence_class();
        let params = self.fence_params(&class, &FULL_NODES);
        let text = format!(
            "primitive fence_nodes {class} \\\n\
             \tparams {params} \\\n\
             \top monitor interval=120s timeout=20s\n\
             property stonith-enabled=true stonith-action=off stonith-timeout=20s \\\n\
             \tno-quorum-policy=stop stonith-max-attempts=1000 cluster-recheck-interval=30s\n"
        );
        eprintln!("mcluster: fencing through {class}");
        self.crm_configure("node1", &text).expect_ok();
        self.wait_active_one("node1", "fence_nodes", Duration::from_secs(60));
    }

    /// Device parameters for fencing `hosts` with `class`: fence_probe on the plug directory,
    /// or fence_maas against the MAAS simulator (started on first use).
    pub fn fence_params(&self, class: &str, hosts: &[&str]) -> String {
        let host_list = hosts.join(" ");
        if class == "stonith:fence_maas" {
            let key = self.start_maas_sim();
            format!(
                "ip={INFRA_ADDR} ipport={MAAS_PORT} api_key_file={} power_timeout=10s \\\n\
                 \tpcmk_host_list=\"{host_list}\"",
                key.display()
            )
        } else {
            format!(
                "plug_dir={} lag=1 stonith_status_sleep=200ms power_timeout=5s \\\n\
                 \tpcmk_host_list=\"{host_list}\"",
                self.plug_dir().display()
            )
        }
    }

    /// Starts the MAAS simulator (staged `tools/maas-sim`) in the switch namespace, listening on
    /// `INFRA_ADDR:MAAS_PORT`, with one machine per node whose power-off turns the node's plug
    /// off (so the power controller cuts it). Returns the API key file. Idempotent. It dies
    /// with the cluster (`mcluster down` kills every process in the switch namespace).
    pub fn start_maas_sim(&self) -> PathBuf {
        let key = self.state.join("maas.key");
        if key.exists() {
            return key;
        }
        let machines: Vec<String> = self
            .power_nodes()
            .iter()
            .map(|n| {
                format!(
                    "{{\"hostname\":\"{}\",\"power_state\":\"on\",\"on_power_off\":\"echo off > {}\"}}",
                    maas_hostname(n),
                    self.plug_dir().join(n).display()
                )
            })
            .collect();
        let machines_file = self.state.join("maas-machines.json");
        std::fs::write(&machines_file, format!("[{}]", machines.join(",")))
            .expect("write machines");
        std::fs::write(&key, "oxhaconsumer:oxhatoken:oxhasecret\n").expect("write key");
        let sim = oxha_harness::tool("maas-sim");
        let listen = format!("{INFRA_ADDR}:{MAAS_PORT}");
        let log = std::fs::File::create(self.state.join("maas-sim.log")).expect("maas-sim log");
        let child = Command::new(script())
            .arg("switch")
            .arg(&self.state)
            .arg(&sim)
            .args(["serve", "--listen", &listen, "--machines"])
            .arg(&machines_file)
            .arg("--api-key-file")
            .arg(&key)
            .args(["--power-delay-ms", "200", "--events"])
            .arg(self.state.join("maas-events"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("cannot start maas-sim");
        self.daemons
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        wait_for(
            "the MAAS simulator to listen",
            Duration::from_secs(10),
            || {
                self.maas_ctl("GET", "/_sim/machines/node1", None)
                    .ok()
                    .then_some(())
            },
        );
        key
    }

    /// `maas-sim ctl` against the running simulator.
    pub fn maas_ctl(&self, method: &str, path: &str, body: Option<&str>) -> Run {
        let sim = oxha_harness::tool("maas-sim");
        let addr = format!("{INFRA_ADDR}:{MAAS_PORT}");
        let mut args = vec![
            "switch",
            sim.to_str().unwrap_or("maas-sim"),
            "ctl",
            &addr,
            method,
            path,
        ];
        if let Some(b) = body {
            args.push(b);
        }
        self.mcluster(&args)
    }

    /// Sets a MAAS simulator fault on `node`'s machine (`"503"`, `"500"`, ...; `""` clears it):
    /// fence_maas then fails for that node only.
    pub fn set_maas_fault(&self, node: &str, fault: &str) {
        let body = format!("{{\"fault\":\"{fault}\"}}");
        self.maas_ctl("POST", &format!("/_sim/machines/{node}"), Some(&body))
            .expect_ok();
    }

    /// The MAAS simulator's power events for `node`, in order (`power_off stop_mode=hard`,
    /// `off`, `power_on`, `on`).
    pub fn maas_events(&self, node: &str) -> Vec<String> {
        std::fs::read_to_string(self.state.join("maas-events"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.strip_prefix(&format!("{} ", maas_hostname(node)))
                    .map(str::to_string)
            })
            .collect()
    }

    /// The Masakari API layout as the charms build it (masakari.md §3.1), with the agent classes
    /// of [`agents`]: an anonymous clone of the service (haproxy) and a group of VIPs, kept off
    /// the remote (compute) node.
    pub fn configure_vip_and_clone(&self) {
        let vip_class = agents::vip_class();
        let svc_class = agents::service_class();
        let svc_params = agents::service_params(self);
        let text = format!(
            "primitive res_masakari_haproxy {svc_class} {svc_params} \\\n\
             \top monitor interval=5s \\\n\
             \tmeta migration-threshold=INFINITY failure-timeout=5s\n\
             clone cl_res_masakari_haproxy res_masakari_haproxy\n\
             primitive res_masakari_f8b6bde_vip {vip_class} \\\n\
             \tparams ip={VIP} cidr_netmask=24 nic=svc0 \\\n\
             \top monitor timeout=20s interval=10s depth=0 \\\n\
             \tmeta migration-threshold=INFINITY failure-timeout=5s\n\
             group grp_masakari_vips res_masakari_f8b6bde_vip\n\
             colocation vip_with_haproxy inf: grp_masakari_vips cl_res_masakari_haproxy\n\
             location haproxy_not_on_compute cl_res_masakari_haproxy -inf: {REMOTE_NODE}\n\
             location vips_not_on_compute grp_masakari_vips -inf: {REMOTE_NODE}\n"
        );
        eprintln!("mcluster: VIP {vip_class}, service clone {svc_class}");
        self.crm_configure("node1", &text).expect_ok();
    }

    /// Adds the remote node's connection resource (`ocf:pacemaker:remote`) and waits until
    /// the cluster shows it online.
    pub fn add_remote(&self) {
        self.add_remote_nodes(&[REMOTE_NODE]);
    }

    /// Adds the connection resources of these remote nodes (of the [`Topology`]) in one CIB
    /// change and waits until the cluster shows every one online.
    pub fn add_remote_nodes(&self, names: &[&str]) {
        if let Ok(why) = std::fs::read_to_string(self.state.join("no-remote")) {
            panic!("the cluster has no remote node: {}", why.trim());
        }
        let text: String = names
            .iter()
            .map(|name| self.remote_primitive(name, REMOTE_MONITOR))
            .collect();
        self.crm_configure("node1", &text).expect_ok();
        for name in names {
            self.wait_node("node1", name, "online", Duration::from_secs(60), |s| {
                s.online
            });
        }
    }

    /// The connection resource of remote node `name` (crm syntax), its monitor `monitor`
    /// (`(interval, timeout)`).
    fn remote_primitive(&self, name: &str, monitor: (&str, &str)) -> String {
        let node = self
            .topology
            .remotes
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} is not a remote node of this cluster"));
        format!(
            "primitive {name} ocf:pacemaker:remote \\\n\
             \tparams server={} reconnect_interval=60s \\\n\
             \top monitor interval={} timeout={}\n",
            node.addr, monitor.0, monitor.1
        )
    }

    /// Gives the connection resources of these remote nodes another monitor (`(interval,
    /// timeout)`; [`REMOTE_MONITOR`] is the one they start with), in one CIB change, and waits
    /// for the cluster to settle. How soon Pacemaker notices a remote node that died without a
    /// word (power loss, cut links) is at most one interval plus the timeout.
    pub fn set_remote_monitor(&self, names: &[&str], monitor: (&str, &str)) {
        let text: String = names
            .iter()
            .map(|name| self.remote_primitive(name, monitor))
            .collect();
        self.crm_configure("node1", &text).expect_ok();
        self.wait_idle("node1", Duration::from_secs(90));
    }

    /// CPU time (seconds) of every finished child of `node`'s pacemaker-execd: the resource
    /// agents it ran and everything they ran in turn (their times roll up on wait()).
    pub fn agent_cpu_seconds(&self, node: &str) -> f64 {
        let out = self
            .sh(node, "cat /proc/$(pgrep -x pacemaker-execd)/stat")
            .expect_ok();
        oxha_harness::proc_stat::ProcStat::parse(&out.stdout)
            .map_or(0.0, |s| s.children_cpu_seconds())
    }

    /// Waits until the cluster has no pending actions (as `observer` sees it).
    pub fn wait_idle(&self, observer: &str, timeout: Duration) {
        wait_for("the cluster to settle", timeout, || {
            self.run(observer, &["crm_resource", "--wait", "--timeout=10s"])
                .ok()
                .then_some(())
        })
    }

    /// The tail of every node's pacemaker log and the power log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut files = vec![self.state.join("power.log")];
        let control = self.topology.control.iter().cloned();
        for node in self.power_nodes().into_iter().chain(control) {
            files.push(self.state.join("nodes").join(&node).join("init.out"));
            files.push(self.state.join("nodes").join(&node).join("pacemaker.log"));
        }
        for file in files {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(25);
                out.push_str(&format!(
                    "--- {} (last 25 lines)\n{}\n",
                    file.display(),
                    lines[from..].join("\n")
                ));
            }
        }
        out
    }
}

impl Drop for MultiCluster {
    fn drop(&mut self) {
        if std::env::var_os("OXHA_KEEP_CLUSTER").is_some() {
            eprintln!(
                "mcluster: kept in {} (OXHA_KEEP_CLUSTER); remove it with: {} down {}",
                self.state.display(),
                script().display(),
                self.state.display()
            );
            let _ = std::fs::write(self.state.join("keep"), "");
            return;
        }
        let down = self.mcluster(&["down"]);
        if !down.ok() {
            eprintln!("mcluster: teardown failed: {down}");
        }
        // `down` killed everything in the switch namespace; reap what we started there.
        for mut child in self
            .daemons
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One ARP reply the prober saw: when (unix seconds), for which request, from which MAC.
#[derive(Clone, Debug)]
pub struct ArpReply {
    pub at: f64,
    pub seq: u64,
    pub mac: String,
}

/// Broadcasts an ARP request for an address every `interval` from the client namespace and
/// records every reply, from every responder (the `arp-probe` tool, staged in `stage/tools`).
pub struct ArpProber {
    child: Child,
    replies: Arc<Mutex<Vec<ArpReply>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ArpProber {
    pub fn start(cluster: &MultiCluster, ip: &str, interval: Duration) -> ArpProber {
        let tool = oxha_harness::tool("arp-probe");
        assert!(
            tool.exists(),
            "{} missing: run `make stage`",
            tool.display()
        );
        let mut child = Command::new(script())
            .arg("client")
            .arg(cluster.state_dir())
            .arg(&tool)
            .args([
                CLIENT_IF,
                CLIENT_MAC,
                CLIENT_ADDR,
                ip,
                &interval.as_millis().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start arp-probe");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&replies);
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut w = line.split_whitespace();
                let (Some(ms), Some(seq), Some(mac)) = (w.next(), w.next(), w.next()) else {
                    continue;
                };
                let (Ok(ms), Ok(seq)) = (ms.parse::<u64>(), seq.parse::<u64>()) else {
                    continue;
                };
                let reply = ArpReply {
                    at: ms as f64 / 1000.0,
                    seq,
                    mac: mac.to_string(),
                };
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(reply);
            }
        });
        ArpProber {
            child,
            replies,
            reader: Some(reader),
        }
    }

    pub fn replies(&self) -> Vec<ArpReply> {
        self.replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first reply from `mac` at or after `since`.
    pub fn first_from(&self, mac: &str, since: f64) -> Option<ArpReply> {
        self.replies()
            .into_iter()
            .find(|r| r.mac == mac && r.at >= since)
    }

    /// The last reply from `mac`.
    pub fn last_from(&self, mac: &str) -> Option<ArpReply> {
        self.replies().into_iter().rev().find(|r| r.mac == mac)
    }

    /// Requests answered by more than one MAC: (seq, MACs). Empty = never two answerers.
    pub fn double_answers(&self) -> Vec<(u64, Vec<String>)> {
        let mut by_seq: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for r in self.replies() {
            let macs = by_seq.entry(r.seq).or_default();
            if !macs.contains(&r.mac) {
                macs.push(r.mac);
            }
        }
        by_seq.into_iter().filter(|(_, m)| m.len() > 1).collect()
    }

    /// The sequence of distinct responders in order (A, B = one handover; A, B, A = flapping).
    pub fn responder_runs(&self) -> Vec<String> {
        let mut runs: Vec<String> = Vec::new();
        for r in self.replies() {
            if runs.last() != Some(&r.mac) {
                runs.push(r.mac);
            }
        }
        runs
    }

    /// Waits for a reply from `mac` at or after `since`.
    #[track_caller]
    pub fn wait_reply_from(&self, mac: &str, since: f64, timeout: Duration) -> ArpReply {
        wait_for(&format!("an ARP reply from {mac}"), timeout, || {
            self.first_from(mac, since)
        })
    }

    /// Waits for a reply from any MAC but `not`, at or after `since`.
    #[track_caller]
    pub fn wait_reply_not_from(&self, not: &str, since: f64, timeout: Duration) -> ArpReply {
        wait_for(
            &format!("an ARP reply from a MAC other than {not}"),
            timeout,
            || {
                self.replies()
                    .into_iter()
                    .find(|r| r.mac != not && r.at >= since)
            },
        )
    }
}

impl Drop for ArpProber {
    fn drop(&mut self) {
        // Killing `mcluster client` leaves arp-probe in the client namespace until its stdout
        // closes; it exits at its next write. Kill its own process too, found by parent.
        let pid = self.child.id();
        let _ = run(&["pkill", "-KILL", "-P", &pid.to_string()]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Prints one timing line in a form the benchmark and the demo can grep: `timing: <what> <secs>s`.
pub fn timing(what: &str, seconds: f64) {
    eprintln!("timing: {what} {seconds:.2}s");
}
