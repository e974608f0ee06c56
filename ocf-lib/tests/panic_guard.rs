//! A panic in an agent: one line, the protocol's exit code, and never the secret the panic's
//! message quoted. The test runs itself again as the panicking process (the guard ends the
//! process it is installed in).

use ocf_lib::panic_guard::{install, Protocol};
use std::process::Command;

const SECRET: &str = "panicking-with-hunter2-inside";
const CHILD: &str = "OXHA_PANIC_GUARD_CHILD";

/// In the child: install the guard and panic the way a careless agent would, with the
/// secret in a formatted message (an `unwrap` of an error that quotes its input).
fn child_panics(protocol: Protocol) {
    install(protocol);
    let input = format!("{SECRET}=x");
    let parsed: Result<u32, String> = input
        .parse::<u32>()
        .map_err(|e| format!("not a number ({e}): {input}"));
    let _ = parsed.unwrap();
}

fn run_child(test: &str, protocol: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, protocol)
        .env("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:")
        .output()
        .expect("test binary runs")
}

#[test]
fn a_fence_agent_panic_is_one_line_without_the_secret() {
    if std::env::var(CHILD).as_deref() == Ok("fence") {
        child_panics(Protocol::Fence);
        return;
    }
    let out = run_child(
        "a_fence_agent_panic_is_one_line_without_the_secret",
        "fence",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "{stderr}{stdout}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("internal error"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("tests/panic_guard.rs:"), "{stderr}");
    assert!(!stderr.contains("ocf-exit-reason:"), "{stderr}");
}

#[test]
fn a_resource_agent_panic_is_an_exit_reason_without_the_secret() {
    if std::env::var(CHILD).as_deref() == Ok("ocf") {
        child_panics(Protocol::Ocf);
        return;
    }
    let out = run_child(
        "a_resource_agent_panic_is_an_exit_reason_without_the_secret",
        "ocf",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // OCF_ERR_GENERIC.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "{stderr}{stdout}"
    );
    let reason = stderr
        .lines()
        .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .unwrap_or_else(|| panic!("no exit reason in {stderr}"));
    assert!(reason.starts_with("internal error (a bug) at "), "{reason}");
}
