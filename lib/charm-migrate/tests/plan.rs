//! The plan on CIBs built with the crm commands charm-hacluster issues (fixtures/*.sh, the
//! CIBs `cibadmin -Q` printed after running them on tests/multinode's cluster).

use oxha_charm_migrate::{plan, Migration, MAAS_KEY_FILE};
use std::process::{Command, Stdio};

const CHARM_CIB: &str = include_str!("fixtures/masakari-charm.cib.xml");
const EXTRA_CIB: &str = include_str!("fixtures/masakari-keystone-extra.cib.xml");
/// The MAAS API key the fixtures' st-maas carries (the simulator's test key).
const KEY_SECRET: &str = "oxhasecret";

fn planned(cib: &str) -> Migration {
    plan(cib).unwrap_or_else(|e| panic!("no plan: {e}"))
}

/// The `crm configure load update` documents of a script, in order (the here-documents).
fn loads(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in script.lines() {
        match current.as_mut() {
            Some(doc) if line == "OXHA_CRM" => {
                out.push(std::mem::take(doc));
                current = None;
            }
            Some(doc) => {
                doc.push_str(line);
                doc.push('\n');
            }
            None if line.starts_with("crm configure load update - <<") => {
                current = Some(String::new())
            }
            None => {}
        }
    }
    assert!(
        current.is_none(),
        "unterminated here-document in:\n{script}"
    );
    out
}

fn first_line(doc: &str) -> &str {
    doc.lines().next().unwrap_or("")
}

