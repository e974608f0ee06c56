//! Parameter syntax and the routing-table detection of `nic`/`cidr_netmask`: pure functions,
//! so every rule is unit-tested with good and bad inputs.

use crate::netlink::{Route, LOCAL_TABLE, MAIN_TABLE};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Linux `IFNAMSIZ` less the terminating NUL: the longest interface name or label.
pub const MAX_IFNAME: usize = 15;

/// `ip`: one IPv4 or IPv6 unicast address.
pub fn parse_ip(value: &str) -> Result<IpAddr, String> {
    let v = value.trim();
    let ip: IpAddr = v
        .parse()
        .map_err(|_| "not an IPv4 or IPv6 address".to_string())?;
    if ip.is_unspecified() {
        return Err("the unspecified address cannot be a virtual IP".into());
    }
    if ip.is_multicast() {
        return Err("a multicast address cannot be a virtual IP".into());
    }
    if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return Err("the broadcast address cannot be a virtual IP".into());
    }
    Ok(ip)
}

/// `cidr_netmask`: a prefix length (`24`, `/24`), or for IPv4 a dotted-quad netmask
/// (`255.255.255.0`) as IPaddr2 accepts.
pub fn parse_netmask(value: &str, ip: &IpAddr) -> Result<u8, String> {
    let v = value.trim().trim_start_matches('/');
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if let Ok(prefix) = v.parse::<u8>() {
        return if (1..=max).contains(&prefix) {
            Ok(prefix)
        } else {
            Err(format!("prefix length must be between 1 and {max}"))
        };
    }
    if ip.is_ipv4() {
        if let Ok(mask) = v.parse::<Ipv4Addr>() {
            let bits = u32::from(mask);
            let prefix = bits.leading_ones();
            return if bits.count_ones() == prefix && prefix > 0 {
                Ok(prefix as u8)
            } else {
                Err("netmask bits are not contiguous".into())
            };
        }
    }
    Err(format!(
        "expected a prefix length (1-{max}){}",
        if ip.is_ipv4() {
            " or a dotted netmask"
        } else {
            ""
        }
    ))
}

/// `broadcast`: an IPv4 address, `+` (all host bits set, computed from the prefix) or `-`
/// (none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broadcast {
    Computed,
    Disabled,
    Address(Ipv4Addr),
}

pub fn parse_broadcast(value: &str, ip: &IpAddr) -> Result<Broadcast, String> {
    match value.trim() {
        "+" => Ok(Broadcast::Computed),
        "-" => Ok(Broadcast::Disabled),
        v => {
            if ip.is_ipv6() {
                return Err("IPv6 has no broadcast address (use + or - or leave it unset)".into());
            }
            v.parse::<Ipv4Addr>()
                .map(Broadcast::Address)
                .map_err(|_| "expected an IPv4 address, + or -".into())
        }
    }
}

/// The broadcast address of `ip/prefix`; none for /31 and /32, which have no broadcast.
pub fn computed_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix >= 31 {
        return None;
    }
    let host_bits = u32::MAX >> prefix;
    Some(Ipv4Addr::from(u32::from(ip) | host_bits))
}

/// An interface name as the kernel allows it.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty interface name".into());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "interface names have at most {MAX_IFNAME} characters"
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err("not a valid interface name".into());
    }
    Ok(())
}

/// `nic`: an interface name; the old `eth0:label` form is split into name and label, as
/// IPaddr2 still accepts it.
pub fn parse_nic(value: &str) -> Result<(String, Option<String>), String> {
    let v = value.trim();
    let (name, label) = match v.split_once(':') {
        Some((name, label)) => (name, Some(label.to_string())),
        None => (v, None),
    };
    check_ifname(name)?;
    if let Some(label) = &label {
        check_label(name, label)?;
    }
    Ok((name.to_string(), label))
}

/// `iflabel`: the address gets the label `<nic>:<iflabel>`, at most 15 characters in all.
pub fn check_label(nic: &str, label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label".into());
    }
    if label
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("labels cannot contain spaces, control characters or /".into());
    }
    if nic.len() + 1 + label.len() > MAX_IFNAME {
        return Err(format!(
            "'{nic}:{label}' is longer than {MAX_IFNAME} characters"
        ));
    }
    Ok(())
}

