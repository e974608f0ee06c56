//! The switch of a cluster charm-hacluster built to the oxha agents, planned from its CIB
//! (`cibadmin -Q`): a shell script of `crm configure load update` steps, the script that
//! undoes it, and notes for the operator. Nothing here touches a cluster; `oxha-check migrate`
//! prints the plan.
//!
//! What the charm builds (charm-hacluster `hooks/utils.py` and `hooks/hooks.py`, and the
//! charmhelpers `contrib/openstack/ha` helper its principal charms use):
//! * `st-maas`, `stonith:external/maas` with `url`, `apikey` (in clear) and `hostnames`;
//!   `st-null`, `stonith:null` with `hostlist`;
//! * `res_<svc>_<hash>_vip` (or `res_<svc>_<iface>_vip`), `ocf:heartbeat:IPaddr2` with `ip` or
//!   `ocf:heartbeat:IPv6addr` with `ipv6addr` (plus `cidr_netmask` and `nic` when given), in
//!   the group `grp_<svc>_vips`;
//! * `res_<svc>_haproxy`, `lsb:haproxy`, cloned as `cl_<svc>_haproxy` (`cl_res_<svc>_haproxy`
//!   in charm-hacluster's own tests);
//! * colocations, orders and locations between them, by id.
//!
//! Each switched primitive is written again whole with the same id, the oxha agent and the
//! same meta attributes and operations, so its group, clone and every constraint naming it
//! stay as they are. A VIP or haproxy is first stopped by its old agent (see `steps` for why
//! not an in-place change), so at every moment each resource runs under exactly one agent, or
//! for a moment none; each step is one CIB change.

mod crm;
mod xml;

use crm::{Agent, Primitive};
use xml::Element;

/// What the operator reviews and runs: `apply` and `rollback` are shell scripts (`sh FILE` as
/// root on a full cluster node) of `crm configure load update` steps, one CIB change each;
/// `notes` say what changes, what is left alone and why, and what to do by hand (one line each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    pub apply: String,
    pub rollback: String,
    pub notes: Vec<String>,
}

/// Where fence_maas reads the MAAS API key once the switch is made (the README's place for
/// it): the key itself never goes into a script or a note. The rollback reads it back from
/// there, since the old plugin takes the key only as a parameter.
pub const MAAS_KEY_FILE: &str = "/etc/pacemaker/maas.key";

/// The parameters of IPaddr2 and IPv6addr that ocf:oxha:vip takes under the same name (its
/// metadata; a unit test checks each against it).
const VIP_PARAMS: &[&str] = &[
    "ip",
    "ipv6addr",
    "nic",
    "cidr_netmask",
    "broadcast",
    "iflabel",
    "lvs_support",
    "arp_count",
    "arp_interval",
    "arp_count_refresh",
    "arp_bg",
    "arp_sender",
    "send_arp_opts",
    "run_arping",
    "flush_routes",
    "nodad",
    "noprefixroute",
    "preferred_lft",
    "proto",
    "check_link_status",
    "lvs_ipv6_addrlabel_value",
    "network_namespace",
];
/// IPaddr2 parameters vip declares but refuses to start with (cluster-IP mode, MAC changes):
/// such a VIP stays on IPaddr2. vip's own lists.
const VIP_REFUSED: &[&str] = vip::REFUSED_PARAMS;
/// vip refuses these only when true.
const VIP_REFUSED_WHEN_TRUE: &[&str] = vip::REFUSED_WHEN_TRUE;

/// Parameters of a stonith primitive that are Pacemaker's, not the agent's: they keep working
/// whatever the agent.
fn fencer_param(name: &str) -> bool {
    name.starts_with("pcmk_") || matches!(name, "priority" | "provides")
}

/// Where a primitive sits in the resources section.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Top,
    Group(String),
    Clone {
        clone: String,
        group: Option<String>,
    },
    Bundle(String),
}

