//! `ocf:oxha:vip`: a virtual IP address, a drop-in for `ocf:heartbeat:IPaddr2`.
//!
//! Same parameter names and meanings; every operation is rtnetlink requests and raw sockets in
//! this one process (IPaddr2 forks `ip`, `grep`, `sed`, `send_arp`... 20-40 times per action);
//! the only process start leaves behind is itself, forked, sending the remaining announcements.

pub mod announce;
pub mod config;
pub mod netlink;
pub mod packet;

use announce::{Announcer, Conflict, Outcome, Plan};
use config::Broadcast;
use netlink::{Addr, Link, Netlink, NewAddr};
use ocf_lib::process;
use ocf_lib::ra::{Context, ResourceAgent};
use ocf_lib::{
    ActionMeta, AgentKind, AgentMeta, ManSection, OcfError, OcfResult, OcfStatus, Param,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn check_ip(v: &str) -> Result<(), String> {
    config::parse_ip(v).map(|_| ())
}

fn check_ipv6addr(v: &str) -> Result<(), String> {
    config::parse_ipv6addr(v).map(|_| ())
}

fn check_nic(v: &str) -> Result<(), String> {
    config::parse_nic(v).map(|_| ())
}

fn check_lifetime(v: &str) -> Result<(), String> {
    config::parse_lifetime(v).map(|_| ())
}

fn check_proto(v: &str) -> Result<(), String> {
    config::parse_route_protocol(v).map(|_| ())
}

fn check_namespace(v: &str) -> Result<(), String> {
    let bad_name = !v.starts_with('/') && (v.contains('/') || v == "." || v == "..");
    if v.trim().is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) || bad_name {
        return Err("expected a namespace name (ip netns list) or an absolute path".into());
    }
    Ok(())
}

fn check_non_negative(v: &str) -> Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (0..=1_000_000).contains(&n) => Ok(()),
        _ => Err("expected a number from 0 to 1000000".into()),
    }
}

const UNSUPPORTED: &str =
    "Not supported by ocf:oxha:vip: setting it is refused with OCF_ERR_CONFIGURED \
(see DIFFERENCES FROM IPADDR2).";
const IGNORED: &str =
    "Accepted for compatibility with IPaddr2 and ignored: the choice is internal to \
ocf:oxha:vip (see DIFFERENCES FROM IPADDR2).";

static PARAMS: &[Param] = &[
    Param::string("ip", "IPv4 or IPv6 address")
        .longdesc(
            "The virtual IP address (IPv4 dotted quad or IPv6), e.g. 192.0.2.10 or 2001:db8::10. \
Required, unless ipv6addr is set.",
        )
        .unique_group("ip")
        .check(check_ip),
    Param::string("ipv6addr", "IPv6 address (ocf:heartbeat:IPv6addr's name for ip)")
        .longdesc(
            "The parameter of ocf:heartbeat:IPv6addr, so a resource of that agent switches by a \
change of class: an IPv6 address, optionally with its prefix length (2001:db8::10/64). \
cidr_netmask, when set, takes precedence over that prefix. Setting both ip and ipv6addr is an error \
unless they name the same address.",
        )
        .unique_group("ip")
        .check(check_ipv6addr),
    Param::string("nic", "Network interface")
        .longdesc(
            "The interface to add the address to (the base name, e.g. eth0). When unset it is found \
from the main routing table as IPaddr2 finds it: the directly attached network containing ip (at least \
as wide as cidr_netmask, when set) with the lowest metric, then the longest prefix; the default route \
never matches (see BEHAVIOUR). Setting nic and cidr_netmask explicitly is recommended. The deprecated \
form nic=eth0:label is accepted and means nic=eth0 iflabel=label.",
        )
        .check(check_nic),
    Param::string("cidr_netmask", "Prefix length (CIDR netmask)")
        .longdesc(
            "Prefix length of the address, e.g. 24 or 64; for IPv4 a dotted netmask such as \
255.255.255.0 is accepted. When unset it is the prefix of the route used to find the interface.",
        ),
    Param::string("broadcast", "IPv4 broadcast address")
        .longdesc(
            "Broadcast address for an IPv4 address: an address, '+' (all host bits set) or '-' (none). \
When unset it is computed from the prefix ('+'); /31 and /32 get none. Ignored for IPv6 ('+'/'-').",
        ),
    Param::string("iflabel", "Interface label")
        .longdesc(
            "Label for the IPv4 address, shown by ifconfig as <nic>:<iflabel> (at most 15 characters in \
all). IPv6 addresses have no labels: set with an IPv6 ip it is ignored with a warning, as IPaddr2 does.",
        ),
    Param::boolean("lvs_support", "Keep the address on lo after stop (LVS direct routing)")
        .longdesc(
            "IPv4 only. On start, a /32 copy of the address on lo is removed; on stop, the address is \
moved to lo as a /32 instead of being deleted, so a real server of an LVS-DR setup keeps accepting \
traffic for it.",
        )
        .default("false"),
    Param::integer("arp_count", "Number of gratuitous ARPs / unsolicited NAs at start")
        .longdesc(
            "Announcement rounds after the address is added, arp_interval ms apart (IPv4: a \
gratuitous ARP request and reply, and an ARP probe whose answer reveals another owner; IPv6: an \
unsolicited neighbour advertisement). 0 sends none and also turns off the conflict watch.",
        )
        .default("5")
        .check(check_non_negative),
    Param::integer("arp_interval", "Milliseconds between gratuitous ARPs")
        .default("200")
        .check(check_non_negative),
    Param::integer("arp_count_refresh", "Gratuitous ARPs sent by every monitor (IPv4)")
        .longdesc("When above 0, every recurring monitor re-announces an IPv4 address this many times, arp_interval apart (in the monitor itself: a monitor never starts a process).")
        .default("0")
        .check(check_non_negative),
    Param::boolean("arp_bg", "Send the announcements after the first in the background")
        .longdesc(
            "true (the default, for IPv4 and IPv6): start sends the first announcement itself and \
returns; a detached announcer (the agent forked into its own session, stdio on /dev/null, pid file \
under HA_RSCTMP) sends the others and watches for another host claiming the address; stop ends it, \
and it ends by itself when the address leaves the interface. false: start sends every announcement \
and watches itself, and fails (removing the address) when another host claims it.",
        )
        .default("true"),
    Param::string("arp_sender", "ARP sender program").longdesc(IGNORED),
    Param::string("send_arp_opts", "Extra options for the ARP sender").longdesc(IGNORED),
    Param::boolean("run_arping", "Probe for an address conflict before adding the address (IPv4)")
        .longdesc(
            "true: before adding an IPv4 address, start sends two ARP probes within 300 ms and \
refuses to start (exit 1, naming the owner's MAC) when another host answers, as IPaddr2's arping \
check does. false (the default): the address is added at once and the announcer watches for an \
owner afterwards (see arp_bg); a conflict then fails the next monitor.",
        )
        .default("false"),
    Param::boolean("flush_routes", "Flush the route cache on stop")
        .longdesc("Accepted and ignored: the IPv4 route cache no longer exists in the kernel (since Linux 3.6), and IPv6 cached routes follow address removal."),
    Param::boolean("nodad", "Skip IPv6 duplicate address detection")
        .longdesc("IPv6 only: add the address with the nodad flag. Address conflicts are then not detected.")
        .default("false"),
    Param::boolean("noprefixroute", "Do not create a prefix route")
        .longdesc("Add the address with the noprefixroute flag: the kernel creates no route for its prefix.")
        .default("false"),
    Param::string("preferred_lft", "IPv6 preferred lifetime")
        .longdesc(
            "IPv6 only: 'forever' or seconds. 0 keeps the address from being chosen as a source address \
(deprecated state) while it still receives traffic.",
        )
        .check(check_lifetime),
    Param::string("proto", "Route protocol used for nic/netmask detection")
        .longdesc("Only routes of this protocol (kernel, boot, static, dhcp, ... or a number) are used to find nic and cidr_netmask.")
        .check(check_proto),
    Param::boolean("check_link_status", "Treat a NIC without link as not running")
        .longdesc(
            "When true, monitor returns OCF_NOT_RUNNING (7) with a reason if the interface is \
administratively down or has no carrier (operational state DOWN or LOWERLAYERDOWN), and start refuses \
such an interface.",
        )
        .default("true"),
    Param::boolean("unique_clone_address", "Add the clone number to the address").longdesc(UNSUPPORTED),
    Param::string("mac", "Cluster-IP multicast MAC").longdesc(UNSUPPORTED),
    Param::string("clusterip_hash", "Cluster-IP hash mode").longdesc(UNSUPPORTED),
    Param::string("clusterip_firewall", "Cluster-IP firewall").longdesc(UNSUPPORTED),
    Param::string("clusterip_hash_seed", "Cluster-IP hash seed").longdesc(UNSUPPORTED),
    Param::string("clusterip_table", "Cluster-IP firewall table").longdesc(UNSUPPORTED),
    Param::string("clusterip_chain", "Cluster-IP firewall chain").longdesc(UNSUPPORTED),
    Param::string("clusterip_mac_mangle", "Cluster-IP MAC mangling").longdesc(UNSUPPORTED),
    Param::boolean("lvs_ipv6_addrlabel", "Add an IPv6 address label").longdesc(UNSUPPORTED),
    Param::integer("lvs_ipv6_addrlabel_value", "IPv6 address label value")
        .longdesc("Accepted and ignored (lvs_ipv6_addrlabel is not supported)."),
    Param::string("network_namespace", "Network namespace")
        .longdesc(
            "Manage the address inside this network namespace: a name under /var/run/netns (as made by \
'ip netns add') or an absolute path to a namespace file. The agent enters it itself (setns); IPaddr2 \
re-runs itself through 'ip netns exec'. A probe where the namespace does not exist returns 7.",
        )
        .check(check_namespace),
];

