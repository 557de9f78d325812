//! `/v2.0/networks`, with the provider and external-net extensions.

use super::common::{Attrs, created, network_visible, one, retry, touch};
use super::ports::remove_port;
use super::rbac_policies as rbac;
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::segments;
use crate::store::{SEGMENTS, Tx};
use crate::util::{new_id, now};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use model::{FloatingIp, Network, NetworkType, Port, Subnet, device_owner};
use serde_json::Value;

const PROVIDER: [&str; 3] = [
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

/// A network the caller may see, or 404.
pub async fn visible(state: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Network> {
    state
        .store
        .get::<Network>(id)
        .await?
        .filter(|n| network_visible(ctx, n))
        .ok_or_else(|| Network::not_found(id))
}

/// Refuses to stop a network being external while routers have their gateway
/// on it.
async fn external_in_use(tx: &mut Tx, id: &str) -> ApiResult<()> {
    let used = tx.list::<model::Router>().await?.iter().any(|r| {
        r.external_gateway_info
            .as_ref()
            .is_some_and(|g| g.network_id == id)
    });
    if used {
        return Err(ApiError::conflict(
            "ExternalNetworkInUse",
            format!(
                "External network {id} cannot be updated to be internal: router gateways use it."
            ),
        ));
    }
    Ok(())
}

fn max_mtu(state: &AppState, t: NetworkType) -> u32 {
    state.config.underlay_mtu.saturating_sub(t.overhead())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_network")?;
    let a = Attrs::from_body(&body, "network")?;
    a.admin_only(&ctx, "create_network", &PROVIDER)?;
    a.admin_only(&ctx, "create_network", &["router:external"])?;
    if a.bool("shared")? == Some(true) {
        a.admin_only(&ctx, "create_network", &["shared"])?;
    }
    let project_id = a.project(&ctx, "create_network")?;
    let network_type = match a.str("provider:network_type")? {
        Some(t) => NetworkType::parse(&t).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid input for provider:network_type. Reason: network_type value '{t}' not supported (vxlan, gre, vlan, flat)."
            ))
        })?,
        None => state.config.segments.tenant_network_type,
    };
    let physnet = a.str("provider:physical_network")?;
    let seg = a.u32("provider:segmentation_id")?;
    let max = max_mtu(&state, network_type);
    let mtu = match a.u32("mtu")? {
        Some(m) if m > max || m < 68 => {
            return Err(ApiError::invalid(format!(
                "Requested MTU is too big, maximum is {max}"
            )));
        }
        Some(m) => m,
        None => max,
    };
    let name = a.str("name")?.unwrap_or_default();
    let description = a.str("description")?.unwrap_or_default();
    let admin_state_up = a.bool("admin_state_up")?.unwrap_or(true);
    let shared = a.bool("shared")?.unwrap_or(false);
    let external = a.bool("router:external")?.unwrap_or(false);
    let port_security = a.bool("port_security_enabled")?.unwrap_or(true);
    let n = retry!({
        let mut tx = state.store.write().await?;
        super::quotas::check(&mut tx, &project_id, "network", 1).await?;
        let id = new_id();
        let (physical_network, segmentation_id) = segments::allocate(
            &mut tx,
            &state.config.segments,
            &id,
            network_type,
            physnet.clone(),
            seg,
        )
        .await?;
        let ts = now();
        let n = Network {
            id,
            name: name.clone(),
            description: description.clone(),
            project_id: project_id.clone(),
            tenant_id: project_id.clone(),
            admin_state_up,
            status: "ACTIVE".into(),
            shared,
            router_external: external,
            mtu,
            network_type,
            physical_network,
            segmentation_id,
            subnets: Vec::new(),
            port_security_enabled: port_security,
            availability_zone_hints: Vec::new(),
            availability_zones: vec!["nova".into()],
            tags: Vec::new(),
            ipv4_address_scope: None,
            ipv6_address_scope: None,
            revision_number: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        tx.insert(&n).await?;
        for (on, action) in [
            (shared, model::rbac::ACCESS_AS_SHARED),
            (external, model::rbac::ACCESS_AS_EXTERNAL),
        ] {
            if on {
                let p = rbac::policy(
                    rbac::NETWORK,
                    &n.id,
                    action,
                    model::rbac::WILDCARD,
                    &n.project_id,
                );
                rbac::insert(&mut tx, &p).await?;
            }
        }
        tx.commit().await?;
        Ok(n)
    })?;
    tracing::info!(id = %n.id, name = %n.name, network_type = %n.network_type,
        segmentation_id = ?n.segmentation_id, "network created");
    Ok(created("network", &n))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_network")?;
    let a = Attrs::from_body(&body, "network")?;
    a.admin_only(&ctx, "update_network", &["router:external", "shared"])?;
    if PROVIDER.iter().any(|k| a.has(k)) {
        return Err(ApiError::invalid(
            "Invalid input for operation: Plugin does not support updating provider attributes.",
        ));
    }
    a.read_only(&["id", "project_id", "tenant_id", "subnets", "status"])?;
    let mut tx = state.store.write().await?;
    let mut n: Network = fetch_writable(&mut tx, &ctx, &headers, &id, "update_network").await?;
    if let Some(v) = a.str("name")? {
        n.name = v;
    }
    if let Some(v) = a.str("description")? {
        n.description = v;
    }
    if let Some(v) = a.bool("admin_state_up")? {
        n.admin_state_up = v;
    }
    // Sharing and external access are RBAC policies for all (`*`); they set the
    // stored flags.
    let wanted_shared = a.bool("shared")?;
    let wanted_external = a.bool("router:external")?;
    if let Some(v) = a.bool("port_security_enabled")? {
        n.port_security_enabled = v;
    }
    if let Some(m) = a.u32("mtu")? {
        let max = max_mtu(&state, n.network_type);
        if m > max || m < 68 {
            return Err(ApiError::invalid(format!(
                "Requested MTU is too big, maximum is {max}"
            )));
        }
        n.mtu = m;
    }
    touch(&mut n.revision_number, &mut n.updated_at);
    tx.update(&n).await?;
    use model::rbac::{ACCESS_AS_EXTERNAL, ACCESS_AS_SHARED, WILDCARD};
    match wanted_shared {
        Some(true)
            if !rbac::has(&mut tx, rbac::NETWORK, &id, ACCESS_AS_SHARED, WILDCARD).await? =>
        {
            let p = rbac::policy(
                rbac::NETWORK,
                &id,
                ACCESS_AS_SHARED,
                WILDCARD,
                &n.project_id,
            );
            rbac::insert(&mut tx, &p).await?;
        }
        Some(false) => {
            rbac::remove(
                &mut tx,
                rbac::NETWORK,
                &id,
                ACCESS_AS_SHARED,
                Some(WILDCARD),
            )
            .await?
        }
        _ => {}
    }
    match wanted_external {
        Some(true) if !n.router_external => {
            let p = rbac::policy(
                rbac::NETWORK,
                &id,
                ACCESS_AS_EXTERNAL,
                WILDCARD,
                &n.project_id,
            );
            rbac::insert(&mut tx, &p).await?;
        }
        Some(false) if n.router_external => {
            external_in_use(&mut tx, &id).await?;
            rbac::remove(&mut tx, rbac::NETWORK, &id, ACCESS_AS_EXTERNAL, None).await?
        }
        _ => {}
    }
    let Some(n) = tx.get::<Network>(&id).await? else {
        return Err(Network::not_found(&id));
    };
    tx.commit().await?;
    let mut shown = [n];
    <Network as Resource>::render(&state, &mut shown).await?;
    Ok(one("network", &shown[0]))
}

