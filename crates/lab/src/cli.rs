//! `neutrino lab up|status|down|add-compute`.

use crate::pair::{self, PairKind, PairOptions};
use crate::topology::{Lab, LabOptions};
use crate::tunnel::TunnelType;
use crate::{progress, report};
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Name prefix of every namespace the lab makes (1-8 lowercase letters/digits).
    #[arg(long, global = true, default_value = "nl")]
    pub prefix: String,
    /// The lab's directory (state, logs, server database); default
    /// /run/neutrino-lab/PREFIX.
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Tunnel {
    Vxlan,
    Gre,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build the topology, TenantA's network and two VMs; check and print it.
    Up {
        #[arg(long, value_enum, default_value = "vxlan")]
        tunnel_type: Tunnel,
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=20))]
        computes: u8,
        /// The admin's password (default: generated, kept in the lab's state).
        #[arg(long, env = "NEUTRINO_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// Keep what was made when `up` fails (for debugging).
        #[arg(long)]
        keep: bool,
    },
    /// Re-check a running lab and print it.
    Status,
    /// Add one more compute node (switchd and agent).
    AddCompute,
    /// Benchmark: wire COUNT ports bound across the computes, then re-sync an agent.
    BenchPorts {
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// Remove every namespace, process and file the lab made.
    Down,
    /// Two hosts for a bench, left up (no server, no agent): `PREFIXh1` and
    /// `PREFIXh2` on a veth underlay, a VM on each (`PREFIXv1`, `PREFIXv2`).
    Pair {
        #[command(subcommand)]
        command: PairCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PairCommand {
    /// Build the pair (DIR is made afresh) and print what was made as JSON.
    Up {
        #[arg(long, value_enum, default_value = "neutrino-vxlan")]
        kind: PairKindArg,
        /// One more switchd option (repeat it: `--switchd-arg=--poll-cpus --switchd-arg=3`).
        #[arg(long = "switchd-arg", allow_hyphen_values = true)]
        switchd_args: Vec<String>,
    },
    /// Stop the pair's switchds and delete its namespaces (its files stay in DIR).
    Down,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PairKindArg {
    /// The hosts and their underlay only.
    Underlay,
    /// A neutrino switchd per host, Neutron's br-int/br-tun over VXLAN.
    NeutrinoVxlan,
    /// The same over GRE.
    NeutrinoGre,
    /// A kernel vxlan device and Linux bridge per host.
    KernelVxlan,
}

pub fn run(a: LabArgs) -> anyhow::Result<()> {
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/run/neutrino-lab").join(&a.prefix));
    let exe = std::env::current_exe()?;
    match a.command {
        LabCommand::Up {
            tunnel_type,
            computes,
            admin_password,
            keep,
        } => {
            crate::topology::check_prefix(&a.prefix)?;
            crate::checks::require_root()?;
            let mut o = LabOptions::new(&a.prefix, &dir, &exe);
            o.tunnel_type = match tunnel_type {
                Tunnel::Vxlan => TunnelType::Vxlan,
                Tunnel::Gre => TunnelType::Gre,
            };
            o.computes = computes;
            o.admin_password = admin_password;
            o.keep_on_failure = keep;
            let lab = Lab::up(&o)?;
            let (text, ok) = report::report(&lab);
            println!("{text}");
            println!(
                "admin password: {}   API: {} (inside namespace {})",
                lab.state.admin_password, lab.api.auth_url, lab.api.ns
            );
            println!(
                "remove it all with: neutrino lab down --prefix {} (or: scripts/lab.sh down)",
                a.prefix
            );
            if !ok {
                bail!("the lab is up but not healthy");
            }
        }
        LabCommand::Status => {
            let lab = Lab::open(&dir, &exe)?;
            let (text, ok) = report::report(&lab);
            println!("{text}");
            if !ok {
                bail!("the lab is not healthy");
            }
        }
        LabCommand::AddCompute => {
            let mut lab = Lab::open(&dir, &exe)?;
            let name = lab.add_compute()?;
            println!("{name} is up");
        }
        LabCommand::BenchPorts { count } => {
            let mut lab = Lab::open(&dir, &exe)?;
            let r = crate::bench::bench_ports(&mut lab, count)?;
            r.print();
            if r.resync_changed {
                bail!("the agent's re-sync changed the switch");
            }
        }
        LabCommand::Pair { command } => match command {
            PairCommand::Up { kind, switchd_args } => {
                let kind = match kind {
                    PairKindArg::Underlay => PairKind::Underlay,
                    PairKindArg::NeutrinoVxlan => PairKind::Neutrino(TunnelType::Vxlan),
                    PairKindArg::NeutrinoGre => PairKind::Neutrino(TunnelType::Gre),
                    PairKindArg::KernelVxlan => PairKind::KernelVxlan,
                };
                let state = pair::up(&PairOptions {
                    prefix: &a.prefix,
                    dir: &dir,
                    neutrino: &exe,
                    kind,
                    switchd_args: &switchd_args,
                })?;
                println!("{}", serde_json::to_string_pretty(&state)?);
            }
            PairCommand::Down => pair::down(&dir, &a.prefix)?,
        },
        LabCommand::Down => {
            progress(format!("removing lab '{}'", a.prefix));
            Lab::down(&dir, &a.prefix, &exe)?;
            println!("lab '{}' removed", a.prefix);
        }
    }
    Ok(())
}
