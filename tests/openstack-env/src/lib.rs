//! A real OpenStack for the instance-HA tests, the demo and the benchmark: Debian 12's keystone,
//! glance, placement, neutron-api, nova (api, conductor, scheduler), masakari (api, engine),
//! MariaDB and RabbitMQ in the control node of a multi-node cluster (`tests/multinode`), and three
//! compute hosts named as in the deployment walkthrough — each a pacemaker-remote node with its
//! own libvirtd (qemu TCG) and nova-compute, all sharing one `instances_path`. The work is done by
//! `scripts/openstack-env`; this crate starts it, drives the real `openstack` client inside the
//! control node and reads its tables.
//!
//! ```no_run
//! use oxha_openstack_env::{OpenStack, COMPUTES};
//! let os = OpenStack::start();           // cluster + control plane + computes + Pacemaker config
//! os.boot_server("bionic-1", COMPUTES[1].host);
//! let died = os.kill_compute(COMPUTES[1].node);
//! let host = os.wait_server_host("bionic-1", COMPUTES[0].host, std::time::Duration::from_secs(180));
//! ```

mod api;
pub use api::ServerRow;

use oxha_harness::{wait_for, workspace_root, Run};
use oxha_multinode::{now, MultiCluster, Topology, INFRA_ADDR, MAAS_PORT};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A compute host: its Pacemaker node name and its host name (nova `host=`, the hypervisor
/// hostname and the Masakari host name). `virt-node-10` is known to Pacemaker by its short
/// name: its fence_masakari plug comes from `pcmk_host_map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compute {
    pub node: &'static str,
    pub host: &'static str,
    pub addr: &'static str,
}

pub const COMPUTES: [Compute; 3] = [
    Compute {
        node: "virt-node-01.maas",
        host: "virt-node-01.maas",
        addr: "10.77.0.4",
    },
    Compute {
        node: "virt-node-02.maas",
        host: "virt-node-02.maas",
        addr: "10.77.0.5",
    },
    Compute {
        node: "virt-node-10",
        host: "virt-node-10.maas",
        addr: "10.77.0.6",
    },
];

/// The control node (not a cluster member: no cluster daemon runs there).
pub const CONTROL: &str = "control";

/// The resource defaults charm-hacluster sets on every cluster it builds (`hooks/utils.py`),
/// which oxha's README asks of a cluster built by hand.
pub const RSC_DEFAULTS: &str = "rsc_defaults rsc-options: resource-stickiness=100\n";
pub const KEYSTONE_URL: &str = "http://10.77.0.250:5000/v3";
/// The Masakari service user (its password is a test constant of scripts/openstack-env).
pub const MASAKARI_USER: &str = "masakari";
const MASAKARI_PASSWORD: &str = "oxha-masakari";

pub const POWER_DEVICE: &str = "fence_compute_maas";
pub const MASAKARI_DEVICE: &str = "fence_compute_masakari";
pub const RESTART_RESOURCE: &str = "masakari-restart";

/// A fourth compute host, for the soak (`OpenStack::start_with`): in no walkthrough table.
pub const EXTRA_COMPUTE: Compute = Compute {
    node: "virt-node-03.maas",
    host: "virt-node-03.maas",
    addr: "10.77.0.7",
};

/// The walkthrough's three compute hosts and [`EXTRA_COMPUTE`], in address order.
pub const ALL_COMPUTES: [Compute; 4] = [COMPUTES[0], COMPUTES[1], COMPUTES[2], EXTRA_COMPUTE];

pub fn compute(node_or_host: &str) -> Compute {
    ALL_COMPUTES
        .iter()
        .copied()
        .find(|c| c.node == node_or_host || c.host == node_or_host)
        .unwrap_or_else(|| panic!("no compute host {node_or_host}"))
}

pub fn script() -> PathBuf {
    workspace_root().join("tests/openstack-env/scripts/openstack-env")
}

/// Where the bootstrapped databases are kept between runs.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("OXHA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/oxha-cache"))
        .join("openstack")
}

/// One ASCII table of the openstack client: the header, then the rows, cells trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub text: String,
}

impl Table {
    pub fn parse(text: &str) -> Table {
        let mut lines = text.lines().filter(|l| l.starts_with('|')).map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<String>>()
        });
        let header = lines.next().unwrap_or_default();
        Table {
            header,
            rows: lines.collect(),
            text: text.to_string(),
        }
    }

    /// The rows sorted (the client lists in database order; the walkthrough's tables are
    /// compared row by row, whatever their order).
    pub fn sorted_rows(&self) -> Vec<Vec<String>> {
        let mut rows = self.rows.clone();
        rows.sort();
        rows
    }

    /// The value of a `Field | Value` table (`server show -c ...`).
    pub fn field(&self, name: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .and_then(|r| r.get(1).cloned())
    }
}

/// Rows from string literals, for comparing with [`Table::sorted_rows`].
pub fn rows(expected: &[&[&str]]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = expected
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    rows.sort();
    rows
}

/// Timings of one host failure, seconds since the node died.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    pub died_at: f64,
    pub fenced: Option<f64>,
    pub notified: Option<f64>,
    pub active: Option<f64>,
}

impl Recovery {
    pub fn print(&self, scenario: &str) {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.1}s"));
        eprintln!(
            "timing: {scenario}: node death → fenced {} → Masakari notified {} → instance ACTIVE elsewhere {}",
            show(self.fenced),
            show(self.notified),
            show(self.active)
        );
    }
}

/// `openstack compute service list -c Host -c Status -c State --service nova-compute`: the
/// walkthrough's view of the compute hosts (the tests' and the demo's).
pub const COMPUTE_SERVICE_LIST: &[&str] = &[
    "compute",
    "service",
    "list",
    "-c",
    "Host",
    "-c",
    "Status",
    "-c",
    "State",
    "--service",
    "nova-compute",
];

/// [`COMPUTE_SERVICE_LIST`] with nova's `Forced Down` column (`--long`, microversion 2.11 on).
pub const COMPUTE_SERVICE_FORCED_LIST: &[&str] = &[
    "--os-compute-api-version",
    "2.53",
    "compute",
    "service",
    "list",
    "--long",
    "--service",
    "nova-compute",
    "-c",
    "Host",
    "-c",
    "Status",
    "-c",
    "State",
    "-c",
    "Forced Down",
];

/// `openstack segment host list -c name -c reserved -c on_maintenance SEGMENT`.
pub fn segment_host_list(segment: &str) -> [&str; 10] {
    [
        "segment",
        "host",
        "list",
        "-c",
        "name",
        "-c",
        "reserved",
        "-c",
        "on_maintenance",
        segment,
    ]
}

pub struct OpenStack {
    pub cluster: MultiCluster,
    state: PathBuf,
    /// The compute hosts this stack runs ([`COMPUTES`] unless started with others).
    computes: Vec<Compute>,
    /// What the last [`OpenStack::set_nova_force_down`] / [`OpenStack::set_masakari_wait`]
    /// set, so that [`OpenStack::fresh`] restores the defaults only when a scenario changed them
    /// (each change restarts a device or masakari-engine).
    settings: Mutex<Settings>,
}

