//! Issue 21: a change wakes only the hosts whose view it changes, and a server
//! learns of another server's commits on one PostgreSQL store at once (LISTEN/
//! NOTIFY), with no polling: an agent watching through server B gets a port
//! created through server A.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// The revision of `host`'s view now.
async fn current(api: &Api, admin: &str, host: &str) -> i64 {
    let (s, v) = api
        .get(admin, &format!("/agent-api/v1/hosts/{host}/view?since=0"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["revision"].as_i64().unwrap_or(0)
}

async fn bound_port(api: &Api, admin: &str, net: &str, host: &str, project: &Value) -> Value {
    api.create(
        admin,
        "ports",
        "port",
        // No security groups: members of a shared group are in every member
        // host's view, which would tie the hosts together.
        json!({"network_id": net, "binding:host_id": host, "device_owner": "compute:nova",
            "device_id": format!("vm-{host}"), "project_id": project,
            "port_security_enabled": false}),
    )
    .await
}

#[tokio::test]
async fn a_change_wakes_only_the_hosts_it_concerns() {
    for b in backends() {
        let api = Arc::new(Api::new(&b).await);
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (n1, _) = tenant_net(&api, &user, "n1", "10.0.1.0/24").await;
        let (n2, _) = tenant_net(&api, &user, "n2", "10.0.2.0/24").await;
        let project =
            api.get(&user, &format!("/v2.0/networks/{n1}")).await.1["network"]["project_id"]
                .clone();
        for (h, ip) in [
            ("h1", "192.0.2.1"),
            ("h2", "192.0.2.2"),
            ("h3", "192.0.2.3"),
        ] {
            register_agent(&api, &admin, h, Some(ip)).await;
        }
        bound_port(&api, &admin, &n1, "h1", &project).await;
        bound_port(&api, &admin, &n2, "h2", &project).await;
        bound_port(&api, &admin, &n1, "h3", &project).await;
        let mut since = Vec::new();
        for h in ["h1", "h2", "h3"] {
            since.push(current(&api, &admin, h).await);
        }
        // An agent ahead of this server (it comes from another one, or the
        // database was restored) gets the view at once, not after a change.
        let ahead = format!(
            "/agent-api/v1/hosts/h2/view?since={}&timeout=10",
            since[1] + 1000
        );
        let (s, v) = api.get(&admin, &ahead).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["revision"].as_i64(), Some(since[1]));
        let wakes_before: Vec<u64> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| api.state.views.wakes(h))
            .collect();

        // Long polls for the three hosts; then a port on n1, bound to h1.
        let mut polls = Vec::new();
        for (i, h) in ["h1", "h2", "h3"].into_iter().enumerate() {
            let (api, admin) = (api.clone(), admin.clone());
            let path = format!("/agent-api/v1/hosts/{h}/view?since={}&timeout=3", since[i]);
            polls.push(tokio::spawn(async move { api.get(&admin, &path).await }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let p = bound_port(&api, &admin, &n1, "h1", &project).await;
        let mut got = Vec::new();
        for t in polls {
            got.push(t.await.expect("poll"));
        }
        // h1 (the port's host) and h3 (on n1: l2pop) get the new view; h2 (only
        // on n2) is not woken and times out with nothing.
        for i in [0, 2] {
            assert_eq!(got[i].0, StatusCode::OK, "host {}", i + 1);
            assert!(
                got[i]
                    .1
                    .to_string()
                    .contains(p["mac_address"].as_str().unwrap_or("?"))
            );
        }
        assert_eq!(got[1].0, StatusCode::NO_CONTENT, "h2 woken: {}", got[1].1);
        let wakes: Vec<u64> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| api.state.views.wakes(h))
            .collect();
        assert_eq!(wakes[1], wakes_before[1], "h2's view did not move");
        assert!(wakes[0] > wakes_before[0] && wakes[2] > wakes_before[2]);

        // A heartbeat moves no one's view; a change to n2's subnet moves h2's only
        // (and the network nodes', of which there are none here).
        register_agent(&api, &admin, "h2", Some("192.0.2.2")).await;
        let (_, subs) = api
            .get(&user, &format!("/v2.0/subnets?network_id={n2}"))
            .await;
        let sub = subs["subnets"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (s, _) = api
            .put(
                &user,
                &format!("/v2.0/subnets/{sub}"),
                json!({"subnet": {"dns_nameservers": ["10.0.2.53"]}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        // Polls see the cache current before they answer.
        let after = current(&api, &admin, "h2").await;
        assert!(after > since[1]);
        let wakes2: Vec<u64> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| api.state.views.wakes(h))
            .collect();
        assert_eq!(wakes2[0], wakes[0], "h1 moved by a heartbeat or n2");
        assert_eq!(wakes2[2], wakes[2], "h3 moved by a heartbeat or n2");
        assert_eq!(wakes2[1], wakes[1] + 1, "h2 moved once, by its subnet");

        // A port joining a group with a remote-group rule moves the views of the
        // hosts using the group (they hold its members), on any network.
        let g = api
            .create(
                &user,
                "security-groups",
                "security_group",
                json!({"name": "g"}),
            )
            .await;
        let gid = id(&g);
        api.post(
            &user,
            "/v2.0/security-group-rules",
            json!({"security_group_rule": {
            "security_group_id": gid, "direction": "ingress", "remote_group_id": gid}}),
        )
        .await;
        api.create(
            &admin,
            "ports",
            "port",
            json!({"network_id": n2, "binding:host_id": "h2",
            "device_owner": "compute:nova", "device_id": "vm-g", "project_id": project,
            "security_groups": [gid]}),
        )
        .await;
        current(&api, &admin, "h2").await;
        let before: Vec<u64> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| api.state.views.wakes(h))
            .collect();
        let joined = api
            .create(
                &admin,
                "ports",
                "port",
                json!({"network_id": n1, "binding:host_id": "h1",
                "device_owner": "compute:nova", "device_id": "vm-g2", "project_id": project,
                "security_groups": [gid]}),
            )
            .await;
        current(&api, &admin, "h2").await;
        let (_, v) = api.get(&admin, "/agent-api/v1/hosts/h2/view?since=0").await;
        let ip = joined["fixed_ips"][0]["ip_address"].as_str().unwrap_or("?");
        assert!(
            v["security_groups"].to_string().contains(ip),
            "h2 holds the new member"
        );
        let now: Vec<u64> = ["h1", "h2", "h3"]
            .iter()
            .map(|h| api.state.views.wakes(h))
            .collect();
        assert_eq!(now[1], before[1] + 1, "h2 (uses the group) moved");
        assert_eq!(now[0], before[0] + 1, "h1 (the port's host) moved");
        assert_eq!(now[2], before[2] + 1, "h3 (on n1) moved");
    }
}

#[tokio::test]
async fn a_commit_through_one_server_reaches_a_watch_on_another() {
    for b in backends() {
        if matches!(b, Backend::Sqlite) {
            continue;
        }
        let a = Api::new(&b).await;
        let admin = a.admin().await;
        let user = a.tenant(&admin, "TenantA", "member").await;
        let (net, _) = tenant_net(&a, &user, "n", "10.0.0.0/24").await;
        let project =
            a.get(&user, &format!("/v2.0/networks/{net}")).await.1["network"]["project_id"].clone();
        register_agent(&a, &admin, "h1", Some("192.0.2.1")).await;
        bound_port(&a, &admin, &net, "h1", &project).await;
        // Server B: the same store.
        let b_api = a.second_server().await;
        let since = current(&b_api, &admin, "h1").await;
        let watch = {
            let path = format!("/agent-api/v1/hosts/h1/view?since={since}&timeout=20");
            let admin = admin.clone();
            tokio::spawn(async move { b_api.get(&admin, &path).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let p = bound_port(&a, &admin, &net, "h1", &project).await;
        let (s, v) = watch.await.expect("watch");
        // Nothing polls: without the notification this would be a 204 after 20 s.
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v.to_string().contains(p["id"].as_str().unwrap_or("?")));
    }
}

/// A server on its own runtime and thread, so that it can die with everything
/// it holds (listener, connections, LISTEN): what a killed process would do.
struct Process {
    port: u16,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    fn start(config: server::Config) -> Process {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.spawn(async move {
                let (state, _) = server::AppState::open(config).await.expect("open");
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let _ = port_tx.send(l.local_addr().expect("addr").port());
                server::serve_connections(
                    l,
                    server::router(state),
                    server::Limits::default(),
                    std::future::pending(),
                )
                .await;
            });
            let _ = stop_rx.recv();
            rt.shutdown_background();
        });
        let port = port_rx.recv().expect("server port");
        Process {
            port,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An agent's watch through a client given both servers: server A dies, the
/// next poll goes to B with the revision it had, and a change made afterwards
/// reaches it (PostgreSQL only: servers share a store there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_moves_to_the_next_server_when_its_server_dies() {
    for b in backends() {
        if matches!(b, Backend::Sqlite) {
            continue;
        }
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (net, _) = tenant_net(&api, &user, "n", "10.0.0.0/24").await;
        let project =
            api.get(&user, &format!("/v2.0/networks/{net}")).await.1["network"]["project_id"]
                .clone();
        register_agent(&api, &admin, "h1", Some("192.0.2.1")).await;
        bound_port(&api, &admin, &net, "h1", &project).await;
        let mut a = Process::start(api.config.clone());
        let b_srv = Process::start(api.config.clone());
        let c = client::Client::login(client::Auth {
            auth_url: format!(
                "http://127.0.0.1:{},http://127.0.0.1:{}",
                a.port, b_srv.port
            ),
            username: "admin".into(),
            password: ADMIN_PW.into(),
            project_name: "admin".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        })
        .await
        .expect("login");
        let path = "/agent-api/v1/hosts/h1/view";
        let v = c.get(path, &[("since", "0")]).await.expect("first view");
        let since = v["revision"].as_i64().unwrap_or(0).to_string();
        assert!(c.identity_url().contains(&a.port.to_string()));
        a.kill();
        let poll = {
            let c = c.clone();
            let since = since.clone();
            tokio::spawn(async move {
                c.get(path, &[("since", since.as_str()), ("timeout", "20")])
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let p = bound_port(&api, &admin, &net, "h1", &project).await;
        let v = poll.await.expect("poll").expect("the poll moved to B");
        assert!(
            v.to_string().contains(p["id"].as_str().unwrap_or("?")),
            "{v}"
        );
        assert!(c.identity_url().contains(&b_srv.port.to_string()));
    }
}
