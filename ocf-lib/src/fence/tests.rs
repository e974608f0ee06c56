//! The fence protocol against a simulated device.

use super::*;
use crate::meta::Param;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

static PARAMS: &[Param] = &[
    opt::IP,
    opt::PASSWORD,
    opt::SSL_INSECURE,
    opt::CONFIRM_INTERVAL,
];
static META: AgentMeta = AgentMeta {
    name: "fence_test",
    kind: AgentKind::Fence,
    version: "1",
    shortdesc: "test",
    longdesc: "test",
    params: PARAMS,
    param_groups: &[STANDARD_OPTIONS],
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
    /// Refuses power-on requests only (power-off works).
    on_fails: bool,
    /// How long one status read takes (cut to what is left of the budget).
    status_delay: Duration,
    /// Reads on, then off, then on... each for this long from this instant, whatever is
    /// asked of it.
    flap: Option<(Instant, Duration)>,
    calls: Vec<String>,
    /// When each status read answered, and what.
    readings: Vec<(Instant, PowerState)>,
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
        ctx: &FenceContext,
        plug: &str,
    ) -> Result<PowerState, FenceError> {
        self.calls.push(format!("status {plug}"));
        if !self.status_delay.is_zero() {
            let limit = ctx.request_timeout_left("reading a status")?;
            std::thread::sleep(self.status_delay.min(limit));
        }
        if self.status_fails {
            return Err(FenceError::status("device says error"));
        }
        if let Some((since, each)) = self.flap {
            let phase = since.elapsed().as_nanos() / each.as_nanos().max(1);
            let state = if phase.is_multiple_of(2) {
                PowerState::On
            } else {
                PowerState::Off
            };
            self.readings.push((Instant::now(), state));
            return Ok(state);
        }
        if let Some((target, left)) = self.pending.get(plug).copied() {
            if left == 0 {
                self.state.insert(plug.into(), target);
                self.pending.remove(plug);
            } else {
                self.pending.insert(plug.into(), (target, left - 1));
            }
        }
        let state = self
            .state
            .get(plug)
            .copied()
            .ok_or_else(|| FenceError::status(format!("no plug {plug}")))?;
        self.readings.push((Instant::now(), state));
        Ok(state)
    }
    fn set_power_status(
        &mut self,
        _: &FenceContext,
        plug: &str,
        s: PowerState,
    ) -> Result<(), FenceError> {
        self.calls.push(format!("set {plug} {}", s.word()));
        if self.set_fails || (self.on_fails && s == PowerState::On) {
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
    FenceContext::from_params(action, params, Instant::now()).expect("valid options")
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
    // A running node: the off is requested and confirmed, then every power-on is refused.
    let mut d = device(&[("n1", PowerState::On)], 1);
    d.on_fails = true;
    let out = perform(
        &mut d,
        &ctx(&format!("{FAST}retry_on=2\naction=reboot\nplug=n1\n")),
    );
    assert_eq!(
        out,
        Outcome {
            exit: 0,
            stdout: "Success: Rebooted\n".into()
        }
    );
    let set_off = d.calls.iter().position(|c| c == "set n1 OFF");
    let set_on: Vec<usize> = (0..d.calls.len())
        .filter(|&i| d.calls[i] == "set n1 ON")
        .collect();
    let set_off = set_off.expect("the node was powered off");
    assert_eq!(set_on.len(), 2, "retry_on=2 attempts: {:?}", d.calls);
    assert!(set_off < set_on[0], "{:?}", d.calls);
    assert_eq!(d.state["n1"], PowerState::Off, "and it stays off");
    // A node that was never seen off is not rebooted, whatever on does: the same device
    // refusing every request fails the reboot.
    let mut d = device(&[("n1", PowerState::On)], 0);
    d.set_fails = true;
    let out = perform(&mut d, &ctx(&format!("{FAST}action=reboot\nplug=n1\n")));
    assert_eq!(out.exit, 1);
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
    let left = parse_stdin(
        &mut p,
        "# comment\n\naction=off\nipaddr=\"10.1.2.3\"\nport=n1\nport=n2\nnodename=n9\nbogus=secret\npower-timeout=7\n  ssl_insecure=0 \nverbose\nmethod=onoff\n",
    );
    assert_eq!(
        left,
        StdinLeftovers {
            unknown: vec!["bogus".to_string()],
            refused: None
        },
        "method=onoff is accepted without a warning"
    );
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
    let c = FenceContext::from_params("off".into(), p, Instant::now()).unwrap();
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
        "delay=x",
        "ssl_insecure=maybe",
    ] {
        let mut p = Params::new(&META);
        parse_stdin(&mut p, &format!("ip=x\n{bad}\n"));
        let err = FenceContext::from_params("off".into(), p, Instant::now()).unwrap_err();
        assert_eq!(err.kind, FenceErrorKind::Config, "{bad}");
        let key = bad.split('=').next().unwrap_or_default();
        assert!(err.message.contains(key), "{bad}: {}", err.message);
    }
}

