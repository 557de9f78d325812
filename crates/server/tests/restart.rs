//! A restarted server (the store closed and opened again) shows everything exactly
//! as before, and keeps allocating where it left off.

mod common;
use common::*;
use serde_json::{Value, json};

async fn snapshot(api: &Api, admin: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/v2.0/networks",
        "/v2.0/subnets",
        "/v2.0/ports",
        "/v2.0/routers",
        "/v2.0/floatingips",
        "/v2.0/security-groups",
        "/v2.0/security-group-rules",
        "/v3/projects",
        "/v3/users",
        "/v3/roles",
        "/v3/role_assignments",
    ] {
        let (_, v) = api.get(admin, path).await;
        out.push(v);
    }
    out
}

#[tokio::test]
async fn restart_keeps_everything() {
    for b in backends() {
        let mut api = Api::new(&b).await;
        let admin = api.admin().await;
        let (ext, _) = external_net(&api, &admin).await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let net = api
            .create(&user, "networks", "network", json!({"name": "TenantA-Net"}))
            .await;
        let sub = api
            .create(
                &user,
                "subnets",
                "subnet",
                json!({"network_id": id(&net), "cidr": "10.0.0.0/24"}),
            )
            .await;
        let r = api
            .create(
                &user,
                "routers",
                "router",
                json!({"name": "TenantA-R1", "external_gateway_info": {"network_id": ext}}),
            )
            .await;
        let (_, _) = api
            .put(
                &user,
                &format!("/v2.0/routers/{}/add_router_interface", id(&r)),
                json!({"subnet_id": id(&sub)}),
            )
            .await;
        let vm = api
            .create(&user, "ports", "port", json!({"network_id": id(&net)}))
            .await;
        api.create(
            &user,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext, "port_id": id(&vm)}),
        )
        .await;
        let before = snapshot(&api, &admin).await;

        api.restart().await;
        // Tokens survive a restart too.
        let after = snapshot(&api, &admin).await;
        assert_eq!(before, after);

        // Allocation continues without reusing anything.
        let p = api
            .create(&user, "ports", "port", json!({"network_id": id(&net)}))
            .await;
        assert_ne!(
            p["fixed_ips"][0]["ip_address"],
            vm["fixed_ips"][0]["ip_address"]
        );
        assert_ne!(p["fixed_ips"][0]["ip_address"], "10.0.0.1");
        let n2 = api.create(&user, "networks", "network", json!({})).await;
        assert_ne!(
            n2["provider:segmentation_id"],
            net["provider:segmentation_id"]
        );
        let (s, _, _) = api.token_for("UserA", "password", "TenantA").await;
        let (s2, _, _) = api.token_for("TenantA-user", "password", "TenantA").await;
        assert_eq!((s.as_u16(), s2.as_u16()), (401, 201));
    }
}
