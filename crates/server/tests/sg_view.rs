//! Security groups in the host view (issue 18): a host gets the groups of its
//! ports with their rules, and the members' addresses of every group those rules
//! name as a remote group (ports on any host, address pairs included); nothing of
//! ports without port security, nothing of other tenants' groups.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn group<'a>(view: &'a Value, id: &str) -> Option<&'a Value> {
    view["security_groups"]
        .as_array()?
        .iter()
        .find(|g| g["id"] == id)
}

#[tokio::test]
async fn the_host_view_carries_groups_rules_and_remote_members() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let (net, _) = tenant_net(&api, &user, "net", "10.0.0.0/24").await;
        let (_, groups) = api.get(&user, "/v2.0/security-groups").await;
        let default = groups["security_groups"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let web = api
            .create(
                &user,
                "security-groups",
                "security_group",
                json!({"name": "web"}),
            )
            .await;
        let web_id = id(&web);
        let (s, r) = api
            .post(
                &user,
                "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": web_id,
                    "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
                    "port_range_max": 80, "remote_group_id": default}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let project =
            api.get(&user, &format!("/v2.0/networks/{net}")).await.1["network"]["project_id"]
                .clone();
        let mut ports = Vec::new();
        for (host, groups, extra) in [
            ("compute-01", json!([default, web_id]), json!({})),
            (
                "compute-02",
                json!([default]),
                json!({"allowed_address_pairs": [{"ip_address": "10.0.9.0/24"}]}),
            ),
            (
                "compute-01",
                json!([]),
                json!({"port_security_enabled": false}),
            ),
        ] {
            let mut body = json!({"network_id": net, "device_owner": "compute:nova",
                "device_id": "vm", "binding:host_id": host, "project_id": project,
                "security_groups": groups});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            ports.push(api.create(&admin, "ports", "port", body).await);
        }
        let ip = |p: &Value| {
            p["fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        // Another tenant's group never shows.
        let theirs = api
            .create(
                &other,
                "security-groups",
                "security_group",
                json!({"name": "x"}),
            )
            .await;

        let (s, v) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let local = v["ports"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["id"] == ports[0]["id"]))
            .cloned()
            .unwrap_or_default();
        assert_eq!(local["security_groups"], json!([default, web_id]));
        let d = group(&v, &default).unwrap_or_else(|| panic!("no default group: {v}"));
        // Neutron's default group: egress anywhere, ingress from the group, both
        // address families.
        let rules = d["rules"].as_array().cloned().unwrap_or_default();
        assert_eq!(rules.len(), 4, "{d}");
        assert_eq!(
            rules.iter().filter(|r| r["direction"] == "egress").count(),
            2
        );
        assert!(
            rules
                .iter()
                .filter(|r| r["direction"] == "ingress")
                .all(|r| r["remote_group_id"] == default.as_str())
        );
        // The default group is a remote group: its members on both hosts, with
        // the address pair's prefix; the port without port security is none.
        let members: Vec<String> = d["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert!(members.contains(&ip(&ports[0])), "{members:?}");
        assert!(members.contains(&ip(&ports[1])), "{members:?}");
        assert!(members.contains(&"10.0.9.0/24".to_string()), "{members:?}");
        assert!(!members.contains(&ip(&ports[2])), "{members:?}");
        let w = group(&v, &web_id).unwrap_or_else(|| panic!("no web group: {v}"));
        let tcp = w["rules"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["protocol"] == "tcp"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(tcp["port_range_min"], 80, "{w}");
        assert_eq!(tcp["remote_group_id"], default.as_str(), "{w}");
        assert!(group(&v, &id(&theirs)).is_none());

        // A rule change reaches the view.
        let rule_id = id(&r["security_group_rule"]);
        let (s, _) = api
            .delete(&user, &format!("/v2.0/security-group-rules/{rule_id}"))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, v) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        let w = group(&v, &web_id).cloned().unwrap_or_default();
        let rules = w["rules"].as_array().cloned().unwrap_or_default();
        assert!(
            !rules.is_empty() && rules.iter().all(|r| r["protocol"] != "tcp"),
            "{w}"
        );
    }
}
