//! `neutrino project|user|role ...`: the Keystone v3 subset at `/v3`
//! (the seeds' set-up: project create, user create, role add).

use super::{Common, Ctx, Resource, flag, put_opt, seg};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const PROJECT: Resource = Resource {
    key: "project",
    plural: "projects",
    path: "/v3/projects",
    display: "Project",
    name_attr: Some("name"),
};

pub const USER: Resource = Resource {
    key: "user",
    plural: "users",
    path: "/v3/users",
    display: "User",
    name_attr: Some("name"),
};

pub const ROLE: Resource = Resource {
    key: "role",
    plural: "roles",
    path: "/v3/roles",
    display: "Role",
    name_attr: Some("name"),
};

// ---------------------------------------------------------------------------
// project

#[derive(Args, Debug)]
pub struct ProjectArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: ProjectCmd,
}

#[derive(Subcommand, Debug)]
enum ProjectCmd {
    /// Create a project.
    Create {
        /// Name of the new project.
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Enabled (default).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disabled.
        #[arg(long)]
        disable: bool,
        /// Show the existing project if one has this name.
        #[arg(long)]
        or_show: bool,
    },
    /// List projects.
    List {
        /// Only the projects this user has a role on (name or ID).
        #[arg(long)]
        user: Option<String>,
        /// More columns.
        #[arg(long)]
        long: bool,
    },
    /// Show a project.
    Show {
        /// Project (name or ID).
        project: String,
    },
    /// Delete projects.
    Delete {
        /// Projects (names or IDs).
        #[arg(required = true)]
        projects: Vec<String>,
    },
    /// Change a project.
    Set {
        /// Project (name or ID).
        project: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// Enable it.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable it.
        #[arg(long)]
        disable: bool,
    },
}

/// An identity entity without Keystone's `links`.
fn plain(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("links");
    }
    v
}

async fn create_or_show(ctx: &Ctx, r: &Resource, attrs: Value, or_show: bool) -> Result<()> {
    let name = super::text(&attrs, "name");
    match ctx.create(r, attrs).await {
        Ok(v) => ctx.show(&plain(v)),
        Err(e)
            if or_show
                && e.downcast_ref::<client::ClientError>()
                    .and_then(client::ClientError::status)
                    == Some(409) =>
        {
            ctx.show(&plain(ctx.find(r, &name).await?))
        }
        Err(e) => Err(e),
    }
}

pub fn run_project(args: ProjectArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            ProjectCmd::Create {
                name,
                description,
                enable,
                disable,
                or_show,
            } => {
                let mut m = Map::new();
                m.insert("name".into(), json!(name));
                put_opt(&mut m, "description", description);
                put_opt(&mut m, "enabled", flag(enable, disable));
                create_or_show(&ctx, &PROJECT, Value::Object(m), or_show).await
            }
            ProjectCmd::List { user, long } => {
                let rows = match &user {
                    Some(u) => {
                        let id = ctx.find_id(&USER, u).await?;
                        let v = ctx
                            .client
                            .get(&format!("/v3/users/{}/projects", seg(&id)), &[])
                            .await?;
                        v.get("projects")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                    }
                    None => ctx.list(&PROJECT, &[]).await?,
                };
                let mut cols = vec![("ID", "id"), ("Name", "name")];
                if long {
                    cols.extend([
                        ("Domain ID", "domain_id"),
                        ("Description", "description"),
                        ("Enabled", "enabled"),
                    ]);
                }
                ctx.print_list(&rows, &cols)
            }
            ProjectCmd::Show { project } => ctx.show(&plain(ctx.find(&PROJECT, &project).await?)),
            ProjectCmd::Delete { projects } => ctx.delete_all(&PROJECT, &projects).await,
            ProjectCmd::Set {
                project,
                name,
                description,
                enable,
                disable,
            } => {
                let id = ctx.find_id(&PROJECT, &project).await?;
                let mut m = Map::new();
                put_opt(&mut m, "name", name);
                put_opt(&mut m, "description", description);
                put_opt(&mut m, "enabled", flag(enable, disable));
                if !m.is_empty() {
                    let path = format!("{}/{}", PROJECT.path, seg(&id));
                    ctx.client.patch(&path, &json!({"project": m})).await?;
                }
                Ok(())
            }
        }
    })
}