/// `preferred_lft`: `forever` or a number of seconds (IPv6 only).
pub fn parse_lifetime(value: &str) -> Result<u32, String> {
    match value.trim() {
        "forever" | "infinite" => Ok(crate::netlink::INFINITY_LIFETIME),
        v => {
            let seconds = v
                .strip_suffix("sec")
                .or_else(|| v.strip_suffix('s'))
                .unwrap_or(v);
            match seconds.parse::<u32>() {
                Ok(s) if s != u32::MAX => Ok(s),
                _ => Err("expected 'forever' or a number of seconds".into()),
            }
        }
    }
}

/// `proto`: a route protocol as `ip route` names it, or its number.
pub fn parse_route_protocol(value: &str) -> Result<u8, String> {
    let v = value.trim();
    let known = [
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("ra", 9),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
    ];
    if let Some((_, n)) = known.iter().find(|(name, _)| *name == v) {
        return Ok(*n);
    }
    v.parse::<u8>().map_err(|_| {
        "expected a route protocol name (kernel, boot, static, dhcp, ...) or number".into()
    })
}

/// True if `ip` is inside `network/prefix`.
pub fn contains(network: &IpAddr, prefix: u8, ip: &IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            if prefix == 0 {
                return true;
            }
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(*n) & mask == u32::from(*a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            if prefix == 0 {
                return true;
            }
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(*n) & mask == u128::from(*a) & mask
        }
        _ => false,
    }
}

/// `RT_SCOPE_LINK`: a route to a directly attached network (what `ip route` shows as
/// `scope link`).
pub const SCOPE_LINK: u8 = 253;
/// `RT_SCOPE_HOST`: a route to this host itself (the local table's `local` routes).
pub const SCOPE_HOST: u8 = 254;

/// What IPaddr2's findif derives from `ip route list match <ip>[/<cidr_netmask>]`: among the
/// main table's unicast routes (never the default route) that contain `ip` — with a configured
/// prefix, only routes at least as wide as it (`match` semantics), and only directly attached
/// ones (IPv4: `scope link`; IPv6, whose routes all have universe scope: no gateway) —
/// optionally only those out of `nic` and of protocol `proto`: the lowest metric, then the
/// longest prefix. Returns the outgoing interface index and the route's prefix length.
///
/// A configured prefix wider than the interface's own network therefore finds nothing (IPaddr2
/// refuses such a start: "Unable to find nic or netmask"), and a narrower one is found. An
/// IPv6 prefix wider than the network but inside a routed one (`2001:db8::/32 via ...`) finds
/// nothing either: IPaddr2's findif takes that route's gateway for the interface, and its
/// start fails ("Failed to add"); on-link is what the address needs.
pub fn detect(
    routes: &[Route],
    ip: &IpAddr,
    nic: Option<u32>,
    prefix: Option<u8>,
    proto: Option<u8>,
) -> Option<(u32, u8)> {
    routes
        .iter()
        .filter(|r| r.table == MAIN_TABLE && r.unicast && r.prefix > 0)
        .filter(|r| contains(&r.destination, r.prefix, ip))
        .filter(|r| prefix.is_none_or(|p| r.prefix <= p))
        .filter(|r| {
            if ip.is_ipv6() {
                !r.via_gateway
            } else {
                r.scope == SCOPE_LINK
            }
        })
        .filter(|r| proto.is_none_or(|p| r.protocol == p))
        .filter_map(|r| r.oif.map(|oif| (r, oif)))
        .filter(|(_, oif)| nic.is_none_or(|n| n == *oif))
        .min_by(|(a, _), (b, _)| a.metric.cmp(&b.metric).then(b.prefix.cmp(&a.prefix)))
        .map(|(r, oif)| (oif, r.prefix))
}

