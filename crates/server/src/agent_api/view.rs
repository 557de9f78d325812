//! The host view: a pure function from the store's documents to what one host's
//! agent must wire.

use crate::api::dhcp_port;
use model::{
    Agent, HostView, LocalPort, Network, NetworkView, Port, RemotePort, Subnet, SubnetView,
};
use std::collections::{BTreeMap, BTreeSet};

/// The agent type neutrino's L2 agent registers as (Neutron's name for it, so
/// operators' `network agent list` filters keep working).
pub const L2_AGENT_TYPE: &str = "Open vSwitch agent";

/// Everything a host view is computed from (one consistent read of the store).
pub struct Snapshot<'a> {
    pub revision: i64,
    pub agents: &'a [Agent],
    pub networks: &'a [Network],
    pub subnets: &'a [Subnet],
    pub ports: &'a [Port],
}

/// The tunnel endpoint each host's L2 agent registered.
fn tunnel_ips(agents: &[Agent]) -> BTreeMap<&str, String> {
    agents
        .iter()
        .filter(|a| a.agent_type == L2_AGENT_TYPE)
        .filter_map(|a| {
            let ip = a.configurations.get("tunneling_ip")?.as_str()?;
            Some((a.host.as_str(), ip.to_string()))
        })
        .collect()
}

/// A network as its hosts wire it, with each subnet's DHCP server address: the
/// address of the network's DHCP port on it (see [`dhcp_port`]), on subnets that
/// serve DHCP.
fn network_view(n: &Network, s: &Snapshot<'_>) -> NetworkView {
    let dhcp = s.ports.iter().find(|p| dhcp_port::is_server_port(p, n));
    NetworkView {
        id: n.id.clone(),
        network_type: n.network_type,
        segmentation_id: n.segmentation_id,
        physical_network: n.physical_network.clone(),
        mtu: n.mtu,
        admin_state_up: n.admin_state_up,
        subnets: s
            .subnets
            .iter()
            .filter(|sn| sn.network_id == n.id)
            .map(|sn| SubnetView {
                id: sn.id.clone(),
                cidr: sn.cidr.clone(),
                ip_version: sn.ip_version,
                gateway_ip: sn.gateway_ip.clone(),
                enable_dhcp: sn.enable_dhcp,
                dns_nameservers: sn.dns_nameservers.clone(),
                host_routes: sn.host_routes.clone(),
                dhcp_server_ip: dhcp
                    .filter(|_| dhcp_port::serves(sn))
                    .and_then(|p| p.fixed_ips.iter().find(|f| f.subnet_id == sn.id))
                    .map(|f| f.ip_address.clone()),
            })
            .collect(),
    }
}

pub fn host_view(host: &str, s: &Snapshot<'_>) -> HostView {
    let admin_state_up = s
        .agents
        .iter()
        .find(|a| a.host == host && a.agent_type == L2_AGENT_TYPE)
        .is_none_or(|a| a.admin_state_up);
    let local: Vec<&Port> = s
        .ports
        .iter()
        .filter(|p| p.binding_host_id == host)
        .collect();
    let net_ids: BTreeSet<&str> = local.iter().map(|p| p.network_id.as_str()).collect();
    let networks = s
        .networks
        .iter()
        .filter(|n| net_ids.contains(n.id.as_str()))
        .map(|n| network_view(n, s))
        .collect();
    let ports = local
        .iter()
        .map(|p| LocalPort {
            id: p.id.clone(),
            network_id: p.network_id.clone(),
            mac_address: p.mac_address.clone(),
            fixed_ips: p.fixed_ips.clone(),
            device_owner: p.device_owner.clone(),
            device_id: p.device_id.clone(),
            admin_state_up: p.admin_state_up,
            port_security_enabled: p.port_security_enabled,
            allowed_address_pairs: p.allowed_address_pairs.clone(),
            status: p.status.clone(),
        })
        .collect();
    let tunnels = tunnel_ips(s.agents);
    let mut remote_ports: Vec<RemotePort> = s
        .ports
        .iter()
        .filter(|p| {
            !p.binding_host_id.is_empty()
                && p.binding_host_id != host
                && net_ids.contains(p.network_id.as_str())
        })
        .map(|p| RemotePort {
            network_id: p.network_id.clone(),
            host: p.binding_host_id.clone(),
            tunnel_ip: tunnels.get(p.binding_host_id.as_str()).cloned(),
            mac_address: p.mac_address.clone(),
            ip_addresses: p.fixed_ips.iter().map(|f| f.ip_address.clone()).collect(),
        })
        .collect();
    remote_ports.sort();
    HostView {
        revision: s.revision,
        host: host.to_string(),
        admin_state_up,
        networks,
        ports,
        remote_ports,
        // Filled in with the L3 scheduler (issue 17).
        routers: Vec::new(),
    }
}
