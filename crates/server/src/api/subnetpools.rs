//! `/v2.0/subnetpools` (Neutron's `subnet_allocation`): pools of prefixes that a
//! subnet can be carved from (`subnetpool_id` with a `prefixlen` or a `cidr`
//! inside the pool; see `subnets::create`). A project sees its own pools and the
//! shared ones; only the admin makes a pool shared or the default. Prefixes only
//! grow on update, `add_prefixes`/`remove_prefixes` (subnetpool-prefix-ops) add and
//! take away address space (never what a subnet uses); a pool with subnets is not
//! deleted. A pool may join an address scope (`address_scope_id`) of its IP
//! version that the caller owns or that is shared, if no pool in it overlaps.

use super::common::{Attrs, created, one, touch};
use super::rbac_policies as rbac;
use super::resource::{Resource, fetch_writable};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::Tx;
use crate::util::{new_id, now};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use model::{Subnet, SubnetPool};
use serde_json::Value;

impl Resource for SubnetPool {
    const MEMBER: &'static str = "subnetpool";
    const COLLECTION: &'static str = "subnetpools";
    const NOT_FOUND: (&'static str, &'static str) = ("SubnetPoolNotFound", "Subnet pool");

    fn not_found(id: &str) -> ApiError {
        ApiError::not_found_msg(
            "SubnetPoolNotFound",
            format!("Subnet pool {id} could not be found."),
        )
    }

    fn revision(&self) -> Option<u64> {
        Some(self.revision_number)
    }

    fn visible(ctx: &Ctx, p: &Self) -> bool {
        ctx.owns(&p.project_id) || ctx.grants.shared(rbac::SUBNETPOOL, &p.id)
    }

    /// The visible ones, each with `shared` as the caller sees it.
    async fn readable(_state: &AppState, ctx: &Ctx, items: Vec<Self>) -> ApiResult<Vec<Self>> {
        Ok(items
            .into_iter()
            .filter(|p| Self::visible(ctx, p))
            .map(|mut p| {
                p.shared = ctx.grants.shared(rbac::SUBNETPOOL, &p.id);
                p
            })
            .collect())
    }

    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, p: &SubnetPool) -> ApiResult<()> {
        let used = tx
            .list::<Subnet>()
            .await?
            .iter()
            .any(|s| s.subnetpool_id.as_deref() == Some(p.id.as_str()));
        if used {
            return Err(ApiError::conflict(
                "SubnetPoolInUse",
                format!(
                    "Unable to complete operation on subnet pool {}. Subnet pool has existing allocations.",
                    p.id
                ),
            ));
        }
        rbac::remove_all(tx, rbac::SUBNETPOOL, &p.id).await
    }
}

/// A pool's prefixes: CIDRs (host bits cleared) of one IP version, merged
/// where they overlap or touch.
fn parse_prefixes(items: &[Value]) -> ApiResult<(Vec<IpNet>, u8)> {
    let mut nets = Vec::new();
    for v in items {
        let s = v.as_str().ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid input for prefixes. Reason: '{v}' is not a valid IP subnet."
            ))
        })?;
        let n: IpNet = s.parse().map_err(|_| {
            ApiError::invalid(format!(
                "Invalid input for prefixes. Reason: '{s}' is not a valid IP subnet."
            ))
        })?;
        nets.push(n.trunc());
    }
    let Some(first) = nets.first() else {
        return Err(ApiError::invalid(
            "Invalid input for prefixes. Reason: a subnet pool needs at least one prefix.",
        ));
    };
    let v6 = first.addr().is_ipv6();
    if nets.iter().any(|n| n.addr().is_ipv6() != v6) {
        return Err(ApiError::invalid(
            "Illegal subnetpool prefix: prefixes of mixed IP versions.",
        ));
    }
    Ok((IpNet::aggregate(&nets), if v6 { 6 } else { 4 }))
}

/// min <= default <= max, inside the version's bounds and no shorter than the
/// pool's longest prefix allows.
fn check_lengths(v6: bool, min: u8, default: u8, max: u8) -> ApiResult<()> {
    let top = if v6 { 128 } else { 32 };
    if max > top || min > max || default < min || default > max {
        return Err(ApiError::invalid(format!(
            "Illegal prefix bounds: min_prefixlen={min}, default_prefixlen={default}, max_prefixlen={max} (0 to {top}, min <= default <= max)."
        )));
    }
    Ok(())
}

