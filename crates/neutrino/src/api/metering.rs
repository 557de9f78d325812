//! `neutrino metering label create|list|show|delete` and
//! `metering label rule create|list|show|delete` (openstack's `network meter`
//! and `network meter rule`).

use super::output::Column;
use super::{Common, Ctx, OwnerArgs, Query, Resource, flag, put_opt};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, json};

pub const LABEL: Resource = Resource {
    key: "metering_label",
    plural: "metering_labels",
    path: "/v2.0/metering/metering-labels",
    display: "MeteringLabel",
    name_attr: Some("name"),
};

pub const RULE: Resource = Resource {
    key: "metering_label_rule",
    plural: "metering_label_rules",
    path: "/v2.0/metering/metering-label-rules",
    display: "MeteringLabelRule",
    name_attr: None,
};

/// `neutrino metering ...`.
#[derive(Args, Debug)]
pub struct MeteringArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    what: Metering,
}

#[derive(Subcommand, Debug)]
enum Metering {
    /// Metering labels: what routers' traffic to the outside is counted under
    /// (admin).
    Label {
        #[command(subcommand)]
        cmd: LabelCmd,
    },
}

#[derive(Subcommand, Debug)]
enum LabelCmd {
    /// Create a metering label.
    Create {
        /// Name of the new label.
        name: String,
        /// Count on every project's routers (default: the label's project's).
        #[arg(long, conflicts_with = "no_share")]
        share: bool,
        /// Only the label's project's routers.
        #[arg(long)]
        no_share: bool,
        #[command(flatten)]
        owner: OwnerArgs,
    },
    /// List metering labels.
    List,
    /// Show a metering label.
    Show {
        /// Label (name or ID).
        label: String,
    },
    /// Delete metering labels (their rules go with them).
    Delete {
        /// Labels (names or IDs).
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// Metering label rules.
    Rule {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
}

#[derive(Subcommand, Debug)]
enum RuleCmd {
    /// Add a rule to a label.
    Create(RuleCreateArgs),
    /// List rules (of one label, or all).
    List {
        /// Only this label's rules (name or ID).
        label: Option<String>,
    },
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
    /// The label (name or ID).
    label: String,
    /// Traffic into the router from the outside (default).
    #[arg(long, conflicts_with = "egress")]
    ingress: bool,
    /// Traffic from the router to the outside.
    #[arg(long)]
    egress: bool,
    /// Count the matching traffic (default).
    #[arg(long, conflicts_with = "exclude")]
    include: bool,
    /// Do not count the matching traffic.
    #[arg(long)]
    exclude: bool,
    /// The internal side's prefix (the destination of ingress, the source of
    /// egress).
    #[arg(long, value_name = "CIDR")]
    remote_ip_prefix: Option<String>,
    /// The packets' source prefix.
    #[arg(long, value_name = "CIDR")]
    source_ip_prefix: Option<String>,
    /// The packets' destination prefix.
    #[arg(long, value_name = "CIDR")]
    destination_ip_prefix: Option<String>,
}

const LABEL_COLUMNS: [Column; 4] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Description", "description"),
    ("Shared", "shared"),
];

const RULE_COLUMNS: [Column; 6] = [
    ("ID", "id"),
    ("Excluded", "excluded"),
    ("Direction", "direction"),
    ("Remote IP Prefix", "remote_ip_prefix"),
    ("Source IP Prefix", "source_ip_prefix"),
    ("Destination IP Prefix", "destination_ip_prefix"),
];

pub fn run(args: MeteringArgs) -> Result<()> {
    let Metering::Label { cmd } = args.what;
    super::run(args.common, |ctx| async move {
        match cmd {
            LabelCmd::Create {
                name,
                share,
                no_share,
                owner,
            } => {
                let mut m = Map::new();
                m.insert("name".into(), json!(name));
                put_opt(&mut m, "shared", flag(share, no_share));
                owner.put(&ctx, &mut m).await?;
                ctx.create_and_show(&LABEL, m).await
            }
            LabelCmd::List => {
                ctx.list_and_print(&LABEL, &Query::default(), &LABEL_COLUMNS)
                    .await
            }
            LabelCmd::Show { label } => ctx.show_found(&LABEL, &label).await,
            LabelCmd::Delete { labels } => ctx.delete_all(&LABEL, &labels).await,
            LabelCmd::Rule { cmd } => match cmd {
                RuleCmd::Create(a) => rule_create(&ctx, a).await,
                RuleCmd::List { label } => {
                    let id = ctx.find_id_opt(&LABEL, label.as_deref()).await?;
                    let q = Query::default().opt("metering_label_id", id);
                    ctx.list_and_print(&RULE, &q, &RULE_COLUMNS).await
                }
                RuleCmd::Show { rule } => ctx.show_found(&RULE, &rule).await,
                RuleCmd::Delete { rules } => ctx.delete_all(&RULE, &rules).await,
            },
        }
    })
}

async fn rule_create(ctx: &Ctx, a: RuleCreateArgs) -> Result<()> {
    let label = ctx.find_id(&LABEL, &a.label).await?;
    let mut m = Map::new();
    m.insert("metering_label_id".into(), json!(label));
    m.insert(
        "direction".into(),
        json!(if a.egress { "egress" } else { "ingress" }),
    );
    put_opt(&mut m, "excluded", flag(a.exclude, a.include));
    put_opt(&mut m, "remote_ip_prefix", a.remote_ip_prefix);
    put_opt(&mut m, "source_ip_prefix", a.source_ip_prefix);
    put_opt(&mut m, "destination_ip_prefix", a.destination_ip_prefix);
    ctx.create_and_show(&RULE, m).await
}
