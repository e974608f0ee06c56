//! The fence-agent side: how pacemaker-fenced and people call a fence agent.
//!
//! An agent implements [`FenceAgent`]: read its options, get a plug's power state, set it, and
//! optionally list plugs. This module does the protocol around it, as fencing.py does for the
//! Python agents: options from stdin `key=value` lines (no argv) or from the command line,
//! aliases, `delay`, the off → verify → on sequence of `reboot`, status polling within
//! `power_timeout`, `retry_on`, output lines and exit codes (0, 1, and 2 for status "off").
//!
//! One deliberate difference: booleans are parsed by value (`ssl_insecure=0` is false), where
//! fencing.py only tests whether the key is present.

use crate::deadline::Deadline;
use crate::meta::{AgentKind, AgentMeta, Param};
use crate::params::{ParamError, Params};
use std::fmt;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The options every fence agent has, unless it redeclares one (to change its default).
pub static STANDARD_OPTIONS: &[Param] = &[
    Param::string("action", "Fencing action")
        .short('o')
        .value_name("action")
        .default("reboot"),
    Param::string(
        "plug",
        "Physical plug number on device, UUID or identification of machine",
    )
    .short('n')
    .value_name("id")
    .aliases(&["port"]),
    Param::string(
        "nodename",
        "Name of the node to be fenced (sent by Pacemaker; plug wins)",
    )
    .value_name("name"),
    Param::string(
        "separator",
        "Separator for plug parameter when specifying more than 1 plug",
    )
    .short('C')
    .value_name("char")
    .default(","),
    Param::string(
        "plug_separator",
        "Separator for plug parameter when specifying more than 1 plug",
    )
    .value_name("char")
    .default(","),
    Param::duration("delay", "Wait X seconds before fencing is started").default("0"),
    Param::boolean(
        "disable_timeout",
        "Wait for a power change until killed (ignore power_timeout)",
    ),
    Param::duration(
        "login_timeout",
        "Wait X seconds for the device to answer a connection",
    )
    .default("5"),
    Param::duration(
        "power_timeout",
        "Test X seconds for status change after ON/OFF",
    )
    .default("20"),
    Param::duration("power_wait", "Wait X seconds after issuing ON/OFF").default("0"),
    Param::duration("shell_timeout", "Wait X seconds for a request to complete").default("3"),
    Param::duration(
        "stonith_status_sleep",
        "Sleep X seconds between status calls during a STONITH action",
    )
    .default("1"),
    Param::integer("retry_on", "Count of attempts to retry power on").default("1"),
    Param::select(
        "method",
        &["onoff", "cycle"],
        "Method to fence: onoff (off, verify, on) or cycle (one device call)",
    )
    .short('m')
    .default("onoff"),
    Param::boolean("verbose", "Verbose mode: log debug lines").short('v'),
    Param::integer("verbose_level", "Level of debugging detail"),
    Param::string("debug_file", "Write debug information to given file")
        .short('D')
        .value_name("file")
        .aliases(&["debug"]),
    Param::boolean(
        "quiet",
        "Disable logging to stderr. Does not affect --verbose or --debug-file",
    )
    .short('q'),
    Param::boolean("version", "Display version information and exit").short('V'),
    Param::boolean("help", "Display help and exit").short('h'),
];

/// The actions of a fence agent that can list its plugs, as fencing.py declares them
/// (`on` is not automatic: no unfencing unless configured).
pub static MULTI_PLUG_ACTIONS: &[crate::meta::ActionMeta] = &[
    crate::meta::ActionMeta::new("on", 20).automatic(false),
    crate::meta::ActionMeta::new("off", 20),
    crate::meta::ActionMeta::new("reboot", 20),
    crate::meta::ActionMeta::new("status", 20),
    crate::meta::ActionMeta::new("list", 20),
    crate::meta::ActionMeta::new("list-status", 20),
    crate::meta::ActionMeta::new("monitor", 20),
    crate::meta::ActionMeta::new("metadata", 5),
    crate::meta::ActionMeta::new("manpage", 5),
    crate::meta::ActionMeta::new("validate-all", 5),
];

/// Connection options an agent opts into by listing them in its own parameters.
pub mod opt {
    use crate::meta::Param;

