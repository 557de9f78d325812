//! Errors: the store's, and the API's with Neutron's
//! `{"NeutronError": {"type", "message", "detail"}}` (or Keystone's `{"error": …}`)
//! and the HTTP status that goes with each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused a row: another request took the same IP, MAC,
    /// segmentation id or name first. The request is retried.
    #[error("conflict on a unique key: {0}")]
    Conflict(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl StoreError {
    pub(crate) fn from_sqlx(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_string());
        }
        StoreError::Db(e)
    }
}

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A Neutron error: HTTP status, Neutron type name, message.
    #[error("{kind}: {message}")]
    Neutron {
        status: StatusCode,
        kind: &'static str,
        message: String,
    },
    /// A Keystone error (`/v3`).
    #[error("{message}")]
    Keystone { status: StatusCode, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError::Neutron {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            kind,
            format!("{what} {id} could not be found."),
        )
    }

    pub fn not_found_msg(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, message)
    }

    pub fn forbidden(action: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            format!("rule:{action} is disallowed by policy"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthenticated",
            "Authentication required",
        )
    }

    pub fn keystone(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Keystone {
            status,
            message: message.into(),
        }
    }

    /// The same error, answered in Keystone's format.
    pub fn into_keystone(self) -> Self {
        match self {
            ApiError::Neutron {
                status, message, ..
            } => ApiError::Keystone { status, message },
            other => other,
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Store(StoreError::Conflict(_)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Neutron {
                status,
                kind,
                message,
            } => {
                let body =
                    json!({"NeutronError": {"type": kind, "message": message, "detail": ""}});
                (status, axum::Json(body)).into_response()
            }
            ApiError::Keystone { status, message } => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body =
                    json!({"error": {"code": status.as_u16(), "message": message, "title": title}});
                (status, axum::Json(body)).into_response()
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store error");
                let body = json!({"NeutronError": {"type": "HTTPInternalServerError",
                    "message": "Request Failed: internal server error while processing your request.",
                    "detail": ""}});
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
