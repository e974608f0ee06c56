//! Link-layer announcements and the ARP conflict probe, on raw sockets in this process
//! (what IPaddr2 forks `send_arp`, `arping` and `send_ua` for).
//!
//! * IPv4: an `AF_PACKET` datagram socket bound to the interface, protocol ARP; the kernel adds
//!   the Ethernet header. Announcements are sent as both a gratuitous request and a gratuitous
//!   reply, because some switches and hosts only update their tables from one of the two.
//! * IPv6: an ICMPv6 raw socket sending unsolicited neighbour advertisements (RFC 4861 §7.2.6)
//!   to all-nodes, hop limit 255; the kernel fills in the checksum.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Builds one Ethernet/IPv4 ARP packet (RFC 826), without the Ethernet header.
pub fn arp_packet(
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&op.to_be_bytes());
    p[8..14].copy_from_slice(&sender_mac);
    p[14..18].copy_from_slice(&sender_ip.octets());
    p[18..24].copy_from_slice(&target_mac);
    p[24..28].copy_from_slice(&target_ip.octets());
    p
}

/// An ARP packet that says another host owns `ip`: a reply, or a request (announcement) whose
/// sender address is `ip`, from a hardware address that is none of this host's (`ours`: every
/// interface's; a host answers ARP for its addresses on all its interfaces, so another NIC of
/// ours on the same segment answers our own probe).
pub fn claims_address(packet: &[u8], ip: Ipv4Addr, ours: &[[u8; 6]]) -> Option<[u8; 6]> {
    if packet.len() < 28 || packet[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let op = u16::from_be_bytes([packet[6], packet[7]]);
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(&packet[8..14]);
    let sender_ip = Ipv4Addr::new(packet[14], packet[15], packet[16], packet[17]);
    let relevant = op == ARP_REPLY || op == ARP_REQUEST;
    (relevant && sender_ip == ip && !ours.contains(&sender_mac)).then_some(sender_mac)
}

/// Builds an unsolicited neighbour advertisement for `target` with the Override flag and a
/// target link-layer address option (checksum left for the kernel).
pub fn neighbour_advertisement(target: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // ICMPv6 neighbour advertisement
    p[4] = 0x20; // Override; neither Router nor Solicited
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // option: target link-layer address
    p[25] = 1; // length in units of 8 octets
    p[26..32].copy_from_slice(&mac);
    p
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn link_address(ifindex: u32, destination: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&destination);
    sll
}

/// An `AF_PACKET` socket for ARP on one interface: it sends announcements and probes, and
/// receives every ARP packet seen on the interface (ours included, which the parsers skip).
pub struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    pub fn open(ifindex: u32) -> io::Result<ArpSocket> {
        // Protocol 0 here, ETH_P_ARP in bind: a packet socket created with a protocol is hooked
        // on every interface at once, and re-binding it waits for an RCU grace period (~5 ms).
        // SAFETY: plain socket(2) call; the descriptor is owned right away.
        let fd = check(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sll = link_address(ifindex, [0; 6]);
        // SAFETY: bind with a correctly sized sockaddr_ll.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(ArpSocket { fd, ifindex })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn send(&self, packet: &[u8]) -> io::Result<()> {
        let sll = link_address(self.ifindex, BROADCAST);
        // SAFETY: sendto with a valid buffer and a correctly sized sockaddr_ll.
        check(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            ) as libc::c_int
        })?;
        Ok(())
    }

    /// One gratuitous ARP round: a request and a reply announcing `ip` at `mac`.
    pub fn announce(&self, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        self.send(&arp_packet(ARP_REQUEST, mac, ip, [0; 6], ip))?;
        self.send(&arp_packet(ARP_REPLY, mac, ip, BROADCAST, ip))
    }

    /// An ARP probe for `ip` (RFC 5227: sender address 0.0.0.0, so no host learns anything
    /// from it). A host that owns `ip` answers it, even while we hold the address too: a
    /// gratuitous ARP from us gets no answer from the owner (Linux drops it as a martian).
    pub fn probe(&self, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        self.send(&arp_packet(
            ARP_REQUEST,
            mac,
            Ipv4Addr::UNSPECIFIED,
            [0; 6],
            ip,
        ))
    }

    /// Listens for `wait`: the hardware address of the first other host that claims `ip`.
    pub fn watch(
        &self,
        ip: Ipv4Addr,
        ours: &[[u8; 6]],
        wait: Duration,
    ) -> io::Result<Option<[u8; 6]>> {
        watch(self.fd.as_raw_fd(), wait, |p| claims_address(p, ip, ours))
    }
}

