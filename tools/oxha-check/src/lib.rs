//! `oxha-check`: the operator's check of an instance-HA cluster before an incident, and the
//! migration plan from a charm-built cluster. It reads (the CIB, MAAS, nova, Masakari) and
//! prints; it changes nothing. Its options and verbs are declared once in [`META`], which
//! also renders man/oxha-check.8.

pub mod collect;
pub mod report;
pub mod rules;

use ocf_lib::{ActionMeta, AgentKind, AgentMeta, Deadline, ManSection, Param};
use std::path::PathBuf;
use std::time::Duration;

static OPTIONS: &[Param] = &[
    Param::boolean("json", "Print the findings as one JSON document (for monitoring)")
        .default("false")
        .longdesc("One JSON object: findings (severity, rule, subject, problem, fix), errors, warnings and what was checked. The exit code is the same as without it."),
    Param::string("cib", "Read the CIB from this file instead of cibadmin --query")
        .value_name("file")
        .longdesc("A CIB as cibadmin --query prints it (with its status section, which the maintenance and forced_down rules use). MAAS, nova and Masakari are still read live, with the devices' parameters from this CIB."),
    Param::duration("since", "How far back Masakari notifications are read for the hostmonitor rule")
        .default("24h")
        .value_name("time"),
    Param::duration("timeout", "Time budget of the whole check")
        .default("60s")
        .value_name("time"),
    Param::string("out", "migrate: write apply.sh, rollback.sh and notes.txt in this directory")
        .value_name("dir")
        .longdesc("Without it the apply script, the rollback script and the notes are printed, each under a header line."),
];

static VERBS: &[ActionMeta] = &[ActionMeta::new("check", 60), ActionMeta::new("migrate", 10)];