impl Place {
    /// " (group g)", " (clone c)", " (group g in clone c)".
    fn describe(&self) -> String {
        match self {
            Place::Top => String::new(),
            Place::Group(g) => format!(" (group {g})"),
            Place::Clone { clone, group: None } => format!(" (clone {clone})"),
            Place::Clone {
                clone,
                group: Some(g),
            } => format!(" (group {g} in clone {clone})"),
            Place::Bundle(b) => format!(" (bundle {b})"),
        }
    }

    /// "group g", "clone c", "group g in clone c" ("" at the top).
    fn name(&self) -> String {
        let d = self.describe();
        d.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .to_string()
    }

    /// The ids a constraint may name to reach the primitive.
    fn ids(&self) -> Vec<&str> {
        match self {
            Place::Top => vec![],
            Place::Group(g) | Place::Bundle(g) => vec![g],
            Place::Clone { clone, group } => {
                let mut v = vec![clone.as_str()];
                v.extend(group.as_deref());
                v
            }
        }
    }
}

/// One primitive switched: the definitions before and after, and what the note says.
struct Switch {
    before: Primitive,
    after: Primitive,
    place: Place,
    note: String,
}

/// Reads a CIB as `cibadmin -Q` prints it and plans the switch of every charm-built resource
/// oxha replaces. An error (one line) only when the input is not a CIB; resources it cannot
/// switch are left alone and named in the notes.
pub fn plan(cib_xml: &str) -> Result<Migration, String> {
    let cib = xml::parse(cib_xml)?;
    if cib.name != "cib" {
        return Err(format!(
            "not a CIB: the document is <{}>, not <cib> (give the output of cibadmin -Q)",
            cib.name
        ));
    }
    let config = cib
        .child("configuration")
        .ok_or("not a CIB: no <configuration> in <cib> (give the output of cibadmin -Q)")?;
    let resources = config
        .child("resources")
        .ok_or("not a CIB: no <resources> in <configuration> (give the output of cibadmin -Q)")?;

    let mut switches: Vec<Switch> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    let hold = maintenance(config);
    for (e, place, held_by_parent) in primitives(resources, &mut kept) {
        let agent = Primitive::agent_of(e);
        let id = e.attr("id").unwrap_or("?");
        let Some(target) = oxha_agent(&agent) else {
            kept.push(untouched_note(id, &agent));
            continue;
        };
        let switched = Primitive::read(e).and_then(|before| {
            let (after, note) = match target {
                Target::Vip => switch_vip(&before, &place)?,
                Target::Haproxy => switch_haproxy(&before, &place)?,
                Target::FenceMaas => switch_fence(&before, &place)?,
            };
            Ok(Switch {
                before,
                after,
                place: place.clone(),
                note,
            })
        });
        let switched = switched.and_then(|s| match &hold {
            Some(why) => Err(format!("{why}: its old agent would not stop it")),
            None if held_by_parent || unmanaged(e) => {
                Err("it is unmanaged: its old agent would not stop it".into())
            }
            None => Ok(s),
        });
        match switched {
            Ok(s) => {
                if s.after
                    .meta
                    .iter()
                    .any(|(k, v)| k == "target-role" && v.eq_ignore_ascii_case("stopped"))
                {
                    extra.push(format!(
                        "{}: target-role=Stopped stays as it is: `crm resource start {}` when it should run",
                        s.after.id, s.after.id
                    ));
                }
                switches.push(s);
            }
            Err(why) => kept.push(format!("{id} ({}): left untouched, {why}", agent.spec())),
        }
    }

    let epoch = ["admin_epoch", "epoch", "num_updates"]
        .map(|a| cib.attr(a).unwrap_or("?"))
        .join(":");
    let mut notes = Vec::new();
    if switches.is_empty() {
        notes.push(
            "nothing to switch: no external/maas, IPaddr2, IPv6addr or lsb/systemd haproxy primitive this tool can rewrite"
                .to_string(),
        );
    } else {
        notes.push(format!(
            "{} primitive(s) switch one after the other (`sh APPLY_FILE` as root on a full cluster node), each keeping its id, group, clone, meta attributes, operations and constraints; a VIP or haproxy is stopped by its old agent, then written again with the new one, which starts it (maybe on another node its constraints allow); a fence device is rewritten in place",
            switches.len()
        ));
    }
    notes.extend(switches.iter().map(|s| s.note.clone()));
    notes.extend(constraint_notes(config, &switches));
    notes.extend(extra);
    notes.extend(kept);
    if !switches.is_empty() {
        notes.push(
            "if a step fails the script stops there: the primitive it names is stopped or still on its old agent; the rollback script puts every primitive back as it was"
                .to_string(),
        );
        notes.push(
            "charm-hacluster writes its own classes back when its relation data changes (a VIP changed, a compute host added for st-maas): after every charm operation check `crm configure show | grep -E 'IPaddr2|IPv6addr|lsb:haproxy|systemd:haproxy|external/maas'` and plan again"
                .to_string(),
        );
    }

    let needs_key_file = switches.iter().any(|s| {
        s.before
            .param("apikey")
            .is_some_and(|k| !k.starts_with("lrm://"))
    });
    let mut apply = script_header(&format!(
        "switch the charm-built resources to the oxha agents (planned from CIB epoch {epoch})"
    ));
    let mut rollback = script_header(&format!(
        "back to the charm's agents, each primitive as CIB epoch {epoch} had it"
    ));
    if needs_key_file {
        apply.push_str(&format!(
            "# Before running: the MAAS API key in {MAAS_KEY_FILE} (root, mode 0600) on every full\n\
             # cluster node; fence_maas reads it there.\n\
             test -s {MAAS_KEY_FILE} || {{ echo \"{MAAS_KEY_FILE} is missing: put the MAAS API key there first\" >&2; exit 1; }}\n"
        ));
        rollback.push_str(&format!(
            "# external/maas takes the MAAS API key only as a parameter: it is read from {MAAS_KEY_FILE}\n\
             # and goes into the CIB through crm's standard input, in clear as the charm had it.\n\
             test -s {MAAS_KEY_FILE} || {{ echo \"{MAAS_KEY_FILE} is missing: the MAAS API key is needed\" >&2; exit 1; }}\n\
             maas_key=$(head -n 1 {MAAS_KEY_FILE})\n"
        ));
    }
    if switches.is_empty() {
        apply.push_str("# Nothing to switch.\n");
        rollback.push_str("# Nothing to undo.\n");
    }
    let total = switches.len();
    for (i, s) in switches.iter().enumerate() {
        apply.push_str(&format!(
            "\n# {}/{total} {}: {} → {}{}\n",
            i + 1,
            s.after.id,
            s.before.agent.spec(),
            s.after.agent.spec(),
            s.place.describe()
        ));
        apply.push_str(&steps(&s.before, &s.after, false));
    }
    for (i, s) in switches.iter().enumerate().rev() {
        rollback.push_str(&format!(
            "\n# {}/{total} {}: {} → {}{}\n",
            total - i,
            s.after.id,
            s.after.agent.spec(),
            s.before.agent.spec(),
            s.place.describe()
        ));
        rollback.push_str(&steps(&s.after, &s.before, true));
    }
    if !switches.is_empty() {
        let settle = format!(
            "\n# The cluster settled: no action left pending.\ncrm_resource --wait --timeout={WAIT_SECONDS}s\n"
        );
        apply.push_str(&settle);
        rollback.push_str(&settle);
    }
    Ok(Migration {
        apply,
        rollback,
        notes,
    })
}

