//! In-process test harness: a server state on a fresh SQLite file or a fresh
//! PostgreSQL schema, requests through `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::{AppState, Config};
use std::path::PathBuf;
use tower::ServiceExt;

pub const ADMIN_PW: &str = "admin-secret";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// SQLite always; PostgreSQL when NEUTRINO_TEST_PG_URL is set. In CI (CI=true) a
/// missing NEUTRINO_TEST_PG_URL is a failure, not a skip.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var("NEUTRINO_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => v.push(Backend::Postgres(url)),
        _ => {
            if std::env::var("CI").is_ok_and(|c| c == "true") {
                panic!(
                    "CI=true but NEUTRINO_TEST_PG_URL is not set: the PostgreSQL tests must run in CI (scripts/postgres-test-db.sh)"
                );
            }
            eprintln!("note: NEUTRINO_TEST_PG_URL unset, PostgreSQL tests skipped");
        }
    }
    v
}

pub struct Api {
    pub state: AppState,
    pub router: axum::Router,
    pub config: Config,
    dir: PathBuf,
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn pg_schema_url(base: &str) -> String {
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", unique());
    let pool = sqlx::AnyPool::connect(base)
        .await
        .expect("connect to NEUTRINO_TEST_PG_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .expect("create test schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

impl Api {
    pub async fn new(backend: &Backend) -> Api {
        Self::with(backend, |_| {}).await
    }

    pub async fn with(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> Api {
        let dir = std::env::temp_dir().join(format!("neutrino-test-{}", unique()));
        let mut config = Config::new("127.0.0.1:0".parse().expect("addr"), dir.clone());
        config.admin_password = Some(ADMIN_PW.into());
        if let Backend::Postgres(base) = backend {
            config.database_url = Some(pg_schema_url(base).await);
        }
        tweak(&mut config);
        let (state, generated) = AppState::open(config.clone()).await.expect("open state");
        assert!(generated.is_none());
        let router = server::router(state.clone());
        Api {
            state,
            router,
            config,
            dir,
        }
    }

    /// A second server on the same store (with PostgreSQL, the same schema).
    pub async fn second_server(&self) -> Api {
        let (state, _) = AppState::open(self.config.clone())
            .await
            .expect("second server");
        Api {
            router: server::router(state.clone()),
            state,
            config: self.config.clone(),
            dir: std::env::temp_dir().join(format!("neutrino-test-{}", unique())),
        }
    }

    /// Closes the store and opens it again, as a restarted server would.
    pub async fn restart(&mut self) {
        self.state.store.close().await;
        let (state, generated) = AppState::open(self.config.clone())
            .await
            .expect("reopen state");
        assert!(generated.is_none(), "no second bootstrap");
        self.router = server::router(state.clone());
        self.state = state;
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "neutrino.test:9696");
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v, headers)
    }

    pub async fn get(&self, t: &str, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, path, Some(t), None, &[]).await;
        (s, v)
    }
    pub async fn post(&self, t: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(Method::POST, path, Some(t), Some(body), &[])
            .await;
        (s, v)
    }
    pub async fn put(&self, t: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::PUT, path, Some(t), Some(body), &[]).await;
        (s, v)
    }
    pub async fn delete(&self, t: &str, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::DELETE, path, Some(t), None, &[]).await;
        (s, v)
    }

    /// Creates and returns a resource (asserting 201).
    pub async fn create(&self, t: &str, collection: &str, key: &str, attrs: Value) -> Value {
        let (s, v) = self
            .post(t, &format!("/v2.0/{collection}"), json!({ key: attrs }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "create {collection}: {v}");
        v[key].clone()
    }

    pub async fn token_for(
        &self,
        user: &str,
        pw: &str,
        project: &str,
    ) -> (StatusCode, Option<String>, Value) {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": pw}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let (s, v, h) = self
            .call(Method::POST, "/v3/auth/tokens", None, Some(body), &[])
            .await;
        let tok = h
            .get("x-subject-token")
            .and_then(|x| x.to_str().ok())
            .map(String::from);
        (s, tok, v)
    }

    pub async fn admin(&self) -> String {
        let (s, t, v) = self.token_for("admin", ADMIN_PW, "admin").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        t.expect("admin token")
    }

    /// Creates project NAME and user NAME-user with `role` on it; returns its token.
    pub async fn tenant(&self, admin: &str, name: &str, role: &str) -> String {
        let (s, p) = self
            .post(admin, "/v3/projects", json!({"project": {"name": name}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["project"]["id"].as_str().expect("project id").to_string();
        let user = format!("{name}-user");
        let (s, u) = self
            .post(
                admin,
                "/v3/users",
                json!({"user": {"name": user, "password": "password", "default_project_id": pid}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let uid = u["user"]["id"].as_str().expect("user id").to_string();
        let (_, roles) = self.get(admin, &format!("/v3/roles?name={role}")).await;
        let rid = roles["roles"][0]["id"]
            .as_str()
            .expect("role id")
            .to_string();
        let (s, _, _) = self
            .call(
                Method::PUT,
                &format!("/v3/projects/{pid}/users/{uid}/roles/{rid}"),
                Some(admin),
                None,
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, t, v) = self.token_for(&user, "password", name).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        t.expect("tenant token")
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

pub fn err_type(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("<none>")
}

/// The Ext-Net/Ext-Subnet of the seeds, created by admin.
pub async fn external_net(api: &Api, admin: &str) -> (String, String) {
    let n = api
        .create(
            admin,
            "networks",
            "network",
            json!({"name": "Ext-Net", "router:external": true,
            "provider:network_type": "vxlan", "provider:segmentation_id": 1}),
        )
        .await;
    let s = api
        .create(
            admin,
            "subnets",
            "subnet",
            json!({"name": "Ext-Subnet", "network_id": id(&n),
            "cidr": "10.1.101.0/24", "gateway_ip": "10.1.101.254", "enable_dhcp": false,
            "allocation_pools": [{"start": "10.1.101.240", "end": "10.1.101.252"}]}),
        )
        .await;
    (id(&n), id(&s))
}

/// A request on a router clone, for calls that run in their own task (long polls).
pub async fn call_router(
    router: &axum::Router,
    token: &str,
    method: &str,
    path: &str,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "neutrino.test:9696")
        .header("x-auth-token", token)
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

/// An agent's registration report: an Open vSwitch agent with a tunnel IP, or an
/// L3 agent (`ip` None).
pub fn agent_report(host: &str, ip: Option<&str>) -> Value {
    let (kind, binary) = match ip {
        Some(_) => ("Open vSwitch agent", "neutrino-agent"),
        None => ("L3 agent", "neutrino-l3-agent"),
    };
    json!({"host": host, "agent_type": kind, "binary": binary,
        "tunneling_ip": ip, "tunnel_types": ["vxlan"], "bridge_mappings": {},
        "roles": [if ip.is_some() && host != "network" { "compute" } else { "network" }],
        "report_interval_secs": 30})
}

/// Registers (or heartbeats) an agent; returns its id.
pub async fn register_agent(api: &Api, admin: &str, host: &str, ip: Option<&str>) -> String {
    let (s, v) = api
        .post(admin, "/agent-api/v1/agents", agent_report(host, ip))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["agent"]["id"].as_str().expect("agent id").to_string()
}

/// Makes agent `id` look dead: its last heartbeat long ago.
pub async fn kill_agent(api: &Api, id: &str) {
    let mut tx = api.state.store.write().await.expect("tx");
    let mut a: model::Agent = tx.get(id).await.expect("get").expect("agent");
    a.heartbeat_timestamp = "2000-01-01 00:00:00".into();
    tx.update(&a).await.expect("update");
    tx.commit().await.expect("commit");
}

impl Api {
    /// A request whose raw response body is returned (to tell `null` from empty).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "neutrino.test:9696")
            .header("x-auth-token", token)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A tenant network with a subnet; returns (network, subnet) ids.
pub async fn tenant_net(api: &Api, user: &str, name: &str, cidr: &str) -> (String, String) {
    let n = api
        .create(user, "networks", "network", json!({"name": name}))
        .await;
    let s = api
        .create(
            user,
            "subnets",
            "subnet",
            json!({"network_id": id(&n), "cidr": cidr}),
        )
        .await;
    (id(&n), id(&s))
}

pub async fn add_interface(api: &Api, user: &str, router: &str, subnet: &str) -> String {
    let (s, v) = api
        .put(
            user,
            &format!("/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": subnet}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["port_id"].as_str().expect("port id").to_string()
}

/// A router of `t`'s with its gateway on `ext`.
pub async fn gateway_router(api: &Api, t: &str, name: &str, ext: &str) -> Value {
    api.create(
        t,
        "routers",
        "router",
        json!({"name": name, "external_gateway_info": {"network_id": ext}}),
    )
    .await
}

/// The aliases `GET /v2.0/extensions` lists.
pub async fn extension_aliases(api: &Api, t: &str) -> Vec<String> {
    let (_, v) = api.get(t, "/v2.0/extensions").await;
    v["extensions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["alias"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