/// fence_masakari's `nova_force_down` and Masakari's `wait_period_after_service_update`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Settings {
    nova_force_down: bool,
    masakari_wait: u32,
}

impl Settings {
    /// As `OpenStack::start` configures them (scripts/openstack-env writes the wait).
    const DEFAULT: Settings = Settings {
        nova_force_down: false,
        masakari_wait: 12,
    };
}

impl OpenStack {
    /// Starts the cluster (three full nodes, the three compute hosts as pacemaker-remote nodes, a
    /// control node), the MAAS simulator, the control plane, libvirtd + nova-compute on every
    /// compute host, and configures Pacemaker as the charms do for instance HA: fence_maas then
    /// fence_masakari in one topology level per compute host, masakari-restart cloned on the
    /// compute hosts. Returns once nova lists the three nova-compute services up and Pacemaker
    /// runs the clone everywhere. Progress goes to stderr.
    pub fn start() -> OpenStack {
        OpenStack::start_with(&COMPUTES)
    }

    /// [`OpenStack::start`] with other compute hosts (each addressed as its place in
    /// [`ALL_COMPUTES`] says: they must be its first N, in order).
    pub fn start_with(computes: &[Compute]) -> OpenStack {
        assert!(
            computes.len() <= ALL_COMPUTES.len() && computes == &ALL_COMPUTES[..computes.len()],
            "compute hosts must be the first ones of ALL_COMPUTES, in order"
        );
        let started = Instant::now();
        let remotes: Vec<(&str, &str)> = computes.iter().map(|c| (c.node, c.host)).collect();
        let cluster = MultiCluster::start_with(Topology::new(&remotes, Some(CONTROL)));
        let state = cluster.state_dir().to_path_buf();
        let os = OpenStack {
            cluster,
            state,
            computes: computes.to_vec(),
            settings: Mutex::new(Settings::DEFAULT),
        };
        let hosts: Vec<&str> = os.computes.iter().map(|c| c.host).collect();
        eprintln!(
            "openstack: cluster up ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        // The control plane (slow: Python services) starts while Pacemaker is configured.
        std::thread::scope(|s| {
            let control = s.spawn(|| os.start_control());
            // As charm-hacluster configures every cluster: without stickiness Pacemaker moves
            // remote connections back whenever a full node rejoins, and a full node that dies
            // while a connection migrates to it gets the healthy compute host behind that
            // connection fenced (and its instances evacuated). The soak met it.
            os.cluster.crm_configure("node1", RSC_DEFAULTS).expect_ok();
            os.cluster.configure_fencing();
            os.cluster
                .add_remote_nodes(&os.computes.iter().map(|c| c.node).collect::<Vec<_>>());
            eprintln!(
                "openstack: fencing configured, compute nodes online in Pacemaker ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
            control
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
        });
        eprintln!(
            "openstack: control plane up ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        std::thread::scope(|s| {
            for &c in &os.computes {
                let os = &os;
                s.spawn(move || os.start_compute(c));
            }
        });
        os.wait_computes_up(&hosts, Duration::from_secs(180));
        eprintln!(
            "openstack: nova-compute up on {} ({:.1}s)",
            hosts.join(", "),
            started.elapsed().as_secs_f64()
        );
        os.configure_instance_ha();
        eprintln!("openstack: ready ({:.1}s)", started.elapsed().as_secs_f64());
        os
    }

    fn start_control(&self) {
        let cache = cache_dir().to_string_lossy().into_owned();
        self.env_step(
            CONTROL,
            "control",
            &[&cache],
            "the control plane did not start",
        );
    }

    /// `scripts/openstack-env SUBCOMMAND STATE ARGS...` in `node`, its progress on stderr;
    /// fails with `failure` and every service log's tail unless it succeeds.
    #[track_caller]
    fn env_step(&self, node: &str, subcommand: &str, args: &[&str], failure: &str) {
        let script = script();
        let state = self.state.to_string_lossy().into_owned();
        let mut argv = vec![script.to_str().unwrap_or_default(), subcommand, &state];
        argv.extend_from_slice(args);
        let r = self.run_progress(node, &argv);
        assert!(r.ok(), "{failure}: {r}\n{}", self.logs());
    }

    /// Runs a command in a node with its stderr passed through (progress lines).
    fn run_progress(&self, node: &str, argv: &[&str]) -> Run {
        let mcluster = workspace_root().join("tests/multinode/scripts/mcluster");
        let mut cmd = std::process::Command::new(mcluster);
        cmd.arg("exec").arg(&self.state).arg(node).args(argv);
        cmd.stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        let command = format!("[{node}] {}", argv.join(" "));
        match cmd.output() {
            Ok(out) => Run {
                command,
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::new(),
            },
            Err(e) => Run {
                command,
                code: -1,
                stdout: String::new(),
                stderr: e.to_string(),
            },
        }
    }

    /// libvirtd and nova-compute on `c` (its node must be running).
    pub fn start_compute(&self, c: Compute) {
        self.env_step(
            c.node,
            "compute",
            &[c.host, c.addr],
            &format!("{} did not start", c.host),
        );
    }

    /// The real `openstack` client, run in the control node with the admin credentials.
    pub fn openstack(&self, args: &[&str]) -> Run {
        let script = script();
        let state = self.state.to_string_lossy().into_owned();
        let mut argv = vec![script.to_str().unwrap_or_default(), "os", &state];
        argv.extend_from_slice(args);
        let mut r = self.cluster.run(CONTROL, &argv);
        r.command = format!("openstack {}", args.join(" "));
        r
    }

    /// `openstack ARGS` that must succeed, as a table.
    #[track_caller]
    pub fn table(&self, args: &[&str]) -> Table {
        Table::parse(&self.openstack(args).expect_ok().stdout)
    }

    /// The walkthrough's `openstack compute service list` ([`COMPUTE_SERVICE_LIST`]).
    pub fn compute_service_table(&self) -> Table {
        self.table(COMPUTE_SERVICE_LIST)
    }

    /// The walkthrough's `openstack segment host list SEGMENT` ([`segment_host_list`]).
    pub fn segment_host_table(&self, segment: &str) -> Table {
        self.table(&segment_host_list(segment))
    }

    /// `openstack server show NAME -c OS-EXT-SRV-ATTR:host`
    pub fn server_host_table(&self, name: &str) -> Table {
        self.table(&["server", "show", name, "-c", "OS-EXT-SRV-ATTR:host"])
    }

    /// (status, host) of a server, or None if the client could not say.
    pub fn server_state(&self, name: &str) -> Option<(String, String)> {
        let r = self.openstack(&[
            "server",
            "show",
            name,
            "-f",
            "value",
            "-c",
            "status",
            "-c",
            "OS-EXT-SRV-ATTR:host",
        ]);
        if !r.ok() {
            return None;
        }
        let mut lines = r.stdout.lines();
        // -f value prints the columns in alphabetical order: host first, then status.
        let host = lines.next()?.trim().to_string();
        let status = lines.next()?.trim().to_string();
        Some((status, host))
    }

    /// Boots `name` from image `tiny` (flavor `m1.tiny`, no network) on `host` and waits until
    /// it is ACTIVE there. Returns its id.
    pub fn boot_server(&self, name: &str, host: &str) -> String {
        let r = self
            .openstack(&[
                "--os-compute-api-version",
                "2.74",
                "server",
                "create",
                "--image",
                "tiny",
                "--flavor",
                "m1.tiny",
                "--nic",
                "none",
                "--host",
                host,
                "--wait",
                name,
                "-f",
                "value",
                "-c",
                "id",
            ])
            .expect_ok();
        let (status, on) = self
            .server_state(name)
            .unwrap_or_else(|| panic!("server show {name} failed"));
        if (status.as_str(), on.as_str()) != ("ACTIVE", host) {
            // nova's own reason (NoValidHost and the filter that said no, a libvirt error…).
            let fault = self.openstack(&["server", "show", name, "-f", "value", "-c", "fault"]);
            panic!(
                "{name} did not boot on {host}: {status} on {on}; nova's fault: {}",
                fault.stdout.trim()
            );
        }
        r.stdout.trim().to_string()
    }

    /// Waits until `name` is ACTIVE on `host`.
    #[track_caller]
    pub fn wait_server_host(&self, name: &str, host: &str, timeout: Duration) -> f64 {
        wait_for(&format!("{name} ACTIVE on {host}"), timeout, || {
            let (status, on) = self.server_state(name)?;
            (status == "ACTIVE" && on == host).then(now)
        })
    }

    /// Waits until `name` has status `status`.
    #[track_caller]
    pub fn wait_server_status(&self, name: &str, status: &str, timeout: Duration) {
        wait_for(&format!("{name} {status}"), timeout, || {
            let (s, _) = self.server_state(name)?;
            (s == status).then_some(())
        })
    }

    /// The libvirt domain name of a server (`OS-EXT-SRV-ATTR:instance_name`).
    pub fn instance_name(&self, name: &str) -> String {
        self.openstack(&[
            "server",
            "show",
            name,
            "-f",
            "value",
            "-c",
            "OS-EXT-SRV-ATTR:instance_name",
        ])
        .expect_ok()
        .stdout
        .trim()
        .to_string()
    }

    /// Waits until exactly one qemu runs `instance` on `node` and it is not one of `old` (a
    /// crashed guest started again): its pid and when it was seen.
    #[track_caller]
    pub fn wait_new_qemu(
        &self,
        node: &str,
        instance: &str,
        old: &[u32],
        timeout: Duration,
    ) -> (u32, f64) {
        wait_for(
            &format!("a new qemu for {instance}"),
            timeout,
            || match self.qemu_pids(node, instance)[..] {
                [pid] if !old.contains(&pid) => Some((pid, now())),
                _ => None,
            },
        )
    }

    /// Pids of the qemu processes running `instance` on compute node `node` (the seed's
    /// `pgrep -f guest=instance-00000001`).
    pub fn qemu_pids(&self, node: &str, instance: &str) -> Vec<u32> {
        if !self.cluster.running(node) {
            return Vec::new();
        }
        self.cluster
            .run(node, &["pgrep", "-f", &format!("guest={instance},")])
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Power loss of a compute host: every process of its node dies at once (qemu included).
    /// Returns when it died (epoch seconds).
    pub fn kill_compute(&self, node: &str) -> f64 {
        let at = now();
        self.cluster.kill(node);
        at
    }

    /// The failed host comes back: its node boots (MAAS says on), Pacemaker reconnects it,
    /// libvirtd and nova-compute start, and nova sees the service up again.
    pub fn reboot_compute(&self, c: Compute) {
        self.boot_compute(c);
        self.wait_computes_up(&[c.host], Duration::from_secs(120));
    }

    /// [`OpenStack::reboot_compute`] without waiting for nova to count the service up (a
    /// service marked forced_down stays down, heartbeats or not, until `set --up`).
    pub fn boot_compute(&self, c: Compute) {
        if !self.cluster.running(c.node) {
            self.cluster.boot(c.node);
        }
        self.cluster.crm("node1", &["resource", "cleanup", c.node]);
        self.cluster.wait_node(
            "node1",
            c.node,
            "online again",
            Duration::from_secs(90),
            |s| s.online,
        );
        self.start_compute(c);
        self.wait_heartbeats(c.host);
    }

    /// Waits until nova-compute on `host` has finished starting: its service record's
    /// `updated_at` changed twice. nova-compute saves the record once early in its start (nova
    /// counts it up from then on), but heartbeats, and the RPC server, only begin after its first
    /// resource update, which takes seconds on a loaded machine: a host enabled or booted onto
    /// before then is refused (the scheduler sees it down again, the placement trait of its
    /// disabled state is not lifted). Heartbeats run whether or not the service is forced down.
    #[track_caller]
    pub fn wait_heartbeats(&self, host: &str) {
        let updated_at = || {
            let r = self.openstack(&[
                "compute",
                "service",
                "list",
                "--service",
                "nova-compute",
                "--host",
                host,
                "-f",
                "value",
                "-c",
                "Updated At",
            ]);
            r.ok().then(|| r.stdout.trim().to_string())
        };
        let mut seen = updated_at();
        let mut changes = 0;
        wait_for(
            &format!("nova-compute on {host} to heartbeat"),
            Duration::from_secs(120),
            || {
                let now = updated_at();
                if now.is_some() && now != seen {
                    changes += 1;
                    seen = now;
                }
                (changes >= 2).then_some(())
            },
        );
    }

    /// Waits until nova lists nova-compute `up` on every one of `hosts`.
    #[track_caller]
    pub fn wait_computes_up(&self, hosts: &[&str], timeout: Duration) {
        wait_for(
            &format!("nova-compute up on {}", hosts.join(", ")),
            timeout,
            || {
                let r = self.openstack(&[
                    "compute",
                    "service",
                    "list",
                    "--service",
                    "nova-compute",
                    "-f",
                    "value",
                    "-c",
                    "Host",
                    "-c",
                    "State",
                ]);
                let up: Vec<&str> = r
                    .stdout
                    .lines()
                    .filter_map(|l| l.strip_suffix(" up"))
                    .collect();
                hosts.iter().all(|h| up.contains(h)).then_some(())
            },
        )
    }

    /// Masakari's notifications (`openstack notification list -f json`), oldest first.
    /// (`notification show` also asks the engine for the recovery workflow, which it keeps only
    /// with a taskflow persistence backend.)
    pub fn notifications(&self) -> Vec<Notification> {
        let r = self.openstack(&["notification", "list", "-f", "json"]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap_or_default();
        api::notifications_of(&list)
    }

    /// When masakari-api accepted (202) a notification, and from which address, oldest first,
    /// read from its log (milliseconds; the API keeps `generated_time` only to the second).
    pub fn notification_posts(&self) -> Vec<(f64, String)> {
        let log = self.state.join("openstack/logs/masakari-api.log");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter(|l| {
                l.contains("/notifications HTTP")
                    && l.contains("\"POST ")
                    && l.contains("status: 202")
            })
            .filter_map(|l| {
                let at = oxha_multinode::masakari::epoch_of(l.get(..23)?)?;
                let from = l.split("] ").nth(1)?.split_whitespace().next()?.to_string();
                Some((at, from))
            })
            .collect()
    }

    /// When masakari-api first accepted a notification after `since` (see
    /// [`OpenStack::notification_posts`]).
    pub fn notification_accepted_after(&self, since: f64) -> Option<f64> {
        self.notification_posts()
            .into_iter()
            .map(|(at, _)| at)
            .find(|&at| at >= since)
    }

    /// What nova-api said when a service update (Masakari's disable) of `host`'s nova-compute
    /// after `since` wanted to tell the host: `Some(true)` when nova counted the service down
    /// (it then skips its RPC to the host), `Some(false)` when it counted it up and its RPC to
    /// the dead host failed (after rpc_response_timeout), `None` before either.
    pub fn nova_counted_down_at_disable(&self, host: &str, since: f64) -> Option<bool> {
        let log = self.state.join("openstack/logs/nova-api.log");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let down = format!("Compute service on host {host} is down.");
        let rpc_failed = format!("resource providers managed by host {host}.");
        text.lines()
            .filter(|l| {
                l.get(..23)
                    .and_then(oxha_multinode::masakari::epoch_of)
                    .is_some_and(|at| at >= since)
            })
            .find_map(|l| {
                if l.contains(&down) {
                    Some(true)
                } else if l.contains(&rpc_failed) {
                    Some(false)
                } else {
                    None
                }
            })
    }

    /// Waits for a notification matching `pred` and returns it.
    #[track_caller]
    pub fn wait_notification(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Notification) -> bool,
    ) -> Notification {
        wait_for(what, timeout, || {
            self.notifications().into_iter().find(&pred)
        })
    }

    /// Pacemaker, as the charms configure instance HA, with oxha's agents: per compute host one
    /// fencing-topology level, fence_maas (power, MAAS simulator) then fence_masakari (keystone
    /// auth, the catalog's instance-ha endpoint; `virt-node-10` mapped to its FQDN with
    /// `pcmk_host_map`), and the masakari-restart clone on the compute hosts.
    pub fn configure_instance_ha(&self) {
        let nodes: Vec<&str> = self.computes.iter().map(|c| c.node).collect();
        let key = self.cluster.start_maas_sim();
        let host_map: Vec<String> = self
            .computes
            .iter()
            .filter(|c| c.node != c.host)
            .map(|c| format!("{}:{}", c.node, c.host))
            .collect();
        let topology: Vec<String> = nodes
            .iter()
            .map(|n| format!("{n}: {POWER_DEVICE},{MASAKARI_DEVICE}"))
            .collect();
        let auth = format!(
            "auth_url={KEYSTONE_URL} username={MASAKARI_USER} password={MASAKARI_PASSWORD} \
             project_name=service"
        );
        let text = format!(
            "primitive {POWER_DEVICE} stonith:fence_maas \\\n\
             \tparams ip={INFRA_ADDR} ipport={MAAS_PORT} api_key_file={key} power_timeout=10s \\\n\
             \tpcmk_host_list=\"{hosts}\" \\\n\
             \top monitor interval=120s\n\
             primitive {MASAKARI_DEVICE} stonith:fence_masakari \\\n\
             \tparams {auth} \\\n\
             \tpcmk_host_list=\"{hosts}\" pcmk_host_map=\"{map}\" \\\n\
             \top monitor interval=120s\n\
             fencing_topology {topology}\n\
             primitive {RESTART_RESOURCE} ocf:oxha:masakari-restart \\\n\
             \tparams {auth} \\\n\
             \top monitor interval=2s timeout=40s\n\
             clone cl-{RESTART_RESOURCE} {RESTART_RESOURCE} meta interleave=true\n\
             location {RESTART_RESOURCE}-on-computes cl-{RESTART_RESOURCE} \\\n\
             \trule -inf: #kind ne remote\n",
            key = key.display(),
            hosts = nodes.join(" "),
            map = host_map.join(";"),
            topology = topology.join(" "),
        );
        self.cluster.crm_configure("node1", &text).expect_ok();
        wait_for(
            "masakari-restart running on every compute host",
            Duration::from_secs(120),
            || {
                let mut on = self.cluster.active_on("node1", RESTART_RESOURCE);
                on.sort();
                let mut want: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
                want.sort();
                (on == want).then_some(())
            },
        );
    }

    /// The walkthrough's segment: `openstack segment create NAME METHOD COMPUTE`, the three
    /// hosts (`virt-node-10.maas`, `virt-node-02.maas`, then `virt-node-01.maas`, `--reserved
    /// True` when it is `reserved`), and the reserved host disabled in nova.
    pub fn create_segment(&self, name: &str, method: &str, reserved: Option<&str>) {
        self.create_segment_of(
            name,
            method,
            &[COMPUTES[2].host, COMPUTES[1].host, COMPUTES[0].host],
            reserved,
        );
    }

    /// A segment of `hosts` with recovery `method`; `reserved` is one of them, marked reserved
    /// in Masakari and disabled in nova (the walkthrough's layout for reserved_host).
    pub fn create_segment_of(
        &self,
        name: &str,
        method: &str,
        hosts: &[&str],
        reserved: Option<&str>,
    ) {
        self.openstack(&["segment", "create", name, method, "COMPUTE"])
            .expect_ok();
        for &host in hosts {
            let mut argv = vec!["segment", "host", "create"];
            if reserved == Some(host) {
                argv.extend(["--reserved", "True"]);
            }
            argv.extend([host, "COMPUTE", "SSH", name]);
            self.openstack(&argv).expect_ok();
        }
        if let Some(host) = reserved {
            self.openstack(&[
                "compute",
                "service",
                "set",
                "--disable",
                host,
                "nova-compute",
            ])
            .expect_ok();
        }
    }

    /// Sets masakari.conf `[DEFAULT]` options (`key=value`, each a line the file already has)
    /// and restarts masakari-engine; returns once it runs again.
    #[track_caller]
    pub fn set_masakari_conf(&self, settings: &[&str]) {
        self.env_step(
            CONTROL,
            "masakari-conf",
            settings,
            "masakari.conf could not be changed",
        );
    }

    /// Stops and starts one control-plane service (`keystone`, `rabbitmq`, `masakari-api`,
    /// `masakari-engine`, ...) as an operator would; returns once it answers again.
    #[track_caller]
    pub fn restart_service(&self, name: &str) {
        self.env_step(
            CONTROL,
            "restart",
            &[name],
            &format!("{name} did not come back"),
        );
    }

    /// Kills compute host `victim` (power loss) and follows its recovery: MAAS powers it off
    /// (fence_maas), Masakari gets fence_masakari's COMPUTE_HOST notification, `server` is
    /// ACTIVE on one of `accept`. Returns the timings and the host the server landed on.
    #[track_caller]
    pub fn fail_host(&self, victim: Compute, server: &str, accept: &[&str]) -> (Recovery, String) {
        let events_before = self.cluster.maas_events(victim.node).len();
        let died = self.kill_compute(victim.node);
        let mut rec = Recovery {
            died_at: died,
            ..Default::default()
        };
        let fenced = wait_for(
            &format!("MAAS to power {} off", victim.node),
            Duration::from_secs(90),
            || {
                self.cluster.maas_events(victim.node)[events_before..]
                    .iter()
                    .any(|e| e == "off")
                    .then(now)
            },
        );
        rec.fenced = Some(fenced - died);
        let landed = wait_for(
            &format!("{server} ACTIVE on one of {accept:?}"),
            Duration::from_secs(300),
            || {
                let (status, host) = self.server_state(server)?;
                (status == "ACTIVE" && accept.contains(&host.as_str())).then_some(host)
            },
        );
        rec.active = Some(now() - died);
        let notification = self
            .notifications()
            .into_iter()
            .rev()
            .find(|n| n.kind == "COMPUTE_HOST")
            .unwrap_or_else(|| panic!("Masakari got no COMPUTE_HOST notification"));
        assert!(
            notification.payload.contains("STOPPED") && notification.payload.contains("NORMAL"),
            "{notification:?}"
        );
        rec.notified = Some(notification.generated_at - died);
        // generated_time is kept to the second; MAAS's "off" is seen within a poll.
        assert!(
            notification.generated_at >= fenced - 1.5,
            "Masakari was notified before MAAS powered the host off: {notification:?}"
        );
        (rec, landed)
    }

    /// When `node` was fenced successfully, after `since` (the MAAS simulator's power-off).
    pub fn fenced_at(&self, node: &str, since: f64) -> Option<f64> {
        self.cluster.powered_off_at(node, since).or_else(|| {
            self.cluster
                .maas_events(node)
                .iter()
                .any(|e| e.starts_with("off"))
                .then(now)
        })
    }

    /// The state every scenario starts from, whatever the last one left: fence_masakari's
    /// `nova_force_down` off and Masakari's wait as configured at start, every failed host
    /// booted again and its forced_down cleared, nova-compute up everywhere, then
    /// [`OpenStack::reset`].
    pub fn fresh(&self) {
        self.fresh_with(
            Settings::DEFAULT.nova_force_down,
            Settings::DEFAULT.masakari_wait,
        );
    }

    /// [`OpenStack::fresh`] with fence_masakari's `nova_force_down` and Masakari's
    /// `wait_period_after_service_update` as given (each changed only if it differs).
    pub fn fresh_with(&self, nova_force_down: bool, masakari_wait: u32) {
        self.set_nova_force_down(nova_force_down);
        self.set_masakari_wait(masakari_wait);
        for &c in &self.computes {
            if !self.cluster.running(c.node) {
                self.boot_compute(c);
            }
            if self.forced_down(c.host) == Some(true) {
                self.clear_forced_down(c.host);
            }
        }
        self.wait_computes_up(&self.hosts(), Duration::from_secs(120));
        self.reset();
    }

    /// Deletes every server and every segment, clears maintenance and enables every
    /// nova-compute service: the state every scenario starts from. Failed hosts must have been
    /// rebooted first ([`OpenStack::reboot_compute`]).
    pub fn reset(&self) {
        let servers = self
            .openstack(&["server", "list", "-f", "value", "-c", "ID"])
            .stdout;
        let ids: Vec<&str> = servers.split_whitespace().collect();
        if !ids.is_empty() {
            let mut argv = vec!["server", "delete", "--wait"];
            argv.extend(ids.iter());
            self.openstack(&argv).expect_ok();
        }
        let segments = self
            .openstack(&["segment", "list", "-f", "value", "-c", "name"])
            .stdout;
        for segment in segments.split_whitespace() {
            let hosts = self
                .openstack(&[
                    "segment", "host", "list", "-f", "value", "-c", "name", segment,
                ])
                .stdout;
            for host in hosts.split_whitespace() {
                self.openstack(&["segment", "host", "delete", segment, host])
                    .expect_ok();
            }
            self.openstack(&["segment", "delete", segment]).expect_ok();
        }
        for c in &self.computes {
            self.openstack(&[
                "compute",
                "service",
                "set",
                "--enable",
                c.host,
                "nova-compute",
            ])
            .expect_ok();
        }
    }

    /// [`COMPUTE_SERVICE_FORCED_LIST`] as a table.
    pub fn compute_service_forced_table(&self) -> Table {
        self.table(COMPUTE_SERVICE_FORCED_LIST)
    }

    /// Whether nova has `host`'s nova-compute service forced down (None: the client failed or
    /// has no such row).
    pub fn forced_down(&self, host: &str) -> Option<bool> {
        let r = self.openstack(COMPUTE_SERVICE_FORCED_LIST);
        if !r.ok() {
            return None;
        }
        let table = Table::parse(&r.stdout);
        let row = table
            .rows
            .iter()
            .find(|row| row.first().is_some_and(|h| h == host))?;
        match row.get(3).map(String::as_str) {
            Some("True") => Some(true),
            Some("False") => Some(false),
            _ => None,
        }
    }

    /// The walkthrough's reinsert of a failed host that is running again: `openstack compute
    /// service set --enable HOST nova-compute` and `openstack segment host update
    /// --on_maintenance=False SEGMENT HOST`.
    #[track_caller]
    pub fn reinsert(&self, segment: &str, host: &str) {
        self.openstack(&[
            "compute",
            "service",
            "set",
            "--enable",
            host,
            "nova-compute",
        ])
        .expect_ok();
        self.openstack(&[
            "segment",
            "host",
            "update",
            "--on_maintenance=False",
            segment,
            host,
        ])
        .expect_ok();
    }

    /// The operator's half of forced_down: `openstack compute service set --up HOST
    /// nova-compute` (nova counts the service by its heartbeats again).
    /// Asked again until nova shows it cleared: nova refuses it (400, "Unable to force up
    /// host ... `done` evacuation migration records remain") until the host's restarted
    /// nova-compute has cleaned up the instances evacuated from it. That start completes only
    /// one evacuation record per instance: an instance evacuated twice from the host (Masakari
    /// re-running a recovery whose first evacuation RabbitMQ's restart delayed, as the chaos
    /// soak met it) leaves the other record `done`, and nova refuses until nova-compute starts
    /// again. Refused for 30 s, the host's nova-compute is restarted once, as an operator
    /// would.
    pub fn clear_forced_down(&self, host: &str) {
        let c = compute(host);
        let asked = std::time::Instant::now();
        let mut restarted = false;
        wait_for(
            &format!("nova to clear forced_down of {host}"),
            Duration::from_secs(120),
            || {
                if !restarted && asked.elapsed() > Duration::from_secs(30) {
                    eprintln!("openstack: nova still refuses to clear forced_down of {host}: restarting its nova-compute");
                    self.env_step(
                        c.node,
                        "restart-nova-compute",
                        &[c.host],
                        &format!("nova-compute of {host} did not restart"),
                    );
                    self.wait_heartbeats(c.host);
                    restarted = true;
                }
                let r = self.openstack(&[
                    "--os-compute-api-version",
                    "2.53",
                    "compute",
                    "service",
                    "set",
                    "--up",
                    host,
                    "nova-compute",
                ]);
                if !r.ok() {
                    eprintln!("openstack: {}: {}", r.command, r.stderr.trim());
                }
                (self.forced_down(host) == Some(false)).then_some(())
            },
        )
    }

    /// fence_masakari's `nova_force_down` on the compute hosts' fence_masakari device; returns
    /// once the cluster has settled (the device restarts with its new parameters).
    pub fn set_nova_force_down(&self, on: bool) {
        let mut settings = self.settings();
        if settings.nova_force_down == on {
            return;
        }
        self.cluster
            .run(
                "node1",
                &[
                    "crm_resource",
                    "--resource",
                    MASAKARI_DEVICE,
                    "--set-parameter",
                    "nova_force_down",
                    "--parameter-value",
                    if on { "true" } else { "false" },
                ],
            )
            .expect_ok();
        self.cluster.wait_idle("node1", Duration::from_secs(90));
        settings.nova_force_down = on;
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Masakari's `wait_period_after_service_update` (seconds after disabling the failed
    /// host's service, before evacuating): rewrites masakari.conf and restarts masakari-engine.
    pub fn set_masakari_wait(&self, seconds: u32) {
        let mut settings = self.settings();
        if settings.masakari_wait == seconds {
            return;
        }
        self.env_step(
            CONTROL,
            "masakari-wait",
            &[&seconds.to_string()],
            "masakari-engine did not restart",
        );
        settings.masakari_wait = seconds;
    }

    /// Who tells Masakari about a failed host: fence_masakari in every compute host's fencing
    /// level after fence_maas (`true`, as configured at start), or nobody in Pacemaker
    /// (`false`: fence_maas alone, the fence_masakari device stopped; masakari-hostmonitor's
    /// place). The topology changes first either way: a level naming a stopped device fails,
    /// and fence_masakari refuses to start outside a level.
    pub fn set_fence_masakari(&self, on: bool) {
        let levels: String = self
            .computes
            .iter()
            .map(|c| {
                let devices = if on {
                    format!("{POWER_DEVICE},{MASAKARI_DEVICE}")
                } else {
                    POWER_DEVICE.to_string()
                };
                format!(
                    "<fencing-level id=\"fl-{n}-1\" target=\"{n}\" index=\"1\" devices=\"{devices}\"/>",
                    n = c.node
                )
            })
            .collect();
        self.cluster
            .run(
                "node1",
                &[
                    "cibadmin",
                    "--replace",
                    "--scope",
                    "fencing-topology",
                    "--xml-text",
                    &format!("<fencing-topology>{levels}</fencing-topology>"),
                ],
            )
            .expect_ok();
        self.set_target_role(MASAKARI_DEVICE, on);
    }

    /// A parameter of the masakari-restart clone (`event_wait`, ...); `None` removes it (a
    /// parameter that is not set is left so).
    pub fn set_restart_param(&self, name: &str, value: Option<&str>) {
        self.set_param(RESTART_RESOURCE, name, value);
    }

    /// A parameter of the fence_masakari device (`nova_down_wait`, ...), as
    /// [`OpenStack::set_restart_param`]; `nova_force_down` has [`OpenStack::fresh_with`].
    pub fn set_fence_masakari_param(&self, name: &str, value: Option<&str>) {
        self.set_param(MASAKARI_DEVICE, name, value);
    }

    fn set_param(&self, resource: &str, name: &str, value: Option<&str>) {
        let mut argv = vec!["crm_resource", "--resource", resource];
        match value {
            Some(v) => argv.extend(["--set-parameter", name, "--parameter-value", v]),
            None => argv.extend(["--delete-parameter", name]),
        }
        let r = self.cluster.run("node1", &argv);
        if value.is_some() {
            r.expect_ok();
        }
        self.cluster.wait_idle("node1", Duration::from_secs(90));
    }

    /// Runs or stops the masakari-restart clone (masakari-instancemonitor's place).
    pub fn set_masakari_restart(&self, on: bool) {
        self.set_target_role(&format!("cl-{RESTART_RESOURCE}"), on);
    }

    /// Starts or stops a Pacemaker resource (its target-role) and waits for the cluster to
    /// settle.
    fn set_target_role(&self, resource: &str, on: bool) {
        self.set_target_role_only(resource, on).expect_ok();
        self.cluster.wait_idle("node1", Duration::from_secs(90));
    }

    /// `crm_resource` setting `resource`'s target-role, nothing waited for.
    fn set_target_role_only(&self, resource: &str, on: bool) -> Run {
        let role = if on { "Started" } else { "Stopped" };
        self.cluster.run(
            "node1",
            &[
                "crm_resource",
                "--resource",
                resource,
                "--meta",
                "--set-parameter",
                "target-role",
                "--parameter-value",
                role,
            ],
        )
    }

    /// When nova received the last `action` (`evacuate`, `start`, ...) for server `name`
    /// (`openstack server event list`), epoch seconds.
    pub fn server_action_at(&self, name: &str, action: &str) -> Option<f64> {
        let r = self.openstack(&["server", "event", "list", name, "-f", "json"]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).ok()?;
        list.iter()
            .filter(|e| e["Action"].as_str() == Some(action))
            .filter_map(|e| e["Start Time"].as_str())
            .filter_map(oxha_multinode::masakari::epoch_of)
            .reduce(f64::max)
    }

    /// The compute hosts this stack runs.
    pub fn computes(&self) -> &[Compute] {
        &self.computes
    }

    /// Their host names (nova, Masakari).
    pub fn hosts(&self) -> Vec<&'static str> {
        self.computes.iter().map(|c| c.host).collect()
    }

    /// The state directory of the cluster and of the OpenStack (`STATE/openstack/logs`, ...).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state
    }

    /// The tail of every service log and of the cluster's logs, for failure messages.
    pub fn logs(&self) -> String {
        let script = script();
        let r = oxha_harness::run(&[
            script.to_str().unwrap_or_default(),
            "tail",
            &self.state.to_string_lossy(),
        ]);
        format!("{}\n{}", r.stdout, self.cluster.logs())
    }
}

/// Debian's masakari-monitors (python3-masakari-monitors), the daemons oxha's agents replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// masakari-hostmonitor: reports remote nodes Pacemaker sees offline.
    Host,
    /// masakari-instancemonitor: reports libvirt lifecycle events of the host's guests.
    Instance,
}

