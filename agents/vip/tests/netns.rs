//! The staged `vip` agent against real interfaces: every test builds its own lab (two network
//! namespaces joined by a veth pair, see `common`), runs the agent inside the first ("node")
//! and watches from the second ("peer"). Run `make stage` first.

mod common;

use common::{exit_reason, with, Lab, V4, V6};
use oxha_harness::{ocf_agent, run_env, wait_for};
use std::time::Duration;

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
    lab.agent("stop", params).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.11"));
}

/// Issue 12: the address on the node under another prefix (or on another interface) answers
/// ARP all the same. Monitor and probe fail with a reason, start refuses, and stop removes every
/// copy, so the cluster never starts it elsewhere while this node still answers.
#[test]
fn address_present_but_not_as_configured_is_an_error_and_stop_removes_it() {
    let lab = Lab::new();
    lab.ip(&lab.node, "addr add 192.0.2.10/25 dev va")
        .expect_ok();
    let probe = lab.agent("monitor", V4).expect_code(1);
    assert!(exit_reason(&probe).contains("as /25"), "{probe}");
    let monitor = lab
        .agent_env("monitor", V4, &[("OCF_RESKEY_CRM_meta_interval", "10000")])
        .expect_code(1);
    assert!(exit_reason(&monitor).contains("as /25"), "{monitor}");
    let start = lab.agent("start", V4).expect_code(1);
    assert!(exit_reason(&start).contains("192.0.2.10/25"), "{start}");
    lab.agent("stop", V4).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
    lab.agent("monitor", V4).expect_code(7);

    // On another interface of the node (and twice on va): the same.
    lab.ip(&lab.node, "link add vx type veth peer name vy")
        .expect_ok();
    lab.ip(&lab.node, "addr add 192.0.2.10/32 dev vx")
        .expect_ok();
    let probe = lab.agent("monitor", V4).expect_code(1);
    assert!(exit_reason(&probe).contains("on vx"), "{probe}");
    lab.agent("start", V4).expect_code(1);
    lab.ip(&lab.node, "addr add 192.0.2.10/16 dev va")
        .expect_ok();
    lab.ip(&lab.node, "addr add 192.0.2.10/24 dev va")
        .expect_ok();
    // Ours is there: running, the extra copies only warned about.
    lab.agent("monitor", V4).expect_ok();
    lab.agent("stop", V4).expect_ok();
    let left = format!(
        "{}{}",
        lab.addrs(&lab.node, "va"),
        lab.addrs(&lab.node, "vx")
    );
    assert!(!left.contains("192.0.2.10"), "{left}");
    assert!(
        left.contains("192.0.2.1/24"),
        "the fixture address is untouched: {left}"
    );

    // Without cidr_netmask any prefix on the interface is ours.
    let any_prefix = &[("ip", "192.0.2.10"), ("nic", "va")];
    lab.ip(&lab.node, "addr add 192.0.2.10/25 dev va")
        .expect_ok();
    lab.agent("monitor", any_prefix).expect_ok();
    lab.agent("stop", any_prefix).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
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

/// Another host owns the address. By default start adds it at once (no blocking probe); the
/// announcer's ARP probe draws the owner's answer, and the next monitor fails naming its MAC.
#[test]
fn ipv4_address_owned_by_another_host_fails_the_next_monitor() {
    let lab = Lab::new();
    lab.ip(&lab.peer, "addr add 192.0.2.10/24 dev vb")
        .expect_ok();
    let owner = lab.mac(&lab.peer, "vb");
    lab.agent("start", V4).expect_ok();
    let r = wait_for(
        "the monitor to see the owner",
        Duration::from_secs(10),
        || {
            let r = lab.agent_env("monitor", V4, &[("OCF_RESKEY_CRM_meta_interval", "10000")]);
            (r.code == 1).then_some(r)
        },
    );
    assert!(exit_reason(&r).contains(&owner), "{r}\nowner {owner}");
    // The probe sees it too; stop clears the address and the record.
    lab.agent("monitor", V4).expect_code(1);
    lab.agent("stop", V4).expect_ok();
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
    lab.agent("monitor", V4).expect_code(7);
    // Without an owner the same start stays healthy.
    lab.ip(&lab.peer, "addr del 192.0.2.10/24 dev vb")
        .expect_ok();
    lab.agent("start", V4).expect_ok();
    wait_for("the announcer to end", Duration::from_secs(10), || {
        lab.announcer_pid().is_none().then_some(())
    });
    lab.agent("monitor", V4).expect_ok();
    lab.agent("stop", V4).expect_ok();
}

/// `run_arping=true`: the blocking probe before the address is added, as IPaddr2's arping.
#[test]
fn run_arping_refuses_to_start_on_an_owned_address() {
    let lab = Lab::new();
    lab.ip(&lab.peer, "addr add 192.0.2.10/24 dev vb")
        .expect_ok();
    let owner = lab.mac(&lab.peer, "vb");
    let r = lab
        .agent("start", &with(V4, &[("run_arping", "true")]))
        .expect_code(1);
    assert!(
        exit_reason(&r).contains("already in use") && exit_reason(&r).contains(&owner),
        "{r}"
    );
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
    lab.ip(&lab.peer, "addr del 192.0.2.10/24 dev vb")
        .expect_ok();
    lab.agent("start", &with(V4, &[("run_arping", "true")]))
        .expect_ok();
    lab.agent("stop", V4).expect_ok();
}

/// `arp_bg=false`: start announces and watches itself, and fails (removing the address).
#[test]
fn foreground_announcements_refuse_an_owned_address() {
    let lab = Lab::new();
    lab.ip(&lab.peer, "addr add 192.0.2.10/24 dev vb")
        .expect_ok();
    let owner = lab.mac(&lab.peer, "vb");
    let params = with(V4, &[("arp_bg", "false")]);
    let r = lab.agent("start", &params).expect_code(1);
    assert!(exit_reason(&r).contains(&owner), "{r}");
    assert!(!lab.addrs(&lab.node, "va").contains("192.0.2.10"));
    assert_eq!(lab.announcer_pid(), None);
}

/// IPv6: a host that starts advertising the address while the announcer runs (here the agent
/// itself, on the peer, with nodad so its kernel does not stop it first).
#[test]
fn ipv6_address_advertised_by_another_host_fails_the_next_monitor() {
    let lab = Lab::new();
    let params = with(
        V6,
        &[
            ("nodad", "true"),
            ("arp_count", "100"),
            ("arp_interval", "100"),
        ],
    );
    lab.agent("start", &params).expect_ok();
    assert!(lab.announcer_pid().is_some(), "no announcer running");
    let peer_params = [
        ("ip", "2001:db8::10"),
        ("nic", "vb"),
        ("cidr_netmask", "64"),
        ("nodad", "true"),
    ];
    lab.agent_on_peer("start", &peer_params).expect_ok();
    let owner = lab.mac(&lab.peer, "vb");
    let r = wait_for(
        "the monitor to see the other host",
        Duration::from_secs(10),
        || {
            let r = lab.agent("monitor", &params);
            (r.code == 1).then_some(r)
        },
    );
    assert!(exit_reason(&r).contains(&owner), "{r}");
    // It stopped announcing once it saw the other host.
    wait_for("the announcer to end", Duration::from_secs(5), || {
        lab.announcer_pid().is_none().then_some(())
    });
    lab.agent("stop", &params).expect_ok();
    lab.agent_on_peer("stop", &peer_params).expect_ok();
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

/// The announcements go out `arp_count` times, `arp_interval` apart, most of them after start
/// returned (the detached announcer), each round a gratuitous request and reply.
#[test]
fn gratuitous_arp_reaches_the_peer() {
    let lab = Lab::new();
    let params = with(V4, &[("arp_count", "5"), ("arp_interval", "200")]);
    // 5 rounds of request + reply announcing 192.0.2.10 from its own address.
    let capture = lab.capture("arp and src host 192.0.2.10", 10);
    let started = common::now();
    lab.agent("start", &params).expect_ok();
    let returned = common::now();
    let packets = capture.packets();
    let text: Vec<&str> = packets.iter().map(|p| p.line.as_str()).collect();
    let requests: Vec<f64> = packets
        .iter()
        .filter(|p| {
            p.line.contains("Request who-has 192.0.2.10") && p.line.contains("ff:ff:ff:ff:ff:ff")
        })
        .map(|p| p.at)
        .collect();
    let replies = packets
        .iter()
        .filter(|p| p.line.contains("Reply 192.0.2.10 is-at"))
        .count();
    assert_eq!((requests.len(), replies), (5, 5), "{text:#?}");
    assert!(requests[0] >= started - 0.01, "{text:#?}");
    // Spacing: never closer than arp_interval (less a scheduling margin).
    let gaps: Vec<f64> = requests.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 0.18), "gaps {gaps:?}");
    // start returned long before the last round: the others came from the announcer.
    assert!(
        requests[4] > returned,
        "all announcements before start returned: {text:#?}"
    );
    eprintln!(
        "start returned after {:.1} ms; announcement gaps (ms): {:?}",
        (returned - started) * 1000.0,
        gaps.iter()
            .map(|g| (g * 1000.0).round())
            .collect::<Vec<_>>()
    );
    lab.agent("stop", &params).expect_ok();
}

