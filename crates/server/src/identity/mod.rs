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
use crate::apidoc::schema::object;
use crate::apidoc::{Route, Verb};

/// The identity API's routes, described (see [`crate::apidoc`]).
pub fn table() -> Vec<Route> {
    vec![
        Route::new(Verb::Get, "/v3", discovery::version)
            .public()
            .summary("Show the identity API version")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v3/", discovery::version)
            .public()
            .summary("Show the identity API version")
            .returns(200, Some(object())),
        Route::new(Verb::Post, "/v3/auth/tokens", tokens::issue)
            .public()
            .summary("Issue a token (password or token method); it is in X-Subject-Token")
            .request(object())
            .returns(201, Some(object())),
        Route::new(Verb::Get, "/v3/auth/tokens", tokens::validate)
            .summary("Validate the token in X-Subject-Token")
            .returns(200, Some(object())),
        Route::new(Verb::Head, "/v3/auth/tokens", tokens::check)
            .summary("Check the token in X-Subject-Token")
            .returns(200, None),
        Route::new(Verb::Delete, "/v3/auth/tokens", tokens::revoke)
            .summary("Revoke the token in X-Subject-Token"),
        Route::new(Verb::Get, "/v3/domains", projects::list_domains)
            .summary("List domains")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v3/domains/{id}", projects::show_domain)
            .summary("Show a domain")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v3/projects", projects::list)
            .summary("List projects")
            .returns(200, Some(object())),
        Route::new(Verb::Post, "/v3/projects", projects::create)
            .summary("Create a project (admin)")
            .request(object())
            .returns(201, Some(object())),
        Route::new(Verb::Get, "/v3/projects/{id}", projects::show)
            .summary("Show a project")
            .returns(200, Some(object())),
        Route::new(Verb::Patch, "/v3/projects/{id}", projects::update)
            .summary("Update a project (admin)")
            .request(object())
            .returns(200, Some(object())),
        Route::new(Verb::Delete, "/v3/projects/{id}", projects::delete)
            .summary("Delete a project (admin)"),
        Route::new(Verb::Get, "/v3/users", users::list)
            .summary("List users")
            .returns(200, Some(object())),
        Route::new(Verb::Post, "/v3/users", users::create)
            .summary("Create a user (admin)")
            .request(object())
            .returns(201, Some(object())),
        Route::new(Verb::Get, "/v3/users/{id}", users::show)
            .summary("Show a user")
            .returns(200, Some(object())),
        Route::new(Verb::Patch, "/v3/users/{id}", users::update)
            .summary("Update a user (admin)")
            .request(object())
            .returns(200, Some(object())),
        Route::new(Verb::Delete, "/v3/users/{id}", users::delete).summary("Delete a user (admin)"),
        Route::new(Verb::Get, "/v3/users/{id}/projects", users::projects)
            .summary("List a user's projects")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v3/roles", roles::list)
            .summary("List roles")
            .returns(200, Some(object())),
        Route::new(Verb::Post, "/v3/roles", roles::create)
            .summary("Create a role (admin)")
            .request(object())
            .returns(201, Some(object())),
        Route::new(Verb::Get, "/v3/roles/{id}", roles::show)
            .summary("Show a role")
            .returns(200, Some(object())),
        Route::new(Verb::Delete, "/v3/roles/{id}", roles::delete).summary("Delete a role (admin)"),
        Route::new(Verb::Get, "/v3/role_assignments", roles::assignments)
            .summary("List role assignments")
            .returns(200, Some(object())),
        Route::new(
            Verb::Get,
            "/v3/projects/{project}/users/{user}/roles",
            roles::list_granted,
        )
        .summary("List a user's roles on a project")
        .returns(200, Some(object())),
        Route::new(
            Verb::Put,
            "/v3/projects/{project}/users/{user}/roles/{role}",
            roles::grant,
        )
        .summary("Grant a role (admin)")
        .returns(204, None),
        Route::new(
            Verb::Head,
            "/v3/projects/{project}/users/{user}/roles/{role}",
            roles::check,
        )
        .summary("Check a role grant")
        .returns(204, None),
        Route::new(
            Verb::Get,
            "/v3/projects/{project}/users/{user}/roles/{role}",
            roles::check,
        )
        .summary("Check a role grant")
        .returns(204, None),
        Route::new(
            Verb::Delete,
            "/v3/projects/{project}/users/{user}/roles/{role}",
            roles::revoke,
        )
        .summary("Revoke a role (admin)"),
    ]
    .into_iter()
    .map(|r| r.tag("identity"))
    .collect()
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