static ACTIONS: &[ActionMeta] = &[
    ActionMeta::new("start", 20),
    ActionMeta::new("stop", 20),
    ActionMeta::new("monitor", 20).interval(10).depth(0),
    ActionMeta::new("status", 20).interval(10).depth(0),
    ActionMeta::new("validate-all", 20),
    ActionMeta::new("meta-data", 5),
];

static MAN_SECTIONS: &[ManSection] = &[
    ManSection {
        title: "EXAMPLES",
        body: "crmsh:

  crm configure primitive vip ocf:oxha:vip \\
      params ip=192.0.2.10 cidr_netmask=24 nic=eth1 \\
      op monitor interval=10s timeout=20s

pcs:

  pcs resource create vip ocf:oxha:vip ip=192.0.2.10 cidr_netmask=24 nic=eth1 \\
      op monitor interval=10s timeout=20s

IPv6, checking for duplicate-address state on every monitor:

  pcs resource create vip6 ocf:oxha:vip ip=2001:db8::10 cidr_netmask=64 nic=eth1 \\
      op monitor interval=10s OCF_CHECK_LEVEL=10

Switching an existing IPaddr2 or IPv6addr resource is a change of class; the parameters stay:

  crm configure edit vip   # ocf:heartbeat:IPaddr2 -> ocf:oxha:vip
  crm configure primitive vip6 ocf:oxha:vip \\
      params ipv6addr=2001:db8::10 cidr_netmask=64 nic=eth1   # was ocf:heartbeat:IPv6addr",
    },
    ManSection {
        title: "BEHAVIOUR",
        body: "start: when the address is already on the interface with the configured prefix, start succeeds at \
once; when it is on this node otherwise (another prefix or another interface), start fails (1) and stop \
removes it. Else the interface must be up with carrier (check_link_status); with run_arping=true an IPv4 \
address is first probed with ARP and start fails when another host answers; the address is added with its \
label and broadcast address; an IPv6 address waits until duplicate address detection is over (a failed DAD \
deletes the address and fails start: another host owns it); and the first announcement goes out at once \
(IPv4: a gratuitous ARP request and reply, then an ARP probe; IPv6: an unsolicited neighbour advertisement \
with the override flag, to all nodes).

With arp_bg=true (the default) start returns then. A detached announcer sends the other arp_count - 1 \
rounds arp_interval ms apart and, until 500 ms (or arp_interval, if longer) after the last, watches for \
another host that claims the address: one that answers the ARP probe, or advertises the IPv6 address, from \
a MAC that none of this host's interfaces has (a host answers ARP for its addresses on all its interfaces, \
so a second NIC of this node on the segment is not another owner), in the windows of two rounds (of the \
only one, with arp_count=1: a switch answering once from a stale cache is not an owner). It records that host's MAC in $HA_RSCTMP/vip-<instance>.conflict and stops announcing; the \
next monitor fails (1) naming the MAC. The announcer is the agent itself, forked into a session of its own \
with standard input, output and error on /dev/null (it holds none of Pacemaker's pipes and is outside the \
operation's process group) and recorded in $HA_RSCTMP/vip-<instance>.announcer (pid and start time); it \
ends by itself when the address leaves the interface, and stop ends it. With arp_bg=false start sends \
every round and watches itself, and fails (removing the address) when another host claims it.

monitor: one address dump, and a read of the conflict file; a monitor never starts a process. Running (0) \
means the address is on the interface with the configured prefix (and label). Not running (7): the address \
is not on this node, the interface does not exist, or its link is down (check_link_status). Failed (1): the \
address is on this node but not as configured (another prefix or another interface; it answers ARP all the \
same, so \"not running\" would let the cluster start it on a second node), the announcer saw another host \
claim it, or, with OCF_CHECK_LEVEL=10, it is tentative or failed DAD.

stop: ends the announcer, then deletes every copy of ip from every interface of this node, whatever its \
prefix (except the /32 on lo that lvs_support keeps); success when none is left (idempotent).

validate-all: parameter syntax (exit 6 naming the parameter and value); with OCF_CHECK_LEVEL=10 also that \
the interface exists and nic/cidr_netmask can be found.

nic and cidr_netmask, when unset, are found as IPaddr2 finds them: the main routing table's routes that \
contain ip (IPv4: directly attached networks only), with cidr_netmask set only routes at least as wide as it, \
the lowest metric, then the longest prefix. So a cidr_netmask wider than the interface's own network finds \
no interface and start fails (1), as with IPaddr2. An address in 127.0.0.0/8 that no such route contains \
goes on the local table's network of lo (ip=127.0.0.2 alone starts as 127.0.0.2/8 on lo, as with IPaddr2).

Addresses, links and routes are read and changed with rtnetlink, announcements and probes go out on raw \
sockets: no action runs another program, and only start forks (the announcer).",
    },
    ManSection {
        title: "DIFFERENCES FROM IPADDR2",
        body: "Refused with OCF_ERR_CONFIGURED (6) and a reason naming the parameter, never silently ignored: \
unique_clone_address=true, mac, clusterip_hash, clusterip_firewall, clusterip_hash_seed, clusterip_table, \
clusterip_chain, clusterip_mac_mangle, lvs_ipv6_addrlabel=true, and cloning the \
resource with clone-max above 1 (IPaddr2's cluster-IP mode). An anonymous clone with clone-max=1 works.

Accepted and ignored (the choice is internal): arp_sender and send_arp_opts (requests and replies are both \
sent, which covers send_arp -A), flush_routes (no IPv4 route cache since Linux 3.6), \
lvs_ipv6_addrlabel_value.

Address conflicts: IPaddr2 checks only with run_arping=true (arping before adding the address); vip does \
the same with run_arping=true, and otherwise still finds an owner while announcing and fails the next \
monitor with its MAC. IPv6 conflicts are found by the kernel's DAD (unless nodad=true), as with IPaddr2, \
and by the announcer's watch.

arp_bg: true by default for IPv6 as well (IPaddr2: false for IPv6): start returns after DAD and the first \
advertisement. arp_count_refresh announcements are sent by the monitor itself (IPaddr2 sends them in the \
background when arp_bg is true). arp_count=0 (no announcements, no conflict watch) and arp_interval=0 are \
accepted; IPaddr2 refuses them (6).

Address present but not as configured (another prefix, another interface): IPaddr2's monitor and probe \
say not running (7) and its stop leaves the address, so the cluster can start it on a second node while \
this one still answers for it; vip's monitor and probe fail (1) with a reason and stop removes every copy. \
start on such a node fails (1); IPaddr2 adds a second copy beside it.

Interface state: IPaddr2 runs 'ip link set up' on the interface at start; vip never changes interface \
state and fails start on a down interface (with check_link_status=true, the default) instead.

network_namespace: the agent enters the namespace itself (setns) instead of re-running itself with \
'ip netns exec'; on a node where the namespace does not exist a probe returns 7 and start 5.

Broadcast: when unset, IPaddr2 looks for the brd of an address through the route (with resource-agents \
4.12 that finds none: the address gets no broadcast); vip computes it from the prefix ('+').

Monitor: does not consult the routing table (IPaddr2 re-runs findif on every monitor, which failed \
monitors when routes changed, resource-agents issue #1963). Without cidr_netmask, any prefix counts. \
The link check (IPaddr2 4.17 check_link_status) is available on every version.

Probes on a node without the interface return 7. start on such a node returns OCF_ERR_INSTALLED (5), \
which bans only that node; IPaddr2 returns 6 there (banned everywhere).

validate-all only looks at the node (interface exists, route found) with OCF_CHECK_LEVEL=10; syntax \
errors are 6 at every level.

Metadata is OCF 1.1 (ocf-tester's 1.0 DTD check fails, as it does for pacemaker's Dummy).",
    },
    ManSection {
        title: "DIFFERENCES FROM IPV6ADDR",
        body: "ocf:heartbeat:IPv6addr's parameters ipv6addr (with or without a /prefix), cidr_netmask and nic \
are accepted with the same meaning, so an IPv6addr resource switches by a change of class. Without nic or \
cidr_netmask, IPv6addr takes the interface and prefix of an existing global address of the same prefix; vip \
takes them from the route the kernel made for that address (the same answer).

start: IPv6addr pings the new address until it answers, then sends 5 advertisements 1 s apart before it \
returns (start takes 5 s or more); vip waits for the end of DAD and returns after the first of arp_count \
advertisements (arp_interval apart, 200 ms by default).

monitor: IPv6addr pings the address and says not running (7) when no answer comes back at once, which \
fails under load (resource-agents issue #1855); vip reads the address's state from the kernel.

Bad values: IPv6addr exits 2 (OCF_ERR_ARGS, this node only) for an invalid ipv6addr; vip exits 6, and also \
refuses an IPv4 address in ipv6addr. A link-local ipv6addr without nic: IPv6addr fails start (1), vip \
refuses it (6), as IPaddr2 does.",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "vip",
    kind: AgentKind::Resource,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Virtual IP address (a drop-in for IPaddr2 and IPv6addr)",
    longdesc: "Manages a virtual IPv4 or IPv6 address on a network interface, with the parameters of \
ocf:heartbeat:IPaddr2 and ocf:heartbeat:IPv6addr. Everything is done with rtnetlink and raw sockets inside \
the agent: a monitor is one address dump and takes well under a millisecond, and no action runs another \
program.",
    params: PARAMS,
    param_groups: &[],
    actions: ACTIONS,
    man_sections: MAN_SECTIONS,
};

/// How long the opt-in ARP conflict probe (`run_arping`) listens, and in how many probes.
const PROBE_WAIT: Duration = Duration::from_millis(300);
const PROBES: u32 = 2;
/// How often start looks at an IPv6 address while the kernel runs DAD.
const DAD_POLL: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct Vip {
    ip: IpAddr,
    nic: Option<String>,
    prefix: Option<u8>,
    broadcast: Broadcast,
    /// The label suffix (`<nic>:<label>`), IPv4 only.
    label: Option<String>,
    lvs_support: bool,
    arp_count: u32,
    arp_interval: Duration,
    arp_count_refresh: u32,
    arp_bg: bool,
    run_arping: bool,
    nodad: bool,
    noprefixroute: bool,
    preferred_lft: Option<u32>,
    proto: Option<u8>,
    check_link_status: bool,
    network_namespace: Option<String>,
}

#[derive(Default)]
struct Copies<'a> {
    ours: Option<&'a Addr>,
    misplaced: Vec<&'a Addr>,
}

/// Where the address goes: the interface and the prefix.
struct Placement {
    link: Link,
    prefix: u8,
}

fn configured(e: ocf_lib::ParamError) -> OcfError {
    OcfError::configured(e.to_string())
}

fn netlink_error(what: &str, e: std::io::Error) -> OcfError {
    OcfError::generic(format!("{what}: {e}"))
}

fn mac6(link: &Link) -> Option<[u8; 6]> {
    <[u8; 6]>::try_from(link.mac.as_slice()).ok()
}

use announce::format_mac;

/// The announcer's pid file and the conflict it may record, per resource instance under
/// HA_RSCTMP (cleared at boot).
struct StateFiles {
    announcer: std::path::PathBuf,
    conflict: std::path::PathBuf,
}

impl StateFiles {
    fn of(ctx: &Context) -> StateFiles {
        StateFiles {
            announcer: ctx.state_file(".announcer"),
            conflict: ctx.state_file(".conflict"),
        }
    }
}

/// How long stop gives the announcer to end after SIGTERM before SIGKILL.
const ANNOUNCER_GRACE: Duration = Duration::from_secs(1);

impl Vip {
    /// Moves this process into `network_namespace`, if one is configured, before any socket
    /// is opened. `Ok(false)`: the namespace does not exist on this node.
    fn enter_namespace(&self) -> Result<bool, OcfError> {
        let Some(name) = &self.network_namespace else {
            return Ok(true);
        };
        let path = if name.starts_with('/') {
            std::path::PathBuf::from(name)
        } else {
            std::path::Path::new("/var/run/netns").join(name)
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(OcfError::generic(format!(
                    "cannot open network namespace {}: {e}",
                    path.display()
                )))
            }
        };
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a descriptor we hold open; the process is single-threaded here.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(OcfError::generic(format!(
                "cannot enter network namespace {}: {e}",
                path.display()
            )));
        }
        Ok(true)
    }

    fn missing_namespace(&self) -> String {
        format!(
            "network namespace {} does not exist on this node",
            self.network_namespace.as_deref().unwrap_or("")
        )
    }

    fn label_name(&self, nic: &str) -> Option<String> {
        self.label.as_ref().map(|l| format!("{nic}:{l}"))
    }

    fn prefix_text(&self) -> String {
        self.prefix.map(|p| format!("/{p}")).unwrap_or_default()
    }

    /// The configured interface, or `None` when it does not exist on this node.
    fn configured_link(&self, nl: &mut Netlink) -> Result<Option<Link>, OcfError> {
        match &self.nic {
            Some(nic) => nl
                .link_by_name(nic)
                .map_err(|e| netlink_error(&format!("cannot look up interface {nic}"), e)),
            None => Ok(None),
        }
    }

    /// Interface and prefix for start: as configured, the rest from the main routing table.
    fn placement(&self, nl: &mut Netlink) -> Result<Placement, OcfError> {
        let link = self.configured_link(nl)?;
        if let (Some(nic), None) = (&self.nic, &link) {
            return Err(OcfError::installed(format!(
                "interface {nic} does not exist on this node"
            )));
        }
        if let (Some(link), Some(prefix)) = (&link, self.prefix) {
            return Ok(Placement {
                link: link.clone(),
                prefix,
            });
        }
        let routes = nl
            .routes(&self.ip)
            .map_err(|e| netlink_error("cannot read the routing table", e))?;
        let found = config::detect(
            &routes,
            &self.ip,
            link.as_ref().map(|l| l.index),
            self.prefix,
            self.proto,
        )
        .or_else(|| config::detect_loopback(&routes, &self.ip));
        let Some((oif, route_prefix)) = found else {
            return Err(OcfError::generic(format!(
                "unable to find nic or netmask for {}{}: no directly attached network of the main table{} contains it; set nic and cidr_netmask",
                self.ip,
                self.prefix_text(),
                self.nic.as_ref().map(|n| format!(" via {n}")).unwrap_or_default()
            )));
        };
        let link = match link {
            Some(link) => link,
            None => nl
                .link_by_index(oif)
                .map_err(|e| netlink_error("cannot look up interface", e))?
                .ok_or_else(|| {
                    OcfError::generic(format!(
                        "route for {} points to a missing interface {oif}",
                        self.ip
                    ))
                })?,
        };
        Ok(Placement {
            link,
            prefix: self.prefix.unwrap_or(route_prefix),
        })
    }

    /// Every copy of our IP on this node, split in two: `ours`, on the configured interface
    /// (any, when nic is unset) with the configured prefix (any, when cidr_netmask is unset);
    /// and the others (another prefix or another interface), except the /32 that lvs_support
    /// keeps on lo between stop and start.
    fn copies<'a>(&self, addrs: &'a [Addr], index: Option<u32>, lo: Option<u32>) -> Copies<'a> {
        let mut copies = Copies::default();
        for a in addrs.iter().filter(|a| a.ip == self.ip) {
            let right_place =
                index.is_none_or(|i| a.index == i) && self.prefix.is_none_or(|p| a.prefix == p);
            if right_place && copies.ours.is_none() {
                copies.ours = Some(a);
            } else if !(self.lvs_support && Some(a.index) == lo && a.prefix == 32) {
                copies.misplaced.push(a);
            }
        }
        copies
    }

    fn interface_name(nl: &mut Netlink, index: u32) -> String {
        nl.link_by_index(index)
            .ok()
            .flatten()
            .map(|l| l.name)
            .unwrap_or_else(|| format!("#{index}"))
    }

    /// `arp_count_refresh` in a monitor: gratuitous ARP only, in this process.
    fn refresh(&self, link: &Link, ctx: &Context) -> Result<(), OcfError> {
        let (IpAddr::V4(ip), Some(mac)) = (self.ip, mac6(link)) else {
            return Ok(());
        };
        if link.loopback || link.noarp {
            return Ok(());
        }
        let failed = |e: std::io::Error| {
            OcfError::generic(format!("cannot announce {ip} on {}: {e}", link.name))
        };
        let socket = packet::ArpSocket::open(link.index).map_err(failed)?;
        for round in 0..self.arp_count_refresh {
            if round > 0 && !ctx.deadline.sleep(self.arp_interval) {
                break;
            }
            socket.announce(mac, ip).map_err(failed)?;
        }
        Ok(())
    }

    /// Announces the address start just added: the first round at once, the others from a
    /// detached announcer (`arp_bg`, the default) or here. See [`announce`].
    fn announce_start(
        &self,
        nl: &mut Netlink,
        link: &Link,
        prefix: u8,
        ctx: &Context,
    ) -> Result<(), OcfError> {
        if self.arp_count == 0 || link.loopback || link.noarp {
            return Ok(());
        }
        let Some(mac) = mac6(link) else {
            ocf_lib::warn!(
                "interface {} has no Ethernet address: no announcements sent",
                link.name
            );
            return Ok(());
        };
        let failed = |e: std::io::Error| {
            OcfError::generic(format!("cannot announce {} on {}: {e}", self.ip, link.name))
        };
        let own_macs = self.own_macs(nl, mac)?;
        let mut announcer = Announcer::open(Plan {
            ifindex: link.index,
            mac,
            own_macs,
            ip: self.ip,
            count: self.arp_count,
            interval: self.arp_interval,
        })
        .map_err(failed)?;
        announcer.round().map_err(failed)?;
        if self.arp_bg {
            match self.detach_announcer(&mut announcer, link, ctx) {
                Ok(()) => return Ok(()),
                Err(e) => ocf_lib::warn!(
                    "cannot leave the announcements of {} to a detached announcer ({e}): sending them now",
                    self.ip
                ),
            }
        }
        let (ip, index) = (self.ip, link.index);
        let outcome = announcer
            .rest(&ctx.deadline, || announce::still_present(nl, ip, index))
            .map_err(failed)?;
        match outcome {
            Outcome::Done => {
                ocf_lib::info!(
                    "announced {ip} on {} {} time(s)",
                    link.name,
                    announcer.sent()
                );
                Ok(())
            }
            Outcome::OutOfTime => {
                ocf_lib::warn!(
                    "start timeout: announced {ip} on {} only {} of {} times",
                    link.name,
                    announcer.sent(),
                    self.arp_count
                );
                Ok(())
            }
            Outcome::Gone => Err(OcfError::generic(format!(
                "{ip} left {} while it was being announced",
                link.name
            ))),
            Outcome::Conflict(owner) => {
                let _ = nl.delete_address(index, ip, prefix);
                Err(OcfError::generic(format!(
                    "{ip} is already in use on {} by the host with MAC {}: refusing to start",
                    link.name,
                    format_mac(&owner)
                )))
            }
        }
    }

    /// Forks the announcer for the remaining rounds and records it in its pid file. Returns in
    /// the agent only; the announcer ends inside [`Vip::run_announcer`].
    fn detach_announcer(
        &self,
        announcer: &mut Announcer,
        link: &Link,
        ctx: &Context,
    ) -> std::io::Result<()> {
        let files = StateFiles::of(ctx);
        std::fs::create_dir_all(&ctx.rsc_tmp)?;
        match process::detach(&announcer.raw_fds())? {
            process::Fork::Parent(child) => {
                if let Err(e) = child.write_pid_file(&files.announcer) {
                    // Unaccounted for, it could not be stopped: end it, announce here instead.
                    // SAFETY: kill(2) on our own child, which has not been reaped.
                    unsafe { libc::kill(child.pid, libc::SIGKILL) };
                    let mut status = 0;
                    // SAFETY: reaping our own child.
                    unsafe { libc::waitpid(child.pid, &mut status, 0) };
                    return Err(e);
                }
                ocf_lib::info!(
                    "announced {} on {} once; announcer {} sends the other {} and watches for another owner",
                    self.ip,
                    link.name,
                    child.pid,
                    self.arp_count.saturating_sub(1)
                );
                Ok(())
            }
            process::Fork::Child => self.run_announcer(announcer, link, &files),
        }
    }

    /// The detached announcer's whole life (see [`announce`]).
    fn run_announcer(&self, announcer: &mut Announcer, link: &Link, files: &StateFiles) -> ! {
        let myself = process::Daemon::myself();
        let (ip, index) = (self.ip, link.index);
        let outcome = Netlink::open().and_then(|mut nl| {
            announcer.rest(&ocf_lib::Deadline::none(), || {
                announce::still_present(&mut nl, ip, index)
            })
        });
        match outcome {
            Ok(Outcome::Conflict(owner)) => {
                let recorded = Conflict::now(owner).record(&files.conflict);
                ocf_lib::warn!(
                    "{ip} on {}: the host with MAC {} claims it too; announcements stopped{}",
                    link.name,
                    format_mac(&owner),
                    match recorded {
                        Ok(()) => ", the next monitor fails".to_string(),
                        Err(e) => format!(" (cannot record it: {e})"),
                    }
                );
            }
            Ok(Outcome::Gone) => ocf_lib::info!(
                "{ip} left {}: announcer ends after {} round(s)",
                link.name,
                announcer.sent()
            ),
            Ok(_) => ocf_lib::debug!(
                "announced {ip} on {} {} time(s)",
                link.name,
                announcer.sent()
            ),
            Err(e) => ocf_lib::warn!("announcer for {ip} on {} failed: {e}", link.name),
        }
        if let Some(me) = myself {
            me.remove_own_pid_file(&files.announcer);
        }
        // SAFETY: ends the child without the parent's exit handlers or buffered output.
        unsafe { libc::_exit(0) }
    }

    fn wait_for_dad(
        &self,
        nl: &mut Netlink,
        link: &Link,
        prefix: u8,
        ctx: &Context,
    ) -> Result<(), OcfError> {
        let outcome = ctx.deadline.poll(DAD_POLL, || {
            let addrs = match nl.addresses(&self.ip) {
                Ok(a) => a,
                Err(e) => return Some(Err(netlink_error("cannot read addresses", e))),
            };
            match addrs
                .iter()
                .find(|a| a.ip == self.ip && a.index == link.index)
            {
                None => Some(Err(OcfError::generic(format!(
                    "{} disappeared from {} during duplicate address detection",
                    self.ip, link.name
                )))),
                Some(a) if a.dad_failed => Some(Err(OcfError::generic(format!(
                    "duplicate address detection failed for {} on {}: another host owns it",
                    self.ip, link.name
                )))),
                Some(a) if a.tentative => None,
                Some(_) => Some(Ok(())),
            }
        });
        let result = outcome.unwrap_or_else(|| {
            Err(OcfError::generic(format!(
                "{} still tentative on {} when the start timeout ran out",
                self.ip, link.name
            )))
        });
        if result.is_err() {
            let _ = nl.delete_address(link.index, self.ip, prefix);
        }
        result
    }

    /// lvs_support: the /32 copy on lo that stop leaves behind.
    fn loopback_copy(&self, nl: &mut Netlink) -> Result<Option<(u32, Ipv4Addr)>, OcfError> {
        let IpAddr::V4(ip) = self.ip else {
            return Ok(None);
        };
        if !self.lvs_support {
            return Ok(None);
        }
        let lo = nl
            .link_by_name("lo")
            .map_err(|e| netlink_error("cannot look up lo", e))?
            .ok_or_else(|| OcfError::generic("lvs_support: no lo interface"))?;
        Ok(Some((lo.index, ip)))
    }
}

