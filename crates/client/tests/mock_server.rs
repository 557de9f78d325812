//! The client against a small in-process mock of Keystone and Neutron: login and
//! the catalog, path joining, query strings, 204s, error bodies, and the one
//! re-login after a 401.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use client::{Auth, Client, ClientError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone)]
struct Mock {
    port: u16,
    logins: Arc<AtomicUsize>,
    /// Whether the catalog lists a network endpoint.
    catalog: bool,
}

async fn issue(State(m): State<Mock>, body: String) -> Response {
    let req: Value = serde_json::from_str(&body).unwrap_or_default();
    let pw = req
        .pointer("/auth/identity/password/user/password")
        .and_then(Value::as_str);
    let project = req
        .pointer("/auth/scope/project/name")
        .and_then(Value::as_str);
    if pw != Some("pw") || project != Some("demo") {
        let body = json!({"error": {"code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let n = m.logins.fetch_add(1, Ordering::SeqCst) + 1;
    let catalog = if m.catalog {
        json!([{"type": "network", "endpoints": [
            {"interface": "internal", "url": "http://internal.invalid/"},
            {"interface": "public", "url": format!("http://127.0.0.1:{}/net/", m.port)}]}])
    } else {
        json!([])
    };
    let body =
        json!({"token": {"user": {"id": "u1"}, "project": {"id": "p1"}, "catalog": catalog}});
    (
        StatusCode::CREATED,
        [("X-Subject-Token", format!("tok-{n}"))],
        axum::Json(body),
    )
        .into_response()
}

fn token(h: &HeaderMap) -> String {
    h.get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Answers 401 to the first token (as if it expired), then echoes the query.
async fn things(headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if token(&headers) == "tok-1" {
        return (StatusCode::UNAUTHORIZED, "expired").into_response();
    }
    axum::Json(json!({"things": [], "query": q, "token": token(&headers)})).into_response()
}

async fn missing() -> Response {
    let body = json!({"NeutronError": {"type": "NetworkNotFound",
        "message": "Network abc could not be found.", "detail": ""}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn start(catalog: bool) -> Mock {
    start_until(catalog, std::future::pending()).await
}

/// [`start`], serving until `stop` completes (then it closes its connections).
async fn start_until(
    catalog: bool,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mock = Mock {
        port,
        logins: Arc::new(AtomicUsize::new(0)),
        catalog,
    };
    let app = Router::new()
        .route("/v3/auth/tokens", post(issue))
        .route(
            "/v3/projects",
            get(|| async { axum::Json(json!({"projects": []})) }),
        )
        .route(
            "/net/v2.0/things",
            get(things).post(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/net/v2.0/missing", get(missing))
        .route(
            "/v2.0/root",
            get(|| async { axum::Json(json!({"root": true})) }),
        )
        .route(
            "/net/v2.0/things/1",
            axum::routing::delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/v2.0/whoami",
            get(move || async move { axum::Json(json!({"port": port})) }),
        )
        .with_state(mock.clone());
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
            .unwrap()
    });
    mock
}

fn auth(port: u16, password: &str, suffix: &str) -> Auth {
    Auth {
        auth_url: format!("http://127.0.0.1:{port}{suffix}"),
        username: "demo".into(),
        password: password.into(),
        project_name: "demo".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    }
}

#[tokio::test]
async fn login_catalog_relogin_and_errors() {
    let m = start(true).await;
    let c = Client::login(auth(m.port, "pw", "/v3/")).await.unwrap();
    assert_eq!(c.identity_url(), format!("http://127.0.0.1:{}/v3", m.port));
    assert_eq!(c.network_url(), format!("http://127.0.0.1:{}/net", m.port));
    assert_eq!(c.project_id(), "p1");
    assert_eq!(m.logins.load(Ordering::SeqCst), 1);

    // tok-1 is refused once: the client logs in again and retries.
    let v = c
        .get("/v2.0/things", &[("name", "a b"), ("name", "c&d")])
        .await
        .unwrap();
    assert_eq!(v["token"], "tok-2");
    assert_eq!(v["query"], "name=a+b&name=c%26d");
    assert_eq!(m.logins.load(Ordering::SeqCst), 2);
    // A clone shares the new token.
    let v = c.clone().get("v2.0/things", &[]).await.unwrap();
    assert_eq!(v["token"], "tok-2");
    assert_eq!(v["query"], Value::Null);

    // 204 -> Null; delete -> ().
    assert_eq!(
        c.post("/v2.0/things", &json!({})).await.unwrap(),
        Value::Null
    );
    c.delete("/v2.0/things/1").await.unwrap();

    // /v3 goes to the identity root; absolute URLs as given.
    assert_eq!(
        c.get("/v3/projects", &[]).await.unwrap(),
        json!({"projects": []})
    );
    let abs = format!("http://127.0.0.1:{}/v2.0/root", m.port);
    assert_eq!(c.get(&abs, &[]).await.unwrap(), json!({"root": true}));

    // Neutron errors.
    let e = c.get("/v2.0/missing", &[]).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "404 NetworkNotFound: Network abc could not be found."
    );
    assert_eq!(e.status(), Some(404));
    // Non-JSON 404 from the router.
    let e = c.get("/v2.0/nothing-here", &[]).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn no_catalog_entry_falls_back_to_the_root() {
    let m = start(false).await;
    let c = Client::login(auth(m.port, "pw", "")).await.unwrap();
    assert_eq!(c.network_url(), format!("http://127.0.0.1:{}", m.port));
    assert_eq!(
        c.get("/v2.0/root", &[]).await.unwrap(),
        json!({"root": true})
    );
}

#[tokio::test]
async fn bad_password_is_an_auth_error() {
    let m = start(true).await;
    let e = Client::login(auth(m.port, "nope", "/v3"))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(!e.to_string().contains('\n'));
}

/// Several servers in `auth_url`: the client logs in at the first that answers,
/// and when the one in use goes away, a request moves to the next and succeeds.
#[tokio::test]
async fn moves_to_the_next_server_when_one_goes_away() {
    let (stop1, stopped1) = tokio::sync::oneshot::channel::<()>();
    let m1 = start_until(false, async move {
        let _ = stopped1.await;
    })
    .await;
    let m2 = start(false).await;
    // A port nothing listens on first: skipped at login.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let mut a = auth(m1.port, "pw", "");
    a.auth_url = format!(
        "http://127.0.0.1:{dead_port},http://127.0.0.1:{},http://127.0.0.1:{}",
        m1.port, m2.port
    );
    let c = Client::login(a).await.unwrap();
    let who = |v: Value| v["port"].as_u64().unwrap_or(0) as u16;
    assert_eq!(who(c.get("/v2.0/whoami", &[]).await.unwrap()), m1.port);
    let _ = stop1.send(());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(who(c.get("/v2.0/whoami", &[]).await.unwrap()), m2.port);
    assert_eq!(c.network_url(), format!("http://127.0.0.1:{}", m2.port));
    assert_eq!(
        m2.logins.load(Ordering::SeqCst),
        1,
        "logged in at the new server"
    );
    // A bad password is refused at once, not tried elsewhere.
    let mut bad = auth(m2.port, "nope", "");
    bad.auth_url = format!("http://127.0.0.1:{},http://127.0.0.1:{dead_port}", m2.port);
    assert!(matches!(
        Client::login(bad).await,
        Err(ClientError::Auth(_))
    ));
}
