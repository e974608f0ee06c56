//! Writing to standard output and standard error without ever dying of it.
//!
//! `print!` and `eprintln!` panic when the write fails (a reader that went away: EPIPE), and the
//! release profile aborts on panic, so an agent would die of SIGABRT: a stop that aborts is a
//! failed stop, and Pacemaker fences the node for it. Here the answer of an action (metadata,
//! status, list) returns its error, which the caller turns into the action's result; log lines
//! are best effort and a failed write is ignored.

use std::io::Write;

/// Writes the answer of an action to standard output and flushes it.
pub fn answer(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes one line to standard error; a failure to write is ignored.
pub fn diagnostic(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}