/// IPaddr2 parameters vip declares (a configuration written for IPaddr2 loads) but refuses to
/// start with: cluster-IP mode and MAC changes, which it does not implement.
pub const REFUSED_PARAMS: &[&str] = &[
    "mac",
    "clusterip_hash",
    "clusterip_firewall",
    "clusterip_hash_seed",
    "clusterip_table",
    "clusterip_chain",
    "clusterip_mac_mangle",
];

/// IPaddr2 parameters vip refuses only when true.
pub const REFUSED_WHEN_TRUE: &[&str] = &["unique_clone_address", "lvs_ipv6_addrlabel"];

impl ResourceAgent for Vip {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_params(ctx: &Context) -> Result<Self, OcfError> {
        let p = &ctx.params;
        for &name in REFUSED_PARAMS {
            if let Some(v) = p.string(name) {
                return Err(OcfError::configured(format!(
                    "parameter '{name}' (set to '{v}') is not supported by ocf:oxha:vip"
                )));
            }
        }
        for &name in REFUSED_WHEN_TRUE {
            if p.bool(name).map_err(configured)? {
                return Err(OcfError::configured(format!(
                    "parameter '{name}=true' is not supported by ocf:oxha:vip"
                )));
            }
        }
        if let Some(max) = ctx.meta_attr("clone_max") {
            if max.trim().parse::<u32>().is_ok_and(|m| m > 1) {
                return Err(OcfError::configured(format!(
                    "cloned virtual IPs (clone-max={max}, IPaddr2's cluster-IP mode) are not supported by ocf:oxha:vip"
                )));
            }
        }

