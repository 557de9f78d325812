//! First start: the `Default` domain, the roles admin, member and reader, the
//! `admin` project and the `admin` user with the admin role on it.

use super::password;
use crate::docs::StoredAssignment;
use crate::store::NAMES;
use crate::util::{new_id, random_secret};
use crate::{AppState, ServerError};
use model::{Domain, Project, Role, User};

pub const DEFAULT_DOMAIN: &str = "default";
pub const ROLES: [&str; 3] = ["admin", "member", "reader"];

/// Creates what is missing; returns the admin password if it was generated.
pub async fn bootstrap(state: &AppState) -> Result<Option<String>, ServerError> {
    let store = &state.store;
    if store.get::<Domain>(DEFAULT_DOMAIN).await?.is_some() {
        return Ok(None);
    }
    let (pw, generated) = match &state.config.admin_password {
        Some(p) => (p.clone(), None),
        None => {
            let p = random_secret(20);
            (p.clone(), Some(p))
        }
    };
    let hash = password::hash(pw)
        .await
        .map_err(|e| ServerError::Bootstrap(e.to_string()))?;
    let mut tx = store.write().await?;
    // Another server may have bootstrapped the shared store meanwhile.
    if tx.get::<Domain>(DEFAULT_DOMAIN).await?.is_some() {
        return Ok(None);
    }
    tx.insert(&Domain {
        id: DEFAULT_DOMAIN.into(),
        name: "Default".into(),
        description: "The default domain".into(),
        enabled: true,
    })
    .await?;
    let mut admin_role = String::new();
    for name in ROLES {
        let id = new_id();
        tx.claim(&NAMES, ["role"], name, &id).await?;
        tx.insert(&Role {
            id: id.clone(),
            name: name.into(),
            domain_id: None,
            description: None,
        })
        .await?;
        if name == "admin" {
            admin_role = id;
        }
    }
    let project = Project {
        id: new_id(),
        name: "admin".into(),
        description: "Bootstrap project for initializing the cloud.".into(),
        domain_id: DEFAULT_DOMAIN.into(),
        enabled: true,
        parent_id: Some(DEFAULT_DOMAIN.into()),
        is_domain: false,
        tags: Vec::new(),
    };
    let projects = format!("project:{DEFAULT_DOMAIN}");
    tx.claim(&NAMES, [&projects], "admin", &project.id).await?;
    tx.insert(&project).await?;
    let user = User {
        id: new_id(),
        name: "admin".into(),
        domain_id: DEFAULT_DOMAIN.into(),
        default_project_id: Some(project.id.clone()),
        email: None,
        description: None,
        enabled: true,
        password_expires_at: None,
    };
    let users = format!("user:{DEFAULT_DOMAIN}");
    tx.claim(&NAMES, [&users], "admin", &user.id).await?;
    tx.insert(&user).await?;
    tx.set_password_hash(&user.id, &hash).await?;
    tx.insert(&StoredAssignment::new(&project.id, &user.id, &admin_role))
        .await?;
    tx.commit().await?;
    tracing::info!("bootstrapped identity: domain Default, project admin, user admin");
    Ok(generated)
}
