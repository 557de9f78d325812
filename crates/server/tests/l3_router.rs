//! A scheduled router as the agents see it: its ports bound to the network node
//! and reported ACTIVE there, the host views of the network node and of a
//! compute, floating IP status reports, extra routes, and what tenants cannot do
//! to router ports.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// The seeds' set-up with a network node: OVS agents on compute-01 and network,
/// the L3 agent on network, Ext-Net, TenantA-Net with a VM port on compute-01,
/// TenantA-R1 with its interface and gateway, and a floating IP for the VM.
struct Seeds {
    api: Api,
    admin: String,
    user: String,
    l3: String,
    ext: String,
    net: String,
    sub: String,
    router: String,
    iface: String,
    gw: String,
    vm: Value,
    fip: String,
}

async fn seeds(b: &Backend) -> Seeds {
    let api = Api::new(b).await;
    let admin = api.admin().await;
    register_agent(&api, &admin, "compute-01", Some("192.168.100.11")).await;
    register_agent(&api, &admin, "network", Some("192.168.100.10")).await;
    let l3 = register_agent(&api, &admin, "network", None).await;
    let (ext, _) = external_net(&api, &admin).await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    let (net, sub) = tenant_net(&api, &user, "TenantA-Net", "10.0.0.0/24").await;
    let r = api
        .create(&user, "routers", "router", json!({"name": "TenantA-R1"}))
        .await;
    let iface = add_interface(&api, &user, &id(&r), &sub).await;
    let (st, v) = api
        .put(
            &user,
            &format!("/v2.0/routers/{}", id(&r)),
            json!({"router": {"external_gateway_info": {"network_id": ext}}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, gw) = api
        .get(
            &admin,
            &format!(
                "/v2.0/ports?device_id={}&device_owner=network:router_gateway",
                id(&r)
            ),
        )
        .await;
    let (_, n) = api.get(&user, &format!("/v2.0/networks/{net}")).await;
    let vm = api
        .create(
            &admin,
            "ports",
            "port",
            json!({"network_id": net, "device_owner": "compute:nova", "device_id": "vm1",
                "binding:host_id": "compute-01", "project_id": n["network"]["project_id"]}),
        )
        .await;
    let fip = api
        .create(
            &user,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext, "port_id": id(&vm)}),
        )
        .await;
    Seeds {
        iface,
        gw: id(&gw["ports"][0]),
        router: id(&r),
        net,
        sub,
        fip: id(&fip),
        api,
        admin,
        user,
        l3,
        ext,
        vm,
    }
}