/// `arp_bg=false`: every round is sent before start returns.
#[test]
fn foreground_announcements_are_all_sent_before_start_returns() {
    let lab = Lab::new();
    let params = with(
        V4,
        &[
            ("arp_count", "3"),
            ("arp_interval", "100"),
            ("arp_bg", "false"),
        ],
    );
    let capture = lab.capture("arp and src host 192.0.2.10", 6);
    lab.agent("start", &params).expect_ok();
    let returned = common::now();
    assert_eq!(lab.announcer_pid(), None);
    let packets = capture.packets();
    assert_eq!(packets.len(), 6);
    assert!(
        packets.iter().all(|p| p.at <= returned),
        "announced after start returned"
    );
    lab.agent("stop", &params).expect_ok();
}

#[test]
fn unsolicited_neighbour_advertisements_reach_the_peer() {
    let lab = Lab::new();
    let params = with(V6, &[("arp_count", "3"), ("arp_interval", "100")]);
    let capture = lab.capture("icmp6 and ip6[40] == 136 and dst host ff02::1", 3);
    lab.agent("start", &params).expect_ok();
    let packets = capture.packets();
    let adverts: Vec<f64> = packets
        .iter()
        .filter(|p| {
            p.line.contains("2001:db8::10 > ff02::1")
                && p.line.contains("neighbor advertisement")
                && p.line.contains("tgt is 2001:db8::10")
        })
        .map(|p| p.at)
        .collect();
    let text: Vec<&str> = packets.iter().map(|p| p.line.as_str()).collect();
    assert_eq!(adverts.len(), 3, "{text:#?}");
    assert!(adverts.windows(2).all(|w| w[1] - w[0] >= 0.09), "{text:#?}");
    lab.agent("stop", &params).expect_ok();
}

