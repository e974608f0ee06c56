use super::api::*;
use super::*;
use ocf_lib::fence::{run_with, Source};

fn machine(id: &str, hostname: &str, domain: &str) -> Machine {
    Machine {
        system_id: id.into(),
        hostname: hostname.into(),
        fqdn: format!("{hostname}.{domain}"),
        status_name: "Deployed".into(),
        power_state: "on".into(),
        power_type: "ipmi".into(),
    }
}

#[test]
fn target_resolution() {
    let a = machine("abc123", "compute-1", "maas");
    let b = machine("def456", "compute-1", "other");
    let c = machine("ghi789", "compute-2", "maas");
    type Case = (
        &'static str,
        bool,
        Vec<Machine>,
        Result<&'static str, &'static str>,
    );
    let cases: Vec<Case> = vec![
        ("compute-1", false, vec![a.clone()], Ok("abc123")),
        ("COMPUTE-1", false, vec![a.clone()], Ok("abc123")),
        (
            "compute-1",
            false,
            vec![a.clone(), b.clone()],
            Err("matches 2 MAAS machines (abc123, def456)"),
        ),
        (
            "compute-1.maas",
            true,
            vec![a.clone(), b.clone()],
            Ok("abc123"),
        ),
        (
            "compute-1.other",
            true,
            vec![a.clone(), b.clone()],
            Ok("def456"),
        ),
        (
            "compute-1.nowhere",
            true,
            vec![a.clone(), b.clone()],
            Err("no MAAS machine has the FQDN 'compute-1.nowhere'"),
        ),
        ("ghi789", false, vec![c.clone()], Ok("ghi789")),
        (
            "compute-9",
            false,
            vec![],
            Err("no MAAS machine has the hostname or system_id 'compute-9'"),
        ),
        // MAAS answered something that does not match what was asked: not a match.
        ("compute-3", false, vec![c.clone()], Err("no MAAS machine")),
    ];
    for (plug, is_fqdn, candidates, want) in cases {
        let got = pick_machine(plug, is_fqdn, candidates).map(|m| m.system_id);
        match want {
            Ok(id) => assert_eq!(got.as_deref(), Ok(id), "plug {plug}"),
            Err(msg) => {
                let e = got.expect_err(plug);
                assert!(e.contains(msg), "plug {plug}: {e}");
            }
        }
    }
}

