//! `/v2.0/floatingips`: addresses from an external network's subnets (each held by
//! a `network:floatingip` port), associated with a port's fixed IP through a
//! router that has a gateway on that network and an interface on the port's subnet.

use super::common::{Attrs, created, one, retry, touch};
use super::ports::{IpRequest, allocate_ips, allocate_mac, blank_port, remove_port};
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::l3;
use crate::store::Tx;
use crate::util::{new_id, now};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use model::{FloatingIp, Port, Router, device_owner};
use serde_json::Value;

/// Points `f` at `port_id` (and one of its fixed IPs).
async fn associate(
    tx: &mut Tx,
    ctx: &Ctx,
    f: &mut FloatingIp,
    port_id: &str,
    fixed_ip: Option<String>,
) -> ApiResult<()> {
    let port = tx
        .get::<Port>(port_id)
        .await?
        .filter(|p| ctx.owns(&p.project_id))
        .ok_or_else(|| Port::not_found(port_id))?;
    let fixed = match &fixed_ip {
        Some(ip) => port
            .fixed_ips
            .iter()
            .find(|x| x.ip_address == *ip)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have fixed ip {ip}."
                ))
            })?,
        None => port
            .fixed_ips
            .iter()
            .find(|x| !x.ip_address.contains(':'))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have any IPv4 fixed IP addresses."
                ))
            })?,
    }
    .clone();
    // A router with a gateway on the floating network and an interface on the subnet.
    let mut router_id = None;
    for r in tx.list::<Router>().await? {
        if r.external_gateway_info
            .as_ref()
            .map(|g| g.network_id.as_str())
            != Some(f.floating_network_id.as_str())
        {
            continue;
        }
        let has_interface = tx
            .list_by_parent::<Port>(&port.network_id)
            .await?
            .iter()
            .any(|p| {
                p.device_id == r.id
                    && p.device_owner == device_owner::ROUTER_INTERFACE
                    && p.fixed_ips.iter().any(|x| x.subnet_id == fixed.subnet_id)
            });
        if has_interface {
            router_id = Some(r.id);
            break;
        }
    }
    let router_id = router_id.ok_or_else(|| {
        ApiError::not_found_msg(
            "ExternalGatewayForFloatingIPNotFound",
            format!(
                "External network {} is not reachable from subnet {}. Therefore, cannot associate Port {port_id} with a Floating IP.",
                f.floating_network_id, fixed.subnet_id
            ),
        )
    })?;
    for other in tx
        .list_by_parent::<FloatingIp>(&f.floating_network_id)
        .await?
    {
        if other.id != f.id
            && other.port_id.as_deref() == Some(port_id)
            && other.fixed_ip_address.as_deref() == Some(fixed.ip_address.as_str())
        {
            return Err(ApiError::conflict(
                "FloatingIPPortAlreadyAssociated",
                format!(
                    "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                    f.floating_ip_address, f.id, fixed.ip_address, f.floating_network_id
                ),
            ));
        }
    }
    f.port_id = Some(port_id.to_string());
    f.fixed_ip_address = Some(fixed.ip_address);
    f.router_id = Some(router_id);
    // ACTIVE only once the router's L3 agent reports the NAT in place.
    f.status = "DOWN".into();
    Ok(())
}

