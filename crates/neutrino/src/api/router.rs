//! `neutrino router create|list|show|delete|set|unset` and
//! `router add|remove subnet|port`.

use super::network::NETWORK;
use super::output::Column;
use super::port::{PORT, fixed_ips};
use super::subnet::SUBNET;
use super::{
    Common, Ctx, NewStateArgs, OwnerArgs, Query, RenameArgs, Resource, StateArgs, columns, flag,
    put_list, put_opt, routes, seg,
};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const ROUTER: Resource = Resource {
    key: "router",
    plural: "routers",
    path: "/v2.0/routers",
    display: "Router",
    name_attr: Some("name"),
};

#[derive(Args, Debug)]
pub struct RouterArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: RouterCmd,
}

#[derive(Subcommand, Debug)]
enum RouterCmd {
    /// Create a router.
    Create(CreateArgs),
    /// List routers.
    List {
        /// Only routers with this name.
        #[arg(long)]
        name: Option<String>,
        /// More columns.
        #[arg(long)]
        long: bool,
    },
    /// Show a router (with its interfaces).
    Show {
        /// Router (name or ID).
        router: String,
    },
    /// Delete routers.
    Delete {
        /// Routers (names or IDs).
        #[arg(required = true)]
        routers: Vec<String>,
    },
    /// Attach a subnet or port to a router.
    Add {
        #[command(subcommand)]
        what: Interface,
    },
    /// Detach a subnet or port from a router.
    Remove {
        #[command(subcommand)]
        what: Interface,
    },
    /// Change a router: name, state, external gateway, routes.
    Set(SetArgs),
    /// Clear a router's external gateway or routes.
    Unset(UnsetArgs),
}

#[derive(Subcommand, Debug)]
enum Interface {
    /// A subnet: the router gets a port at the subnet's gateway IP.
    Subnet {
        /// Router (name or ID).
        router: String,
        /// Subnet (name or ID).
        subnet: String,
    },
    /// An existing port.
    Port {
        /// Router (name or ID).
        router: String,
        /// Port (name or ID).
        port: String,
    },
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Name of the new router.
    name: String,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    state: NewStateArgs,
    /// External network to use as the gateway (name or ID).
    #[arg(long, value_name = "NETWORK")]
    external_gateway: Option<String>,
    /// SNAT the router's subnets behind the gateway IP (default).
    #[arg(long, conflicts_with = "disable_snat", requires = "external_gateway")]
    enable_snat: bool,
    /// No SNAT (admin only).
    #[arg(long, requires = "external_gateway")]
    disable_snat: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// Router (name or ID).
    router: String,
    #[command(flatten)]
    rename: RenameArgs,
    #[command(flatten)]
    state: StateArgs,
    /// External network to use as the gateway (name or ID).
    #[arg(long, value_name = "NETWORK")]
    external_gateway: Option<String>,
    /// SNAT behind the gateway IP.
    #[arg(long, conflicts_with = "disable_snat")]
    enable_snat: bool,
    /// No SNAT (admin only).
    #[arg(long)]
    disable_snat: bool,
    /// Gateway IP: subnet=SUBNET,ip-address=IP (repeatable; with --external-gateway).
    #[arg(
        long,
        value_name = "subnet=SUBNET,ip-address=IP",
        requires = "external_gateway"
    )]
    fixed_ip: Vec<String>,
    /// Add a static route destination=CIDR,gateway=IP (repeatable).
    #[arg(long, value_name = "destination=CIDR,gateway=IP")]
    route: Vec<String>,
    /// Remove all static routes (before adding --route ones).
    #[arg(long)]
    no_route: bool,
}

#[derive(Args, Debug)]
struct UnsetArgs {
    /// Router (name or ID).
    router: String,
    /// Remove the external gateway.
    #[arg(long)]
    external_gateway: bool,
    /// Remove all static routes.
    #[arg(long)]
    routes: bool,
}

pub fn run(args: RouterArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            RouterCmd::Create(a) => create(&ctx, a).await,
            RouterCmd::List { name, long } => list(&ctx, name, long).await,
            RouterCmd::Show { router } => show(&ctx, &router).await,
            RouterCmd::Delete { routers } => ctx.delete_all(&ROUTER, &routers).await,
            RouterCmd::Add { what } => interface(&ctx, "add_router_interface", what).await,
            RouterCmd::Remove { what } => interface(&ctx, "remove_router_interface", what).await,
            RouterCmd::Set(a) => set(&ctx, a).await,
            RouterCmd::Unset(a) => unset(&ctx, a).await,
        }
    })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    put_opt(&mut m, "admin_state_up", a.state.up());
    a.owner.put(ctx, &mut m).await?;
    if let Some(net) = &a.external_gateway {
        let snat = flag(a.enable_snat, a.disable_snat);
        let gw = gateway(ctx.find_id(&NETWORK, net).await?, snat, Vec::new());
        m.insert("external_gateway_info".into(), gw);
    }
    let r = ctx.create(&ROUTER, Value::Object(m)).await?;
    let r = with_interfaces(ctx, r).await?;
    ctx.show(&r)
}