#[test]
fn power_state_answers() {
    for (body, want) in [
        (r#"{"state": "on"}"#, Ok("on")),
        (r#"{"state": "off"}"#, Ok("off")),
        (r#"{"state": "unknown"}"#, Ok("unknown")),
        (r#"{"state": "error"}"#, Ok("error")),
        ("null", Err(())),
        ("{}", Err(())),
        ("[]", Err(())),
        ("<html>proxy</html>", Err(())),
        ("", Err(())),
    ] {
        let got = parse_power_state(body);
        match want {
            Ok(s) => assert_eq!(got.as_deref(), Ok(s), "{body}"),
            Err(()) => assert!(got.is_err(), "{body}: {got:?}"),
        }
    }
    assert_eq!(power_state("on"), Ok(PowerState::On));
    assert_eq!(power_state("off"), Ok(PowerState::Off));
    for bad in ["unknown", "error", "", "OFF"] {
        assert!(power_state(bad).is_err(), "{bad}");
    }
}

#[test]
fn power_answers() {
    assert!(
        parse_power_answer("power_off", r#"{"system_id": "abc", "power_state": "on"}"#).is_ok()
    );
    for body in ["null", "true", "\"ok\"", "[]", "", "not json"] {
        let e = parse_power_answer("power_off", body).expect_err(body);
        assert!(matches!(e, MaasError::Body(_)), "{body}: {e:?}");
    }
    let e = parse_power_answer("power_off", "null")
        .unwrap_err()
        .to_string();
    assert!(e.contains("null") && e.contains("manual"), "{e}");
}

#[test]
fn machine_list_streams_and_filters() {
    let body = r#"[
      {"system_id": "a1", "hostname": "n1", "fqdn": "n1.maas", "power_state": "on",
       "tag_names": ["compute"], "zone": {"name": "z1", "id": 1}, "pool": {"name": "p1"}, "extra": [1, {"x": null}]},
      {"system_id": "a2", "hostname": "n2", "fqdn": "n2.maas", "power_state": "off",
       "tag_names": [], "zone": {"name": "z2"}, "pool": null},
      {"system_id": "a3", "hostname": "n3", "power_state": "unknown"}
    ]"#;
    let mut all = Vec::new();
    parse_machine_list(body.as_bytes(), &mut |m| all.push(m)).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].zone.as_deref(), Some("z1"));
    assert_eq!(all[1].pool, None);
    assert_eq!(all[2].fqdn, "");
    let names = |f: &dyn Fn(&ListedMachine) -> bool| -> Vec<String> {
        all.iter()
            .filter(|m| f(m))
            .map(|m| m.hostname.clone())
            .collect()
    };
    assert_eq!(
        names(&|m| list_filter(m, &[], Some("compute"), None, None)),
        ["n1"]
    );
    assert_eq!(
        names(&|m| list_filter(m, &[], None, Some("z2"), None)),
        ["n2"]
    );
    assert_eq!(
        names(&|m| list_filter(m, &[], None, None, Some("p1"))),
        ["n1"]
    );
    assert_eq!(
        names(&|m| list_filter(m, &["N2.maas".into(), "n3".into()], None, None, None)),
        ["n2", "n3"]
    );
    assert_eq!(names(&|m| list_filter(m, &[], None, None, None)).len(), 3);
    for bad in ["{}", "[1, 2]", "[{\"hostname\": 5}]", "[", "null"] {
        assert!(
            parse_machine_list(bad.as_bytes(), &mut |_| {}).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn api_keys() {
    let k = ApiKey::parse("ck123:tk4567:secretsecretsecret\n").unwrap();
    assert_eq!(k.consumer_key, "ck123");
    assert_eq!(k.token_key, "tk4567");
    assert!(!format!("{k:?}").contains("secretsecretsecret"));
    for bad in ["", "a:b", "a:b:c:d", "a::c", ":b:c", "a:b:", "a:b:c d"] {
        let e = ApiKey::parse(bad).expect_err(bad);
        assert!(bad.len() < 4 || !e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn oauth_header_is_what_maas_expects() {
    let k = ApiKey::parse("CKEYckeyckey:TKEYtkeytkey:TSECRETtsecrettsecret").unwrap();
    let h = k.authorization("GET", "http://127.0.0.1:5240/MAAS/api/2.0/machines/");
    let params = h.strip_prefix("OAuth ").expect(&h);
    let mut found = std::collections::BTreeMap::new();
    for part in params.split(',') {
        let (key, value) = part.split_once('=').expect(part);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .expect(value);
        found.insert(key.to_string(), value.to_string());
    }
    assert_eq!(found["oauth_consumer_key"], "CKEYckeyckey");
    assert_eq!(found["oauth_token"], "TKEYtkeytkey");
    assert_eq!(found["oauth_signature_method"], "PLAINTEXT");
    assert_eq!(found["oauth_signature"], "%26TSECRETtsecrettsecret");
    assert_eq!(found["oauth_version"], "1.0");
    assert!(found["oauth_timestamp"].parse::<u64>().unwrap() > 1_600_000_000);
    assert!(!found["oauth_nonce"].is_empty());
    let h2 = k.authorization("GET", "http://127.0.0.1:5240/MAAS/api/2.0/machines/");
    assert_ne!(h, h2, "nonce must change per request");
}

#[test]
fn base_urls() {
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<u16>,
        bool,
        Result<&'a str, &'a str>,
    );
    let cases: &[Case] = &[
        (
            None,
            Some("10.0.0.3"),
            None,
            false,
            Ok("http://10.0.0.3:5240/MAAS/api/2.0/"),
        ),
        (
            None,
            Some("10.0.0.3"),
            None,
            true,
            Ok("https://10.0.0.3:5443/MAAS/api/2.0/"),
        ),
        (
            None,
            Some("maas.example"),
            Some(8080),
            false,
            Ok("http://maas.example:8080/MAAS/api/2.0/"),
        ),
        (
            None,
            Some("fd00::3"),
            None,
            false,
            Ok("http://[fd00::3]:5240/MAAS/api/2.0/"),
        ),
        (
            None,
            Some("10.0.0.3:8000"),
            Some(9999),
            false,
            Ok("http://10.0.0.3:8000/MAAS/api/2.0/"),
        ),
        (None, Some("10.0.0.3:http"), None, false, Err("not a port")),
        (
            Some("http://10.0.0.3:5240/MAAS"),
            Some("ignored"),
            None,
            false,
            Ok("http://10.0.0.3:5240/MAAS/api/2.0/"),
        ),
        (
            Some("http://10.0.0.3:5240/MAAS/"),
            None,
            None,
            false,
            Ok("http://10.0.0.3:5240/MAAS/api/2.0/"),
        ),
        (
            Some("https://maas/MAAS/api/2.0/"),
            None,
            None,
            false,
            Ok("https://maas/MAAS/api/2.0/"),
        ),
        (
            Some("ftp://maas/MAAS"),
            None,
            None,
            false,
            Err("must start with http"),
        ),
        (
            Some("10.0.0.3:5240/MAAS"),
            None,
            None,
            false,
            Err("must start with http"),
        ),
        (
            Some("http://admin:pw@10.0.0.3:5240/MAAS"),
            None,
            None,
            false,
            Err("contains a user name or password"),
        ),
        (None, None, None, false, Err("set ip")),
        (None, Some("  "), None, false, Err("set ip")),
        (None, Some("http://x/"), None, false, Err("use maas_url")),
    ];
    for (url, ip, port, ssl, want) in cases {
        let got = base_url(*url, *ip, *port, *ssl);
        match want {
            Ok(u) => assert_eq!(got.as_deref(), Ok(*u), "{url:?} {ip:?}"),
            Err(m) => assert!(
                got.as_ref().is_err_and(|e| e.contains(m)),
                "{url:?} {ip:?}: {got:?}"
            ),
        }
    }
}

fn stdin_run(input: &str) -> ocf_lib::fence::Outcome {
    run_with::<MaasFence>(Source::Stdin, Vec::new(), input, std::time::Instant::now())
}

#[test]
fn bad_inputs_fail_cleanly_without_contacting_anything() {
    let cases = [
        "action=validate-all\nip=127.0.0.1\n", // no key
        "action=validate-all\nip=127.0.0.1\napi_key=only:two\n", // malformed key
        "action=validate-all\napi_key=a1b2:c3d4:e5f6g7\n", // no address
        "action=validate-all\nip=127.0.0.1\napi_key=a1b2:c3d4:e5f6g7\nipport=99999\n", // port out of range
        "action=validate-all\nip=127.0.0.1\napi_key=a1b2:c3d4:e5f6g7\nstop_mode=gentle\n",
        "action=validate-all\nip=127.0.0.1\napi_key_file=/nonexistent/key\n",
        "action=validate-all\nmaas_url=gopher://x\napi_key=a1b2:c3d4:e5f6g7\n",
        "action=validate-all\nip=127.0.0.1\napi_key=a1b2:c3d4:e5f6g7\nssl_ca=/nonexistent/ca.pem\n",
        "action=frobnicate\nip=127.0.0.1\napi_key=a1b2:c3d4:e5f6g7\n",
        "action=off\nip=127.0.0.1\napi_key=a1b2:c3d4:e5f6g7\n", // no plug
    ];
    for input in cases {
        let out = stdin_run(input);
        assert_eq!(out.exit, 1, "{input}");
        assert!(out.stdout.is_empty(), "{input}: {}", out.stdout);
    }
    let ok = stdin_run("action=validate-all\nurl=http://127.0.0.1:1/MAAS\napikey=a1b2:c3d4:e5f6g7\nhostnames=a b\n");
    assert_eq!(ok.exit, 0);
}

#[test]
fn unreachable_maas_is_a_failure_for_every_device_action() {
    // Port 1 on loopback: connection refused at once.
    for action in ["off", "reboot", "on", "status", "list", "monitor"] {
        let out = stdin_run(&format!(
            "action={action}\nip=127.0.0.1\nipport=1\napi_key=a1b2:c3d4:e5f6g7\nport=compute-1\nlogin_timeout=2\n"
        ));
        assert_eq!(out.exit, 1, "{action}: {out:?}");
        assert!(!out.stdout.contains("Success"), "{action}: {out:?}");
    }
}

#[test]
fn metadata_lists_maas_options_and_legacy_names() {
    let xml = ocf_lib::render::fence_xml(&META);
    for needle in [
        "name=\"fence_maas\"",
        "name=\"maas_url\"",
        "name=\"url\"",
        "name=\"apikey\"",
        "name=\"api_key_file\"",
        "name=\"hostnames\"",
        "name=\"port\"",
        "name=\"plug\"",
        "name=\"stop_mode\"",
        "<action name=\"on\" automatic=\"0\"",
        "<action name=\"reboot\"",
        "<action name=\"list\"",
    ] {
        assert!(xml.contains(needle), "{needle} missing");
    }
}

#[test]
fn delay_comes_before_any_contact_with_maas() {
    // As fence-agents' delay-check: even with MAAS unreachable, off and reboot wait first.
    for action in ["off", "reboot"] {
        let start = std::time::Instant::now();
        let out = stdin_run(&format!(
            "action={action}\nip=127.0.0.1\nipport=1\napi_key=a1b2:c3d4:e5f6g7\nport=compute-1\ndelay=1\n"
        ));
        assert_eq!(out.exit, 1);
        assert!(
            start.elapsed() >= std::time::Duration::from_secs(1),
            "{action} did not wait"
        );
    }
}

proptest::proptest! {
    /// Whatever MAAS (or something in its place) answers, the parsers return an error or a
    /// value, never a panic; and only "on" and "off" are power states.
    #[test]
    fn maas_answers_never_panic(body in "(?s).{0,400}") {
        let state = parse_power_state(&body);
        if let Ok(s) = &state {
            let confirmed = power_state(s);
            proptest::prop_assert!(confirmed.is_err() || s == "on" || s == "off");
        }
        let _ = parse_power_answer("power_off", &body);
        let _ = parse_machine_list(body.as_bytes(), &mut |_| {});
        let _ = serde_json::from_str::<Vec<Machine>>(&body);
        let _ = ApiKey::parse(&body);
    }

    #[test]
    fn power_state_answers_round_trip(state in "[a-z]{0,8}") {
        let body = serde_json::json!({ "state": state }).to_string();
        proptest::prop_assert_eq!(parse_power_state(&body), Ok(state.clone()));
        proptest::prop_assert_eq!(power_state(&state).is_ok(), state == "on" || state == "off");
    }

    #[test]
    fn machine_lists_round_trip(
        machines in proptest::collection::vec(
            ("[a-z][a-z0-9-]{0,12}", proptest::sample::select(vec!["on", "off", "unknown", "error"]), proptest::option::of("[a-z0-9-]{1,8}")),
            0..20,
        )
    ) {
        let doc: Vec<serde_json::Value> = machines
            .iter()
            .map(|(h, p, z)| serde_json::json!({"system_id": "x", "hostname": h, "fqdn": format!("{h}.maas"),
                "power_state": p, "tag_names": [], "zone": z.as_ref().map(|z| serde_json::json!({"name": z})), "pool": null}))
            .collect();
        let body = serde_json::to_string(&doc).expect("JSON");
        let mut seen = Vec::new();
        parse_machine_list(body.as_bytes(), &mut |m| seen.push(m)).expect("parses");
        proptest::prop_assert_eq!(seen.len(), machines.len());
        for (m, (h, p, z)) in seen.iter().zip(&machines) {
            proptest::prop_assert_eq!(&m.hostname, h);
            proptest::prop_assert_eq!(&m.power_state, p);
            proptest::prop_assert_eq!(&m.zone, z);
        }
    }
}

#[test]
fn retry_waits_follow_retry_after_with_jitter_and_give_up_on_long_ones() {
    use crate::api::{retry_wait, MAX_RETRY_WAIT};
    use std::time::Duration;
    for _ in 0..50 {
        let w = retry_wait(Some(Duration::from_secs(1))).expect("1 s is waited for");
        assert!(
            w >= Duration::from_secs(1) && w <= Duration::from_millis(1500),
            "{w:?}"
        );
        let w = retry_wait(None).expect("no Retry-After: 1 s");
        assert!(w >= Duration::from_secs(1) && w <= Duration::from_millis(1500));
        let w = retry_wait(Some(Duration::ZERO)).expect("0 s");
        assert!(w >= Duration::from_millis(200), "{w:?}");
    }
    assert!(retry_wait(Some(MAX_RETRY_WAIT)).is_some());
    assert_eq!(retry_wait(Some(Duration::from_secs(5))), None);
}
