//! `/v3/auth/tokens`: password (or token) authentication scoped to a project,
//! validation and revocation. Tokens are random 256-bit ids kept in the store, so
//! every server on a shared database accepts them.

use super::Ctx;
use super::{KsCtx, base_url, password};
use crate::AppState;
use crate::docs::StoredAssignment;
use crate::error::{ApiError, ApiResult};
use crate::util::{new_token_id, token_expired};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{Domain, Project, Role, RoleRef, Token, TokenUser, User};
use serde_json::{Value, json};

fn unauthorized() -> ApiError {
    ApiError::keystone(
        StatusCode::UNAUTHORIZED,
        "The request you have made requires authentication.",
    )
}

fn bad(msg: &str) -> ApiError {
    ApiError::keystone(StatusCode::BAD_REQUEST, msg)
}

async fn find_domain(state: &AppState, spec: Option<&Value>) -> ApiResult<Domain> {
    let spec = spec.ok_or_else(|| bad("Expecting to find domain in user or project"))?;
    if let Some(id) = spec.get("id").and_then(Value::as_str) {
        return state
            .store
            .get::<Domain>(id)
            .await?
            .ok_or_else(unauthorized);
    }
    if let Some(name) = spec.get("name").and_then(Value::as_str) {
        return state
            .store
            .find_by_name::<Domain>(name)
            .await?
            .into_iter()
            .next()
            .ok_or_else(unauthorized);
    }
    Err(bad("Expecting to find id or name in domain"))
}

/// The user a password login names, if there is one.
async fn find_user(state: &AppState, spec: &Value) -> ApiResult<Option<User>> {
    if let Some(id) = spec.get("id").and_then(Value::as_str) {
        return Ok(state.store.get::<User>(id).await?);
    }
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Expecting to find id or name in user"))?;
    let domain = find_domain(state, spec.get("domain")).await?;
    Ok(state
        .store
        .find_by_name::<User>(name)
        .await?
        .into_iter()
        .find(|u| u.domain_id == domain.id))
}

async fn find_project(state: &AppState, spec: &Value) -> ApiResult<Project> {
    if let Some(id) = spec.get("id").and_then(Value::as_str) {
        return state
            .store
            .get::<Project>(id)
            .await?
            .ok_or_else(unauthorized);
    }
    let name = spec
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Expecting to find id or name in project"))?;
    let domain = find_domain(state, spec.get("domain")).await?;
    state
        .store
        .find_by_name::<Project>(name)
        .await?
        .into_iter()
        .find(|p| p.domain_id == domain.id)
        .ok_or_else(unauthorized)
}

/// The roles `user` has on `project`.
pub async fn roles_of(state: &AppState, user: &str, project: &str) -> ApiResult<Vec<RoleRef>> {
    let mut roles = Vec::new();
    for a in state.store.list_by_parent::<StoredAssignment>(user).await? {
        if a.assignment.project_id != project {
            continue;
        }
        if let Some(r) = state.store.get::<Role>(&a.assignment.role_id).await? {
            roles.push(RoleRef {
                id: r.id,
                name: r.name,
            });
        }
    }
    Ok(roles)
}

fn token_body(state: &AppState, headers: &HeaderMap, t: &Token) -> Value {
    let base = base_url(state, headers);
    let endpoints = |url: String| {
        ["public", "internal", "admin"]
            .iter()
            .map(|i| {
                json!({"id": format!("{}-{i}", url.trim_end_matches('/').rsplit('/').next().unwrap_or_default()), "interface": i, "region": "RegionOne",
                       "region_id": "RegionOne", "url": url})
            })
            .collect::<Vec<_>>()
    };
    json!({"token": {
        "methods": ["password"],
        "user": {"id": t.user.id, "name": t.user.name,
                 "domain": {"id": t.user.domain_id, "name": "Default"},
                 "password_expires_at": null},
        "project": {"id": t.project_id, "name": t.project_name,
                    "domain": {"id": t.project_domain_id, "name": "Default"}},
        "roles": t.roles,
        "is_domain": false,
        "issued_at": t.issued_at,
        "expires_at": t.expires_at,
        "audit_ids": [],
        "catalog": [
            {"id": "network", "type": "network", "name": "neutron",
             "endpoints": endpoints(format!("{base}/"))},
            {"id": "identity", "type": "identity", "name": "keystone",
             "endpoints": endpoints(format!("{base}/v3"))},
        ],
    }})
}

