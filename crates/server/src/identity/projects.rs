//! `/v3/projects` and `/v3/domains` (read-only: there is one domain, `Default`).

use super::KsCtx;
use super::common::{
    body_object, collection, conflict, entity, not_found, opt_bool, opt_str, require_admin,
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
use model::{Domain, Project};
use serde_json::{Value, json};

pub async fn list_domains(
    State(state): State<AppState>,
    _ctx: KsCtx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let items = state
        .store
        .list::<Domain>()
        .await?
        .iter()
        .map(|d| entity(&state, &headers, "domains", &d.id, d))
        .collect();
    Ok(Json(collection(&state, &headers, "domains", items, &q)))
}

pub async fn show_domain(
    State(state): State<AppState>,
    _ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = state
        .store
        .get::<Domain>(&id)
        .await?
        .ok_or_else(|| not_found("domain", &id))?;
    Ok(Json(
        json!({"domain": entity(&state, &headers, "domains", &d.id, &d)}),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    // Keystone's identity:list_projects is the admin's (a member lists its own
    // projects through /v3/users/{id}/projects); clients such as openstackclient take
    // the 403 as "use the id as given".
    if !ctx.0.is_admin() {
        return Err(super::common::forbidden());
    }
    let items = state
        .store
        .list::<Project>()
        .await?
        .iter()
        .map(|p| entity(&state, &headers, "projects", &p.id, p))
        .collect();
    Ok(Json(collection(&state, &headers, "projects", items, &q)))
}

pub async fn show(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    // Keystone's identity:get_project: the admin, or the token's own project;
    // anyone else is refused before the id is looked up (403 whether or not it
    // exists, so nothing is learnt; clients such as openstackclient then use the
    // id as given).
    if !ctx.0.is_admin() && id != ctx.0.project_id() {
        return Err(super::common::forbidden());
    }
    let p = state
        .store
        .get::<Project>(&id)
        .await?
        .ok_or_else(|| not_found("project", &id))?;
    Ok(Json(
        json!({"project": entity(&state, &headers, "projects", &p.id, &p)}),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&ctx)?;
    let m = body_object(&body, "project")?;
    let name = opt_str(&m, "name")?
        .ok_or_else(|| super::common::bad("Expecting to find name in project"))?;
    let domain_id =
        opt_str(&m, "domain_id")?.unwrap_or_else(|| ctx.0.token.project_domain_id.clone());
    let mut tx = state.store.write().await?;
    if tx.get::<Domain>(&domain_id).await?.is_none() {
        return Err(not_found("domain", &domain_id));
    }
    let scope = format!("project:{domain_id}");
    if tx.owner(&NAMES, [&scope], name.as_str()).await?.is_some() {
        return Err(conflict("project"));
    }
    let p = Project {
        id: new_id(),
        name: name.clone(),
        description: opt_str(&m, "description")?.unwrap_or_default(),
        domain_id: domain_id.clone(),
        enabled: opt_bool(&m, "enabled")?.unwrap_or(true),
        parent_id: Some(opt_str(&m, "parent_id")?.unwrap_or(domain_id)),
        is_domain: false,
        tags: Vec::new(),
    };
    tx.claim(&NAMES, [&scope], name.as_str(), &p.id).await?;
    tx.insert(&p).await?;
    tx.commit().await?;
    tracing::info!(project = %p.name, id = %p.id, "project created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": entity(&state, &headers, "projects", &p.id, &p)})),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    require_admin(&ctx)?;
    let m = body_object(&body, "project")?;
    let mut tx = state.store.write().await?;
    let mut p = tx
        .get::<Project>(&id)
        .await?
        .ok_or_else(|| not_found("project", &id))?;
    if let Some(name) = opt_str(&m, "name")?
        && name != p.name
    {
        let scope = format!("project:{}", p.domain_id);
        if tx.owner(&NAMES, [&scope], name.as_str()).await?.is_some() {
            return Err(conflict("project"));
        }
        tx.release_owner(&NAMES, &p.id).await?;
        tx.claim(&NAMES, [&scope], name.as_str(), &p.id).await?;
        p.name = name;
    }
    if let Some(d) = opt_str(&m, "description")? {
        p.description = d;
    }
    if let Some(e) = opt_bool(&m, "enabled")? {
        p.enabled = e;
    }
    tx.update(&p).await?;
    tx.commit().await?;
    Ok(Json(
        json!({"project": entity(&state, &headers, "projects", &p.id, &p)}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&ctx)?;
    let mut tx = state.store.write().await?;
    if tx.get::<Project>(&id).await?.is_none() {
        return Err(not_found("project", &id));
    }
    for a in tx.list_by_project::<StoredAssignment>(&id).await? {
        tx.delete::<StoredAssignment>(&a.id).await?;
    }
    tx.release_owner(&NAMES, &id).await?;
    tx.delete::<Project>(&id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
