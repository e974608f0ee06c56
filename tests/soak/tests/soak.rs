//! The chaos soak on the real cluster and OpenStack (see the crate's documentation for the
//! invariants). `make soak` runs it for `SOAK_MINUTES` (default 60); `make test` runs the
//! short one: a fixed seed, every fault kind once. It fails on any violation, printing the
//! seed to replay it. The report goes to stderr and to `$SOAK_REPORT` if set.

use oxha_openstack_env::{OpenStack, ALL_COMPUTES};
use oxha_soak::faults::Soak;
use oxha_soak::{report, Plan};

/// The short soak's seed in `make test`.
const CI_SEED: u64 = 17;

#[test]
fn soak_keeps_every_instance_running_once() {
    let _s = oxha_multinode::MultiCluster::serial();
    oxha_multinode::agents::require_staged();
    let ci = std::env::var_os("SOAK_MINUTES").is_none() && std::env::var_os("SOAK_SEED").is_none();
    // (The short soak leaves out what SHORT_SOAK_LEAVES_OUT names, and says so.)
    let plan = if ci {
        // The short soak: every kind once, nothing more, on the fast path (the evacuation
        // begins right after the notification: the tightest test of invariant 2, and half the
        // time of the default path's recoveries, which `make soak` measures).
        Plan {
            seed: CI_SEED,
            minutes: 0.0,
            fast: true,
            stack: oxha_soak::Stack::Oxha,
            leave_out: oxha_soak::SHORT_SOAK_LEAVES_OUT.to_vec(),
        }
    } else {
        Plan::from_env(60.0).unwrap_or_else(|e| panic!("{e}"))
    };
    eprintln!(
        "soak: seed {} ({} min, {} path, {}); replay with {}",
        plan.seed,
        plan.minutes,
        if plan.fast { "fast" } else { "default" },
        plan.stack.name(),
        plan.replay()
    );
    if !plan.leave_out.is_empty() {
        eprintln!(
            "soak: left out: {:?} (SOAK_KINDS, or the short soak's SHORT_SOAK_LEAVES_OUT)",
            plan.leave_out
        );
    }
    let os = OpenStack::start_with(&ALL_COMPUTES);
    // fence_masakari and Masakari's wait as the README documents them, for the path asked.
    if plan.fast {
        os.fresh_with(true, 0);
    } else {
        os.fresh();
    }
    if plan.stack == oxha_soak::Stack::Charms {
        oxha_soak::charms::deploy(&os);
    }
    os.set_masakari_conf(&oxha_soak::MASAKARI_RETRIES);
    let soak = Soak::prepare(&os, plan.clone());
    eprintln!(
        "soak: {} HA instances up: {}",
        soak.servers.len(),
        soak.servers
            .iter()
            .map(|s| format!("{} ({})", s.name, s.instance))
            .collect::<Vec<_>>()
            .join(", ")
    );
    soak.run();
    let violations = soak.violations();
    let episodes = soak
        .episodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let seen = soak.watcher.seen();
    let mut text = report::render(
        &plan,
        oxha_multinode::now() - soak.started,
        &episodes,
        &violations,
        seen.samples,
        seen.longest_gap.as_millis(),
        seen.late_samples,
    );
    drop(seen);
    if plan.stack == oxha_soak::Stack::Charms {
        text.push_str(&format!(
            "charm-hacluster's plugin from commit {}\n",
            os.charm_maas_plugin_commit().unwrap_or_else(|| "?".into())
        ));
    }
    eprintln!("{text}");
    if let Some(path) = std::env::var_os("SOAK_REPORT") {
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!(
                "soak: cannot write the report to {}: {e}",
                path.to_string_lossy()
            );
        }
    }
    if !violations.is_empty() {
        match oxha_soak::evidence::keep(&os, plan.seed) {
            Ok(file) => eprintln!("soak: the run's logs are kept in {}", file.display()),
            Err(e) => eprintln!("soak: could not keep the run's logs: {e}"),
        }
    }
    if plan.stack == oxha_soak::Stack::Charms {
        // The plugin's wrapper is outside target/: taken away with the run.
        if let Err(e) = OpenStack::uninstall_charm_maas_plugin() {
            eprintln!("soak: {e}");
        }
    }
    assert!(
        violations.is_empty(),
        "{} violation(s); replay with {}",
        violations.len(),
        plan.replay()
    );
}