    pub const IP: Param = Param::string("ip", "IP address or hostname of fencing device")
        .short('a')
        .value_name("ip")
        .aliases(&["ipaddr"]);
    pub const IPPORT: Param =
        Param::integer("ipport", "TCP/UDP port to use for connection with device").short('u');
    pub const USERNAME: Param = Param::string("username", "Login name")
        .short('l')
        .value_name("name")
        .aliases(&["login"]);
    pub const PASSWORD: Param = Param::string("password", "Login password or passphrase")
        .short('p')
        .value_name("password")
        .aliases(&["passwd"])
        .secret();
    pub const PASSWORD_SCRIPT: Param = Param::string(
        "password_script",
        "Script to run to retrieve password (its standard output, trimmed)",
    )
    .short('S')
    .value_name("script")
    .aliases(&["passwd_script"]);
    pub const SSL: Param =
        Param::boolean("ssl", "Use SSL connection with verifying certificate").short('z');
    pub const SSL_SECURE: Param = Param::boolean(
        "ssl_secure",
        "Use SSL connection with verifying certificate",
    );
    pub const SSL_INSECURE: Param = Param::boolean(
        "ssl_insecure",
        "Use SSL connection without verifying certificate",
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    fn word(self) -> &'static str {
        match self {
            PowerState::On => "ON",
            PowerState::Off => "OFF",
        }
    }
}

/// One plug of a multi-plug device, for `list` and `list-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plug {
    pub id: String,
    pub alias: String,
    /// `None` prints `UNKNOWN` in `list-status`.
    pub state: Option<PowerState>,
}

/// The failure classes of fencing.py (`EC_*`); all of them exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceErrorKind {
    /// Bad or missing options.
    Config,
    /// Could not connect, or credentials refused.
    LoginDenied,
    ConnectionLost,
    TimedOut,
    /// Status could not be read, or the plug does not exist / is ambiguous.
    Status,
    /// The device refused or could not carry out the power change.
    PowerFailed,
    /// The agent has no such operation (`list` on a single-plug device, `method=cycle`).
    Unsupported,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceError {
    pub kind: FenceErrorKind,
    pub message: String,
}

impl FenceError {
    pub fn new(kind: FenceErrorKind, message: impl Into<String>) -> Self {
        FenceError {
            kind,
            message: message.into().replace(['\n', '\r'], " "),
        }
    }
    pub fn config(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Config, m)
    }
    pub fn login(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::LoginDenied, m)
    }
    pub fn connection(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::ConnectionLost, m)
    }
    pub fn timed_out(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::TimedOut, m)
    }
    pub fn status(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Status, m)
    }
    pub fn power(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::PowerFailed, m)
    }
    pub fn unsupported(m: impl Into<String>) -> Self {
        Self::new(FenceErrorKind::Unsupported, m)
    }
}

impl fmt::Display for FenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FenceError {}

impl From<ParamError> for FenceError {
    fn from(e: ParamError) -> Self {
        FenceError::config(e.to_string())
    }
}

/// Everything about one invocation: the action, the options and the timing settings.
#[derive(Clone, Debug)]
pub struct FenceContext {
    pub action: String,
    pub params: Params,
    /// The plugs to act on: `plug` split on `plug_separator`, else `nodename`.
    pub plugs: Vec<String>,
    pub delay: Duration,
    /// `None` with `disable_timeout`: wait for the power change until Pacemaker kills us.
    pub power_timeout: Option<Duration>,
    pub power_wait: Duration,
    pub status_sleep: Duration,
    /// Time allowed for one request to the device (`shell_timeout`).
    pub request_timeout: Duration,
    /// Time allowed to connect (`login_timeout`).
    pub connect_timeout: Duration,
    pub retry_on: u32,
    pub method: String,
    pub separator: String,
    started: Instant,
}

