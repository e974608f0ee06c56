//! oxha on Debian 13: Pacemaker 3.0, pcs 0.12, crmsh 5 and Masakari 19 from Debian's trixie
//! packages, the agents from the oxha package installed with dpkg -i in the node's root. A
//! representative set of the Debian 12 cluster tests: both configuration tools create vip and
//! haproxy resources, pcs creates a fence_maas device and `stonith_admin --reboot` goes through it
//! (against the MAAS simulator), a fencing level fence_maas → fence_masakari reaches Debian 13's
//! Masakari, and both tools describe every agent. Needs `make deb` and root; the first run builds
//! the trixie tree with debootstrap (cached under target/oxha-cache).

use maas_sim::MaasSim;
use oxha_harness::{wait_for, Cluster};
use oxha_masakari_env::{MasakariEnv, MASAKARI_URL};
use oxha_trixie::cluster;
use std::sync::OnceLock;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// The node runs Debian 13's cluster stack, and the agents are the package's.
#[test]
fn node_runs_debian_13_with_the_package() {
    let c = cluster();
    let debian = c.run(&["cat", "/etc/debian_version"]).expect_ok();
    assert!(debian.stdout.starts_with("13."), "{debian}");
    let versions = c
        .sh(
            "pacemakerd --version | head -1; pcs --version; crm --version; corosync -v | head -1; \
             dpkg-query -W -f='${Version}\\n' python3-masakari haproxy oxha",
        )
        .expect_ok()
        .stdout;
    eprintln!("trixie versions:\n{versions}");
    assert!(versions.contains("Pacemaker 3."), "{versions}");
    assert!(versions.contains("0.12."), "pcs 0.12: {versions}");
    assert!(versions.contains("crm 5."), "crmsh 5: {versions}");
    for path in [
        "/usr/sbin/fence_maas",
        "/usr/sbin/fence_masakari",
        "/usr/lib/ocf/resource.d/oxha/vip",
        "/usr/lib/ocf/resource.d/oxha/haproxy",
        "/usr/lib/ocf/resource.d/oxha/masakari-restart",
    ] {
        let owner = c.run(&["dpkg", "-S", path]);
        assert!(
            owner.ok() && owner.stdout.starts_with("oxha:"),
            "{path} is not the package's: {owner}"
        );
    }
    let fixture = c.run(&["test", "-e", "/usr/sbin/fence_probe"]);
    assert!(!fixture.ok(), "a test fixture is in the node");
}

/// A Debian 13 compute node: apt installs pacemaker-remote (which removes pacemaker, they
/// conflict) and the package together, in a throwaway copy of the tree without network (the
/// pacemaker-remote package file is kept in the tree). Nothing of oxha's pulls pacemaker back.
#[test]
fn compute_node_takes_pacemaker_remote_and_the_package() {
    let root = oxha_trixie::trixie_root();
    let deb = oxha_harness::deb_package();
    let script = oxha_harness::workspace_root().join("tests/trixie/scripts/in-overlay");
    let install = format!(
        "export DEBIAN_FRONTEND=noninteractive; \
         apt-get install -y -q -o APT::Sandbox::User=root /var/cache/oxha/pacemaker-remote_*.deb {} \
         && dpkg-query -W -f='${{Package}} ${{Status}}\n' pacemaker pacemaker-remote oxha \
         && dpkg -S /usr/sbin/fence_maas /usr/lib/ocf/resource.d/oxha/masakari-restart \
         && pacemaker-remoted --version | head -1 \
         && /usr/lib/ocf/resource.d/oxha/masakari-restart meta-data | grep -c 'resource-agent name=\"masakari-restart\"'",
        deb.display()
    );
    let r = oxha_harness::run(&[
        &script.to_string_lossy(),
        &root.to_string_lossy(),
        "sh",
        "-c",
        &install,
    ]);
    assert!(r.ok(), "compute node install failed: {r}");
    let out = &r.stdout;
    assert!(
        out.contains("pacemaker-remote install ok installed"),
        "{out}"
    );
    assert!(out.contains("oxha install ok installed"), "{out}");
    assert!(
        !out.contains("pacemaker install ok installed"),
        "pacemaker is still installed: {out}"
    );
    assert!(out.contains("oxha: /usr/sbin/fence_maas"), "{out}");
    assert!(out.contains("Pacemaker 3."), "{out}");
}