fn sh_syntax_ok(script: &str) {
    let mut child = Command::new("sh")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sh -n");
    assert!(
        out.status.success(),
        "sh -n: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_charm_built_cluster_switches_vip_haproxy_and_st_maas() {
    let m = planned(CHARM_CIB);
    let docs = loads(&m.apply);
    let heads: Vec<&str> = docs.iter().map(|d| first_line(d)).collect();
    assert_eq!(
        heads,
        [
            // stopped by IPaddr2, then written with vip
            "primitive res_masakari_529c012_vip ocf:heartbeat:IPaddr2 \\",
            "primitive res_masakari_529c012_vip ocf:oxha:vip \\",
            "primitive res_masakari_haproxy lsb:haproxy \\",
            "primitive res_masakari_haproxy ocf:oxha:haproxy \\",
            // a fence device in place
            "primitive st-maas stonith:fence_maas \\",
        ],
        "{}",
        m.apply
    );
    // Each stop is waited for before the rewrite, each start before the next step.
    let waits: Vec<&str> = m
        .apply
        .lines()
        .filter(|l| l.starts_with("oxha_wait "))
        .collect();
    assert_eq!(
        waits,
        [
            "oxha_wait stopped res_masakari_529c012_vip",
            "oxha_wait running res_masakari_529c012_vip",
            "oxha_wait stopped res_masakari_haproxy",
            "oxha_wait running res_masakari_haproxy",
            "oxha_wait running st-maas",
        ]
    );
    let at = |needle: &str| m.apply.find(needle).unwrap_or(usize::MAX);
    assert!(
        at("oxha_wait stopped res_masakari_haproxy")
            < at("primitive res_masakari_haproxy ocf:oxha:haproxy"),
        "{}",
        m.apply
    );
    assert!(docs[0].contains("target-role=\"Stopped\""), "{}", docs[0]);
    assert!(docs[2].contains("target-role=\"Stopped\""), "{}", docs[2]);
    for new in [&docs[1], &docs[3], &docs[4]] {
        assert!(!new.contains("target-role"), "{new}");
    }
    // Same parameters, meta attributes and operations as the charm gave.
    assert!(docs[1].contains("params ip=\"10.77.1.100\""), "{}", docs[1]);
    assert!(
        docs[1].contains("op monitor timeout=\"20s\" interval=\"10s\" depth=\"0\""),
        "{}",
        docs[1]
    );
    assert!(
        docs[3].contains("meta migration-threshold=\"INFINITY\" failure-timeout=\"5s\""),
        "{}",
        docs[3]
    );
    assert!(
        docs[3].contains("op monitor interval=\"5s\""),
        "{}",
        docs[3]
    );
    assert!(!docs[3].contains("params"), "{}", docs[3]);
    // external/maas's parameters under fence_maas's names, the targets as a static list.
    let st = &docs[4];
    for want in [
        "maas_url=\"http://10.77.0.254:5240/MAAS\"",
        "hostnames=\"compute1 compute1.maas\"",
        &format!("api_key_file=\"{MAAS_KEY_FILE}\""),
        "pcmk_host_list=\"compute1 compute1.maas\"",
        "op monitor interval=\"25\" start-delay=\"25\" timeout=\"25\"",
    ] {
        assert!(st.contains(want), "{want} missing:\n{st}");
    }
    assert!(!st.contains("apikey") && !st.contains(" url="), "{st}");
    // Only primitives are written: groups, clones and constraints stay as they are.
    for doc in &docs {
        assert_eq!(
            doc.lines().filter(|l| !l.starts_with('\t')).count(),
            1,
            "one object per step:\n{doc}"
        );
    }
    assert!(m.apply.contains(&format!("test -s {MAAS_KEY_FILE}")));
    sh_syntax_ok(&m.apply);
    sh_syntax_ok(&m.rollback);

    let notes = m.notes.join("\n");
    for want in [
        "colocation vip_with_haproxy",
        "order haproxy_before_vips",
        "st-null (stonith:null): kept",
        "compute1 (ocf:pacemaker:remote): kept",
        MAAS_KEY_FILE,
    ] {
        assert!(
            notes.contains(want),
            "{want} missing from the notes:\n{notes}"
        );
    }
    assert!(m.notes.iter().all(|n| !n.contains('\n')), "{notes}");
}

#[test]
fn the_rollback_writes_back_the_charm_definitions_in_reverse_order() {
    let m = planned(CHARM_CIB);
    let docs = loads(&m.rollback);
    let heads: Vec<&str> = docs.iter().map(|d| first_line(d)).collect();
    assert_eq!(
        heads,
        [
            "primitive st-maas stonith:external/maas \\",
            "primitive res_masakari_haproxy ocf:oxha:haproxy \\",
            "primitive res_masakari_haproxy lsb:haproxy \\",
            "primitive res_masakari_529c012_vip ocf:oxha:vip \\",
            "primitive res_masakari_529c012_vip ocf:heartbeat:IPaddr2 \\",
        ],
        "{}",
        m.rollback
    );
    assert!(docs[0].contains(
        "params url=\"http://10.77.0.254:5240/MAAS\" apikey=\"${maas_key}\" hostnames=\"compute1 compute1.maas\""
    ), "{}", docs[0]);
    assert!(m
        .rollback
        .contains(&format!("maas_key=$(head -n 1 {MAAS_KEY_FILE})")));
    // Only the document carrying the key expands; the others are quoted.
    let expanding = m
        .rollback
        .lines()
        .filter(|l| l.ends_with("<<OXHA_CRM"))
        .count();
    assert_eq!(expanding, 1, "{}", m.rollback);
    // The charm's definitions, exactly: the apply's stop steps name the same text.
    let apply = loads(&m.apply);
    assert_eq!(
        docs[4],
        apply[0].replace(" \\\n\tmeta target-role=\"Stopped\"", "")
    );
    assert_eq!(docs[2], apply[2].replace(" target-role=\"Stopped\"", ""));
}

#[test]
fn the_api_key_appears_nowhere_in_the_plan() {
    for cib in [CHARM_CIB, EXTRA_CIB] {
        assert!(cib.contains(KEY_SECRET), "the fixture has the key in clear");
        let m = planned(cib);
        assert!(!m.apply.contains(KEY_SECRET), "{}", m.apply);
        assert!(!m.rollback.contains(KEY_SECRET), "{}", m.rollback);
        assert!(m.notes.iter().all(|n| !n.contains(KEY_SECRET)));
    }
}

#[test]
fn what_oxha_cannot_take_over_is_left_alone_and_named() {
    let m = planned(EXTRA_CIB);
    let heads: Vec<String> = loads(&m.apply)
        .iter()
        .map(|d| first_line(d).to_string())
        .collect();
    // The IPv6 VIP and the systemd haproxy switch too (both stopped already: no stop step).
    assert!(heads.contains(&"primitive res_keystone_2c016de_vip ocf:oxha:vip \\".to_string()));
    assert!(heads.contains(&"primitive res_keystone_haproxy ocf:oxha:haproxy \\".to_string()));
    assert!(!heads
        .iter()
        .any(|h| h.starts_with("primitive res_keystone_2c016de_vip ocf:heartbeat")));
    let notes = m.notes.join("\n");
    for want in [
        "res_keystone_529c013_vip (ocf:heartbeat:IPaddr2): left untouched, ocf:oxha:vip refuses its parameter 'mac'",
        "res_cluster_ip (ocf:heartbeat:IPaddr2): left untouched, it is in clone cl_cluster_ip",
        "res_nova_consoleauth (ocf:openstack:nova-consoleauth): left untouched",
        "ping (ocf:pacemaker:ping): left untouched",
        "res_keystone_2c016de_vip: target-role=Stopped stays",
        "ipv6addr fd77:1::100",
        "colocation vip_consoleauth",
    ] {
        assert!(notes.contains(want), "{want} missing:\n{notes}");
    }
    for untouched in [
        "res_keystone_529c013_vip",
        "res_cluster_ip",
        "res_nova_consoleauth",
        "ping ",
    ] {
        assert!(
            !heads.iter().any(|h| h.contains(untouched)),
            "{untouched}: {heads:?}"
        );
    }
}

/// The fixture with st-maas's primitive changed by `edit`.
fn with_st_maas(edit: impl Fn(&str) -> String) -> String {
    let start = CHARM_CIB
        .find("<primitive id=\"st-maas\"")
        .expect("st-maas");
    let end = start + CHARM_CIB[start..].find("</primitive>").expect("end") + "</primitive>".len();
    format!(
        "{}{}{}",
        &CHARM_CIB[..start],
        edit(&CHARM_CIB[start..end]),
        &CHARM_CIB[end..]
    )
}

#[test]
fn a_cibsecret_key_stays_a_reference() {
    let cib = with_st_maas(|p| p.replace("oxhaconsumer:oxhatoken:oxhasecret", "lrm://"));
    let m = planned(&cib);
    let st = loads(&m.apply).pop().expect("st-maas step");
    assert!(st.contains("apikey=\"lrm://\""), "{st}");
    assert!(!st.contains("api_key_file"), "{st}");
    assert!(!m.apply.contains("test -s"), "{}", m.apply);
    assert!(!m.rollback.contains("maas_key"), "{}", m.rollback);
}

#[test]
fn a_device_with_parameters_fence_maas_lacks_is_left_alone() {
    let cib = with_st_maas(|p| {
        p.replace(
            "</instance_attributes>",
            "<nvpair id=\"st-maas-x\" name=\"maas_version\" value=\"2\"/></instance_attributes>",
        )
    });
    let m = planned(&cib);
    assert!(!m.apply.contains("st-maas"), "{}", m.apply);
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("st-maas (stonith:external/maas): left untouched, fence_maas has no parameter 'maas_version'")),
        "{:?}",
        m.notes
    );
}