static MAN: &[ManSection] = &[
    ManSection {
        title: "VERBS",
        body: "check (the default) reads the live CIB (cibadmin --query), MAAS through every fence_maas device with that device's own parameters and client, and nova and Masakari with the first fence_masakari device's connection parameters (keystone, TLS and proxy policy as fence_masakari's; password_script is run and cibsecret references are read as the agents get them), then reports every mismatch with the command that fixes it (an UPPER_CASE word in it, such as PROFILE or BMC_ADDRESS, is for the operator to fill in). It changes nothing.

migrate reads the live CIB (or --cib) of a cluster built by charm-hacluster (stonith:external/maas, IPaddr2/IPv6addr, lsb/systemd haproxy clones) and prints the reviewed crm script that switches each resource to its oxha agent, keeping ids, constraints and parameters, with its rollback script and notes. It applies nothing: the operator reviews and runs the scripts.",
    },
    ManSection {
        title: "RULES",
        body: "no-fencing-level (error): a Pacemaker remote node has no fencing level.

no-power-before-masakari (error): a fencing level runs fence_masakari with no power device before it (any agent but the notifiers and no-ops counts here; fence_masakari itself is stricter).

unknown-level-device (error): a fencing level names a device the CIB does not have.

maas-unreachable (error): a fence_maas device cannot read MAAS with its own parameters (address, key, TLS).

maas-no-single-machine (error): the plug fence_maas gets for a node (pcmk_host_map, else the node name) names no MAAS machine, or several.

maas-not-deployed (error): the node's MAAS machine is not Deployed.

maas-manual-power (error): the node's MAAS machine has the manual power type.

openstack-unreachable (error): keystone, nova or Masakari cannot be read with the fence_masakari device's parameters.

segment-host-no-nova (error): a Masakari segment host has no nova-compute service of that name.

segment-host-no-node (error): no Pacemaker node maps to a segment host (the fence_masakari device's pcmk_host_map, else the node name). A node that differs only by its domain (virt-node-10 against virt-node-10.maas) gets the pcmk_host_map entry as its fix.

compute-not-in-segment (warning): a nova compute host is in no segment.

reserved-host-enabled (warning): a reserved host is enabled in nova.

left-on-maintenance (warning): a host is on maintenance in Masakari while its nova-compute is up (and its Pacemaker node is not offline).

left-forced-down (warning): a host is forced_down in nova while its Pacemaker node is online.

no-reserved-host-left (error): a reserved_host (or rh_priority) segment has no reserved host off maintenance.

auto-segment-capacity (warning): in an auto segment, the free memory of the other usable hosts is less than the memory of the biggest host's instances (hypervisor memory_mb_used less the host reserve; allocation ratio 1).

hostmonitor-beside-fence-masakari (error): a fence_masakari device exists and masakari-hostmonitor reports too: a masakari-hostmonitor process runs on this node, or Masakari holds COMPUTE_HOST notifications of the last --since that fence_masakari never sends (event STARTED, or host_status UNKNOWN). Run oxha-check on a compute host, or keep --since long enough to include a host's return, to see it from the other side.",
    },
    ManSection {
        title: "EXIT CODES",
        body: "0: nothing found. 1: warnings only. 2: at least one error (a service that cannot be read is an error finding: the agents could not read it either). 3: the check could not run (bad option, unreadable CIB); one line on standard error says why.",
    },
    ManSection {
        title: "EXAMPLES",
        body: "On a full cluster node, as root:

  oxha-check
  oxha-check --json | jq '.findings[] | select(.severity == \"error\")'
  oxha-check migrate --out /root/oxha-migration

Secrets (API keys, passwords) are never printed and never taken on the command line: oxha-check reads them where the agents do.",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "oxha-check",
    kind: AgentKind::Tool,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Consistency check of Pacemaker, MAAS, nova and Masakari for instance HA",
    longdesc: "oxha-check reports every mismatch between the Pacemaker configuration (nodes, remote nodes, fencing topology, fence devices and their pcmk_host_map), MAAS (as fence_maas sees it), nova (compute services, hypervisors) and Masakari (segments, hosts, reserved and maintenance flags) that would make an instance-HA incident end badly, each with the command that fixes it. Output: a table, or JSON with --json; the exit code says clean, warnings or errors.",
    params: OPTIONS,
    param_groups: &[],
    actions: VERBS,
    man_sections: MAN,
};

/// The exit code of a check that could not run.
pub const CANNOT_CHECK: i32 = 3;

#[derive(Debug, PartialEq, Eq)]
pub enum Verb {
    Check,
    Migrate,
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub verb: Verb,
    pub json: bool,
    pub cib: Option<PathBuf>,
    pub since: Duration,
    pub timeout: Duration,
    pub out: Option<PathBuf>,
}

/// Parses the command line (without the program name). Values come as `--name value` or
/// `--name=value`; nothing here takes a secret.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        verb: Verb::Check,
        json: false,
        cib: None,
        since: Duration::from_secs(24 * 3600),
        timeout: Duration::from_secs(60),
        out: None,
    };
    let mut verb: Option<Verb> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{what} needs a value")),
            }
        };
        let duration = |v: String, what: &str| {
            ocf_lib::params::parse_duration(&v).map_err(|e| format!("{what} '{v}': {e}"))
        };
        match name {
            "--json" if inline.is_none() => o.json = true,
            "--cib" => o.cib = Some(PathBuf::from(value("--cib")?)),
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            "--since" => o.since = duration(value("--since")?, "--since")?,
            "--timeout" => o.timeout = duration(value("--timeout")?, "--timeout")?,
            "-h" | "--help" => verb = Some(Verb::Help),
            "-V" | "--version" => verb = Some(Verb::Version),
            "check" | "migrate" if verb.is_none() => {
                verb = Some(if name == "check" {
                    Verb::Check
                } else {
                    Verb::Migrate
                })
            }
            other => {
                return Err(format!(
                    "unknown argument '{other}' (oxha-check [check|migrate] [--json] [--cib FILE] [--since TIME] [--timeout TIME] [--out DIR])"
                ))
            }
        }
    }
    o.verb = verb.unwrap_or(Verb::Check);
    if o.out.is_some() && o.verb != Verb::Migrate {
        return Err("--out is for migrate".into());
    }
    Ok(o)
}

