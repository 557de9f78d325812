//! Commits seen across servers: on PostgreSQL every write transaction sends
//! `pg_notify(CHANNEL, revision)` as it commits, and each server listens on the
//! channel (one connection, `LISTEN`), so a server learns of another's commit as
//! it happens instead of re-reading the revision. The channel is named after the
//! schema, so servers on other schemas of one database do not wake each other.
//! After a lost connection the listener reconnects and reads the revision once
//! (notifications sent meanwhile are gone).

use sqlx::AnyPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The channel of the schema `search_path` puts first.
pub(super) async fn channel(pool: &AnyPool) -> Result<String, sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(pool)
        .await?;
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(50)
        .collect();
    Ok(format!("neutrino_{clean}"))
}

/// Raises `committed` to `rev` (never lowers it).
pub(super) fn raise(committed: &watch::Sender<i64>, rev: i64) {
    committed.send_if_modified(|v| {
        if rev > *v {
            *v = rev;
            true
        } else {
            false
        }
    });
}

/// Aborts the listener when the last handle on the store goes.
pub(super) struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the listener task for `url` on `channel`.
pub(super) fn listen(
    url: String,
    channel: String,
    pool: AnyPool,
    committed: Arc<watch::Sender<i64>>,
) -> Listening {
    Listening(tokio::spawn(async move {
        loop {
            match run(&url, &channel, &pool, &committed).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("listening for other servers' commits: {e}; again in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }))
}

async fn run(
    url: &str,
    channel: &str,
    pool: &AnyPool,
    committed: &watch::Sender<i64>,
) -> Result<(), sqlx::Error> {
    let mut l = PgListener::connect(url).await?;
    l.listen(channel).await?;
    // Whatever was committed before the LISTEN took effect.
    catch_up(pool, committed).await?;
    loop {
        match l.try_recv().await? {
            Some(n) => {
                if let Ok(rev) = n.payload().parse::<i64>() {
                    raise(committed, rev);
                }
            }
            // Reconnected: what was sent meanwhile is lost; read the revision.
            None => catch_up(pool, committed).await?,
        }
    }
}

async fn catch_up(pool: &AnyPool, committed: &watch::Sender<i64>) -> Result<(), sqlx::Error> {
    let rev: i64 = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'revision'")
        .fetch_one(pool)
        .await?;
    raise(committed, rev);
    Ok(())
}