impl Monitor {
    pub fn name(self) -> &'static str {
        match self {
            Monitor::Host => "masakari-hostmonitor",
            Monitor::Instance => "masakari-instancemonitor",
        }
    }

    /// The configuration charm-masakari-monitors writes (`restrict_to_remotes = True`,
    /// `disable_ipmi_check = True`, its corosync interface; everything else at the package's
    /// defaults, e.g. `monitoring_interval = 60`), plus what running without systemd needs:
    /// `pacemaker_node_type = remote` (what autodetect finds on a compute host, by asking
    /// systemctl) and privsep's helper started directly (we are root). `extra` is appended to
    /// `[host]`.
    pub fn conf(
        self,
        host: &str,
        log: &std::path::Path,
        file: &std::path::Path,
        extra: &str,
    ) -> String {
        format!(
            "[DEFAULT]\n\
             hostname = {host}\n\
             log_file = {log}\n\
             debug = true\n\
             [api]\n\
             auth_url = {KEYSTONE_URL}\n\
             auth_type = password\n\
             username = {MASAKARI_USER}\n\
             password = {MASAKARI_PASSWORD}\n\
             project_name = service\n\
             user_domain_name = Default\n\
             project_domain_name = Default\n\
             region = RegionOne\n\
             api_interface = public\n\
             [host]\n\
             restrict_to_remotes = True\n\
             disable_ipmi_check = True\n\
             corosync_multicast_interfaces = ens3\n\
             corosync_multicast_ports = 5405\n\
             pacemaker_node_type = remote\n\
             {extra}\n\
             [libvirt]\n\
             connection_uri = qemu:///system\n\
             [masakarimonitors_privileged]\n\
             helper_command = privsep-helper --config-file {file}\n",
            log = log.display(),
            file = file.display(),
        )
    }
}

