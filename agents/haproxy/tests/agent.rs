//! The staged agent against a real haproxy (Debian's), outside any cluster.
//! Every instance has its own state directory and loopback ports picked at run time.
//! Run `make stage` first.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oxha_harness::wait_for;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn start_monitor_stop_and_idempotency() {
    let backend = Backend::start();
    let mut hap = Instance::http("basic", backend.port);
    hap.set("check_url", &format!("http://127.0.0.1:{}/", hap.port));
    hap.probe().expect_code(7);
    hap.run("monitor", &[]).expect_code(7);
    hap.run("stop", &[]).expect_ok();
    hap.run("start", &[]).expect_ok();
    let master = hap.master_pid().expect("pid file after start");
    hap.run("start", &[]).expect_ok();
    assert_eq!(
        hap.master_pid(),
        Some(master),
        "a second start must not start another master"
    );
    hap.probe().expect_code(0);
    hap.run("monitor", &[]).expect_ok();
    hap.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).expect_ok();
    hap.run("monitor", &[("OCF_CHECK_LEVEL", "20")]).expect_ok();
    assert!(get(hap.port).is_ok(), "haproxy serves after start");
    assert!(
        backend.served.load(Ordering::Relaxed) >= 2,
        "requests reached the backend"
    );
    // haproxy left the agent's process group and session: Pacemaker's kill of the agent's group
    // cannot reach it.
    let sid = std::fs::read_to_string(format!("/proc/{master}/stat")).expect("master stat");
    let fields: Vec<&str> = sid
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        fields.get(3),
        Some(&master.to_string().as_str()),
        "master leads its own session: {sid}"
    );
    hap.run("stop", &[]).expect_ok();
    assert!(hap.processes().is_empty(), "no process left after stop");
    assert!(!hap.state(".pid").exists() && !hap.state(".master.sock").exists());
    hap.run("stop", &[]).expect_ok();
    hap.run("monitor", &[]).expect_code(7);
    hap.probe().expect_code(7);
}

#[test]
fn invalid_config_at_start_is_not_configured_with_haproxys_error() {
    let hap = Instance::new(
        "bad",
        "global\n    bogus_keyword 1\nfrontend x\n    bind 127.0.0.1:1\n",
    );
    let r = hap.run("start", &[]).expect_code(6);
    let reason = exit_reason(&r);
    assert!(reason.contains("unknown keyword 'bogus_keyword'"), "{r}");
    assert!(
        reason.contains(&*hap.conf.to_string_lossy()),
        "the reason names the operator's file: {r}"
    );
    assert!(hap.processes().is_empty());
    hap.run("validate-all", &[("OCF_CHECK_LEVEL", "10")])
        .expect_code(6);
    hap.run("validate-all", &[]).expect_ok();
    hap.probe().expect_code(7);
}

#[test]
fn missing_binary_and_missing_config() {
    let mut hap = Instance::http("missing", free_port());
    hap.set("binary", "/nonexistent/haproxy");
    hap.probe().expect_code(7);
    let r = hap.run("start", &[]).expect_code(5);
    assert!(exit_reason(&r).contains("/nonexistent/haproxy"), "{r}");
    hap.run("validate-all", &[("OCF_CHECK_LEVEL", "10")])
        .expect_code(5);
    hap.run("stop", &[]).expect_ok();
    // ocf-tester's "binaries missing" switch.
    let hap = Instance::http("tester", free_port());
    hap.run(
        "monitor",
        &[
            ("OCF_TESTER_FAIL_HAVE_BINARY", "1"),
            ("OCF_RESKEY_CRM_meta_interval", "0"),
        ],
    )
    .expect_code(7);
    hap.run("start", &[("OCF_TESTER_FAIL_HAVE_BINARY", "1")])
        .expect_code(5);

    let mut hap = Instance::http("noconf", free_port());
    hap.set("conffile", "/nonexistent/haproxy.cfg");
    hap.probe().expect_code(7);
    let r = hap.run("start", &[]).expect_code(6);
    assert!(exit_reason(&r).contains("/nonexistent/haproxy.cfg"), "{r}");
    hap.run("validate-all", &[("OCF_CHECK_LEVEL", "10")])
        .expect_code(6);
    hap.run("stop", &[]).expect_ok();
}