impl FenceContext {
    fn from_params(action: String, params: Params) -> Result<FenceContext, FenceError> {
        params.check_all()?;
        let duration = |name: &str| -> Result<Duration, FenceError> {
            Ok(params.duration(name)?.unwrap_or_default())
        };
        let plug_separator = params
            .string("plug_separator")
            .unwrap_or_else(|| ",".into());
        let plugs: Vec<String> = match params.string("plug") {
            Some(p) if !plug_separator.is_empty() => p
                .split(plug_separator.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(p) => vec![p],
            None => params.string("nodename").into_iter().collect(),
        };
        let power_timeout = if params.bool("disable_timeout")? {
            None
        } else {
            Some(duration("power_timeout")?)
        };
        Ok(FenceContext {
            delay: duration("delay")?,
            power_timeout,
            power_wait: duration("power_wait")?,
            status_sleep: duration("stonith_status_sleep")?,
            request_timeout: duration("shell_timeout")?,
            connect_timeout: duration("login_timeout")?,
            retry_on: params.integer::<u32>("retry_on")?.unwrap_or(1),
            method: params.string("method").unwrap_or_else(|| "onoff".into()),
            separator: params.string("separator").unwrap_or_else(|| ",".into()),
            plugs,
            action,
            params,
            started: Instant::now(),
        })
    }

    /// The one plug this action is about, for agents that act on a single machine.
    pub fn plug(&self) -> Result<&str, FenceError> {
        self.plugs
            .first()
            .map(String::as_str)
            .ok_or_else(|| FenceError::config("no plug given (set plug/port, or nodename)"))
    }

    /// The deadline for one power change to be confirmed.
    pub fn power_deadline(&self) -> Deadline {
        match self.power_timeout {
            Some(t) => Deadline::after(t),
            None => Deadline::none(),
        }
    }

    /// Sleeps what is left of `delay` (time since start counts, like fencing.py's run_delay).
    fn run_delay(&self) {
        let left = self.delay.saturating_sub(self.started.elapsed());
        if !left.is_zero() {
            crate::info!(
                "Delay {:.1} second(s) before logging in to the fence device",
                left.as_secs_f64()
            );
            std::thread::sleep(left);
        }
    }
}

/// A fence agent: its metadata and three callbacks; the library does the protocol.
pub trait FenceAgent: Sized {
    fn meta() -> &'static AgentMeta;

    /// Builds the agent from checked options. Must not contact the device (validate-all uses it).
    fn from_options(ctx: &FenceContext) -> Result<Self, FenceError>;

    fn get_power_status(
        &mut self,
        ctx: &FenceContext,
        plug: &str,
    ) -> Result<PowerState, FenceError>;

    /// Asks the device for a power change. Success means "accepted", not "done": the library
    /// confirms by polling [`FenceAgent::get_power_status`].
    fn set_power_status(
        &mut self,
        ctx: &FenceContext,
        plug: &str,
        state: PowerState,
    ) -> Result<(), FenceError>;

    /// The plugs this device can fence (multi-plug devices).
    fn list(&mut self, _ctx: &FenceContext) -> Result<Vec<Plug>, FenceError> {
        Err(FenceError::unsupported("this agent cannot list plugs"))
    }

    /// Is the device reachable and are the credentials good? Default: a `list`, or a `status`
    /// of the configured plug for single-plug agents.
    fn monitor(&mut self, ctx: &FenceContext) -> Result<(), FenceError> {
        if Self::meta().has_action("list") {
            self.list(ctx).map(|_| ())
        } else {
            let plug = ctx.plug()?.to_string();
            self.get_power_status(ctx, &plug).map(|_| ())
        }
    }

    /// `method=cycle`: one device call that power-cycles the plug. Unsafe for fencing (it may
    /// succeed before the node is off), so agents normally leave it unsupported.
    fn reboot_cycle(&mut self, _ctx: &FenceContext, _plug: &str) -> Result<(), FenceError> {
        Err(FenceError::unsupported(
            "method=cycle is not supported by this agent; use method=onoff",
        ))
    }
}

/// Where the options came from, for the few things that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    CommandLine,
}

/// Parses fence-agent stdin: `key=value` lines, `#` comments and blank lines skipped, one pair
/// of surrounding double quotes stripped, last occurrence wins. Unknown keys are returned (not
/// an error: agents must ignore arguments they do not know).
pub fn parse_stdin(params: &mut Params, input: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    for line in input.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            // A bare key is a boolean switch (`ssl`), as on the command line.
            None => (line, "1"),
        };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if !params.set(key, value) {
            unknown.push(key.to_string());
        }
    }
    unknown
}

fn build_cli(meta: &'static AgentMeta) -> clap::Command {
    let mut cmd = clap::Command::new(meta.name)
        .about(meta.shortdesc)
        .version(meta.version)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true);
    for p in meta.all_params() {
        let long = p.long_option();
        let mut arg = clap::Arg::new(p.name).long(long.clone()).help(p.shortdesc);
        if long != p.name {
            arg = arg.alias(p.name);
        }
        for alias in p.aliases {
            arg = arg.alias(alias.replace('_', "-"));
        }
        if let Some(c) = p.getopt.short {
            arg = arg.short(c);
        }
        arg = match p.getopt.value_name {
            None => arg.action(clap::ArgAction::SetTrue),
            Some(v) => arg.value_name(v.to_uppercase()).num_args(1),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// Parses the command line (`-o off -n node1 --ip=…`) into `params`.
pub fn parse_args<I, T>(params: &mut Params, args: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let meta = params.meta();
    let matches = build_cli(meta).try_get_matches_from(args).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .to_string()
    })?;
    for p in meta.all_params() {
        if p.getopt.value_name.is_none() {
            if matches.get_flag(p.name) {
                params.set(p.name, "1");
            }
        } else if let Some(v) = matches.get_one::<String>(p.name) {
            params.set(p.name, v.clone());
        }
    }
    Ok(())
}

