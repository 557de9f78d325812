//! The OpenAPI 3.1 document of a route table.

use super::schema::{keystone_error, neutron_error};
use super::{Api, Route};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Required,
    ResponseBuilder,
};

const JSON: &str = "application/json";

/// The document describing `routes`.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut paths = Paths::new();
    let mut components = ComponentsBuilder::new()
        .schema("NeutronError", neutron_error())
        .schema("KeystoneError", keystone_error())
        .security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token from POST /v3/auth/tokens (its X-Subject-Token header).",
            ))),
        );
    for route in routes {
        for (name, schema) in &route.schemas {
            components = components.schema(name.clone(), schema.clone());
        }
        paths.add_path_operation(&route.path, vec![route.verb.http()], operation(route));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("neutrino")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The OpenStack Networking (Neutron) v2.0 API and the Keystone v3 \
                     identity subset neutrino serves. Generated from the server's route \
                     table and the model types.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let error = match route.api {
        Api::Network => "NeutronError",
        Api::Identity => "KeystoneError",
    };
    let mut op = OperationBuilder::new()
        .tag(route.tag.clone())
        .summary(Some(route.summary.clone()))
        .operation_id(Some(operation_id(route)));
    for name in path_params(&route.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(super::schema::string())),
        );
    }
    for (name, what) in &route.query {
        op = op.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*what))
                .schema(Some(super::schema::string())),
        );
    }
    if let Some(body) = &route.request {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content(JSON, Content::new(Some(body.clone())))
                .required(Some(Required::True))
                .build(),
        ));
    }
    let mut ok = ResponseBuilder::new().description(reason(route.status));
    if let Some(body) = &route.response {
        ok = ok.content(JSON, Content::new(Some(body.clone())));
    }
    let err = ResponseBuilder::new()
        .description("An error, with the status Neutron (or Keystone) gives it.")
        .content(
            JSON,
            Content::new(Some(utoipa::openapi::Ref::from_schema_name(error))),
        );
    op = op
        .response(route.status.to_string(), ok.build())
        .response("default", err.build());
    if !route.public {
        op = op.security(SecurityRequirement::new("token", Vec::<String>::new()));
    }
    op.build()
}

/// `get_v2_0_networks_id` for `GET /v2.0/networks/{id}`: unique per route (a
/// path's trailing-slash twin ends in `_index`).
fn operation_id(route: &Route) -> String {
    let mut id = String::from(route.verb.name());
    for seg in route.path.split('/').skip(1) {
        id.push('_');
        if seg.is_empty() {
            id.push_str("index");
        }
        id.extend(
            seg.chars()
                .filter(|c| *c != '{' && *c != '}')
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// The `{name}` segments of a path.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        _ => "Success",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_the_braced_segments() {
        assert_eq!(
            path_params("/v2.0/agents/{id}/l3-routers/{router_id}"),
            ["id", "router_id"]
        );
        assert!(path_params("/v2.0/networks").is_empty());
    }

    #[test]
    fn every_operation_id_is_unique() {
        let table = crate::api_table();
        let mut ids: Vec<String> = table.iter().map(operation_id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.contains(&"get_v2_0_networks_id".to_string()));
        assert!(ids.contains(&"get_v3_index".to_string()));
    }
}
