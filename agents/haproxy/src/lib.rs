//! `ocf:oxha:haproxy`: one haproxy instance per resource, in master-worker mode.
//!
//! * start: `haproxy -c` on the exact configuration the instance will run, then
//!   `haproxy -W -D -S <master socket> -p <pidfile> -f <instance dir>`, then wait until the
//!   master CLI lists a worker and the stats socket answers.
//! * reload / reload-agent: validate a fresh instance directory, swap it in, `reload` on the
//!   master CLI: the master re-executes and hands the listening sockets to the new worker, so
//!   no connection is refused. An invalid configuration leaves the running instance alone.
//! * monitor: 0 = master alive with a worker (`show proc`); 10 = stats socket `show info` and
//!   `show stat` (every backend down ⇒ degraded); 20 = a request to `check_url`.
//! * stop: soft stop (SIGUSR1), then SIGTERM, then SIGKILL, within the operation timeout.
//!
//! Every file of an instance is named after the resource instance, so clones and several
//! resources run side by side.

pub mod cli;
pub mod config;
pub mod probe;
pub mod process;

use nix::sys::signal::Signal;
use ocf_lib::child::Child;
use ocf_lib::ra::{Context, ResourceAgent};
use ocf_lib::{ActionMeta, AgentKind, AgentMeta, Deadline, ManSection, Param};
use ocf_lib::{OcfError, OcfResult, OcfStatus};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options the agent sets itself; giving them in `extra_options` would break the instance.
const RESERVED_OPTIONS: &[&str] = &[
    "-f", "-p", "-S", "-D", "-W", "-Ws", "-c", "-sf", "-st", "-x", "-q",
];

fn check_conffile(value: &str) -> Result<(), String> {
    if value.split_whitespace().next().is_none() {
        return Err("names no file".into());
    }
    Ok(())
}

fn check_url(value: &str) -> Result<(), String> {
    probe::CheckUrl::parse(value).map(|_| ())
}

fn check_extra_options(value: &str) -> Result<(), String> {
    match value
        .split_whitespace()
        .find(|o| RESERVED_OPTIONS.contains(o))
    {
        Some(o) => Err(format!("{o} is set by the agent itself")),
        None => Ok(()),
    }
}

fn check_socket_path(value: &str) -> Result<(), String> {
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if value.len() > 107 {
        return Err("a Unix socket path must be at most 107 bytes".into());
    }
    if !value.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    Ok(())
}

static PARAMS: &[Param] = &[
    Param::string("binary", "haproxy binary")
        .longdesc("The haproxy executable: a name looked up in PATH, or an absolute path.")
        .default("haproxy"),
    Param::string("conffile", "Configuration files or directories")
        .longdesc(
            "One or more haproxy configuration files or directories, separated by spaces, read in \
the order given (a directory contributes its *.cfg files in name order, as haproxy -f does). \
Changing this list is applied with a validated, seamless reload (reload-agent), not a restart. \
Use absolute paths inside the configuration (errorfile, crt, ...).",
        )
        .default("/etc/haproxy/haproxy.cfg")
        .reloadable()
        .check(check_conffile),
    Param::string("pidfile", "Master pid file")
        .longdesc("Where haproxy writes the master's pid. Default: $HA_RSCTMP/haproxy-<instance>.pid.")
        .unique_group("pidfile"),
    Param::string("master_socket", "Master CLI socket")
        .longdesc(
            "The master CLI socket (haproxy -S), used to list the processes and to reload. \
Default: $HA_RSCTMP/haproxy-<instance>.master.sock.",
        )
        .unique_group("master_socket")
        .check(check_socket_path),
    Param::string("stats_socket", "Stats socket")
        .longdesc(
            "The stats socket the agent adds to the configuration (stats socket ... mode 600 level \
admin in a global section of its own); depth-10 monitors read show info and show stat from it. \
The configuration must not declare the same path. Default: $HA_RSCTMP/haproxy-<instance>.stats.sock.",
        )
        .unique_group("stats_socket")
        .check(check_socket_path),
    Param::string("extra_options", "Extra haproxy command-line options")
        .longdesc(
            "Options added to the haproxy command line, separated by spaces (for example -L peer1). \
The agent sets -W -D -S -p -f itself. Changing them needs a restart.",
        )
        .check(check_extra_options),
    Param::string("user", "User the workers run as")
        .longdesc(
            "Adds 'user <name>' to the agent's global section: the workers drop to this user; the \
master keeps root so it can reload.",
        ),
    Param::string("check_url", "URL for the depth-20 monitor")
        .longdesc(
            "http://host[:port]/path (a GET; any status below 500 is healthy, 5xx means degraded) or \
tcp://host:port (a connect). Used by monitors with OCF_CHECK_LEVEL=20.",
        )
        .reloadable()
        .check(check_url),
    Param::duration("stop_timeout", "Soft-stop grace period")
        .longdesc(
            "How long stop waits after the soft stop (SIGUSR1: stop accepting, finish open \
connections) before SIGTERM and then SIGKILL. Default: half of the stop operation's timeout.",
        )
        .reloadable(),
];

static ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("start", 20),
    ActionMeta::new("stop", 30),
    ActionMeta::new("monitor", 20).interval(10).depth(0),
    ActionMeta::new("reload", 20),
    ActionMeta::new("reload-agent", 20),
    ActionMeta::new("validate-all", 20),
    ActionMeta::new("meta-data", 5),
];

static MAN_SECTIONS: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "An haproxy clone on every node, with a deep monitor every 30 seconds (pcs):

  pcs resource create hap ocf:oxha:haproxy \\
      conffile=/etc/haproxy/haproxy.cfg \\
      check_url=http://127.0.0.1:8080/health \\
      op monitor interval=10s \\
      op monitor interval=30s OCF_CHECK_LEVEL=20 \\
      clone

The same with crm:

  crm configure primitive hap ocf:oxha:haproxy \\
      params conffile=\"/etc/haproxy/haproxy.cfg /etc/haproxy/conf.d\" \\
      op monitor interval=10s \\
      op monitor interval=30s OCF_CHECK_LEVEL=10
  crm configure clone hap-clone hap

Next to a virtual IP (haproxy binds the VIP only where the VIP is):

  pcs constraint colocation add vip with hap-clone
  pcs constraint order hap-clone then vip

Disable the distribution's unit first: systemctl disable --now haproxy.",
    },
    ManSection {
        title: "RELOADS",
        body: "haproxy runs in master-worker mode. A reload (the reload action, or reload-agent when \
Pacemaker sees a changed conffile, check_url or stop_timeout) first builds the new instance \
directory and runs haproxy -c on it. If haproxy rejects it, the running processes are not touched, \
the reload action fails (reload-agent reports degraded, see below) with haproxy's first error line \
as the exit reason, and monitors report the instance degraded until a reload or restart succeeds. If it is valid, the agent swaps the directory \
in and sends 'reload' to the master CLI; the master re-executes, passes its listening sockets to the \
new worker, and the old worker finishes its connections: no connection is refused. The action \
returns when show proc reports the reload and a new worker.

Pacemaker itself never calls reload for an OCF 1.1 agent. After editing the files in place, \
run the reload action on each node (OCF_RESOURCE_INSTANCE=hap OCF_RESKEY_conffile=... \
/usr/lib/ocf/resource.d/oxha/haproxy reload), or change a reloadable parameter so that Pacemaker \
calls reload-agent everywhere.

Pacemaker records reload-agent as a start: a failed reload-agent would count as a failed start \
(fail-count INFINITY with the default start-failure-is-fatal) and Pacemaker would stop the \
instance on every node of a clone, turning a typo into an outage. So when haproxy refuses the new \
configuration, reload-agent returns degraded (190): the previous configuration keeps serving, \
crm_mon shows the resource degraded with haproxy's error, and every monitor keeps saying so until \
a reload or restart succeeds. Check a new configuration before pointing conffile at it: \
haproxy -c -f FILE, or the agent's validate-all with OCF_CHECK_LEVEL=10 and the new conffile.",
    },
    ManSection {
        title: "DIFFERENCES FROM LSB:HAPROXY AND SYSTEMD:HAPROXY",
        body: "There is no haproxy agent in resource-agents; clusters use lsb:haproxy or \
systemd:haproxy, which check only a pid and cannot reload from Pacemaker.

- Several instances per node: pid file and sockets are per resource instance.

- start validates the configuration first and reports haproxy's own error (exit 6).

- Reloads are validated and seamless, and a changed conffile list is a reload, not a restart.

- monitor looks at the master and its workers, optionally at backend health (degraded when all \
backends are down) and at a real request.

- stop is graceful first, and bounded by the operation timeout.

- haproxy runs in its own session, so Pacemaker's kill of a timed-out agent cannot take it down.",
    },
    ManSection {
        title: "NOTES",
        body: "The agent starts haproxy with -f pointing at $HA_RSCTMP/haproxy-<instance>.cfg.d, a \
directory of links to the configured files plus the agent's own global section (stats socket, \
user). Messages name the configured files. Paths in conffile cannot contain spaces.

After a reload the previous worker keeps serving its open connections until they end; set \
hard-stop-after in the configuration's global section to bound that (long-lived connections \
otherwise keep old workers for as long as they last).

A probe on a node without haproxy returns 7; start returns 5 there. A missing configuration \
file is exit 6 (7 for probes).",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "haproxy",
    kind: AgentKind::Resource,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "haproxy in master-worker mode: validated, seamless reloads, clone-safe",
    longdesc: "Manages one haproxy instance (master-worker mode, own session) per resource. \
The configuration is checked with haproxy -c before every start and reload; reloads go through \
the master CLI and drop no connection. Monitor depth 0 checks the master and its workers, depth \
10 the stats socket (all backends down is reported as degraded), depth 20 a request to check_url. \
Pid file and sockets are per resource instance, so the agent can run as a clone and several \
instances can share a node.",
    params: PARAMS,
    param_groups: &[],
    actions: ACTIONS,
    man_sections: MAN_SECTIONS,
};

