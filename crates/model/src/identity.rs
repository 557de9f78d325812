//! The Keystone v3 identity subset: domains, projects, users, roles, assignments
//! and the token body.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub domain_id: String,
    pub enabled: bool,
    pub parent_id: Option<String>,
    pub is_domain: bool,
    pub tags: Vec<String>,
}

/// A user as the API shows it (the password hash is kept apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub default_project_id: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub password_expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    pub description: Option<String>,
}

/// A role given to a user on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleAssignment {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenUser {
    pub id: String,
    pub name: String,
    pub domain_id: String,
}

/// What the server remembers about an issued token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Token {
    pub user: TokenUser,
    pub project_id: String,
    pub project_name: String,
    pub project_domain_id: String,
    pub roles: Vec<RoleRef>,
    pub issued_at: String,
    pub expires_at: String,
    /// `expires_at` in whole seconds since the Unix epoch (truncated), for
    /// purging old rows; the refusal itself compares `expires_at`.
    pub expires_unix: i64,
    /// A digest of the user's password hash when the token was issued: a
    /// password change ends the token.
    #[serde(default)]
    pub secret_tag: String,
}

impl Token {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r.name == "admin")
    }

    pub fn can_write(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.name == "admin" || r.name == "member")
    }
}
