//! `/v2.0/ports`: MACs and fixed IPs from IPAM, binding, security groups,
//! allowed address pairs.

use super::common::{Attrs, created, one, retry, touch};
use super::dhcp_port;
use super::resource::{Resource, fetch_writable};
use super::security_groups;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::ipam;
use crate::store::{IPS, MACS, Tx};
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use model::{AddressPair, FloatingIp, Network, Port, Router, SecurityGroup, device_owner};
use serde_json::{Map, Value};

const BINDING: [&str; 4] = [
    "binding:host_id",
    "binding:profile",
    "binding:vnic_type",
    "binding:vif_details",
];

pub use super::port_addresses::{
    IpRequest, allocate_ips, allocate_mac, allocate_port_ips, blank_port, parse_fixed_ips,
    release_addresses, remove_port,
};

fn parse_pairs(items: Vec<Value>, port_mac: &str) -> ApiResult<Vec<AddressPair>> {
    items
        .into_iter()
        .map(|v| {
            let ip = v.get("ip_address").and_then(Value::as_str).unwrap_or_default();
            let ok = ip.parse::<std::net::IpAddr>().is_ok() || ip.parse::<IpNet>().is_ok();
            if !ok {
                return Err(ApiError::invalid(format!(
                    "Invalid input for allowed_address_pairs. Reason: '{ip}' is not a valid IP address."
                )));
            }
            let mac = match v.get("mac_address").and_then(Value::as_str) {
                Some(m) => ipam::normalize_mac(m).ok_or_else(|| {
                    ApiError::invalid(format!("Invalid input for allowed_address_pairs. Reason: '{m}' is not a valid MAC address."))
                })?,
                None => port_mac.to_string(),
            };
            Ok(AddressPair { ip_address: ip.to_string(), mac_address: mac })
        })
        .collect()
}

/// Binds `p` to `host` (unbinds it for ""): the VIF type and details that go with
/// it, and DOWN when the host changes, until the new host's agent reports ACTIVE
/// once it has wired the port.
pub fn set_host(p: &mut Port, host: &str) {
    if host != p.binding_host_id {
        p.status = "DOWN".into();
    }
    p.binding_host_id = host.to_string();
    if p.binding_host_id.is_empty() {
        p.binding_vif_type = "unbound".into();
        p.binding_vif_details = Map::new();
    } else {
        p.binding_vif_type = "ovs".into();
        let mut d = Map::new();
        d.insert("port_filter".into(), Value::Bool(true));
        d.insert("connectivity".into(), Value::String("l2".into()));
        p.binding_vif_details = d;
    }
}

fn apply_binding(p: &mut Port, a: &Attrs) -> ApiResult<()> {
    let host = match a.nullable_str("binding:host_id")? {
        Some(h) => h.unwrap_or_default(),
        None => p.binding_host_id.clone(),
    };
    if let Some(v) = a.str("binding:vnic_type")? {
        p.binding_vnic_type = v;
    }
    if let Some(v) = a.object("binding:profile")? {
        p.binding_profile = v;
    }
    set_host(p, &host);
    Ok(())
}

/// Neutron's checks on `device_owner` and `device_id` from a non-admin: a
/// `network:` owner only on a network of the caller's own (policy
/// `create_port:device_owner`), and a router interface only for a router of the
/// port's project (`DeviceIDNotOwnedByTenant`), so that no tenant can slip a
/// port into another's router.
async fn check_device(
    tx: &mut Tx,
    ctx: &Ctx,
    action: &str,
    network: &Network,
    project_id: &str,
    owner: &str,
    device_id: &str,
) -> ApiResult<()> {
    if ctx.is_admin() {
        return Ok(());
    }
    if owner.starts_with("network:") && network.project_id != ctx.project_id() {
        return Err(ApiError::forbidden(&format!("{action}:device_owner")));
    }
    if owner == device_owner::ROUTER_INTERFACE
        && !device_id.is_empty()
        && tx
            .get::<Router>(device_id)
            .await?
            .is_some_and(|r| r.project_id != project_id)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "DeviceIDNotOwnedByTenant",
            format!(
                "The following device_id {device_id} is not owned by your tenant or matches another tenants router."
            ),
        ));
    }
    Ok(())
}

