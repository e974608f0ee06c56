//! The staged `vip` agent against real interfaces: every test builds its own pair of network
//! namespaces joined by a veth pair (names unique to this process), runs the agent inside the
//! first ("node") and watches from the second ("peer"). The namespaces are deleted when the
//! test ends, pass or fail. Run `make stage` first.

use oxha_harness::{ocf_agent, run, run_env, Run};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces, `node` (interface `va`, 192.0.2.1/24, 2001:db8::1/64) and `peer`
/// (interface `vb`, .2 / ::2), joined by a veth pair.
struct Lab {
    node: String,
    peer: String,
}

impl Lab {
    fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("oxha-vip-{}-{n}", std::process::id());
        let lab = Lab {
            node: format!("{base}-node"),
            peer: format!("{base}-peer"),
        };
        for ns in [&lab.node, &lab.peer] {
            run(&["ip", "netns", "add", ns]).expect_ok();
        }
        run(&[
            "ip", "link", "add", "va", "netns", &lab.node, "type", "veth", "peer", "name", "vb",
            "netns", &lab.peer,
        ])
        .expect_ok();
        for (ns, dev, n) in [(&lab.node, "va", 1), (&lab.peer, "vb", 2)] {
            // nodad on the base addresses: they are fixtures, not what is under test.
            for cmd in [
                "link set lo up".to_string(),
                format!("addr add 192.0.2.{n}/24 dev {dev}"),
                format!("addr add 2001:db8::{n}/64 dev {dev} nodad"),
                format!("link set {dev} up"),
            ] {
                let mut argv = vec!["ip", "-n", ns];
                argv.extend(cmd.split(' '));
                run(&argv).expect_ok();
            }
        }
        lab
    }

    fn ip(&self, ns: &str, args: &str) -> Run {
        let mut argv = vec!["ip", "-n", ns];
        argv.extend(args.split(' '));
        run(&argv)
    }

    /// `ip -o addr show dev <dev>` in a namespace.
    fn addrs(&self, ns: &str, dev: &str) -> String {
        self.ip(ns, &format!("-o addr show dev {dev}"))
            .expect_ok()
            .stdout
    }

    /// Runs the agent in the node namespace with `OCF_RESKEY_<k>=<v>` for each param.
    fn agent(&self, action: &str, params: &[(&str, &str)]) -> Run {
        self.agent_env(action, params, &[])
    }

    fn agent_env(&self, action: &str, params: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
        let agent = ocf_agent("vip");
        assert!(
            agent.exists(),
            "{} missing: run `make stage` first",
            agent.display()
        );
        let mut vars: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
            .collect();
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars.push(("OCF_ROOT".into(), "/usr/lib/ocf".into()));
        vars.push(("OCF_RESOURCE_INSTANCE".into(), "vip-test".into()));
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut r = run_env(
            &[
                "ip",
                "netns",
                "exec",
                &self.node,
                agent.to_str().unwrap_or("vip"),
                action,
            ],
            &refs,
            None,
        );
        r.command = format!("vip {action} {params:?} {env:?}");
        r
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.node, &self.peer] {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

const V4: &[(&str, &str)] = &[("ip", "192.0.2.10"), ("nic", "va"), ("cidr_netmask", "24")];
const V6: &[(&str, &str)] = &[
    ("ip", "2001:db8::10"),
    ("nic", "va"),
    ("cidr_netmask", "64"),
];

fn exit_reason(r: &Run) -> String {
    r.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .next_back()
        .unwrap_or("")
        .to_string()
}

fn lifecycle(params: &[(&str, &str)], shown_as: &str) {
    let lab = Lab::new();
    lab.agent("monitor", params).expect_code(7);
    lab.agent("start", params).expect_ok();
    assert!(
        lab.addrs(&lab.node, "va").contains(shown_as),
        "{}",
        lab.addrs(&lab.node, "va")
    );
    lab.agent("monitor", params).expect_ok();
    lab.agent_env("monitor", params, &[("OCF_CHECK_LEVEL", "10")])
        .expect_ok();
    lab.agent("start", params).expect_ok();
    assert_eq!(lab.addrs(&lab.node, "va").matches(shown_as).count(), 1);
    lab.agent("stop", params).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains(shown_as));
    // The fixture address on the same interface is untouched.
    assert!(lab.addrs(&lab.node, "va").contains("192.0.2.1/24"));
    lab.agent("stop", params).expect_ok();
    lab.agent("monitor", params).expect_code(7);
}

