//! Issue 19's tenancy reproducers: what one tenant tried against another's
//! router and shared network, each refused as Neutron refuses it, with nothing
//! of the victim's changed.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_tenant_cannot_take_over_anothers_router_or_shared_network() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let a = api.tenant(&admin, "TenantA", "member").await;
        let bt = api.tenant(&admin, "TenantB", "member").await;
        let (a_net, a_sub) = tenant_net(&api, &a, "a-net", "10.1.0.0/24").await;
        let (b_net, b_sub) = tenant_net(&api, &bt, "b-net", "10.2.0.0/24").await;
        let router = api
            .create(&a, "routers", "router", json!({"name": "a-router"}))
            .await;
        let rid = id(&router);

        // 1. B's port posing as an interface of A's router.
        let (s, e) = api
            .post(
                &bt,
                "/v2.0/ports",
                json!({"port": {"network_id": b_net, "device_owner": "network:router_interface",
                    "device_id": rid, "fixed_ips": [{"subnet_id": b_sub, "ip_address": "10.2.0.1"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (_, ports) = api
            .get(&admin, &format!("/v2.0/ports?device_id={rid}"))
            .await;
        assert_eq!(ports["ports"].as_array().map(Vec::len), Some(0));
        // A still deletes its router.
        let (s, _) = api.delete(&a, &format!("/v2.0/routers/{rid}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);

        // 2. On A's shared network B may have a port, but not choose its address
        //    (the gateway's, here), its MAC, switch port security off, add address
        //    pairs, or pose as the DHCP port.
        let (s, v) = api
            .put(
                &admin,
                &format!("/v2.0/networks/{a_net}"),
                json!({"network": {"shared": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for (what, extra) in [
            (
                "fixed_ips:ip_address",
                json!({"fixed_ips": [{"subnet_id": a_sub, "ip_address": "10.1.0.1"}]}),
            ),
            ("mac_address", json!({"mac_address": "fa:16:3e:12:34:56"})),
            (
                "port_security_enabled",
                json!({"port_security_enabled": false}),
            ),
            (
                "allowed_address_pairs",
                json!({"allowed_address_pairs": [{"ip_address": "10.1.0.0/24"}]}),
            ),
            ("device_owner", json!({"device_owner": "network:dhcp"})),
        ] {
            let mut body = json!({"network_id": a_net});
            if let (Some(o), Some(x)) = (body.as_object_mut(), extra.as_object()) {
                o.extend(x.clone());
            }
            let (s, e) = api.post(&bt, "/v2.0/ports", json!({ "port": body })).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {e}");
            assert_eq!(err_type(&e), "PolicyNotAuthorized", "{what}: {e}");
            assert!(
                e["NeutronError"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(what)),
                "{what}: {e}"
            );
        }
        // A plain port there is fine, on a subnet it may name; updates are held to
        // the same rule.
        let p = api
            .create(
                &bt,
                "ports",
                "port",
                json!({"network_id": a_net, "fixed_ips": [{"subnet_id": a_sub}]}),
            )
            .await;
        let pid = id(&p);
        for body in [
            json!({"port_security_enabled": false, "security_groups": []}),
            json!({"allowed_address_pairs": [{"ip_address": "10.1.0.1"}]}),
            json!({"fixed_ips": [{"subnet_id": a_sub, "ip_address": "10.1.0.1"}]}),
        ] {
            let (s, e) = api
                .put(&bt, &format!("/v2.0/ports/{pid}"), json!({ "port": body }))
                .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{body}: {e}");
        }
        // The gateway address stays free: A's router takes it.
        let r2 = api
            .create(&a, "routers", "router", json!({"name": "a-router-2"}))
            .await;
        let (s, v) = api
            .put(
                &a,
                &format!("/v2.0/routers/{}/add_router_interface", id(&r2)),
                json!({"subnet_id": a_sub}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // The network's owner may do all of it on its own network.
        let (s, v) = api
            .post(
                &a,
                "/v2.0/ports",
                json!({"port": {"network_id": a_net, "port_security_enabled": false,
                    "fixed_ips": [{"subnet_id": a_sub, "ip_address": "10.1.0.77"}]}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
}

/// The state dir is 0700 and the database 0600, and no token id is in it (only
/// its digest): a copy of the file gives no one a token to present.
#[tokio::test]
async fn the_state_is_private_and_holds_no_token() {
    use std::os::unix::fs::PermissionsExt;
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let (s, _) = api.get(&admin, "/v2.0/networks").await;
    assert_eq!(s, StatusCode::OK, "the digest still finds the token");
    let dir = api.config.state_dir.clone();
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode(&dir), 0o700);
    let mut seen = 0;
    for f in ["neutrino.db", "neutrino.db-wal", "neutrino.db-shm"] {
        let p = dir.join(f);
        if !p.exists() {
            continue;
        }
        seen += 1;
        assert_eq!(mode(&p), 0o600, "{f}");
        let bytes = std::fs::read(&p).unwrap_or_default();
        assert!(
            !bytes.windows(admin.len()).any(|w| w == admin.as_bytes()),
            "{f} holds the token id"
        );
    }
    assert!(seen >= 2, "the database and its WAL");
    // Revocation still finds it.
    let (s, _, _) = api
        .call(
            axum::http::Method::DELETE,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("x-subject-token", &admin)],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&admin, "/v2.0/networks").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
