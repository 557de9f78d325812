//! Bulk create (tempest's BulkNetworkOps and test_create_bulk_port): several
//! networks, subnets or ports in one request, all or none.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (s, v) = api
            .post(
                &user,
                "/v2.0/networks",
                json!({"networks": [{"name": "n1"}, {"name": "n2"}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let nets = v["networks"].as_array().cloned().unwrap_or_default();
        assert_eq!(nets.len(), 2);
        assert_eq!(nets[1]["name"], "n2");
        let (n1, n2) = (id(&nets[0]), id(&nets[1]));
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnets": [
                    {"network_id": n1, "cidr": "10.0.1.0/24", "ip_version": 4},
                    {"network_id": n2, "cidr": "10.0.2.0/24", "ip_version": 4}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["subnets"].as_array().map(Vec::len), Some(2));
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"ports": [{"network_id": n1}, {"network_id": n2, "admin_state_up": false}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["ports"][1]["admin_state_up"], false);
        // One bad item: none is made.
        let (_, before) = api.get(&user, "/v2.0/ports").await;
        let (s, e) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"ports": [{"network_id": n1}, {"network_id": "no-such-network"}]}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
        let (_, after) = api.get(&user, "/v2.0/ports").await;
        assert_eq!(
            before["ports"].as_array().map(Vec::len),
            after["ports"].as_array().map(Vec::len)
        );
        for bad in [json!({"networks": []}), json!({"networks": {"name": "x"}})] {
            let (s, e) = api.post(&user, "/v2.0/networks", bad).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        }
        // The single form as before.
        let (s, _) = api
            .post(&user, "/v2.0/networks", json!({"network": {"name": "n3"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
}

/// `subnet-external-network`: an external network's subnets are visible to every
/// project and say `router:external`; a tenant's own subnet says false.
#[tokio::test]
async fn external_subnets_say_so() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    let (ext, ext_sub) = external_net(&api, &admin).await;
    let (_, own_sub) = tenant_net(&api, &user, "n", "10.0.0.0/24").await;
    let (s, v) = api
        .get(&user, &format!("/v2.0/subnets?network_id={ext}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["subnets"][0]["id"], ext_sub.as_str(), "{v}");
    assert_eq!(v["subnets"][0]["router:external"], true);
    let (_, v) = api.get(&user, &format!("/v2.0/subnets/{own_sub}")).await;
    assert_eq!(v["subnet"]["router:external"], false);
    let (_, ext_list) = api.get(&user, "/v2.0/extensions").await;
    assert!(ext_list.to_string().contains("subnet-external-network"));
}

/// SLAAC and DHCPv6-stateless (tempest's test_dhcp_ipv6): a port's address is its
/// MAC's EUI-64 one, on every such subnet of the network; mismatched modes are
/// refused; deleting such a subnet takes the addresses from the ports.
#[tokio::test]
async fn slaac_ports_get_eui64_addresses() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    let net = api
        .create(&user, "networks", "network", json!({"name": "v6"}))
        .await;
    let nid = id(&net);
    for (ra, addr) in [
        ("slaac", "dhcpv6-stateful"),
        ("dhcpv6-stateful", "slaac"),
        ("dhcpv6-stateless", "slaac"),
        ("bogus", "bogus"),
    ] {
        let (s, e) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": nid, "cidr": "2001:db8::/64", "ip_version": 6,
                    "ipv6_ra_mode": ra, "ipv6_address_mode": addr}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{ra}/{addr}: {e}");
    }
    let (s, e) = api
        .post(
            &user,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": nid, "cidr": "2001:db8::/80", "ip_version": 6,
                "ipv6_address_mode": "slaac"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "SLAAC needs a /64: {e}");
    let v4 = api
        .create(
            &user,
            "subnets",
            "subnet",
            json!({"network_id": nid, "cidr": "10.9.0.0/24"}),
        )
        .await;
    let mut v6 = Vec::new();
    for (cidr, mode) in [
        ("2001:db8::/64", "slaac"),
        ("2001:db8:0:1::/64", "dhcpv6-stateless"),
    ] {
        v6.push(
            api.create(
                &user,
                "subnets",
                "subnet",
                json!({"network_id": nid, "cidr": cidr, "ip_version": 6,
                    "ipv6_ra_mode": mode, "ipv6_address_mode": mode}),
            )
            .await,
        );
    }
    api.create(
        &user,
        "subnets",
        "subnet",
        json!({"network_id": nid, "cidr": "2001:db8:0:2::/64", "ip_version": 6,
            "ipv6_address_mode": "dhcpv6-stateful"}),
    )
    .await;
    let p = api
        .create(
            &user,
            "ports",
            "port",
            json!({"network_id": nid, "mac_address": "fa:16:3e:35:93:07"}),
        )
        .await;
    // (and a DHCPv6-stateful subnet beside them gives one address from its pool)
    let ips: Vec<String> = p["fixed_ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["ip_address"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        ips.contains(&"2001:db8::f816:3eff:fe35:9307".to_string()),
        "{ips:?}"
    );
    assert!(
        ips.contains(&"2001:db8:0:1:f816:3eff:fe35:9307".to_string()),
        "{ips:?}"
    );
    assert!(ips.iter().any(|i| i.starts_with("10.9.0.")), "{ips:?}");
    assert!(
        ips.iter().any(|i| i.starts_with("2001:db8:0:2::")),
        "{ips:?}"
    );
    // Deleting the SLAAC subnet takes the port's address on it.
    let (s, e) = api
        .delete(&user, &format!("/v2.0/subnets/{}", id(&v6[0])))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{e}");
    let (_, p2) = api.get(&user, &format!("/v2.0/ports/{}", id(&p))).await;
    assert_eq!(
        p2["port"]["fixed_ips"].as_array().map(Vec::len),
        Some(3),
        "{p2}"
    );
    // The IPv4 subnet still refuses while the port uses it.
    let (s, _) = api
        .delete(&user, &format!("/v2.0/subnets/{}", id(&v4)))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}
