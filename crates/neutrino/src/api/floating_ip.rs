//! `neutrino floating ip create|list|show|delete|set|unset`.

use super::network::NETWORK;
use super::port::PORT;
use super::subnet::SUBNET;
use super::{Common, Ctx, Resource, put_opt};
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
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Owner project (name or ID; admin only).
    #[arg(long)]
    project: Option<String>,
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
            FipCmd::Show { floating_ip } => ctx.show(&ctx.find(&FLOATING_IP, &floating_ip).await?),
            FipCmd::Delete { floating_ips } => ctx.delete_all(&FLOATING_IP, &floating_ips).await,
            FipCmd::Set(a) => set(&ctx, a).await,
            FipCmd::Unset { floating_ip, port } => {
                let id = ctx.find_id(&FLOATING_IP, &floating_ip).await?;
                if port {
                    ctx.update(&FLOATING_IP, &id, json!({"port_id": null}))
                        .await?;
                }
                Ok(())
            }
        }
    })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert(
        "floating_network_id".into(),
        json!(ctx.find_id(&NETWORK, &a.network).await?),
    );
    if let Some(p) = &a.port {
        m.insert("port_id".into(), json!(ctx.find_id(&PORT, p).await?));
    }
    put_opt(&mut m, "fixed_ip_address", a.fixed_ip_address);
    put_opt(&mut m, "floating_ip_address", a.floating_ip_address);
    if let Some(s) = &a.subnet {
        m.insert("subnet_id".into(), json!(ctx.find_id(&SUBNET, s).await?));
    }
    put_opt(&mut m, "description", a.description);
    if let Some(p) = &a.project {
        let id = ctx.find_id(&super::identity::PROJECT, p).await?;
        m.insert("project_id".into(), json!(id));
    }
    let f = ctx.create(&FLOATING_IP, Value::Object(m)).await?;
    ctx.show(&f)
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(n) = &a.network {
        q.push(("floating_network_id", ctx.find_id(&NETWORK, n).await?));
    }
    if let Some(p) = &a.port {
        q.push(("port_id", ctx.find_id(&PORT, p).await?));
    }
    if let Some(ip) = a.fixed_ip_address {
        q.push(("fixed_ip_address", ip));
    }
    if let Some(s) = a.status {
        q.push(("status", s));
    }
    if let Some(r) = &a.router {
        q.push(("router_id", ctx.find_id(&super::router::ROUTER, r).await?));
    }
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows = ctx.list(&FLOATING_IP, &q).await?;
    let mut cols = vec![
        ("ID", "id"),
        ("Floating IP Address", "floating_ip_address"),
        ("Fixed IP Address", "fixed_ip_address"),
        ("Port", "port_id"),
        ("Floating Network", "floating_network_id"),
        ("Project", "project_id"),
    ];
    if a.long {
        cols.extend([
            ("Router", "router_id"),
            ("Status", "status"),
            ("Description", "description"),
        ]);
    }
    ctx.print_list(&rows, &cols)
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let id = ctx.find_id(&FLOATING_IP, &a.floating_ip).await?;
    let mut m = Map::new();
    if let Some(p) = &a.port {
        m.insert("port_id".into(), json!(ctx.find_id(&PORT, p).await?));
    }
    put_opt(&mut m, "fixed_ip_address", a.fixed_ip_address);
    put_opt(&mut m, "description", a.description);
    if m.is_empty() {
        return Ok(());
    }
    ctx.update(&FLOATING_IP, &id, Value::Object(m)).await?;
    Ok(())
}
