//! Link-layer announcements and the ARP conflict probe, on raw sockets in this process
//! (what IPaddr2 forks `send_arp`, `arping` and `send_ua` for).
//!
//! * IPv4: an `AF_PACKET` datagram socket bound to the interface, protocol ARP; the kernel adds
//!   the Ethernet header. Announcements are sent as both a gratuitous request and a gratuitous
//!   reply, because some switches and hosts only update their tables from one of the two.
//! * IPv6: an ICMPv6 raw socket sending unsolicited neighbour advertisements (RFC 4861 §7.2.6)
//!   to all-nodes, hop limit 255; the kernel fills in the checksum.

use ocf_lib::Deadline;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
/// sender address is `ip`, from a hardware address that is not ours.
pub fn claims_address(packet: &[u8], ip: Ipv4Addr, our_mac: &[u8; 6]) -> Option<[u8; 6]> {
    if packet.len() < 28 || packet[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let op = u16::from_be_bytes([packet[6], packet[7]]);
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(&packet[8..14]);
    let sender_ip = Ipv4Addr::new(packet[14], packet[15], packet[16], packet[17]);
    let relevant = op == ARP_REPLY || op == ARP_REQUEST;
    (relevant && sender_ip == ip && &sender_mac != our_mac).then_some(sender_mac)
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

struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    fn open(ifindex: u32) -> io::Result<ArpSocket> {
        // SAFETY: plain socket(2) call; the descriptor is owned right away.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ARP.to_be()),
            )
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

    /// Waits up to `wait` for a packet; `None` on timeout.
    fn receive(&self, wait: Duration, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll on one valid pollfd.
        let ready = check(unsafe { libc::poll(&mut pfd, 1, millis) })?;
        if ready == 0 {
            return Ok(None);
        }
        // SAFETY: recv into a buffer of the given length.
        let n = check(unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_DONTWAIT,
            ) as libc::c_int
        })?;
        Ok(Some(n as usize))
    }
}

/// Gratuitous ARP for `ip`: `count` rounds of request + reply, `interval` apart, stopping early
/// at the deadline. Returns the number of rounds sent.
pub fn announce_v4(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    count: u32,
    interval: Duration,
    deadline: &Deadline,
) -> io::Result<u32> {
    let socket = ArpSocket::open(ifindex)?;
    let request = arp_packet(ARP_REQUEST, mac, ip, [0; 6], ip);
    let reply = arp_packet(ARP_REPLY, mac, ip, BROADCAST, ip);
    let mut sent = 0;
    for round in 0..count {
        if round > 0 && !deadline.sleep(interval) {
            break;
        }
        socket.send(&request)?;
        socket.send(&reply)?;
        sent += 1;
    }
    Ok(sent)
}

/// ARP probe (RFC 5227, sender address 0.0.0.0 so no host learns anything from it): asks who
/// has `ip` and listens for `wait`. Returns the hardware address of a host that answered.
pub fn probe_v4(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv4Addr,
    probes: u32,
    wait: Duration,
) -> io::Result<Option<[u8; 6]>> {
    let socket = ArpSocket::open(ifindex)?;
    let probe = arp_packet(ARP_REQUEST, mac, Ipv4Addr::UNSPECIFIED, [0; 6], ip);
    let spacing = wait / probes.max(1);
    let mut buffer = [0u8; 1500];
    for _ in 0..probes.max(1) {
        socket.send(&probe)?;
        let until = Instant::now() + spacing;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match socket.receive(left, &mut buffer)? {
                Some(n) => {
                    if let Some(owner) = claims_address(&buffer[..n], ip, &mac) {
                        return Ok(Some(owner));
                    }
                }
                None => break,
            }
        }
    }
    Ok(None)
}

/// Unsolicited neighbour advertisements for `ip`, sent from `ip` itself (so it must have left
/// the tentative state), `count` times `interval` apart.
pub fn announce_v6(
    ifindex: u32,
    mac: [u8; 6],
    ip: Ipv6Addr,
    count: u32,
    interval: Duration,
    deadline: &Deadline,
) -> io::Result<u32> {
    // SAFETY: plain socket(2) call; the descriptor is owned right away.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        )
    })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let set = |option: libc::c_int, value: libc::c_int| {
        // SAFETY: setsockopt with an int-sized option value.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IPV6,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
    };
    // Neighbour discovery packets are dropped by receivers unless the hop limit is 255.
    set(libc::IPV6_MULTICAST_HOPS, 255)?;
    set(libc::IPV6_UNICAST_HOPS, 255)?;
    set(libc::IPV6_MULTICAST_IF, ifindex as libc::c_int)?;
    let sockaddr = |addr: Ipv6Addr| {
        // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        sa.sin6_family = libc::AF_INET6 as u16;
        sa.sin6_addr.s6_addr = addr.octets();
        sa.sin6_scope_id = ifindex;
        sa
    };
    let source = sockaddr(ip);
    // SAFETY: bind with a correctly sized sockaddr_in6.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&source as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    })?;
    let all_nodes = sockaddr(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    let packet = neighbour_advertisement(ip, mac);
    let mut sent = 0;
    for round in 0..count {
        if round > 0 && !deadline.sleep(interval) {
            break;
        }
        // SAFETY: sendto with a valid buffer and a correctly sized sockaddr_in6.
        check(unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&all_nodes as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ) as libc::c_int
        })?;
        sent += 1;
    }
    Ok(sent)
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
            assert_eq!(claims_address(packet, ip, &OURS), *want, "{what}");
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
