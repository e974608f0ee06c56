use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Accepts connections on loopback and records the first line of whatever arrives, answering
/// 502: a stand-in for "another host" and for a proxy. Nothing may ever reach it.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(text.lines().next().unwrap_or("").to_string());
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A server answering every request with `status` and `location`.
fn server(status: u16, location: Option<String>) -> u16 {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let port = server.server_addr().to_ip().expect("ip").port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let mut resp = tiny_http::Response::from_string("{}").with_status_code(status);
            if let Some(l) = &location {
                if let Ok(h) = tiny_http::Header::from_bytes("Location", l.as_bytes()) {
                    resp.add_header(h);
                }
            }
            let _ = req.respond(resp);
        }
    });
    port
}

fn policy() -> Policy {
    let mut p = Policy::new("oxha-http-test");
    p.timeout = Duration::from_secs(5);
    p
}

#[test]
fn redirects_are_never_followed() {
    let elsewhere = Recorder::start();
    for status in [301, 302, 303, 307, 308] {
        let port = server(
            status,
            Some(format!(
                "http://127.0.0.1:{}/v3/auth/tokens",
                elsewhere.port
            )),
        );
        let client = policy().client().expect("client");
        let resp = client
            .post(format!("http://127.0.0.1:{port}/v3/auth/tokens"))
            .header("X-Auth-Token", "token-that-must-stay-here")
            .body("{\"password\": \"p\"}")
            .send()
            .expect("an answer");
        assert_eq!(resp.status().as_u16(), status);
        let why = refused_redirect(&resp).expect("a redirect");
        assert!(
            why.contains("refused") && why.contains(&elsewhere.port.to_string()),
            "{why}"
        );
    }
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

#[test]
fn proxies_from_the_environment_are_never_used() {
    let proxy = Recorder::start();
    let target = server(200, None);
    let url = format!("http://127.0.0.1:{}", proxy.port);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
    ] {
        std::env::set_var(var, &url);
    }
    std::env::set_var("NO_PROXY", "");
    let client = policy().client().expect("client");
    let resp = client
        .get(format!("http://127.0.0.1:{target}/v1/segments"))
        .send()
        .expect("direct answer");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[test]
fn a_configured_proxy_is_used() {
    let proxy = Recorder::start();
    let mut p = policy();
    p.proxy = Some(format!("http://127.0.0.1:{}", proxy.port));
    let client = p.client().expect("client");
    let resp = client
        .get("http://192.0.2.1:5240/MAAS/")
        .send()
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 502, "the recorder answered");
    assert_eq!(proxy.seen(), ["GET http://192.0.2.1:5240/MAAS/ HTTP/1.1"]);
    let mut p = policy();
    p.proxy = Some("http://user:pw@127.0.0.1:3128".into());
    let err = p.client().expect_err("userinfo refused");
    assert!(!err.contains("pw"), "{err}");
}

#[test]
fn urls_with_credentials_or_odd_schemes_are_refused() {
    for (url, ok) in [
        ("http://keystone:5000/v3", true),
        ("https://[2001:db8::1]:5443/MAAS", true),
        ("https://admin:s3cret@keystone:5000/v3", false),
        ("https://admin@keystone:5000/v3", false),
        ("ftp://maas/", false),
        ("file:///etc/passwd", false),
        ("keystone:5000", false),
        ("http://", false),
    ] {
        let got = check_url(url, "auth_url");
        assert_eq!(got.is_ok(), ok, "{url}: {got:?}");
        if let Err(e) = got {
            assert!(e.starts_with("auth_url '"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}

#[test]
fn ca_bundles_are_checked_when_read() {
    let dir = std::env::temp_dir().join(format!("oxha-http-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").expect("write");
    let err = policy()
        .ca_file(&bad.to_string_lossy(), "ca_file")
        .and_then(|p| p.client())
        .expect_err("no certificate");
    assert!(err.starts_with("ca_file "), "{err}");
    let err = policy()
        .ca_file("/nonexistent/ca.pem", "ssl_ca")
        .expect_err("missing");
    assert!(err.starts_with("ssl_ca /nonexistent/ca.pem:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

proptest::proptest! {
    #[test]
    fn check_url_never_shows_a_password(user in "[a-z]{1,8}", pass in "[A-Za-z0-9]{6,16}", host in "[a-z]{1,10}", tail in "[ -~]{0,30}") {
        let url = format!("https://{user}:{pass}@{host}:5000/{tail}");
        if let Err(e) = check_url(&url, "auth_url") {
            proptest::prop_assert!(!e.contains(&format!(":{pass}@")), "{}", e);
        } else {
            proptest::prop_assert!(false, "accepted {}", url);
        }
    }

    #[test]
    fn check_url_never_panics(text in "(?s).{0,80}") {
        let _ = check_url(&text, "url");
        let _ = without_userinfo(&text);
    }
}
