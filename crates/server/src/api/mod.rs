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
pub mod resource_routes;
pub mod router_routes;
pub mod routers;
pub mod security_groups;
pub mod subnetpools;
pub mod subnets;
pub mod tags;

use crate::AppState;
use crate::apidoc::{Route, Verb};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use model::{
    AddressScope, Agent, FloatingIp, MeteringLabel, MeteringLabelRule, Network, Port, RbacPolicy,
    SecurityGroup, SecurityGroupRule, Subnet, SubnetPool,
};
use serde_json::{Value, json};

/// The network API's routes, described (see [`crate::apidoc`]).
pub fn table() -> Vec<Route> {
    use crate::apidoc::schema::object;
    use resource_routes as ops;
    let mut t = vec![
        Route::new(Verb::Get, "/", versions)
            .public()
            .tag("versions")
            .summary("List API versions")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0", resources)
            .tag("versions")
            .summary("List the resources of v2.0")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0/", resources)
            .tag("versions")
            .summary("List the resources of v2.0")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0/extensions", extensions::list)
            .summary("List the API extensions")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0/extensions/{alias}", extensions::show)
            .summary("Show an API extension")
            .returns(200, Some(object())),
        ops::list::<Network>(),
        ops::create_bulk::<Network, _, _>(networks::create),
        ops::show::<Network>(),
        ops::update::<Network, _, _>(networks::update),
        ops::delete::<Network>(),
        ops::list::<Subnet>(),
        ops::create_bulk::<Subnet, _, _>(subnets::create),
        ops::show::<Subnet>(),
        ops::update::<Subnet, _, _>(subnets::update),
        ops::delete::<Subnet>(),
        ops::list::<Port>(),
        ops::create_bulk::<Port, _, _>(ports::create),
        ops::show::<Port>(),
        ops::update::<Port, _, _>(ports::update),
        ops::delete::<Port>(),
        ops::list::<model::Router>(),
        ops::create::<model::Router, _, _>(routers::create),
        ops::show::<model::Router>(),
        ops::update::<model::Router, _, _>(routers::update),
        ops::delete::<model::Router>(),
        Route::new(
            Verb::Put,
            "/v2.0/routers/{id}/add_router_interface",
            routers::add_interface,
        )
        .summary("Attach a subnet or port to a router")
        .request(object())
        .returns(200, Some(object())),
        Route::new(
            Verb::Put,
            "/v2.0/routers/{id}/remove_router_interface",
            routers::remove_interface,
        )
        .summary("Detach a subnet or port from a router")
        .request(object())
        .returns(200, Some(object())),
        Route::new(
            Verb::Put,
            "/v2.0/routers/{id}/add_extraroutes",
            router_routes::add_extraroutes,
        )
        .summary("Add static routes to a router")
        .request(object())
        .returns(200, Some(object())),
        Route::new(
            Verb::Put,
            "/v2.0/routers/{id}/remove_extraroutes",
            router_routes::remove_extraroutes,
        )
        .summary("Remove static routes from a router")
        .request(object())
        .returns(200, Some(object())),
        Route::new(
            Verb::Get,
            "/v2.0/routers/{id}/l3-agents",
            l3_agents::list_agents,
        )
        .summary("List the L3 agents hosting a router")
        .returns(200, Some(object())),
        ops::list::<FloatingIp>(),
        ops::create::<FloatingIp, _, _>(floatingips::create),
        ops::show::<FloatingIp>(),
        ops::update::<FloatingIp, _, _>(floatingips::update),
        ops::delete::<FloatingIp>(),
        ops::list::<SecurityGroup>(),
        ops::create::<SecurityGroup, _, _>(security_groups::create),
        ops::show::<SecurityGroup>(),
        ops::update::<SecurityGroup, _, _>(security_groups::update),
        ops::delete::<SecurityGroup>(),
        ops::list::<SecurityGroupRule>(),
        ops::create::<SecurityGroupRule, _, _>(security_groups::create_rule),
        ops::show::<SecurityGroupRule>(),
        ops::delete::<SecurityGroupRule>(),
        ops::list::<MeteringLabel>(),
        ops::create::<MeteringLabel, _, _>(metering::create_label),
        ops::show::<MeteringLabel>(),
        ops::delete::<MeteringLabel>(),
        ops::list::<MeteringLabelRule>(),
        ops::create::<MeteringLabelRule, _, _>(metering::create_rule),
        ops::show::<MeteringLabelRule>(),
        ops::delete::<MeteringLabelRule>(),
        ops::list::<SubnetPool>(),
        ops::create::<SubnetPool, _, _>(subnetpools::create),
        ops::show::<SubnetPool>(),
        ops::update::<SubnetPool, _, _>(subnetpools::update),
        ops::delete::<SubnetPool>(),
        Route::new(
            Verb::Put,
            "/v2.0/subnetpools/{id}/add_prefixes",
            subnetpools::add_prefixes,
        )
        .summary("Add prefixes to a subnet pool")
        .request(object())
        .returns(200, Some(object())),
        Route::new(
            Verb::Put,
            "/v2.0/subnetpools/{id}/remove_prefixes",
            subnetpools::remove_prefixes,
        )
        .summary("Remove prefixes from a subnet pool")
        .request(object())
        .returns(200, Some(object())),
        ops::list::<RbacPolicy>(),
        ops::create::<RbacPolicy, _, _>(rbac_policies::create),
        ops::show::<RbacPolicy>(),
        ops::update::<RbacPolicy, _, _>(rbac_policies::update),
        ops::delete::<RbacPolicy>(),
        ops::list::<AddressScope>(),
        ops::create::<AddressScope, _, _>(address_scopes::create),
        ops::show::<AddressScope>(),
        ops::update::<AddressScope, _, _>(address_scopes::update),
        ops::delete::<AddressScope>(),
        Route::new(
            Verb::Get,
            "/v2.0/network-ip-availabilities",
            ip_availability::list,
        )
        .summary("List networks' IP availability")
        .returns(200, Some(object())),
        Route::new(
            Verb::Get,
            "/v2.0/network-ip-availabilities/{id}",
            ip_availability::show,
        )
        .summary("Show a network's IP availability")
        .returns(200, Some(object())),
        ops::list::<Agent>(),
        ops::show::<Agent>(),
        ops::update::<Agent, _, _>(agents::update),
        ops::delete::<Agent>(),
        Route::new(
            Verb::Get,
            "/v2.0/agents/{id}/l3-routers",
            l3_agents::list_routers,
        )
        .summary("List the routers an L3 agent hosts")
        .returns(200, Some(object())),
        Route::new(
            Verb::Post,
            "/v2.0/agents/{id}/l3-routers",
            l3_agents::add_router,
        )
        .summary("Schedule a router to an L3 agent")
        .request(object())
        .returns(201, None),
        Route::new(
            Verb::Delete,
            "/v2.0/agents/{id}/l3-routers/{router_id}",
            l3_agents::remove_router,
        )
        .summary("Remove a router from an L3 agent"),
        Route::new(Verb::Get, "/v2.0/quotas", quotas::list)
            .summary("List the projects' quotas (admin)")
            .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0/quotas/{project}", quotas::show)
            .summary("Show a project's quotas")
            .returns(200, Some(object())),
        Route::new(Verb::Put, "/v2.0/quotas/{project}", quotas::update)
            .summary("Set a project's quotas (admin)")
            .request(object())
            .returns(200, Some(object())),
        Route::new(Verb::Delete, "/v2.0/quotas/{project}", quotas::reset)
            .summary("Reset a project's quotas to the defaults (admin)"),
        Route::new(
            Verb::Get,
            "/v2.0/quotas/{project}/default",
            quotas::defaults,
        )
        .summary("Show the default quotas")
        .returns(200, Some(object())),
        Route::new(Verb::Get, "/v2.0/quotas/{project}/details", quotas::details)
            .summary("Show a project's quotas with usage")
            .returns(200, Some(object())),
        Route::new(
            Verb::Get,
            "/v2.0/quotas/{project}/details.json",
            quotas::details,
        )
        .summary("Show a project's quotas with usage")
        .returns(200, Some(object())),
    ];
    t.extend(tags::table());
    t
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

/// The answer for a path no route takes: Neutron's 404, Keystone's under `/v3`.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    let e = ApiError::new(
        StatusCode::NOT_FOUND,
        "HTTPNotFound",
        "The resource could not be found.",
    );
    if uri.path() == "/v3" || uri.path().starts_with("/v3/") {
        e.into_keystone()
    } else {
        e
    }
}