#[test]
fn invalid_config_at_reload_keeps_the_old_process_serving() {
    let backend = Backend::start();
    let hap = Instance::http("reload", backend.port);
    hap.run("start", &[]).expect_ok();
    let master = hap.master_pid().expect("pid");
    let workers = hap.show_proc().expect("show proc").workers;
    let good = std::fs::read_to_string(&hap.conf).expect("config");
    std::fs::write(
        &hap.conf,
        format!("{good}\nbackend broken\n    bogus_keyword 1\n"),
    )
    .expect("write");
    let r = hap.run("reload", &[]).expect_code(1);
    assert!(
        exit_reason(&r).contains("unknown keyword 'bogus_keyword'"),
        "{r}"
    );
    assert_eq!(hap.master_pid(), Some(master));
    assert_eq!(
        hap.show_proc().expect("show proc").workers,
        workers,
        "workers untouched"
    );
    get(hap.port).expect("still serving after a rejected reload");
    // The same refusal through reload-agent (which Pacemaker records like a start) is degraded,
    // not a failure, so Pacemaker does not stop the instance that still serves.
    let r = hap.run("reload-agent", &[]).expect_code(190);
    assert!(
        exit_reason(&r).contains("unknown keyword 'bogus_keyword'"),
        "{r}"
    );
    assert_eq!(hap.master_pid(), Some(master));
    let r = hap.run("monitor", &[]).expect_code(190);
    assert!(
        exit_reason(&r).contains("previous configuration kept"),
        "{r}"
    );
    // Fixed: the reload goes through and the instance is healthy again.
    std::fs::write(&hap.conf, &good).expect("write");
    hap.run("reload", &[]).expect_ok();
    assert_eq!(hap.master_pid(), Some(master), "a reload keeps the master");
    let now = hap.show_proc().expect("show proc");
    assert_eq!(now.reloads, 1);
    assert_ne!(now.workers, workers, "a new worker");
    hap.run("monitor", &[]).expect_ok();
    get(hap.port).expect("serving after the reload");
    hap.run("stop", &[]).expect_ok();
    // reload of a stopped instance is an error, not a start.
    hap.run("reload", &[]).expect_code(1);
    assert!(hap.processes().is_empty());
}

#[test]
fn changed_conffile_list_is_applied_by_reload_agent() {
    let backend = Backend::start();
    let hap = Instance::http("list", backend.port);
    hap.run("start", &[]).expect_ok();
    let master = hap.master_pid().expect("pid");
    let second_port = free_port();
    let extra = hap.dir.join("extra.d");
    std::fs::create_dir_all(&extra).expect("dir");
    std::fs::write(
        extra.join("second.cfg"),
        format!("frontend fe2\n    bind 127.0.0.1:{second_port}\n    default_backend be\n"),
    )
    .expect("write");
    std::fs::write(extra.join("ignored.txt"), "not a config\n").expect("write");
    let list = format!("{} {}", hap.conf.display(), extra.display());
    hap.run("reload-agent", &[("OCF_RESKEY_conffile", &list)])
        .expect_ok();
    assert_eq!(hap.master_pid(), Some(master), "no restart");
    get(hap.port).expect("first frontend");
    get(second_port).expect("frontend from the added directory");
    hap.run("stop", &[("OCF_RESKEY_conffile", &list)])
        .expect_ok();
    assert!(hap.processes().is_empty());
}

#[test]
fn killed_master_is_detected() {
    let hap = Instance::http("killmaster", free_port());
    hap.run("start", &[]).expect_ok();
    let master = hap.master_pid().expect("pid");
    kill(Pid::from_raw(master), Signal::SIGKILL).expect("kill master");
    let r = hap.run("monitor", &[]).expect_code(1);
    assert!(!exit_reason(&r).is_empty(), "{r}");
    // Once its workers are gone too, a probe sees a stopped instance...
    wait_for(
        "the orphaned workers to exit",
        Duration::from_secs(15),
        || hap.processes().is_empty().then_some(()),
    );
    hap.probe().expect_code(7);
    // ...a recurring monitor still reports the crash.
    let r = hap.run("monitor", &[]).expect_code(1);
    assert!(exit_reason(&r).contains("crashed or was killed"), "{r}");
    // and start recovers from the leftovers.
    hap.run("start", &[]).expect_ok();
    assert_ne!(hap.master_pid(), Some(master));
    hap.run("monitor", &[]).expect_ok();
    hap.run("stop", &[]).expect_ok();
}

#[test]
fn killed_worker_is_detected() {
    let hap = Instance::http("killworker", free_port());
    hap.run("start", &[]).expect_ok();
    let workers = hap.show_proc().expect("show proc").workers;
    let (worker, _) = *workers.first().expect("a worker");
    kill(Pid::from_raw(worker), Signal::SIGKILL).expect("kill worker");
    let r = wait_for(
        "monitor to notice the dead worker",
        Duration::from_secs(10),
        || {
            let r = hap.run("monitor", &[]);
            (r.code != 0).then_some(r)
        },
    );
    assert_eq!(r.code, 1, "{r}");
    eprintln!("after killing worker {worker}: {}", exit_reason(&r));
    hap.run("stop", &[]).expect_ok();
    assert!(hap.processes().is_empty());
    hap.run("start", &[]).expect_ok();
    hap.run("stop", &[]).expect_ok();
}

