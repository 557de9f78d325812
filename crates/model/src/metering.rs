//! Metering labels and their rules (Neutron's `metering` extension): what a
//! router's traffic to and from the outside is counted under.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeteringLabel {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub tenant_id: String,
    /// Counted on every project's routers, not only on the label's project's.
    pub shared: bool,
}

/// A rule of a label. Like Neutron's, it shows no project: it belongs to its
/// label's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeteringLabelRule {
    pub id: String,
    pub metering_label_id: String,
    /// `ingress` (from the outside into the router) or `egress`.
    pub direction: String,
    /// Traffic the rule matches is not counted under the label.
    pub excluded: bool,
    /// The internal side: the destination of ingress, the source of egress.
    pub remote_ip_prefix: Option<String>,
    pub source_ip_prefix: Option<String>,
    pub destination_ip_prefix: Option<String>,
}