/// `crm ra info` and `pcs resource|stonith describe` read every agent's metadata.
#[test]
fn crm_and_pcs_describe_every_agent() {
    let c = cluster();
    for (agent, param) in [
        ("vip", "cidr_netmask"),
        ("haproxy", "conffile"),
        ("masakari-restart", "masakari_url"),
    ] {
        let class = format!("ocf:oxha:{agent}");
        let crm = c.crm(&["ra", "info", &class]).expect_ok();
        assert!(crm.stdout.contains(param), "{crm}");
        let pcs = c.pcs(&["resource", "describe", &class]).expect_ok();
        assert!(pcs.stdout.contains(param), "{pcs}");
    }
    for (agent, param) in [
        ("fence_maas", "api_key_file"),
        ("fence_masakari", "auth_url"),
    ] {
        let crm = c
            .crm(&["ra", "info", &format!("stonith:{agent}")])
            .expect_ok();
        assert!(crm.stdout.contains(param), "{crm}");
        let pcs = c.pcs(&["stonith", "describe", agent]).expect_ok();
        assert!(pcs.stdout.contains(param), "{pcs}");
    }
}

/// The node's veth pair for the VIPs (`vx0` carries them), made once.
fn veth() {
    static VETH: OnceLock<()> = OnceLock::new();
    VETH.get_or_init(|| {
        cluster()
            .sh("ip link add vx0 type veth peer name vx1 && ip link set vx1 up && ip link set vx0 up \
                 && ip addr add 192.0.2.1/24 dev vx0")
            .expect_ok();
    });
}

fn has_address(c: &Cluster, ip: &str) -> bool {
    c.sh("ip -o addr show dev vx0")
        .stdout
        .contains(&format!(" {ip}/"))
}

#[test]
fn vip_with_crm_and_pcs() {
    let _s = Cluster::serial();
    let c = cluster();
    veth();
    c.crm(&[
        "configure",
        "primitive",
        "vip_crm",
        "ocf:oxha:vip",
        "params",
        "ip=192.0.2.10",
        "cidr_netmask=24",
        "nic=vx0",
        "op",
        "monitor",
        "interval=10s",
        "timeout=20s",
    ])
    .expect_ok();
    c.pcs(&[
        "resource",
        "create",
        "vip_pcs",
        "ocf:oxha:vip",
        "ip=192.0.2.11",
        "nic=vx0",
        "op",
        "monitor",
        "interval=10s",
        "OCF_CHECK_LEVEL=10",
    ])
    .expect_ok();
    for (id, ip) in [("vip_crm", "192.0.2.10"), ("vip_pcs", "192.0.2.11")] {
        c.wait_started(id, TIMEOUT);
        wait_for(&format!("{ip} on vx0"), TIMEOUT, || {
            has_address(c, ip).then_some(())
        });
        assert!(c.failures(id).is_empty(), "{:?}", c.failures(id));
    }
    c.crm(&["resource", "stop", "vip_crm"]).expect_ok();
    c.pcs(&["resource", "disable", "vip_pcs"]).expect_ok();
    for (id, ip) in [("vip_crm", "192.0.2.10"), ("vip_pcs", "192.0.2.11")] {
        c.wait_stopped(id, TIMEOUT);
        wait_for(&format!("{ip} gone"), TIMEOUT, || {
            (!has_address(c, ip)).then_some(())
        });
    }
    c.crm(&["configure", "delete", "vip_crm"]).expect_ok();
    c.pcs(&["resource", "delete", "vip_pcs"]).expect_ok();
}

/// A haproxy configuration answering every request itself on 127.0.0.1:`port`, in /tmp (the
/// node shares it).
fn haproxy_conf(name: &str, port: u16) -> String {
    let dir = std::env::temp_dir().join(format!("oxha-trixie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("config dir");
    let path = dir.join(format!("{name}.cfg"));
    std::fs::write(
        &path,
        format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string ok\n"
        ),
    )
    .expect("write config");
    path.to_string_lossy().into_owned()
}

fn http_ok(c: &Cluster, port: u16) -> bool {
    c.run(&[
        "bash",
        "-c",
        &format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 2 cat <&3"
        ),
    ])
    .stdout
    .lines()
    .next()
    .is_some_and(|status| status.starts_with("HTTP/") && status.contains(" 200 "))
}

