//! The agents' API: registration and heartbeats, host views (l2pop peers, long
//! poll), port status reports, and who may call it.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutrino-agent",
        "tunneling_ip": ip, "tunnel_types": ["vxlan"], "bridge_mappings": {},
        "roles": ["compute"], "report_interval_secs": 30})
}

#[tokio::test]
async fn agent_api() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;

        // Registration, then a heartbeat: one agent per host, alive.
        let (s, a1) = api
            .post(
                &admin,
                "/agent-api/v1/agents",
                report("compute-01", "192.168.100.11"),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a1}");
        let (_, again) = api
            .post(
                &admin,
                "/agent-api/v1/agents",
                report("compute-01", "192.168.100.11"),
            )
            .await;
        assert_eq!(again["agent"]["id"], a1["agent"]["id"]);
        api.post(
            &admin,
            "/agent-api/v1/agents",
            report("compute-02", "192.168.100.12"),
        )
        .await;
        let (_, list) = api.get(&admin, "/v2.0/agents").await;
        let agents = list["agents"].as_array().cloned().unwrap_or_default();
        assert_eq!(agents.len(), 2);
        assert!(agents.iter().all(|a| a["alive"] == true
            && a["agent_type"] == "Open vSwitch agent"
            && a["binary"] == "neutrino-agent"));
        assert_eq!(
            agents[0]["configurations"]["tunneling_ip"]
                .as_str()
                .map(|s| s.starts_with("192.168.100.")),
            Some(true)
        );

        // Errors: a member may not report; a bad tunnel IP is 400.
        let (s, e) = api
            .post(&user, "/agent-api/v1/agents", report("x", "192.168.100.9"))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        let (s, e) = api
            .post(&admin, "/agent-api/v1/agents", report("x", "not-an-ip"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(err_type(&e), "InvalidInput");
        let (s, _) = api.get(&user, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // A network with a VM on each compute.
        let n = api
            .create(&user, "networks", "network", json!({"name": "net"}))
            .await;
        let nid = id(&n);
        api.create(
            &user,
            "subnets",
            "subnet",
            json!({"network_id": nid, "cidr": "10.0.0.0/24", "dns_nameservers": ["10.0.0.53"]}),
        )
        .await;
        let mut ports = vec![];
        for (host, vm) in [("compute-01", "vm1"), ("compute-02", "vm2")] {
            let p = api
                .create(
                    &admin,
                    "ports",
                    "port",
                    json!({"network_id": nid, "device_owner": "compute:nova",
                    "device_id": vm, "binding:host_id": host, "project_id": n["project_id"]}),
                )
                .await;
            assert_eq!(p["binding:vif_type"], "ovs");
            ports.push(p);
        }

        let (s, v) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["host"], "compute-01");
        assert_eq!(v["admin_state_up"], true);
        assert_eq!(v["ports"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["ports"][0]["id"], ports[0]["id"]);
        assert_eq!(v["networks"][0]["id"], nid);
        assert_eq!(v["networks"][0]["mtu"], 1450);
        assert_eq!(
            v["networks"][0]["subnets"][0]["dns_nameservers"],
            json!(["10.0.0.53"])
        );
        // The switch answers DHCP as the network's DHCP port (the pool's first
        // address); that port is bound nowhere, so it is no one's remote port.
        assert_eq!(v["networks"][0]["subnets"][0]["dhcp_server_ip"], "10.0.0.2");
        assert_eq!(ports[0]["fixed_ips"][0]["ip_address"], "10.0.0.3");
        assert_eq!(
            v["remote_ports"],
            json!([{"network_id": nid, "host": "compute-02", "tunnel_ip": "192.168.100.12",
                "mac_address": ports[1]["mac_address"],
                "ip_addresses": [ports[1]["fixed_ips"][0]["ip_address"]]}])
        );
        // A host with nothing bound gets an empty view.
        let (_, empty) = api.get(&admin, "/agent-api/v1/hosts/nowhere/view").await;
        assert_eq!(empty["ports"], json!([]));
        assert_eq!(empty["networks"], json!([]));

        // The long poll: nothing new since this revision -> 204 after the wait.
        let rev = v["revision"].as_i64().unwrap_or_default();
        let path = format!("/agent-api/v1/hosts/compute-01/view?since={rev}&timeout=1");
        let (s, _) = api.get(&admin, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        // A write while a poll waits wakes it with the new view.
        let waiter = {
            let path = format!("/agent-api/v1/hosts/compute-01/view?since={rev}&timeout=30");
            let admin = admin.clone();
            let router = api.router.clone();
            tokio::spawn(async move { common::call_router(&router, &admin, "GET", &path).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let pid = id(&ports[0]);
        let (s, r) = api
            .put(&admin, "/agent-api/v1/hosts/compute-01/port-status",
                json!({"ports": [{"id": pid, "status": "ACTIVE"}, {"id": id(&ports[1]), "status": "ACTIVE"}]}))
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        // Only the port bound to the reporting host changed.
        assert_eq!(r["updated"], 1);
        let (s, woke) = waiter
            .await
            .unwrap_or((StatusCode::INTERNAL_SERVER_ERROR, Value::Null));
        assert_eq!(s, StatusCode::OK);
        assert!(woke["revision"].as_i64().unwrap_or_default() > rev);
        let (_, p) = api.get(&user, &format!("/v2.0/ports/{pid}")).await;
        assert_eq!(p["port"]["status"], "ACTIVE");
        let (s, e) = api
            .put(
                &admin,
                "/agent-api/v1/hosts/compute-01/port-status",
                json!({"ports": [{"id": pid, "status": "SLEEPING"}]}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

        // Unbinding (or moving) a port sets it DOWN until the new host wires it.
        let (_, p) = api
            .put(
                &admin,
                &format!("/v2.0/ports/{pid}"),
                json!({"port": {"binding:host_id": "compute-02"}}),
            )
            .await;
        assert_eq!(p["port"]["status"], "DOWN");
        let (_, v2) = api.get(&admin, "/agent-api/v1/hosts/compute-02/view").await;
        assert_eq!(v2["ports"].as_array().map(Vec::len), Some(2));
        assert_eq!(v2["remote_ports"], json!([]));

        // A disabled agent's view says so.
        let aid = a1["agent"]["id"].as_str().unwrap_or_default().to_string();
        api.put(
            &admin,
            &format!("/v2.0/agents/{aid}"),
            json!({"agent": {"admin_state_up": false}}),
        )
        .await;
        let (_, v3) = api.get(&admin, "/agent-api/v1/hosts/compute-01/view").await;
        assert_eq!(v3["admin_state_up"], false);
    }
}
