//! `/v2.0/rbac-policies` (Neutron's `rbac-policies`, `rbac-subnetpool`,
//! `rbac-address-scope`): share a network, subnet pool or address scope with one
//! project or all (`access_as_shared`), make a network external for one project or
//! all (`access_as_external`).
//!
//! A policy belongs to the project that made it (the object's owner, or the admin);
//! only they see it, not its target. A wildcard (`*`) is the admin's, and is what
//! the objects' own `shared` / `router:external` attributes create and remove. A
//! target may not lose access while it uses the object (its ports or subnets on a
//! network, its routers' gateways on an external network, its subnets from a pool,
//! its pools in a scope): 409 RbacPolicyInUse.

use super::common::{Attrs, created, one, touch};
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
use model::rbac::{ACCESS_AS_EXTERNAL, ACCESS_AS_SHARED, WILDCARD};
use model::{AddressScope, Network, Port, RbacPolicy, Router, Subnet, SubnetPool};
use serde_json::Value;
use std::collections::BTreeSet;

pub const NETWORK: &str = "network";
pub const SUBNETPOOL: &str = "subnetpool";
pub const ADDRESS_SCOPE: &str = "address_scope";

impl Resource for RbacPolicy {
    const MEMBER: &'static str = "rbac_policy";
    const COLLECTION: &'static str = "rbac_policies";
    const PATH: &'static str = "rbac-policies";
    const NOT_FOUND: (&'static str, &'static str) = ("RbacPolicyNotFound", "RBAC policy");

    fn not_found(id: &str) -> ApiError {
        ApiError::not_found_msg(
            "RbacPolicyNotFound",
            format!("RBAC policy with id {id} could not be found."),
        )
    }

    fn revision(&self) -> Option<u64> {
        None
    }

    /// The target takes its access away only with the policy's project.
    async fn on_delete(tx: &mut Tx, _ctx: &Ctx, p: &RbacPolicy) -> ApiResult<()> {
        check_losing(tx, p, None).await?;
        set_flags(tx, &p.object_type, &p.object_id, Some(&p.id)).await
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::invalid(msg)
}

fn check_target(t: &str) -> ApiResult<()> {
    let hex: String = t.chars().filter(|c| *c != '-').collect();
    if t == WILDCARD || (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid input for target_tenant. Reason: '{t}' is not '*' or a project id."
        )))
    }
}

/// The owner of object `id` of `kind`, if it exists (the caller's view is not
/// consulted: policies name objects by id).
async fn owner_of(tx: &mut Tx, kind: &str, id: &str) -> ApiResult<Option<String>> {
    Ok(match kind {
        NETWORK => tx.get::<Network>(id).await?.map(|o| o.project_id),
        SUBNETPOOL => tx.get::<SubnetPool>(id).await?.map(|o| o.project_id),
        ADDRESS_SCOPE => tx.get::<AddressScope>(id).await?.map(|o| o.project_id),
        _ => None,
    })
}

/// The policies on one object.
async fn policies_on(tx: &mut Tx, kind: &str, id: &str) -> ApiResult<Vec<RbacPolicy>> {
    Ok(tx
        .list_by_parent::<RbacPolicy>(id)
        .await?
        .into_iter()
        .filter(|p| p.object_type == kind)
        .collect())
}

/// A new policy (also what the objects' `shared`/`router:external` make).
pub fn policy(kind: &str, id: &str, action: &str, target: &str, project: &str) -> RbacPolicy {
    RbacPolicy {
        id: new_id(),
        object_type: kind.into(),
        object_id: id.into(),
        action: action.into(),
        target_tenant: target.into(),
        project_id: project.into(),
        tenant_id: project.into(),
    }
}

/// Stores `p` (409 if the same one exists) and what it turns on.
pub async fn insert(tx: &mut Tx, p: &RbacPolicy) -> ApiResult<()> {
    let same = policies_on(tx, &p.object_type, &p.object_id)
        .await?
        .into_iter()
        .any(|o| o.action == p.action && o.target_tenant == p.target_tenant);
    if same {
        return Err(ApiError::conflict(
            "DuplicateRbacPolicy",
            "An RBAC policy already exists with those values.",
        ));
    }
    tx.insert(p).await?;
    set_flags(tx, &p.object_type, &p.object_id, None).await
}

