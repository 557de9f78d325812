//! IP address management: CIDR and pool arithmetic, default gateways and pools,
//! picking the lowest free address, and MAC addresses with Neutron's `fa:16:3e`
//! prefix. The tables behind it (`ip_allocations`, `mac_allocations`) have primary
//! keys, so an address is never held twice even by two servers on one database.

use ipnet::IpNet;
use rand::Rng;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub fn from_u128(v: u128, v6: bool) -> Option<IpAddr> {
    if v6 {
        Some(IpAddr::V6(Ipv6Addr::from(v)))
    } else {
        u32::try_from(v).ok().map(|x| IpAddr::V4(Ipv4Addr::from(x)))
    }
}

/// Parses a CIDR that must be a network address (`10.0.0.0/24`, not `10.0.0.1/24`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("'{s}' is not a valid IP subnet"))?;
    if net.trunc() != net {
        return Err(format!(
            "'{s}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        ));
    }
    Ok(net)
}

pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a valid IP address"))
}

/// The first host address: Neutron's default gateway.
pub fn default_gateway(net: &IpNet) -> Option<IpAddr> {
    let first = to_u128(net.network()) + 1;
    let ip = from_u128(first, net.addr().is_ipv6())?;
    net.contains(&ip).then_some(ip)
}

/// The usable host range of a subnet: without the network address and, for IPv4,
/// the broadcast address.
pub fn host_range(net: &IpNet) -> Option<(u128, u128)> {
    let lo = to_u128(net.network());
    let hi = to_u128(net.broadcast());
    let (lo, hi) = match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => (lo, hi),
        IpNet::V4(_) => (lo.checked_add(1)?, hi.checked_sub(1)?),
        IpNet::V6(_) => (lo.checked_add(1)?, hi),
    };
    (lo <= hi).then_some((lo, hi))
}

/// Why `net` cannot be a subnet, if it cannot: the whole address space, a single
/// address (no host address for a port), or a range that is not unicast for
/// hosts (loopback, multicast, link-local, the IPv4 broadcast, unspecified).
pub fn unusable_subnet(net: &IpNet) -> Option<String> {
    let bad = |why: &str| Some(format!("{net} is {why} and cannot be a subnet"));
    if net.prefix_len() == 0 {
        return bad("the whole address space");
    }
    if host_range(net).is_none() || net.prefix_len() == net.max_prefix_len() {
        return bad("a single address");
    }
    match net.network() {
        IpAddr::V4(a) if a.is_loopback() => bad("loopback"),
        IpAddr::V4(a) if a.is_multicast() || a.is_broadcast() || u32::from(a) >= 0xf000_0000 => {
            bad("multicast or reserved")
        }
        IpAddr::V4(a) if a.is_link_local() => bad("link-local"),
        IpAddr::V4(a) if a.is_unspecified() => bad("unspecified"),
        IpAddr::V6(a) if a.is_loopback() || a.is_unspecified() => bad("loopback or unspecified"),
        IpAddr::V6(a) if a.is_multicast() => bad("multicast"),
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => bad("link-local"),
        _ => None,
    }
}

/// Whether `ip` may be a host's address on `net` (not its network address nor,
/// for IPv4, its broadcast address).
pub fn is_host_address(net: &IpNet, ip: IpAddr) -> bool {
    host_range(net).is_some_and(|(lo, hi)| (lo..=hi).contains(&to_u128(ip)))
}

/// Default allocation pools: the host range minus the gateway.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<(u128, u128)> {
    let Some((lo, hi)) = host_range(net) else {
        return Vec::new();
    };
    match gateway.map(to_u128) {
        Some(g) if g >= lo && g <= hi => {
            let mut pools = Vec::new();
            if g > lo {
                pools.push((lo, g - 1));
            }
            if g < hi {
                pools.push((g + 1, hi));
            }
            pools
        }
        _ => vec![(lo, hi)],
    }
}

/// The lowest address of `pools` not in `taken` (canonical strings).
pub fn next_free(pools: &[(u128, u128)], v6: bool, taken: &HashSet<String>) -> Option<IpAddr> {
    // Bounded: a pool larger than the addresses in use always has a free one within
    // the first `taken.len() + 1` addresses.
    for &(lo, hi) in pools {
        let span = hi - lo;
        let limit = span.min(taken.len() as u128);
        for off in 0..=limit {
            let ip = from_u128(lo + off, v6)?;
            if !taken.contains(&ip.to_string()) {
                return Some(ip);
            }
        }
    }
    None
}

