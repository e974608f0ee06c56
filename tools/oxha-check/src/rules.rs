//! The rules: what a consistent instance-HA cluster looks like, checked on a [`View`] of it
//! (the CIB, MAAS as fence_maas sees it, nova, Masakari), each mismatch a [`Finding`] with the
//! command that fixes it. Pure functions of the view: the unit tests fabricate views, the
//! OpenStack suite reads real ones.

use ocf_lib::cib::{Cib, FencingLevel, LevelTarget};
use oxha_maas_api::Machine;
use oxha_masakari_api::masakari::{Host, ListedNotification, Segment};
use oxha_masakari_api::nova::{Hypervisor, NovaService};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A rule as the man page and `--json` name it.
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

pub const NO_FENCING_LEVEL: &str = "no-fencing-level";
pub const NO_POWER_BEFORE_MASAKARI: &str = "no-power-before-masakari";
pub const UNKNOWN_LEVEL_DEVICE: &str = "unknown-level-device";
pub const MAAS_UNREACHABLE: &str = "maas-unreachable";
pub const MAAS_NO_SINGLE_MACHINE: &str = "maas-no-single-machine";
pub const MAAS_NOT_DEPLOYED: &str = "maas-not-deployed";
pub const MAAS_MANUAL_POWER: &str = "maas-manual-power";
pub const OPENSTACK_UNREACHABLE: &str = "openstack-unreachable";
pub const SEGMENT_HOST_NO_NOVA: &str = "segment-host-no-nova";
pub const SEGMENT_HOST_NO_NODE: &str = "segment-host-no-node";
pub const COMPUTE_NOT_IN_SEGMENT: &str = "compute-not-in-segment";
pub const RESERVED_HOST_ENABLED: &str = "reserved-host-enabled";
pub const LEFT_ON_MAINTENANCE: &str = "left-on-maintenance";
pub const LEFT_FORCED_DOWN: &str = "left-forced-down";
pub const NO_RESERVED_HOST_LEFT: &str = "no-reserved-host-left";
pub const AUTO_SEGMENT_CAPACITY: &str = "auto-segment-capacity";
pub const HOSTMONITOR_BESIDE_FENCE_MASAKARI: &str = "hostmonitor-beside-fence-masakari";

/// Every rule, once: the man page's RULES section and the tests are checked against it.
pub static RULES: &[Rule] = &[
    Rule {
        id: NO_FENCING_LEVEL,
        severity: Severity::Error,
        summary: "a Pacemaker remote node has no fencing level",
    },
    Rule {
        id: NO_POWER_BEFORE_MASAKARI,
        severity: Severity::Error,
        summary: "a fencing level runs fence_masakari without a power device before it",
    },
    Rule {
        id: UNKNOWN_LEVEL_DEVICE,
        severity: Severity::Error,
        summary: "a fencing level names a device the CIB does not have",
    },
    Rule {
        id: MAAS_UNREACHABLE,
        severity: Severity::Error,
        summary: "a fence_maas device cannot read MAAS with its own parameters",
    },
    Rule {
        id: MAAS_NO_SINGLE_MACHINE,
        severity: Severity::Error,
        summary: "a node's fence_maas plug names no MAAS machine, or several",
    },
    Rule {
        id: MAAS_NOT_DEPLOYED,
        severity: Severity::Error,
        summary: "a node's MAAS machine is not Deployed",
    },
    Rule {
        id: MAAS_MANUAL_POWER,
        severity: Severity::Error,
        summary: "a node's MAAS machine has the manual power type",
    },
    Rule {
        id: OPENSTACK_UNREACHABLE,
        severity: Severity::Error,
        summary:
            "keystone, nova or Masakari cannot be read with the fence_masakari device's parameters",
    },
    Rule {
        id: SEGMENT_HOST_NO_NOVA,
        severity: Severity::Error,
        summary: "a Masakari segment host has no nova-compute service of that name",
    },
    Rule {
        id: SEGMENT_HOST_NO_NODE,
        severity: Severity::Error,
        summary: "a Masakari segment host has no Pacemaker node mapped to it",
    },
    Rule {
        id: COMPUTE_NOT_IN_SEGMENT,
        severity: Severity::Warning,
        summary: "a nova compute host is in no Masakari segment",
    },
    Rule {
        id: RESERVED_HOST_ENABLED,
        severity: Severity::Warning,
        summary: "a reserved host is enabled in nova",
    },
    Rule {
        id: LEFT_ON_MAINTENANCE,
        severity: Severity::Warning,
        summary: "a host is still on maintenance in Masakari after it came back",
    },
    Rule {
        id: LEFT_FORCED_DOWN,
        severity: Severity::Warning,
        summary: "a host is still forced_down in nova after it came back",
    },
    Rule {
        id: NO_RESERVED_HOST_LEFT,
        severity: Severity::Error,
        summary: "a reserved_host segment has no usable reserved host left",
    },
    Rule {
        id: AUTO_SEGMENT_CAPACITY,
        severity: Severity::Warning,
        summary: "an auto segment cannot take its biggest host's instances",
    },
    Rule {
        id: HOSTMONITOR_BESIDE_FENCE_MASAKARI,
        severity: Severity::Error,
        summary:
            "masakari-hostmonitor reports hosts while fence_masakari notifies (double reports)",
    },
];

pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("rule {id} is not in RULES"))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    /// What it is about: a node, a host, a device, a segment.
    pub subject: String,
    pub problem: String,
    /// The command that fixes it; an UPPER_CASE word is a placeholder for what only the
    /// operator knows (a MAAS CLI profile, a BMC address), never shell syntax.
    pub fix: String,
}

fn finding(id: &'static str, subject: &str, problem: String, fix: String) -> Finding {
    Finding {
        severity: rule(id).severity,
        rule: id,
        subject: subject.to_string(),
        problem,
        fix,
    }
}

/// What fence_maas sees of one node: the plug it would be given and the machine it resolves
/// to (fence_maas's own resolution), or why there is not exactly one.
#[derive(Clone, Debug)]
pub struct MaasLookup {
    pub device: String,
    pub node: String,
    pub plug: String,
    pub machine: Result<Machine, String>,
}

/// nova and Masakari, read with a fence_masakari device's connection parameters.
#[derive(Clone, Debug, Default)]
pub struct OpenStackView {
    pub services: Vec<NovaService>,
    pub hypervisors: Vec<Hypervisor>,
    pub segments: Vec<(Segment, Vec<Host>)>,
    /// Recent COMPUTE_HOST notifications.
    pub notifications: Vec<ListedNotification>,
}

#[derive(Clone, Debug, Default)]
pub struct View {
    pub cib: Cib,
    pub maas: Vec<MaasLookup>,
    /// fence_maas devices that could not be used at all (device id, why).
    pub maas_failures: Vec<(String, String)>,
    pub openstack: Option<OpenStackView>,
    /// Why nova and Masakari could not be read (device id, why).
    pub openstack_failure: Option<(String, String)>,
    /// A masakari-hostmonitor process runs where oxha-check runs.
    pub hostmonitor_process: bool,
}

/// Agents that notify or do nothing: never the power device a fence_masakari level needs.
/// (fence_masakari itself refuses stricter: only agents known to confirm power off.)
pub const NOT_POWER: &[&str] = &[
    "fence_masakari",
    "fence_compute",
    "fence_evacuate",
    "fence_dummy",
    "fence_heuristics_ping",
    "null",
    "external/ssh",
    "ssh",
];

pub const MASAKARI_AGENT: &str = "fence_masakari";
pub const MAAS_AGENT: &str = "fence_maas";

/// `pcmk_host_map` (`node:plug;node2:plug2`, `=` for `:`, spaces or `;` between entries).
pub fn host_map(value: &str) -> Vec<(String, String)> {
    value
        .split(|c: char| c == ';' || c.is_whitespace())
        .filter_map(|entry| {
            let (node, plug) = entry.split_once([':', '='])?;
            (!node.is_empty() && !plug.is_empty()).then(|| (node.to_string(), plug.to_string()))
        })
        .collect()
}