#[test]
fn stale_pidfile() {
    let hap = Instance::http("stale", free_port());
    // The pid of a process that has exited.
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait");
    std::fs::write(hap.state(".pid"), format!("{dead}\n")).expect("write pidfile");
    hap.probe().expect_code(7);
    let r = hap.run("monitor", &[]).expect_code(1);
    assert!(exit_reason(&r).contains(&dead.to_string()), "{r}");
    // A pid file naming a live process that is not this haproxy (pid reuse) is stale as well.
    std::fs::write(hap.state(".pid"), format!("{}\n", std::process::id())).expect("write pidfile");
    hap.probe().expect_code(7);
    hap.run("start", &[]).expect_ok();
    hap.run("monitor", &[]).expect_ok();
    hap.run("stop", &[]).expect_ok();
    hap.run("monitor", &[]).expect_code(7);
}

#[test]
fn two_instances_side_by_side() {
    let backend = Backend::start();
    let a = Instance::http("side", backend.port);
    let b = Instance::http("side", backend.port);
    a.run("start", &[]).expect_ok();
    b.run("start", &[]).expect_ok();
    assert_ne!(a.master_pid(), b.master_pid());
    get(a.port).expect("a serves");
    get(b.port).expect("b serves");
    a.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).expect_ok();
    b.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).expect_ok();
    a.run("reload", &[]).expect_ok();
    assert_eq!(
        b.show_proc().expect("b show proc").reloads,
        0,
        "reloading a leaves b alone"
    );
    a.run("stop", &[]).expect_ok();
    a.run("monitor", &[]).expect_code(7);
    b.run("monitor", &[]).expect_ok();
    get(b.port).expect("b still serves");
    b.run("stop", &[]).expect_ok();
}

#[test]
fn all_backends_down_is_degraded() {
    // Nothing listens on the backend port: the health check marks the server down.
    let hap = Instance::http("degraded", free_port());
    hap.run("start", &[]).expect_ok();
    hap.run("monitor", &[]).expect_ok();
    let r = wait_for(
        "the backend to be marked down",
        Duration::from_secs(10),
        || {
            let r = hap.run("monitor", &[("OCF_CHECK_LEVEL", "10")]);
            (r.code == 190).then_some(r)
        },
    );
    assert!(exit_reason(&r).contains("all backends are down: be"), "{r}");
    // depth 20: haproxy answers 503 without a backend: degraded, not failed.
    let url = format!("http://127.0.0.1:{}/", hap.port);
    let r = hap.run(
        "monitor",
        &[("OCF_CHECK_LEVEL", "20"), ("OCF_RESKEY_check_url", &url)],
    );
    assert_eq!(r.code, 190, "{r}");
    // A check_url nobody answers is a failure.
    let url = format!("tcp://127.0.0.1:{}", free_port());
    let r = hap.run(
        "monitor",
        &[("OCF_CHECK_LEVEL", "20"), ("OCF_RESKEY_check_url", &url)],
    );
    assert_eq!(r.code, 190, "depth 10 already reported degraded first: {r}");
    hap.run("stop", &[]).expect_ok();
}

#[test]
fn unreachable_check_url_fails_the_deep_monitor() {
    let backend = Backend::start();
    let mut hap = Instance::http("deep", backend.port);
    hap.set("check_url", &format!("tcp://127.0.0.1:{}", free_port()));
    hap.run("start", &[]).expect_ok();
    hap.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).expect_ok();
    let r = hap
        .run("monitor", &[("OCF_CHECK_LEVEL", "20")])
        .expect_code(1);
    assert!(exit_reason(&r).contains("connect to"), "{r}");
    hap.run("stop", &[]).expect_ok();
}

