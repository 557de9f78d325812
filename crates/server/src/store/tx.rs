//! A write transaction: reads see everything committed before it began, writes are
//! all-or-nothing, and unique-key refusals come back as `StoreError::Conflict`.

use super::{Doc, decode_all};
use crate::error::StoreError;
use sqlx::{Any, AnyPool, Transaction};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{OwnedMutexGuard, watch};

pub struct Tx {
    tx: Transaction<'static, Any>,
    rev: i64,
    committed: Arc<watch::Sender<i64>>,
    _writer: OwnedMutexGuard<()>,
}

impl Tx {
    pub(super) async fn begin(
        pool: &AnyPool,
        guard: OwnedMutexGuard<()>,
        committed: Arc<watch::Sender<i64>>,
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
            _writer: guard,
        })
    }

    /// The global revision this transaction writes.
    pub fn revision(&self) -> i64 {
        self.rev
    }

    /// Commits, then tells revision watchers (agents' long polls) about it.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(StoreError::from_sqlx)?;
        let rev = self.rev;
        self.committed.send_if_modified(|v| {
            if rev > *v {
                *v = rev;
                true
            } else {
                false
            }
        });
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
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM resources WHERE kind = $1 AND parent_id = $2 ORDER BY id",
        )
        .bind(T::KIND)
        .bind(parent)
        .fetch_all(&mut *self.tx)
        .await?;
        decode_all(bodies)
    }

    pub async fn list_by_project<T: Doc>(&mut self, project: &str) -> Result<Vec<T>, StoreError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM resources WHERE kind = $1 AND project_id = $2 ORDER BY id",
        )
        .bind(T::KIND)
        .bind(project)
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

    /// The IPs taken on a subnet.
    pub async fn allocated_ips(&mut self, subnet_id: &str) -> Result<HashSet<String>, StoreError> {
        let ips: Vec<String> =
            sqlx::query_scalar("SELECT ip FROM ip_allocations WHERE subnet_id = $1")
                .bind(subnet_id)
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(ips.into_iter().collect())
    }

    /// Takes `ip` on `subnet_id` for `port_id`; `Conflict` if it is taken.
    pub async fn claim_ip(
        &mut self,
        subnet_id: &str,
        ip: &str,
        port_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO ip_allocations (subnet_id, ip, port_id) VALUES ($1, $2, $3)")
            .bind(subnet_id)
            .bind(ip)
            .bind(port_id)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn ip_owner(
        &mut self,
        subnet_id: &str,
        ip: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT port_id FROM ip_allocations WHERE subnet_id = $1 AND ip = $2",
        )
        .bind(subnet_id)
        .bind(ip)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    pub async fn release_ip(&mut self, subnet_id: &str, ip: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM ip_allocations WHERE subnet_id = $1 AND ip = $2")
            .bind(subnet_id)
            .bind(ip)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn release_port_ips(&mut self, port_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1")
            .bind(port_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn mac_taken(&mut self, mac: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mac_allocations WHERE mac = $1")
            .bind(mac)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(n > 0)
    }

    pub async fn claim_mac(&mut self, mac: &str, port_id: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO mac_allocations (mac, port_id) VALUES ($1, $2)")
            .bind(mac)
            .bind(port_id)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn release_mac(&mut self, mac: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mac_allocations WHERE mac = $1")
            .bind(mac)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Segmentation ids taken for a type (and physical network, `""` for tunnels).
    pub async fn segments_used(
        &mut self,
        network_type: &str,
        physnet: &str,
    ) -> Result<HashSet<u32>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT segmentation_id FROM segment_allocations WHERE network_type = $1 AND physnet = $2",
        )
        .bind(network_type)
        .bind(physnet)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(ids
            .into_iter()
            .filter_map(|i| u32::try_from(i).ok())
            .collect())
    }

    pub async fn claim_segment(
        &mut self,
        network_type: &str,
        physnet: &str,
        segmentation_id: u32,
        network_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO segment_allocations (network_type, physnet, segmentation_id, network_id)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(network_type)
        .bind(physnet)
        .bind(i64::from(segmentation_id))
        .bind(network_id)
        .execute(&mut *self.tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn release_segments(&mut self, network_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM segment_allocations WHERE network_id = $1")
            .bind(network_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Reserves `name` in `scope` (e.g. a project name in a domain) for `owner`.
    pub async fn claim_name(
        &mut self,
        scope: &str,
        name: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO unique_names (scope, name, owner_id) VALUES ($1, $2, $3)")
            .bind(scope)
            .bind(name)
            .bind(owner)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn name_owner(
        &mut self,
        scope: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT owner_id FROM unique_names WHERE scope = $1 AND name = $2")
                .bind(scope)
                .bind(name)
                .fetch_optional(&mut *self.tx)
                .await?,
        )
    }

    pub async fn release_names(&mut self, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM unique_names WHERE owner_id = $1")
            .bind(owner)
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
