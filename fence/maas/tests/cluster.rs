//! fence_maas under a real pacemaker-fenced, against maas-sim running inside the node.
//!
//! One cluster and one simulator for the whole binary. Targets (compute-N) are MAAS machines,
//! not cluster members: each device names its target in pcmk_host_list. Every test takes the
//! serial lock, because they share the fencer and the simulator.

use maas_sim::MaasSim;
use oxha_harness::{wait_for, Cluster, Run};
use std::sync::OnceLock;
use std::time::Duration;

/// A key shaped like a MAAS key (18:18:32 alphanumerics), unique to this run.
fn api_key() -> String {
    format!(
        "oxhaTestConsumer{:02}:oxhaTestTokenKey{:02}:oxhaSecret{:010}TokenSecretPart",
        std::process::id() % 100,
        std::process::id() % 97,
        std::process::id()
    )
}

fn secret_part() -> String {
    api_key().rsplit(':').next().unwrap_or_default().to_string()
}

/// The shared simulator, plus what these tests do with it.
struct Env {
    sim: MaasSim,
}

impl std::ops::Deref for Env {
    type Target = MaasSim;
    fn deref(&self) -> &MaasSim {
        &self.sim
    }
}

static ENV: OnceLock<Env> = OnceLock::new();

const MACHINES: &str = r#"[
  {"hostname": "compute-1", "system_id": "c1aaaa"},
  {"hostname": "compute-2", "system_id": "c2bbbb", "domain": "rack2.maas"},
  {"hostname": "compute-3", "system_id": "c3cccc"},
  {"hostname": "compute-4", "system_id": "c4dddd"},
  {"hostname": "ready-1", "system_id": "r1eeee", "status_name": "Ready", "power_state": "off", "owner": null},
  {"hostname": "alloc-1", "system_id": "a1ffff", "status_name": "Allocated", "power_state": "off"},
  {"hostname": "twin", "system_id": "t1gggg"},
  {"hostname": "twin", "system_id": "t2hhhh", "domain": "other"}
]"#;

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let cluster = Cluster::shared();
        let sim = MaasSim::start(cluster, "fence-maas", MACHINES, &api_key(), 400);
        cluster.set_property("stonith-enabled", "true");
        Env { sim }
    })
}

impl Env {
    /// Runs the staged agent inside the node with options on stdin, as pacemaker-fenced does.
    fn agent(&self, options: &str) -> Run {
        let input = format!(
            "ip=127.0.0.1\nipport={}\napi_key_file={}\nstonith_status_sleep=0.3\n{options}",
            self.port, self.key_file
        );
        self.cluster
            .run_stdin(&["/usr/sbin/fence_maas"], Some(&input))
    }

    fn device_started(&self, id: &str) {
        self.cluster.wait_started(id, Duration::from_secs(60));
    }

    fn remove_pcs_device(&self, id: &str) {
        self.cluster.pcs(&["stonith", "delete", id]).expect_ok();
        self.cluster.wait_stopped(id, Duration::from_secs(30));
    }
}

fn assert_order(events: &[String], expected: &[&str]) {
    let got: Vec<&str> = events.iter().map(String::as_str).collect();
    assert_eq!(got, expected, "power events in order");
}

