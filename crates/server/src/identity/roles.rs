//! `/v3/roles`, grants on projects and `/v3/role_assignments`.

use super::KsCtx;
use super::common::{
    bad, body_object, collection, conflict, entity, forbidden, not_found, opt_str, require_admin,
};
use crate::AppState;
use crate::docs::StoredAssignment;
use crate::error::ApiResult;
use crate::store::NAMES;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use model::{Project, Role, User};
use serde_json::{Value, json};

pub async fn list(
    State(state): State<AppState>,
    _ctx: KsCtx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let items = state
        .store
        .list::<Role>()
        .await?
        .iter()
        .map(|r| entity(&state, &headers, "roles", &r.id, r))
        .collect();
    Ok(Json(collection(&state, &headers, "roles", items, &q)))
}

pub async fn show(
    State(state): State<AppState>,
    _ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = state
        .store
        .get::<Role>(&id)
        .await?
        .ok_or_else(|| not_found("role", &id))?;
    Ok(Json(
        json!({"role": entity(&state, &headers, "roles", &r.id, &r)}),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&ctx)?;
    let m = body_object(&body, "role")?;
    let name = opt_str(&m, "name")?.ok_or_else(|| bad("Expecting to find name in role"))?;
    let mut tx = state.store.write().await?;
    if tx.owner(&NAMES, ["role"], name.as_str()).await?.is_some() {
        return Err(conflict("role"));
    }
    let r = Role {
        id: new_id(),
        name: name.clone(),
        domain_id: None,
        description: opt_str(&m, "description")?,
    };
    tx.claim(&NAMES, ["role"], name.as_str(), &r.id).await?;
    tx.insert(&r).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": entity(&state, &headers, "roles", &r.id, &r)})),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&ctx)?;
    let mut tx = state.store.write().await?;
    if tx.get::<Role>(&id).await?.is_none() {
        return Err(not_found("role", &id));
    }
    for a in tx.list::<StoredAssignment>().await? {
        if a.assignment.role_id == id {
            tx.delete::<StoredAssignment>(&a.id).await?;
        }
    }
    tx.release_owner(&NAMES, &id).await?;
    tx.delete::<Role>(&id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check_triple(state: &AppState, project: &str, user: &str, role: &str) -> ApiResult<()> {
    if state.store.get::<Project>(project).await?.is_none() {
        return Err(not_found("project", project));
    }
    if state.store.get::<User>(user).await?.is_none() {
        return Err(not_found("user", user));
    }
    if state.store.get::<Role>(role).await?.is_none() {
        return Err(not_found("role", role));
    }
    Ok(())
}

/// `PUT /v3/projects/{p}/users/{u}/roles/{r}`.
pub async fn grant(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path((project, user, role)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    require_admin(&ctx)?;
    check_triple(&state, &project, &user, &role).await?;
    let a = StoredAssignment::new(&project, &user, &role);
    let mut tx = state.store.write().await?;
    if tx.get::<StoredAssignment>(&a.id).await?.is_none() {
        tx.insert(&a).await?;
        tx.commit().await?;
        tracing::info!(%project, %user, %role, "role granted");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `HEAD`/`GET /v3/projects/{p}/users/{u}/roles/{r}`: 204 if granted.
pub async fn check(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path((project, user, role)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    if !ctx.0.is_admin() && user != ctx.0.token.user.id {
        return Err(forbidden());
    }
    let a = StoredAssignment::new(&project, &user, &role);
    match state.store.get::<StoredAssignment>(&a.id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(not_found("role assignment", &a.id)),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path((project, user, role)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    require_admin(&ctx)?;
    let a = StoredAssignment::new(&project, &user, &role);
    let mut tx = state.store.write().await?;
    if tx.get::<StoredAssignment>(&a.id).await?.is_none() {
        return Err(not_found("role assignment", &a.id));
    }
    tx.delete::<StoredAssignment>(&a.id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/projects/{p}/users/{u}/roles`.
pub async fn list_granted(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Path((project, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !ctx.0.is_admin() && user != ctx.0.token.user.id {
        return Err(forbidden());
    }
    let mut items = Vec::new();
    for a in state
        .store
        .list_by_parent::<StoredAssignment>(&user)
        .await?
    {
        if a.assignment.project_id == project
            && let Some(r) = state.store.get::<Role>(&a.assignment.role_id).await?
        {
            items.push(entity(&state, &headers, "roles", &r.id, &r));
        }
    }
    Ok(Json(collection(&state, &headers, "roles", items, &[])))
}

/// `GET /v3/role_assignments` with `user.id`, `scope.project.id`, `role.id`
/// filters and `include_names`.
pub async fn assignments(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let want = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let (user, project, role) = (want("user.id"), want("scope.project.id"), want("role.id"));
    if !ctx.0.is_admin() && user.as_deref() != Some(ctx.0.token.user.id.as_str()) {
        return Err(forbidden());
    }
    let names = want("include_names").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
    let base = super::base_url(&state, &headers);
    let mut items = Vec::new();
    for a in state.store.list::<StoredAssignment>().await? {
        let a = a.assignment;
        if user.as_ref().is_some_and(|u| *u != a.user_id)
            || project.as_ref().is_some_and(|p| *p != a.project_id)
            || role.as_ref().is_some_and(|r| *r != a.role_id)
        {
            continue;
        }
        let mut item = json!({
            "role": {"id": a.role_id},
            "user": {"id": a.user_id},
            "scope": {"project": {"id": a.project_id}},
            "links": {"assignment": format!("{base}/v3/projects/{}/users/{}/roles/{}",
                a.project_id, a.user_id, a.role_id)},
        });
        if names {
            if let Some(r) = state.store.get::<Role>(&a.role_id).await? {
                item["role"]["name"] = json!(r.name);
            }
            if let Some(u) = state.store.get::<User>(&a.user_id).await? {
                item["user"]["name"] = json!(u.name);
                item["user"]["domain"] = json!({"id": u.domain_id, "name": "Default"});
            }
            if let Some(p) = state.store.get::<Project>(&a.project_id).await? {
                item["scope"]["project"]["name"] = json!(p.name);
                item["scope"]["project"]["domain"] = json!({"id": p.domain_id, "name": "Default"});
            }
        }
        items.push(item);
    }
    Ok(Json(json!({
        "role_assignments": items,
        "links": {"self": format!("{base}/v3/role_assignments"), "previous": null, "next": null},
    })))
}