        let given_ip = p.parsed("ip", config::parse_ip).map_err(configured)?;
        let given_v6 = p
            .parsed("ipv6addr", config::parse_ipv6addr)
            .map_err(configured)?;
        let (ip, v6_prefix) = match (given_ip, given_v6) {
            (Some(ip), None) => (ip, None),
            (None, Some((v6, prefix))) => (IpAddr::V6(v6), prefix),
            (Some(ip), Some((v6, prefix))) if ip == IpAddr::V6(v6) => (ip, prefix),
            (Some(ip), Some((v6, _))) => {
                return Err(OcfError::configured(format!(
                    "parameters 'ip' ({ip}) and 'ipv6addr' ({v6}) name different addresses: set one"
                )))
            }
            (None, None) => {
                return Err(OcfError::configured(
                    "parameter 'ip' (or 'ipv6addr') is required but not set",
                ))
            }
        };
        let (nic, nic_label) = match p.parsed("nic", config::parse_nic).map_err(configured)? {
            Some((nic, label)) => (Some(nic), label),
            None => (None, None),
        };
        let prefix = p
            .parsed("cidr_netmask", |v| config::parse_netmask(v, &ip))
            .map_err(configured)?
            .or(v6_prefix);
        let broadcast = p
            .parsed("broadcast", |v| config::parse_broadcast(v, &ip))
            .map_err(configured)?
            .unwrap_or(Broadcast::Computed);
        let mut label = p.string("iflabel").or(nic_label);
        if let Some(l) = &label {
            let nic_len = nic.as_deref().unwrap_or("");
            // Without nic the full label is only known after detection; check what we can.
            config::check_label(if nic_len.is_empty() { "x" } else { nic_len }, l).map_err(
                |why| {
                    OcfError::configured(format!("parameter 'iflabel': invalid value '{l}': {why}"))
                },
            )?;
            if ip.is_ipv6() {
                ocf_lib::warn!("iflabel '{l}' ignored: IPv6 addresses have no labels");
                label = None;
            }
        }
        if config::is_link_local(&ip) && ip.is_ipv6() && nic.is_none() {
            return Err(OcfError::configured(format!(
                "parameter 'nic' is required for the link-local address {ip}"
            )));
        }
        let count = |name: &str| -> Result<u32, OcfError> {
            Ok(p.integer::<u32>(name).map_err(configured)?.unwrap_or(0))
        };
        let preferred_lft = p
            .parsed("preferred_lft", config::parse_lifetime)
            .map_err(configured)?;
        if preferred_lft.is_some() && ip.is_ipv4() {
            ocf_lib::warn!("preferred_lft ignored: it applies to IPv6 addresses only");
        }
        let lvs_support = p.bool("lvs_support").map_err(configured)?;
        if lvs_support && ip.is_ipv6() {
            return Err(OcfError::configured(
                "parameter 'lvs_support=true' is for IPv4 addresses only",
            ));
        }
        // Parsed only to reject bad spellings: the route cache it flushed no longer exists.
        p.bool("flush_routes").map_err(configured)?;
        Ok(Vip {
            ip,
            nic,
            prefix,
            broadcast,
            label,
            lvs_support,
            arp_count: count("arp_count")?,
            arp_interval: Duration::from_millis(u64::from(count("arp_interval")?)),
            arp_count_refresh: count("arp_count_refresh")?,
            arp_bg: p.bool("arp_bg").map_err(configured)?,
            run_arping: p.bool("run_arping").map_err(configured)?,
            nodad: p.bool("nodad").map_err(configured)?,
            noprefixroute: p.bool("noprefixroute").map_err(configured)?,
            preferred_lft: preferred_lft.filter(|_| ip.is_ipv6()),
            proto: p
                .parsed("proto", config::parse_route_protocol)
                .map_err(configured)?,
            check_link_status: p.bool("check_link_status").map_err(configured)?,
            network_namespace: p.string("network_namespace"),
        })
    }