/// What the pid file and `/proc` say about the instance.
enum Found {
    Running(i32),
    Stopped,
    /// A pid file whose process is gone: the master crashed or was killed.
    Stale(String),
    /// Processes of this instance without a master (the master was killed).
    Orphans(Vec<i32>),
}

pub struct Haproxy {
    binary: String,
    conffiles: Vec<PathBuf>,
    pidfile: PathBuf,
    master_socket: PathBuf,
    stats_socket: PathBuf,
    extra_options: Vec<String>,
    user: Option<String>,
    check_url: Option<probe::CheckUrl>,
    stop_timeout: Option<Duration>,
    /// The `-f` directory; its path on a command line marks the processes of this instance.
    cfg_dir: PathBuf,
    /// Present while a rejected reload left the previous configuration running.
    rejected: PathBuf,
    start_log: PathBuf,
}

/// A scratch directory for building and checking a configuration, private to this process.
fn scratch_dir(ctx: &Context) -> PathBuf {
    ctx.state_file(&format!(".cfg.{}", std::process::id()))
}

fn socket_timeout(ctx: &Context) -> Duration {
    ctx.deadline.cap(Duration::from_secs(5))
}

impl Haproxy {
    fn marker(&self) -> String {
        self.cfg_dir.to_string_lossy().into_owned()
    }