impl OpenStack {
    fn monitor_paths(&self, c: Compute, monitor: Monitor) -> (PathBuf, PathBuf, PathBuf) {
        let dir = self.state.join("openstack/monitors").join(c.host);
        (
            dir.join(format!("{}.conf", monitor.name())),
            self.state
                .join("openstack/logs")
                .join(c.host)
                .join(format!("{}.log", monitor.name())),
            dir.join(format!("{}.pid", monitor.name())),
        )
    }

    /// The process id of `monitor` on `c`, while [`OpenStack::start_masakari_monitor`] has it
    /// running.
    pub fn masakari_monitor_pid(&self, c: Compute, monitor: Monitor) -> Option<u32> {
        let (_, _, pid) = self.monitor_paths(c, monitor);
        std::fs::read_to_string(pid).ok()?.trim().parse().ok()
    }

    /// Starts `monitor` on compute host `c` (in its node, in its own session, as the charm runs
    /// it as a service there), configured by [`Monitor::conf`]; returns once it is running
    /// (the host monitor: once it has read Pacemaker's view of the other remote nodes; the
    /// instance monitor: once it connected to libvirt).
    pub fn start_masakari_monitor(&self, c: Compute, monitor: Monitor, extra: &str) {
        self.stop_masakari_monitor(c, monitor);
        let (conf, log, pid) = self.monitor_paths(c, monitor);
        let _ = std::fs::create_dir_all(conf.parent().unwrap_or(&self.state));
        let _ = std::fs::create_dir_all(log.parent().unwrap_or(&self.state));
        std::fs::write(&conf, monitor.conf(c.host, &log, &conf, extra)).expect("monitor conf");
        let _ = std::fs::remove_file(&log);
        self.cluster
            .sh(
                c.node,
                &format!(
                    "setsid /usr/bin/{} --config-file {} </dev/null >/dev/null 2>&1 & echo $! >{}",
                    monitor.name(),
                    conf.display(),
                    pid.display()
                ),
            )
            .expect_ok();
        let ready = |text: &str| match monitor {
            Monitor::Host => self
                .computes
                .iter()
                .filter(|o| o.host != c.host)
                .all(|o| text.contains(&format!("Recognized '{}'", o.node))),
            Monitor::Instance => text.contains("Using uri:"),
        };
        wait_for(
            &format!("{} to run on {}", monitor.name(), c.host),
            Duration::from_secs(120),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                ready(&text).then_some(())
            },
        );
    }

    /// Stops `monitor` on `c` (nothing to do when its node is down: it died with it).
    pub fn stop_masakari_monitor(&self, c: Compute, monitor: Monitor) {
        let (_, _, pid) = self.monitor_paths(c, monitor);
        if let Ok(p) = std::fs::read_to_string(&pid) {
            if self.cluster.running(c.node) {
                self.cluster.sh(
                    c.node,
                    &format!(
                        "kill -TERM -- -{0} 2>/dev/null || kill -TERM {0} 2>/dev/null; true",
                        p.trim()
                    ),
                );
            }
            let _ = std::fs::remove_file(&pid);
        }
    }
}

