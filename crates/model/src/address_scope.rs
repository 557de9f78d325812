//! Address scopes (Neutron's `address-scope`): a space of addresses in which
//! subnet pools do not overlap, so that networks carved from them can be routed
//! to each other without NAT.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressScope {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub tenant_id: String,
    pub shared: bool,
    pub ip_version: u8,
}
