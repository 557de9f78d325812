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

/// Issue 19 item 11: what the API must refuse as invalid (400), nothing stored.
#[tokio::test]
async fn invalid_input_is_refused() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let net = api
            .create(&user, "networks", "network", json!({"name": "n"}))
            .await;
        let nid = id(&net);
        let subnet = |extra: serde_json::Value| {
            let mut s = json!({"network_id": nid, "ip_version": 4});
            if let (Some(o), Some(x)) = (s.as_object_mut(), extra.as_object()) {
                o.extend(x.clone());
            }
            json!({ "subnet": s })
        };
        for (what, body) in [
            ("0/0", subnet(json!({"cidr": "0.0.0.0/0"}))),
            (
                "broadcast /32",
                subnet(json!({"cidr": "255.255.255.255/32"})),
            ),
            (
                "link-local v6",
                subnet(json!({"cidr": "fe80::/64", "ip_version": 6})),
            ),
            (
                "top /128",
                subnet(
                    json!({"cidr": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ip_version": 6}),
                ),
            ),
            (
                "network address as gateway",
                subnet(json!({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.0"})),
            ),
            (
                "broadcast as gateway",
                subnet(json!({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"})),
            ),
            (
                "pool with the broadcast",
                subnet(
                    json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.200", "end": "10.0.0.255"}]}),
                ),
            ),
        ] {
            let (s, e) = api.post(&user, "/v2.0/subnets", body).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {e}");
            assert!(e["NeutronError"]["message"].is_string(), "{what}: {e}");
        }
        let (_, subs) = api.get(&user, "/v2.0/subnets").await;
        assert_eq!(subs["subnets"].as_array().map(Vec::len), Some(0));
        let sub = api
            .create(
                &user,
                "subnets",
                "subnet",
                json!({"network_id": nid, "cidr": "10.0.0.0/24"}),
            )
            .await;
        let sid = id(&sub);
        for (what, body) in [
            (
                "network address",
                json!({"network_id": nid, "fixed_ips": [{"subnet_id": sid, "ip_address": "10.0.0.0"}]}),
            ),
            (
                "broadcast address",
                json!({"network_id": nid, "fixed_ips": [{"subnet_id": sid, "ip_address": "10.0.0.255"}]}),
            ),
            (
                "zero MAC",
                json!({"network_id": nid, "mac_address": "00:00:00:00:00:00"}),
            ),
            (
                "multicast MAC",
                json!({"network_id": nid, "mac_address": "01:00:5e:00:00:01"}),
            ),
            (
                "long name",
                json!({"network_id": nid, "name": "x".repeat(256)}),
            ),
            (
                "NUL in the name",
                json!({"network_id": nid, "name": "a\u{0}b"}),
            ),
            (
                "right-to-left override",
                json!({"network_id": nid, "name": "abc\u{202e}gpj.exe"}),
            ),
            (
                "long description",
                json!({"network_id": nid, "description": "d".repeat(1 << 20)}),
            ),
        ] {
            let (s, e) = api
                .post(&user, "/v2.0/ports", json!({ "port": body }))
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {e}");
        }
        let (s, _) = api
            .post(
                &user,
                "/v2.0/ports",
                json!({"port": {"network_id": nid, "name": "x".repeat(255)}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "255 characters are fine");
        // An unknown sort key is a 400, a known one sorts.
        let (s, e) = api
            .get(&user, "/v2.0/ports?sort_key=bogus&sort_dir=asc")
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        let (s, _) = api
            .get(&user, "/v2.0/ports?sort_key=name&sort_dir=desc")
            .await;
        assert_eq!(s, StatusCode::OK);
        // A user's default project must exist.
        let (_, users) = api.get(&admin, "/v3/users?name=TenantA-user").await;
        let uid = users["users"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (s, e, _) = api
            .call(
                axum::http::Method::PATCH,
                &format!("/v3/users/{uid}"),
                Some(&admin),
                Some(json!({"user": {"default_project_id": "no-such-project"}})),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    }
}

/// Issue 19 item 10: the errors axum makes itself are JSON error bodies too.
#[tokio::test]
async fn every_error_is_a_json_error_body() {
    use axum::http::Method;
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    // 405: a method the path does not take.
    let (s, v, h) = api
        .call(Method::PATCH, "/v2.0/networks", Some(&admin), None, &[])
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(err_type(&v), "HTTPMethodNotAllowed", "{v}");
    assert!(h.get("allow").is_some());
    // Keystone's body under /v3.
    let (s, v, _) = api
        .call(Method::PATCH, "/v3/auth/tokens", Some(&admin), None, &[])
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"]["code"], 405, "{v}");
    // 413: a body over the limit.
    let big = json!({"network": {"name": "n", "description": "x".repeat(3 << 20)}});
    let (s, v) = api.post(&admin, "/v2.0/networks", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(err_type(&v), "HTTPRequestEntityTooLarge", "{v}");
    // The agents' API: a body its JSON extractor refuses.
    let (s, v) = api
        .post(&admin, "/agent-api/v1/agents", json!({"host": 5}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["NeutronError"]["message"].is_string(), "{v}");
    let (s, v, _) = api
        .call(
            Method::PUT,
            "/agent-api/v1/hosts/h/port-status",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    assert!(v["NeutronError"]["message"].is_string(), "{v}");
}

/// Issue 19 item 4: a token ends with what it stands for: its user deleted or
/// disabled (no renewal either), its role revoked, its user's password changed,
/// its project deleted.
#[tokio::test]
async fn tokens_end_with_what_they_stand_for() {
    use axum::http::Method;
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        // (project name, what ends the token)
        for what in ["role", "password", "disabled", "project", "user"] {
            let name = format!("T-{what}");
            let token = api.tenant(&admin, &name, "member").await;
            let (s, _) = api.get(&token, "/v2.0/networks").await;
            assert_eq!(s, StatusCode::OK, "{what}: the token works at first");
            let (_, users) = api
                .get(&admin, &format!("/v3/users?name={name}-user"))
                .await;
            let uid = users["users"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (_, projects) = api.get(&admin, &format!("/v3/projects?name={name}")).await;
            let pid = projects["projects"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (_, roles) = api.get(&admin, "/v3/roles?name=member").await;
            let rid = roles["roles"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let patch = |body: serde_json::Value| {
                let path = format!("/v3/users/{uid}");
                let admin = admin.clone();
                let api = &api;
                async move {
                    api.call(Method::PATCH, &path, Some(&admin), Some(body), &[])
                        .await
                        .0
                }
            };
            let s = match what {
                "role" => {
                    api.call(
                        Method::DELETE,
                        &format!("/v3/projects/{pid}/users/{uid}/roles/{rid}"),
                        Some(&admin),
                        None,
                        &[],
                    )
                    .await
                    .0
                }
                "password" => patch(json!({"user": {"password": "another-one"}})).await,
                "disabled" => patch(json!({"user": {"enabled": false}})).await,
                "project" => api.delete(&admin, &format!("/v3/projects/{pid}")).await.0,
                _ => api.delete(&admin, &format!("/v3/users/{uid}")).await.0,
            };
            assert!(s.is_success(), "{what}: {s}");
            let (s, _) = api.get(&token, "/v2.0/networks").await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{what}: the old token still works"
            );
            // No renewal with the token method either.
            let (s, _, _) = api
                .call(
                    Method::POST,
                    "/v3/auth/tokens",
                    None,
                    Some(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}})),
                    &[],
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: renewed");
        }
        // A new password logs in.
        let (s, _, _) = api
            .token_for("T-password-user", "another-one", "T-password")
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
}

/// Issue 19 item 8: wrong passwords past the limit lock the name out for the
/// window, even for the right password; other users log in as before.
#[tokio::test]
async fn failed_logins_lock_the_name_out() {
    let api = Api::new(&Backend::Sqlite).await;
    let admin = api.admin().await;
    api.tenant(&admin, "Victim", "member").await;
    api.tenant(&admin, "Other", "member").await;
    for i in 0..server::identity::lockout::PER_USER {
        let (s, _, _) = api.token_for("Victim-user", "guess", "Victim").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (s, _, v) = api.token_for("Victim-user", "password", "Victim").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the right password got in: {v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Too many failed logins")),
        "{v}"
    );
    let (s, _, _) = api.token_for("Other-user", "password", "Other").await;
    assert_eq!(s, StatusCode::CREATED);
    // Made-up names are counted and locked the same way (no telling them apart).
    for _ in 0..server::identity::lockout::PER_USER {
        api.token_for("nobody", "guess", "Victim").await;
    }
    let (_, _, v) = api.token_for("nobody", "guess", "Victim").await;
    assert!(v.to_string().contains("Too many failed logins"), "{v}");
}

/// Issue 19 item 9: a client sending half a header is cut off after the header
/// timeout, and past the connection cap new connections are closed at once;
/// whole requests are served as before (on loopback).
#[tokio::test]
async fn slow_and_greedy_clients_are_cut_off() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = Api::new(&Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback listener");
    let addr = listener.local_addr().expect("address");
    let limits = server::Limits {
        max_connections: 3,
        header_timeout: Duration::from_millis(500),
        lifetime: Duration::from_secs(30),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = api.router.clone();
    let srv = tokio::spawn(server::serve_connections(listener, app, limits, async {
        let _ = stopped.await;
    }));
    // Half a header, then nothing: closed within the timeout (read gives EOF).
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /v2.0/networks HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 256];
    let r = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(_))),
        "the half-header connection was not closed: {r:?}"
    );
    // Three idle connections hold the slots; a fourth is closed at once.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "over the cap: {r:?}");
    // Once they time out, a whole request is served.
    drop(held);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut ok = tokio::net::TcpStream::connect(addr).await.expect("connect");
    ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut text = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), ok.read_to_end(&mut text)).await;
    assert!(
        String::from_utf8_lossy(&text).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    // A filter of 10,000 ids (360 KB of URI): 414 with Neutron's error body.
    let q: Vec<String> = (0..10_000).map(|i| format!("id={i:032x}")).collect();
    let mut long = tokio::net::TcpStream::connect(addr).await.expect("connect");
    long.write_all(
        format!(
            "GET /v2.0/networks?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            q.join("&")
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut text = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), long.read_to_end(&mut text)).await;
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("HTTP/1.1 414"), "{text}");
    assert!(
        text.contains("\"type\":\"HTTPRequestURITooLong\""),
        "{text}"
    );
    let _ = stop.send(());
    let _ = srv.await;
}
