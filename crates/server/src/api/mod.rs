//! The Neutron v2.0 network API: versions at `/`, resources at `/v2.0/…`.

pub mod agents;
pub(crate) mod common;
pub mod extensions;
pub mod floatingips;
pub mod networks;
pub mod ports;
pub mod routers;
pub mod security_groups;
pub mod subnets;

use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(extensions::list))
        .route("/v2.0/extensions/{alias}", get(extensions::show))
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route("/v2.0/routers", get(routers::list).post(routers::create))
        .route(
            "/v2.0/routers/{id}",
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(routers::remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(floatingips::list).post(floatingips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floatingips::show)
                .put(floatingips::update)
                .delete(floatingips::delete),
        )
        .route(
            "/v2.0/security-groups",
            get(security_groups::list).post(security_groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(security_groups::list_rules).post(security_groups::create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(security_groups::show_rule).delete(security_groups::delete_rule),
        )
        .route("/v2.0/agents", get(agents::list))
        .route(
            "/v2.0/agents/{id}",
            get(agents::show).put(agents::update).delete(agents::delete),
        )
}

/// `GET /`: API versions.
async fn versions(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let base = crate::identity::base_url(&state, &headers);
    Json(json!({"versions": [{"status": "CURRENT", "id": "v2.0",
        "links": [{"href": format!("{base}/v2.0/"), "rel": "self"}]}]}))
}

/// `GET /v2.0/`: the resources.
async fn resources(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let base = crate::identity::base_url(&state, &headers);
    let items: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("agent", "agents"),
        ("extension", "extensions"),
    ]
    .iter()
    .map(|(name, coll)| {
        json!({"name": name, "collection": coll,
               "links": [{"href": format!("{base}/v2.0/{coll}"), "rel": "self"}]})
    })
    .collect();
    Json(json!({ "resources": items }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "HTTPNotFound",
        "The resource could not be found.",
    )
}
