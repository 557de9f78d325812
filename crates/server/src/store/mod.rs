//! The store: one SQL schema that runs on SQLite (WAL, the embedded default) and on
//! PostgreSQL, through sqlx's `AnyPool`.
//!
//! Resources are JSON documents in one table (`resources`, keyed by kind and id, with
//! the columns the server looks up by: project, parent, name). Everything that must
//! never be handed out twice — IP addresses, MAC addresses, segmentation ids, unique
//! names — has its own table with a primary key, so the database refuses a double
//! allocation even if two servers share it. Every write transaction first bumps the
//! global revision in `meta`; that row lock serialises writers (across servers on
//! PostgreSQL, and SQLite has a single writer anyway), so a request sees everything
//! committed before it.

mod alloc;
mod notify;
mod schema;
mod tx;

pub use alloc::{IPS, Key, MACS, NAMES, SEGMENTS, Table};
pub use tx::Tx;

use crate::error::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// A stored document type.
pub trait Doc: Serialize + DeserializeOwned {
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn project_id(&self) -> &str {
        ""
    }
    /// The resource this one hangs off (a subnet's or port's network, a rule's
    /// group), for lookups by parent.
    fn parent_id(&self) -> &str {
        ""
    }
    fn name(&self) -> &str {
        ""
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// In-process writer lock: writers queue here instead of polling SQLite's busy
    /// handler. Across processes, the `meta` row lock does the same job.
    writer: Arc<Mutex<()>>,
    /// The newest revision this process knows committed (its own commits, and on
    /// PostgreSQL every server's through `LISTEN`), for long polls.
    committed: Arc<watch::Sender<i64>>,
    backend: Backend,
    /// PostgreSQL: the channel commits are announced on, and the listener.
    channel: Option<Arc<str>>,
    _listening: Option<Arc<notify::Listening>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens (and creates or migrates) the store at `url`: `sqlite://PATH` or
    /// `postgres://…`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        schema::migrate(&pool).await?;
        let start: i64 = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'revision'")
            .fetch_one(&pool)
            .await?;
        let committed = Arc::new(watch::Sender::new(start));
        let (channel, listening) = match backend {
            Backend::Postgres => {
                let ch = notify::channel(&pool).await?;
                let l =
                    notify::listen(url.to_string(), ch.clone(), pool.clone(), committed.clone());
                (Some(Arc::from(ch)), Some(Arc::new(l)))
            }
            Backend::Sqlite => (None, None),
        };
        Ok(Store {
            pool,
            writer: Arc::new(Mutex::new(())),
            committed,
            backend,
            channel,
            _listening: listening,
        })
    }

    /// The SQLite URL of the default store in `state_dir`.
    pub fn sqlite_url(state_dir: &std::path::Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            state_dir.join("neutrino.db").display()
        )
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction; the global revision is bumped at once.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        let guard = self.writer.clone().lock_owned().await;
        Tx::begin(
            &self.pool,
            guard,
            self.committed.clone(),
            self.channel.clone(),
        )
        .await
    }

    /// Waits until a revision above `since` is committed (by this server, or by
    /// another on the same PostgreSQL store), or `timeout` passes.
    pub async fn wait_for_commit(&self, since: i64, timeout: Duration) {
        let mut rx = self.committed.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|v| *v > since)).await;
    }

    /// The newest revision known committed, without a query.
    pub fn committed(&self) -> i64 {
        *self.committed.borrow()
    }

    /// A receiver that sees every newer committed revision.
    pub fn commits(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// The (kind, id) of every resource changed after revision `since`, with the
    /// newest revision among them.
    pub async fn changes_since(
        &self,
        since: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT rev, kind, id FROM changes WHERE rev > $1 ORDER BY rev")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    /// The stored body of one resource (`None`: deleted).
    pub async fn body(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT body FROM resources WHERE kind = $1 AND id = $2")
                .bind(kind)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The global revision (bumped by every write).
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'revision'")
            .fetch_one(&self.pool)
            .await?;
        Ok(v)
    }

    pub async fn get<T: Doc>(&self, id: &str) -> Result<Option<T>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM resources WHERE kind = $1 AND id = $2")
                .bind(T::KIND)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        body.map(|b| serde_json::from_str(&b).map_err(StoreError::from))
            .transpose()
    }

    pub async fn list<T: Doc>(&self) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM resources WHERE kind = $1 ORDER BY id")
                .bind(T::KIND)
                .fetch_all(&self.pool)
                .await?;
        decode_all(bodies)
    }

    pub async fn list_by_parent<T: Doc>(&self, parent: &str) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM resources WHERE kind = $1 AND parent_id = $2 ORDER BY id",
        )
        .bind(T::KIND)
        .bind(parent)
        .fetch_all(&self.pool)
        .await?;
        decode_all(bodies)
    }

    pub async fn find_by_name<T: Doc>(&self, name: &str) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM resources WHERE kind = $1 AND name = $2 ORDER BY id",
        )
        .bind(T::KIND)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        decode_all(bodies)
    }

    pub async fn password_hash(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM secrets WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn token(&self, id: &str) -> Result<Option<model::Token>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM tokens WHERE id = $1")
            .bind(token_digest(id))
            .fetch_optional(&self.pool)
            .await?;
        body.map(|b| serde_json::from_str(&b).map_err(StoreError::from))
            .transpose()
    }

    /// Stores an issued token (and drops expired ones). Tokens are not resources:
    /// they do not bump the revision.
    pub async fn put_token(&self, id: &str, token: &model::Token) -> Result<(), StoreError> {
        let body = serde_json::to_string(token)?;
        sqlx::query("DELETE FROM tokens WHERE expires_unix < $1")
            .bind(token.expires_unix - 7 * 24 * 3600)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO tokens (id, expires_unix, body) VALUES ($1, $2, $3)")
            .bind(token_digest(id))
            .bind(token.expires_unix)
            .bind(body)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(token_digest(id))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

/// What the tokens table keeps of a token id: its SHA-256, hex. A copy of the
/// database (a backup, a stolen file) holds no token anyone could present.
fn token_digest(id: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn decode_all<T: DeserializeOwned>(bodies: Vec<String>) -> Result<Vec<T>, StoreError> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(StoreError::from))
        .collect()
}
