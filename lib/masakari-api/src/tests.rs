use super::error::{classify, error_message};
use super::keystone::{endpoint, TokenAnswer};
use super::masakari::post_outcome;
use super::*;
use ocf_lib::Deadline;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the recording fake saw: `METHOD path?query | header values | body`.
type Seen = Arc<Mutex<Vec<String>>>;

/// A recording fake, not a keystone, Masakari or nova: one loopback port that answers the few
/// paths the client uses with canned bodies (its catalog points at itself) and records every
/// request. The unit tests below check what the client sends (paths, token header,
/// microversion, body) and how it reads answers and refusals. How real services answer is
/// tested elsewhere: keystone and Masakari in the agents' suites (`tests/masakari-env`), the
/// whole stack in `tests/openstack-env`.
fn recording_fake() -> (u16, Seen) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let port = server.server_addr().to_ip().expect("ip").port();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let header = |name: &str| {
                req.headers()
                    .iter()
                    .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                    .map(|h| h.value.as_str().to_string())
                    .unwrap_or_default()
            };
            let line = format!(
                "{} {} | {} | {} | {body}",
                req.method(),
                req.url(),
                header("X-Auth-Token"),
                header("OpenStack-API-Version")
            );
            log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            let base = format!("http://127.0.0.1:{port}");
            let (status, text, token) = match (req.method().as_str(), req.url()) {
                ("POST", "/v3/auth/tokens") => (
                    201,
                    serde_json::json!({"token": {"catalog": [
                        {"type": "compute", "endpoints": [{"interface": "internal", "region_id": "RegionOne", "url": format!("{base}/v2.1")}]},
                        {"type": "instance-ha", "endpoints": [{"interface": "internal", "region": "RegionOne", "url": format!("{base}/v1")}]}
                    ]}})
                    .to_string(),
                    true,
                ),
                ("GET", "/v1/segments") => (
                    200,
                    r#"{"segments": [{"uuid": "s-1", "name": "seg1", "extra": 1}]}"#.into(),
                    false,
                ),
                ("GET", "/v1/segments/s-1/hosts") => (
                    200,
                    r#"{"hosts": [{"name": "compute-1", "uuid": "h-1", "on_maintenance": true}]}"#
                        .into(),
                    false,
                ),
                ("GET", u) if u.ends_with("&host=compute-down") => (
                    200,
                    r#"{"services": [{"id": "5f0c-down", "binary": "nova-compute", "host": "compute-down", "forced_down": false, "state": "down", "status": "disabled"}]}"#.into(),
                    false,
                ),
                ("GET", u) if u.ends_with("&host=compute-none") => {
                    (200, r#"{"services": []}"#.into(), false)
                }
                ("GET", u) if u.starts_with("/v2.1/os-services?") => (
                    200,
                    r#"{"services": [{"id": "5f0c-uuid", "binary": "nova-compute", "host": "compute-1", "forced_down": false, "state": "up", "status": "enabled"}]}"#.into(),
                    false,
                ),
                ("GET", "/v2.1/os-hypervisors/detail") => (
                    200,
                    r#"{"hypervisors": [{"id": 1, "hypervisor_hostname": "compute-1.maas", "service": {"host": "compute-1", "id": 7}, "state": "up", "status": "enabled", "memory_mb": 4096, "memory_mb_used": 1024, "vcpus": 4, "vcpus_used": 2, "running_vms": 2}]}"#.into(),
                    false,
                ),
                ("GET", u) if u.starts_with("/v1/notifications?") => (
                    200,
                    r#"{"notifications": [{"notification_uuid": "n-1", "type": "COMPUTE_HOST", "hostname": "compute-1", "generated_time": "2026-12-04T08:00:00.000000", "status": "finished", "payload": {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}}]}"#.into(),
                    false,
                ),
                ("POST", "/v2.1/servers/0b7d-11/action") => (202, String::new(), false),
                ("POST", "/v2.1/servers/0b7d-22/action") => (
                    409,
                    r#"{"conflictingRequest": {"code": 409, "message": "Cannot 'stop' instance 0b7d-22 while it is in vm_state stopped"}}"#.into(),
                    false,
                ),
                ("GET", "/v2.1/servers/0b7d-401") => (
                    401,
                    r#"{"error": {"code": 401, "message": "The request you have made requires authentication."}}"#.into(),
                    false,
                ),
                ("GET", "/v2.1/servers/0b7d-11") => (
                    200,
                    r#"{"server": {"id": "0b7d-11", "OS-EXT-STS:vm_state": "stopped", "OS-EXT-STS:task_state": null}}"#.into(),
                    false,
                ),
                ("PUT", "/v2.1/os-services/5f0c-uuid") => (
                    200,
                    r#"{"service": {"id": "5f0c-uuid", "binary": "nova-compute", "host": "compute-1", "forced_down": true}}"#.into(),
                    false,
                ),
                _ => (404, r#"{"itemNotFound": {"message": "nope"}}"#.into(), false),
            };
            let mut resp = tiny_http::Response::from_string(text).with_status_code(status);
            if token {
                if let Ok(h) = tiny_http::Header::from_bytes("X-Subject-Token", "tok-123456") {
                    resp.add_header(h);
                }
            }
            let _ = req.respond(resp);
        }
    });
    (port, seen)
}

