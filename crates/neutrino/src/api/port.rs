//! `neutrino port create|list|show|delete|set`.

use super::network::NETWORK;
use super::output::Column;
use super::router::ROUTER;
use super::security_group::SECURITY_GROUP;
use super::subnet::SUBNET;
use super::{
    Common, Ctx, NewStateArgs, OwnerArgs, Query, RenameArgs, Resource, StateArgs, columns,
    current_list, flag, kv_get, parse_kv, put_list, put_opt,
};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const PORT: Resource = Resource {
    key: "port",
    plural: "ports",
    path: "/v2.0/ports",
    display: "Port",
    name_attr: Some("name"),
};

#[derive(Args, Debug)]
pub struct PortArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: PortCmd,
}

#[derive(Subcommand, Debug)]
enum PortCmd {
    /// Create a port.
    Create(CreateArgs),
    /// List ports.
    List(ListArgs),
    /// Show a port.
    Show {
        /// Port (name or ID).
        port: String,
    },
    /// Delete ports.
    Delete {
        /// Ports (names or IDs).
        #[arg(required = true)]
        ports: Vec<String>,
    },
    /// Change a port's attributes.
    Set(SetArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Name of the new port.
    name: String,
    /// Network (name or ID).
    #[arg(long)]
    network: String,
    /// subnet=SUBNET,ip-address=IP (either part may be left out; repeatable).
    #[arg(long, value_name = "subnet=SUBNET,ip-address=IP")]
    fixed_ip: Vec<String>,
    /// No fixed IP at all.
    #[arg(long, conflicts_with = "fixed_ip")]
    no_fixed_ip: bool,
    /// device_owner, e.g. compute:nova.
    #[arg(long)]
    device_owner: Option<String>,
    /// device_id (the VM or router using the port).
    #[arg(long)]
    device_id: Option<String>,
    /// Bind the port to this host (binding:host_id; admin only).
    #[arg(long)]
    host: Option<String>,
    /// MAC address (default: a generated fa:16:3e:… address).
    #[arg(long)]
    mac_address: Option<String>,
    /// ip-address=IP[,mac-address=MAC] another address the port may use (repeatable).
    #[arg(long, value_name = "ip-address=IP,mac-address=MAC")]
    allowed_address: Vec<String>,
    /// Security group (name or ID; repeatable; default: the project's default group).
    #[arg(long)]
    security_group: Vec<String>,
    /// No security group.
    #[arg(long, conflicts_with = "security_group")]
    no_security_group: bool,
    /// Enable port security.
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security (no security groups, no anti-spoofing).
    #[arg(long)]
    disable_port_security: bool,
    #[command(flatten)]
    state: NewStateArgs,
    #[command(flatten)]
    owner: OwnerArgs,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only ports on this network (name or ID).
    #[arg(long)]
    network: Option<String>,
    /// Only ports bound to this host.
    #[arg(long)]
    host: Option<String>,
    /// Only ports with this device_id.
    #[arg(long)]
    device_id: Option<String>,
    /// Only ports with this device_owner.
    #[arg(long)]
    device_owner: Option<String>,
    /// Only the ports of this router (name or ID).
    #[arg(long)]
    router: Option<String>,
    /// Only ports with this name.
    #[arg(long)]
    name: Option<String>,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// Port (name or ID).
    port: String,
    #[command(flatten)]
    rename: RenameArgs,
    /// Bind the port to this host (binding:host_id; admin only).
    #[arg(long)]
    host: Option<String>,
    /// New device_id.
    #[arg(long)]
    device_id: Option<String>,
    /// New device_owner.
    #[arg(long)]
    device_owner: Option<String>,
    /// New MAC address.
    #[arg(long)]
    mac_address: Option<String>,
    /// Add a fixed IP subnet=SUBNET,ip-address=IP (repeatable).
    #[arg(long, value_name = "subnet=SUBNET,ip-address=IP")]
    fixed_ip: Vec<String>,
    /// Remove all fixed IPs (before adding --fixed-ip ones).
    #[arg(long)]
    no_fixed_ip: bool,
    /// Add an allowed address pair ip-address=IP[,mac-address=MAC] (repeatable).
    #[arg(long, value_name = "ip-address=IP,mac-address=MAC")]
    allowed_address: Vec<String>,
    /// Remove all allowed address pairs (before adding --allowed-address ones).
    #[arg(long)]
    no_allowed_address: bool,
    /// Add a security group (name or ID; repeatable).
    #[arg(long)]
    security_group: Vec<String>,
    /// Remove all security groups (before adding --security-group ones).
    #[arg(long)]
    no_security_group: bool,
    /// Enable port security.
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security.
    #[arg(long)]
    disable_port_security: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: PortArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            PortCmd::Create(a) => create(&ctx, a).await,
            PortCmd::List(a) => list(&ctx, a).await,
            PortCmd::Show { port } => ctx.show_found(&PORT, &port).await,
            PortCmd::Delete { ports } => ctx.delete_all(&PORT, &ports).await,
            PortCmd::Set(a) => set(&ctx, a).await,
        }
    })
}

