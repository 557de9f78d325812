//! The metadata service's wiring on a host, OVN's way rather than Neutron's: no
//! qdhcp namespace and no proxy in each router, but for every network with a live
//! VM port on this host a namespace (`<prefix><network id>`) holding a `qm-`
//! device, an internal port on br-int with the network's local VLAN, where the
//! agent's proxy listens (see `crate::metadata`). One namespace per network keeps
//! tenants' overlapping addresses apart; being on every host with ports, it needs
//! no router and no network node.
//!
//! How a VM's request gets there:
//! - IPv4: DHCP gives a route to 169.254.169.254/32 through the subnet's DHCP
//!   address (option 121; the switch answers ARP for that address), and br-int's
//!   table 94, after the egress firewall, hands IPv4 to 169.254.169.254 to the
//!   network's `qm-` device with the device's MAC as destination, whatever next hop
//!   the VM chose (the router's too). The answer goes back through the VM's ingress
//!   firewall as a reply of the connection the VM opened.
//! - IPv6: `fe80::a9fe:a9fe` on the device, found by neighbour discovery.

use super::WiredNet;
use super::firewall::EGRESS_NORMAL;
use crate::names;
use ipnet::Ipv4Net;
use model::LocalPort;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use switch_proto::{
    Action, DhcpBinding, Field, Flow, Mac, Match, PortSpec, PortType, Proto, StaticRoute,
};

/// The metadata service's IPv4 address.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Its IPv6 address (link-local).
pub const ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe);

/// One network's metadata namespace as it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSpec {
    pub network_id: String,
    pub namespace: String,
    /// The `qm-` device in it.
    pub device: String,
    pub mac: Mac,
    /// The network's IPv4 subnets: routes on the device, so answers find the VMs.
    pub subnets: Vec<Ipv4Net>,
}

/// What the metadata service adds to the host's switch.
#[derive(Debug, Default)]
pub(super) struct MetadataWiring {
    pub specs: Vec<MetadataSpec>,
    /// `qm-` devices for br-int.
    pub ports: Vec<PortSpec>,
    pub flows: Vec<Flow>,
    /// (device, local VLAN): ports the firewall passes unfiltered.
    pub open: Vec<(String, u16)>,
}

/// The namespaces, devices and flows for the networks of `vm_ports` that are
/// wired here; nothing when the service is off (`prefix` is `None`).
pub(super) fn wire(
    prefix: Option<&str>,
    host: &str,
    vm_ports: &[&LocalPort],
    wired: &BTreeMap<&str, WiredNet>,
) -> MetadataWiring {
    let mut out = MetadataWiring::default();
    let Some(prefix) = prefix else {
        return out;
    };
    let mut nets: Vec<&WiredNet> = vm_ports
        .iter()
        .filter(|p| p.admin_state_up)
        .filter_map(|p| wired.get(p.network_id.as_str()))
        .collect();
    nets.sort_by(|a, b| a.net.id.cmp(&b.net.id));
    nets.dedup_by(|a, b| a.net.id == b.net.id);
    for w in nets {
        let id = &w.net.id;
        let device = names::metadata_device(id);
        let mac = device_mac(host, id);
        let subnets = w
            .net
            .subnets
            .iter()
            .filter(|s| s.ip_version == 4)
            .filter_map(|s| s.cidr.parse::<Ipv4Net>().ok())
            .map(|n| n.trunc())
            .collect();
        let namespace = format!("{prefix}{id}");
        out.ports.push(PortSpec {
            tag: Some(w.vlan),
            netns: Some(namespace.clone()),
            mac: Some(mac.to_string()),
            mtu: Some(w.net.mtu),
            ..PortSpec::new(&device, PortType::Internal)
        });
        // Its frames skip anti-spoofing (it answers from 169.254.169.254).
        out.flows.push(
            Flow::new(0, 9)
                .when(Match::in_port(&device))
                .then([Action::resubmit(60)]),
        );
        out.flows.push(
            Flow::new(EGRESS_NORMAL, 50)
                .when(Match::Masked {
                    field: Field::Reg6,
                    value: w.vlan.into(),
                    mask: 0xffff_ffff,
                })
                .when(Match::Proto(Proto::Ip))
                .when(Match::NwDst(Ipv4Net::from(ADDRESS)))
                .then([Action::ModDlDst(mac), Action::output(&device)]),
        );
        out.open.push((device.clone(), w.vlan));
        out.specs.push(MetadataSpec {
            network_id: id.clone(),
            namespace,
            device,
            mac,
            subnets,
        });
    }
    out
}

/// Keeps the metadata devices' frames on their host: every host has one on the
/// network, with the same fe80::a9fe:a9fe, so a VM's neighbour solicitation
/// flooded to other hosts must not be answered from there. Their frames are
/// dropped where they would leave br-int: into br-tun and the physical bridges.
pub(super) fn stay_home(bridges: &mut [super::BridgeSpec], specs: &[MetadataSpec]) {
    for b in bridges.iter_mut() {
        let from_int = if b.name == names::BR_TUN {
            names::PATCH_INT.to_string()
        } else if b.name.starts_with("br-") && b.name != names::BR_INT {
            names::phy_patch(&b.name)
        } else {
            continue;
        };
        if !b.ports.iter().any(|p| p.name == from_int) {
            continue;
        }
        for s in specs {
            b.flows.push(
                Flow::new(0, 5)
                    .when(Match::in_port(&from_int))
                    .when(Match::DlSrc(s.mac))
                    .then([Action::Drop]),
            );
        }
        crate::flows::sort(&mut b.flows);
    }
}

/// `b` with a route to 169.254.169.254/32 through the DHCP server's address,
/// unless the subnet's own host routes name that destination.
pub(super) fn with_route(mut b: DhcpBinding) -> DhcpBinding {
    let taken = b
        .host_routes
        .iter()
        .any(|r| r.destination == ADDRESS && r.prefix_len == 32);
    if !taken {
        b.host_routes.push(StaticRoute {
            destination: ADDRESS,
            prefix_len: 32,
            nexthop: b.server_ip,
        });
    }
    b
}

/// A MAC of its own per host and network (`fa:16:3f` and three bytes of a hash),
/// so hosts' devices never share one on a network.
fn device_mac(host: &str, network_id: &str) -> Mac {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes().chain([0]).chain(network_id.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [_, a, b, c] = h.to_be_bytes();
    Mac([0xfa, 0x16, 0x3f, a, b, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_differ_by_host_and_network() {
        let a = device_mac("compute1", "n1");
        assert_eq!(a, device_mac("compute1", "n1"));
        assert_ne!(a, device_mac("compute2", "n1"));
        assert_ne!(a, device_mac("compute1", "n2"));
        assert_eq!(a.0[0] & 1, 0, "unicast");
        assert_eq!(a.0[0] & 2, 2, "locally administered");
    }

    #[test]
    fn dhcp_gets_the_metadata_route_once() {
        let b = DhcpBinding::new(
            "fa:16:3e:00:00:01",
            Ipv4Addr::new(10, 0, 0, 5),
            24,
            Ipv4Addr::new(10, 0, 0, 2),
        );
        let b = with_route(b);
        assert_eq!(
            b.host_routes,
            vec![StaticRoute {
                destination: ADDRESS,
                prefix_len: 32,
                nexthop: Ipv4Addr::new(10, 0, 0, 2)
            }]
        );
        assert_eq!(with_route(b.clone()), b);
    }
}