#[test]
fn haproxy_with_crm_and_pcs() {
    let _s = Cluster::serial();
    let c = cluster();
    let pcs_conf = haproxy_conf("pcs", 18080);
    let crm_conf = haproxy_conf("crm", 18081);
    c.pcs(&[
        "resource",
        "create",
        "hap_pcs",
        "ocf:oxha:haproxy",
        &format!("conffile={pcs_conf}"),
        "check_url=http://127.0.0.1:18080/",
        "op",
        "monitor",
        "interval=10s",
        "op",
        "monitor",
        "interval=20s",
        "OCF_CHECK_LEVEL=20",
    ])
    .expect_ok();
    c.crm(&[
        "configure",
        "primitive",
        "hap_crm",
        "ocf:oxha:haproxy",
        "params",
        &format!("conffile={crm_conf}"),
        "op",
        "monitor",
        "interval=10s",
        "op",
        "monitor",
        "interval=20s",
        "OCF_CHECK_LEVEL=10",
    ])
    .expect_ok();
    c.crm(&["configure", "clone", "hap_crm_clone", "hap_crm"])
        .expect_ok();
    for (id, port) in [("hap_pcs", 18080), ("hap_crm", 18081)] {
        c.wait_started(id, TIMEOUT);
        wait_for(&format!("haproxy of {id} answering"), TIMEOUT, || {
            http_ok(c, port).then_some(())
        });
    }
    // Debian 13's haproxy (3.0) through a reload of the agent.
    c.pcs(&[
        "resource",
        "update",
        "hap_pcs",
        "check_url=http://127.0.0.1:18080/ok",
    ])
    .expect_ok();
    c.wait_idle(TIMEOUT);
    assert!(http_ok(c, 18080));
    for id in ["hap_pcs", "hap_crm"] {
        assert!(c.failures(id).is_empty(), "{:?}", c.failures(id));
    }
    c.pcs(&["resource", "delete", "hap_pcs"]).expect_ok();
    c.crm(&["resource", "stop", "hap_crm_clone"]).expect_ok();
    c.wait_stopped("hap_crm", TIMEOUT);
    c.crm(&["configure", "delete", "hap_crm_clone", "hap_crm"])
        .expect_ok();
    for port in [18080, 18081] {
        wait_for(&format!("nothing on port {port}"), TIMEOUT, || {
            (!http_ok(c, port)).then_some(())
        });
    }
}

/// The MAAS simulator in the node (machines compute-1 to compute-3) and Masakari with both
/// hosts, started once.
fn maas_and_masakari() -> (&'static MaasSim, &'static MasakariEnv) {
    static MAAS: OnceLock<MaasSim> = OnceLock::new();
    static MASAKARI: OnceLock<MasakariEnv> = OnceLock::new();
    let c = cluster();
    let masakari =
        MASAKARI.get_or_init(|| MasakariEnv::up_without_libvirt(c, &["compute-1", "compute-2"]));
    let maas = MAAS.get_or_init(|| {
        MaasSim::start(
            c,
            "trixie",
            r#"[{"hostname": "compute-1", "system_id": "c1aaaa"}, {"hostname": "compute-2", "system_id": "c2bbbb"},
                {"hostname": "compute-3", "system_id": "c3cccc"}]"#,
            "oxhaConsumerKeyABC:oxhaTokenKey123456:oxhaTokenSecret0123456789abcdef",
            300,
        )
    });
    (maas, masakari)
}

fn power_events(maas: &MaasSim, machine: &str) -> Vec<String> {
    maas.events(machine)
        .iter()
        .map(|e| e.split_whitespace().nth(1).unwrap_or_default().to_string())
        .collect()
}

