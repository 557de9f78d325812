//! `neutrino security group create|list|show|delete|set` and
//! `security group rule create|list|show|delete`.

use super::identity::PROJECT;
use super::output::Column;
use super::{Common, Ctx, OwnerArgs, Query, RenameArgs, Resource, flag, put_opt};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const SECURITY_GROUP: Resource = Resource {
    key: "security_group",
    plural: "security_groups",
    path: "/v2.0/security-groups",
    display: "SecurityGroup",
    name_attr: Some("name"),
};

pub const RULE: Resource = Resource {
    key: "security_group_rule",
    plural: "security_group_rules",
    path: "/v2.0/security-group-rules",
    display: "SecurityGroupRule",
    name_attr: None,
};

/// `neutrino security ...`: only `group` lives here (as in openstack).
#[derive(Args, Debug)]
pub struct SecurityArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    what: Security,
}

#[derive(Subcommand, Debug)]
enum Security {
    /// Security groups: stateful firewall rules on ports.
    Group {
        #[command(subcommand)]
        cmd: GroupCmd,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCmd {
    /// Create a security group (it starts with egress-allow rules).
    Create {
        /// Name of the new group.
        name: String,
        #[command(flatten)]
        owner: OwnerArgs,
    },
    /// List security groups.
    List {
        /// Only this project's groups (name or ID).
        #[arg(long)]
        project: Option<String>,
    },
    /// Show a security group and its rules.
    Show {
        /// Group (name or ID).
        group: String,
    },
    /// Delete security groups.
    Delete {
        /// Groups (names or IDs).
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Change a security group's name or description.
    Set {
        /// Group (name or ID).
        group: String,
        #[command(flatten)]
        rename: RenameArgs,
    },
    /// Security group rules.
    Rule {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
}

#[derive(Subcommand, Debug)]
enum RuleCmd {
    /// Add a rule to a group.
    Create(RuleCreateArgs),
    /// List rules (of one group, or all).
    List(RuleListArgs),
    /// Show a rule.
    Show {
        /// Rule ID.
        rule: String,
    },
    /// Delete rules.
    Delete {
        /// Rule IDs.
        #[arg(required = true)]
        rules: Vec<String>,
    },
}

#[derive(Args, Debug)]
struct RuleCreateArgs {
    /// The group to add the rule to (name or ID).
    group: String,
    /// IP protocol: icmp, tcp, udp, any, another name or a number (default any).
    #[arg(long)]
    protocol: Option<String>,
    /// Destination port or range N[:M] (tcp, udp, …).
    #[arg(long, value_name = "N[:M]")]
    dst_port: Option<String>,
    /// ICMP type.
    #[arg(long, value_name = "TYPE")]
    icmp_type: Option<u32>,
    /// ICMP code (with --icmp-type).
    #[arg(long, value_name = "CODE", requires = "icmp_type")]
    icmp_code: Option<u32>,
    /// Incoming traffic (default).
    #[arg(long, conflicts_with = "egress")]
    ingress: bool,
    /// Outgoing traffic.
    #[arg(long)]
    egress: bool,
    /// Remote address prefix (default: 0.0.0.0/0 or ::/0 unless --remote-group).
    #[arg(long, value_name = "CIDR", conflicts_with = "remote_group")]
    remote_ip: Option<String>,
    /// Remote security group (name or ID).
    #[arg(long, value_name = "GROUP")]
    remote_group: Option<String>,
    /// IPv4 or IPv6 (default: from --remote-ip, else IPv4).
    #[arg(long, value_parser = ["IPv4", "IPv6"])]
    ethertype: Option<String>,
    #[command(flatten)]
    owner: OwnerArgs,
}

#[derive(Args, Debug)]
struct RuleListArgs {
    /// Only this group's rules (name or ID).
    group: Option<String>,
    /// Only ingress rules.
    #[arg(long, conflicts_with = "egress")]
    ingress: bool,
    /// Only egress rules.
    #[arg(long)]
    egress: bool,
    /// Only rules for this protocol.
    #[arg(long)]
    protocol: Option<String>,
    /// Only IPv4 or IPv6 rules.
    #[arg(long, value_parser = ["IPv4", "IPv6"])]
    ethertype: Option<String>,
}

const GROUP_COLUMNS: [Column; 5] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Project", "project_id"),
    ("Tags", "tags"),
];

pub fn run(args: SecurityArgs) -> Result<()> {
    let Security::Group { cmd } = args.what;
    super::run(args.common, |ctx| async move {
        match cmd {
            GroupCmd::Create { name, owner } => {
                let mut m = Map::new();
                m.insert("name".into(), json!(name));
                owner.put(&ctx, &mut m).await?;
                ctx.create_and_show(&SECURITY_GROUP, m).await
            }
            GroupCmd::List { project } => {
                let pid = ctx.find_id_opt(&PROJECT, project.as_deref()).await?;
                let q = Query::default().opt("project_id", pid);
                ctx.list_and_print(&SECURITY_GROUP, &q, &GROUP_COLUMNS)
                    .await
            }
            GroupCmd::Show { group } => ctx.show_found(&SECURITY_GROUP, &group).await,
            GroupCmd::Delete { groups } => ctx.delete_all(&SECURITY_GROUP, &groups).await,
            GroupCmd::Set { group, rename } => {
                let id = ctx.find_id(&SECURITY_GROUP, &group).await?;
                let mut m = Map::new();
                rename.put(&mut m);
                ctx.update_changed(&SECURITY_GROUP, &id, m).await
            }
            GroupCmd::Rule { cmd } => match cmd {
                RuleCmd::Create(a) => rule_create(&ctx, a).await,
                RuleCmd::List(a) => rule_list(&ctx, a).await,
                RuleCmd::Show { rule } => ctx.show_found(&RULE, &rule).await,
                RuleCmd::Delete { rules } => ctx.delete_all(&RULE, &rules).await,
            },
        }
    })
}

/// `N` or `N:M` as (min, max).
fn port_range(s: &str) -> Result<(u32, u32)> {
    let parse = |p: &str| {
        p.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 65535)
            .with_context(|| format!("--dst-port: '{s}' is not a port or range N[:M]"))
    };
    let (lo, hi) = match s.split_once(':') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let n = parse(s)?;
            (n, n)
        }
    };
    if lo > hi {
        bail!("--dst-port: {lo} is greater than {hi}");
    }
    Ok((lo, hi))
}

