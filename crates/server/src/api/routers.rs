//! `/v2.0/routers`: external gateways (with SNAT and external fixed IPs) and
//! router interfaces added or removed by subnet or by port.

use super::common::{Attrs, created, network_visible, one, retry, touch};
use super::ports::{
    IpRequest, allocate_ips, allocate_mac, blank_port, parse_fixed_ips, remove_port,
};
use super::resource::{Resource, fetch_writable};
use super::router_routes;
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
use ipnet::IpNet;
use model::{
    ExternalFixedIp, ExternalGatewayInfo, FloatingIp, Network, Port, Router, RouterInterfaceInfo,
    Subnet, device_owner,
};
use serde_json::{Map, Value};

fn bad_router(msg: String) -> ApiError {
    ApiError::bad_request(format!("Bad router request: {msg}."))
}

/// The router's ports of one kind.
async fn router_ports(tx: &mut Tx, router_id: &str, owner: &str) -> ApiResult<Vec<Port>> {
    Ok(tx
        .list::<Port>()
        .await?
        .into_iter()
        .filter(|p| p.device_id == router_id && p.device_owner == owner)
        .collect())
}

/// Gives `r` a gateway on the external network named by `info`.
async fn set_gateway(
    tx: &mut Tx,
    ctx: &Ctx,
    r: &mut Router,
    info: &Map<String, Value>,
) -> ApiResult<()> {
    let network_id = info
        .get("network_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid(
                "Invalid input for external_gateway_info. Reason: network_id is required.",
            )
        })?
        .to_string();
    let enable_snat = match info.get("enable_snat") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => {
            if !ctx.is_admin() && !*b {
                return Err(ApiError::forbidden(
                    "update_router:external_gateway_info:enable_snat",
                ));
            }
            *b
        }
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "'{v}' cannot be converted to boolean"
            )));
        }
    };
    let fixed = match info.get("external_fixed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if !ctx.is_admin() {
                return Err(ApiError::forbidden(
                    "update_router:external_gateway_info:external_fixed_ips",
                ));
            }
            Some(parse_fixed_ips(items.clone())?)
        }
        Some(v) => return Err(ApiError::invalid(format!("'{v}' is not a valid list"))),
    };
    let net = tx
        .get::<Network>(&network_id)
        .await?
        .filter(|n| network_visible(ctx, n))
        .ok_or_else(|| Network::not_found(&network_id))?;
    if !super::common::external_to_caller(ctx, &net) {
        return Err(bad_router(format!(
            "Network {network_id} is not an external network"
        )));
    }
    let id = new_id();
    let mac = allocate_mac(tx, None, &id).await?;
    let ips = allocate_ips(tx, &network_id, fixed, &id, true).await?;
    let mut p = blank_port(id, &network_id, "", mac, ips);
    p.device_owner = device_owner::ROUTER_GATEWAY.into();
    p.device_id = r.id.clone();
    p.port_security_enabled = false;
    tx.insert(&p).await?;
    r.external_gateway_info = Some(ExternalGatewayInfo {
        network_id,
        enable_snat,
        external_fixed_ips: p
            .fixed_ips
            .iter()
            .map(|f| ExternalFixedIp {
                subnet_id: f.subnet_id.clone(),
                ip_address: f.ip_address.clone(),
            })
            .collect(),
    });
    Ok(())
}