    fn validate(&self, ctx: &Context) -> OcfResult {
        if ctx.check_level >= 10 {
            if !self.enter_namespace()? {
                return Err(OcfError::configured(self.missing_namespace()));
            }
            let mut nl =
                Netlink::open().map_err(|e| netlink_error("cannot open a netlink socket", e))?;
            self.placement(&mut nl)
                .map_err(|e| OcfError::configured(e.reason))?;
        }
        Ok(OcfStatus::Success)
    }

    fn start(&self, ctx: &Context) -> OcfResult {
        if !self.enter_namespace()? {
            return Err(OcfError::installed(self.missing_namespace()));
        }
        let mut nl =
            Netlink::open().map_err(|e| netlink_error("cannot open a netlink socket", e))?;
        let placement = self.placement(&mut nl)?;
        let Placement { link, prefix } = &placement;
        let label = self.label_name(&link.name);
        if let Some(l) = &label {
            if l.len() > config::MAX_IFNAME {
                return Err(OcfError::configured(format!(
                    "parameter 'iflabel': label '{l}' is longer than {} characters",
                    config::MAX_IFNAME
                )));
            }
        }
        // Before the "already running" answer too: monitor would call it not running at once.
        if self.check_link_status {
            if let Some(reason) = link.down_reason() {
                return Err(OcfError::generic(format!(
                    "cannot start {}: {reason}",
                    self.ip
                )));
            }
        }
        // The copy stop left on lo would otherwise look like the address on another interface.
        if let Some((lo, ip)) = self.loopback_copy(&mut nl)? {
            if nl
                .delete_address(lo, IpAddr::V4(ip), 32)
                .map_err(|e| netlink_error("cannot remove the lvs_support copy from lo", e))?
            {
                ocf_lib::info!("removed {ip}/32 from lo (lvs_support)");
            }
        }
        let addrs = nl
            .addresses(&self.ip)
            .map_err(|e| netlink_error("cannot read addresses", e))?;
        let same_ip: Vec<&Addr> = addrs.iter().filter(|a| a.ip == self.ip).collect();
        if same_ip
            .iter()
            .any(|a| a.index == link.index && a.prefix == *prefix)
        {
            ocf_lib::info!("{}/{prefix} is already on {}", self.ip, link.name);
            return Ok(OcfStatus::Success);
        }
        if let Some(a) = same_ip.first() {
            let there = Self::interface_name(&mut nl, a.index);
            return Err(OcfError::generic(format!(
                "{}/{} is already on {there}, but the resource is {}/{prefix} on {}: stop removes it",
                self.ip, a.prefix, self.ip, link.name
            )));
        }
        let files = StateFiles::of(ctx);
        // An announcer or a conflict left from an earlier start concern an address that was
        // removed since: neither may speak for the one added now.
        self.end_announcer(&files, ctx);
        if let (IpAddr::V4(ip), Some(mac), true) = (self.ip, mac6(link), self.run_arping) {
            if !link.loopback && !link.noarp {
                let own_macs = self.own_macs(&mut nl, mac)?;
                let owner = packet::probe_v4(link.index, mac, &own_macs, ip, PROBES, PROBE_WAIT)
                    .map_err(|e| {
                        OcfError::generic(format!("cannot probe for {ip} on {}: {e}", link.name))
                    })?;
                if let Some(owner) = owner {
                    return Err(OcfError::generic(format!(
                        "{ip} is already in use on {} by the host with MAC {}: refusing to start",
                        link.name,
                        format_mac(&owner)
                    )));
                }
            }
        }
        let broadcast = match (self.ip, self.broadcast) {
            // Loopback has no broadcast domain (IPaddr2 adds none there either).
            (IpAddr::V4(_), Broadcast::Computed) if link.loopback => None,
            (IpAddr::V4(ip), Broadcast::Computed) => config::computed_broadcast(ip, *prefix),
            (IpAddr::V4(_), Broadcast::Address(b)) => Some(b),
            _ => None,
        };
        let new = NewAddr {
            index: link.index,
            ip: Some(self.ip),
            prefix: *prefix,
            broadcast,
            label: label.clone(),
            nodad: self.nodad && self.ip.is_ipv6(),
            noprefixroute: self.noprefixroute,
            preferred_lft: self.preferred_lft,
        };
        nl.add_address(&new).map_err(|e| {
            OcfError::generic(format!(
                "cannot add {}/{prefix} to {}: {e}",
                self.ip, link.name
            ))
        })?;
        ocf_lib::info!("added {}/{prefix} to {}", self.ip, link.name);
        if self.ip.is_ipv6() && !new.nodad && !link.loopback {
            self.wait_for_dad(&mut nl, link, *prefix, ctx)?;
        }
        if let Some(l) = &label {
            let addrs = nl
                .addresses(&self.ip)
                .map_err(|e| netlink_error("cannot read addresses", e))?;
            let present = addrs
                .iter()
                .any(|a| a.ip == self.ip && a.index == link.index && a.label.as_deref() == Some(l));
            if !present {
                return Err(OcfError::generic(format!(
                    "{} was added to {} without its label {l}",
                    self.ip, link.name
                )));
            }
        }
        self.announce_start(&mut nl, link, *prefix, ctx)?;
        Ok(OcfStatus::Success)
    }