/// Waits up to `wait` for a packet on `fd`; `None` on timeout. EINTR counts as no packet yet.
fn receive(fd: RawFd, wait: Duration, buffer: &mut [u8]) -> io::Result<Option<usize>> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = wait.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: poll on one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, millis) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        };
    }
    if ready == 0 {
        return Ok(None);
    }
    // SAFETY: recv into a buffer of the given length.
    let n = unsafe {
        libc::recv(
            fd,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(n as usize))
}

/// Reads packets from `fd` for `wait` (whatever was queued before counts too) and returns the
/// first that `claim` recognises.
fn watch(
    fd: RawFd,
    wait: Duration,
    claim: impl Fn(&[u8]) -> Option<[u8; 6]>,
) -> io::Result<Option<[u8; 6]>> {
    let until = Instant::now() + wait;
    let mut buffer = [0u8; 1500];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match receive(fd, left, &mut buffer)? {
            Some(n) => {
                if let Some(owner) = claim(&buffer[..n]) {
                    return Ok(Some(owner));
                }
            }
            None if left.is_zero() => return Ok(None),
            None => {}
        }
    }
}

/// The blocking conflict check of `run_arping=true`: `probes` ARP probes spread over `wait`,
/// before the address is added. Returns the hardware address of another host that answered.
pub fn probe_v4(
    ifindex: u32,
    mac: [u8; 6],
    ours: &[[u8; 6]],
    ip: Ipv4Addr,
    probes: u32,
    wait: Duration,
) -> io::Result<Option<[u8; 6]>> {
    let socket = ArpSocket::open(ifindex)?;
    let spacing = wait / probes.max(1);
    for _ in 0..probes.max(1) {
        socket.probe(mac, ip)?;
        if let Some(owner) = socket.watch(ip, ours, spacing)? {
            return Ok(Some(owner));
        }
    }
    Ok(None)
}

const ICMP6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// `ICMP6_FILTER` (level `IPPROTO_ICMPV6`): which ICMPv6 types a raw socket receives.
const ICMP6_FILTER: libc::c_int = 1;

/// What another host's neighbour advertisement says: the hardware address it gives for `ip`
/// (its target link-layer address option), when that is none of this host's (`ours`). `icmp`
/// is an ICMPv6 message as a raw socket delivers it (no IPv6 header).
pub fn advertises_address(icmp: &[u8], ip: Ipv6Addr, ours: &[[u8; 6]]) -> Option<[u8; 6]> {
    if icmp.len() < 24 || icmp[0] != ICMP6_NEIGHBOUR_ADVERTISEMENT || icmp[1] != 0 {
        return None;
    }
    let mut target = [0u8; 16];
    target.copy_from_slice(&icmp[8..24]);
    if Ipv6Addr::from(target) != ip {
        return None;
    }
    // Options: type, length in units of 8 octets, data. Type 2 is the target link-layer address.
    let mut options = &icmp[24..];
    while options.len() >= 8 {
        let length = usize::from(options[1]) * 8;
        if length == 0 || length > options.len() {
            return None;
        }
        if options[0] == 2 && length >= 8 {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&options[2..8]);
            return (!ours.contains(&mac)).then_some(mac);
        }
        options = &options[length..];
    }
    None
}

/// Unsolicited neighbour advertisements for one address (sent from the address itself, so it
/// must have left the tentative state), and a second raw socket that receives only neighbour
/// advertisements, to see another host advertise the same address.
pub struct NdSocket {
    sender: OwnedFd,
    watcher: OwnedFd,
    ifindex: u32,
}

fn icmp6_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the descriptor is owned right away.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        )
    })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_option<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    option: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to a value of the size given.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn sockaddr6(addr: Ipv6Addr, ifindex: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as u16;
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = ifindex;
    sa
}

