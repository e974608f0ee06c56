//! One invocation of a fence agent: the action, its checked options, its plugs and its time.
//!
//! The fencer kills an agent when the action's timeout (`pcmk_off_timeout`, ...: default
//! `stonith-timeout`, 60 s) passes, and logs no reason then. So an invocation has one budget,
//! `total_timeout`, counted from its start: `delay`, every request (`shell_timeout` cut to what
//! is left) and every wait for a power change (`power_timeout`, likewise) come out of it, and
//! when it is used up the action fails with a message saying what it was waiting for.

use super::FenceError;
use crate::deadline::Deadline;
use crate::params::Params;
use std::time::{Duration, Instant};

/// `total_timeout` when not set, for `on`, `off` and `reboot`: fits Pacemaker's default fence
/// timeout (60 s) with 10 s to spare.
pub const POWER_ACTION_BUDGET: Duration = Duration::from_secs(50);
/// `total_timeout` when not set, for every other action: a monitor operation's default
/// timeout is 20 s.
pub const OTHER_ACTION_BUDGET: Duration = Duration::from_secs(15);
/// Below this, a request is not worth starting: it could not finish.
const SMALLEST_REQUEST: Duration = Duration::from_millis(200);

/// Everything about one invocation: the action, the options and the timing settings.
#[derive(Clone, Debug)]
pub struct FenceContext {
    pub action: String,
    pub params: Params,
    /// The plugs to act on: `plug` split on `plug_separator`, else `nodename`.
    pub plugs: Vec<String>,
    pub delay: Duration,
    /// `None` with `disable_timeout`: wait for a power change until the budget is used up.
    pub power_timeout: Option<Duration>,
    pub power_wait: Duration,
    /// The longest wait between status readings (`stonith_status_sleep`; readings start
    /// faster, see [`super::power::ReadingSchedule`]).
    pub status_sleep: Duration,
    /// How long readings must show a plug off, without a break, before off is confirmed
    /// (`confirm_interval`, for agents that declare it; zero: one reading).
    pub confirm_interval: Duration,
    /// Time allowed for one request to the device (`shell_timeout`), before the budget cut.
    pub request_timeout: Duration,
    /// Time allowed to connect (`login_timeout`).
    pub connect_timeout: Duration,
    pub retry_on: u32,
    pub separator: String,
    /// `total_timeout`, or its default for this action.
    pub total_timeout: Duration,
    /// The end of `total_timeout`, counted from the start of the invocation.
    pub budget: Deadline,
    started: Instant,
}

impl FenceContext {
    /// Checks the options of `action`; the budget counts from `started`.
    pub fn from_params(
        action: String,
        params: Params,
        started: Instant,
    ) -> Result<FenceContext, FenceError> {
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
        let total_timeout = match params.duration("total_timeout")? {
            Some(t) => t,
            None if matches!(action.as_str(), "on" | "off" | "reboot") => POWER_ACTION_BUDGET,
            None => OTHER_ACTION_BUDGET,
        };
        let confirm_interval = if params.meta().param("confirm_interval").is_some() {
            duration("confirm_interval")?
        } else {
            Duration::ZERO
        };
        let limit = match power_timeout {
            Some(t) => t.min(total_timeout),
            None => total_timeout,
        };
        if !confirm_interval.is_zero() && confirm_interval >= limit {
            return Err(FenceError::config(format!(
                "confirm_interval ({} s) must be shorter than power_timeout and total_timeout ({} s): off could never be confirmed",
                confirm_interval.as_secs_f64(),
                limit.as_secs_f64()
            )));
        }
        let delay = duration("delay")?;
        if !delay.is_zero() && delay >= total_timeout {
            return Err(FenceError::config(format!(
                "delay ({} s) leaves nothing of total_timeout ({} s)",
                delay.as_secs_f64(),
                total_timeout.as_secs_f64()
            )));
        }
        Ok(FenceContext {
            delay,
            power_timeout,
            power_wait: duration("power_wait")?,
            status_sleep: duration("stonith_status_sleep")?,
            confirm_interval,
            request_timeout: duration("shell_timeout")?,
            connect_timeout: duration("login_timeout")?,
            retry_on: params.integer::<u32>("retry_on")?.unwrap_or(1),
            separator: params.string("separator").unwrap_or_else(|| ",".into()),
            plugs,
            action,
            params,
            total_timeout,
            budget: deadline_from(started, total_timeout),
            started,
        })
    }

    /// The one plug this action is about, for agents that act on a single machine.
    pub fn plug(&self) -> Result<&str, FenceError> {
        self.plugs
            .first()
            .map(String::as_str)
            .ok_or_else(|| FenceError::config("no plug given (set plug/port, or nodename)"))
    }

    /// The deadline for one power change to be confirmed: `power_timeout` from now, within
    /// the budget.
    pub fn power_deadline(&self) -> Deadline {
        match self.power_timeout {
            Some(t) => Deadline::after(t).min(self.budget),
            None => self.budget,
        }
    }

    /// The timeout for the next request: `shell_timeout` (0: none) cut to what is left of the
    /// budget, or an error saying the budget is used up.
    pub fn request_timeout_left(&self, what: &str) -> Result<Duration, FenceError> {
        let wanted = if self.request_timeout.is_zero() {
            self.total_timeout
        } else {
            self.request_timeout
        };
        let left = self.budget.cap(wanted);
        if left < SMALLEST_REQUEST {
            return Err(self.out_of_time(what));
        }
        Ok(left)
    }

    /// The error for a budget used up while doing `what`.
    pub fn out_of_time(&self, what: &str) -> FenceError {
        FenceError::timed_out(format!(
            "total_timeout ({} s) used up after {:.1} s, while {what}",
            self.total_timeout.as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        ))
    }

    /// Sleeps what is left of `delay` (time since start counts, like fencing.py's run_delay).
    pub(super) fn run_delay(&self) {
        let left = self.delay.saturating_sub(self.started.elapsed());
        if !left.is_zero() {
            crate::info!(
                "Delay {:.1} second(s) before logging in to the fence device",
                left.as_secs_f64()
            );
            self.budget.sleep(left);
        }
    }
}

fn deadline_from(started: Instant, budget: Duration) -> Deadline {
    Deadline::after(budget.saturating_sub(started.elapsed()))
}
