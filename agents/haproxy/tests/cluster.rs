//! ocf:oxha:haproxy under a real Pacemaker (one namespaced node, see oxha-harness), configured
//! with pcs and with crm as clones. The node shares /tmp with the host, so configurations are
//! written there; haproxy listens on the node's own loopback.
//! Run `make stage` first.

use oxha_harness::{wait_for, Cluster, Run};
use std::path::PathBuf;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(90);

fn conf_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxha-hap-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("config dir");
    dir
}

/// A configuration that answers every request itself (no backend needed inside the node).
fn write_conf(name: &str, port: u16, extra: &str) -> String {
    let path = conf_dir().join(format!("{name}.cfg"));
    let text = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string ok\n{extra}"
    );
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// A command on the node's master or stats socket (python3 is on the host, so in the node too).
fn node_socket(c: &Cluster, socket: &str, command: &str) -> Run {
    let script = "import socket,sys\n\
s=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\ns.connect(sys.argv[1])\n\
s.sendall((sys.argv[2]+'\\n').encode())\ns.shutdown(socket.SHUT_WR)\n\
d=b''\nwhile True:\n    x=s.recv(65536)\n    if not x: break\n    d+=x\nsys.stdout.write(d.decode())\n";
    c.run(&["python3", "-c", script, socket, command])
}

/// The master pid of resource instance `id` on the node (anonymous clones keep the plain id).
fn master_pid(c: &Cluster, id: &str) -> Option<String> {
    let r = c.sh(&format!("cat /run/resource-agents/haproxy-{id}.pid"));
    r.ok()
        .then(|| r.stdout.trim().to_string())
        .filter(|p| !p.is_empty())
}

fn reloads(c: &Cluster, id: &str) -> Option<u32> {
    let r = node_socket(
        c,
        &format!("/run/resource-agents/haproxy-{id}.master.sock"),
        "show proc",
    );
    r.ok()
        .then(|| haproxy::cli::ProcList::parse(&r.stdout).reloads)
}

fn agent_in_node(c: &Cluster, id: &str, conffile: &str, env: &[&str]) -> Run {
    let mut argv = vec![
        "env".to_string(),
        "OCF_ROOT=/usr/lib/ocf".into(),
        format!("OCF_RESOURCE_INSTANCE={id}"),
        format!("OCF_RESKEY_conffile={conffile}"),
        "OCF_RESKEY_CRM_meta_interval=10000".into(),
    ];
    argv.extend(env.iter().map(|e| e.to_string()));
    argv.push("/usr/lib/ocf/resource.d/oxha/haproxy".into());
    argv.push("monitor".into());
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    c.run(&refs)
}

