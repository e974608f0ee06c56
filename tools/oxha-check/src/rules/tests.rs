//! Every rule on fabricated views: the walkthrough's clean cluster reports nothing, and each
//! break of it reports that rule (and only the rules it breaks).

use super::*;
use oxha_masakari_api::nova::HypervisorService;

/// The walkthrough's cluster: three full nodes, three remote compute nodes (virt-node-10 known
/// to Pacemaker by its short name), one level per compute node (fence_maas then
/// fence_masakari), `virt-node-10` mapped to its FQDN for fence_masakari.
const CIB: &str = r#"<cib><configuration><nodes>
  <node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/>
</nodes><resources>
  <primitive id="virt-node-01.maas" class="ocf" provider="pacemaker" type="remote"/>
  <primitive id="virt-node-02.maas" class="ocf" provider="pacemaker" type="remote"/>
  <primitive id="virt-node-10" class="ocf" provider="pacemaker" type="remote"/>
  <primitive id="fence_compute_maas" class="stonith" type="fence_maas"><instance_attributes id="a">
    <nvpair id="a1" name="pcmk_host_list" value="virt-node-01.maas virt-node-02.maas virt-node-10"/>
  </instance_attributes></primitive>
  <primitive id="fence_compute_masakari" class="stonith" type="fence_masakari"><instance_attributes id="b">
    <nvpair id="b1" name="pcmk_host_list" value="virt-node-01.maas virt-node-02.maas virt-node-10"/>
    <nvpair id="b2" name="pcmk_host_map" value="virt-node-10:virt-node-10.maas"/>
  </instance_attributes></primitive>
</resources><fencing-topology>
  <fencing-level id="l1" index="1" target="virt-node-01.maas" devices="fence_compute_maas,fence_compute_masakari"/>
  <fencing-level id="l2" index="1" target="virt-node-02.maas" devices="fence_compute_maas,fence_compute_masakari"/>
  <fencing-level id="l3" index="1" target="virt-node-10" devices="fence_compute_maas,fence_compute_masakari"/>
</fencing-topology></configuration><status>
  <node_state id="1" uname="node1" in_ccm="true" crmd="online"/>
  <node_state id="virt-node-01.maas" uname="virt-node-01.maas" remote_node="true" in_ccm="true"/>
  <node_state id="virt-node-02.maas" uname="virt-node-02.maas" remote_node="true" in_ccm="true"/>
  <node_state id="virt-node-10" uname="virt-node-10" remote_node="true" in_ccm="true"/>
</status></cib>"#;

const HOSTS: [&str; 3] = [
    "virt-node-01.maas",
    "virt-node-02.maas",
    "virt-node-10.maas",
];
const NODES: [&str; 3] = ["virt-node-01.maas", "virt-node-02.maas", "virt-node-10"];

fn machine(node: &str) -> Machine {
    let short = node.split('.').next().unwrap_or(node);
    Machine {
        system_id: format!("id{short}").replace('-', ""),
        hostname: short.into(),
        fqdn: format!("{short}.maas"),
        status_name: "Deployed".into(),
        power_state: "on".into(),
        power_type: "ipmi".into(),
    }
}

fn clean() -> View {
    let cib = ocf_lib::cib::parse(CIB).expect("CIB");
    let maas = NODES
        .iter()
        .map(|n| MaasLookup {
            device: "fence_compute_maas".into(),
            node: n.to_string(),
            plug: n.to_string(),
            machine: Ok(machine(n)),
        })
        .collect();
    let services = HOSTS
        .iter()
        .map(|h| NovaService {
            host: h.to_string(),
            binary: "nova-compute".into(),
            state: "up".into(),
            status: "enabled".into(),
            ..NovaService::default()
        })
        .collect();
    let hypervisors = HOSTS
        .iter()
        .map(|h| Hypervisor {
            hypervisor_hostname: h.to_string(),
            service: HypervisorService {
                host: h.to_string(),
            },
            state: "up".into(),
            status: "enabled".into(),
            memory_mb: 4096,
            memory_mb_used: 512,
            vcpus: 4,
            ..Hypervisor::default()
        })
        .collect();
    let hosts = HOSTS
        .iter()
        .map(|h| Host {
            name: h.to_string(),
            kind: "COMPUTE".into(),
            ..Host::default()
        })
        .collect();
    View {
        cib,
        maas,
        openstack: Some(OpenStackView {
            services,
            hypervisors,
            segments: vec![(
                Segment {
                    uuid: "s1".into(),
                    name: "segment1".into(),
                    recovery_method: "auto".into(),
                    service_type: "COMPUTE".into(),
                },
                hosts,
            )],
            notifications: Vec::new(),
        }),
        ..View::default()
    }
}

