//! Routers and floating IPs: the seeds' scenario through the API, with the 409s of
//! deleting in the wrong order.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn routers_and_floating_ips() {
    for b in backends() {
        scenario(&b).await;
    }
}

async fn scenario(b: &Backend) {
    let api = Api::new(b).await;
    let admin = api.admin().await;
    let (ext, ext_sub) = external_net(&api, &admin).await;
    let user = api.tenant(&admin, "TenantA", "member").await;

    // The external network is visible to the tenant, but not its to change.
    let (s, _) = api.get(&user, &format!("/v2.0/networks/{ext}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .put(
            &user,
            &format!("/v2.0/networks/{ext}"),
            json!({"network": {"name": "mine"}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let net = api
        .create(&user, "networks", "network", json!({"name": "TenantA-Net"}))
        .await;
    let sub = api
        .create(
            &user,
            "subnets",
            "subnet",
            json!({"name": "TenantA-Subnet", "network_id": id(&net), "cidr": "10.0.0.0/24"}),
        )
        .await;
    let r = api
        .create(&user, "routers", "router", json!({"name": "TenantA-R1"}))
        .await;
    assert_eq!(r["external_gateway_info"], Value::Null);
    let rpath = format!("/v2.0/routers/{}", id(&r));

    // add_router_interface by subnet: a port at the subnet's gateway IP.
    let (s, info) = api
        .put(
            &user,
            &format!("{rpath}/add_router_interface"),
            json!({"subnet_id": id(&sub)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{info}");
    assert_eq!(info["subnet_id"], id(&sub).as_str());
    assert_eq!(info["id"], id(&r).as_str());
    let (_, p) = api
        .get(
            &user,
            &format!(
                "/v2.0/ports/{}",
                info["port_id"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "10.0.0.1");
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    assert_eq!(p["port"]["device_id"], id(&r).as_str());
    let (s, v) = api
        .put(
            &user,
            &format!("{rpath}/add_router_interface"),
            json!({"subnet_id": id(&sub)}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .put(
            &user,
            &format!("{rpath}/add_router_interface"),
            json!({"subnet_id": ext_sub}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a tenant cannot use the admin's subnet: {v}"
    );

    // Gateway on Ext-Net: an address from its pool, SNAT on.
    let (s, v) = api
        .put(
            &user,
            &rpath,
            json!({"router": {"external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let gw = &v["router"]["external_gateway_info"];
    assert_eq!(gw["network_id"], ext.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["ip_address"], "10.1.101.240");
    assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_sub.as_str());
    // Not an external network: 400.
    let (s, v) = api
        .put(
            &user,
            &rpath,
            json!({"router": {"external_gateway_info": {"network_id": id(&net)}}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // A VM port and a floating IP from the pool, associated.
    let vm = api
        .create(
            &user,
            "ports",
            "port",
            json!({"network_id": id(&net), "device_owner": "compute:nova"}),
        )
        .await;
    let fip = api
        .create(
            &user,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext}),
        )
        .await;
    assert_eq!(fip["floating_ip_address"], "10.1.101.241");
    assert_eq!(fip["port_id"], Value::Null);
    assert_eq!(fip["status"], "DOWN");
    let fpath = format!("/v2.0/floatingips/{}", id(&fip));
    let (s, v) = api
        .put(&user, &fpath, json!({"floatingip": {"port_id": id(&vm)}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["floatingip"]["fixed_ip_address"],
        vm["fixed_ips"][0]["ip_address"]
    );
    assert_eq!(v["floatingip"]["router_id"], id(&r).as_str());
    // The same fixed IP cannot get a second floating IP.
    let (s, v) = api
        .post(
            &user,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "port_id": id(&vm)}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err_type(&v), "FloatingIPPortAlreadyAssociated");
    // A network without a router to Ext-Net cannot reach it.
    let lone = api
        .create(&user, "networks", "network", json!({"name": "lone"}))
        .await;
    api.create(
        &user,
        "subnets",
        "subnet",
        json!({"network_id": id(&lone), "cidr": "10.5.0.0/24"}),
    )
    .await;
    let lp = api
        .create(&user, "ports", "port", json!({"network_id": id(&lone)}))
        .await;
    let (s, v) = api
        .put(&user, &fpath, json!({"floatingip": {"port_id": id(&lp)}}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err_type(&v), "ExternalGatewayForFloatingIPNotFound");
    let (s, v) = api
        .post(
            &user,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": id(&net)}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Deletes in the wrong order: 409s.
    let (s, v) = api.delete(&admin, &format!("/v2.0/networks/{ext}")).await;
    assert_eq!((s, err_type(&v)), (StatusCode::CONFLICT, "NetworkInUse"));
    let (s, v) = api
        .delete(&user, &format!("/v2.0/subnets/{}", id(&sub)))
        .await;
    assert_eq!((s, err_type(&v)), (StatusCode::CONFLICT, "SubnetInUse"));
    let (s, v) = api.delete(&user, &rpath).await;
    assert_eq!((s, err_type(&v)), (StatusCode::CONFLICT, "RouterInUse"));
    let (s, v) = api
        .put(
            &user,
            &rpath,
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(
        (s, err_type(&v)),
        (
            StatusCode::CONFLICT,
            "RouterExternalGatewayInUseByFloatingIp"
        )
    );
    let (s, v) = api
        .put(
            &user,
            &format!("{rpath}/remove_router_interface"),
            json!({"subnet_id": id(&sub)}),
        )
        .await;
    assert_eq!(
        (s, err_type(&v)),
        (StatusCode::CONFLICT, "RouterInterfaceInUseByFloatingIP")
    );
    let (s, v) = api
        .delete(
            &user,
            &format!(
                "/v2.0/ports/{}",
                info["port_id"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert_eq!(
        (s, err_type(&v)),
        (StatusCode::CONFLICT, "ServicePortInUse")
    );

    // And in the right order.
    let (s, v) = api
        .put(&user, &fpath, json!({"floatingip": {"port_id": null}}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["floatingip"]["port_id"], Value::Null);
    let (s, _) = api.delete(&user, &fpath).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get(&user, &fpath).await;
    assert_eq!(
        (s, err_type(&v)),
        (StatusCode::NOT_FOUND, "FloatingIPNotFound")
    );
    let (s, _) = api.delete(&user, &format!("/v2.0/ports/{}", id(&vm))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api
        .put(
            &user,
            &format!("{rpath}/remove_router_interface"),
            json!({"subnet_id": id(&sub)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api
        .put(
            &user,
            &format!("{rpath}/remove_router_interface"),
            json!({"subnet_id": id(&sub)}),
        )
        .await;
    assert_eq!(
        (s, err_type(&v)),
        (StatusCode::NOT_FOUND, "RouterInterfaceNotFoundForSubnet")
    );
    let (s, _) = api.delete(&user, &rpath).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get(&user, &rpath).await;
    assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "RouterNotFound"));
    let (s, _) = api
        .delete(&user, &format!("/v2.0/subnets/{}", id(&sub)))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // The gateway port is gone with the router, so Ext-Net can go.
    let (s, v) = api.delete(&admin, &format!("/v2.0/networks/{ext}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

#[tokio::test]
async fn router_interface_by_port_and_gateway_at_create() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let (ext, _) = external_net(&api, &admin).await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let net = api
            .create(&user, "networks", "network", json!({"name": "n"}))
            .await;
        api.create(
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
                json!({"name": "r", "external_gateway_info": {"network_id": ext}}),
            )
            .await;
        assert_eq!(
            r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
            "10.1.101.240"
        );
        // Only admin picks the gateway address or turns SNAT off.
        let (s, _) = api
            .post(&user, "/v2.0/routers", json!({"router": {"external_gateway_info": {"network_id": ext, "enable_snat": false}}}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let r2 = api
            .create(
                &admin,
                "routers",
                "router",
                json!({"external_gateway_info": {"network_id": ext, "enable_snat": false,
                "external_fixed_ips": [{"ip_address": "10.1.101.250"}]}}),
            )
            .await;
        assert_eq!(r2["external_gateway_info"]["enable_snat"], false);
        assert_eq!(
            r2["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
            "10.1.101.250"
        );

        let p = api
            .create(&user, "ports", "port", json!({"network_id": id(&net)}))
            .await;
        let rpath = format!("/v2.0/routers/{}", id(&r));
        let (s, info) = api
            .put(
                &user,
                &format!("{rpath}/add_router_interface"),
                json!({"port_id": id(&p)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{info}");
        assert_eq!(info["port_id"], id(&p).as_str());
        let (_, v) = api.get(&user, &format!("/v2.0/ports/{}", id(&p))).await;
        assert_eq!(v["port"]["device_owner"], "network:router_interface");
        let (s, v) = api
            .put(
                &user,
                &format!("{rpath}/add_router_interface"),
                json!({"port_id": id(&p)}),
            )
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::CONFLICT, "PortInUse"));
        let (s, v) = api
            .put(&user, &format!("{rpath}/add_router_interface"), json!({}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let (s, v) = api
            .put(
                &user,
                &format!("{rpath}/remove_router_interface"),
                json!({"port_id": "8d3c1a5e-0000-4000-8000-00000000beef"}),
            )
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::NOT_FOUND, "RouterInterfaceNotFound")
        );
        let (s, _) = api
            .put(
                &user,
                &format!("{rpath}/remove_router_interface"),
                json!({"port_id": id(&p)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = api.get(&user, &format!("/v2.0/ports/{}", id(&p))).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Floating IP pool exhaustion: 13 addresses, 2 held by router gateways.
        for _ in 0..11 {
            api.create(
                &user,
                "floatingips",
                "floatingip",
                json!({"floating_network_id": ext}),
            )
            .await;
        }
        let (s, v) = api
            .post(
                &user,
                "/v2.0/floatingips",
                json!({"floatingip": {"floating_network_id": ext}}),
            )
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "IpAddressGenerationFailure")
        );
    }
}

/// A malformed id in add/remove_router_interface is a 400 (neutron-tempest-
/// plugin's test_add_interface_port_nonexist), a well-formed unknown one a 404.
#[tokio::test]
async fn interface_ids_must_be_uuids() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    let r = api
        .create(&user, "routers", "router", serde_json::json!({"name": "r"}))
        .await;
    let path = format!("/v2.0/routers/{}/add_router_interface", id(&r));
    for (body, want) in [
        (
            serde_json::json!({"port_id": "tempest-port-1"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"subnet_id": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"port_id": "8d3c1a5e-0000-4000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, e) = api.put(&user, &path, body.clone()).await;
        assert_eq!(s, want, "{body}: {e}");
    }
}

#[tokio::test]
async fn extra_routes_added_and_removed_atomically() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let (_, subnet) = tenant_net(&api, &user, "n1", "10.0.0.0/24").await;
        let router = id(&api
            .create(&user, "routers", "router", json!({"name": "r"}))
            .await);
        add_interface(&api, &user, &router, &subnet).await;
        let add = format!("/v2.0/routers/{router}/add_extraroutes");
        let remove = format!("/v2.0/routers/{router}/remove_extraroutes");
        let route = |d: &str, h: &str| json!({"destination": d, "nexthop": h});
        let (s, v) = api
            .put(
                &user,
                &add,
                json!({"router": {"routes": [route("192.168.1.0/24", "10.0.0.10")]}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = api
            .put(&user, &add, json!({"router": {"routes": [route("192.168.2.0/24", "10.0.0.11"), route("192.168.1.0/24", "10.0.0.10")]}}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            v["router"]["routes"],
            json!([
                route("192.168.1.0/24", "10.0.0.10"),
                route("192.168.2.0/24", "10.0.0.11")
            ])
        );
        let (s, v) = api
            .put(
                &user,
                &remove,
                json!({"router": {"routes": [route("192.168.1.0/24", "10.0.0.10")]}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            v["router"]["routes"],
            json!([route("192.168.2.0/24", "10.0.0.11")])
        );
        // A nexthop on none of the router's subnets; no routes key; another project.
        let (s, _) = api
            .put(
                &user,
                &add,
                json!({"router": {"routes": [route("192.168.3.0/24", "172.16.0.1")]}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api.put(&user, &add, json!({"router": {}})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api
            .put(
                &other,
                &add,
                json!({"router": {"routes": [route("192.168.4.0/24", "10.0.0.12")]}}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = api.get(&user, &format!("/v2.0/routers/{router}")).await;
        assert_eq!(
            v["router"]["routes"],
            json!([route("192.168.2.0/24", "10.0.0.11")])
        );
    }
}
