//! haproxy starts with a cleaned environment: the agent's `OCF_RESKEY_*` variables (and
//! anything else Pacemaker's environment holds) never reach it. A fake haproxy that records
//! its environment stands in for the real one. Run `make stage` first.

mod common;

use common::*;

#[test]
fn haproxy_sees_none_of_the_agents_environment() {
    let mut hap = Instance::new("envdump", "global\n");
    let dump = hap.dir.join("haproxy-env");
    let fake = hap.dir.join("haproxy");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nenv >> {}\necho '[ALERT] fake haproxy' >&2\nexit 1\n",
            dump.display()
        ),
    )
    .expect("fake haproxy");
    oxha_harness::run(&["chmod", "755", &fake.to_string_lossy()]).expect_ok();
    hap.set("binary", &fake.to_string_lossy());
    let r = hap.run(
        "start",
        &[
            ("OCF_RESKEY_secret_looking", "ocf-reskey-must-not-leak"),
            ("HA_LOGFILE", "/dev/null"),
            ("LANG", "C.UTF-8"),
        ],
    );
    assert_ne!(r.code, 0, "the fake haproxy fails: {r}");
    let seen = std::fs::read_to_string(&dump).expect("the fake haproxy ran");
    assert!(
        !seen.contains("OCF_") && !seen.contains("must-not-leak"),
        "{seen}"
    );
    assert!(!seen.contains("HA_LOGFILE"), "{seen}");
    assert!(
        seen.contains("LANG=C.UTF-8") && seen.contains("PATH="),
        "{seen}"
    );
}
