//! `/v3/users`.

use super::KsCtx;
use super::common::{
    bad, body_object, collection, conflict, entity, forbidden, not_found, opt_bool, opt_str,
    require_admin,
};
use super::password;
use crate::AppState;
use crate::docs::StoredAssignment;
use crate::error::{ApiError, ApiResult};
use crate::store::NAMES;
use crate::util::new_id;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use model::{Domain, Project, User};
use serde_json::{Value, json};

fn hash_error(e: password::PasswordError) -> ApiError {
    tracing::error!(error = %e, "password hashing failed");
    ApiError::keystone(StatusCode::INTERNAL_SERVER_ERROR, "password hashing failed")
}

pub async fn list(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let items = state
        .store
        .list::<User>()
        .await?
        .iter()
        .filter(|u| ctx.0.is_admin() || u.id == ctx.0.token.user.id)
        .map(|u| entity(&state, &headers, "users", &u.id, u))
        .collect();
    Ok(Json(collection(&state, &headers, "users", items, &q)))
}

pub async fn show(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = state
        .store
        .get::<User>(&id)
        .await?
        .filter(|u| ctx.0.is_admin() || u.id == ctx.0.token.user.id)
        .ok_or_else(|| not_found("user", &id))?;
    Ok(Json(
        json!({"user": entity(&state, &headers, "users", &u.id, &u)}),
    ))
}

/// `GET /v3/users/{id}/projects`: the projects the user has a role on.
pub async fn projects(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !ctx.0.is_admin() && id != ctx.0.token.user.id {
        return Err(forbidden());
    }
    let mut ids: Vec<String> = state
        .store
        .list_by_parent::<StoredAssignment>(&id)
        .await?
        .into_iter()
        .map(|a| a.assignment.project_id)
        .collect();
    ids.sort();
    ids.dedup();
    let mut items = Vec::new();
    for pid in ids {
        if let Some(p) = state.store.get::<Project>(&pid).await? {
            items.push(entity(&state, &headers, "projects", &p.id, &p));
        }
    }
    Ok(Json(collection(&state, &headers, "projects", items, &[])))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: KsCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&ctx)?;
    let m = body_object(&body, "user")?;
    let name = opt_str(&m, "name")?.ok_or_else(|| bad("Expecting to find name in user"))?;
    let domain_id =
        opt_str(&m, "domain_id")?.unwrap_or_else(|| ctx.0.token.project_domain_id.clone());
    let hash = match opt_str(&m, "password")? {
        Some(pw) => Some(password::hash(pw).await.map_err(hash_error)?),
        None => None,
    };
    let mut tx = state.store.write().await?;
    if tx.get::<Domain>(&domain_id).await?.is_none() {
        return Err(not_found("domain", &domain_id));
    }
    let default_project_id = opt_str(&m, "default_project_id")?;
    if let Some(p) = &default_project_id
        && tx.get::<Project>(p).await?.is_none()
    {
        return Err(not_found("project", p));
    }
    let scope = format!("user:{domain_id}");
    if tx.owner(&NAMES, [&scope], name.as_str()).await?.is_some() {
        return Err(conflict("user"));
    }
    let u = User {
        id: new_id(),
        name: name.clone(),
        domain_id,
        default_project_id,
        email: opt_str(&m, "email")?,
        description: opt_str(&m, "description")?,
        enabled: opt_bool(&m, "enabled")?.unwrap_or(true),
        password_expires_at: None,
    };
    tx.claim(&NAMES, [&scope], name.as_str(), &u.id).await?;
    tx.insert(&u).await?;
    if let Some(h) = &hash {
        tx.set_password_hash(&u.id, h).await?;
    }
    tx.commit().await?;
    tracing::info!(user = %u.name, id = %u.id, "user created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": entity(&state, &headers, "users", &u.id, &u)})),
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
    let m = body_object(&body, "user")?;
    let hash = match opt_str(&m, "password")? {
        Some(pw) => Some(password::hash(pw).await.map_err(hash_error)?),
        None => None,
    };
    let mut tx = state.store.write().await?;
    let mut u = tx
        .get::<User>(&id)
        .await?
        .ok_or_else(|| not_found("user", &id))?;
    if let Some(name) = opt_str(&m, "name")?
        && name != u.name
    {
        let scope = format!("user:{}", u.domain_id);
        if tx.owner(&NAMES, [&scope], name.as_str()).await?.is_some() {
            return Err(conflict("user"));
        }
        tx.release_owner(&NAMES, &u.id).await?;
        tx.claim(&NAMES, [&scope], name.as_str(), &u.id).await?;
        u.name = name;
    }
    if let Some(v) = opt_str(&m, "email")? {
        u.email = Some(v);
    }
    if let Some(v) = opt_str(&m, "description")? {
        u.description = Some(v);
    }
    if let Some(v) = opt_str(&m, "default_project_id")? {
        if tx.get::<Project>(&v).await?.is_none() {
            return Err(not_found("project", &v));
        }
        u.default_project_id = Some(v);
    }
    if let Some(v) = opt_bool(&m, "enabled")? {
        u.enabled = v;
    }
    if let Some(h) = &hash {
        tx.set_password_hash(&u.id, h).await?;
    }
    tx.update(&u).await?;
    tx.commit().await?;
    Ok(Json(
        json!({"user": entity(&state, &headers, "users", &u.id, &u)}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: KsCtx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&ctx)?;
    let mut tx = state.store.write().await?;
    if tx.get::<User>(&id).await?.is_none() {
        return Err(not_found("user", &id));
    }
    for a in tx.list_by_parent::<StoredAssignment>(&id).await? {
        tx.delete::<StoredAssignment>(&a.id).await?;
    }
    tx.release_owner(&NAMES, &id).await?;
    tx.delete_password_hash(&id).await?;
    tx.delete::<User>(&id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