/// `POST /v2.0/subnetpools`.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_subnetpool")?;
    let a = Attrs::from_body(&body, "subnetpool")?;
    let project = a.project(&ctx, "create_subnetpool")?;
    let items = a.list("prefixes")?.ok_or_else(|| {
        ApiError::bad_request(
            "Failed to parse request. Required attribute 'prefixes' not specified",
        )
    })?;
    let (prefixes, version) = parse_prefixes(&items)?;
    let v6 = version == 6;
    let min = a.u8("min_prefixlen")?.unwrap_or(if v6 { 64 } else { 8 });
    let max = a.u8("max_prefixlen")?.unwrap_or(if v6 { 128 } else { 32 });
    let default = a.u8("default_prefixlen")?.unwrap_or(min);
    check_lengths(v6, min, default, max)?;
    let shared = a.bool("shared")?.unwrap_or(false);
    let is_default = a.bool("is_default")?.unwrap_or(false);
    if (shared || is_default) && !ctx.is_admin() {
        return Err(ApiError::forbidden(if shared {
            "create_subnetpool:shared"
        } else {
            "create_subnetpool:is_default"
        }));
    }
    let scope = a.str("address_scope_id")?;
    let ts = now();
    let p = SubnetPool {
        id: new_id(),
        name: a.str("name")?.unwrap_or_default(),
        description: a.str("description")?.unwrap_or_default(),
        project_id: project.clone(),
        tenant_id: project,
        prefixes: prefixes.iter().map(ToString::to_string).collect(),
        ip_version: version,
        default_prefixlen: default,
        min_prefixlen: min,
        max_prefixlen: max,
        default_quota: None,
        shared,
        is_default,
        address_scope_id: scope.clone(),
        tags: Vec::new(),
        revision_number: 1,
        created_at: ts.clone(),
        updated_at: ts,
    };
    let mut tx = state.store.write().await?;
    if is_default && default_pool(&mut tx, version).await?.is_some() {
        return Err(ApiError::invalid(format!(
            "Invalid input for operation: a default IPv{version} subnet pool exists already."
        )));
    }
    if let Some(scope) = &scope {
        super::address_scopes::check_association(&mut tx, &ctx, scope, &p.id, version, &prefixes)
            .await?;
    }
    tx.insert(&p).await?;
    if shared {
        let r = rbac::policy(
            rbac::SUBNETPOOL,
            &p.id,
            model::rbac::ACCESS_AS_SHARED,
            model::rbac::WILDCARD,
            &p.project_id,
        );
        rbac::insert(&mut tx, &r).await?;
    }
    tx.commit().await?;
    Ok(created("subnetpool", &p))
}

/// The default pool of an IP version, if there is one.
pub async fn default_pool(tx: &mut Tx, version: u8) -> ApiResult<Option<SubnetPool>> {
    Ok(tx
        .list::<SubnetPool>()
        .await?
        .into_iter()
        .find(|p| p.is_default && p.ip_version == version))
}

/// `PUT /v2.0/subnetpools/{id}`.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_subnetpool")?;
    let a = Attrs::from_body(&body, "subnetpool")?;
    a.read_only(&["shared", "ip_version", "project_id", "tenant_id"])?;
    let mut tx = state.store.write().await?;
    let mut p: SubnetPool =
        fetch_writable(&mut tx, &ctx, &headers, &id, "update_subnetpool").await?;
    if let Some(n) = a.str("name")? {
        p.name = n;
    }
    if let Some(d) = a.str("description")? {
        p.description = d;
    }
    if let Some(items) = a.list("prefixes")? {
        check_prefix_change(&mut tx, &ctx, &p).await?;
        let (new, version) = parse_prefixes(&items)?;
        let old: Vec<IpNet> = p.prefixes.iter().filter_map(|s| s.parse().ok()).collect();
        if version != p.ip_version || !old.iter().all(|o| crate::subnet_alloc::within(&new, o)) {
            return Err(ApiError::invalid(
                "Illegal update to prefixes: prefixes can be added, not removed.",
            ));
        }
        p.prefixes = new.iter().map(ToString::to_string).collect();
    }
    let v6 = p.ip_version == 6;
    let min = a.u8("min_prefixlen")?.unwrap_or(p.min_prefixlen);
    let max = a.u8("max_prefixlen")?.unwrap_or(p.max_prefixlen);
    let default = a.u8("default_prefixlen")?.unwrap_or(p.default_prefixlen);
    check_lengths(v6, min, default, max)?;
    (p.min_prefixlen, p.max_prefixlen, p.default_prefixlen) = (min, max, default);
    let scope = a.nullable_str("address_scope_id")?;
    if let Some(scope) = &scope {
        p.address_scope_id = scope.clone();
    }
    if scope.is_some() || a.has("prefixes") {
        check_scope(&mut tx, &ctx, &p).await?;
    }
    if let Some(d) = a.bool("is_default")? {
        if !ctx.is_admin() {
            return Err(ApiError::forbidden("update_subnetpool:is_default"));
        }
        if d && !p.is_default && default_pool(&mut tx, p.ip_version).await?.is_some() {
            return Err(ApiError::invalid(format!(
                "Invalid input for operation: a default IPv{} subnet pool exists already.",
                p.ip_version
            )));
        }
        p.is_default = d;
    }
    touch(&mut p.revision_number, &mut p.updated_at);
    tx.update(&p).await?;
    tx.commit().await?;
    Ok(one("subnetpool", &p))
}

