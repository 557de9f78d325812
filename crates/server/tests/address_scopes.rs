//! Address scopes (`address-scope`) and subnet pool prefix operations
//! (`subnetpool-prefix-ops`): who creates, sees, shares and deletes a scope; pools
//! joining a scope (IP version, ownership, no overlap inside it); a network
//! showing its subnets' scope; prefixes added and removed, never from under a
//! subnet.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const SCOPES: &str = "/v2.0/address-scopes";
const POOLS: &str = "/v2.0/subnetpools";

async fn scope(api: &Api, t: &str, body: Value) -> (StatusCode, Value) {
    api.post(t, SCOPES, json!({ "address_scope": body })).await
}

#[tokio::test]
async fn scopes_pools_and_prefix_operations() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let aliases = extension_aliases(&api, &user).await;
        for a in ["address-scope", "subnetpool-prefix-ops"] {
            assert!(aliases.contains(&a.to_string()), "{a}");
        }

        // Create, show, list, rename; refusals.
        let (s, v) = scope(&api, &user, json!({"name": "s4", "ip_version": 4})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let s4 = id(&v["address_scope"]);
        assert_eq!(v["address_scope"]["shared"], false);
        assert_eq!(v["address_scope"]["ip_version"], 4);
        for (bad, want) in [
            (json!({"name": "x"}), StatusCode::BAD_REQUEST),
            (
                json!({"name": "x", "ip_version": 5}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"name": "x", "ip_version": 4, "shared": true}),
                StatusCode::FORBIDDEN,
            ),
        ] {
            assert_eq!(scope(&api, &user, bad.clone()).await.0, want, "{bad}");
        }
        let path = format!("{SCOPES}/{s4}");
        let (s, v) = api
            .put(&user, &path, json!({"address_scope": {"name": "renamed"}}))
            .await;
        assert_eq!(
            (s, &v["address_scope"]["name"]),
            (StatusCode::OK, &json!("renamed"))
        );
        for shared in [true, false] {
            let (s, _) = api
                .put(&user, &path, json!({"address_scope": {"shared": shared}}))
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN);
        }
        // Another project sees nothing of it, until the admin shares it; a shared
        // scope is never unshared.
        assert_eq!(api.get(&other, &path).await.0, StatusCode::NOT_FOUND);
        let (_, l) = api.get(&other, SCOPES).await;
        assert_eq!(l["address_scopes"], json!([]));
        let (s, v) = scope(
            &api,
            &admin,
            json!({"name": "shared6", "ip_version": 6, "shared": true}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let s6 = id(&v["address_scope"]);
        assert_eq!(
            api.get(&other, &format!("{SCOPES}/{s6}")).await.0,
            StatusCode::OK
        );
        let (s, _) = api
            .put(
                &admin,
                &format!("{SCOPES}/{s6}"),
                json!({"address_scope": {"shared": false}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // Pools join a scope of their version that the caller owns or that is shared.
        let pool = |t: &str, prefixes: Value, scope: &str| {
            let (t, scope, prefixes) = (t.to_string(), scope.to_string(), prefixes.clone());
            let api = &api;
            let len = if prefixes.to_string().contains('.') {
                24
            } else {
                64
            };
            async move {
                api.post(
                    &t,
                    POOLS,
                    json!({"subnetpool": {"name": "p", "prefixes": prefixes,
                    "default_prefixlen": len, "address_scope_id": scope}}),
                )
                .await
            }
        };
        let (s, p1) = pool(&user, json!(["10.10.0.0/16"]), &s4).await;
        assert_eq!(s, StatusCode::CREATED, "{p1}");
        let p1 = id(&p1["subnetpool"]);
        assert_eq!(
            pool(&user, json!(["10.10.5.0/24"]), &s4).await.0,
            StatusCode::CONFLICT,
            "overlap"
        );
        assert_eq!(
            pool(&user, json!(["2001:db8::/48"]), &s4).await.0,
            StatusCode::BAD_REQUEST,
            "version"
        );
        assert_eq!(
            pool(&other, json!(["10.30.0.0/16"]), &s4).await.0,
            StatusCode::NOT_FOUND,
            "another's"
        );
        assert_eq!(
            pool(&user, json!(["10.10.0.0/16"]), "no-such").await.0,
            StatusCode::BAD_REQUEST
        );
        let missing = "7d0c0b8e-4f5a-4a8e-9a51-0d2f3c1b2a99";
        assert_eq!(
            pool(&user, json!(["10.10.0.0/16"]), missing).await.0,
            StatusCode::NOT_FOUND
        );
        // A scope shared with all (rbac-address-scope) takes their pools.
        let (s, v) = pool(&other, json!(["2001:db8:1::/48"]), &s6).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // A pool in the scope keeps the scope from being deleted.
        let (s, e) = api.delete(&user, &path).await;
        assert_eq!(
            (s, err_type(&e)),
            (StatusCode::CONFLICT, "AddressScopeInUse")
        );

        // A network carved from the pool shows its scope.
        let (net, _) = tenant_net(&api, &user, "n", "192.168.0.0/24").await;
        let (s, v) = api
            .post(
                &user,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": net, "subnetpool_id": p1, "ip_version": 4}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let used = v["subnet"]["cidr"].as_str().unwrap_or_default().to_string();
        let (_, n) = api.get(&user, &format!("/v2.0/networks/{net}")).await;
        assert_eq!(n["network"]["ipv4_address_scope"], json!(s4));
        assert_eq!(n["network"]["ipv6_address_scope"], Value::Null);
        // The host view tells the agents each subnet's scope (routers leave
        // same-scope subnets un-NATed).
        let project = n["network"]["project_id"].clone();
        api.create(
            &admin,
            "ports",
            "port",
            json!({"network_id": net, "binding:host_id": "compute-01",
            "device_owner": "compute:nova", "device_id": "vm", "project_id": project}),
        )
        .await;
        let (_, view) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        let scopes: Vec<Value> = view["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["id"] == json!(net))
            .flat_map(|x| x["subnets"].as_array().cloned().unwrap_or_default())
            .map(|sn| sn["address_scope_id"].clone())
            .collect();
        assert!(scopes.contains(&json!(s4)), "{scopes:?}");

        // Prefix operations.
        let pp = format!("{POOLS}/{p1}");
        let (s, v) = api
            .put(
                &user,
                &format!("{pp}/add_prefixes"),
                json!({"prefixes": ["10.11.0.0/16", "10.10.3.0/24"]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["prefixes"], json!(["10.10.0.0/15"]));
        let (s, v) = api
            .put(
                &user,
                &format!("{pp}/remove_prefixes"),
                json!({"prefixes": ["10.11.0.0/16"]}),
            )
            .await;
        assert_eq!(
            (s, &v["prefixes"]),
            (StatusCode::OK, &json!(["10.10.0.0/16"]))
        );
        for (bad, why) in [
            (json!({"prefixes": [used]}), "in use"),
            (json!({"prefixes": ["10.0.0.0/8"]}), "nothing left"),
            (json!({"prefixes": ["2001:db8::/32"]}), "version"),
            (json!({"prefixes": "10.0.0.0/8"}), "not a list"),
        ] {
            let (s, e) = api.put(&user, &format!("{pp}/remove_prefixes"), bad).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {e}");
        }
        // Another project cannot touch the pool's prefixes.
        let (s, _) = api
            .put(
                &other,
                &format!("{pp}/add_prefixes"),
                json!({"prefixes": ["10.12.0.0/16"]}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Leaving the scope through update, then the scope goes.
        let (s, v) = api
            .put(
                &user,
                &pp,
                json!({"subnetpool": {"address_scope_id": null}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(api.delete(&user, &path).await.0, StatusCode::NO_CONTENT);
        assert_eq!(api.get(&user, &path).await.0, StatusCode::NOT_FOUND);
    }
}
