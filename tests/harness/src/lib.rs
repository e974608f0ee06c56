//! A real Pacemaker cluster for tests.
//!
//! [`Cluster::start`] brings up corosync + pacemakerd as one node in private pid, network,
//! mount and UTS namespaces (see `scripts/cluster`): its CIB, logs and runtime directories are
//! tmpfs mounts nobody else sees, and the staged oxha binaries (`make stage`) are overlaid on
//! `/usr/sbin` and the OCF root inside it only ([`Cluster::start_with`] instead runs the node on
//! another root tree and/or installs the oxha package with dpkg -i: [`NodeSetup`]). Tests talk
//! to it with the real tools (`crm`, `pcs`, `stonith_admin`, `crm_resource`) through
//! [`Cluster::run`]. Dropping the cluster kills every process in it, so nothing leaks into the
//! next test, even on panic.
//!
//! One cluster per test binary: start it once (e.g. in a `OnceLock`) or run the tests of a
//! binary serially against one cluster.

pub mod crm_mon;
pub mod http;
pub mod proc_stat;
mod stage;
pub use stage::{fence_agent, ocf_agent, stage_dir, tool};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `tests/harness`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// The oxha Debian package `make deb` builds: `OXHA_DEB`, else
/// `<workspace>/oxha_<version>_amd64.deb` for the version at the top of `packaging/deb/changelog`.
/// Like the stage, it must be the code under test: a missing package, or one older than any
/// staged binary (which are themselves checked against the sources), fails with `run make deb`.
#[track_caller]
pub fn deb_package() -> PathBuf {
    let deb = match std::env::var_os("OXHA_DEB") {
        Some(deb) => PathBuf::from(deb),
        None => {
            let changelog =
                std::fs::read_to_string(workspace_root().join("packaging/deb/changelog"))
                    .unwrap_or_default();
            let version = changelog
                .split_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(v, _)| v)
                .unwrap_or("unknown");
            workspace_root().join(format!("oxha_{version}_amd64.deb"))
        }
    };
    let built = std::fs::metadata(&deb).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!("{} missing: run `make deb`", deb.display());
    };
    if let Some(newer) = stage::newest_binary(&stage_dir()).filter(|(_, t)| *t > built) {
        panic!(
            "{} is older than the staged {}: run `make deb`",
            deb.display(),
            newer.0.display()
        );
    }
    deb
}

/// What a test node runs on and how the oxha agents get into it (`scripts/node-root`).
#[derive(Clone, Debug, Default)]
pub struct NodeSetup {
    /// A root tree (e.g. Debian 13) the node runs on, as the lower layer of an overlay private to
    /// the node; `None`: this machine's `/`.
    pub root: Option<PathBuf>,
    /// A package installed with `dpkg -i` in the node's root, as a user installs oxha; `None`:
    /// the staged binaries are overlaid on `/usr/sbin` and the OCF root instead.
    pub deb: Option<PathBuf>,
}

impl NodeSetup {
    /// The environment `scripts/cluster up` and `mcluster up` read it from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(root) = &self.root {
            env.push(("OXHA_NODE_ROOT", root.to_string_lossy().into_owned()));
        }
        if let Some(deb) = &self.deb {
            env.push(("OXHA_NODE_DEB", deb.to_string_lossy().into_owned()));
        }
        env
    }

    /// The stage directory to overlay in the node: none when the package is installed.
    pub fn stage(&self) -> PathBuf {
        if self.deb.is_some() {
            PathBuf::from("/nonexistent")
        } else {
            stage_dir()
        }
    }
}

/// The schema pcs uses to accept an OCF 1.1 agent (Debian's pcs package).
pub const OCF_1_1_SCHEMA: &str = "/usr/share/pcs/data/ocf-1.1.rng";
/// fence-agents' metadata schema (Debian's fence-agents package).
pub const FENCE_SCHEMA: &str = "/usr/share/cluster/relaxng/metadata.rng";

/// OCF-spec's own OCF 1.1 metadata schema, kept in this crate (`schemas/README.md`).
pub fn ocf_spec_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/ra-api-1.1.rng")
}

