//! `GET /v2.0/extensions[/alias]`: only what this server implements.

use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

const EXTENSIONS: &[(&str, &str, &str)] = &[
    (
        "rbac-policies",
        "RBAC Policies",
        "Allows creation and modification of policies that control tenant access to resources.",
    ),
    (
        "rbac-subnetpool",
        "Add subnetpool type to RBAC",
        "Add subnetpool type to RBAC",
    ),
    (
        "rbac-address-scope",
        "Add address_scope type to RBAC",
        "Add address_scope type to RBAC",
    ),
    (
        "address-scope",
        "Address scope",
        "Address scopes extension.",
    ),
    (
        "subnetpool-prefix-ops",
        "Subnet Pool Prefix Operations",
        "Provides support for adjusting the prefix list of subnet pools",
    ),
    ("agent", "agent", "The agent management extension."),
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "Provides allowed address pairs",
    ),
    (
        "binding",
        "Port Binding",
        "Expose port bindings of a virtual port to external application",
    ),
    (
        "metering",
        "Neutron Metering",
        "Neutron Metering extension.",
    ),
    (
        "metering_source_and_destination_fields",
        "Neutron Metering with source and destination filtering",
        "Neutron Metering extension that enables the use of source and destination IP prefixes in metering label rules.",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    (
        "extra_dhcp_opt",
        "Neutron Extra DHCP options",
        "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "Extra routes configuration for L3 router",
    ),
    (
        "fields",
        "Fields",
        "Selects the attributes of a resource with the fields parameter.",
    ),
    (
        "filter-validation",
        "Filter parameters validation",
        "Provides validation on filter parameters.",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: network, subnet, port, router, floatingip, security_group, subnetpool",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "tag-creation",
        "Tag creation extension",
        "Allow to create multiple tags for a resource",
    ),
    (
        "tag-ports-during-bulk-creation",
        "Tag Ports During Bulk Creation",
        "Allow to tag ports during bulk creation",
    ),
    (
        "extraroute-atomic",
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    (
        "subnet_allocation",
        "Subnet Allocation",
        "Enables allocation of subnets from a subnet pool",
    ),
    (
        "default-subnetpools",
        "Default Subnetpools",
        "Provides ability to mark and use a subnetpool as the default.",
    ),
    (
        "network-ip-availability",
        "Network IP Availability",
        "Provides IP availability data for each network and subnet.",
    ),
    (
        "l3_agent_scheduler",
        "L3 Agent Scheduler",
        "Schedule routers among l3 agents",
    ),
    (
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
    ),
    (
        "pagination",
        "Pagination support",
        "Extension that indicates that pagination is enabled.",
    ),
    ("port-security", "Port Security", "Provides port security"),
    (
        "subnet-external-network",
        "Subnet External Network",
        "Informs if the subnet is associated to an external network.",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per project",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    (
        "provider",
        "Provider Network",
        "Expose mapping of virtual networks to physical networks",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "security-group",
        "security-group",
        "The security groups extension.",
    ),
    (
        "sorting",
        "Sorting support",
        "Extension that indicates that sorting is enabled.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
];

/// The `updated` stamps Neutron gives the extensions whose clients may look at it.
const UPDATED: &[(&str, &str)] = &[
    ("rbac-policies", "2015-06-17T12:15:12-00:00"),
    ("extraroute", "2013-02-01T10:00:00-00:00"),
    ("l3_agent_scheduler", "2013-02-07T10:00:00-00:00"),
];

fn ext(alias: &str, name: &str, description: &str) -> Value {
    let updated = UPDATED
        .iter()
        .find(|(a, _)| *a == alias)
        .map_or("2026-11-01T00:00:00-00:00", |(_, u)| u);
    json!({"alias": alias, "name": name, "description": description,
           "updated": updated, "links": []})
}

pub async fn list() -> Json<Value> {
    let items: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| ext(a, n, d)).collect();
    Json(json!({ "extensions": items }))
}

pub async fn show(Path(alias): Path<String>) -> ApiResult<Json<Value>> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| Json(json!({"extension": ext(a, n, d)})))
        .ok_or_else(|| {
            ApiError::not_found_msg(
                "ExtensionNotFound",
                format!("Extension with alias {alias} does not exist"),
            )
        })
}
