//! Security groups and rules, with the per-project default group.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn security_groups() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;

        // First use creates `default` with Neutron's four rules.
        let (s, v) = api.get(&user, "/v2.0/security-groups?name=default").await;
        assert_eq!(s, StatusCode::OK);
        let groups = v["security_groups"].as_array().cloned().unwrap_or_default();
        assert_eq!(groups.len(), 1);
        let def = &groups[0];
        let rules = def["security_group_rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(rules.len(), 4);
        let ingress: Vec<_> = rules
            .iter()
            .filter(|r| r["direction"] == "ingress")
            .collect();
        assert_eq!(ingress.len(), 2);
        assert!(ingress.iter().all(|r| r["remote_group_id"] == def["id"]));
        let (_, v) = api.get(&user, "/v2.0/security-groups").await;
        assert_eq!(
            v["security_groups"].as_array().map(Vec::len),
            Some(1),
            "still one default"
        );
        let (_, v) = api.get(&other, "/v2.0/security-groups").await;
        assert_ne!(v["security_groups"][0]["id"], def["id"]);

        // The seeds' rule: ICMP in to default; twice is 409.
        let body = json!({"security_group_rule": {"security_group_id": def["id"], "direction": "ingress",
            "ethertype": "IPv4", "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}});
        let (s, r) = api
            .post(&user, "/v2.0/security-group-rules", body.clone())
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(r["security_group_rule"]["protocol"], "icmp");
        let (s, v) = api.post(&user, "/v2.0/security-group-rules", body).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "SecurityGroupRuleExists")
        );
        // Rule validation.
        for bad in [
            json!({"direction": "sideways"}),
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 22}),
            json!({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
            json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": def["id"]}),
        ] {
            let mut attrs = bad.clone();
            attrs["security_group_id"] = def["id"].clone();
            let (s, v) = api
                .post(
                    &user,
                    "/v2.0/security-group-rules",
                    json!({"security_group_rule": attrs}),
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        }
        let (s, v) = api
            .post(
                &user,
                "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": def["id"],
                "direction": "ingress", "protocol": "carrier-pigeon"}}),
            )
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::BAD_REQUEST, "SecurityGroupRuleInvalidProtocol")
        );
        // Another project's group is not there.
        let (s, v) = api
            .post(&other, "/v2.0/security-group-rules", json!({"security_group_rule": {"security_group_id": def["id"], "direction": "ingress"}}))
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::NOT_FOUND, "SecurityGroupNotFound")
        );
        let rid = id(&r["security_group_rule"]);
        let (s, _) = api
            .get(&user, &format!("/v2.0/security-group-rules/{rid}"))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = api
            .delete(&user, &format!("/v2.0/security-group-rules/{rid}"))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);

        // A new group has the two egress rules; in use by a port: 409.
        let web = api
            .create(
                &user,
                "security-groups",
                "security_group",
                json!({"name": "web"}),
            )
            .await;
        assert_eq!(
            web["security_group_rules"].as_array().map(Vec::len),
            Some(2)
        );
        let n = api.create(&user, "networks", "network", json!({})).await;
        let p = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": id(&n), "security_groups": [id(&web)]}),
            )
            .await;
        assert_eq!(p["security_groups"], json!([id(&web)]));
        let wpath = format!("/v2.0/security-groups/{}", id(&web));
        let (s, v) = api.delete(&user, &wpath).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "SecurityGroupInUse")
        );
        let (s, v) = api
            .delete(
                &user,
                &format!(
                    "/v2.0/security-groups/{}",
                    def["id"].as_str().unwrap_or_default()
                ),
            )
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "SecurityGroupCannotRemoveDefault")
        );
        let (s, v) = api
            .post(
                &user,
                "/v2.0/security-groups",
                json!({"security_group": {"name": "default"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (s, v) = api
            .put(&user, &wpath, json!({"security_group": {"name": "www"}}))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["security_group"]["name"], "www");
        let (s, _) = api.delete(&user, &format!("/v2.0/ports/{}", id(&p))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api.delete(&user, &wpath).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.get(&user, &wpath).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::NOT_FOUND, "SecurityGroupNotFound")
        );
    }
}

