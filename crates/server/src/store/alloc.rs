//! The allocation tables: what must never be handed out twice — IP addresses (per
//! subnet), MAC addresses, segmentation ids (per network type and physical
//! network) and unique names (per scope). They differ only in their columns, so
//! one [`Table`] describes each and one set of [`Tx`] methods claims, looks up and
//! releases in all four. Each table's primary key is its scope columns plus the
//! key, so the database itself refuses a second claim (`StoreError::Conflict`),
//! even between servers sharing it.

use super::Tx;
use crate::error::StoreError;
use sqlx::{Any, AssertSqlSafe, Decode, Encode, Type};
use std::collections::HashSet;
use std::hash::Hash;
use std::marker::PhantomData;

/// What a table's keys can be: text (addresses, names) or an integer
/// (segmentation ids), as the column stores it.
pub trait Key:
    for<'q> Encode<'q, Any> + for<'r> Decode<'r, Any> + Type<Any> + Eq + Hash + Send + Unpin
{
}

impl Key for String {}
impl Key for i64 {}

/// One allocation table: `S` columns that scope a key (none for MACs, which are
/// unique everywhere), the key column of type `K`, and the column naming who holds
/// it.
pub struct Table<const S: usize, K> {
    name: &'static str,
    scope: [&'static str; S],
    key: &'static str,
    owner: &'static str,
    key_type: PhantomData<fn() -> K>,
}

/// IP addresses, scoped by subnet, held by ports.
pub const IPS: Table<1, String> = Table::new("ip_allocations", ["subnet_id"], "ip", "port_id");

/// MAC addresses, held by ports.
pub const MACS: Table<0, String> = Table::new("mac_allocations", [], "mac", "port_id");

/// Segmentation ids, scoped by network type and physical network (`""` for
/// tunnels), held by networks.
pub const SEGMENTS: Table<2, i64> = Table::new(
    "segment_allocations",
    ["network_type", "physnet"],
    "segmentation_id",
    "network_id",
);

/// Unique names, scoped by what they name (e.g. projects of a domain), held by the
/// resource that bears the name.
pub const NAMES: Table<1, String> = Table::new("unique_names", ["scope"], "name", "owner_id");

impl<const S: usize, K> Table<S, K> {
    const fn new(
        name: &'static str,
        scope: [&'static str; S],
        key: &'static str,
        owner: &'static str,
    ) -> Self {
        Table {
            name,
            scope,
            key,
            owner,
            key_type: PhantomData,
        }
    }

    /// `WHERE` on the scope columns (`$1`…`$S`), and on the key (`$S+1`) when
    /// `with_key`; empty when there is nothing to match.
    fn filter(&self, with_key: bool) -> String {
        let mut cols: Vec<&str> = self.scope.to_vec();
        if with_key {
            cols.push(self.key);
        }
        if cols.is_empty() {
            return String::new();
        }
        let terms: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect();
        format!(" WHERE {}", terms.join(" AND "))
    }
}

// The SQL below is put together from the table and column names of the four
// constants above, never from input; input only ever goes in as bound parameters.
impl Tx {
    /// Takes `key` in `scope` for `owner`; `Conflict` if it is already taken.
    pub async fn claim<const S: usize, K: Key>(
        &mut self,
        table: &Table<S, K>,
        scope: [&str; S],
        key: impl Into<K>,
        owner: &str,
    ) -> Result<(), StoreError> {
        let cols: Vec<&str> = table
            .scope
            .iter()
            .copied()
            .chain([table.key, table.owner])
            .collect();
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            cols.join(", "),
            params.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in scope {
            q = q.bind(s);
        }
        q.bind(key.into())
            .bind(owner)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Who holds `key` in `scope`, if anyone.
    pub async fn owner<const S: usize, K: Key>(
        &mut self,
        table: &Table<S, K>,
        scope: [&str; S],
        key: impl Into<K>,
    ) -> Result<Option<String>, StoreError> {
        let owners = self.select(table, table.owner, scope, Some(key.into()));
        Ok(owners.await?.into_iter().next())
    }

    /// The keys taken in `scope`.
    pub async fn taken<const S: usize, K: Key>(
        &mut self,
        table: &Table<S, K>,
        scope: [&str; S],
    ) -> Result<HashSet<K>, StoreError> {
        let keys: Vec<K> = self.select(table, table.key, scope, None).await?;
        Ok(keys.into_iter().collect())
    }

    /// `column` of the rows in `scope`, and only the row of `key` when given (the
    /// primary key makes that one row at most).
    async fn select<const S: usize, K: Key, O: Key>(
        &mut self,
        table: &Table<S, K>,
        column: &str,
        scope: [&str; S],
        key: Option<K>,
    ) -> Result<Vec<O>, StoreError> {
        let filter = table.filter(key.is_some());
        let sql = format!("SELECT {column} FROM {}{filter}", table.name);
        let mut q = sqlx::query_scalar(AssertSqlSafe(sql));
        for s in scope {
            q = q.bind(s);
        }
        if let Some(k) = key {
            q = q.bind(k);
        }
        Ok(q.fetch_all(&mut *self.tx).await?)
    }

    /// Frees `key` in `scope`.
    pub async fn release<const S: usize, K: Key>(
        &mut self,
        table: &Table<S, K>,
        scope: [&str; S],
        key: impl Into<K>,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {}{}", table.name, table.filter(true));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in scope {
            q = q.bind(s);
        }
        q.bind(key.into()).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Frees everything `owner` holds in `table` (a deleted port's addresses, a
    /// deleted network's segments, a deleted project's name).
    pub async fn release_owner<const S: usize, K: Key>(
        &mut self,
        table: &Table<S, K>,
        owner: &str,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {} WHERE {} = $1", table.name, table.owner);
        sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_scope_then_key() {
        assert_eq!(
            SEGMENTS.filter(true),
            " WHERE network_type = $1 AND physnet = $2 AND segmentation_id = $3"
        );
        assert_eq!(IPS.filter(false), " WHERE subnet_id = $1");
        assert_eq!(MACS.filter(true), " WHERE mac = $1");
        assert_eq!(MACS.filter(false), "");
    }
}
