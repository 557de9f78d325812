//! `neutrino subnet create|list|show|delete|set`.

use super::network::NETWORK;
use super::output::Column;
use super::{
    Common, Ctx, OwnerArgs, Query, RenameArgs, Resource, columns, flag, kv_get, parse_kv, put_list,
    put_opt, routes,
};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const SUBNET: Resource = Resource {
    key: "subnet",
    plural: "subnets",
    path: "/v2.0/subnets",
    display: "Subnet",
    name_attr: Some("name"),
};

#[derive(Args, Debug)]
pub struct SubnetArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: SubnetCmd,
}

#[derive(Subcommand, Debug)]
enum SubnetCmd {
    /// Create a subnet.
    Create(CreateArgs),
    /// List subnets.
    List(ListArgs),
    /// Show a subnet.
    Show {
        /// Subnet (name or ID).
        subnet: String,
    },
    /// Delete subnets.
    Delete {
        /// Subnets (names or IDs).
        #[arg(required = true)]
        subnets: Vec<String>,
    },
    /// Change a subnet's attributes.
    Set(SetArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Name of the new subnet.
    name: String,
    /// Network (name or ID).
    #[arg(long)]
    network: String,
    /// The subnet's CIDR, e.g. 10.0.0.0/24.
    #[arg(long, value_name = "CIDR")]
    subnet_range: String,
    /// Gateway: an IP, 'auto' (the first address; default) or 'none'.
    #[arg(long, value_name = "IP|auto|none")]
    gateway: Option<String>,
    /// start=IP,end=IP (repeatable).
    #[arg(long, value_name = "start=IP,end=IP")]
    allocation_pool: Vec<String>,
    /// DNS server handed out by DHCP (repeatable).
    #[arg(long, value_name = "IP")]
    dns_nameserver: Vec<String>,
    /// destination=CIDR,gateway=IP (repeatable).
    #[arg(long, value_name = "destination=CIDR,gateway=IP")]
    host_route: Vec<String>,
    /// Serve DHCP (default).
    #[arg(long, conflicts_with = "no_dhcp")]
    dhcp: bool,
    /// No DHCP.
    #[arg(long)]
    no_dhcp: bool,
    /// 4 or 6 (default: from the CIDR).
    #[arg(long, value_parser = ["4", "6"])]
    ip_version: Option<String>,
    #[command(flatten)]
    owner: OwnerArgs,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only subnets of this network (name or ID).
    #[arg(long)]
    network: Option<String>,
    /// Only IPv4 or IPv6 subnets.
    #[arg(long, value_parser = ["4", "6"])]
    ip_version: Option<String>,
    /// Only subnets with this name.
    #[arg(long)]
    name: Option<String>,
    /// Only subnets with this CIDR.
    #[arg(long, value_name = "CIDR")]
    subnet_range: Option<String>,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// Subnet (name or ID).
    subnet: String,
    #[command(flatten)]
    rename: RenameArgs,
    /// New gateway: an IP or 'none'.
    #[arg(long, value_name = "IP|none")]
    gateway: Option<String>,
    /// Serve DHCP.
    #[arg(long, conflicts_with = "no_dhcp")]
    dhcp: bool,
    /// No DHCP.
    #[arg(long)]
    no_dhcp: bool,
    /// Add a DNS server (repeatable).
    #[arg(long, value_name = "IP")]
    dns_nameserver: Vec<String>,
    /// Remove all DNS servers (before adding --dns-nameserver ones).
    #[arg(long)]
    no_dns_nameservers: bool,
    /// Add a host route destination=CIDR,gateway=IP (repeatable).
    #[arg(long, value_name = "destination=CIDR,gateway=IP")]
    host_route: Vec<String>,
    /// Remove all host routes (before adding --host-route ones).
    #[arg(long)]
    no_host_route: bool,
}

pub fn run(args: SubnetArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            SubnetCmd::Create(a) => create(&ctx, a).await,
            SubnetCmd::List(a) => list(&ctx, a).await,
            SubnetCmd::Show { subnet } => ctx.show_found(&SUBNET, &subnet).await,
            SubnetCmd::Delete { subnets } => ctx.delete_all(&SUBNET, &subnets).await,
            SubnetCmd::Set(a) => set(&ctx, a).await,
        }
    })
}