/// One Masakari notification as `openstack notification list` prints it.
#[derive(Clone, Debug)]
pub struct Notification {
    pub uuid: String,
    pub kind: String,
    pub status: String,
    pub source_host_uuid: String,
    pub payload: String,
    /// `generated_time`: when the sender (an oxha agent) generated it, epoch seconds.
    pub generated_at: f64,
}

/// The anchor stack's fencing (issue 17's side-by-side soak): charm-hacluster's
/// `stonith:external/maas` plugin, unmodified, in the place of fence_maas + fence_masakari.
impl OpenStack {
    /// The device charm-hacluster creates for the pacemaker-remote compute hosts.
    pub const CHARM_MAAS_DEVICE: &'static str = "st-maas";

    /// `scripts/anchor-maas-plugin`, which installs the plugin from `$CHARM_HACLUSTER`.
    pub fn anchor_maas_plugin_script() -> PathBuf {
        script().with_file_name("anchor-maas-plugin")
    }

    /// The charm-hacluster commit the installed plugin was taken from.
    pub fn charm_maas_plugin_commit(&self) -> Option<String> {
        let script = Self::anchor_maas_plugin_script();
        let r = oxha_harness::run(&[script.to_str().unwrap_or_default(), "commit"]);
        r.ok().then(|| r.stdout.trim().to_string())
    }