/// `pcmk_host_list` (space, comma or `;` separated).
pub fn host_list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The plug a device is given for `node`: its `pcmk_host_map` entry, else the node name.
pub fn plug_for(cib: &Cib, device: &str, node: &str) -> String {
    cib.device(device)
        .and_then(|d| d.params.get("pcmk_host_map"))
        .and_then(|m| {
            host_map(m)
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(node))
                .map(|(_, p)| p)
        })
        .unwrap_or_else(|| node.to_string())
}

/// Every node name the CIB knows: the `nodes` section and the remote node resources.
pub fn all_nodes(cib: &Cib) -> Vec<String> {
    let mut names: Vec<String> = cib.nodes.iter().map(|n| n.uname.clone()).collect();
    for r in &cib.remote_nodes {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(r)) {
            names.push(r.clone());
        }
    }
    names
}

fn level_matches(cib: &Cib, level: &FencingLevel, node: &str) -> bool {
    match &level.target {
        LevelTarget::Name(n) => n.eq_ignore_ascii_case(node),
        LevelTarget::Pattern(p) => regex::Regex::new(p).is_ok_and(|r| r.is_match(node)),
        LevelTarget::Attribute { name, value } => cib
            .node(node)
            .and_then(|n| n.attributes.get(name))
            .is_some_and(|v| v == value),
    }
}

/// The levels the fencer uses for `node`: those naming it, else those whose pattern or
/// attribute matches it (as pacemaker-fenced picks them).
pub fn levels_for<'a>(cib: &'a Cib, node: &str) -> Vec<&'a FencingLevel> {
    let by_name: Vec<&FencingLevel> = cib
        .levels
        .iter()
        .filter(|l| matches!(&l.target, LevelTarget::Name(n) if n.eq_ignore_ascii_case(node)))
        .collect();
    if !by_name.is_empty() {
        return by_name;
    }
    cib.levels
        .iter()
        .filter(|l| !matches!(l.target, LevelTarget::Name(_)) && level_matches(cib, l, node))
        .collect()
}

fn is_power(cib: &Cib, device: &str) -> bool {
    cib.device(device)
        .is_some_and(|d| !NOT_POWER.contains(&d.agent.as_str()))
}

fn devices_of<'a>(cib: &'a Cib, agent: &str) -> Vec<&'a str> {
    cib.stonith
        .iter()
        .filter(|d| d.agent == agent)
        .map(|d| d.id.as_str())
        .collect()
}

/// A device of `agent` whose host list or map names `node`, else the first one.
fn device_for(cib: &Cib, agent: &str, node: &str) -> Option<String> {
    let candidates: Vec<_> = cib.stonith.iter().filter(|d| d.agent == agent).collect();
    candidates
        .iter()
        .find(|d| {
            let listed = d
                .params
                .get("pcmk_host_list")
                .is_some_and(|l| host_list(l).iter().any(|n| n.eq_ignore_ascii_case(node)));
            let mapped = d.params.get("pcmk_host_map").is_some_and(|m| {
                host_map(m)
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(node))
            });
            listed || mapped
        })
        .or(candidates.first())
        .map(|d| d.id.clone())
}

/// Shell-quotes a word for a fix command (single quotes unless it is plain).
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=@+".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn set_param_fix(device: &str, name: &str, value: &str) -> String {
    format!(
        "crm_resource --resource {} --set-parameter {name} --parameter-value {}",
        quote(device),
        quote(value)
    )
}

/// A device's `pcmk_host_map` with `node:plug` added (or replacing the node's entry).
fn map_with(cib: &Cib, device: &str, node: &str, plug: &str) -> String {
    let mut entries: Vec<(String, String)> = cib
        .device(device)
        .and_then(|d| d.params.get("pcmk_host_map"))
        .map(|m| host_map(m))
        .unwrap_or_default();
    entries.retain(|(n, _)| !n.eq_ignore_ascii_case(node));
    entries.push((node.to_string(), plug.to_string()));
    entries
        .iter()
        .map(|(n, p)| format!("{n}:{p}"))
        .collect::<Vec<_>>()
        .join(";")
}

pub fn check(view: &View) -> Vec<Finding> {
    let mut out = Vec::new();
    fencing(view, &mut out);
    maas(view, &mut out);
    openstack(view, &mut out);
    hostmonitor(view, &mut out);
    out
}