/// Zero downtime: clients hammer haproxy (a new connection per request) while the agent
/// reloads it 20 times; not one request may fail.
#[test]
fn twenty_reloads_under_load_drop_nothing() {
    const CLIENTS: usize = 4;
    const RELOADS: usize = 20;
    let backend = Backend::start();
    let hap = Instance::http("zero", backend.port);
    hap.run("start", &[]).expect_ok();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let port = hap.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, ok, failed, errors) =
                (stop.clone(), ok.clone(), failed.clone(), errors.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match get(port) {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut errors) = errors.lock() {
                                errors.push(e);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for i in 0..RELOADS {
        // Let traffic flow between reloads, so every reload happens under load.
        let before = ok.load(Ordering::Relaxed);
        wait_for("requests between reloads", Duration::from_secs(10), || {
            (ok.load(Ordering::Relaxed) >= before + 50).then_some(())
        });
        let r = hap.run("reload", &[]);
        assert!(r.ok(), "reload {i}: {r}");
    }
    let before = ok.load(Ordering::Relaxed);
    wait_for(
        "requests after the last reload",
        Duration::from_secs(10),
        || (ok.load(Ordering::Relaxed) >= before + 50).then_some(()),
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let elapsed = started.elapsed();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let reloads = hap.show_proc().expect("show proc").reloads;
    eprintln!(
        "zero-downtime: {RELOADS} reloads (master counts {reloads}) in {:.1}s, {CLIENTS} clients: \
{ok} requests ok, {failed} failed ({:.0} req/s)",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(reloads as usize, RELOADS);
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    assert_eq!(
        failed,
        0,
        "failed requests during reloads: {:?}",
        &errors[..errors.len().min(10)]
    );
    hap.run("stop", &[]).expect_ok();
}

#[test]
fn ocf_tester_passes() {
    let hap = Instance::http("tester", free_port());
    let agent = oxha_harness::ocf_agent("haproxy");
    let rt = hap.dir.join("rt");
    let conffile = format!("conffile={}", hap.conf.display());
    let r = oxha_harness::run_env(
        &[
            "ocf-tester",
            "-n",
            &hap.name,
            "-o",
            &conffile,
            &agent.to_string_lossy(),
        ],
        &[("HA_RSCTMP", &rt.to_string_lossy())],
        None,
    );
    eprintln!("{r}");
    // ocf-tester's metadata check uses the OCF 1.0 DTD, which rejects every OCF 1.1 agent
    // (Pacemaker's own Dummy too); every behavioural check must pass.
    let failures: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("* ") && !l.ends_with("(optional)"))
        .collect();
    assert_eq!(
        failures,
        vec!["* rc=4: Your agent produces meta-data which does not conform to ra-api-1.dtd"],
        "ocf-tester failures beyond the 1.0 DTD check:\n{r}"
    );
    assert!(r.stderr.contains("failed 1 tests"), "{r}");
    assert!(
        hap.processes().is_empty(),
        "ocf-tester left haproxy running"
    );
}

/// Waits until haproxy reports one connection in flight (the test's slow request).
fn wait_for_one_connection(hap: &Instance) {
    wait_for(
        "the request to reach the backend",
        Duration::from_secs(5),
        || {
            let info = haproxy::cli::command(
                &hap.state(".stats.sock"),
                "show info",
                Duration::from_secs(2),
            )
            .ok()?;
            info.contains("CurrConns: 1").then_some(())
        },
    );
}

#[test]
fn stop_lets_requests_in_flight_finish_then_escalates() {
    let backend = Backend::with_delay(Duration::from_millis(1500));
    let hap = Instance::http("graceful", backend.port);
    hap.run("start", &[]).expect_ok();
    // Soft stop: the slow request in flight still gets its answer.
    let port = hap.port;
    let client = std::thread::spawn(move || get(port));
    wait_for_one_connection(&hap);
    let started = Instant::now();
    hap.run("stop", &[]).expect_ok();
    let graceful = started.elapsed();
    client
        .join()
        .expect("client")
        .expect("the request in flight is answered during a soft stop");
    assert!(hap.processes().is_empty());
    // A grace period shorter than the request: SIGTERM ends it, stop does not wait it out.
    let slow = Backend::with_delay(Duration::from_secs(30));
    let mut hap = Instance::http("hardstop", slow.port);
    hap.set("stop_timeout", "300ms");
    hap.run("start", &[]).expect_ok();
    let port = hap.port;
    let client = std::thread::spawn(move || get(port));
    wait_for_one_connection(&hap);
    let started = Instant::now();
    let r = hap.run("stop", &[]).expect_ok();
    let forced = started.elapsed();
    assert!(r.stderr.contains("SIGTERM"), "{r}");
    assert!(hap.processes().is_empty());
    assert!(
        client.join().expect("client").is_err(),
        "the cut request fails"
    );
    eprintln!(
        "graceful stop took {graceful:?} (request in flight answered); forced stop took {forced:?}"
    );
    assert!(
        forced < Duration::from_secs(20),
        "stop waited for the 30 s request"
    );
}

#[test]
fn metadata_validates_against_the_ocf_1_1_schema() {
    let meta = oxha_harness::valid_metadata("haproxy");
    assert!(meta.contains("<version>1.1</version>"));
    assert!(meta.contains("reload-agent"));
}
