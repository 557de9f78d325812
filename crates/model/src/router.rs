//! Routers and floating IPs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExternalFixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExternalGatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<ExternalFixedIp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub external_gateway_info: Option<ExternalGatewayInfo>,
    pub routes: Vec<crate::HostRoute>,
    pub distributed: bool,
    pub ha: bool,
    pub availability_zone_hints: Vec<String>,
    pub availability_zones: Vec<String>,
    pub tags: Vec<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// The body of `add_router_interface` / `remove_router_interface` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouterInterfaceInfo {
    pub id: String,
    pub project_id: String,
    pub tenant_id: String,
    pub port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    pub subnet_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FloatingIp {
    pub id: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    pub fixed_ip_address: Option<String>,
    pub port_id: Option<String>,
    pub router_id: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
}
