//! The soak's record: one [`Episode`] per fault (its timeline), and the final report: faults
//! by kind, recovery time p50/p95/max per kind, each invariant's count.

use crate::schedule::{FaultKind, ALL_KINDS};
use crate::watch::Violation;
use std::fmt::Write as _;

/// One fault and what followed, in seconds after the fault (`recovered`: after it cleared).
#[derive(Clone, Debug)]
pub struct Episode {
    pub kind: FaultKind,
    pub target: String,
    pub fault_at: f64,
    /// Guest faults: the new qemu. Host faults: Pacemaker decided to fence the (first) victim
    /// ("will be fenced" in the scheduler's log).
    pub detected: Option<f64>,
    /// MAAS recorded the (last) victim off.
    pub fenced: Option<f64>,
    /// Host faults: COMPUTE_HOST notifications for the victims; guest faults: VM notifications.
    pub notified: Option<f64>,
    /// The first of them, by its `generated_time`. Masakari keeps that to the second (cut, not
    /// rounded), so a notification sent within a second of the fault may read up to 1 s before
    /// it.
    pub notified_at: Option<f64>,
    /// Every instance it touched ACTIVE again.
    pub recovered: Option<f64>,
    pub note: String,
    /// Not a fault of the schedule: a host no fault touched, fenced by the cluster (its
    /// connection lost with a cluster node that died, say). Followed like a host fault, counted
    /// apart.
    pub collateral: bool,
}

impl Episode {
    pub fn new(kind: FaultKind, target: String) -> Episode {
        Episode {
            kind,
            target,
            fault_at: 0.0,
            detected: None,
            fenced: None,
            notified: None,
            notified_at: None,
            recovered: None,
            note: String::new(),
            collateral: false,
        }
    }

    /// One timeline line, each time from the fault: detected (a guest's new qemu, or
    /// Pacemaker's decision to fence) → fence confirmed (MAAS off) → notified (how many, the
    /// first when) → ACTIVE.
    pub fn line(&self) -> String {
        let s = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}s"));
        format!(
            "{:.3} {:<18} {:<40} detected {:>7} fenced {:>7} notified {:>3} at {:>6} ACTIVE {:>7} {}",
            self.fault_at,
            self.kind.name(),
            self.target,
            s(self.detected),
            s(self.fenced),
            self.notified.map_or("-".to_string(), |n| format!("{n:.0}")),
            self.notified_at.map_or("-".to_string(), |v| format!("{v:.0}s")),
            s(self.recovered),
            self.note
        )
    }
}

/// The `q` quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The final report.
pub fn render(
    plan: &crate::Plan,
    elapsed: f64,
    episodes: &[Episode],
    violations: &[Violation],
    samples: u64,
    longest_gap_ms: u128,
    late_samples: u64,
) -> String {
    let mut out = String::new();
    let (seed, minutes) = (plan.seed, plan.minutes);
    let path = if plan.fast {
        "fast path: nova_force_down, Masakari's wait 0 s"
    } else {
        "default path: Masakari's wait 12 s"
    };
    let _ = writeln!(
        out,
        "soak report: seed {seed}, {minutes} min asked, {path}, {elapsed:.0} s run, {} faults, {samples} samples of invariant 1 ({late_samples} more than {} ms after the one before, the longest {longest_gap_ms} ms)",
        episodes.iter().filter(|e| !e.collateral).count(),
        crate::watch::PROMISE.as_millis()
    );
    let _ = writeln!(out, "stack: {}", plan.stack.describe());
    let _ = writeln!(out, "replay: {}", plan.replay());
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "fault", "count", "recovered", "p50 s", "p95 s", "max s"
    );
    for kind in ALL_KINDS {
        let of: Vec<&Episode> = episodes
            .iter()
            .filter(|e| e.kind == kind && !e.collateral)
            .collect();
        let mut times: Vec<f64> = of.iter().filter_map(|e| e.recovered).collect();
        times.sort_by(f64::total_cmp);
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "{:<18} {:>6} {:>9} {:>9} {:>9} {:>9}",
            kind.name(),
            of.len(),
            times.len(),
            f(quantile(&times, 0.5)),
            f(quantile(&times, 0.95)),
            f(times.last().copied())
        );
    }
    let collateral: Vec<&Episode> = episodes.iter().filter(|e| e.collateral).collect();
    let _ = writeln!(
        out,
        "collateral fencings (a host no fault touched, fenced by the cluster): {}, recovered {}",
        collateral.len(),
        collateral.iter().filter(|e| e.recovered.is_some()).count()
    );
    let names = [
        "one live qemu per instance",
        "no evacuation before MAAS off",
        "one COMPUTE_HOST per fencing, none unfenced",
        "ACTIVE within the bound, VM notifications",
        "no panic, no UNCLEAN node",
    ];
    let _ = writeln!(out, "invariant violations:");
    for (i, name) in names.iter().enumerate() {
        let n = violations
            .iter()
            .filter(|v| v.invariant as usize == i + 1)
            .count();
        let _ = writeln!(out, "  {}. {name:<46} {n}", i + 1);
    }
    for v in violations {
        let _ = writeln!(
            out,
            "  VIOLATION {} at {:.3}: {}",
            v.invariant, v.at, v.what
        );
    }
    let _ = writeln!(out, "timeline:");
    for e in episodes {
        let _ = writeln!(out, "  {}", e.line());
    }
    out
}

