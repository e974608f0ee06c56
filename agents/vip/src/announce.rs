//! Telling the network that the address moved here, and noticing another host that claims it.
//!
//! `start` sends the first round at once (IPv4: a gratuitous ARP request and reply, then an ARP
//! probe; IPv6: an unsolicited neighbour advertisement) and leaves the remaining `arp_count - 1`
//! rounds, `arp_interval` apart, to a detached announcer ([`ocf_lib::process`]), as IPaddr2 does
//! with `arp_bg=true`. Between rounds, and for a while after the last, the announcer reads
//! every ARP packet (IPv6: every neighbour advertisement) on the interface. A host that owns
//! the address answers the probe (IPv4) or advertises it (IPv6) in two rounds: the announcer
//! records that host's MAC in the conflict file, stops announcing, and the next monitor fails
//! with it.
//! It also stops as soon as the address is no longer on the interface, and `stop` ends it.

use crate::netlink::Netlink;
use crate::packet::{ArpSocket, NdSocket};
use ocf_lib::Deadline;
use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the announcer keeps watching after its last announcement (at least; longer when
/// `arp_interval` is longer): an owner answers a probe within milliseconds.
pub const WATCH_AFTER: Duration = Duration::from_millis(500);

/// What to announce, where.
#[derive(Clone, Debug)]
pub struct Plan {
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// Every hardware address of this host: answers from these are not another owner.
    pub own_macs: Vec<[u8; 6]>,
    pub ip: IpAddr,
    /// Rounds in all, the first included.
    pub count: u32,
    pub interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every round was sent and nobody else claimed the address.
    Done,
    /// Another host claims the address: its MAC.
    Conflict([u8; 6]),
    /// The address left the interface (stop, or someone deleted it): nothing more to announce.
    Gone,
    /// The deadline came first (foreground announcements only).
    OutOfTime,
}

enum Sockets {
    Arp(ArpSocket),
    Nd(NdSocket),
}

pub struct Announcer {
    plan: Plan,
    sockets: Sockets,
    sent: u32,
    claims: Claims,
}

/// Claims seen so far: a host counts as an owner only when it claims the address in the
/// windows of two different rounds (or of the only round, with arp_count=1). A switch or VTEP
/// answering from a stale ARP cache (EVPN ARP suppression) answers once, before our gratuitous
/// ARP reaches it; an owner answers every probe.
#[derive(Debug, Default)]
pub struct Claims {
    seen: Vec<([u8; 6], u32)>,
}

impl Claims {
    /// `mac` claimed the address in the window of round `round` (1-based) of `rounds`: is it an
    /// owner now?
    pub fn saw(&mut self, mac: [u8; 6], round: u32, rounds: u32) -> bool {
        if rounds <= 1 {
            return true;
        }
        match self.seen.iter().find(|(m, _)| *m == mac) {
            Some((_, first)) => *first != round,
            None => {
                self.seen.push((mac, round));
                false
            }
        }
    }
}

impl Announcer {
    /// Opens the sockets. The watch sees every packet from now on, so an answer to the first
    /// round is not lost while the announcer is being detached.
    pub fn open(plan: Plan) -> io::Result<Announcer> {
        let sockets = match plan.ip {
            IpAddr::V4(_) => Sockets::Arp(ArpSocket::open(plan.ifindex)?),
            IpAddr::V6(ip) => Sockets::Nd(NdSocket::open(plan.ifindex, ip)?),
        };
        Ok(Announcer {
            plan,
            sockets,
            sent: 0,
            claims: Claims::default(),
        })
    }

    pub fn raw_fds(&self) -> Vec<RawFd> {
        match &self.sockets {
            Sockets::Arp(s) => vec![s.raw_fd()],
            Sockets::Nd(s) => s.raw_fds().to_vec(),
        }
    }

    /// Rounds sent so far.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// One round: the announcement, and for IPv4 the probe an owner answers.
    pub fn round(&mut self) -> io::Result<()> {
        let mac = self.plan.mac;
        match (&self.sockets, self.plan.ip) {
            (Sockets::Arp(s), IpAddr::V4(ip)) => {
                s.announce(mac, ip)?;
                s.probe(mac, ip)?;
            }
            (Sockets::Nd(s), IpAddr::V6(ip)) => s.announce(mac, ip)?,
            _ => return Err(io::Error::other("address family and socket differ")),
        }
        self.sent += 1;
        Ok(())
    }

    fn watch(&self, wait: Duration) -> io::Result<Option<[u8; 6]>> {
        match (&self.sockets, self.plan.ip) {
            (Sockets::Arp(s), IpAddr::V4(ip)) => s.watch(ip, &self.plan.own_macs, wait),
            (Sockets::Nd(s), IpAddr::V6(ip)) => s.watch(ip, &self.plan.own_macs, wait),
            _ => Ok(None),
        }
    }

    /// The rounds after the first, `interval` apart, watching in between and for
    /// [`WATCH_AFTER`] (or `interval`, if longer) after the last. Before each round the address
    /// must still be on the interface (`present`).
    pub fn rest(
        &mut self,
        deadline: &Deadline,
        mut present: impl FnMut() -> io::Result<bool>,
    ) -> io::Result<Outcome> {
        let mut next = Instant::now() + self.plan.interval;
        while self.sent < self.plan.count {
            if let Some(outcome) = self.watch_until(next, deadline)? {
                return Ok(outcome);
            }
            if !present()? {
                return Ok(Outcome::Gone);
            }
            self.round()?;
            next += self.plan.interval;
        }
        let linger = Instant::now() + self.plan.interval.max(WATCH_AFTER);
        Ok(self.watch_until(linger, deadline)?.unwrap_or(Outcome::Done))
    }

    /// Watches until `until` (or the deadline): a confirmed owner ends the watch at once.
    fn watch_until(&mut self, until: Instant, deadline: &Deadline) -> io::Result<Option<Outcome>> {
        let end = match deadline.remaining() {
            Some(left) => until.min(Instant::now() + left),
            None => until,
        };
        loop {
            let wait = end.saturating_duration_since(Instant::now());
            match self.watch(wait)? {
                Some(mac) => {
                    if self.claims.saw(mac, self.sent, self.plan.count) {
                        return Ok(Some(Outcome::Conflict(mac)));
                    }
                    ocf_lib::debug!(
                        "{} claimed by {} in round {}: watching for a second claim",
                        self.plan.ip,
                        format_mac(&mac),
                        self.sent
                    );
                }
                None if wait.is_zero() => break,
                None => {}
            }
        }
        Ok((end < until).then_some(Outcome::OutOfTime))
    }
}

/// True while `ip` is on interface `ifindex`: the announcer's reason to go on.
pub fn still_present(nl: &mut Netlink, ip: IpAddr, ifindex: u32) -> io::Result<bool> {
    Ok(nl
        .addresses(&ip)?
        .iter()
        .any(|a| a.ip == ip && a.index == ifindex))
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Another host seen claiming the address, as the conflict file keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub mac: [u8; 6],
    /// Seconds since the epoch.
    pub seen: u64,
}

impl Conflict {
    pub fn now(mac: [u8; 6]) -> Conflict {
        let seen = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Conflict { mac, seen }
    }

    /// One line: `<mac> <seconds since the epoch>`.
    pub fn to_line(self) -> String {
        format!("{} {}\n", format_mac(&self.mac), self.seen)
    }

    pub fn parse(text: &str) -> Option<Conflict> {
        let mut words = text.split_whitespace();
        let mac = parse_mac(words.next()?)?;
        let seen = words.next()?.parse().ok()?;
        words.next().is_none().then_some(Conflict { mac, seen })
    }

    pub fn record(self, path: &Path) -> io::Result<()> {
        ocf_lib::files::replace(path, self.to_line().as_bytes())
    }

    /// The recorded conflict, if any. A file that cannot be parsed is still a conflict
    /// (something wrote it), reported without a MAC.
    pub fn read(path: &Path) -> io::Result<Option<Result<Conflict, String>>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Conflict::parse(&text).ok_or(text))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Removes a file that may not exist.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let mac = [0x02, 0, 0xab, 0xcd, 0xef, 0x10];
        assert_eq!(format_mac(&mac), "02:00:ab:cd:ef:10");
        assert_eq!(parse_mac("02:00:ab:cd:ef:10"), Some(mac));
        assert_eq!(parse_mac("02:00:AB:CD:EF:10"), Some(mac));
        for bad in [
            "",
            "02:00:ab:cd:ef",
            "02:00:ab:cd:ef:10:11",
            "2:0:ab:cd:ef:10",
            "zz:00:ab:cd:ef:10",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn conflict_lines() {
        let c = Conflict {
            mac: [2, 0, 0, 0, 0, 2],
            seen: 1_700_000_000,
        };
        assert_eq!(c.to_line(), "02:00:00:00:00:02 1700000000\n");
        assert_eq!(Conflict::parse(&c.to_line()), Some(c));
        for bad in [
            "",
            "02:00:00:00:00:02",
            "02:00:00:00:00:02 x",
            "x 1",
            "02:00:00:00:00:02 1 2",
        ] {
            assert_eq!(Conflict::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn claims_need_two_rounds() {
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut claims = Claims::default();
        assert!(!claims.saw(a, 1, 5), "first claim");
        assert!(!claims.saw(a, 1, 5), "again in the same round");
        assert!(!claims.saw(b, 2, 5), "another host's first claim");
        assert!(claims.saw(a, 2, 5), "a's second round");
        assert!(claims.saw(b, 4, 5), "b's second round");
        // With one round there is nothing to wait for.
        assert!(Claims::default().saw(a, 1, 1));
    }

    proptest::proptest! {
        #[test]
        fn macs_round_trip(mac in proptest::array::uniform6(proptest::num::u8::ANY)) {
            proptest::prop_assert_eq!(parse_mac(&format_mac(&mac)), Some(mac));
        }

        #[test]
        fn conflict_files_parse_without_panic(text in "\\PC{0,60}") {
            let _ = Conflict::parse(&text);
            let _ = parse_mac(&text);
        }
    }
}