fn rules_of(view: &View) -> Vec<&'static str> {
    let mut r: Vec<&str> = check(view).iter().map(|f| f.rule).collect();
    r.sort();
    r
}

fn only(view: &View, rule: &str) -> Finding {
    let found = check(view);
    assert_eq!(
        found.iter().map(|f| f.rule).collect::<Vec<_>>(),
        [rule],
        "{found:#?}"
    );
    found.into_iter().next().expect("one")
}

fn os(view: &mut View) -> &mut OpenStackView {
    view.openstack.as_mut().expect("openstack")
}

#[test]
fn the_clean_walkthrough_cluster_reports_nothing() {
    assert_eq!(check(&clean()), []);
}

#[test]
fn a_remote_node_without_a_level() {
    let mut v = clean();
    v.cib.levels.retain(|l| l.id != "l3");
    let f = only(&v, NO_FENCING_LEVEL);
    assert_eq!(f.subject, "virt-node-10");
    assert_eq!(
        f.fix,
        r#"cibadmin --create --scope fencing-topology --xml-text '<fencing-level id="fl-virt-node-10-1" index="1" target="virt-node-10" devices="fence_compute_maas,fence_compute_masakari"/>'"#
    );
    // A pattern level covers it.
    v.cib.levels.push(ocf_lib::cib::FencingLevel {
        id: "lp".into(),
        index: 1,
        target: LevelTarget::Pattern("^virt-node-[0-9]+$".into()),
        devices: vec!["fence_compute_maas".into(), "fence_compute_masakari".into()],
    });
    assert_eq!(check(&v), []);
}

