//! Networks and subnets: provider attributes, segmentation ids, MTU, revision
//! numbers with If-Match, and the error paths.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn networks() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;

        // Tenant networks: vxlan with the lowest free VNI, MTU 1450.
        let n1 = api
            .create(&user, "networks", "network", json!({"name": "net1"}))
            .await;
        assert_eq!(n1["provider:network_type"], "vxlan");
        assert_eq!(n1["provider:segmentation_id"], 1);
        assert_eq!(n1["mtu"], 1450);
        assert_eq!(n1["status"], "ACTIVE");
        assert_eq!(n1["revision_number"], 1);
        let n2 = api
            .create(&user, "networks", "network", json!({"name": "net2"}))
            .await;
        assert_eq!(n2["provider:segmentation_id"], 2);

        // Only admin sets provider attributes, router:external, shared.
        for attrs in [
            json!({"name": "x", "provider:network_type": "gre"}),
            json!({"name": "x", "router:external": true}),
            json!({"name": "x", "shared": true}),
        ] {
            let (s, v) = api
                .post(&user, "/v2.0/networks", json!({"network": attrs}))
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
            assert_eq!(err_type(&v), "PolicyNotAuthorized");
        }
        // Admin picks: GRE (MTU 1458), explicit ids, in-use ids 409.
        let g = api
            .create(&admin, "networks", "network", json!({"name": "g", "provider:network_type": "gre", "provider:segmentation_id": 77}))
            .await;
        assert_eq!(g["mtu"], 1458);
        assert_eq!(g["provider:segmentation_id"], 77);
        let (s, v) = api
            .post(&admin, "/v2.0/networks", json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 2}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "TunnelIdInUse");
        let (s, v) = api
            .post(
                &admin,
                "/v2.0/networks",
                json!({"network": {"provider:network_type": "token-ring"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err_type(&v), "InvalidInput");
        let f = api
            .create(
                &admin,
                "networks",
                "network",
                json!({"provider:network_type": "flat", "provider:physical_network": "physnet1"}),
            )
            .await;
        assert_eq!(f["mtu"], 1500);
        assert_eq!(f["provider:segmentation_id"], serde_json::Value::Null);
        let (s, v) = api
            .post(&admin, "/v2.0/networks", json!({"network": {"provider:network_type": "flat", "provider:physical_network": "physnet1"}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "FlatNetworkInUse");
        // VLAN needs a configured physical network.
        let (s, _) = api
            .post(&admin, "/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // Also without a segmentation id: a bad request, not an exhausted pool.
        let (s, v) = api
            .post(&admin, "/v2.0/networks", json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "nowhere"}}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v.to_string().contains("unknown for VLAN provider network"),
            "{v}"
        );

        // Deleting a network frees its VNI.
        let (s, _) = api
            .delete(&user, &format!("/v2.0/networks/{}", id(&n1)))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let n3 = api
            .create(&user, "networks", "network", json!({"name": "net3"}))
            .await;
        assert_eq!(n3["provider:segmentation_id"], 1);

        // Update, revision_number, If-Match.
        let path = format!("/v2.0/networks/{}", id(&n2));
        let (s, v) = api
            .put(&user, &path, json!({"network": {"name": "renamed"}}))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["network"]["name"], "renamed");
        assert_eq!(v["network"]["revision_number"], 2);
        let (s, v, _) = api
            .call(
                Method::PUT,
                &path,
                Some(&user),
                Some(json!({"network": {"name": "x"}})),
                &[("if-match", "revision_number=1")],
            )
            .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        assert_eq!(err_type(&v), "RevisionNumberConstraintFailed");
        let (s, _, _) = api
            .call(
                Method::PUT,
                &path,
                Some(&user),
                Some(json!({"network": {"name": "y"}})),
                &[("if-match", "revision_number=2")],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = api
            .put(
                &user,
                &path,
                json!({"network": {"provider:segmentation_id": 9}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

        // Not found, bad bodies.
        let (s, v) = api.get(&user, "/v2.0/networks/nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(err_type(&v), "NetworkNotFound");
        assert!(
            v["NeutronError"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nope"))
        );
        assert!(v["NeutronError"].get("detail").is_some());
        let (s, v, _) = api
            .call(Method::POST, "/v2.0/networks", Some(&user), None, &[])
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/networks",
                json!({"network": {"admin_state_up": "maybe"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err_type(&v), "InvalidInput");
        let (s, _) = api.get(&user, "/v2.0/nothing").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn subnets() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, ext_sub) = external_net(&api, &admin).await;
        let n = api
            .create(&user, "networks", "network", json!({"name": "net"}))
            .await;
        let nid = id(&n);
        let s4 = api
            .create(&user, "subnets", "subnet", json!({"network_id": nid, "cidr": "10.0.0.0/24", "ip_version": 4,
                "dns_nameservers": ["8.8.8.8"], "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.5"}]}))
            .await;
        assert_eq!(s4["gateway_ip"], "10.0.0.1");
        assert_eq!(
            s4["allocation_pools"],
            json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
        );
        assert_eq!(s4["enable_dhcp"], true);
        assert_eq!(s4["dns_nameservers"], json!(["8.8.8.8"]));
        assert_eq!(s4["host_routes"][0]["nexthop"], "10.0.0.5");
        let s6 = api
            .create(
                &user,
                "subnets",
                "subnet",
                json!({"network_id": nid, "cidr": "2001:db8::/64", "ip_version": 6}),
            )
            .await;
        assert_eq!(s6["gateway_ip"], "2001:db8::1");
        assert_eq!(s6["ip_version"], 6);
        let (_, v) = api.get(&user, &format!("/v2.0/networks/{nid}")).await;
        assert_eq!(v["network"]["subnets"].as_array().map(Vec::len), Some(2));

        // Errors: overlap, bad CIDR, version mismatch, gateway in pool, unknown network.
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": nid, "cidr": "10.0.0.128/25"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err_type(&v), "OverlappingSubnet");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": nid, "cidr": "10.9.0.1/24"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err_type(&v), "InvalidInput");
        let (s, _) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": nid, "cidr": "10.9.0.0/24", "ip_version": 6}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, v) = api
            .post(&user, "/v2.0/subnets", json!({"subnet": {"network_id": nid, "cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.10",
                "allocation_pools": [{"start": "10.9.0.2", "end": "10.9.0.20"}]}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "GatewayConflictWithAllocationPools");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": "nope", "cidr": "10.9.0.0/24"}}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(err_type(&v), "NetworkNotFound");

        // The seeds' external subnet: explicit pool and gateway, no DHCP.
        let (_, v) = api.get(&admin, &format!("/v2.0/subnets/{ext_sub}")).await;
        assert_eq!(v["subnet"]["gateway_ip"], "10.1.101.254");
        assert_eq!(v["subnet"]["enable_dhcp"], false);
        assert_eq!(
            v["subnet"]["allocation_pools"],
            json!([{"start": "10.1.101.240", "end": "10.1.101.252"}])
        );

        // Update, read-only attributes.
        let path = format!("/v2.0/subnets/{}", id(&s4));
        let (s, v) = api
            .put(
                &user,
                &path,
                json!({"subnet": {"name": "sub", "dns_nameservers": [], "enable_dhcp": false}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["subnet"]["name"], "sub");
        assert_eq!(v["subnet"]["revision_number"], 2);
        let (s, _) = api
            .put(&user, &path, json!({"subnet": {"cidr": "10.0.0.0/16"}}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // In use by a port: 409; then delete in order.
        let p = api
            .create(&user, "ports", "port", json!({"network_id": nid}))
            .await;
        let (s, v) = api.delete(&user, &path).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "SubnetInUse");
        let (s, v) = api.delete(&user, &format!("/v2.0/networks/{nid}")).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "NetworkInUse");
        let (s, _) = api.delete(&user, &format!("/v2.0/ports/{}", id(&p))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api.delete(&user, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.get(&user, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(err_type(&v), "SubnetNotFound");
        let (s, _) = api.delete(&user, &format!("/v2.0/networks/{nid}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api.get(&user, &format!("/v2.0/subnets/{}", id(&s6))).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}