    fn agent_section(&self) -> config::AgentSection<'_> {
        config::AgentSection {
            stats_socket: &self.stats_socket,
            user: self.user.as_deref(),
        }
    }

    fn find(&self) -> Found {
        let marker = self.marker();
        let pid = process::read_pidfile(&self.pidfile);
        if let Ok(Some(pid)) = pid {
            if process::alive(pid) && process::has_argument(pid, &marker) {
                return Found::Running(pid);
            }
        }
        let left = process::instance_processes(&marker);
        if !left.is_empty() {
            return Found::Orphans(left);
        }
        match pid {
            Ok(None) => Found::Stopped,
            Ok(Some(pid)) => Found::Stale(format!(
                "haproxy master {pid} (pid file {}) is gone: it crashed or was killed",
                self.pidfile.display()
            )),
            Err(e) => Found::Stale(e),
        }
    }

    fn show_proc(&self, ctx: &Context) -> Result<cli::ProcList, String> {
        cli::command(&self.master_socket, "show proc", socket_timeout(ctx))
            .map(|text| cli::ProcList::parse(&text))
    }

    /// Depth 0 for a running master: the master CLI answers and lists a worker.
    fn check_master(&self, ctx: &Context, pid: i32) -> Result<cli::ProcList, OcfError> {
        let list = self.show_proc(ctx).map_err(|e| {
            OcfError::generic(format!(
                "haproxy master {pid}: master CLI does not answer: {e}"
            ))
        })?;
        if list.workers.is_empty() {
            return Err(OcfError::generic(format!(
                "haproxy master {pid} has no worker"
            )));
        }
        Ok(list)
    }

    /// Depth 10: the stats socket of the current worker, and the backends' health.
    fn check_stats(&self, ctx: &Context) -> OcfResult {
        let fail = |e: String| OcfError::generic(format!("stats socket: {e}"));
        let info =
            cli::command(&self.stats_socket, "show info", socket_timeout(ctx)).map_err(fail)?;
        let info = cli::parse_info(&info);
        if !info.iter().any(|(k, _)| k == "Pid") {
            return Err(fail("show info gave no answer".into()));
        }
        if info.iter().any(|(k, v)| k == "Stopping" && v != "0") {
            return Err(OcfError::generic("haproxy's current worker is stopping"));
        }
        let stat =
            cli::command(&self.stats_socket, "show stat", socket_timeout(ctx)).map_err(fail)?;
        let backends = cli::parse_backends(&stat);
        let with_servers: Vec<&cli::Backend> = backends.iter().filter(|b| b.servers > 0).collect();
        if !with_servers.is_empty() && with_servers.iter().all(|b| b.is_down()) {
            let names: Vec<&str> = with_servers.iter().map(|b| b.name.as_str()).collect();
            return Err(OcfError::degraded(format!(
                "all backends are down: {}",
                names.join(", ")
            )));
        }
        Ok(OcfStatus::Success)
    }

    fn remove_state(&self) {
        for path in [
            &self.pidfile,
            &self.master_socket,
            &self.stats_socket,
            &self.rejected,
            &self.start_log,
        ] {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir_all(&self.cfg_dir);
    }

    /// Builds the configuration for the current parameters in a scratch directory and checks it.
    /// `Err` carries the status to return: 6 for a missing file or an invalid configuration
    /// (`invalid` picks the code for the latter), 1 for the agent's own I/O failures.
    fn build_checked(
        &self,
        ctx: &Context,
        binary: &Path,
        invalid: OcfStatus,
    ) -> Result<PathBuf, OcfError> {
        let scratch = scratch_dir(ctx);
        let result = match config::build(&scratch, &self.conffiles, &self.agent_section()) {
            Err(config::ConfigError::Missing(e)) => Err(OcfError::new(invalid, e)),
            Err(config::ConfigError::Io(e)) => Err(OcfError::generic(e)),
            Ok(()) => {
                let log = ctx.state_file(&format!(".check.{}.log", std::process::id()));
                config::check(binary, &scratch, &log, &ctx.deadline)
                    .map_err(|e| OcfError::new(invalid, format!("haproxy -c: {e}")))
            }
        };
        match result {
            Ok(()) => Ok(scratch),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                Err(e)
            }
        }
    }

    /// Replaces the live instance directory with a checked scratch directory.
    fn install_config(&self, scratch: &Path) -> Result<(), OcfError> {
        if self.cfg_dir.exists() {
            std::fs::remove_dir_all(&self.cfg_dir).map_err(|e| {
                OcfError::generic(format!("cannot remove {}: {e}", self.cfg_dir.display()))
            })?;
        }
        std::fs::rename(scratch, &self.cfg_dir).map_err(|e| {
            OcfError::generic(format!("cannot install {}: {e}", self.cfg_dir.display()))
        })
    }

    fn make_dirs(&self, ctx: &Context) -> Result<(), OcfError> {
        let mut dirs = vec![ctx.rsc_tmp.clone()];
        for p in [&self.pidfile, &self.master_socket, &self.stats_socket] {
            if let Some(parent) = p.parent() {
                dirs.push(parent.to_path_buf());
            }
        }
        for d in dirs {
            std::fs::create_dir_all(&d)
                .map_err(|e| OcfError::generic(format!("cannot create {}: {e}", d.display())))?;
        }
        Ok(())
    }

    /// Waits until every process of the instance is gone, or `deadline` passes.
    fn wait_gone(&self, deadline: Deadline) -> bool {
        let marker = self.marker();
        deadline
            .poll(Duration::from_millis(50), || {
                process::instance_processes(&marker)
                    .is_empty()
                    .then_some(())
            })
            .is_some()
    }

    fn do_reload(&self, ctx: &Context) -> OcfResult {
        let binary = ctx.find_binary(&self.binary).ok_or_else(|| {
            OcfError::installed(format!("haproxy binary '{}' not found", self.binary))
        })?;
        let pid = match self.find() {
            Found::Running(pid) => pid,
            _ => {
                return Err(OcfError::generic(
                    "haproxy is not running: nothing to reload",
                ))
            }
        };
        let before = self.check_master(ctx, pid)?;
        let scratch = match self.build_checked(ctx, &binary, OcfStatus::ErrGeneric) {
            Ok(s) => s,
            Err(e) => {
                let reason = format!("reload refused, previous configuration kept: {}", e.reason);
                let _ = std::fs::write(&self.rejected, &reason);
                return Err(OcfError::new(e.status, reason));
            }
        };
        self.install_config(&scratch)?;
        let answer = cli::command(&self.master_socket, "reload", socket_timeout(ctx))
            .map_err(|e| OcfError::generic(format!("reload through the master CLI: {e}")))?;
        // haproxy ≥ 2.7 answers with the outcome; 2.6 says nothing (show proc tells).
        if answer.contains("Success=0") {
            let first = config::first_error(&answer).unwrap_or_else(|| answer.trim().to_string());
            return Err(OcfError::generic(format!(
                "haproxy rejected the reload: {first}"
            )));
        }
        let mut last = String::from("no answer yet");
        let outcome = ctx
            .deadline
            .poll(Duration::from_millis(20), || match self.show_proc(ctx) {
                Ok(now) if now.failed_reloads > before.failed_reloads => Some(Err(())),
                Ok(now) if now.reloads > before.reloads && !now.workers.is_empty() => Some(Ok(now)),
                Ok(now) => {
                    last = format!("{} reload(s), {} worker(s)", now.reloads, now.workers.len());
                    None
                }
                Err(e) => {
                    last = e;
                    None
                }
            });
        match outcome {
            Some(Ok(now)) => {
                let _ = std::fs::remove_file(&self.rejected);
                ocf_lib::info!(
                    "haproxy master {pid} reloaded (reload {}), worker(s) {:?}",
                    now.reloads,
                    now.workers.iter().map(|w| w.0).collect::<Vec<_>>()
                );
                Ok(OcfStatus::Success)
            }
            Some(Err(())) => Err(OcfError::generic(
                "haproxy's master could not load the new configuration and kept the previous one",
            )),
            None => Err(OcfError::generic(format!(
                "the reload did not complete within the operation timeout ({last})"
            ))),
        }
    }
}

