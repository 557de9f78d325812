//! RBAC policies (Neutron's `rbac-policies`): a network, subnet pool or address
//! scope shared with one project or all (`access_as_shared`), a network made
//! external for one project or all (`access_as_external`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RbacPolicy {
    pub id: String,
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    /// A project id, or `*` for every project.
    pub target_tenant: String,
    pub project_id: String,
    pub tenant_id: String,
}

/// `target_tenant` for every project.
pub const WILDCARD: &str = "*";
pub const ACCESS_AS_SHARED: &str = "access_as_shared";
pub const ACCESS_AS_EXTERNAL: &str = "access_as_external";
