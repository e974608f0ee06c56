//! Where a fence agent's options come from and what they are: the standard option set,
//! `key=value` lines on stdin (how pacemaker-fenced calls), the command line (how people
//! call), `password_script`, and the warnings for secrets given where `ps` shows them.

use super::FenceError;
use crate::deadline::Deadline;
use crate::meta::{ActionMeta, AgentMeta, Param};
use crate::params::Params;

/// The options every fence agent has, unless it redeclares one (to change its default).
/// Agents list it in their `param_groups`.
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
    Param::duration(
        "total_timeout",
        "Time allowed for the whole action; every wait and request is cut to what is left",
    )
    .longdesc(TOTAL_TIMEOUT_DOC),
    Param::boolean(
        "disable_timeout",
        "Wait for a power change until total_timeout (ignore power_timeout)",
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

const TOTAL_TIMEOUT_DOC: &str = "The time one invocation may take, from start to answer: delay, every request to the device and every wait for a power change are cut to what is left, and when it is used up the agent fails with a reason instead of being killed by the fencer without one. Default: 50 s for on, off and reboot (Pacemaker's default fence timeout, stonith-timeout, is 60 s), 15 s for status, list and monitor (a monitor operation's default timeout is 20 s). Keep pcmk_off_timeout and pcmk_reboot_timeout (default: stonith-timeout) at least 10 s above it; to give a slow device more time, raise both together.";

/// fencing.py's action set for an agent that can list its plugs (`on` is not automatic: no
/// unfencing unless configured).
pub static MULTI_PLUG_ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("on", 20).automatic(false),
    ActionMeta::new("off", 20),
    ActionMeta::new("reboot", 20),
    ActionMeta::new("status", 20),
    ActionMeta::new("list", 20),
    ActionMeta::new("list-status", 20),
    ActionMeta::new("monitor", 20),
    ActionMeta::new("metadata", 5),
    ActionMeta::new("manpage", 5),
    ActionMeta::new("validate-all", 5),
];

/// The same without `list` and `list-status`: for an agent that must never be offered as able
/// to fence every host it could list (`pcmk_host_check=dynamic-list` is the fencer's default
/// for agents that declare `list`).
pub static NO_LIST_ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("on", 20).automatic(false),
    ActionMeta::new("off", 20),
    ActionMeta::new("reboot", 20),
    ActionMeta::new("status", 20),
    ActionMeta::new("monitor", 20),
    ActionMeta::new("metadata", 5),
    ActionMeta::new("manpage", 5),
    ActionMeta::new("validate-all", 5),
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
    pub const PASSWORD_SCRIPT: Param = crate::password_script::PARAM
        .short('S')
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
    /// For devices whose readings alone are not proof (asynchronous power, BMCs that flap):
    /// off counts only after readings show it without a break for this long.
    pub const CONFIRM_INTERVAL: Param = Param::duration(
        "confirm_interval",
        "Off counts only after status readings show it without a break for X seconds",
    )
    .longdesc(CONFIRM_INTERVAL_DOC);

    const CONFIRM_INTERVAL_DOC: &str = "One status reading of off is not proof: a machine that keeps coming back on, or a controller that cannot make up its mind, shows off for a moment. Off counts only when readings show it without a break for this long: the first reading that shows it, then readings a quarter of this apart, until one that began at least this long after the first ended. A reading of on after off was seen, once the power-off was requested, fails the action at once (the state flaps, or someone powered the machine on); a failed reading starts the run again. A state that comes back on for less than a quarter of the interval (plus the time a reading takes) can slip between readings: no reading schedule can rule that out. Must be shorter than power_timeout. 0: one reading of off is enough.";
}

/// Where the options came from, for the few things that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    CommandLine,
}

/// `method` is not an option: fencing.py offers it only to agents that implement a one-call
/// power cycle, and no oxha agent does (a cycle can report success before the node was seen
/// off). Earlier versions listed it with only `onoff` working, so a device configured then
/// with `method=onoff` still fences; any other method is refused, not quietly replaced.
const RETIRED_METHOD: &str = "method";

/// What [`parse_stdin`] found besides the options it set.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StdinLeftovers {
    /// Keys no option answers to (not an error: agents must ignore arguments they do not know).
    pub unknown: Vec<String>,
    /// A request this agent cannot do (`method=cycle`): the invocation must fail with it.
    pub refused: Option<String>,
}

/// Parses fence-agent stdin: `key=value` lines, `#` comments and blank lines skipped, one pair
/// of surrounding double quotes stripped, last occurrence wins.
pub fn parse_stdin(params: &mut Params, input: &str) -> StdinLeftovers {
    let mut left = StdinLeftovers::default();
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
        if params.meta().param(key).is_none() && key == RETIRED_METHOD {
            // Last occurrence wins, as for every option.
            left.refused = (value != "onoff").then(|| {
                format!(
                    "method={value} is not supported: {} fences by off, off confirmed, then on (method=onoff, the only method)",
                    params.meta().name
                )
            });
            continue;
        }
        if !params.set(key, value) {
            left.unknown.push(key.to_string());
        }
    }
    left
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

/// How to pass a secret so that `ps` does not show it, for the warning about argv.
pub const SECRET_ON_ARGV_ADVICE: &str = "every user of this host can read the command line (ps, /proc/PID/cmdline); give it on standard input instead (key=value lines), or through a file or password_script option";

/// Parses the command line (`-o off -n node1 --ip=…`) into `params`. A secret given there is
/// accepted, with a warning that says how to pass it instead.
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
            if p.secret {
                crate::warn!(
                    "--{} was given on the command line: {SECRET_ON_ARGV_ADVICE}",
                    p.long_option()
                );
            }
        }
    }
    Ok(())
}

pub(super) fn help_text(meta: &'static AgentMeta) -> String {
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
        let secret = if p.secret {
            " (secret: prefer standard input)"
        } else {
            ""
        };
        out.push_str(&format!(
            "   {short}--{}{value}\n        {}{default}{secret}\n",
            p.long_option(),
            p.shortdesc
        ));
    }
    let actions: Vec<&str> = meta.actions.iter().map(|a| a.name).collect();
    out.push_str(&format!("\nActions: {}\n", actions.join(", ")));
    out
}

/// Reads `password_script` output as the password (see [`crate::password_script::run`]),
/// for agents that declare it.
pub(super) fn run_password_script(
    params: &mut Params,
    deadline: &Deadline,
) -> Result<(), FenceError> {
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
    let password = crate::password_script::run(&script, deadline).map_err(FenceError::config)?;
    params.set("password", password.expose());
    Ok(())
}
