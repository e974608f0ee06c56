//! Why fence_masakari may say a host is off: only because a power device already did.
//!
//! fence_masakari powers nothing off. It must only ever run as a later device of a fencing
//! level whose earlier device is a power fence. That rests on how pacemaker-fenced runs a
//! topology (daemons/fenced/fenced_remote.c):
//!
//! * a target with fencing levels is fenced through its levels only, in index order; a target
//!   with none is fenced by any capable device, alone;
//! * the levels of a target come from one topology entry: the entry named after the node
//!   (names compared without case), else an entry whose pattern or attribute matches it;
//! * the devices of a level run one after the other, each only after the previous one
//!   succeeded: the first failure ends the level, and a device no node can run makes the
//!   fencer move on to the next level, never to the next device of the same level;
//! * a reboot through a level of several devices is run as off on each, then on on each, so
//!   what a device does for `off` is what counts.
//!
//! So if every level that applies to the target and holds a fence_masakari device has a power
//! device before it, reaching fence_masakari means that power device confirmed the target off.
//! fenced passes an agent the target (`nodename`) but not the device's own id, so the check
//! covers every fence_masakari device of the level; and it reads the same CIB fenced does.
//!
//! What a power device is, is decided on what its agent is known to do ([`POWER_AGENTS`]),
//! never on what it is not: an agent missing from the list is no power device unless the
//! operator names it in `extra_power_agents`.

use ocf_lib::cib::{Cib, FencingLevel, LevelTarget, StonithDevice};

/// Agents whose `off` succeeds only once the host is confirmed without power, or confirmed
/// dead. A device's agent is the `type` of its `class="stonith"` primitive: `fence_ipmilan`
/// for a fence-agents agent; for a cluster-glue plugin (`stonith:external/ipmi`,
/// `stonith:null`) the plugin's name, `external/ipmi` or `null`, which pacemaker-fenced runs
/// through its `fence_legacy` wrapper and cluster-glue's `stonith` command.
///
/// The fence-agents entries are fencing.py agents (their `off` sets the power off, then polls
/// the power status until it reads off, and fails otherwise) or equivalents:
/// * fence_ipmilan and its aliases, which are the same program (fence_ilo3/4/5, fence_imm,
///   fence_idrac, fence_ipmilanplus); fence_redfish; the iLO, DRAC, AMT and blade families;
/// * the PDUs that switch the host's outlets (fence_apc, fence_apc_snmp, fence_eaton_snmp,
///   fence_raritan, fence_cdu, fence_ipdu, ...): off only when every outlet of the host is
///   in the device, which is the PDU's own configuration rule;
/// * hypervisors and clouds that power the host's VM off (fence_virsh, fence_xvm,
///   fence_vmware_rest, fence_ironic, fence_openstack, ...);
/// * fence_sbd: `off` writes the poison pill and returns only after sbd's msgwait, by which
///   time the target's watchdog has reset it or it has killed itself;
/// * fence_kdump (borderline, kept): its `off` succeeds only on the message the target's
///   kdump kernel sends once it runs, that is once the kernel that ran the guests crashed;
///   it confirms the host dead without touching power, and fails (next level) otherwise.
///
/// Deliberately absent (see [`NOT_POWER`] for the reasons given to the operator): the
/// notifiers, fence_heuristics_ping, fence_dummy, cluster-glue's `null`, fabric fencing
/// (fence_scsi, fence_mpath, fence_ifmib, fence_brocade, fence_cisco_mds, fence_sanbox2:
/// they cut storage or network ports, the host keeps running its guests, and storage they
/// do not cover, Ceph or NFS, stays reachable), fence_ovh (boots the host into rescue mode),
/// and cluster-glue's `external/ipmi` (its off is the exit status of `ipmitool power off`,
/// never confirmed by a power status read, and its own description warns that ACPI may turn
/// that off into an orderly shutdown). charm-hacluster's `external/maas` is not in
/// cluster-glue and is not listed either: a site that relies on one of these names it in
/// `extra_power_agents`.
pub const POWER_AGENTS: &[&str] = &[
    // Ours: MAAS powers the machine off, fence_maas polls until MAAS reads it off.
    "fence_maas",
    // IPMI and the BMC families.
    "fence_ipmilan",
    "fence_ipmilanplus",
    "fence_ilo3",
    "fence_ilo4",
    "fence_ilo5",
    "fence_imm",
    "fence_idrac",
    "fence_redfish",
    "fence_ilo",
    "fence_ilo2",
    "fence_ilo_ssh",
    "fence_ilo3_ssh",
    "fence_ilo4_ssh",
    "fence_ilo5_ssh",
    "fence_ilo_moonshot",
    "fence_ilo_mp",
    "fence_drac",
    "fence_drac5",
    "fence_amt",
    "fence_rsa",
    "fence_rsb",
    "fence_alom",
    "fence_bladecenter",
    "fence_ibmblade",
    "fence_hpblade",
    "fence_cisco_ucs",
    "fence_intelmodular",
    // PDUs.
    "fence_apc",
    "fence_apc_snmp",
    "fence_eaton_snmp",
    "fence_emerson",
    "fence_eps",
    "fence_cdu",
    "fence_ipdu",
    "fence_lindypdu",
    "fence_netio",
    "fence_raritan",
    "fence_raritan_px3",
    "fence_tripplite_snmp",
    "fence_wti",
    "fence_cyberpower_ssh",
    "fence_powerman",
    // Hypervisors and clouds.
    "fence_virsh",
    "fence_xvm",
    "fence_virt",
    "fence_vbox",
    "fence_vmware",
    "fence_vmware_soap",
    "fence_vmware_rest",
    "fence_rhevm",
    "fence_pve",
    "fence_ironic",
    "fence_openstack",
    "fence_kubevirt",
    "fence_lpar",
    "fence_ldom",
    "fence_ibmz",
    "fence_aws",
    "fence_gce",
    "fence_azure_arm",
    "fence_aliyun",
    // Confirm the host dead rather than cut its power (see above).
    "fence_sbd",
    "fence_kdump",
];

