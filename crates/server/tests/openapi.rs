//! `/openapi.json` (issue 23): served without a token, OpenAPI 3.1, and true to
//! the router — every operation it describes is routed (not the fallback's 404,
//! not a 405), the schemas carry the attribute names as the API spells them, and
//! what the API does not take (a PUT on a metering label) is not described.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::Value;

async fn document(api: &Api) -> Value {
    let (s, doc, headers) = api
        .call(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    doc
}

#[tokio::test]
async fn the_document_describes_what_is_routed() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let doc = document(&api).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "neutrino");
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "0a0b0c0d-0000-4000-8000-000000000000")
            .replace("{alias}", "router")
            .replace("{project}", "p")
            .replace("{user}", "u")
            .replace("{role}", "r")
            .replace("{router_id}", "r")
            .replace("{tag}", "t");
        for (method, op) in item.as_object().expect("path item") {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = op.get("requestBody").map(|_| serde_json::json!({}));
            let (s, v, _) = api
                .call(m.clone(), &concrete, Some(&admin), body, &[])
                .await;
            assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {v}");
            assert!(
                !(s == StatusCode::NOT_FOUND && err_type(&v) == "HTTPNotFound"),
                "{method} {path} is described but not routed: {v}"
            );
            assert!(s.as_u16() < 500, "{method} {path}: {s} {v}");
            assert!(op["operationId"].is_string() && op["summary"].is_string());
            operations += 1;
        }
    }
    assert!(operations > 150, "{operations} operations");
    for p in ["/v2.0/networks", "/v2.0/networks/{id}", "/v3/auth/tokens"] {
        assert!(paths.contains_key(p), "{p}");
    }
    let member = &doc["paths"]["/v2.0/networks/{id}"];
    for m in ["get", "put", "delete"] {
        assert!(member[m].is_object(), "{m}");
    }
    // A PUT on metering labels is answered 405 and so not described.
    assert!(doc["paths"]["/v2.0/metering/metering-labels/{id}"]["put"].is_null());
    // Tokens are issued without one; everything else names the token scheme.
    assert!(doc["paths"]["/v3/auth/tokens"]["post"]["security"].is_null());
    assert_eq!(
        doc["paths"]["/v2.0/ports"]["get"]["security"][0]["token"],
        serde_json::json!([])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["name"],
        "X-Auth-Token"
    );
    // A path no route takes answers in its API's error format, as described.
    let (s, v) = api.get(&admin, "/v3/projects/").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], 404, "{v}");
    let (s, v) = api.get(&admin, "/v2.0/nothing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err_type(&v), "HTTPNotFound");
}

#[tokio::test]
async fn schemas_are_the_model_types_as_the_api_spells_them() {
    let api = Api::new(&Backend::Sqlite).await;
    let doc = document(&api).await;
    let schemas = &doc["components"]["schemas"];
    let net = &schemas["Network"]["properties"];
    for attr in ["provider:network_type", "router:external", "subnets", "mtu"] {
        assert!(net[attr].is_object(), "{attr}");
    }
    assert_eq!(
        net["provider:network_type"]["$ref"],
        "#/components/schemas/NetworkType"
    );
    let kinds = schemas["NetworkType"]["enum"].as_array().expect("enum");
    assert!(kinds.contains(&Value::from("vxlan")) && kinds.contains(&Value::from("gre")));
    // `fields` may leave any attribute out, so a resource requires none; a
    // nested object keeps its own.
    assert!(schemas["Network"]["required"].is_null());
    assert!(
        schemas["FixedIp"]["required"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    let list = &doc["paths"]["/v2.0/ports"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        list["properties"]["ports"]["items"]["$ref"],
        "#/components/schemas/Port"
    );
    let error = &doc["paths"]["/v2.0/ports"]["get"]["responses"]["default"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(error, "#/components/schemas/NeutronError");
}
