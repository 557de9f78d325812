//! `neutrino subnet create|list|show|delete|set`.

use super::network::NETWORK;
use super::{Common, Ctx, Resource, flag, kv_get, parse_kv, put_opt};
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
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Owner project (name or ID; admin only).
    #[arg(long)]
    project: Option<String>,
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
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
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
            SubnetCmd::Show { subnet } => ctx.show(&ctx.find(&SUBNET, &subnet).await?),
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

fn routes(opts: &[String]) -> Result<Vec<Value>> {
    opts.iter()
        .map(|o| {
            let kv = parse_kv("host-route", o, &["destination", "gateway", "nexthop"])?;
            let gw = kv_get(&kv, "gateway").or_else(|| kv_get(&kv, "nexthop"));
            match (kv_get(&kv, "destination"), gw) {
                (Some(d), Some(g)) => Ok(json!({"destination": d, "nexthop": g})),
                _ => bail!("--host-route needs destination=CIDR,gateway=IP, got '{o}'"),
            }
        })
        .collect()
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
    match a.gateway.as_deref() {
        None | Some("auto") => {}
        Some("none") => {
            m.insert("gateway_ip".into(), Value::Null);
        }
        Some(ip) => {
            m.insert("gateway_ip".into(), json!(ip));
        }
    }
    if !a.allocation_pool.is_empty() {
        m.insert("allocation_pools".into(), json!(pools(&a.allocation_pool)?));
    }
    if !a.dns_nameserver.is_empty() {
        m.insert("dns_nameservers".into(), json!(a.dns_nameserver));
    }
    if !a.host_route.is_empty() {
        m.insert("host_routes".into(), json!(routes(&a.host_route)?));
    }
    put_opt(&mut m, "enable_dhcp", flag(a.dhcp, a.no_dhcp));
    put_opt(&mut m, "description", a.description);
    if let Some(p) = &a.project {
        let id = ctx.find_id(&super::identity::PROJECT, p).await?;
        m.insert("project_id".into(), json!(id));
    }
    let s = ctx.create(&SUBNET, Value::Object(m)).await?;
    ctx.show(&s)
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(n) = &a.network {
        q.push(("network_id", ctx.find_id(&NETWORK, n).await?));
    }
    if let Some(v) = a.ip_version {
        q.push(("ip_version", v));
    }
    if let Some(n) = a.name {
        q.push(("name", n));
    }
    if let Some(c) = a.subnet_range {
        q.push(("cidr", c));
    }
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows = ctx.list(&SUBNET, &q).await?;
    if a.long {
        ctx.print_list(
            &rows,
            &[
                ("ID", "id"),
                ("Name", "name"),
                ("Network", "network_id"),
                ("Subnet", "cidr"),
                ("Project", "project_id"),
                ("DHCP", "enable_dhcp"),
                ("Name Servers", "dns_nameservers"),
                ("Allocation Pools", "allocation_pools"),
                ("Host Routes", "host_routes"),
                ("IP Version", "ip_version"),
                ("Gateway", "gateway_ip"),
            ],
        )
    } else {
        ctx.print_list(
            &rows,
            &[
                ("ID", "id"),
                ("Name", "name"),
                ("Network", "network_id"),
                ("Subnet", "cidr"),
            ],
        )
    }
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let cur = ctx.find(&SUBNET, &a.subnet).await?;
    let id = super::id_of(&cur)?;
    let mut m = Map::new();
    put_opt(&mut m, "name", a.name);
    put_opt(&mut m, "description", a.description);
    match a.gateway.as_deref() {
        None => {}
        Some("none") => {
            m.insert("gateway_ip".into(), Value::Null);
        }
        Some(ip) => {
            m.insert("gateway_ip".into(), json!(ip));
        }
    }
    put_opt(&mut m, "enable_dhcp", flag(a.dhcp, a.no_dhcp));
    if a.no_dns_nameservers || !a.dns_nameserver.is_empty() {
        let mut dns: Vec<Value> = if a.no_dns_nameservers {
            Vec::new()
        } else {
            cur.get("dns_nameservers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        dns.extend(a.dns_nameserver.iter().map(|d| json!(d)));
        m.insert("dns_nameservers".into(), Value::Array(dns));
    }
    if a.no_host_route || !a.host_route.is_empty() {
        let mut r: Vec<Value> = if a.no_host_route {
            Vec::new()
        } else {
            cur.get("host_routes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        r.extend(routes(&a.host_route)?);
        m.insert("host_routes".into(), Value::Array(r));
    }
    if m.is_empty() {
        return Ok(());
    }
    ctx.update(&SUBNET, &id, Value::Object(m)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_route_options() {
        assert_eq!(
            pools(&["start=10.1.101.240,end=10.1.101.252".into()]).unwrap(),
            vec![json!({"start": "10.1.101.240", "end": "10.1.101.252"})]
        );
        assert!(pools(&["start=1.2.3.4".into()]).is_err());
        assert_eq!(
            routes(&["destination=10.2.0.0/16,gateway=10.0.0.1".into()]).unwrap(),
            vec![json!({"destination": "10.2.0.0/16", "nexthop": "10.0.0.1"})]
        );
        assert!(routes(&["destination=10.2.0.0/16".into()]).is_err());
    }
}
