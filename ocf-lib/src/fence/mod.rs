//! The fence-agent side: how pacemaker-fenced and people call a fence agent.
//!
//! An agent implements [`FenceAgent`]: read its options, get a plug's power state, set it, and
//! optionally list plugs. This module does the protocol around it, as fencing.py does for the
//! Python agents:
//!
//! * [`options`]: the standard options, stdin `key=value` lines (no argv) or the command line,
//!   aliases, `password_script`;
//! * [`context`]: one invocation's checked options and its time budget (`total_timeout`);
//! * [`power`]: `delay`, the off → verify → on sequence of `reboot`, status readings within
//!   `power_timeout` (fast at first, slowing to `stonith_status_sleep`), off confirmed over
//!   `confirm_interval` for agents that declare it, `retry_on`;
//! * [`output`]: output lines and exit codes (0, 1, and 2 for status "off").
//!
//! One deliberate difference: booleans are parsed by value (`ssl_insecure=0` is false), where
//! fencing.py only tests whether the key is present.

pub mod context;
mod error;
pub mod options;
pub mod output;
pub mod power;

pub use context::FenceContext;
pub use error::{FenceError, FenceErrorKind};
pub use options::{
    opt, parse_args, parse_stdin, Source, StdinLeftovers, MULTI_PLUG_ACTIONS, NO_LIST_ACTIONS,
    STANDARD_OPTIONS,
};
pub use output::Outcome;
pub use power::{perform, Plug, PowerState};

use crate::meta::{AgentKind, AgentMeta};
use crate::params::Params;
use output::{fail, success};
use std::io::Read;
use std::time::Instant;

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

    /// `validate-all` beyond option syntax (which [`FenceAgent::from_options`] checks): may
    /// look at this node, never at the device.
    fn validate(&mut self, _ctx: &FenceContext) -> Result<(), FenceError> {
        Ok(())
    }
}

/// Does the whole invocation given where options come from, except writing the answer;
/// `started` is when the invocation began (the budget counts from it).
pub fn run_with<A: FenceAgent>(
    source: Source,
    args: Vec<std::ffi::OsString>,
    stdin: &str,
    started: Instant,
) -> Outcome {
    let meta = A::meta();
    let mut params = Params::new(meta);
    match source {
        Source::Stdin => {
            let left = parse_stdin(&mut params, stdin);
            for key in left.unknown {
                // Never the value: it may be a secret under a name we do not know.
                crate::warn!("Parse error: Ignoring unknown option '{key}'");
            }
            if let Some(why) = left.refused {
                return fail(&FenceError::config(why));
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
            stdout: options::help_text(meta),
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
    let built = FenceContext::from_params(action.clone(), params, started)
        .and_then(|mut ctx| {
            options::run_password_script(&mut ctx.params, &ctx.budget)?;
            Ok(ctx)
        })
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
        return match agent.validate(&ctx) {
            Ok(()) => Outcome {
                exit: 0,
                stdout: String::new(),
            },
            Err(e) => fail(&e),
        };
    }
    perform(&mut agent, &ctx)
}

/// The whole `main` of a fence agent: options from argv when there are any, else from stdin
/// (how pacemaker-fenced calls agents).
pub fn run<A: FenceAgent>() -> ! {
    let started = Instant::now();
    crate::panic_guard::install(crate::panic_guard::Protocol::Fence);
    let meta = A::meta();
    debug_assert_eq!(meta.kind, AgentKind::Fence);
    crate::harden_process();
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
    let outcome = run_with::<A>(source, args, &stdin, started);
    std::process::exit(output::emit(&outcome))
}

#[cfg(test)]
mod tests;