/// Removes `r`'s gateway; refused while floating IPs go through it.
async fn clear_gateway(tx: &mut Tx, r: &mut Router) -> ApiResult<()> {
    let Some(info) = &r.external_gateway_info else {
        return Ok(());
    };
    if tx
        .list::<FloatingIp>()
        .await?
        .iter()
        .any(|f| f.router_id.as_deref() == Some(r.id.as_str()))
    {
        return Err(ApiError::conflict(
            "RouterExternalGatewayInUseByFloatingIp",
            format!(
                "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
                r.id, info.network_id
            ),
        ));
    }
    for p in router_ports(tx, &r.id, device_owner::ROUTER_GATEWAY).await? {
        remove_port(tx, &p).await?;
    }
    r.external_gateway_info = None;
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_router")?;
    let a = Attrs::from_body(&body, "router")?;
    a.admin_only(&ctx, "create_router", &["distributed", "ha"])?;
    router_routes::refuse_on_create(a.list("routes")?)?;
    let project = a.project(&ctx, "create_router")?;
    let gw = a.object("external_gateway_info")?.filter(|m| !m.is_empty());
    let r = retry!({
        let mut tx = state.store.write().await?;
        super::quotas::check(&mut tx, &project, "router", 1).await?;
        let ts = now();
        let mut r = Router {
            id: new_id(),
            name: a.str("name")?.unwrap_or_default(),
            description: a.str("description")?.unwrap_or_default(),
            project_id: project.clone(),
            tenant_id: project.clone(),
            admin_state_up: a.bool("admin_state_up")?.unwrap_or(true),
            // Shown as l3::render_routers says: ACTIVE once on an alive agent.
            status: "ALLOCATING".into(),
            external_gateway_info: None,
            routes: Vec::new(),
            distributed: false,
            ha: false,
            availability_zone_hints: Vec::new(),
            availability_zones: vec!["nova".into()],
            tags: Vec::new(),
            revision_number: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        if let Some(info) = &gw {
            set_gateway(&mut tx, &ctx, &mut r, info).await?;
        }
        tx.insert(&r).await?;
        l3::sync_router(&mut tx, state.config.agent_down_time, &r).await?;
        tx.commit().await?;
        Ok(r)
    })?;
    let r = rendered(&state, r).await?;
    tracing::info!(id = %r.id, name = %r.name, "router created");
    Ok(created("router", &r))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_router")?;
    let a = Attrs::from_body(&body, "router")?;
    a.admin_only(&ctx, "update_router", &["distributed", "ha"])?;
    a.read_only(&["id", "project_id", "tenant_id", "status"])?;
    let routes = a
        .list_or_null("routes")?
        .map(router_routes::parse)
        .transpose()?;
    let r = retry!({
        let mut tx = state.store.write().await?;
        let mut r: Router = fetch_writable(&mut tx, &ctx, &headers, &id, "update_router").await?;
        // As Neutron: the routes are checked against the ports before a gateway
        // change in the same request.
        if let Some(routes) = &routes {
            router_routes::check_nexthops(&mut tx, &r.id, routes).await?;
            r.routes = routes.clone();
        }
        if a.has("external_gateway_info") {
            let want = a.object("external_gateway_info")?.filter(|m| !m.is_empty());
            let same_net = match (&want, &r.external_gateway_info) {
                (Some(w), Some(cur)) => {
                    w.get("network_id").and_then(Value::as_str) == Some(cur.network_id.as_str())
                        && w.get("external_fixed_ips").is_none()
                }
                _ => false,
            };
            if same_net {
                if let (Some(w), Some(cur)) = (&want, &mut r.external_gateway_info)
                    && let Some(snat) = w.get("enable_snat").and_then(Value::as_bool)
                {
                    if !ctx.is_admin() && !snat {
                        return Err(ApiError::forbidden(
                            "update_router:external_gateway_info:enable_snat",
                        ));
                    }
                    cur.enable_snat = snat;
                }
            } else {
                clear_gateway(&mut tx, &mut r).await?;
                if let Some(info) = &want {
                    set_gateway(&mut tx, &ctx, &mut r, info).await?;
                }
            }
        }
        if let Some(v) = a.str("name")? {
            r.name = v;
        }
        if let Some(v) = a.str("description")? {
            r.description = v;
        }
        if let Some(v) = a.bool("admin_state_up")? {
            r.admin_state_up = v;
        }
        touch(&mut r.revision_number, &mut r.updated_at);
        tx.update(&r).await?;
        l3::sync_router(&mut tx, state.config.agent_down_time, &r).await?;
        tx.commit().await?;
        Ok(r)
    })?;
    Ok(one("router", &rendered(&state, r).await?))
}

/// `r` with its status as shown.
pub(super) async fn rendered(state: &AppState, r: Router) -> ApiResult<Router> {
    let mut shown = [r];
    l3::render_routers(state, &mut shown).await?;
    let [r] = shown;
    Ok(r)
}

impl Resource for Router {
    const MEMBER: &'static str = "router";
    const COLLECTION: &'static str = "routers";
    const NOT_FOUND: (&'static str, &'static str) = ("RouterNotFound", "Router");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    /// `status`, from the router's L3 agent.
    async fn render(state: &AppState, routers: &mut [Router]) -> ApiResult<()> {
        l3::render_routers(state, routers).await
    }

    /// Refused while it has interfaces; its gateway (and the port holding the
    /// gateway's address) and its L3 agent binding go with it.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, r: &Router) -> ApiResult<()> {
        let id = &r.id;
        if !router_ports(tx, id, device_owner::ROUTER_INTERFACE)
            .await?
            .is_empty()
        {
            return Err(ApiError::conflict(
                "RouterInUse",
                format!("Router {id} still has ports"),
            ));
        }
        clear_gateway(tx, &mut r.clone()).await?;
        l3::unbind(tx, id).await
    }
}

