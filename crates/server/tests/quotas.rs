//! Quotas (issue 19, item 6): Neutron's defaults, the admin's per-project
//! limits, 409 OverQuota past them (one tenant can no longer take every
//! segment or floating IP), usage details, and who may see and set them.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn quotas() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let (_, p) = api.get(&admin, "/v3/projects?name=TenantA").await;
        let pid = p["projects"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = format!("/v2.0/quotas/{pid}");

        // Neutron's defaults; the project reads its own, another project not.
        let (s, q) = api.get(&user, &path).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(q["quota"]["network"], 100);
        assert_eq!(q["quota"]["port"], 500);
        assert_eq!(q["quota"]["floatingip"], 50);
        assert_eq!(q["quota"]["security_group_rule"], 100);
        let (s, _) = api.get(&other, &path).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Only the admin sets them.
        let (s, _) = api
            .put(&user, &path, json!({"quota": {"network": 1000}}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, q) = api
            .put(
                &admin,
                &path,
                json!({"quota": {"network": 2, "router": -1}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(q["quota"]["network"], 2);
        assert_eq!(q["quota"]["router"], -1);
        for bad in [
            json!({"quota": {"bogus": 1}}),
            json!({"quota": {"network": -2}}),
            json!({"quota": {"network": "x"}}),
        ] {
            let (s, e) = api.put(&admin, &path, bad.clone()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        }

        // Past the limit: 409 OverQuota, nothing made.
        for i in 0..2 {
            api.create(
                &user,
                "networks",
                "network",
                json!({"name": format!("n{i}")}),
            )
            .await;
        }
        let (s, e) = api
            .post(&user, "/v2.0/networks", json!({"network": {"name": "n2"}}))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(err_type(&e), "OverQuota");
        let (_, nets) = api.get(&user, "/v2.0/networks").await;
        assert_eq!(nets["networks"].as_array().map(Vec::len), Some(2));
        // Another project is not held to TenantA's limit.
        let (s, _) = api
            .post(&other, "/v2.0/networks", json!({"network": {"name": "b"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED);

        // Details: limit, used, reserved.
        let (s, d) = api.get(&user, &format!("{path}/details.json")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(
            d["quota"]["network"],
            json!({"limit": 2, "used": 2, "reserved": 0})
        );
        let (_, d) = api.get(&user, &format!("{path}/default")).await;
        assert_eq!(d["quota"]["network"], 100);

        // The project's default group counts against security groups.
        api.put(&admin, &path, json!({"quota": {"security_group": 1}}))
            .await;
        let (s, e) = api
            .post(
                &user,
                "/v2.0/security-groups",
                json!({"security_group": {"name": "g"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");

        // The admin lists projects with limits of their own, and resets them.
        let (_, all) = api.get(&admin, "/v2.0/quotas").await;
        assert!(
            all["quotas"]
                .as_array()
                .is_some_and(|a| a.iter().any(|q| q["project_id"] == pid.as_str())),
            "{all}"
        );
        let (s, _) = api.delete(&admin, &path).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, q) = api.get(&user, &path).await;
        assert_eq!(q["quota"]["network"], 100);
        let (s, _) = api
            .post(&user, "/v2.0/networks", json!({"network": {"name": "n2"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        // The extensions are listed.
        let (_, ext) = api.get(&user, "/v2.0/extensions").await;
        let aliases: Vec<&str> = ext["extensions"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["alias"].as_str()).collect())
            .unwrap_or_default();
        assert!(aliases.contains(&"quotas") && aliases.contains(&"quota_details"));
    }
}

#[tokio::test]
async fn configured_defaults() {
    for b in backends() {
        let api = Api::with(&b, |c| {
            c.quota_defaults.insert("router".into(), 2);
        })
        .await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let (_, p) = api.get(&admin, "/v3/projects?name=TenantA").await;
        let pid = p["projects"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (_, q) = api.get(&user, &format!("/v2.0/quotas/{pid}/default")).await;
        assert_eq!(q["quota"]["router"], 2);
        assert_eq!(q["quota"]["network"], 100);
        for want in [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CONFLICT,
        ] {
            let (s, v) = api
                .post(&user, "/v2.0/routers", json!({"router": {"name": "r"}}))
                .await;
            assert_eq!(s, want, "{v}");
        }
        // A project's own limit still wins; the defaults are no project.
        let (s, _) = api
            .put(
                &admin,
                &format!("/v2.0/quotas/{pid}"),
                json!({"quota": {"router": 3}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = api
            .post(&user, "/v2.0/routers", json!({"router": {"name": "r"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, all) = api.get(&admin, "/v2.0/quotas").await;
        let projects: Vec<&str> = all["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|q| q["project_id"].as_str())
            .collect();
        assert_eq!(projects, [pid.as_str()], "{all}");
    }
}
