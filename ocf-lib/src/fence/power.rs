//! The power sequence, as fencing.py runs it and as fencing needs it: `off` never reports
//! success without having seen the plug off, `reboot` powers on only after off was confirmed,
//! `on` retries `retry_on` times; every wait is bounded by `power_timeout` and the budget.

use super::output::{fail, success, Outcome};
use super::{FenceAgent, FenceContext, FenceError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    pub fn word(self) -> &'static str {
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
/// `power_timeout` and the budget. Never reports success without having seen the target state.
fn set_and_confirm<A: FenceAgent>(
    agent: &mut A,
    ctx: &FenceContext,
    target: PowerState,
) -> Result<(), FenceError> {
    for plug in &ctx.plugs {
        agent.set_power_status(ctx, plug, target)?;
    }
    if !ctx.power_wait.is_zero() {
        ctx.budget.sleep(ctx.power_wait);
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
            if ctx.budget.expired() {
                Err(ctx.out_of_time(&format!(
                    "waiting for {} to power {}{why}",
                    ctx.plugs.join(","),
                    target.word()
                )))
            } else {
                Err(FenceError::timed_out(format!(
                    "Timed out waiting to power {}{why}",
                    target.word()
                )))
            }
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
                if attempt < attempts && !ctx.budget.expired() {
                    crate::warn!(
                        "power on attempt {attempt} of {attempts} failed: {}",
                        e.message
                    );
                    last = Some(e);
                } else {
                    return Err(e);
                }
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