#[test]
fn method_is_not_offered_and_only_onoff_is_accepted() {
    let metadata = crate::render::fence_xml(&META);
    assert!(
        !metadata.contains("name=\"method\""),
        "no agent implements cycle: {metadata}"
    );
    let run = |stdin: &str| run_with::<Device>(Source::Stdin, vec![], stdin, Instant::now());
    assert_eq!(run("action=validate-all\nip=x\nmethod=onoff\n").exit, 0);
    for refused in ["method=cycle", "method=onoff\nmethod=cycle", "method=smash"] {
        let out = run(&format!("action=validate-all\nip=x\n{refused}\n"));
        assert_eq!(out.exit, 1, "{refused}");
    }
    assert_eq!(
        run("action=validate-all\nip=x\nmethod=cycle\nmethod=onoff\n").exit,
        0,
        "last occurrence wins"
    );
    let mut p = Params::new(&META);
    let left = parse_stdin(&mut p, "method=cycle\n");
    let why = left.refused.expect("refused");
    assert!(why.starts_with("method=cycle is not supported"), "{why}");
    assert!(parse_args(&mut p, ["fence_test", "-m", "cycle"]).is_err());
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
    let run = |stdin: &str| run_with::<Device>(Source::Stdin, vec![], stdin, Instant::now());
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
        Instant::now(),
    );
    assert_eq!(help.exit, 0);
    assert!(help.stdout.contains("--power-timeout"));
}

/// Keys of [`META`] as stdin may spell them, with the parameter each one sets.
const STDIN_KEYS: &[(&str, &str)] = &[
    ("ip", "ip"),
    ("ipaddr", "ip"),
    ("plug", "plug"),
    ("port", "plug"),
    ("nodename", "nodename"),
    ("power_timeout", "power_timeout"),
    ("power-timeout", "power_timeout"),
    ("separator", "separator"),
];

proptest::proptest! {
    #[test]
    fn stdin_parser_never_panics(input in "(?s).{0,400}") {
        let mut p = Params::new(&META);
        let _ = parse_stdin(&mut p, &input);
        let _ = p.check_all();
    }

    /// Lines of known keys (in any spelling, quoted or not, padded or not) among comments,
    /// blank lines and unknown keys: every parameter ends up with its last line's value, and
    /// every unknown key is reported.
    #[test]
    fn stdin_parser_keeps_values(
        lines in proptest::collection::vec(
            (
                0..STDIN_KEYS.len() + 1,
                "[^\"\n\r=#]{0,24}",
                proptest::bool::ANY,
                "[ \t]{0,2}",
            ),
            0..14,
        ),
    ) {
        let mut input = String::from("# options\n\n");
        let mut expected: BTreeMap<&str, String> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (i, (key, value, quoted, pad)) in lines.iter().enumerate() {
            let value = value.trim();
            let shown = if *quoted { format!("\"{value}\"") } else { value.to_string() };
            match STDIN_KEYS.get(*key) {
                Some((spelling, name)) => {
                    input.push_str(&format!("{pad}{spelling}{pad}={pad}{shown}{pad}\n"));
                    expected.insert(name, value.to_string());
                }
                None => {
                    let key = format!("unknown{i}");
                    input.push_str(&format!("{key}={shown}\n#{key}=commented\n\n"));
                    unknown.push(key);
                }
            }
        }
        let mut p = Params::new(&META);
        let left = parse_stdin(&mut p, &input);
        proptest::prop_assert_eq!(left.unknown, unknown);
        for (_, name) in STDIN_KEYS {
            proptest::prop_assert_eq!(
                p.raw(name).filter(|_| p.is_set(name)),
                expected.get(name).map(String::as_str),
                "{} in {:?}", name, input
            );
        }
    }

    #[test]
    fn stdin_values_round_trip(value in "[^\"\n\r=]{1,40}") {
        let value = value.trim().to_string();
        proptest::prop_assume!(!value.is_empty());
        let mut p = Params::new(&META);
        let left = parse_stdin(&mut p, &format!("ipaddr={value}\n"));
        proptest::prop_assert!(left.unknown.is_empty());
        proptest::prop_assert_eq!(p.string("ip"), Some(value));
    }
}