/// Agents known not to power a host off, with why: the reason a refusal gives, and what
/// `extra_power_agents` may never name.
pub const NOT_POWER: &[(&str, &str)] = &[
    ("fence_masakari", "a notifier: it powers nothing off"),
    ("fence_compute", "a notifier: it marks the nova service down and powers nothing off"),
    ("fence_evacuate", "a notifier: it starts evacuations and powers nothing off"),
    ("null", "cluster-glue's null plugin: it reports success without touching any power"),
    ("fence_dummy", "a test agent: it powers nothing off"),
    ("fence_heuristics_ping", "not a fence agent by itself (its metadata): it only lets the next device of the level run"),
    ("fence_ack_manual", "an operator's acknowledgement tool, not a device"),
    ("fence_scsi", "fabric fencing: it removes the host's SCSI reservation keys, and the host keeps running its guests"),
    ("fence_mpath", "fabric fencing: it removes the host's multipath reservation keys, and the host keeps running its guests"),
    ("fence_ifmib", "fabric fencing: it disables a switch port, and the host keeps running its guests"),
    ("fence_brocade", "fabric fencing: it disables a switch port, and the host keeps running its guests"),
    ("fence_cisco_mds", "fabric fencing: it disables a switch port, and the host keeps running its guests"),
    ("fence_sanbox2", "fabric fencing: it disables a switch port, and the host keeps running its guests"),
];

/// The operator's own power agents (`extra_power_agents`): names separated by commas or
/// spaces, each a CIB agent type. A name known not to power anything off is refused.
pub fn parse_extra_power_agents(value: &str) -> Result<Vec<String>, String> {
    let mut agents = Vec::new();
    for name in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
    {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        {
            return Err(format!(
                "extra_power_agents: '{name}' is not an agent name (letters, digits, _ - . /)"
            ));
        }
        if let Some((_, why)) = NOT_POWER.iter().find(|(a, _)| *a == name) {
            return Err(format!(
                "extra_power_agents: '{name}' cannot be a power device: {why}"
            ));
        }
        agents.push(name.to_string());
    }
    Ok(agents)
}

/// What the guard knows beyond the CIB: the power agents the operator added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    pub extra_power_agents: Vec<String>,
}

/// How to configure it right, appended to every refusal.
const HOW: &str = "fence_masakari must come after the power device in the same fencing level, e.g. `pcs stonith level add 1 NODE <power-device> <masakari-device>` or crm `fencing_topology NODE: <power-device>,<masakari-device>`";

fn is_masakari(cib: &Cib, device: &str) -> bool {
    cib.device(device).map(|d| d.agent.as_str()) == Some("fence_masakari")
}

