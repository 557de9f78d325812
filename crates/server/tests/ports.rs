//! Ports: IPAM, MACs, binding, security groups, address pairs, errors, and
//! concurrent allocation.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

#[tokio::test]
async fn ports() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let n = api
            .create(&user, "networks", "network", json!({"name": "net"}))
            .await;
        let nid = id(&n);
        // No DHCP: the pool arithmetic below is the ports' own (a DHCP port
        // would take .2 first; see tests/dhcp_port.rs).
        let sub = api
            .create(
                &user,
                "subnets",
                "subnet",
                json!({"network_id": nid, "cidr": "10.0.0.0/29", "enable_dhcp": false}),
            )
            .await;
        let sid = id(&sub);

        let p1 = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": nid, "name": "p1"}),
            )
            .await;
        assert!(
            p1["mac_address"]
                .as_str()
                .is_some_and(|m| m.starts_with("fa:16:3e:"))
        );
        assert_eq!(
            p1["fixed_ips"],
            json!([{"subnet_id": sid, "ip_address": "10.0.0.2"}])
        );
        assert_eq!(p1["status"], "DOWN");
        assert_eq!(p1["binding:vif_type"], "unbound");
        assert_eq!(p1["security_groups"].as_array().map(Vec::len), Some(1));
        assert_eq!(p1["allowed_address_pairs"], json!([]));

        // Explicit address and MAC; the same again is 409.
        let p2 = api
            .create(&user, "ports", "port", json!({"network_id": nid, "mac_address": "FA:16:3E:00:00:01",
                "fixed_ips": [{"ip_address": "10.0.0.5"}], "device_owner": "compute:nova", "device_id": "vm1",
                "allowed_address_pairs": [{"ip_address": "10.0.0.100/32"}]}))
            .await;
        assert_eq!(p2["mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(p2["fixed_ips"][0]["ip_address"], "10.0.0.5");
        assert_eq!(
            p2["allowed_address_pairs"][0]["mac_address"],
            "fa:16:3e:00:00:01"
        );
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.0.0.5"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "IpAddressInUse");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "mac_address": "fa:16:3e:00:00:01"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "MacAddressInUse");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.9.9.9"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(err_type(&v), "InvalidInput");
        let (s, _) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "mac_address": "nonsense"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // /29 with gateway .1: pool .2-.6; .2 and .5 taken -> .3 .4 .6, then exhausted.
        let mut got = Vec::new();
        for _ in 0..3 {
            let p = api
                .create(&user, "ports", "port", json!({"network_id": nid}))
                .await;
            got.push(
                p["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        assert_eq!(got, ["10.0.0.3", "10.0.0.4", "10.0.0.6"]);
        let (s, v) = api
            .post(&user, "/v2.0/ports", json!({"port": {"network_id": nid}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(err_type(&v), "IpAddressGenerationFailure");

        // Binding is admin-only; admin binds, vif_type follows.
        let path = format!("/v2.0/ports/{}", id(&p1));
        let (s, v) = api
            .put(
                &user,
                &path,
                json!({"port": {"binding:host_id": "compute1"}}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(err_type(&v), "PolicyNotAuthorized");
        let (s, v) = api
            .put(
                &admin,
                &path,
                json!({"port": {"binding:host_id": "compute1"}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["port"]["binding:host_id"], "compute1");
        assert_eq!(v["port"]["binding:vif_type"], "ovs");
        assert_eq!(v["port"]["revision_number"], 2);
        let (s, _) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "binding:host_id": "c1"}}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Change fixed IPs: the old one is released.
        let (s, v) = api.put(&user, &path, json!({"port": {"fixed_ips": [{"subnet_id": sid, "ip_address": "10.0.0.2"}], "name": "renamed"}})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let p2path = format!("/v2.0/ports/{}", id(&p2));
        let (s, _) = api
            .put(&user, &p2path, json!({"port": {"fixed_ips": []}}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let p = api
            .create(&user, "ports", "port", json!({"network_id": nid}))
            .await;
        assert_eq!(p["fixed_ips"][0]["ip_address"], "10.0.0.5");

        // Port security off: no groups allowed.
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "port_security_enabled": false,
            "security_groups": [p1["security_groups"][0].clone()]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "security_groups": ["nope"]}}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(err_type(&v), "SecurityGroupNotFound");

        // Delete; a deleted port is 404.
        let (s, _) = api.delete(&user, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.get(&user, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(err_type(&v), "PortNotFound");
    }
}

#[tokio::test]
async fn concurrent_port_creates_get_distinct_addresses() {
    for b in backends() {
        let api = Arc::new(Api::new(&b).await);
        let admin = api.admin().await;
        let user = Arc::new(api.tenant(&admin, "TenantA", "member").await);
        let n = api
            .create(&user, "networks", "network", json!({"name": "net"}))
            .await;
        let nid = id(&n);
        api.create(
            &user,
            "subnets",
            "subnet",
            json!({"network_id": nid, "cidr": "10.0.0.0/24"}),
        )
        .await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (api, user, nid) = (api.clone(), user.clone(), nid.clone());
            tasks.push(tokio::spawn(async move {
                api.post(
                    &user,
                    "/v2.0/ports",
                    json!({"port": {"network_id": nid, "name": format!("p{i}")}}),
                )
                .await
            }));
        }
        let mut ips = HashSet::new();
        let mut macs = HashSet::new();
        for t in tasks {
            let (s, v) = t.await.expect("task");
            assert_eq!(s, StatusCode::CREATED, "{v}");
            ips.insert(
                v["port"]["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            macs.insert(
                v["port"]["mac_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        assert_eq!(ips.len(), 50, "{ips:?}");
        assert_eq!(macs.len(), 50);
        let (_, v) = api.get(&user, "/v2.0/ports").await;
        let listed: HashSet<String> = v["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    // The network's DHCP port is listed too.
                    .filter(|p| p["device_owner"] != "network:dhcp")
                    .filter_map(|p| p["fixed_ips"][0]["ip_address"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(listed, ips);
        let _ = Value::Null;
    }
}

/// Two servers (two pools, two in-process writer locks) on one database: the
/// database itself keeps them from handing out an address twice.
#[tokio::test]
async fn two_servers_on_one_store_do_not_double_allocate() {
    for b in backends() {
        let a = Api::new(&b).await;
        let admin = a.admin().await;
        let user = a.tenant(&admin, "TenantA", "member").await;
        let n = a
            .create(&user, "networks", "network", json!({"name": "net"}))
            .await;
        let nid = id(&n);
        a.create(
            &user,
            "subnets",
            "subnet",
            json!({"network_id": nid, "cidr": "10.0.0.0/24"}),
        )
        .await;
        let (state2, _) = server::AppState::open(a.config.clone())
            .await
            .expect("second server");
        let router2 = server::router(state2.clone());
        let a = Arc::new(a);
        let user = Arc::new(user);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (a, user, nid, router2) = (a.clone(), user.clone(), nid.clone(), router2.clone());
            tasks.push(tokio::spawn(async move {
                let body = json!({"port": {"network_id": nid}});
                if i % 2 == 0 {
                    a.post(&user, "/v2.0/ports", body).await
                } else {
                    use http_body_util::BodyExt;
                    use tower::ServiceExt;
                    let req = axum::http::Request::post("/v2.0/ports")
                        .header("x-auth-token", user.as_str())
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body.to_string()))
                        .expect("request");
                    let resp = router2.oneshot(req).await.expect("response");
                    let s = resp.status();
                    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                    (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
                }
            }));
        }
        let mut ips = HashSet::new();
        for t in tasks {
            let (s, v) = t.await.expect("task");
            assert_eq!(s, StatusCode::CREATED, "{v}");
            ips.insert(
                v["port"]["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        assert_eq!(ips.len(), 20);
        state2.store.close().await;
    }
}
