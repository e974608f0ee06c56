//! Invariant 1, sampled every 200 ms (promised: 250) while the soak runs: no instance has more than one live
//! qemu process, on any set of hosts. Every node of the cluster is a set of namespaces of this
//! machine, so this machine's /proc sees every qemu of every compute host at once, partitioned
//! or not: one scan is one instant. A qemu belongs to this soak's cloud when its disk lies in
//! the cloud's shared `instances_path` (another cloud on the same machine, a demo say, numbers
//! its instances from 1 too).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the watcher samples: 200 ms, so that a sample late by its wake-up on a loaded
/// machine still comes within [`PROMISE`] of the one before.
pub const PERIOD: Duration = Duration::from_millis(200);

/// What the soak promises: a sample at least every 250 ms.
pub const PROMISE: Duration = Duration::from_millis(250);

/// Live qemu processes by instance name (`instance-0000000a`): pid list; only those whose
/// command line names `scope` (the cloud's instances directory).
pub fn qemu_by_instance(scope: &str) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|&b| b == 0);
        let Some(argv0) = args.next() else { continue };
        if !argv0.ends_with(b"qemu-system-x86_64") {
            continue;
        }
        if !cmdline.windows(scope.len()).any(|w| w == scope.as_bytes()) {
            continue;
        }
        let Some(instance) = args.find_map(|a| {
            let a = std::str::from_utf8(a).ok()?;
            let rest = a.strip_prefix("guest=")?;
            Some(rest.split(',').next().unwrap_or(rest).to_string())
        }) else {
            continue;
        };
        // A zombie has died; its parent has not reaped it yet.
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if !zombie {
            out.entry(instance).or_default().push(pid);
        }
    }
    out
}

/// One breach of an invariant, with when it was seen.
#[derive(Clone, Debug)]
pub struct Violation {
    pub at: f64,
    pub invariant: u8,
    pub what: String,
}

/// A process as the watcher tells processes apart: its pid and its start time (clock ticks
/// after boot). The pid alone is not enough: with the kernel's default pid_max (32768) an hour
/// of a busy cloud reuses pids, and a guest's new qemu can get a pid an old qemu had (the
/// 60-minute soak took a restarted guest for one that never came back).
pub type ProcessKey = (u32, u64);

/// What the watcher saw: every qemu process with when it was first seen, and the breaches.
#[derive(Default)]
pub struct Seen {
    pub first_seen: BTreeMap<ProcessKey, (String, f64)>,
    pub violations: Vec<Violation>,
    pub samples: u64,
    /// The longest time between the starts of two samples.
    pub longest_gap: Duration,
    /// Samples that started more than [`PROMISE`] after the one before (the machine's load
    /// kept the watcher from its turn).
    pub late_samples: u64,
}

pub struct Watcher {
    pub seen: Mutex<Seen>,
    stop: AtomicBool,
    /// The cloud's instances directory (see [`qemu_by_instance`]).
    pub scope: String,
}

impl Watcher {
    pub fn new(scope: String) -> Watcher {
        Watcher {
            seen: Mutex::new(Seen::default()),
            stop: AtomicBool::new(false),
            scope,
        }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Samples until [`Watcher::stop`], one sample starting every [`PERIOD`] (not a period
    /// after the last scan ended: the scan's own time would stretch every gap past it).
    pub fn run(&self) {
        raise_priority();
        let mut last: Option<Instant> = None;
        let mut next = Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let at = oxha_multinode::now();
            let qemus = qemu_by_instance(&self.scope);
            let mut seen = self.seen();
            seen.samples += 1;
            if let Some(last) = last {
                let gap = started - last;
                seen.longest_gap = seen.longest_gap.max(gap);
                if gap > PROMISE {
                    seen.late_samples += 1;
                }
            }
            last = Some(started);
            for (instance, pids) in &qemus {
                for &pid in pids {
                    let Some(started) = start_ticks(pid) else {
                        continue;
                    };
                    seen.first_seen
                        .entry((pid, started))
                        .or_insert_with(|| (instance.clone(), at));
                }
                if pids.len() > 1 {
                    let what = format!("{instance} runs in {} qemu processes {pids:?}", pids.len());
                    // One line per breach, not one per sample of the same breach.
                    let repeat = seen
                        .violations
                        .last()
                        .is_some_and(|v| v.invariant == 1 && v.what == what);
                    if !repeat {
                        eprintln!("soak: VIOLATION 1 at {at:.3}: {what}");
                        seen.violations.push(Violation {
                            at,
                            invariant: 1,
                            what,
                        });
                    }
                }
            }
            drop(seen);
            next += PERIOD;
            let now = Instant::now();
            if next < now {
                // Late: the next sample at once, and the cadence from there.
                next = now;
            }
            std::thread::sleep(next - now);
        }
    }

    /// Pids of `instance` first seen after `since`.
    pub fn new_pids(&self, instance: &str, since: f64) -> Vec<(u32, f64)> {
        self.seen()
            .first_seen
            .iter()
            .filter(|(_, (i, at))| i == instance && *at >= since)
            .map(|((pid, _), (_, at))| (*pid, *at))
            .collect()
    }
}

/// When process `pid` started, in clock ticks after boot (field 22 of /proc/PID/stat); None
/// once it is gone.
pub fn start_ticks(pid: u32) -> Option<u64> {
    oxha_harness::proc_stat::ProcStat::of(pid).map(|s| s.start)
}

/// The watcher's thread runs at a higher priority (nice -10) than the cloud it watches, so that
/// two cores busy with qemu, nova and Pacemaker do not keep it from its turn. The soak runs
/// as root (it builds the cluster); where renice is refused the soak goes on, its report
/// counting the late samples.
fn raise_priority() {
    // /proc/thread-self is `PID/task/TID`: renice takes a thread id for that thread alone.
    let Some(tid) = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    else {
        return;
    };
    let ok = std::process::Command::new("renice")
        .args(["-n", "-10", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("soak: could not raise the watcher's priority (renice); samples may come late");
    }
}

#[cfg(test)]
mod tests {
    use super::start_ticks;

    #[test]
    fn a_process_is_told_apart_by_its_start() {
        let me = start_ticks(std::process::id()).expect("this process's start");
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let started = start_ticks(child.id()).expect("the child's start");
        assert!(started >= me, "{started} < {me}");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(start_ticks(child.id()), None, "gone");
    }
}