/// The admin may remove a project's default group (tempest cleans up its projects
/// so); the project gets a new one the next time it asks.
#[tokio::test]
async fn the_admin_removes_a_default_group() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, v) = api.get(&user, "/v2.0/security-groups?name=default").await;
        let def = v["security_groups"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = format!("/v2.0/security-groups/{def}");
        let (s, v) = api.delete(&user, &path).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "SecurityGroupCannotRemoveDefault")
        );
        let (s, _) = api.delete(&admin, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.get(&user, "/v2.0/security-groups?name=default").await;
        assert_eq!(s, StatusCode::OK);
        let again = v["security_groups"].as_array().cloned().unwrap_or_default();
        assert_eq!(again.len(), 1, "{v}");
        assert_ne!(again[0]["id"].as_str(), Some(def.as_str()));
    }
}

/// What tempest's security group tests ask of rules: protocols as JSON numbers,
/// Neutron's messages for bad ports and ICMP types, no second `default`.
#[tokio::test]
async fn rule_ports_protocols_and_the_default_name() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    let g = api
        .create(
            &user,
            "security-groups",
            "security_group",
            json!({"name": "g"}),
        )
        .await;
    let gid = id(&g);
    let rule = |extra: serde_json::Value| {
        let mut r = json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4"});
        if let (Some(o), Some(x)) = (r.as_object_mut(), extra.as_object()) {
            o.extend(x.clone());
        }
        json!({ "security_group_rule": r })
    };
    let (s, v) = api
        .post(
            &user,
            "/v2.0/security-group-rules",
            rule(json!({"protocol": 17, "port_range_min": 53, "port_range_max": 53})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["security_group_rule"]["protocol"], "17");
    for (proto, min, max, msg) in [
        ("tcp", json!(-16), json!(80), "Invalid value for port -16"),
        (
            "tcp",
            json!(80),
            json!(79),
            "port_range_min must be <= port_range_max",
        ),
        (
            "tcp",
            json!(80),
            json!(65536),
            "Invalid value for port 65536",
        ),
        (
            "tcp",
            json!(null),
            json!(6),
            "port_range_min must be <= port_range_max",
        ),
        ("tcp", json!(-16), json!(65536), "Invalid value for port"),
        ("icmp", json!(1), json!(256), "Invalid value for ICMP code"),
        ("icmp", json!(-1), json!(25), "Invalid value"),
        (
            "icmp",
            json!(null),
            json!(6),
            "ICMP type (port-range-min) is missing",
        ),
        ("icmp", json!(300), json!(1), "Invalid value for ICMP type"),
    ] {
        let (s, e) = api
            .post(
                &user,
                "/v2.0/security-group-rules",
                rule(json!({"protocol": proto, "port_range_min": min, "port_range_max": max})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{proto} {min} {max}: {e}");
        assert!(e.to_string().contains(msg), "{msg}: {e}");
    }
    let (s, e) = api
        .put(
            &user,
            &format!("/v2.0/security-groups/{gid}"),
            json!({"security_group": {"name": "default"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
}

/// A port's groups are all stateful or all stateless (409 otherwise, as
/// Neutron), and a group in use keeps its kind.
#[tokio::test]
async fn stateful_and_stateless_do_not_mix_on_a_port() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (net, _) = tenant_net(&api, &user, "n", "10.0.0.0/24").await;
        let (_, d) = api.get(&user, "/v2.0/security-groups?name=default").await;
        let def = id(&d["security_groups"][0]);
        let sl = api
            .create(
                &user,
                "security-groups",
                "security_group",
                json!({"name": "sl", "stateful": false}),
            )
            .await;
        assert_eq!(sl["stateful"], false);
        let sl = id(&sl);
        let (s, e) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": net, "security_groups": [def, sl]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(err_type(&e), "SecurityGroupConflict");
        let p = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": net, "security_groups": [sl]}),
            )
            .await;
        let (s, e) = api
            .put(
                &user,
                &format!("/v2.0/ports/{}", id(&p)),
                json!({"port": {"security_groups": [sl, def]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        // In use: its kind stays; free again, it may change.
        let path = format!("/v2.0/security-groups/{sl}");
        let (s, e) = api
            .put(&user, &path, json!({"security_group": {"stateful": true}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(err_type(&e), "SecurityGroupInUse");
        let (s, _) = api
            .put(&user, &path, json!({"security_group": {"stateful": false}}))
            .await;
        assert_eq!(s, StatusCode::OK, "the same kind again is no change");
        let (s, _) = api.delete(&user, &format!("/v2.0/ports/{}", id(&p))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api
            .put(&user, &path, json!({"security_group": {"stateful": true}}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["security_group"]["stateful"], true);
    }
}