/// IPaddr2's fallback for `127.*` addresses, which no main-table route contains: the local
/// table's host-scope network route that contains `ip` (`local 127.0.0.0/8 dev lo`), giving the
/// interface (lo) and its prefix.
pub fn detect_loopback(routes: &[Route], ip: &IpAddr) -> Option<(u32, u8)> {
    let IpAddr::V4(v4) = ip else {
        return None;
    };
    if v4.octets()[0] != 127 {
        return None;
    }
    routes
        .iter()
        .filter(|r| r.table == LOCAL_TABLE && r.local && r.scope == SCOPE_HOST)
        .filter(|r| r.prefix > 0 && r.prefix < 32 && contains(&r.destination, r.prefix, ip))
        .find_map(|r| r.oif.map(|oif| (oif, r.prefix)))
}

/// `ipv6addr` (ocf:heartbeat:IPv6addr's parameter): an IPv6 address, optionally with its prefix
/// length (`2001:db8::10/64`); `cidr_netmask`, when set, takes precedence over that prefix.
pub fn parse_ipv6addr(value: &str) -> Result<(Ipv6Addr, Option<u8>), String> {
    let v = value.trim();
    let (address, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let ip = match parse_ip(address)? {
        IpAddr::V6(ip) => ip,
        IpAddr::V4(_) => {
            return Err("ipv6addr takes an IPv6 address; use ip for IPv4".into());
        }
    };
    let prefix = prefix
        .map(|p| parse_netmask(p, &IpAddr::V6(ip)))
        .transpose()?;
    Ok((ip, prefix))
}

/// IPv6 link-local addresses only mean something together with an interface.
pub fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses() {
        for (input, ok) in [
            ("192.0.2.10", true),
            (" 192.0.2.10 ", true),
            ("2001:db8::10", true),
            ("fe80::1", true),
            ("", false),
            ("192.0.2", false),
            ("192.0.2.256", false),
            ("192.0.2.10/24", false),
            ("0.0.0.0", false),
            ("::", false),
            ("224.0.0.1", false),
            ("ff02::1", false),
            ("255.255.255.255", false),
            ("vip.example.com", false),
            ("2001:db8::g", false),
        ] {
            assert_eq!(parse_ip(input).is_ok(), ok, "{input:?}");
        }
    }

    #[test]
    fn netmasks() {
        let v4 = ip("192.0.2.10");
        let v6 = ip("2001:db8::10");
        for (input, family, want) in [
            ("24", &v4, Some(24)),
            ("/24", &v4, Some(24)),
            ("32", &v4, Some(32)),
            ("1", &v4, Some(1)),
            ("255.255.255.0", &v4, Some(24)),
            ("255.255.255.255", &v4, Some(32)),
            ("64", &v6, Some(64)),
            ("128", &v6, Some(128)),
            ("0", &v4, None),
            ("33", &v4, None),
            ("129", &v6, None),
            ("255.0.255.0", &v4, None),
            ("0.0.0.0", &v4, None),
            ("255.255.255.0", &v6, None),
            ("-1", &v4, None),
            ("", &v4, None),
            ("24x", &v4, None),
            ("300", &v4, None),
        ] {
            assert_eq!(
                parse_netmask(input, family).ok(),
                want,
                "{input:?} for {family}"
            );
        }
    }

    #[test]
    fn broadcasts() {
        let v4 = ip("192.0.2.10");
        let v6 = ip("2001:db8::10");
        assert_eq!(parse_broadcast("+", &v4), Ok(Broadcast::Computed));
        assert_eq!(parse_broadcast("-", &v6), Ok(Broadcast::Disabled));
        assert_eq!(
            parse_broadcast("192.0.2.255", &v4),
            Ok(Broadcast::Address(Ipv4Addr::new(192, 0, 2, 255)))
        );
        for bad in ["192.0.2.256", "", "all", "2001:db8::ff"] {
            assert!(parse_broadcast(bad, &v4).is_err(), "{bad:?}");
        }
        assert!(parse_broadcast("192.0.2.255", &v6).is_err());
        assert_eq!(
            computed_broadcast(Ipv4Addr::new(192, 0, 2, 10), 24),
            Some(Ipv4Addr::new(192, 0, 2, 255))
        );
        assert_eq!(
            computed_broadcast(Ipv4Addr::new(10, 1, 2, 3), 8),
            Some(Ipv4Addr::new(10, 255, 255, 255))
        );
        assert_eq!(computed_broadcast(Ipv4Addr::new(192, 0, 2, 10), 31), None);
        assert_eq!(computed_broadcast(Ipv4Addr::new(192, 0, 2, 10), 32), None);
    }

    #[test]
    fn nics_and_labels() {
        assert_eq!(parse_nic("eth0"), Ok(("eth0".into(), None)));
        assert_eq!(
            parse_nic("eth0:vip"),
            Ok(("eth0".into(), Some("vip".into())))
        );
        for bad in [
            "",
            "eth 0",
            "a/b",
            "..",
            "averyveryverylongname",
            "eth0:",
            "eth0:label-too-long",
        ] {
            assert!(parse_nic(bad).is_err(), "{bad:?}");
        }
        assert!(check_label("eth0", "web").is_ok());
        assert!(check_label("eth0", "0123456789").is_ok());
        assert!(check_label("eth0", "0123456789a").is_err());
        assert!(check_label("eth0", "a b").is_err());
        assert!(check_label("eth0", "").is_err());
    }

    #[test]
    fn lifetimes_and_protocols() {
        assert_eq!(parse_lifetime("forever"), Ok(u32::MAX));
        assert_eq!(parse_lifetime("0"), Ok(0));
        assert_eq!(parse_lifetime("3600"), Ok(3600));
        assert_eq!(parse_lifetime("60sec"), Ok(60));
        for bad in ["", "-1", "soon", "4294967295", "99999999999"] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_route_protocol("kernel"), Ok(2));
        assert_eq!(parse_route_protocol("static"), Ok(4));
        assert_eq!(parse_route_protocol("42"), Ok(42));
        assert!(parse_route_protocol("nonsense").is_err());
        assert!(parse_route_protocol("300").is_err());
    }

    #[test]
    fn containment() {
        assert!(contains(&ip("192.0.2.0"), 24, &ip("192.0.2.77")));
        assert!(!contains(&ip("192.0.2.0"), 24, &ip("192.0.3.1")));
        assert!(contains(&ip("10.0.0.0"), 8, &ip("10.200.0.1")));
        assert!(contains(&ip("192.0.2.10"), 32, &ip("192.0.2.10")));
        assert!(contains(&ip("2001:db8::"), 64, &ip("2001:db8::1:2")));
        assert!(!contains(&ip("2001:db8::"), 64, &ip("2001:db8:0:1::1")));
        assert!(!contains(&ip("2001:db8::"), 64, &ip("192.0.2.1")));
        assert!(contains(&ip("0.0.0.0"), 0, &ip("198.51.100.1")));
    }

    fn route(dest: &str, prefix: u8, oif: u32, metric: u32) -> Route {
        Route {
            destination: ip(dest),
            prefix,
            oif: Some(oif),
            metric,
            protocol: 2,
            table: MAIN_TABLE,
            unicast: true,
            local: false,
            scope: SCOPE_LINK,
            via_gateway: false,
        }
    }

    #[test]
    fn detection() {
        let routes = vec![
            route("0.0.0.0", 0, 1, 0),
            route("192.0.2.0", 24, 2, 100),
            route("192.0.2.0", 25, 3, 100),
            route("192.0.2.0", 24, 4, 50),
            route("198.51.100.0", 24, 5, 0),
            Route {
                table: LOCAL_TABLE,
                ..route("203.0.113.0", 24, 6, 0)
            },
            Route {
                unicast: false,
                ..route("203.0.114.0", 24, 7, 0)
            },
            Route {
                oif: None,
                ..route("203.0.115.0", 24, 8, 0)
            },
            Route {
                protocol: 4,
                ..route("198.51.100.0", 25, 9, 0)
            },
            // On-link IPv6: universe scope too, but no gateway.
            Route {
                scope: 0,
                ..route("2001:db8::", 64, 10, 256)
            },
            // Reached through a gateway: IPaddr2 only considers directly attached networks.
            Route {
                scope: 0,
                via_gateway: true,
                ..route("10.0.0.0", 8, 11, 0)
            },
            // IPv6 routes have universe scope whether on-link or not; this one has a gateway.
            Route {
                scope: 0,
                via_gateway: true,
                ..route("2001:db8::", 32, 12, 1024)
            },
        ];
        type Case = (
            &'static str,
            Option<u32>,
            Option<u8>,
            Option<u8>,
            Option<(u32, u8)>,
        );
        let cases: &[Case] = &[
            (
                "lowest metric wins over longer prefix",
                None,
                None,
                None,
                Some((4, 24)),
            ),
            ("nic filter", Some(3), None, None, Some((3, 25))),
            (
                "nic filter, same prefix",
                Some(2),
                None,
                None,
                Some((2, 24)),
            ),
            ("nic without a matching route", Some(5), None, None, None),
            (
                "narrower prefix than the network",
                None,
                Some(32),
                None,
                Some((4, 24)),
            ),
            (
                "same prefix as the network",
                Some(3),
                Some(25),
                None,
                Some((3, 25)),
            ),
            ("prefix between the routes", Some(3), Some(24), None, None),
            ("wider prefix than the network", None, Some(16), None, None),
        ];
        for (what, nic, prefix, proto, want) in cases {
            assert_eq!(
                detect(&routes, &ip("192.0.2.10"), *nic, *prefix, *proto),
                *want,
                "{what}"
            );
        }
        assert_eq!(
            detect(&routes, &ip("198.51.100.7"), None, None, None),
            Some((9, 25)),
            "longest prefix at equal metric"
        );
        assert_eq!(
            detect(&routes, &ip("198.51.100.7"), None, None, Some(2)),
            Some((5, 24)),
            "proto filter"
        );
        assert_eq!(
            detect(&routes, &ip("198.51.100.200"), None, None, None),
            Some((5, 24))
        );
        for (addr, what) in [
            ("203.0.113.1", "local table ignored"),
            ("203.0.114.1", "non-unicast ignored"),
            ("203.0.115.1", "no interface"),
            ("8.8.8.8", "default route never matches"),
            ("10.1.2.3", "gatewayed route ignored for IPv4"),
        ] {
            assert_eq!(detect(&routes, &ip(addr), None, None, None), None, "{what}");
        }
        assert_eq!(
            detect(&routes, &ip("2001:db8::5"), None, None, None),
            Some((10, 64))
        );
        assert_eq!(
            detect(&routes, &ip("2001:db8::5"), None, Some(48), None),
            None,
            "an IPv6 prefix wider than the network, inside a routed one"
        );
        assert_eq!(
            detect(&routes, &ip("2001:db8:1::5"), None, None, None),
            None,
            "IPv6 network reached through a gateway"
        );
        assert_eq!(detect(&[], &ip("192.0.2.1"), None, None, None), None);
    }

    #[test]
    fn loopback_detection() {
        let lo = |dest: &str, prefix: u8| Route {
            table: LOCAL_TABLE,
            local: true,
            unicast: false,
            scope: SCOPE_HOST,
            ..route(dest, prefix, 1, 0)
        };
        let routes = vec![lo("127.0.0.1", 32), lo("127.0.0.0", 8), lo("192.0.2.1", 32)];
        assert_eq!(detect_loopback(&routes, &ip("127.0.0.2")), Some((1, 8)));
        assert_eq!(detect_loopback(&routes, &ip("127.1.2.3")), Some((1, 8)));
        assert_eq!(detect_loopback(&routes, &ip("192.0.2.1")), None);
        assert_eq!(detect_loopback(&routes, &ip("::1")), None);
        assert_eq!(detect_loopback(&routes[..1], &ip("127.0.0.2")), None);
    }

    #[test]
    fn ipv6addr_values() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            parse_ipv6addr("2001:db8::10"),
            Ok((v6("2001:db8::10"), None))
        );
        assert_eq!(
            parse_ipv6addr(" 2001:db8::10/64 "),
            Ok((v6("2001:db8::10"), Some(64)))
        );
        for bad in [
            "",
            "192.0.2.10",
            "2001:db8::10/",
            "2001:db8::10/129",
            "2001:db8::10/0",
            "2001:db8::10/64/64",
            "ff02::1",
            "::",
        ] {
            assert!(parse_ipv6addr(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Every parameter parser answers any text with a value or a reason, never a panic.
        #[test]
        fn any_text_parses_without_panic(text in "\\PC{0,40}") {
            let v4 = ip("192.0.2.10");
            let v6 = ip("2001:db8::10");
            let _ = parse_ip(&text);
            let _ = parse_ipv6addr(&text);
            let _ = parse_netmask(&text, &v4);
            let _ = parse_netmask(&text, &v6);
            let _ = parse_broadcast(&text, &v4);
            let _ = parse_nic(&text);
            let _ = check_label("eth0", &text);
            let _ = parse_lifetime(&text);
            let _ = parse_route_protocol(&text);
        }

        /// A prefix length reads back as itself, with or without '/', and as a dotted netmask.
        #[test]
        fn prefixes_round_trip(prefix in 1u8..=128) {
            let v4 = ip("192.0.2.10");
            let v6 = ip("2001:db8::10");
            proptest::prop_assert_eq!(parse_netmask(&prefix.to_string(), &v6), Ok(prefix));
            proptest::prop_assert_eq!(parse_netmask(&format!("/{prefix}"), &v6), Ok(prefix));
            if prefix <= 32 {
                proptest::prop_assert_eq!(parse_netmask(&prefix.to_string(), &v4), Ok(prefix));
                let mask = Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)));
                proptest::prop_assert_eq!(parse_netmask(&mask.to_string(), &v4), Ok(prefix));
            } else {
                proptest::prop_assert!(parse_netmask(&prefix.to_string(), &v4).is_err());
            }
        }

        /// Only contiguous dotted netmasks are accepted.
        #[test]
        fn dotted_netmasks(bits in proptest::num::u32::ANY) {
            let v4 = ip("192.0.2.10");
            let contiguous = bits != 0 && bits.leading_ones() == bits.count_ones();
            let text = Ipv4Addr::from(bits).to_string();
            proptest::prop_assert_eq!(parse_netmask(&text, &v4).is_ok(), contiguous);
        }

        /// Any unicast address reads back; ipv6addr carries its prefix along.
        #[test]
        fn addresses_round_trip(v4 in proptest::num::u32::ANY, v6 in proptest::num::u128::ANY, prefix in 1u8..=128) {
            let a = IpAddr::V4(Ipv4Addr::from(v4));
            let b = IpAddr::V6(Ipv6Addr::from(v6));
            for addr in [a, b] {
                let usable = !addr.is_unspecified() && !addr.is_multicast()
                    && addr != IpAddr::V4(Ipv4Addr::BROADCAST);
                proptest::prop_assert_eq!(parse_ip(&addr.to_string()).ok(), usable.then_some(addr));
            }
            let v6 = Ipv6Addr::from(v6);
            if !v6.is_unspecified() && !v6.is_multicast() {
                proptest::prop_assert_eq!(parse_ipv6addr(&format!("{v6}/{prefix}")), Ok((v6, Some(prefix))));
            }
        }

        /// `contains` agrees with comparing the masked integers, for any prefix.
        #[test]
        fn containment_matches_masking(a in proptest::num::u32::ANY, b in proptest::num::u32::ANY, prefix in 0u8..=32) {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            let want = a & mask == b & mask;
            proptest::prop_assert_eq!(
                contains(&IpAddr::V4(Ipv4Addr::from(a)), prefix, &IpAddr::V4(Ipv4Addr::from(b))),
                want
            );
        }
    }

    #[test]
    fn link_local() {
        assert!(is_link_local(&ip("fe80::1")));
        assert!(is_link_local(&ip("febf::1")));
        assert!(!is_link_local(&ip("fec0::1")));
        assert!(!is_link_local(&ip("2001:db8::1")));
    }
}
