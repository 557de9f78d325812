//! What RBAC policies give the caller: the objects shared with its project or
//! with all (`access_as_shared`), the networks external to it (`access_as_external`).
//! Read once per store revision for every request (policies change rarely and are
//! few), so visibility checks stay plain functions of the caller.

use crate::AppState;
use crate::error::ApiError;
use model::RbacPolicy;
use model::rbac::{ACCESS_AS_EXTERNAL, ACCESS_AS_SHARED, WILDCARD};
use std::collections::HashSet;
use std::sync::Arc;

/// Every policy, as of a store revision.
#[derive(Default)]
pub struct PolicyCache(std::sync::Mutex<Option<(i64, Arc<Vec<RbacPolicy>>)>>);

/// The policies that name the caller's project or every project.
#[derive(Debug, Default, Clone)]
pub struct Grants {
    shared: HashSet<(String, String)>,
    external: HashSet<String>,
}

impl Grants {
    pub fn of(all: &[RbacPolicy], project: &str) -> Grants {
        let mut g = Grants::default();
        for p in all
            .iter()
            .filter(|p| p.target_tenant == WILDCARD || p.target_tenant == project)
        {
            match p.action.as_str() {
                ACCESS_AS_SHARED => {
                    g.shared
                        .insert((p.object_type.clone(), p.object_id.clone()));
                }
                ACCESS_AS_EXTERNAL => {
                    g.external.insert(p.object_id.clone());
                }
                _ => {}
            }
        }
        g
    }

    /// Object `id` of `kind` is shared with the caller (what its `shared` shows).
    pub fn shared(&self, kind: &str, id: &str) -> bool {
        self.shared.contains(&(kind.to_string(), id.to_string()))
    }

    /// Network `id` is external to the caller.
    pub fn external(&self, id: &str) -> bool {
        self.external.contains(id)
    }

    /// The caller reaches object `id` of `kind` through a policy.
    pub fn any(&self, kind: &str, id: &str) -> bool {
        self.shared(kind, id) || (kind == "network" && self.external(id))
    }
}

/// Every policy, from the cache when the store has not changed.
pub async fn all(state: &AppState) -> Result<Arc<Vec<RbacPolicy>>, ApiError> {
    let revision = state.store.revision().await?;
    if let Ok(c) = state.rbac.0.lock()
        && let Some((rev, all)) = c.as_ref()
        && *rev == revision
    {
        return Ok(all.clone());
    }
    let all: Arc<Vec<RbacPolicy>> = Arc::new(state.store.list().await?);
    if let Ok(mut c) = state.rbac.0.lock() {
        *c = Some((revision, all.clone()));
    }
    Ok(all)
}

/// The caller's grants.
pub async fn grants(state: &AppState, project: &str) -> Result<Arc<Grants>, ApiError> {
    Ok(Arc::new(Grants::of(&all(state).await?, project)))
}
