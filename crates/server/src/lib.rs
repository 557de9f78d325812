//! `server`: the control plane's API process — the Neutron v2.0 network API
//! (networks, subnets, ports, routers, floating IPs, security groups, agents,
//! extensions) and a Keystone v3 identity subset (`/v3`) on one axum listener, the
//! store (sqlx: SQLite in the state dir by default, PostgreSQL by URL), and the
//! allocators (IPAM, MAC addresses, segmentation ids). The routes of both APIs
//! are one described table (`apidoc`), served as `/openapi.json` too.
//!
//! This room owns policy (who may see and change what) and the store. It must not
//! touch the datapath: no switch, switchd or host crates, no netlink, no namespaces;
//! agents read desired state from here and do the plumbing themselves.

pub mod agent_api;
pub mod api;
pub mod apidoc;
pub mod cli;
pub mod config;
mod conn_errors;
mod docs;
pub mod error;
pub mod identity;
pub mod ipam;
pub mod l3;
pub mod query;
pub mod rbac;
pub mod segments;
pub mod store;
pub mod subnet_alloc;
mod ui;
mod util;

pub use config::Config;
pub use docs::{RouterBinding, StoredAssignment};
pub use error::{ApiError, StoreError};
pub use store::Store;

use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Tokens found still good, with the store revision they were checked at
    /// (see `identity::context::still_valid`).
    pub(crate) checked_tokens: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// Failed logins per user name and per source (see `identity::lockout`).
    pub(crate) lockout: Arc<identity::lockout::Lockout>,
    /// RBAC policies as of a store revision (see `rbac`).
    pub(crate) rbac: Arc<rbac::PolicyCache>,
    /// The hosts' views, kept from the change log (see `agent_api::cache`).
    pub views: Arc<agent_api::cache::ViewCache>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    #[error("{0}")]
    Config(String),
}

impl AppState {
    /// Opens the store named by the config (creating the state dir for SQLite),
    /// bootstraps identity on first start, and returns the state with the admin
    /// password if one was generated (to be shown once).
    pub async fn open(config: Config) -> Result<(AppState, Option<String>), ServerError> {
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => {
                private_files(&config.state_dir)?;
                Store::sqlite_url(&config.state_dir)
            }
        };
        let store = Store::open(&url).await?;
        let state = AppState {
            store,
            config: Arc::new(config),
            checked_tokens: Arc::default(),
            lockout: Arc::default(),
            rbac: Arc::default(),
            views: Arc::default(),
        };
        agent_api::cache::follow(&state.views, state.store.clone());
        let generated = identity::bootstrap::bootstrap(&state).await?;
        {
            let mut tx = state.store.write().await?;
            let made = api::rbac_policies::migrate(&mut tx).await.map_err(|e| {
                ServerError::Config(format!("RBAC policies for shared objects: {e}"))
            })?;
            tx.commit().await?;
            if made > 0 {
                tracing::info!(
                    made,
                    "wildcard RBAC policies made for shared and external objects"
                );
            }
        }
        if !state.config.quota_defaults.is_empty() {
            let mut tx = state.store.write().await?;
            api::quotas::store_defaults(&mut tx, &state.config.quota_defaults)
                .await
                .map_err(|e| ServerError::Config(format!("storing the default quotas: {e}")))?;
            tx.commit().await?;
        }
        Ok((state, generated))
    }
}

/// The state dir, mode 0700, and the SQLite database in it, mode 0600 (made
/// empty when new: SQLite gives its WAL and shared-memory files the database's
/// mode). It holds password hashes and tokens' digests: no one else reads it.
fn private_files(dir: &std::path::Path) -> Result<(), ServerError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |what: &str, p: &std::path::Path| {
        let w = format!("{what} {}", p.display());
        move |e| ServerError::Io(w, e)
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("setting the mode of", dir))?;
    let db = dir.join("neutrino.db");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&db)
        .map_err(io("creating", &db))?;
    for f in ["neutrino.db", "neutrino.db-wal", "neutrino.db-shm"] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(io("setting the mode of", &p))?;
        }
    }
    Ok(())
}

/// The whole HTTP API: identity at `/v3`, the network API at `/` and `/v2.0/…`.
/// Every error answer is a JSON error body (see [`error_bodies`]).
pub fn router(state: AppState) -> axum::Router {
    let table = api_table();
    let doc: Arc<str> = serde_json::to_string(&apidoc::document(&table))
        .unwrap_or_default()
        .into();
    axum::Router::new()
        .merge(apidoc::router(table))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc.to_string(),
                )
            }),
        )
        .merge(agent_api::routes())
        .merge(ui::routes())
        .fallback(api::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(error_bodies))
}

/// Every route of the identity and network APIs, described.
pub fn api_table() -> Vec<apidoc::Route> {
    let mut t = identity::table();
    t.extend(api::table());
    t
}

/// The OpenAPI document of [`api_table`], as `/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    apidoc::document(&api_table())
}

/// Errors that axum and hyper answer on their own (405 for a method a path does
/// not take, 413 for a body over the limit, 400/415/422 for a body the JSON
/// extractor refuses) come as plain text: they are re-answered as Neutron's error
/// body (Keystone's under `/v3`), with the same status and the text as message.
async fn error_bodies(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    let keystone = req.uri().path().starts_with("/v3");
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return resp;
    }
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    // Neutron and Keystone answer a body they cannot take with 400.
    let status = if status == axum::http::StatusCode::UNPROCESSABLE_ENTITY {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        status
    };
    let err = if keystone {
        error::ApiError::keystone(status, message)
    } else {
        error::ApiError::new(status, conn_errors::neutron_kind(status.as_u16()), message)
    };
    let mut out = err.into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, a);
    }
    out
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    let listen = config.listen;
    let (state, generated) = AppState::open(config).await?;
    if let Some(pw) = generated {
        println!("neutrino server: generated admin password (shown once): {pw}");
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::Io(format!("binding {listen}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Io("local address".into(), e))?;
    tracing::info!(%local, backend = ?state.store.backend(), "neutrino server listening");
    let store = state.store.clone();
    serve_connections(
        listener,
        router(state),
        Limits::default(),
        shutdown_signal(),
    )
    .await;
    store.close().await;
    Ok(())
}

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; past it, new ones are closed at once (a
    /// client holding thousands open starves no one of descriptors).
    pub max_connections: usize,
    /// A request's headers must arrive within this (else the connection closes).
    pub header_timeout: std::time::Duration,
    /// A connection lives at most this long (clients reconnect; a long poll of
    /// the agents' API is 30 s).
    pub lifetime: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            header_timeout: std::time::Duration::from_secs(10),
            lifetime: std::time::Duration::from_secs(600),
        }
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes: each connection
/// with its peer address (for the login lockout), within `limits`.
pub async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections: closed");
            drop(stream);
            continue;
        };
        let app = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(conn_errors::ErrorBodies::new(stream)),
                    service,
                )
                .with_upgrades();
            match tokio::time::timeout(limits.lifetime, conn).await {
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "connection"),
                Err(_) => tracing::debug!(%peer, "connection reached its lifetime"),
                Ok(Ok(())) => {}
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot wait for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot wait for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
