//! `/v2.0/address-scopes` (Neutron's `address-scope`): scopes that subnet pools
//! join (`subnetpools.address_scope_id`), prefixes never overlapping inside one
//! scope; a network shows the scope of its subnets' pools
//! (`ipv4_address_scope`, `ipv6_address_scope`). A project sees its own scopes and
//! shared ones; only the admin shares one, and a shared scope stays shared. The
//! network node routes between subnets of one scope and the external network
//! without SNAT (see the agent's router compile).

use super::common::{Attrs, created, one};
use super::rbac_policies as rbac;
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::Tx;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use model::{AddressScope, Network, Subnet, SubnetPool};
use serde_json::Value;
use std::collections::HashMap;

impl Resource for AddressScope {
    const MEMBER: &'static str = "address_scope";
    const COLLECTION: &'static str = "address_scopes";
    const PATH: &'static str = "address-scopes";
    const NOT_FOUND: (&'static str, &'static str) = ("AddressScopeNotFound", "Address scope");

    fn revision(&self) -> Option<u64> {
        None
    }

    fn visible(ctx: &Ctx, s: &Self) -> bool {
        ctx.owns(&s.project_id) || ctx.grants.shared(rbac::ADDRESS_SCOPE, &s.id)
    }

    /// The visible ones, each with `shared` as the caller sees it.
    async fn readable(_state: &AppState, ctx: &Ctx, items: Vec<Self>) -> ApiResult<Vec<Self>> {
        Ok(items
            .into_iter()
            .filter(|s| Self::visible(ctx, s))
            .map(|mut s| {
                s.shared = ctx.grants.shared(rbac::ADDRESS_SCOPE, &s.id);
                s
            })
            .collect())
    }

    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, s: &AddressScope) -> ApiResult<()> {
        let used = tx
            .list::<SubnetPool>()
            .await?
            .iter()
            .any(|p| p.address_scope_id.as_deref() == Some(s.id.as_str()));
        if used {
            return Err(ApiError::conflict(
                "AddressScopeInUse",
                format!(
                    "Unable to complete operation on address scope {}. There are one or more subnet pools in use on the address scope.",
                    s.id
                ),
            ));
        }
        rbac::remove_all(tx, rbac::ADDRESS_SCOPE, &s.id).await
    }
}

/// `POST /v2.0/address-scopes`.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_address_scope")?;
    let a = Attrs::from_body(&body, "address_scope")?;
    a.admin_only(&ctx, "create_address_scope", &["shared"])?;
    let project = a.project(&ctx, "create_address_scope")?;
    let ip_version = match a.raw("ip_version") {
        Some(Value::Number(n)) if n.as_u64() == Some(4) || n.as_u64() == Some(6) => {
            n.as_u64().map_or(4, |v| v as u8)
        }
        Some(Value::String(s)) if s == "4" || s == "6" => s.parse().unwrap_or(4),
        None => {
            return Err(ApiError::bad_request(
                "Failed to parse request. Required attribute 'ip_version' not specified",
            ));
        }
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "Invalid input for ip_version. Reason: {v} is not in [4, 6]."
            )));
        }
    };
    let s = AddressScope {
        id: new_id(),
        name: a.str("name")?.unwrap_or_default(),
        project_id: project.clone(),
        tenant_id: project,
        shared: a.bool("shared")?.unwrap_or(false),
        ip_version,
    };
    let mut tx = state.store.write().await?;
    tx.insert(&s).await?;
    if s.shared {
        share_with_all(&mut tx, &s).await?;
    }
    tx.commit().await?;
    Ok(created("address_scope", &s))
}