    /// Fences the compute hosts as a charm-deployed cloud does: installs charm-hacluster's
    /// plugin (`scripts/anchor-maas-plugin install`: the charm's file, unmodified, run by
    /// /usr/bin/python3 with python-libmaas), creates `st-maas` exactly as the charm's
    /// `configure_maas_stonith_resource` does (params `url apikey hostnames`, hostnames = every
    /// compute host's FQDN and short name, `op monitor interval=25 start-delay=25 timeout=25`),
    /// makes it each compute host's only fencing level, stops fence_maas and fence_masakari
    /// (Masakari then hears of a failed host only from masakari-hostmonitor, which the caller
    /// runs: [`OpenStack::start_masakari_monitor`] with [`Monitor::Host`]), and sets
    /// `stonith-action=reboot`, Pacemaker's default, which the charm keeps (the plugin's
    /// `reset`: power off, wait for off, power on). Returns once `st-maas` runs.
    pub fn use_charm_maas_plugin(&self) -> Result<(), String> {
        let script = Self::anchor_maas_plugin_script();
        let r = oxha_harness::run(&[script.to_str().unwrap_or_default(), "install"]);
        if !r.ok() {
            return Err(format!(
                "the charm's MAAS plugin could not be installed: {r}"
            ));
        }
        let key = self.cluster.start_maas_sim();
        let apikey = std::fs::read_to_string(&key)
            .map_err(|e| format!("{}: {e}", key.display()))?
            .trim()
            .to_string();
        // charm-pacemaker-remote publishes each host's FQDN as its stonith-hostname; the charm
        // adds the short name of each (`_configure_stonith_resource`), sorted and deduplicated.
        let mut hostnames: Vec<String> = self
            .computes
            .iter()
            .flat_map(|c| {
                [
                    c.host.to_string(),
                    oxha_multinode::maas_hostname(c.host).to_string(),
                ]
            })
            .collect();
        hostnames.sort();
        hostnames.dedup();
        let device = Self::CHARM_MAAS_DEVICE;
        let text = format!(
            "primitive {device} stonith:external/maas \\\n\
             \tparams url='http://{INFRA_ADDR}:{MAAS_PORT}/MAAS' apikey='{apikey}' \
             hostnames='{hostnames}' \\\n\
             \top monitor interval=25 start-delay=25 timeout=25\n",
            hostnames = hostnames.join(" "),
        );
        let r = self.cluster.crm_configure("node1", &text);
        if !r.ok() {
            return Err(format!("{device} could not be created: {r}"));
        }
        self.anchor_wait(&format!("{device} to run"), Duration::from_secs(90), || {
            !self.cluster.active_on("node1", device).is_empty()
        })?;
        self.replace_fencing_levels(device)?;
        for resource in [MASAKARI_DEVICE, POWER_DEVICE] {
            self.anchor_target_role(resource, false)?;
        }
        self.anchor_property("stonith-action", "reboot")?;
        if let Some(commit) = self.charm_maas_plugin_commit() {
            eprintln!(
                "openstack: compute hosts fenced by charm-hacluster's external/maas at {commit}"
            );
        }
        self.anchor_settle()
    }