#[test]
fn ipv4_start_monitor_stop_idempotent() {
    lifecycle(V4, "inet 192.0.2.10/24 brd 192.0.2.255");
}

#[test]
fn ipv6_start_monitor_stop_idempotent() {
    lifecycle(V6, "inet6 2001:db8::10/64");
}

#[test]
fn nic_and_netmask_come_from_the_routing_table() {
    let lab = Lab::new();
    let params = &[("ip", "192.0.2.77")];
    lab.agent("start", params).expect_ok();
    assert!(lab.addrs(&lab.node, "va").contains("inet 192.0.2.77/24"));
    lab.agent("monitor", params).expect_ok();
    lab.agent("stop", params).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.77"));
    // No route for the address: start fails and says what to set.
    let r = lab.agent("start", &[("ip", "198.51.100.7")]).expect_code(1);
    assert!(exit_reason(&r).contains("set nic and cidr_netmask"), "{r}");
}

#[test]
fn label_broadcast_and_dotted_netmask() {
    let lab = Lab::new();
    let params = &[
        ("ip", "192.0.2.11"),
        ("nic", "va"),
        ("cidr_netmask", "255.255.255.128"),
        ("iflabel", "web"),
        ("broadcast", "192.0.2.100"),
    ];
    lab.agent("start", params).expect_ok();
    let shown = lab.addrs(&lab.node, "va");
    assert!(
        shown.contains("inet 192.0.2.11/25 brd 192.0.2.100") && shown.contains("va:web"),
        "{shown}"
    );
    lab.agent("monitor", params).expect_ok();
    // Another prefix than configured is not our address.
    let other = &[("ip", "192.0.2.11"), ("nic", "va"), ("cidr_netmask", "24")];
    let r = lab.agent("monitor", other).expect_code(7);
    assert!(exit_reason(&r).contains("as /25"), "{r}");
    lab.agent("start", other).expect_code(1);
    lab.agent("stop", params).expect_ok();
}

#[test]
fn link_down_is_not_running_with_a_reason() {
    let lab = Lab::new();
    lab.agent("start", V4).expect_ok();
    lab.ip(&lab.peer, "link set vb down").expect_ok();
    let r = lab.agent("monitor", V4).expect_code(7);
    assert!(exit_reason(&r).contains("va"), "{r}");
    lab.agent("stop", V4).expect_ok();
    let r = lab.agent("start", V4).expect_code(1);
    assert!(exit_reason(&r).contains("no link"), "{r}");
    // With the check off, the address counts as running on a dead link.
    let unchecked: Vec<(&str, &str)> = V4
        .iter()
        .copied()
        .chain([("check_link_status", "false")])
        .collect();
    lab.agent("start", &unchecked).expect_ok();
    lab.agent("monitor", &unchecked).expect_ok();
    lab.ip(&lab.peer, "link set vb up").expect_ok();
    lab.agent("monitor", V4).expect_ok();
    lab.agent("stop", V4).expect_ok();
}

#[test]
fn ipv4_address_owned_by_another_host_refuses_start() {
    let lab = Lab::new();
    lab.ip(&lab.peer, "addr add 192.0.2.10/24 dev vb")
        .expect_ok();
    let r = lab.agent("start", V4).expect_code(1);
    assert!(exit_reason(&r).contains("already in use"), "{r}");
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
}

#[test]
fn ipv6_address_owned_by_another_host_fails_dad() {
    let lab = Lab::new();
    lab.ip(&lab.peer, "addr add 2001:db8::10/64 dev vb nodad")
        .expect_ok();
    let r = lab.agent("start", V6).expect_code(1);
    assert!(
        exit_reason(&r).contains("duplicate address detection failed"),
        "{r}"
    );
    assert!(
        !lab.addrs(&lab.node, "va").contains("2001:db8::10"),
        "dadfailed address left behind"
    );
}