impl Resource for Network {
    const MEMBER: &'static str = "network";
    const COLLECTION: &'static str = "networks";
    const NOT_FOUND: (&'static str, &'static str) = ("NetworkNotFound", "Network");

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    /// Its own, shared ones and external ones.
    fn visible(ctx: &Ctx, n: &Network) -> bool {
        network_visible(ctx, n)
    }

    /// The address scopes of its subnets' pools.
    async fn render(state: &AppState, items: &mut [Network]) -> ApiResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let pools = state.store.list::<model::SubnetPool>().await?;
        if pools.iter().all(|p| p.address_scope_id.is_none()) {
            return Ok(());
        }
        let subnets = state.store.list::<Subnet>().await?;
        super::address_scopes::fill_network_scopes(items, &subnets, &pools);
        Ok(())
    }

    /// The visible ones, each with `shared` as the caller sees it (shared with
    /// it or with all).
    async fn readable(
        _state: &AppState,
        ctx: &Ctx,
        items: Vec<Network>,
    ) -> ApiResult<Vec<Network>> {
        Ok(items
            .into_iter()
            .filter(|n| network_visible(ctx, n))
            .map(|mut n| {
                n.shared = ctx.grants.shared(rbac::NETWORK, &n.id);
                n
            })
            .collect())
    }

    /// A shared or external network is visible to all, but only its project (or
    /// an admin) may change it: the others get a 403, not a 404.
    fn writable(ctx: &Ctx, n: &Network, action: &str) -> ApiResult<()> {
        if !network_visible(ctx, n) {
            Err(Self::not_found(&n.id))
        } else if !ctx.owns(&n.project_id) {
            Err(ApiError::forbidden(action))
        } else {
            Ok(())
        }
    }

    /// Refused while ports other than DHCP's are on it; takes its DHCP ports,
    /// subnets and segments with it.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, n: &Network) -> ApiResult<()> {
        let id = &n.id;
        rbac::remove_all(tx, rbac::NETWORK, id).await?;
        let ports = tx.list_by_parent::<Port>(id).await?;
        // Floating IPs on the network that no port uses go with it, as Neutron's
        // (their own ports too); one in use keeps the network in use.
        let idle: Vec<FloatingIp> = tx
            .list_by_parent::<FloatingIp>(id)
            .await?
            .into_iter()
            .filter(|f| f.port_id.is_none())
            .collect();
        let goes = |p: &Port| {
            p.device_owner == device_owner::DHCP
                || (p.device_owner == device_owner::FLOATING_IP
                    && idle.iter().any(|f| f.id == p.device_id))
        };
        if !ports.iter().all(goes) {
            return Err(ApiError::conflict(
                "NetworkInUse",
                format!(
                    "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
                ),
            ));
        }
        for p in ports {
            remove_port(tx, &p).await?;
        }
        for f in &idle {
            tx.delete::<FloatingIp>(&f.id).await?;
        }
        for s in tx.list_by_parent::<Subnet>(id).await? {
            tx.delete::<Subnet>(&s.id).await?;
        }
        tx.release_owner(&SEGMENTS, id).await?;
        Ok(())
    }
}
