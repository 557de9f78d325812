//! The agents' side of the API (`/agent-api/v1/…`, admin tokens only):
//! registration and heartbeats, each host's desired state as a long poll, and
//! port status reports.
//!
//! The watch is a long poll rather than a stream: `GET …/view?since=REV` answers
//! at once with the host's whole view when the store has moved past `REV`, or
//! waits (up to `timeout` seconds) for the next commit, then answers 204 if
//! nothing changed. A host's view is small, the agent compiles the whole view
//! anyway (compile is a pure function of it), and resuming after a server
//! restart or a network blip is just the next request with the same `since`.

mod view;

pub use view::{L2_AGENT_TYPE, Snapshot, host_view};

use crate::AppState;
use crate::api::agents::register;
use crate::api::common::touch;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use model::{Agent, AgentReport, Network, Port, PortStatusReport, Subnet};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent-api/v1/agents", post(report))
        .route("/agent-api/v1/hosts/{host}/view", get(view))
        .route("/agent-api/v1/hosts/{host}/port-status", put(port_status))
}

/// Longest wait a long poll may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting poll re-reads the revision (writes by other servers that
/// share a PostgreSQL store are not signalled in-process).
const RECHECK: Duration = Duration::from_secs(1);

/// `POST /agent-api/v1/agents`: register or heartbeat.
async fn report(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(r): Json<AgentReport>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("report_agent")?;
    if r.host.is_empty() || r.host.len() > 255 {
        return Err(ApiError::invalid(
            "Invalid input for host: must be 1-255 bytes",
        ));
    }
    if let Some(ip) = &r.tunneling_ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(ApiError::invalid(format!(
            "Invalid input for tunneling_ip. Reason: '{ip}' is not a valid IP address."
        )));
    }
    let mut conf = Map::new();
    conf.insert("tunneling_ip".into(), json!(r.tunneling_ip));
    conf.insert("tunnel_types".into(), json!(r.tunnel_types));
    conf.insert("bridge_mappings".into(), json!(r.bridge_mappings));
    conf.insert("roles".into(), json!(r.roles));
    conf.insert("report_interval".into(), json!(r.report_interval_secs));
    conf.insert("l2_population".into(), json!(true));
    conf.insert("arp_responder_enabled".into(), json!(true));
    let agent = Agent {
        id: String::new(),
        agent_type: r.agent_type,
        binary: r.binary,
        host: r.host,
        topic: "N/A".into(),
        admin_state_up: true,
        alive: true,
        availability_zone: None,
        configurations: conf,
        description: None,
        created_at: String::new(),
        started_at: String::new(),
        heartbeat_timestamp: String::new(),
        resources_synced: Some(true),
    };
    let a = register(&state, agent).await?;
    Ok(Json(json!({ "agent": a })))
}

#[derive(Debug, Deserialize)]
struct ViewQuery {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    timeout: u64,
}

/// `GET /agent-api/v1/hosts/{host}/view?since=REV&timeout=SECS`.
async fn view(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
    Query(q): Query<ViewQuery>,
) -> ApiResult<Response> {
    ctx.require_admin("get_host_view")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(q.timeout).min(MAX_WAIT);
    loop {
        let revision = state.store.revision().await?;
        if revision > q.since || q.since <= 0 {
            let agents: Vec<Agent> = state.store.list().await?;
            let networks: Vec<Network> = state.store.list().await?;
            let subnets: Vec<Subnet> = state.store.list().await?;
            let ports: Vec<Port> = state.store.list().await?;
            let snap = Snapshot {
                revision,
                agents: &agents,
                networks: &networks,
                subnets: &subnets,
                ports: &ports,
            };
            return Ok(Json(host_view(&host, &snap)).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        state
            .store
            .wait_for_commit(q.since, (deadline - now).min(RECHECK))
            .await;
    }
}

/// `PUT /agent-api/v1/hosts/{host}/port-status`: the statuses of ports bound to
/// `host` (ports bound elsewhere, or gone, are skipped and not counted).
async fn port_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
    Json(r): Json<PortStatusReport>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("update_port_status")?;
    for p in &r.ports {
        if p.status != "ACTIVE" && p.status != "DOWN" && p.status != "BUILD" {
            return Err(ApiError::invalid(format!(
                "Invalid input for status. Reason: '{}' is not one of ACTIVE, DOWN, BUILD.",
                p.status
            )));
        }
    }
    let mut updated = 0usize;
    let mut tx = state.store.write().await?;
    for s in &r.ports {
        let Some(mut p) = tx.get::<Port>(&s.id).await? else {
            continue;
        };
        if p.binding_host_id != host || p.status == s.status {
            continue;
        }
        p.status = s.status.clone();
        touch(&mut p.revision_number, &mut p.updated_at);
        tx.update(&p).await?;
        updated += 1;
    }
    if updated > 0 {
        tx.commit().await?;
    }
    Ok(Json(json!({ "updated": updated })))
}
