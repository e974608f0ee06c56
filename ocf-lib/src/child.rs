//! Running another program: the one way every agent does it.
//!
//! * A cleaned environment. Pacemaker hands an agent its parameters as `OCF_RESKEY_*`
//!   variables, secrets included, and the fencer's environment is the cluster's; a child
//!   (virsh and the ssh it may start, a `password_script`, haproxy) needs none of that. It gets
//!   `PATH`, `LANG` and `LC_ALL` as the caller has them, plus what the agent sets explicitly.
//! * A deadline. A child that outlives it is killed (its process group, when it has one of its
//!   own), and the caller gets an error that names the program, before Pacemaker's own timeout
//!   kills the agent with no reason logged.
//! * Output read whole (both pipes drained at once, so a chatty child never blocks), or sent to
//!   a file for a daemon that keeps its standard error open after the parent exits.

use crate::deadline::Deadline;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The variables a child inherits from the agent (when set); every other one is dropped.
pub const INHERITED_ENV: &[&str] = &["PATH", "LANG", "LC_ALL"];

/// `PATH` for a child when the agent has none (execd and fenced always set one).
const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How often a running child is checked on.
const POLL: Duration = Duration::from_millis(5);

/// A program to run.
pub struct Child {
    cmd: Command,
    program: String,
    output: Output,
    own_group: bool,
}

enum Output {
    Capture,
    File(PathBuf),
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    /// Standard output (with [`Child::output_to`]: the file's content, both streams).
    pub stdout: String,
    pub stderr: String,
}

/// `{:?}` shows the status and the sizes of the output, never the output: a
/// `password_script` prints a password.
impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished")
            .field("status", &self.status)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &format_args!("<{} bytes>", self.stderr.len()))
            .finish()
    }
}

/// Why a child could not be run to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildError {
    /// Not started (not found, not executable, output file not writable).
    Start(String),
    /// Killed at the deadline.
    TimedOut(String),
    /// Started, but its end could not be waited for.
    Wait(String),
}

impl std::fmt::Display for ChildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildError::Start(m) | ChildError::TimedOut(m) | ChildError::Wait(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ChildError {}

/// The environment a child starts with: [`INHERITED_ENV`] from `vars`, `PATH` always.
pub fn clean_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(k, _)| INHERITED_ENV.iter().any(|keep| OsStr::new(keep) == k))
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env
}

