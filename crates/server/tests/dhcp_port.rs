//! The network's DHCP port (`network:dhcp`): made, given and freed addresses as
//! DHCP subnets come and go, deleted with the last one and with the network;
//! what a tenant may do to it; the host view's DHCP server address.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// The network's ports, as its owner lists them.
async fn ports_of(api: &Api, t: &str, nid: &str) -> Vec<Value> {
    let (s, v) = api.get(t, &format!("/v2.0/ports?network_id={nid}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["ports"].as_array().cloned().unwrap_or_default()
}

/// The network's DHCP ports.
async fn dhcp_ports(api: &Api, t: &str, nid: &str) -> Vec<Value> {
    ports_of(api, t, nid)
        .await
        .into_iter()
        .filter(|p| p["device_owner"] == "network:dhcp")
        .collect()
}

/// The one DHCP port's fixed IPs as (subnet, address).
async fn dhcp_ips(api: &Api, t: &str, nid: &str) -> Vec<(String, String)> {
    let ports = dhcp_ports(api, t, nid).await;
    assert_eq!(ports.len(), 1, "{ports:?}");
    ports[0]["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("subnet_id"), s("ip_address"))
        })
        .collect()
}

fn pair(s: &str, ip: &str) -> (String, String) {
    (s.to_string(), ip.to_string())
}

async fn set_dhcp(api: &Api, t: &str, sid: &str, on: bool) {
    let (s, v) = api
        .put(
            t,
            &format!("/v2.0/subnets/{sid}"),
            json!({"subnet": {"enable_dhcp": on}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// A fresh server, the admin's token and TenantA's member's.
async fn setup(b: &Backend) -> (Api, String, String) {
    let api = Api::new(b).await;
    let admin = api.admin().await;
    let user = api.tenant(&admin, "TenantA", "member").await;
    (api, admin, user)
}

/// Creates a network as `t`; returns it and its id.
async fn network(api: &Api, t: &str, attrs: Value) -> (Value, String) {
    let n = api.create(t, "networks", "network", attrs).await;
    let nid = id(&n);
    (n, nid)
}

/// Creates a subnet of `nid` as `t`; returns its id.
async fn subnet(api: &Api, t: &str, nid: &str, mut attrs: Value) -> String {
    attrs["network_id"] = json!(nid);
    id(&api.create(t, "subnets", "subnet", attrs).await)
}

#[tokio::test]
async fn dhcp_port_follows_the_dhcp_subnets() {
    for b in backends() {
        let (api, admin, user) = setup(&b).await;
        let (n, nid) = network(&api, &user, json!({"name": "net"})).await;
        let s1 = subnet(
            &api,
            &user,
            &nid,
            json!({"cidr": "10.0.0.0/24", "enable_dhcp": false}),
        )
        .await;
        assert!(ports_of(&api, &user, &nid).await.is_empty());

        // DHCP on: the port, with the first free address of the pool.
        set_dhcp(&api, &user, &s1, true).await;
        let p = dhcp_ports(&api, &user, &nid).await;
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!(p["device_id"], format!("dhcp-{nid}"));
        assert_eq!(p["project_id"], n["project_id"]);
        assert_eq!(p["name"], "");
        assert_eq!(p["admin_state_up"], true);
        assert_eq!(p["status"], "ACTIVE");
        assert_eq!(p["binding:host_id"], "");
        assert_eq!(p["binding:vif_type"], "unbound");
        assert_eq!(p["security_groups"], json!([]));
        assert!(
            p["mac_address"]
                .as_str()
                .is_some_and(|m| m.starts_with("fa:16:3e:"))
        );
        let dhcp_id = id(p);
        assert_eq!(dhcp_ips(&api, &user, &nid).await, [pair(&s1, "10.0.0.2")]);
        let vm = api
            .create(&user, "ports", "port", json!({"network_id": nid}))
            .await;
        assert_eq!(vm["fixed_ips"][0]["ip_address"], "10.0.0.3");

        // A second DHCP subnet adds an address; an IPv6 one does not (DHCPv4 only).
        let s2 = subnet(&api, &user, &nid, json!({"cidr": "10.0.1.0/24"})).await;
        subnet(
            &api,
            &user,
            &nid,
            json!({"cidr": "fd00::/64", "ip_version": 6}),
        )
        .await;
        assert_eq!(
            dhcp_ips(&api, &user, &nid).await,
            [pair(&s1, "10.0.0.2"), pair(&s2, "10.0.1.2")]
        );
        // DHCP off on it: the address goes, and is free again.
        set_dhcp(&api, &user, &s2, false).await;
        assert_eq!(dhcp_ips(&api, &user, &nid).await, [pair(&s1, "10.0.0.2")]);
        let held = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": nid,
                "fixed_ips": [{"subnet_id": s2, "ip_address": "10.0.1.2"}]}),
            )
            .await;
        // Still the same port.
        assert_eq!(id(&dhcp_ports(&api, &user, &nid).await[0]), dhcp_id);

        // The last DHCP subnet deleted (its DHCP address does not keep it in
        // use): the port goes, and 10.0.0.2 is free.
        let (s, v) = api.delete(&user, &format!("/v2.0/ports/{}", id(&vm))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, v) = api.delete(&user, &format!("/v2.0/subnets/{s1}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        assert!(dhcp_ports(&api, &user, &nid).await.is_empty());
        let (s, _) = api.get(&user, &format!("/v2.0/ports/{dhcp_id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // DHCP back on s2: a new port, on the first address still free.
        set_dhcp(&api, &user, &s2, true).await;
        assert_eq!(dhcp_ips(&api, &user, &nid).await, [pair(&s2, "10.0.1.3")]);
        // The network in use by a VM port, not by its DHCP port.
        let (s, v) = api.delete(&user, &format!("/v2.0/networks/{nid}")).await;
        assert_eq!((s, err_type(&v)), (StatusCode::CONFLICT, "NetworkInUse"));
        api.delete(&user, &format!("/v2.0/ports/{}", id(&held)))
            .await;
        let (s, v) = api.delete(&user, &format!("/v2.0/networks/{nid}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (_, v) = api.get(&admin, "/v2.0/ports").await;
        assert_eq!(v["ports"], json!([]));
    }
}

#[tokio::test]
async fn what_a_tenant_may_do_to_the_dhcp_port() {
    for b in backends() {
        let (api, admin, user) = setup(&b).await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let (_, nid) = network(&api, &user, json!({"name": "net"})).await;
        subnet(&api, &user, &nid, json!({"cidr": "10.0.0.0/24"})).await;
        let dhcp = dhcp_ports(&api, &user, &nid).await;
        let path = format!("/v2.0/ports/{}", id(&dhcp[0]));

        // The owner sees it, may rename it, may not delete it or change what
        // the server keeps; neither may an admin.
        let (s, _) = api.get(&user, &path).await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = api
            .put(&user, &path, json!({"port": {"name": "dhcp"}}))
            .await;
        assert_eq!(
            (s, v["port"]["name"].as_str()),
            (StatusCode::OK, Some("dhcp"))
        );
        for t in [&user, &admin] {
            let (s, v) = api.delete(t, &path).await;
            assert_eq!(
                (s, err_type(&v)),
                (StatusCode::CONFLICT, "ServicePortInUse")
            );
        }
        // (Binding is admin-only: the admin is refused it here.)
        for (t, change) in [
            (&user, json!({"fixed_ips": [{"ip_address": "10.0.0.9"}]})),
            (&user, json!({"device_owner": "compute:nova"})),
            (&user, json!({"device_id": "vm1"})),
            (&user, json!({"admin_state_up": false})),
            (&admin, json!({"binding:host_id": "compute-01"})),
            (&admin, json!({"mac_address": "fa:16:3e:00:00:99"})),
        ] {
            let (s, v) = api.put(t, &path, json!({"port": change})).await;
            assert_eq!(
                (s, err_type(&v)),
                (StatusCode::CONFLICT, "ServicePortInUse"),
                "{change}"
            );
        }
        let (_, v) = api.get(&user, &path).await;
        assert_eq!(v["port"]["fixed_ips"][0]["ip_address"], "10.0.0.2");
        assert_eq!(v["port"]["binding:host_id"], "");

        // No other port may pose as it, made so or updated into it.
        let posing = json!({"network_id": nid, "device_owner": "network:dhcp",
            "device_id": format!("dhcp-{nid}")});
        let (s, v) = api
            .post(&user, "/v2.0/ports", json!({"port": posing}))
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::BAD_REQUEST, "InvalidInput"));
        let p = api
            .create(&user, "ports", "port", json!({"network_id": nid}))
            .await;
        let (s, v) = api
            .put(&user, &format!("/v2.0/ports/{}", id(&p)),
                json!({"port": {"device_owner": "network:dhcp", "device_id": format!("dhcp-{nid}")}}))
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::BAD_REQUEST, "InvalidInput"));
        assert_eq!(dhcp_ports(&api, &user, &nid).await.len(), 1);

        // Another tenant learns nothing of it.
        let (s, _) = api.get(&other, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = api.delete(&other, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = api.put(&other, &path, json!({"port": {"name": "x"}})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = api.get(&other, "/v2.0/ports").await;
        assert_eq!(v["ports"], json!([]));
    }
}

#[tokio::test]
async fn a_shared_network_keeps_its_own_dhcp_port() {
    for b in backends() {
        let (api, admin, user) = setup(&b).await;
        let (n, nid) = network(&api, &admin, json!({"name": "shared", "shared": true})).await;
        // A tenant's port posing as the network's DHCP port is refused: on a
        // network it does not own, by the network:* owner policy first (403, as
        // Neutron's), before the reserved device_id check (400) would.
        let (s, v) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid,
                "device_owner": "network:dhcp", "device_id": format!("dhcp-{nid}")}}),
            )
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::FORBIDDEN, "PolicyNotAuthorized")
        );
        subnet(&api, &admin, &nid, json!({"cidr": "10.0.0.0/24"})).await;
        // The DHCP port is the network's project's: the tenant does not list it.
        let dhcp = dhcp_ports(&api, &admin, &nid).await;
        assert_eq!(dhcp.len(), 1);
        assert_eq!(dhcp[0]["project_id"], n["project_id"]);
        assert!(ports_of(&api, &user, &nid).await.is_empty());
        let vm = api
            .create(&user, "ports", "port", json!({"network_id": nid}))
            .await;
        assert_eq!(vm["fixed_ips"][0]["ip_address"], "10.0.0.3");
    }
}

#[tokio::test]
async fn host_view_names_the_dhcp_server_per_subnet() {
    for b in backends() {
        let (api, admin, _) = setup(&b).await;
        let (_, nid) = network(&api, &admin, json!({"name": "net"})).await;
        for (cidr, dhcp) in [("10.0.0.0/24", true), ("10.0.1.0/24", false)] {
            subnet(
                &api,
                &admin,
                &nid,
                json!({"cidr": cidr, "enable_dhcp": dhcp}),
            )
            .await;
        }
        api.create(
            &admin,
            "ports",
            "port",
            json!({"network_id": nid,
            "device_owner": "compute:nova", "device_id": "vm1", "binding:host_id": "compute-01"}),
        )
        .await;
        let (s, v) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let servers: Vec<(Value, Value)> = v["networks"][0]["subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (s["cidr"].clone(), s["dhcp_server_ip"].clone()))
            .collect();
        assert_eq!(servers.len(), 2);
        assert!(
            servers.contains(&(json!("10.0.0.0/24"), json!("10.0.0.2"))),
            "{servers:?}"
        );
        assert!(
            servers.contains(&(json!("10.0.1.0/24"), Value::Null)),
            "{servers:?}"
        );
        assert_eq!(v["ports"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["remote_ports"], json!([]));
    }
}