/// What one report says, read back from its text: its first line, the stack, and per fault
/// kind (count, recovered, p50, p95, max) and per invariant its violations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub heading: String,
    pub stack: String,
    pub kinds: Vec<(String, [String; 5])>,
    pub invariants: Vec<(String, u64)>,
}

/// Reads a report [`render`] wrote.
pub fn summary(text: &str) -> Result<Summary, String> {
    let mut s = Summary {
        heading: text.lines().next().unwrap_or_default().to_string(),
        ..Summary::default()
    };
    if !s.heading.starts_with("soak report:") {
        return Err("not a soak report (its first line is not 'soak report: ...')".into());
    }
    let mut in_invariants = false;
    for line in text.lines() {
        if let Some(stack) = line.strip_prefix("stack: ") {
            s.stack = stack.to_string();
        } else if line == "invariant violations:" {
            in_invariants = true;
        } else if line == "timeline:" {
            break;
        } else if in_invariants {
            // "  1. one live qemu per instance        0"
            let t = line.trim();
            if t.starts_with("VIOLATION") {
                continue;
            }
            if let Some((name, count)) = t.rsplit_once(' ') {
                if let Ok(n) = count.parse() {
                    s.invariants.push((name.trim().to_string(), n));
                }
            }
        } else {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if let [kind, rest @ ..] = &cols[..] {
                if ALL_KINDS.iter().any(|k| k.name() == *kind) && rest.len() == 5 {
                    let v = [rest[0], rest[1], rest[2], rest[3], rest[4]].map(str::to_string);
                    s.kinds.push((kind.to_string(), v));
                }
            }
        }
    }
    if s.stack.is_empty() {
        // Reports from before the charms' stack could be soaked were all oxha's.
        s.stack = crate::Stack::Oxha.describe().to_string();
    }
    if s.kinds.is_empty() || s.invariants.len() != 5 {
        return Err("a soak report without its table of faults or of invariants".into());
    }
    Ok(s)
}

/// Two reports side by side, as a Markdown table: per invariant the violations, per fault kind
/// count and recovery p50/max, one column per stack.
pub fn side_by_side(a: &Summary, b: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| | {} | {} |", a.stack, b.stack);
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| run | {} | {} |",
        run_of(&a.heading),
        run_of(&b.heading)
    );
    for ((name, x), (_, y)) in a.invariants.iter().zip(&b.invariants) {
        let _ = writeln!(out, "| violations: {name} | {x} | {y} |");
    }
    for (kind, x) in &a.kinds {
        let y = b.kinds.iter().find(|(k, _)| k == kind).map(|(_, v)| v);
        let cell = |v: &[String; 5]| {
            if v[0] == "0" {
                "-".to_string()
            } else if v[1] == "0" {
                format!("0 of {} recovered", v[0])
            } else {
                format!(
                    "{} of {} recovered, p50 {} s, max {} s",
                    v[1], v[0], v[2], v[4]
                )
            }
        };
        let _ = writeln!(
            out,
            "| {kind} | {} | {} |",
            cell(x),
            y.map_or("-".to_string(), cell)
        );
    }
    out
}

/// "seed 17, ..., 27 faults" from a report's first line, for the table.
fn run_of(heading: &str) -> String {
    heading
        .trim_start_matches("soak report: ")
        .split(", ")
        .filter(|p| p.starts_with("seed") || p.ends_with("faults") || p.ends_with(" s run"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(quantile(&v, 0.5), Some(5.0));
        assert_eq!(quantile(&v, 0.95), Some(10.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
    }

    #[test]
    fn the_report_counts_each_invariant_and_names_the_seed() {
        let mut e = Episode::new(FaultKind::PowerLoss, "virt-node-01.maas".into());
        e.recovered = Some(30.0);
        let v = Violation {
            at: 1.0,
            invariant: 2,
            what: "soak-1 evacuated early".into(),
        };
        let plan = crate::Plan {
            seed: 42,
            minutes: 8.0,
            fast: false,
            stack: crate::Stack::Oxha,
            leave_out: Vec::new(),
        };
        let text = render(&plan, 480.0, &[e], &[v], 100, 260, 1);
        let read = summary(&text).expect("a report reads back");
        assert_eq!(read.invariants.len(), 5);
        assert_eq!(
            read.invariants[1],
            ("2. no evacuation before MAAS off".into(), 1)
        );
        assert!(read.stack.starts_with("oxha"));
        let power = read
            .kinds
            .iter()
            .find(|(k, _)| k == "power-loss")
            .expect("row");
        assert_eq!(power.1[0], "1");
        let mut other = read.clone();
        other.stack = "charms".into();
        other.invariants[1].1 = 0;
        let table = side_by_side(&read, &other);
        assert!(
            table.contains("| violations: 2. no evacuation before MAAS off | 1 | 0 |"),
            "{table}"
        );
        assert!(
            table.contains("| power-loss | 1 of 1 recovered, p50 30.0 s, max 30.0 s |"),
            "{table}"
        );
        assert!(summary("hello").is_err());
        assert!(text.contains("SOAK_SEED=42"));
        assert!(text.contains("2. no evacuation before MAAS off"));
        assert!(text
            .lines()
            .any(|l| l.contains("no evacuation before MAAS off") && l.trim_end().ends_with(" 1")));
        assert!(text
            .lines()
            .any(|l| l.starts_with("power-loss") && l.contains("30.0")));
    }
}
