//! fence_maas against hostile and failing endpoints, run directly (no cluster) against the
//! MAAS simulator on loopback: one time budget per invocation, no redirects, no proxies from
//! the environment, a `password_script` that sees none of the agent's environment, secrets on
//! the command line accepted with a warning. Run `make stage` first.

use maas_sim::LocalSim;
use oxha_harness::http::{proxy_env, Recorder, Redirector};
use oxha_harness::{fence_agent, run_env, Run};
use std::time::{Duration, Instant};

const KEY: &str = "oxhaSafeConsumer01:oxhaSafeTokenKey01:oxhaSafeSecretPart0123456789abcd";
const SECRET: &str = "oxhaSafeSecretPart0123456789abcd";
const MACHINES: &str = r#"[
  {"hostname": "hang-1", "system_id": "h1aaaa", "fault": "hang"},
  {"hostname": "slow-1", "system_id": "s1bbbb", "fault": "slow", "slow_ms": 4000},
  {"hostname": "ok-1", "system_id": "o1cccc"},
  {"hostname": "ok-2", "system_id": "o2dddd"}
]"#;

fn sim(tag: &str) -> LocalSim {
    LocalSim::start(tag, MACHINES, KEY, 100)
}

fn agent(options: &str, env: &[(&str, &str)]) -> (Run, Duration) {
    let started = Instant::now();
    let path = fence_agent("fence_maas").to_string_lossy().into_owned();
    let r = run_env(&[&path], env, Some(options));
    (r, started.elapsed())
}

fn opts(sim: &LocalSim, rest: &str) -> String {
    format!(
        "ip=127.0.0.1\nipport={}\napi_key_file={}\nstonith_status_sleep=0.2\n{rest}",
        sim.port, sim.key_file
    )
}

#[test]
fn a_hanging_maas_ends_within_the_budget_with_a_reason() {
    let sim = sim("hang");
    let (r, took) = agent(
        &opts(&sim, "action=off\nplug=hang-1\ntotal_timeout=5\n"),
        &[],
    );
    eprintln!("hang, total_timeout=5: rc {} after {took:?}", r.code);
    assert_eq!(r.code, 1, "{r}");
    // Ended by its own budget, with the reason: well before the fencer's timeout, which the
    // documentation keeps at least 10 s above total_timeout (a bound a loaded machine keeps).
    assert!(took < Duration::from_secs(15), "took {took:?}: {r}");
    assert!(r.stderr.contains("total_timeout"), "{r}");
    assert!(sim.events("hang-1").is_empty());
}