/// The detached announcer is accounted for: named in its pid file, in a session of its own,
/// with stdio on /dev/null (start's pipes were closed while it still ran), and it ends when
/// stop runs or when the address leaves the interface.
#[test]
fn the_announcer_is_detached_and_ends_with_the_address() {
    let lab = Lab::new();
    let params = with(V4, &[("arp_count", "1000"), ("arp_interval", "50")]);
    // run() reads stdout and stderr to their end: it returns only because the announcer
    // holds neither pipe.
    lab.agent("start", &params).expect_ok();
    let pid = lab.announcer_pid().expect("an announcer runs after start");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    // Fields 5 and 6: process group and session, both its own.
    assert_eq!(
        (fields[2], fields[3]),
        (pid.to_string().as_str(), pid.to_string().as_str()),
        "{stat}"
    );
    for fd in 0..3 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).expect("fd");
        assert_eq!(target, std::path::Path::new("/dev/null"), "fd {fd}");
    }
    let others: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t != "/dev/null")
        .collect();
    assert!(
        others.iter().all(|t| t.starts_with("socket:")),
        "{others:?}"
    );
    // stop ends it (and waits for it).
    lab.agent("stop", &params).expect_ok();
    assert_eq!(
        common::process_start(pid),
        None,
        "announcer {pid} survived stop"
    );

    // The address taken away behind the agent's back: the announcer ends by itself.
    lab.agent("start", &params).expect_ok();
    let pid = lab.announcer_pid().expect("an announcer runs after start");
    lab.ip(&lab.node, "addr del 192.0.2.10/24 dev va")
        .expect_ok();
    wait_for("the announcer to notice", Duration::from_secs(5), || {
        common::process_start(pid).is_none().then_some(())
    });
    // start on a running resource adds no second announcer.
    lab.agent("start", &params).expect_ok();
    let first = lab.announcer_pid().expect("announcer");
    lab.agent("start", &params).expect_ok();
    assert_eq!(lab.announcer_pid(), Some(first));
    lab.agent("stop", &params).expect_ok();
    assert_eq!(common::process_start(first), None);
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