// ---------------------------------------------------------------------------
// user

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Create a user.
    Create(UserCreateArgs),
    /// List users.
    List {
        /// More columns.
        #[arg(long)]
        long: bool,
    },
    /// Show a user.
    Show {
        /// User (name or ID).
        user: String,
    },
    /// Delete users.
    Delete {
        /// Users (names or IDs).
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Change a user.
    Set(UserSetArgs),
}

#[derive(Args, Debug)]
struct UserCreateArgs {
    /// Name of the new user.
    name: String,
    /// Password.
    #[arg(long)]
    password: Option<String>,
    /// Default project (name or ID). This gives no role: use `role add`.
    #[arg(long)]
    project: Option<String>,
    /// E-mail address.
    #[arg(long)]
    email: Option<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Enabled (default).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disabled.
    #[arg(long)]
    disable: bool,
    /// Show the existing user if one has this name.
    #[arg(long)]
    or_show: bool,
}

#[derive(Args, Debug)]
struct UserSetArgs {
    /// User (name or ID).
    user: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New password.
    #[arg(long)]
    password: Option<String>,
    /// New default project (name or ID).
    #[arg(long)]
    project: Option<String>,
    /// New e-mail address.
    #[arg(long)]
    email: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// Enable the user.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable the user.
    #[arg(long)]
    disable: bool,
}

pub fn run_user(args: UserArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            UserCmd::Create(a) => {
                let mut m = Map::new();
                m.insert("name".into(), json!(a.name));
                put_opt(&mut m, "password", a.password);
                if let Some(p) = &a.project {
                    m.insert(
                        "default_project_id".into(),
                        json!(ctx.find_id(&PROJECT, p).await?),
                    );
                }
                put_opt(&mut m, "email", a.email);
                put_opt(&mut m, "description", a.description);
                put_opt(&mut m, "enabled", flag(a.enable, a.disable));
                create_or_show(&ctx, &USER, Value::Object(m), a.or_show).await
            }
            UserCmd::List { long } => {
                let rows = ctx.list(&USER, &[]).await?;
                let mut cols = vec![("ID", "id"), ("Name", "name")];
                if long {
                    cols.extend([
                        ("Project", "default_project_id"),
                        ("Domain", "domain_id"),
                        ("Description", "description"),
                        ("Email", "email"),
                        ("Enabled", "enabled"),
                    ]);
                }
                ctx.print_list(&rows, &cols)
            }
            UserCmd::Show { user } => ctx.show(&plain(ctx.find(&USER, &user).await?)),
            UserCmd::Delete { users } => ctx.delete_all(&USER, &users).await,
            UserCmd::Set(a) => {
                let id = ctx.find_id(&USER, &a.user).await?;
                let mut m = Map::new();
                put_opt(&mut m, "name", a.name);
                put_opt(&mut m, "password", a.password);
                if let Some(p) = &a.project {
                    m.insert(
                        "default_project_id".into(),
                        json!(ctx.find_id(&PROJECT, p).await?),
                    );
                }
                put_opt(&mut m, "email", a.email);
                put_opt(&mut m, "description", a.description);
                put_opt(&mut m, "enabled", flag(a.enable, a.disable));
                if !m.is_empty() {
                    let path = format!("{}/{}", USER.path, seg(&id));
                    ctx.client.patch(&path, &json!({"user": m})).await?;
                }
                Ok(())
            }
        }
    })
}

// ---------------------------------------------------------------------------
// role

#[derive(Args, Debug)]
pub struct RoleArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: RoleCmd,
}

