//! The power sequence, as fencing.py runs it and as fencing needs it: `off` never reports
//! success without having seen the plug off (for agents that declare `confirm_interval`,
//! without a break for that long), `reboot` powers on only after off was confirmed, `on`
//! retries `retry_on` times; every wait is bounded by `power_timeout` and the budget, and
//! readings start fast and slow down ([`ReadingSchedule`]).

use super::output::{fail, success, Outcome};
use super::{FenceAgent, FenceContext, FenceError};
use std::time::{Duration, Instant};

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

/// How long to wait between status readings while a power change is pending. The first
/// reading comes at once (a device that acts synchronously is confirmed without waiting),
/// the next after [`FIRST_WAIT`], and each wait is [`GROWTH`] times the last, up to
/// `stonith_status_sleep`. A device that applies the change within a fraction of a second is
/// seen to have done so within a fraction of a second (fencing.py sleeps `stonith_status_sleep`
/// after a first reading that, for an asynchronous device like MAAS, always comes too early),
/// and a slow one is read no more often than `stonith_status_sleep` once the first seconds
/// have passed: 6 readings in the first 3.3 s, then one every `stonith_status_sleep`.
#[derive(Clone, Debug)]
pub struct ReadingSchedule {
    next: Duration,
    longest: Duration,
}

/// The first wait after the reading that follows a power request.
pub const FIRST_WAIT: Duration = Duration::from_millis(250);
/// How much longer each wait is than the one before.
pub const GROWTH: f64 = 1.5;

impl ReadingSchedule {
    pub fn new(longest: Duration) -> ReadingSchedule {
        ReadingSchedule {
            next: FIRST_WAIT.min(longest),
            longest,
        }
    }

    /// The wait before the next reading.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.mul_f64(GROWTH).min(self.longest);
        wait
    }
}

/// Readings of a confirmation window are this many to a `confirm_interval` (plus the first),
/// so a state that comes back for longer than a quarter of the interval (plus the time a
/// reading takes) is seen.
const READINGS_PER_CONFIRMATION: u32 = 4;

/// One reading of every plug.
enum Reading {
    /// Every plug reads the target state.
    AtTarget,
    /// This plug reads the other state.
    Other(String),
    Failed(FenceError),
}

fn read_plugs<A: FenceAgent>(agent: &mut A, ctx: &FenceContext, target: PowerState) -> Reading {
    let mut other = None;
    for plug in &ctx.plugs {
        match agent.get_power_status(ctx, plug) {
            Ok(state) if state == target => {}
            Ok(_) => {
                other.get_or_insert_with(|| plug.clone());
            }
            Err(e) => return Reading::Failed(e),
        }
    }
    match other {
        None => Reading::AtTarget,
        Some(plug) => Reading::Other(plug),
    }
}

/// Confirmation of a state, for agents that declare `confirm_interval` (fence_maas): one
/// reading is not proof, since a machine that keeps coming back on, or a BMC that cannot make
/// up its mind, shows any state for a moment. The state counts as confirmed only when
/// readings have shown it without a break for `confirm_interval`: the first reading that
/// shows it, then readings a quarter of the interval apart, until one that started at least
/// `confirm_interval` after the first one ended. Zero (the default of agents that do not
/// declare it): one reading is enough, as in fencing.py.
struct Confirmation {
    interval: Duration,
    /// When the first reading of the current unbroken run of target readings ended.
    since: Option<Instant>,
    /// Whether any reading showed the target (a later reading of the other state means the
    /// state flaps, even with failed readings in between).
    ever_seen: bool,
}

impl Confirmation {
    fn new(ctx: &FenceContext, target: PowerState) -> Confirmation {
        Confirmation {
            // Only off is safety-critical: an on that does not hold is the fencer's to retry.
            interval: if target == PowerState::Off {
                ctx.confirm_interval
            } else {
                Duration::ZERO
            },
            since: None,
            ever_seen: false,
        }
    }

    /// A reading (started at `started`) showed the target: is it confirmed now?
    fn seen(&mut self, started: Instant) -> bool {
        self.ever_seen = true;
        match self.since {
            None => {
                self.since = Some(Instant::now());
                self.interval.is_zero()
            }
            Some(since) => started.saturating_duration_since(since) >= self.interval,
        }
    }

    /// The wait before the next reading of a run in progress, if one is.
    fn wait(&self) -> Option<Duration> {
        let since = self.since?;
        let step = self.interval / READINGS_PER_CONFIRMATION;
        Some(step.min(self.interval.saturating_sub(since.elapsed())))
    }

    fn progress(&self) -> String {
        match self.since {
            Some(since) if !self.interval.is_zero() => format!(
                " (seen for {:.1} s of the {} s confirm_interval)",
                since.elapsed().as_secs_f64(),
                self.interval.as_secs_f64()
            ),
            _ => String::new(),
        }
    }
}