fn read_cib(o: &Options, deadline: &Deadline) -> Result<(ocf_lib::cib::Cib, String), String> {
    match &o.cib {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--cib {}: {e}", path.display()))?;
            let cib =
                ocf_lib::cib::parse(&text).map_err(|e| format!("--cib {}: {e}", path.display()))?;
            Ok((cib, text))
        }
        None => ocf_lib::cib::query_full(deadline),
    }
}

/// Standard output, a failed write (a reader gone) an error rather than a panic.
fn print(text: &str) -> Result<(), String> {
    ocf_lib::output::answer(text).map_err(|e| format!("cannot write the answer: {e}"))
}

fn usage() -> String {
    format!(
        "{} {}: {}\n\nusage: oxha-check [check] [--json] [--cib FILE] [--since TIME] [--timeout TIME]\n       oxha-check migrate [--cib FILE] [--out DIR]\n\nSee oxha-check(8). Exit codes: 0 clean, 1 warnings, 2 errors, 3 the check could not run.",
        META.name, META.version, META.shortdesc
    )
}

fn migrate(o: &Options, cib_xml: &str) -> Result<i32, String> {
    let plan = oxha_charm_migrate::plan(cib_xml)?;
    let notes = plan
        .notes
        .iter()
        .map(|n| format!("{n}\n"))
        .collect::<String>();
    match &o.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
            for (name, text) in [
                ("apply.sh", &plan.apply),
                ("rollback.sh", &plan.rollback),
                ("notes.txt", &notes),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            print(&format!(
                "wrote {0}/apply.sh, {0}/rollback.sh and {0}/notes.txt: review them, then run apply.sh (sh) as root on a full cluster node\n",
                dir.display()
            ))?;
        }
        None => print(&format!(
            "# ==== apply ====\n{}\n# ==== rollback ====\n{}\n# ==== notes ====\n{}",
            plan.apply, plan.rollback, notes
        ))?,
    }
    Ok(0)
}

/// The whole program: the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            ocf_lib::output::diagnostic(&format!("oxha-check: {e}"));
            return CANNOT_CHECK;
        }
    };
    match o.verb {
        Verb::Help => {
            return print(&format!("{}\n", usage())).map_or(CANNOT_CHECK, |()| 0);
        }
        Verb::Version => {
            return print(&format!("{} {}\n", META.name, META.version))
                .map_or(CANNOT_CHECK, |()| 0);
        }
        _ => {}
    }
    let deadline = Deadline::after(o.timeout);
    let result = read_cib(&o, &deadline).and_then(|(cib, xml)| match o.verb {
        Verb::Migrate => migrate(&o, &xml),
        _ => {
            let view = collect::view(cib, o.since, deadline);
            let findings = rules::check(&view);
            let text = if o.json {
                report::json(&view, &findings)
            } else {
                report::table(&view, &findings)
            };
            print(&text)?;
            Ok(report::exit_code(&findings))
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            ocf_lib::output::diagnostic(&format!("oxha-check: {e}"));
            CANNOT_CHECK
        }
    }
}

