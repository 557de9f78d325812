//! The schema, portable between SQLite and PostgreSQL. Created if missing; later
//! changes add statements at the end.

use crate::error::StoreError;
use sqlx::AnyPool;

const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL)",
    "INSERT INTO meta (k, v) VALUES ('revision', 0) ON CONFLICT (k) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        name TEXT NOT NULL,
        rev BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id))",
    "CREATE INDEX IF NOT EXISTS resources_parent ON resources (kind, parent_id)",
    "CREATE INDEX IF NOT EXISTS resources_name ON resources (kind, name)",
    "CREATE TABLE IF NOT EXISTS changes (
        rev BIGINT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        op TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS changes_rev ON changes (rev)",
    "CREATE TABLE IF NOT EXISTS ip_allocations (
        subnet_id TEXT NOT NULL,
        ip TEXT NOT NULL,
        port_id TEXT NOT NULL,
        PRIMARY KEY (subnet_id, ip))",
    "CREATE INDEX IF NOT EXISTS ip_allocations_port ON ip_allocations (port_id)",
    "CREATE TABLE IF NOT EXISTS mac_allocations (mac TEXT PRIMARY KEY, port_id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS segment_allocations (
        network_type TEXT NOT NULL,
        physnet TEXT NOT NULL,
        segmentation_id BIGINT NOT NULL,
        network_id TEXT NOT NULL,
        PRIMARY KEY (network_type, physnet, segmentation_id))",
    "CREATE TABLE IF NOT EXISTS unique_names (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        PRIMARY KEY (scope, name))",
    "CREATE TABLE IF NOT EXISTS secrets (user_id TEXT PRIMARY KEY, hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (
        id TEXT PRIMARY KEY,
        expires_unix BIGINT NOT NULL,
        body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS resources_project ON resources (kind, project_id)",
];

pub(crate) async fn migrate(pool: &AnyPool) -> Result<(), StoreError> {
    for stmt in STATEMENTS {
        sqlx::query(*stmt)
            .execute(pool)
            .await
            .map_err(StoreError::from_sqlx)
            .or_else(|e| match e {
                // Two servers creating the schema at once on PostgreSQL.
                StoreError::Conflict(_) => Ok(Default::default()),
                e => Err(e),
            })?;
    }
    Ok(())
}