/// Counts process creation with strace: the agent's own execve is the only program ever run;
/// start forks once (the announcer, which never execs), no other action forks at all.
#[test]
fn no_action_starts_a_process() {
    let lab = Lab::new();
    let agent = ocf_agent("vip");
    let trace_dir = lab.rsctmp.join("strace");
    std::fs::create_dir_all(&trace_dir).expect("trace dir");
    for (action, params, forks) in [
        ("start", V4, 1),
        ("monitor", V4, 0),
        ("stop", V4, 0),
        ("start", V6, 1),
        ("monitor", V6, 0),
        ("stop", V6, 0),
        ("validate-all", V4, 0),
    ] {
        let trace = trace_dir.join(format!("{action}.trace"));
        let trace_s = trace.to_string_lossy().into_owned();
        let mut env: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string()))
            .collect();
        env.push(("OCF_ROOT".into(), "/usr/lib/ocf".into()));
        env.push((
            "HA_RSCTMP".into(),
            lab.rsctmp.to_string_lossy().into_owned(),
        ));
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // strace -f follows the announcer too, and returns when it has ended.
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
        let calls: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("exited with") && !l.trim().is_empty())
            .collect();
        let execs = calls.iter().filter(|l| l.contains("execve")).count();
        let clones = calls
            .iter()
            .filter(|l| l.contains("clone") || l.contains("fork("))
            .count();
        assert_eq!(execs, 1, "{action}: only the agent's own execve:\n{text}");
        assert_eq!(clones, forks, "{action}: forks:\n{text}");
        assert_eq!(calls.len(), 1 + forks, "{action}:\n{text}");
    }
}