static META: ocf_lib::AgentMeta = ocf_lib::AgentMeta {
    name: "test",
    kind: ocf_lib::AgentKind::Resource,
    version: "0",
    shortdesc: "",
    longdesc: "",
    params: &[],
    param_groups: &[CONNECTION_PARAMS],
    actions: &[],
    man_sections: &[],
};

/// A resource agent with `password_script`, as masakari-restart declares it.
static SCRIPT_META: ocf_lib::AgentMeta = ocf_lib::AgentMeta {
    params: &[ocf_lib::password_script::PARAM],
    ..META
};

fn connection(pairs: &[(&str, &str)]) -> Result<Connection, String> {
    connection_of(&META, pairs)
}

fn connection_of(
    meta: &'static ocf_lib::AgentMeta,
    pairs: &[(&str, &str)],
) -> Result<Connection, String> {
    let mut p = ocf_lib::Params::new(meta);
    for (k, v) in pairs {
        p.set(k, *v);
    }
    p.check_all().map_err(|e| e.to_string())?;
    Connection::from_params(&p)
}

fn keystone(port: u16) -> Connection {
    connection(&[
        ("auth_url", &format!("http://127.0.0.1:{port}/v3")),
        ("username", "masakari"),
        ("password", "Keystone-Pa55word"),
        ("project_name", "services"),
        ("interface", "internal"),
    ])
    .expect("valid")
}

#[test]
fn catalog_lookup_accepts_the_ha_alias_and_region_id() {
    let token: TokenAnswer = serde_json::from_value(serde_json::json!({"token": {"catalog": [
        {"type": "compute", "endpoints": [{"interface": "public", "region": "RegionOne", "url": "http://nova"}]},
        {"type": "ha", "endpoints": [
            {"interface": "internal", "region_id": "RegionOne", "url": "http://m:15868/v1/abc"},
            {"interface": "public", "region": "RegionTwo", "url": "http://other"}]}
    ]}}))
    .expect("parses");
    let cat = &token.token.catalog;
    let ha = masakari::SERVICE_TYPES;
    assert_eq!(
        endpoint(cat, ha, "RegionOne", "internal").as_deref(),
        Some("http://m:15868/v1/abc")
    );
    assert_eq!(endpoint(cat, ha, "RegionOne", "public"), None);
    assert_eq!(
        endpoint(cat, nova::SERVICE_TYPES, "RegionOne", "public").as_deref(),
        Some("http://nova")
    );
}

