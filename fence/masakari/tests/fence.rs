//! fence_masakari in a real fencing topology, right after fence_maas (against maas-sim) in the
//! same level, against the real Masakari API + engine (noauth2, and behind a real keystone's
//! catalog). Run `make stage` first.
//!
//! There is no nova here: Masakari's engine puts a notified host on maintenance (its first
//! step) and then fails its recovery flow. The evacuation through a real nova is `s2`–`s4`
//! in tests/openstack-env.

use maas_sim::MaasSim;
use oxha_harness::{wait_for, Cluster, Run};
use oxha_masakari_env::{
    MasakariEnv, KEYSTONE_PASSWORD, KEYSTONE_PROJECT, KEYSTONE_USER, MASAKARI_URL,
};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

static ENV: OnceLock<MasakariEnv> = OnceLock::new();
static MAAS: OnceLock<MaasSim> = OnceLock::new();

/// MAAS knows compute-1 and compute-3: fencing compute-2 fails at the power level.
const MACHINES: &str = r#"[{"hostname": "compute-1", "system_id": "c1aaaa"}, {"hostname": "compute-3", "system_id": "c3cccc"}]"#;
const HOSTS: &str = "pcmk_host_list=compute-1 compute-2 compute-3";

fn maas() -> &'static MaasSim {
    env();
    MAAS.get().expect("maas-sim started by env()")
}

/// Masakari with hosts compute-1..3, and the two-device level for each. The Masakari device
/// is created disabled and enabled once the levels exist: its start runs a monitor, which
/// checks the topology.
fn env() -> &'static MasakariEnv {
    ENV.get_or_init(|| {
        let env = MasakariEnv::up_without_libvirt(
            Cluster::shared(),
            &["compute-1", "compute-2", "compute-3"],
        );
        let c = env.cluster;
        let key = format!(
            "oxhaConsumerKey{0:03}:oxhaTokenKey{0:06}:oxhaTokenSecret{0:017}",
            std::process::id()
        );
        let sim = MAAS.get_or_init(|| MaasSim::start(c, "masakari", MACHINES, &key, 300));
        let mut maas = vec!["stonith", "create", "maas", "fence_maas"];
        let options = sim.device_options();
        maas.extend(options.iter().map(String::as_str));
        maas.extend(["stonith_status_sleep=0.3", HOSTS]);
        c.pcs(&maas).expect_ok();
        c.pcs(&[
            "stonith",
            "create",
            "masakari",
            "fence_masakari",
            "auth_mode=noauth",
            &format!("masakari_url={MASAKARI_URL}"),
            HOSTS,
            // The topology tests change levels between monitors; a monitor would see them.
            "op",
            "monitor",
            "interval=3600s",
            "--disabled",
        ])
        .expect_ok();
        for node in ["compute-1", "compute-2", "compute-3"] {
            set_levels(c, node, &[&["maas", "masakari"]]);
        }
        c.pcs(&["stonith", "enable", "masakari"]).expect_ok();
        c.run(&[
            "crm_attribute",
            "--type",
            "crm_config",
            "--name",
            "stonith-enabled",
            "--update",
            "true",
        ])
        .expect_ok();
        wait_for(
            "both fence devices registered",
            Duration::from_secs(60),
            || {
                let r = c.run(&["stonith_admin", "--list-registered"]);
                (r.stdout.contains("maas") && r.stdout.contains("masakari")).then_some(())
            },
        );
        env
    })
}

/// Replaces the fencing levels of `node` (`--force`: compute-N are fencing targets, not
/// members of this one-node cluster).
fn set_levels(c: &Cluster, node: &str, levels: &[&[&str]]) {
    let _ = c.pcs(&["stonith", "level", "clear", node]);
    for (i, devices) in levels.iter().enumerate() {
        let index = (i + 1).to_string();
        let mut argv = vec!["stonith", "level", "add", index.as_str(), node];
        argv.extend_from_slice(devices);
        argv.push("--force");
        c.pcs(&argv).expect_ok();
    }
}

fn compute_host_notifications(host: &str) -> Vec<Value> {
    env()
        .notifications_from(host)
        .into_iter()
        .filter(|n| n["type"] == "COMPUTE_HOST")
        .collect()
}

/// fence_masakari run by hand inside the node, options on the command line.
fn fence(args: &[&str]) -> Run {
    let mut argv = vec![
        "fence_masakari",
        "--auth-mode",
        "noauth",
        "--masakari-url",
        MASAKARI_URL,
    ];
    argv.extend_from_slice(args);
    env().cluster.run(&argv)
}

