//! The L3 scheduler: which L3 agent hosts each router (a [`RouterBinding`] in the
//! store), and what follows from it — the router's interface and gateway ports
//! bound to that agent's host, its floating IPs' status, the router's `status`
//! and the L3 agents' counts.
//!
//! Neutron's defaults: the least-routers scheduler, automatic scheduling, no
//! automatic failover. A router is scheduled when it has an interface or a
//! gateway and is not hosted by an admin-up agent (alive or not), to the alive,
//! admin-up L3 agent with the fewest routers (ties: the lowest agent id). With no
//! such agent it stays unscheduled, without an error, until the next change of
//! the router or until an L3 agent registers or comes back alive.

use crate::api::agents::is_alive;
use crate::api::common::touch;
use crate::api::ports::set_host;
use crate::error::ApiResult;
use crate::store::Tx;
use crate::{AppState, RouterBinding};
use model::{Agent, FloatingIp, Port, Router, device_owner};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The agent type of an L3 agent, as Neutron names it.
pub const L3_AGENT_TYPE: &str = "L3 agent";

/// A router's status while it is scheduled to an alive L3 agent.
const ACTIVE: &str = "ACTIVE";
/// A router's status otherwise: Neutron's value for a router not yet set up.
const ALLOCATING: &str = "ALLOCATING";

fn is_router_port(p: &Port) -> bool {
    p.device_owner == device_owner::ROUTER_INTERFACE
        || p.device_owner == device_owner::ROUTER_GATEWAY
}

/// The router's interface and gateway ports.
async fn ports_of(tx: &mut Tx, router_id: &str) -> ApiResult<Vec<Port>> {
    Ok(tx
        .list::<Port>()
        .await?
        .into_iter()
        .filter(|p| p.device_id == router_id && is_router_port(p))
        .collect())
}

/// The agent `router_id` is bound to, if any (and if that agent still exists).
async fn hosting_agent(tx: &mut Tx, router_id: &str) -> ApiResult<Option<Agent>> {
    let Some(b) = tx.get::<RouterBinding>(router_id).await? else {
        return Ok(None);
    };
    Ok(tx.get::<Agent>(&b.agent_id).await?)
}

/// The alive, admin-up L3 agent with the fewest routers (ties: lowest id).
async fn least_loaded(tx: &mut Tx, down: Duration) -> ApiResult<Option<Agent>> {
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for b in tx.list::<RouterBinding>().await? {
        *load.entry(b.agent_id).or_default() += 1;
    }
    Ok(tx
        .list::<Agent>()
        .await?
        .into_iter()
        .filter(|a| a.agent_type == L3_AGENT_TYPE && a.admin_state_up && is_alive(down, a))
        .min_by(|a, b| {
            let la = load.get(&a.id).copied().unwrap_or(0);
            let lb = load.get(&b.id).copied().unwrap_or(0);
            la.cmp(&lb).then_with(|| a.id.cmp(&b.id))
        }))
}

/// Schedules `router` if it needs an agent and has none that is admin-up, then
/// binds its ports to its agent's host (a port added since is bound at once).
/// Called in the transaction of every change to a router, its interfaces or its
/// floating IPs.
pub async fn sync_router(tx: &mut Tx, down: Duration, router: &Router) -> ApiResult<()> {
    let current = hosting_agent(tx, &router.id).await?;
    let target = match current {
        Some(a) if a.admin_state_up => Some(a),
        current => {
            let wanted = router.external_gateway_info.is_some()
                || !ports_of(tx, &router.id).await?.is_empty();
            let chosen = if wanted {
                least_loaded(tx, down).await?
            } else {
                None
            };
            if chosen.is_none() && wanted {
                tracing::warn!(router = %router.id, "no alive L3 agent: router not scheduled");
            }
            chosen.or(current)
        }
    };
    match target {
        Some(agent) => bind(tx, &router.id, &agent).await,
        None => Ok(()),
    }
}

/// Hosts `router_id` on `agent` (replacing another binding) and binds the
/// router's ports to the agent's host; each port that moves goes DOWN until the
/// agent reports it wired, and a move sets the router's floating IPs DOWN.
pub async fn bind(tx: &mut Tx, router_id: &str, agent: &Agent) -> ApiResult<()> {
    let binding = RouterBinding {
        router_id: router_id.to_string(),
        agent_id: agent.id.clone(),
    };
    match tx.get::<RouterBinding>(router_id).await? {
        Some(b) if b == binding => {}
        Some(_) => {
            tx.update(&binding).await?;
            floating_ips_down(tx, router_id).await?;
            tracing::info!(router = %router_id, agent = %agent.id, host = %agent.host, "router moved");
        }
        None => {
            tx.insert(&binding).await?;
            tracing::info!(router = %router_id, agent = %agent.id, host = %agent.host, "router scheduled");
        }
    }
    rehost_ports(tx, router_id, &agent.host).await
}

/// Takes `router_id` off its agent: its ports are unbound and DOWN, its floating
/// IPs DOWN. Nothing happens to a router that is not scheduled.
pub async fn unbind(tx: &mut Tx, router_id: &str) -> ApiResult<()> {
    if tx.get::<RouterBinding>(router_id).await?.is_none() {
        return Ok(());
    }
    tx.delete::<RouterBinding>(router_id).await?;
    rehost_ports(tx, router_id, "").await?;
    floating_ips_down(tx, router_id).await?;
    tracing::info!(router = %router_id, "router unscheduled");
    Ok(())
}