/// Asks for `target` on every plug and reads the plugs until every one shows it (confirmed,
/// for off), within `power_timeout` and the budget. Never reports success without having seen
/// the target state. Once off was seen after the request, a reading of on is not a delay but
/// a machine whose state flaps (or that someone powered on again): that is a failure at once.
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
    let mut schedule = ReadingSchedule::new(ctx.status_sleep);
    let mut confirmation = Confirmation::new(ctx, target);
    let mut last_error: Option<FenceError> = None;
    loop {
        let started = Instant::now();
        match read_plugs(agent, ctx, target) {
            Reading::AtTarget => {
                if confirmation.seen(started) {
                    return Ok(());
                }
            }
            Reading::Other(plug) if confirmation.ever_seen => {
                let (seen, then) = (target.word(), other(target).word());
                return Err(FenceError::status(format!(
                    "{plug} read {seen} and then {then} again{}: its power state flaps (or it was powered on), so {seen} is not confirmed",
                    confirmation.progress(),
                )));
            }
            Reading::Other(_) => {}
            Reading::Failed(e) => {
                crate::warn!(
                    "status of {} while waiting for {}: {}",
                    ctx.plugs.join(","),
                    target.word(),
                    e.message
                );
                // A gap in the readings: the run of target readings starts again.
                confirmation.since = None;
                last_error = Some(e);
            }
        }
        if deadline.expired() {
            break;
        }
        let wait = confirmation.wait().unwrap_or_else(|| schedule.next_wait());
        deadline.sleep(wait);
    }
    let why = last_error
        .map(|e| format!(" (last status error: {})", e.message))
        .unwrap_or_default();
    let progress = confirmation.progress();
    if ctx.budget.expired() {
        Err(ctx.out_of_time(&format!(
            "waiting for {} to power {}{progress}{why}",
            ctx.plugs.join(","),
            target.word()
        )))
    } else {
        Err(FenceError::timed_out(format!(
            "Timed out waiting to power {}{progress}{why}",
            target.word()
        )))
    }
}

/// Proof that every plug was read off (for agents with `confirm_interval`, without a break for
/// that long). Only [`power_off`] and [`already_off`] make one, after readings confirmed it;
/// `off` and `reboot` report success only through [`off_outcome`], which takes one, so no path
/// of theirs can answer success for a node that was not seen off.
#[must_use]
struct OffConfirmed(());

/// Asks for off and confirms it ([`set_and_confirm`]).
fn power_off<A: FenceAgent>(agent: &mut A, ctx: &FenceContext) -> Result<OffConfirmed, FenceError> {
    set_and_confirm(agent, ctx, PowerState::Off).map(|()| OffConfirmed(()))
}

/// The success of `off` or `reboot`: only with the node confirmed off.
fn off_outcome(_proof: OffConfirmed, message: &str) -> Outcome {
    success(message)
}

fn other(state: PowerState) -> PowerState {
    match state {
        PowerState::On => PowerState::Off,
        PowerState::Off => PowerState::On,
    }
}

/// Before powering off: is every plug off already, confirmed as [`set_and_confirm`] confirms
/// it? A plug that reads off and then on is simply not off (it is then powered off).
fn already_off<A: FenceAgent>(
    agent: &mut A,
    ctx: &FenceContext,
) -> Result<Option<OffConfirmed>, FenceError> {
    if status_of(agent, ctx)? != PowerState::Off {
        return Ok(None);
    }
    let mut confirmation = Confirmation::new(ctx, PowerState::Off);
    let mut started = Instant::now();
    loop {
        if confirmation.seen(started) {
            return Ok(Some(OffConfirmed(())));
        }
        if let Some(wait) = confirmation.wait() {
            if !ctx.budget.sleep(wait) {
                return Err(ctx.out_of_time("confirming that the node is already off"));
            }
        }
        started = Instant::now();
        match read_plugs(agent, ctx, PowerState::Off) {
            Reading::AtTarget => {}
            Reading::Other(plug) => {
                crate::info!("{plug} read off, then on: powering it off");
                return Ok(None);
            }
            Reading::Failed(e) => return Err(e),
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
            already_off(agent, ctx).and_then(|off| match off {
                Some(proof) => Ok(off_outcome(proof, "Success: Already OFF")),
                None => {
                    power_off(agent, ctx).map(|proof| off_outcome(proof, "Success: Powered OFF"))
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
    let proof = match already_off(agent, ctx)? {
        Some(proof) => proof,
        None => power_off(agent, ctx)?,
    };
    // The node is confirmed off: fencing has succeeded. Powering it back on is a courtesy
    // whose failure is reported but does not turn the fence into a failure.
    if let Err(e) = power_on(agent, ctx) {
        crate::warn!("node is off, but powering it back on failed: {}", e.message);
    }
    Ok(off_outcome(proof, "Success: Rebooted"))
}
