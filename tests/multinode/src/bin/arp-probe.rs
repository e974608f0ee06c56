//! `arp-probe IFACE SRC_MAC SRC_IP TARGET_IP INTERVAL_MS`: broadcasts an ARP request for
//! TARGET_IP every INTERVAL_MS and prints one line `<unix ms> <seq> <responder MAC>` per reply,
//! for as long as it runs. Every reply is printed, so two hosts answering for one address show
//! up as two MACs (arping stops at the first, and only probes once a second).

use nix::libc;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ETH_P_ARP: u16 = 0x0806;

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (byte, part) in mac.iter_mut().zip(parts) {
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

fn fail(msg: &str) -> ! {
    eprintln!("arp-probe: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        fail("usage: arp-probe IFACE SRC_MAC SRC_IP TARGET_IP INTERVAL_MS");
    }
    let iface =
        std::ffi::CString::new(args[1].as_str()).unwrap_or_else(|_| fail("bad interface name"));
    let src_mac = parse_mac(&args[2]).unwrap_or_else(|| fail("bad MAC"));
    let src_ip: Ipv4Addr = args[3]
        .parse()
        .unwrap_or_else(|_| fail("bad source address"));
    let target: Ipv4Addr = args[4]
        .parse()
        .unwrap_or_else(|_| fail("bad target address"));
    let interval = Duration::from_millis(args[5].parse().unwrap_or_else(|_| fail("bad interval")));

    // SAFETY: plain libc calls on a socket this function owns; every struct is fully initialised.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        fail(&format!("socket: {}", std::io::Error::last_os_error()));
    }
    let ifindex = unsafe { libc::if_nametoindex(iface.as_ptr()) };
    if ifindex == 0 {
        fail(&format!("no interface {}", args[1]));
    }
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = ifindex as i32;
    let bound = unsafe {
        libc::bind(
            fd,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if bound < 0 {
        fail(&format!("bind: {}", std::io::Error::last_os_error()));
    }
    let tick = libc::timeval {
        tv_sec: 0,
        tv_usec: 20_000,
    };
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tick as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
    }

    let mut request = Vec::with_capacity(42);
    request.extend_from_slice(&[0xff; 6]);
    request.extend_from_slice(&src_mac);
    request.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    request.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // Ethernet, IPv4, request
    request.extend_from_slice(&src_mac);
    request.extend_from_slice(&src_ip.octets());
    request.extend_from_slice(&[0; 6]);
    request.extend_from_slice(&target.octets());

    let stdout = std::io::stdout();
    let mut seq: u64 = 0;
    let mut next = Instant::now();
    let mut buf = [0u8; 1514];
    loop {
        if Instant::now() >= next {
            seq += 1;
            let sent = unsafe {
                libc::send(
                    fd,
                    request.as_ptr() as *const libc::c_void,
                    request.len(),
                    0,
                )
            };
            if sent < 0 {
                fail(&format!("send: {}", std::io::Error::last_os_error()));
            }
            next += interval;
        }
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n < 42 {
            continue;
        }
        let frame = &buf[..n as usize];
        let is_reply = frame[12..14] == ETH_P_ARP.to_be_bytes() && frame[20..22] == [0, 2];
        if !is_reply || frame[28..32] != target.octets() {
            continue;
        }
        let mac = frame[22..28]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut out = stdout.lock();
        if writeln!(out, "{ms} {seq} {mac}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return; // reader gone
        }
    }
}
