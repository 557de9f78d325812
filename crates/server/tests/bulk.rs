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
