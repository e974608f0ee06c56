//! Finding the processes of one haproxy instance without forking: the pidfile, and `/proc`.
//!
//! Every process of an instance has the instance's private configuration directory as an
//! argument (`-f $HA_RSCTMP/haproxy-<instance>.cfg.d`), so that argument identifies them
//! exactly: a reused pid or another instance's haproxy never matches.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;

/// True if `pid`'s command line has `marker` as one whole argument.
pub fn has_argument(pid: i32, marker: &str) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == marker.as_bytes()),
        Err(_) => false,
    }
}

/// True if the process exists and is not a zombie.
pub use ocf_lib::process::alive;

/// The pid in a pidfile: `Ok(None)` if there is no pidfile.
pub fn read_pidfile(path: &Path) -> Result<Option<i32>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|p| *p > 0)
            .map(Some)
            .ok_or_else(|| format!("pidfile {} holds no pid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read pidfile {}: {e}", path.display())),
    }
}

/// Every live process (other than this one) whose command line carries `marker`.
pub fn instance_processes(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && has_argument(*pid, marker) && alive(*pid))
        .collect();
    pids.sort_unstable();
    pids
}

/// Sends `signal` to each pid, ignoring the ones that are already gone.
pub fn signal_all(pids: &[i32], signal: Signal) {
    for pid in pids {
        let _ = kill(Pid::from_raw(*pid), signal);
    }
}