fn script_header(what: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # oxha: {what}.\n\
         # Review, then run as root on a full cluster node:  sh THIS_FILE\n\
         # Each step is one CIB change (`crm configure load update`); the next starts once\n\
         # crm_resource sees the primitive stopped, or running, as the step asked.\n\
         set -eu\n\
         # oxha_wait stopped|running ID: polls every 0.2 s, for up to {WAIT_SECONDS} s.\n\
         oxha_wait() {{\n\
         \x20   n=0\n\
         \x20   while :; do\n\
         \x20       case $(crm_resource --resource \"$2\" --locate 2>&1) in\n\
         \x20       *\"is NOT running\"*) [ \"$1\" = stopped ] && return 0 ;;\n\
         \x20       *\"is running on:\"*) [ \"$1\" = running ] && return 0 ;;\n\
         \x20       esac\n\
         \x20       n=$((n + 1))\n\
         \x20       [ \"$n\" -le {polls} ] || {{ echo \"oxha: $2 is not $1 after {WAIT_SECONDS} s\" >&2; exit 1; }}\n\
         \x20       sleep 0.2\n\
         \x20   done\n\
         }}\n",
        polls = WAIT_SECONDS * 5
    )
}

/// How long a step waits for its primitive to stop or start.
const WAIT_SECONDS: u32 = 120;

/// The commands that take one primitive from `from` to `to`. A fence device is rewritten in
/// place: it runs no process, and its restart is a new registration with the fencer. Anything
/// else is first stopped by its current agent (the same definition with target-role=Stopped)
/// and only then written with the other agent, which starts it: asked to change the agent of a
/// running resource in place, Pacemaker 2.1 schedules a stop and a clean-up of its history,
/// and when the stop has to wait for others (an order, a clone's instances) the clean-up can
/// run first, leaving the old agent's process or address running and unmanaged (seen on
/// haproxy clone instances while testing this migration). The script waits on the
/// primitive's own state, not on crm -w: crm -w returns at once when the controller has not
/// yet left its idle state.
fn steps(from: &Primitive, to: &Primitive, key_from_variable: bool) -> String {
    let mut out = String::new();
    let stopped = |p: &Primitive| {
        p.meta
            .iter()
            .any(|(k, v)| k == "target-role" && v.eq_ignore_ascii_case("stopped"))
    };
    if from.agent.class != "stonith" && !stopped(from) {
        let mut stop = from.clone();
        stop.meta.retain(|(k, _)| k != "target-role");
        stop.meta.push(("target-role".into(), "Stopped".into()));
        out.push_str(&load(&stop, false));
        out.push_str(&format!("oxha_wait stopped {}\n", from.id));
    }
    let mut to = to.clone();
    let with_key =
        key_from_variable && to.param("apikey").is_some_and(|k| !k.starts_with("lrm://"));
    if with_key {
        for (k, v) in to.params.iter_mut() {
            if k == "apikey" {
                *v = "${maas_key}".into();
            }
        }
    }
    out.push_str(&load(&to, with_key));
    if !stopped(&to) {
        out.push_str(&format!("oxha_wait running {}\n", to.id));
    }
    out
}

/// `crm configure load update -` of one primitive. The here-document is quoted (nothing in
/// it is expanded) unless it carries the MAAS key variable; such a primitive has no `$` or
/// backquote of its own (checked when it was read).
fn load(p: &Primitive, expand: bool) -> String {
    let tag = if expand { "OXHA_CRM" } else { "'OXHA_CRM'" };
    format!(
        "crm configure load update - <<{tag}\n{}OXHA_CRM\n",
        p.render()
    )
}

fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "yes" | "1" | "on" | "y"
    )
}