/// `PUT /v2.0/address-scopes/{id}`: the name; the admin may share a scope, never
/// unshare it (its pools may be another project's by then).
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_address_scope")?;
    let a = Attrs::from_body(&body, "address_scope")?;
    a.admin_only(&ctx, "update_address_scope", &["shared"])?;
    a.read_only(&["id", "ip_version", "project_id", "tenant_id"])?;
    let mut tx = state.store.write().await?;
    let mut s: AddressScope =
        fetch_writable(&mut tx, &ctx, &headers, &id, "update_address_scope").await?;
    if let Some(n) = a.str("name")? {
        s.name = n;
    }
    if let Some(shared) = a.bool("shared")? {
        if s.shared && !shared {
            return Err(ApiError::bad_request(format!(
                "Unable to update address scope {id} : Shared address scope can't be unshared."
            )));
        }
        if shared && !s.shared {
            share_with_all(&mut tx, &s).await?;
        }
        s.shared = shared;
    }
    tx.update(&s).await?;
    tx.commit().await?;
    Ok(one("address_scope", &s))
}

/// The wildcard share that `shared: true` stands for.
async fn share_with_all(tx: &mut Tx, s: &AddressScope) -> ApiResult<()> {
    let p = rbac::policy(
        rbac::ADDRESS_SCOPE,
        &s.id,
        model::rbac::ACCESS_AS_SHARED,
        model::rbac::WILDCARD,
        &s.project_id,
    );
    rbac::insert(tx, &p).await
}

/// Checks that pool `pool` (of `version`, with `prefixes`) may be in scope `id`:
/// a UUID (400) of a scope the caller sees (404) and owns or has shared with it
/// (400), of the pool's IP version (400), and no other pool in it overlaps (409).
pub async fn check_association(
    tx: &mut Tx,
    ctx: &Ctx,
    id: &str,
    pool: &str,
    version: u8,
    prefixes: &[ipnet::IpNet],
) -> ApiResult<()> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::invalid(format!(
            "Invalid input for address_scope_id. Reason: '{id}' is not a valid UUID."
        )));
    }
    let scope = tx
        .get::<AddressScope>(id)
        .await?
        .filter(|s| AddressScope::visible(ctx, s))
        .ok_or_else(|| AddressScope::not_found(id))?;
    let illegal = |why: &str| {
        ApiError::invalid(format!(
            "Illegal subnetpool association: subnetpool {pool} cannot be associated with address scope {id}: {why}."
        ))
    };
    if !ctx.owns(&scope.project_id) && !ctx.grants.shared(rbac::ADDRESS_SCOPE, id) {
        return Err(illegal("the address scope is another project's"));
    }
    if scope.ip_version != version {
        return Err(ApiError::invalid(format!(
            "Illegal subnetpool association: subnetpool {pool} cannot associate with address scope {id} because subnetpool ip_version is not {}.",
            scope.ip_version
        )));
    }
    for other in tx.list::<SubnetPool>().await? {
        if other.id == pool || other.address_scope_id.as_deref() != Some(id) {
            continue;
        }
        let theirs: Vec<ipnet::IpNet> = other
            .prefixes
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        if prefixes
            .iter()
            .any(|p| theirs.iter().any(|t| t.contains(p) || p.contains(t)))
        {
            return Err(ApiError::conflict(
                "AddressScopePrefixConflict",
                format!(
                    "Failed to associate address scope: subnetpools within an address scope must have unique prefixes (subnet pool {pool} overlaps {}).",
                    other.id
                ),
            ));
        }
    }
    Ok(())
}

/// Fills in each network's `ipv4_address_scope` / `ipv6_address_scope`: the scope
/// of the pool its subnets of that version were carved from.
pub fn fill_network_scopes(nets: &mut [Network], subnets: &[Subnet], pools: &[SubnetPool]) {
    let scope_of: HashMap<&str, &str> = pools
        .iter()
        .filter_map(|p| Some((p.id.as_str(), p.address_scope_id.as_deref()?)))
        .collect();
    for n in nets {
        let scope = |v: u8| {
            subnets
                .iter()
                .filter(|s| s.network_id == n.id && s.ip_version == v)
                .find_map(|s| {
                    scope_of
                        .get(s.subnetpool_id.as_deref()?)
                        .map(|x| x.to_string())
                })
        };
        n.ipv4_address_scope = scope(4);
        n.ipv6_address_scope = scope(6);
    }
}