fn help_text(meta: &'static AgentMeta) -> String {
    let mut out = format!(
        "{} - {}\n\nUsage: {} [options]\n       {} < key=value lines\n\nOptions:\n",
        meta.name, meta.shortdesc, meta.name, meta.name
    );
    for p in meta.all_params() {
        let short = p
            .getopt
            .short
            .map(|c| format!("-{c}, "))
            .unwrap_or_default();
        let value = p
            .getopt
            .value_name
            .map(|v| format!("=[{v}]"))
            .unwrap_or_default();
        let default = p
            .default
            .map(|d| format!(" (default {d})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "   {short}--{}{value}\n        {}{default}\n",
            p.long_option(),
            p.shortdesc
        ));
    }
    let actions: Vec<&str> = meta.actions.iter().map(|a| a.name).collect();
    out.push_str(&format!("\nActions: {}\n", actions.join(", ")));
    out
}

/// Reads `password_script` output as the password (run through `/bin/sh -c`, as fencing.py
/// does). The output is registered as a secret before anything else sees it.
fn run_password_script(params: &mut Params) -> Result<(), FenceError> {
    if !params
        .meta()
        .all_params()
        .iter()
        .any(|p| p.name == "password_script")
    {
        return Ok(());
    }
    let Some(script) = params.string("password_script") else {
        return Ok(());
    };
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| FenceError::config(format!("password_script could not be run: {e}")))?;
    if !out.status.success() {
        return Err(FenceError::config(format!(
            "password_script failed ({})",
            out.status
        )));
    }
    let password = String::from_utf8_lossy(&out.stdout).trim().to_string();
    crate::log::register_secret(&password);
    if password.is_empty() {
        return Err(FenceError::config("password_script printed nothing"));
    }
    params.set("password", password);
    Ok(())
}

/// What one action printed and how it ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exit: i32,
    pub stdout: String,
}

fn fail(e: &FenceError) -> Outcome {
    crate::error!("{}", e.message);
    Outcome {
        exit: 1,
        stdout: String::new(),
    }
}

fn success(line: &str) -> Outcome {
    Outcome {
        exit: 0,
        stdout: format!("{line}\n"),
    }
}

/// Combined status of several plugs: on if any is on (fencing.py).
fn status_of<A: FenceAgent>(agent: &mut A, ctx: &FenceContext) -> Result<PowerState, FenceError> {
    if ctx.plugs.is_empty() {
        return Err(FenceError::config(
            "no plug given (set plug/port, or nodename)",
        ));
    }
    let mut state = PowerState::Off;
    for plug in &ctx.plugs {
        if agent.get_power_status(ctx, plug)? == PowerState::On {
            state = PowerState::On;
        }
    }
    Ok(state)
}

/// Asks for `target` on every plug and polls until every plug reports it, within
/// `power_timeout`. Never reports success without having seen the target state.
fn set_and_confirm<A: FenceAgent>(
    agent: &mut A,
    ctx: &FenceContext,
    target: PowerState,
) -> Result<(), FenceError> {
    for plug in &ctx.plugs {
        agent.set_power_status(ctx, plug, target)?;
    }
    if !ctx.power_wait.is_zero() {
        std::thread::sleep(ctx.power_wait);
    }
    let deadline = ctx.power_deadline();
    let mut last_error: Option<FenceError> = None;
    let confirmed = deadline.poll(ctx.status_sleep, || {
        let mut all = true;
        for plug in &ctx.plugs {
            match agent.get_power_status(ctx, plug) {
                Ok(state) if state == target => {}
                Ok(_) => all = false,
                Err(e) => {
                    crate::warn!(
                        "status of {plug} while waiting for {}: {}",
                        target.word(),
                        e.message
                    );
                    last_error = Some(e);
                    all = false;
                }
            }
        }
        all.then_some(())
    });
    match confirmed {
        Some(()) => Ok(()),
        None => {
            let why = last_error
                .map(|e| format!(" (last status error: {})", e.message))
                .unwrap_or_default();
            Err(FenceError::timed_out(format!(
                "Timed out waiting to power {}{why}",
                target.word()
            )))
        }
    }
}