/// Why Pacemaker would not stop resources now, if it would not: the cluster, every resource
/// by default, or a node in maintenance. Switching then would leave the old agent's process
/// or address running beside the new one.
fn maintenance(config: &Element) -> Option<String> {
    let sets = |section: &str, set: &str| -> Vec<(String, String)> {
        config
            .child(section)
            .map(|c| {
                c.children_named(set)
                    .flat_map(|s| s.children_named("nvpair"))
                    .map(|nv| {
                        (
                            nv.attr("name").unwrap_or("").to_string(),
                            nv.attr("value").unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if sets("crm_config", "cluster_property_set")
        .iter()
        .any(|(k, v)| k == "maintenance-mode" && truthy(v))
    {
        return Some("the cluster is in maintenance mode".into());
    }
    if sets("rsc_defaults", "meta_attributes")
        .iter()
        .any(|(k, v)| k == "is-managed" && !truthy(v))
    {
        return Some("resources are unmanaged by default (rsc_defaults is-managed=false)".into());
    }
    let nodes = config.child("nodes")?;
    nodes.children_named("node").find_map(|n| {
        let on = n
            .children_named("instance_attributes")
            .flat_map(|s| s.children_named("nvpair"))
            .any(|nv| {
                nv.attr("name") == Some("maintenance") && nv.attr("value").is_some_and(truthy)
            });
        on.then(|| format!("node {} is in maintenance", n.attr("uname").unwrap_or("?")))
    })
}

#[derive(Clone, Copy)]
enum Target {
    Vip,
    Haproxy,
    FenceMaas,
}

/// The oxha agent that replaces `agent`, if any.
fn oxha_agent(agent: &Agent) -> Option<Target> {
    match (
        agent.class.as_str(),
        agent.provider.as_deref(),
        agent.kind.as_str(),
    ) {
        ("ocf", Some("heartbeat"), "IPaddr2" | "IPv6addr") => Some(Target::Vip),
        ("lsb" | "systemd" | "service", None, "haproxy") => Some(Target::Haproxy),
        ("stonith", None, "external/maas") => Some(Target::FenceMaas),
        _ => None,
    }
}

fn untouched_note(id: &str, agent: &Agent) -> String {
    let spec = agent.spec();
    match spec.as_str() {
        "stonith:null" => format!(
            "{id} (stonith:null): kept; it fences the control-plane containers without touching power, and nothing in oxha replaces it (never put it in a fencing level before fence_masakari)"
        ),
        "ocf:pacemaker:remote" => format!("{id} (ocf:pacemaker:remote): kept, the connection of a remote node"),
        s if s.starts_with("ocf:oxha:") || s == "stonith:fence_maas" || s == "stonith:fence_masakari" => {
            format!("{id} ({s}): already an oxha agent")
        }
        s => format!("{id} ({s}): left untouched, not a resource this tool switches"),
    }
}

/// Every primitive of the resources section with its place and whether a group or clone
/// around it is unmanaged, in document order; templates and anything unknown are named in
/// `kept`.
fn primitives<'a>(
    resources: &'a Element,
    kept: &mut Vec<String>,
) -> Vec<(&'a Element, Place, bool)> {
    let mut out = Vec::new();
    for r in &resources.children {
        let id = r.attr("id").unwrap_or("?").to_string();
        let held = unmanaged(r);
        match r.name.as_str() {
            "primitive" => out.push((r, Place::Top, false)),
            "group" => out.extend(
                r.children_named("primitive")
                    .map(|p| (p, Place::Group(id.clone()), held)),
            ),
            "clone" | "master" => {
                for c in &r.children {
                    match c.name.as_str() {
                        "primitive" => out.push((
                            c,
                            Place::Clone {
                                clone: id.clone(),
                                group: None,
                            },
                            held,
                        )),
                        "group" => {
                            let group = c.attr("id").map(str::to_string);
                            let held = held || unmanaged(c);
                            out.extend(c.children_named("primitive").map(|p| {
                                (
                                    p,
                                    Place::Clone {
                                        clone: id.clone(),
                                        group: group.clone(),
                                    },
                                    held,
                                )
                            }))
                        }
                        _ => {}
                    }
                }
            }
            "bundle" => out.extend(
                r.children_named("primitive")
                    .map(|p| (p, Place::Bundle(id.clone()), held)),
            ),
            other => kept.push(format!("{id} (<{other}>): left untouched")),
        }
    }
    out
}

/// Whether a resource's own meta attributes take it out of Pacemaker's hands.
fn unmanaged(e: &Element) -> bool {
    e.children_named("meta_attributes")
        .flat_map(|s| s.children_named("nvpair"))
        .any(|nv| {
            let v = nv.attr("value").unwrap_or("");
            match nv.attr("name") {
                Some("is-managed") => !truthy(v),
                Some("maintenance") => truthy(v),
                _ => false,
            }
        })
}

fn switch_vip(p: &Primitive, place: &Place) -> Result<(Primitive, String), String> {
    if matches!(place, Place::Clone { .. } | Place::Bundle(_)) {
        return Err(format!(
            "it is in {}: ocf:oxha:vip refuses cloned addresses (IPaddr2's cluster-IP mode)",
            place.name()
        ));
    }
    for (k, v) in &p.params {
        let truthy = matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on" | "y"
        );
        if VIP_REFUSED.contains(&k.as_str())
            || (VIP_REFUSED_WHEN_TRUE.contains(&k.as_str()) && truthy)
        {
            return Err(format!("ocf:oxha:vip refuses its parameter '{k}'"));
        }
        if !VIP_PARAMS.contains(&k.as_str()) && !VIP_REFUSED_WHEN_TRUE.contains(&k.as_str()) {
            return Err(format!("ocf:oxha:vip has no parameter '{k}'"));
        }
    }
    let address = if p.agent.kind == "IPv6addr" {
        "ipv6addr"
    } else {
        "ip"
    };
    if p.param(address).is_none_or(str::is_empty) {
        return Err(format!("it has no {address}"));
    }
    let mut after = p.clone();
    after.agent = Agent::new("ocf", Some("oxha"), "vip");
    let note = format!(
        "{}: {} → ocf:oxha:vip{}, same parameters ({address} {}); the address is gone only between the old agent's stop and vip's start",
        p.id,
        p.agent.spec(),
        place.describe(),
        p.param(address).unwrap_or_default(),
    );
    Ok((after, note))
}

fn switch_haproxy(p: &Primitive, place: &Place) -> Result<(Primitive, String), String> {
    if let Place::Bundle(_) = place {
        return Err(format!("it is in {}", place.name()));
    }
    if let Some((k, _)) = p.params.first() {
        return Err(format!(
            "it has the parameter '{k}', which ocf:oxha:haproxy would not read the same way"
        ));
    }
    let mut after = p.clone();
    after.agent = Agent::new("ocf", Some("oxha"), "haproxy");
    let note = format!(
        "{}: {} → ocf:oxha:haproxy{}, reading /etc/haproxy/haproxy.cfg (its default conffile) with its own master-worker haproxy, pid file and sockets; keep the distribution's haproxy unit disabled (the charm disabled it)",
        p.id,
        p.agent.spec(),
        place.describe()
    );
    Ok((after, note))
}

fn switch_fence(p: &Primitive, place: &Place) -> Result<(Primitive, String), String> {
    if *place != Place::Top {
        return Err(format!("it is in {}", place.name()));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    let mut key_from_file = true;
    for (k, v) in &p.params {
        match k.as_str() {
            "url" => params.push(("maas_url".into(), v.clone())),
            "hostnames" => params.push((k.clone(), v.clone())),
            // A cibsecret reference is not the key: Pacemaker fills it in, and fence_maas
            // reads the old name.
            "apikey" if v.starts_with("lrm://") => {
                key_from_file = false;
                params.push((k.clone(), v.clone()));
            }
            "apikey" => {}
            k if fencer_param(k) => params.push((k.to_string(), v.clone())),
            other => return Err(format!("fence_maas has no parameter '{other}'")),
        }
    }
    // The rollback writes this definition back in a here-document that expands the key
    // variable: nothing else in it may expand.
    if let Some((k, _)) = p
        .params
        .iter()
        .find(|(k, v)| k != "apikey" && v.contains(['$', '`']))
    {
        return Err(format!("the value of '{k}' has a $ or a backquote"));
    }
    if p.param("url").is_none_or(str::is_empty) {
        return Err("it has no url (fence_maas needs the MAAS URL)".into());
    }
    if key_from_file {
        params.push(("api_key_file".into(), MAAS_KEY_FILE.into()));
    }
    // external/maas answers gethosts with its hostnames, no MAAS query: the same targets,
    // as a static list, unless the device already says how to find them.
    let declares_targets = p.params.iter().any(|(k, _)| {
        matches!(
            k.as_str(),
            "pcmk_host_list" | "pcmk_host_map" | "pcmk_host_check"
        )
    });
    let hosts = p
        .param("hostnames")
        .map(|h| {
            h.split([' ', ','])
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if !declares_targets && !hosts.is_empty() {
        params.push(("pcmk_host_list".into(), hosts.clone()));
    }
    let mut after = p.clone();
    after.agent = Agent::new("stonith", None, "fence_maas");
    after.params = params;
    let key = if key_from_file {
        format!(
            "the API key is in neither script: write it to {MAAS_KEY_FILE} (root, mode 0600) on every full cluster node first (`crm resource param {id} show apikey` prints today's; the apply script checks the file, the rollback reads it back into the CIB through crm's standard input); the CIB copies in /var/lib/pacemaker/cib still hold it: rotate it in MAAS if that matters",
            id = p.id
        )
    } else {
        "the API key stays a cibsecret reference (apikey=lrm://)".to_string()
    };
    let note = format!(
        "{}: stonith:external/maas → stonith:fence_maas, url → maas_url, hostnames kept{}; it reports a node off only once MAAS confirms it; {key}",
        p.id,
        if !declares_targets && !hosts.is_empty() {
            format!(" and declared as pcmk_host_list ({hosts}), the targets the old plugin listed")
        } else {
            String::new()
        }
    );
    Ok((after, note))
}

/// One note naming the constraints and fencing levels that refer to a switched primitive (or
/// its group or clone): they are kept as they are, ids being kept.
fn constraint_notes(config: &Element, switches: &[Switch]) -> Vec<String> {
    let mut ids: Vec<&str> = Vec::new();
    for s in switches {
        ids.push(&s.after.id);
        ids.extend(s.place.ids());
    }
    let mut named: Vec<String> = Vec::new();
    if let Some(constraints) = config.child("constraints") {
        for c in &constraints.children {
            if refers_to(c, &ids) {
                named.push(format!(
                    "{} {}",
                    c.name.trim_start_matches("rsc_"),
                    c.attr("id").unwrap_or("?")
                ));
            }
        }
    }
    if let Some(topology) = config.child("fencing-topology") {
        for level in &topology.children {
            let devices = level.attr("devices").unwrap_or("");
            if devices.split(',').any(|d| ids.contains(&d.trim())) {
                named.push(format!("fencing-level {}", level.attr("id").unwrap_or("?")));
            }
        }
    }
    if named.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "kept as they are (they name resources by id): {}",
        named.join(", ")
    )]
}

fn refers_to(e: &Element, ids: &[&str]) -> bool {
    e.attrs.iter().any(|(k, v)| {
        matches!(k.as_str(), "rsc" | "with-rsc" | "first" | "then" | "id-ref")
            && ids.contains(&v.as_str())
    }) || e.children.iter().any(|c| refers_to(c, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the plan writes for vip and fence_maas are the agents' own.
    #[test]
    fn parameter_names_are_the_agents_own() {
        let vip: Vec<&str> = vip::META.all_params().iter().map(|p| p.name).collect();
        for name in VIP_PARAMS
            .iter()
            .chain(VIP_REFUSED)
            .chain(VIP_REFUSED_WHEN_TRUE)
        {
            assert!(vip.contains(name), "ocf:oxha:vip has no parameter {name}");
        }
        let maas: Vec<&str> = fence_maas::META
            .all_params()
            .iter()
            .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
            .collect();
        for name in ["maas_url", "hostnames", "api_key_file", "apikey"] {
            assert!(maas.contains(&name), "fence_maas has no parameter {name}");
        }
    }
}