#[test]
fn nodad_skips_duplicate_address_detection() {
    let lab = Lab::new();
    let params: Vec<(&str, &str)> = V6
        .iter()
        .copied()
        .chain([("nodad", "true"), ("preferred_lft", "0")])
        .collect();
    lab.agent("start", &params).expect_ok();
    let shown = lab.addrs(&lab.node, "va");
    assert!(
        shown.contains("2001:db8::10/64")
            && shown.contains("nodad")
            && shown.contains("deprecated"),
        "{shown}"
    );
    lab.agent("stop", &params).expect_ok();
}

/// Starts tcpdump in the peer namespace and returns once it is capturing.
fn capture(lab: &Lab, filter: &str, count: u32) -> std::process::Child {
    // `timeout`: a capture that never sees its packets ends the test instead of hanging it.
    let mut argv = vec![
        "netns", "exec", &lab.peer, "timeout", "20", "tcpdump", "-l", "-n", "-e", "-i", "vb",
    ];
    let count_text = count.to_string();
    argv.extend(["-c", &count_text]);
    argv.extend(filter.split(' '));
    let mut child = Command::new("ip")
        .args(&argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump runs");
    // tcpdump says "listening on" once the capture is open.
    let stderr = child.stderr.take().expect("stderr piped");
    let mut reader = std::io::BufReader::new(stderr);
    let mut said = String::new();
    use std::io::BufRead;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => panic!("tcpdump did not start: {said}"),
            Ok(_) if line.contains("listening on") => break,
            Ok(_) => said.push_str(&line),
        }
    }
    // Keep draining stderr so tcpdump never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    child
}

