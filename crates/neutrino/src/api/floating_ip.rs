//! `neutrino floating ip create|list|show|delete|set|unset`.

use super::network::NETWORK;
use super::output::Column;
use super::port::PORT;
use super::router::ROUTER;
use super::subnet::SUBNET;
use super::{Common, Ctx, OwnerArgs, Query, Resource, columns, put_opt};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const FLOATING_IP: Resource = Resource {
    key: "floatingip",
    plural: "floatingips",
    path: "/v2.0/floatingips",
    display: "Floating IP",
    name_attr: Some("floating_ip_address"),
};

/// `neutrino floating ...`: only `ip` lives here (as in openstack).
#[derive(Args, Debug)]
pub struct FloatingArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    what: Floating,
}

#[derive(Subcommand, Debug)]
enum Floating {
    /// Floating IPs: addresses of an external network mapped to ports.
    Ip {
        #[command(subcommand)]
        cmd: FipCmd,
    },
}

#[derive(Subcommand, Debug)]
enum FipCmd {
    /// Allocate a floating IP from an external network.
    Create(CreateArgs),
    /// List floating IPs.
    List(ListArgs),
    /// Show a floating IP.
    Show {
        /// Floating IP (address or ID).
        floating_ip: String,
    },
    /// Release floating IPs.
    Delete {
        /// Floating IPs (addresses or IDs).
        #[arg(required = true)]
        floating_ips: Vec<String>,
    },
    /// Associate a floating IP with a port.
    Set(SetArgs),
    /// Disassociate a floating IP from its port.
    Unset {
        /// Floating IP (address or ID).
        floating_ip: String,
        /// Disassociate it from its port.
        #[arg(long)]
        port: bool,
    },
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// External network to allocate from (name or ID).
    network: String,
    /// Associate with this port (name or ID).
    #[arg(long)]
    port: Option<String>,
    /// The port's fixed IP to map to (when it has several).
    #[arg(long, value_name = "IP")]
    fixed_ip_address: Option<String>,
    /// Ask for this address.
    #[arg(long, value_name = "IP")]
    floating_ip_address: Option<String>,
    /// Allocate from this subnet of the external network (name or ID).
    #[arg(long)]
    subnet: Option<String>,
    #[command(flatten)]
    owner: OwnerArgs,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only floating IPs of this external network (name or ID).
    #[arg(long)]
    network: Option<String>,
    /// Only the floating IP of this port (name or ID).
    #[arg(long)]
    port: Option<String>,
    /// Only floating IPs mapped to this fixed IP.
    #[arg(long, value_name = "IP")]
    fixed_ip_address: Option<String>,
    /// Only floating IPs in this status (ACTIVE, DOWN).
    #[arg(long)]
    status: Option<String>,
    /// Only floating IPs behind this router (name or ID).
    #[arg(long)]
    router: Option<String>,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// Floating IP (address or ID).
    floating_ip: String,
    /// Associate with this port (name or ID).
    #[arg(long)]
    port: Option<String>,
    /// The port's fixed IP to map to.
    #[arg(long, value_name = "IP", requires = "port")]
    fixed_ip_address: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
}

pub fn run(args: FloatingArgs) -> Result<()> {
    let Floating::Ip { cmd } = args.what;
    super::run(args.common, |ctx| async move {
        match cmd {
            FipCmd::Create(a) => create(&ctx, a).await,
            FipCmd::List(a) => list(&ctx, a).await,
            FipCmd::Show { floating_ip } => ctx.show_found(&FLOATING_IP, &floating_ip).await,
            FipCmd::Delete { floating_ips } => ctx.delete_all(&FLOATING_IP, &floating_ips).await,
            FipCmd::Set(a) => set(&ctx, a).await,
            FipCmd::Unset { floating_ip, port } => {
                let id = ctx.find_id(&FLOATING_IP, &floating_ip).await?;
                let mut m = Map::new();
                put_opt(&mut m, "port_id", port.then_some(Value::Null));
                ctx.update_changed(&FLOATING_IP, &id, m).await
            }
        }
    })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let network = ctx.find_id(&NETWORK, &a.network).await?;
    let port = ctx.find_id_opt(&PORT, a.port.as_deref()).await?;
    let subnet = ctx.find_id_opt(&SUBNET, a.subnet.as_deref()).await?;
    let mut m = Map::new();
    m.insert("floating_network_id".into(), json!(network));
    put_opt(&mut m, "port_id", port);
    put_opt(&mut m, "fixed_ip_address", a.fixed_ip_address);
    put_opt(&mut m, "floating_ip_address", a.floating_ip_address);
    put_opt(&mut m, "subnet_id", subnet);
    a.owner.put(ctx, &mut m).await?;
    ctx.create_and_show(&FLOATING_IP, m).await
}

const COLUMNS: [Column; 6] = [
    ("ID", "id"),
    ("Floating IP Address", "floating_ip_address"),
    ("Fixed IP Address", "fixed_ip_address"),
    ("Port", "port_id"),
    ("Floating Network", "floating_network_id"),
    ("Project", "project_id"),
];
const LONG_COLUMNS: [Column; 3] = [
    ("Router", "router_id"),
    ("Status", "status"),
    ("Description", "description"),
];

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let network = ctx.find_id_opt(&NETWORK, a.network.as_deref()).await?;
    let port = ctx.find_id_opt(&PORT, a.port.as_deref()).await?;
    let router = ctx.find_id_opt(&ROUTER, a.router.as_deref()).await?;
    let q = Query::default()
        .opt("floating_network_id", network)
        .opt("port_id", port)
        .opt("fixed_ip_address", a.fixed_ip_address)
        .opt("status", a.status)
        .opt("router_id", router);
    ctx.list_and_print(&FLOATING_IP, &q, &columns(&COLUMNS, &LONG_COLUMNS, a.long))
        .await
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let id = ctx.find_id(&FLOATING_IP, &a.floating_ip).await?;
    let port = ctx.find_id_opt(&PORT, a.port.as_deref()).await?;
    let mut m = Map::new();
    put_opt(&mut m, "port_id", port);
    put_opt(&mut m, "fixed_ip_address", a.fixed_ip_address);
    put_opt(&mut m, "description", a.description);
    ctx.update_changed(&FLOATING_IP, &id, m).await
}