#[test]
fn a_level_with_fence_masakari_first() {
    let mut v = clean();
    v.cib.levels[0].devices = vec!["fence_compute_masakari".into()];
    let f = only(&v, NO_POWER_BEFORE_MASAKARI);
    assert_eq!(f.subject, "l1");
    assert!(
        f.fix
            .contains(r#"devices="fence_compute_maas,fence_compute_masakari""#),
        "{}",
        f.fix
    );
    v.cib.levels[0].devices = vec!["fence_compute_masakari".into(), "fence_compute_maas".into()];
    let f = only(&v, NO_POWER_BEFORE_MASAKARI);
    assert!(
        f.fix
            .contains(r#"devices="fence_compute_maas,fence_compute_masakari""#),
        "the level's own power device moves first: {}",
        f.fix
    );
}

#[test]
fn a_level_naming_a_missing_device() {
    let mut v = clean();
    v.cib.levels[1].devices.insert(0, "gone".into());
    let f = only(&v, UNKNOWN_LEVEL_DEVICE);
    assert!(f
        .fix
        .contains(r#"devices="fence_compute_maas,fence_compute_masakari""#));
}

#[test]
fn maas_machines_none_several_not_deployed_manual_unreachable() {
    let mut v = clean();
    v.maas[0].machine = Err("no MAAS machine has the FQDN 'virt-node-01.maas'".into());
    let f = only(&v, MAAS_NO_SINGLE_MACHINE);
    assert!(f.fix.starts_with(
        "crm_resource --resource fence_compute_maas --set-parameter pcmk_host_map --parameter-value virt-node-01.maas:MAAS_HOSTNAME_OR_SYSTEM_ID"
    ), "{}", f.fix);

    let mut v = clean();
    v.maas[1].machine.as_mut().expect("m").status_name = "Ready".into();
    let f = only(&v, MAAS_NOT_DEPLOYED);
    assert_eq!(f.fix, "maas PROFILE machine deploy idvirtnode02");

    let mut v = clean();
    v.maas[2].machine.as_mut().expect("m").power_type = "manual".into();
    let f = only(&v, MAAS_MANUAL_POWER);
    assert_eq!(f.subject, "virt-node-10");

    let mut v = clean();
    v.maas.clear();
    v.maas_failures.push((
        "fence_compute_maas".into(),
        "MAAS refused the API key (401): x".into(),
    ));
    only(&v, MAAS_UNREACHABLE);
}

#[test]
fn a_segment_host_nova_does_not_know() {
    let mut v = clean();
    os(&mut v)
        .services
        .retain(|s| s.host != "virt-node-02.maas");
    os(&mut v)
        .hypervisors
        .retain(|h| h.service.host != "virt-node-02.maas");
    let f = only(&v, SEGMENT_HOST_NO_NOVA);
    assert_eq!(
        f.fix,
        "openstack segment host delete segment1 virt-node-02.maas"
    );
    // nova knows it by its short name: the fix renames the segment host.
    let mut v = clean();
    os(&mut v).services[1].host = "virt-node-02".into();
    assert_eq!(rules_of(&v), [COMPUTE_NOT_IN_SEGMENT, SEGMENT_HOST_NO_NOVA]);
    let f = check(&v)
        .into_iter()
        .find(|f| f.rule == SEGMENT_HOST_NO_NOVA)
        .expect("finding");
    assert_eq!(
        f.fix,
        "openstack segment host update --name virt-node-02 segment1 virt-node-02.maas"
    );
}

#[test]
fn the_walkthroughs_virt_node_10_without_its_host_map() {
    let mut v = clean();
    let dev = v
        .cib
        .stonith
        .iter_mut()
        .find(|d| d.id == "fence_compute_masakari")
        .expect("device");
    dev.params.remove("pcmk_host_map");
    let f = only(&v, SEGMENT_HOST_NO_NODE);
    assert_eq!(f.subject, "virt-node-10.maas");
    assert!(
        f.problem
            .contains("node virt-node-10 differs only by its domain"),
        "{}",
        f.problem
    );
    assert_eq!(
        f.fix,
        "crm_resource --resource fence_compute_masakari --set-parameter pcmk_host_map --parameter-value virt-node-10:virt-node-10.maas"
    );
}

#[test]
fn a_segment_host_with_no_pacemaker_node() {
    let mut v = clean();
    os(&mut v).segments[0].1.push(Host {
        name: "virt-node-20.maas".into(),
        ..Host::default()
    });
    os(&mut v).services.push(NovaService {
        host: "virt-node-20.maas".into(),
        state: "up".into(),
        status: "enabled".into(),
        ..NovaService::default()
    });
    let f = only(&v, SEGMENT_HOST_NO_NODE);
    assert!(f
        .fix
        .starts_with("crm configure primitive virt-node-20.maas ocf:pacemaker:remote"));
}

#[test]
fn a_compute_host_in_no_segment() {
    let mut v = clean();
    os(&mut v).segments[0]
        .1
        .retain(|h| h.name != "virt-node-01.maas");
    let f = only(&v, COMPUTE_NOT_IN_SEGMENT);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.fix,
        "openstack segment host create virt-node-01.maas COMPUTE SSH segment1"
    );
}

fn reserved_host_segment() -> View {
    let mut v = clean();
    os(&mut v).segments[0].0.recovery_method = "reserved_host".into();
    os(&mut v).segments[0].1[2].reserved = true;
    os(&mut v).services[2].status = "disabled".into();
    v
}

#[test]
fn reserved_hosts() {
    assert_eq!(check(&reserved_host_segment()), []);
    let mut v = reserved_host_segment();
    os(&mut v).services[2].status = "enabled".into();
    let f = only(&v, RESERVED_HOST_ENABLED);
    assert!(f.fix.starts_with("openstack compute service set --disable"));

    // Masakari used the reserved host: none left.
    let mut v = reserved_host_segment();
    os(&mut v).segments[0].1[2].reserved = false;
    let f = only(&v, NO_RESERVED_HOST_LEFT);
    assert_eq!(
        f.fix,
        "openstack segment host update --reserved True segment1 virt-node-01.maas"
    );
    // A reserved host on maintenance is no reserve either.
    let mut v = reserved_host_segment();
    os(&mut v).segments[0].1[2].on_maintenance = true;
    os(&mut v).services[2].state = "down".into();
    only(&v, NO_RESERVED_HOST_LEFT);
}

#[test]
fn a_host_left_on_maintenance_or_forced_down() {
    let mut v = clean();
    os(&mut v).segments[0].1[0].on_maintenance = true;
    let f = only(&v, LEFT_ON_MAINTENANCE);
    assert_eq!(
        f.fix,
        "openstack segment host update --on_maintenance False segment1 virt-node-01.maas"
    );
    // Still down: maintenance is right.
    let mut v = clean();
    os(&mut v).segments[0].1[0].on_maintenance = true;
    os(&mut v).services[0].state = "down".into();
    v.cib.online.insert("virt-node-01.maas".into(), false);
    assert_eq!(check(&v), []);

    let mut v = clean();
    os(&mut v).services[2].forced_down = true;
    os(&mut v).services[2].state = "down".into();
    let f = only(&v, LEFT_FORCED_DOWN);
    assert_eq!(
        f.fix,
        "openstack --os-compute-api-version 2.53 compute service set --up virt-node-10.maas nova-compute"
    );
    v.cib.online.insert("virt-node-10".into(), false);
    assert_eq!(check(&v), [], "fenced and still off: forced_down is right");
}

#[test]
fn an_auto_segment_too_small_for_its_biggest_host() {
    let mut v = clean();
    // 3000 MiB of instances on virt-node-01; the others have 3584 MiB free each.
    os(&mut v).hypervisors[0].memory_mb_used = 3512;
    os(&mut v).hypervisors[0].running_vms = 3;
    assert_eq!(check(&v), []);
    os(&mut v).segments[0].1[1].on_maintenance = true;
    os(&mut v).services[1].state = "down".into();
    v.cib.online.insert("virt-node-02.maas".into(), false);
    assert_eq!(
        check(&v),
        [],
        "one usable host with 3584 MiB free still takes 3000"
    );
    os(&mut v).hypervisors[2].memory_mb_used = 1536;
    os(&mut v).hypervisors[2].running_vms = 1;
    let f = only(&v, AUTO_SEGMENT_CAPACITY);
    assert!(f.problem.contains("3000 MiB"), "{}", f.problem);
}

#[test]
fn masakari_hostmonitor_beside_fence_masakari() {
    let note = |event: &str, host_status: &str| {
        ListedNotification {
        notification_uuid: "n1".into(),
        kind: "COMPUTE_HOST".into(),
        payload: serde_json::json!({"event": event, "host_status": host_status, "cluster_status": "OFFLINE"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..ListedNotification::default()
    }
    };
    let mut v = clean();
    os(&mut v).notifications.push(note("STOPPED", "NORMAL"));
    assert_eq!(check(&v), [], "what fence_masakari sends");
    os(&mut v).notifications.push(note("STARTED", "NORMAL"));
    let f = only(&v, HOSTMONITOR_BESIDE_FENCE_MASAKARI);
    assert!(f
        .fix
        .starts_with("systemctl disable --now masakari-hostmonitor"));
    let mut v = clean();
    os(&mut v).notifications.push(note("STOPPED", "UNKNOWN"));
    only(&v, HOSTMONITOR_BESIDE_FENCE_MASAKARI);
    let mut v = clean();
    v.hostmonitor_process = true;
    only(&v, HOSTMONITOR_BESIDE_FENCE_MASAKARI);
    // Without fence_masakari, hostmonitor is the notifier: nothing to say.
    v.cib.stonith.retain(|d| d.agent != MASAKARI_AGENT);
    v.cib.levels.iter_mut().for_each(|l| l.devices.truncate(1));
    v.openstack = None;
    assert_eq!(check(&v), []);
}

#[test]
fn openstack_unreachable() {
    let mut v = clean();
    v.openstack = None;
    v.openstack_failure = Some((
        "fence_compute_masakari".into(),
        "keystone http://10.77.0.250:5000/v3/auth/tokens: connection refused".into(),
    ));
    only(&v, OPENSTACK_UNREACHABLE);
}

#[test]
fn host_map_and_quoting() {
    assert_eq!(
        host_map("a:1;b=2 c:3,4"),
        [
            ("a".to_string(), "1".to_string()),
            ("b".into(), "2".into()),
            ("c".into(), "3,4".into())
        ]
    );
    assert_eq!(
        quote("virt-node-10:virt-node-10.maas"),
        "virt-node-10:virt-node-10.maas"
    );
    assert_eq!(quote("a;b"), "'a;b'");
    assert_eq!(quote("it's"), r"'it'\''s'");
}

#[test]
fn every_rule_has_a_test_that_breaks_it() {
    let this = include_str!("tests.rs");
    for r in RULES {
        let name = r.id.to_uppercase().replace('-', "_");
        assert!(
            this.matches(&name).count() >= 1,
            "rule {} is never broken in the tests",
            r.id
        );
    }
}
