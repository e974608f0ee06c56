//! Processes an agent leaves behind or looks after: a helper detached from the operation that
//! starts it (how vip's `start` leaves its announcer behind without Pacemaker waiting for it),
//! accounted for with a pid file, and the identity of a process by pid *and* start time.
//!
//! The child is a `fork` of the agent (no second program): it starts its own session, so the
//! operation's process group (which Pacemaker SIGKILLs on a timeout) does not contain it;
//! its standard input, output and error are `/dev/null`, so it holds none of the pipes
//! Pacemaker reads the agent's output from; every descriptor but the ones it needs is closed.
//! The pid file records the pid and the process's start time, so a stale file never makes
//! `stop` signal an unrelated process that got the same pid.

use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::time::Duration;

/// A detached process: its pid and its start time (clock ticks since boot, `/proc/<pid>/stat`
/// field 22), which together name it even after the pid is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Daemon {
    pub pid: i32,
    pub start_time: u64,
}

pub enum Fork {
    /// In the agent: the detached child.
    Parent(Daemon),
    /// In the child: detached, with only the kept descriptors and stdio on /dev/null.
    Child,
}

/// Forks a detached child that keeps only the descriptors in `keep`. Call it while the process
/// has a single thread (an agent always does): the child continues from here. Returns in the
/// parent only once the child is detached (own session, stdio on /dev/null, nothing else open),
/// so when the agent exits nothing of its operation's pipes is left in the child.
pub fn detach(keep: &[RawFd]) -> io::Result<Fork> {
    // The child says it is done by closing its end of this pipe (or writes one byte if it
    // failed); the parent waits for that.
    let mut ready = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = ready;
    // SAFETY: the agent is single-threaded, so the child gets a consistent copy of everything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing the pipe we just made.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
        return Err(e);
    }
    if pid == 0 {
        let mut kept = keep.to_vec();
        kept.push(write_end);
        let failed = become_daemon(&kept).is_err();
        // SAFETY: write/close on our end of the pipe; _exit ends the child without running
        // the parent's exit handlers when it could not detach.
        unsafe {
            if failed {
                libc::write(write_end, [1u8].as_ptr().cast(), 1);
                libc::_exit(1);
            }
            libc::close(write_end);
        }
        return Ok(Fork::Child);
    }
    // Read now: the child cannot be reaped before we wait for it, so its stat is there even if
    // it has already done its work and exited (an owner answering at once).
    let start_time = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .map(|(_, t)| t);
    // SAFETY: closing our copy of the child's end, so that its close is the EOF we wait for.
    unsafe { libc::close(write_end) };
    let mut answer = [0u8; 1];
    let n = loop {
        // SAFETY: read into a one-byte buffer.
        let n = unsafe { libc::read(read_end, answer.as_mut_ptr().cast(), 1) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break n;
        }
    };
    // SAFETY: closing our end of the pipe.
    unsafe { libc::close(read_end) };
    match (n, start_time) {
        (0, Some(start_time)) => Ok(Fork::Parent(Daemon { pid, start_time })),
        _ => {
            let mut status = 0;
            // SAFETY: reaping our own child, which failed or already ended.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            Err(io::Error::other("the helper process could not detach"))
        }
    }
}

fn become_daemon(keep: &[RawFd]) -> io::Result<()> {
    // SAFETY: plain system calls on this process's own state.
    unsafe {
        if libc::setsid() < 0 {
            return Err(io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in 0..3 {
            if libc::dup2(null, fd) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        libc::chdir(c"/".as_ptr());
    }
    close_all_but(keep);
    crate::log::set_stderr(false);
    Ok(())
}

/// Closes every descriptor above stdio that is not in `keep`.
fn close_all_but(keep: &[RawFd]) {
    let open: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor of this process that nothing in the child uses
            // (the directory handle above is gone already; EBADF is harmless).
            unsafe { libc::close(fd) };
        }
    }
}

/// The start time of process `pid`, or `None` when it does not exist or is a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
        .filter(|(state, _)| *state != 'Z')
        .map(|(_, t)| t)
}

/// True if process `pid` exists and is not a zombie (exited, not yet reaped: gone for every
/// purpose of an agent).
pub fn alive(pid: i32) -> bool {
    pid > 0 && start_time(pid).is_some()
}

/// State and start time from a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses: fields are counted after the
/// last `)`.
pub fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is the state, so field 22 (starttime) is the 20th after the parenthesis.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl Daemon {
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start_time)
    }

    fn pid_file_text(&self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    pub fn parse_pid_file(text: &str) -> Option<Daemon> {
        let mut words = text.split_whitespace();
        let pid: i32 = words.next()?.parse().ok()?;
        let start_time = words.next()?.parse().ok()?;
        (pid > 1 && words.next().is_none()).then_some(Daemon { pid, start_time })
    }

    /// Writes the pid file.
    pub fn write_pid_file(&self, path: &Path) -> io::Result<()> {
        crate::files::replace(path, self.pid_file_text().as_bytes())
    }

    /// The daemon a pid file names, if that process still runs.
    pub fn from_pid_file(path: &Path) -> Option<Daemon> {
        let text = std::fs::read_to_string(path).ok()?;
        Daemon::parse_pid_file(&text).filter(Daemon::alive)
    }

    /// In the daemon itself, on the way out: removes the pid file if it still names us.
    pub fn remove_own_pid_file(&self, path: &Path) {
        let ours = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| Daemon::parse_pid_file(&t))
            == Some(*self);
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }

    /// This process as a daemon (called in the child after [`detach`]).
    pub fn myself() -> Option<Daemon> {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() };
        start_time(pid).map(|start_time| Daemon { pid, start_time })
    }
}

/// Ends the daemon a pid file names, if it runs: SIGTERM, then SIGKILL if it is still there
/// after `grace`; then removes the file. Returns the daemon that was ended.
pub fn stop(path: &Path, grace: Duration) -> io::Result<Option<Daemon>> {
    let daemon = Daemon::from_pid_file(path);
    if let Some(d) = daemon {
        // SAFETY: kill(2) on the process the pid file names, whose start time we just matched.
        unsafe { libc::kill(d.pid, libc::SIGTERM) };
        let gone = crate::Deadline::after(grace)
            .poll(Duration::from_millis(1), || (!d.alive()).then_some(()))
            .is_some();
        if !gone {
            // SAFETY: as above.
            unsafe { libc::kill(d.pid, libc::SIGKILL) };
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(daemon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let line =
            "1234 (vip) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
        // A command name with spaces and parentheses.
        let odd = "1234 (a) b) (c) Z 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 42 1000";
        assert_eq!(parse_stat(odd), Some(('Z', 42)));
        for bad in ["", "1234 (vip)", "1234 vip S 1", "1234 (vip) S 1 2 3"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
        // Our own process: alive, and its start time is stable.
        let me = Daemon::myself().expect("our own stat");
        assert!(me.alive());
        assert!(!Daemon {
            start_time: me.start_time + 1,
            ..me
        }
        .alive());
    }

    #[test]
    fn pid_files() {
        let d = Daemon {
            pid: 4242,
            start_time: 777,
        };
        assert_eq!(Daemon::parse_pid_file(&d.pid_file_text()), Some(d));
        for bad in [
            "",
            "4242",
            "4242 x",
            "x 777",
            "1 777",
            "-5 777",
            "4242 777 9",
        ] {
            assert_eq!(Daemon::parse_pid_file(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_pid_file_or_stat_parses_without_panic(text in "\\PC{0,80}") {
            let _ = Daemon::parse_pid_file(&text);
            let _ = parse_stat(&text);
        }
    }
}
