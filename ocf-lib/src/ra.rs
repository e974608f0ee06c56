//! The OCF 1.1 resource-agent side: how pacemaker-execd calls an agent, and what it expects back.
//!
//! An agent implements [`ResourceAgent`] (parse its parameters, then start/stop/monitor...) and
//! its `main` is `ocf_lib::ra::run::<MyAgent>()`. This module does the rest: the action from
//! argv[1], parameters from `OCF_RESKEY_*`, meta attributes from `OCF_RESKEY_CRM_meta_*`, probe
//! detection, `meta-data` with no environment, unknown actions, exit codes and exit reasons.

use crate::deadline::Deadline;
use crate::meta::{AgentKind, AgentMeta};
use crate::params::Params;
use crate::status::{OcfError, OcfResult, OcfStatus};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Pacemaker's default operation timeout, used when `CRM_meta_timeout` is absent
/// (agent run by hand or by `ocf-tester`, which sets 20 s anyway).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    MetaData,
    ValidateAll,
    Reload,
    ReloadAgent,
    Promote,
    Demote,
    Notify,
    MigrateTo,
    MigrateFrom,
    Other(String),
}

impl Action {
    pub fn parse(name: &str) -> Action {
        match name {
            "start" => Action::Start,
            "stop" => Action::Stop,
            // `status` is the legacy name of monitor.
            "monitor" | "status" => Action::Monitor,
            "meta-data" | "metadata" => Action::MetaData,
            "validate-all" => Action::ValidateAll,
            "reload" => Action::Reload,
            "reload-agent" => Action::ReloadAgent,
            "promote" => Action::Promote,
            "demote" => Action::Demote,
            "notify" => Action::Notify,
            "migrate_to" => Action::MigrateTo,
            "migrate_from" => Action::MigrateFrom,
            other => Action::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::MetaData => "meta-data",
            Action::ValidateAll => "validate-all",
            Action::Reload => "reload",
            Action::ReloadAgent => "reload-agent",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
            Action::MigrateTo => "migrate_to",
            Action::MigrateFrom => "migrate_from",
            Action::Other(name) => name,
        }
    }
}

