//! Reading domain states through `virsh -r` (read-only), one process per poll.
//!
//! Why virsh and not libvirt: the agent is a static binary and Debian ships no static
//! libvirt; the libvirt RPC protocol (XDR over the read-only socket) could be spoken directly,
//! but virsh is on every nova-compute host, handles every URI form and auth method libvirt
//! supports, and one `virsh "list ...; domstats --state"` run costs a few milliseconds per
//! poll. `LC_ALL=C` keeps its output untranslated; like every child of an agent it gets no
//! other variable of the agent's environment (no `OCF_RESKEY_password`).

use ocf_lib::child::Child;
use ocf_lib::Deadline;
use std::collections::BTreeMap;
use std::time::Duration;

/// `virDomainState` values and the reasons the agent cares about.
pub const RUNNING: u32 = 1;
pub const PAUSED: u32 = 3;
pub const SHUTOFF: u32 = 5;
pub const SHUTOFF_CRASHED: u32 = 3;
pub const PAUSED_IOERROR: u32 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainState {
    pub name: String,
    pub state: u32,
    pub reason: u32,
}

impl DomainState {
    pub fn is_crashed(&self) -> bool {
        self.state == SHUTOFF && self.reason == SHUTOFF_CRASHED
    }
    pub fn is_paused_ioerror(&self) -> bool {
        self.state == PAUSED && self.reason == PAUSED_IOERROR
    }
    pub fn describe(&self) -> String {
        match (self.state, self.reason) {
            (SHUTOFF, SHUTOFF_CRASHED) => "shut off (crashed)".into(),
            (PAUSED, PAUSED_IOERROR) => "paused (ioerror)".into(),
            (s, r) => format!("in state {s} reason {r}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Virsh {
    pub binary: String,
    pub uri: String,
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Parses the output of `list --all --uuid --name; domstats --state`: a `uuid name` line per
/// domain, then per domain `Domain: 'name'` with `state.state=N` and `state.reason=N`.
/// Domains missing from either half (defined or undefined between the two) are skipped.
pub fn parse_domains(output: &str) -> BTreeMap<String, DomainState> {
    let mut uuid_of: BTreeMap<String, String> = BTreeMap::new();
    let mut states: BTreeMap<String, (Option<u32>, Option<u32>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Domain: '") {
            current = rest.strip_suffix('\'').map(str::to_string);
            continue;
        }
        if let (Some(name), Some((key, value))) = (&current, trimmed.split_once('=')) {
            let entry = states.entry(name.clone()).or_default();
            match key {
                "state.state" => entry.0 = value.trim().parse().ok(),
                "state.reason" => entry.1 = value.trim().parse().ok(),
                _ => {}
            }
            continue;
        }
        if let Some((uuid, name)) = trimmed.split_once(' ') {
            if is_uuid(uuid) {
                uuid_of.insert(name.trim().to_string(), uuid.to_ascii_lowercase());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (name, (state, reason)) in states {
        if let (Some(uuid), Some(state), Some(reason)) = (uuid_of.get(&name), state, reason) {
            out.insert(
                uuid.clone(),
                DomainState {
                    name,
                    state,
                    reason,
                },
            );
        }
    }
    out
}

/// How a wait for a libvirt lifecycle event ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The event line, e.g. `event 'lifecycle' for domain 'guest1': Stopped Failed`.
    Event(String),
    TimedOut,
}

/// Runs virsh with `args` (a cleaned environment, `LC_ALL=C` for untranslated output), reads
/// its output, kills it if it outlives `limit`.
fn run_virsh(
    binary: &str,
    args: &[&str],
    limit: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    let done = Child::new(binary)
        .args(args)
        .env("LC_ALL", "C")
        .run(&Deadline::after(limit))
        .map_err(|e| e.to_string())?;
    Ok((done.status, done.stdout, done.stderr))
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
}

impl Virsh {
    /// Waits up to `wait` (whole seconds, at least 1) for the next lifecycle event of any
    /// domain: `virsh event --event lifecycle --timeout N` returns after the first one.
    pub fn wait_lifecycle(&self, wait: Duration) -> Result<Wait, String> {
        let secs = wait.as_secs().max(1).to_string();
        let args = [
            "-r",
            "-q",
            "-c",
            &self.uri,
            "event",
            "--event",
            "lifecycle",
            "--timeout",
            &secs,
        ];
        let (status, out, err) = run_virsh(
            &self.binary,
            &args,
            Duration::from_secs(wait.as_secs().max(1) + 5),
        )?;
        if let Some(line) = out.lines().find(|l| l.starts_with("event ")) {
            return Ok(Wait::Event(line.trim().to_string()));
        }
        if out.contains("timed out") || err.contains("timed out") {
            return Ok(Wait::TimedOut);
        }
        Err(format!(
            "virsh event on {} failed ({status}): {}",
            self.uri,
            first_line(&err)
        ))
    }

    /// Every domain (running or not) with its state, keyed by UUID (= nova instance UUID).
    pub fn domains(&self, deadline: &Deadline) -> Result<BTreeMap<String, DomainState>, String> {
        let args = [
            "-r",
            "-q",
            "-c",
            &self.uri,
            "list --all --uuid --name; domstats --state",
        ];
        let (status, out, err) =
            run_virsh(&self.binary, &args, deadline.cap(Duration::from_secs(15)))?;
        if !status.success() {
            return Err(format!(
                "virsh -c {} failed ({status}): {}",
                self.uri,
                first_line(&err)
            ));
        }
        Ok(parse_domains(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_and_domstats() {
        let out = "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c01 guest1\n\
                   0A1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c02 guest two\n\
                   \n\
                   Domain: 'guest1'\n  state.state=5\n  state.reason=3\n\n\
                   Domain: 'guest two'\n  state.state=1\n  state.reason=1\n\n\
                   Domain: 'gone'\n  state.state=1\n  state.reason=1\n";
        let d = parse_domains(out);
        assert_eq!(d.len(), 2);
        let g1 = &d["8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c01"];
        assert!(g1.is_crashed());
        assert_eq!(g1.name, "guest1");
        assert_eq!(d["0a1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c02"].state, RUNNING);
    }

    #[test]
    fn garbage_gives_no_domains() {
        assert!(parse_domains("error: failed to connect\nDomain: 'x\nstate.state=zz\n").is_empty());
        assert!(parse_domains("").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_output_parses_without_panic(text in "(?s).{0,500}") {
            let _ = parse_domains(&text);
        }

        #[test]
        fn listed_domains_round_trip(
            domains in proptest::collection::btree_map(
                "[a-zA-Z0-9_][a-zA-Z0-9 _.-]{0,18}[a-zA-Z0-9]",
                (proptest::array::uniform16(proptest::num::u8::ANY), 0u32..8, 0u32..12),
                0..6,
            )
        ) {
            let uuid = |b: &[u8; 16]| {
                let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
            };
            let mut out = String::new();
            for (name, (id, _, _)) in &domains {
                out.push_str(&format!(" {} {name}\n", uuid(id)));
            }
            out.push('\n');
            for (name, (_, state, reason)) in &domains {
                out.push_str(&format!("Domain: '{name}'\n  state.state={state}\n  state.reason={reason}\n\n"));
            }
            let parsed = parse_domains(&out);
            let ids: std::collections::BTreeSet<String> = domains.values().map(|(id, _, _)| uuid(id)).collect();
            proptest::prop_assume!(ids.len() == domains.len());
            proptest::prop_assert_eq!(parsed.len(), domains.len());
            for (name, (id, state, reason)) in &domains {
                let d = &parsed[&uuid(id)];
                proptest::prop_assert_eq!(&d.name, name);
                proptest::prop_assert_eq!((d.state, d.reason), (*state, *reason));
            }
        }
    }
}