impl ResourceAgent for Haproxy {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_params(ctx: &Context) -> Result<Self, OcfError> {
        let p = &ctx.params;
        let path_or = |name: &str, suffix: &str| {
            p.string(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| ctx.state_file(suffix))
        };
        let agent = Haproxy {
            binary: p.string("binary").unwrap_or_else(|| "haproxy".into()),
            conffiles: p
                .string("conffile")
                .unwrap_or_default()
                .split_whitespace()
                .map(PathBuf::from)
                .collect(),
            pidfile: path_or("pidfile", ".pid"),
            master_socket: path_or("master_socket", ".master.sock"),
            stats_socket: path_or("stats_socket", ".stats.sock"),
            extra_options: p
                .string("extra_options")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            user: p.string("user"),
            check_url: p
                .parsed("check_url", probe::CheckUrl::parse)
                .map_err(|e| OcfError::configured(e.to_string()))?,
            stop_timeout: p
                .duration("stop_timeout")
                .map_err(|e| OcfError::configured(e.to_string()))?,
            cfg_dir: ctx.state_file(".cfg.d"),
            rejected: ctx.state_file(".rejected"),
            start_log: ctx.state_file(".start.log"),
        };
        // Defaults derive from HA_RSCTMP and the instance name: check what they came to.
        for socket in [&agent.master_socket, &agent.stats_socket] {
            check_socket_path(&socket.to_string_lossy())
                .map_err(|e| OcfError::configured(format!("socket {}: {e}", socket.display())))?;
        }
        Ok(agent)
    }