#[test]
fn answers_are_classified_as_the_engine_means_them() {
    let dup = r#"{"conflictingRequest": {"code": 409, "message": "Notification received from host h1 of type 'VM' is duplicate."}}"#;
    assert!(error_message(dup).ends_with("is duplicate."));
    assert_eq!(error_message("<html>oops</html>"), "<html>oops</html>");
    assert!(matches!(classify(503, ""), Failure::Transient(_)));
    assert!(matches!(classify(403, "{}"), Failure::Refused(403, _)));
    assert_eq!(
        post_outcome(202, r#"{"notification": {"notification_uuid": "n-1"}}"#),
        PostOutcome::Accepted("n-1".into())
    );
    assert!(matches!(post_outcome(409, dup), PostOutcome::Duplicate(_)));
    let maint = r#"{"conflictingRequest": {"message": "Notification received from host h1 of type 'COMPUTE_HOST' is ignored as the host is already under maintenance."}}"#;
    assert!(matches!(
        post_outcome(409, maint),
        PostOutcome::Maintenance(_)
    ));
    let unknown = r#"{"badRequest": {"message": "Host with name h9 could not be found."}}"#;
    assert!(matches!(
        post_outcome(400, unknown),
        PostOutcome::UnknownHost(_)
    ));
    assert!(matches!(
        post_outcome(500, "boom"),
        PostOutcome::Failed(Failure::Transient(_))
    ));
}

#[test]
fn connection_parameters_are_checked() {
    let err = connection(&[("auth_mode", "noauth")]).expect_err("needs a URL");
    assert_eq!(err, "auth_mode=noauth needs masakari_url");
    let err = connection(&[("auth_url", "http://k:5000/v3")]).expect_err("incomplete");
    assert_eq!(err, "auth_mode=keystone needs username");
    let err = connection(&[
        ("auth_mode", "noauth"),
        ("masakari_url", "http://admin:Very-Secret@m:15868/v1"),
    ])
    .expect_err("userinfo");
    assert!(
        err.contains("user name or password") && !err.contains("Very-Secret"),
        "{err}"
    );
    let c = keystone(5000);
    for shown in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!shown.contains("Keystone-Pa55word"), "{shown}");
        assert!(shown.contains("masakari"), "{shown}");
    }
}