#[test]
fn ocf_tester_passes_its_behavioural_checks() {
    let lab = Lab::new();
    let agent = ocf_agent("vip");
    let rsctmp = lab.rsctmp.to_string_lossy().into_owned();
    let r = run_env(
        &[
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
        ],
        &[("HA_RSCTMP", &rsctmp)],
        None,
    );
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
    let rsctmp = lab.rsctmp.to_string_lossy().into_owned();
    let run_in_host = |action: &str, ns: &str| {
        run_env(
            &[agent.to_str().unwrap_or("vip"), action],
            &[
                ("OCF_ROOT", "/usr/lib/ocf"),
                ("HA_RSCTMP", &rsctmp),
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
    let params = with(
        V4,
        &[
            ("arp_count", "0"),
            ("arp_count_refresh", "2"),
            ("arp_interval", "10"),
        ],
    );
    lab.agent("start", &params).expect_ok();
    assert_eq!(lab.announcer_pid(), None, "arp_count=0: no announcer");
    let capture = lab.capture("arp and src host 192.0.2.10", 4);
    lab.agent_env(
        "monitor",
        &params,
        &[("OCF_RESKEY_CRM_meta_interval", "10000")],
    )
    .expect_ok();
    let packets = capture.packets();
    assert_eq!(packets.len(), 4);
    lab.agent("stop", &params).expect_ok();
}

/// A host answers ARP for its addresses on every interface: another interface of the node on
/// the same segment answers the announcer's probe. That is this host, not another owner.
#[test]
fn another_interface_of_this_host_is_not_another_owner() {
    let lab = Lab::new();
    for cmd in [
        "link add vx0 type veth peer name vx1",
        "link set vx0 up",
        "link set vx1 up",
        "addr add 198.51.100.1/24 dev vx0",
    ] {
        lab.ip(&lab.node, cmd).expect_ok();
    }
    let params = &[
        ("ip", "198.51.100.10"),
        ("nic", "vx0"),
        ("cidr_netmask", "24"),
        ("arp_count", "2"),
        ("arp_interval", "50"),
    ];
    let capture = lab_capture_on_node(&lab, "vx1");
    lab.agent("start", params).expect_ok();
    wait_for("the announcer to end", Duration::from_secs(10), || {
        lab.announcer_pid().is_none().then_some(())
    });
    // vx1 did answer the probe (so the watch saw an answer from a MAC that is not vx0's)...
    let answers = capture.packets();
    assert!(
        answers
            .iter()
            .any(|p| p.line.contains("Reply 198.51.100.10 is-at")),
        "no answer from vx1: {:?}",
        answers.iter().map(|p| &p.line).collect::<Vec<_>>()
    );
    // ...and the resource is healthy all the same.
    lab.agent("monitor", params).expect_ok();
    lab.agent("stop", params).expect_ok();
}

/// tcpdump on an interface of the node namespace, until the first ARP reply (or 10 s).
fn lab_capture_on_node(lab: &Lab, dev: &str) -> common::Capture {
    common::Capture::start(&lab.node, dev, "arp and arp[6:2] == 2", 1, 10)
}

/// Sends, from the peer, `claims` ARP replies claiming 192.0.2.10 at the peer's MAC, `gap_ms`
/// apart (a stale cache answering once, or an owner answering again).
fn claim_from_peer(lab: &Lab, claims: u32, gap_ms: u32) {
    let script = format!(
        r#"
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vb", 0))
mac = open("/sys/class/net/vb/address").read().strip()
src = bytes.fromhex(mac.replace(":", ""))
ip = socket.inet_aton("192.0.2.10")
arp = b"\x00\x01\x08\x00\x06\x04\x00\x02" + src + ip + b"\xff" * 6 + ip
for i in range({claims}):
    if i:
        time.sleep({gap_ms} / 1000)
    s.send(b"\xff" * 6 + src + b"\x08\x06" + arp)
"#
    );
    run_env(
        &["ip", "netns", "exec", &lab.peer, "python3", "-c", &script],
        &[],
        None,
    )
    .expect_ok();
}

/// One claim is not an owner (a switch or VTEP answering from a stale cache answers once,
/// before our gratuitous ARP reaches it); claims in two rounds are.
#[test]
fn an_owner_claims_the_address_in_two_rounds() {
    let lab = Lab::new();
    let params = with(V4, &[("arp_count", "5"), ("arp_interval", "200")]);
    lab.agent("start", &params).expect_ok();
    claim_from_peer(&lab, 1, 0);
    wait_for("the announcer to end", Duration::from_secs(10), || {
        lab.announcer_pid().is_none().then_some(())
    });
    lab.agent("monitor", &params).expect_ok();
    lab.agent("stop", &params).expect_ok();

    lab.agent("start", &params).expect_ok();
    claim_from_peer(&lab, 2, 450);
    let owner = lab.mac(&lab.peer, "vb");
    let r = wait_for(
        "the monitor to see the owner",
        Duration::from_secs(10),
        || {
            let r = lab.agent("monitor", &params);
            (r.code == 1).then_some(r)
        },
    );
    assert!(exit_reason(&r).contains(&owner), "{r}");
    lab.agent("stop", &params).expect_ok();
}