/// Fencing on while a test's devices exist; off again when it ends, however it ends (crmsh 5
/// refuses to commit resources while fencing is on and no device is defined).
struct Fencing(&'static Cluster);

fn enable_fencing(c: &'static Cluster) -> Fencing {
    c.set_property("stonith-enabled", "true");
    Fencing(c)
}

impl Drop for Fencing {
    fn drop(&mut self) {
        // No assertion here: this also runs while a failed test unwinds.
        let _ = self.0.run(&[
            "crm_attribute",
            "--type",
            "crm_config",
            "--name",
            "stonith-enabled",
            "--update",
            "false",
        ]);
    }
}

/// `pcs stonith create NAME fence_maas` against the simulator with `extra` options, fencing
/// on, and the device registered with the fencer.
fn create_maas_device(c: &'static Cluster, maas: &MaasSim, name: &str, extra: &[&str]) -> Fencing {
    let mut create = vec!["stonith", "create", name, "fence_maas"];
    let options = maas.device_options();
    create.extend(options.iter().map(String::as_str));
    create.extend_from_slice(extra);
    c.pcs(&create).expect_ok();
    let fencing = enable_fencing(c);
    wait_for(&format!("{name} registered"), TIMEOUT, || {
        c.run(&["stonith_admin", "--list-registered"])
            .stdout
            .contains(name)
            .then_some(())
    });
    fencing
}

/// `pcs stonith create` with only pcmk_host_list: Pacemaker 3.0 passes the target to an agent
/// only when its metadata advertises `port` (pcmk_host_argument defaults to none otherwise),
/// so this reboot fails if fence_maas stopped advertising it.
#[test]
fn pcs_stonith_create_and_stonith_admin_reboot_through_fence_maas() {
    let _s = Cluster::serial();
    let c = cluster();
    let (maas, _) = maas_and_masakari();
    let _fencing = create_maas_device(
        c,
        maas,
        "maas_reboot",
        &["pcmk_host_list=compute-1", "pcmk_reboot_timeout=120s"],
    );
    c.run(&["stonith_admin", "--reboot", "compute-1", "--timeout", "90"])
        .expect_ok();
    assert_eq!(
        power_events(maas, "compute-1"),
        ["power_off", "off", "power_on", "on"]
    );
    let history = c
        .run(&["stonith_admin", "--history", "compute-1", "--verbose"])
        .stdout;
    assert!(history.contains("successful"), "{history}");
    c.pcs(&["stonith", "delete", "maas_reboot"]).expect_ok();
}

/// Pacemaker 3.0 passes the target in `port` only when the agent's metadata advertises it
/// (pcmk_host_argument defaults to none otherwise): without it a pcmk_host_map alias never
/// reaches the agent, which sees only the cluster's name for the node. fence_maas advertises
/// `port`, so the mapped MAAS hostname arrives; the same device with pcmk_host_argument=none
/// (what 3.0 would choose for an agent without `port`) fails, proving the mapping is what made
/// the difference.
#[test]
fn pcmk_host_map_reaches_fence_maas_as_port() {
    let _s = Cluster::serial();
    let c = cluster();
    let (maas, _) = maas_and_masakari();
    let _fencing = create_maas_device(c, maas, "maas_map", &["pcmk_host_map=hv-3:compute-3"]);
    c.run(&["stonith_admin", "--reboot", "hv-3", "--timeout", "90"])
        .expect_ok();
    assert_eq!(
        power_events(maas, "compute-3"),
        ["power_off", "off", "power_on", "on"]
    );
    c.pcs(&["stonith", "update", "maas_map", "pcmk_host_argument=none"])
        .expect_ok();
    c.wait_idle(TIMEOUT);
    let without_port = c.run(&["stonith_admin", "--reboot", "hv-3", "--timeout", "60"]);
    assert!(
        !without_port.ok(),
        "fencing hv-3 succeeded without the mapped name: {without_port}"
    );
    assert_eq!(
        power_events(maas, "compute-3").len(),
        4,
        "MAAS powered something"
    );
    c.pcs(&["stonith", "delete", "maas_map"]).expect_ok();
}

/// One fencing level, fence_maas then fence_masakari, against Debian 13's Masakari 19: MAAS
/// powers compute-2 off, then Masakari gets one COMPUTE_HOST notification.
#[test]
fn fencing_level_fence_maas_then_fence_masakari() {
    let _s = Cluster::serial();
    let c = cluster();
    let (maas, masakari) = maas_and_masakari();
    let options = maas.device_options();
    let mut power = vec![
        "configure",
        "primitive",
        "level_maas",
        "stonith:fence_maas",
        "params",
    ];
    power.extend(options.iter().map(String::as_str));
    power.push("pcmk_host_list=compute-2");
    c.crm(&power).expect_ok();
    let url = format!("masakari_url={MASAKARI_URL}");
    c.crm(&[
        "configure",
        "primitive",
        "level_masakari",
        "stonith:fence_masakari",
        "params",
        "auth_mode=noauth",
        &url,
        "pcmk_host_list=compute-2",
    ])
    .expect_ok();
    c.pcs(&[
        "stonith",
        "level",
        "add",
        "1",
        "compute-2",
        "level_maas",
        "level_masakari",
        "--force",
    ])
    .expect_ok();
    let _fencing = enable_fencing(c);
    wait_for("both level devices registered", TIMEOUT, || {
        let r = c.run(&["stonith_admin", "--list-registered"]).stdout;
        (r.contains("level_maas") && r.contains("level_masakari")).then_some(())
    });
    c.run(&["stonith_admin", "--fence", "compute-2", "--timeout", "90"])
        .expect_ok();
    assert_eq!(power_events(maas, "compute-2"), ["power_off", "off"]);
    let notifications: Vec<_> = masakari
        .notifications_from("compute-2")
        .into_iter()
        .filter(|n| n["type"] == "COMPUTE_HOST")
        .collect();
    assert_eq!(notifications.len(), 1, "{notifications:#?}");
    let p = &notifications[0]["payload"];
    assert_eq!(
        (
            p["event"].as_str(),
            p["host_status"].as_str(),
            p["cluster_status"].as_str()
        ),
        (Some("STOPPED"), Some("NORMAL"), Some("OFFLINE")),
        "{notifications:#?}"
    );
    c.pcs(&["stonith", "level", "clear", "target", "compute-2"])
        .expect_ok();
    c.pcs(&["stonith", "delete", "level_masakari"]).expect_ok();
    c.pcs(&["stonith", "delete", "level_maas"]).expect_ok();
}
