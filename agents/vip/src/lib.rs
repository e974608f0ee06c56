//! `ocf:oxha:vip`: a virtual IP address, a drop-in for `ocf:heartbeat:IPaddr2`.
//!
//! Same parameter names and meanings; every operation is rtnetlink requests and raw sockets in
//! this one process (IPaddr2 forks `ip`, `grep`, `sed`, `send_arp`... 20-40 times per action).

pub mod config;
pub mod netlink;
pub mod packet;

use config::Broadcast;
use netlink::{Addr, Link, Netlink, NewAddr};
use ocf_lib::ra::{Context, ResourceAgent};
use ocf_lib::{
    ActionMeta, AgentKind, AgentMeta, ManSection, OcfError, OcfResult, OcfStatus, Param,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn check_ip(v: &str) -> Result<(), String> {
    config::parse_ip(v).map(|_| ())
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
        .longdesc("The virtual IP address (IPv4 dotted quad or IPv6), e.g. 192.0.2.10 or 2001:db8::10.")
        .required()
        .unique_group("ip")
        .check(check_ip),
    Param::string("nic", "Network interface")
        .longdesc(
            "The interface to add the address to (the base name, e.g. eth0). When unset it is found \
from the main routing table: the route containing ip with the lowest metric, then the longest prefix \
(the default route never matches). Setting nic and cidr_netmask explicitly is recommended. The \
deprecated form nic=eth0:label is accepted and means nic=eth0 iflabel=label.",
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
        .default("5")
        .check(check_non_negative),
    Param::integer("arp_interval", "Milliseconds between gratuitous ARPs")
        .default("200")
        .check(check_non_negative),
    Param::integer("arp_count_refresh", "Gratuitous ARPs sent by every monitor (IPv4)")
        .longdesc("When above 0, every recurring monitor re-announces an IPv4 address this many times, arp_interval apart.")
        .default("0")
        .check(check_non_negative),
    Param::string("arp_bg", "Send ARPs in the background").longdesc(IGNORED),
    Param::string("arp_sender", "ARP sender program").longdesc(IGNORED),
    Param::string("send_arp_opts", "Extra options for the ARP sender").longdesc(IGNORED),
    Param::boolean("run_arping", "Check for an address conflict before start (IPv4)")
        .longdesc("Accepted and ignored: ocf:oxha:vip always sends an ARP probe before adding an IPv4 address and refuses to start when another host answers."),
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

Switching an existing IPaddr2 resource is a change of class; the parameters stay:

  crm configure edit vip   # ocf:heartbeat:IPaddr2 -> ocf:oxha:vip",
    },
    ManSection {
        title: "BEHAVIOUR",
        body: "start: when the address is already on the interface with the configured prefix, start succeeds at \
once. Otherwise the interface must be up with carrier (check_link_status), an IPv4 address is probed with \
ARP (two probes within 300 ms, sender address 0.0.0.0) and start fails when another host answers, the \
address is added with its label and broadcast address, an IPv6 address waits until duplicate address \
detection is over (a failed DAD deletes the address and fails start: another host owns it), and the \
address is announced arp_count times arp_interval ms apart (IPv4: a gratuitous ARP request and reply per \
round; IPv6: unsolicited neighbour advertisements with the override flag to all-nodes). No other \
interface or address is touched.

monitor: one address dump. Running (0) means the address is on the interface with the configured prefix \
(and label). Not running (7) when it is absent, on another interface, has another prefix, the interface \
does not exist, or the link is down (check_link_status). OCF_CHECK_LEVEL=10 also fails (1) an address in \
the tentative or dadfailed state.

stop: deletes exactly ip/prefix from the interface; success when it is already gone (idempotent).

validate-all: parameter syntax (exit 6 naming the parameter and value); with OCF_CHECK_LEVEL=10 also that \
the interface exists and nic/cidr_netmask can be found.

No action ever starts a process: addresses, links and routes are read and changed with rtnetlink, \
announcements and probes go out on raw sockets.",
    },
    ManSection {
        title: "DIFFERENCES FROM IPADDR2",
        body: "Refused with OCF_ERR_CONFIGURED (6) and a reason naming the parameter, never silently ignored: \
unique_clone_address=true, mac, clusterip_hash, clusterip_firewall, clusterip_hash_seed, clusterip_table, \
clusterip_chain, clusterip_mac_mangle, lvs_ipv6_addrlabel=true, and cloning the \
resource with clone-max above 1 (IPaddr2's cluster-IP mode). An anonymous clone with clone-max=1 works.

Accepted and ignored (the choice is internal): arp_bg (announcements are sent in the foreground, within \
the operation timeout), arp_sender and send_arp_opts (requests and replies are both sent, which covers \
send_arp -A), run_arping (an ARP probe is always made), flush_routes (no IPv4 route cache since Linux \
3.6), lvs_ipv6_addrlabel_value.

Address conflicts: IPaddr2 only checks with run_arping=true; vip always probes IPv4 addresses before \
adding them and fails start when another host answers. IPv6 conflicts are found by the kernel's DAD \
(unless nodad=true), as with IPaddr2.

Interface state: IPaddr2 runs 'ip link set up' on the interface at start; vip never changes interface \
state and fails start on a down interface (with check_link_status=true, the default) instead.

network_namespace: the agent enters the namespace itself (setns) instead of re-running itself with \
'ip netns exec'; on a node where the namespace does not exist a probe returns 7 and start 5.

Broadcast: when unset, IPaddr2 copies the brd of another address of the route; vip computes it from the \
prefix ('+').

Monitor: does not consult the routing table (IPaddr2 re-runs findif on every monitor, which failed \
monitors when routes changed, resource-agents issue #1963). Without cidr_netmask, any prefix counts. \
The link check (IPaddr2 4.17 check_link_status) is available on every version.

Probes on a node without the interface return 7. start on such a node returns OCF_ERR_INSTALLED (5), \
which bans only that node; IPaddr2 returns 6 there (banned everywhere).

validate-all only looks at the node (interface exists, route found) with OCF_CHECK_LEVEL=10; syntax \
errors are 6 at every level.

Metadata is OCF 1.1 (ocf-tester's 1.0 DTD check fails, as it does for pacemaker's Dummy).",
    },
];

pub static META: AgentMeta = AgentMeta {
    name: "vip",
    kind: AgentKind::Resource,
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Virtual IP address (IPaddr2-compatible, no forks)",
    longdesc: "Manages a virtual IPv4 or IPv6 address on a network interface, with the parameters of \
ocf:heartbeat:IPaddr2. Everything is done with rtnetlink and raw sockets inside the agent: a monitor is \
one address dump and takes well under a millisecond, and no action ever starts another process.",
    params: PARAMS,
    param_groups: &[],
    actions: ACTIONS,
    man_sections: MAN_SECTIONS,
};

/// How long the ARP conflict probe listens, and in how many probes.
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
    nodad: bool,
    noprefixroute: bool,
    preferred_lft: Option<u32>,
    proto: Option<u8>,
    check_link_status: bool,
    network_namespace: Option<String>,
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

fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

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
        let Some((oif, route_prefix)) = config::detect(
            &routes,
            &self.ip,
            link.as_ref().map(|l| l.index),
            self.proto,
        ) else {
            return Err(OcfError::generic(format!(
                "unable to find nic or netmask for {}: no route of the main table{} contains it; set nic and cidr_netmask",
                self.ip,
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

    /// Our address as it is now: on the configured interface (any when nic is unset) and,
    /// when cidr_netmask is set, with that prefix.
    fn find<'a>(&self, addrs: &'a [Addr], index: Option<u32>) -> (Option<&'a Addr>, Vec<&'a Addr>) {
        let same_ip: Vec<&Addr> = addrs.iter().filter(|a| a.ip == self.ip).collect();
        let ours = same_ip
            .iter()
            .copied()
            .filter(|a| index.is_none_or(|i| a.index == i))
            .find(|a| self.prefix.is_none_or(|p| a.prefix == p));
        (ours, same_ip)
    }

    fn interface_name(nl: &mut Netlink, index: u32) -> String {
        nl.link_by_index(index)
            .ok()
            .flatten()
            .map(|l| l.name)
            .unwrap_or_else(|| format!("#{index}"))
    }

    fn announce(&self, link: &Link, count: u32, ctx: &Context) -> Result<u32, OcfError> {
        if count == 0 || link.loopback || link.noarp {
            return Ok(0);
        }
        let Some(mac) = mac6(link) else {
            ocf_lib::warn!(
                "interface {} has no Ethernet address: no announcements sent",
                link.name
            );
            return Ok(0);
        };
        let sent = match self.ip {
            IpAddr::V4(ip) => {
                packet::announce_v4(link.index, mac, ip, count, self.arp_interval, &ctx.deadline)
            }
            IpAddr::V6(ip) => {
                packet::announce_v6(link.index, mac, ip, count, self.arp_interval, &ctx.deadline)
            }
        }
        .map_err(|e| {
            OcfError::generic(format!("cannot announce {} on {}: {e}", self.ip, link.name))
        })?;
        Ok(sent)
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

impl ResourceAgent for Vip {
    fn meta() -> &'static AgentMeta {
        &META
    }

    fn from_params(ctx: &Context) -> Result<Self, OcfError> {
        let p = &ctx.params;
        for name in [
            "mac",
            "clusterip_hash",
            "clusterip_firewall",
            "clusterip_hash_seed",
            "clusterip_table",
            "clusterip_chain",
            "clusterip_mac_mangle",
        ] {
            if let Some(v) = p.string(name) {
                return Err(OcfError::configured(format!(
                    "parameter '{name}' (set to '{v}') is not supported by ocf:oxha:vip"
                )));
            }
        }
        for name in ["unique_clone_address", "lvs_ipv6_addrlabel"] {
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

        let ip = p
            .parsed("ip", config::parse_ip)
            .map_err(configured)?
            .ok_or_else(|| OcfError::configured("parameter 'ip' is required but not set"))?;
        let (nic, nic_label) = match p.parsed("nic", config::parse_nic).map_err(configured)? {
            Some((nic, label)) => (Some(nic), label),
            None => (None, None),
        };
        let prefix = p
            .parsed("cidr_netmask", |v| config::parse_netmask(v, &ip))
            .map_err(configured)?;
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
        // Parsed only to reject bad spellings; their choice is internal.
        for name in ["run_arping", "flush_routes"] {
            p.bool(name).map_err(configured)?;
        }
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
        if let Some(a) = addrs.iter().find(|a| a.ip == self.ip) {
            if a.index != link.index {
                let other = Self::interface_name(&mut nl, a.index);
                return Err(OcfError::generic(format!(
                    "{} is already configured on interface {other}, not {}",
                    self.ip, link.name
                )));
            }
            if a.prefix != *prefix {
                return Err(OcfError::generic(format!(
                    "{}/{} is already on {}, but the configured prefix is /{prefix}",
                    self.ip, a.prefix, link.name
                )));
            }
            ocf_lib::info!("{}/{prefix} is already on {}", self.ip, link.name);
            return Ok(OcfStatus::Success);
        }
        if let (IpAddr::V4(ip), Some(mac)) = (self.ip, mac6(link)) {
            if !link.loopback && !link.noarp {
                let owner =
                    packet::probe_v4(link.index, mac, ip, PROBES, PROBE_WAIT).map_err(|e| {
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
        let sent = self.announce(link, self.arp_count, ctx)?;
        if sent > 0 {
            ocf_lib::info!("announced {} on {} {sent} time(s)", self.ip, link.name);
        }
        Ok(OcfStatus::Success)
    }

    fn stop(&self, _ctx: &Context) -> OcfResult {
        if !self.enter_namespace()? {
            return Ok(OcfStatus::Success);
        }
        let mut nl =
            Netlink::open().map_err(|e| netlink_error("cannot open a netlink socket", e))?;
        let index = match (&self.nic, self.configured_link(&mut nl)?) {
            // No such interface here: our address cannot be on it.
            (Some(_), None) => return Ok(OcfStatus::Success),
            (_, link) => link.map(|l| l.index),
        };
        let addrs = nl
            .addresses(&self.ip)
            .map_err(|e| netlink_error("cannot read addresses", e))?;
        let (ours, _) = self.find(&addrs, index);
        if let Some(a) = ours {
            nl.delete_address(a.index, a.ip, a.prefix).map_err(|e| {
                OcfError::generic(format!("cannot delete {}/{}: {e}", a.ip, a.prefix))
            })?;
            ocf_lib::info!("deleted {}/{}", a.ip, a.prefix);
        }
        if let Some((lo, ip)) = self.loopback_copy(&mut nl)? {
            let on_lo = addrs.iter().any(|a| a.index == lo && a.ip == self.ip);
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
        let (ours, same_ip) = self.find(&addrs, link.as_ref().map(|l| l.index));
        let Some(addr) = ours else {
            return match same_ip.first() {
                None => Ok(OcfStatus::NotRunning),
                Some(a) => {
                    let there = Self::interface_name(&mut nl, a.index);
                    Err(OcfError::not_running(format!(
                        "{} is on {there} as /{}, expected {}{}",
                        self.ip,
                        a.prefix,
                        self.nic.as_deref().unwrap_or("any interface"),
                        self.prefix_text()
                    )))
                }
            };
        };
        let link = match link {
            Some(l) => l,
            None => nl
                .link_by_index(addr.index)
                .map_err(|e| netlink_error("cannot look up interface", e))?
                .ok_or_else(|| {
                    OcfError::not_running(format!("interface of {} vanished", self.ip))
                })?,
        };
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
        if self.arp_count_refresh > 0 && self.ip.is_ipv4() && !ctx.is_probe() {
            self.announce(&link, self.arp_count_refresh, ctx)?;
        }
        Ok(OcfStatus::Success)
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
