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
    /// Guest faults: the new qemu. Host faults: unused.
    pub detected: Option<f64>,
    /// MAAS recorded the (last) victim off.
    pub fenced: Option<f64>,
    /// Host faults: COMPUTE_HOST notifications for the victims; guest faults: VM notifications.
    pub notified: Option<f64>,
    /// Every instance it touched ACTIVE again.
    pub recovered: Option<f64>,
    pub note: String,
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
            recovered: None,
            note: String::new(),
        }
    }

    /// One timeline line: fault → fence confirmed → notified → ACTIVE.
    pub fn line(&self) -> String {
        let s = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}s"));
        format!(
            "{:.3} {:<18} {:<40} new-qemu {:>7} fenced {:>7} notifications {:>3} ACTIVE {:>7} {}",
            self.fault_at,
            self.kind.name(),
            self.target,
            s(self.detected),
            s(self.fenced),
            self.notified.map_or("-".to_string(), |n| format!("{n:.0}")),
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
        "soak report: seed {seed}, {minutes} min asked, {path}, {elapsed:.0} s run, {} faults, {samples} samples of invariant 1 (longest gap {longest_gap_ms} ms)",
        episodes.len()
    );
    let _ = writeln!(
        out,
        "replay: SOAK_SEED={seed} SOAK_MINUTES={minutes} SOAK_FAST={} make soak",
        u8::from(plan.fast)
    );
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "fault", "count", "recovered", "p50 s", "p95 s", "max s"
    );
    for kind in ALL_KINDS {
        let of: Vec<&Episode> = episodes.iter().filter(|e| e.kind == kind).collect();
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
            leave_out: Vec::new(),
        };
        let text = render(&plan, 480.0, &[e], &[v], 100, 260);
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
