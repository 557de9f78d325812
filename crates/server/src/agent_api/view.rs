//! The host view: a pure function from the store's documents to what one host's
//! agent must wire.

use crate::RouterBinding;
use crate::api::dhcp_port;
use crate::l3::L3_AGENT_TYPE;
use model::{
    Agent, FloatingIp, FloatingIpView, HostView, LocalPort, MeteringLabel, MeteringLabelRule,
    MeteringLabelView, Network, NetworkView, Port, RemotePort, Router, RouterView, SecurityGroup,
    SecurityGroupRule, SecurityGroupRuleView, SecurityGroupView, Subnet, SubnetView, device_owner,
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
    pub routers: &'a [Router],
    pub floating_ips: &'a [FloatingIp],
    pub bindings: &'a [RouterBinding],
    pub security_groups: &'a [SecurityGroup],
    pub security_group_rules: &'a [SecurityGroupRule],
    pub metering_labels: &'a [MeteringLabel],
    pub metering_rules: &'a [MeteringLabelRule],
    pub subnet_pools: &'a [model::SubnetPool],
    pub rbac_policies: &'a [model::RbacPolicy],
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
        external_to_all: s.rbac_policies.iter().any(|p| {
            p.object_type == "network"
                && p.object_id == n.id
                && p.action == model::rbac::ACCESS_AS_EXTERNAL
                && p.target_tenant == model::rbac::WILDCARD
        }),
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
                address_scope_id: sn.subnetpool_id.as_deref().and_then(|pool| {
                    s.subnet_pools
                        .iter()
                        .find(|p| p.id == pool)?
                        .address_scope_id
                        .clone()
                }),
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
            security_groups: p.security_groups.clone(),
            project_id: p.project_id.clone(),
            name: p.name.clone(),
            floating_ips: s
                .floating_ips
                .iter()
                .filter(|f| f.port_id.as_deref() == Some(p.id.as_str()))
                .map(|f| f.floating_ip_address.clone())
                .collect(),
            extra_dhcp_opts: p.extra_dhcp_opts.clone(),
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
        routers: routers(host, s),
        security_groups: security_groups(&local, s),
    }
}

/// The groups of `local`'s ports with their rules, and the groups those rules
/// name as remote groups with their members' addresses (ports on any host).
fn security_groups(local: &[&Port], s: &Snapshot<'_>) -> Vec<SecurityGroupView> {
    let used: BTreeSet<&str> = local
        .iter()
        .filter(|p| p.port_security_enabled)
        .flat_map(|p| p.security_groups.iter().map(String::as_str))
        .collect();
    let mut rules: BTreeMap<&str, Vec<SecurityGroupRuleView>> = BTreeMap::new();
    let mut remote: BTreeSet<&str> = BTreeSet::new();
    for r in s
        .security_group_rules
        .iter()
        .filter(|r| used.contains(r.security_group_id.as_str()))
    {
        if let Some(g) = &r.remote_group_id {
            remote.insert(g.as_str());
        }
        rules
            .entry(r.security_group_id.as_str())
            .or_default()
            .push(SecurityGroupRuleView {
                id: r.id.clone(),
                direction: r.direction.clone(),
                ethertype: r.ethertype.clone(),
                protocol: r.protocol.clone(),
                port_range_min: r.port_range_min,
                port_range_max: r.port_range_max,
                remote_ip_prefix: r.remote_ip_prefix.clone(),
                remote_group_id: r.remote_group_id.clone(),
            });
    }
    let mut members: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for p in s.ports {
        for g in p
            .security_groups
            .iter()
            .filter(|g| remote.contains(g.as_str()))
        {
            let m = members.entry(g.as_str()).or_default();
            m.extend(p.fixed_ips.iter().map(|f| f.ip_address.clone()));
            m.extend(p.allowed_address_pairs.iter().map(|a| a.ip_address.clone()));
        }
    }
    s.security_groups
        .iter()
        .filter(|g| used.contains(g.id.as_str()) || remote.contains(g.id.as_str()))
        .map(|g| {
            let mut rs = rules.remove(g.id.as_str()).unwrap_or_default();
            rs.sort();
            SecurityGroupView {
                id: g.id.clone(),
                rules: rs,
                members: members
                    .remove(g.id.as_str())
                    .map(|m| m.into_iter().collect())
                    .unwrap_or_default(),
                stateful: g.stateful,
            }
        })
        .collect()
}

/// The routers scheduled to `host`'s L3 agent. Their interface and gateway ports
/// are bound to the host, so they (and their networks) are in the view already.
fn routers(host: &str, s: &Snapshot<'_>) -> Vec<RouterView> {
    let Some(agent) = s
        .agents
        .iter()
        .find(|a| a.host == host && a.agent_type == L3_AGENT_TYPE)
    else {
        return Vec::new();
    };
    let mine: BTreeSet<&str> = s
        .bindings
        .iter()
        .filter(|b| b.agent_id == agent.id)
        .map(|b| b.router_id.as_str())
        .collect();
    s.routers
        .iter()
        .filter(|r| mine.contains(r.id.as_str()))
        .map(|r| {
            let ports_of = |owner: &str| -> Vec<String> {
                s.ports
                    .iter()
                    .filter(|p| p.device_id == r.id && p.device_owner == owner)
                    .map(|p| p.id.clone())
                    .collect()
            };
            RouterView {
                id: r.id.clone(),
                admin_state_up: r.admin_state_up,
                interface_ports: ports_of(device_owner::ROUTER_INTERFACE),
                gateway_port: ports_of(device_owner::ROUTER_GATEWAY).into_iter().next(),
                enable_snat: r
                    .external_gateway_info
                    .as_ref()
                    .is_none_or(|g| g.enable_snat),
                routes: r.routes.clone(),
                floating_ips: s
                    .floating_ips
                    .iter()
                    .filter(|f| {
                        f.router_id.as_deref() == Some(r.id.as_str()) && f.port_id.is_some()
                    })
                    .filter_map(|f| {
                        Some(FloatingIpView {
                            id: f.id.clone(),
                            floating_ip_address: f.floating_ip_address.clone(),
                            fixed_ip_address: f.fixed_ip_address.clone()?,
                            status: f.status.clone(),
                        })
                    })
                    .collect(),
                metering_labels: metering_labels(r, s),
            }
        })
        .collect()
}

/// The labels counted on router `r`: its project's and the shared ones, with
/// their rules, none on an admin-down router (as Neutron's metering agent).
fn metering_labels(r: &Router, s: &Snapshot<'_>) -> Vec<MeteringLabelView> {
    if !r.admin_state_up {
        return Vec::new();
    }
    s.metering_labels
        .iter()
        .filter(|l| l.shared || l.project_id == r.project_id)
        .map(|l| MeteringLabelView {
            id: l.id.clone(),
            rules: s
                .metering_rules
                .iter()
                .filter(|x| x.metering_label_id == l.id)
                .cloned()
                .collect(),
        })
        .collect()
}
