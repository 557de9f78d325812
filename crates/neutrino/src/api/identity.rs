//! `neutrino project|user|role ...`: the Keystone v3 subset at `/v3`
//! (the seeds' set-up: project create, user create, role add).

use super::output::Column;
use super::{Common, Ctx, Query, RenameArgs, Resource, array, columns, flag, put_opt, seg};
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
        #[command(flatten)]
        rename: RenameArgs,
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
            show_plain(ctx, r, &name).await
        }
        Err(e) => Err(e),
    }
}

/// Finds an identity entity by ID or name and prints it without `links`.
async fn show_plain(ctx: &Ctx, r: &Resource, name_or_id: &str) -> Result<()> {
    ctx.show(&plain(ctx.find(r, name_or_id).await?))
}

/// Keystone's update: a PATCH of the changed attributes, if there are any.
async fn patch_changed(ctx: &Ctx, r: &Resource, id: &str, attrs: Map<String, Value>) -> Result<()> {
    if !attrs.is_empty() {
        let path = format!("{}/{}", r.path, seg(id));
        ctx.client.patch(&path, &json!({ r.key: attrs })).await?;
    }
    Ok(())
}

const PROJECT_COLUMNS: [Column; 2] = [("ID", "id"), ("Name", "name")];
const PROJECT_LONG_COLUMNS: [Column; 3] = [
    ("Domain ID", "domain_id"),
    ("Description", "description"),
    ("Enabled", "enabled"),
];

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
                        let path = format!("/v3/users/{}/projects", seg(&id));
                        array(&ctx.client.get(&path, &[]).await?, "projects")
                    }
                    None => ctx.list(&PROJECT, &[]).await?,
                };
                let cols = columns(&PROJECT_COLUMNS, &PROJECT_LONG_COLUMNS, long);
                ctx.print_list(&rows, &cols)
            }
            ProjectCmd::Show { project } => show_plain(&ctx, &PROJECT, &project).await,
            ProjectCmd::Delete { projects } => ctx.delete_all(&PROJECT, &projects).await,
            ProjectCmd::Set {
                project,
                rename,
                enable,
                disable,
            } => {
                let id = ctx.find_id(&PROJECT, &project).await?;
                let mut m = Map::new();
                rename.put(&mut m);
                put_opt(&mut m, "enabled", flag(enable, disable));
                patch_changed(&ctx, &PROJECT, &id, m).await
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

/// What `user create` and `user set` both send.
struct UserAttrs {
    password: Option<String>,
    project: Option<String>,
    email: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

impl UserAttrs {
    /// Adds the given attributes to `m`, the default project as its ID.
    async fn put(self, ctx: &Ctx, m: &mut Map<String, Value>) -> Result<()> {
        put_opt(m, "password", self.password);
        let project = ctx.find_id_opt(&PROJECT, self.project.as_deref()).await?;
        put_opt(m, "default_project_id", project);
        put_opt(m, "email", self.email);
        put_opt(m, "description", self.description);
        put_opt(m, "enabled", self.enabled);
        Ok(())
    }
}

/// The `UserAttrs` of `user create`'s or `user set`'s options (the same names).
macro_rules! user_attrs {
    ($a:ident) => {
        UserAttrs {
            password: $a.password,
            project: $a.project,
            email: $a.email,
            description: $a.description,
            enabled: flag($a.enable, $a.disable),
        }
    };
}

const USER_COLUMNS: [Column; 2] = [("ID", "id"), ("Name", "name")];
const USER_LONG_COLUMNS: [Column; 5] = [
    ("Project", "default_project_id"),
    ("Domain", "domain_id"),
    ("Description", "description"),
    ("Email", "email"),
    ("Enabled", "enabled"),
];

pub fn run_user(args: UserArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            UserCmd::Create(a) => {
                let mut m = Map::new();
                m.insert("name".into(), json!(a.name));
                user_attrs!(a).put(&ctx, &mut m).await?;
                create_or_show(&ctx, &USER, Value::Object(m), a.or_show).await
            }
            UserCmd::List { long } => {
                let rows = ctx.list(&USER, &[]).await?;
                ctx.print_list(&rows, &columns(&USER_COLUMNS, &USER_LONG_COLUMNS, long))
            }
            UserCmd::Show { user } => show_plain(&ctx, &USER, &user).await,
            UserCmd::Delete { users } => ctx.delete_all(&USER, &users).await,
            UserCmd::Set(a) => {
                let id = ctx.find_id(&USER, &a.user).await?;
                let mut m = Map::new();
                put_opt(&mut m, "name", a.name);
                user_attrs!(a).put(&ctx, &mut m).await?;
                patch_changed(&ctx, &USER, &id, m).await
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
            RoleCmd::Show { role } => show_plain(&ctx, &ROLE, &role).await,
            RoleCmd::Delete { roles } => ctx.delete_all(&ROLE, &roles).await,
            RoleCmd::Assignment {
                cmd:
                    AssignmentCmd::List {
                        user,
                        project,
                        role,
                        names,
                    },
            } => assignments(&ctx, user, project, role, names).await,
        }
    })
}

/// `role assignment list`, filtered by user, project and role (names or IDs).
async fn assignments(
    ctx: &Ctx,
    user: Option<String>,
    project: Option<String>,
    role: Option<String>,
    names: bool,
) -> Result<()> {
    let user = ctx.find_id_opt(&USER, user.as_deref()).await?;
    let project = ctx.find_id_opt(&PROJECT, project.as_deref()).await?;
    let role = ctx.find_id_opt(&ROLE, role.as_deref()).await?;
    let q = Query::default()
        .opt("user.id", user)
        .opt("scope.project.id", project)
        .opt("role.id", role)
        .opt("include_names", names.then_some("true"));
    let v = ctx.client.get("/v3/role_assignments", &q.pairs()).await?;
    let rows: Vec<Value> = array(&v, "role_assignments")
        .iter()
        .map(|a| assignment_row(a, names))
        .collect();
    ctx.print_list(
        &rows,
        &[("Role", "role"), ("User", "user"), ("Project", "project")],
    )
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