/// Runs the staged agent's metadata action and checks the XML against its schemas: pcs' OCF 1.1
/// schema and OCF-spec's own `ra-api-1.1.rng` for `ocf:oxha:<name>`, fence-agents' for
/// `fence_*`. A missing schema is a failure, never a skipped check. Returns the XML.
#[track_caller]
pub fn valid_metadata(name: &str) -> String {
    let fence = name.starts_with("fence_");
    let agent = if fence {
        fence_agent(name)
    } else {
        ocf_agent(name)
    };
    let path = agent.to_string_lossy();
    let meta = if fence {
        run(&[&path, "-o", "metadata"])
    } else {
        run(&[&path, "meta-data"])
    }
    .expect_ok();
    let schemas = if fence {
        vec![PathBuf::from(FENCE_SCHEMA)]
    } else {
        vec![PathBuf::from(OCF_1_1_SCHEMA), ocf_spec_schema()]
    };
    for schema in &schemas {
        assert!(
            schema.is_file(),
            "schema {} is missing: the metadata of {name} cannot be checked (the package that \
             ships it is installed by tests/setup-deps)",
            schema.display()
        );
    }
    for schema in schemas {
        let schema = schema.to_string_lossy();
        let check = run_env(
            &["xmllint", "--noout", "--relaxng", &schema, "-"],
            &[],
            Some(&meta.stdout),
        );
        assert!(
            check.ok(),
            "{name} metadata does not validate against {schema}: {check}"
        );
    }
    meta.stdout
}

/// Starts a watcher that runs `<script> down <state>` once this test process exits, however it
/// exits (panic, abort, static never dropped): it waits for EOF on a pipe only this process
/// holds. Keep the returned handle alive as long as the cluster should live. A `keep` file in
/// `state` leaves the cluster running for inspection.
pub fn teardown_at_exit(script: &Path, state: &Path) -> Option<std::process::ChildStdin> {
    Command::new("sh")
        .args([
            "-c",
            "cat >/dev/null; [ -e \"$1/keep\" ] || exec \"$0\" down \"$1\" >/dev/null 2>&1",
        ])
        .arg(script)
        .arg(state)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .and_then(|mut c| c.stdin.take())
}

fn script() -> PathBuf {
    workspace_root().join("tests/harness/scripts/cluster")
}

/// The result of a command, with everything a failed assertion needs to say.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(command: String, out: Output) -> Run {
        Run {
            command,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Panics with the whole output unless the command exited 0.
    #[track_caller]
    pub fn expect_ok(self) -> Run {
        assert!(self.ok(), "command failed: {self}");
        self
    }

    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code: {self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command on this machine (outside any cluster), with `env` added.
pub fn run_env(argv: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let command = argv.join(" ");
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).envs(env.iter().copied());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Run {
                command,
                code: -1,
                stdout: String::new(),
                stderr: format!("cannot run: {e}"),
            }
        }
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        let _ = pipe.write_all(input.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => Run::from_output(command, out),
        Err(e) => Run {
            command,
            code: -1,
            stdout: String::new(),
            stderr: format!("wait failed: {e}"),
        },
    }
}