    fn start(&self, ctx: &Context) -> OcfResult {
        let binary = ctx.find_binary(&self.binary).ok_or_else(|| {
            OcfError::installed(format!("haproxy binary '{}' not found", self.binary))
        })?;
        match self.find() {
            Found::Running(pid) => {
                if self.check_master(ctx, pid).is_ok() {
                    ocf_lib::info!("haproxy master {pid} is already running");
                    return Ok(OcfStatus::Success);
                }
                return Err(OcfError::generic(format!(
                    "haproxy master {pid} is running but unhealthy; stop it first"
                )));
            }
            Found::Orphans(pids) => {
                ocf_lib::warn!("killing processes {pids:?} left by a dead master");
                process::signal_all(&pids, Signal::SIGKILL);
                if !self.wait_gone(ctx.deadline) {
                    return Err(OcfError::generic(format!(
                        "processes {pids:?} of a dead master do not die"
                    )));
                }
            }
            Found::Stale(why) => ocf_lib::info!("{why}; starting afresh"),
            Found::Stopped => {}
        }
        self.make_dirs(ctx)?;
        let scratch = self.build_checked(ctx, &binary, OcfStatus::ErrConfigured)?;
        self.remove_state();
        self.install_config(&scratch)?;
        let mut master = self.master_socket.clone().into_os_string();
        master.push(",mode,600");
        // Output to a file, not a pipe: the daemonized master keeps standard error open.
        let done = Child::new(&binary)
            .arg("-W")
            .arg("-D")
            .arg("-S")
            .arg(&master)
            .arg("-p")
            .arg(&self.pidfile)
            .arg("-f")
            .arg(&self.cfg_dir)
            .args(&self.extra_options)
            // A process group of its own from the start (haproxy -D then makes a session):
            // Pacemaker kills the agent's whole group when an operation times out.
            .own_process_group()
            .output_to(&self.start_log)
            .run(&ctx.deadline)
            .map_err(|e| OcfError::generic(e.to_string()))?;
        let (status, output) = (done.status, done.stdout);
        if !status.success() {
            let first = config::first_error(&output).unwrap_or_else(|| status.to_string());
            return Err(OcfError::generic(format!(
                "haproxy did not start: {}",
                config::unlink_names(&self.cfg_dir, &first)
            )));
        }
        let mut last = String::from("no pid file yet");
        let ready = ctx.deadline.poll(Duration::from_millis(20), || {
            let pid = match self.find() {
                Found::Running(pid) => pid,
                _ => return None,
            };
            match self.check_master(ctx, pid) {
                Ok(_) => {}
                Err(e) => {
                    last = e.reason;
                    return None;
                }
            }
            match cli::command(&self.stats_socket, "show info", socket_timeout(ctx)) {
                Ok(info) if info.contains("Pid:") => Some(pid),
                Ok(_) => None,
                Err(e) => {
                    last = e;
                    None
                }
            }
        });
        match ready {
            Some(pid) => {
                ocf_lib::info!("haproxy master {pid} started");
                Ok(OcfStatus::Success)
            }
            None => Err(OcfError::generic(format!(
                "haproxy did not come up within the operation timeout: {last}"
            ))),
        }
    }