#[test]
fn reboot_notifies_masakari_once_after_the_power_fence() {
    let _s = Cluster::serial();
    let env = env();
    let c = env.cluster;
    assert!(compute_host_notifications("compute-1").is_empty());
    fence(&["-o", "status", "-n", "compute-1"]).expect_ok();

    c.run(&["stonith_admin", "--reboot", "compute-1", "--timeout", "60"])
        .expect_ok();

    let ns = compute_host_notifications("compute-1");
    assert_eq!(ns.len(), 1, "{ns:?}");
    let p = &ns[0]["payload"];
    assert_eq!(
        (
            p["event"].as_str(),
            p["host_status"].as_str(),
            p["cluster_status"].as_str()
        ),
        (Some("STOPPED"), Some("NORMAL"), Some("OFFLINE")),
        "{ns:?}"
    );
    // MAAS powered compute-1 off, and only then on again ...
    let power: Vec<String> = maas()
        .events("compute-1")
        .iter()
        .map(|e| e.split_whitespace().nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(power, ["power_off", "off", "power_on", "on"], "{power:?}");
    // ... and fenced ran fence_masakari's off only after the power device's off succeeded.
    let log = std::fs::read_to_string(c.state_dir().join("pacemaker.log")).unwrap_or_default();
    let pos = |needle: &str| {
        log.lines()
            .position(|l| l.contains(needle) && l.contains("compute-1"))
    };
    let power_off = pos("using maas returned 0");
    let masakari_off = pos("using masakari returned 0");
    assert!(
        power_off.is_some() && masakari_off.is_some() && power_off < masakari_off,
        "maas {power_off:?} masakari {masakari_off:?}\n{}",
        c.logs()
    );

    // Masakari's engine puts the failed host on maintenance (before it asks nova anything);
    // status then says off, and a second fencing sends nothing new.
    wait_for("compute-1 on maintenance", Duration::from_secs(60), || {
        (fence(&["-o", "status", "-n", "compute-1"]).code == 2).then_some(())
    });
    c.run(&["stonith_admin", "--fence", "compute-1", "--timeout", "60"])
        .expect_ok();
    assert_eq!(compute_host_notifications("compute-1").len(), 1);
    // By hand, off is refused whatever the topology: only the fencer runs it.
    let by_hand = fence(&["-o", "off", "-n", "compute-1"]);
    assert_eq!(by_hand.code, 1, "{by_hand}");
    assert!(
        by_hand.stderr.contains("only run by pacemaker-fenced"),
        "{by_hand}"
    );
}

#[test]
fn failed_power_fence_sends_nothing() {
    let _s = Cluster::serial();
    let env = env();
    let r = env
        .cluster
        .run(&["stonith_admin", "--reboot", "compute-2", "--timeout", "20"]);
    assert!(!r.ok(), "fencing compute-2 must fail: {r}");
    assert!(
        compute_host_notifications("compute-2").is_empty(),
        "{:?}",
        compute_host_notifications("compute-2")
    );
    // fence_masakari itself would have worked: the host is known and not on maintenance.
    fence(&["-o", "status", "-n", "compute-2"]).expect_ok();
}

#[test]
fn status_list_monitor_and_errors() {
    let _s = Cluster::serial();
    env();
    // No list: the fencer must never take it for a device that can fence every host.
    assert_eq!(fence(&["-o", "list"]).code, 1);
    fence(&["-o", "monitor"]).expect_ok();
    let unknown = fence(&["-o", "status", "-n", "compute-9"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(
        unknown
            .stderr
            .contains("no fencing level applies to compute-9"),
        "{unknown}"
    );
    let down = env().cluster.run(&[
        "fence_masakari",
        "--auth-mode",
        "noauth",
        "--masakari-url",
        "http://127.0.0.1:9/v1",
        "-o",
        "monitor",
    ]);
    assert_eq!(down.code, 1, "{down}");
    let unconfigured =
        env()
            .cluster
            .run(&["fence_masakari", "-o", "monitor", "--auth-mode", "noauth"]);
    assert_eq!(unconfigured.code, 1, "{unconfigured}");
    assert!(
        unconfigured.stderr.contains("needs masakari_url"),
        "{unconfigured}"
    );
}

/// Keystone v3 against a real keystone: a wrong password is keystone's 401 and never shown;
/// with the right one the Masakari endpoint comes from the catalog, and one token serves
/// every request of an action.
#[test]
fn keystone_auth_uses_the_catalog_and_never_shows_the_password() {
    let _s = Cluster::serial();
    let env = env();
    let keystone = env.keystone();
    let stdin = |action: &str, password: &str| {
        format!(
            "action={action}\nplug=compute-2\nauth_url={keystone}\nusername={KEYSTONE_USER}\n\
             password={password}\nproject_name={KEYSTONE_PROJECT}\nverbose=1\n"
        )
    };
    let tokens = env.tokens_issued();
    let wrong = "Fence-S3cret-wrong";
    let r = env
        .cluster
        .run_stdin(&["fence_masakari"], Some(&stdin("monitor", wrong)));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("requires authentication"), "{r}");
    assert!(
        !r.stdout.contains(wrong) && !r.stderr.contains(wrong),
        "{r}"
    );
    assert_eq!(env.tokens_issued(), tokens);

    // masakari_url unset: the catalog's instance-ha endpoint. status lists the segments and
    // their hosts (several requests) with one token.
    for (action, code) in [("monitor", 0), ("status", 0)] {
        let before = env.tokens_issued();
        let r = env
            .cluster
            .run_stdin(&["fence_masakari"], Some(&stdin(action, KEYSTONE_PASSWORD)));
        assert_eq!(r.code, code, "{action}: {r}");
        assert!(
            !r.stdout.contains(KEYSTONE_PASSWORD) && !r.stderr.contains(KEYSTONE_PASSWORD),
            "{r}"
        );
        assert_eq!(env.tokens_issued(), before + 1, "{action}: one token");
    }
}

#[test]
fn metadata_validates() {
    oxha_harness::valid_metadata("fence_masakari");
}

/// `stonith_admin --reboot` of compute-3 with its level misconfigured, then the level put back.
fn misconfigured_fencing(c: &Cluster, levels: &[&[&str]], reason: &str) {
    set_levels(c, "compute-3", levels);
    // The fencer takes a new level up asynchronously, so a request right after the CIB change
    // can still meet the topology before it. Fencing is asked again until fence_masakari's
    // refusal is in the fencer's log; every attempt must fail, and none may reach Masakari or
    // MAAS (checked after).
    let log_path = c.state_dir().join("pacemaker.log");
    let refused = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("fence_masakari") && l.contains(reason))
    };
    wait_for(
        &format!("fence_masakari's refusal '{reason}' in the fencer's log"),
        Duration::from_secs(120),
        || {
            let r = c.run(&["stonith_admin", "--reboot", "compute-3", "--timeout", "30"]);
            assert!(
                !r.ok(),
                "fencing compute-3 through {levels:?} must fail: {r}"
            );
            refused().then_some(())
        },
    );
    assert!(
        compute_host_notifications("compute-3").is_empty(),
        "Masakari heard of compute-3 through {levels:?}: {:?}",
        compute_host_notifications("compute-3")
    );
    assert!(
        maas().events("compute-3").is_empty(),
        "{:?}",
        maas().events("compute-3")
    );
    // The misconfiguration shows: monitor and validate-all fail with the reason.
    let monitor = fence(&["-o", "monitor"]);
    assert_eq!(monitor.code, 1, "{monitor}");
    assert!(monitor.stderr.contains(reason), "{monitor}");
    let validate = c.run_stdin(
        &["fence_masakari"],
        Some(&format!(
            "auth_mode=noauth\nmasakari_url={MASAKARI_URL}\naction=validate-all\n"
        )),
    );
    assert_eq!(validate.code, 1, "{validate}");
    set_levels(c, "compute-3", &[&["maas", "masakari"]]);
    fence(&["-o", "monitor"]).expect_ok();
}