pub fn run(argv: &[&str]) -> Run {
    run_env(argv, &[], None)
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `timeout` with `what`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running single-node cluster. Dropped ⇒ torn down; and because a cluster held in a
/// `static` is never dropped, a watcher process also tears it down when the test process
/// exits in any way (it waits for EOF on a pipe only this process holds).
pub struct Cluster {
    state: PathBuf,
    node: String,
    _watcher: Option<std::process::ChildStdin>,
}

static SHARED: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    /// Starts a node named `node` and waits until Pacemaker shows it online. STONITH is
    /// disabled (a one-node test cluster has nothing to fence it); tests that fence other
    /// targets enable it themselves.
    pub fn start(node: &str) -> Cluster {
        Cluster::start_with(node, &NodeSetup::default())
    }

    /// [`Cluster::start`] on another root tree and/or with the package installed ([`NodeSetup`]).
    pub fn start_with(node: &str, setup: &NodeSetup) -> Cluster {
        let state =
            std::env::temp_dir().join(format!("oxha-cluster-{}-{}", node, std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let stage = setup.stage();
        let started = Instant::now();
        let env = setup.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let up = run_env(
            &[
                script().to_str().unwrap_or("cluster"),
                "up",
                state.to_str().unwrap_or("/tmp/oxha-cluster"),
                node,
                stage.to_str().unwrap_or("/nonexistent"),
            ],
            &env,
            None,
        );
        let watcher = teardown_at_exit(&script(), &state);
        let cluster = Cluster {
            state,
            node: node.to_string(),
            _watcher: watcher,
        };
        assert!(up.ok(), "cluster did not come up: {up}\n{}", cluster.logs());
        eprintln!(
            "cluster: node {node} online after {:.1}s",
            started.elapsed().as_secs_f64()
        );
        cluster.set_property("stonith-enabled", "false");
        cluster
    }

    /// One cluster for the whole test binary, started on first use, torn down at exit.
    pub fn shared() -> &'static Cluster {
        SHARED.get_or_init(|| Cluster::start("node1"))
    }

    /// Holds the tests of one binary to one at a time while they change the shared cluster:
    /// `let _serial = Cluster::serial();` at the top of each test.
    pub fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets a cluster property (`crm_attribute --type crm_config`), e.g. `stonith-enabled`.
    #[track_caller]
    pub fn set_property(&self, name: &str, value: &str) {
        self.run(&[
            "crm_attribute",
            "--type",
            "crm_config",
            "--name",
            name,
            "--update",
            value,
        ])
        .expect_ok();
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The directory holding this cluster's logs (`pacemaker.log`, `corosync.log`).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Runs a command inside the node (same mount, network, pid and UTS namespaces).
    pub fn run(&self, argv: &[&str]) -> Run {
        self.run_stdin(argv, None)
    }

    pub fn run_stdin(&self, argv: &[&str], stdin: Option<&str>) -> Run {
        let mut full = vec![
            script().to_string_lossy().into_owned(),
            "exec".into(),
            self.state.to_string_lossy().into_owned(),
        ];
        full.extend(argv.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut r = run_env(&refs, &[], stdin);
        r.command = argv.join(" ");
        r
    }

    /// `sh -c SCRIPT` inside the node.
    pub fn sh(&self, script: &str) -> Run {
        self.run(&["sh", "-c", script])
    }

    /// `crm_resource --validate` of `ocf:oxha:<agent>` with `name=value` options, as an operator
    /// checks a configuration before creating the resource (runs the agent's validate-all).
    pub fn validate(&self, agent: &str, options: &[&str]) -> Run {
        let mut argv = vec![
            "crm_resource",
            "--validate",
            "--class",
            "ocf",
            "--provider",
            "oxha",
            "--agent",
            agent,
        ];
        for o in options {
            argv.extend(["--option", o]);
        }
        self.run(&argv)
    }

    /// `crm configure ...` (and other crm subcommands).
    pub fn crm(&self, args: &[&str]) -> Run {
        let mut argv = vec!["crm"];
        argv.extend_from_slice(args);
        self.run(&argv)
    }

    pub fn pcs(&self, args: &[&str]) -> Run {
        let mut argv = vec!["pcs"];
        argv.extend_from_slice(args);
        self.run(&argv)
    }

    /// `crm_mon -1 --output-as=xml`.
    pub fn status_xml(&self) -> String {
        self.run(&["crm_mon", "-1", "--output-as=xml"]).stdout
    }

    /// What crm_mon says, parsed; `None` when it could not answer.
    pub fn status(&self) -> Option<crm_mon::Status> {
        crm_mon::parse(&self.status_xml()).ok()
    }

    /// The `role` and node of resource `id` as crm_mon reports them, e.g. `("Started", Some("node1"))`.
    pub fn resource_state(&self, id: &str) -> Option<(String, Option<String>)> {
        let status = self.status()?;
        let r = status.resource(id)?;
        Some((r.role.clone(), r.nodes.first().cloned()))
    }

    /// Waits until resource `id` is Started (on this node).
    #[track_caller]
    pub fn wait_started(&self, id: &str, timeout: Duration) {
        wait_for(&format!("{id} to be Started"), timeout, || {
            match self.resource_state(id) {
                Some((role, _)) if role == "Started" => Some(()),
                _ => None,
            }
        })
    }

    #[track_caller]
    pub fn wait_stopped(&self, id: &str, timeout: Duration) {
        // Stopped, or gone from the configuration; a crm_mon that could not answer says
        // nothing either way.
        wait_for(&format!("{id} to be Stopped"), timeout, || {
            let status = self.status()?;
            match status.resource(id) {
                Some(r) if r.role == "Stopped" => Some(()),
                None => Some(()),
                _ => None,
            }
        })
    }

    /// Failed operations crm_mon lists for resource `id`, each as one line
    /// (`failure op_key="..." exitstatus="..." exitreason="..."`).
    pub fn failures(&self, id: &str) -> Vec<String> {
        self.status()
            .map(|s| s.failures_of(id).iter().map(|f| f.to_string()).collect())
            .unwrap_or_default()
    }

    /// Waits until Pacemaker has no pending actions (the transition is complete).
    pub fn wait_idle(&self, timeout: Duration) {
        wait_for("the cluster to settle", timeout, || {
            self.run(&["crm_resource", "--wait", "--timeout=5s"])
                .ok()
                .then_some(())
        })
    }

    /// The tail of the cluster's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["init.out", "pacemaker.log"] {
            if let Ok(text) = std::fs::read_to_string(self.state.join(name)) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(40);
                out.push_str(&format!(
                    "--- {name} (last 40 lines)\n{}\n",
                    lines[from..].join("\n")
                ));
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("OXHA_KEEP_CLUSTER").is_some() {
            eprintln!(
                "cluster: kept in {} (OXHA_KEEP_CLUSTER)",
                self.state.display()
            );
            return;
        }
        let down = run(&[
            script().to_str().unwrap_or("cluster"),
            "down",
            self.state.to_str().unwrap_or("/nonexistent"),
        ]);
        if !down.ok() {
            eprintln!("cluster: teardown failed: {down}");
        }
    }
}
