//! `/v2.0/agents` (admin only): list, show, update (`admin_state_up`,
//! `description`), delete. Agents register through [`register`]; `alive` comes
//! from the age of the last heartbeat.

use super::common::{Attrs, list_body, one, show_body};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use model::Agent;
use serde_json::Value;

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found("AgentNotFound", "Agent", id)
}

fn with_alive(state: &AppState, mut a: Agent) -> Agent {
    let down = chrono::Duration::from_std(state.config.agent_down_time)
        .unwrap_or(chrono::Duration::seconds(75));
    a.alive = chrono::NaiveDateTime::parse_from_str(&a.heartbeat_timestamp, "%Y-%m-%d %H:%M:%S")
        .map(|t| chrono::Utc::now().naive_utc() - t < down)
        .unwrap_or(false);
    a
}

/// Registers an agent or records its heartbeat (same host and type: same agent).
pub async fn register(state: &AppState, mut agent: Agent) -> ApiResult<Agent> {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let mut tx = state.store.write().await?;
    let existing = tx
        .list::<Agent>()
        .await?
        .into_iter()
        .find(|a| a.host == agent.host && a.agent_type == agent.agent_type);
    match existing {
        Some(old) => {
            agent.id = old.id;
            agent.created_at = old.created_at;
            agent.admin_state_up = old.admin_state_up;
            agent.description = old.description;
            agent.heartbeat_timestamp = now;
            tx.update(&agent).await?;
        }
        None => {
            if agent.id.is_empty() {
                agent.id = new_id();
            }
            agent.created_at = now.clone();
            agent.started_at = now.clone();
            agent.heartbeat_timestamp = now;
            tx.insert(&agent).await?;
        }
    }
    tx.commit().await?;
    Ok(with_alive(state, agent))
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("get_agent")?;
    let items: Vec<Agent> = state
        .store
        .list::<Agent>()
        .await?
        .into_iter()
        .map(|a| with_alive(&state, a))
        .collect();
    list_body(&state, &headers, "agents", &items, &q)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("get_agent")?;
    let a = state
        .store
        .get::<Agent>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(show_body("agent", &with_alive(&state, a), &q))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("update_agent")?;
    let attrs = Attrs::from_body(&body, "agent")?;
    let mut tx = state.store.write().await?;
    let mut a = tx.get::<Agent>(&id).await?.ok_or_else(|| not_found(&id))?;
    if let Some(v) = attrs.bool("admin_state_up")? {
        a.admin_state_up = v;
    }
    if let Some(v) = attrs.nullable_str("description")? {
        a.description = v;
    }
    tx.update(&a).await?;
    tx.commit().await?;
    Ok(one("agent", &with_alive(&state, a)))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    ctx.require_admin("delete_agent")?;
    let mut tx = state.store.write().await?;
    if tx.get::<Agent>(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    tx.delete::<Agent>(&id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