fn describe(level: &FencingLevel) -> String {
    let target = match &level.target {
        LevelTarget::Name(n) => n.clone(),
        LevelTarget::Pattern(p) => format!("pattern {p}"),
        LevelTarget::Attribute { name, value } => format!("attribute {name}={value}"),
    };
    format!("fencing level {} of {target}", level.index)
}

impl Guard {
    /// `Ok` if `device` is a power device: its agent is known (or declared) to confirm the
    /// host off, and its `off` is not mapped to another action. Otherwise why not.
    fn power_device(&self, cib: &Cib, device: &str) -> Result<(), String> {
        let Some(StonithDevice { agent, params, .. }) = cib.device(device) else {
            return Err(format!("'{device}' is no stonith device in the CIB"));
        };
        if let Some((_, why)) = NOT_POWER.iter().find(|(a, _)| a == agent) {
            return Err(format!("'{device}' ({agent}) is {why}"));
        }
        if !POWER_AGENTS.contains(&agent.as_str())
            && !self.extra_power_agents.iter().any(|a| a == agent)
        {
            return Err(format!(
                "'{device}' ({agent}) is not an agent known to confirm a host powered off; if it is one, name it in extra_power_agents"
            ));
        }
        // pcmk_off_action makes the fencer run another action where it asks for off (diag,
        // status, ...): its success would then say nothing about power.
        match params.get("pcmk_off_action").map(|a| a.trim()) {
            None | Some("off") => Ok(()),
            Some(other) => Err(format!(
                "'{device}' ({agent}) runs '{other}' for off (pcmk_off_action), which does not confirm the host off"
            )),
        }
    }

    /// The fence_masakari device a level would run without a power device confirming first,
    /// and why each device before it does not count.
    fn unguarded(&self, cib: &Cib, level: &FencingLevel) -> Option<(String, Vec<String>)> {
        let first = level.devices.iter().position(|d| is_masakari(cib, d))?;
        let mut why_not = Vec::new();
        for device in &level.devices[..first] {
            match self.power_device(cib, device) {
                Ok(()) => return None,
                Err(why) => why_not.push(why),
            }
        }
        Some((level.devices[first].clone(), why_not))
    }

    fn check_level(&self, cib: &Cib, level: &FencingLevel) -> Result<(), String> {
        match self.unguarded(cib, level) {
            None => Ok(()),
            Some((device, why_not)) => {
                let place = if level.devices.len() == 1 {
                    "alone"
                } else {
                    "before any power device"
                };
                let why = if why_not.is_empty() {
                    String::new()
                } else {
                    format!(" {};", why_not.join("; "))
                };
                Err(format!(
                    "{} runs fence_masakari device '{device}' {place} ({}): it would tell Masakari the host is down with nothing powered off;{why} {HOW}",
                    describe(level),
                    level.devices.join(",")
                ))
            }
        }
    }
}

/// Does a pattern or attribute level apply to `target`? `Err` if it cannot be told.
fn matches(cib: &Cib, level: &FencingLevel, target: &str) -> Result<bool, String> {
    match &level.target {
        LevelTarget::Name(n) => Ok(n.eq_ignore_ascii_case(target)),
        LevelTarget::Pattern(p) => regex::Regex::new(p)
            .map(|r| r.is_match(target))
            .map_err(|e| {
                format!(
                    "{}: cannot evaluate the pattern '{p}' ({e}); name the node instead",
                    describe(level)
                )
            }),
        LevelTarget::Attribute { name, value } => Ok(cib
            .node(target)
            .and_then(|n| n.attributes.get(name))
            .is_some_and(|v| v == value)),
    }
}

/// The levels the fencer may use for `target`: those of the entry named after it, else those
/// of every pattern or attribute entry matching it (the fencer picks one of them; each must
/// pass).
pub fn levels_for<'a>(cib: &'a Cib, target: &str) -> Result<Vec<&'a FencingLevel>, String> {
    let by_name: Vec<&FencingLevel> = cib
        .levels
        .iter()
        .filter(|l| matches!(&l.target, LevelTarget::Name(n) if n.eq_ignore_ascii_case(target)))
        .collect();
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    let mut found = Vec::new();
    for level in &cib.levels {
        if !matches!(level.target, LevelTarget::Name(_)) && matches(cib, level, target)? {
            found.push(level);
        }
    }
    Ok(found)
}

