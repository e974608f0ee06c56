//! `password_script`: a command whose output is the password, so the password itself is
//! never in the cluster configuration. Fence agents have it as fencing.py does; a resource
//! agent that holds a password declares [`PARAM`] too, because cibsecret's files do not reach
//! a pacemaker-remote node by themselves (its executor reads them from its own disk, and
//! `cibsecret sync` copies them only over ssh to nodes it can reach at that moment).

use crate::child::Child;
use crate::deadline::Deadline;
use crate::meta::Param;
use crate::secret::Secret;

/// The declaration, for an agent's parameter list. Fence agents use
/// [`crate::fence::opt::PASSWORD_SCRIPT`], the same with its command-line spellings.
pub const PARAM: Param = Param::string(
    "password_script",
    "Script to run to retrieve password (its standard output, trimmed)",
)
.value_name("script");

/// Runs `script` through `/bin/sh -c` (as fencing.py does), with a cleaned environment and
/// within `deadline`, and returns its standard output, trimmed, as the password. The output
/// is registered as a secret before anything else sees it; errors never contain it.
pub fn run(script: &str, deadline: &Deadline) -> Result<Secret, String> {
    let out = Child::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .run(deadline)
        .map_err(|e| format!("password_script: {e}"))?;
    let password = Secret::new(out.stdout.trim());
    if !out.status.success() {
        return Err(format!("password_script failed ({})", out.status));
    }
    if password.is_empty() {
        return Err("password_script printed nothing".into());
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_output_is_the_password_and_failures_say_why() {
        let d = Deadline::after(Duration::from_secs(20));
        let p = run("printf '  from-the-script-1\\n'", &d).expect("runs");
        assert_eq!(p.expose(), "from-the-script-1");
        assert_eq!(
            crate::log::redact("x from-the-script-1 y"),
            "x **** y",
            "registered for redaction"
        );
        let err = run("echo printed-then-failed; exit 3", &d).expect_err("fails");
        assert!(err.starts_with("password_script failed"), "{err}");
        assert!(!err.contains("printed-then-failed"), "{err}");
        assert_eq!(
            run("true", &d).expect_err("empty"),
            "password_script printed nothing"
        );
        let err = run("sleep 30", &Deadline::after(Duration::from_millis(100))).expect_err("slow");
        assert!(err.starts_with("password_script: "), "{err}");
    }

    #[test]
    fn the_script_does_not_see_the_agents_parameters() {
        std::env::set_var("OCF_RESKEY_password_script_probe", "agent-env-value");
        let d = Deadline::after(Duration::from_secs(20));
        let p = run("echo \"x${OCF_RESKEY_password_script_probe}x\"", &d).expect("runs");
        assert_eq!(p.expose(), "xx");
    }
}
