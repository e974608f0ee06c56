//! What a fence action prints and how it exits: fencing.py's lines (`Success: Powered OFF`,
//! `Status: ON`) and codes (0 success or on, 1 failure, 2 off).

use super::FenceError;

/// What one action printed and how it ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exit: i32,
    pub stdout: String,
}

pub(super) fn fail(e: &FenceError) -> Outcome {
    crate::error!("{}", e.message);
    Outcome {
        exit: 1,
        stdout: String::new(),
    }
}

pub(super) fn success(line: &str) -> Outcome {
    Outcome {
        exit: 0,
        stdout: format!("{line}\n"),
    }
}

/// Writes the outcome's answer and returns the exit code. An answer that cannot be written
/// (nobody reads standard output any more) makes the action a failure: the caller cannot have
/// seen what it asked for.
pub fn emit(outcome: &Outcome) -> i32 {
    if outcome.stdout.is_empty() {
        return outcome.exit;
    }
    match crate::output::answer(&outcome.stdout) {
        Ok(()) => outcome.exit,
        Err(e) => {
            crate::error!("cannot write the answer to standard output: {e}");
            1
        }
    }
}