impl Guard {
    /// May fence_masakari act for `target`? Only when the fencer can reach a fence_masakari
    /// device for it solely through a power device that succeeded first.
    pub fn check_target(&self, cib: &Cib, target: &str) -> Result<(), String> {
        let levels = levels_for(cib, target)?;
        if levels.is_empty() {
            return Err(format!(
                "no fencing level applies to {target}: the fencer would run fence_masakari alone; {HOW}"
            ));
        }
        for level in &levels {
            self.check_level(cib, level)?;
        }
        if !levels
            .iter()
            .any(|l| l.devices.iter().any(|d| is_masakari(cib, d)))
        {
            return Err(format!(
                "no fencing level of {target} holds a fence_masakari device, so the fencer never runs one for it; {HOW}"
            ));
        }
        Ok(())
    }

    /// The whole configuration, for monitor and validate-all: every level holding a
    /// fence_masakari device has a power device before it, every fence_masakari device is in
    /// a level, and every host a fence_masakari device lists passes [`Guard::check_target`].
    pub fn check_all(&self, cib: &Cib) -> Result<(), String> {
        let devices: Vec<_> = cib
            .stonith
            .iter()
            .filter(|d| d.agent == "fence_masakari")
            .collect();
        if devices.is_empty() {
            return Err("the CIB has no fence_masakari device".into());
        }
        for level in &cib.levels {
            self.check_level(cib, level)?;
        }
        for device in devices {
            if !cib.levels.iter().any(|l| l.devices.contains(&device.id)) {
                return Err(format!(
                    "fence_masakari device '{}' is in no fencing level; {HOW}",
                    device.id
                ));
            }
            for host in listed_hosts(&device.params) {
                self.check_target(cib, &host)?;
            }
        }
        Ok(())
    }
}