impl NdSocket {
    pub fn open(ifindex: u32, ip: Ipv6Addr) -> io::Result<NdSocket> {
        let sender = icmp6_socket()?;
        let hops: libc::c_int = 255;
        // Neighbour discovery packets are dropped by receivers unless the hop limit is 255.
        set_option(
            &sender,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            &hops,
        )?;
        set_option(&sender, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
        let index = ifindex as libc::c_int;
        set_option(&sender, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index)?;
        // Our own advertisements need not come back to this host.
        let no_loop: libc::c_int = 0;
        set_option(
            &sender,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            &no_loop,
        )?;
        let source = sockaddr6(ip, ifindex);
        // SAFETY: bind with a correctly sized sockaddr_in6.
        check(unsafe {
            libc::bind(
                sender.as_raw_fd(),
                (&source as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        })?;
        let watcher = icmp6_socket()?;
        // struct icmp6_filter: a set bit blocks that type; block all but advertisements.
        let mut filter = [u32::MAX; 8];
        let na = usize::from(ICMP6_NEIGHBOUR_ADVERTISEMENT);
        filter[na >> 5] &= !(1u32 << (na & 31));
        set_option(&watcher, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        Ok(NdSocket {
            sender,
            watcher,
            ifindex,
        })
    }

    pub fn raw_fds(&self) -> [RawFd; 2] {
        [self.sender.as_raw_fd(), self.watcher.as_raw_fd()]
    }

    /// One unsolicited neighbour advertisement for `ip` at `mac`, to all nodes.
    pub fn announce(&self, mac: [u8; 6], ip: Ipv6Addr) -> io::Result<()> {
        let all_nodes = sockaddr6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), self.ifindex);
        let packet = neighbour_advertisement(ip, mac);
        // SAFETY: sendto with a valid buffer and a correctly sized sockaddr_in6.
        check(unsafe {
            libc::sendto(
                self.sender.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&all_nodes as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ) as libc::c_int
        })?;
        Ok(())
    }

    /// Listens for `wait`: the hardware address another host advertises for `ip`.
    pub fn watch(
        &self,
        ip: Ipv6Addr,
        ours: &[[u8; 6]],
        wait: Duration,
    ) -> io::Result<Option<[u8; 6]>> {
        watch(self.watcher.as_raw_fd(), wait, |p| {
            advertises_address(p, ip, ours)
        })
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const THEIRS: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn arp_layout() {
        let ip = Ipv4Addr::new(192, 0, 2, 10);
        let p = arp_packet(ARP_REPLY, OURS, ip, BROADCAST, ip);
        assert_eq!(&p[0..8], &[0, 1, 8, 0, 6, 4, 0, 2]);
        assert_eq!(&p[8..14], &OURS);
        assert_eq!(&p[14..18], &[192, 0, 2, 10]);
        assert_eq!(&p[18..24], &BROADCAST);
        assert_eq!(&p[24..28], &[192, 0, 2, 10]);
    }

    #[test]
    fn conflict_detection() {
        let ip = Ipv4Addr::new(192, 0, 2, 10);
        let other = Ipv4Addr::new(192, 0, 2, 11);
        let cases: &[(&str, Vec<u8>, Option<[u8; 6]>)] = &[
            (
                "reply from another host",
                arp_packet(ARP_REPLY, THEIRS, ip, OURS, ip).to_vec(),
                Some(THEIRS),
            ),
            (
                "announcement from another host",
                arp_packet(ARP_REQUEST, THEIRS, ip, [0; 6], ip).to_vec(),
                Some(THEIRS),
            ),
            (
                "our own announcement",
                arp_packet(ARP_REPLY, OURS, ip, BROADCAST, ip).to_vec(),
                None,
            ),
            (
                "another address",
                arp_packet(ARP_REPLY, THEIRS, other, OURS, ip).to_vec(),
                None,
            ),
            (
                "someone else's probe",
                arp_packet(ARP_REQUEST, THEIRS, Ipv4Addr::UNSPECIFIED, [0; 6], ip).to_vec(),
                None,
            ),
            (
                "truncated",
                arp_packet(ARP_REPLY, THEIRS, ip, OURS, ip)[..20].to_vec(),
                None,
            ),
            (
                "not ethernet/ipv4",
                {
                    let mut p = arp_packet(ARP_REPLY, THEIRS, ip, OURS, ip);
                    p[1] = 6;
                    p.to_vec()
                },
                None,
            ),
            ("empty", Vec::new(), None),
        ];
        for (what, packet, want) in cases {
            assert_eq!(claims_address(packet, ip, &[OURS]), *want, "{what}");
        }
        // Another interface of this host answering (same segment): not another host.
        let other_nic = arp_packet(ARP_REPLY, THEIRS, ip, OURS, ip);
        assert_eq!(claims_address(&other_nic, ip, &[OURS, THEIRS]), None);
    }

    fn advert(target: &str, options: &[u8]) -> Vec<u8> {
        let mut p = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        p.extend_from_slice(&target.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn advertisement_parsing() {
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let tlla = |mac: [u8; 6]| {
            let mut o = vec![2, 1];
            o.extend_from_slice(&mac);
            o
        };
        let nonce = [14, 1, 1, 2, 3, 4, 5, 6];
        let cases: &[(&str, Vec<u8>, Option<[u8; 6]>)] = &[
            (
                "another host",
                advert("2001:db8::10", &tlla(THEIRS)),
                Some(THEIRS),
            ),
            ("ours", advert("2001:db8::10", &tlla(OURS)), None),
            (
                "another target",
                advert("2001:db8::11", &tlla(THEIRS)),
                None,
            ),
            ("no option", advert("2001:db8::10", &[]), None),
            (
                "after another option",
                advert("2001:db8::10", &[nonce.to_vec(), tlla(THEIRS)].concat()),
                Some(THEIRS),
            ),
            (
                "zero-length option",
                advert("2001:db8::10", &[3, 0, 0, 0, 0, 0, 0, 0]),
                None,
            ),
            (
                "option longer than the packet",
                advert("2001:db8::10", &[2, 2, 1, 2, 3, 4, 5, 6]),
                None,
            ),
            (
                "truncated",
                advert("2001:db8::10", &tlla(THEIRS))[..20].to_vec(),
                None,
            ),
            (
                "a solicitation, not an advertisement",
                {
                    let mut p = advert("2001:db8::10", &tlla(THEIRS));
                    p[0] = 135;
                    p
                },
                None,
            ),
            ("empty", Vec::new(), None),
        ];
        for (what, packet, want) in cases {
            assert_eq!(advertises_address(packet, ip, &[OURS]), *want, "{what}");
        }
        // What we send is recognised as ours.
        let mine = neighbour_advertisement(ip, OURS);
        assert_eq!(advertises_address(&mine, ip, &[OURS]), None);
        assert_eq!(advertises_address(&mine, ip, &[THEIRS]), Some(OURS));
    }

    proptest::proptest! {
        /// Packets from the wire: any bytes are an answer, never a panic.
        #[test]
        fn any_packet_is_parsed_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let v4 = Ipv4Addr::new(192, 0, 2, 10);
            let v6: Ipv6Addr = "2001:db8::10".parse().unwrap();
            let _ = claims_address(&bytes, v4, &[OURS]);
            let _ = advertises_address(&bytes, v6, &[OURS]);
        }

        /// Any ARP packet claiming an address from another MAC is seen, whatever the rest says.
        #[test]
        fn claims_from_other_hosts_are_seen(
            ip in proptest::num::u32::ANY,
            mac in proptest::array::uniform6(proptest::num::u8::ANY),
            target in proptest::array::uniform6(proptest::num::u8::ANY),
            reply in proptest::bool::ANY,
        ) {
            let ip = Ipv4Addr::from(ip);
            let op = if reply { ARP_REPLY } else { ARP_REQUEST };
            let packet = arp_packet(op, mac, ip, target, ip);
            let want = (mac != OURS).then_some(mac);
            proptest::prop_assert_eq!(claims_address(&packet, ip, &[OURS]), want);
            let mut padded = packet.to_vec();
            padded.extend_from_slice(&[0; 18]);
            proptest::prop_assert_eq!(claims_address(&padded, ip, &[OURS]), want);
        }

        /// Our own advertisement format round-trips through the parser for any address and MAC.
        #[test]
        fn advertisements_round_trip(
            ip in proptest::num::u128::ANY,
            mac in proptest::array::uniform6(proptest::num::u8::ANY),
        ) {
            let ip = Ipv6Addr::from(ip);
            let packet = neighbour_advertisement(ip, mac);
            let want = (mac != OURS).then_some(mac);
            proptest::prop_assert_eq!(advertises_address(&packet, ip, &[OURS]), want);
        }
    }

    #[test]
    fn na_layout() {
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let p = neighbour_advertisement(ip, OURS);
        assert_eq!(p[0], 136);
        assert_eq!(p[4], 0x20);
        assert_eq!(&p[8..24], &ip.octets());
        assert_eq!(&p[24..26], &[2, 1]);
        assert_eq!(&p[26..32], &OURS);
    }
}