    fn stop(&self, ctx: &Context) -> OcfResult {
        let marker = self.marker();
        let master = match self.find() {
            Found::Running(pid) => Some(pid),
            _ => None,
        };
        let pids = process::instance_processes(&marker);
        if pids.is_empty() {
            self.remove_state();
            return Ok(OcfStatus::Success);
        }
        // Soft stop: stop listening, let open connections finish.
        match master {
            Some(pid) => process::signal_all(&[pid], Signal::SIGUSR1),
            None => process::signal_all(&pids, Signal::SIGUSR1),
        }
        let budget = ctx.deadline.remaining().unwrap_or(ctx.timeout);
        let grace = self.stop_timeout.unwrap_or(budget / 2);
        if !self.wait_gone(Deadline::after(grace).min(ctx.deadline)) {
            let left = process::instance_processes(&marker);
            ocf_lib::warn!(
                "haproxy processes {left:?} still running after the soft stop; sending SIGTERM"
            );
            process::signal_all(&left, Signal::SIGTERM);
            let half = ctx.deadline.remaining().unwrap_or_default() / 2;
            if !self.wait_gone(Deadline::after(half).min(ctx.deadline)) {
                let left = process::instance_processes(&marker);
                ocf_lib::warn!("haproxy processes {left:?} ignore SIGTERM; sending SIGKILL");
                process::signal_all(&left, Signal::SIGKILL);
                if !self.wait_gone(ctx.deadline) {
                    return Err(OcfError::generic(format!(
                        "haproxy processes {:?} survive SIGKILL",
                        process::instance_processes(&marker)
                    )));
                }
            }
        }
        self.remove_state();
        ocf_lib::info!("haproxy stopped");
        Ok(OcfStatus::Success)
    }

    fn monitor(&self, ctx: &Context) -> OcfResult {
        let pid = match self.find() {
            Found::Running(pid) => pid,
            Found::Stopped => return Ok(OcfStatus::NotRunning),
            // A probe only asks "is it active here?": a crashed instance is not.
            Found::Stale(_) if ctx.is_probe() => return Ok(OcfStatus::NotRunning),
            Found::Stale(why) => return Err(OcfError::generic(why)),
            Found::Orphans(pids) => {
                return Err(OcfError::generic(format!(
                    "haproxy master is gone but processes {pids:?} of this instance remain"
                )))
            }
        };
        self.check_master(ctx, pid)?;
        if ctx.check_level >= 10 {
            self.check_stats(ctx)?;
        }
        if ctx.check_level >= 20 {
            if let Some(url) = &self.check_url {
                match url.probe(socket_timeout(ctx)) {
                    probe::Outcome::Ok(what) => ocf_lib::debug!("{what}"),
                    probe::Outcome::Degraded(why) => return Err(OcfError::degraded(why)),
                    probe::Outcome::Failed(why) => return Err(OcfError::generic(why)),
                }
            }
        }
        if let Ok(reason) = std::fs::read_to_string(&self.rejected) {
            return Err(OcfError::degraded(reason.trim().to_string()));
        }
        Ok(OcfStatus::Success)
    }

    fn validate(&self, ctx: &Context) -> OcfResult {
        if ctx.check_level < 10 {
            return Ok(OcfStatus::Success);
        }
        let binary = ctx.find_binary(&self.binary).ok_or_else(|| {
            OcfError::installed(format!("haproxy binary '{}' not found", self.binary))
        })?;
        self.make_dirs(ctx)?;
        let scratch = self.build_checked(ctx, &binary, OcfStatus::ErrConfigured)?;
        let _ = std::fs::remove_dir_all(scratch);
        Ok(OcfStatus::Success)
    }

    fn reload(&self, ctx: &Context) -> OcfResult {
        self.do_reload(ctx)
    }

    fn reload_agent(&self, ctx: &Context) -> OcfResult {
        // Pacemaker records reload-agent like a start: a failure would make it stop haproxy on
        // every node of a clone. A configuration haproxy refuses leaves the previous one
        // serving, so that is reported as degraded (success to Pacemaker, reason in crm_mon).
        match self.do_reload(ctx) {
            Err(e) if self.rejected.exists() => Err(OcfError::degraded(e.reason)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_checks() {
        assert!(check_conffile("  ").is_err());
        assert!(check_conffile("/a /b").is_ok());
        assert!(check_extra_options("-L peer1").is_ok());
        assert!(check_extra_options("-L x -f /tmp/y").is_err());
        assert!(check_socket_path("relative.sock").is_err());
        assert!(check_socket_path(&format!("/{}", "x".repeat(120))).is_err());
        assert!(check_url("tcp://127.0.0.1:80").is_ok());
    }
}

ocf_lib::man_page_test!(META);