#[test]
fn pcs_device_reboots_only_after_confirmed_off() {
    let _serial = Cluster::serial();
    let e = env();
    e.set("compute-1", "");
    e.ctl("POST", "/_sim/events/clear", "").expect_ok();
    let port = format!("ipport={}", e.port);
    let key = format!("api_key_file={}", e.key_file);
    e.cluster
        .pcs(&[
            "stonith",
            "create",
            "maas",
            "fence_maas",
            "ip=127.0.0.1",
            &port,
            &key,
            "pcmk_host_list=compute-1",
            "stonith_status_sleep=0.5",
            "power_timeout=20",
        ])
        .expect_ok();
    e.device_started("maas");

    e.cluster
        .run(&["stonith_admin", "--reboot", "compute-1", "--timeout", "60"])
        .expect_ok();
    assert_order(
        &e.events("compute-1"),
        &[
            "compute-1 power_off stop_mode=hard",
            "compute-1 off",
            "compute-1 power_on",
            "compute-1 on",
        ],
    );

    // The machine "dies" with its power: the simulator's power-off hook kills a process
    // standing in for it, as a cluster test would kill a node.
    let pidfile = e.dir.join("compute-1.pid");
    e.cluster
        .sh(&format!(
            "sleep 600 >/dev/null 2>&1 </dev/null & echo $! >{}",
            pidfile.display()
        ))
        .expect_ok();
    let pid = wait_for("the stand-in process", Duration::from_secs(5), || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    });
    e.ctl(
        "POST",
        "/_sim/machines/compute-1",
        &format!(r#"{{"on_power_off": "kill {pid}"}}"#),
    )
    .expect_ok();
    e.cluster.run(&["kill", "-0", &pid]).expect_ok();
    e.cluster
        .run(&["stonith_admin", "--fence", "compute-1", "--timeout", "60"])
        .expect_ok();
    assert_eq!(e.power_state("compute-1"), "off");
    wait_for(
        "the powered-off machine's process to die",
        Duration::from_secs(10),
        || (!e.cluster.run(&["kill", "-0", &pid]).ok()).then_some(()),
    );
    e.ctl(
        "POST",
        "/_sim/machines/compute-1",
        r#"{"on_power_off": null}"#,
    )
    .expect_ok();

    let list = e
        .cluster
        .run(&["stonith_admin", "--list", "compute-1"])
        .expect_ok();
    assert!(list.stdout.contains("maas"), "{list}");
    let targets = e
        .cluster
        .run(&["stonith_admin", "--list-targets", "maas"])
        .expect_ok();
    for name in ["compute-1", "compute-2.rack2.maas", "twin.other"] {
        assert!(targets.stdout.contains(name), "{name} missing: {targets}");
    }
    e.cluster
        .run(&["stonith_admin", "--query", "maas"])
        .expect_ok();
    let whoami = e.ctl("GET", "/_sim/requests", "").expect_ok().stdout;
    assert!(
        whoami.contains("GET /MAAS/api/2.0/users/ op=whoami 200"),
        "monitor is not authenticated: {whoami}"
    );
    e.remove_pcs_device("maas");
}

#[test]
fn crm_device_with_maas_url_and_fqdn_target() {
    let _serial = Cluster::serial();
    let e = env();
    e.set("compute-2", "");
    e.ctl("POST", "/_sim/events/clear", "").expect_ok();
    let params = format!(
        "primitive maas-crm stonith:fence_maas params maas_url=http://{}/MAAS api_key_file={} \
         pcmk_host_map=node9:compute-2.rack2.maas pcmk_host_list=node9 stonith_status_sleep=0.5 \
         op monitor interval=60s",
        e.addr, e.key_file
    );
    let mut args = vec!["configure"];
    args.extend(params.split(' ').filter(|s| !s.is_empty()));
    e.cluster.crm(&args).expect_ok();
    e.device_started("maas-crm");
    // node9 maps to the FQDN: the agent must resolve it (short name, then check fqdn).
    e.cluster
        .run(&["stonith_admin", "--reboot", "node9", "--timeout", "60"])
        .expect_ok();
    assert_order(
        &e.events("compute-2"),
        &[
            "compute-2 power_off stop_mode=hard",
            "compute-2 off",
            "compute-2 power_on",
            "compute-2 on",
        ],
    );
    e.cluster.crm(&["resource", "stop", "maas-crm"]).expect_ok();
    e.cluster.wait_stopped("maas-crm", Duration::from_secs(30));
    // -F: with stonith-enabled=true, crmsh 5 refuses a commit that leaves no fence device
    // (crmsh 4.4 allowed it).
    e.cluster
        .crm(&["-F", "configure", "delete", "maas-crm"])
        .expect_ok();
}

