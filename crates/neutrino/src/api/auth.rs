//! Credentials: the openstack CLI's `--os-*` options over the OS_* variables.

use super::output::OutputArgs;
use clap::Args;
use client::{Auth, ClientError};

/// The openstack CLI's `--os-*` options; each overrides its OS_* variable.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Authentication")]
pub struct AuthArgs {
    /// Keystone URL (overrides OS_AUTH_URL).
    #[arg(long, value_name = "URL", global = true)]
    pub os_auth_url: Option<String>,
    /// User name (overrides OS_USERNAME).
    #[arg(long, value_name = "NAME", global = true)]
    pub os_username: Option<String>,
    /// Password (overrides OS_PASSWORD).
    #[arg(long, value_name = "PASSWORD", global = true)]
    pub os_password: Option<String>,
    /// Project to scope the token to (overrides OS_PROJECT_NAME).
    #[arg(long, value_name = "NAME", global = true)]
    pub os_project_name: Option<String>,
    /// User's domain (overrides OS_USER_DOMAIN_NAME; default Default).
    #[arg(long, value_name = "NAME", global = true)]
    pub os_user_domain_name: Option<String>,
    /// Project's domain (overrides OS_PROJECT_DOMAIN_NAME; default Default).
    #[arg(long, value_name = "NAME", global = true)]
    pub os_project_domain_name: Option<String>,
}

impl AuthArgs {
    /// The credentials: flags first, then the environment.
    pub fn resolve(&self) -> Result<Auth, ClientError> {
        Auth::from_lookup(|k| {
            let flag = match k {
                "OS_AUTH_URL" => &self.os_auth_url,
                "OS_USERNAME" => &self.os_username,
                "OS_PASSWORD" => &self.os_password,
                "OS_PROJECT_NAME" => &self.os_project_name,
                "OS_USER_DOMAIN_NAME" => &self.os_user_domain_name,
                "OS_PROJECT_DOMAIN_NAME" => &self.os_project_domain_name,
                _ => &None,
            };
            flag.clone().or_else(|| std::env::var(k).ok())
        })
    }
}

/// What every API command takes: credentials and output options.
#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}
