//! Quotas (Neutron's `quotas` and `quota_details` extensions): how many of each
//! resource a project may have. Neutron's defaults; the admin sets a project's
//! own (`PUT /v2.0/quotas/{project}`, `openstack quota set --networks N`), a
//! project reads its own, and a create past the limit is a 409 `OverQuota`,
//! checked in the create's own transaction (two creates at once cannot both take
//! the last one). -1 is no limit.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::identity::Ctx;
use crate::store::{Doc, Tx};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use model::{FloatingIp, Network, Port, Router, SecurityGroup, SecurityGroupRule, Subnet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Neutron's defaults (`[quotas]` in neutron.conf).
pub const DEFAULTS: [(&str, i64); 8] = [
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("rbac_policy", 10),
];

/// A project's own limits (those it has; the rest are the defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    pub project_id: String,
    pub limits: BTreeMap<String, i64>,
}

impl Doc for Quota {
    const KIND: &'static str = "quota";
    fn id(&self) -> &str {
        &self.project_id
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// The id of the quota document that holds the server's configured defaults
/// (`neutrino server --quota RESOURCE=N`, Neutron's `[quotas] quota_<resource>`).
pub const DEFAULTS_ID: &str = "default";

/// Neutron's defaults, then the configured ones (`d`), then the project's (`q`).
fn limits_of(d: Option<&Quota>, q: Option<&Quota>) -> BTreeMap<String, i64> {
    DEFAULTS
        .iter()
        .map(|(k, v)| {
            let configured = d.and_then(|d| d.limits.get(*k)).copied();
            let own = q.and_then(|q| q.limits.get(*k)).copied();
            (k.to_string(), own.or(configured).unwrap_or(*v))
        })
        .collect()
}

/// The configured defaults and the project's own limits.
async fn limits(tx: &mut Tx, project: &str) -> ApiResult<BTreeMap<String, i64>> {
    let d: Option<Quota> = tx.get(DEFAULTS_ID).await?;
    let q: Option<Quota> = tx.get(project).await?;
    Ok(limits_of(d.as_ref(), q.as_ref()))
}

/// Checks `--quota RESOURCE=N` options: known resources, -1 or more.
pub fn parse_defaults(items: &[String]) -> Result<BTreeMap<String, i64>, String> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("bad --quota '{item}': expected RESOURCE=N"))?;
        if !DEFAULTS.iter().any(|(d, _)| *d == k) {
            let known: Vec<&str> = DEFAULTS.iter().map(|(d, _)| *d).collect();
            return Err(format!(
                "bad --quota '{item}': {k} is not one of {}",
                known.join(", ")
            ));
        }
        let n: i64 = v
            .parse()
            .ok()
            .filter(|n| *n >= -1)
            .ok_or_else(|| format!("bad --quota '{item}': {v} is not -1 or more"))?;
        out.insert(k.to_string(), n);
    }
    Ok(out)
}

/// Stores the configured defaults (they win over what was stored before).
pub async fn store_defaults(tx: &mut Tx, limits: &BTreeMap<String, i64>) -> ApiResult<()> {
    let q = Quota {
        project_id: DEFAULTS_ID.to_string(),
        limits: limits.clone(),
    };
    if tx.get::<Quota>(DEFAULTS_ID).await?.is_some() {
        tx.update(&q).await?;
    } else {
        tx.insert(&q).await?;
    }
    Ok(())
}

/// How many of `resource` the project has now.
async fn used(tx: &mut Tx, resource: &str, project: &str) -> ApiResult<i64> {
    Ok(match resource {
        "network" => tx.count_by_project::<Network>(project).await?,
        "subnet" => tx.count_by_project::<Subnet>(project).await?,
        "port" => tx.count_by_project::<Port>(project).await?,
        "router" => tx.count_by_project::<Router>(project).await?,
        "floatingip" => tx.count_by_project::<FloatingIp>(project).await?,
        "security_group" => tx.count_by_project::<SecurityGroup>(project).await?,
        "security_group_rule" => tx.count_by_project::<SecurityGroupRule>(project).await?,
        "rbac_policy" => tx.count_by_project::<model::RbacPolicy>(project).await?,
        _ => 0,
    })
}

/// Refuses to make `count` more of `resource` for `project` past its limit.
pub async fn check(tx: &mut Tx, project: &str, resource: &str, count: i64) -> ApiResult<()> {
    let limit = limits(tx, project)
        .await?
        .get(resource)
        .copied()
        .unwrap_or(-1);
    if limit < 0 {
        return Ok(());
    }
    if used(tx, resource, project).await? + count > limit {
        return Err(ApiError::conflict(
            "OverQuota",
            format!("Quota exceeded for resources: ['{resource}']."),
        ));
    }
    Ok(())
}

