//! The agents' side of the API (`/agent-api/v1/…`, admin tokens only):
//! registration and heartbeats (an L2 agent per host, and an L3 agent on network
//! nodes), each host's desired state as a long poll, and port and floating IP
//! status reports.
//!
//! The watch is a long poll rather than a stream: `GET …/view?since=REV` answers
//! at once with the host's whole view when its view changed after `REV`, or
//! waits (up to `timeout` seconds) for a change to *this host's* view, then
//! answers 204. Views are kept per host from the store's change log
//! ([`cache::ViewCache`]): a commit wakes only the hosts whose view it changed,
//! and other servers' commits arrive through PostgreSQL's LISTEN/NOTIFY. A
//! host's view is small, the agent compiles the whole view anyway (compile is a
//! pure function of it), and resuming after a server restart, a failover to
//! another server or a network blip is just the next request with the same
//! `since` (revisions are the store's, the same on every server).

pub mod cache;
mod view;

pub use view::{L2_AGENT_TYPE, Snapshot, host_view};

use crate::AppState;
use crate::RouterBinding;
use crate::api::agents::register;
use crate::api::common::touch;
use crate::api::resource::Resource;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::l3::L3_AGENT_TYPE;
use crate::store::{Doc, Tx};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use model::{
    Agent, AgentReport, FloatingIp, FloatingIpStatusReport, Port, PortStatus, PortStatusReport,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent-api/v1/agents", post(report))
        .route("/agent-api/v1/hosts/{host}/view", get(view))
        .route("/agent-api/v1/hosts/{host}/port-status", put(port_status))
        .route(
            "/agent-api/v1/hosts/{host}/floatingip-status",
            put(floatingip_status),
        )
}

/// Longest wait a long poll may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

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
    let l3 = r.agent_type == L3_AGENT_TYPE;
    let mut conf = Map::new();
    if l3 {
        // Neutron's legacy L3 agent; the counts are filled in when shown.
        conf.insert("agent_mode".into(), json!("legacy"));
        conf.insert("handle_internal_only_routers".into(), json!(true));
        conf.insert("interface_driver".into(), json!("openvswitch"));
    } else {
        conf.insert("tunneling_ip".into(), json!(r.tunneling_ip));
        conf.insert("tunnel_types".into(), json!(r.tunnel_types));
        conf.insert("bridge_mappings".into(), json!(r.bridge_mappings));
        conf.insert("l2_population".into(), json!(true));
        conf.insert("arp_responder_enabled".into(), json!(true));
    }
    conf.insert("roles".into(), json!(r.roles));
    conf.insert("report_interval".into(), json!(r.report_interval_secs));
    let agent = Agent {
        id: String::new(),
        agent_type: r.agent_type,
        binary: r.binary,
        host: r.host,
        topic: if l3 { "l3_agent" } else { "N/A" }.into(),
        admin_state_up: true,
        alive: true,
        availability_zone: l3.then(|| "nova".into()),
        configurations: conf,
        description: None,
        created_at: String::new(),
        started_at: String::new(),
        heartbeat_timestamp: String::new(),
        resources_synced: Some(true),
    };
    let mut shown = [register(&state, agent).await?];
    Agent::render(&state, &mut shown).await?;
    Ok(Json(json!({ "agent": shown[0] })))
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
    state.views.ensure_current(&state.store, q.since).await?;
    let slot = state.views.slot(&state.store, &host).await?;
    let mut rx = slot.subscribe();
    loop {
        let current = rx.borrow_and_update().clone();
        // An agent ahead of this host's last change (it comes from another
        // server, which may have seen a view this one coalesced away) gets the
        // view at once.
        if let Some(b) = current
            && (b.rev != q.since || q.since <= 0)
        {
            let mut v = (*b.view).clone();
            v.revision = b.rev;
            return Ok(Json(v).into_response());
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

/// Refuses a report with a status outside `allowed`.
fn check_statuses(items: &[PortStatus], allowed: &[&str]) -> ApiResult<()> {
    match items.iter().find(|i| !allowed.contains(&i.status.as_str())) {
        Some(i) => Err(ApiError::invalid(format!(
            "Invalid input for status. Reason: '{}' is not one of {}.",
            i.status,
            allowed.join(", ")
        ))),
        None => Ok(()),
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
    check_statuses(&r.ports, &["ACTIVE", "DOWN", "BUILD"])?;
    let mut changed = Vec::new();
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
        changed.push(p);
    }
    save(tx, &changed).await
}

/// Writes the documents a status report changed and answers how many.
async fn save<T: Doc>(mut tx: Tx, changed: &[T]) -> ApiResult<Json<Value>> {
    for d in changed {
        tx.update(d).await?;
    }
    if !changed.is_empty() {
        tx.commit().await?;
    }
    Ok(Json(json!({ "updated": changed.len() })))
}

/// `PUT /agent-api/v1/hosts/{host}/floatingip-status`: the statuses of floating
/// IPs whose router is scheduled to `host`'s L3 agent and that are associated
/// with a port. Any other floating IP (another host's, unassociated, gone) is
/// skipped and not counted, as `port-status` does with ports bound elsewhere.
async fn floatingip_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
    Json(r): Json<FloatingIpStatusReport>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("update_floatingip_status")?;
    check_statuses(&r.floating_ips, &["ACTIVE", "DOWN", "ERROR"])?;
    let mut changed = Vec::new();
    let mut tx = state.store.write().await?;
    let agent = tx
        .list::<Agent>()
        .await?
        .into_iter()
        .find(|a| a.host == host && a.agent_type == L3_AGENT_TYPE);
    let Some(agent) = agent else {
        return Ok(Json(json!({ "updated": 0 })));
    };
    for s in &r.floating_ips {
        let Some(mut f) = tx.get::<FloatingIp>(&s.id).await? else {
            continue;
        };
        let Some(router_id) = f.router_id.clone().filter(|_| f.port_id.is_some()) else {
            continue;
        };
        let here = tx
            .get::<RouterBinding>(&router_id)
            .await?
            .is_some_and(|b| b.agent_id == agent.id);
        if !here || f.status == s.status {
            continue;
        }
        f.status = s.status.clone();
        touch(&mut f.revision_number, &mut f.updated_at);
        changed.push(f);
    }
    save(tx, &changed).await
}