#[derive(Subcommand, Debug)]
enum RoleCmd {
    /// Give a user a role on a project.
    Add(Grant),
    /// Take a user's role on a project away.
    Remove(Grant),
    /// List roles.
    List,
    /// Create a role.
    Create {
        /// Name of the new role.
        name: String,
        /// Show the existing role if one has this name.
        #[arg(long)]
        or_show: bool,
    },
    /// Show a role.
    Show {
        /// Role (name or ID).
        role: String,
    },
    /// Delete roles.
    Delete {
        /// Roles (names or IDs).
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// Role assignments.
    Assignment {
        #[command(subcommand)]
        cmd: AssignmentCmd,
    },
}

#[derive(Args, Debug)]
struct Grant {
    /// Role (name or ID).
    role: String,
    /// Project (name or ID).
    #[arg(long)]
    project: String,
    /// User (name or ID).
    #[arg(long)]
    user: String,
}

#[derive(Subcommand, Debug)]
enum AssignmentCmd {
    /// List role assignments.
    List {
        /// Only this user's (name or ID).
        #[arg(long)]
        user: Option<String>,
        /// Only on this project (name or ID).
        #[arg(long)]
        project: Option<String>,
        /// Only of this role (name or ID).
        #[arg(long)]
        role: Option<String>,
        /// Show names instead of IDs.
        #[arg(long)]
        names: bool,
    },
}

async fn grant_path(ctx: &Ctx, g: &Grant) -> Result<String> {
    let role = ctx.find_id(&ROLE, &g.role).await?;
    let project = ctx.find_id(&PROJECT, &g.project).await?;
    let user = ctx.find_id(&USER, &g.user).await?;
    Ok(format!(
        "/v3/projects/{}/users/{}/roles/{}",
        seg(&project),
        seg(&user),
        seg(&role)
    ))
}

pub fn run_role(args: RoleArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            RoleCmd::Add(g) => {
                let path = grant_path(&ctx, &g).await?;
                ctx.client.put(&path, &Value::Null).await?;
                Ok(())
            }
            RoleCmd::Remove(g) => {
                let path = grant_path(&ctx, &g).await?;
                ctx.client.delete(&path).await?;
                Ok(())
            }
            RoleCmd::List => {
                let rows = ctx.list(&ROLE, &[]).await?;
                ctx.print_list(&rows, &[("ID", "id"), ("Name", "name")])
            }
            RoleCmd::Create { name, or_show } => {
                create_or_show(&ctx, &ROLE, json!({"name": name}), or_show).await
            }
            RoleCmd::Show { role } => ctx.show(&plain(ctx.find(&ROLE, &role).await?)),
            RoleCmd::Delete { roles } => ctx.delete_all(&ROLE, &roles).await,
            RoleCmd::Assignment {
                cmd:
                    AssignmentCmd::List {
                        user,
                        project,
                        role,
                        names,
                    },
            } => {
                let mut q: Vec<(&str, String)> = Vec::new();
                if let Some(u) = &user {
                    q.push(("user.id", ctx.find_id(&USER, u).await?));
                }
                if let Some(p) = &project {
                    q.push(("scope.project.id", ctx.find_id(&PROJECT, p).await?));
                }
                if let Some(r) = &role {
                    q.push(("role.id", ctx.find_id(&ROLE, r).await?));
                }
                if names {
                    q.push(("include_names", "true".into()));
                }
                let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let v = ctx.client.get("/v3/role_assignments", &q).await?;
                let rows: Vec<Value> = v
                    .get("role_assignments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|a| assignment_row(a, names))
                    .collect();
                ctx.print_list(
                    &rows,
                    &[("Role", "role"), ("User", "user"), ("Project", "project")],
                )
            }
        }
    })
}

/// One assignment as a row: IDs, or `name` / `name@Default` with --names.
fn assignment_row(a: &Value, names: bool) -> Value {
    let pick = |p: &str, domain: bool| {
        let name = a.pointer(&format!("{p}/name")).and_then(Value::as_str);
        let id = a.pointer(&format!("{p}/id")).and_then(Value::as_str);
        match (names, name) {
            (true, Some(n)) if domain => json!(format!("{n}@Default")),
            (true, Some(n)) => json!(n),
            _ => json!(id),
        }
    };
    json!({
        "role": pick("/role", false),
        "user": pick("/user", true),
        "project": pick("/scope/project", true),
    })
}
