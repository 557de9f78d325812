//! Tenancy (a member sees only its project, admin all, shared and external
//! networks all), readers, and collection queries: filters, fields, sorting,
//! pagination with links.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn names(v: &Value, coll: &str) -> Vec<String> {
    v[coll]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn tenancy() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let a = api.tenant(&admin, "TenantA", "member").await;
        let bt = api.tenant(&admin, "TenantB", "member").await;
        let reader = api.tenant(&admin, "TenantR", "reader").await;
        let na = api
            .create(&a, "networks", "network", json!({"name": "a-net"}))
            .await;
        api.create(&bt, "networks", "network", json!({"name": "b-net"}))
            .await;
        api.create(
            &admin,
            "networks",
            "network",
            json!({"name": "shared-net", "shared": true}),
        )
        .await;
        api.create(&admin, "networks", "network", json!({"name": "admin-net"}))
            .await;
        let sa = api
            .create(
                &a,
                "subnets",
                "subnet",
                json!({"network_id": id(&na), "cidr": "10.0.0.0/24"}),
            )
            .await;
        let pa = api
            .create(&a, "ports", "port", json!({"network_id": id(&na)}))
            .await;

        let (_, v) = api.get(&a, "/v2.0/networks?sort_key=name").await;
        assert_eq!(names(&v, "networks"), ["a-net", "shared-net"]);
        let (_, v) = api.get(&admin, "/v2.0/networks?sort_key=name").await;
        assert_eq!(
            names(&v, "networks"),
            ["a-net", "admin-net", "b-net", "shared-net"]
        );
        // Others' resources are 404, for reads and writes.
        for path in [
            format!("/v2.0/networks/{}", id(&na)),
            format!("/v2.0/subnets/{}", id(&sa)),
            format!("/v2.0/ports/{}", id(&pa)),
        ] {
            let (s, _) = api.get(&bt, &path).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
            let (s, _) = api.delete(&bt, &path).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
            let (s, _) = api.get(&admin, &path).await;
            assert_eq!(s, StatusCode::OK, "{path}");
        }
        let (s, _) = api
            .post(&bt, "/v2.0/ports", json!({"port": {"network_id": id(&na)}}))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = api.get(&bt, "/v2.0/ports").await;
        assert_eq!(v["ports"].as_array().map(Vec::len), Some(0));
        // A member cannot create for another project; admin can.
        let (_, proj) = api.get(&admin, "/v3/projects?name=TenantB").await;
        let pb = proj["projects"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (s, _) = api
            .post(&a, "/v2.0/networks", json!({"network": {"project_id": pb}}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let n = api
            .create(
                &admin,
                "networks",
                "network",
                json!({"name": "for-b", "project_id": pb}),
            )
            .await;
        assert_eq!(n["tenant_id"], pb.as_str());
        let (_, v) = api.get(&bt, "/v2.0/networks?name=for-b").await;
        assert_eq!(names(&v, "networks"), ["for-b"]);
        // Readers read, but do not write.
        let (s, _) = api.get(&reader, "/v2.0/networks").await;
        assert_eq!(s, StatusCode::OK);
        let (s, v) = api
            .post(&reader, "/v2.0/networks", json!({"network": {"name": "r"}}))
            .await;
        assert_eq!(
            (s, err_type(&v)),
            (StatusCode::FORBIDDEN, "PolicyNotAuthorized")
        );
        // Agents are the admin's: others list none (Neutron's policy filters the
        // list rather than refusing it; tempest's test_list_agents_non_admin).
        let (s, v) = api.get(&a, "/v2.0/agents").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["agents"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn queries() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        for i in 0..7 {
            api.create(
                &admin,
                "networks",
                "network",
                json!({"name": format!("n{i}"), "admin_state_up": i % 2 == 0,
                "shared": i == 3}),
            )
            .await;
        }
        // Filters: OR within a key, AND across keys; booleans.
        let (_, v) = api
            .get(
                &admin,
                "/v2.0/networks?name=n1&name=n2&name=n4&admin_state_up=True&sort_key=name",
            )
            .await;
        assert_eq!(names(&v, "networks"), ["n2", "n4"]);
        let (_, v) = api.get(&admin, "/v2.0/networks?shared=true").await;
        assert_eq!(names(&v, "networks"), ["n3"]);
        let (_, v) = api
            .get(&admin, "/v2.0/networks?provider:segmentation_id=3")
            .await;
        assert_eq!(names(&v, "networks"), ["n2"]);
        // fields.
        let (_, v) = api
            .get(&admin, "/v2.0/networks?fields=id&fields=name&name=n0")
            .await;
        let keys: Vec<&String> = v["networks"][0]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 2, "{keys:?}");
        let nid = v["networks"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (_, v) = api
            .get(&admin, &format!("/v2.0/networks/{nid}?fields=mtu"))
            .await;
        assert_eq!(v, json!({"network": {"mtu": 1450}}));
        // Sorting.
        let (_, v) = api
            .get(&admin, "/v2.0/networks?sort_key=name&sort_dir=desc")
            .await;
        assert_eq!(
            names(&v, "networks"),
            ["n6", "n5", "n4", "n3", "n2", "n1", "n0"]
        );
        let (s, v) = api
            .get(&admin, "/v2.0/networks?sort_key=name&sort_dir=sideways")
            .await;
        assert_eq!((s, err_type(&v)), (StatusCode::BAD_REQUEST, "InvalidInput"));
        // Pagination: walk forward by `next` links, then back by `previous`.
        let mut seen = Vec::new();
        let mut url = "/v2.0/networks?limit=3&sort_key=name".to_string();
        let mut pages = 0;
        loop {
            let (s, v) = api.get(&admin, &url).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            seen.extend(names(&v, "networks"));
            pages += 1;
            let next = v["networks_links"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["rel"] == "next"))
                .and_then(|x| x["href"].as_str())
                .map(|h| {
                    h.trim_start_matches("http://neutrino.test:9696")
                        .to_string()
                });
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["n0", "n1", "n2", "n3", "n4", "n5", "n6"]);
        let (_, last) = api.get(&admin, &url).await;
        let prev = last["networks_links"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["rel"] == "previous"))
            .and_then(|x| x["href"].as_str())
            .map(|h| {
                h.trim_start_matches("http://neutrino.test:9696")
                    .to_string()
            })
            .expect("previous link");
        let (_, v) = api.get(&admin, &prev).await;
        assert_eq!(names(&v, "networks"), ["n3", "n4", "n5"]);
        let (s, _) = api.get(&admin, "/v2.0/networks?limit=x").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api.get(&admin, "/v2.0/networks?limit=2&marker=nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn versions_extensions_agents() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let (s, v, _) = api
            .call(axum::http::Method::GET, "/", None, None, &[])
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["versions"][0]["id"], "v2.0");
        assert_eq!(
            v["versions"][0]["links"][0]["href"],
            "http://neutrino.test:9696/v2.0/"
        );
        let (_, v) = api.get(&admin, "/v2.0/").await;
        assert!(
            v["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["collection"] == "networks"))
        );
        let (_, v) = api.get(&admin, "/v2.0/extensions").await;
        let aliases: Vec<&str> = v["extensions"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["alias"].as_str()).collect())
            .unwrap_or_default();
        for a in [
            "router",
            "external-net",
            "provider",
            "security-group",
            "binding",
            "agent",
            "pagination",
            "sorting",
        ] {
            assert!(aliases.contains(&a), "{a}");
        }
        assert!(!aliases.contains(&"dvr"));
        let (s, v) = api.get(&admin, "/v2.0/extensions/router").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["extension"]["alias"], "router");
        let (s, _) = api.get(&admin, "/v2.0/extensions/dvr").await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Agents: registered by the agent side, then list/show/update/delete.
        let agent = model::Agent {
            id: String::new(),
            agent_type: "Open vSwitch agent".into(),
            binary: "neutrino-agent".into(),
            host: "compute1".into(),
            topic: "N/A".into(),
            admin_state_up: true,
            alive: false,
            availability_zone: None,
            configurations: serde_json::Map::new(),
            description: None,
            created_at: String::new(),
            started_at: String::new(),
            heartbeat_timestamp: String::new(),
            resources_synced: None,
        };
        let reg = server::api::agents::register(&api.state, agent)
            .await
            .expect("register");
        assert!(reg.alive);
        let (_, v) = api.get(&admin, "/v2.0/agents").await;
        assert_eq!(v["agents"][0]["host"], "compute1");
        assert_eq!(v["agents"][0]["alive"], true);
        let path = format!("/v2.0/agents/{}", reg.id);
        let (s, v) = api
            .put(
                &admin,
                &path,
                json!({"agent": {"admin_state_up": false, "description": "maintenance"}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["agent"]["admin_state_up"], false);
        let (s, _) = api.delete(&admin, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = api.get(&admin, &path).await;
        assert_eq!((s, err_type(&v)), (StatusCode::NOT_FOUND, "AgentNotFound"));
    }
}