#[test]
fn every_fault_fails_the_fence_operation() {
    let _serial = Cluster::serial();
    let e = env();
    let port = format!("ipport={}", e.port);
    let key = format!("api_key_file={}", e.key_file);
    e.set("compute-3", "");
    e.cluster
        .pcs(&[
            "stonith",
            "create",
            "maas-faults",
            "fence_maas",
            "ip=127.0.0.1",
            &port,
            &key,
            "pcmk_host_list=compute-3",
            "power_timeout=3",
            "shell_timeout=2",
            "login_timeout=2",
            "stonith_status_sleep=0.5",
            "pcmk_off_timeout=20s",
            "pcmk_reboot_timeout=20s",
            "pcmk_off_retries=1",
            "pcmk_reboot_retries=1",
        ])
        .expect_ok();
    e.device_started("maas-faults");
    // The control: without a fault the same device fences; so each failure below is the fault's.
    e.cluster
        .run(&["stonith_admin", "--fence", "compute-3", "--timeout", "30"])
        .expect_ok();
    assert_eq!(e.power_state("compute-3"), "off");
    let faults = [
        r#"{"fault": "503"}"#,
        r#"{"fault": "504"}"#,
        r#"{"fault": "500"}"#,
        r#"{"fault": "hang"}"#,
        r#"{"fault": "slow", "slow_ms": 4000}"#,
        r#"{"fault": "stuck_on"}"#,
        r#"{"fault": "flapping", "flap_ms": 400}"#,
        r#"{"fault": "unknown"}"#,
        r#"{"fault": "error"}"#,
        r#"{"power_type": "manual"}"#,
        r#"{"locked": true}"#,
    ];
    for fault in faults {
        for action in ["--fence", "--reboot"] {
            e.set("compute-3", fault);
            e.ctl("POST", "/_sim/events/clear", "").expect_ok();
            let r = e
                .cluster
                .run(&["stonith_admin", action, "compute-3", "--timeout", "30"]);
            assert_ne!(r.code, 0, "{action} with {fault} reported success: {r}");
            assert!(
                !r.stderr.contains("No device") && r.code != 105,
                "{action} with {fault}: no device? {r}"
            );
            let events = e.events("compute-3");
            assert!(
                !events.iter().any(|l| l.contains("power_on")),
                "{action} with {fault}: power_on sent without a confirmed off: {events:?}"
            );
        }
    }
    e.set("compute-3", "");
    e.remove_pcs_device("maas-faults");
}

#[test]
fn agent_refusals_and_resolution_errors() {
    let _serial = Cluster::serial();
    let e = env();
    e.set("compute-4", "");
    e.set(
        "alloc-1",
        r#"{"status_name": "Allocated", "power_state": "off"}"#,
    );
    e.set(
        "ready-1",
        r#"{"status_name": "Ready", "power_state": "off"}"#,
    );
    e.ctl("POST", "/_sim/events/clear", "").expect_ok();
    let cases: &[(&str, i32, &str)] = &[
        ("action=on\nport=alloc-1\n", 1, "not Deployed"),
        ("action=on\nport=ready-1\n", 1, "not Deployed"),
        ("action=status\nport=twin\n", 1, "matches 2 MAAS machines"),
        ("action=status\nport=twin.other\n", 0, "Status: ON"),
        ("action=status\nport=t1gggg\n", 0, "Status: ON"),
        (
            "action=status\nport=compute-4.wrong.domain\n",
            1,
            "no MAAS machine has the FQDN",
        ),
        (
            "action=status\nport=nosuch\n",
            1,
            "no MAAS machine has the hostname or system_id",
        ),
        ("action=status\nport=ready-1\n", 2, "Status: OFF"),
        (
            "action=list\nhostnames=compute-4 twin.other\n",
            0,
            "compute-4,compute-4.maas\ntwin,twin.other\n",
        ),
        ("action=monitor\n", 0, ""),
    ];
    for (options, code, needle) in cases {
        let r = e.agent(options);
        assert_eq!(r.code, *code, "{options}: {r}");
        assert!(
            r.stdout.contains(needle) || r.stderr.contains(needle),
            "{options}: want {needle:?}: {r}"
        );
    }
    // Neither refusal may have reached MAAS as a power_on.
    let events = e.ctl("GET", "/_sim/events", "").expect_ok().stdout;
    assert!(!events.contains("power_on"), "{events}");

    // The legacy plugin's parameter names, key given directly (stdin, as the fencer does).
    let legacy = format!(
        "action=status\nurl=http://{}/MAAS\napikey={}\nport=compute-4\n",
        e.addr,
        api_key()
    );
    let r = e
        .cluster
        .run_stdin(&["/usr/sbin/fence_maas"], Some(&legacy));
    assert_eq!(r.code, 0, "{r}");
    // A wrong key is a login failure, whose message names no key.
    let wrong = format!(
        "action=monitor\nip=127.0.0.1\nipport={}\napi_key=oxhaTestConsumer00:oxhaTestTokenKey00:wrongwrongwrongwrong\n",
        e.port
    );
    let r = e.cluster.run_stdin(&["/usr/sbin/fence_maas"], Some(&wrong));
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("401"), "{r}");
    assert!(!r.stderr.contains("wrongwrongwrongwrong"), "{r}");
}