ocf_lib::man_page_test!(META);

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line() {
        let o = parse_args(&args(&[])).expect("default");
        assert_eq!((o.verb, o.json), (Verb::Check, false));
        let o = parse_args(&args(&["--json", "--cib=/tmp/c.xml", "--since", "2h"])).expect("ok");
        assert!(o.json);
        assert_eq!(o.cib, Some(PathBuf::from("/tmp/c.xml")));
        assert_eq!(o.since, Duration::from_secs(7200));
        let o = parse_args(&args(&["migrate", "--out", "/tmp/m"])).expect("migrate");
        assert_eq!(o.verb, Verb::Migrate);
        assert!(
            parse_args(&args(&["--out", "/tmp/m"])).is_err(),
            "--out without migrate"
        );
        assert!(parse_args(&args(&["--cib"])).is_err());
        assert!(parse_args(&args(&["--since", "soon"])).is_err());
        assert!(parse_args(&args(&["--password", "x"])).is_err());
        assert!(parse_args(&args(&["migrate", "check"])).is_err());
    }

    #[test]
    fn every_rule_is_documented_and_every_option_parses() {
        let body = MAN.iter().find(|s| s.title == "RULES").expect("RULES").body;
        for r in rules::RULES {
            let line = format!("{} ({})", r.id, r.severity.word());
            assert!(body.contains(&line), "man page RULES lacks '{line}'");
        }
        for p in OPTIONS {
            let mut a = vec![format!("--{}", p.name)];
            if p.name != "json" {
                a.push(p.default.unwrap_or("/tmp/x").to_string());
            }
            if p.name == "out" {
                a.insert(0, "migrate".into());
            }
            assert!(parse_args(&a).is_ok(), "{a:?}");
        }
    }

    #[test]
    fn migrate_writes_the_plan_and_never_the_key() {
        let dir = std::env::temp_dir().join(format!("oxha-check-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cib = dir.join("cib.xml");
        std::fs::write(
            &cib,
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/><resources>
<primitive id="st-maas" class="stonith" type="external/maas"><instance_attributes id="st-maas-ia">
<nvpair id="st-maas-url" name="url" value="http://10.0.0.3:5240/MAAS"/>
<nvpair id="st-maas-key" name="apikey" value="ck:tk:Secret-Token-Part"/>
<nvpair id="st-maas-h" name="hostnames" value="compute-1"/></instance_attributes></primitive>
</resources><constraints/></configuration><status/></cib>"#,
        )
        .expect("cib");
        let out = dir.join("plan");
        let code = main_with(&args(&[
            "migrate",
            "--cib",
            cib.to_str().expect("path"),
            "--out",
            out.to_str().expect("path"),
        ]));
        assert_eq!(code, 0);
        let apply = std::fs::read_to_string(out.join("apply.sh")).expect("apply.sh");
        assert!(apply.contains("stonith:fence_maas"), "{apply}");
        for f in ["apply.sh", "rollback.sh", "notes.txt"] {
            let text = std::fs::read_to_string(out.join(f)).expect(f);
            assert!(!text.contains("Secret-Token-Part"), "{f} holds the key");
        }
        // Not a CIB: one line, exit 3.
        std::fs::write(&cib, "<nodes/>").expect("cib");
        assert_eq!(
            main_with(&args(&["migrate", "--cib", cib.to_str().expect("path")])),
            CANNOT_CHECK
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_check_of_a_cib_without_devices_reports_its_remote_nodes() {
        let cib = ocf_lib::cib::parse(
            r#"<cib><configuration><nodes/><resources>
<primitive id="compute-1" class="ocf" provider="pacemaker" type="remote"/>
</resources></configuration></cib>"#,
        )
        .expect("cib");
        let view = collect::view(
            cib,
            Duration::from_secs(60),
            Deadline::after(Duration::from_secs(5)),
        );
        let findings = rules::check(&view);
        assert_eq!(report::exit_code(&findings), 2);
        let doc: serde_json::Value =
            serde_json::from_str(&report::json(&view, &findings)).expect("JSON");
        assert_eq!(doc["errors"], 1);
        assert_eq!(doc["findings"][0]["rule"], "no-fencing-level");
        assert_eq!(doc["findings"][0]["subject"], "compute-1");
        let table = report::table(&view, &findings);
        assert!(
            table.contains("MAAS not checked (no fence_maas device)"),
            "{table}"
        );
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with("fix: cibadmin --create")),
            "{table}"
        );
    }

    #[test]
    fn bad_input_is_one_line_and_exit_3() {
        assert_eq!(main_with(&args(&["--bogus"])), CANNOT_CHECK);
        assert_eq!(
            main_with(&args(&["--cib", "/nonexistent/cib.xml"])),
            CANNOT_CHECK
        );
    }
}
