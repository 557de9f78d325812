//! A router's extra routes (Neutron's `extraroute`): set by `PUT` of the whole
//! list, or added and removed a few at a time (`extraroute-atomic`:
//! `PUT .../add_extraroutes` and `.../remove_extraroutes`, in one transaction so
//! concurrent callers do not overwrite each other), each `{destination,
//! nexthop}` with the nexthop on a subnet of one of the router's ports (its
//! gateway included) and not one of the router's own addresses; an interface a
//! route's nexthop needs cannot be removed.

use super::common::{Attrs, one, touch};
use super::resource::fetch_writable;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::Tx;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use model::{HostRoute, Port, Router, Subnet, device_owner};
use serde_json::Value;
use std::net::IpAddr;

/// Neutron's `max_routes`.
const MAX_ROUTES: usize = 30;

fn invalid(reason: String) -> ApiError {
    ApiError::invalid(format!("Invalid input for routes. Reason: {reason}."))
}

/// neutron-lib's `validate_route_cidr`: a CIDR without host bits, not loopback.
fn destination(d: &str) -> ApiResult<IpNet> {
    let net = match (d.parse::<IpNet>(), d.parse::<IpAddr>()) {
        (Ok(n), _) => n,
        (Err(_), Ok(ip)) => {
            return Err(invalid(format!(
                "'{d}' is not a recognized CIDR, '{}' is recommended",
                IpNet::from(ip)
            )));
        }
        _ => return Err(invalid(format!("'{d}' is not a valid CIDR"))),
    };
    if net.trunc() != net {
        return Err(invalid(format!(
            "'{d}' is not a recognized CIDR, '{}' is recommended",
            net.trunc()
        )));
    }
    if net.addr().is_loopback() {
        return Err(invalid(format!("'{d}' is not a routable CIDR")));
    }
    Ok(net)
}

/// The `routes` of a router update, checked as neutron-lib's `type:hostroutes`
/// does (keys, destination, nexthop, no duplicates).
pub fn parse(items: Vec<Value>) -> ApiResult<Vec<HostRoute>> {
    let mut out: Vec<HostRoute> = Vec::new();
    for item in items {
        let (Some(d), Some(h)) = (
            item.get("destination").and_then(Value::as_str),
            item.get("nexthop").and_then(Value::as_str),
        ) else {
            return Err(invalid(format!(
                "Validation of dictionary's keys failed. Expected keys: ['destination', 'nexthop'] Provided: {item}"
            )));
        };
        let dest = destination(d)?;
        let hop: IpAddr = h
            .parse()
            .map_err(|_| invalid(format!("'{h}' is not a valid IP address")))?;
        let route = HostRoute {
            destination: dest.to_string(),
            nexthop: hop.to_string(),
        };
        if out.contains(&route) {
            return Err(invalid(format!("Duplicate hostroute '{item}'")));
        }
        out.push(route);
    }
    Ok(out)
}

/// Refuses a route that is not in POST (`routes` is `allow_post: False`).
pub fn refuse_on_create(items: Option<Vec<Value>>) -> ApiResult<()> {
    match items {
        Some(r) if !r.is_empty() => {
            Err(ApiError::invalid("Attribute 'routes' not allowed in POST"))
        }
        _ => Ok(()),
    }
}

fn invalid_routes(routes: &[HostRoute], reason: &str) -> ApiError {
    let shown: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{{'destination': '{}', 'nexthop': '{}'}}",
                r.destination, r.nexthop
            )
        })
        .collect();
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRoutes",
        format!(
            "Invalid format for routes: [{}], {reason}.",
            shown.join(", ")
        ),
    )
}

/// The router's interface and gateway ports, with the CIDR of each of their
/// subnets.
async fn port_subnets(tx: &mut Tx, router_id: &str) -> ApiResult<Vec<(Port, Vec<IpNet>)>> {
    let mut out = Vec::new();
    for p in tx.list::<Port>().await? {
        let ours = p.device_id == router_id
            && (p.device_owner == device_owner::ROUTER_INTERFACE
                || p.device_owner == device_owner::ROUTER_GATEWAY);
        if !ours {
            continue;
        }
        let mut cidrs = Vec::new();
        for f in &p.fixed_ips {
            if let Some(s) = tx.get::<Subnet>(&f.subnet_id).await?
                && let Ok(n) = s.cidr.parse::<IpNet>()
            {
                cidrs.push(n);
            }
        }
        out.push((p, cidrs));
    }
    Ok(out)
}