#[test]
fn one_budget_bounds_the_whole_action() {
    // Every status read takes 300 ms and the plug never goes off: power_timeout (60 s) would
    // wait far longer than total_timeout (1 s).
    let mut d = device(&[("n1", PowerState::On)], 0);
    d.stuck = true;
    d.status_delay = Duration::from_millis(300);
    let c = ctx(
        "ip=x\nstonith_status_sleep=0.1\npower_timeout=60\ntotal_timeout=1\naction=off\nplug=n1\n",
    );
    let out = perform(&mut d, &c);
    assert_eq!(out.exit, 1);
    // The budget, not power_timeout, ended it: it is used up, and the reads that fit in it
    // (300 ms each, a 100 ms wait between) are few. A load that slows the test only makes
    // them fewer; power_timeout would have allowed over a hundred.
    assert!(c.budget.expired());
    let reads = d.calls.iter().filter(|c| c.starts_with("status")).count();
    assert!((2..=5).contains(&reads), "{:?}", d.calls);
    let why = c.out_of_time("waiting").message;
    assert!(
        why.starts_with("total_timeout (1 s) used up after"),
        "{why}"
    );
    assert!(c.request_timeout_left("x").is_err());
}

#[test]
fn budget_defaults_and_delay() {
    assert_eq!(
        ctx("ip=x\naction=off\nplug=a\n").total_timeout,
        super::context::POWER_ACTION_BUDGET
    );
    assert_eq!(
        ctx("ip=x\naction=reboot\nplug=a\n").total_timeout,
        Duration::from_secs(50)
    );
    assert_eq!(
        ctx("ip=x\naction=monitor\n").total_timeout,
        super::context::OTHER_ACTION_BUDGET
    );
    assert_eq!(
        ctx("ip=x\naction=status\ntotal_timeout=120\n").total_timeout,
        Duration::from_secs(120)
    );
    // A request gets shell_timeout, never more than what is left.
    let c = ctx("ip=x\naction=off\nshell_timeout=5\ntotal_timeout=2\n");
    assert!(c.request_timeout_left("x").unwrap() <= Duration::from_secs(2));
    let c = ctx("ip=x\naction=off\nshell_timeout=1\n");
    assert_eq!(c.request_timeout_left("x").unwrap(), Duration::from_secs(1));
    let mut p = Params::new(&META);
    parse_stdin(&mut p, "ip=x\ndelay=60\n");
    let err = FenceContext::from_params("off".into(), p, Instant::now()).unwrap_err();
    assert_eq!(err.kind, FenceErrorKind::Config, "{err}");
}

#[test]
fn a_fence_context_never_prints_a_secret() {
    let c = ctx("ip=10.1.1.1\npassword=fence-context-secret\naction=off\nplug=n1\n");
    for shown in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!shown.contains("fence-context-secret"), "{shown}");
        assert!(shown.contains("10.1.1.1"), "{shown}");
    }
}

#[test]
fn secrets_on_the_command_line_are_accepted() {
    let mut p = Params::new(&META);
    parse_args(&mut p, ["fence_test", "-a", "h", "-p", "pass-on-argv"]).unwrap();
    assert_eq!(p.string("password").as_deref(), Some("pass-on-argv"));
}

#[test]
fn readings_start_fast_and_slow_down_to_stonith_status_sleep() {
    let mut s = super::power::ReadingSchedule::new(Duration::from_secs(2));
    let waits: Vec<u128> = (0..9).map(|_| s.next_wait().as_millis()).collect();
    assert_eq!(waits, [250, 375, 562, 843, 1265, 1898, 2000, 2000, 2000]);
    // A shorter stonith_status_sleep is the wait from the start.
    let mut s = super::power::ReadingSchedule::new(Duration::from_millis(100));
    assert_eq!(s.next_wait(), Duration::from_millis(100));
    assert_eq!(s.next_wait(), Duration::from_millis(100));
}

#[test]
fn off_is_seen_soon_after_it_happens() {
    // The plug goes off after 2 readings: the reading at once after the request and the
    // first after 250 ms see it on, the next (after 375 ms more) off. fencing.py would sleep
    // stonith_status_sleep after each: here 60 s, longer than power_timeout (20 s), so an
    // agent that waited it would never see off and would fail; no clock bound is needed.
    let mut d = device(&[("n1", PowerState::On)], 2);
    let out = perform(
        &mut d,
        &ctx("ip=x\nstonith_status_sleep=60\npower_timeout=20\naction=off\nplug=n1\n"),
    );
    assert_eq!(out.stdout, "Success: Powered OFF\n", "{out:?}");
    // The first reading (before the request) and three after it, spaced by the schedule.
    let at: Vec<Instant> = d.readings.iter().map(|(at, _)| *at).collect();
    assert_eq!(at.len(), 4, "{:?}", d.readings);
    assert!(at[2].duration_since(at[1]) >= Duration::from_millis(250));
    assert!(at[3].duration_since(at[2]) >= Duration::from_millis(375));
}

