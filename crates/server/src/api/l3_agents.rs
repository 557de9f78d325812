//! Neutron's `l3_agent_scheduler` extension (admin only): the routers an L3 agent
//! hosts (`/v2.0/agents/{id}/l3-routers`, list, add, remove) and the L3 agents
//! hosting a router (`/v2.0/routers/{id}/l3-agents`). Checks, statuses and error
//! types as Neutron's `l3_agentschedulers_db`: the add answers 201 with the JSON
//! body `null` (clients parse it), and does not look at the agent's liveness.

use super::common::to_value;
use super::resource::Resource;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::l3::{self, L3_AGENT_TYPE};
use crate::{AppState, RouterBinding};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use model::{Agent, Router};
use serde_json::{Value, json};

async fn agent(state: &AppState, id: &str) -> ApiResult<Agent> {
    state
        .store
        .get::<Agent>(id)
        .await?
        .ok_or_else(|| Agent::not_found(id))
}

/// `GET /v2.0/agents/{id}/l3-routers`: every project's routers on that agent
/// (none for an agent that is not an L3 agent).
pub async fn list_routers(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("get_l3-routers")?;
    let a = agent(&state, &agent_id).await?;
    let mut routers = Vec::new();
    if a.agent_type == L3_AGENT_TYPE {
        for b in state.store.list_by_parent::<RouterBinding>(&a.id).await? {
            if let Some(r) = state.store.get::<Router>(&b.router_id).await? {
                routers.push(r);
            }
        }
    }
    Router::render(&state, &mut routers).await?;
    Ok(Json(json!({ "routers": to_value(&routers) })))
}

fn invalid_agent(id: &str) -> ApiError {
    ApiError::not_found_msg(
        "InvalidL3Agent",
        format!("Agent {id} is not a L3 Agent or has been disabled"),
    )
}

/// `POST /v2.0/agents/{id}/l3-routers` `{"router_id"}`: 201 `null`.
pub async fn add_router(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(agent_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_admin("create_l3-router")?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let router_id = v
        .get("router_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Invalid input: router_id is required"))?;
    let mut tx = state.store.write().await?;
    if tx.get::<Router>(router_id).await?.is_none() {
        return Err(Router::not_found(router_id));
    }
    let a = tx
        .get::<Agent>(&agent_id)
        .await?
        .ok_or_else(|| Agent::not_found(&agent_id))?;
    if a.agent_type != L3_AGENT_TYPE || !a.admin_state_up {
        return Err(invalid_agent(&agent_id));
    }
    match tx.get::<RouterBinding>(router_id).await? {
        Some(b) if b.agent_id == a.id => {}
        Some(b) => {
            return Err(ApiError::conflict(
                "RouterHostedByL3Agent",
                format!(
                    "The router {router_id} has been already hosted by the L3 Agent {}.",
                    b.agent_id
                ),
            ));
        }
        None => {
            l3::bind(&mut tx, router_id, &a).await?;
            tx.commit().await?;
        }
    }
    Ok((StatusCode::CREATED, Json(Value::Null)))
}

/// `DELETE /v2.0/agents/{id}/l3-routers/{router_id}`: 204, also when the router
/// is not on that agent.
pub async fn remove_router(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((agent_id, router_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ctx.require_admin("delete_l3-router")?;
    let mut tx = state.store.write().await?;
    let a = tx
        .get::<Agent>(&agent_id)
        .await?
        .ok_or_else(|| Agent::not_found(&agent_id))?;
    if tx.get::<Router>(&router_id).await?.is_none() {
        return Err(Router::not_found(&router_id));
    }
    if tx
        .get::<RouterBinding>(&router_id)
        .await?
        .is_some_and(|b| b.agent_id == a.id)
    {
        l3::unbind(&mut tx, &router_id).await?;
        tx.commit().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2.0/routers/{id}/l3-agents`: the agent hosting it, with `ha_state`.
pub async fn list_agents(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(router_id): Path<String>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("get_l3-agents")?;
    if state.store.get::<Router>(&router_id).await?.is_none() {
        return Err(Router::not_found(&router_id));
    }
    let mut agents = Vec::new();
    if let Some(b) = state.store.get::<RouterBinding>(&router_id).await?
        && let Some(a) = state.store.get::<Agent>(&b.agent_id).await?
    {
        agents.push(a);
    }
    Agent::render(&state, &mut agents).await?;
    let items: Vec<Value> = agents
        .iter()
        .map(|a| {
            let mut v = to_value(a);
            if let Value::Object(m) = &mut v {
                m.insert("ha_state".into(), Value::Null);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "agents": items })))
}
