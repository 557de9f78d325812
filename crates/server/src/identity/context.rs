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
    if crate::util::token_expired(&token) {
        return Err(ApiError::unauthorized());
    }
    Ok(Ctx { token })
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
