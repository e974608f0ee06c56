//! Issue 20, part 2: a cluster built with the crm commands charm-hacluster issues (the Masakari
//! API VIP group, the lsb:haproxy clone, st-maas and st-null, a pacemaker-remote compute host;
//! `lib/charm-migrate/tests/fixtures/masakari-charm.sh`) is switched to the oxha agents with
//! the script `oxha_charm_migrate::plan` makes from `cibadmin -Q`, while a client probes the
//! VIP (ARP) and haproxy behind it (HTTP). Then the compute host is fenced through st-maas,
//! now fence_maas (the MAAS simulator sees the power off and on), and the rollback script puts
//! the charm's agents back.
//!
//! charm-hacluster's external/maas plugin is not ours to ship: each full node gets a stand-in
//! for it (below, overlaid on the node's own /usr/lib/stonith/plugins/external) that declares
//! the plugin's parameters, lists its hostnames and answers status, so that the charm's `crm
//! configure primitive st-maas stonith:external/maas ...` is accepted and st-maas runs as it
//! does under the charm. It powers nothing: fencing before the switch is not part of the test.
//! The nodes' /etc/haproxy/haproxy.cfg (for lsb:haproxy and, afterwards, ocf:oxha:haproxy's
//! default conffile) is a file of the state directory, bind-mounted inside each node.

use oxha_charm_migrate::{plan, MAAS_KEY_FILE};
use oxha_harness::{wait_for, workspace_root};
use oxha_multinode::{now, timing, ArpProber, MultiCluster, FULL_NODES, REMOTE_NODE};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VIP: &str = "10.77.1.100";
const VIP_RES: &str = "res_masakari_529c012_vip";
const HAPROXY_RES: &str = "res_masakari_haproxy";
const FENCE_RES: &str = "st-maas";
const API_PORT: u16 = 15868;
/// The VIP's monitor interval in the charm's definition (`op monitor interval="10s"`): the
/// longest the address may be gone.
const VIP_MONITOR_INTERVAL: f64 = 10.0;

const STAND_IN: &str = r#"#!/bin/sh
# Test stand-in for charm-hacluster's external/maas (not the plugin): the plugin's parameters,
# its hostnames and a status; it powers nothing.
case "$1" in
getconfignames) printf 'url\napikey\nhostnames\n' ;;
getinfo-devid|getinfo-devname) echo "external/maas test stand-in" ;;
getinfo-devdescr) echo "stand-in for charm-hacluster's external/maas: lists hosts, powers nothing" ;;
getinfo-devurl) echo "https://maas.io" ;;
getinfo-xml) cat <<'XML'
<parameters>
<parameter name="url" unique="0" required="1"><content type="string"/><shortdesc lang="en">MAAS URL</shortdesc></parameter>
<parameter name="apikey" unique="0" required="1"><content type="string"/><shortdesc lang="en">MAAS API key</shortdesc></parameter>
<parameter name="hostnames" unique="0" required="1"><content type="string"/><shortdesc lang="en">MAAS hostnames</shortdesc></parameter>
</parameters>
XML
;;
gethosts) for h in $hostnames; do echo "$h"; done ;;
status) [ -n "$url" ] && [ -n "$apikey" ] ;;
*) exit 1 ;;
esac
"#;

const HAPROXY_CFG: &str = "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend masakari_api\n    bind :15868\n    http-request return status 200 content-type text/plain string ok\n";

fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("lib/charm-migrate/tests/fixtures")
        .join(name)
}

