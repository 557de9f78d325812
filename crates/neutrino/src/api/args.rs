//! Option groups that several commands share: the owner of a new resource,
//! the admin state, and renaming.

use super::identity::PROJECT;
use super::{Ctx, flag, put_opt};
use anyhow::Result;
use clap::Args;
use serde_json::{Map, Value};

/// `--description` and `--project` of the create commands.
#[derive(Args, Debug, Default)]
pub struct OwnerArgs {
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Owner project (name or ID; admin only).
    #[arg(long)]
    pub project: Option<String>,
}

impl OwnerArgs {
    /// The ID of the owner project, when one was given.
    pub async fn project_id(&self, ctx: &Ctx) -> Result<Option<String>> {
        ctx.find_id_opt(&PROJECT, self.project.as_deref()).await
    }

    /// Adds `description` and `project_id` to a create body, when given.
    pub async fn put(self, ctx: &Ctx, m: &mut Map<String, Value>) -> Result<()> {
        let project_id = self.project_id(ctx).await?;
        put_opt(m, "description", self.description);
        put_opt(m, "project_id", project_id);
        Ok(())
    }
}

/// `--enable`/`--disable` of the create commands: `admin_state_up`.
#[derive(Args, Debug)]
pub struct NewStateArgs {
    /// Administratively up (default).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
}

impl NewStateArgs {
    pub fn up(&self) -> Option<bool> {
        flag(self.enable, self.disable)
    }
}

/// `--enable`/`--disable` of the set commands: `admin_state_up`.
#[derive(Args, Debug)]
pub struct StateArgs {
    /// Administratively up.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
}

impl StateArgs {
    pub fn up(&self) -> Option<bool> {
        flag(self.enable, self.disable)
    }
}

/// `--name` and `--description` of the set commands.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
}

impl RenameArgs {
    /// Adds `name` and `description` to an update body, when given.
    pub fn put(self, m: &mut Map<String, Value>) {
        put_opt(m, "name", self.name);
        put_opt(m, "description", self.description);
    }
}
