//! fence_masakari in a real fencing topology, right after fence_maas (against maas-sim) in the
//! same level, against the real Masakari API + engine. Run `make stage` first.

use maas_sim::MaasSim;
use oxha_harness::{wait_for, Cluster, Run};
use oxha_masakari_env::{MasakariEnv, MASAKARI_URL};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

static ENV: OnceLock<MasakariEnv> = OnceLock::new();
static MAAS: OnceLock<MaasSim> = OnceLock::new();

/// MAAS knows compute-1 only: fencing compute-2 fails at the power level.
const MACHINES: &str = r#"[{"hostname": "compute-1", "system_id": "c1aaaa"}]"#;

fn maas() -> &'static MaasSim {
    env();
    MAAS.get().expect("maas-sim started by env()")
}

/// Masakari with hosts compute-1 and compute-2, and the two-device level for both.
fn env() -> &'static MasakariEnv {
    ENV.get_or_init(|| {
        let env = MasakariEnv::up_without_libvirt(Cluster::shared(), &["compute-1", "compute-2"]);
        let c = env.cluster;
        let key = format!(
            "oxhaConsumerKey{0:03}:oxhaTokenKey{0:06}:oxhaTokenSecret{0:017}",
            std::process::id()
        );
        let sim = MAAS.get_or_init(|| MaasSim::start(c, "masakari", MACHINES, &key, 300));
        let mut maas = vec!["stonith", "create", "maas", "fence_maas"];
        let options = sim.device_options();
        maas.extend(options.iter().map(String::as_str));
        maas.extend([
            "stonith_status_sleep=0.3",
            "pcmk_host_list=compute-1 compute-2",
        ]);
        c.pcs(&maas).expect_ok();
        c.pcs(&[
            "stonith",
            "create",
            "masakari",
            "fence_masakari",
            "auth_mode=noauth",
            &format!("masakari_url={MASAKARI_URL}"),
            "pcmk_host_list=compute-1 compute-2",
        ])
        .expect_ok();
        for node in ["compute-1", "compute-2"] {
            // --force: compute-N are fencing targets, not members of this one-node cluster.
            c.pcs(&[
                "stonith", "level", "add", "1", node, "maas", "masakari", "--force",
            ])
            .expect_ok();
        }
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

    // Masakari's engine puts the failed host on maintenance; status then says off, and a
    // second fencing sends nothing new.
    wait_for("compute-1 on maintenance", Duration::from_secs(60), || {
        (fence(&["-o", "status", "-n", "compute-1"]).code == 2).then_some(())
    });
    let again = fence(&["-o", "off", "-n", "compute-1"]).expect_ok();
    assert!(again.stdout.contains("Already OFF"), "{again}");
    assert_eq!(compute_host_notifications("compute-1").len(), 1);
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
    let list = fence(&["-o", "list"]).expect_ok();
    assert!(
        list.stdout.contains("compute-1,seg1") && list.stdout.contains("compute-2,seg1"),
        "{list}"
    );
    fence(&["-o", "monitor"]).expect_ok();
    let unknown = fence(&["-o", "status", "-n", "compute-9"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("no Masakari segment"), "{unknown}");
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

#[test]
fn password_never_shows_up() {
    let _s = Cluster::serial();
    env();
    let stdin = "action=monitor\nauth_url=http://127.0.0.1:15869/v3\nusername=oxha\npassword=Fence-S3cret\nproject_name=services\nverbose=1\nmasakari_url=http://127.0.0.1:9/v1\n";
    let r = env().cluster.run_stdin(&["fence_masakari"], Some(stdin));
    assert_eq!(r.code, 1, "{r}");
    assert!(
        !r.stdout.contains("Fence-S3cret") && !r.stderr.contains("Fence-S3cret"),
        "{r}"
    );
}

#[test]
fn metadata_validates() {
    oxha_harness::valid_metadata("fence_masakari");
}