fn fencing(view: &View, out: &mut Vec<Finding>) {
    let cib = &view.cib;
    for node in &cib.remote_nodes {
        if !levels_for(cib, node).is_empty() {
            continue;
        }
        let mut devices: Vec<String> = Vec::new();
        devices.push(device_for(cib, MAAS_AGENT, node).unwrap_or_else(|| "POWER_DEVICE".into()));
        if let Some(m) = device_for(cib, MASAKARI_AGENT, node) {
            devices.push(m);
        }
        out.push(finding(
            NO_FENCING_LEVEL,
            node,
            format!("remote node {node} has no fencing level: the fencer would use any capable device alone, and Masakari would not be told"),
            format!(
                "cibadmin --create --scope fencing-topology --xml-text {}",
                quote(&format!(
                    "<fencing-level id=\"fl-{node}-1\" index=\"1\" target=\"{node}\" devices=\"{}\"/>",
                    devices.join(",")
                ))
            ),
        ));
    }
    for level in &cib.levels {
        for d in &level.devices {
            if cib.device(d).is_none() {
                out.push(finding(
                    UNKNOWN_LEVEL_DEVICE,
                    &level.id,
                    format!("fencing level {} names device {d}, which the CIB does not have: the level always fails", level.id),
                    format!(
                        "cibadmin --modify --xml-text {}",
                        quote(&format!(
                            "<fencing-level id=\"{}\" devices=\"{}\"/>",
                            level.id,
                            level.devices.iter().filter(|x| cib.device(x).is_some()).cloned().collect::<Vec<_>>().join(",")
                        ))
                    ),
                ));
            }
        }
        let Some(first_masakari) = level
            .devices
            .iter()
            .position(|d| cib.device(d).is_some_and(|dev| dev.agent == MASAKARI_AGENT))
        else {
            continue;
        };
        if level.devices[..first_masakari]
            .iter()
            .any(|d| is_power(cib, d))
        {
            continue;
        }
        let node = match &level.target {
            LevelTarget::Name(n) => n.clone(),
            _ => String::new(),
        };
        let power = device_for(cib, MAAS_AGENT, &node)
            .or_else(|| {
                cib.stonith
                    .iter()
                    .find(|d| !NOT_POWER.contains(&d.agent.as_str()))
                    .map(|d| d.id.clone())
            })
            .unwrap_or_else(|| "POWER_DEVICE".into());
        // The level's own power devices first, else the one that fences this node.
        let (mut devices, rest): (Vec<String>, Vec<String>) = level
            .devices
            .iter()
            .cloned()
            .partition(|d| is_power(cib, d));
        if devices.is_empty() {
            devices.push(power);
        }
        devices.extend(rest);
        out.push(finding(
            NO_POWER_BEFORE_MASAKARI,
            &level.id,
            format!(
                "fencing level {} ({}) runs {} with no power device before it: Masakari would hear of a host nobody powered off (fence_masakari refuses to act)",
                level.id,
                level.devices.join(","),
                level.devices[first_masakari]
            ),
            format!(
                "cibadmin --modify --xml-text {}",
                quote(&format!(
                    "<fencing-level id=\"{}\" devices=\"{}\"/>",
                    level.id,
                    devices.join(",")
                ))
            ),
        ));
    }
}

