//! fence_masakari run directly on this machine, outside any cluster: it refuses every action
//! that names a host (no CIB, and off/reboot not under pacemaker-fenced) without sending
//! anything, follows no redirect, uses no proxy from the environment, and warns about a
//! password on the command line. Run `make stage` first.

use oxha_harness::http::{proxy_env, Recorder, Redirector};
use oxha_harness::{fence_agent, run_env, Run};

const PASSWORD: &str = "Fence-Keystone-S3cret";

fn fence(stdin: &str, env: &[(&str, &str)]) -> Run {
    let path = fence_agent("fence_masakari").to_string_lossy().into_owned();
    run_env(&[&path], env, Some(stdin))
}

#[test]
fn outside_a_cluster_every_targeted_action_is_refused_and_nothing_is_sent() {
    let masakari = Recorder::start();
    let base = format!(
        "auth_mode=noauth\nmasakari_url={}/v1\nnodename=compute-1\n",
        masakari.url()
    );
    for action in ["off", "reboot", "status", "on"] {
        let r = fence(&format!("{base}action={action}\n"), &[]);
        assert_eq!(r.code, 1, "{action}: {r}");
        assert!(r.stdout.is_empty(), "{action}: {r}");
        let why = if matches!(action, "off" | "reboot") {
            "only run by pacemaker-fenced"
        } else {
            "cannot read the CIB"
        };
        assert!(r.stderr.contains(why), "{action}: {r}");
    }
    assert!(masakari.seen().is_empty(), "{:?}", masakari.seen());
    // validate-all checks the topology too.
    let r = fence(&format!("{base}action=validate-all\n"), &[]);
    assert_eq!(r.code, 1, "{r}");
    // By hand on the command line: the same refusal.
    let path = fence_agent("fence_masakari").to_string_lossy().into_owned();
    let url = format!("{}/v1", masakari.url());
    let r = run_env(
        &[
            &path,
            "--auth-mode",
            "noauth",
            "--masakari-url",
            &url,
            "-o",
            "off",
            "-n",
            "compute-1",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(masakari.seen().is_empty(), "{:?}", masakari.seen());
}

#[test]
fn list_is_not_an_action() {
    let r = fence(
        "auth_mode=noauth\nmasakari_url=http://127.0.0.1:9/v1\naction=list\n",
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("not supported"), "{r}");
    let meta = oxha_harness::valid_metadata("fence_masakari");
    assert!(!meta.contains("<action name=\"list\""), "{meta}");
}

#[test]
fn redirects_are_never_followed() {
    let elsewhere = Recorder::start();
    // Masakari redirecting (noauth), then keystone redirecting: monitor asks the API first.
    let masakari = Redirector::start(307, &elsewhere.url());
    let r = fence(
        &format!(
            "auth_mode=noauth\nmasakari_url={}/v1\naction=monitor\n",
            masakari.url()
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("redirect") && r.stderr.contains("refused"),
        "{r}"
    );
    assert!(!masakari.seen().is_empty());
    let keystone = Redirector::start(302, &elsewhere.url());
    let r = fence(
        &format!(
            "auth_url={}/v3\nusername=masakari\npassword={PASSWORD}\nproject_name=services\naction=monitor\n",
            keystone.url()
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("redirect"), "{r}");
    assert!(!keystone.seen().is_empty());
    assert!(
        elsewhere.seen().is_empty(),
        "followed: {:?}",
        elsewhere.seen()
    );
    assert!(!r.stderr.contains(PASSWORD), "{r}");
}

#[test]
fn proxies_in_the_environment_are_ignored() {
    let proxy = Recorder::start();
    let env = proxy_env(&proxy.url());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = fence(
        &format!(
            "auth_url=http://127.0.0.1:9/v3\nusername=masakari\npassword={PASSWORD}\nproject_name=services\naction=monitor\n"
        ),
        &env,
    );
    assert_eq!(r.code, 1, "nothing listens on port 9: {r}");
    assert!(
        proxy.seen().is_empty(),
        "the password went through a proxy: {:?}",
        proxy.seen()
    );
}

#[test]
fn a_password_on_the_command_line_is_accepted_with_a_warning() {
    let path = fence_agent("fence_masakari").to_string_lossy().into_owned();
    let r = run_env(
        &[
            &path,
            "--auth-url",
            "http://127.0.0.1:9/v3",
            "--username",
            "masakari",
            "--password",
            PASSWORD,
            "--project-name",
            "services",
            "-o",
            "monitor",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("--password was given on the command line"),
        "{r}"
    );
    assert!(!r.stderr.contains(PASSWORD), "{r}");
}
