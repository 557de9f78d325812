//! Who is asking: the `X-Auth-Token` header, looked up and checked for expiry.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use model::Token;

/// The caller of a network API request (401 in Neutron's format if none).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub token: Token,
    /// What RBAC policies give the caller's project.
    pub grants: std::sync::Arc<crate::rbac::Grants>,
}

impl Ctx {
    pub fn project_id(&self) -> &str {
        &self.token.project_id
    }

    pub fn is_admin(&self) -> bool {
        self.token.is_admin()
    }

    /// Whether the caller may see and change resources of `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        self.is_admin() || project_id == self.token.project_id
    }

    /// Refuses writes to readers.
    pub fn require_writer(&self, action: &str) -> Result<(), ApiError> {
        if self.token.can_write() {
            Ok(())
        } else {
            Err(ApiError::forbidden(action))
        }
    }

    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(action))
        }
    }
}

/// The caller of an identity request (401 in Keystone's format if none).
#[derive(Debug, Clone)]
pub(crate) struct KsCtx(pub Ctx);

pub(crate) async fn authenticate(parts: &Parts, state: &AppState) -> Result<Ctx, ApiError> {
    let Some(id) = parts
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::unauthorized());
    };
    let token = state
        .store
        .token(id.trim())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if crate::util::token_expired(&token) || !still_valid_cached(state, id.trim(), &token).await? {
        return Err(ApiError::unauthorized());
    }
    let grants = crate::rbac::grants(state, &token.project_id).await?;
    Ok(Ctx { token, grants })
}

/// Tokens checked at a revision are not checked again until the store changes.
const CHECKED_TOKENS_MAX: usize = 100_000;

/// [`still_valid`], remembered per token until the store's revision moves (any
/// change of users, projects, roles or passwords moves it).
async fn still_valid_cached(state: &AppState, id: &str, t: &Token) -> Result<bool, ApiError> {
    let revision = state.store.revision().await?;
    let seen = state
        .checked_tokens
        .lock()
        .ok()
        .and_then(|m| m.get(id).copied());
    if seen == Some(revision) {
        return Ok(true);
    }
    let ok = still_valid(state, t).await?;
    if ok && let Ok(mut m) = state.checked_tokens.lock() {
        if m.len() >= CHECKED_TOKENS_MAX {
            m.clear();
        }
        m.insert(id.to_string(), revision);
    }
    Ok(ok)
}

/// Whether what a token stands for still holds, as Keystone's revocation events
/// would have it: its user exists, is enabled and has the password it had when
/// the token was issued; its project exists and is enabled; and every role the
/// token carries is still the user's on that project.
pub(crate) async fn still_valid(state: &AppState, t: &Token) -> Result<bool, ApiError> {
    let Some(user) = state.store.get::<model::User>(&t.user.id).await? else {
        return Ok(false);
    };
    if !user.enabled {
        return Ok(false);
    }
    let hash = state
        .store
        .password_hash(&user.id)
        .await?
        .unwrap_or_default();
    if crate::util::secret_tag(&hash) != t.secret_tag {
        return Ok(false);
    }
    match state.store.get::<model::Project>(&t.project_id).await? {
        Some(p) if p.enabled => {}
        _ => return Ok(false),
    }
    let now = super::tokens::roles_of(state, &user.id, &t.project_id).await?;
    Ok(t.roles.iter().all(|r| now.iter().any(|n| n.id == r.id)))
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await
    }
}

impl FromRequestParts<AppState> for KsCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(KsCtx)
            .map_err(|e| match e {
                ApiError::Neutron { status, .. }
                    if status == axum::http::StatusCode::UNAUTHORIZED =>
                {
                    ApiError::keystone(status, "The request you have made requires authentication.")
                }
                e => e.into_keystone(),
            })
    }
}