/// Detaches `f` from its port (it stays allocated to its project).
pub(super) fn disassociate(f: &mut FloatingIp) {
    f.port_id = None;
    f.fixed_ip_address = None;
    f.router_id = None;
    f.status = "DOWN".into();
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_floatingip")?;
    let a = Attrs::from_body(&body, "floatingip")?;
    a.admin_only(&ctx, "create_floatingip", &["floating_ip_address"])?;
    let project = a.project(&ctx, "create_floatingip")?;
    let network_id = a.str("floating_network_id")?.ok_or_else(|| {
        ApiError::invalid("Invalid input for operation: floating_network_id is required.")
    })?;
    let net = super::networks::visible(&state, &ctx, &network_id).await?;
    if !super::common::external_to_caller(&ctx, &net) {
        return Err(ApiError::bad_request(format!(
            "Bad floatingip request: Network {network_id} is not a valid external network."
        )));
    }
    let request = match (a.str("subnet_id")?, a.str("floating_ip_address")?) {
        (None, None) => None,
        (subnet_id, ip_address) => Some(vec![IpRequest {
            subnet_id,
            ip_address,
        }]),
    };
    let port_id = a.str("port_id")?;
    let fixed_ip = a.str("fixed_ip_address")?;
    let f = retry!({
        let mut tx = state.store.write().await?;
        super::quotas::check(&mut tx, &project, "floatingip", 1).await?;
        let id = new_id();
        let pid = new_id();
        let mac = allocate_mac(&mut tx, None, &pid).await?;
        let ips = allocate_ips(&mut tx, &network_id, request.clone(), &pid, true).await?;
        let ip = ips.first().map(|x| x.ip_address.clone()).ok_or_else(|| {
            ApiError::conflict(
                "IpAddressGenerationFailure",
                format!("No more IP addresses available on network {network_id}."),
            )
        })?;
        let mut p = blank_port(pid, &network_id, "", mac, ips);
        p.device_owner = device_owner::FLOATING_IP.into();
        p.device_id = id.clone();
        p.port_security_enabled = false;
        p.status = "N/A".into();
        tx.insert(&p).await?;
        let ts = now();
        let mut f = FloatingIp {
            id,
            description: a.str("description")?.unwrap_or_default(),
            project_id: project.clone(),
            tenant_id: project.clone(),
            floating_network_id: network_id.clone(),
            floating_ip_address: ip,
            fixed_ip_address: None,
            port_id: None,
            router_id: None,
            status: "DOWN".into(),
            tags: Vec::new(),
            revision_number: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        if let Some(port) = &port_id {
            associate(&mut tx, &ctx, &mut f, port, fixed_ip.clone()).await?;
        }
        tx.insert(&f).await?;
        sync_routers(&mut tx, &state, [f.router_id.as_deref()]).await?;
        tx.commit().await?;
        Ok(f)
    })?;
    tracing::info!(id = %f.id, ip = %f.floating_ip_address, "floating IP allocated");
    Ok(created("floatingip", &f))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_floatingip")?;
    let a = Attrs::from_body(&body, "floatingip")?;
    a.read_only(&[
        "id",
        "floating_ip_address",
        "floating_network_id",
        "project_id",
        "tenant_id",
    ])?;
    let mut tx = state.store.write().await?;
    let mut f: FloatingIp =
        fetch_writable(&mut tx, &ctx, &headers, &id, "update_floatingip").await?;
    let old_router = f.router_id.clone();
    if a.0.is_empty() {
        // An empty update dissociates, as Neutron's (a non-empty one without
        // port_id keeps the association: its bug 1610045).
        disassociate(&mut f);
    } else if let Some(port) = a.nullable_str("port_id")? {
        match port {
            None => disassociate(&mut f),
            Some(p) => associate(&mut tx, &ctx, &mut f, &p, a.str("fixed_ip_address")?).await?,
        }
    }
    if let Some(d) = a.str("description")? {
        f.description = d;
    }
    touch(&mut f.revision_number, &mut f.updated_at);
    tx.update(&f).await?;
    sync_routers(
        &mut tx,
        &state,
        [old_router.as_deref(), f.router_id.as_deref()],
    )
    .await?;
    tx.commit().await?;
    Ok(one("floatingip", &f))
}

/// A floating IP change is a change of its router (or routers, when it moves):
/// [`l3::sync_router`] schedules one that is not yet.
async fn sync_routers<const N: usize>(
    tx: &mut Tx,
    state: &AppState,
    ids: [Option<&str>; N],
) -> ApiResult<()> {
    for id in ids.into_iter().flatten() {
        if let Some(r) = tx.get::<Router>(id).await? {
            l3::sync_router(tx, state.config.agent_down_time, &r).await?;
        }
    }
    Ok(())
}

impl Resource for FloatingIp {
    const MEMBER: &'static str = "floatingip";
    const COLLECTION: &'static str = "floatingips";
    const NOT_FOUND: (&'static str, &'static str) = ("FloatingIPNotFound", "Floating IP");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    /// Frees the address: removes the port that holds it.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, f: &FloatingIp) -> ApiResult<()> {
        for p in tx.list_by_parent::<Port>(&f.floating_network_id).await? {
            if p.device_owner == device_owner::FLOATING_IP && p.device_id == f.id {
                remove_port(tx, &p).await?;
            }
        }
        Ok(())
    }
}
