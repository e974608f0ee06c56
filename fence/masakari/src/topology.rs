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
//!   fencer move on to the next level, never to the next device of the same level.
//!
//! So if every level that applies to the target and holds a fence_masakari device has a power
//! device before it, reaching fence_masakari means that power device confirmed the target off.
//! fenced passes an agent the target (`nodename`) but not the device's own id, so the check
//! covers every fence_masakari device of the level; and it reads the same CIB fenced does.

use ocf_lib::cib::{Cib, FencingLevel, LevelTarget};

/// Agents that tell something about a host but power nothing off: never the power device a
/// notifier relies on.
pub const NOTIFIERS: &[&str] = &["fence_masakari", "fence_compute", "fence_evacuate"];

/// How to configure it right, appended to every refusal.
const HOW: &str = "fence_masakari must come after the power device in the same fencing level, e.g. `pcs stonith level add 1 NODE <power-device> <masakari-device>` or crm `fencing_topology NODE: <power-device>,<masakari-device>`";

fn agent_of<'a>(cib: &'a Cib, device: &str) -> Option<&'a str> {
    cib.device(device).map(|d| d.agent.as_str())
}

fn is_masakari(cib: &Cib, device: &str) -> bool {
    agent_of(cib, device) == Some("fence_masakari")
}

fn is_power(cib: &Cib, device: &str) -> bool {
    agent_of(cib, device).is_some_and(|a| !NOTIFIERS.contains(&a))
}

fn describe(level: &FencingLevel) -> String {
    let target = match &level.target {
        LevelTarget::Name(n) => n.clone(),
        LevelTarget::Pattern(p) => format!("pattern {p}"),
        LevelTarget::Attribute { name, value } => format!("attribute {name}={value}"),
    };
    format!("fencing level {} of {target}", level.index)
}

/// The fence_masakari device a level would run without a power device confirming first.
fn unguarded(cib: &Cib, level: &FencingLevel) -> Option<String> {
    let first = level.devices.iter().position(|d| is_masakari(cib, d))?;
    if level.devices[..first].iter().any(|d| is_power(cib, d)) {
        None
    } else {
        Some(level.devices[first].clone())
    }
}

fn check_level(cib: &Cib, level: &FencingLevel) -> Result<(), String> {
    match unguarded(cib, level) {
        None => Ok(()),
        Some(device) => {
            let place = if level.devices.len() == 1 {
                "alone"
            } else {
                "before any power device"
            };
            Err(format!(
                "{} runs fence_masakari device '{device}' {place} ({}): it would tell Masakari the host is down with nothing powered off; {HOW}",
                describe(level),
                level.devices.join(",")
            ))
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

/// May fence_masakari act for `target`? Only when the fencer can reach a fence_masakari device
/// for it solely through a power device that succeeded first.
pub fn check_target(cib: &Cib, target: &str) -> Result<(), String> {
    let levels = levels_for(cib, target)?;
    if levels.is_empty() {
        return Err(format!(
            "no fencing level applies to {target}: the fencer would run fence_masakari alone; {HOW}"
        ));
    }
    for level in &levels {
        check_level(cib, level)?;
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

/// The whole configuration, for monitor and validate-all: every level holding a
/// fence_masakari device has a power device before it, every fence_masakari device is in a
/// level, and every host a fence_masakari device lists passes [`check_target`].
pub fn check_all(cib: &Cib) -> Result<(), String> {
    let devices: Vec<_> = cib
        .stonith
        .iter()
        .filter(|d| d.agent == "fence_masakari")
        .collect();
    if devices.is_empty() {
        return Err("the CIB has no fence_masakari device".into());
    }
    for level in &cib.levels {
        check_level(cib, level)?;
    }
    for device in devices {
        if !cib.levels.iter().any(|l| l.devices.contains(&device.id)) {
            return Err(format!(
                "fence_masakari device '{}' is in no fencing level; {HOW}",
                device.id
            ));
        }
        for host in listed_hosts(&device.params) {
            check_target(cib, &host)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocf_lib::cib::parse;

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
</resources>
<fencing-topology>{levels}</fencing-topology>
</configuration></cib>"#
        ))
        .expect("fixture parses")
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
