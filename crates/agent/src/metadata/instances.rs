//! Who is asking: the VM ports of this host per network, found by the source
//! address of a request (anti-spoofing in the switch guarantees a port sends only
//! from its own addresses, so the address names the port).

use crate::compile::{is_vm_port, link_local};
use model::{HostView, LocalPort, SubnetView};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use switch_proto::Mac;

/// A VM port as the metadata service describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub port_id: String,
    /// The port's `device_id`: the instance id.
    pub device_id: String,
    pub project_id: String,
    pub name: String,
    pub mac: String,
    pub network_id: String,
    pub mtu: u32,
    /// Its fixed IPs with their subnets.
    pub addresses: Vec<(IpAddr, SubnetView)>,
    /// The EUI-64 link-local address of its MAC, which it asks from over IPv6.
    pub link_local: Option<Ipv6Addr>,
    pub floating_ips: Vec<String>,
    /// Every subnet of its network (DNS servers, routes).
    pub subnets: Vec<SubnetView>,
}

/// Instances per network.
#[derive(Debug, Clone, Default)]
pub struct Table {
    by_network: BTreeMap<String, Vec<Instance>>,
}

impl Table {
    pub fn from_view(view: &HostView) -> Table {
        let mut by_network: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
        for p in view.ports.iter().filter(|p| is_vm_port(p)) {
            let Some(net) = view.networks.iter().find(|n| n.id == p.network_id) else {
                continue;
            };
            by_network
                .entry(p.network_id.clone())
                .or_default()
                .push(instance(p, &net.subnets, net.mtu));
        }
        Table { by_network }
    }

    /// The instance on `network_id` that holds `ip` (IPv4-mapped IPv6 taken as
    /// IPv4).
    pub fn find(&self, network_id: &str, ip: IpAddr) -> Option<&Instance> {
        let ip = ip.to_canonical();
        self.by_network.get(network_id)?.iter().find(|i| {
            i.addresses.iter().any(|(a, _)| *a == ip) || i.link_local.map(IpAddr::V6) == Some(ip)
        })
    }

    pub fn len(&self) -> usize {
        self.by_network.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn instance(p: &LocalPort, subnets: &[SubnetView], mtu: u32) -> Instance {
    let addresses = p
        .fixed_ips
        .iter()
        .filter_map(|f| {
            let ip: IpAddr = f.ip_address.parse().ok()?;
            let s = subnets.iter().find(|s| s.id == f.subnet_id)?;
            Some((ip, s.clone()))
        })
        .collect();
    Instance {
        port_id: p.id.clone(),
        device_id: p.device_id.clone(),
        project_id: p.project_id.clone(),
        name: p.name.clone(),
        mac: p.mac_address.to_ascii_lowercase(),
        network_id: p.network_id.clone(),
        mtu,
        addresses,
        link_local: p.mac_address.parse::<Mac>().ok().map(link_local),
        floating_ips: p.floating_ips.clone(),
        subnets: subnets.to_vec(),
    }
}