#[test]
fn metadata_validates_and_pacemaker_tools_describe_it() {
    let _serial = Cluster::serial();
    let e = env();
    oxha_harness::valid_metadata("fence_maas");
    let admin = e
        .cluster
        .run(&["stonith_admin", "--metadata", "-a", "fence_maas"])
        .expect_ok();
    assert!(admin.stdout.contains("maas_url"), "{admin}");
    let describe = e
        .cluster
        .pcs(&["stonith", "describe", "fence_maas"])
        .expect_ok();
    assert!(describe.stdout.contains("api_key_file"), "{describe}");
    let validate = e
        .cluster
        .run(&[
            "stonith_admin",
            "--validate",
            "-a",
            "fence_maas",
            "-o",
            "ip=127.0.0.1",
            "-o",
            &format!("api_key_file={}", e.key_file),
        ])
        .expect_ok();
    assert!(validate.stdout.contains("succeeded"), "{validate}");
}

#[test]
fn api_key_never_leaks() {
    let _serial = Cluster::serial();
    let e = env();
    let marker = e.dir.join("leak-marker");
    std::fs::write(&marker, "").expect("marker");
    e.set("compute-4", r#"{"fault": "hang"}"#);
    let port = format!("ipport={}", e.port);
    let key = format!("api_key_file={}", e.key_file);
    // verbose=1: debug lines go to stderr, which the fencer copies into pacemaker.log.
    e.cluster
        .pcs(&[
            "stonith",
            "create",
            "maas-leak",
            "fence_maas",
            "ip=127.0.0.1",
            &port,
            &key,
            "pcmk_host_list=compute-4",
            "verbose=1",
            "power_timeout=2",
            "shell_timeout=3",
            "stonith_status_sleep=0.5",
            "pcmk_off_timeout=20s",
            "pcmk_off_retries=1",
        ])
        .expect_ok();
    e.device_started("maas-leak");
    // While the agent hangs on MAAS, look at every command line in the node.
    let fence = {
        let c = e.cluster;
        std::thread::spawn(move || {
            c.run(&["stonith_admin", "--fence", "compute-4", "--timeout", "30"])
        })
    };
    let ps = wait_for("fence_maas to run", Duration::from_secs(20), || {
        let ps = e.cluster.run(&["ps", "-eo", "args"]);
        ps.stdout.contains("fence_maas").then_some(ps)
    });
    let fence = fence.join().expect("fence thread");
    assert_ne!(fence.code, 0, "hang must not be success: {fence}");
    // The key given directly on stdin (password), verbose, against a wrong and a right port.
    let direct = format!(
        "action=status\nport=compute-1\nip=127.0.0.1\nipport={}\npassword={}\nverbose=1\n",
        e.port,
        api_key()
    );
    let ok = e
        .cluster
        .run_stdin(&["/usr/sbin/fence_maas"], Some(&direct));
    let bad_port = direct.replace(&format!("ipport={}", e.port), "ipport=1");
    let failed = e
        .cluster
        .run_stdin(&["/usr/sbin/fence_maas"], Some(&bad_port));
    assert_eq!(failed.code, 1, "{failed}");
    let cib = e.cluster.run(&["cibadmin", "-Q"]).expect_ok();
    let log =
        std::fs::read_to_string(e.cluster.state_dir().join("pacemaker.log")).unwrap_or_default();
    assert!(
        log.contains("fence_maas"),
        "the fencer log should mention the agent at all"
    );
    let newer = e.cluster.sh(&format!(
        "find /tmp /var/log /var/lib/pacemaker {} -xdev -type f -newer {} ! -name '*.key' 2>/dev/null | head -2000",
        e.dir.display(),
        marker.display()
    ));
    let mut written = String::new();
    for path in newer.stdout.lines() {
        if let Ok(text) = std::fs::read(path) {
            written.push_str(&String::from_utf8_lossy(&text));
        }
    }
    let mut leaks = Vec::new();
    for secret in [api_key(), secret_part()] {
        for (what, text) in [
            ("ps", ps.stdout.as_str()),
            ("fence stderr", fence.stderr.as_str()),
            ("direct stdout", ok.stdout.as_str()),
            ("direct stderr", ok.stderr.as_str()),
            ("failed stderr", failed.stderr.as_str()),
            ("CIB", cib.stdout.as_str()),
            ("pacemaker.log", log.as_str()),
            ("files written", written.as_str()),
        ] {
            if text.contains(&secret) {
                leaks.push(what);
            }
        }
    }
    leaks.sort_unstable();
    leaks.dedup();
    assert!(leaks.is_empty(), "the API key appears in: {leaks:?}");
    e.set("compute-4", "");
    e.remove_pcs_device("maas-leak");
}
