//! `model`: the API resource types shared by the server, the agent and the CLI —
//! Neutron v2.0 resources (networks, subnets, ports, routers, floating IPs, security
//! groups and rules, metering labels and rules, agents) and the Keystone v3 identity subset (domains, projects,
//! users, roles, role assignments, tokens).
//!
//! This room holds plain data with serde (field names as the OpenStack APIs spell
//! them, e.g. `provider:network_type`). It must not touch I/O, storage, HTTP or
//! policy: no sockets, no database, no clock reads; validation and allocation live in
//! the `server` crate. The catalog of DHCP option names (`dhcp_opt`) is data of the
//! API's vocabulary, shared so the server refuses what the agent could not encode.
//! The API types derive `utoipa::ToSchema`: the server builds its OpenAPI
//! document from them, so the description is the types themselves.

mod address_scope;
mod agent;
pub mod dhcp_opt;
mod host_view;
mod identity;
mod metering;
mod network;
mod port;
pub mod rbac;
mod router;
mod security_group;
mod subnetpool;

pub use address_scope::AddressScope;
pub use agent::Agent;
pub use dhcp_opt::ExtraDhcpOpt;
pub use host_view::{
    AgentReport, FloatingIpStatusReport, FloatingIpView, HostView, LocalPort, MeteringLabelView,
    NetworkView, PortStatus, PortStatusReport, RemotePort, RouterView, SecurityGroupRuleView,
    SecurityGroupView, SubnetView,
};
pub use identity::{Domain, Project, Role, RoleAssignment, RoleRef, Token, TokenUser, User};
pub use metering::{MeteringLabel, MeteringLabelRule};
pub use network::{AllocationPool, HostRoute, Network, NetworkType, Subnet};
pub use port::{AddressPair, FixedIp, Port, device_owner};
pub use rbac::RbacPolicy;
pub use router::{ExternalFixedIp, ExternalGatewayInfo, FloatingIp, Router, RouterInterfaceInfo};
pub use security_group::{SecurityGroup, SecurityGroupRule};
pub use subnetpool::SubnetPool;