#[test]
fn a_password_script_is_run_when_a_token_is_needed() {
    let dir = std::env::temp_dir().join(format!("masakari-api-pwscript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let runs = dir.join("runs");
    let file = dir.join("ks");
    std::fs::write(&file, "Script-Pa55word\n").expect("password file");
    let script = format!("echo run >> {}; cat {}", runs.display(), file.display());
    let (port, seen) = recording_fake();
    let auth_url = format!("http://127.0.0.1:{port}/v3");
    let base = [
        ("auth_url", auth_url.as_str()),
        ("username", "masakari"),
        ("project_name", "services"),
        ("interface", "internal"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        connection_of(&SCRIPT_META, &pairs)
    };
    assert_eq!(
        with(&[]).expect_err("no password"),
        "auth_mode=keystone needs password or password_script"
    );
    let both = with(&[("password", "p1"), ("password_script", "echo p2")]);
    assert!(both.expect_err("both").contains("not both"));
    let c = with(&[("password_script", script.as_str())]).expect("valid");
    let shown = format!("{c:?}");
    assert!(
        shown.contains("Script(") && !shown.contains("Pa55word"),
        "{shown}"
    );
    let session = Session::new(c, Deadline::after(Duration::from_secs(20))).expect("session");
    assert!(!runs.exists(), "nothing is run before a token is needed");
    let mut client = MasakariClient::new(session);
    client.find_host("compute-1").expect("answers");
    client.find_host("compute-1").expect("answers");
    let count = std::fs::read_to_string(&runs).expect("the script ran");
    assert_eq!(count.lines().count(), 1, "once per session");
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen[0].contains("\"password\":\"Script-Pa55word\""),
        "{seen:?}"
    );
    // A script that fails is a transient failure: the caller keeps what it had to send.
    let failing = with(&[("password_script", "exit 4")]).expect("valid");
    let session = Session::new(failing, Deadline::after(Duration::from_secs(20))).expect("session");
    let err = MasakariClient::new(session)
        .segments()
        .expect_err("no password");
    assert!(matches!(err, Failure::Transient(_)), "{err}");
    assert!(err.to_string().contains("password_script failed"), "{err}");
    // Without password_script declared (a fence agent's connection group alone), a script
    // is not a source: only password is.
    let err = connection(&[("auth_url", "http://k:5000/v3"), ("username", "u")]);
    assert_eq!(
        err.expect_err("no password"),
        "auth_mode=keystone needs password"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_password_goes_to_keystone_once_then_the_token_everywhere() {
    let (port, seen) = recording_fake();
    let session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let mut client = MasakariClient::new(session);
    let host = client
        .find_host("compute-1")
        .expect("answers")
        .expect("known");
    assert!(host.on_maintenance);
    assert_eq!(host.uuid, "h-1");
    assert_eq!(client.find_host("compute-9").expect("answers"), None);
    let seen = seen.lock().expect("log").clone();
    assert!(seen[0].starts_with("POST /v3/auth/tokens |"), "{seen:?}");
    assert!(
        seen[0].contains("Keystone-Pa55word"),
        "the password went to keystone"
    );
    assert!(
        seen[1..]
            .iter()
            .all(|l| l.contains("| tok-123456 |") && !l.contains("Pa55word")),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("POST /v3")).count(),
        1,
        "one token per session"
    );
}

#[test]
fn force_down_request_is_a_put_with_microversion_2_53() {
    let (port, seen) = recording_fake();
    let mut session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let service = nova::force_down(&mut session, "compute-1").expect("forced down");
    assert!(service.forced_down);
    let seen = seen.lock().expect("log").clone();
    let get = seen
        .iter()
        .find(|l| l.starts_with("GET /v2.1/os-services"))
        .expect("list");
    assert!(
        get.starts_with("GET /v2.1/os-services?binary=nova-compute&host=compute-1 | tok-123456 | compute 2.53 |"),
        "{get}"
    );
    let put = seen.iter().find(|l| l.starts_with("PUT ")).expect("update");
    assert_eq!(
        put,
        "PUT /v2.1/os-services/5f0c-uuid | tok-123456 | compute 2.53 | {\"forced_down\":true}"
    );
    let mut noauth = Session::new(
        connection(&[
            ("auth_mode", "noauth"),
            ("masakari_url", &format!("http://127.0.0.1:{port}/v1")),
        ])
        .expect("valid"),
        Deadline::none(),
    )
    .expect("session");
    let err = nova::force_down(&mut noauth, "compute-1").expect_err("no catalog");
    assert!(err.to_string().contains("auth_mode=keystone"), "{err}");
}

#[test]
fn a_cached_token_is_used_again_only_when_private_young_and_for_the_same_user() {
    use std::os::unix::fs::PermissionsExt;
    let (port, seen) = recording_fake();
    let dir = std::env::temp_dir().join(format!("oxha-token-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cache = dir.join("keystone-token");
    let tokens_asked = || {
        seen.lock()
            .expect("log")
            .iter()
            .filter(|l| l.starts_with("POST /v3/auth/tokens"))
            .count()
    };
    let ask = |conn: Connection| {
        let mut session = Session::new(conn, Deadline::after(Duration::from_secs(20)))
            .expect("session")
            .with_token_cache(cache.clone());
        nova::server_state(&mut session, "0b7d-11").expect("server")
    };
    ask(keystone(port));
    assert_eq!(tokens_asked(), 1);
    let meta = std::fs::metadata(&cache).expect("kept");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&cache).expect("read");
    assert!(
        !text.contains("Keystone-Pa55word"),
        "the password was kept: {text}"
    );
    // The next session (a later monitor) uses it: no keystone request, the same token.
    ask(keystone(port));
    assert_eq!(tokens_asked(), 1);
    assert!(seen
        .lock()
        .expect("log")
        .last()
        .expect("a request")
        .contains("| tok-123456 |"));
    // Another user's session does not.
    let other = connection(&[
        ("auth_url", &format!("http://127.0.0.1:{port}/v3")),
        ("username", "nova"),
        ("password", "Keystone-Pa55word"),
        ("project_name", "services"),
        ("interface", "internal"),
    ])
    .expect("valid");
    ask(other);
    assert_eq!(tokens_asked(), 2);
    // Readable by others: not believed (and rewritten private).
    ask(keystone(port));
    assert_eq!(tokens_asked(), 3, "the other user's token was used");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    ask(keystone(port));
    assert_eq!(tokens_asked(), 4, "a world-readable cache was believed");
    assert_eq!(
        std::fs::metadata(&cache)
            .expect("kept")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Older than 15 minutes: asked again.
    let text = std::fs::read_to_string(&cache).expect("read");
    let mut cached: serde_json::Value = serde_json::from_str(&text).expect("json");
    let issued = cached["issued"].as_u64().expect("issued");
    cached["issued"] = (issued - 16 * 60).into();
    ocf_lib::files::replace_private(&cache, cached.to_string().as_bytes()).expect("aged");
    ask(keystone(port));
    assert_eq!(tokens_asked(), 5, "a token older than 15 minutes was used");
    // Refused (expired, revoked): a new token from keystone, not the cached one again.
    let mut session = Session::new(keystone(port), Deadline::after(Duration::from_secs(20)))
        .expect("session")
        .with_token_cache(cache.clone());
    let err = nova::server_state(&mut session, "0b7d-401").expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(
        tokens_asked(),
        6,
        "the cached token was tried again after a 401"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fenced_host_is_waited_for_until_nova_counts_it_down() {
    let (port, seen) = recording_fake();
    let mut session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let every = Duration::from_millis(50);
    let soon = || Deadline::after(Duration::from_millis(300));
    assert_eq!(
        nova::wait_counted_down(&mut session, "compute-down", &soon(), every),
        Ok(true)
    );
    let asked = |host: &str| {
        seen.lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains(&format!("&host={host} ")))
            .count()
    };
    assert_eq!(asked("compute-down"), 1, "down at the first answer");
    // Counted up all along: asked again and again, then the deadline ends the wait.
    assert_eq!(
        nova::wait_counted_down(&mut session, "compute-1", &soon(), every),
        Ok(false)
    );
    assert!(
        asked("compute-1") >= 3,
        "asked {} times",
        asked("compute-1")
    );
    // A host nova does not know ends the wait at once, with the reason.
    let err = nova::wait_counted_down(&mut session, "compute-none", &soon(), every)
        .expect_err("no such service");
    assert!(
        err.to_string()
            .contains("no nova-compute service on host 'compute-none'"),
        "{err}"
    );
    assert_eq!(asked("compute-none"), 1);
    // Nobody listening: the network error, once the deadline passed.
    let mut gone =
        Session::new(keystone(1), Deadline::after(Duration::from_secs(5))).expect("session");
    let err =
        nova::wait_counted_down(&mut gone, "compute-1", &soon(), every).expect_err("unreachable");
    assert!(matches!(err, Failure::Transient(_)), "{err}");
}

#[test]
fn a_crashed_server_is_stopped_and_read_back() {
    let (port, seen) = recording_fake();
    let mut session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    assert_eq!(
        nova::stop_server(&mut session, "0b7d-11"),
        Ok(nova::StopOutcome::Requested)
    );
    match nova::stop_server(&mut session, "0b7d-22") {
        Ok(nova::StopOutcome::Conflict(m)) => assert!(m.contains("vm_state stopped"), "{m}"),
        other => panic!("409 is a conflict: {other:?}"),
    }
    assert_eq!(
        nova::stop_server(&mut session, "0b7d-33"),
        Ok(nova::StopOutcome::NotFound)
    );
    let state = nova::server_state(&mut session, "0b7d-11").expect("state");
    assert_eq!(state.vm_state, "stopped");
    assert_eq!(state.task_state, None);
    let err = nova::stop_server(&mut session, "../os-services").expect_err("not a uuid");
    assert!(err.to_string().contains("not a server uuid"), "{err}");
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen.iter()
            .any(|l| l == "POST /v2.1/servers/0b7d-11/action | tok-123456 |  | {\"os-stop\":null}"),
        "{seen:?}"
    );
}

#[test]
fn compute_services_and_hypervisors_are_read() {
    let (port, seen) = recording_fake();
    let mut session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let services = nova::compute_services(&mut session).expect("services");
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].host, "compute-1");
    assert_eq!(services[0].status, "enabled");
    let hypervisors = nova::hypervisors(&mut session).expect("hypervisors");
    assert_eq!(hypervisors.len(), 1);
    let h = &hypervisors[0];
    assert_eq!(
        (
            h.service.host.as_str(),
            h.memory_mb,
            h.memory_mb_used,
            h.running_vms
        ),
        ("compute-1", 4096, 1024, 2)
    );
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen.iter().any(|l| l.starts_with(
            "GET /v2.1/os-services?binary=nova-compute | tok-123456 | compute 2.53 |"
        )),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("GET /v2.1/os-hypervisors/detail | tok-123456 |  |")),
        "hypervisors at microversion 2.1 (no header): {seen:?}"
    );
}

#[test]
fn segments_hosts_and_notifications_are_read() {
    let (port, seen) = recording_fake();
    let session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let mut client = MasakariClient::new(session);
    let segments = client.segments().expect("segments");
    assert_eq!(segments[0].name, "seg1");
    assert_eq!(segments[0].recovery_method, "", "absent field: empty");
    let hosts = client.hosts(&segments[0]).expect("hosts");
    assert!(hosts[0].on_maintenance && !hosts[0].reserved);
    let notes = client
        .notifications("COMPUTE_HOST", "2026-12-03T08:00:00.000000Z")
        .expect("notifications");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].payload["event"], "STARTED");
    let seen = seen.lock().expect("log").clone();
    assert!(
        seen.iter().any(|l| l.starts_with(
            "GET /v1/notifications?type=COMPUTE_HOST&generated-since=2026-12-03T08%3A00%3A00.000000Z | tok-123456 |"
        )),
        "{seen:?}"
    );
}