fn captured(child: std::process::Child) -> String {
    let out = child.wait_with_output().expect("tcpdump finishes");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn gratuitous_arp_reaches_the_peer() {
    let lab = Lab::new();
    let params: Vec<(&str, &str)> = V4
        .iter()
        .copied()
        .chain([("arp_count", "3"), ("arp_interval", "50")])
        .collect();
    // 3 rounds of request + reply announcing 192.0.2.10 from its own address.
    let tcpdump = capture(&lab, "arp and src host 192.0.2.10", 6);
    lab.agent("start", &params).expect_ok();
    let seen = captured(tcpdump);
    let requests = seen
        .lines()
        .filter(|l| l.contains("Request who-has 192.0.2.10") && l.contains("ff:ff:ff:ff:ff:ff"))
        .count();
    let replies = seen
        .lines()
        .filter(|l| l.contains("Reply 192.0.2.10 is-at"))
        .count();
    assert_eq!((requests, replies), (3, 3), "{seen}");
    lab.agent("stop", &params).expect_ok();
}

#[test]
fn unsolicited_neighbour_advertisements_reach_the_peer() {
    let lab = Lab::new();
    let params: Vec<(&str, &str)> = V6
        .iter()
        .copied()
        .chain([("arp_count", "2"), ("arp_interval", "50")])
        .collect();
    let tcpdump = capture(&lab, "icmp6 and ip6[40] == 136 and dst host ff02::1", 2);
    lab.agent("start", &params).expect_ok();
    let seen = captured(tcpdump);
    let adverts = seen
        .lines()
        .filter(|l| {
            l.contains("2001:db8::10 > ff02::1")
                && l.contains("neighbor advertisement")
                && l.contains("tgt is 2001:db8::10")
        })
        .count();
    assert_eq!(adverts, 2, "{seen}");
    lab.agent("stop", &params).expect_ok();
}

#[test]
fn probe_on_a_node_without_the_nic_is_not_running() {
    let lab = Lab::new();
    let params = &[
        ("ip", "192.0.2.10"),
        ("nic", "eth77"),
        ("cidr_netmask", "24"),
    ];
    let r = lab.agent("monitor", params).expect_code(7);
    assert!(exit_reason(&r).contains("eth77"), "{r}");
    lab.agent_env(
        "monitor",
        params,
        &[("OCF_RESKEY_CRM_meta_interval", "10000")],
    )
    .expect_code(7);
    lab.agent("stop", params).expect_ok();
    let r = lab.agent("start", params).expect_code(5);
    assert!(exit_reason(&r).contains("eth77"), "{r}");
    lab.agent("validate-all", params).expect_ok();
    let r = lab
        .agent_env("validate-all", params, &[("OCF_CHECK_LEVEL", "10")])
        .expect_code(6);
    assert!(exit_reason(&r).contains("eth77"), "{r}");
}

#[test]
fn validate_all_names_the_bad_value() {
    let lab = Lab::new();
    for (params, needle) in [
        (&[("ip", "192.0.2.999")][..], "192.0.2.999"),
        (&[("ip", "192.0.2.10"), ("cidr_netmask", "40")][..], "40"),
        (&[("ip", "192.0.2.10"), ("nic", "bad nic")][..], "bad nic"),
        (&[("ip", "192.0.2.10"), ("broadcast", "nope")][..], "nope"),
        (
            &[("ip", "192.0.2.10"), ("clusterip_hash", "sourceip")][..],
            "not supported",
        ),
        (
            &[("ip", "192.0.2.10"), ("unique_clone_address", "true")][..],
            "not supported",
        ),
    ] {
        let r = lab.agent("validate-all", params).expect_code(6);
        assert!(exit_reason(&r).contains(needle), "{r}");
        // A bad configuration is refused by start too, and a probe says so (6).
        lab.agent("start", params).expect_code(6);
        // ...but stop of something that could never have started succeeds.
        lab.agent("stop", params).expect_ok();
    }
    lab.agent("validate-all", V4).expect_ok();
    lab.agent_env("validate-all", V4, &[("OCF_CHECK_LEVEL", "10")])
        .expect_ok();
    lab.agent("frobnicate", V4).expect_code(3);
}

#[test]
fn lvs_support_moves_the_address_to_lo() {
    let lab = Lab::new();
    let params: Vec<(&str, &str)> = V4
        .iter()
        .copied()
        .chain([("lvs_support", "true")])
        .collect();
    lab.agent("start", &params).expect_ok();
    lab.agent("stop", &params).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
    assert!(
        lab.addrs(&lab.node, "lo").contains("192.0.2.10/32"),
        "{}",
        lab.addrs(&lab.node, "lo")
    );
    lab.agent("monitor", &params).expect_code(7);
    lab.agent("start", &params).expect_ok();
    assert!(!lab.addrs(&lab.node, "lo").contains("192.0.2.10"));
    assert!(lab.addrs(&lab.node, "va").contains("192.0.2.10/24"));
    lab.agent("stop", &params).expect_ok();
}

/// Counts process creation with strace: the agent's own execve is the only one allowed.
#[test]
fn no_action_starts_a_process() {
    let lab = Lab::new();
    let agent = ocf_agent("vip");
    let trace_dir = std::env::temp_dir().join(format!("oxha-vip-strace-{}", std::process::id()));
    std::fs::create_dir_all(&trace_dir).expect("trace dir");
    for (action, params) in [
        ("start", V4),
        ("monitor", V4),
        ("stop", V4),
        ("start", V6),
        ("monitor", V6),
        ("stop", V6),
        ("validate-all", V4),
    ] {
        let trace = trace_dir.join(format!("{action}.trace"));
        let trace_s = trace.to_string_lossy().into_owned();
        let mut env: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
            .collect();
        env.push(("OCF_ROOT".into(), "/usr/lib/ocf".into()));
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_env(
            &[
                "ip",
                "netns",
                "exec",
                &lab.node,
                "strace",
                "-f",
                "-qq",
                "-o",
                &trace_s,
                "-e",
                "trace=execve,execveat,fork,vfork,clone,clone3",
                agent.to_str().unwrap_or("vip"),
                action,
            ],
            &refs,
            None,
        )
        .expect_ok();
        let text = std::fs::read_to_string(&trace).expect("strace output");
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("exited with") && !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{action}: expected only the agent's own execve:\n{text}"
        );
        assert!(lines[0].contains("execve("), "{text}");
    }
    let _ = std::fs::remove_dir_all(&trace_dir);
}