async fn view(s: &Seeds, host: &str) -> Value {
    let (st, v) = s
        .api
        .get(&s.admin, &format!("/agent-api/v1/hosts/{host}/view"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

async fn fip_status(s: &Seeds) -> Value {
    let (_, v) = s
        .api
        .get(&s.user, &format!("/v2.0/floatingips/{}", s.fip))
        .await;
    v["floatingip"]["status"].clone()
}

async fn report_fip(s: &Seeds, host: &str, status: &str) -> (StatusCode, Value) {
    s.api
        .put(
            &s.admin,
            &format!("/agent-api/v1/hosts/{host}/floatingip-status"),
            json!({"floating_ips": [{"id": s.fip, "status": status}]}),
        )
        .await
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn router_ports_follow_their_router() {
    for b in backends() {
        let s = seeds(&b).await;
        let (api, admin, user) = (&s.api, &s.admin, &s.user);
        for p in [&s.iface, &s.gw] {
            let (_, v) = api.get(admin, &format!("/v2.0/ports/{p}")).await;
            assert_eq!(v["port"]["binding:host_id"], "network", "{v}");
            assert_eq!(v["port"]["status"], "DOWN");
        }
        // The network node's agent reports them wired; a compute cannot.
        let path = "/agent-api/v1/hosts/compute-01/port-status";
        let body = json!({"ports": [{"id": s.iface, "status": "ACTIVE"}]});
        let (_, r) = api.put(admin, path, body.clone()).await;
        assert_eq!(r["updated"], 0);
        let (st, r) = api
            .put(
                admin,
                "/agent-api/v1/hosts/network/port-status",
                json!({"ports": [
                {"id": s.iface, "status": "ACTIVE"}, {"id": s.gw, "status": "ACTIVE"}]}),
            )
            .await;
        assert_eq!((st, &r["updated"]), (StatusCode::OK, &json!(2)));
        let (_, v) = api.get(user, &format!("/v2.0/ports/{}", s.iface)).await;
        assert_eq!(v["port"]["status"], "ACTIVE");

        // A second interface is bound at once.
        let (_, s2) = tenant_net(api, user, "net2", "10.0.1.0/24").await;
        let p2 = add_interface(api, user, &s.router, &s2).await;
        let (_, v) = api.get(admin, &format!("/v2.0/ports/{p2}")).await;
        assert_eq!(
            (&v["port"]["binding:host_id"], &v["port"]["status"]),
            (&json!("network"), &json!("DOWN"))
        );

        // Tenants cannot move router ports or slip a port into another's router.
        let (st, _) = api
            .put(
                user,
                &format!("/v2.0/ports/{}", s.iface),
                json!({"port": {"binding:host_id": "compute-01"}}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let other = api.tenant(admin, "TenantB", "member").await;
        let (bn, _) = tenant_net(api, &other, "b", "10.9.0.0/24").await;
        let (st, e) = api
            .post(
                &other,
                "/v2.0/ports",
                json!({"port": {"network_id": bn, "device_owner": "network:router_interface",
                    "device_id": s.router}}),
            )
            .await;
        assert_eq!(
            (st, err_type(&e)),
            (StatusCode::FORBIDDEN, "DeviceIDNotOwnedByTenant")
        );
        let bp = api
            .create(&other, "ports", "port", json!({"network_id": bn}))
            .await;
        let (st, e) = api
            .put(
                &other,
                &format!("/v2.0/ports/{}", id(&bp)),
                json!({"port": {"device_owner": "network:router_interface", "device_id": s.router}}),
            )
            .await;
        assert_eq!(
            (st, err_type(&e)),
            (StatusCode::FORBIDDEN, "DeviceIDNotOwnedByTenant")
        );
        // A gateway port on the external network is not a tenant's to make.
        let (st, e) = api
            .post(
                &other,
                "/v2.0/ports",
                json!({"port": {"network_id": s.ext, "device_owner": "network:router_gateway",
                    "device_id": s.router}}),
            )
            .await;
        assert_eq!(
            (st, err_type(&e)),
            (StatusCode::FORBIDDEN, "PolicyNotAuthorized")
        );
        let (st, v) = api
            .get(admin, &format!("/v2.0/routers/{}/l3-agents", s.router))
            .await;
        assert_eq!(
            (st, ids(&v["agents"])),
            (StatusCode::OK, vec![s.l3.clone()])
        );
        // The other tenant's router stays its own: no port of TenantB in it.
        let v = view(&s, "network").await;
        let ifaces = v["routers"][0]["interface_ports"].as_array().map(Vec::len);
        assert_eq!(ifaces, Some(2));

        // Clearing the gateway removes its port; the router stays hosted.
        api.put(
            user,
            &format!("/v2.0/floatingips/{}", s.fip),
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
        let (st, v) = api
            .put(
                user,
                &format!("/v2.0/routers/{}", s.router),
                json!({"router": {"external_gateway_info": {}}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["router"]["status"], "ACTIVE");
        let (st, _) = api.get(admin, &format!("/v2.0/ports/{}", s.gw)).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn host_views_of_network_node_and_compute() {
    for b in backends() {
        let s = seeds(&b).await;
        let v = view(&s, "network").await;
        let routers = v["routers"].as_array().cloned().unwrap_or_default();
        assert_eq!(routers.len(), 1, "{v}");
        let r = &routers[0];
        let vm_ip = s.vm["fixed_ips"][0]["ip_address"].clone();
        let (_, fip) = s
            .api
            .get(&s.user, &format!("/v2.0/floatingips/{}", s.fip))
            .await;
        assert_eq!(
            r,
            &json!({"id": s.router, "admin_state_up": true, "interface_ports": [s.iface],
                "gateway_port": s.gw, "enable_snat": true, "routes": [], "metering_labels": [],
                "floating_ips": [{"id": s.fip,
                    "floating_ip_address": fip["floatingip"]["floating_ip_address"],
                    "fixed_ip_address": vm_ip, "status": "DOWN"}]})
        );
        // The router's ports are the node's ports; their networks (Ext-Net too)
        // are in the view, and the VM on compute-01 is a remote port.
        let mut want = vec![s.iface.clone(), s.gw.clone()];
        want.sort();
        assert_eq!(ids(&v["ports"]), want);
        let mut nets = vec![s.net.clone(), s.ext.clone()];
        nets.sort();
        assert_eq!(ids(&v["networks"]), nets);
        let ext_view = v["networks"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["id"] == s.ext.as_str()))
            .cloned()
            .unwrap_or_default();
        assert_eq!(ext_view["subnets"][0]["gateway_ip"], "10.1.101.254");
        assert_eq!(
            v["remote_ports"],
            json!([{"network_id": s.net, "host": "compute-01", "tunnel_ip": "192.168.100.11",
                "mac_address": s.vm["mac_address"], "ip_addresses": [vm_ip]}])
        );
        // The compute sees the router's interface as a remote port behind the
        // network node's tunnel endpoint (l2population), and no router.
        let (_, iface) = s
            .api
            .get(&s.admin, &format!("/v2.0/ports/{}", s.iface))
            .await;
        let c = view(&s, "compute-01").await;
        assert_eq!(c["routers"], json!([]));
        assert_eq!(ids(&c["networks"]), vec![s.net.clone()]);
        assert_eq!(
            c["remote_ports"],
            json!([{"network_id": s.net, "host": "network", "tunnel_ip": "192.168.100.10",
                "mac_address": iface["port"]["mac_address"], "ip_addresses": ["10.0.0.1"]}])
        );

        // SNAT off (admin) and extra routes show in the view.
        let (st, v) = s
            .api
            .put(
                &s.admin,
                &format!("/v2.0/routers/{}", s.router),
                json!({"router": {"external_gateway_info": {"network_id": s.ext, "enable_snat": false},
                    "routes": [{"destination": "192.168.50.0/24", "nexthop": "10.0.0.5"}]}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let r = &view(&s, "network").await["routers"][0];
        assert_eq!(r["enable_snat"], false);
        assert_eq!(
            r["routes"],
            json!([{"destination": "192.168.50.0/24", "nexthop": "10.0.0.5"}])
        );
        // An L3 agent on another host sees none of it.
        register_agent(&s.api, &s.admin, "network-2", None).await;
        assert_eq!(view(&s, "network-2").await["routers"], json!([]));
    }
}

#[tokio::test]
async fn floating_ip_status_from_the_l3_agent() {
    for b in backends() {
        let s = seeds(&b).await;
        let (api, admin, user) = (&s.api, &s.admin, &s.user);
        // Associated, but DOWN until the agent says otherwise.
        assert_eq!(fip_status(&s).await, "DOWN");
        // Not the host of its router: ignored (not counted), with or without an
        // L3 agent there.
        let (st, r) = report_fip(&s, "compute-01", "ACTIVE").await;
        assert_eq!((st, &r["updated"]), (StatusCode::OK, &json!(0)));
        register_agent(api, admin, "network-2", None).await;
        let (_, r) = report_fip(&s, "network-2", "ACTIVE").await;
        assert_eq!(r["updated"], 0);
        assert_eq!(fip_status(&s).await, "DOWN");
        // Bad input, and who may call.
        let (st, e) = report_fip(&s, "network", "GREEN").await;
        assert_eq!(
            (st, err_type(&e)),
            (StatusCode::BAD_REQUEST, "InvalidInput")
        );
        let (st, _) = api
            .put(
                user,
                "/agent-api/v1/hosts/network/floatingip-status",
                json!({"floating_ips": [{"id": s.fip, "status": "ACTIVE"}]}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // Its router's host: ACTIVE.
        let (_, r) = report_fip(&s, "network", "ACTIVE").await;
        assert_eq!(r["updated"], 1);
        assert_eq!(fip_status(&s).await, "ACTIVE");
        assert_eq!(
            view(&s, "network").await["routers"][0]["floating_ips"][0]["status"],
            "ACTIVE"
        );

        // Disassociated: DOWN, and out of the view; a report cannot revive it.
        let fpath = format!("/v2.0/floatingips/{}", s.fip);
        let (_, v) = api
            .put(user, &fpath, json!({"floatingip": {"port_id": null}}))
            .await;
        assert_eq!(v["floatingip"]["status"], "DOWN");
        assert_eq!(
            view(&s, "network").await["routers"][0]["floating_ips"],
            json!([])
        );
        let (_, r) = report_fip(&s, "network", "ACTIVE").await;
        assert_eq!(r["updated"], 0);
        // Associated again: DOWN until reported.
        let (_, v) = api
            .put(user, &fpath, json!({"floatingip": {"port_id": id(&s.vm)}}))
            .await;
        assert_eq!(v["floatingip"]["status"], "DOWN");
        report_fip(&s, "network", "ACTIVE").await;
        // The router taken off its agent: DOWN.
        let (st, _) = api
            .delete(
                admin,
                &format!("/v2.0/agents/{}/l3-routers/{}", s.l3, s.router),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        assert_eq!(fip_status(&s).await, "DOWN");
        let (_, r) = report_fip(&s, "network", "ACTIVE").await;
        assert_eq!(r["updated"], 0);
        // The VM port deleted: the floating IP is disassociated and DOWN.
        let (st, _) = api
            .delete(admin, &format!("/v2.0/ports/{}", id(&s.vm)))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (_, v) = api.get(user, &fpath).await;
        assert_eq!(
            (&v["floatingip"]["status"], &v["floatingip"]["port_id"]),
            (&json!("DOWN"), &Value::Null)
        );
    }
}

#[tokio::test]
async fn extra_routes() {
    for b in backends() {
        let s = seeds(&b).await;
        let (api, user) = (&s.api, &s.user);
        let rpath = format!("/v2.0/routers/{}", s.router);
        let put = |routes: Value| {
            let rpath = rpath.clone();
            async move {
                api.put(user, &rpath, json!({"router": {"routes": routes}}))
                    .await
            }
        };
        // Not in POST.
        let (st, _) = api
            .post(
                user,
                "/v2.0/routers",
                json!({"router": {"routes": [{"destination": "10.8.0.0/24", "nexthop": "10.0.0.5"}]}}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        // Through an interface's subnet and through the gateway's.
        let ok = json!([{"destination": "10.8.0.0/24", "nexthop": "10.0.0.5"},
            {"destination": "172.16.0.0/16", "nexthop": "10.1.101.1"}]);
        let (st, v) = put(ok.clone()).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["router"]["routes"], ok);
        // `routes: null` clears them (tempest's test_update_delete_extra_route).
        let (st, v) = put(Value::Null).await;
        assert_eq!(
            (st, v["router"]["routes"].clone()),
            (StatusCode::OK, json!([]))
        );
        let (st, _) = put(ok.clone()).await;
        assert_eq!(st, StatusCode::OK);
        // Not connected, or the router's own address: InvalidRoutes.
        for hop in ["192.168.7.1", "10.0.0.1", "10.1.101.240"] {
            let (st, e) = put(json!([{"destination": "10.8.0.0/24", "nexthop": hop}])).await;
            assert_eq!(
                (st, err_type(&e)),
                (StatusCode::BAD_REQUEST, "InvalidRoutes"),
                "{hop}"
            );
        }
        // Malformed: host bits, loopback, bad nexthop, missing key, duplicates.
        for bad in [
            json!([{"destination": "10.8.0.1/24", "nexthop": "10.0.0.5"}]),
            json!([{"destination": "127.0.0.0/8", "nexthop": "10.0.0.5"}]),
            json!([{"destination": "10.8.0.0/24", "nexthop": "nope"}]),
            json!([{"destination": "10.8.0.0/24"}]),
            json!([{"destination": "10.8.0.0/24", "nexthop": "10.0.0.5"},
                {"destination": "10.8.0.0/24", "nexthop": "10.0.0.5"}]),
        ] {
            let (st, e) = put(bad.clone()).await;
            assert_eq!(
                (st, err_type(&e)),
                (StatusCode::BAD_REQUEST, "InvalidInput"),
                "{bad}"
            );
        }
        let (_, v) = api.get(user, &rpath).await;
        assert_eq!(v["router"]["routes"], ok, "refused updates change nothing");
        // The interface a route needs cannot go (after its floating IP is gone).
        let remove = || {
            let path = format!("{rpath}/remove_router_interface");
            let body = json!({"subnet_id": s.sub});
            async move { api.put(user, &path, body).await }
        };
        api.delete(user, &format!("/v2.0/floatingips/{}", s.fip))
            .await;
        let (st, e) = remove().await;
        assert_eq!(
            (st, err_type(&e)),
            (StatusCode::CONFLICT, "RouterInterfaceInUseByRoute")
        );
        let (st, _) = put(json!([])).await;
        assert_eq!(st, StatusCode::OK);
        let (st, e) = remove().await;
        assert_eq!(st, StatusCode::OK, "{e}");
    }
}

/// An external network goes with the floating IPs no port uses (as Neutron's,
/// tempest's test_delete_external_networks_with_floating_ip); one in use keeps it.
#[tokio::test]
async fn an_external_network_goes_with_its_idle_floating_ips() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let (ext, _) = external_net(&api, &admin).await;
        let fip = api
            .create(
                &admin,
                "floatingips",
                "floatingip",
                json!({"floating_network_id": ext}),
            )
            .await;
        let (st, _) = api.delete(&admin, &format!("/v2.0/networks/{ext}")).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, v) = api
            .get(&admin, &format!("/v2.0/floatingips/{}", id(&fip)))
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
        // With a floating IP in use by a port, it stays.
        let s = seeds(&b).await;
        let (st, v) = s
            .api
            .delete(&s.admin, &format!("/v2.0/networks/{}", s.ext))
            .await;
        assert_eq!((st, err_type(&v)), (StatusCode::CONFLICT, "NetworkInUse"));
    }
}

/// An update that says nothing dissociates a floating IP, one that says something
/// else keeps its port (Neutron's, tempest's test_blank_update_clears_association).
#[tokio::test]
async fn a_blank_floating_ip_update_dissociates() {
    for b in backends() {
        let s = seeds(&b).await;
        let path = format!("/v2.0/floatingips/{}", s.fip);
        let (st, v) = s
            .api
            .put(
                &s.user,
                &path,
                json!({"floatingip": {"description": "web"}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["floatingip"]["port_id"], s.vm["id"]);
        let (st, v) = s.api.put(&s.user, &path, json!({"floatingip": {}})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["floatingip"]["port_id"], Value::Null);
        assert_eq!(v["floatingip"]["description"], "web");
    }
}

/// A subnet's gateway address held by a router interface cannot change or go
/// (Neutron's GatewayIpInUse, tempest's
/// test_router_interface_update_and_remove_gateway_ip); without one it can.
#[tokio::test]
async fn a_gateway_held_by_a_router_interface_stays() {
    for b in backends() {
        let s = seeds(&b).await;
        let path = format!("/v2.0/subnets/{}", s.sub);
        for gw in [json!("10.0.0.254"), Value::Null] {
            let (st, v) = s
                .api
                .put(&s.user, &path, json!({"subnet": {"gateway_ip": gw}}))
                .await;
            assert_eq!(
                (st, err_type(&v)),
                (StatusCode::CONFLICT, "GatewayIpInUse"),
                "{gw}"
            );
        }
        let (st, v) = s
            .api
            .put(
                &s.user,
                &path,
                json!({"subnet": {"gateway_ip": "10.0.0.1"}}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "the same address: {v}");
        let (st, _) = s
            .api
            .delete(&s.user, &format!("/v2.0/floatingips/{}", s.fip))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, v) = s
            .api
            .put(
                &s.user,
                &format!("/v2.0/routers/{}/remove_router_interface", s.router),
                json!({"subnet_id": s.sub}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, v) = s
            .api
            .put(&s.user, &path, json!({"subnet": {"gateway_ip": null}}))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["subnet"]["gateway_ip"], Value::Null);
    }
}
