//! Agents (one per host and kind), as `GET /v2.0/agents` shows them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: String,
    pub agent_type: String,
    pub binary: String,
    pub host: String,
    pub topic: String,
    pub admin_state_up: bool,
    pub alive: bool,
    pub availability_zone: Option<String>,
    pub configurations: serde_json::Map<String, serde_json::Value>,
    pub description: Option<String>,
    pub created_at: String,
    pub started_at: String,
    pub heartbeat_timestamp: String,
    pub resources_synced: Option<bool>,
}