fn interface_info(r: &Router, p: &Port) -> RouterInterfaceInfo {
    let subnets: Vec<String> = p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
    RouterInterfaceInfo {
        id: r.id.clone(),
        project_id: r.project_id.clone(),
        tenant_id: r.project_id.clone(),
        port_id: p.id.clone(),
        network_id: p.network_id.clone(),
        subnet_id: subnets.first().cloned().unwrap_or_default(),
        subnet_ids: subnets,
    }
}

/// Reads `{"subnet_id"}` or `{"port_id"}` (exactly one).
fn interface_target(body: &Bytes) -> ApiResult<(Option<String>, Option<String>)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    for k in ["subnet_id", "port_id"] {
        if let Some(id) = get(k)
            && uuid::Uuid::parse_str(&id).is_err()
        {
            return Err(ApiError::invalid(format!(
                "Invalid input for {k}. Reason: '{id}' is not a valid UUID."
            )));
        }
    }
    match (get("subnet_id"), get("port_id")) {
        (Some(_), Some(_)) => Err(bad_router(
            "Cannot specify both subnet-id and port-id".into(),
        )),
        (None, None) => Err(bad_router(
            "Either subnet_id or port_id must be specified".into(),
        )),
        t => Ok(t),
    }
}

async fn owned_router(tx: &mut Tx, ctx: &Ctx, id: &str) -> ApiResult<Router> {
    tx.get::<Router>(id)
        .await?
        .filter(|r| ctx.owns(&r.project_id))
        .ok_or_else(|| Router::not_found(id))
}

/// `PUT /v2.0/routers/{id}/add_router_interface`.
pub async fn add_interface(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("add_router_interface")?;
    let (subnet_id, port_id) = interface_target(&body)?;
    let info = retry!({
        let mut tx = state.store.write().await?;
        let mut r = owned_router(&mut tx, &ctx, &id).await?;
        let existing = router_ports(&mut tx, &id, device_owner::ROUTER_INTERFACE).await?;
        let mut existing_subnets = Vec::new();
        for p in &existing {
            for f in &p.fixed_ips {
                if let Some(s) = tx.get::<Subnet>(&f.subnet_id).await? {
                    existing_subnets.push(s);
                }
            }
        }
        let port = match (&subnet_id, &port_id) {
            (Some(sid), _) => {
                let s = tx
                    .get::<Subnet>(sid)
                    .await?
                    .filter(|s| ctx.owns(&s.project_id))
                    .ok_or_else(|| Subnet::not_found(sid))?;
                let gw = s.gateway_ip.clone().ok_or_else(|| {
                    bad_router(format!(
                        "Subnet {sid} for router interface must have a gateway IP"
                    ))
                })?;
                if existing_subnets.iter().any(|e| e.id == s.id) {
                    return Err(bad_router(format!(
                        "Router already has a port on subnet {sid}"
                    )));
                }
                check_overlap(&existing_subnets, &s)?;
                if let Some(n) = tx.get::<Network>(&s.network_id).await?
                    && n.router_external
                {
                    return Err(bad_router(format!(
                        "Router {id} cannot have an interface on external network {}",
                        n.id
                    )));
                }
                let pid = new_id();
                let mac = allocate_mac(&mut tx, None, &pid).await?;
                let req = vec![IpRequest {
                    subnet_id: Some(s.id.clone()),
                    ip_address: Some(gw),
                }];
                let ips = allocate_ips(&mut tx, &s.network_id, Some(req), &pid, false).await?;
                let mut p = blank_port(pid, &s.network_id, &s.project_id, mac, ips);
                p.device_owner = device_owner::ROUTER_INTERFACE.into();
                p.device_id = id.clone();
                p.port_security_enabled = false;
                tx.insert(&p).await?;
                p
            }
            (None, Some(pid)) => {
                let mut p = tx
                    .get::<Port>(pid)
                    .await?
                    .filter(|p| ctx.owns(&p.project_id))
                    .ok_or_else(|| Port::not_found(pid))?;
                if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                    return Err(ApiError::conflict(
                        "PortInUse",
                        format!(
                            "Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.",
                            p.network_id, p.device_id
                        ),
                    ));
                }
                if p.fixed_ips.is_empty() {
                    return Err(bad_router(format!(
                        "Router port {pid} must have at least one fixed IP"
                    )));
                }
                for f in &p.fixed_ips {
                    if let Some(s) = tx.get::<Subnet>(&f.subnet_id).await? {
                        if existing_subnets.iter().any(|e| e.id == s.id) {
                            return Err(bad_router(format!(
                                "Router already has a port on subnet {}",
                                s.id
                            )));
                        }
                        check_overlap(&existing_subnets, &s)?;
                    }
                }
                p.device_owner = device_owner::ROUTER_INTERFACE.into();
                p.device_id = id.clone();
                p.security_groups.clear();
                touch(&mut p.revision_number, &mut p.updated_at);
                tx.update(&p).await?;
                p
            }
            (None, None) => {
                return Err(bad_router(
                    "Either subnet_id or port_id must be specified".into(),
                ));
            }
        };
        touch(&mut r.revision_number, &mut r.updated_at);
        tx.update(&r).await?;
        l3::sync_router(&mut tx, state.config.agent_down_time, &r).await?;
        tx.commit().await?;
        Ok(interface_info(&r, &port))
    })?;
    tracing::info!(router = %id, port = %info.port_id, subnet = %info.subnet_id, "router interface added");
    Ok(Json(super::common::to_value(&info)))
}

