//! `neutrino network agent list|show|set|delete` (openstack's `network agent`):
//! the agents that registered with the server. Admin only.

use super::output::Column;
use super::{Ctx, Query, Resource, StateArgs, columns, put_opt};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Map;

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
        #[command(flatten)]
        state: StateArgs,
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

const COLUMNS: [Column; 7] = [
    ("ID", "id"),
    ("Agent Type", "agent_type"),
    ("Host", "host"),
    ("Availability Zone", "availability_zone"),
    ("Alive", "alive"),
    ("State", "admin_state_up"),
    ("Binary", "binary"),
];
const LONG_COLUMNS: [Column; 2] = [
    ("Heartbeat", "heartbeat_timestamp"),
    ("Started", "started_at"),
];

pub async fn run(ctx: &Ctx, args: AgentArgs) -> Result<()> {
    match args.cmd {
        AgentCmd::List {
            host,
            agent_type,
            long,
        } => {
            let q = Query::default()
                .opt("host", host)
                .opt("agent_type", agent_type);
            ctx.list_and_print(&AGENT, &q, &columns(&COLUMNS, &LONG_COLUMNS, long))
                .await
        }
        AgentCmd::Show { agent } => ctx.show_found(&AGENT, &agent).await,
        AgentCmd::Set {
            agent,
            state,
            description,
        } => {
            let id = ctx.find_id(&AGENT, &agent).await?;
            let mut m = Map::new();
            put_opt(&mut m, "admin_state_up", state.up());
            put_opt(&mut m, "description", description);
            ctx.update_changed(&AGENT, &id, m).await
        }
        AgentCmd::Delete { agents } => ctx.delete_all(&AGENT, &agents).await,
    }
}
