//! Tags (issue 19, `standard-attr-tag`, `tag-creation`,
//! `tag-ports-during-bulk-creation`): set, add, check, replace, remove and
//! clear on every taggable kind; the list filters; limits and bad bodies; the
//! owner's alone to change.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn tags_on_every_kind() {
    for b in backends() {
        let api = Api::new(&b).await;
        let admin = api.admin().await;
        let user = api.tenant(&admin, "TenantA", "member").await;
        let other = api.tenant(&admin, "TenantB", "member").await;
        let (net, subnet) = tenant_net(&api, &user, "n1", "10.0.0.0/24").await;
        let port = id(&api
            .create(&user, "ports", "port", json!({"network_id": net}))
            .await);
        let router = id(&api
            .create(&user, "routers", "router", json!({"name": "r"}))
            .await);
        let sg = id(&api
            .create(
                &user,
                "security-groups",
                "security_group",
                json!({"name": "g"}),
            )
            .await);
        let pool = id(&api
            .create(
                &user,
                "subnetpools",
                "subnetpool",
                json!({"name": "p", "prefixes": ["10.9.0.0/16"]}),
            )
            .await);
        for (kind, rid) in [
            ("networks", &net),
            ("subnets", &subnet),
            ("ports", &port),
            ("routers", &router),
            ("security-groups", &sg),
            ("subnetpools", &pool),
        ] {
            let base = format!("/v2.0/{kind}/{rid}/tags");
            let (s, v, _) = api
                .call(
                    axum::http::Method::PUT,
                    &format!("{base}/red"),
                    Some(&user),
                    None,
                    &[],
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{kind}: {v}");
            let (s, _, _) = api
                .call(
                    axum::http::Method::PUT,
                    &format!("{base}/red"),
                    Some(&user),
                    None,
                    &[],
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{kind}: again");
            let (s, _) = api.get(&user, &format!("{base}/red")).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{kind}");
            let (s, e) = api.get(&user, &format!("{base}/blue")).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{kind}");
            assert_eq!(err_type(&e), "TagNotFound");
            let (s, v) = api.get(&user, &base).await;
            assert_eq!((s, v), (StatusCode::OK, json!({"tags": ["red"]})), "{kind}");
            let (s, v) = api
                .put(&user, &base, json!({"tags": ["a", "b.c", "d"]}))
                .await;
            assert_eq!(s, StatusCode::OK, "{kind}: {v}");
            let (s, v) = api.post(&user, &base, json!({"tags": ["e", "a"]})).await;
            assert_eq!(s, StatusCode::OK, "{kind}: {v}");
            assert_eq!(v["tags"], json!(["a", "b.c", "d", "e"]));
            let (_, item) = api.get(&user, &format!("/v2.0/{kind}/{rid}")).await;
            let shown = item
                .as_object()
                .and_then(|m| m.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            assert_eq!(
                shown["tags"],
                json!(["a", "b.c", "d", "e"]),
                "{kind}: {item}"
            );
            // Another project cannot see or change them.
            let (s, _) = api.get(&other, &base).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{kind}");
            let (s, _) = api.put(&other, &base, json!({"tags": []})).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{kind}");
            let (s, _) = api.delete(&user, &format!("{base}/d")).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{kind}");
            let (s, _) = api.delete(&user, &format!("{base}/d")).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{kind}");
            let (s, _) = api.delete(&user, &base).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{kind}");
            let (_, v) = api.get(&user, &base).await;
            assert_eq!(v, json!({"tags": []}), "{kind}");
        }
        let base = format!("/v2.0/networks/{net}/tags");
        for bad in [
            json!({"tags": "a"}),
            json!({"tags": ["a", "a"]}),
            json!({"tags": [1]}),
            json!({"nope": []}),
            json!({"tags": ["x".repeat(256)]}),
            json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
        ] {
            let (s, e) = api.put(&user, &base, bad.clone()).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        }
        let (s, _, _) = api
            .call(
                axum::http::Method::PUT,
                &format!("{base}/{}", "x".repeat(256)),
                Some(&user),
                None,
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = api
            .get(
                &user,
                "/v2.0/networks/00000000-0000-4000-8000-000000000000/tags",
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The list filters.
        let mut nets = Vec::new();
        for (i, tags) in [
            vec!["red"],
            vec!["red", "blue"],
            vec!["red", "blue", "green"],
            vec!["green"],
            vec![],
        ]
        .into_iter()
        .enumerate()
        {
            let n = id(&api
                .create(
                    &user,
                    "networks",
                    "network",
                    json!({"name": format!("t{i}")}),
                )
                .await);
            let (s, _) = api
                .put(
                    &user,
                    &format!("/v2.0/networks/{n}/tags"),
                    json!({"tags": tags}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            nets.push(n);
        }
        let names = |v: &Value| -> Vec<String> {
            let mut n: Vec<String> = v["networks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x["name"].as_str())
                .filter(|n| n.starts_with('t'))
                .map(str::to_string)
                .collect();
            n.sort();
            n
        };
        for (q, want) in [
            ("tags=red,blue", vec!["t1", "t2"]),
            ("tags-any=blue,green", vec!["t1", "t2", "t3"]),
            ("not-tags=red,blue", vec!["t0", "t3", "t4"]),
            ("not-tags-any=red,blue", vec!["t3", "t4"]),
        ] {
            let (s, v) = api.get(&user, &format!("/v2.0/networks?{q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}: {v}");
            assert_eq!(names(&v), want, "{q}");
        }

        // Ports take tags at creation, in order.
        let p = api
            .create(
                &user,
                "ports",
                "port",
                json!({"network_id": net, "tags": ["z", "a"]}),
            )
            .await;
        assert_eq!(p["tags"], json!(["z", "a"]));

        let aliases = extension_aliases(&api, &admin).await;
        for a in [
            "standard-attr-tag",
            "tag-creation",
            "tag-ports-during-bulk-creation",
            "subnet_allocation",
        ] {
            assert!(aliases.iter().any(|x| x == a), "{a}");
        }
    }
}
