//! ocf-lib: the one home of the protocols every oxha agent speaks.
//!
//! * [`ra`]: OCF 1.1 resource agents (pacemaker-execd): actions, environment, exit codes.
//! * [`fence`]: fence agents (pacemaker-fenced, stonith_admin): stdin/argv options, the
//!   verified off/on/reboot sequence, output lines and exit codes.
//! * [`meta`] + [`render`]: an agent's parameters and actions declared once, rendered as OCF
//!   XML, fence-agent XML and a man page.
//! * [`params`]: typed, checked parameter values with errors that name the parameter.
//! * [`log`]: `ocf_log`-style logging with secret redaction. [`deadline`]: time budgets.
//! * [`child`]: running another program, with a deadline and a cleaned environment.
//! * [`output`]: standard output and error that never kill the agent (EPIPE).
//! * [`panic_guard`]: a panic prints one line without input in it and exits with the
//!   protocol's error code.
//! * [`password_script`]: a password read from a command's output.
//! * [`secret`]: values that never show in a log, an error or a `Debug` print.
//! * [`cib`]: the parts of the live CIB an agent may need to read.
//! * [`process`]: helpers detached from an operation, and a process's identity (pid + start
//!   time). [`files`]: replacing a file atomically, or durably.
//!
//! An agent crate is its metadata, its parameter struct and its actions; nothing else.

pub mod child;
pub mod cib;
pub mod clock;
pub mod deadline;
pub mod fence;
pub mod files;
pub mod log;
pub mod meta;
pub mod output;
pub mod panic_guard;
pub mod params;
pub mod password_script;
pub mod process;
pub mod ra;
pub mod render;
pub mod secret;
pub mod status;

pub use deadline::Deadline;
pub use meta::{ActionMeta, AgentKind, AgentMeta, ManSection, Param, ParamType};
pub use params::{ParamError, Params};
pub use secret::Secret;
pub use status::{OcfError, OcfResult, OcfStatus};

/// What every agent does first: no core dumps and no ptrace by other users of this uid
/// (`PR_SET_DUMPABLE` 0): the process holds passwords and API keys in memory.
pub(crate) fn harden_process() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        crate::warn!("prctl(PR_SET_DUMPABLE, 0) failed: {e}");
    }
}

/// Checks a checked-in man page against what the metadata renders now. Agent crates call this
/// from a unit test; `OXHA_BLESS=1` rewrites the file instead (after a deliberate change).
pub fn check_man_page(meta: &AgentMeta, man_dir: &std::path::Path) -> Result<(), String> {
    let path = man_dir.join(meta.man_file());
    let rendered = render::man_page(meta);
    if std::env::var("OXHA_BLESS").as_deref() == Ok("1") {
        return std::fs::write(&path, rendered).map_err(|e| format!("{}: {e}", path.display()));
    }
    let on_disk = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if on_disk == rendered {
        Ok(())
    } else {
        Err(format!(
            "{} differs from what the metadata renders; run `make man` (OXHA_BLESS=1 cargo test) and commit it",
            path.display()
        ))
    }
}

/// Adds the unit test `man_page` that fails when `man/<page>` differs from what the agent's
/// metadata renders (`make man` regenerates it): `ocf_lib::man_page_test!(META);`
#[macro_export]
macro_rules! man_page_test {
    ($meta:expr) => {
        #[cfg(test)]
        #[test]
        fn man_page() {
            let man = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../man"));
            $crate::check_man_page(&$meta, man).unwrap_or_else(|e| panic!("{e}"));
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn agents_are_not_dumpable() {
        super::harden_process();
        assert_eq!(nix::sys::prctl::get_dumpable().ok(), Some(false));
    }
}