fn pools(opts: &[String]) -> Result<Vec<Value>> {
    opts.iter()
        .map(|o| {
            let kv = parse_kv("allocation-pool", o, &["start", "end"])?;
            match (kv_get(&kv, "start"), kv_get(&kv, "end")) {
                (Some(s), Some(e)) => Ok(json!({"start": s, "end": e})),
                _ => bail!("--allocation-pool needs start=IP,end=IP, got '{o}'"),
            }
        })
        .collect()
}

/// `gateway_ip` from --gateway: an address, or null for 'none'.
fn put_gateway(m: &mut Map<String, Value>, gateway: Option<&str>) {
    if let Some(g) = gateway {
        let ip = if g == "none" { Value::Null } else { json!(g) };
        m.insert("gateway_ip".into(), ip);
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let network_id = ctx.find_id(&NETWORK, &a.network).await?;
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert("network_id".into(), json!(network_id));
    m.insert("cidr".into(), json!(a.subnet_range));
    let version: u32 = match a.ip_version.as_deref() {
        Some("6") => 6,
        Some(_) => 4,
        None if a.subnet_range.contains(':') => 6,
        None => 4,
    };
    m.insert("ip_version".into(), json!(version));
    put_gateway(&mut m, a.gateway.as_deref().filter(|g| *g != "auto"));
    if !a.allocation_pool.is_empty() {
        m.insert("allocation_pools".into(), json!(pools(&a.allocation_pool)?));
    }
    if !a.dns_nameserver.is_empty() {
        m.insert("dns_nameservers".into(), json!(a.dns_nameserver));
    }
    if !a.host_route.is_empty() {
        m.insert(
            "host_routes".into(),
            json!(routes("host-route", &a.host_route)?),
        );
    }
    put_opt(&mut m, "enable_dhcp", flag(a.dhcp, a.no_dhcp));
    a.owner.put(ctx, &mut m).await?;
    ctx.create_and_show(&SUBNET, m).await
}

const COLUMNS: [Column; 4] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Network", "network_id"),
    ("Subnet", "cidr"),
];
const LONG_COLUMNS: [Column; 7] = [
    ("Project", "project_id"),
    ("DHCP", "enable_dhcp"),
    ("Name Servers", "dns_nameservers"),
    ("Allocation Pools", "allocation_pools"),
    ("Host Routes", "host_routes"),
    ("IP Version", "ip_version"),
    ("Gateway", "gateway_ip"),
];

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let network = ctx.find_id_opt(&NETWORK, a.network.as_deref()).await?;
    let q = Query::default()
        .opt("network_id", network)
        .opt("ip_version", a.ip_version)
        .opt("name", a.name)
        .opt("cidr", a.subnet_range);
    ctx.list_and_print(&SUBNET, &q, &columns(&COLUMNS, &LONG_COLUMNS, a.long))
        .await
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let (cur, id) = ctx.find_with_id(&SUBNET, &a.subnet).await?;
    let mut m = Map::new();
    a.rename.put(&mut m);
    put_gateway(&mut m, a.gateway.as_deref());
    put_opt(&mut m, "enable_dhcp", flag(a.dhcp, a.no_dhcp));
    let dns = a.dns_nameserver.iter().map(|d| json!(d)).collect();
    put_list(&mut m, &cur, "dns_nameservers", a.no_dns_nameservers, dns);
    let added = routes("host-route", &a.host_route)?;
    put_list(&mut m, &cur, "host_routes", a.no_host_route, added);
    ctx.update_changed(&SUBNET, &id, m).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_options() {
        assert_eq!(
            pools(&["start=10.1.101.240,end=10.1.101.252".into()]).unwrap(),
            vec![json!({"start": "10.1.101.240", "end": "10.1.101.252"})]
        );
        assert!(pools(&["start=1.2.3.4".into()]).is_err());
    }

    #[test]
    fn gateways() {
        let mut m = Map::new();
        put_gateway(&mut m, None);
        assert!(m.is_empty());
        put_gateway(&mut m, Some("none"));
        assert_eq!(m["gateway_ip"], Value::Null);
        put_gateway(&mut m, Some("10.0.0.254"));
        assert_eq!(m["gateway_ip"], "10.0.0.254");
    }
}
