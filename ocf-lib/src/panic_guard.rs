//! What an agent does when it panics (a bug): one line naming where, and the protocol's error
//! code, instead of the standard report and SIGABRT (release builds abort on panic).
//!
//! The standard report prints the panic's message, and a message that was formatted at run
//! time may quote anything the agent read: `Result::unwrap` prints the error value, and a
//! parameter's value can be a password. So only a message fixed at build time (a string
//! literal, as `Option::unwrap` and `panic!("...")` without arguments give) is printed; any
//! other is withheld. Neither the redactor nor the logger is used: the panic may have
//! happened while one of them held its lock.

use std::any::Any;
use std::panic::PanicHookInfo;

/// Which protocol the agent speaks, for the exit code and the form of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OCF resource agent: `OCF_ERR_GENERIC` (1), and the line as the exit reason too.
    Ocf,
    /// Fence agent: 1, a failed action.
    Fence,
}

impl Protocol {
    fn exit_code(self) -> i32 {
        match self {
            Protocol::Ocf => i32::from(crate::status::OcfStatus::ErrGeneric.code()),
            Protocol::Fence => 1,
        }
    }
}

/// The one line a panic prints: where it happened, and its message only when that was fixed
/// at build time.
pub fn panic_line(location: Option<(&str, u32, u32)>, payload: &(dyn Any + Send)) -> String {
    let at = match location {
        Some((file, line, column)) => format!(" at {file}:{line}:{column}"),
        None => String::new(),
    };
    let detail = match payload.downcast_ref::<&'static str>() {
        Some(fixed) => (*fixed).to_string(),
        None => "message withheld: it may quote input, secrets included".to_string(),
    };
    // One line, whatever the message holds.
    let detail: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("internal error (a bug){at}: {detail}")
}

fn report(protocol: Protocol, info: &PanicHookInfo<'_>) -> String {
    let line = panic_line(
        info.location().map(|l| (l.file(), l.line(), l.column())),
        info.payload(),
    );
    let tag = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    crate::output::diagnostic(&format!("CRIT: {tag}: {line}"));
    if protocol == Protocol::Ocf {
        let prefix = std::env::var("OCF_EXIT_REASON_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "ocf-exit-reason:".into());
        crate::output::diagnostic(&format!("{prefix}{line}"));
    }
    line
}

/// Replaces the panic report for the rest of the process: one line on standard error, then
/// exit with the protocol's error code. Called first thing by `ra::run` and `fence::run`.
pub fn install(protocol: Protocol) {
    std::panic::set_hook(Box::new(move |info| {
        report(protocol, info);
        std::process::exit(protocol.exit_code());
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_messages_are_withheld_and_fixed_ones_kept() {
        let secret = "hunter2-in-a-message".to_string();
        let formatted: Box<dyn Any + Send> = Box::new(format!("bad password {secret}"));
        let line = panic_line(Some(("src/x.rs", 3, 9)), formatted.as_ref());
        assert!(!line.contains(&secret), "{line}");
        assert_eq!(
            line,
            "internal error (a bug) at src/x.rs:3:9: message withheld: it may quote input, secrets included"
        );
        let fixed: Box<dyn Any + Send> = Box::new("called `Option::unwrap()` on a `None` value");
        assert_eq!(
            panic_line(None, fixed.as_ref()),
            "internal error (a bug): called `Option::unwrap()` on a `None` value"
        );
        let two_lines: Box<dyn Any + Send> = Box::new("one\ntwo");
        assert!(!panic_line(None, two_lines.as_ref()).contains('\n'));
    }
}
