//! `/v2.0/subnets`: CIDR, gateway, allocation pools, DHCP options.

use super::common::{Attrs, created, network_visible, one, retry, touch};
use super::dhcp_port;
use super::resource::{Resource, fetch_writable};
use super::subnetpools::{PoolRequest, carve};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::ipam;
use crate::store::Tx;
use crate::util::{new_id, now};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use model::{AllocationPool, HostRoute, Network, Port, Subnet, device_owner};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Whether the caller sees `s`: its own, and those of networks it sees through
/// sharing or `router:external` (`nets`: the networks of the others).
fn visible_with(ctx: &Ctx, s: &Subnet, nets: &HashMap<String, Network>) -> bool {
    ctx.owns(&s.project_id)
        || nets
            .get(&s.network_id)
            .is_some_and(|n| network_visible(ctx, n))
}

/// The networks of the subnets in `items` the caller does not own: one read for
/// one network (a show), all networks for more (a list).
async fn foreign_networks(
    state: &AppState,
    ctx: &Ctx,
    items: &[Subnet],
) -> ApiResult<HashMap<String, Network>> {
    let wanted: BTreeSet<&str> = items
        .iter()
        .filter(|s| !ctx.owns(&s.project_id))
        .map(|s| s.network_id.as_str())
        .collect();
    let nets = match wanted.first() {
        None => Vec::new(),
        Some(id) if wanted.len() == 1 => {
            state.store.get::<Network>(id).await?.into_iter().collect()
        }
        Some(_) => state.store.list::<Network>().await?,
    };
    Ok(nets.into_iter().map(|n| (n.id.clone(), n)).collect())
}

impl Resource for Subnet {
    const MEMBER: &'static str = "subnet";
    const COLLECTION: &'static str = "subnets";
    const NOT_FOUND: (&'static str, &'static str) = ("SubnetNotFound", "Subnet");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    /// `router:external` is its network's.
    async fn render(state: &AppState, items: &mut [Subnet]) -> ApiResult<()> {
        let mut external: HashMap<String, bool> = HashMap::new();
        for s in items.iter_mut() {
            let ext = match external.get(&s.network_id) {
                Some(e) => *e,
                None => {
                    let e = state
                        .store
                        .get::<Network>(&s.network_id)
                        .await?
                        .is_some_and(|n| n.router_external);
                    external.insert(s.network_id.clone(), e);
                    e
                }
            };
            s.router_external = ext;
        }
        Ok(())
    }

    /// Seen with its network (see [`visible_with`]); changed only by its project.
    async fn readable(state: &AppState, ctx: &Ctx, items: Vec<Subnet>) -> ApiResult<Vec<Subnet>> {
        let nets = foreign_networks(state, ctx, &items).await?;
        Ok(items
            .into_iter()
            .filter(|s| visible_with(ctx, s, &nets))
            .map(|mut s| {
                s.shared = ctx
                    .grants
                    .shared(super::rbac_policies::NETWORK, &s.network_id);
                s
            })
            .collect())
    }

    /// Refused while ports other than DHCP's have addresses from it; leaves its
    /// network's list of subnets, and the DHCP ports' addresses on it go (the
    /// network's own DHCP port with its last DHCP subnet).
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, s: &Subnet) -> ApiResult<()> {
        let id = &s.id;
        let mut ports = tx.list_by_parent::<Port>(&s.network_id).await?;
        // On a SLAAC or DHCPv6-stateless subnet the hosts made their addresses
        // themselves: they go with the subnet (not a router's interface).
        if ipam::auto_address(s.ipv6_address_mode.as_deref()) {
            for p in ports.iter_mut().filter(|p| {
                p.device_owner != device_owner::ROUTER_INTERFACE
                    && p.fixed_ips.iter().any(|f| f.subnet_id == *id)
            }) {
                for f in p.fixed_ips.iter().filter(|f| f.subnet_id == *id) {
                    tx.release(&crate::store::IPS, [id.as_str()], f.ip_address.clone())
                        .await?;
                }
                p.fixed_ips.retain(|f| f.subnet_id != *id);
                touch(&mut p.revision_number, &mut p.updated_at);
                tx.update(&*p).await?;
            }
        }
        if ports.iter().any(|p| {
            p.device_owner != device_owner::DHCP && p.fixed_ips.iter().any(|f| f.subnet_id == *id)
        }) {
            return Err(ApiError::conflict(
                "SubnetInUse",
                format!(
                    "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
                ),
            ));
        }
        if let Some(mut n) = tx.get::<Network>(&s.network_id).await? {
            n.subnets.retain(|x| x != id);
            touch(&mut n.revision_number, &mut n.updated_at);
            tx.update(&n).await?;
        }
        dhcp_port::subnet_gone(tx, s).await
    }
}