async fn rehost_ports(tx: &mut Tx, router_id: &str, host: &str) -> ApiResult<()> {
    for mut p in ports_of(tx, router_id).await? {
        if p.binding_host_id != host {
            set_host(&mut p, host);
            touch(&mut p.revision_number, &mut p.updated_at);
            tx.update(&p).await?;
        }
    }
    Ok(())
}

async fn floating_ips_down(tx: &mut Tx, router_id: &str) -> ApiResult<()> {
    for mut f in tx.list::<FloatingIp>().await? {
        if f.router_id.as_deref() == Some(router_id) && f.status != "DOWN" {
            f.status = "DOWN".into();
            touch(&mut f.revision_number, &mut f.updated_at);
            tx.update(&f).await?;
        }
    }
    Ok(())
}

/// Auto-scheduling: gives `agent` (an L3 agent that has just registered or come
/// back alive) every router that has an interface or a gateway and no admin-up
/// agent.
pub async fn auto_schedule(tx: &mut Tx, agent: &Agent) -> ApiResult<()> {
    if agent.agent_type != L3_AGENT_TYPE || !agent.admin_state_up {
        return Ok(());
    }
    let up: BTreeSet<String> = tx
        .list::<Agent>()
        .await?
        .into_iter()
        .filter(|a| a.admin_state_up)
        .map(|a| a.id)
        .collect();
    let hosted: BTreeSet<String> = tx
        .list::<RouterBinding>()
        .await?
        .into_iter()
        .filter(|b| up.contains(&b.agent_id))
        .map(|b| b.router_id)
        .collect();
    let routers: Vec<Router> = tx
        .list::<Router>()
        .await?
        .into_iter()
        .filter(|r| !hosted.contains(&r.id))
        .collect();
    if routers.is_empty() {
        return Ok(());
    }
    let with_ports: BTreeSet<String> = tx
        .list::<Port>()
        .await?
        .into_iter()
        .filter(is_router_port)
        .map(|p| p.device_id)
        .collect();
    for r in routers {
        if r.external_gateway_info.is_some() || with_ports.contains(&r.id) {
            bind(tx, &r.id, agent).await?;
        }
    }
    Ok(())
}

/// Removes what hangs off a deleted agent: its routers become unscheduled.
pub async fn agent_deleted(tx: &mut Tx, agent: &Agent) -> ApiResult<()> {
    for b in tx.list_by_parent::<RouterBinding>(&agent.id).await? {
        unbind(tx, &b.router_id).await?;
    }
    Ok(())
}

/// Sets each router's `status`: ACTIVE while it is scheduled to an alive L3
/// agent, ALLOCATING otherwise.
pub async fn render_routers(state: &AppState, routers: &mut [Router]) -> ApiResult<()> {
    if routers.is_empty() {
        return Ok(());
    }
    let down = state.config.agent_down_time;
    let alive: BTreeSet<String> = state
        .store
        .list::<Agent>()
        .await?
        .into_iter()
        .filter(|a| is_alive(down, a))
        .map(|a| a.id)
        .collect();
    let bindings: BTreeMap<String, String> = state
        .store
        .list::<RouterBinding>()
        .await?
        .into_iter()
        .map(|b| (b.router_id, b.agent_id))
        .collect();
    for r in routers {
        let up = bindings.get(&r.id).is_some_and(|a| alive.contains(a));
        r.status = if up { ACTIVE } else { ALLOCATING }.into();
    }
    Ok(())
}

/// Fills in the L3 agents' `configurations` counts of what is scheduled to
/// them: `routers`, `ex_gw_ports`, `interfaces`, `floating_ips`.
pub async fn render_agents(state: &AppState, agents: &mut [Agent]) -> ApiResult<()> {
    if !agents.iter().any(|a| a.agent_type == L3_AGENT_TYPE) {
        return Ok(());
    }
    let bindings: Vec<RouterBinding> = state.store.list().await?;
    let routers: BTreeMap<String, Router> = state
        .store
        .list::<Router>()
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let ports: Vec<Port> = state.store.list().await?;
    let fips: Vec<FloatingIp> = state.store.list().await?;
    for a in agents.iter_mut().filter(|a| a.agent_type == L3_AGENT_TYPE) {
        let mine: BTreeSet<&str> = bindings
            .iter()
            .filter(|b| b.agent_id == a.id)
            .map(|b| b.router_id.as_str())
            .collect();
        let gateways = mine
            .iter()
            .filter(|r| {
                routers
                    .get(**r)
                    .is_some_and(|r| r.external_gateway_info.is_some())
            })
            .count();
        let interfaces = ports
            .iter()
            .filter(|p| {
                p.device_owner == device_owner::ROUTER_INTERFACE
                    && mine.contains(p.device_id.as_str())
            })
            .count();
        let floating = fips
            .iter()
            .filter(|f| f.port_id.is_some())
            .filter(|f| f.router_id.as_deref().is_some_and(|r| mine.contains(r)))
            .count();
        let c = &mut a.configurations;
        c.insert("routers".into(), mine.len().into());
        c.insert("ex_gw_ports".into(), gateways.into());
        c.insert("interfaces".into(), interfaces.into());
        c.insert("floating_ips".into(), floating.into());
    }
    Ok(())
}
