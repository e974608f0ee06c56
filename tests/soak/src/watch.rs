//! Invariant 1, sampled every 250 ms while the soak runs: no instance has more than one live
//! qemu process, on any set of hosts. Every node of the cluster is a set of namespaces of this
//! machine, so this machine's /proc sees every qemu of every compute host at once, partitioned
//! or not: one scan is one instant. A qemu belongs to this soak's cloud when its disk lies in
//! the cloud's shared `instances_path` (another cloud on the same machine, a demo say, numbers
//! its instances from 1 too).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the watcher samples.
pub const PERIOD: Duration = Duration::from_millis(250);

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

/// What the watcher saw: every qemu pid with when it was first seen, and the breaches.
#[derive(Default)]
pub struct Seen {
    pub first_seen: BTreeMap<u32, (String, f64)>,
    pub violations: Vec<Violation>,
    pub samples: u64,
    /// The longest time between two samples (the sampling promise: at most 250 ms plus a scan).
    pub longest_gap: Duration,
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

    /// Samples until [`Watcher::stop`].
    pub fn run(&self) {
        let mut last = Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            let at = oxha_multinode::now();
            let qemus = qemu_by_instance(&self.scope);
            let mut seen = self.seen();
            seen.samples += 1;
            let gap = last.elapsed();
            if gap > seen.longest_gap {
                seen.longest_gap = gap;
            }
            last = Instant::now();
            for (instance, pids) in &qemus {
                for &pid in pids {
                    seen.first_seen
                        .entry(pid)
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
            std::thread::sleep(PERIOD);
        }
    }

    /// Pids of `instance` first seen after `since`.
    pub fn new_pids(&self, instance: &str, since: f64) -> Vec<(u32, f64)> {
        self.seen()
            .first_seen
            .iter()
            .filter(|(_, (i, at))| i == instance && *at >= since)
            .map(|(pid, (_, at))| (*pid, *at))
            .collect()
    }
}
