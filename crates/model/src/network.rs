//! Networks and subnets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `provider:network_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    Vxlan,
    Gre,
    Vlan,
    Flat,
}

impl NetworkType {
    /// Parses the API spelling (`vxlan`, `gre`, `vlan`, `flat`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vxlan" => Some(Self::Vxlan),
            "gre" => Some(Self::Gre),
            "vlan" => Some(Self::Vlan),
            "flat" => Some(Self::Flat),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vxlan => "vxlan",
            Self::Gre => "gre",
            Self::Vlan => "vlan",
            Self::Flat => "flat",
        }
    }

    /// Bytes of encapsulation overhead on an IPv4 underlay (Neutron's numbers).
    pub fn overhead(self) -> u32 {
        match self {
            Self::Vxlan => 50,
            Self::Gre => 42,
            Self::Vlan | Self::Flat => 0,
        }
    }
}

impl fmt::Display for NetworkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub shared: bool,
    #[serde(rename = "router:external")]
    pub router_external: bool,
    pub mtu: u32,
    #[serde(rename = "provider:network_type")]
    pub network_type: NetworkType,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    pub subnets: Vec<String>,
    pub port_security_enabled: bool,
    pub availability_zone_hints: Vec<String>,
    pub availability_zones: Vec<String>,
    pub tags: Vec<String>,
    /// The address scope of the network's IPv4 / IPv6 subnets' pools (the
    /// `address-scope` extension): filled in when the network is shown, not
    /// stored.
    #[serde(default)]
    pub ipv4_address_scope: Option<String>,
    #[serde(default)]
    pub ipv6_address_scope: Option<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub service_types: Vec<String>,
    pub tags: Vec<String>,
    pub revision_number: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Whether its network is external (`subnet-external-network`); filled in
    /// when the subnet is shown.
    #[serde(rename = "router:external", default)]
    pub router_external: bool,
    /// Whether its network is shared with the caller; filled in when the
    /// subnet is shown.
    #[serde(default)]
    pub shared: bool,
}