/// The pool's prefixes as networks.
fn nets(p: &SubnetPool) -> Vec<IpNet> {
    p.prefixes.iter().filter_map(|s| s.parse().ok()).collect()
}

/// Only the owner of the pool's address scope (or the admin) changes the
/// prefixes of a pool in it: they are the scope's address space.
async fn check_prefix_change(tx: &mut Tx, ctx: &Ctx, p: &SubnetPool) -> ApiResult<()> {
    let Some(scope) = &p.address_scope_id else {
        return Ok(());
    };
    let owner = tx
        .get::<model::AddressScope>(scope)
        .await?
        .map(|s| s.project_id)
        .unwrap_or_default();
    if ctx.owns(&owner) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Illegal update to prefixes: only the owner of address scope {scope} changes the prefixes of its subnet pools."
        )))
    }
}

/// The pool may stay in (or join) its address scope with its prefixes.
async fn check_scope(tx: &mut Tx, ctx: &Ctx, p: &SubnetPool) -> ApiResult<()> {
    match &p.address_scope_id {
        Some(scope) => {
            super::address_scopes::check_association(tx, ctx, scope, &p.id, p.ip_version, &nets(p))
                .await
        }
        None => Ok(()),
    }
}

/// The `prefixes` of a prefix operation's body, of the pool's IP version.
fn op_prefixes(body: &Bytes, p: &SubnetPool) -> ApiResult<Vec<IpNet>> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Failed to parse request: {e}")))?;
    let items = v.get("prefixes").and_then(Value::as_array).ok_or_else(|| {
        ApiError::bad_request("Failed to parse request. 'prefixes' must be a list of CIDRs.")
    })?;
    let (given, version) = parse_prefixes(items)?;
    if version != p.ip_version {
        return Err(ApiError::invalid(format!(
            "Illegal update to prefixes: the subnet pool has IPv{} prefixes.",
            p.ip_version
        )));
    }
    Ok(given)
}

/// `PUT /v2.0/subnetpools/{id}/add_prefixes`: the pool's prefixes with these
/// merged in; answers `{"prefixes": [...]}`.
pub async fn add_prefixes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("add_prefixes")?;
    let mut tx = state.store.write().await?;
    let mut p: SubnetPool = fetch_writable(&mut tx, &ctx, &headers, &id, "add_prefixes").await?;
    check_prefix_change(&mut tx, &ctx, &p).await?;
    let mut all = nets(&p);
    all.extend(op_prefixes(&body, &p)?);
    p.prefixes = IpNet::aggregate(&all)
        .iter()
        .map(ToString::to_string)
        .collect();
    check_scope(&mut tx, &ctx, &p).await?;
    touch(&mut p.revision_number, &mut p.updated_at);
    tx.update(&p).await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"prefixes": p.prefixes})))
}