/// `--fixed-ip subnet=S,ip-address=IP` as the API's `{"subnet_id", "ip_address"}`.
pub(super) async fn fixed_ips(ctx: &Ctx, opts: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for o in opts {
        let kv = parse_kv("fixed-ip", o, &["subnet", "ip-address"])?;
        let mut m = Map::new();
        let subnet = ctx.find_id_opt(&SUBNET, kv_get(&kv, "subnet")).await?;
        put_opt(&mut m, "subnet_id", subnet);
        put_opt(&mut m, "ip_address", kv_get(&kv, "ip-address"));
        out.push(Value::Object(m));
    }
    Ok(out)
}

fn address_pairs(opts: &[String]) -> Result<Vec<Value>> {
    opts.iter()
        .map(|o| {
            let kv = parse_kv("allowed-address", o, &["ip-address", "mac-address"])?;
            let Some(ip) = kv_get(&kv, "ip-address") else {
                bail!("--allowed-address needs ip-address=IP, got '{o}'");
            };
            let mut m = Map::new();
            m.insert("ip_address".into(), json!(ip));
            put_opt(&mut m, "mac_address", kv_get(&kv, "mac-address"));
            Ok(Value::Object(m))
        })
        .collect()
}

async fn group_ids(ctx: &Ctx, names: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for g in names {
        out.push(json!(ctx.find_id(&SECURITY_GROUP, g).await?));
    }
    Ok(out)
}

/// A list attribute for `create`: `[]` with `none`, else the items if any.
fn put_created(m: &mut Map<String, Value>, key: &str, none: bool, items: Vec<Value>) {
    if none || !items.is_empty() {
        m.insert(key.into(), Value::Array(items));
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert(
        "network_id".into(),
        json!(ctx.find_id(&NETWORK, &a.network).await?),
    );
    let ips = fixed_ips(ctx, &a.fixed_ip).await?;
    put_created(&mut m, "fixed_ips", a.no_fixed_ip, ips);
    put_opt(&mut m, "device_owner", a.device_owner);
    put_opt(&mut m, "device_id", a.device_id);
    put_opt(&mut m, "binding:host_id", a.host);
    put_opt(&mut m, "mac_address", a.mac_address);
    let pairs = address_pairs(&a.allowed_address)?;
    put_created(&mut m, "allowed_address_pairs", false, pairs);
    let groups = group_ids(ctx, &a.security_group).await?;
    put_created(&mut m, "security_groups", a.no_security_group, groups);
    let port_security = flag(a.enable_port_security, a.disable_port_security);
    put_opt(&mut m, "port_security_enabled", port_security);
    put_opt(&mut m, "admin_state_up", a.state.up());
    a.owner.put(ctx, &mut m).await?;
    ctx.create_and_show(&PORT, m).await
}

const COLUMNS: [Column; 5] = [
    ("ID", "id"),
    ("Name", "name"),
    ("MAC Address", "mac_address"),
    ("Fixed IP Addresses", "fixed_ips"),
    ("Status", "status"),
];
const LONG_COLUMNS: [Column; 4] = [
    ("Security Groups", "security_groups"),
    ("Device Owner", "device_owner"),
    ("Device ID", "device_id"),
    ("Host", "binding:host_id"),
];

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let network = ctx.find_id_opt(&NETWORK, a.network.as_deref()).await?;
    let router = ctx.find_id_opt(&ROUTER, a.router.as_deref()).await?;
    let q = Query::default()
        .opt("network_id", network)
        .opt("binding:host_id", a.host)
        .opt("device_id", a.device_id)
        .opt("device_owner", a.device_owner)
        .opt("device_id", router)
        .opt("name", a.name);
    ctx.list_and_print(&PORT, &q, &columns(&COLUMNS, &LONG_COLUMNS, a.long))
        .await
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let (cur, id) = ctx.find_with_id(&PORT, &a.port).await?;
    let mut m = Map::new();
    a.rename.put(&mut m);
    put_opt(&mut m, "binding:host_id", a.host);
    put_opt(&mut m, "device_id", a.device_id);
    put_opt(&mut m, "device_owner", a.device_owner);
    put_opt(&mut m, "mac_address", a.mac_address);
    let ips = fixed_ips(ctx, &a.fixed_ip).await?;
    put_list(&mut m, &cur, "fixed_ips", a.no_fixed_ip, ips);
    let pairs = address_pairs(&a.allowed_address)?;
    put_list(
        &mut m,
        &cur,
        "allowed_address_pairs",
        a.no_allowed_address,
        pairs,
    );
    if a.no_security_group || !a.security_group.is_empty() {
        let mut groups = current_list(&cur, "security_groups", a.no_security_group);
        for g in group_ids(ctx, &a.security_group).await? {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        m.insert("security_groups".into(), Value::Array(groups));
    }
    let port_security = flag(a.enable_port_security, a.disable_port_security);
    put_opt(&mut m, "port_security_enabled", port_security);
    put_opt(&mut m, "admin_state_up", a.state.up());
    ctx.update_changed(&PORT, &id, m).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_address_option() {
        assert_eq!(
            address_pairs(&["ip-address=10.0.0.9,mac-address=fa:16:3e:00:00:01".into()]).unwrap(),
            vec![json!({"ip_address": "10.0.0.9", "mac_address": "fa:16:3e:00:00:01"})]
        );
        assert_eq!(
            address_pairs(&["ip-address=10.0.0.0/24".into()]).unwrap(),
            vec![json!({"ip_address": "10.0.0.0/24"})]
        );
        assert!(address_pairs(&["mac-address=fa:16:3e:00:00:01".into()]).is_err());
    }
}
