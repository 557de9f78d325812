//! RBAC policies (issue 19, `rbac-policies`, `rbac-subnetpool`,
//! `rbac-address-scope`): a network shared with one project (seen and used by it
//! alone, `shared` as each caller sees it, the policy kept while the target has
//! ports there), a network external to one project, the wildcard policies behind
//! `shared` and `router:external`, a subnet pool shared with one project, and the
//! refusals (wildcards by non-admins, others' objects, duplicates, quota).

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const RBAC: &str = "/v2.0/rbac-policies";

async fn project_of(api: &Api, t: &str) -> String {
    let n = api
        .create(t, "networks", "network", json!({"name": "probe"}))
        .await;
    n["project_id"].as_str().unwrap_or_default().to_string()
}

async fn share(
    api: &Api,
    t: &str,
    kind: &str,
    object: &str,
    action: &str,
    target: &str,
) -> (StatusCode, Value) {
    api.post(
        t,
        RBAC,
        json!({"rbac_policy": {"object_type": kind, "object_id": object,
        "action": action, "target_tenant": target}}),
    )
    .await
}

#[tokio::test]
async fn sharing_with_one_project() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let a = api.tenant(&admin, "TenantA", "member").await;
        let bt = api.tenant(&admin, "TenantB", "member").await;
        let c = api.tenant(&admin, "TenantC", "member").await;
        for e in ["rbac-policies", "rbac-subnetpool", "rbac-address-scope"] {
            assert!(
                extension_aliases(&api, &a).await.contains(&e.to_string()),
                "{e}"
            );
        }
        let pb = project_of(&api, &bt).await;
        let pc = project_of(&api, &c).await;
        assert!(!pb.is_empty(), "project id of B");
        let (net, _) = tenant_net(&api, &a, "net", "10.0.0.0/24").await;
        let netp = format!("/v2.0/networks/{net}");
        assert_eq!(api.get(&bt, &netp).await.0, StatusCode::NOT_FOUND);

        // Refusals first.
        for (t, kind, obj, action, target, want) in [
            (
                &a,
                "network",
                net.as_str(),
                "access_as_shared",
                "*",
                StatusCode::FORBIDDEN,
            ),
            (
                &bt,
                "network",
                net.as_str(),
                "access_as_shared",
                pc.as_str(),
                StatusCode::BAD_REQUEST,
            ),
            (
                &a,
                "router",
                net.as_str(),
                "access_as_shared",
                pb.as_str(),
                StatusCode::BAD_REQUEST,
            ),
            (
                &a,
                "network",
                net.as_str(),
                "access_as_owner",
                pb.as_str(),
                StatusCode::BAD_REQUEST,
            ),
            (
                &a,
                "network",
                net.as_str(),
                "access_as_shared",
                "1234",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (s, e) = share(&api, t, kind, obj, action, target).await;
            assert_eq!(s, want, "{kind} {action} {target}: {e}");
        }

        // Shared with B: B sees it as shared and uses it; C does not see it; the
        // owner and the admin see shared=false (not shared with them).
        let (s, p) = share(&api, &a, "network", &net, "access_as_shared", &pb).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pol = id(&p["rbac_policy"]);
        let keys: Vec<&String> = p["rbac_policy"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 7, "{keys:?}");
        assert_eq!(
            share(&api, &a, "network", &net, "access_as_shared", &pb)
                .await
                .0,
            StatusCode::CONFLICT
        );
        let (s, v) = api.get(&bt, &netp).await;
        assert_eq!((s, &v["network"]["shared"]), (StatusCode::OK, &json!(true)));
        assert_eq!(
            api.get(&a, &netp).await.1["network"]["shared"],
            json!(false)
        );
        assert_eq!(
            api.get(&admin, &netp).await.1["network"]["shared"],
            json!(false)
        );
        assert_eq!(api.get(&c, &netp).await.0, StatusCode::NOT_FOUND);
        // The target does not see the policy; its project does.
        assert_eq!(api.get(&bt, RBAC).await.1["rbac_policies"], json!([]));
        assert_eq!(
            api.get(&bt, &format!("{RBAC}/{pol}")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.get(&a, RBAC).await.1["rbac_policies"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let port = api
            .create(&bt, "ports", "port", json!({"network_id": net}))
            .await;
        assert_eq!(port["project_id"], json!(pb));

        // B's port keeps the policy: neither deleted nor moved to C.
        let (s, e) = api.delete(&a, &format!("{RBAC}/{pol}")).await;
        assert_eq!((s, err_type(&e)), (StatusCode::CONFLICT, "RbacPolicyInUse"));
        let (s, _) = api
            .put(
                &a,
                &format!("{RBAC}/{pol}"),
                json!({"rbac_policy": {"target_tenant": pc}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(
            api.delete(&bt, &format!("/v2.0/ports/{}", id(&port)))
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        let (s, v) = api
            .put(
                &a,
                &format!("{RBAC}/{pol}"),
                json!({"rbac_policy": {"target_tenant": pc}}),
            )
            .await;
        assert_eq!(
            (s, &v["rbac_policy"]["target_tenant"]),
            (StatusCode::OK, &json!(pc))
        );
        assert_eq!(api.get(&bt, &netp).await.0, StatusCode::NOT_FOUND);
        assert_eq!(api.get(&c, &netp).await.0, StatusCode::OK);
        assert_eq!(
            api.delete(&a, &format!("{RBAC}/{pol}")).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(api.get(&c, &netp).await.0, StatusCode::NOT_FOUND);

        // shared=true is a wildcard policy of the admin's making; shared=false
        // takes it away, not while another project has a port there.
        let (s, _) = api
            .put(&admin, &netp, json!({"network": {"shared": true}}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, l) = api.get(&admin, &format!("{RBAC}?object_id={net}")).await;
        assert_eq!(l["rbac_policies"][0]["target_tenant"], "*", "{l}");
        assert_eq!(api.get(&c, &netp).await.1["network"]["shared"], json!(true));
        let cport = api
            .create(&c, "ports", "port", json!({"network_id": net}))
            .await;
        let (s, _) = api
            .put(&admin, &netp, json!({"network": {"shared": false}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        api.delete(&c, &format!("/v2.0/ports/{}", id(&cport))).await;
        let (s, v) = api
            .put(&admin, &netp, json!({"network": {"shared": false}}))
            .await;
        assert_eq!(
            (s, &v["network"]["shared"]),
            (StatusCode::OK, &json!(false))
        );
        assert_eq!(api.get(&c, &netp).await.0, StatusCode::NOT_FOUND);

        // External to B only: B sees it and sets a router gateway on it; C cannot.
        let ext = api
            .create(&admin, "networks", "network", json!({"name": "ext-b"}))
            .await;
        let ext = id(&ext);
        api.create(
            &admin,
            "subnets",
            "subnet",
            json!({"network_id": ext, "cidr": "172.24.4.0/24", "enable_dhcp": false}),
        )
        .await;
        let (s, e) = share(&api, &admin, "network", &ext, "access_as_external", &pb).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        let (s, v) = api.get(&bt, &format!("/v2.0/networks/{ext}")).await;
        assert_eq!(
            (s, &v["network"]["router:external"]),
            (StatusCode::OK, &json!(true))
        );
        assert_eq!(
            api.get(&c, &format!("/v2.0/networks/{ext}")).await.0,
            StatusCode::NOT_FOUND
        );
        for (t, want) in [(&bt, StatusCode::CREATED), (&c, StatusCode::NOT_FOUND)] {
            let (s, e) = api
                .post(
                    t,
                    "/v2.0/floatingips",
                    json!({"floatingip": {"floating_network_id": ext}}),
                )
                .await;
            assert_eq!(s, want, "{e}");
        }

        // Shared with C (not external to C): C sees it, but its stored
        // router:external (B's grant) gives C neither a floating IP nor a gateway.
        let (s, e) = share(&api, &admin, "network", &ext, "access_as_shared", &pc).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        assert_eq!(
            api.get(&c, &format!("/v2.0/networks/{ext}")).await.0,
            StatusCode::OK
        );
        let (s, e) = api
            .post(
                &c,
                "/v2.0/floatingips",
                json!({"floatingip": {"floating_network_id": ext}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        let (_, r) = api
            .post(&c, "/v2.0/routers", json!({"router": {"name": "rc"}}))
            .await;
        let (s, e) = api
            .put(
                &c,
                &format!("/v2.0/routers/{}", id(&r["router"])),
                json!({"router": {"external_gateway_info": {"network_id": ext}}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

        // The host view tells agents whether a network is external to all (the
        // admin's): only then may a gateway on it go on the external bridge.
        let admin_ext = id(&api
            .create(
                &admin,
                "networks",
                "network",
                json!({"name": "ext-all", "router:external": true}),
            )
            .await);
        for n in [&ext, &admin_ext] {
            api.create(
                &admin,
                "ports",
                "port",
                json!({"network_id": n, "binding:host_id": "n1",
                "device_owner": "compute:nova", "device_id": "x"}),
            )
            .await;
        }
        let (_, view) = api.get(&admin, "/agent-api/v1/hosts/n1/view?since=0").await;
        let to_all = |id: &str| {
            view["networks"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["id"] == json!(id)))
                .map(|n| n["external_to_all"].clone())
        };
        assert_eq!(to_all(&ext), Some(json!(false)), "{view}");
        assert_eq!(to_all(&admin_ext), Some(json!(true)), "{view}");

        // A subnet pool shared with B: B carves a subnet from it, which keeps the
        // policy.
        let (_, pool) = api
            .post(&a, "/v2.0/subnetpools", json!({"subnetpool": {"name": "p", "prefixes": ["10.50.0.0/16"], "default_prefixlen": 24}}))
            .await;
        let pool = id(&pool["subnetpool"]);
        assert_eq!(
            api.get(&bt, &format!("/v2.0/subnetpools/{pool}")).await.0,
            StatusCode::NOT_FOUND
        );
        let (s, p) = share(&api, &a, "subnetpool", &pool, "access_as_shared", &pb).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let (bnet, _) = tenant_net(&api, &bt, "bnet", "192.168.9.0/24").await;
        let (s, v) = api
            .post(
                &bt,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": bnet, "subnetpool_id": pool, "ip_version": 4}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, _) = api
            .delete(&a, &format!("{RBAC}/{}", id(&p["rbac_policy"])))
            .await;
        assert_eq!(s, StatusCode::CONFLICT);

        // Deleting a network takes its policies; at most 10 policies a project.
        let (other, _) = tenant_net(&api, &a, "other", "10.9.0.0/24").await;
        share(&api, &a, "network", &other, "access_as_shared", &pc).await;
        assert_eq!(
            api.delete(&a, &format!("/v2.0/networks/{other}")).await.0,
            StatusCode::NO_CONTENT
        );
        let (_, l) = api.get(&a, &format!("{RBAC}?object_id={other}")).await;
        assert_eq!(l["rbac_policies"], json!([]));
        let mut last = StatusCode::CREATED;
        for i in 0..12 {
            last = share(
                &api,
                &a,
                "network",
                &net,
                "access_as_shared",
                &format!("{i:032x}"),
            )
            .await
            .0;
        }
        assert_eq!(last, StatusCode::CONFLICT, "quota");
    }
}