#[test]
fn off_is_confirmed_only_after_confirm_interval_without_a_break() {
    let mut d = device(&[("n1", PowerState::On)], 1);
    let c = ctx(&format!(
        "{FAST}confirm_interval=0.3\naction=off\nplug=n1\n"
    ));
    let out = perform(&mut d, &c);
    assert_eq!(out.stdout, "Success: Powered OFF\n", "{out:?}");
    let offs: Vec<Instant> = d
        .readings
        .iter()
        .filter(|(_, s)| *s == PowerState::Off)
        .map(|(at, _)| *at)
        .collect();
    let (first, last) = (offs[0], offs[offs.len() - 1]);
    assert!(
        last.duration_since(first) >= Duration::from_millis(300),
        "off readings {:?} apart",
        last.duration_since(first)
    );
    // The first reading, then a quarter of the interval apart: 5 readings, not a busy loop
    // (fewer when a loaded machine runs the test late: the last wait is cut to what is left).
    assert!((2..=6).contains(&offs.len()), "{} off readings", offs.len());
    for pair in offs.windows(2).take(offs.len().saturating_sub(2)) {
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(75),
            "readings a quarter of the interval apart: {offs:?}"
        );
    }
    // An off that is already there is confirmed the same way before "Already OFF".
    let mut d = device(&[("n1", PowerState::Off)], 0);
    let out = perform(&mut d, &c);
    assert_eq!(out.stdout, "Success: Already OFF\n");
    let (first, last) = (d.readings[0].0, d.readings[d.readings.len() - 1].0);
    assert!(last.duration_since(first) >= Duration::from_millis(300));
    assert!(d.readings.len() >= 2, "{:?}", d.readings);
}

/// A device that flaps with `each` per state, fenced with `confirm` seconds.
fn fence_flapping(each_ms: u64, confirm: &str, action: &str) -> (Outcome, Device) {
    let mut d = device(&[("n1", PowerState::On)], 0);
    d.flap = Some((Instant::now(), Duration::from_millis(each_ms)));
    let c = ctx(&format!(
        "ip=x\nstonith_status_sleep=0.01\npower_timeout=5\nconfirm_interval={confirm}\naction={action}\nplug=n1\n"
    ));
    let out = perform(&mut d, &c);
    (out, d)
}

#[test]
fn a_state_that_flaps_faster_than_confirm_interval_is_never_off() {
    // 200 ms on, 200 ms off: longer than the reading spacing (a quarter of 0.4 s), shorter
    // than the interval. Neither off nor reboot may report it off, and reboot must not power
    // it on.
    for action in ["off", "reboot"] {
        let (out, d) = fence_flapping(200, "0.4", action);
        assert_eq!(out.exit, 1, "{action}: {out:?} after {:?}", d.readings);
        assert!(
            !d.calls.iter().any(|c| c == "set n1 ON"),
            "{action}: {:?}",
            d.calls
        );
        assert!(
            d.readings.iter().any(|(_, s)| *s == PowerState::Off),
            "the test must let the agent see off: {:?}",
            d.readings
        );
    }
    // The control: the same machine with one reading as proof is reported off; so the
    // failure above is the confirmation's doing.
    let (out, _) = fence_flapping(200, "0", "off");
    assert_eq!(out.stdout, "Success: Powered OFF\n");
}

#[test]
fn a_state_that_stays_off_longer_than_confirm_interval_is_off() {
    // 1.5 s each way, 0.2 s interval: the first off phase holds long enough, with room for
    // a loaded machine to read late.
    let (out, d) = fence_flapping(1500, "0.2", "off");
    assert_eq!(out.stdout, "Success: Powered OFF\n", "{:?}", d.readings);
}

#[test]
fn confirm_interval_must_fit_power_timeout() {
    let mut p = Params::new(&META);
    parse_stdin(&mut p, "ip=x\npower_timeout=5\nconfirm_interval=5\n");
    let err = FenceContext::from_params("off".into(), p, Instant::now()).unwrap_err();
    assert_eq!(err.kind, FenceErrorKind::Config, "{err}");
    assert!(err.message.contains("confirm_interval"), "{err}");
}
