//! `/v2.0/agents` (admin only): list, show, update (`admin_state_up`,
//! `description`), delete. Agents register through [`register`]; `alive` comes
//! from the age of the last heartbeat.

use super::common::{Attrs, one};
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::ApiResult;
use crate::identity::Ctx;
use crate::l3;
use crate::store::Tx;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use model::Agent;
use serde_json::Value;
use std::time::Duration;

/// Whether `a`'s last heartbeat is younger than `down_time`.
pub(crate) fn is_alive(down_time: Duration, a: &Agent) -> bool {
    let down = chrono::Duration::from_std(down_time).unwrap_or(chrono::Duration::seconds(75));
    chrono::NaiveDateTime::parse_from_str(&a.heartbeat_timestamp, "%Y-%m-%d %H:%M:%S")
        .map(|t| chrono::Utc::now().naive_utc() - t < down)
        .unwrap_or(false)
}

/// Whether `a`'s last heartbeat is younger than the configured down time.
fn alive(state: &AppState, a: &Agent) -> bool {
    is_alive(state.config.agent_down_time, a)
}

fn with_alive(state: &AppState, mut a: Agent) -> Agent {
    a.alive = alive(state, &a);
    a
}

/// Registers an agent or records its heartbeat (same host and type: same agent).
/// An L3 agent that is new or comes back alive takes the routers no admin-up
/// agent hosts (auto-scheduling).
pub async fn register(state: &AppState, mut agent: Agent) -> ApiResult<Agent> {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    let mut tx = state.store.write().await?;
    let existing = tx
        .list::<Agent>()
        .await?
        .into_iter()
        .find(|a| a.host == agent.host && a.agent_type == agent.agent_type);
    let revived = match existing {
        Some(old) => {
            let revived = !alive(state, &old);
            agent.id = old.id.clone();
            agent.created_at = old.created_at.clone();
            agent.started_at = if revived { now.clone() } else { old.started_at };
            agent.admin_state_up = old.admin_state_up;
            agent.description = old.description;
            agent.heartbeat_timestamp = now;
            tx.update(&agent).await?;
            revived
        }
        None => {
            if agent.id.is_empty() {
                agent.id = new_id();
            }
            agent.created_at = now.clone();
            agent.started_at = now.clone();
            agent.heartbeat_timestamp = now;
            tx.insert(&agent).await?;
            true
        }
    };
    if revived {
        l3::auto_schedule(&mut tx, &agent).await?;
    }
    tx.commit().await?;
    Ok(with_alive(state, agent))
}

/// Agents are admin only; any admin sees and changes every agent.
impl Resource for Agent {
    const MEMBER: &'static str = "agent";
    const COLLECTION: &'static str = "agents";
    const NOT_FOUND: (&'static str, &'static str) = ("AgentNotFound", "Agent");

    fn revision(&self) -> Option<u64> {
        None
    }

    /// Agents are the admin's only: others list none and are told an agent does
    /// not exist (Neutron's `get_agent: admin_only` filters, it does not refuse).
    fn visible(ctx: &Ctx, _agent: &Self) -> bool {
        ctx.is_admin()
    }

    fn may_write(ctx: &Ctx, action: &str) -> ApiResult<()> {
        ctx.require_admin(action)
    }

    /// `alive`, from the age of the last heartbeat; an L3 agent's counts.
    async fn render(state: &AppState, agents: &mut [Agent]) -> ApiResult<()> {
        for a in agents.iter_mut() {
            a.alive = alive(state, a);
        }
        l3::render_agents(state, agents).await
    }

    /// Its routers become unscheduled.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, agent: &Agent) -> ApiResult<()> {
        l3::agent_deleted(tx, agent).await
    }
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
    let mut a: Agent =
        fetch_writable(&mut tx, &ctx, &HeaderMap::new(), &id, "update_agent").await?;
    if let Some(v) = attrs.bool("admin_state_up")? {
        a.admin_state_up = v;
    }
    if let Some(v) = attrs.nullable_str("description")? {
        a.description = v;
    }
    tx.update(&a).await?;
    tx.commit().await?;
    let mut shown = [a];
    Agent::render(&state, &mut shown).await?;
    Ok(one("agent", &shown[0]))
}
