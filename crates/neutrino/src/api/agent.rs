//! `neutrino network agent list|show|set|delete` (openstack's `network agent`):
//! the agents that registered with the server. Admin only.

use super::{Ctx, Resource, flag, put_opt};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

pub const AGENT: Resource = Resource {
    key: "agent",
    plural: "agents",
    path: "/v2.0/agents",
    display: "Agent",
    name_attr: None,
};

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(subcommand)]
    cmd: AgentCmd,
}

#[derive(Subcommand, Debug)]
enum AgentCmd {
    /// List agents (Alive ':-)' or 'XXX' from the heartbeat's age).
    List {
        /// Only agents on this host.
        #[arg(long)]
        host: Option<String>,
        /// Only agents of this type (e.g. 'Open vSwitch agent').
        #[arg(long)]
        agent_type: Option<String>,
        /// More columns.
        #[arg(long)]
        long: bool,
    },
    /// Show an agent.
    Show {
        /// Agent ID.
        agent: String,
    },
    /// Enable or disable an agent, or change its description.
    Set {
        /// Agent ID.
        agent: String,
        /// Administratively up.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Administratively down.
        #[arg(long)]
        disable: bool,
        /// New description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete agents (they register again on their next report).
    Delete {
        /// Agent IDs.
        #[arg(required = true)]
        agents: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, args: AgentArgs) -> Result<()> {
    match args.cmd {
        AgentCmd::List {
            host,
            agent_type,
            long,
        } => {
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(h) = &host {
                q.push(("host", h));
            }
            if let Some(t) = &agent_type {
                q.push(("agent_type", t));
            }
            let rows = ctx.list(&AGENT, &q).await?;
            let mut cols = vec![
                ("ID", "id"),
                ("Agent Type", "agent_type"),
                ("Host", "host"),
                ("Availability Zone", "availability_zone"),
                ("Alive", "alive"),
                ("State", "admin_state_up"),
                ("Binary", "binary"),
            ];
            if long {
                cols.extend([
                    ("Heartbeat", "heartbeat_timestamp"),
                    ("Started", "started_at"),
                ]);
            }
            ctx.print_list(&rows, &cols)
        }
        AgentCmd::Show { agent } => ctx.show(&ctx.find(&AGENT, &agent).await?),
        AgentCmd::Set {
            agent,
            enable,
            disable,
            description,
        } => {
            let id = ctx.find_id(&AGENT, &agent).await?;
            let mut m = Map::new();
            put_opt(&mut m, "admin_state_up", flag(enable, disable));
            put_opt(&mut m, "description", description.map(|d| json!(d)));
            if !m.is_empty() {
                ctx.update(&AGENT, &id, Value::Object(m)).await?;
            }
            Ok(())
        }
        AgentCmd::Delete { agents } => ctx.delete_all(&AGENT, &agents).await,
    }
}