/// `ipv6_ra_mode` and `ipv6_address_mode` as Neutron checks them: IPv6 only, one
/// of its three modes, the same when both are given, and a /64 for the modes in
/// which hosts make their own (EUI-64) addresses.
fn ipv6_modes(a: &Attrs, net: &IpNet, v6: bool) -> ApiResult<(Option<String>, Option<String>)> {
    const MODES: [&str; 3] = ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];
    let ra = a.str("ipv6_ra_mode")?;
    let addr = a.str("ipv6_address_mode")?;
    for (k, v) in [("ipv6_ra_mode", &ra), ("ipv6_address_mode", &addr)] {
        if let Some(v) = v {
            if !v6 {
                return Err(ApiError::invalid(format!(
                    "Invalid input for operation: {k} is not valid when ip_version is 4."
                )));
            }
            if !MODES.contains(&v.as_str()) {
                return Err(ApiError::invalid(format!(
                    "Invalid input for {k}. Reason: '{v}' is not in {MODES:?}."
                )));
            }
        }
    }
    if let (Some(r), Some(m)) = (&ra, &addr)
        && r != m
    {
        return Err(ApiError::invalid(format!(
            "Invalid input for operation: ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{m}' is not valid. If both attributes are set, they must be the same value."
        )));
    }
    if ipam::auto_address(addr.as_deref()) && net.prefix_len() != 64 {
        return Err(ApiError::invalid(format!(
            "Invalid input for operation: Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64."
        )));
    }
    Ok((ra, addr))
}

fn parse_ip_in(net: &IpNet, s: &str, what: &str) -> ApiResult<IpAddr> {
    let ip = ipam::parse_ip(s)
        .map_err(|e| ApiError::invalid(format!("Invalid input for {what}. Reason: {e}.")))?;
    if !net.contains(&ip) {
        return Err(ApiError::invalid(format!(
            "Invalid input for {what}. Reason: {ip} is not in subnet {net}."
        )));
    }
    Ok(ip)
}

/// Parses and checks allocation pools against the CIDR, each other and the gateway.
fn parse_pools(
    net: &IpNet,
    items: &[Value],
    gateway: Option<IpAddr>,
) -> ApiResult<Vec<(u128, u128)>> {
    let mut pools = Vec::new();
    for item in items {
        let get = |k: &str| {
            item.get(k).and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid input for allocation_pools. Reason: missing {k}."
                ))
            })
        };
        let start = host_ip_in(net, get("start")?, "allocation_pools")?;
        let end = host_ip_in(net, get("end")?, "allocation_pools")?;
        let (s, e) = (ipam::to_u128(start), ipam::to_u128(end));
        if s > e {
            return Err(ApiError::invalid(format!(
                "The allocation pool {start}-{end} is not valid."
            )));
        }
        pools.push((s, e));
    }
    pools.sort();
    for w in pools.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(ApiError::invalid("Found overlapping allocation pools."));
        }
    }
    if let Some(g) = gateway.map(ipam::to_u128)
        && pools.iter().any(|&(s, e)| g >= s && g <= e)
    {
        return Err(ApiError::conflict(
            "GatewayConflictWithAllocationPools",
            "Gateway ip conflicts with allocation pool.",
        ));
    }
    Ok(pools)
}

fn pools_model(pools: &[(u128, u128)], v6: bool) -> Vec<AllocationPool> {
    pools
        .iter()
        .filter_map(|&(s, e)| {
            Some(AllocationPool {
                start: ipam::from_u128(s, v6)?.to_string(),
                end: ipam::from_u128(e, v6)?.to_string(),
            })
        })
        .collect()
}

/// The allocation pools of a subnet, as numbers.
pub fn pools_of(s: &Subnet) -> Vec<(u128, u128)> {
    s.allocation_pools
        .iter()
        .filter_map(|p| {
            let a = ipam::parse_ip(&p.start).ok()?;
            let b = ipam::parse_ip(&p.end).ok()?;
            Some((ipam::to_u128(a), ipam::to_u128(b)))
        })
        .collect()
}

fn parse_dns(items: Vec<String>) -> ApiResult<Vec<String>> {
    items
        .into_iter()
        .map(|s| {
            ipam::parse_ip(&s).map(|ip| ip.to_string()).map_err(|e| {
                ApiError::invalid(format!("Invalid input for dns_nameservers. Reason: {e}."))
            })
        })
        .collect()
}

