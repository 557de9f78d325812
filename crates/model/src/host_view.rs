//! What one host must wire: the desired state the server computes for a host's
//! agent (`GET /agent-api/v1/hosts/{host}/view`), and what agents send back
//! (registration reports, port status).
//!
//! A host view holds only what the agent compiles into bridges, ports and flows:
//! the ports bound to the host, the networks they are on (with their subnets, for
//! DHCP), and the ports other hosts have on those networks (for l2population:
//! which tunnels to build and which MACs/IPs live behind each).

use crate::network::{HostRoute, NetworkType};
use crate::port::{AddressPair, FixedIp};
use serde::{Deserialize, Serialize};

/// One host's desired state at a store revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// The store revision this view was computed at (resume a watch from here).
    pub revision: i64,
    pub host: String,
    /// The agent's `admin_state_up`: when false the agent takes no new work.
    pub admin_state_up: bool,
    pub networks: Vec<NetworkView>,
    /// Ports bound to this host (`binding:host_id`).
    pub ports: Vec<LocalPort>,
    /// Ports bound to other hosts, on the networks in `networks`.
    pub remote_ports: Vec<RemotePort>,
    /// Routers scheduled to this host's L3 agent (network nodes). Their interface
    /// and gateway ports are bound to the host, so they are in `ports`, and their
    /// networks in `networks`.
    #[serde(default)]
    pub routers: Vec<RouterView>,
    /// The security groups of this host's ports, with their rules, and every
    /// group their rules name as `remote_group_id`, with its members' addresses.
    #[serde(default)]
    pub security_groups: Vec<SecurityGroupView>,
}

/// A security group as the firewall on a host needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupView {
    pub id: String,
    /// Rules (empty for a group in the view only as someone's remote group).
    pub rules: Vec<SecurityGroupRuleView>,
    /// The addresses (fixed IPs and allowed address pairs, which may be
    /// prefixes) of every port in the group, on any host; filled for groups that
    /// some rule of the view names as its remote group.
    #[serde(default)]
    pub members: Vec<String>,
    /// `stateful` (the stateless security-group extension); the firewall tracks
    /// connections either way (see docs).
    #[serde(default = "yes")]
    pub stateful: bool,
}

fn yes() -> bool {
    true
}

/// One rule: what it lets in (`ingress`) or out (`egress`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecurityGroupRuleView {
    pub id: String,
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// A name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, ...) or an IP protocol number;
    /// `None` for any.
    pub protocol: Option<String>,
    /// Ports for TCP/UDP/SCTP; ICMP type (min) and code (max).
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// A router as its L3 agent realises it: a `qrouter-<id>` namespace with a `qr-`
/// device per interface port and a `qg-` device for the gateway port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterView {
    pub id: String,
    pub admin_state_up: bool,
    /// Ids of its `network:router_interface` ports (in the view's `ports`).
    pub interface_ports: Vec<String>,
    /// Id of its `network:router_gateway` port (in `ports`), on the external
    /// network.
    pub gateway_port: Option<String>,
    /// SNAT of the internal subnets to the gateway address.
    pub enable_snat: bool,
    /// Extra routes (`routes`): destination CIDR -> nexthop.
    pub routes: Vec<HostRoute>,
    pub floating_ips: Vec<FloatingIpView>,
    /// The metering labels counted on this router (the router's project's and
    /// the shared ones), with their rules.
    #[serde(default)]
    pub metering_labels: Vec<MeteringLabelView>,
}

/// A metering label as a network node counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeteringLabelView {
    pub id: String,
    pub rules: Vec<crate::MeteringLabelRule>,
}

/// A floating IP associated with a port behind the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpView {
    pub id: String,
    pub floating_ip_address: String,
    pub fixed_ip_address: String,
    /// The status the server holds now (the agent reports changes to it).
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkView {
    pub id: String,
    pub network_type: NetworkType,
    pub segmentation_id: Option<u32>,
    pub physical_network: Option<String>,
    pub mtu: u32,
    pub admin_state_up: bool,
    pub subnets: Vec<SubnetView>,
    /// Made external for every project, by the admin (`router:external`, a `*`
    /// `access_as_external` policy): only then does a router's gateway on it go
    /// on the external bridge. A network a tenant made external for another
    /// project keeps its gateways in its own segment. Absent from older servers,
    /// whose external networks were all the admin's.
    #[serde(default = "yes")]
    pub external_to_all: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetView {
    pub id: String,
    pub cidr: String,
    pub ip_version: u8,
    pub gateway_ip: Option<String>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    /// The address of the network's `network:dhcp` port on this subnet: the DHCP
    /// server the switch answers as (never the gateway, which is the router's).
    #[serde(default)]
    pub dhcp_server_ip: Option<String>,
    /// The address scope of the subnet's pool: a router does not SNAT between
    /// subnets of one scope and its external network.
    #[serde(default)]
    pub address_scope_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalPort {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_owner: String,
    pub device_id: String,
    pub admin_state_up: bool,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    /// The status the server holds now (the agent reports changes to it).
    pub status: String,
    /// The port's security groups (ids in the view's `security_groups`).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// The port's project (what the metadata service says the instance
    /// belongs to).
    #[serde(default)]
    pub project_id: String,
    #[serde(default)]
    pub name: String,
    /// The floating IPs associated with the port (the instance's public
    /// addresses, for the metadata service).
    #[serde(default)]
    pub floating_ips: Vec<String>,
    /// The port's extra DHCP options (what the switch's DHCP answer adds).
    #[serde(default)]
    pub extra_dhcp_opts: Vec<crate::ExtraDhcpOpt>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RemotePort {
    pub network_id: String,
    pub host: String,
    /// The remote host's tunnel endpoint (its agent's `tunneling_ip`); `None`
    /// when no agent has registered for that host yet.
    pub tunnel_ip: Option<String>,
    pub mac_address: String,
    pub ip_addresses: Vec<String>,
}

/// An agent's registration and heartbeat (`POST /agent-api/v1/agents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    pub host: String,
    /// "Open vSwitch agent" for the L2 agent, as Neutron names it.
    pub agent_type: String,
    pub binary: String,
    pub tunneling_ip: Option<String>,
    pub tunnel_types: Vec<String>,
    pub bridge_mappings: std::collections::BTreeMap<String, String>,
    pub roles: Vec<String>,
    pub report_interval_secs: u64,
}

/// Port status changes an agent reports (`PUT /agent-api/v1/hosts/{host}/port-status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortStatusReport {
    pub ports: Vec<PortStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    pub id: String,
    /// "ACTIVE" or "DOWN".
    pub status: String,
}

/// Floating IP status changes an L3 agent reports
/// (`PUT /agent-api/v1/hosts/{host}/floatingip-status`): ACTIVE once the address
/// is on the router's gateway device and its NAT rules are in, DOWN otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpStatusReport {
    pub floating_ips: Vec<PortStatus>,
}