/// The stand-in plugin and the haproxy configuration, inside every full node only.
fn prepare_full_nodes(cluster: &MultiCluster) {
    let state = cluster.state_dir();
    let plugins = state.join("stonith-external");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let plugin = plugins.join("maas");
    std::fs::write(&plugin, STAND_IN).expect("stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = state.join("haproxy.cfg");
    std::fs::write(&cfg, HAPROXY_CFG).expect("haproxy.cfg");
    let lower = format!(
        "lowerdir={}:/usr/lib/stonith/plugins/external",
        plugins.display()
    );
    for node in FULL_NODES {
        cluster
            .run(
                node,
                &[
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    &lower,
                    "/usr/lib/stonith/plugins/external",
                ],
            )
            .expect_ok();
        cluster
            .run(
                node,
                &[
                    "mount",
                    "--bind",
                    &cfg.to_string_lossy(),
                    "/etc/haproxy/haproxy.cfg",
                ],
            )
            .expect_ok();
    }
}

/// Runs a shell script (written to the state directory) on `node`; it must succeed.
fn run_script(cluster: &MultiCluster, node: &str, name: &str, text: &str) {
    let path = cluster.state_dir().join(name);
    std::fs::write(&path, text).expect("script");
    let r = cluster.run(node, &["sh", "-e", &path.to_string_lossy()]);
    assert!(r.ok(), "{name} failed: {r}\n{}", cluster.logs());
}

/// `class[:provider]:type` of a primitive in the live CIB.
fn agent_of(cluster: &MultiCluster, id: &str) -> String {
    let xpath = format!("//primitive[@id='{id}']");
    let xml = cluster
        .run(node1(), &["cibadmin", "--query", "--xpath", &xpath])
        .expect_ok()
        .stdout;
    let head = xml.lines().next().unwrap_or("");
    let attr = |name: &str| {
        let key = format!(" {name}=\"");
        head.find(&key).map(|i| {
            let rest = &head[i + key.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
    };
    let mut spec = attr("class").unwrap_or_default();
    if let Some(p) = attr("provider") {
        spec = format!("{spec}:{p}");
    }
    format!("{spec}:{}", attr("type").unwrap_or_default())
}

fn node1() -> &'static str {
    FULL_NODES[0]
}

/// Every part of the service running: the VIP somewhere, the haproxy clone on the three full
/// nodes, st-maas somewhere, and the API answering through the VIP.
fn wait_all_running(cluster: &MultiCluster, what: &str) {
    cluster.wait_active_one(node1(), VIP_RES, Duration::from_secs(90));
    cluster.wait_active_one(node1(), FENCE_RES, Duration::from_secs(90));
    wait_for(
        &format!("{what}: the haproxy clone on the three full nodes"),
        Duration::from_secs(90),
        || (cluster.active_on(node1(), HAPROXY_RES) == FULL_NODES).then_some(()),
    );
    wait_for(
        &format!("{what}: the API through the VIP"),
        Duration::from_secs(30),
        || {
            cluster
                .http_get(VIP, API_PORT)
                .filter(|a| a.contains(" 200 "))
        },
    );
}

/// The haproxy processes of `node`: (started by lsb:haproxy's init script, started by
/// ocf:oxha:haproxy's master-worker mode). Each agent must leave none of its own behind once
/// the other runs.
fn haproxy_processes(cluster: &MultiCluster, node: &str) -> (usize, usize) {
    let ps = cluster
        .run(node, &["ps", "-eo", "args", "--no-headers"])
        .expect_ok()
        .stdout;
    let haproxy: Vec<&str> = ps
        .lines()
        .filter(|l| l.starts_with("/usr/sbin/haproxy"))
        .collect();
    let lsb = haproxy
        .iter()
        .filter(|l| l.contains("-p /var/run/haproxy.pid"))
        .count();
    let oxha = haproxy.iter().filter(|l| l.contains(" -W ")).count();
    (lsb, oxha)
}

/// A loop in the client namespace: one HTTP request to the API through the VIP every 100 ms,
/// each result (`<epoch> ok|fail`) appended to a file, until a stop file appears.
struct HttpProber {
    child: Child,
    log: PathBuf,
    stop: PathBuf,
}

impl HttpProber {
    fn start(cluster: &MultiCluster, name: &str) -> HttpProber {
        let log = cluster.state_dir().join(format!("{name}.http"));
        let stop = cluster.state_dir().join(format!("{name}.stop"));
        let _ = std::fs::remove_file(&stop);
        let script = format!(
            "while [ ! -e {stop} ]; do t=$(date +%s.%N); \
             if timeout 0.5 bash -c 'exec 3<>/dev/tcp/{VIP}/{API_PORT} && printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3' 2>/dev/null | grep -q ' 200 '; \
             then echo \"$t ok\"; else echo \"$t fail\"; fi >> {log}; sleep 0.1; done",
            stop = stop.display(),
            log = log.display()
        );
        let child = Command::new(workspace_root().join("tests/multinode/scripts/mcluster"))
            .arg("client")
            .arg(cluster.state_dir())
            .args(["bash", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("HTTP prober");
        let prober = HttpProber { child, log, stop };
        wait_for("the first HTTP answer", Duration::from_secs(10), || {
            prober.results().iter().any(|(_, ok)| *ok).then_some(())
        });
        prober
    }

    fn results(&self) -> Vec<(f64, bool)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (t, r) = l.split_once(' ')?;
                Some((t.parse().ok()?, r == "ok"))
            })
            .collect()
    }

    /// Waits for an answer after `since`, stops the loop and returns every result.
    fn finish(mut self, since: f64) -> Vec<(f64, bool)> {
        wait_for(
            "an HTTP answer after the switch",
            Duration::from_secs(30),
            || {
                self.results()
                    .iter()
                    .any(|(t, ok)| *ok && *t > since)
                    .then_some(())
            },
        );
        std::fs::write(&self.stop, "").expect("stop file");
        let _ = self.child.wait();
        self.results()
    }
}

/// The longest time without an answer: between two answered requests with only failures
/// between them.
fn longest_http_gap(results: &[(f64, bool)]) -> f64 {
    let answered: Vec<f64> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
    answered.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// The longest time between two ARP answers for the VIP, from `from` until the first answer
/// after `to`.
fn longest_arp_gap(prober: &ArpProber, from: f64, to: f64) -> f64 {
    let times: Vec<f64> = prober
        .replies()
        .into_iter()
        .map(|r| r.at)
        .filter(|t| *t >= from)
        .collect();
    let end = times.iter().position(|t| *t > to).unwrap_or(times.len());
    times[..(end + 1).min(times.len())]
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(0.0, f64::max)
}

fn wait_arp_after(prober: &ArpProber, since: f64) {
    wait_for("an ARP answer for the VIP", Duration::from_secs(30), || {
        prober.replies().iter().any(|r| r.at > since).then_some(())
    });
}

#[test]
fn a_charm_built_cluster_switches_to_oxha_and_back_while_serving() {
    let _s = MultiCluster::serial();
    let cluster = MultiCluster::start();
    let key = cluster.start_maas_sim();
    prepare_full_nodes(&cluster);

    // The charm's commands, as charm-hacluster issues them. STONITH stays off (as
    // MultiCluster::start left it) until the compute host has joined: the charm's last
    // command turns it on.
    let commands = std::fs::read_to_string(fixture("masakari-charm.sh")).expect("fixture");
    let (build, enable) = commands
        .trim_end()
        .rsplit_once('\n')
        .expect("several commands");
    assert_eq!(enable, "crm configure property stonith-enabled=true");
    run_script(&cluster, node1(), "charm-build.sh", build);
    cluster.wait_node(
        node1(),
        REMOTE_NODE,
        "online",
        Duration::from_secs(90),
        |s| s.online,
    );
    run_script(&cluster, node1(), "charm-stonith.sh", enable);
    wait_all_running(&cluster, "the charm's cluster");
    for (id, agent) in [
        (VIP_RES, "ocf:heartbeat:IPaddr2"),
        (HAPROXY_RES, "lsb:haproxy"),
        (FENCE_RES, "stonith:external/maas"),
    ] {
        assert_eq!(agent_of(&cluster, id), agent, "{id} before the switch");
    }

    // The operator's first step: the MAAS key in its file on every full node.
    let key_text = std::fs::read_to_string(&key).expect("key");
    for node in FULL_NODES {
        cluster
            .run_stdin(
                node,
                &["sh", "-c", &format!("umask 077 && cat > {MAAS_KEY_FILE}")],
                Some(&key_text),
            )
            .expect_ok();
    }

    let cib = cluster.run(node1(), &["cibadmin", "-Q"]).expect_ok().stdout;
    let migration = plan(&cib).unwrap_or_else(|e| panic!("no plan: {e}"));
    eprintln!("{}", migration.apply);
    for note in &migration.notes {
        eprintln!("note: {note}");
    }
    let secret = key_text.trim();
    assert!(
        !migration.apply.contains(secret) && !migration.rollback.contains(secret),
        "the MAAS key is in a script"
    );

    // The switch, with the VIP and the API probed from the client all along.
    let holder = cluster.wait_active_one(node1(), VIP_RES, Duration::from_secs(10));
    let arp = ArpProber::start(&cluster, VIP, Duration::from_millis(50));
    arp.wait_reply_from(&cluster.svc_mac(&holder), 0.0, Duration::from_secs(10));
    let http = HttpProber::start(&cluster, "apply");
    let began = now();
    run_script(&cluster, node1(), "migrate-apply.sh", &migration.apply);
    let done = now();
    wait_all_running(&cluster, "after the switch");
    wait_arp_after(&arp, done);
    let results = http.finish(done);
    let arp_gap = longest_arp_gap(&arp, began - 1.0, done);
    let http_gap = longest_http_gap(&results);
    timing("migrate: apply script (all steps)", done - began);
    timing("migrate: longest VIP gap (ARP) during the switch", arp_gap);
    timing(
        "migrate: longest API gap (HTTP) during the switch",
        http_gap,
    );
    assert!(
        arp.double_answers().is_empty(),
        "two nodes answered for the VIP: {:?}",
        arp.double_answers()
    );
    assert!(
        arp_gap <= VIP_MONITOR_INTERVAL,
        "the VIP was gone {arp_gap:.1}s, longer than its monitor interval"
    );
    assert!(
        http_gap <= VIP_MONITOR_INTERVAL,
        "the API was gone {http_gap:.1}s, longer than the VIP's monitor interval"
    );
    for (id, agent) in [
        (VIP_RES, "ocf:oxha:vip"),
        (HAPROXY_RES, "ocf:oxha:haproxy"),
        (FENCE_RES, "stonith:fence_maas"),
    ] {
        assert_eq!(agent_of(&cluster, id), agent, "{id} after the switch");
    }
    for node in FULL_NODES {
        assert_eq!(
            haproxy_processes(&cluster, node),
            (0, 2),
            "{node}: lsb:haproxy's haproxy left behind, or no oxha master and worker"
        );
    }

    // Planned again, the switched cluster has nothing left to switch.
    let cib = cluster.run(node1(), &["cibadmin", "-Q"]).expect_ok().stdout;
    let again = plan(&cib).unwrap_or_else(|e| panic!("no plan: {e}"));
    assert!(
        !again.apply.lines().any(|l| l.starts_with("primitive ")),
        "a second plan switches again:\n{}",
        again.apply
    );
    assert!(
        again
            .notes
            .iter()
            .any(|n| n.starts_with("st-maas (stonith:fence_maas): already an oxha agent")),
        "{:?}",
        again.notes
    );

    // Fencing of the compute host goes through fence_maas: MAAS powers it off and on.
    let fence = cluster.run(
        node1(),
        &["stonith_admin", "--reboot", REMOTE_NODE, "--timeout", "90"],
    );
    assert!(fence.ok(), "{fence}\n{}", cluster.logs());
    let events = cluster.maas_events(REMOTE_NODE);
    assert_eq!(
        events,
        ["power_off stop_mode=hard", "off", "power_on", "on"],
        "MAAS power events for {REMOTE_NODE}"
    );
    assert_eq!(
        cluster.plug(REMOTE_NODE),
        "off",
        "MAAS's power-off cut the node"
    );
    let by_st_maas = FULL_NODES.iter().any(|n| {
        !cluster
            .log_lines(n, &["compute1 using st-maas", "returned 0"])
            .is_empty()
    });
    assert!(by_st_maas, "no fencer ran st-maas against {REMOTE_NODE}");

    // And back: the charm's agents, running, with nothing of oxha's left behind.
    let http = HttpProber::start(&cluster, "rollback");
    let began = now();
    run_script(
        &cluster,
        node1(),
        "migrate-rollback.sh",
        &migration.rollback,
    );
    let done = now();
    wait_all_running(&cluster, "after the rollback");
    wait_arp_after(&arp, done);
    let results = http.finish(done);
    timing(
        "migrate: longest VIP gap (ARP) during the rollback",
        longest_arp_gap(&arp, began - 1.0, done),
    );
    timing(
        "migrate: longest API gap (HTTP) during the rollback",
        longest_http_gap(&results),
    );
    assert!(arp.double_answers().is_empty());
    for (id, agent) in [
        (VIP_RES, "ocf:heartbeat:IPaddr2"),
        (HAPROXY_RES, "lsb:haproxy"),
        (FENCE_RES, "stonith:external/maas"),
    ] {
        assert_eq!(agent_of(&cluster, id), agent, "{id} after the rollback");
    }
    let apikey = cluster
        .run(
            node1(),
            &[
                "crm_resource",
                "--resource",
                FENCE_RES,
                "--get-parameter",
                "apikey",
            ],
        )
        .expect_ok()
        .stdout;
    assert!(
        apikey.trim() == secret,
        "st-maas's apikey is not the key from {MAAS_KEY_FILE} after the rollback"
    );
    for node in FULL_NODES {
        assert_eq!(
            haproxy_processes(&cluster, node),
            (1, 0),
            "{node}: ocf:oxha:haproxy's haproxy left behind, or lsb:haproxy's not running"
        );
    }
}
