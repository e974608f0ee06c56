//! `/proc/PID/stat`, read the one way: the fields the tests use (a process's identity and its
//! CPU time) from the text after the parenthesised command name, which may itself hold spaces
//! and parentheses.

use std::sync::OnceLock;

/// The fields of one `/proc/PID/stat` line the tests use, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStat {
    /// utime, stime: the process's own CPU time.
    pub utime: u64,
    pub stime: u64,
    /// cutime, cstime: its children's, once they ended and were waited for.
    pub cutime: u64,
    pub cstime: u64,
    /// starttime: when the process started, after boot; with the pid, who it is (pids are
    /// reused).
    pub start: u64,
}

impl ProcStat {
    /// Parses the text of `/proc/PID/stat`; `None` when it is not one.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let (_, after) = text.rsplit_once(')')?;
        // `after` starts with field 3 (the state); field n is at index n - 3.
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(ProcStat {
            utime: field(14)?,
            stime: field(15)?,
            cutime: field(16)?,
            cstime: field(17)?,
            start: field(22)?,
        })
    }

    /// Reads `/proc/PID/stat` of this namespace.
    pub fn of(pid: u32) -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// The process's CPU time and that of its children it waited for, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        (self.utime + self.stime + self.cutime + self.cstime) as f64 / clock_ticks()
    }

    /// Only its children's (ended and waited for), in seconds.
    pub fn children_cpu_seconds(&self) -> f64 {
        (self.cutime + self.cstime) as f64 / clock_ticks()
    }
}

/// Clock ticks per second (`getconf CLK_TCK`), asked once.
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        crate::run(&["getconf", "CLK_TCK"])
            .stdout
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_command_name_whatever_it_holds() {
        let line = "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 5 0 987654 1000 50 18446744073709551615";
        let stat = ProcStat::parse(line).expect("a stat line");
        assert_eq!(
            stat,
            ProcStat {
                utime: 7,
                stime: 3,
                cutime: 11,
                cstime: 13,
                start: 987654
            }
        );
        assert!(ProcStat::parse("no parenthesis").is_none());
        assert!(ProcStat::parse("1 (x) S 1 2").is_none());
        assert!(ProcStat::of(std::process::id()).is_some_and(|s| s.start > 0));
    }
}
