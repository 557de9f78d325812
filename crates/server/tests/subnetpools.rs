//! Subnet pools (issue 19, `subnet_allocation` and `default-subnetpools`):
//! create/show/update/delete, prefixes that only grow, subnets carved from a
//! pool by length or by CIDR, the default pool, who sees and uses a pool, and a
//! pool in use kept.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

const POOLS: &str = "/v2.0/subnetpools";

#[tokio::test]
async fn pools_and_allocation() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;

        let (s, p) = api
            .post(&user, POOLS, json!({"subnetpool": {"name": "p1", "prefixes": ["10.10.0.0/16", "10.10.1.7/24"], "default_prefixlen": 24}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pool = id(&p["subnetpool"]);
        assert_eq!(p["subnetpool"]["prefixes"], json!(["10.10.0.0/16"]));
        assert_eq!(p["subnetpool"]["ip_version"], 4);
        // Prefix lengths show as strings, as Neutron's do.
        assert_eq!(p["subnetpool"]["min_prefixlen"], "8");
        assert_eq!(p["subnetpool"]["max_prefixlen"], "32");
        assert_eq!(p["subnetpool"]["default_prefixlen"], "24");
        assert_eq!(p["subnetpool"]["shared"], false);
        for bad in [
            json!({"subnetpool": {"name": "x"}}),
            json!({"subnetpool": {"name": "x", "prefixes": []}}),
            json!({"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8", "2001:db8::/32"]}}),
            json!({"subnetpool": {"name": "x", "prefixes": ["nope"]}}),
            json!({"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "default_prefixlen": 16}}),
            json!({"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}}),
        ] {
            let (s, e) = api.post(&user, POOLS, bad.clone()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        }
        // Only the admin shares a pool or makes it the default.
        let (s, _) = api
            .post(
                &user,
                POOLS,
                json!({"subnetpool": {"name": "x", "prefixes": ["10.20.0.0/16"], "shared": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Subnets from the pool: by length, by CIDR inside it, not outside it.
        let (net, _) = tenant_net(&api, &user, "n1", "192.168.0.0/24").await;
        let carve = |body: serde_json::Value| {
            let mut b = json!({"network_id": net, "subnetpool_id": pool, "ip_version": 4});
            if let (Some(m), Some(extra)) = (b.as_object_mut(), body.as_object()) {
                m.extend(extra.clone());
            }
            json!({"subnet": b})
        };
        let (s, v) = api.post(&user, "/v2.0/subnets", carve(json!({}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["subnet"]["cidr"], "10.10.0.0/24");
        assert_eq!(v["subnet"]["subnetpool_id"], pool.as_str());
        assert_eq!(v["subnet"]["gateway_ip"], "10.10.0.1");
        let (s, v) = api
            .post(&user, "/v2.0/subnets", carve(json!({"prefixlen": 26})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["subnet"]["cidr"], "10.10.1.0/26");
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                carve(json!({"cidr": "10.10.9.0/24"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, e) = api
            .post(
                &user,
                "/v2.0/subnets",
                carve(json!({"cidr": "10.10.9.0/25"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        let (s, e) = api
            .post(
                &user,
                "/v2.0/subnets",
                carve(json!({"cidr": "10.99.0.0/24"})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        let (s, e) = api
            .post(&user, "/v2.0/subnets", carve(json!({"prefixlen": 4})))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        // A small pool runs out.
        let (_, small) = api
            .post(&user, POOLS, json!({"subnetpool": {"name": "small", "prefixes": ["10.30.0.0/25"], "default_prefixlen": 26}}))
            .await;
        let small = id(&small["subnetpool"]);
        let (net2, _) = tenant_net(&api, &user, "n2", "192.168.1.0/24").await;
        for want in [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CONFLICT,
        ] {
            let (s, v) = api
                .post(&user, "/v2.0/subnets", json!({"subnet": {"network_id": net2, "subnetpool_id": small, "ip_version": 4}}))
                .await;
            assert_eq!(s, want, "{v}");
        }

        // Another project neither sees nor uses it.
        let (s, _) = api.get(&other, &format!("{POOLS}/{pool}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (onet, _) = tenant_net(&api, &other, "o1", "192.168.2.0/24").await;
        let (s, _) = api
            .post(
                &other,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": onet, "subnetpool_id": pool, "ip_version": 4}}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Updates: a name, more prefixes; prefixes never shrink.
        let (s, v) = api
            .put(&user, &format!("{POOLS}/{pool}"), json!({"subnetpool": {"name": "p1b", "prefixes": ["10.10.0.0/16", "10.40.0.0/16"]}}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["subnetpool"]["name"], "p1b");
        assert_eq!(
            v["subnetpool"]["prefixes"],
            json!(["10.10.0.0/16", "10.40.0.0/16"])
        );
        let (s, _) = api
            .put(
                &user,
                &format!("{POOLS}/{pool}"),
                json!({"subnetpool": {"prefixes": ["10.40.0.0/16"]}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api
            .put(
                &admin,
                &format!("{POOLS}/{pool}"),
                json!({"subnetpool": {"project_id": "someone"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // In use: kept; free: deleted.
        let (s, e) = api.delete(&user, &format!("{POOLS}/{pool}")).await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(err_type(&e), "SubnetPoolInUse");
        let (_, empty) = api
            .post(
                &user,
                POOLS,
                json!({"subnetpool": {"name": "empty", "prefixes": ["10.50.0.0/16"]}}),
            )
            .await;
        let (s, _) = api
            .delete(&user, &format!("{POOLS}/{}", id(&empty["subnetpool"])))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);

        // The admin's shared default pool serves use_default_subnetpool.
        let (s, v) = api
            .post(&admin, POOLS, json!({"subnetpool": {"name": "default", "prefixes": ["172.16.0.0/12"], "default_prefixlen": 24, "shared": true, "is_default": true}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, v) = api
            .get(&other, &format!("{POOLS}/{}", id(&v["subnetpool"])))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = api
            .post(&other, "/v2.0/subnets", json!({"subnet": {"network_id": onet, "use_default_subnetpool": true, "ip_version": 4}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(v["subnet"]["cidr"], "172.16.0.0/24");
        let (s, _) = api
            .post(&admin, POOLS, json!({"subnetpool": {"name": "second", "prefixes": ["172.32.0.0/16"], "is_default": true}}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}
