//! List, show and delete as every resource kind has them: another project's item
//! is a 404 (read or delete) and missing from its lists, a reader's delete is a
//! 403 before anything is looked up, a shared network is seen but not deleted by
//! others (403) while its subnet is seen but its delete is a 404, `If-Match` holds
//! deletes back (but not a rule's), and agents are admin only.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

/// The ids in collection `coll` of a list body.
fn ids(v: &Value, coll: &str) -> Vec<String> {
    v[coll]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn list_show_delete_per_kind() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let a = api.tenant(&admin, "TenantA", "member").await;
        let bt = api.tenant(&admin, "TenantB", "member").await;
        let reader = api.tenant(&admin, "TenantR", "reader").await;
        let (ext, _) = external_net(&api, &admin).await;

        let net = api.create(&a, "networks", "network", json!({})).await;
        let subnet = api
            .create(
                &a,
                "subnets",
                "subnet",
                json!({"network_id": id(&net), "cidr": "10.0.0.0/24"}),
            )
            .await;
        let port = api
            .create(&a, "ports", "port", json!({"network_id": id(&net)}))
            .await;
        let router = api.create(&a, "routers", "router", json!({})).await;
        let group = api
            .create(
                &a,
                "security-groups",
                "security_group",
                json!({"name": "g"}),
            )
            .await;
        let rule = api
            .create(
                &a,
                "security-group-rules",
                "security_group_rule",
                json!({"security_group_id": id(&group), "direction": "ingress",
                       "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
            )
            .await;
        let fip = api
            .create(
                &a,
                "floatingips",
                "floatingip",
                json!({"floating_network_id": ext}),
            )
            .await;

        // Deleted in this order at the end (ports before their subnet).
        let items = [
            ("floatingips", "floatingips", &fip, "FloatingIPNotFound"),
            (
                "security-group-rules",
                "security_group_rules",
                &rule,
                "SecurityGroupRuleNotFound",
            ),
            (
                "security-groups",
                "security_groups",
                &group,
                "SecurityGroupNotFound",
            ),
            ("ports", "ports", &port, "PortNotFound"),
            ("routers", "routers", &router, "RouterNotFound"),
            ("subnets", "subnets", &subnet, "SubnetNotFound"),
            ("networks", "networks", &net, "NetworkNotFound"),
        ];
        for (path, coll, item, missing) in items {
            let one = format!("/v2.0/{path}/{}", id(item));
            let (s, v) = api.get(&a, &one).await;
            assert_eq!(s, StatusCode::OK, "{one}: {v}");
            let (_, v) = api.get(&a, &format!("/v2.0/{path}")).await;
            assert!(ids(&v, coll).contains(&id(item)), "{path}: {v}");

            let (s, v) = api.get(&bt, &one).await;
            assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, missing), "{one}");
            let (s, v) = api.delete(&bt, &one).await;
            assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, missing), "{one}");
            let (_, v) = api.get(&bt, &format!("/v2.0/{path}")).await;
            assert!(!ids(&v, coll).contains(&id(item)), "{path}: {v}");
            let (s, v) = api.delete(&reader, &one).await;
            assert_eq!(
                (s, err_type(&v)),
                (StatusCode::FORBIDDEN, "PolicyNotAuthorized"),
                "{one}"
            );
        }

        // A group shows its rules, stored apart, in show and in list.
        let (_, v) = api
            .get(&a, &format!("/v2.0/security-groups/{}", id(&group)))
            .await;
        let rules = ids(&v["security_group"], "security_group_rules");
        assert_eq!(rules.len(), 3, "{v}");
        assert!(rules.contains(&id(&rule)));
        let (_, v) = api
            .get(&a, &format!("/v2.0/security-groups?id={}", id(&group)))
            .await;
        assert_eq!(
            ids(&v["security_groups"][0], "security_group_rules").len(),
            3
        );

        // If-Match holds a delete back; a rule's delete does not look at it.
        let stale = [("if-match", "revision_number=99")];
        let one = format!("/v2.0/routers/{}", id(&router));
        let (s, v, _) = api.call(Method::DELETE, &one, Some(&a), None, &stale).await;
        assert_eq!(
            (s, err_type(&v)),
            (
                StatusCode::PRECONDITION_FAILED,
                "RevisionNumberConstraintFailed"
            )
        );
        let (s, _) = api.get(&a, &one).await;
        assert_eq!(s, StatusCode::OK);
        let one = format!("/v2.0/security-group-rules/{}", id(&rule));
        let (s, _, _) = api.call(Method::DELETE, &one, Some(&a), None, &stale).await;
        assert_eq!(s, StatusCode::NO_CONTENT);

        for (path, _, item, missing) in items {
            let one = format!("/v2.0/{path}/{}", id(item));
            if path == "security-group-rules" {
                continue;
            }
            let (s, v) = api.delete(&a, &one).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{one}: {v}");
            let (s, v) = api.get(&a, &one).await;
            assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, missing), "{one}");
            let (s, v) = api.delete(&a, &one).await;
            assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, missing), "{one}");
        }
    }
}

#[tokio::test]
async fn shared_networks_and_agents() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let bt = api.tenant(&admin, "TenantB", "member").await;
        let shared = api
            .create(&admin, "networks", "network", json!({"shared": true}))
            .await;
        let subnet = api
            .create(
                &admin,
                "subnets",
                "subnet",
                json!({"network_id": id(&shared), "cidr": "10.9.0.0/24"}),
            )
            .await;
        let net_path = format!("/v2.0/networks/{}", id(&shared));
        let subnet_path = format!("/v2.0/subnets/{}", id(&subnet));

        // Seen by others, with its subnet, in show and in list...
        let (s, _) = api.get(&bt, &net_path).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = api.get(&bt, &subnet_path).await;
        assert_eq!(s, StatusCode::OK);
        let (_, v) = api.get(&bt, "/v2.0/subnets").await;
        assert_eq!(ids(&v, "subnets"), [id(&subnet)]);
        // ...but not theirs to change: the network says so, the subnet is a 404.
        let (s, v) = api.delete(&bt, &net_path).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::FORBIDDEN, "PolicyNotAuthorized")
        );
        assert_eq!(
            v["NeutronError"]["message"],
            "rule:delete_network is disallowed by policy"
        );
        let (s, v) = api
            .put(&bt, &net_path, json!({"network": {"name": "mine"}}))
            .await;
        assert_eq!(
            v["NeutronError"]["message"], "rule:update_network is disallowed by policy",
            "{s}"
        );
        let (s, v) = api.delete(&bt, &subnet_path).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "SubnetNotFound"));
        // A network with a subnet and no ports goes, subnet and all.
        let (s, _) = api.delete(&admin, &net_path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api.get(&admin, &subnet_path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Agents: others see none (a show is a 404, as for what does not
        // exist); a change is refused by policy before the lookup.
        let (s, v, _) = api
            .call(Method::GET, "/v2.0/agents/nope", Some(&bt), None, &[])
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
        let (s, v, _) = api
            .call(Method::DELETE, "/v2.0/agents/nope", Some(&bt), None, &[])
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            v["NeutronError"]["message"],
            "rule:delete_agent is disallowed by policy"
        );
        let (s, v) = api.delete(&admin, "/v2.0/agents/nope").await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
    }
}
