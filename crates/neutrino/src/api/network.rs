//! `neutrino network create|list|show|delete|set` and `network agent ...`.

use super::{Common, Ctx, Resource, flag, put_opt};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const NETWORK: Resource = Resource {
    key: "network",
    plural: "networks",
    path: "/v2.0/networks",
    display: "Network",
    name_attr: Some("name"),
};

#[derive(Args, Debug)]
pub struct NetworkArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: NetworkCmd,
}

#[derive(Subcommand, Debug)]
enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    List(ListArgs),
    /// Show a network.
    Show {
        /// Network (name or ID).
        network: String,
    },
    /// Delete networks.
    Delete {
        /// Networks (names or IDs).
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Change a network's attributes.
    Set(SetArgs),
    /// Network agents: the `neutrino agent` daemons that registered.
    Agent(super::agent::AgentArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Name of the new network.
    name: String,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Owner project (name or ID; admin only).
    #[arg(long)]
    project: Option<String>,
    /// Usable as a router gateway (router:external; admin only).
    #[arg(long, conflicts_with = "internal")]
    external: bool,
    /// Not external (default).
    #[arg(long)]
    internal: bool,
    /// Visible to every project (admin only).
    #[arg(long, conflicts_with = "no_share")]
    share: bool,
    /// Alias of --share.
    #[arg(long, conflicts_with = "no_share")]
    shared: bool,
    /// Only the owner's project sees it (default).
    #[arg(long)]
    no_share: bool,
    /// Administratively up (default).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
    /// provider:network_type: vxlan, gre, vlan or flat (admin only).
    #[arg(long, value_name = "TYPE")]
    provider_network_type: Option<String>,
    /// provider:physical_network (vlan, flat; admin only).
    #[arg(long, value_name = "PHYSNET")]
    provider_physical_network: Option<String>,
    /// provider:segmentation_id: VNI, GRE key or VLAN id (admin only).
    #[arg(long, value_name = "ID")]
    provider_segment: Option<u32>,
    /// MTU (default: the most the network type allows).
    #[arg(long)]
    mtu: Option<u32>,
    /// Enable port security on the network's ports (default).
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security on the network's ports.
    #[arg(long)]
    disable_port_security: bool,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only external networks.
    #[arg(long, conflicts_with = "internal")]
    external: bool,
    /// Only internal networks.
    #[arg(long)]
    internal: bool,
    /// Only networks with this name.
    #[arg(long)]
    name: Option<String>,
    /// Only networks of this project (name or ID).
    #[arg(long)]
    project: Option<String>,
    /// Only networks of this provider:network_type.
    #[arg(long, value_name = "TYPE")]
    provider_network_type: Option<String>,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// Network (name or ID).
    network: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// Make it external (admin only).
    #[arg(long, conflicts_with = "internal")]
    external: bool,
    /// Make it internal (admin only).
    #[arg(long)]
    internal: bool,
    /// Share it with every project (admin only).
    #[arg(long, conflicts_with = "no_share")]
    share: bool,
    /// Stop sharing it.
    #[arg(long)]
    no_share: bool,
    /// Administratively up.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
    /// New MTU.
    #[arg(long)]
    mtu: Option<u32>,
    /// Enable port security by default.
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security by default.
    #[arg(long)]
    disable_port_security: bool,
}

pub fn run(args: NetworkArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            NetworkCmd::Create(a) => create(&ctx, a).await,
            NetworkCmd::List(a) => list(&ctx, a).await,
            NetworkCmd::Show { network } => ctx.show(&ctx.find(&NETWORK, &network).await?),
            NetworkCmd::Delete { networks } => ctx.delete_all(&NETWORK, &networks).await,
            NetworkCmd::Set(a) => set(&ctx, a).await,
            NetworkCmd::Agent(a) => super::agent::run(&ctx, a).await,
        }
    })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    put_opt(&mut m, "description", a.description);
    if let Some(p) = &a.project {
        let id = ctx.find_id(&super::identity::PROJECT, p).await?;
        m.insert("project_id".into(), json!(id));
    }
    put_opt(&mut m, "router:external", flag(a.external, a.internal));
    put_opt(&mut m, "shared", flag(a.share || a.shared, a.no_share));
    put_opt(&mut m, "admin_state_up", flag(a.enable, a.disable));
    put_opt(&mut m, "provider:network_type", a.provider_network_type);
    put_opt(
        &mut m,
        "provider:physical_network",
        a.provider_physical_network,
    );
    put_opt(&mut m, "provider:segmentation_id", a.provider_segment);
    put_opt(&mut m, "mtu", a.mtu);
    put_opt(
        &mut m,
        "port_security_enabled",
        flag(a.enable_port_security, a.disable_port_security),
    );
    let n = ctx.create(&NETWORK, Value::Object(m)).await?;
    ctx.show(&n)
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(ext) = flag(a.external, a.internal) {
        q.push(("router:external", ext.to_string()));
    }
    if let Some(n) = a.name {
        q.push(("name", n));
    }
    if let Some(p) = &a.project {
        q.push((
            "project_id",
            ctx.find_id(&super::identity::PROJECT, p).await?,
        ));
    }
    if let Some(t) = a.provider_network_type {
        q.push(("provider:network_type", t));
    }
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows = ctx.list(&NETWORK, &q).await?;
    if a.long {
        ctx.print_list(
            &rows,
            &[
                ("ID", "id"),
                ("Name", "name"),
                ("Status", "status"),
                ("Project", "project_id"),
                ("State", "admin_state_up"),
                ("Shared", "shared"),
                ("Subnets", "subnets"),
                ("Network Type", "provider:network_type"),
                ("Router Type", "router:external"),
                ("MTU", "mtu"),
            ],
        )
    } else {
        ctx.print_list(
            &rows,
            &[("ID", "id"), ("Name", "name"), ("Subnets", "subnets")],
        )
    }
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let id = ctx.find_id(&NETWORK, &a.network).await?;
    let mut m = Map::new();
    put_opt(&mut m, "name", a.name);
    put_opt(&mut m, "description", a.description);
    put_opt(&mut m, "router:external", flag(a.external, a.internal));
    put_opt(&mut m, "shared", flag(a.share, a.no_share));
    put_opt(&mut m, "admin_state_up", flag(a.enable, a.disable));
    put_opt(&mut m, "mtu", a.mtu);
    put_opt(
        &mut m,
        "port_security_enabled",
        flag(a.enable_port_security, a.disable_port_security),
    );
    if m.is_empty() {
        return Ok(());
    }
    ctx.update(&NETWORK, &id, Value::Object(m)).await?;
    Ok(())
}
