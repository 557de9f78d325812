//! The Neutron v2.0 network API: versions at `/`, resources at `/v2.0/…`.

pub mod address_scopes;
pub mod agents;
pub mod bulk;
pub(crate) mod common;
pub mod dhcp_port;
pub mod extensions;
pub mod extra_dhcp_opts;
pub mod floatingips;
pub mod ip_availability;
pub mod l3_agents;
pub mod metering;
pub mod networks;
pub mod port_addresses;
pub mod ports;
pub mod quotas;
pub mod rbac_policies;
pub mod resource;
pub mod router_routes;
pub mod routers;
pub mod security_groups;
pub mod subnetpools;
pub mod subnets;
pub mod tags;

use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete as delete_route, get, put};
use axum::{Json, Router};
use model::{
    AddressScope, Agent, FloatingIp, MeteringLabel, MeteringLabelRule, Network, Port, RbacPolicy,
    SecurityGroup, SecurityGroupRule, Subnet, SubnetPool,
};
use resource::{delete, list, show};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(tags::all())
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(extensions::list))
        .route("/v2.0/extensions/{alias}", get(extensions::show))
        .route(
            "/v2.0/networks",
            get(list::<Network>).post(
                |State(s): State<AppState>,
                 c: crate::identity::Ctx,
                 h: HeaderMap,
                 b: axum::body::Bytes| {
                    bulk::create::<Network, _, _>(s, c, h, b, networks::create)
                },
            ),
        )
        .route(
            "/v2.0/networks/{id}",
            get(show::<Network>)
                .put(networks::update)
                .delete(delete::<Network>),
        )
        .route("/v2.0/quotas", get(quotas::list))
        .route(
            "/v2.0/quotas/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::reset),
        )
        .route("/v2.0/quotas/{project}/default", get(quotas::defaults))
        .route("/v2.0/quotas/{project}/details", get(quotas::details))
        .route("/v2.0/quotas/{project}/details.json", get(quotas::details))
        .route(
            "/v2.0/subnets",
            get(list::<Subnet>).post(
                |State(s): State<AppState>,
                 c: crate::identity::Ctx,
                 h: HeaderMap,
                 b: axum::body::Bytes| {
                    bulk::create::<Subnet, _, _>(s, c, h, b, subnets::create)
                },
            ),
        )
        .route(
            "/v2.0/subnets/{id}",
            get(show::<Subnet>)
                .put(subnets::update)
                .delete(delete::<Subnet>),
        )
        .route(
            "/v2.0/ports",
            get(list::<Port>).post(
                |State(s): State<AppState>,
                 c: crate::identity::Ctx,
                 h: HeaderMap,
                 b: axum::body::Bytes| {
                    bulk::create::<Port, _, _>(s, c, h, b, ports::create)
                },
            ),
        )
        .route(
            "/v2.0/ports/{id}",
            get(show::<Port>).put(ports::update).delete(delete::<Port>),
        )
        .route(
            "/v2.0/routers",
            get(list::<model::Router>).post(routers::create),
        )
        .route(
            "/v2.0/routers/{id}",
            get(show::<model::Router>)
                .put(routers::update)
                .delete(delete::<model::Router>),
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
            get(list::<FloatingIp>).post(floatingips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(show::<FloatingIp>)
                .put(floatingips::update)
                .delete(delete::<FloatingIp>),
        )
        .route(
            "/v2.0/security-groups",
            get(list::<SecurityGroup>).post(security_groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(show::<SecurityGroup>)
                .put(security_groups::update)
                .delete(delete::<SecurityGroup>),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list::<SecurityGroupRule>).post(security_groups::create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(show::<SecurityGroupRule>).delete(delete::<SecurityGroupRule>),
        )
        .route(
            "/v2.0/metering/metering-labels",
            get(list::<MeteringLabel>).post(metering::create_label),
        )
        .route(
            "/v2.0/metering/metering-labels/{id}",
            get(show::<MeteringLabel>)
                .put(metering::not_implemented)
                .delete(delete::<MeteringLabel>),
        )
        .route(
            "/v2.0/metering/metering-label-rules",
            get(list::<MeteringLabelRule>).post(metering::create_rule),
        )
        .route(
            "/v2.0/metering/metering-label-rules/{id}",
            get(show::<MeteringLabelRule>)
                .put(metering::not_implemented)
                .delete(delete::<MeteringLabelRule>),
        )
        .route(
            "/v2.0/subnetpools",
            get(list::<SubnetPool>).post(subnetpools::create),
        )
        .route(
            "/v2.0/subnetpools/{id}",
            get(show::<SubnetPool>)
                .put(subnetpools::update)
                .delete(delete::<SubnetPool>),
        )
        .route(
            "/v2.0/subnetpools/{id}/add_prefixes",
            put(subnetpools::add_prefixes),
        )
        .route(
            "/v2.0/subnetpools/{id}/remove_prefixes",
            put(subnetpools::remove_prefixes),
        )
        .route(
            "/v2.0/rbac-policies",
            get(list::<RbacPolicy>).post(rbac_policies::create),
        )
        .route(
            "/v2.0/rbac-policies/{id}",
            get(show::<RbacPolicy>)
                .put(rbac_policies::update)
                .delete(delete::<RbacPolicy>),
        )
        .route(
            "/v2.0/address-scopes",
            get(list::<AddressScope>).post(address_scopes::create),
        )
        .route(
            "/v2.0/address-scopes/{id}",
            get(show::<AddressScope>)
                .put(address_scopes::update)
                .delete(delete::<AddressScope>),
        )
        .route(
            "/v2.0/network-ip-availabilities",
            get(ip_availability::list),
        )
        .route(
            "/v2.0/network-ip-availabilities/{id}",
            get(ip_availability::show),
        )
        .route(
            "/v2.0/routers/{id}/add_extraroutes",
            put(router_routes::add_extraroutes),
        )
        .route(
            "/v2.0/routers/{id}/remove_extraroutes",
            put(router_routes::remove_extraroutes),
        )
        .route("/v2.0/routers/{id}/l3-agents", get(l3_agents::list_agents))
        .route("/v2.0/agents", get(list::<Agent>))
        .route(
            "/v2.0/agents/{id}/l3-routers",
            get(l3_agents::list_routers).post(l3_agents::add_router),
        )
        .route(
            "/v2.0/agents/{id}/l3-routers/{router_id}",
            delete_route(l3_agents::remove_router),
        )
        .route(
            "/v2.0/agents/{id}",
            get(show::<Agent>)
                .put(agents::update)
                .delete(delete::<Agent>),
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
        ("metering_label", "metering/metering-labels"),
        ("network_ip_availability", "network-ip-availabilities"),
        ("subnetpool", "subnetpools"),
        ("address_scope", "address-scopes"),
        ("rbac_policy", "rbac-policies"),
        ("metering_label_rule", "metering/metering-label-rules"),
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