fn power_on<A: FenceAgent>(agent: &mut A, ctx: &FenceContext) -> Result<(), FenceError> {
    let attempts = ctx.retry_on.max(1);
    let mut last = None;
    for attempt in 1..=attempts {
        match set_and_confirm(agent, ctx, PowerState::On) {
            Ok(()) => return Ok(()),
            Err(e) => {
                if attempt < attempts {
                    crate::warn!(
                        "power on attempt {attempt} of {attempts} failed: {}",
                        e.message
                    );
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| FenceError::timed_out("Timed out waiting to power ON")))
}

/// Runs one action against an agent already built from its options.
pub fn perform<A: FenceAgent>(agent: &mut A, ctx: &FenceContext) -> Outcome {
    let result = match ctx.action.as_str() {
        "status" => status_of(agent, ctx).map(|s| Outcome {
            exit: if s == PowerState::On { 0 } else { 2 },
            stdout: format!("Status: {}\n", s.word()),
        }),
        "monitor" => agent.monitor(ctx).map(|()| Outcome {
            exit: 0,
            stdout: String::new(),
        }),
        "list" | "list-status" => agent.list(ctx).map(|plugs| {
            let sep = &ctx.separator;
            let mut stdout = String::new();
            for p in plugs {
                if ctx.action == "list" {
                    stdout.push_str(&format!("{}{sep}{}\n", p.id, p.alias));
                } else {
                    let state = p
                        .state
                        .map(|s| s.word().to_lowercase())
                        .unwrap_or_else(|| "UNKNOWN".into());
                    stdout.push_str(&format!("{}{sep}{}{sep}{state}\n", p.id, p.alias));
                }
            }
            Outcome { exit: 0, stdout }
        }),
        "on" => status_of(agent, ctx).and_then(|s| {
            if s == PowerState::On {
                Ok(success("Success: Already ON"))
            } else {
                power_on(agent, ctx).map(|()| success("Success: Powered ON"))
            }
        }),
        "off" => {
            ctx.run_delay();
            status_of(agent, ctx).and_then(|s| {
                if s == PowerState::Off {
                    Ok(success("Success: Already OFF"))
                } else {
                    set_and_confirm(agent, ctx, PowerState::Off)
                        .map(|()| success("Success: Powered OFF"))
                }
            })
        }
        "reboot" => {
            ctx.run_delay();
            reboot(agent, ctx)
        }
        other => Err(FenceError::unsupported(format!(
            "action '{other}' is not supported by {}",
            A::meta().name
        ))),
    };
    result.unwrap_or_else(|e| fail(&e))
}

fn reboot<A: FenceAgent>(agent: &mut A, ctx: &FenceContext) -> Result<Outcome, FenceError> {
    if ctx.method == "cycle" {
        crate::warn!("method=cycle may report success before the node is powered off");
        for plug in &ctx.plugs {
            agent.reboot_cycle(ctx, plug)?;
        }
        return Ok(success("Success: Rebooted"));
    }
    if status_of(agent, ctx)? != PowerState::Off {
        set_and_confirm(agent, ctx, PowerState::Off)?;
    }
    // The node is confirmed off: fencing has succeeded. Powering it back on is a courtesy
    // whose failure is reported but does not turn the fence into a failure.
    if let Err(e) = power_on(agent, ctx) {
        crate::warn!("node is off, but powering it back on failed: {}", e.message);
    }
    Ok(success("Success: Rebooted"))
}

/// Does the whole invocation given where options come from; returns the exit code.
/// Writes stdout; logging goes through [`crate::log`].
pub fn run_with<A: FenceAgent>(
    source: Source,
    args: Vec<std::ffi::OsString>,
    stdin: &str,
) -> Outcome {
    let meta = A::meta();
    let mut params = Params::new(meta);
    match source {
        Source::Stdin => {
            for key in parse_stdin(&mut params, stdin) {
                // Never the value: it may be a secret under a name we do not know.
                crate::warn!("Parse error: Ignoring unknown option '{key}'");
            }
        }
        Source::CommandLine => {
            if let Err(e) = parse_args(&mut params, args) {
                return fail(&FenceError::config(e));
            }
        }
    }
    if params.bool("verbose").unwrap_or(false) {
        crate::log::set_debug(true);
    }
    if params.bool("quiet").unwrap_or(false) {
        crate::log::set_stderr(false);
    }
    if let Some(path) = params.string("debug_file") {
        crate::log::set_debug_file(path);
    }
    if params.bool("help").unwrap_or(false) {
        return Outcome {
            exit: 0,
            stdout: help_text(meta),
        };
    }
    if params.bool("version").unwrap_or(false) {
        return success(meta.version);
    }
    let action = params.string("action").unwrap_or_else(|| "reboot".into());
    let action = match action.as_str() {
        "meta-data" => "metadata".to_string(),
        _ => action,
    };
    if action == "metadata" || action == "manpage" {
        return Outcome {
            exit: 0,
            stdout: crate::render::fence_xml(meta),
        };
    }
    if !meta.has_action(&action) {
        return fail(&FenceError::config(format!(
            "action '{action}' is not supported by {} (supported: {})",
            meta.name,
            meta.actions
                .iter()
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let built = run_password_script(&mut params)
        .and_then(|()| FenceContext::from_params(action.clone(), params))
        .and_then(|ctx| A::from_options(&ctx).map(|agent| (ctx, agent)));
    let (ctx, mut agent) = match built {
        Ok(pair) => pair,
        Err(e) => return fail(&e),
    };
    let needs_plug = matches!(action.as_str(), "on" | "off" | "reboot" | "status");
    if needs_plug && ctx.plugs.is_empty() {
        return fail(&FenceError::config(
            "no plug given (set plug/port, or nodename)",
        ));
    }
    if action == "validate-all" {
        return Outcome {
            exit: 0,
            stdout: String::new(),
        };
    }
    perform(&mut agent, &ctx)
}

/// The whole `main` of a fence agent: options from argv when there are any, else from stdin
/// (how pacemaker-fenced calls agents).
pub fn run<A: FenceAgent>() -> ! {
    let meta = A::meta();
    debug_assert_eq!(meta.kind, AgentKind::Fence);
    crate::log::init(meta.name);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (source, stdin) = if args.len() > 1 {
        (Source::CommandLine, String::new())
    } else {
        let mut input = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut input) {
            crate::error!("cannot read options from standard input: {e}");
            std::process::exit(1);
        }
        (Source::Stdin, input)
    };
    let outcome = run_with::<A>(source, args, &stdin);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(outcome.stdout.as_bytes());
    let _ = out.flush();
    std::process::exit(outcome.exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    static PARAMS: &[Param] = &[opt::IP, opt::PASSWORD, opt::SSL_INSECURE];
    static META: AgentMeta = AgentMeta {
        name: "fence_test",
        kind: AgentKind::Fence,
        version: "1",
        shortdesc: "test",
        longdesc: "test",
        params: PARAMS,
        actions: MULTI_PLUG_ACTIONS,
        man_sections: &[],
    };

    /// A device whose plugs change state `lag` status reads after a request, and that can be
    /// told to never change (stuck) or to fail status reads.
    #[derive(Default)]
    struct Device {
        state: BTreeMap<String, PowerState>,
        pending: BTreeMap<String, (PowerState, u32)>,
        lag: u32,
        stuck: bool,
        status_fails: bool,
        set_fails: bool,
        calls: Vec<String>,
    }

    impl FenceAgent for Device {
        fn meta() -> &'static AgentMeta {
            &META
        }
        fn from_options(ctx: &FenceContext) -> Result<Self, FenceError> {
            if ctx.params.string("ip").is_none() {
                return Err(FenceError::config("ip is required"));
            }
            Ok(Device::default())
        }
        fn get_power_status(
            &mut self,
            _: &FenceContext,
            plug: &str,
        ) -> Result<PowerState, FenceError> {
            self.calls.push(format!("status {plug}"));
            if self.status_fails {
                return Err(FenceError::status("device says error"));
            }
            if let Some((target, left)) = self.pending.get(plug).copied() {
                if left == 0 {
                    self.state.insert(plug.into(), target);
                    self.pending.remove(plug);
                } else {
                    self.pending.insert(plug.into(), (target, left - 1));
                }
            }
            self.state
                .get(plug)
                .copied()
                .ok_or_else(|| FenceError::status(format!("no plug {plug}")))
        }
        fn set_power_status(
            &mut self,
            _: &FenceContext,
            plug: &str,
            s: PowerState,
        ) -> Result<(), FenceError> {
            self.calls.push(format!("set {plug} {}", s.word()));
            if self.set_fails {
                return Err(FenceError::power("refused"));
            }
            if !self.stuck {
                self.pending.insert(plug.into(), (s, self.lag));
            }
            Ok(())
        }
        fn list(&mut self, _: &FenceContext) -> Result<Vec<Plug>, FenceError> {
            Ok(self
                .state
                .iter()
                .map(|(k, v)| Plug {
                    id: k.clone(),
                    alias: format!("{k}.example"),
                    state: Some(*v),
                })
                .collect())
        }
    }

    fn ctx(stdin: &str) -> FenceContext {
        let mut params = Params::new(&META);
        parse_stdin(&mut params, stdin);
        let action = params.string("action").unwrap_or_else(|| "reboot".into());
        FenceContext::from_params(action, params).expect("valid options")
    }

    fn device(plugs: &[(&str, PowerState)], lag: u32) -> Device {
        Device {
            state: plugs.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
            lag,
            ..Device::default()
        }
    }

    const FAST: &str = "ip=x\nstonith_status_sleep=0.01\npower_timeout=1\n";

    #[test]
    fn reboot_confirms_off_before_on() {
        let mut d = device(&[("n1", PowerState::On)], 2);
        let out = perform(&mut d, &ctx(&format!("{FAST}action=reboot\nport=n1\n")));
        assert_eq!(
            out,
            Outcome {
                exit: 0,
                stdout: "Success: Rebooted\n".into()
            }
        );
        let set_on = d
            .calls
            .iter()
            .position(|c| c == "set n1 ON")
            .expect("powered on");
        let set_off = d
            .calls
            .iter()
            .position(|c| c == "set n1 OFF")
            .expect("powered off");
        assert!(set_off < set_on);
        // Between the off request and the on request, a status read saw the node off.
        let confirmed_off = d.calls[set_off..set_on]
            .iter()
            .filter(|c| c.starts_with("status"))
            .count();
        assert!(confirmed_off >= 3, "{:?}", d.calls);
        assert_eq!(d.state["n1"], PowerState::On);
    }

    #[test]
    fn off_that_never_happens_is_a_failure() {
        let mut d = device(&[("n1", PowerState::On)], 0);
        d.stuck = true;
        let out = perform(&mut d, &ctx(&format!("{FAST}action=off\nplug=n1\n")));
        assert_eq!(out.exit, 1);
        assert!(out.stdout.is_empty());
        let mut d = device(&[("n1", PowerState::On)], 0);
        d.stuck = true;
        let out = perform(&mut d, &ctx(&format!("{FAST}action=reboot\nplug=n1\n")));
        assert_eq!(out.exit, 1, "reboot must fail when off is not confirmed");
        assert!(
            !d.calls.iter().any(|c| c == "set n1 ON"),
            "never power on an unconfirmed node"
        );
    }

    #[test]
    fn status_errors_and_refusals_are_failures() {
        for (status_fails, set_fails) in [(true, false), (false, true)] {
            for action in ["off", "reboot", "on", "status"] {
                let mut d = device(&[("n1", PowerState::On)], 0);
                d.status_fails = status_fails;
                d.set_fails = set_fails;
                let out = perform(&mut d, &ctx(&format!("{FAST}action={action}\nplug=n1\n")));
                if action == "status" && !status_fails {
                    continue;
                }
                if action == "on" && !status_fails {
                    // Already on: no device command needed.
                    assert_eq!(out.exit, 0);
                    continue;
                }
                assert_eq!(
                    out.exit, 1,
                    "{action} status_fails={status_fails} set_fails={set_fails}"
                );
            }
        }
        let mut d = device(&[], 0);
        assert_eq!(
            perform(&mut d, &ctx(&format!("{FAST}action=off\nplug=ghost\n"))).exit,
            1
        );
    }

    #[test]
    fn reboot_succeeds_when_only_power_on_fails() {
        let mut d = device(&[("n1", PowerState::Off)], 0);
        d.set_fails = true;
        let out = perform(&mut d, &ctx(&format!("{FAST}action=reboot\nplug=n1\n")));
        assert_eq!(out.exit, 0);
    }

    #[test]
    fn status_and_already_states() {
        let mut d = device(&[("a", PowerState::On), ("b", PowerState::Off)], 0);
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=status\nplug=a\n")),
            Outcome {
                exit: 0,
                stdout: "Status: ON\n".into()
            }
        );
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=status\nplug=b\n")),
            Outcome {
                exit: 2,
                stdout: "Status: OFF\n".into()
            }
        );
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=off\nplug=b\n")).stdout,
            "Success: Already OFF\n"
        );
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=on\nplug=a\n")).stdout,
            "Success: Already ON\n"
        );
        assert!(!d.calls.iter().any(|c| c.starts_with("set")));
        // Several plugs: on if any is on.
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=status\nplug=a,b\n")).exit,
            0
        );
    }

    #[test]
    fn list_and_list_status() {
        let mut d = device(&[("a", PowerState::On), ("b", PowerState::Off)], 0);
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=list\n")).stdout,
            "a,a.example\nb,b.example\n"
        );
        assert_eq!(
            perform(&mut d, &ctx("ip=x\naction=list-status\nseparator=;\n")).stdout,
            "a;a.example;on\nb;b.example;off\n"
        );
    }

    #[test]
    fn stdin_parsing_rules() {
        let mut p = Params::new(&META);
        let unknown = parse_stdin(
            &mut p,
            "# comment\n\naction=off\nipaddr=\"10.1.2.3\"\nport=n1\nport=n2\nnodename=n9\nbogus=secret\npower-timeout=7\n  ssl_insecure=0 \nverbose\n",
        );
        assert_eq!(unknown, vec!["bogus".to_string()]);
        assert_eq!(p.string("ip").as_deref(), Some("10.1.2.3"));
        assert_eq!(
            p.string("plug").as_deref(),
            Some("n2"),
            "last occurrence wins"
        );
        assert_eq!(p.string("nodename").as_deref(), Some("n9"));
        assert_eq!(
            p.duration("power_timeout").unwrap(),
            Some(Duration::from_secs(7))
        );
        assert!(!p.bool("ssl_insecure").unwrap(), "booleans parse by value");
        assert!(p.bool("verbose").unwrap());
        let c = FenceContext::from_params("off".into(), p).unwrap();
        assert_eq!(c.plugs, vec!["n2".to_string()], "plug wins over nodename");
    }

    #[test]
    fn nodename_is_the_plug_when_no_plug_is_given() {
        let c = ctx("ip=x\naction=off\nnodename=node3\n");
        assert_eq!(c.plugs, vec!["node3".to_string()]);
    }

    #[test]
    fn bad_option_values_are_config_errors() {
        for bad in [
            "power_timeout=soon",
            "retry_on=-1",
            "method=smash",
            "delay=x",
            "ssl_insecure=maybe",
        ] {
            let mut p = Params::new(&META);
            parse_stdin(&mut p, &format!("ip=x\n{bad}\n"));
            let err = FenceContext::from_params("off".into(), p).unwrap_err();
            assert_eq!(err.kind, FenceErrorKind::Config, "{bad}");
            let key = bad.split('=').next().unwrap_or_default();
            assert!(err.message.contains(key), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn command_line_options() {
        let mut p = Params::new(&META);
        parse_args(
            &mut p,
            [
                "fence_test",
                "-o",
                "status",
                "-a",
                "host",
                "-n",
                "n1",
                "--power-timeout=9",
                "--ssl-insecure",
                "--ipaddr",
                "h2",
            ],
        )
        .unwrap();
        assert_eq!(p.string("action").as_deref(), Some("status"));
        assert_eq!(p.string("ip").as_deref(), Some("h2"));
        assert_eq!(p.string("plug").as_deref(), Some("n1"));
        assert!(p.bool("ssl_insecure").unwrap());
        let mut p = Params::new(&META);
        let err = parse_args(&mut p, ["fence_test", "--no-such-option"]).unwrap_err();
        assert!(err.contains("no-such-option"), "{err}");
    }

    #[test]
    fn whole_invocations() {
        let run = |stdin: &str| run_with::<Device>(Source::Stdin, vec![], stdin);
        assert_eq!(run("action=metadata\n").exit, 0);
        assert!(run("action=metadata\n")
            .stdout
            .contains("<resource-agent name=\"fence_test\""));
        assert_eq!(run("action=validate-all\nip=x\n").exit, 0);
        assert_eq!(
            run("action=validate-all\n").exit,
            1,
            "agent's own check (ip)"
        );
        assert_eq!(run("action=explode\nip=x\n").exit, 1);
        assert_eq!(run("action=off\nip=x\n").exit, 1, "no plug");
        let help = run_with::<Device>(
            Source::CommandLine,
            vec!["fence_test".into(), "-h".into()],
            "",
        );
        assert_eq!(help.exit, 0);
        assert!(help.stdout.contains("--power-timeout"));
    }

    proptest::proptest! {
        #[test]
        fn stdin_parser_never_panics_and_keeps_values(input in "(?s).{0,400}") {
            let mut p = Params::new(&META);
            let _ = parse_stdin(&mut p, &input);
            let _ = p.check_all();
        }

        #[test]
        fn stdin_values_round_trip(value in "[^\"\n\r=]{1,40}") {
            let value = value.trim().to_string();
            proptest::prop_assume!(!value.is_empty());
            let mut p = Params::new(&META);
            let unknown = parse_stdin(&mut p, &format!("ipaddr={value}\n"));
            proptest::prop_assert!(unknown.is_empty());
            proptest::prop_assert_eq!(p.string("ip"), Some(value));
        }
    }
}