/// Everything Pacemaker told this invocation.
#[derive(Clone, Debug)]
pub struct Context {
    pub action: Action,
    /// `OCF_RESOURCE_INSTANCE` (`vip1`, or `hap:2` for unique clones).
    pub instance: String,
    pub params: Params,
    /// `OCF_RESKEY_CRM_meta_*`, keyed without the prefix (`timeout`, `interval`, `clone`, ...).
    pub meta_attrs: BTreeMap<String, String>,
    /// `OCF_RESKEY_CRM_meta_timeout`, else [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// `OCF_RESKEY_CRM_meta_interval`; `None` when unset (probes).
    pub interval: Option<Duration>,
    /// `OCF_CHECK_LEVEL` (0 when unset or not a number).
    pub check_level: u32,
    /// `HA_RSCTMP`: a directory cleared at boot, for state that must not survive a reboot.
    pub rsc_tmp: PathBuf,
    /// The agent's own deadline: the operation timeout less a margin to report in.
    pub deadline: Deadline,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Context {
    /// Reads the environment of one invocation. Empty `OCF_RESKEY_x` values count as unset,
    /// as they do for the shell agents (`crm ... params nic=""`).
    pub fn from_env(meta: &'static AgentMeta, action: Action) -> Context {
        Context::from_vars(meta, action, std::env::vars_os())
    }

    /// The same from a given set of variables (the environment's, or a test's).
    pub fn from_vars(
        meta: &'static AgentMeta,
        action: Action,
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Context {
        let mut params = Params::new(meta);
        let mut meta_attrs = BTreeMap::new();
        let mut other: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in vars {
            let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
                continue;
            };
            if matches!(
                key,
                "OCF_CHECK_LEVEL" | "OCF_RESOURCE_INSTANCE" | "HA_RSCTMP"
            ) {
                other.insert(key.to_string(), value.to_string());
            } else if let Some(name) = key.strip_prefix("OCF_RESKEY_CRM_meta_") {
                meta_attrs.insert(name.to_string(), value.to_string());
            } else if let Some(name) = key.strip_prefix("OCF_RESKEY_") {
                if !value.is_empty() {
                    params.set(name, value);
                }
            }
        }
        let millis = |name: &str| {
            meta_attrs
                .get(name)
                .and_then(|v: &String| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        let timeout = millis("timeout")
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        let interval = millis("interval");
        let var = |name: &str| other.get(name).cloned();
        let check_level = var("OCF_CHECK_LEVEL")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Context {
            instance: var("OCF_RESOURCE_INSTANCE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| meta.name.to_string()),
            rsc_tmp: var("HA_RSCTMP")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/run/resource-agents")),
            deadline: Deadline::for_operation(timeout),
            action,
            params,
            meta_attrs,
            timeout,
            interval,
            check_level,
        }
    }

    /// A probe is a monitor with no interval, or interval 0: Pacemaker sends no
    /// `CRM_meta_interval` for probes, `ocf-tester` sends `0`.
    pub fn is_probe(&self) -> bool {
        self.action == Action::Monitor && self.interval.is_none_or(|i| i.is_zero())
    }

    pub fn meta_attr(&self, name: &str) -> Option<&str> {
        self.meta_attrs.get(name).map(String::as_str)
    }

    /// The instance name made safe for a file name (`hap:2` → `hap-2`).
    pub fn instance_file_stem(&self) -> String {
        self.instance
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// `$HA_RSCTMP/<agent>-<instance><suffix>`: a per-instance state file.
    pub fn state_file(&self, suffix: &str) -> PathBuf {
        self.rsc_tmp.join(format!(
            "{}-{}{}",
            self.params.meta().name,
            self.instance_file_stem(),
            suffix
        ))
    }

    /// Finds an executable in `PATH` (or checks an absolute path). Honours
    /// `OCF_TESTER_FAIL_HAVE_BINARY=1`, which `ocf-tester` sets to exercise the
    /// "binaries missing" probe path, like the shell library's `have_binary`.
    pub fn find_binary(&self, name: &str) -> Option<PathBuf> {
        if env("OCF_TESTER_FAIL_HAVE_BINARY").as_deref() == Some("1") {
            return None;
        }
        find_in_path(name)
    }
}

/// Looks `name` up like `execvp` would: as a path if it contains `/`, else along `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = env("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| executable(p))
}

/// An OCF resource agent: its metadata, how it reads its parameters, and its actions.
///
/// Actions return `Ok(status)` or `Err(OcfError)` with the reason for the operator. Optional
/// actions default to "unimplemented" (3), which is also what undeclared actions get.
pub trait ResourceAgent: Sized {
    fn meta() -> &'static AgentMeta;

    /// Builds the agent from checked parameters. Syntax only: nothing on this node is looked
    /// at here, so an error is `OCF_ERR_CONFIGURED` everywhere.
    fn from_params(ctx: &Context) -> Result<Self, OcfError>;

    fn start(&self, ctx: &Context) -> OcfResult;
    fn stop(&self, ctx: &Context) -> OcfResult;
    fn monitor(&self, ctx: &Context) -> OcfResult;

    /// `validate-all` beyond parameter syntax; `ctx.check_level >= 10` may look at this node.
    fn validate(&self, _ctx: &Context) -> OcfResult {
        Ok(OcfStatus::Success)
    }
    fn reload(&self, _ctx: &Context) -> OcfResult {
        Err(OcfError::unimplemented("reload is not supported"))
    }
    fn reload_agent(&self, _ctx: &Context) -> OcfResult {
        Err(OcfError::unimplemented("reload-agent is not supported"))
    }
    fn promote(&self, _ctx: &Context) -> OcfResult {
        Err(OcfError::unimplemented("promote is not supported"))
    }
    fn demote(&self, _ctx: &Context) -> OcfResult {
        Err(OcfError::unimplemented("demote is not supported"))
    }
    fn notify(&self, _ctx: &Context) -> OcfResult {
        Err(OcfError::unimplemented("notify is not supported"))
    }
}

/// Runs one action and returns its status, after writing the exit reason if there is one.
pub fn dispatch<A: ResourceAgent>(ctx: &Context) -> OcfStatus {
    let meta = A::meta();
    match execute::<A>(ctx) {
        Ok(status) => status,
        Err(e) => {
            let level = match e.status {
                OcfStatus::NotRunning | OcfStatus::Success => crate::log::Level::Info,
                OcfStatus::Degraded | OcfStatus::DegradedPromoted => crate::log::Level::Warn,
                _ => crate::log::Level::Err,
            };
            crate::log::log(
                level,
                &format!("{} {}: {}", meta.name, ctx.action.name(), e.reason),
            );
            // Pacemaker shows the last `ocf-exit-reason:` line in crm_mon and pcs status.
            let prefix = env("OCF_EXIT_REASON_PREFIX")
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "ocf-exit-reason:".into());
            crate::output::diagnostic(&format!("{prefix}{}", crate::log::redact(&e.reason)));
            e.status
        }
    }
}

fn execute<A: ResourceAgent>(ctx: &Context) -> OcfResult {
    let meta = A::meta();
    if ctx.action == Action::MetaData {
        // Metadata nobody could read is no answer: a non-zero exit, not a signal.
        return crate::output::answer(&crate::render::ocf_xml(meta))
            .map(|()| OcfStatus::Success)
            .map_err(|e| OcfError::generic(format!("cannot write the metadata: {e}")));
    }
    // Undeclared and unknown actions: 3, before anything else is looked at.
    let declared = meta.has_action(ctx.action.name())
        || (ctx.action == Action::Monitor && meta.has_action("status"));
    if !declared {
        return Err(OcfError::unimplemented(format!(
            "action '{}' is not supported by {}",
            ctx.action.name(),
            meta.name
        )));
    }
    let parsed = ctx
        .params
        .check_all()
        .map_err(|e| OcfError::configured(e.to_string()))
        .and_then(|()| A::from_params(ctx));
    let agent = match parsed {
        Ok(agent) => agent,
        // A resource whose parameters never parsed was never started by us: stopping it must
        // succeed, or Pacemaker escalates the failed stop to fencing the node.
        Err(e) if ctx.action == Action::Stop => {
            crate::warn!(
                "stop with unusable parameters ({}): nothing to stop",
                e.reason
            );
            return Ok(OcfStatus::Success);
        }
        Err(e) => return Err(e),
    };
    match &ctx.action {
        Action::Start => agent.start(ctx),
        Action::Stop => agent.stop(ctx),
        Action::Monitor => agent.monitor(ctx),
        Action::ValidateAll => agent.validate(ctx),
        Action::Reload => agent.reload(ctx),
        Action::ReloadAgent => agent.reload_agent(ctx),
        Action::Promote => agent.promote(ctx),
        Action::Demote => agent.demote(ctx),
        Action::Notify => agent.notify(ctx),
        Action::MetaData => unreachable!("handled above"),
        Action::MigrateTo | Action::MigrateFrom | Action::Other(_) => Err(OcfError::unimplemented(
            format!("action '{}' is not supported", ctx.action.name()),
        )),
    }
}

/// The whole `main` of an OCF agent.
pub fn run<A: ResourceAgent>() -> ! {
    crate::panic_guard::install(crate::panic_guard::Protocol::Ocf);
    let meta = A::meta();
    debug_assert_eq!(meta.kind, AgentKind::Resource);
    // The action is argv[1] alone; extra arguments are ignored, as the spec requires.
    let action = std::env::args_os()
        .nth(1)
        .map(|a| Action::parse(&a.to_string_lossy()));
    let Some(action) = action else {
        crate::output::diagnostic(&format!(
            "usage: {} {{{}}}",
            meta.name,
            meta.actions
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join("|")
        ));
        std::process::exit(i32::from(OcfStatus::ErrArgs.code()));
    };
    crate::harden_process();
    let ctx = Context::from_env(meta, action);
    crate::log::init(format!("{}({})", meta.name, ctx.instance));
    let status = dispatch::<A>(&ctx);
    std::process::exit(i32::from(status.code()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Param, ParamType};
    use std::ffi::OsString;

    static PARAMS: &[Param] = &[
        Param::string("ip", "address").required(),
        Param::integer("count", "count").default("5"),
        Param::new("flag", ParamType::Boolean, "flag"),
        Param::string("password", "secret").secret(),
    ];
    static META: AgentMeta = AgentMeta {
        name: "t",
        kind: AgentKind::Resource,
        version: "0",
        shortdesc: "",
        longdesc: "",
        params: PARAMS,
        param_groups: &[],
        actions: &[],
        man_sections: &[],
    };

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn environment_of_one_operation() {
        let ctx = Context::from_vars(
            &META,
            Action::parse("monitor"),
            vars(&[
                ("OCF_RESKEY_ip", "10.0.0.1"),
                ("OCF_RESKEY_count", ""),
                ("OCF_RESKEY_nonsense", "x"),
                ("OCF_RESKEY_CRM_meta_timeout", "30000"),
                ("OCF_RESKEY_CRM_meta_interval", "0"),
                ("OCF_CHECK_LEVEL", "10"),
                ("OCF_RESOURCE_INSTANCE", "vip:2"),
                ("HA_RSCTMP", "/tmp/rt"),
            ]),
        );
        assert_eq!(ctx.params.string("ip").as_deref(), Some("10.0.0.1"));
        assert!(!ctx.params.is_set("count"), "empty counts as unset");
        assert_eq!(ctx.timeout, Duration::from_secs(30));
        assert!(ctx.is_probe());
        assert_eq!(ctx.check_level, 10);
        assert_eq!(ctx.instance_file_stem(), "vip-2");
        assert_eq!(ctx.rsc_tmp, PathBuf::from("/tmp/rt"));
        let none = Context::from_vars(&META, Action::parse("start"), vars(&[]));
        assert_eq!(none.timeout, DEFAULT_TIMEOUT);
        assert_eq!(none.instance, "t");
    }

    #[test]
    fn a_context_never_prints_a_secret() {
        let ctx = Context::from_vars(
            &META,
            Action::parse("start"),
            vars(&[
                ("OCF_RESKEY_ip", "10.0.0.1"),
                ("OCF_RESKEY_password", "ra-context-secret-value"),
            ]),
        );
        for shown in [format!("{ctx:?}"), format!("{ctx:#?}")] {
            assert!(!shown.contains("ra-context-secret-value"), "{shown}");
            assert!(shown.contains("10.0.0.1"), "{shown}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_environment_gives_a_context(
            env in proptest::collection::vec(
                (proptest::sample::select(vec![
                    "OCF_RESKEY_ip", "OCF_RESKEY_count", "OCF_RESKEY_flag", "OCF_RESKEY_password",
                    "OCF_RESKEY_CRM_meta_timeout", "OCF_RESKEY_CRM_meta_interval", "OCF_CHECK_LEVEL",
                    "OCF_RESOURCE_INSTANCE", "HA_RSCTMP", "OCF_RESKEY_", "OCF_RESKEY_CRM_meta_",
                ]), "(?s).{0,40}"),
                0..12,
            ),
            action in "[a-z_-]{0,12}",
        ) {
            let vars: Vec<(OsString, OsString)> =
                env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect();
            let ctx = Context::from_vars(&META, Action::parse(&action), vars);
            let _ = ctx.params.check_all();
            let _ = ctx.params.integer::<u32>("count");
            let _ = ctx.params.bool("flag");
            let _ = ctx.instance_file_stem();
            let _ = ctx.deadline.remaining();
            proptest::prop_assert!(!ctx.timeout.is_zero());
        }
    }
}