/// The hosts a device names in `pcmk_host_list` or `pcmk_host_map`.
fn listed_hosts(params: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut hosts: Vec<String> = params
        .get("pcmk_host_list")
        .map(|l| {
            l.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(map) = params.get("pcmk_host_map") {
        for pair in map.split(|c: char| c.is_whitespace() || c == ';' || c == ',') {
            if let Some((host, _)) = pair.split_once(':') {
                if !host.is_empty() {
                    hosts.push(host.to_string());
                }
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocf_lib::cib::parse;

    fn check_target(cib: &Cib, target: &str) -> Result<(), String> {
        Guard::default().check_target(cib, target)
    }

    fn check_all(cib: &Cib) -> Result<(), String> {
        Guard::default().check_all(cib)
    }

    /// A CIB with a power device `maas`, notifiers `masakari` and `nova`, and `levels`.
    fn cib(levels: &str) -> Cib {
        parse(&format!(
            r#"<cib><configuration>
<nodes><node id="1" uname="node1"/><node id="9" uname="compute-3"><instance_attributes id="a"><nvpair id="a1" name="role" value="compute"/></instance_attributes></node></nodes>
<resources>
  <primitive id="maas" class="stonith" type="fence_maas"/>
  <primitive id="ipmi" class="stonith" type="fence_ipmilan"/>
  <primitive id="masakari" class="stonith" type="fence_masakari">
    <instance_attributes id="m"><nvpair id="m1" name="pcmk_host_list" value="compute-1 compute-2"/></instance_attributes>
  </primitive>
  <primitive id="nova" class="stonith" type="fence_compute"/>
  {more}
</resources>
<fencing-topology>{levels}</fencing-topology>
</configuration></cib>"#,
            more = MORE_DEVICES
        ))
        .expect("fixture parses")
    }

    /// One device per kind of agent the guard must tell apart, as the CIB holds them.
    const MORE_DEVICES: &str = r#"
  <primitive id="redfish" class="stonith" type="fence_redfish"/>
  <primitive id="ilo4" class="stonith" type="fence_ilo4"/>
  <primitive id="idrac" class="stonith" type="fence_idrac"/>
  <primitive id="virsh" class="stonith" type="fence_virsh"/>
  <primitive id="xvm" class="stonith" type="fence_xvm"/>
  <primitive id="apc" class="stonith" type="fence_apc"/>
  <primitive id="apc-snmp" class="stonith" type="fence_apc_snmp"/>
  <primitive id="sbd" class="stonith" type="fence_sbd"/>
  <primitive id="kdump" class="stonith" type="fence_kdump"/>
  <primitive id="ipmi-off" class="stonith" type="fence_ipmilan"><instance_attributes id="o"><nvpair id="o1" name="pcmk_off_action" value="off"/></instance_attributes></primitive>
  <primitive id="st-null" class="stonith" type="null"><instance_attributes id="n"><nvpair id="n1" name="hostlist" value="compute-1"/></instance_attributes></primitive>
  <primitive id="heuristics" class="stonith" type="fence_heuristics_ping"><instance_attributes id="h"><nvpair id="h1" name="ping_targets" value="10.0.0.1"/></instance_attributes></primitive>
  <primitive id="dummy" class="stonith" type="fence_dummy"/>
  <primitive id="scsi" class="stonith" type="fence_scsi"/>
  <primitive id="mpath" class="stonith" type="fence_mpath"/>
  <primitive id="ext-ipmi" class="stonith" type="external/ipmi"/>
  <primitive id="foo" class="stonith" type="fence_foo"/>
  <primitive id="ipmi-diag" class="stonith" type="fence_ipmilan"><instance_attributes id="d"><nvpair id="d1" name="pcmk_off_action" value="diag"/></instance_attributes></primitive>"#;

    /// The refusal for `level 1 compute-1: DEVICES`, from both checks (they must agree).
    fn refusal(guard: &Guard, devices: &str) -> String {
        let c = cib(&level(1, "compute-1", devices));
        let err = guard.check_target(&c, "compute-1").expect_err(devices);
        let all = guard.check_all(&c).expect_err(devices);
        assert!(all.contains(&err), "{all}\n{err}");
        err
    }

    #[test]
    fn known_power_agents_guard_the_notifier() {
        for device in [
            "maas", "ipmi", "redfish", "ilo4", "idrac", "virsh", "xvm", "apc", "apc-snmp", "sbd",
            "kdump", "ipmi-off",
        ] {
            let c = cib(&format!(
                "{}{}",
                level(1, "compute-1", &format!("{device},masakari")),
                level(1, "compute-2", &format!("{device},nova,masakari"))
            ));
            assert_eq!(check_target(&c, "compute-1"), Ok(()), "{device}");
            assert_eq!(check_all(&c), Ok(()), "{device}");
        }
    }

    #[test]
    fn devices_that_power_nothing_off_are_refused_with_the_reason() {
        let guard = Guard::default();
        for (device, reason) in [
            ("st-null", "'st-null' (null) is cluster-glue's null plugin"),
            ("heuristics", "'heuristics' (fence_heuristics_ping) is not a fence agent by itself"),
            ("dummy", "'dummy' (fence_dummy) is a test agent"),
            ("scsi", "'scsi' (fence_scsi) is fabric fencing"),
            ("mpath", "'mpath' (fence_mpath) is fabric fencing"),
            ("nova", "'nova' (fence_compute) is a notifier"),
            ("ext-ipmi", "'ext-ipmi' (external/ipmi) is not an agent known to confirm a host powered off; if it is one, name it in extra_power_agents"),
            ("foo", "'foo' (fence_foo) is not an agent known to confirm"),
            ("ipmi-diag", "'ipmi-diag' (fence_ipmilan) runs 'diag' for off (pcmk_off_action)"),
            ("ghost", "'ghost' is no stonith device in the CIB"),
        ] {
            let err = refusal(&guard, &format!("{device},masakari"));
            assert!(
                err.starts_with("fencing level 1 of compute-1 runs fence_masakari device 'masakari' before any power device"),
                "{err}"
            );
            assert!(err.contains(reason), "{device}: {err}");
            assert!(err.contains("pcs stonith level add"), "{err}");
        }
        // Every device before the notifier is named with its own reason.
        let err = refusal(&guard, "st-null,heuristics,masakari,maas");
        assert!(
            err.contains("null plugin") && err.contains("not a fence agent by itself"),
            "{err}"
        );
    }

    #[test]
    fn heuristics_may_gate_the_power_device_but_not_replace_it() {
        for devices in [
            "heuristics,ipmi,masakari",
            "ipmi,heuristics,masakari",
            "st-null,maas,masakari",
        ] {
            let c = cib(&level(1, "compute-1", devices));
            assert_eq!(check_target(&c, "compute-1"), Ok(()), "{devices}");
        }
        refusal(&Guard::default(), "heuristics,masakari,ipmi");
    }

    #[test]
    fn the_operator_adds_site_power_agents_and_nothing_else() {
        let guard = Guard {
            extra_power_agents: parse_extra_power_agents("fence_foo, external/ipmi")
                .expect("valid names"),
        };
        for devices in ["foo,masakari", "ext-ipmi,masakari"] {
            let c = cib(&format!(
                "{}{}",
                level(1, "compute-1", devices),
                level(1, "compute-2", devices)
            ));
            assert_eq!(guard.check_target(&c, "compute-1"), Ok(()), "{devices}");
            assert_eq!(guard.check_all(&c), Ok(()), "{devices}");
        }
        // The addition names agents, so the others stay refused.
        for devices in ["st-null,masakari", "heuristics,masakari", "dummy,masakari"] {
            refusal(&guard, devices);
        }
        assert_eq!(parse_extra_power_agents(""), Ok(vec![]));
        assert_eq!(
            parse_extra_power_agents(" fence_a,fence_b  external/c "),
            Ok(vec![
                "fence_a".into(),
                "fence_b".into(),
                "external/c".into()
            ])
        );
        for (value, reason) in [
            (
                "fence_foo,null",
                "'null' cannot be a power device: cluster-glue's null plugin",
            ),
            (
                "fence_heuristics_ping",
                "cannot be a power device: not a fence agent by itself",
            ),
            ("fence_dummy", "cannot be a power device"),
            ("fence_masakari", "cannot be a power device: a notifier"),
            ("fence_scsi", "cannot be a power device: fabric fencing"),
            ("fence_foo;rm", "'fence_foo;rm' is not an agent name"),
        ] {
            let err = parse_extra_power_agents(value).expect_err(value);
            assert!(err.starts_with("extra_power_agents: "), "{err}");
            assert!(err.contains(reason), "{value}: {err}");
        }
    }

    #[test]
    fn the_lists_do_not_overlap() {
        for (agent, _) in NOT_POWER {
            assert!(!POWER_AGENTS.contains(agent), "{agent}");
        }
        let mut sorted = POWER_AGENTS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            POWER_AGENTS.len(),
            "a duplicate in POWER_AGENTS"
        );
    }

    fn level(index: u32, target: &str, devices: &str) -> String {
        format!(
            r#"<fencing-level id="l{index}-{target}" index="{index}" target="{target}" devices="{devices}"/>"#
        )
    }

    #[test]
    fn power_device_first_is_accepted() {
        let c = cib(&format!(
            "{}{}",
            level(1, "compute-1", "maas,masakari"),
            level(1, "compute-2", "ipmi,nova,masakari")
        ));
        assert_eq!(check_target(&c, "compute-1"), Ok(()));
        assert_eq!(check_target(&c, "COMPUTE-1"), Ok(()), "names without case");
        assert_eq!(check_target(&c, "compute-2"), Ok(()));
        assert_eq!(check_all(&c), Ok(()));
    }

    #[test]
    fn alone_first_or_after_another_notifier_is_refused() {
        for devices in [
            "masakari",
            "masakari,maas",
            "nova,masakari",
            "ghost,masakari",
        ] {
            let c = cib(&level(1, "compute-1", devices));
            let err = check_target(&c, "compute-1").expect_err(devices);
            assert!(
                err.contains("runs fence_masakari device 'masakari'"),
                "{err}"
            );
            assert!(check_all(&c).is_err(), "{devices}");
        }
    }

    #[test]
    fn every_level_of_the_target_must_be_safe() {
        // Level 1 is right, but if it fails the fencer tries level 2: masakari alone.
        let c = cib(&format!(
            "{}{}",
            level(1, "compute-1", "maas,masakari"),
            level(2, "compute-1", "masakari")
        ));
        let err = check_target(&c, "compute-1").expect_err("level 2");
        assert!(
            err.starts_with("fencing level 2 of compute-1 runs"),
            "{err}"
        );
        // A level without fence_masakari is fine (the notification just does not happen).
        let c = cib(&format!(
            "{}{}",
            level(1, "compute-1", "maas,masakari"),
            level(2, "compute-1", "ipmi")
        ));
        assert_eq!(check_target(&c, "compute-1"), Ok(()));
    }

    #[test]
    fn no_level_or_no_masakari_level_is_refused() {
        let c = cib(&level(1, "compute-1", "maas,masakari"));
        let err = check_target(&c, "compute-2").expect_err("no level");
        assert!(
            err.starts_with("no fencing level applies to compute-2"),
            "{err}"
        );
        let err = check_all(&c).expect_err("compute-2 is listed by the device");
        assert!(err.contains("compute-2"), "{err}");
        let c = cib(&level(1, "compute-1", "maas"));
        let err = check_target(&c, "compute-1").expect_err("no masakari");
        assert!(
            err.starts_with("no fencing level of compute-1 holds a fence_masakari device"),
            "{err}"
        );
        let err = check_all(&c).expect_err("device in no level");
        assert!(err.contains("is in no fencing level"), "{err}");
        assert!(check_all(&Cib::default()).is_err());
    }

    #[test]
    fn patterns_and_attributes_apply_like_the_fencer_does() {
        let by_pattern = r#"<fencing-level id="p" index="1" target-pattern="^compute-[0-9]+$" devices="maas,masakari"/>"#;
        let bad_pattern =
            r#"<fencing-level id="q" index="1" target-pattern="compute-.*" devices="masakari"/>"#;
        let c = cib(by_pattern);
        assert_eq!(check_target(&c, "compute-7"), Ok(()));
        assert!(check_target(&c, "node1").is_err());
        // Two entries match: the fencer may pick either, so both must be safe.
        let c = cib(&format!("{by_pattern}{bad_pattern}"));
        assert!(check_target(&c, "compute-7").is_err());
        // A level naming the node wins over patterns.
        let c = cib(&format!(
            "{bad_pattern}{}",
            level(1, "compute-7", "maas,masakari")
        ));
        assert_eq!(check_target(&c, "compute-7"), Ok(()));
        let by_attr = r#"<fencing-level id="a" index="1" target-attribute="role" target-value="compute" devices="masakari"/>"#;
        let c = cib(by_attr);
        assert!(
            check_target(&c, "compute-3").is_err(),
            "alone through an attribute"
        );
        assert!(check_target(&c, "compute-4").is_err(), "no level at all");
        let c =
            cib(r#"<fencing-level id="x" index="1" target-pattern="(" devices="maas,masakari"/>"#);
        let err = check_target(&c, "compute-1").expect_err("unparsable");
        assert!(err.contains("cannot evaluate the pattern"), "{err}");
    }

    #[test]
    fn host_maps_are_checked_too() {
        let c = parse(
            r#"<cib><configuration><resources>
  <primitive id="maas" class="stonith" type="fence_maas"/>
  <primitive id="m" class="stonith" type="fence_masakari"><instance_attributes id="i"><nvpair id="i1" name="pcmk_host_map" value="compute-1:c1.example;compute-2:c2.example"/></instance_attributes></primitive>
</resources><fencing-topology>
  <fencing-level id="l1" index="1" target="compute-1" devices="maas,m"/>
</fencing-topology></configuration></cib>"#,
        )
        .expect("parses");
        let err = check_all(&c).expect_err("compute-2 has no level");
        assert!(err.contains("compute-2"), "{err}");
    }

    proptest::proptest! {
        /// Whatever the levels, an accepted target has a power device before every
        /// fence_masakari device the fencer could reach for it.
        #[test]
        fn accepted_means_guarded(levels in proptest::collection::vec(
            (1u32..4, proptest::sample::select(vec!["compute-1", "compute-2"]),
             proptest::collection::vec(proptest::sample::select(vec!["maas", "ipmi", "masakari", "nova", "ghost"]), 1..4)),
            0..5))
        {
            let xml: String = levels
                .iter()
                .enumerate()
                .map(|(i, (index, target, devs))| format!(r#"<fencing-level id="x{i}" index="{index}" target="{target}" devices="{}"/>"#, devs.join(",")))
                .collect();
            let c = cib(&xml);
            if check_target(&c, "compute-1").is_ok() {
                for (_, target, devs) in levels.iter().filter(|(_, t, _)| *t == "compute-1") {
                    let _ = target;
                    if let Some(first) = devs.iter().position(|d| *d == "masakari") {
                        proptest::prop_assert!(devs[..first].iter().any(|d| *d == "maas" || *d == "ipmi"), "{:?}", devs);
                    }
                }
                proptest::prop_assert!(levels.iter().any(|(_, t, d)| *t == "compute-1" && d.contains(&"masakari")));
            }
        }
    }
}
