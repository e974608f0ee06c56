//! Every staged agent, run with standard output and standard error going to pipes whose reader
//! is gone (EPIPE on every write), must end with an exit code, never a signal: a panic on a
//! failed write is SIGABRT under `panic = "abort"`, and a stop that dies of it is a failed
//! stop, for which Pacemaker fences the node. Run `make stage` first.
//!
//! Actions that write an answer (meta-data, a fence action's output line) end in a failure
//! code, since nobody could read the answer; actions whose result is the exit code alone
//! (stop, monitor) keep their real result.

use oxha_harness::{fence_agent, ocf_agent};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Runs `argv` with `env`, `stdin`, and stdout/stderr connected to dead pipes.
fn run_dead(argv: &[&str], env: &[(&str, String)], stdin: &str) -> ExitStatus {
    let (out_r, out_w) = std::io::pipe().expect("pipe");
    let (err_r, err_w) = std::io::pipe().expect("pipe");
    drop(out_r);
    drop(err_r);
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(out_w)
        .stderr(err_w)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run `make stage`)", argv[0]));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait().expect("wait")
}

#[track_caller]
fn no_signal(what: &str, status: ExitStatus) -> i32 {
    assert_eq!(
        status.signal(),
        None,
        "{what} died of signal {:?} with dead pipes",
        status.signal()
    );
    status.code().unwrap_or(-1)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxha-dead-pipes-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn metadata_to_a_closed_stdout_is_an_error_not_a_signal() {
    for agent in ["vip", "haproxy", "masakari-restart", "ocf-probe"] {
        let path = s(&ocf_agent(agent));
        let code = no_signal(agent, run_dead(&[&path, "meta-data"], &[], ""));
        assert_ne!(code, 0, "{agent} meta-data cannot have succeeded");
    }
    for agent in ["fence_maas", "fence_masakari", "fence_probe"] {
        let path = s(&fence_agent(agent));
        let code = no_signal(agent, run_dead(&[&path, "-o", "metadata"], &[], ""));
        assert_eq!(code, 1, "{agent} metadata");
        let code = no_signal(agent, run_dead(&[&path], &[], "action=metadata\n"));
        assert_eq!(code, 1, "{agent} metadata from stdin");
    }
}

#[test]
fn ocf_actions_with_dead_pipes() {
    let dir = scratch("ocf");
    let tmp = ("HA_RSCTMP", s(&dir));
    // vip: a probe and a stop of an address that is nowhere (logs and an exit reason).
    let vip = s(&ocf_agent("vip"));
    let env = vec![
        tmp.clone(),
        ("OCF_RESOURCE_INSTANCE", "vip-dead".into()),
        ("OCF_RESKEY_ip", "192.0.2.77".into()),
        ("OCF_RESKEY_cidr_netmask", "32".into()),
        ("OCF_RESKEY_nic", "lo".into()),
    ];
    assert_eq!(
        no_signal("vip monitor", run_dead(&[&vip, "monitor"], &env, "")),
        7
    );
    assert_eq!(
        no_signal("vip stop", run_dead(&[&vip, "stop"], &env, "")),
        0
    );
    let bad = vec![tmp.clone(), ("OCF_RESKEY_ip", "not-an-ip".into())];
    assert_eq!(
        no_signal("vip validate", run_dead(&[&vip, "validate-all"], &bad, "")),
        6
    );

    // haproxy: a real start and stop (a frontend on a Unix socket: no network), an invalid
    // configuration, a stop with unusable parameters.
    let hap = s(&ocf_agent("haproxy"));
    let conf = dir.join("hap.cfg");
    std::fs::write(
        &conf,
        format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind unix@{}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:9\n",
            s(&dir.join("fe.sock"))
        ),
    )
    .expect("config");
    let env = vec![
        tmp.clone(),
        ("OCF_RESOURCE_INSTANCE", "hap-dead".into()),
        ("OCF_RESKEY_conffile", s(&conf)),
        ("OCF_RESKEY_CRM_meta_timeout", "20000".into()),
    ];
    let started = no_signal("haproxy start", run_dead(&[&hap, "start"], &env, ""));
    let monitor = [
        env.clone(),
        vec![("OCF_RESKEY_CRM_meta_interval", "10000".into())],
    ]
    .concat();
    let running = no_signal(
        "haproxy monitor",
        run_dead(&[&hap, "monitor"], &monitor, ""),
    );
    let stopped = no_signal("haproxy stop", run_dead(&[&hap, "stop"], &env, ""));
    assert_eq!((started, running, stopped), (0, 0, 0));
    std::fs::write(&conf, "global\n    bogus_keyword\n").expect("config");
    assert_eq!(
        no_signal(
            "haproxy start, bad config",
            run_dead(&[&hap, "start"], &env, "")
        ),
        6
    );
    let unusable = vec![tmp.clone(), ("OCF_RESKEY_stop_timeout", "soon".into())];
    assert_eq!(
        no_signal(
            "haproxy stop, bad parameters",
            run_dead(&[&hap, "stop"], &unusable, "")
        ),
        0
    );

    // masakari-restart: start with a fake virsh and an unreachable Masakari, monitor, stop.
    let virsh = dir.join("virsh");
    std::fs::write(
        &virsh,
        "#!/bin/sh\necho '8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c01 guest1'\necho\necho \"Domain: 'guest1'\"\necho '  state.state=1'\necho '  state.reason=1'\n",
    )
    .expect("fake virsh");
    std::process::Command::new("chmod")
        .args(["755", &s(&virsh)])
        .status()
        .expect("chmod");
    let mr = s(&ocf_agent("masakari-restart"));
    let env = vec![
        tmp.clone(),
        ("OCF_RESOURCE_INSTANCE", "mr-dead".into()),
        ("OCF_RESKEY_auth_mode", "noauth".into()),
        ("OCF_RESKEY_masakari_url", "http://127.0.0.1:9/v1".into()),
        ("OCF_RESKEY_virsh", s(&virsh)),
        ("OCF_RESKEY_hostname", "compute-1".into()),
        ("OCF_RESKEY_state_dir", s(&dir.join("mr"))),
        ("OCF_RESKEY_CRM_meta_interval", "10000".into()),
    ];
    assert_eq!(
        no_signal(
            "masakari-restart start",
            run_dead(&[&mr, "start"], &env, "")
        ),
        0
    );
    assert_eq!(
        no_signal(
            "masakari-restart monitor",
            run_dead(&[&mr, "monitor"], &env, "")
        ),
        0
    );
    assert_eq!(
        no_signal("masakari-restart stop", run_dead(&[&mr, "stop"], &env, "")),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fence_actions_with_dead_pipes() {
    let dir = scratch("fence");
    // fence_probe: a real off and status against plug files.
    let probe = s(&fence_agent("fence_probe"));
    std::fs::write(dir.join("n1"), "on\n").expect("plug");
    let opts = format!(
        "plug_dir={}\nlag=0\nstonith_status_sleep=0.05\nplug=n1\n",
        s(&dir)
    );
    let code = no_signal(
        "fence_probe off",
        run_dead(&[&probe], &[], &format!("{opts}action=off\n")),
    );
    assert_eq!(code, 1, "off happened, but its answer could not be written");
    assert_eq!(
        std::fs::read_to_string(dir.join("n1"))
            .unwrap_or_default()
            .trim(),
        "off"
    );

    // fence_maas: a real off against the MAAS simulator on loopback, and the logs of a failure.
    let key = "oxhaDeadConsumer01:oxhaDeadTokenKey01:oxhaDeadSecretSecretSecret0001";
    let sim = maas_sim::LocalSim::start(
        "dead-pipes",
        r#"[{"hostname": "compute-1", "system_id": "c1aaaa"}]"#,
        key,
        100,
    );
    let port = sim.port.clone();
    let maas = s(&fence_agent("fence_maas"));
    let opts = format!(
        "ip=127.0.0.1\nipport={port}\napi_key_file={}\nstonith_status_sleep=0.2\nplug=compute-1\nverbose=1\n",
        sim.key_file
    );
    let off = no_signal(
        "fence_maas off",
        run_dead(&[&maas], &[], &format!("{opts}action=off\n")),
    );
    let status = no_signal(
        "fence_maas status",
        run_dead(&[&maas], &[], &format!("{opts}action=status\n")),
    );
    let unknown = no_signal(
        "fence_maas status of an unknown machine",
        run_dead(&[&maas], &[], &format!("{opts}action=status\nplug=ghost\n")),
    );
    let events = sim.events("compute-1").join("\n");
    drop(sim);
    assert_eq!((off, status, unknown), (1, 1, 1));
    assert!(
        events.contains("compute-1 off"),
        "the off itself happened: {events}"
    );

    // fence_masakari: refused outside a cluster, its reason logged to a dead stderr.
    let masakari = s(&fence_agent("fence_masakari"));
    let code = no_signal(
        "fence_masakari off",
        run_dead(
            &[&masakari],
            &[],
            "auth_mode=noauth\nmasakari_url=http://127.0.0.1:9/v1\naction=off\nnodename=compute-1\n",
        ),
    );
    assert_eq!(code, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