fn may_read(ctx: &Ctx, project: &str) -> ApiResult<()> {
    if ctx.is_admin() || ctx.project_id() == project {
        Ok(())
    } else {
        Err(ApiError::forbidden("get_quota"))
    }
}

fn body(limits: &BTreeMap<String, i64>) -> Value {
    Value::Object(
        limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

/// `GET /v2.0/quotas`: the projects with limits of their own (admin).
pub async fn list(State(state): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    ctx.require_admin("get_quota")?;
    let all: Vec<Quota> = state.store.list().await?;
    let d = all.iter().find(|q| q.project_id == DEFAULTS_ID);
    let quotas: Vec<Value> = all
        .iter()
        .filter(|q| q.project_id != DEFAULTS_ID)
        .map(|q| {
            let mut b = body(&limits_of(d, Some(q)));
            if let Some(o) = b.as_object_mut() {
                o.insert("project_id".into(), json!(q.project_id));
                o.insert("tenant_id".into(), json!(q.project_id));
            }
            b
        })
        .collect();
    Ok(Json(json!({ "quotas": quotas })))
}

/// `GET /v2.0/quotas/{project}`.
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let project = project.trim_end_matches(".json").to_string();
    may_read(&ctx, &project)?;
    let d: Option<Quota> = state.store.get(DEFAULTS_ID).await?;
    let q: Option<Quota> = state.store.get(&project).await?;
    Ok(Json(
        json!({ "quota": body(&limits_of(d.as_ref(), q.as_ref())) }),
    ))
}

/// `GET /v2.0/quotas/{project}/default`.
pub async fn defaults(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    may_read(&ctx, &project)?;
    let d: Option<Quota> = state.store.get(DEFAULTS_ID).await?;
    Ok(Json(json!({ "quota": body(&limits_of(d.as_ref(), None)) })))
}

/// `GET /v2.0/quotas/{project}/details`: limit, used and reserved per resource.
pub async fn details(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    may_read(&ctx, &project)?;
    let mut tx = state.store.write().await?;
    let mut out = Map::new();
    for (k, limit) in limits(&mut tx, &project).await? {
        let used = used(&mut tx, &k, &project).await?;
        out.insert(k, json!({"limit": limit, "used": used, "reserved": 0}));
    }
    drop(tx);
    Ok(Json(json!({ "quota": out })))
}

/// `PUT /v2.0/quotas/{project}` (admin): sets some limits; answers them all.
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
    body_bytes: Bytes,
) -> ApiResult<Json<Value>> {
    ctx.require_admin("update_quota")?;
    let project = project.trim_end_matches(".json").to_string();
    let v: Value = serde_json::from_slice(&body_bytes)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let Some(req) = v.get("quota").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(
            "Unable to find 'quota' in request body",
        ));
    };
    let mut changes = BTreeMap::new();
    for (k, val) in req {
        if k == "force" || k == "check_limit" {
            continue;
        }
        if !DEFAULTS.iter().any(|(d, _)| d == k) {
            return Err(ApiError::invalid(format!(
                "Unrecognized attribute(s) '{k}'"
            )));
        }
        let n = val
            .as_i64()
            .or_else(|| val.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= -1)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid input for {k}. Reason: '{val}' is not an integer of -1 or more."
                ))
            })?;
        changes.insert(k.clone(), n);
    }
    let mut tx = state.store.write().await?;
    let mut q: Quota = tx.get(&project).await?.unwrap_or(Quota {
        project_id: project.clone(),
        limits: BTreeMap::new(),
    });
    let existed = tx.get::<Quota>(&project).await?.is_some();
    q.limits.extend(changes);
    if existed {
        tx.update(&q).await?;
    } else {
        tx.insert(&q).await?;
    }
    let shown = limits(&mut tx, &project).await?;
    tx.commit().await?;
    Ok(Json(json!({ "quota": body(&shown) })))
}

/// `DELETE /v2.0/quotas/{project}` (admin): back to the defaults.
pub async fn reset(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    ctx.require_admin("delete_quota")?;
    let mut tx = state.store.write().await?;
    if tx.get::<Quota>(&project).await?.is_some() {
        tx.delete::<Quota>(&project).await?;
        tx.commit().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_options() {
        let ok = super::parse_defaults(&["router=100".into(), "floatingip=-1".into()]).unwrap();
        assert_eq!(ok["router"], 100);
        assert_eq!(ok["floatingip"], -1);
        for bad in ["router", "routers=1", "router=-2", "router=x"] {
            assert!(super::parse_defaults(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