/// The rule body openstackclient would send.
fn rule_body(a: &RuleCreateArgs, group_id: &str, remote_group: Option<String>) -> Result<Value> {
    let ethertype = match &a.ethertype {
        Some(e) => e.clone(),
        None if a.remote_ip.as_deref().is_some_and(|r| r.contains(':')) => "IPv6".into(),
        None => "IPv4".into(),
    };
    let protocol = match a.protocol.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(p) if p == "any" => None,
        Some(p) if p == "icmp" && ethertype == "IPv6" => Some("ipv6-icmp".to_string()),
        Some(p) => Some(p),
    };
    let mut m = Map::new();
    m.insert("security_group_id".into(), json!(group_id));
    m.insert(
        "direction".into(),
        json!(if a.egress { "egress" } else { "ingress" }),
    );
    m.insert("ethertype".into(), json!(ethertype));
    put_opt(&mut m, "protocol", protocol.clone());
    if let Some(p) = &a.dst_port {
        let (lo, hi) = port_range(p)?;
        m.insert("port_range_min".into(), json!(lo));
        m.insert("port_range_max".into(), json!(hi));
    }
    if let Some(t) = a.icmp_type {
        m.insert("port_range_min".into(), json!(t));
        put_opt(&mut m, "port_range_max", a.icmp_code);
    }
    match (&a.remote_ip, remote_group) {
        (Some(ip), _) => {
            m.insert("remote_ip_prefix".into(), json!(ip));
        }
        (None, Some(g)) => {
            m.insert("remote_group_id".into(), json!(g));
        }
        (None, None) => {
            let any = if ethertype == "IPv6" {
                "::/0"
            } else {
                "0.0.0.0/0"
            };
            m.insert("remote_ip_prefix".into(), json!(any));
        }
    }
    put_opt(&mut m, "description", a.owner.description.clone());
    Ok(Value::Object(m))
}

