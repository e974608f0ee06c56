//! The rtnetlink requests the agent makes, synchronously, on one NETLINK_ROUTE socket:
//! one link by name or index, the address dump of one family, the route dump of one family,
//! and address add/delete with an acknowledgement. Everything `ip addr`/`ip route` would
//! have told IPaddr2, without a process.

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// `RT_TABLE_MAIN`: the table `ip route` lists, and the one IPaddr2's findif searches.
pub const MAIN_TABLE: u32 = 254;
/// `RT_TABLE_LOCAL`: the kernel's table of this host's own addresses (`ip route show table local`).
pub const LOCAL_TABLE: u32 = 255;
/// `IFA_CACHEINFO`: preferred and valid lifetimes of an address.
const IFA_CACHEINFO: u16 = 6;
/// "forever" in IFA_CACHEINFO.
pub const INFINITY_LIFETIME: u32 = u32::MAX;

/// What the agent needs to know about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub admin_up: bool,
    /// `IFF_LOWER_UP`: carrier present.
    pub lower_up: bool,
    pub oper_state: String,
    pub mac: Vec<u8>,
    pub loopback: bool,
    pub noarp: bool,
}

impl Link {
    /// Why the link cannot carry the address, or `None` when it can. Operational state is what
    /// `ip link` shows as DOWN / LOWERLAYERDOWN (what IPaddr2's link check looks for);
    /// `UNKNOWN` is normal for loopback and some virtual devices.
    pub fn down_reason(&self) -> Option<String> {
        if !self.admin_up {
            return Some(format!("interface {} is administratively down", self.name));
        }
        match self.oper_state.as_str() {
            "down" | "lowerlayerdown" | "notpresent" => Some(format!(
                "interface {} has no link (operational state {})",
                self.name,
                self.oper_state.to_uppercase()
            )),
            _ if !self.lower_up => Some(format!("interface {} has no carrier", self.name)),
            _ => None,
        }
    }
}

/// One address as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    pub broadcast: Option<IpAddr>,
    pub tentative: bool,
    pub dad_failed: bool,
}

/// One route, of any table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub destination: IpAddr,
    pub prefix: u8,
    pub oif: Option<u32>,
    pub metric: u32,
    pub protocol: u8,
    pub table: u32,
    /// `RTN_UNICAST`: an ordinary route (`ip route` shows no type).
    pub unicast: bool,
    /// `RTN_LOCAL`: one of this host's own addresses or networks (`local 127.0.0.0/8 dev lo`).
    pub local: bool,
    /// `RT_SCOPE_*`: 253 link (directly attached), 254 host, 0 universe (through a gateway).
    /// IPv6 routes always have scope 0: [`Route::via_gateway`] tells them apart.
    pub scope: u8,
    /// Has a next hop (`RTA_GATEWAY`, `RTA_VIA` or `RTA_MULTIPATH`): a network reached through
    /// a router, not a directly attached one.
    pub via_gateway: bool,
}

/// The address to add: everything `ip addr add` would have been told.
#[derive(Clone, Debug, Default)]
pub struct NewAddr {
    pub index: u32,
    pub ip: Option<IpAddr>,
    pub prefix: u8,
    pub broadcast: Option<std::net::Ipv4Addr>,
    pub label: Option<String>,
    pub nodad: bool,
    pub noprefixroute: bool,
    pub preferred_lft: Option<u32>,
}