/// The objects' stored wildcard flags follow their policies: `shared` while a
/// `*` share exists, `router:external` while any external policy does. A network
/// also moves its revision. `gone`: a policy about to be deleted.
async fn set_flags(tx: &mut Tx, kind: &str, id: &str, gone: Option<&str>) -> ApiResult<()> {
    let ps: Vec<RbacPolicy> = policies_on(tx, kind, id)
        .await?
        .into_iter()
        .filter(|p| Some(p.id.as_str()) != gone)
        .collect();
    let wild = ps
        .iter()
        .any(|p| p.action == ACCESS_AS_SHARED && p.target_tenant == WILDCARD);
    match kind {
        NETWORK => {
            if let Some(mut n) = tx.get::<Network>(id).await? {
                n.shared = wild;
                n.router_external = ps.iter().any(|p| p.action == ACCESS_AS_EXTERNAL);
                touch(&mut n.revision_number, &mut n.updated_at);
                tx.update(&n).await?;
            }
        }
        SUBNETPOOL => {
            if let Some(mut o) = tx.get::<SubnetPool>(id).await?
                && o.shared != wild
            {
                o.shared = wild;
                tx.update(&o).await?;
            }
        }
        ADDRESS_SCOPE => {
            if let Some(mut o) = tx.get::<AddressScope>(id).await?
                && o.shared != wild
            {
                o.shared = wild;
                tx.update(&o).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Deletes `p` and sets the flags it held up.
async fn after_removal(tx: &mut Tx, p: &RbacPolicy) -> ApiResult<()> {
    tx.delete::<RbacPolicy>(&p.id).await?;
    set_flags(tx, &p.object_type, &p.object_id, None).await
}

/// The projects that use the object in the way `action` allows.
async fn bound_projects(
    tx: &mut Tx,
    kind: &str,
    id: &str,
    action: &str,
) -> ApiResult<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    match (kind, action) {
        (NETWORK, ACCESS_AS_SHARED) => {
            out.extend(
                tx.list_by_parent::<Port>(id)
                    .await?
                    .into_iter()
                    .map(|p| p.project_id),
            );
            out.extend(
                tx.list_by_parent::<Subnet>(id)
                    .await?
                    .into_iter()
                    .map(|s| s.project_id),
            );
        }
        (NETWORK, _) => {
            out.extend(
                tx.list::<Router>()
                    .await?
                    .into_iter()
                    .filter(|r| {
                        r.external_gateway_info
                            .as_ref()
                            .is_some_and(|g| g.network_id == id)
                    })
                    .map(|r| r.project_id),
            );
        }
        (SUBNETPOOL, _) => out.extend(
            tx.list::<Subnet>()
                .await?
                .into_iter()
                .filter(|s| s.subnetpool_id.as_deref() == Some(id))
                .map(|s| s.project_id),
        ),
        (ADDRESS_SCOPE, _) => out.extend(
            tx.list::<SubnetPool>()
                .await?
                .into_iter()
                .filter(|p| p.address_scope_id.as_deref() == Some(id))
                .map(|p| p.project_id),
        ),
        _ => {}
    }
    out.remove("");
    Ok(out)
}

/// Refuses to take `p`'s target's access away while the target uses the object
/// (`replacement`: the target an update gives the policy instead).
async fn check_losing(tx: &mut Tx, p: &RbacPolicy, replacement: Option<&str>) -> ApiResult<()> {
    let Some(owner) = owner_of(tx, &p.object_type, &p.object_id).await? else {
        return Ok(());
    };
    if p.target_tenant == owner {
        return Ok(());
    }
    let others: Vec<RbacPolicy> = policies_on(tx, &p.object_type, &p.object_id)
        .await?
        .into_iter()
        .filter(|o| o.id != p.id && o.action == p.action)
        .collect();
    if others.iter().any(|o| o.target_tenant == WILDCARD) {
        return Ok(());
    }
    let mut still: BTreeSet<&str> = others.iter().map(|o| o.target_tenant.as_str()).collect();
    still.insert(owner.as_str());
    if p.action == ACCESS_AS_EXTERNAL
        && let Some(r) = replacement
    {
        still.insert(r);
    }
    let bound = bound_projects(tx, &p.object_type, &p.object_id, &p.action).await?;
    let losing: Vec<&String> = bound
        .iter()
        .filter(|b| !still.contains(b.as_str()))
        .filter(|b| p.target_tenant == WILDCARD || **b == p.target_tenant)
        .collect();
    if let Some(b) = losing.first() {
        return Err(ApiError::conflict(
            "RbacPolicyInUse",
            format!(
                "RBAC policy on object {} cannot be removed because other objects depend on it (project {b} uses it).",
                p.object_id
            ),
        ));
    }
    Ok(())
}

/// Removes every policy of an object that is being deleted.
pub async fn remove_all(tx: &mut Tx, kind: &str, id: &str) -> ApiResult<()> {
    for p in policies_on(tx, kind, id).await? {
        tx.delete::<RbacPolicy>(&p.id).await?;
    }
    Ok(())
}

/// Removes the object's policies of `action` aimed at `target` (`None`: any),
/// refusing while a target still uses it.
pub async fn remove(
    tx: &mut Tx,
    kind: &str,
    id: &str,
    action: &str,
    target: Option<&str>,
) -> ApiResult<()> {
    for p in policies_on(tx, kind, id).await? {
        if p.action == action && target.is_none_or(|t| t == p.target_tenant) {
            check_losing(tx, &p, None).await?;
            after_removal(tx, &p).await?;
        }
    }
    Ok(())
}

/// Whether the object has a policy of `action` for `target`.
pub async fn has(tx: &mut Tx, kind: &str, id: &str, action: &str, target: &str) -> ApiResult<bool> {
    Ok(policies_on(tx, kind, id)
        .await?
        .iter()
        .any(|p| p.action == action && p.target_tenant == target))
}

/// `POST /v2.0/rbac-policies`.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_writer("create_rbac_policy")?;
    let a = Attrs::from_body(&body, "rbac_policy")?;
    let kind = a.str("object_type")?.unwrap_or_default();
    if ![NETWORK, SUBNETPOOL, ADDRESS_SCOPE].contains(&kind.as_str()) {
        return Err(invalid(format!(
            "Invalid input for object_type. Reason: '{kind}' is not a valid RBAC object type."
        )));
    }
    let target = a.str("target_tenant")?.ok_or_else(|| {
        invalid("Invalid input for target_tenant. Reason: 'None' is not a valid string.")
    })?;
    check_target(&target)?;
    if target == WILDCARD && !ctx.is_admin() {
        return Err(ApiError::forbidden("create_rbac_policy:target_tenant"));
    }
    let object = a.str("object_id")?.unwrap_or_default();
    let action = a.str("action")?.unwrap_or_default();
    let project = a.project(&ctx, "create_rbac_policy")?;
    let mut tx = state.store.write().await?;
    match owner_of(&mut tx, &kind, &object).await? {
        Some(owner) if ctx.owns(&owner) => {}
        _ => {
            return Err(invalid(format!(
                "Invalid input for operation: Only admins can manipulate policies on objects they do not own (object {object})."
            )));
        }
    }
    let allowed: &[&str] = if kind == NETWORK {
        &[ACCESS_AS_SHARED, ACCESS_AS_EXTERNAL]
    } else {
        &[ACCESS_AS_SHARED]
    };
    if !allowed.contains(&action.as_str()) {
        return Err(invalid(format!(
            "Invalid input for operation: Invalid action '{action}' for object type '{kind}'. Valid actions: {}.",
            allowed.join(", ")
        )));
    }
    if kind == SUBNETPOOL
        && let Some(scope) = tx
            .get::<SubnetPool>(&object)
            .await?
            .and_then(|p| p.address_scope_id)
        && !has(&mut tx, ADDRESS_SCOPE, &scope, ACCESS_AS_SHARED, WILDCARD).await?
        && !has(&mut tx, ADDRESS_SCOPE, &scope, ACCESS_AS_SHARED, &target).await?
    {
        return Err(invalid(format!(
            "Invalid input for operation: the subnet pool's address scope {scope} is not shared with {target}."
        )));
    }
    super::quotas::check(&mut tx, &project, "rbac_policy", 1).await?;
    let p = policy(&kind, &object, &action, &target, &project);
    insert(&mut tx, &p).await?;
    tx.commit().await?;
    Ok(created("rbac_policy", &p))
}

/// `PUT /v2.0/rbac-policies/{id}`: only the target changes.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_writer("update_rbac_policy")?;
    let a = Attrs::from_body(&body, "rbac_policy")?;
    a.read_only(&[
        "id",
        "object_type",
        "object_id",
        "action",
        "project_id",
        "tenant_id",
    ])?;
    let Some(target) = a.str("target_tenant")? else {
        let mut tx = state.store.write().await?;
        let p: RbacPolicy =
            fetch_writable(&mut tx, &ctx, &headers, &id, "update_rbac_policy").await?;
        return Ok(one("rbac_policy", &p));
    };
    check_target(&target)?;
    if target == WILDCARD && !ctx.is_admin() {
        return Err(ApiError::forbidden("update_rbac_policy:target_tenant"));
    }
    let mut tx = state.store.write().await?;
    let mut p: RbacPolicy =
        fetch_writable(&mut tx, &ctx, &headers, &id, "update_rbac_policy").await?;
    if p.target_tenant != target {
        check_losing(&mut tx, &p, Some(&target)).await?;
        let dup = policies_on(&mut tx, &p.object_type, &p.object_id)
            .await?
            .into_iter()
            .any(|o| o.id != p.id && o.action == p.action && o.target_tenant == target);
        if dup {
            return Err(ApiError::conflict(
                "DuplicateRbacPolicy",
                "An RBAC policy already exists with those values.",
            ));
        }
        p.target_tenant = target;
        tx.update(&p).await?;
        set_flags(&mut tx, &p.object_type, &p.object_id, None).await?;
    }
    tx.commit().await?;
    Ok(one("rbac_policy", &p))
}

/// Wildcard policies for what was shared or external before policies existed
/// (and for stores written by an older server): run at start.
pub async fn migrate(tx: &mut Tx) -> ApiResult<usize> {
    let mut made = 0;
    let mut want: Vec<(String, String, &str, String)> = Vec::new();
    for n in tx.list::<Network>().await? {
        if n.shared {
            want.push((
                NETWORK.into(),
                n.id.clone(),
                ACCESS_AS_SHARED,
                n.project_id.clone(),
            ));
        }
        if n.router_external {
            want.push((
                NETWORK.into(),
                n.id.clone(),
                ACCESS_AS_EXTERNAL,
                n.project_id.clone(),
            ));
        }
    }
    for p in tx
        .list::<SubnetPool>()
        .await?
        .into_iter()
        .filter(|p| p.shared)
    {
        want.push((SUBNETPOOL.into(), p.id, ACCESS_AS_SHARED, p.project_id));
    }
    for s in tx
        .list::<AddressScope>()
        .await?
        .into_iter()
        .filter(|s| s.shared)
    {
        want.push((ADDRESS_SCOPE.into(), s.id, ACCESS_AS_SHARED, s.project_id));
    }
    for (kind, id, action, owner) in want {
        let any = policies_on(tx, &kind, &id)
            .await?
            .iter()
            .any(|p| p.action == action);
        if !any {
            tx.insert(&policy(&kind, &id, action, WILDCARD, &owner))
                .await?;
            made += 1;
        }
    }
    Ok(made)
}