fn maas(view: &View, out: &mut Vec<Finding>) {
    for (device, why) in &view.maas_failures {
        out.push(finding(
            MAAS_UNREACHABLE,
            device,
            format!("fence_maas device {device}: {why}"),
            format!(
                "crm_resource --resource {0} --set-parameter maas_url --parameter-value MAAS_URL   # or its key (api_key_file); then: stonith_admin --query {0}",
                quote(device)
            ),
        ));
    }
    for l in &view.maas {
        match &l.machine {
            Err(why) => {
                let value = map_with(&view.cib, &l.device, &l.node, "MAAS_HOSTNAME_OR_SYSTEM_ID");
                out.push(finding(
                    MAAS_NO_SINGLE_MACHINE,
                    &l.node,
                    format!("node {} (plug {} of {}): {why}", l.node, l.plug, l.device),
                    set_param_fix(&l.device, "pcmk_host_map", &value),
                ));
            }
            Ok(m) => {
                if m.status_name != "Deployed" {
                    out.push(finding(
                        MAAS_NOT_DEPLOYED,
                        &l.node,
                        format!(
                            "node {}: MAAS machine {} ({}) is '{}', not Deployed: fence_maas will not power it on again",
                            l.node, m.hostname, m.system_id, m.status_name
                        ),
                        format!("maas PROFILE machine deploy {}", m.system_id),
                    ));
                }
                if m.power_type == "manual" {
                    out.push(finding(
                        MAAS_MANUAL_POWER,
                        &l.node,
                        format!(
                            "node {}: MAAS machine {} ({}) has the manual power type: MAAS cannot power it off, fencing it always fails",
                            l.node, m.hostname, m.system_id
                        ),
                        format!(
                            "maas PROFILE machine update {} power_type=ipmi power_parameters_power_address=BMC_ADDRESS power_parameters_power_user=BMC_USER power_parameters_power_pass=BMC_PASSWORD",
                            m.system_id
                        ),
                    ));
                }
            }
        }
    }
}

/// The Masakari host name of each Pacemaker node: the fence_masakari device's plug for it.
fn masakari_names(cib: &Cib) -> Vec<(String, String)> {
    let device = devices_of(cib, MASAKARI_AGENT)
        .first()
        .map(|d| d.to_string());
    all_nodes(cib)
        .into_iter()
        .map(|n| {
            let host = match &device {
                Some(d) => plug_for(cib, d, &n),
                None => n.clone(),
            };
            (n, host)
        })
        .collect()
}

fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn openstack(view: &View, out: &mut Vec<Finding>) {
    if let Some((device, why)) = &view.openstack_failure {
        out.push(finding(
            OPENSTACK_UNREACHABLE,
            device,
            format!("nova and Masakari could not be read with the parameters of {device}: {why}"),
            format!(
                "crm_resource --resource {0} --set-parameter auth_url --parameter-value KEYSTONE_URL   # or its credentials; then: stonith_admin --query {0}",
                quote(device)
            ),
        ));
    }
    let Some(os) = &view.openstack else { return };
    let cib = &view.cib;
    let names = masakari_names(cib);
    let masakari_device = devices_of(cib, MASAKARI_AGENT)
        .first()
        .map(|d| d.to_string());
    let service = |host: &str| os.services.iter().find(|s| s.host == host);
    let node_of = |host: &str| {
        names
            .iter()
            .find(|(_, h)| h.eq_ignore_ascii_case(host))
            .map(|(n, _)| n.clone())
    };
    for (seg, hosts) in &os.segments {
        for h in hosts {
            if service(&h.name).is_none() {
                let nova_twin = os
                    .services
                    .iter()
                    .find(|s| short(&s.host).eq_ignore_ascii_case(short(&h.name)));
                let fix = match nova_twin {
                    Some(s) => format!(
                        "openstack segment host update --name {} {} {}",
                        quote(&s.host),
                        quote(&seg.name),
                        quote(&h.name)
                    ),
                    None => format!(
                        "openstack segment host delete {} {}",
                        quote(&seg.name),
                        quote(&h.name)
                    ),
                };
                out.push(finding(
                    SEGMENT_HOST_NO_NOVA,
                    &h.name,
                    format!(
                        "segment {} host {}: nova has no nova-compute service of that name, so Masakari cannot evacuate it",
                        seg.name, h.name
                    ),
                    fix,
                ));
            }
            if node_of(&h.name).is_none() {
                // The walkthrough's own mismatch: Pacemaker knows virt-node-10, nova and
                // Masakari know virt-node-10.maas.
                let twin = all_nodes(cib)
                    .into_iter()
                    .find(|n| short(n).eq_ignore_ascii_case(short(&h.name)));
                let (problem, fix) = match (&twin, &masakari_device) {
                    (Some(node), Some(device)) => (
                        format!(
                            "segment {} host {}: no Pacemaker node maps to it; node {node} differs only by its domain and {device} has no pcmk_host_map entry for it, so fence_masakari would report '{node}', a host Masakari does not know",
                            seg.name, h.name
                        ),
                        set_param_fix(device, "pcmk_host_map", &map_with(cib, device, node, &h.name)),
                    ),
                    _ => (
                        format!(
                            "segment {} host {}: no Pacemaker node maps to it, so nobody fences it or tells Masakari it failed",
                            seg.name, h.name
                        ),
                        format!(
                            "crm configure primitive {} ocf:pacemaker:remote params server=ADDRESS op monitor interval=30s",
                            quote(&h.name)
                        ),
                    ),
                };
                out.push(finding(SEGMENT_HOST_NO_NODE, &h.name, problem, fix));
            }
        }
        let usable_reserved = hosts.iter().any(|h| h.reserved && !h.on_maintenance);
        if matches!(
            seg.recovery_method.as_str(),
            "reserved_host" | "rh_priority"
        ) && !usable_reserved
        {
            let spare = hosts
                .iter()
                .find(|h| !h.on_maintenance)
                .map(|h| h.name.clone())
                .unwrap_or_else(|| "SPARE_HOST".into());
            out.push(finding(
                NO_RESERVED_HOST_LEFT,
                &seg.name,
                format!(
                    "segment {} ({}) has no reserved host that is not on maintenance: the next host failure has nowhere to go",
                    seg.name, seg.recovery_method
                ),
                format!(
                    "openstack segment host update --reserved True {} {}",
                    quote(&seg.name),
                    quote(&spare)
                ),
            ));
        }
        if matches!(seg.recovery_method.as_str(), "auto" | "auto_priority") {
            capacity(os, seg, hosts, out);
        }
        for h in hosts {
            let svc = service(&h.name);
            let node_online = node_of(&h.name).and_then(|n| {
                cib.online
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&n))
                    .map(|(_, v)| *v)
            });
            if h.reserved && svc.is_some_and(|s| s.status == "enabled") {
                out.push(finding(
                    RESERVED_HOST_ENABLED,
                    &h.name,
                    format!(
                        "segment {} host {} is reserved but enabled in nova: the scheduler fills the spare capacity",
                        seg.name, h.name
                    ),
                    format!(
                        "openstack compute service set --disable --disable-reason 'Masakari reserved host' {} nova-compute",
                        quote(&h.name)
                    ),
                ));
            }
            let back = svc.is_some_and(|s| s.state == "up" && !s.forced_down)
                && node_online != Some(false);
            if h.on_maintenance && back {
                out.push(finding(
                    LEFT_ON_MAINTENANCE,
                    &h.name,
                    format!(
                        "segment {} host {} is on maintenance while nova-compute is up{}: Masakari ignores its next failure",
                        seg.name,
                        h.name,
                        if node_online == Some(true) { " and its Pacemaker node online" } else { "" }
                    ),
                    format!(
                        "openstack segment host update --on_maintenance False {} {}",
                        quote(&seg.name),
                        quote(&h.name)
                    ),
                ));
            }
            if svc.is_some_and(|s| s.forced_down) && node_online == Some(true) {
                out.push(finding(
                    LEFT_FORCED_DOWN,
                    &h.name,
                    format!(
                        "{} is forced_down in nova while its Pacemaker node is online: nova schedules nothing there and reports it down",
                        h.name
                    ),
                    format!("openstack --os-compute-api-version 2.53 compute service set --up {} nova-compute", quote(&h.name)),
                ));
            }
        }
    }
    for s in &os.services {
        let in_segment = os
            .segments
            .iter()
            .any(|(_, hosts)| hosts.iter().any(|h| h.name == s.host));
        if !in_segment {
            let segment = os
                .segments
                .first()
                .map(|(seg, _)| seg.name.clone())
                .unwrap_or_else(|| "SEGMENT".into());
            out.push(finding(
                COMPUTE_NOT_IN_SEGMENT,
                &s.host,
                format!(
                    "nova compute host {} is in no Masakari segment: its instances are not recovered when it fails",
                    s.host
                ),
                format!(
                    "openstack segment host create {} COMPUTE SSH {}",
                    quote(&s.host),
                    quote(&segment)
                ),
            ));
        }
    }
}

