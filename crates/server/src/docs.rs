//! Which model types the store keeps, under which kind, looked up by what.

use crate::store::Doc;
use serde::{Deserialize, Serialize};

impl Doc for model::Network {
    const KIND: &'static str = "network";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::Subnet {
    const KIND: &'static str = "subnet";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn parent_id(&self) -> &str {
        &self.network_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::Port {
    const KIND: &'static str = "port";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn parent_id(&self) -> &str {
        &self.network_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::Router {
    const KIND: &'static str = "router";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::FloatingIp {
    const KIND: &'static str = "floatingip";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn parent_id(&self) -> &str {
        &self.floating_network_id
    }
}

impl Doc for model::SecurityGroup {
    const KIND: &'static str = "security_group";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::SecurityGroupRule {
    const KIND: &'static str = "security_group_rule";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn parent_id(&self) -> &str {
        &self.security_group_id
    }
}

impl Doc for model::Agent {
    const KIND: &'static str = "agent";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.host
    }
}

impl Doc for model::Domain {
    const KIND: &'static str = "domain";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::Project {
    const KIND: &'static str = "project";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent_id(&self) -> &str {
        &self.domain_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::User {
    const KIND: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent_id(&self) -> &str {
        &self.domain_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::Role {
    const KIND: &'static str = "role";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A role assignment as stored (its id is `project:user:role`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAssignment {
    pub id: String,
    #[serde(flatten)]
    pub assignment: model::RoleAssignment,
}

impl StoredAssignment {
    pub fn new(project_id: &str, user_id: &str, role_id: &str) -> Self {
        StoredAssignment {
            id: format!("{project_id}:{user_id}:{role_id}"),
            assignment: model::RoleAssignment {
                project_id: project_id.to_string(),
                user_id: user_id.to_string(),
                role_id: role_id.to_string(),
            },
        }
    }
}

impl Doc for StoredAssignment {
    const KIND: &'static str = "role_assignment";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.assignment.project_id
    }
    fn parent_id(&self) -> &str {
        &self.assignment.user_id
    }
}

/// The L3 agent a router is scheduled to (Neutron's `RouterL3AgentBinding`): at
/// most one per router (its id is the router's), looked up by agent as parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterBinding {
    pub router_id: String,
    pub agent_id: String,
}

impl Doc for RouterBinding {
    const KIND: &'static str = "router_l3_agent_binding";
    fn id(&self) -> &str {
        &self.router_id
    }
    fn parent_id(&self) -> &str {
        &self.agent_id
    }
}

impl Doc for model::MeteringLabel {
    const KIND: &'static str = "metering_label";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::MeteringLabelRule {
    const KIND: &'static str = "metering_label_rule";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent_id(&self) -> &str {
        &self.metering_label_id
    }
}

impl Doc for model::SubnetPool {
    const KIND: &'static str = "subnetpool";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::AddressScope {
    const KIND: &'static str = "address_scope";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Doc for model::RbacPolicy {
    const KIND: &'static str = "rbac_policy";
    fn id(&self) -> &str {
        &self.id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
    fn name(&self) -> &str {
        ""
    }
    fn parent_id(&self) -> &str {
        &self.object_id
    }
}