pub struct Netlink {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

fn family_of(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        // The kernel answers at once; the timeout only stops a wedged kernel from hanging us
        // until Pacemaker's SIGKILL.
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: setsockopt on a socket we own, with a correctly sized timeval.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink {
            socket,
            sequence: 0,
            buffer: vec![0; 64 * 1024],
        })
    }

    /// Sends one request and collects the answers: every message of a dump, the one reply of
    /// a get, or nothing for an acknowledged change. A netlink error becomes an `io::Error`
    /// with the kernel's errno.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let sequence = self.sequence;
        let mut replies = Vec::new();
        loop {
            let len = self.socket.recv(&mut &mut self.buffer[..], 0)?;
            for bytes in messages(&self.buffer[..len]) {
                let message = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes?) {
                    Ok(m) => m,
                    // One entry of a dump we cannot decode (an attribute layout newer than the
                    // crate) must not hide the others; a direct answer we cannot decode is an error.
                    Err(e) if dump => {
                        ocf_lib::debug!("skipped an undecodable netlink message: {e}");
                        continue;
                    }
                    Err(e) => return Err(invalid(&format!("malformed netlink message: {e}"))),
                };
                if message.header.sequence_number != sequence {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(e.to_io()),
                        };
                    }
                    NetlinkPayload::InnerMessage(inner) => {
                        replies.push(inner);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn get_link(&mut self, message: LinkMessage) -> io::Result<Option<Link>> {
        match self.request(RouteNetlinkMessage::GetLink(message), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link_from(&link)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut message = LinkMessage::default();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        self.get_link(message)
    }

    pub fn link_by_index(&mut self, index: u32) -> io::Result<Option<Link>> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        self.get_link(message)
    }

    /// The hardware address of every interface (one RTM_GETLINK dump): this host's own.
    pub fn hardware_addresses(&mut self) -> io::Result<Vec<[u8; 6]>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut macs: Vec<[u8; 6]> = replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => {
                    <[u8; 6]>::try_from(link_from(link).mac.as_slice()).ok()
                }
                _ => None,
            })
            .filter(|mac| *mac != [0; 6])
            .collect();
        macs.sort_unstable();
        macs.dedup();
        Ok(macs)
    }

    /// Every address of the family of `like` (one RTM_GETADDR dump).
    pub fn addresses(&mut self, like: &IpAddr) -> io::Result<Vec<Addr>> {
        let mut message = AddressMessage::default();
        message.header.family = family_of(like);
        let replies = self.request(RouteNetlinkMessage::GetAddress(message), NLM_F_DUMP)?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => addr_from(a),
                _ => None,
            })
            .collect())
    }

    /// Every route of the family of `like`, all tables (one RTM_GETROUTE dump).
    pub fn routes(&mut self, like: &IpAddr) -> io::Result<Vec<Route>> {
        let mut message = RouteMessage::default();
        message.header.address_family = family_of(like);
        let replies = self.request(RouteNetlinkMessage::GetRoute(message), NLM_F_DUMP)?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_from(r),
                _ => None,
            })
            .collect())
    }

    pub fn add_address(&mut self, new: &NewAddr) -> io::Result<()> {
        let message = address_message(new)?;
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
    }

    /// Deletes exactly `ip/prefix` on interface `index`. Returns false if it was not there.
    pub fn delete_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> io::Result<bool> {
        let mut message = AddressMessage::default();
        message.header.family = family_of(&ip);
        message.header.prefix_len = prefix;
        message.header.index = index;
        message.attributes.push(AddressAttribute::Local(ip));
        if ip.is_ipv4() {
            message.attributes.push(AddressAttribute::Address(ip));
        }
        match self.request(RouteNetlinkMessage::DelAddress(message), NLM_F_ACK) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Splits one netlink datagram into its messages: each starts with an `nlmsghdr` whose first
/// field is the message length (native endian, at least the 16-byte header), and the next one
/// starts at the following 4-byte boundary. A length that does not fit ends the datagram with
/// an error.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        rest: datagram,
        failed: false,
    }
}

pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = io::Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let length = match self.rest.get(..4) {
            Some(b) => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => {
                self.failed = true;
                return Some(Err(invalid("truncated netlink header")));
            }
        };
        if length < 16 || length > self.rest.len() {
            self.failed = true;
            return Some(Err(invalid("netlink message with a bad length")));
        }
        let message = &self.rest[..length];
        let aligned = length.saturating_add(3) & !3;
        self.rest = self.rest.get(aligned..).unwrap_or(&[]);
        Some(Ok(message))
    }
}

/// The RTM_NEWADDR request for `new`: everything `ip addr add` would send.
fn address_message(new: &NewAddr) -> io::Result<AddressMessage> {
    let ip = new.ip.ok_or_else(|| invalid("no address to add"))?;
    let mut message = AddressMessage::default();
    message.header.family = family_of(&ip);
    message.header.prefix_len = new.prefix;
    message.header.index = new.index;
    message.header.scope = if ip.is_loopback() {
        AddressScope::Host
    } else {
        AddressScope::Universe
    };
    let mut flags = AddressFlags::empty();
    if new.nodad {
        flags |= AddressFlags::Nodad;
        message.header.flags |= AddressHeaderFlags::Nodad;
    }
    if new.noprefixroute {
        flags |= AddressFlags::Noprefixroute;
    }
    message.attributes.push(AddressAttribute::Local(ip));
    message.attributes.push(AddressAttribute::Address(ip));
    if let Some(brd) = new.broadcast {
        message.attributes.push(AddressAttribute::Broadcast(brd));
    }
    if let Some(label) = &new.label {
        message
            .attributes
            .push(AddressAttribute::Label(label.clone()));
    }
    message.attributes.push(AddressAttribute::Flags(flags));
    if let Some(preferred) = new.preferred_lft {
        let mut info = Vec::with_capacity(16);
        info.extend_from_slice(&preferred.to_ne_bytes());
        info.extend_from_slice(&INFINITY_LIFETIME.to_ne_bytes());
        info.extend_from_slice(&[0; 8]);
        message
            .attributes
            .push(AddressAttribute::Other(DefaultNla::new(
                IFA_CACHEINFO,
                info,
            )));
    }
    Ok(message)
}