impl Child {
    /// `program` with the cleaned environment, standard input from `/dev/null`.
    pub fn new(program: impl AsRef<OsStr>) -> Child {
        let program = program.as_ref();
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(clean_env(std::env::vars_os()))
            .stdin(Stdio::null());
        Child {
            cmd,
            program: program.to_string_lossy().into_owned(),
            output: Output::Capture,
            own_group: false,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Child {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets one variable for the child (on top of the cleaned environment).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Child {
        self.cmd.env(key, value);
        self
    }

    /// Starts the child in a process group of its own, and kills that group at the deadline.
    /// For daemons: Pacemaker kills the agent's process group when an operation times out, and
    /// that must not take the daemon with it.
    pub fn own_process_group(mut self) -> Child {
        self.cmd.process_group(0);
        self.own_group = true;
        self
    }

    /// Sends standard output and error to `path` (truncated) instead of pipes: for a program
    /// that daemonizes, whose daemon keeps its standard error open.
    pub fn output_to(mut self, path: &Path) -> Child {
        self.output = Output::File(path.to_path_buf());
        self
    }

    /// The program, as given to [`Child::new`].
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Runs the child until it exits or `deadline` passes (then it is killed).
    pub fn run(mut self, deadline: &Deadline) -> Result<Finished, ChildError> {
        let program = self.program.clone();
        let file = match &self.output {
            Output::Capture => {
                self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                None
            }
            Output::File(path) => {
                let out = File::create(path).map_err(|e| {
                    ChildError::Start(format!("cannot create {}: {e}", path.display()))
                })?;
                let err = out.try_clone().map_err(|e| {
                    ChildError::Start(format!("cannot duplicate {}: {e}", path.display()))
                })?;
                self.cmd.stdout(out).stderr(err);
                Some(path.clone())
            }
        };
        let mut child = self
            .cmd
            .spawn()
            .map_err(|e| ChildError::Start(format!("cannot run {program}: {e}")))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if deadline.expired() => {
                    if self.own_group {
                        let _ = nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(child.id() as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ChildError::TimedOut(format!(
                        "{program} did not finish in time and was killed"
                    )));
                }
                Ok(None) => std::thread::sleep(deadline.cap(POLL)),
                Err(e) => return Err(ChildError::Wait(format!("waiting for {program}: {e}"))),
            }
        };
        let mut stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if let Some(path) = file {
            stdout = std::fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
        }
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }
}

/// Reads a pipe to its end in a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_an_allow_list() {
        let vars = [
            ("PATH", "/bin"),
            ("LANG", "C.UTF-8"),
            ("OCF_RESKEY_password", "s3cret"),
            ("HA_LOGFILE", "/x"),
            ("LC_ALL", "C"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = clean_env(vars);
        let keys: Vec<&OsStr> = env.iter().map(|(k, _)| k.as_os_str()).collect();
        assert_eq!(keys, ["PATH", "LANG", "LC_ALL"]);
        let no_path = clean_env([(OsString::from("X"), OsString::from("y"))]);
        assert_eq!(
            no_path,
            [(OsString::from("PATH"), OsString::from(DEFAULT_PATH))]
        );
    }

    #[test]
    fn child_sees_only_the_cleaned_environment() {
        std::env::set_var("OCF_RESKEY_password", "child-must-not-see-this");
        let out = Child::new("/usr/bin/env")
            .env("LC_ALL", "C")
            .run(&Deadline::after(Duration::from_secs(10)))
            .expect("env runs");
        assert!(out.status.success());
        assert!(!out.stdout.contains("OCF_RESKEY"), "{}", out.stdout);
        assert!(out.stdout.contains("LC_ALL=C"), "{}", out.stdout);
        assert!(out.stdout.contains("PATH="), "{}", out.stdout);
    }

    #[test]
    fn output_is_captured_and_a_slow_child_is_killed() {
        let out = Child::new("/bin/sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run(&Deadline::none())
            .expect("sh runs");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let started = std::time::Instant::now();
        let err = Child::new("/bin/sleep")
            .arg("30")
            .own_process_group()
            .run(&Deadline::after(Duration::from_millis(200)))
            .expect_err("killed");
        assert!(matches!(err, ChildError::TimedOut(_)), "{err}");
        // Killed, not waited for: well before the 30 s sleep would end, even on a loaded
        // machine.
        assert!(started.elapsed() < Duration::from_secs(20));
        let missing = Child::new("/nonexistent/program").run(&Deadline::none());
        assert!(matches!(missing, Err(ChildError::Start(_))));
    }

    #[test]
    fn the_output_of_a_child_is_never_in_a_debug_print() {
        let out = Child::new("/bin/sh")
            .args(["-c", "echo child-printed-password; echo err-text >&2"])
            .run(&Deadline::none())
            .expect("sh runs");
        assert_eq!(out.stdout, "child-printed-password\n");
        for shown in [format!("{out:?}"), format!("{out:#?}")] {
            assert!(!shown.contains("child-printed-password"), "{shown}");
            assert!(!shown.contains("err-text"), "{shown}");
            assert!(shown.contains("23 bytes"), "{shown}");
        }
    }

    #[test]
    fn output_to_a_file() {
        let dir = std::env::temp_dir().join(format!("ocf-lib-child-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join("out.log");
        let out = Child::new("/bin/sh")
            .args(["-c", "echo one; echo two >&2"])
            .output_to(&log)
            .run(&Deadline::none())
            .expect("sh runs");
        assert_eq!(out.stdout, "one\ntwo\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