#[test]
fn a_value_crm_cannot_carry_back_leaves_the_primitive_alone() {
    let cib = CHARM_CIB.replace(
        "value=\"10.77.1.100\"",
        "value=\"10.77.1.100&quot; nic=&quot;x\"",
    );
    let m = planned(&cib);
    assert!(!m.apply.contains("res_masakari_529c012_vip"), "{}", m.apply);
    assert!(
        m.notes
            .iter()
            .any(|n| n
                .starts_with("res_masakari_529c012_vip (ocf:heartbeat:IPaddr2): left untouched")),
        "{:?}",
        m.notes
    );
}

#[test]
fn a_cluster_with_nothing_to_switch_gets_empty_scripts() {
    let cib = r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>
        <resources><primitive id="d" class="ocf" provider="pacemaker" type="Dummy"/></resources>
        <constraints/></configuration></cib>"#;
    let m = planned(cib);
    assert!(loads(&m.apply).is_empty() && loads(&m.rollback).is_empty());
    assert!(m.notes[0].starts_with("nothing to switch"), "{:?}", m.notes);
    assert!(m
        .notes
        .iter()
        .any(|n| n.starts_with("d (ocf:pacemaker:Dummy): left untouched")));
    sh_syntax_ok(&m.apply);
}

#[test]
fn bad_input_is_a_one_line_error() {
    for (input, want) in [
        ("", "empty"),
        ("{\"not\": \"xml\"}", "not well-formed"),
        ("<cib><configuration>", "not well-formed"),
        ("<html><body/></html>", "not a CIB: the document is <html>"),
        ("<cib/>", "no <configuration>"),
        ("<cib><configuration/></cib>", "no <resources>"),
        (&CHARM_CIB[..CHARM_CIB.len() / 2], "not well-formed"),
    ] {
        let err = plan(input).expect_err(input);
        assert!(err.contains(want), "{input:.40}: {err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(!err.contains(KEY_SECRET), "{err}");
    }
}

#[test]
fn any_prefix_of_a_cib_is_a_plan_or_an_error_never_a_panic() {
    for end in (0..CHARM_CIB.len()).step_by(97) {
        if CHARM_CIB.is_char_boundary(end) {
            let _ = plan(&CHARM_CIB[..end]);
        }
    }
}

#[test]
fn nothing_is_switched_while_pacemaker_would_not_stop_the_old_agent() {
    let maintenance = CHARM_CIB.replacen(
        "<cluster_property_set id=\"cib-bootstrap-options\">",
        "<cluster_property_set id=\"cib-bootstrap-options\"><nvpair id=\"mm\" name=\"maintenance-mode\" value=\"true\"/>",
        1,
    );
    assert_ne!(
        maintenance, CHARM_CIB,
        "the fixture has no cib-bootstrap-options"
    );
    let m = planned(&maintenance);
    assert!(loads(&m.apply).is_empty(), "{}", m.apply);
    assert!(
        m.notes
            .iter()
            .any(|n| n
                .contains("the cluster is in maintenance mode: its old agent would not stop it")),
        "{:?}",
        m.notes
    );

    // A clone that is unmanaged holds its haproxy; the rest switches.
    let clone = CHARM_CIB.replacen(
        "<clone id=\"cl_res_masakari_haproxy\">",
        "<clone id=\"cl_res_masakari_haproxy\"><meta_attributes id=\"u\"><nvpair id=\"u1\" name=\"is-managed\" value=\"false\"/></meta_attributes>",
        1,
    );
    assert_ne!(
        clone, CHARM_CIB,
        "the fixture's clone is written differently"
    );
    let m = planned(&clone);
    let heads: Vec<String> = loads(&m.apply)
        .iter()
        .map(|d| first_line(d).to_string())
        .collect();
    assert!(!heads.iter().any(|h| h.contains(HAPROXY_RES)), "{heads:?}");
    assert!(
        heads.iter().any(|h| h.contains("res_masakari_529c012_vip")),
        "{heads:?}"
    );
    assert!(
        m.notes.iter().any(|n| n
            .starts_with("res_masakari_haproxy (lsb:haproxy): left untouched, it is unmanaged")),
        "{:?}",
        m.notes
    );
}

const HAPROXY_RES: &str = "res_masakari_haproxy";

/// The scripts' wait, against a crm_resource that reports `first` twice, then `then`: it
/// returns on the third answer, not before.
fn wait_passes_through(want: &str, first: &str, then: &str) -> usize {
    let m = planned(CHARM_CIB);
    let header: String = m
        .apply
        .lines()
        .take_while(|l| !l.starts_with("# Before running"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(header.contains("oxha_wait() {"), "{header}");
    let dir =
        std::env::temp_dir().join(format!("charm-migrate-wait-{}-{want}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let count = dir.join("count");
    let fake = dir.join("crm_resource");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {c}\n\
             if [ $n -le 2 ]; then echo '{first}'; else echo '{then}'; fi\n",
            c = count.display()
        ),
    )
    .expect("fake");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{header}oxha_wait {want} r && echo waited"))
        .env("PATH", path)
        .output()
        .expect("sh");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("waited"),
        "{out:?}"
    );
    let calls = std::fs::read_to_string(&count)
        .expect("count")
        .trim()
        .parse()
        .expect("number");
    let _ = std::fs::remove_dir_all(&dir);
    calls
}

#[test]
fn the_scripts_wait_for_the_state_each_step_asked() {
    let running = "resource r is running on: node1";
    let stopped = "resource r is NOT running";
    assert_eq!(wait_passes_through("stopped", running, stopped), 3);
    assert_eq!(wait_passes_through("running", stopped, running), 3);
    // An answer that is neither (the CIB unreachable) is not taken for either.
    assert_eq!(
        wait_passes_through(
            "running",
            "error: Transport endpoint is not connected",
            running
        ),
        3
    );
}
