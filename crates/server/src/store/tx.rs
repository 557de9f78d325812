//! A write transaction: reads see everything committed before it began, writes are
//! all-or-nothing, and unique-key refusals come back as `StoreError::Conflict`.

use super::{Doc, decode_all};
use crate::error::StoreError;
use sqlx::{Any, AnyPool, Transaction};
use std::sync::Arc;
use tokio::sync::{OwnedMutexGuard, watch};

pub struct Tx {
    pub(super) tx: Transaction<'static, Any>,
    rev: i64,
    committed: Arc<watch::Sender<i64>>,
    /// PostgreSQL: announce the commit on this channel.
    channel: Option<Arc<str>>,
    _writer: OwnedMutexGuard<()>,
}

impl Tx {
    pub(super) async fn begin(
        pool: &AnyPool,
        guard: OwnedMutexGuard<()>,
        committed: Arc<watch::Sender<i64>>,
        channel: Option<Arc<str>>,
    ) -> Result<Tx, StoreError> {
        let mut tx = pool.begin().await?;
        let rev: i64 =
            sqlx::query_scalar("UPDATE meta SET v = v + 1 WHERE k = 'revision' RETURNING v")
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        Ok(Tx {
            tx,
            rev,
            committed,
            channel,
            _writer: guard,
        })
    }

    /// The global revision this transaction writes.
    pub fn revision(&self) -> i64 {
        self.rev
    }

    /// Commits, then tells revision watchers (agents' long polls) about it.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if let Some(ch) = &self.channel {
            // Delivered to the listeners when (and only if) the commit succeeds.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ch.to_string())
                .bind(self.rev.to_string())
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        self.tx.commit().await.map_err(StoreError::from_sqlx)?;
        super::notify::raise(&self.committed, self.rev);
        Ok(())
    }

    pub async fn get<T: Doc>(&mut self, id: &str) -> Result<Option<T>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM resources WHERE kind = $1 AND id = $2")
                .bind(T::KIND)
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await?;
        body.map(|b| serde_json::from_str(&b).map_err(StoreError::from))
            .transpose()
    }

    pub async fn list<T: Doc>(&mut self) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM resources WHERE kind = $1 ORDER BY id")
                .bind(T::KIND)
                .fetch_all(&mut *self.tx)
                .await?;
        decode_all(bodies)
    }

    pub async fn list_by_parent<T: Doc>(&mut self, parent: &str) -> Result<Vec<T>, StoreError> {
        self.list_where(
            "SELECT body FROM resources WHERE kind = $1 AND parent_id = $2 ORDER BY id",
            parent,
        )
        .await
    }

    pub async fn list_by_project<T: Doc>(&mut self, project: &str) -> Result<Vec<T>, StoreError> {
        self.list_where(
            "SELECT body FROM resources WHERE kind = $1 AND project_id = $2 ORDER BY id",
            project,
        )
        .await
    }

    /// How many documents of kind `T` project `project` has (quotas): counted by
    /// the database, nothing decoded.
    pub async fn count_by_project<T: Doc>(&mut self, project: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM resources WHERE kind = $1 AND project_id = $2",
            )
            .bind(T::KIND)
            .bind(project)
            .fetch_one(&mut *self.tx)
            .await?,
        )
    }

    /// The documents of kind `T` a fixed query (`$1` the kind, `$2` the value)
    /// selects.
    async fn list_where<T: Doc>(
        &mut self,
        query: &'static str,
        value: &str,
    ) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(query)
            .bind(T::KIND)
            .bind(value)
            .fetch_all(&mut *self.tx)
            .await?;
        decode_all(bodies)
    }

    pub async fn insert<T: Doc>(&mut self, doc: &T) -> Result<(), StoreError> {
        let body = serde_json::to_string(doc)?;
        sqlx::query(
            "INSERT INTO resources (kind, id, project_id, parent_id, name, rev, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(T::KIND)
        .bind(doc.id())
        .bind(doc.project_id())
        .bind(doc.parent_id())
        .bind(doc.name())
        .bind(self.rev)
        .bind(body)
        .execute(&mut *self.tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.change(T::KIND, doc.id(), "put").await
    }

    pub async fn update<T: Doc>(&mut self, doc: &T) -> Result<(), StoreError> {
        let body = serde_json::to_string(doc)?;
        sqlx::query(
            "UPDATE resources SET project_id = $3, parent_id = $4, name = $5, rev = $6, body = $7
             WHERE kind = $1 AND id = $2",
        )
        .bind(T::KIND)
        .bind(doc.id())
        .bind(doc.project_id())
        .bind(doc.parent_id())
        .bind(doc.name())
        .bind(self.rev)
        .bind(body)
        .execute(&mut *self.tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.change(T::KIND, doc.id(), "put").await
    }

    pub async fn delete<T: Doc>(&mut self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM resources WHERE kind = $1 AND id = $2")
            .bind(T::KIND)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        self.change(T::KIND, id, "delete").await
    }

    async fn change(&mut self, kind: &str, id: &str, op: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO changes (rev, kind, id, op) VALUES ($1, $2, $3, $4)")
            .bind(self.rev)
            .bind(kind)
            .bind(id)
            .bind(op)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("INSERT INTO secrets (user_id, hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn delete_password_hash(&mut self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