    /// Back to oxha's fencing as [`OpenStack::start`] configures it: fence_maas then
    /// fence_masakari in each compute host's level, `stonith-action=off`, `st-maas` deleted.
    /// Harmless when the charm's plugin was never used. The plugin stays installed (inert
    /// without a device naming it; another cluster on this machine may be using it):
    /// [`OpenStack::uninstall_charm_maas_plugin`] removes it once nothing needs it.
    pub fn use_oxha_fencing(&self) -> Result<(), String> {
        // fence_masakari refuses to start outside a level, and a level naming a stopped device
        // fails: power device first, then the levels, then fence_masakari.
        self.anchor_target_role(POWER_DEVICE, true)?;
        self.replace_fencing_levels(&format!("{POWER_DEVICE},{MASAKARI_DEVICE}"))?;
        self.anchor_target_role(MASAKARI_DEVICE, true)?;
        self.anchor_property("stonith-action", "off")?;
        let device = Self::CHARM_MAAS_DEVICE;
        let exists = self
            .cluster
            .run(
                "node1",
                &["crm_resource", "--resource", device, "--query-xml"],
            )
            .ok();
        if exists {
            self.anchor_target_role(device, false)?;
            let r = self.cluster.run(
                "node1",
                &[
                    "cibadmin",
                    "--delete",
                    "--xml-text",
                    &format!("<primitive id=\"{device}\"/>"),
                ],
            );
            if !r.ok() {
                return Err(format!("{device} could not be deleted: {r}"));
            }
        }
        self.anchor_settle()
    }