#[test]
fn a_redirecting_keystone_gets_nothing_followed() {
    let (target, seen) = recording_fake();
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let port = server.server_addr().to_ip().expect("ip").port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let mut resp = tiny_http::Response::from_string("").with_status_code(307);
            if let Ok(h) = tiny_http::Header::from_bytes(
                "Location",
                format!("http://127.0.0.1:{target}/v3/auth/tokens"),
            ) {
                resp.add_header(h);
            }
            let _ = req.respond(resp);
        }
    });
    let session =
        Session::new(keystone(port), Deadline::after(Duration::from_secs(20))).expect("session");
    let mut client = MasakariClient::new(session);
    let err = client.segments().expect_err("redirect refused");
    assert!(matches!(err, Failure::Refused(307, _)), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(seen.lock().expect("log").is_empty());
}

#[test]
fn the_deadline_cuts_requests() {
    // A deadline already reached: no request may start.
    let session = Session::new(keystone(9), Deadline::after(Duration::ZERO)).expect("session");
    let mut client = MasakariClient::new(session);
    let err = client.segments().expect_err("no time");
    assert!(err.to_string().contains("no time left"), "{err}");
}

proptest::proptest! {
    #[test]
    fn answers_never_panic(code in 100u16..600, body in "(?s).{0,300}") {
        let _ = post_outcome(code, &body);
        let _ = classify(code, &body);
        let _ = serde_json::from_str::<TokenAnswer>(&body);
        let _ = serde_json::from_str::<masakari::HostList>(&body);
        let _ = serde_json::from_str::<masakari::SegmentList>(&body);
        let _ = serde_json::from_str::<nova::ServiceList>(&body);
    }

    #[test]
    fn hosts_round_trip(names in proptest::collection::vec("[a-z][a-z0-9.-]{0,20}", 0..5), maint in proptest::bool::ANY) {
        let doc = serde_json::json!({"hosts": names.iter().map(|n| serde_json::json!({"name": n, "on_maintenance": maint, "type": "COMPUTE"})).collect::<Vec<_>>()});
        let list: masakari::HostList = serde_json::from_value(doc).expect("parses");
        proptest::prop_assert_eq!(list.hosts.len(), names.len());
        for (h, n) in list.hosts.iter().zip(&names) {
            proptest::prop_assert_eq!(&h.name, n);
            proptest::prop_assert_eq!(h.on_maintenance, maint);
        }
    }
}