    fn stop(&self, ctx: &Context) -> OcfResult {
        // The announcer first: it must not announce an address that is going away.
        self.end_announcer(&StateFiles::of(ctx), ctx);
        if !self.enter_namespace()? {
            return Ok(OcfStatus::Success);
        }
        let mut nl =
            Netlink::open().map_err(|e| netlink_error("cannot open a netlink socket", e))?;
        let lvs = self.loopback_copy(&mut nl)?;
        let addrs = nl
            .addresses(&self.ip)
            .map_err(|e| netlink_error("cannot read addresses", e))?;
        // Every copy of the address, whatever its prefix or interface: one left behind would
        // answer ARP for it while the cluster starts it on another node.
        for a in addrs.iter().filter(|a| a.ip == self.ip) {
            if lvs.is_some_and(|(lo, _)| a.index == lo && a.prefix == 32) {
                continue;
            }
            nl.delete_address(a.index, a.ip, a.prefix).map_err(|e| {
                OcfError::generic(format!("cannot delete {}/{}: {e}", a.ip, a.prefix))
            })?;
            let there = Self::interface_name(&mut nl, a.index);
            ocf_lib::info!("deleted {}/{} from {there}", a.ip, a.prefix);
        }
        if let Some((lo, ip)) = lvs {
            let on_lo = addrs
                .iter()
                .any(|a| a.index == lo && a.ip == self.ip && a.prefix == 32);
            if !on_lo {
                let copy = NewAddr {
                    index: lo,
                    ip: Some(IpAddr::V4(ip)),
                    prefix: 32,
                    ..NewAddr::default()
                };
                nl.add_address(&copy).map_err(|e| {
                    OcfError::generic(format!("cannot move {ip} to lo (lvs_support): {e}"))
                })?;
            }
        }
        Ok(OcfStatus::Success)
    }