#[test]
fn the_default_budget_fits_the_fencers_default_timeout() {
    // Nothing set; every machine request takes 20 s: status (20 s), power_off (20 s), and the
    // first confirmation would end at 60 s, when the fencer (default 60 s) kills the agent.
    let sim = sim("default");
    sim.set("slow-1", r#"{"slow_ms": 20000}"#);
    let (r, took) = agent(&opts(&sim, "action=reboot\nplug=slow-1\n"), &[]);
    eprintln!("20 s per request, defaults: rc {} after {took:?}", r.code);
    assert_eq!(r.code, 1, "{r}");
    // It used its 50 s budget and answered before the fencer's 60 s would have killed it.
    assert!(
        took > Duration::from_secs(45) && took < Duration::from_secs(60),
        "took {took:?}: {r}"
    );
    assert!(r.stderr.contains("total_timeout (50 s) used up"), "{r}");
}

#[test]
fn a_slow_maas_is_cut_to_what_is_left() {
    // Every machine request takes 20 s, shell_timeout allows 30: only the budget (6 s) can
    // cut the first request short. Uncut, it alone would take 20 s.
    let sim = sim("slow");
    sim.set("slow-1", r#"{"slow_ms": 20000}"#);
    let (r, took) = agent(
        &opts(
            &sim,
            "action=off\nplug=slow-1\ntotal_timeout=6\nshell_timeout=30\n",
        ),
        &[],
    );
    eprintln!("slow, total_timeout=6: rc {} after {took:?}", r.code);
    assert_eq!(r.code, 1, "{r}");
    // Before the fencer's timeout (at least 10 s above total_timeout), and before the one
    // request would have ended uncut: a bound a loaded machine keeps.
    assert!(took < Duration::from_secs(16), "took {took:?}: {r}");
    assert!(
        r.stderr.contains("total_timeout") || r.stderr.contains("timed out"),
        "{r}"
    );
}

#[test]
fn redirects_are_refused_and_nothing_reaches_their_target() {
    let elsewhere = Recorder::start();
    let redirector = Redirector::start(307, &elsewhere.url());
    let options = format!(
        "ip=127.0.0.1\nipport={}\napi_key={KEY}\naction=status\nplug=ok-1\n",
        redirector.port
    );
    let (r, _) = agent(&options, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("redirect") && r.stderr.contains("refused"),
        "{r}"
    );
    assert!(!redirector.seen().is_empty(), "the redirector was asked");
    assert!(
        elsewhere.seen().is_empty(),
        "followed: {:?}",
        elsewhere.seen()
    );
    assert!(!r.stderr.contains(SECRET), "{r}");
}

#[test]
fn proxies_in_the_environment_are_ignored() {
    let sim = sim("proxy");
    let proxy = Recorder::start();
    let env = proxy_env(&proxy.url());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (r, _) = agent(&opts(&sim, "action=status\nplug=ok-1\n"), &env);
    assert_eq!(r.code, 0, "{r}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    // A proxy named by the parameter is used (and here answers 502, so status fails).
    let (r, _) = agent(
        &opts(
            &sim,
            &format!("action=status\nplug=ok-1\nproxy={}\n", proxy.url()),
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(proxy.seen().len(), 1, "{:?}", proxy.seen());
}

#[test]
fn password_script_sees_none_of_the_agents_environment() {
    let sim = sim("script");
    let dump = sim.dir.join("script-env");
    let script = format!("env > {}; cat {}", dump.display(), sim.key_file);
    let options = format!(
        "ip=127.0.0.1\nipport={}\npassword_script={script}\naction=status\nplug=ok-2\n",
        sim.port
    );
    let (r, _) = agent(
        &options,
        &[
            ("OCF_RESKEY_password", "ocf-reskey-must-not-leak"),
            ("SOME_TOKEN", "unrelated-variable-must-not-leak"),
            ("LC_ALL", "C"),
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    let seen = std::fs::read_to_string(&dump).expect("the script ran");
    assert!(!seen.contains("must-not-leak"), "{seen}");
    let names: Vec<&str> = seen.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(
        names
            .iter()
            .all(|n| ["PATH", "LANG", "LC_ALL", "PWD", "SHLVL", "_"].contains(n)),
        "{names:?}"
    );
    assert!(seen.contains("LC_ALL=C"), "{seen}");
}

#[test]
fn secrets_on_the_command_line_work_with_a_warning() {
    let sim = sim("argv");
    let path = fence_agent("fence_maas").to_string_lossy().into_owned();
    for flag in ["--api-key", "-p", "--password"] {
        let r = run_env(
            &[
                &path,
                "-a",
                "127.0.0.1",
                "-u",
                &sim.port,
                flag,
                KEY,
                "-o",
                "status",
                "-n",
                "ok-1",
            ],
            &[],
            None,
        );
        assert_eq!(r.code, 0, "{flag}: {r}");
        assert!(
            r.stderr.contains("was given on the command line")
                && r.stderr.contains("standard input"),
            "{flag}: {r}"
        );
        assert!(
            !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
            "{r}"
        );
    }
}

#[test]
fn urls_with_credentials_are_refused() {
    let (r, _) = agent(
        &format!("maas_url=http://admin:Url-Pa55word@127.0.0.1:9/MAAS\napi_key={KEY}\naction=status\nplug=ok-1\n"),
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("user name or password"), "{r}");
    assert!(!r.stderr.contains("Url-Pa55word"), "{r}");
}

/// A TLS terminator (socat) in front of the simulator, with a certificate from a test CA.
struct Tls {
    child: std::process::Child,
    port: u16,
    ca: String,
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_in_front_of(sim: &LocalSim) -> Tls {
    let d = sim.dir.display().to_string();
    oxha_harness::run(&[
        "sh",
        "-c",
        &format!(
            "set -e; cd {d}; \
             openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=oxha-test-ca -days 1 -keyout ca.key -out ca.pem 2>/dev/null; \
             openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout tls.key -out tls.csr 2>/dev/null; \
             printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext; \
             openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out tls.crt 2>/dev/null"
        ),
    ])
    .expect_ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={d}/tls.crt,key={d}/tls.key,verify=0"
        ))
        .arg(format!("TCP:{}", sim.addr))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("socat (package socat)");
    oxha_harness::wait_for("the TLS terminator", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    Tls {
        child,
        port,
        ca: format!("{d}/ca.pem"),
    }
}

#[test]
fn tls_trusts_the_system_store_plus_ssl_ca_and_nothing_else() {
    let sim = sim("tls");
    let tls = tls_in_front_of(&sim);
    let base = format!(
        "maas_url=https://127.0.0.1:{}/MAAS\napi_key_file={}\naction=status\nplug=ok-1\n",
        tls.port, sim.key_file
    );
    // The test CA is in no system store: refused.
    let (r, _) = agent(&base, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.to_lowercase().contains("certificate"), "{r}");
    // With it as ssl_ca: verified and answered.
    let (r, _) = agent(&format!("{base}ssl_ca={}\n", tls.ca), &[]);
    assert_eq!(r.code, 0, "{r}");
    // ssl_insecure: no verification at all.
    let (r, _) = agent(&format!("{base}ssl_insecure=1\n"), &[]);
    assert_eq!(r.code, 0, "{r}");
    // A CA file that holds no certificate is a configuration error, said so.
    let (r, _) = agent(&format!("{base}ssl_ca={}\n", sim.key_file), &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("ssl_ca"), "{r}");
}

#[test]
fn a_rate_limited_maas_is_waited_for_and_nothing_is_confirmed_early() {
    // A region that takes 2 requests at once, then 2 a second, answering 503 + Retry-After
    // beyond that: fence_maas repeats what was refused after Retry-After and keeps reading.
    let sim = sim("rate");
    let region = sim.region(r#"{"rate_per_s": 2, "rate_burst": 2}"#);
    assert_eq!(region["rate_per_s"], 2.0, "{region}");
    let (r, took) = agent(&opts(&sim, "action=off\nplug=ok-2\n"), &[]);
    let region = sim.region("{}");
    eprintln!(
        "rate-limited: rc {} after {took:?}; {region}\n{}",
        r.code, r.stderr
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Success: Powered OFF\n"),
        "{r}"
    );
    assert!(
        region["rate_limited"].as_u64().unwrap_or(0) > 0,
        "the test must meet the rate limit: {region}"
    );
    assert!(r.stderr.contains("again in"), "{r}");
    assert_eq!(
        sim.events("ok-2"),
        ["ok-2 power_off stop_mode=hard", "ok-2 off"]
    );
    // A 503 asking for longer than fence_maas waits (a MAAS whose racks cannot reach the
    // BMC: the simulator's fault asks for 5 s) fails at once, for the fencer to move on.
    sim.region(r#"{"rate_per_s": 0}"#);
    sim.set("ok-1", r#"{"fault": "503"}"#);
    let (r, took) = agent(&opts(&sim, "action=off\nplug=ok-1\n"), &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(!r.stderr.contains("again in"), "{r}");
    // At once: waiting for the 5 s it asked would take 5 s at least.
    assert!(took < Duration::from_secs(5), "{took:?}");
}