#[test]
fn ocf_tester_passes_its_behavioural_checks() {
    let lab = Lab::new();
    let agent = ocf_agent("vip");
    let r = run(&[
        "ip",
        "netns",
        "exec",
        &lab.node,
        "ocf-tester",
        "-n",
        "vip1",
        "-o",
        "ip=192.0.2.20",
        "-o",
        "nic=va",
        "-o",
        "cidr_netmask=24",
        agent.to_str().unwrap_or("vip"),
    ]);
    let out = format!("{}{}", r.stdout, r.stderr);
    // The 1.0 DTD check rejects OCF 1.1 metadata (as for pacemaker's Dummy); nothing else may fail.
    let failures: Vec<&str> = out.lines().filter(|l| l.starts_with("* rc=")).collect();
    assert!(
        failures.len() == 1
            && failures[0].contains("ra-api-1.dtd")
            && out.contains("failed 1 tests"),
        "{out}"
    );
    assert!(
        !lab.addrs(&lab.node, "va").contains("192.0.2.20"),
        "ocf-tester left the address behind"
    );
}

#[test]
fn metadata_validates_against_the_ocf_1_1_schema() {
    oxha_harness::valid_metadata("vip");
}

#[test]
fn network_namespace_is_entered_by_the_agent() {
    let lab = Lab::new();
    // Run from the test's own namespace: the agent must do everything inside the node's.
    let agent = ocf_agent("vip");
    let run_in_host = |action: &str, ns: &str| {
        run_env(
            &[agent.to_str().unwrap_or("vip"), action],
            &[
                ("OCF_ROOT", "/usr/lib/ocf"),
                ("OCF_RESKEY_ip", "192.0.2.30"),
                ("OCF_RESKEY_nic", "va"),
                ("OCF_RESKEY_cidr_netmask", "24"),
                ("OCF_RESKEY_network_namespace", ns),
            ],
            None,
        )
    };
    run_in_host("monitor", &lab.node).expect_code(7);
    run_in_host("start", &lab.node).expect_ok();
    assert!(lab.addrs(&lab.node, "va").contains("192.0.2.30/24"));
    run_in_host("monitor", &lab.node).expect_ok();
    run_in_host("stop", &lab.node).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.30"));
    let missing = format!("{}-missing", lab.node);
    let r = run_in_host("monitor", &missing).expect_code(7);
    assert!(exit_reason(&r).contains("does not exist"), "{r}");
    run_in_host("start", &missing).expect_code(5);
    run_in_host("stop", &missing).expect_ok();
}

#[test]
fn check_level_10_fails_a_dadfailed_address() {
    let lab = Lab::new();
    // The peer owns the address; adding it by hand on the node (without the agent's DAD wait)
    // leaves it in the dadfailed state, which only the deep monitor looks at.
    lab.ip(&lab.peer, "addr add 2001:db8::40/64 dev vb nodad")
        .expect_ok();
    lab.ip(&lab.node, "addr add 2001:db8::40/64 dev va")
        .expect_ok();
    oxha_harness::wait_for("DAD to fail", std::time::Duration::from_secs(10), || {
        lab.addrs(&lab.node, "va")
            .contains("dadfailed")
            .then_some(())
    });
    let params = &[
        ("ip", "2001:db8::40"),
        ("nic", "va"),
        ("cidr_netmask", "64"),
    ];
    lab.agent("monitor", params).expect_ok();
    let r = lab
        .agent_env("monitor", params, &[("OCF_CHECK_LEVEL", "10")])
        .expect_code(1);
    assert!(
        exit_reason(&r).contains("duplicate address detection"),
        "{r}"
    );
    lab.agent("stop", params).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("2001:db8::40"));
}

#[test]
fn arp_count_refresh_reannounces_on_every_monitor() {
    let lab = Lab::new();
    let params: Vec<(&str, &str)> = V4
        .iter()
        .copied()
        .chain([
            ("arp_count", "0"),
            ("arp_count_refresh", "2"),
            ("arp_interval", "10"),
        ])
        .collect();
    lab.agent("start", &params).expect_ok();
    let tcpdump = capture(&lab, "arp and src host 192.0.2.10", 4);
    lab.agent_env(
        "monitor",
        &params,
        &[("OCF_RESKEY_CRM_meta_interval", "10000")],
    )
    .expect_ok();
    let seen = captured(tcpdump);
    assert_eq!(
        seen.lines().filter(|l| l.contains("192.0.2.10")).count(),
        4,
        "{seen}"
    );
    lab.agent("stop", &params).expect_ok();
}