/// `POST /v3/auth/tokens`.
pub async fn issue(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: Value = serde_json::from_slice(&body).map_err(|_| bad("Malformed request body"))?;
    let auth = req
        .get("auth")
        .ok_or_else(|| bad("Expecting to find auth in request body"))?;
    let identity = auth
        .get("identity")
        .ok_or_else(|| bad("Expecting to find identity in auth"))?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (user, default_scope) = if methods.contains(&"password") {
        let spec = identity
            .pointer("/password/user")
            .ok_or_else(|| bad("Expecting to find user in password"))?;
        let pw = spec
            .get("password")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Expecting to find password in user"))?;
        // Too many failures for this name or from this source: refused, the
        // password unchecked.
        let user_key = format!(
            "user:{}/{}",
            spec.pointer("/domain/name")
                .or_else(|| spec.pointer("/domain/id"))
                .and_then(Value::as_str)
                .unwrap_or("default"),
            spec.get("name")
                .or_else(|| spec.get("id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        let mut keys = vec![user_key.clone()];
        if let Some(c) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
            keys.push(format!("src:{}", c.0.ip()));
        }
        let now = std::time::Instant::now();
        if state.lockout.locked(&keys, now) {
            tracing::warn!(key = %user_key, "login refused: too many failures");
            return Err(ApiError::keystone(
                StatusCode::UNAUTHORIZED,
                "Too many failed logins for this user or from this address; try again later.",
            ));
        }
        // An unknown user, or one without a password, costs a verification too:
        // the answer's timing does not tell which names exist.
        let user = find_user(&state, spec).await?;
        let hash = match &user {
            Some(u) => state.store.password_hash(&u.id).await?,
            None => None,
        };
        let (Some(user), Some(hash)) = (user, hash) else {
            password::verify_unknown(pw.to_string()).await;
            state.lockout.failed(&keys, now);
            tracing::info!("authentication failed: unknown user");
            return Err(unauthorized());
        };
        if !password::verify(pw.to_string(), hash).await || !user.enabled {
            state.lockout.failed(&keys, now);
            tracing::info!(user = %user.name, "authentication failed");
            return Err(unauthorized());
        }
        state.lockout.succeeded(&user_key);
        (user, None)
    } else if methods.contains(&"token") {
        let id = identity
            .pointer("/token/id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Expecting to find id in token"))?;
        let old = state.store.token(id).await?.ok_or_else(unauthorized)?;
        // A disabled user, a changed password, a revoked role or a removed
        // project ends the renewal too.
        if token_expired(&old) || !super::context::still_valid(&state, &old).await? {
            return Err(unauthorized());
        }
        let user = state
            .store
            .get::<User>(&old.user.id)
            .await?
            .ok_or_else(unauthorized)?;
        (user, Some(old.project_id))
    } else {
        return Err(ApiError::keystone(
            StatusCode::UNAUTHORIZED,
            "Attempted to authenticate with an unsupported method.",
        ));
    };
    let project = match auth.pointer("/scope/project") {
        Some(spec) => find_project(&state, spec).await?,
        None => {
            let id = default_scope
                .or_else(|| user.default_project_id.clone())
                .ok_or_else(|| bad("A project scope is required"))?;
            state
                .store
                .get::<Project>(&id)
                .await?
                .ok_or_else(unauthorized)?
        }
    };
    if !project.enabled {
        return Err(unauthorized());
    }
    let roles = roles_of(&state, &user.id, &project.id).await?;
    if roles.is_empty() {
        return Err(unauthorized());
    }
    let now = chrono::Utc::now();
    let ttl =
        chrono::Duration::from_std(state.config.token_ttl).unwrap_or(chrono::Duration::hours(1));
    let expires = now + ttl;
    let token = Token {
        user: TokenUser {
            id: user.id.clone(),
            name: user.name.clone(),
            domain_id: user.domain_id.clone(),
        },
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        project_domain_id: project.domain_id.clone(),
        roles,
        issued_at: now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        expires_at: expires.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        expires_unix: expires.timestamp(),
        secret_tag: crate::util::secret_tag(
            &state
                .store
                .password_hash(&user.id)
                .await?
                .unwrap_or_default(),
        ),
    };
    let id = new_token_id();
    state.store.put_token(&id, &token).await?;
    let mut resp = (
        StatusCode::CREATED,
        Json(token_body(&state, &headers, &token)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    Ok(resp)
}

async fn subject(state: &AppState, headers: &HeaderMap) -> ApiResult<(String, Token)> {
    let id = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("X-Subject-Token header required"))?
        .to_string();
    let not_found =
        || ApiError::keystone(StatusCode::NOT_FOUND, format!("Could not find token: {id}"));
    let token = state.store.token(&id).await?.ok_or_else(not_found)?;
    if token_expired(&token) || !super::context::still_valid(state, &token).await? {
        return Err(not_found());
    }
    Ok((id, token))
}

/// X-Subject-Token, when the caller may see it: the admin any token, a user only
/// their own (403 otherwise, for GET, HEAD and DELETE alike: HEAD must not say
/// more than GET does about someone else's token).
async fn own_subject(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
) -> ApiResult<(String, Token)> {
    let (id, token) = subject(state, headers).await?;
    if !ctx.is_admin() && token.user.id != ctx.token.user.id {
        return Err(ApiError::keystone(
            StatusCode::FORBIDDEN,
            "You are not authorized to perform the requested action.",
        ));
    }
    Ok((id, token))
}

/// `GET /v3/auth/tokens`: validates X-Subject-Token.
pub async fn validate(
    State(state): State<AppState>,
    KsCtx(ctx): KsCtx,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, token) = own_subject(&state, &ctx, &headers).await?;
    let mut resp = Json(token_body(&state, &headers, &token)).into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    Ok(resp)
}

/// `HEAD /v3/auth/tokens`.
pub async fn check(
    State(state): State<AppState>,
    KsCtx(ctx): KsCtx,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    own_subject(&state, &ctx, &headers).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /v3/auth/tokens`: revokes X-Subject-Token.
pub async fn revoke(
    State(state): State<AppState>,
    KsCtx(ctx): KsCtx,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, _) = own_subject(&state, &ctx, &headers).await?;
    state.store.delete_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
