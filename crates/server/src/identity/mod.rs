//! The Keystone v3 subset at `/v3`: version discovery, password tokens with a
//! catalog, projects, users, roles and role assignments — what keystoneauth and
//! python-openstackclient need.

pub mod bootstrap;
mod common;
mod context;
mod discovery;
pub mod lockout;
pub mod password;
mod projects;
mod roles;
mod tokens;
mod users;

pub use context::Ctx;
pub(crate) use context::KsCtx;

use crate::AppState;
use axum::Router;
use axum::routing::{get, put};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3", get(discovery::version))
        .route("/v3/", get(discovery::version))
        .route(
            "/v3/auth/tokens",
            get(tokens::validate)
                .head(tokens::check)
                .post(tokens::issue)
                .delete(tokens::revoke),
        )
        .route("/v3/domains", get(projects::list_domains))
        .route("/v3/domains/{id}", get(projects::show_domain))
        .route("/v3/projects", get(projects::list).post(projects::create))
        .route(
            "/v3/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route("/v3/users", get(users::list).post(users::create))
        .route(
            "/v3/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/v3/users/{id}/projects", get(users::projects))
        .route("/v3/roles", get(roles::list).post(roles::create))
        .route("/v3/roles/{id}", get(roles::show).delete(roles::delete))
        .route("/v3/role_assignments", get(roles::assignments))
        .route(
            "/v3/projects/{project}/users/{user}/roles",
            get(roles::list_granted),
        )
        .route(
            "/v3/projects/{project}/users/{user}/roles/{role}",
            put(roles::grant)
                .head(roles::check)
                .get(roles::check)
                .delete(roles::revoke),
        )
}

/// The absolute base URL of this server (no trailing slash), from the configured
/// public URL or the request's Host header.
pub fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}