#[test]
fn misconfigured_topology_is_refused_and_masakari_hears_nothing() {
    let _s = Cluster::serial();
    let c = env().cluster;
    misconfigured_fencing(
        c,
        &[&["masakari"]],
        "runs fence_masakari device 'masakari' alone",
    );
    misconfigured_fencing(
        c,
        &[&["masakari", "maas"]],
        "runs fence_masakari device 'masakari' before any power device",
    );
    // A right first level does not excuse a wrong second one: the fencer tries level 2 when
    // level 1 fails, and here level 1 fails (compute-3's MAAS machine answers 503).
    maas().set("compute-3", r#"{"fault": "503"}"#);
    misconfigured_fencing(
        c,
        &[&["maas", "masakari"], &["masakari"]],
        "fencing level 2 of compute-3 runs fence_masakari device 'masakari' alone",
    );
    maas().set("compute-3", "");
}

/// Devices that "succeed" without powering anything off do not make the notifier safe: a
/// `stonith:null` device (as charm-hacluster creates `st-null`, run through fence_legacy and
/// cluster-glue) and fence_heuristics_ping before it leave the level failing at the notifier.
#[test]
fn devices_that_power_nothing_off_do_not_guard_the_notifier() {
    let _s = Cluster::serial();
    let c = env().cluster;
    c.pcs(&[
        "stonith",
        "create",
        "st-null",
        "null",
        "hostlist=compute-3",
        "--force",
    ])
    .expect_ok();
    c.pcs(&[
        "stonith",
        "create",
        "heuristics",
        "fence_heuristics_ping",
        "ping_targets=127.0.0.1",
        "pcmk_host_list=compute-3",
    ])
    .expect_ok();
    wait_for(
        "st-null and heuristics registered",
        Duration::from_secs(60),
        || {
            let r = c.run(&["stonith_admin", "--list-registered"]);
            (r.stdout.contains("st-null") && r.stdout.contains("heuristics")).then_some(())
        },
    );
    misconfigured_fencing(
        c,
        &[&["st-null", "masakari"]],
        "'st-null' (null) is cluster-glue's null plugin",
    );
    misconfigured_fencing(
        c,
        &[&["heuristics", "masakari"]],
        "'heuristics' (fence_heuristics_ping) is not a fence agent by itself",
    );
    // Both did succeed: the level reached the notifier, which refused.
    let log = std::fs::read_to_string(c.state_dir().join("pacemaker.log")).unwrap_or_default();
    for device in ["st-null", "heuristics"] {
        let ran = format!("targeting compute-3 using {device} returned 0");
        assert!(
            log.lines().any(|l| l.contains(&ran)),
            "{device} never succeeded for compute-3\n{}",
            c.logs()
        );
    }
    // A name that powers nothing off cannot be added as a power agent: a configuration error.
    let r = fence(&[
        "-o",
        "validate-all",
        "--extra-power-agents",
        "fence_foo,null",
    ]);
    assert_ne!(r.code, 0, "{r}");
    assert!(
        r.stderr
            .contains("extra_power_agents: 'null' cannot be a power device"),
        "{r}"
    );
    c.pcs(&["stonith", "delete", "st-null"]).expect_ok();
    c.pcs(&["stonith", "delete", "heuristics"]).expect_ok();
    assert!(compute_host_notifications("compute-3").is_empty());
}

/// A fence_masakari device without pcmk_host_list: with no list action, the fencer asks its
/// status for each target, and status answers only where the topology lets it act.
#[test]
fn without_a_host_list_it_is_a_candidate_only_where_the_topology_allows() {
    let _s = Cluster::serial();
    let c = env().cluster;
    c.pcs(&[
        "stonith",
        "create",
        "masakari_any",
        "fence_masakari",
        "auth_mode=noauth",
        &format!("masakari_url={MASAKARI_URL}"),
        "op",
        "monitor",
        "interval=3600s",
        "--disabled",
    ])
    .expect_ok();
    set_levels(c, "compute-1", &[&["maas", "masakari", "masakari_any"]]);
    c.pcs(&["stonith", "enable", "masakari_any"]).expect_ok();
    wait_for("masakari_any registered", Duration::from_secs(60), || {
        let r = c.run(&["stonith_admin", "--list-registered"]);
        r.stdout.contains("masakari_any").then_some(())
    });
    // compute-3 is a Masakari host, but its only level runs the notifier alone.
    set_levels(c, "compute-3", &[&["masakari"]]);
    let can = |target: &str| c.run(&["stonith_admin", "--list", target]).stdout;
    let one = can("compute-1");
    let three = can("compute-3");
    // Put everything back before asserting.
    c.pcs(&["stonith", "delete", "masakari_any"]).expect_ok();
    set_levels(c, "compute-1", &[&["maas", "masakari"]]);
    set_levels(c, "compute-3", &[&["maas", "masakari"]]);
    assert!(one.contains("masakari_any"), "{one}");
    assert!(!three.contains("masakari_any"), "{three}");
    fence(&["-o", "monitor"]).expect_ok();
}
