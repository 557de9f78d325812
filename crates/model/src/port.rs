//! Ports.

use serde::{Deserialize, Serialize};

/// Well-known `device_owner` values.
pub mod device_owner {
    pub const ROUTER_INTERFACE: &str = "network:router_interface";
    pub const ROUTER_GATEWAY: &str = "network:router_gateway";
    pub const FLOATING_IP: &str = "network:floatingip";
    pub const DHCP: &str = "network:dhcp";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_owner: String,
    pub device_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub port_security_enabled: bool,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "binding:profile")]
    pub binding_profile: serde_json::Map<String, serde_json::Value>,
    /// The `extra_dhcp_opt` extension's options (stored documents from before it
    /// have none).
    #[serde(default)]
    pub extra_dhcp_opts: Vec<crate::ExtraDhcpOpt>,
    pub tags: Vec<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
}