fn check_overlap(existing: &[Subnet], s: &Subnet) -> ApiResult<()> {
    let Ok(new) = s.cidr.parse::<IpNet>() else {
        return Ok(());
    };
    for e in existing {
        if let Ok(o) = e.cidr.parse::<IpNet>()
            && (o.contains(&new.network()) || new.contains(&o.network()))
        {
            return Err(ApiError::bad_request(format!(
                "Bad router request: Cidr {} of subnet {} overlaps with cidr {} of subnet {}.",
                s.cidr, s.id, e.cidr, e.id
            )));
        }
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`.
pub async fn remove_interface(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("remove_router_interface")?;
    let (subnet_id, port_id) = interface_target(&body)?;
    let mut tx = state.store.write().await?;
    let mut r = owned_router(&mut tx, &ctx, &id).await?;
    let ports = router_ports(&mut tx, &id, device_owner::ROUTER_INTERFACE).await?;
    let port = match (&subnet_id, &port_id) {
        (_, Some(pid)) => ports.into_iter().find(|p| p.id == *pid).ok_or_else(|| {
            ApiError::not_found_msg(
                "RouterInterfaceNotFound",
                format!("Router {id} does not have an interface with id {pid}"),
            )
        })?,
        (Some(sid), None) => ports
            .into_iter()
            .find(|p| p.fixed_ips.iter().any(|f| f.subnet_id == *sid))
            .ok_or_else(|| {
                ApiError::not_found_msg(
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {sid}"),
                )
            })?,
        (None, None) => {
            return Err(bad_router(
                "Either subnet_id or port_id must be specified".into(),
            ));
        }
    };
    // Floating IPs reach their ports through this interface: keep it.
    let port_subnets: Vec<&str> = port
        .fixed_ips
        .iter()
        .map(|f| f.subnet_id.as_str())
        .collect();
    for f in tx.list::<FloatingIp>().await? {
        if f.router_id.as_deref() != Some(id.as_str()) {
            continue;
        }
        let Some(pid) = &f.port_id else { continue };
        if let Some(target) = tx.get::<Port>(pid).await?
            && target
                .fixed_ips
                .iter()
                .any(|x| port_subnets.contains(&x.subnet_id.as_str()))
        {
            return Err(ApiError::conflict(
                "RouterInterfaceInUseByFloatingIP",
                format!(
                    "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more floating IPs.",
                    port_subnets.first().copied().unwrap_or_default()
                ),
            ));
        }
    }
    router_routes::check_not_in_use(&mut tx, &r, &port).await?;
    let info = interface_info(&r, &port);
    if subnet_id.is_some() || port.device_owner == device_owner::ROUTER_INTERFACE {
        remove_port(&mut tx, &port).await?;
    }
    touch(&mut r.revision_number, &mut r.updated_at);
    tx.update(&r).await?;
    l3::sync_router(&mut tx, state.config.agent_down_time, &r).await?;
    tx.commit().await?;
    tracing::info!(router = %id, port = %info.port_id, "router interface removed");
    Ok(Json(super::common::to_value(&info)))
}
