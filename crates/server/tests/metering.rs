//! Metering labels and rules (issue 20): Neutron's API and policy (the admin
//! creates and deletes; a project reads its own labels; rules are the admin's),
//! its validation (direction, prefixes, overlaps), no updates (405: the resources take no PUT), rules going
//! with their label, and the labels a network node's host view carries on each
//! router (the router's project's and the shared ones).

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const LABELS: &str = "/v2.0/metering/metering-labels";
const RULES: &str = "/v2.0/metering/metering-label-rules";

async fn project_id(api: &Api, admin: &str, name: &str) -> String {
    let (_, p) = api.get(admin, &format!("/v3/projects?name={name}")).await;
    p["projects"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn labels_and_rules() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let pa = project_id(&api, &admin, "TenantA").await;

        // Only the admin creates; the label can be for a project.
        let (s, e) = api
            .post(&user, LABELS, json!({"metering_label": {"name": "mine"}}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (s, l) = api
            .post(
                &admin,
                LABELS,
                json!({"metering_label": {"name": "a-out", "description": "A's traffic", "project_id": pa}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{l}");
        let la = id(&l["metering_label"]);
        assert_eq!(l["metering_label"]["shared"], false);
        assert_eq!(l["metering_label"]["project_id"], pa.as_str());
        assert_eq!(l["metering_label"]["tenant_id"], pa.as_str());
        let long = "x".repeat(256);
        let (s, _) = api
            .post(&admin, LABELS, json!({"metering_label": {"name": long}}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api
            .post(
                &admin,
                LABELS,
                json!({"metering_label": {"name": "x".repeat(255)}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);

        // A project reads its own labels, not another's.
        let (s, v) = api.get(&user, &format!("{LABELS}/{la}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = api.get(&other, &format!("{LABELS}/{la}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(err_type(&v), "MeteringLabelNotFound");
        let (_, v) = api.get(&other, LABELS).await;
        assert_eq!(v["metering_labels"], json!([]));
        let (_, v) = api.get(&admin, &format!("{LABELS}?id=33")).await;
        assert_eq!(v["metering_labels"], json!([]));

        // Rules: validation as Neutron's.
        let rule = |body: Value| json!({"metering_label_rule": body});
        let bad = [
            (
                json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/24"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "remote_ip_prefix": "10.0.0.0/24"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "direction": "sideways", "remote_ip_prefix": "10.0.0.0/24"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "direction": "ingress"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/24", "source_ip_prefix": "1.0.0.0/8"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "direction": "ingress", "source_ip_prefix": "300.0.0.0/8"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": la, "direction": "ingress", "excluded": "maybe", "remote_ip_prefix": "10.0.0.0/24"}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"metering_label_id": "nope", "direction": "ingress", "remote_ip_prefix": "10.0.0.0/24"}),
                StatusCode::NOT_FOUND,
            ),
        ];
        for (body, want) in bad {
            let (s, e) = api.post(&admin, RULES, rule(body.clone())).await;
            assert_eq!(s, want, "{body}: {e}");
            assert!(e["NeutronError"]["message"].is_string(), "{e}");
        }
        let (s, r) = api
            .post(
                &admin,
                RULES,
                rule(json!({"metering_label_id": la, "direction": "egress", "remote_ip_prefix": "10.0.0.1/24"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let r1 = id(&r["metering_label_rule"]);
        assert_eq!(r["metering_label_rule"]["remote_ip_prefix"], "10.0.0.0/24");
        assert_eq!(r["metering_label_rule"]["excluded"], false);
        assert!(r["metering_label_rule"].get("project_id").is_none());
        // Overlapping the same direction and kind: 409; excluded or the other
        // direction: fine.
        let (s, e) = api
            .post(
                &admin,
                RULES,
                rule(json!({"metering_label_id": la, "direction": "egress", "remote_ip_prefix": "10.0.0.128/25"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(err_type(&e), "MeteringLabelRuleOverlaps");
        for body in [
            json!({"metering_label_id": la, "direction": "egress", "excluded": true, "remote_ip_prefix": "10.0.0.128/25"}),
            json!({"metering_label_id": la, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/24"}),
            json!({"metering_label_id": la, "direction": "ingress", "source_ip_prefix": "0.0.0.0/0", "destination_ip_prefix": "fd02::/64"}),
        ] {
            let (s, r) = api.post(&admin, RULES, rule(body.clone())).await;
            assert_eq!(s, StatusCode::CREATED, "{body}: {r}");
        }
        // Tenants neither create nor see rules.
        let (s, _) = api
            .post(
                &user,
                RULES,
                rule(json!({"metering_label_id": la, "direction": "ingress", "remote_ip_prefix": "10.9.0.0/24"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, v) = api.get(&user, RULES).await;
        assert_eq!(v["metering_label_rules"], json!([]));
        let (s, _) = api.get(&user, &format!("{RULES}/{r1}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = api
            .get(&admin, &format!("{RULES}?metering_label_id={la}"))
            .await;
        assert_eq!(v["metering_label_rules"].as_array().map(Vec::len), Some(4));

        // No updates.
        let (s, _) = api
            .put(
                &admin,
                &format!("{LABELS}/{la}"),
                json!({"metering_label": {"name": "x"}}),
            )
            .await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        let (s, e) = api
            .put(
                &admin,
                &format!("{RULES}/{r1}"),
                json!({"metering_label_rule": {"excluded": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err_type(&e), "HTTPMethodNotAllowed");

        // Deletes: the admin's; the rules go with their label.
        let (s, _) = api.delete(&user, &format!("{LABELS}/{la}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = api.delete(&admin, &format!("{RULES}/{r1}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api.delete(&admin, &format!("{LABELS}/{la}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, v) = api
            .get(&admin, &format!("{RULES}?metering_label_id={la}"))
            .await;
        assert_eq!(v["metering_label_rules"], json!([]));
        let aliases = extension_aliases(&api, &admin).await;
        for a in ["metering", "metering_source_and_destination_fields"] {
            assert!(aliases.iter().any(|x| x == a), "{a}");
        }
    }
}

#[tokio::test]
async fn a_network_node_sees_its_routers_labels() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let pa = project_id(&api, &admin, "TenantA").await;
        let pb = {
            api.tenant(&admin, "TenantB", "member").await;
            project_id(&api, &admin, "TenantB").await
        };
        register_agent(&api, &admin, "network", Some("192.168.100.20")).await;
        register_agent(&api, &admin, "network", None).await;
        let (ext, _) = external_net(&api, &admin).await;
        let router_id = id(&gateway_router(&api, &user, "r1", &ext).await);
        let mk = |project: &str, shared: bool, name: &str| json!({"metering_label": {"name": name, "project_id": project, "shared": shared}});
        let (_, a) = api.post(&admin, LABELS, mk(&pa, false, "a")).await;
        let (_, bl) = api.post(&admin, LABELS, mk(&pb, false, "b")).await;
        let (_, sh) = api.post(&admin, LABELS, mk(&pb, true, "shared")).await;
        let (s, _) = api
            .post(
                &admin,
                RULES,
                json!({"metering_label_rule": {"metering_label_id": id(&a["metering_label"]), "direction": "egress", "remote_ip_prefix": "10.0.0.0/24"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = api
            .get(&admin, "/agent-api/v1/hosts/network/view?since=0")
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let r = v["routers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == router_id.as_str())
            .unwrap_or_else(|| panic!("router not on the network node: {v}"))
            .clone();
        let labels: Vec<String> = r["metering_labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect();
        assert!(labels.contains(&id(&a["metering_label"])));
        assert!(labels.contains(&id(&sh["metering_label"])));
        assert!(
            !labels.contains(&id(&bl["metering_label"])),
            "TenantB's label on TenantA's router"
        );
        let la = r["metering_labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == a["metering_label"]["id"])
            .unwrap();
        assert_eq!(la["rules"][0]["remote_ip_prefix"], "10.0.0.0/24");
    }
}