    fn monitor(&self, ctx: &Context) -> OcfResult {
        if !self.enter_namespace()? {
            return Err(OcfError::not_running(self.missing_namespace()));
        }
        let mut nl =
            Netlink::open().map_err(|e| netlink_error("cannot open a netlink socket", e))?;
        let link = self.configured_link(&mut nl)?;
        if let (Some(nic), None) = (&self.nic, &link) {
            return Err(OcfError::not_running(format!(
                "interface {nic} does not exist on this node"
            )));
        }
        let addrs = nl
            .addresses(&self.ip)
            .map_err(|e| netlink_error("cannot read addresses", e))?;
        let lo = match self.lvs_support {
            true => self.loopback_copy(&mut nl)?.map(|(lo, _)| lo),
            false => None,
        };
        let copies = self.copies(&addrs, link.as_ref().map(|l| l.index), lo);
        let Some(addr) = copies.ours else {
            return match copies.misplaced.first() {
                None => Ok(OcfStatus::NotRunning),
                // It answers for the address all the same: "not running" would let the
                // cluster start it on another node too.
                Some(a) => {
                    let there = Self::interface_name(&mut nl, a.index);
                    Err(OcfError::generic(format!(
                        "{} is on {there} as /{}, not as configured ({}{}); stop removes it",
                        self.ip,
                        a.prefix,
                        self.nic.as_deref().unwrap_or("any interface"),
                        self.prefix_text()
                    )))
                }
            };
        };
        for a in &copies.misplaced {
            let there = Self::interface_name(&mut nl, a.index);
            ocf_lib::warn!(
                "{} is also on {there} as /{}; stop removes every copy",
                self.ip,
                a.prefix
            );
        }
        let link = match link {
            Some(l) => l,
            None => nl
                .link_by_index(addr.index)
                .map_err(|e| netlink_error("cannot look up interface", e))?
                .ok_or_else(|| {
                    OcfError::not_running(format!("interface of {} vanished", self.ip))
                })?,
        };
        self.check_conflict(&StateFiles::of(ctx), &link)?;
        if let Some(l) = self.label_name(&link.name) {
            if addr.label.as_deref() != Some(l.as_str()) {
                return Err(OcfError::generic(format!(
                    "{} on {} has label {}, expected {l}",
                    self.ip,
                    link.name,
                    addr.label.as_deref().unwrap_or("(none)")
                )));
            }
        }
        if self.check_link_status {
            if let Some(reason) = link.down_reason() {
                return Err(OcfError::not_running(reason));
            }
        }
        if ctx.check_level >= 10 {
            if addr.dad_failed {
                return Err(OcfError::generic(format!(
                    "{} on {} failed duplicate address detection: another host owns it",
                    self.ip, link.name
                )));
            }
            if addr.tentative {
                return Err(OcfError::generic(format!(
                    "{} on {} is tentative (duplicate address detection running)",
                    self.ip, link.name
                )));
            }
        }
        if self.arp_count_refresh > 0 && !ctx.is_probe() {
            self.refresh(&link, ctx)?;
        }
        Ok(OcfStatus::Success)
    }
}

impl Vip {
    /// Ends the announcer of an earlier start and forgets the conflict it may have recorded.
    /// Failures are warnings: a stop must not fail over a state file.
    fn end_announcer(&self, files: &StateFiles, ctx: &Context) {
        match process::stop(&files.announcer, ctx.deadline.cap(ANNOUNCER_GRACE)) {
            Ok(Some(d)) => ocf_lib::info!("ended announcer {} for {}", d.pid, self.ip),
            Ok(None) => {}
            Err(e) => ocf_lib::warn!("cannot remove {}: {e}", files.announcer.display()),
        }
        if let Err(e) = announce::remove(&files.conflict) {
            ocf_lib::warn!("cannot remove {}: {e}", files.conflict.display());
        }
    }

    /// The hardware addresses of this host, `mac` among them.
    fn own_macs(&self, nl: &mut Netlink, mac: [u8; 6]) -> Result<Vec<[u8; 6]>, OcfError> {
        let mut macs = nl
            .hardware_addresses()
            .map_err(|e| netlink_error("cannot list the interfaces", e))?;
        if !macs.contains(&mac) {
            macs.push(mac);
        }
        Ok(macs)
    }