/// The EUI-64 address of `mac` in a /64 `prefix`, as SLAAC forms it (the MAC
/// with the universal/local bit flipped and `ff:fe` in the middle); None when the
/// prefix is not a /64 or the MAC is not one.
pub fn eui64(prefix: &IpNet, mac: &str) -> Option<IpAddr> {
    let IpNet::V6(p) = prefix else { return None };
    if p.prefix_len() != 64 {
        return None;
    }
    let m: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let [a, b, c, d, e, f] = <[u8; 6]>::try_from(m).ok()?;
    let iid = u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, f]);
    let net = u128::from(p.network()) & !u128::from(u64::MAX);
    Some(IpAddr::V6(Ipv6Addr::from(net | u128::from(iid))))
}

/// Whether a subnet's addresses are made by the hosts themselves (SLAAC or
/// DHCPv6-stateless): the port's address is its EUI-64 one.
pub fn auto_address(mode: Option<&str>) -> bool {
    matches!(mode, Some("slaac" | "dhcpv6-stateless"))
}

/// A random MAC with OpenStack's `fa:16:3e` prefix.
pub fn random_mac() -> String {
    let mut rng = rand::rng();
    let b: [u8; 3] = rng.random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Canonical lower-case form of a MAC address, or None if it is not one.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = Vec::with_capacity(6);
    for p in parts {
        if p.len() != 2 {
            return None;
        }
        out.push(u8::from_str_radix(p, 16).ok()?);
    }
    if out[0] & 1 == 1 || out.iter().all(|b| *b == 0) {
        return None; // multicast, or all zero: no NIC's address
    }
    Some(
        out.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_must_have_hosts_and_be_unicast() {
        for bad in [
            "0.0.0.0/0",
            "::/0",
            "255.255.255.255/32",
            "10.0.0.1/32",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
            "fe80::/64",
            "127.0.0.0/8",
            "224.0.0.0/24",
            "ff02::/64",
            "169.254.0.0/16",
        ] {
            assert!(unusable_subnet(&net(bad)).is_some(), "{bad}");
        }
        for ok in [
            "10.0.0.0/24",
            "10.0.0.0/30",
            "2001:db8::/64",
            "fd00::/126",
            "192.168.1.0/31",
        ] {
            assert_eq!(unusable_subnet(&net(ok)), None, "{ok}");
        }
        // No overflow at the top of the address space.
        assert_eq!(
            host_range(&net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")),
            None
        );
        let n = net("10.0.0.0/24");
        assert!(!is_host_address(
            &n,
            "10.0.0.0"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(!is_host_address(
            &n,
            "10.0.0.255"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(is_host_address(
            &n,
            "10.0.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None);
        assert_eq!(
            normalize_mac("FA:16:3E:00:00:01").as_deref(),
            Some("fa:16:3e:00:00:01")
        );
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|_| panic!("bad test cidr {s}"))
    }

    #[test]
    fn pools_skip_gateway_network_and_broadcast() {
        let n = net("10.0.0.0/24");
        let gw = default_gateway(&n);
        assert_eq!(gw, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        let pools = default_pools(&n, gw);
        assert_eq!(pools.len(), 1);
        let first = from_u128(pools[0].0, false);
        let last = from_u128(pools[0].1, false);
        assert_eq!(first, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(last, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254))));
    }

    #[test]
    fn next_free_takes_lowest() {
        let n = net("10.0.0.0/29");
        let pools = default_pools(&n, default_gateway(&n));
        let mut taken = HashSet::new();
        taken.insert("10.0.0.2".to_string());
        assert_eq!(
            next_free(&pools, false, &taken).map(|i| i.to_string()),
            Some("10.0.0.3".to_string())
        );
        for i in 2..=6 {
            taken.insert(format!("10.0.0.{i}"));
        }
        assert_eq!(next_free(&pools, false, &taken), None);
    }

    #[test]
    fn cidr_must_be_network_address() {
        assert!(parse_cidr("10.0.0.1/24").is_err());
        assert!(parse_cidr("10.0.0.0/24").is_ok());
        assert!(parse_cidr("2001:db8::/64").is_ok());
    }

    #[test]
    fn macs() {
        let m = random_mac();
        assert!(m.starts_with("fa:16:3e:"));
        assert_eq!(
            normalize_mac("FA-16-3E-00-00-01").as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None);
        assert_eq!(normalize_mac("zz"), None);
    }
}