/// `PUT /v2.0/subnetpools/{id}/remove_prefixes`: the pool without these
/// addresses; refused when a subnet of the pool is in them or nothing is left.
pub async fn remove_prefixes(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("remove_prefixes")?;
    let mut tx = state.store.write().await?;
    let mut p: SubnetPool = fetch_writable(&mut tx, &ctx, &headers, &id, "remove_prefixes").await?;
    check_prefix_change(&mut tx, &ctx, &p).await?;
    let removed = op_prefixes(&body, &p)?;
    for s in tx.list::<Subnet>().await? {
        if s.subnetpool_id.as_deref() != Some(p.id.as_str()) {
            continue;
        }
        let Ok(cidr) = s.cidr.parse::<IpNet>() else {
            continue;
        };
        if let Some(r) = removed
            .iter()
            .find(|r| r.contains(&cidr) || cidr.contains(*r))
        {
            return Err(ApiError::invalid(format!(
                "Illegal update to prefixes: {r} is in use by subnet {} ({cidr}).",
                s.id
            )));
        }
    }
    let left = crate::subnet_alloc::subtract(&nets(&p), &removed);
    if left.is_empty() {
        return Err(ApiError::invalid(
            "Illegal update to prefixes: a subnet pool keeps at least one prefix.",
        ));
    }
    p.prefixes = left.iter().map(ToString::to_string).collect();
    touch(&mut p.revision_number, &mut p.updated_at);
    tx.update(&p).await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"prefixes": p.prefixes})))
}

/// What a subnet create asks of a pool.
pub struct PoolRequest {
    /// The pool's id, or `None` for the default pool of the version.
    pub pool: Option<String>,
    pub prefixlen: Option<u8>,
}

/// The subnet's CIDR from its pool: `cidr` checked inside the pool and free, or
/// the lowest free prefix of `prefixlen` (the pool's default length). Returns
/// the CIDR and the pool's id.
pub async fn carve(
    tx: &mut Tx,
    ctx: &Ctx,
    req: &PoolRequest,
    cidr: Option<IpNet>,
    version: Option<u8>,
) -> ApiResult<(IpNet, String)> {
    let pool = match &req.pool {
        Some(id) => tx
            .get::<SubnetPool>(id)
            .await?
            .filter(|p| SubnetPool::visible(ctx, p))
            .ok_or_else(|| SubnetPool::not_found(id))?,
        None => {
            let v = version.ok_or_else(|| {
                ApiError::bad_request("Bad subnets request: ip_version must be specified in the absence of cidr and subnetpool_id.")
            })?;
            default_pool(tx, v).await?.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Bad subnets request: no default IPv{v} subnet pool."
                ))
            })?
        }
    };
    if version.is_some_and(|v| v != pool.ip_version) {
        return Err(ApiError::invalid(
            "Invalid input for operation: the subnet's ip_version is not the subnet pool's.",
        ));
    }
    let prefixes: Vec<IpNet> = pool
        .prefixes
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let taken: Vec<IpNet> = tx
        .list::<Subnet>()
        .await?
        .iter()
        .filter(|s| s.subnetpool_id.as_deref() == Some(pool.id.as_str()))
        .filter_map(|s| s.cidr.parse().ok())
        .collect();
    let len = req.prefixlen.unwrap_or(pool.default_prefixlen);
    let bad_len = |l: u8| l < pool.min_prefixlen || l > pool.max_prefixlen;
    let net = match cidr {
        Some(c) => {
            if bad_len(c.prefix_len()) || !crate::subnet_alloc::within(&prefixes, &c) {
                return Err(ApiError::bad_request(format!(
                    "Bad subnets request: {c} is not a prefix of subnet pool {} within its lengths {}-{}.",
                    pool.id, pool.min_prefixlen, pool.max_prefixlen
                )));
            }
            if taken
                .iter()
                .any(|t| t.contains(&c.network()) || c.contains(&t.network()))
            {
                return Err(ApiError::conflict(
                    "SubnetAllocationError",
                    format!("Failed to allocate subnet: {c} overlaps a subnet of the pool."),
                ));
            }
            c
        }
        None => {
            if bad_len(len) {
                return Err(ApiError::bad_request(format!(
                    "Bad subnets request: prefixlen {len} is outside the pool's {}-{}.",
                    pool.min_prefixlen, pool.max_prefixlen
                )));
            }
            crate::subnet_alloc::allocate(&prefixes, &taken, len).ok_or_else(|| {
                ApiError::conflict(
                    "SubnetAllocationError",
                    "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /"
                        .to_string() + &len.to_string(),
                )
            })?
        }
    };
    Ok((net, pool.id))
}