fn parse_routes(items: Vec<Value>) -> ApiResult<Vec<HostRoute>> {
    items
        .into_iter()
        .map(|r| {
            let dest = r
                .get("destination")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let hop = r.get("nexthop").and_then(Value::as_str).unwrap_or_default();
            let d: IpNet = dest.parse().map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid input for host_routes. Reason: '{dest}' is not a valid CIDR."
                ))
            })?;
            let h = ipam::parse_ip(hop).map_err(|e| {
                ApiError::invalid(format!("Invalid input for host_routes. Reason: {e}."))
            })?;
            Ok(HostRoute {
                destination: d.trunc().to_string(),
                nexthop: h.to_string(),
            })
        })
        .collect()
}

fn parse_cidr(cidr: &str) -> ApiResult<IpNet> {
    let net = ipam::parse_cidr(cidr)
        .map_err(|e| ApiError::invalid(format!("Invalid input for cidr. Reason: {e}.")))?;
    if let Some(why) = ipam::unusable_subnet(&net) {
        return Err(ApiError::invalid(format!(
            "Invalid input for cidr. Reason: {why}."
        )));
    }
    Ok(net)
}

/// An address of the subnet a host may hold: not the network address nor the
/// IPv4 broadcast address.
fn host_ip_in(net: &IpNet, s: &str, what: &str) -> ApiResult<IpAddr> {
    let ip = parse_ip_in(net, s, what)?;
    if !ipam::is_host_address(net, ip) {
        return Err(ApiError::invalid(format!(
            "Invalid input for {what}. Reason: {ip} is the network or broadcast address of {net}."
        )));
    }
    Ok(ip)
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_subnet")?;
    let a = Attrs::from_body(&body, "subnet")?;
    let network_id = a
        .str("network_id")?
        .ok_or_else(|| ApiError::invalid("Invalid input for operation: network_id is required."))?;
    let project_id = a.project(&ctx, "create_subnet")?;
    let cidr = a.str("cidr")?.map(|c| parse_cidr(&c)).transpose()?;
    let prefixlen = a.u8("prefixlen")?;
    let pool_req = match (a.str("subnetpool_id")?, a.bool("use_default_subnetpool")?) {
        (Some(id), _) => Some(PoolRequest {
            pool: Some(id),
            prefixlen,
        }),
        (None, Some(true)) => Some(PoolRequest {
            pool: None,
            prefixlen,
        }),
        _ => None,
    };
    if cidr.is_none() && pool_req.is_none() {
        return Err(ApiError::bad_request(
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
        ));
    }
    let requested_version = match a.u32("ip_version")? {
        None => None,
        Some(v @ (4 | 6)) => Some(v as u8),
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "Invalid input for ip_version. Reason: {v} is not in [4, 6]."
            )));
        }
    };
    let dns = parse_dns(a.str_list("dns_nameservers")?.unwrap_or_default())?;
    let routes = parse_routes(a.list("host_routes")?.unwrap_or_default())?;
    // Retried on a unique-key conflict: the DHCP port takes a MAC and addresses.
    let s = retry!({
        let mut tx = state.store.write().await?;
        super::quotas::check(&mut tx, &project_id, "subnet", 1).await?;
        let mut network = tx
            .get::<Network>(&network_id)
            .await?
            .filter(|n| network_visible(&ctx, n))
            .ok_or_else(|| Network::not_found(&network_id))?;
        if !ctx.owns(&network.project_id) {
            return Err(ApiError::forbidden("create_subnet"));
        }
        let (net, pool_id) = match (&pool_req, cidr) {
            (Some(r), c) => {
                let (n, id) = carve(&mut tx, &ctx, r, c, requested_version).await?;
                (n, Some(id))
            }
            (None, Some(c)) => (c, None),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
                ));
            }
        };
        let v6 = requested_version.map_or(net.addr().is_ipv6(), |v| v == 6);
        if net.addr().is_ipv6() != v6 {
            return Err(ApiError::invalid(
                "Invalid input for operation: cidr and ip_version do not match.",
            ));
        }
        let gateway = match a.nullable_str("gateway_ip")? {
            None => ipam::default_gateway(&net),
            Some(None) => None,
            Some(Some(g)) => Some(host_ip_in(&net, &g, "gateway_ip")?),
        };
        let pools = match a.list("allocation_pools")? {
            Some(items) if !items.is_empty() => parse_pools(&net, &items, gateway)?,
            _ => ipam::default_pools(&net, gateway),
        };
        let (ra_mode, address_mode) = ipv6_modes(&a, &net, v6)?;
        for other in tx.list_by_parent::<Subnet>(&network_id).await? {
            if let Ok(o) = other.cidr.parse::<IpNet>()
                && (o.contains(&net.network()) || net.contains(&o.network()))
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "OverlappingSubnet",
                    format!(
                        "Invalid input for operation: Requested subnet with cidr: {net} for network: {network_id} overlaps with another subnet."
                    ),
                ));
            }
        }
        let ts = now();
        let s = Subnet {
            id: new_id(),
            name: a.str("name")?.unwrap_or_default(),
            description: a.str("description")?.unwrap_or_default(),
            project_id: project_id.clone(),
            tenant_id: project_id.clone(),
            network_id: network_id.clone(),
            ip_version: if v6 { 6 } else { 4 },
            cidr: net.to_string(),
            gateway_ip: gateway.map(|g| g.to_string()),
            allocation_pools: pools_model(&pools, v6),
            enable_dhcp: a.bool("enable_dhcp")?.unwrap_or(true),
            dns_nameservers: dns.clone(),
            host_routes: routes.clone(),
            ipv6_ra_mode: ra_mode.clone(),
            ipv6_address_mode: address_mode.clone(),
            subnetpool_id: pool_id,
            service_types: Vec::new(),
            tags: Vec::new(),
            revision_number: 1,
            created_at: ts.clone(),
            updated_at: ts,
            router_external: network.router_external,
            shared: network.shared,
        };
        tx.insert(&s).await?;
        network.subnets.push(s.id.clone());
        touch(&mut network.revision_number, &mut network.updated_at);
        tx.update(&network).await?;
        dhcp_port::sync(&mut tx, &network_id, None).await?;
        tx.commit().await?;
        Ok(s)
    })?;
    tracing::info!(id = %s.id, cidr = %s.cidr, network = %s.network_id, "subnet created");
    Ok(created("subnet", &s))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_subnet")?;
    let a = Attrs::from_body(&body, "subnet")?;
    a.read_only(&[
        "id",
        "cidr",
        "ip_version",
        "network_id",
        "project_id",
        "tenant_id",
    ])?;
    let mut tx = state.store.write().await?;
    let mut s: Subnet = fetch_writable(&mut tx, &ctx, &headers, &id, "update_subnet").await?;
    let net = parse_cidr(&s.cidr)?;
    let v6 = s.ip_version == 6;
    if let Some(g) = a.nullable_str("gateway_ip")? {
        let new = match g {
            None => None,
            Some(g) => Some(host_ip_in(&net, &g, "gateway_ip")?.to_string()),
        };
        if new != s.gateway_ip
            && let Some(old) = &s.gateway_ip
        {
            // A router's interface holds the gateway address: it stays (Neutron's
            // GatewayIpInUse).
            let holder = tx
                .list_by_parent::<Port>(&s.network_id)
                .await?
                .into_iter()
                .find(|p| {
                    p.device_owner == device_owner::ROUTER_INTERFACE
                        && p.fixed_ips
                            .iter()
                            .any(|f| f.subnet_id == s.id && f.ip_address == *old)
                });
            if let Some(p) = holder {
                return Err(ApiError::conflict(
                    "GatewayIpInUse",
                    format!(
                        "Current gateway ip {old} already in use by port {}. Unable to update.",
                        p.id
                    ),
                ));
            }
        }
        s.gateway_ip = new;
    }
    let gateway = s.gateway_ip.as_deref().and_then(|g| ipam::parse_ip(g).ok());
    if let Some(items) = a.list("allocation_pools")? {
        let pools = parse_pools(&net, &items, gateway)?;
        s.allocation_pools = pools_model(&pools, v6);
    } else if a.has("gateway_ip") {
        parse_pools(
            &net,
            &s.allocation_pools
                .iter()
                .map(super::common::to_value)
                .collect::<Vec<_>>(),
            gateway,
        )?;
    }
    if let Some(v) = a.str("name")? {
        s.name = v;
    }
    if let Some(v) = a.str("description")? {
        s.description = v;
    }
    if let Some(v) = a.bool("enable_dhcp")? {
        s.enable_dhcp = v;
    }
    if let Some(v) = a.str_list("dns_nameservers")? {
        s.dns_nameservers = parse_dns(v)?;
    }
    if let Some(v) = a.list("host_routes")? {
        s.host_routes = parse_routes(v)?;
    }
    touch(&mut s.revision_number, &mut s.updated_at);
    tx.update(&s).await?;
    // enable_dhcp may have changed: the DHCP port gains or loses an address.
    dhcp_port::sync(&mut tx, &s.network_id, None).await?;
    tx.commit().await?;
    Ok(one("subnet", &s))
}