/// Neutron's policy for a port on a network the caller does not own (another
/// project's shared network): no address of its choosing (it could take the
/// gateway, or a neighbour's), no MAC of its choosing, no port security switch
/// and no allowed address pairs (`*_port:fixed_ips:ip_address`,
/// `*_port:mac_address`, `*_port:port_security_enabled`,
/// `*_port:allowed_address_pairs`: the network's owner or the admin).
fn check_network_owner_only(
    ctx: &Ctx,
    network: &Network,
    a: &Attrs,
    action: &str,
    fixed: Option<&[IpRequest]>,
) -> ApiResult<()> {
    if ctx.is_admin() || network.project_id == ctx.project_id() {
        return Ok(());
    }
    if fixed.is_some_and(|f| f.iter().any(|r| r.ip_address.is_some())) {
        return Err(ApiError::forbidden(&format!(
            "{action}:fixed_ips:ip_address"
        )));
    }
    for key in [
        "mac_address",
        "port_security_enabled",
        "allowed_address_pairs",
    ] {
        if a.has(key) {
            return Err(ApiError::forbidden(&format!("{action}:{key}")));
        }
    }
    Ok(())
}

/// Checks requested security groups exist, belong to the port's project and
/// are all stateful or all stateless (as Neutron requires).
async fn check_groups(tx: &mut Tx, ctx: &Ctx, project: &str, ids: &[String]) -> ApiResult<()> {
    let mut kinds = std::collections::BTreeSet::new();
    for id in ids {
        match tx.get::<SecurityGroup>(id).await? {
            Some(g) if g.project_id == project || ctx.is_admin() => {
                kinds.insert(g.stateful);
            }
            _ => return Err(SecurityGroup::not_found(id)),
        }
    }
    if kinds.len() > 1 {
        return Err(ApiError::conflict(
            "SecurityGroupConflict",
            "Error Cannot apply both stateful and stateless security groups on the same port at the same time. while attempting the operation.",
        ));
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_port")?;
    let a = Attrs::from_body(&body, "port")?;
    a.admin_only(&ctx, "create_port", &BINDING)?;
    let project_id = a.project(&ctx, "create_port")?;
    let network_id = a
        .str("network_id")?
        .ok_or_else(|| ApiError::invalid("Invalid input for operation: network_id is required."))?;
    let network = super::networks::visible(&state, &ctx, &network_id).await?;
    let fixed = a.list("fixed_ips")?.map(parse_fixed_ips).transpose()?;
    check_network_owner_only(&ctx, &network, &a, "create_port", fixed.as_deref())?;
    let mac = match a.str("mac_address")? {
        Some(m) => Some(ipam::normalize_mac(&m).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid input for mac_address. Reason: '{m}' is not a valid MAC address."
            ))
        })?),
        None => None,
    };
    let owner = a.str("device_owner")?.unwrap_or_default();
    let port_security = a
        .bool("port_security_enabled")?
        .unwrap_or(network.port_security_enabled);
    let groups = a.str_list("security_groups")?;
    if !port_security && groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(ApiError::conflict(
            "PortSecurityAndIPRequiredForSecurityGroups",
            "Port security must be enabled and port must have an IP address in order to use security groups.",
        ));
    }
    let pairs = a.list("allowed_address_pairs")?;
    if !port_security && pairs.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    let p = retry!({
        let mut tx = state.store.write().await?;
        super::quotas::check(&mut tx, &project_id, "port", 1).await?;
        let Some(network) = tx.get::<Network>(&network_id).await? else {
            return Err(Network::not_found(&network_id));
        };
        let device_id = a.str("device_id")?.unwrap_or_default();
        check_device(
            &mut tx,
            &ctx,
            "create_port",
            &network,
            &project_id,
            &owner,
            &device_id,
        )
        .await?;
        let sgs = if port_security && !owner.starts_with("network:") {
            match &groups {
                Some(g) => {
                    check_groups(&mut tx, &ctx, &project_id, g).await?;
                    g.clone()
                }
                None => vec![security_groups::ensure_default(&mut tx, &project_id).await?],
            }
        } else {
            Vec::new()
        };
        let id = new_id();
        let mac = allocate_mac(&mut tx, mac.clone(), &id).await?;
        let ips =
            allocate_port_ips(&mut tx, &network_id, fixed.clone(), &id, false, Some(&mac)).await?;
        let mut p = blank_port(id, &network_id, &project_id, mac, ips);
        p.name = a.str("name")?.unwrap_or_default();
        p.description = a.str("description")?.unwrap_or_default();
        // tag-ports-during-bulk-creation: tags in the order given.
        if let Some(list) = a.list("tags")? {
            p.tags = super::tags::parse_list(&list)?;
            if p.tags.len() > super::tags::MAX_TAGS {
                return Err(ApiError::bad_request(format!(
                    "Bad ports request: The number of tags exceed the per-resource limit of {}.",
                    super::tags::MAX_TAGS
                )));
            }
        }
        p.admin_state_up = a.bool("admin_state_up")?.unwrap_or(true);
        p.device_owner = owner.clone();
        p.device_id = device_id;
        p.port_security_enabled = port_security;
        p.allowed_address_pairs = parse_pairs(pairs.clone().unwrap_or_default(), &p.mac_address)?;
        if let Some(opts) = a.list("extra_dhcp_opts")? {
            p.extra_dhcp_opts = super::extra_dhcp_opts::for_create(&opts)?;
        }
        apply_binding(&mut p, &a)?;
        dhcp_port::check_not_posing(&p)?;
        p.security_groups = sgs;
        tx.insert(&p).await?;
        tx.commit().await?;
        Ok(p)
    })?;
    tracing::debug!(id = %p.id, mac = %p.mac_address, ips = ?p.fixed_ips, "port created");
    Ok(created("port", &p))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_port")?;
    let a = Attrs::from_body(&body, "port")?;
    a.admin_only(&ctx, "update_port", &BINDING)?;
    a.admin_only(&ctx, "update_port", &["mac_address", "status"])?;
    a.read_only(&["id", "network_id", "project_id", "tenant_id"])?;
    let fixed = a.list("fixed_ips")?.map(parse_fixed_ips).transpose()?;
    let p = retry!({
        let mut tx = state.store.write().await?;
        let mut p: Port = fetch_writable(&mut tx, &ctx, &headers, &id, "update_port").await?;
        if let Some(network) = tx.get::<Network>(&p.network_id).await? {
            check_network_owner_only(&ctx, &network, &a, "update_port", fixed.as_deref())?;
        }
        let server_port = dhcp_port::is_server_port_in(&mut tx, &p).await?;
        if server_port {
            dhcp_port::check_update(&p, |k| a.has(k))?;
        }
        if let Some(req) = &fixed {
            tx.release_owner(&IPS, &p.id).await?;
            p.fixed_ips = allocate_port_ips(
                &mut tx,
                &p.network_id,
                Some(req.clone()),
                &p.id,
                false,
                Some(&p.mac_address),
            )
            .await?;
        }
        if let Some(m) = a.str("mac_address")? {
            let m = ipam::normalize_mac(&m)
                .ok_or_else(|| ApiError::invalid(format!("'{m}' is not a valid MAC address")))?;
            if m != p.mac_address {
                tx.release(&MACS, [], p.mac_address.as_str()).await?;
                p.mac_address = allocate_mac(&mut tx, Some(m), &p.id).await?;
            }
        }
        if let Some(v) = a.str("name")? {
            p.name = v;
        }
        if let Some(v) = a.str("description")? {
            p.description = v;
        }
        if let Some(v) = a.bool("admin_state_up")? {
            p.admin_state_up = v;
        }
        if let Some(v) = a.nullable_str("device_owner")? {
            p.device_owner = v.unwrap_or_default();
        }
        if let Some(v) = a.nullable_str("device_id")? {
            p.device_id = v.unwrap_or_default();
        }
        if a.has("device_owner") || a.has("device_id") {
            let net = tx
                .get::<Network>(&p.network_id)
                .await?
                .ok_or_else(|| Network::not_found(&p.network_id))?;
            check_device(
                &mut tx,
                &ctx,
                "update_port",
                &net,
                &p.project_id,
                &p.device_owner,
                &p.device_id,
            )
            .await?;
        }
        if let Some(v) = a.str("status")? {
            p.status = v;
        }
        if let Some(v) = a.bool("port_security_enabled")? {
            p.port_security_enabled = v;
        }
        if let Some(g) = a.str_list("security_groups")? {
            check_groups(&mut tx, &ctx, &p.project_id.clone(), &g).await?;
            p.security_groups = g;
        }
        if let Some(v) = a.list("allowed_address_pairs")? {
            p.allowed_address_pairs = parse_pairs(v, &p.mac_address)?;
        }
        if let Some(v) = a.list("extra_dhcp_opts")? {
            super::extra_dhcp_opts::apply_update(&mut p.extra_dhcp_opts, &v)?;
        }
        if !p.port_security_enabled
            && (!p.security_groups.is_empty() || !p.allowed_address_pairs.is_empty())
        {
            return Err(ApiError::conflict(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        apply_binding(&mut p, &a)?;
        if !server_port {
            dhcp_port::check_not_posing(&p)?;
        }
        touch(&mut p.revision_number, &mut p.updated_at);
        tx.update(&p).await?;
        tx.commit().await?;
        Ok(p)
    })?;
    Ok(one("port", &p))
}

impl Resource for Port {
    const MEMBER: &'static str = "port";
    const COLLECTION: &'static str = "ports";
    const NOT_FOUND: (&'static str, &'static str) = ("PortNotFound", "Port");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    /// Its own ports, and every port on the caller's own networks (a network's
    /// owner sees who uses what it shares, as Neutron's policy has it).
    async fn readable(state: &AppState, ctx: &Ctx, items: Vec<Port>) -> ApiResult<Vec<Port>> {
        if items.iter().all(|p| ctx.owns(&p.project_id)) {
            return Ok(items);
        }
        let mine: std::collections::HashSet<String> = state
            .store
            .list::<Network>()
            .await?
            .into_iter()
            .filter(|n| ctx.owns(&n.project_id))
            .map(|n| n.id)
            .collect();
        Ok(items
            .into_iter()
            .filter(|p| ctx.owns(&p.project_id) || mine.contains(&p.network_id))
            .collect())
    }

    /// Changes are the port's project's; a delete may also be the network
    /// owner's (checked in [`Resource::on_delete`], which reads the network).
    fn writable(ctx: &Ctx, p: &Port, action: &str) -> ApiResult<()> {
        if ctx.owns(&p.project_id) || action == "delete_port" {
            Ok(())
        } else {
            Err(Self::not_found(&p.id))
        }
    }

    /// Router and floating IP ports go with their router interface, gateway or
    /// floating IP, and the network's DHCP port with its last DHCP subnet, not
    /// through the port API; floating IPs on the port are disassociated, and its
    /// addresses freed.
    async fn on_delete(tx: &mut Tx, ctx: &Ctx, p: &Port) -> ApiResult<()> {
        let id = &p.id;
        if !ctx.owns(&p.project_id) {
            let network_owner = tx
                .get::<Network>(&p.network_id)
                .await?
                .is_some_and(|n| ctx.owns(&n.project_id));
            if !network_owner {
                return Err(Self::not_found(id));
            }
        }
        if dhcp_port::is_server_port_in(tx, p).await? {
            return Err(dhcp_port::refused(p, "it cannot be deleted"));
        }
        if [
            device_owner::ROUTER_INTERFACE,
            device_owner::ROUTER_GATEWAY,
            device_owner::FLOATING_IP,
        ]
        .contains(&p.device_owner.as_str())
        {
            return Err(ApiError::conflict(
                "ServicePortInUse",
                format!(
                    "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                    p.device_owner
                ),
            ));
        }
        for mut f in tx.list::<FloatingIp>().await? {
            if f.port_id.as_deref() == Some(id.as_str()) {
                super::floatingips::disassociate(&mut f);
                touch(&mut f.revision_number, &mut f.updated_at);
                tx.update(&f).await?;
            }
        }
        release_addresses(tx, p).await
    }
}