/// Waits until no haproxy daemon runs in the node (the agent's own binary is also called
/// haproxy, so match haproxy's command line, not the name).
fn wait_no_haproxy(c: &Cluster) {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let ps = c.run(&["ps", "-eo", "pid,ppid,args"]).stdout;
        let left: Vec<&str> = ps.lines().filter(|l| l.contains(" -W -D -S ")).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "haproxy still runs in the node:\n{ps}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pcs_clone_recovers_a_killed_master_and_reloads_on_a_parameter_change() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    let conf = write_conf("pcs", 8080, "");
    c.pcs(&[
        "resource",
        "create",
        "hap",
        "ocf:oxha:haproxy",
        &format!("conffile={conf}"),
        "op",
        "monitor",
        "interval=2s",
        "clone",
    ])
    .expect_ok();
    c.wait_started("hap", LONG);
    agent_in_node(
        c,
        "hap",
        &conf,
        &[
            "OCF_CHECK_LEVEL=20",
            "OCF_RESKEY_check_url=http://127.0.0.1:8080/",
        ],
    )
    .expect_ok();

    // A reloadable parameter changed: reload-agent, same master, one reload more.
    // (After the start's transition is complete: a probe or start recorded after the change
    // would carry the new parameters, leaving nothing to reload.)
    c.wait_idle(LONG);
    let master = master_pid(c, "hap").expect("master pid in the node");
    let before = wait_for("the master CLI", LONG, || reloads(c, "hap"));
    c.pcs(&[
        "resource",
        "update",
        "hap",
        "check_url=http://127.0.0.1:8080/",
    ])
    .expect_ok();
    let deadline = std::time::Instant::now() + LONG;
    while reloads(c, "hap").is_none_or(|n| n <= before) {
        if std::time::Instant::now() > deadline {
            let log =
                std::fs::read_to_string(c.state_dir().join("pacemaker.log")).unwrap_or_default();
            let relevant: Vec<&str> = log
                .lines()
                .filter(|l| {
                    ["eload", "estart", "igest", "Actions:", "parameters"]
                        .iter()
                        .any(|k| l.contains(k))
                })
                .collect();
            panic!(
                "no reload after the parameter change; pacemaker log:\n{}",
                relevant[relevant.len().saturating_sub(40)..].join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        master_pid(c, "hap").as_deref(),
        Some(master.as_str()),
        "reloaded, not restarted"
    );
    assert!(c.failures("hap").is_empty(), "{:?}", c.failures("hap"));

    // A killed master: the recurring monitor fails, Pacemaker restarts haproxy.
    let first = master_pid(c, "hap").expect("master pid in the node");
    c.sh(&format!("kill -9 {first}")).expect_ok();
    wait_for("Pacemaker to record the monitor failure", LONG, || {
        (!c.failures("hap").is_empty()).then_some(())
    });
    let failure = c.failures("hap").join("\n");
    assert!(failure.contains("monitor"), "{failure}");
    eprintln!("recorded failure: {failure}");
    let second: String = wait_for("a new master", LONG, || {
        master_pid(c, "hap").filter(|p| *p != first)
    });
    c.wait_started("hap", LONG);
    assert_ne!(second, first);
    c.pcs(&["resource", "cleanup", "hap"]).expect_ok();
    c.wait_idle(LONG);

    c.pcs(&["resource", "delete", "hap"]).expect_ok();
    c.wait_stopped("hap", LONG);
    wait_no_haproxy(c);
    let _ = std::fs::remove_file(&conf);
    let _ = std::fs::remove_dir(conf_dir());
}

#[test]
fn crm_clone_with_a_depth_10_monitor_and_an_invalid_configuration() {
    let _s = Cluster::serial();
    let c = Cluster::shared();
    let conf = write_conf("crm", 8081, "");
    c.crm(&[
        "configure",
        "primitive",
        "hap2",
        "ocf:oxha:haproxy",
        "params",
        &format!("conffile={conf}"),
        "op",
        "monitor",
        "interval=3s",
        "OCF_CHECK_LEVEL=10",
    ])
    .expect_ok();
    c.crm(&["configure", "clone", "hap2-clone", "hap2"])
        .expect_ok();
    c.wait_started("hap2", LONG);
    let cib = c
        .run(&["cibadmin", "-Q", "-o", "resources"])
        .expect_ok()
        .stdout;
    assert!(cib.contains("OCF_CHECK_LEVEL"), "{cib}");
    assert!(master_pid(c, "hap2").is_some());

    // An invalid configuration: start fails with haproxy's own error as the exit reason.
    let bad = write_conf("crm-bad", 8082, "backend x\n    bogus_keyword 1\n");
    c.crm(&[
        "configure",
        "primitive",
        "hap3",
        "ocf:oxha:haproxy",
        "params",
        &format!("conffile={bad}"),
    ])
    .expect_ok();
    let failure = wait_for("the failed start of hap3", LONG, || {
        let f = c.failures("hap3").join("\n");
        (!f.is_empty()).then_some(f)
    });
    // crm_mon escapes the quotes in the reason.
    assert!(
        failure.contains("unknown keyword") && failure.contains("bogus_keyword"),
        "{failure}"
    );
    assert!(failure.contains("crm-bad.cfg"), "{failure}");
    eprintln!("start failure shown by crm_mon: {failure}");
    // hap2 is unaffected.
    c.wait_started("hap2", LONG);

    c.crm(&["resource", "stop", "hap3"]).expect_ok();
    c.crm(&["resource", "stop", "hap2-clone"]).expect_ok();
    wait_no_haproxy(c);
    c.wait_idle(LONG);
    c.crm(&["configure", "delete", "hap3"]).expect_ok();
    // crmsh removes a clone's wrapper alone (its target-role with it): delete both at once.
    c.crm(&["configure", "delete", "hap2-clone", "hap2"])
        .expect_ok();
    let resources = c.run(&["cibadmin", "-Q", "-o", "resources"]).stdout;
    assert!(!resources.contains("hap2"), "{resources}");
    c.crm(&["resource", "cleanup"]).expect_ok();
    wait_no_haproxy(c);
    for f in [&conf, &bad] {
        let _ = std::fs::remove_file(f);
    }
    // The directory goes once both tests have removed their files.
    let _ = std::fs::remove_dir(conf_dir());
}