async fn rule_create(ctx: &Ctx, a: RuleCreateArgs) -> Result<()> {
    let group_id = ctx.find_id(&SECURITY_GROUP, &a.group).await?;
    let remote_group = ctx
        .find_id_opt(&SECURITY_GROUP, a.remote_group.as_deref())
        .await?;
    let mut body = rule_body(&a, &group_id, remote_group)?;
    if let Value::Object(m) = &mut body {
        put_opt(m, "project_id", a.owner.project_id(ctx).await?);
    }
    ctx.create_and_show(&RULE, body).await
}

/// openstack's "Port Range" cell: `min:max`, or empty.
fn port_range_cell(r: &Value) -> String {
    let n = |k: &str| r.get(k).and_then(Value::as_u64);
    match (n("port_range_min"), n("port_range_max")) {
        (None, None) => String::new(),
        (a, b) => format!(
            "{}:{}",
            a.map(|x| x.to_string()).unwrap_or_default(),
            b.map(|x| x.to_string()).unwrap_or_default()
        ),
    }
}

const RULE_COLUMNS: [Column; 8] = [
    ("ID", "id"),
    ("IP Protocol", "protocol"),
    ("Ethertype", "ethertype"),
    ("IP Range", "remote_ip_prefix"),
    ("Port Range", "port_range"),
    ("Direction", "direction"),
    ("Remote Security Group", "remote_group_id"),
    ("Security Group", "security_group_id"),
];

async fn rule_list(ctx: &Ctx, a: RuleListArgs) -> Result<()> {
    let direction = flag(a.ingress, a.egress).map(|d| if d { "ingress" } else { "egress" });
    let group = ctx.find_id_opt(&SECURITY_GROUP, a.group.as_deref()).await?;
    let q = Query::default()
        .opt("security_group_id", group)
        .opt("direction", direction)
        .opt("protocol", a.protocol)
        .opt("ethertype", a.ethertype);
    let mut rows = ctx.list(&RULE, &q.pairs()).await?;
    for r in &mut rows {
        let cell = port_range_cell(r);
        if let Value::Object(m) = r {
            m.insert("port_range".into(), json!(cell));
        }
    }
    ctx.print_list(&rows, &RULE_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(protocol: Option<&str>) -> RuleCreateArgs {
        RuleCreateArgs {
            group: "default".into(),
            protocol: protocol.map(str::to_string),
            dst_port: None,
            icmp_type: None,
            icmp_code: None,
            ingress: false,
            egress: false,
            remote_ip: None,
            remote_group: None,
            ethertype: None,
            owner: OwnerArgs::default(),
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(port_range("22").unwrap(), (22, 22));
        assert_eq!(port_range("8000:8080").unwrap(), (8000, 8080));
        assert!(port_range("80:22").is_err());
        assert!(port_range("x").is_err());
        assert!(port_range("70000").is_err());
    }

    #[test]
    fn bodies() {
        let b = rule_body(&args(Some("icmp")), "g", None).unwrap();
        assert_eq!(
            b,
            json!({"security_group_id": "g", "direction": "ingress", "ethertype": "IPv4",
                   "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"})
        );
        let mut a = args(Some("tcp"));
        a.dst_port = Some("22".into());
        a.egress = true;
        a.remote_ip = Some("2001:db8::/64".into());
        let b = rule_body(&a, "g", None).unwrap();
        assert_eq!(b["ethertype"], "IPv6");
        assert_eq!(b["direction"], "egress");
        assert_eq!(b["port_range_min"], 22);
        assert_eq!(b["port_range_max"], 22);
        let b = rule_body(&args(Some("any")), "g", Some("rg".into())).unwrap();
        assert!(b.get("protocol").is_none());
        assert_eq!(b["remote_group_id"], "rg");
        assert!(b.get("remote_ip_prefix").is_none());
    }

    #[test]
    fn port_range_cells() {
        assert_eq!(port_range_cell(&json!({})), "");
        assert_eq!(
            port_range_cell(&json!({"port_range_min": 22, "port_range_max": 22})),
            "22:22"
        );
    }
}