const COLUMNS: [Column; 7] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("State", "admin_state_up"),
    ("Project", "project_id"),
    ("Distributed", "distributed"),
    ("HA", "ha"),
];
const LONG_COLUMNS: [Column; 2] = [
    ("Routes", "routes"),
    ("External gateway info", "external_gateway_info"),
];

async fn list(ctx: &Ctx, name: Option<String>, long: bool) -> Result<()> {
    let q = Query::default().opt("name", name);
    ctx.list_and_print(&ROUTER, &q, &columns(&COLUMNS, &LONG_COLUMNS, long))
        .await
}

/// The router with openstack's `interfaces_info`: its router-interface ports.
async fn with_interfaces(ctx: &Ctx, mut r: Value) -> Result<Value> {
    let id = super::id_of(&r)?;
    let ports = ctx
        .list(
            &PORT,
            &[
                ("device_id", id.as_str()),
                ("device_owner", "network:router_interface"),
            ],
        )
        .await?;
    let mut info = Vec::new();
    for p in &ports {
        for ip in p
            .get("fixed_ips")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            info.push(json!({
                "port_id": p.get("id"),
                "ip_address": ip.get("ip_address"),
                "subnet_id": ip.get("subnet_id"),
            }));
        }
    }
    if let Value::Object(m) = &mut r {
        m.insert("interfaces_info".into(), Value::Array(info));
    }
    Ok(r)
}

async fn show(ctx: &Ctx, router: &str) -> Result<()> {
    let r = ctx.find(&ROUTER, router).await?;
    let r = with_interfaces(ctx, r).await?;
    ctx.show(&r)
}

async fn interface(ctx: &Ctx, action: &str, what: Interface) -> Result<()> {
    let (router, body) = match &what {
        Interface::Subnet { router, subnet } => (
            router,
            json!({"subnet_id": ctx.find_id(&SUBNET, subnet).await?}),
        ),
        Interface::Port { router, port } => {
            (router, json!({"port_id": ctx.find_id(&PORT, port).await?}))
        }
    };
    let id = ctx.find_id(&ROUTER, router).await?;
    let path = format!("{}/{}/{action}", ROUTER.path, seg(&id));
    ctx.client.put(&path, &body).await?;
    Ok(())
}

/// `external_gateway_info`: the network, SNAT if asked, fixed IPs if given.
fn gateway(network_id: String, snat: Option<bool>, fixed_ips: Vec<Value>) -> Value {
    let mut gw = Map::new();
    gw.insert("network_id".into(), json!(network_id));
    put_opt(&mut gw, "enable_snat", snat);
    if !fixed_ips.is_empty() {
        gw.insert("external_fixed_ips".into(), Value::Array(fixed_ips));
    }
    Value::Object(gw)
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let (cur, id) = ctx.find_with_id(&ROUTER, &a.router).await?;
    let mut m = Map::new();
    a.rename.put(&mut m);
    put_opt(&mut m, "admin_state_up", a.state.up());
    let snat = flag(a.enable_snat, a.disable_snat);
    let network_id = match &a.external_gateway {
        Some(net) => Some(ctx.find_id(&NETWORK, net).await?),
        None if snat.is_some() => match cur
            .pointer("/external_gateway_info/network_id")
            .and_then(Value::as_str)
        {
            Some(n) => Some(n.to_string()),
            None => bail!("--enable-snat/--disable-snat need an external gateway"),
        },
        None => None,
    };
    if let Some(net) = network_id {
        let ips = fixed_ips(ctx, &a.fixed_ip).await?;
        m.insert("external_gateway_info".into(), gateway(net, snat, ips));
    }
    let added = routes("route", &a.route)?;
    put_list(&mut m, &cur, "routes", a.no_route, added);
    ctx.update_changed(&ROUTER, &id, m).await
}

async fn unset(ctx: &Ctx, a: UnsetArgs) -> Result<()> {
    let id = ctx.find_id(&ROUTER, &a.router).await?;
    let mut m = Map::new();
    put_opt(
        &mut m,
        "external_gateway_info",
        a.external_gateway.then(|| json!({})),
    );
    put_opt(&mut m, "routes", a.routes.then(|| json!([])));
    ctx.update_changed(&ROUTER, &id, m).await
}