fn link_from(message: &LinkMessage) -> Link {
    let flags = message.header.flags;
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        admin_up: flags.contains(LinkFlags::Up),
        lower_up: flags.contains(LinkFlags::LowerUp),
        oper_state: "unknown".into(),
        mac: Vec::new(),
        loopback: flags.contains(LinkFlags::Loopback),
        noarp: flags.contains(LinkFlags::Noarp),
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Address(mac) => link.mac = mac.clone(),
            LinkAttribute::OperState(state) => {
                link.oper_state = match state {
                    State::Unknown => "unknown",
                    State::NotPresent => "notpresent",
                    State::Down => "down",
                    State::LowerLayerDown => "lowerlayerdown",
                    State::Testing => "testing",
                    State::Dormant => "dormant",
                    State::Up => "up",
                    _ => "other",
                }
                .into()
            }
            _ => {}
        }
    }
    link
}

fn addr_from(message: &AddressMessage) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut broadcast = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(message.header.flags.bits()));
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Broadcast(b) => broadcast = Some(IpAddr::V4(*b)),
            // IFA_FLAGS carries the full 32 bits; the header only the low 8.
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // IFA_LOCAL is the address itself on point-to-point links, where IFA_ADDRESS is the peer.
    let ip = local.or(address)?;
    Some(Addr {
        index: message.header.index,
        ip,
        prefix: message.header.prefix_len,
        label,
        broadcast,
        tentative: flags.contains(AddressFlags::Tentative),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
    })
}