/// Neutron's `_validate_routes`: at most 30; every nexthop connected with the
/// router and not one of its own addresses.
pub async fn check_nexthops(tx: &mut Tx, router_id: &str, routes: &[HostRoute]) -> ApiResult<()> {
    if routes.len() > MAX_ROUTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "RoutesExhausted",
            format!(
                "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {MAX_ROUTES}."
            ),
        ));
    }
    let ports = port_subnets(tx, router_id).await?;
    for r in routes {
        let Ok(hop) = r.nexthop.parse::<IpAddr>() else {
            continue;
        };
        if !ports
            .iter()
            .any(|(_, c)| c.iter().any(|n| n.contains(&hop)))
        {
            return Err(invalid_routes(
                routes,
                "the nexthop is not connected with router",
            ));
        }
        let own = ports
            .iter()
            .flat_map(|(p, _)| &p.fixed_ips)
            .any(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|ip| ip == hop));
        if own {
            return Err(invalid_routes(routes, "the nexthop is used by router"));
        }
    }
    Ok(())
}

/// Refuses to remove interface `port` while a route's nexthop is on one of its
/// subnets (409 `RouterInterfaceInUseByRoute`).
pub async fn check_not_in_use(tx: &mut Tx, r: &Router, port: &Port) -> ApiResult<()> {
    for f in &port.fixed_ips {
        let Some(s) = tx.get::<Subnet>(&f.subnet_id).await? else {
            continue;
        };
        let Ok(net) = s.cidr.parse::<IpNet>() else {
            continue;
        };
        let needed = r
            .routes
            .iter()
            .filter_map(|x| x.nexthop.parse::<IpAddr>().ok())
            .any(|hop| net.contains(&hop));
        if needed {
            return Err(ApiError::conflict(
                "RouterInterfaceInUseByRoute",
                format!(
                    "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more routes.",
                    s.id, r.id
                ),
            ));
        }
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}/add_extraroutes` (`add: true`) and
/// `.../remove_extraroutes`: `{"router": {"routes": [...]}}`; answers the router.
async fn change(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    add: bool,
) -> ApiResult<Json<Value>> {
    let action = if add {
        "add_extraroutes"
    } else {
        "remove_extraroutes"
    };
    ctx.require_writer(action)?;
    let a = Attrs::from_body(&body, "router")?;
    let given = parse(a.list("routes")?.ok_or_else(|| {
        ApiError::bad_request("Failed to parse request. Required attribute 'routes' not specified")
    })?)?;
    let mut tx = state.store.write().await?;
    let mut r: Router = fetch_writable(&mut tx, &ctx, &headers, &id, action).await?;
    let before = r.routes.clone();
    if add {
        check_nexthops(&mut tx, &r.id, &given).await?;
        for g in given {
            if !r.routes.contains(&g) {
                r.routes.push(g);
            }
        }
        if r.routes.len() > MAX_ROUTES {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "RoutesExhausted",
                format!(
                    "Unable to complete operation for {}. The number of routes exceeds the maximum {MAX_ROUTES}.",
                    r.id
                ),
            ));
        }
    } else {
        r.routes.retain(|x| !given.contains(x));
    }
    if r.routes != before {
        touch(&mut r.revision_number, &mut r.updated_at);
        tx.update(&r).await?;
        crate::l3::sync_router(&mut tx, state.config.agent_down_time, &r).await?;
        tx.commit().await?;
    }
    Ok(one("router", &super::routers::rendered(&state, r).await?))
}

pub async fn add_extraroutes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    change(state, ctx, headers, id, body, true).await
}

pub async fn remove_extraroutes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    change(state, ctx, headers, id, body, false).await
}
