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
use crate::apidoc::schema::{array, named, object, partial, wrap};
use crate::apidoc::{Route, Verb};
use model::{Domain, Project, Role, User};
use utoipa::PartialSchema;

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
            .uses::<Domain>()
            .returns(200, Some(wrap("domains", array(named::<Domain>())))),
        Route::new(Verb::Get, "/v3/domains/{id}", projects::show_domain)
            .summary("Show a domain")
            .uses::<Domain>()
            .returns(200, Some(wrap("domain", named::<Domain>()))),
        Route::new(Verb::Get, "/v3/projects", projects::list)
            .summary("List projects")
            .uses::<Project>()
            .returns(200, Some(wrap("projects", array(named::<Project>())))),
        Route::new(Verb::Post, "/v3/projects", projects::create)
            .summary("Create a project (admin)")
            .uses::<Project>()
            .request(wrap("project", partial(Project::schema())))
            .returns(201, Some(wrap("project", named::<Project>()))),
        Route::new(Verb::Get, "/v3/projects/{id}", projects::show)
            .summary("Show a project")
            .uses::<Project>()
            .returns(200, Some(wrap("project", named::<Project>()))),
        Route::new(Verb::Patch, "/v3/projects/{id}", projects::update)
            .summary("Update a project (admin)")
            .uses::<Project>()
            .request(wrap("project", partial(Project::schema())))
            .returns(200, Some(wrap("project", named::<Project>()))),
        Route::new(Verb::Delete, "/v3/projects/{id}", projects::delete)
            .summary("Delete a project (admin)"),
        Route::new(Verb::Get, "/v3/users", users::list)
            .summary("List users")
            .uses::<User>()
            .returns(200, Some(wrap("users", array(named::<User>())))),
        Route::new(Verb::Post, "/v3/users", users::create)
            .summary("Create a user (admin)")
            .uses::<User>()
            .request(wrap("user", partial(User::schema())))
            .returns(201, Some(wrap("user", named::<User>()))),
        Route::new(Verb::Get, "/v3/users/{id}", users::show)
            .summary("Show a user")
            .uses::<User>()
            .returns(200, Some(wrap("user", named::<User>()))),
        Route::new(Verb::Patch, "/v3/users/{id}", users::update)
            .summary("Update a user (admin)")
            .uses::<User>()
            .request(wrap("user", partial(User::schema())))
            .returns(200, Some(wrap("user", named::<User>()))),
        Route::new(Verb::Delete, "/v3/users/{id}", users::delete).summary("Delete a user (admin)"),
        Route::new(Verb::Get, "/v3/users/{id}/projects", users::projects)
            .summary("List a user's projects")
            .uses::<Project>()
            .returns(200, Some(wrap("projects", array(named::<Project>())))),
        Route::new(Verb::Get, "/v3/roles", roles::list)
            .summary("List roles")
            .uses::<Role>()
            .returns(200, Some(wrap("roles", array(named::<Role>())))),
        Route::new(Verb::Post, "/v3/roles", roles::create)
            .summary("Create a role (admin)")
            .uses::<Role>()
            .request(wrap("role", partial(Role::schema())))
            .returns(201, Some(wrap("role", named::<Role>()))),
        Route::new(Verb::Get, "/v3/roles/{id}", roles::show)
            .summary("Show a role")
            .uses::<Role>()
            .returns(200, Some(wrap("role", named::<Role>()))),
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