    /// Fails when the announcer saw another host claim the address.
    fn check_conflict(&self, files: &StateFiles, link: &Link) -> Result<(), OcfError> {
        match Conflict::read(&files.conflict) {
            Ok(None) => Ok(()),
            Ok(Some(Ok(c))) => Err(OcfError::generic(format!(
                "{} on {}: the host with MAC {} claimed it too (at {}): two hosts answer for it",
                self.ip,
                link.name,
                format_mac(&c.mac),
                ocf_lib::clock::utc_rfc3339(
                    std::time::UNIX_EPOCH
                        .checked_add(Duration::from_secs(c.seen))
                        .unwrap_or(std::time::UNIX_EPOCH)
                )
            ))),
            Ok(Some(Err(text))) => Err(OcfError::generic(format!(
                "{} on {}: another host claimed it too (record {}: {:?})",
                self.ip,
                link.name,
                files.conflict.display(),
                text.trim()
            ))),
            Err(e) => {
                ocf_lib::warn!("cannot read {}: {e}", files.conflict.display());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use ocf_lib::ra::Action;

    fn context(params: &[(&str, &str)], meta: &[(&str, &str)]) -> Context {
        let mut ctx = Context::from_env(&META, Action::ValidateAll);
        ctx.params = ocf_lib::Params::new(&META);
        for (k, v) in params {
            assert!(ctx.params.set(k, *v), "undeclared parameter {k}");
        }
        ctx.meta_attrs = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ctx
    }

    fn parse(params: &[(&str, &str)], meta: &[(&str, &str)]) -> Result<Vip, OcfError> {
        let ctx = context(params, meta);
        ctx.params
            .check_all()
            .map_err(|e| OcfError::configured(e.to_string()))
            .and_then(|()| Vip::from_params(&ctx))
    }

    #[test]
    fn good_parameters() {
        let v = parse(
            &[
                ("ip", "192.0.2.10"),
                ("cidr_netmask", "255.255.255.0"),
                ("nic", "eth1:web"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(v.prefix, Some(24));
        assert_eq!(v.nic.as_deref(), Some("eth1"));
        assert_eq!(v.label_name("eth1").as_deref(), Some("eth1:web"));
        assert_eq!(v.broadcast, Broadcast::Computed);
        assert_eq!(v.arp_count, 5);
        assert_eq!(v.arp_interval, Duration::from_millis(200));
        assert!(v.check_link_status);

        let v = parse(
            &[
                ("ip", "2001:db8::10"),
                ("cidr_netmask", "64"),
                ("iflabel", "x"),
                ("preferred_lft", "0"),
                ("arp_bg", "true"),
                ("arp_sender", "send_arp"),
            ],
            &[("clone_max", "1")],
        )
        .unwrap();
        assert_eq!(v.label, None, "IPv6 has no labels");
        assert_eq!(v.preferred_lft, Some(0));
        assert!(v.arp_bg && !v.run_arping, "defaults");

        // IPv6addr's parameters: the prefix in ipv6addr, overridden by cidr_netmask.
        let v = parse(&[("ipv6addr", "2001:db8::10/48"), ("nic", "eth1")], &[]).unwrap();
        assert_eq!(v.ip, "2001:db8::10".parse::<IpAddr>().unwrap());
        assert_eq!(v.prefix, Some(48));
        let v = parse(
            &[("ipv6addr", "2001:db8::10/48"), ("cidr_netmask", "64")],
            &[],
        )
        .unwrap();
        assert_eq!(v.prefix, Some(64));
        let v = parse(
            &[("ipv6addr", "2001:db8::10"), ("ip", "2001:db8:0::10")],
            &[],
        )
        .unwrap();
        assert_eq!(v.prefix, None);
        let v = parse(
            &[
                ("ip", "192.0.2.10"),
                ("arp_bg", "no"),
                ("run_arping", "yes"),
            ],
            &[],
        )
        .unwrap();
        assert!(!v.arp_bg && v.run_arping);
    }

    #[test]
    fn bad_parameters_are_configuration_errors_naming_the_value() {
        let cases: &[(&[(&str, &str)], &[(&str, &str)], &str)] = &[
            (&[], &[], "'ip'"),
            (&[("ip", "192.0.2.300")], &[], "'192.0.2.300'"),
            (&[("ip", "not-an-ip")], &[], "'not-an-ip'"),
            (&[("ip", "192.0.2.10"), ("cidr_netmask", "33")], &[], "'33'"),
            (
                &[("ip", "192.0.2.10"), ("cidr_netmask", "255.0.255.0")],
                &[],
                "'255.0.255.0'",
            ),
            (
                &[("ip", "2001:db8::1"), ("cidr_netmask", "200")],
                &[],
                "'200'",
            ),
            (&[("ip", "192.0.2.10"), ("nic", "eth 1")], &[], "'eth 1'"),
            (
                &[("ip", "192.0.2.10"), ("nic", "a-very-long-interface")],
                &[],
                "'a-very-long-interface'",
            ),
            (
                &[("ip", "192.0.2.10"), ("broadcast", "192.0.2.999")],
                &[],
                "'192.0.2.999'",
            ),
            (
                &[("ip", "2001:db8::1"), ("broadcast", "192.0.2.255")],
                &[],
                "'192.0.2.255'",
            ),
            (
                &[
                    ("ip", "192.0.2.10"),
                    ("nic", "eth1"),
                    ("iflabel", "much-too-long"),
                ],
                &[],
                "'much-too-long'",
            ),
            (&[("ip", "192.0.2.10"), ("arp_count", "-1")], &[], "'-1'"),
            (
                &[("ip", "192.0.2.10"), ("arp_interval", "fast")],
                &[],
                "'fast'",
            ),
            (
                &[("ip", "192.0.2.10"), ("lvs_support", "perhaps")],
                &[],
                "'perhaps'",
            ),
            (
                &[("ip", "2001:db8::1"), ("preferred_lft", "soon")],
                &[],
                "'soon'",
            ),
            (
                &[("ip", "192.0.2.10"), ("proto", "carrier-pigeon")],
                &[],
                "'carrier-pigeon'",
            ),
            (&[("ip", "fe80::10")], &[], "'nic'"),
            (&[("ipv6addr", "192.0.2.10")], &[], "'192.0.2.10'"),
            (
                &[("ipv6addr", "2001:db8::10/129")],
                &[],
                "'2001:db8::10/129'",
            ),
            (
                &[("ipv6addr", "2001:db8::10"), ("ip", "2001:db8::11")],
                &[],
                "different addresses",
            ),
            (
                &[("ip", "192.0.2.10"), ("arp_bg", "sometimes")],
                &[],
                "'sometimes'",
            ),
            (
                &[("ip", "192.0.2.10"), ("run_arping", "maybe")],
                &[],
                "'maybe'",
            ),
            (
                &[("ip", "2001:db8::1"), ("lvs_support", "true")],
                &[],
                "lvs_support",
            ),
            (
                &[("ip", "192.0.2.10"), ("unique_clone_address", "true")],
                &[],
                "not supported",
            ),
            (
                &[("ip", "192.0.2.10"), ("clusterip_hash", "sourceip")],
                &[],
                "not supported",
            ),
            (
                &[("ip", "192.0.2.10"), ("mac", "01:00:5e:00:00:01")],
                &[],
                "not supported",
            ),
            (
                &[("ip", "192.0.2.10"), ("lvs_ipv6_addrlabel", "true")],
                &[],
                "not supported",
            ),
            (
                &[("ip", "192.0.2.10"), ("network_namespace", "../etc")],
                &[],
                "'../etc'",
            ),
            (
                &[("ip", "192.0.2.10")],
                &[("clone_max", "3")],
                "not supported",
            ),
        ];
        for (params, meta, want) in cases {
            let err = parse(params, meta).expect_err(&format!("{params:?} should be refused"));
            assert_eq!(err.status, OcfStatus::ErrConfigured, "{params:?}: {err}");
            assert!(
                err.reason.contains(want),
                "{params:?}: {:?} lacks {want}",
                err.reason
            );
        }
        // Ignored-but-harmless values are accepted.
        assert!(parse(
            &[
                ("ip", "192.0.2.10"),
                ("unique_clone_address", "false"),
                ("flush_routes", "yes")
            ],
            &[]
        )
        .is_ok());
    }

    #[test]
    fn metadata_declares_every_ipaddr2_parameter() {
        for name in [
            "ip",
            "ipv6addr",
            "nic",
            "cidr_netmask",
            "broadcast",
            "iflabel",
            "lvs_support",
            "lvs_ipv6_addrlabel",
            "lvs_ipv6_addrlabel_value",
            "mac",
            "clusterip_hash",
            "unique_clone_address",
            "arp_interval",
            "arp_count",
            "arp_count_refresh",
            "arp_bg",
            "arp_sender",
            "send_arp_opts",
            "flush_routes",
            "run_arping",
            "nodad",
            "noprefixroute",
            "preferred_lft",
            "network_namespace",
            "proto",
            "check_link_status",
        ] {
            assert!(META.param(name).is_some(), "{name} not declared");
        }
    }
}

ocf_lib::man_page_test!(META);
