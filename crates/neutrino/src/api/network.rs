//! `neutrino network create|list|show|delete|set` and `network agent ...`.

use super::identity::PROJECT;
use super::output::Column;
use super::{
    Common, Ctx, NewStateArgs, OwnerArgs, Query, RenameArgs, Resource, StateArgs, flag, put_opt,
};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, json};

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
    #[command(flatten)]
    owner: OwnerArgs,
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
    #[command(flatten)]
    state: NewStateArgs,
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
    #[command(flatten)]
    rename: RenameArgs,
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
    #[command(flatten)]
    state: StateArgs,
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
            NetworkCmd::Show { network } => ctx.show_found(&NETWORK, &network).await,
            NetworkCmd::Delete { networks } => ctx.delete_all(&NETWORK, &networks).await,
            NetworkCmd::Set(a) => set(&ctx, a).await,
            NetworkCmd::Agent(a) => super::agent::run(&ctx, a).await,
        }
    })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    a.owner.put(ctx, &mut m).await?;
    put_opt(&mut m, "router:external", flag(a.external, a.internal));
    put_opt(&mut m, "shared", flag(a.share || a.shared, a.no_share));
    put_opt(&mut m, "admin_state_up", a.state.up());
    put_opt(&mut m, "provider:network_type", a.provider_network_type);
    put_opt(
        &mut m,
        "provider:physical_network",
        a.provider_physical_network,
    );
    put_opt(&mut m, "provider:segmentation_id", a.provider_segment);
    put_opt(&mut m, "mtu", a.mtu);
    let port_security = flag(a.enable_port_security, a.disable_port_security);
    put_opt(&mut m, "port_security_enabled", port_security);
    ctx.create_and_show(&NETWORK, m).await
}

const COLUMNS: [Column; 3] = [("ID", "id"), ("Name", "name"), ("Subnets", "subnets")];
const LONG_COLUMNS: [Column; 10] = [
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
];

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let project = ctx.find_id_opt(&PROJECT, a.project.as_deref()).await?;
    let q = Query::default()
        .opt("router:external", flag(a.external, a.internal))
        .opt("name", a.name)
        .opt("project_id", project)
        .opt("provider:network_type", a.provider_network_type);
    let cols: &[Column] = if a.long { &LONG_COLUMNS } else { &COLUMNS };
    ctx.list_and_print(&NETWORK, &q, cols).await
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let id = ctx.find_id(&NETWORK, &a.network).await?;
    let mut m = Map::new();
    a.rename.put(&mut m);
    put_opt(&mut m, "router:external", flag(a.external, a.internal));
    put_opt(&mut m, "shared", flag(a.share, a.no_share));
    put_opt(&mut m, "admin_state_up", a.state.up());
    put_opt(&mut m, "mtu", a.mtu);
    let port_security = flag(a.enable_port_security, a.disable_port_security);
    put_opt(&mut m, "port_security_enabled", port_security);
    ctx.update_changed(&NETWORK, &id, m).await
}
