//! The allocation tables, straight through the store: a key is held once per
//! scope, whoever asks second gets `Conflict`, and releasing by key or by owner
//! frees it. Text keys (IPs, MACs, names) and integer keys (segmentation ids) go
//! through the same code, on each backend.

mod common;

use common::{Api, backends};
use server::StoreError;
use server::store::{IPS, MACS, NAMES, SEGMENTS, Store, Table};
use std::collections::HashSet;

/// Claims `key` in `scope` in a transaction of its own, which a refused claim
/// aborts (PostgreSQL takes no more statements in it).
async fn claim<const S: usize, K: server::store::Key>(
    store: &Store,
    table: &Table<S, K>,
    scope: [&str; S],
    key: impl Into<K>,
    owner: &str,
) -> Result<(), StoreError> {
    let mut tx = store.write().await?;
    tx.claim(table, scope, key, owner).await?;
    tx.commit().await
}

#[tokio::test]
async fn claims_conflict_and_release() {
    for backend in backends() {
        let api = Api::new(&backend).await;
        let store = &api.state.store;

        // IPs: one holder per subnet, the same address free on another subnet.
        claim(store, &IPS, ["s1"], "10.0.0.5", "p1")
            .await
            .expect("first claim");
        let again = claim(store, &IPS, ["s1"], "10.0.0.5", "p2").await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        claim(store, &IPS, ["s2"], "10.0.0.5", "p2")
            .await
            .expect("other subnet");
        claim(store, &IPS, ["s1"], "10.0.0.6", "p1")
            .await
            .expect("second address");

        // MACs: no scope; segments: integer keys scoped by type and physnet.
        claim(store, &MACS, [], "fa:16:3e:00:00:01", "p1")
            .await
            .expect("mac");
        let again = claim(store, &MACS, [], "fa:16:3e:00:00:01", "p2").await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        claim(store, &SEGMENTS, ["vlan", "physnet1"], 100u32, "n1")
            .await
            .expect("vlan");
        claim(store, &SEGMENTS, ["vlan", "physnet2"], 100u32, "n2")
            .await
            .expect("physnet2");
        let again = claim(store, &SEGMENTS, ["vlan", "physnet1"], 100u32, "n2").await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        claim(store, &NAMES, ["project:d"], "blue", "proj1")
            .await
            .expect("name");
        let again = claim(store, &NAMES, ["project:d"], "blue", "proj2").await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

        let mut tx = store.write().await.expect("tx");
        let owner = tx.owner(&IPS, ["s1"], "10.0.0.5").await.expect("owner");
        assert_eq!(owner.as_deref(), Some("p1"));
        let owner = tx.owner(&IPS, ["s3"], "10.0.0.5").await.expect("owner");
        assert_eq!(owner, None);
        let taken = tx.taken(&IPS, ["s1"]).await.expect("taken");
        let want: HashSet<String> = ["10.0.0.5".to_string(), "10.0.0.6".to_string()].into();
        assert_eq!(taken, want);
        let taken = tx
            .taken(&SEGMENTS, ["vlan", "physnet1"])
            .await
            .expect("segments");
        assert_eq!(taken, HashSet::from([100i64]));
        let owner = tx
            .owner(&NAMES, ["project:d"], "blue")
            .await
            .expect("name owner");
        assert_eq!(owner.as_deref(), Some("proj1"));

        // Releasing by owner frees all it holds in that table, and only that.
        tx.release_owner(&IPS, "p1")
            .await
            .expect("release port IPs");
        tx.release(&MACS, [], "fa:16:3e:00:00:01")
            .await
            .expect("release mac");
        tx.release_owner(&SEGMENTS, "n1")
            .await
            .expect("release segments");
        tx.release_owner(&NAMES, "proj1")
            .await
            .expect("release names");
        assert!(tx.taken(&IPS, ["s1"]).await.expect("taken").is_empty());
        let s2 = tx.taken(&IPS, ["s2"]).await.expect("taken");
        assert_eq!(s2, HashSet::from(["10.0.0.5".to_string()]));
        let mac = tx.owner(&MACS, [], "fa:16:3e:00:00:01").await.expect("mac");
        assert_eq!(mac, None);
        let vlan = tx
            .taken(&SEGMENTS, ["vlan", "physnet1"])
            .await
            .expect("seg");
        assert!(vlan.is_empty());
        let vlan2 = tx
            .taken(&SEGMENTS, ["vlan", "physnet2"])
            .await
            .expect("seg");
        assert_eq!(vlan2, HashSet::from([100i64]));
        let name = tx.owner(&NAMES, ["project:d"], "blue").await.expect("name");
        assert_eq!(name, None);
        tx.commit().await.expect("commit");

        // What was released can be claimed again.
        claim(store, &IPS, ["s1"], "10.0.0.5", "p3")
            .await
            .expect("reclaim");
        claim(store, &SEGMENTS, ["vlan", "physnet1"], 100u32, "n3")
            .await
            .expect("reclaim");
    }
}