/// An `auto` segment evacuates a failed host's instances onto its other hosts: their free
/// memory must take the biggest host's instances. The instances' memory is a hypervisor's
/// `memory_mb_used` less what the host keeps for itself (`reserved_host_memory_mb`, which
/// nova counts as used), taken as the smallest `memory_mb_used` of a hypervisor running no
/// instance (0 when every one runs some). Memory only, allocation ratio 1: a warning.
fn capacity(os: &OpenStackView, seg: &Segment, hosts: &[Host], out: &mut Vec<Finding>) {
    let hyper = |host: &str| {
        os.hypervisors
            .iter()
            .find(|h| h.service.host == host || h.hypervisor_hostname == host)
    };
    let reserve = os
        .hypervisors
        .iter()
        .filter(|h| h.running_vms == 0)
        .map(|h| h.memory_mb_used)
        .min()
        .unwrap_or(0);
    let usable = |h: &Host| {
        !h.on_maintenance
            && os
                .services
                .iter()
                .find(|s| s.host == h.name)
                .is_some_and(|s| s.status == "enabled" && s.state == "up" && !s.forced_down)
    };
    let biggest = hosts
        .iter()
        .filter_map(|h| hyper(&h.name).map(|hv| (h, hv.memory_mb_used.saturating_sub(reserve))))
        .max_by_key(|(_, need)| *need);
    let Some((big, need)) = biggest else { return };
    if need == 0 {
        return;
    }
    let free: u64 = hosts
        .iter()
        .filter(|h| h.name != big.name && usable(h))
        .filter_map(|h| hyper(&h.name))
        .map(|hv| hv.memory_mb.saturating_sub(hv.memory_mb_used))
        .sum();
    if free < need {
        out.push(finding(
            AUTO_SEGMENT_CAPACITY,
            &seg.name,
            format!(
                "segment {} (auto): {} runs instances of {need} MiB, the other usable hosts have {free} MiB free: its evacuation would fail part-way",
                seg.name, big.name
            ),
            format!(
                "openstack segment host create COMPUTE_HOST COMPUTE SSH {}",
                quote(&seg.name)
            ),
        ));
    }
}

/// Is a COMPUTE_HOST notification one fence_masakari never sends? It only ever posts
/// `STOPPED` with `host_status NORMAL`; masakari-hostmonitor also posts `STARTED` when a node
/// comes back, and `host_status UNKNOWN` when its IPMI check fails.
pub fn not_from_fence_masakari(n: &ListedNotification) -> bool {
    let field = |k: &str| n.payload.get(k).and_then(|v| v.as_str()).unwrap_or("");
    !(field("event").eq_ignore_ascii_case("STOPPED") && field("host_status") == "NORMAL")
}

fn hostmonitor(view: &View, out: &mut Vec<Finding>) {
    let Some(device) = devices_of(&view.cib, MASAKARI_AGENT)
        .first()
        .map(|d| d.to_string())
    else {
        return;
    };
    let foreign: Vec<&ListedNotification> = view
        .openstack
        .iter()
        .flat_map(|os| os.notifications.iter())
        .filter(|n| not_from_fence_masakari(n))
        .collect();
    let mut evidence = Vec::new();
    if view.hostmonitor_process {
        evidence.push("a masakari-hostmonitor process runs on this node".to_string());
    }
    if let Some(n) = foreign.first() {
        let field = |k: &str| {
            n.payload
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        evidence.push(format!(
            "Masakari holds {} COMPUTE_HOST notification(s) fence_masakari never sends (e.g. {} event {} host_status {} at {})",
            foreign.len(),
            n.notification_uuid,
            field("event"),
            field("host_status"),
            n.generated_time
        ));
    }
    if evidence.is_empty() {
        return;
    }
    out.push(finding(
        HOSTMONITOR_BESIDE_FENCE_MASAKARI,
        "masakari-hostmonitor",
        format!(
            "masakari-hostmonitor reports hosts beside {device}: {}; it reports any node Pacemaker sees offline, fenced or not, so Masakari gets every failure twice",
            evidence.join("; ")
        ),
        "systemctl disable --now masakari-hostmonitor   # on every compute host".into(),
    ));
}

#[cfg(test)]
mod tests;
