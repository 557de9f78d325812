//! `neutrino port create|list|show|delete|set`.

use super::network::NETWORK;
use super::security_group::SECURITY_GROUP;
use super::subnet::SUBNET;
use super::{Common, Ctx, Resource, flag, kv_get, parse_kv, put_opt};
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
    /// Administratively up (default).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Owner project (name or ID; admin only).
    #[arg(long)]
    project: Option<String>,
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
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
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
    /// Administratively up.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Administratively down.
    #[arg(long)]
    disable: bool,
}

pub fn run(args: PortArgs) -> Result<()> {
    super::run(args.common, |ctx| async move {
        match args.cmd {
            PortCmd::Create(a) => create(&ctx, a).await,
            PortCmd::List(a) => list(&ctx, a).await,
            PortCmd::Show { port } => ctx.show(&ctx.find(&PORT, &port).await?),
            PortCmd::Delete { ports } => ctx.delete_all(&PORT, &ports).await,
            PortCmd::Set(a) => set(&ctx, a).await,
        }
    })
}

/// `--fixed-ip subnet=S,ip-address=IP` as the API's `{"subnet_id", "ip_address"}`.
async fn fixed_ips(ctx: &Ctx, opts: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for o in opts {
        let kv = parse_kv("fixed-ip", o, &["subnet", "ip-address"])?;
        let mut m = Map::new();
        if let Some(s) = kv_get(&kv, "subnet") {
            m.insert("subnet_id".into(), json!(ctx.find_id(&SUBNET, s).await?));
        }
        if let Some(ip) = kv_get(&kv, "ip-address") {
            m.insert("ip_address".into(), json!(ip));
        }
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
            if let Some(mac) = kv_get(&kv, "mac-address") {
                m.insert("mac_address".into(), json!(mac));
            }
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

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert(
        "network_id".into(),
        json!(ctx.find_id(&NETWORK, &a.network).await?),
    );
    if a.no_fixed_ip {
        m.insert("fixed_ips".into(), json!([]));
    } else if !a.fixed_ip.is_empty() {
        m.insert(
            "fixed_ips".into(),
            json!(fixed_ips(ctx, &a.fixed_ip).await?),
        );
    }
    put_opt(&mut m, "device_owner", a.device_owner);
    put_opt(&mut m, "device_id", a.device_id);
    put_opt(&mut m, "binding:host_id", a.host);
    put_opt(&mut m, "mac_address", a.mac_address);
    if !a.allowed_address.is_empty() {
        m.insert(
            "allowed_address_pairs".into(),
            json!(address_pairs(&a.allowed_address)?),
        );
    }
    if a.no_security_group {
        m.insert("security_groups".into(), json!([]));
    } else if !a.security_group.is_empty() {
        m.insert(
            "security_groups".into(),
            json!(group_ids(ctx, &a.security_group).await?),
        );
    }
    put_opt(
        &mut m,
        "port_security_enabled",
        flag(a.enable_port_security, a.disable_port_security),
    );
    put_opt(&mut m, "admin_state_up", flag(a.enable, a.disable));
    put_opt(&mut m, "description", a.description);
    if let Some(p) = &a.project {
        let id = ctx.find_id(&super::identity::PROJECT, p).await?;
        m.insert("project_id".into(), json!(id));
    }
    let p = ctx.create(&PORT, Value::Object(m)).await?;
    ctx.show(&p)
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(n) = &a.network {
        q.push(("network_id", ctx.find_id(&NETWORK, n).await?));
    }
    if let Some(h) = a.host {
        q.push(("binding:host_id", h));
    }
    if let Some(d) = a.device_id {
        q.push(("device_id", d));
    }
    if let Some(d) = a.device_owner {
        q.push(("device_owner", d));
    }
    if let Some(r) = &a.router {
        q.push(("device_id", ctx.find_id(&super::router::ROUTER, r).await?));
    }
    if let Some(n) = a.name {
        q.push(("name", n));
    }
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rows = ctx.list(&PORT, &q).await?;
    let mut cols = vec![
        ("ID", "id"),
        ("Name", "name"),
        ("MAC Address", "mac_address"),
        ("Fixed IP Addresses", "fixed_ips"),
        ("Status", "status"),
    ];
    if a.long {
        cols.extend([
            ("Security Groups", "security_groups"),
            ("Device Owner", "device_owner"),
            ("Device ID", "device_id"),
            ("Host", "binding:host_id"),
        ]);
    }
    ctx.print_list(&rows, &cols)
}

fn current_list(cur: &Value, key: &str, reset: bool) -> Vec<Value> {
    if reset {
        return Vec::new();
    }
    cur.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn set(ctx: &Ctx, a: SetArgs) -> Result<()> {
    let cur = ctx.find(&PORT, &a.port).await?;
    let id = super::id_of(&cur)?;
    let mut m = Map::new();
    put_opt(&mut m, "name", a.name);
    put_opt(&mut m, "description", a.description);
    put_opt(&mut m, "binding:host_id", a.host);
    put_opt(&mut m, "device_id", a.device_id);
    put_opt(&mut m, "device_owner", a.device_owner);
    put_opt(&mut m, "mac_address", a.mac_address);
    if a.no_fixed_ip || !a.fixed_ip.is_empty() {
        let mut ips = current_list(&cur, "fixed_ips", a.no_fixed_ip);
        ips.extend(fixed_ips(ctx, &a.fixed_ip).await?);
        m.insert("fixed_ips".into(), Value::Array(ips));
    }
    if a.no_allowed_address || !a.allowed_address.is_empty() {
        let mut pairs = current_list(&cur, "allowed_address_pairs", a.no_allowed_address);
        pairs.extend(address_pairs(&a.allowed_address)?);
        m.insert("allowed_address_pairs".into(), Value::Array(pairs));
    }
    if a.no_security_group || !a.security_group.is_empty() {
        let mut groups = current_list(&cur, "security_groups", a.no_security_group);
        for g in group_ids(ctx, &a.security_group).await? {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        m.insert("security_groups".into(), Value::Array(groups));
    }
    put_opt(
        &mut m,
        "port_security_enabled",
        flag(a.enable_port_security, a.disable_port_security),
    );
    put_opt(&mut m, "admin_state_up", flag(a.enable, a.disable));
    if m.is_empty() {
        return Ok(());
    }
    ctx.update(&PORT, &id, Value::Object(m)).await?;
    Ok(())
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
