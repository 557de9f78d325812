//! `/v2.0/network-ip-availabilities` (Neutron's `network-ip-availability`):
//! per network and subnet, how many addresses the allocation pools hold and how
//! many ports use (every fixed IP, DHCP and router ports included). Admin only,
//! as Neutron's policy: others see an empty list and 404s. Computed on each
//! request from the store.

use super::common::show_body;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use model::{Network, Port, Subnet};
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;

#[derive(Serialize)]
struct SubnetAvailability {
    subnet_id: String,
    subnet_name: String,
    cidr: String,
    ip_version: u8,
    total_ips: u64,
    used_ips: u64,
}

#[derive(Serialize)]
struct NetworkAvailability {
    network_id: String,
    network_name: String,
    tenant_id: String,
    project_id: String,
    total_ips: u64,
    used_ips: u64,
    subnet_ip_availability: Vec<SubnetAvailability>,
}

/// Addresses from `start` to `end` inclusive (saturating: an IPv6 pool wider
/// than 2^64 counts as 2^64 - 1, where Neutron prints the exact number).
fn span(start: &str, end: &str) -> u64 {
    let (Ok(a), Ok(b)) = (start.parse::<IpAddr>(), end.parse::<IpAddr>()) else {
        return 0;
    };
    let (a, b) = (crate::ipam::to_u128(a), crate::ipam::to_u128(b));
    if b < a {
        return 0;
    }
    u64::try_from(b - a + 1).unwrap_or(u64::MAX)
}

fn total(s: &Subnet) -> u64 {
    if s.allocation_pools.is_empty() {
        return match s.cidr.parse::<ipnet::IpNet>() {
            Ok(n) => span(&n.network().to_string(), &n.broadcast().to_string()),
            Err(_) => 0,
        };
    }
    s.allocation_pools
        .iter()
        .fold(0u64, |acc, p| acc.saturating_add(span(&p.start, &p.end)))
}

fn availability(
    n: &Network,
    subnets: &[Subnet],
    ports: &[Port],
    version: Option<u8>,
) -> NetworkAvailability {
    let subs: Vec<SubnetAvailability> = subnets
        .iter()
        .filter(|s| s.network_id == n.id && version.is_none_or(|v| s.ip_version == v))
        .map(|s| SubnetAvailability {
            subnet_id: s.id.clone(),
            subnet_name: s.name.clone(),
            cidr: s.cidr.clone(),
            ip_version: s.ip_version,
            total_ips: total(s),
            used_ips: ports
                .iter()
                .filter(|p| p.network_id == n.id)
                .flat_map(|p| &p.fixed_ips)
                .filter(|f| f.subnet_id == s.id)
                .count() as u64,
        })
        .collect();
    NetworkAvailability {
        network_id: n.id.clone(),
        network_name: n.name.clone(),
        tenant_id: n.project_id.clone(),
        project_id: n.project_id.clone(),
        total_ips: subs.iter().fold(0u64, |a, s| a.saturating_add(s.total_ips)),
        used_ips: subs.iter().map(|s| s.used_ips).sum(),
        subnet_ip_availability: subs,
    }
}

/// `GET /v2.0/network-ip-availabilities`.
pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let version = match q.iter().find(|(k, _)| k == "ip_version") {
        Some((_, v)) => Some(
            v.parse::<u8>()
                .ok()
                .filter(|v| *v == 4 || *v == 6)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid input for ip_version. Reason: {v} is not in [4, 6]."
                    ))
                })?,
        ),
        None => None,
    };
    let rest: Vec<(String, String)> = q.into_iter().filter(|(k, _)| k != "ip_version").collect();
    if !ctx.is_admin() {
        return super::common::list_body::<NetworkAvailability>(
            &state,
            &headers,
            (COLLECTION, PATH),
            &[],
            &rest,
        );
    }
    let networks: Vec<Network> = state.store.list().await?;
    let subnets: Vec<Subnet> = state.store.list().await?;
    let ports: Vec<Port> = state.store.list().await?;
    let items: Vec<NetworkAvailability> = networks
        .iter()
        .map(|n| availability(n, &subnets, &ports, version))
        .collect();
    super::common::list_body(&state, &headers, (COLLECTION, PATH), &items, &rest)
}

const COLLECTION: &str = "network_ip_availabilities";
const PATH: &str = "network-ip-availabilities";

/// `GET /v2.0/network-ip-availabilities/{network_id}`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::not_found("NetworkNotFound", "Network", &id);
    if !ctx.is_admin() {
        return Err(not_found());
    }
    let n: Network = state.store.get(&id).await?.ok_or_else(not_found)?;
    let subnets: Vec<Subnet> = state.store.list_by_parent(&id).await?;
    let ports: Vec<Port> = state.store.list_by_parent(&id).await?;
    Ok(show_body(
        "network_ip_availability",
        &availability(&n, &subnets, &ports, None),
        &q,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans() {
        assert_eq!(super::span("10.0.0.2", "10.0.0.254"), 253);
        assert_eq!(super::span("10.0.0.5", "10.0.0.5"), 1);
        assert_eq!(super::span("10.0.0.5", "10.0.0.4"), 0);
        assert_eq!(
            super::span("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff"),
            18_446_744_073_709_551_614
        );
        assert_eq!(super::span("::", "ffff::"), u64::MAX);
    }
}
