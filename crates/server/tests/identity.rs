//! Keystone subset: discovery, tokens, projects, users, roles, assignments.

mod common;
use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn identity_flows() {
    for b in backends() {
        identity(&b).await;
    }
}

async fn identity(b: &Backend) {
    let api = Api::new(b).await;
    let (s, v, _) = api.call(Method::GET, "/v3", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["version"]["id"], "v3.14");
    assert_eq!(
        v["version"]["links"][0]["href"],
        "http://neutrino.test:9696/v3/"
    );

    // Wrong password and unknown user: 401 in Keystone's format.
    let (s, t, v) = api.token_for("admin", "wrong", "admin").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(t.is_none());
    assert_eq!(v["error"]["code"], 401);
    let (s, _, _) = api.token_for("nobody", "x", "admin").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, admin, body) = api.token_for("admin", ADMIN_PW, "admin").await;
    assert_eq!(s, StatusCode::CREATED);
    let admin = admin.expect("token");
    let tok = &body["token"];
    assert_eq!(tok["user"]["name"], "admin");
    assert_eq!(tok["project"]["name"], "admin");
    assert!(
        tok["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["name"] == "admin"))
    );
    assert!(tok["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')));
    let catalog = tok["catalog"].as_array().expect("catalog");
    let net = catalog
        .iter()
        .find(|c| c["type"] == "network")
        .expect("network entry");
    assert_eq!(net["endpoints"][0]["url"], "http://neutrino.test:9696/");
    let ident = catalog
        .iter()
        .find(|c| c["type"] == "identity")
        .expect("identity entry");
    assert_eq!(ident["endpoints"][0]["url"], "http://neutrino.test:9696/v3");

    // Validation of a subject token.
    let (s, v, h) = api
        .call(
            Method::GET,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("x-subject-token", &admin)],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["token"]["user"]["name"], "admin");
    assert!(h.get("x-subject-token").is_some());

    // The seeds' set-up: project, user with email, member role.
    let (s, p) = api
        .post(
            &admin,
            "/v3/projects",
            json!({"project": {"name": "TenantA", "enabled": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = p["project"]["id"].as_str().expect("pid").to_string();
    assert_eq!(p["project"]["domain_id"], "default");
    let (s, _) = api
        .post(
            &admin,
            "/v3/projects",
            json!({"project": {"name": "TenantA"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = api.get(&admin, "/v3/projects?name=TenantA").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(1));
    let (s, _) = api.get(&admin, "/v3/projects/TenantA").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, u) = api
        .post(
            &admin,
            "/v3/users",
            json!({"user": {"name": "UserA", "password": "password",
            "email": "usera@example.com", "default_project_id": pid, "enabled": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    assert!(u["user"].get("password").is_none());
    assert_eq!(u["user"]["email"], "usera@example.com");
    let uid = u["user"]["id"].as_str().expect("uid").to_string();
    let (_, roles) = api.get(&admin, "/v3/roles").await;
    let names: Vec<&str> = roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for r in ["admin", "member", "reader"] {
        assert!(names.contains(&r), "{names:?}");
    }
    let (_, member) = api.get(&admin, "/v3/roles?name=member").await;
    let rid = member["roles"][0]["id"].as_str().expect("rid").to_string();

    // Without a role, UserA cannot get a token for TenantA.
    let (s, _, _) = api.token_for("UserA", "password", "TenantA").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let grant = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    let (s, _, _) = api.call(Method::PUT, &grant, Some(&admin), None, &[]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = api
        .call(Method::HEAD, &grant, Some(&admin), None, &[])
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api
        .get(
            &admin,
            &format!("/v3/role_assignments?user.id={uid}&include_names=1"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["role_assignments"][0]["role"]["name"], "member");
    assert_eq!(
        v["role_assignments"][0]["scope"]["project"]["name"],
        "TenantA"
    );

    let (s, usera, v) = api.token_for("UserA", "password", "TenantA").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let usera = usera.expect("token");
    assert_eq!(v["token"]["roles"][0]["name"], "member");

    // A user sees only their own token: GET, HEAD and DELETE of the admin's
    // token say 403 alike (HEAD is no validity oracle); their own is 200.
    for m in [Method::GET, Method::HEAD, Method::DELETE] {
        let (s, _, _) = api
            .call(
                m.clone(),
                "/v3/auth/tokens",
                Some(&usera),
                None,
                &[("x-subject-token", &admin)],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m}");
    }
    let (s, _, _) = api
        .call(
            Method::HEAD,
            "/v3/auth/tokens",
            Some(&usera),
            None,
            &[("x-subject-token", &usera)],
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // A member may not manage identity.
    let (s, v) = api
        .post(&usera, "/v3/projects", json!({"project": {"name": "X"}}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], 403);
    let (_, v) = api.get(&usera, "/v3/users").await;
    assert_eq!(v["users"].as_array().map(Vec::len), Some(1));

    // No token or a bad token: 401.
    let (s, v, _) = api.call(Method::GET, "/v3/projects", None, None, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], 401);
    let (s, v) = api.get("bogus", "/v2.0/networks").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(err_type(&v), "NotAuthenticated");

    // Revocation.
    let (s, _, _) = api
        .call(
            Method::DELETE,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("x-subject-token", &usera)],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&usera, "/v2.0/networks").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Revoke the role, delete user, project, role.
    let (s, _, _) = api
        .call(Method::DELETE, &grant, Some(&admin), None, &[])
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.delete(&admin, &format!("/v3/users/{uid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&admin, &format!("/v3/users/{uid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.delete(&admin, &format!("/v3/projects/{pid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, r) = api
        .post(&admin, "/v3/roles", json!({"role": {"name": "observer"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api
        .delete(&admin, &format!("/v3/roles/{}", id(&r["role"])))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    for b in backends() {
        let ttl = std::time::Duration::from_secs(4);
        let api = Api::with(&b, |c| c.token_ttl = ttl).await;
        let issued = std::time::Instant::now();
        let admin = api.admin().await;
        let (s, v) = api.get(&admin, "/v2.0/networks").await;
        assert_eq!(s, StatusCode::OK, "a fresh token is good: {v}");
        // Measured from before the token was asked for, so the wait covers its
        // whole lifetime however slow the machine is.
        let left = (issued + ttl + std::time::Duration::from_millis(100))
            .saturating_duration_since(std::time::Instant::now());
        tokio::time::sleep(left).await;
        let (s, v) = api.get(&admin, "/v2.0/networks").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
}

/// Keystone's policy on projects: a member reads its own project only, lists
/// none, and cannot tell another project's id from a made-up one (403 for both).
#[tokio::test]
async fn members_read_only_their_own_project() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, b_project) = api
            .post(
                &admin,
                "/v3/projects",
                json!({"project": {"name": "TenantB"}}),
            )
            .await;
        let other = b_project["project"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (_, n) = api
            .post(&user, "/v2.0/networks", json!({"network": {}}))
            .await;
        let own = n["network"]["project_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            api.get(&user, &format!("/v3/projects/{own}")).await.0,
            StatusCode::OK
        );
        for path in [
            format!("/v3/projects/{other}"),
            "/v3/projects/7d0c0b8e-4f5a-4a8e-9a51-0d2f3c1b2a99".to_string(),
            "/v3/projects".to_string(),
            format!("/v3/projects?name={other}"),
        ] {
            let (s, e) = api.get(&user, &path).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {e}");
            assert_eq!(e["error"]["code"], 403);
        }
        assert_eq!(
            api.get(&admin, &format!("/v3/projects/{other}")).await.0,
            StatusCode::OK
        );
    }
}