fn route_from(message: &RouteMessage) -> Option<Route> {
    let mut destination = None;
    let mut oif = None;
    let mut metric = 0;
    let mut table = u32::from(message.header.table);
    let mut via_gateway = false;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                destination = Some(IpAddr::V4(*ip))
            }
            RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                destination = Some(IpAddr::V6(*ip))
            }
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) | RouteAttribute::MultiPath(_) => {
                via_gateway = true
            }
            _ => {}
        }
    }
    let unspecified = match message.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        AddressFamily::Inet => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        _ => return None,
    };
    Some(Route {
        destination: destination.unwrap_or(unspecified),
        prefix: message.header.destination_prefix_length,
        oif,
        metric,
        protocol: u8::from(message.header.protocol),
        table,
        unicast: message.header.kind == RouteType::Unicast,
        local: message.header.kind == RouteType::Local,
        scope: u8::from(message.header.scope),
        via_gateway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::{RouteProtocol, RouteScope};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A message as the kernel would put it in a datagram.
    fn datagram(inner: RouteNetlinkMessage, sequence: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(inner));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        bytes
    }

    /// What the agent reads from a datagram: every message split out and decoded (the decoding
    /// `request` does, without a socket).
    fn read(bytes: &[u8]) -> Vec<RouteNetlinkMessage> {
        messages(bytes)
            .filter_map(|m| m.ok())
            .filter_map(|b| NetlinkMessage::<RouteNetlinkMessage>::deserialize(b).ok())
            .filter_map(|m| match m.payload {
                NetlinkPayload::InnerMessage(inner) => Some(inner),
                _ => None,
            })
            .collect()
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        ]
    }

    #[test]
    fn splitting_datagrams() {
        let one = datagram(
            RouteNetlinkMessage::NewAddress(
                address_message(&NewAddr {
                    index: 2,
                    ip: Some("192.0.2.10".parse().unwrap()),
                    prefix: 24,
                    ..NewAddr::default()
                })
                .unwrap(),
            ),
            1,
        );
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(messages(&two).filter(|m| m.is_ok()).count(), 2);
        // A length beyond the datagram, or below the header, ends it with an error.
        let mut long = one.clone();
        long[0] = long[0].wrapping_add(8);
        let split: Vec<_> = messages(&long).collect();
        assert!(split.len() == 1 && split[0].is_err());
        assert!(messages(&[16, 0, 0]).next().is_some_and(|m| m.is_err()));
        assert!(messages(&[8, 0, 0, 0, 0, 0, 0, 0])
            .next()
            .is_some_and(|m| m.is_err()));
        assert_eq!(messages(&[]).count(), 0);
    }

    proptest! {
        /// Whatever the socket delivers, the agent gets messages or errors, never a panic.
        #[test]
        fn any_datagram_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for inner in read(&bytes) {
                match inner {
                    RouteNetlinkMessage::NewAddress(a) => { let _ = addr_from(&a); }
                    RouteNetlinkMessage::NewRoute(r) => { let _ = route_from(&r); }
                    RouteNetlinkMessage::NewLink(l) => { let _ = link_from(&l); }
                    _ => {}
                }
            }
        }

        /// A real answer with some bytes changed: still no panic anywhere in the decoding.
        #[test]
        fn damaged_answers_are_read_without_panic(
            ip in any_ip(),
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let new = NewAddr {
                index: 3,
                ip: Some(ip),
                prefix: 24,
                label: Some("eth0:vip".into()),
                preferred_lft: Some(0),
                ..NewAddr::default()
            };
            let mut bytes = datagram(
                RouteNetlinkMessage::NewAddress(address_message(&new).unwrap()),
                7,
            );
            for (at, value) in changes {
                let i = at % bytes.len();
                bytes[i] = value;
            }
            for inner in read(&bytes) {
                if let RouteNetlinkMessage::NewAddress(a) = inner {
                    let _ = addr_from(&a);
                }
            }
        }

        /// An address the kernel reports reads back as what it is, several to a datagram.
        #[test]
        fn addresses_round_trip(
            index in 1u32..100_000,
            ips in proptest::collection::vec(any_ip(), 1..5),
            prefix in 1u8..=32,
            label in proptest::option::of("[a-z0-9]{1,5}:[a-z]{1,4}"),
            broadcast in proptest::option::of(any::<u32>()),
        ) {
            let bytes: Vec<u8> = ips
                .iter()
                .flat_map(|ip| {
                    let new = NewAddr {
                        index,
                        ip: Some(*ip),
                        prefix,
                        label: label.clone(),
                        broadcast: broadcast.map(Ipv4Addr::from).filter(|_| ip.is_ipv4()),
                        ..NewAddr::default()
                    };
                    datagram(RouteNetlinkMessage::NewAddress(address_message(&new).unwrap()), 1)
                })
                .collect();
            let read_back: Vec<Addr> = read(&bytes)
                .iter()
                .filter_map(|m| match m {
                    RouteNetlinkMessage::NewAddress(a) => addr_from(a),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(read_back.len(), ips.len());
            for (a, ip) in read_back.iter().zip(&ips) {
                prop_assert_eq!(a.ip, *ip);
                prop_assert_eq!(a.index, index);
                prop_assert_eq!(a.prefix, prefix);
                prop_assert_eq!(&a.label, &label);
                prop_assert!(!a.tentative && !a.dad_failed);
                let want_brd = broadcast.filter(|_| ip.is_ipv4()).map(|b| IpAddr::V4(Ipv4Addr::from(b)));
                prop_assert_eq!(a.broadcast, want_brd);
            }
        }

        /// A route reads back with its table, type, scope, metric and interface.
        #[test]
        fn routes_round_trip(
            destination in any_ip(),
            prefix in 0u8..=32,
            table in any::<u32>(),
            oif in proptest::option::of(1u32..100_000),
            metric in any::<u32>(),
            kind in 0u8..12,
            scope in any::<u8>(),
            protocol in any::<u8>(),
        ) {
            let mut message = RouteMessage::default();
            message.header.address_family = family_of(&destination);
            message.header.destination_prefix_length = prefix;
            message.header.table = table.min(255) as u8;
            message.header.kind = RouteType::from(kind);
            message.header.scope = RouteScope::from(scope);
            message.header.protocol = RouteProtocol::from(protocol);
            message.attributes.push(RouteAttribute::Destination(RouteAddress::from(destination)));
            message.attributes.push(RouteAttribute::Table(table));
            message.attributes.push(RouteAttribute::Priority(metric));
            if let Some(oif) = oif {
                message.attributes.push(RouteAttribute::Oif(oif));
            }
            let bytes = datagram(RouteNetlinkMessage::NewRoute(message), 9);
            let routes: Vec<Route> = read(&bytes)
                .iter()
                .filter_map(|m| match m {
                    RouteNetlinkMessage::NewRoute(r) => route_from(r),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(routes.len(), 1);
            let r = &routes[0];
            prop_assert_eq!(r.destination, destination);
            prop_assert_eq!(r.prefix, prefix);
            prop_assert_eq!(r.table, table);
            prop_assert_eq!(r.oif, oif);
            prop_assert_eq!(r.metric, metric);
            prop_assert_eq!(r.scope, scope);
            prop_assert_eq!(r.protocol, protocol);
            prop_assert_eq!(r.unicast, kind == 1);
            prop_assert_eq!(r.local, kind == 2);
        }
    }
}
