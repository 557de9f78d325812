//! The network node's L3 agent: its agent row, the scheduler (least routers,
//! auto-scheduling, no failover), router status, and Neutron's
//! `l3_agent_scheduler` extension with its errors.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

/// The ids of the L3 agents hosting `router`.
async fn hosts_of(api: &Api, admin: &str, router: &str) -> Vec<String> {
    let (s, v) = api
        .get(admin, &format!("/v2.0/routers/{router}/l3-agents"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["agents"]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default()
}

async fn router_status(api: &Api, t: &str, router: &str) -> String {
    let (_, v) = api.get(t, &format!("/v2.0/routers/{router}")).await;
    v["router"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn port(api: &Api, admin: &str, port: &str) -> Value {
    let (s, v) = api.get(admin, &format!("/v2.0/ports/{port}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["port"].clone()
}

#[tokio::test]
async fn l3_agent_rows() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        register_agent(&api, &admin, "compute-01", Some("192.168.100.11")).await;
        register_agent(&api, &admin, "compute-02", Some("192.168.100.12")).await;
        register_agent(&api, &admin, "network", Some("192.168.100.10")).await;
        let l3 = register_agent(&api, &admin, "network", None).await;
        // A heartbeat is the same row.
        assert_eq!(register_agent(&api, &admin, "network", None).await, l3);

        let (_, list) = api.get(&admin, "/v2.0/agents").await;
        assert_eq!(list["agents"].as_array().map(Vec::len), Some(4));
        // `openstack network agent list --agent-type l3` sends `L3+agent`.
        let (s, v) = api.get(&admin, "/v2.0/agents?agent_type=L3+agent").await;
        assert_eq!(s, StatusCode::OK);
        let rows = v["agents"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{v}");
        let a = &rows[0];
        assert_eq!(a["id"], l3.as_str());
        assert_eq!(a["agent_type"], "L3 agent");
        assert_eq!(a["binary"], "neutrino-l3-agent");
        assert_eq!(a["host"], "network");
        assert_eq!(a["topic"], "l3_agent");
        assert_eq!(a["availability_zone"], "nova");
        assert_eq!(a["alive"], true);
        assert_eq!(a["admin_state_up"], true);
        let c = &a["configurations"];
        assert_eq!(c["agent_mode"], "legacy");
        assert_eq!(c["handle_internal_only_routers"], true);
        assert_eq!(c["interface_driver"], "openvswitch");
        for k in ["routers", "ex_gw_ports", "interfaces", "floating_ips"] {
            assert_eq!(c[k], 0, "{k}");
        }
        assert!(!a["started_at"].as_str().unwrap_or_default().is_empty());
        let (_, v) = api
            .get(&admin, "/v2.0/agents?agent_type=Open+vSwitch+agent")
            .await;
        let ovs = v["agents"].as_array().cloned().unwrap_or_default();
        assert_eq!(ovs.len(), 3);
        assert!(
            ovs.iter()
                .all(|a| a["topic"] == "N/A" && a["availability_zone"].is_null())
        );
        let (_, v) = api
            .get(&admin, "/v2.0/agents?agent_type=L3+agent&host=compute-01")
            .await;
        assert_eq!(v["agents"], json!([]));

        // The counts follow what is scheduled to the agent.
        let (ext, _) = external_net(&api, &admin).await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (net, sub) = tenant_net(&api, &user, "net", "10.0.0.0/24").await;
        let r = gateway_router(&api, &user, "r", &ext).await;
        add_interface(&api, &user, &id(&r), &sub).await;
        let vm = api
            .create(&user, "ports", "port", json!({"network_id": net}))
            .await;
        api.create(
            &user,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": ext, "port_id": id(&vm)}),
        )
        .await;
        let (_, v) = api.get(&admin, &format!("/v2.0/agents/{l3}")).await;
        let c = &v["agent"]["configurations"];
        assert_eq!(
            [
                &c["routers"],
                &c["ex_gw_ports"],
                &c["interfaces"],
                &c["floating_ips"]
            ],
            [&json!(1), &json!(1), &json!(1), &json!(1)],
            "{c}"
        );
    }
}

#[tokio::test]
async fn scheduling_least_routers_auto_schedule_no_failover() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let (ext, _) = external_net(&api, &admin).await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, sub) = tenant_net(&api, &user, "net", "10.0.0.0/24").await;

        // No L3 agent: the router stays unscheduled, without an error.
        let r1 = id(&api
            .create(&user, "routers", "router", json!({"name": "r1"}))
            .await);
        assert_eq!(router_status(&api, &user, &r1).await, "ALLOCATING");
        let p1 = add_interface(&api, &user, &r1, &sub).await;
        assert_eq!(hosts_of(&api, &admin, &r1).await, Vec::<String>::new());
        assert_eq!(router_status(&api, &user, &r1).await, "ALLOCATING");
        assert_eq!(port(&api, &admin, &p1).await["binding:host_id"], "");
        // A router with neither interface nor gateway is never scheduled.
        let idle = id(&api
            .create(&user, "routers", "router", json!({"name": "idle"}))
            .await);

        // An L3 agent registers: it takes r1 (auto-scheduling), not the idle one.
        let a1 = register_agent(&api, &admin, "network", None).await;
        assert_eq!(hosts_of(&api, &admin, &r1).await, vec![a1.clone()]);
        assert_eq!(hosts_of(&api, &admin, &idle).await, Vec::<String>::new());
        assert_eq!(router_status(&api, &user, &r1).await, "ACTIVE");
        assert_eq!(router_status(&api, &user, &idle).await, "ALLOCATING");
        let p = port(&api, &admin, &p1).await;
        assert_eq!(p["binding:host_id"], "network");
        assert_eq!(p["binding:vif_type"], "ovs");
        assert_eq!(p["status"], "DOWN");
        // The router list filters on the shown status.
        let (_, v) = api.get(&user, "/v2.0/routers?status=ACTIVE").await;
        assert_eq!(v["routers"].as_array().map(Vec::len), Some(1));

        // A second agent: the next routers go to the one with fewer routers,
        // then on a tie to the lowest id.
        let a2 = register_agent(&api, &admin, "network-2", None).await;
        let r2 = gateway_router(&api, &user, "r2", &ext).await;
        assert_eq!(r2["status"], "ACTIVE", "the create answer shows it");
        assert_eq!(hosts_of(&api, &admin, &id(&r2)).await, vec![a2.clone()]);
        let r3 = gateway_router(&api, &user, "r3", &ext).await;
        let lowest = a1.clone().min(a2.clone());
        assert_eq!(hosts_of(&api, &admin, &id(&r3)).await, vec![lowest]);

        // The gateway port follows too.
        let (_, ports) = api
            .get(
                &admin,
                &format!(
                    "/v2.0/ports?device_id={}&device_owner=network:router_gateway",
                    id(&r2)
                ),
            )
            .await;
        assert_eq!(ports["ports"][0]["binding:host_id"], "network-2");

        // An agent that dies keeps its routers (no failover); they are not
        // ACTIVE any more, and new routers go to the live agent.
        kill_agent(&api, &a1).await;
        assert_eq!(hosts_of(&api, &admin, &r1).await, vec![a1.clone()]);
        assert_eq!(router_status(&api, &user, &r1).await, "ALLOCATING");
        let (_, v) = api
            .put(
                &user,
                &format!("/v2.0/routers/{r1}"),
                json!({"router": {"name": "r1-renamed"}}),
            )
            .await;
        assert_eq!(v["router"]["status"], "ALLOCATING");
        assert_eq!(hosts_of(&api, &admin, &r1).await, vec![a1.clone()]);
        let r4 = gateway_router(&api, &user, "r4", &ext).await;
        assert_eq!(hosts_of(&api, &admin, &id(&r4)).await, vec![a2.clone()]);
        // It comes back: its routers are ACTIVE again.
        register_agent(&api, &admin, "network", None).await;
        assert_eq!(router_status(&api, &user, &r1).await, "ACTIVE");

        // An admin-down agent's routers move at their next change.
        let (s, _) = api
            .put(
                &admin,
                &format!("/v2.0/agents/{a1}"),
                json!({"agent": {"admin_state_up": false}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(hosts_of(&api, &admin, &r1).await, vec![a1.clone()]);
        api.put(
            &user,
            &format!("/v2.0/routers/{r1}"),
            json!({"router": {"name": "r1"}}),
        )
        .await;
        assert_eq!(hosts_of(&api, &admin, &r1).await, vec![a2.clone()]);
        let p = port(&api, &admin, &p1).await;
        assert_eq!(
            (&p["binding:host_id"], &p["status"]),
            (&json!("network-2"), &json!("DOWN"))
        );

        // Deleting the router drops its binding; deleting an agent unschedules.
        let (_, v) = api
            .get(&admin, &format!("/v2.0/agents/{a2}/l3-routers"))
            .await;
        let before = v["routers"].as_array().map(Vec::len).unwrap_or_default();
        let (s, _) = api
            .delete(&user, &format!("/v2.0/routers/{}", id(&r4)))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, v) = api
            .get(&admin, &format!("/v2.0/agents/{a2}/l3-routers"))
            .await;
        assert_eq!(v["routers"].as_array().map(Vec::len), Some(before - 1));
        let (s, _) = api.delete(&admin, &format!("/v2.0/agents/{a2}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(hosts_of(&api, &admin, &r1).await, Vec::<String>::new());
        assert_eq!(port(&api, &admin, &p1).await["binding:host_id"], "");
    }
}

#[tokio::test]
async fn l3_agent_scheduler_extension() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, sub) = tenant_net(&api, &user, "net", "10.0.0.0/24").await;
        let ovs = register_agent(&api, &admin, "network", Some("192.168.100.10")).await;
        let r = id(&api
            .create(&user, "routers", "router", json!({"name": "r"}))
            .await);
        let a1 = register_agent(&api, &admin, "network", None).await;
        let a2 = register_agent(&api, &admin, "network-2", None).await;
        let (s, v) = api.get(&admin, "/v2.0/extensions/l3_agent_scheduler").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            v["extension"],
            json!({"name": "L3 Agent Scheduler", "alias": "l3_agent_scheduler",
                "description": "Schedule routers among l3 agents",
                "updated": "2013-02-07T10:00:00-00:00", "links": []})
        );
        let add = |agent: &str| format!("/v2.0/agents/{agent}/l3-routers");

        // Admin only, every call.
        let (s, v) = api.post(&user, &add(&a1), json!({"router_id": r})).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::FORBIDDEN, "PolicyNotAuthorized")
        );
        let (s, _) = api.get(&user, &add(&a1)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = api.delete(&user, &format!("{}/{r}", add(&a1))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = api
            .get(&user, &format!("/v2.0/routers/{r}/l3-agents"))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Errors, in Neutron's order.
        let (s, v) = api
            .post(&admin, &add("nope"), json!({"router_id": "nope"}))
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "RouterNotFound"));
        let (s, v) = api
            .post(&admin, &add("nope"), json!({"router_id": r}))
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
        let (s, v) = api.post(&admin, &add(&ovs), json!({"router_id": r})).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "InvalidL3Agent"));
        assert_eq!(
            v["NeutronError"]["message"],
            format!("Agent {ovs} is not a L3 Agent or has been disabled")
        );

        // Add: 201 with the body `null`; the router's ports follow.
        let (s, body) = api
            .call_raw(Method::POST, &add(&a1), &admin, json!({"router_id": r}))
            .await;
        assert_eq!((s, body.as_str()), (StatusCode::CREATED, "null"));
        let pid = add_interface(&api, &user, &r, &sub).await;
        assert_eq!(port(&api, &admin, &pid).await["binding:host_id"], "network");
        // Again on the same agent: a no-op 201; on another: 409.
        let (s, body) = api
            .call_raw(Method::POST, &add(&a1), &admin, json!({"router_id": r}))
            .await;
        assert_eq!((s, body.as_str()), (StatusCode::CREATED, "null"));
        let (s, v) = api.post(&admin, &add(&a2), json!({"router_id": r})).await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::CONFLICT, "RouterHostedByL3Agent")
        );
        assert_eq!(
            v["NeutronError"]["message"],
            format!("The router {r} has been already hosted by the L3 Agent {a1}.")
        );

        // The lists: full router dicts of every project; agents with ha_state.
        let (s, v) = api.get(&admin, &add(&a1)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["routers"][0]["id"], r.as_str());
        assert_eq!(v["routers"][0]["status"], "ACTIVE");
        assert!(v["routers"][0]["project_id"].is_string());
        let (_, v) = api.get(&admin, &add(&a2)).await;
        assert_eq!(v["routers"], json!([]));
        let (s, v) = api.get(&admin, &add(&ovs)).await;
        assert_eq!((s, &v["routers"]), (StatusCode::OK, &json!([])));
        let (s, v) = api.get(&admin, &add("nope")).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
        let (_, v) = api
            .get(&admin, &format!("/v2.0/routers/{r}/l3-agents"))
            .await;
        let agents = v["agents"].as_array().cloned().unwrap_or_default();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0]["id"], a1.as_str());
        assert_eq!(agents[0]["ha_state"], Value::Null);
        assert_eq!(agents[0]["configurations"]["routers"], 1);
        let (s, v) = api.get(&admin, "/v2.0/routers/nope/l3-agents").await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "RouterNotFound"));

        // Remove: 204; the ports are unbound, the router ALLOCATING. Not hosted
        // there: still 204. Unknown agent or router: 404.
        let (s, _) = api.delete(&admin, &format!("{}/{r}", add(&a1))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let p = port(&api, &admin, &pid).await;
        assert_eq!(
            (&p["binding:host_id"], &p["binding:vif_type"]),
            (&json!(""), &json!("unbound"))
        );
        assert_eq!(router_status(&api, &admin, &r).await, "ALLOCATING");
        assert_eq!(hosts_of(&api, &admin, &r).await, Vec::<String>::new());
        let (s, _) = api.delete(&admin, &format!("{}/{r}", add(&a1))).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.delete(&admin, &format!("{}/{r}", add("nope"))).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
        let (s, v) = api.delete(&admin, &format!("{}/nope", add(&a1))).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "RouterNotFound"));

        // The operator moves it to the other agent; a disabled agent refuses.
        let (s, _) = api.post(&admin, &add(&a2), json!({"router_id": r})).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(
            port(&api, &admin, &pid).await["binding:host_id"],
            "network-2"
        );
        api.put(
            &admin,
            &format!("/v2.0/agents/{a1}"),
            json!({"agent": {"admin_state_up": false}}),
        )
        .await;
        let r2 = id(&api
            .create(&user, "routers", "router", json!({"name": "r2"}))
            .await);
        let (s, v) = api.post(&admin, &add(&a1), json!({"router_id": r2})).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "InvalidL3Agent"));
        // A dead but enabled agent is accepted (liveness is not checked).
        kill_agent(&api, &a2).await;
        let (s, _) = api.post(&admin, &add(&a2), json!({"router_id": r2})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = api.post(&admin, &add(&a2), json!({})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
}
