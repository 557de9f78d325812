//! The DHCP binding of a VM port: what the switch's responder tells the VM (its
//! address, gateway, DNS, host routes, MTU, and the port's extra DHCP options).
//! Only IPv4 subnets with enable_dhcp.
//!
//! The switch answers as the network's `network:dhcp` port (the subnet's
//! `dhcp_server_ip`): that address is the server identifier, the source of the
//! replies, and the address the switch answers ARP for. The router option stays
//! the subnet's gateway, which belongs to the router's qr- port.

use ipnet::Ipv4Net;
use model::{LocalPort, NetworkView, SubnetView};
use std::net::Ipv4Addr;
use switch_proto::{DhcpBinding, StaticRoute};

/// What one DHCP answer carries at most (the switch refuses bigger bindings).
const MAX_DNS: usize = 16;
const MAX_ROUTES: usize = 32;

pub(super) fn binding(p: &LocalPort, net: &NetworkView) -> Option<DhcpBinding> {
    p.fixed_ips.iter().find_map(|f| {
        let ip: Ipv4Addr = f.ip_address.parse().ok()?;
        let subnet = net
            .subnets
            .iter()
            .find(|s| s.id == f.subnet_id && s.ip_version == 4 && s.enable_dhcp)?;
        let cidr: Ipv4Net = subnet.cidr.parse().ok()?;
        let router = subnet
            .gateway_ip
            .as_deref()
            .and_then(|g| g.parse::<Ipv4Addr>().ok());
        // An older server sends no DHCP port address: then the gateway, else the
        // subnet's last host address, as before.
        let server_ip = dhcp_port_ip(subnet, cidr)
            .or(router)
            .unwrap_or_else(|| last_host(cidr));
        // Lease time and server MAC: the switch's defaults (one day, as Neutron's
        // dhcp_lease_duration; one MAC for every network, it never leaves the port).
        let base = DhcpBinding::new(
            &p.mac_address.to_ascii_lowercase(),
            ip,
            cidr.prefix_len(),
            server_ip,
        );
        let mut b = DhcpBinding {
            router,
            dns: subnet
                .dns_nameservers
                .iter()
                .filter_map(|d| d.parse().ok())
                .take(MAX_DNS)
                .collect(),
            host_routes: subnet
                .host_routes
                .iter()
                .filter_map(|r| {
                    let dest: Ipv4Net = r.destination.parse().ok()?;
                    Some(StaticRoute {
                        destination: dest.network(),
                        prefix_len: dest.prefix_len(),
                        nexthop: r.nexthop.parse().ok()?,
                    })
                })
                .take(MAX_ROUTES)
                .collect(),
            mtu: u16::try_from(net.mtu).ok().filter(|m| *m >= 68),
            ..base
        };
        super::dhcp_opts::apply(&mut b, &p.extra_dhcp_opts, &p.id);
        Some(b)
    })
}

/// The subnet's DHCP port address, when the server sent one inside the subnet.
fn dhcp_port_ip(subnet: &SubnetView, cidr: Ipv4Net) -> Option<Ipv4Addr> {
    subnet
        .dhcp_server_ip
        .as_deref()
        .and_then(|a| a.parse::<Ipv4Addr>().ok())
        .filter(|a| cidr.contains(a))
}

/// Whether `ip` is the DHCP port address of one of `net`'s subnets: that port
/// lives on no host, so the switch is the only one to answer ARP for it.
pub(super) fn is_dhcp_port_ip(net: &NetworkView, ip: Ipv4Addr) -> bool {
    net.subnets.iter().any(|s| {
        s.ip_version == 4
            && s.enable_dhcp
            && s.cidr
                .parse::<Ipv4Net>()
                .is_ok_and(|c| dhcp_port_ip(s, c) == Some(ip))
    })
}

fn last_host(net: Ipv4Net) -> Ipv4Addr {
    let b = u32::from(net.broadcast());
    if net.prefix_len() >= 31 {
        net.broadcast()
    } else {
        Ipv4Addr::from(b - 1)
    }
}