    /// Whether charm-hacluster's plugin is installed where cluster-glue runs it.
    pub fn charm_maas_plugin_installed() -> bool {
        std::path::Path::new("/usr/lib/stonith/plugins/external/maas").exists()
    }

    /// `scripts/anchor-maas-plugin uninstall`: removes what [`OpenStack::use_charm_maas_plugin`]
    /// installed outside target/ (the plugin's place in /usr/lib/stonith/plugins/external, and
    /// the plugin's own log /tmp/maas.log).
    pub fn uninstall_charm_maas_plugin() -> Result<(), String> {
        let script = Self::anchor_maas_plugin_script();
        let r = oxha_harness::run(&[script.to_str().unwrap_or_default(), "uninstall"]);
        r.ok()
            .then_some(())
            .ok_or_else(|| format!("the charm's MAAS plugin could not be uninstalled: {r}"))
    }

    /// Every compute host's one fencing level: `devices` (comma-separated).
    fn replace_fencing_levels(&self, devices: &str) -> Result<(), String> {
        let levels: String = self
            .computes
            .iter()
            .map(|c| {
                format!(
                    "<fencing-level id=\"fl-{n}-1\" target=\"{n}\" index=\"1\" devices=\"{devices}\"/>",
                    n = c.node
                )
            })
            .collect();
        let r = self.cluster.run(
            "node1",
            &[
                "cibadmin",
                "--replace",
                "--scope",
                "fencing-topology",
                "--xml-text",
                &format!("<fencing-topology>{levels}</fencing-topology>"),
            ],
        );
        r.ok()
            .then_some(())
            .ok_or_else(|| format!("the fencing levels could not be set to {devices}: {r}"))
    }

    fn anchor_target_role(&self, resource: &str, on: bool) -> Result<(), String> {
        let role = if on { "Started" } else { "Stopped" };
        let r = self.set_target_role_only(resource, on);
        if !r.ok() {
            return Err(format!("{resource} could not be set {role}: {r}"));
        }
        self.anchor_wait(
            &format!("{resource} {role}"),
            Duration::from_secs(90),
            || self.cluster.active_on("node1", resource).is_empty() != on,
        )
    }

    fn anchor_property(&self, name: &str, value: &str) -> Result<(), String> {
        let r = self.cluster.run(
            "node1",
            &[
                "crm_attribute",
                "--type",
                "crm_config",
                "--name",
                name,
                "--update",
                value,
            ],
        );
        r.ok()
            .then_some(())
            .ok_or_else(|| format!("{name}={value} could not be set: {r}"))
    }

    fn anchor_settle(&self) -> Result<(), String> {
        self.anchor_wait("the cluster to settle", Duration::from_secs(90), || {
            self.cluster
                .run("node1", &["crm_resource", "--wait", "--timeout=10s"])
                .ok()
        })
    }

    /// Polls `done` until it holds or `timeout` passes.
    fn anchor_wait(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if done() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_clients_tables() {
        let text = "+-------------------+----------+-------+\n\
                    | Host              | Status   | State |\n\
                    +-------------------+----------+-------+\n\
                    | virt-node-01.maas | disabled | up    |\n\
                    | virt-node-10.maas | enabled  | up    |\n\
                    +-------------------+----------+-------+\n";
        let t = Table::parse(text);
        assert_eq!(t.header, ["Host", "Status", "State"]);
        assert_eq!(
            t.sorted_rows(),
            rows(&[
                &["virt-node-10.maas", "enabled", "up"],
                &["virt-node-01.maas", "disabled", "up"],
            ])
        );
        let show = "+----------------------+-------------------+\n\
                    | Field                | Value             |\n\
                    +----------------------+-------------------+\n\
                    | OS-EXT-SRV-ATTR:host | virt-node-02.maas |\n\
                    +----------------------+-------------------+\n";
        assert_eq!(
            Table::parse(show).field("OS-EXT-SRV-ATTR:host").as_deref(),
            Some("virt-node-02.maas")
        );
        assert_eq!(Table::parse("").rows.len(), 0);
    }
}
