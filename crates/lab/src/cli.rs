//! `neutrino lab up|status|down|add-compute|bench-ports|bench-l3|pair`: the command
//! line.

use crate::pair::{self, PairKind, PairOptions};
use crate::topology::{Lab, LabOptions};
use crate::tunnel::TunnelType;
use crate::{progress, report};
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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
        /// What the VMs' ports are: veth pairs with the host end in the
        /// compute's namespace (the kernel fast path carries them), or TAPs in
        /// the VMs' namespaces (switched in user space).
        #[arg(long, default_value = "veth", value_parser = ["tap", "veth"])]
        vm_ports: String,
    },
    /// Re-check a running lab and print it.
    Status,
    /// Add one more compute node (switchd and agent).
    AddCompute,
    /// What a VM gets from the metadata service (curl inside the VM).
    Metadata {
        /// The VM (vm1, vm2, ...).
        vm: String,
        #[arg(default_value = "/openstack/latest/meta_data.json")]
        path: String,
    },
    /// Benchmark: wire COUNT ports bound across the computes, then re-sync an agent.
    BenchPorts {
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// Benchmarks of the network node (routers, SNAT, floating IPs) on a lab that is up.
    BenchL3 {
        #[command(subcommand)]
        command: BenchL3Command,
    },
    /// Benchmarks of security groups on a lab that is up.
    BenchSg {
        #[command(subcommand)]
        command: BenchSgCommand,
    },
    /// Benchmark the metadata service from vm1 (requests per second, a
    /// cloud-init-like first fetch) against a plain HTTP server on vm2.
    BenchMetadata {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds per request-rate measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u32,
    },
    /// The control plane at scale (no lab needed): two servers on one
    /// PostgreSQL, HOSTS simulated agents watching their views, PORTS ports per
    /// host; port creates at RATE a second, then one server killed.
    BenchScale {
        #[arg(long, default_value_t = 100)]
        hosts: usize,
        #[arg(long, default_value_t = 20)]
        ports: usize,
        /// Port creates per second in the measured phase.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A PostgreSQL URL with an empty schema (bench/scale.sh makes one).
        #[arg(long, env = "NEUTRINO_BENCH_PG_URL")]
        database_url: String,
    },
    /// Remove every namespace, process and file the lab made.
    Down,
    /// (benches) TCP connect-request-close: serve on a port, or connect for a
    /// while and print connections per second (`--probe`: until one goes through,
    /// then print when, in ms since the epoch).
    #[command(hide = true)]
    Crr {
        #[arg(long)]
        listen: Option<u16>,
        #[arg(long)]
        connect: Option<String>,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long)]
        probe: bool,
    },
    /// Hosts and VMs for a bench, left up (no server, no agent): hosts `PREFIXh1`
    /// and `PREFIXh2` (per kind: both on a veth underlay, one, or none), VMs
    /// `PREFIXv1` and `PREFIXv2`.
    Pair {
        #[command(subcommand)]
        command: PairCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchL3Command {
    /// One TCP stream each way through TenantA-R1 with a metering label of
    /// RULES rules per direction on it, against none, alternating.
    Metering {
        #[arg(long, default_value_t = 100)]
        rules: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds per iperf3 run.
        #[arg(long, default_value_t = 3)]
        seconds: u32,
    },
    /// One TCP stream through SNAT (vm2 -> 10.1.101.254) and in through vm1's
    /// floating IP, against a kernel-only reference built in the same run.
    Throughput {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds per iperf3 run.
        #[arg(long, default_value_t = 3)]
        seconds: u32,
    },
    /// From the API call associating vm1's floating IP to the first ping answered
    /// from outside; RUNS times.
    Fip {
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// COUNT routers with a gateway and a floating IP each, until ACTIVE and
    /// answering; then the network node's agent restart.
    Routers {
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchSgCommand {
    /// One TCP stream vm1 -> vm2 with the default group on, against port security
    /// off, in the same run.
    Throughput {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 3)]
        seconds: u32,
    },
    /// New TCP connections per second vm1 -> vm2 through neutrino's conntrack,
    /// against the kernel path with nftables `ct state` rules (built in the run).
    Connections {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Without filtering on either side: vm1 and vm2 with port security
        /// off, the kernel reference without nftables (what switching a new
        /// connection costs, conntrack aside).
        #[arg(long)]
        open: bool,
    },
    /// From a rule created through the API to its traffic passing, with PORTS
    /// ports in the group across the computes.
    Rule {
        #[arg(long, default_value_t = 100)]
        ports: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
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
        /// The VMs' ports on a switchd: TAPs in the VMs' namespaces, or veth
        /// pairs with the host end in the host's namespace (the kernel fast path).
        #[arg(long, default_value = "tap", value_parser = ["tap", "veth"])]
        vm_ports: String,
    },
    /// For the relay kinds, once the caller has made the VMs' NICs (named in
    /// pair.json): wait for them and give them the VMs' addresses and MTU.
    ConfigureVms {
        /// How long to wait for each NIC, in seconds.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Stop the pair's switchds and delete its namespaces (its files stay in DIR).
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PairKindArg {
    /// The two hosts and their underlay only.
    Underlay,
    /// A neutrino switchd per host, Neutron's br-int/br-tun over VXLAN.
    NeutrinoVxlan,
    /// The same over GRE.
    NeutrinoGre,
    /// The same over Geneve.
    NeutrinoGeneve,
    /// A kernel vxlan device and Linux bridge per host.
    KernelVxlan,
    /// One host, its switchd's br-int joining both VMs (TAPs on VLAN 1).
    SameHost,
    /// The two VMs on a veth pair, no host.
    Veth,
    /// The two hosts and empty VM namespaces (the relay makes the NICs).
    RelayVxlan,
    /// One host and empty VM namespaces (the relay makes the NICs).
    RelaySameHost,
}

impl From<PairKindArg> for PairKind {
    fn from(k: PairKindArg) -> PairKind {
        match k {
            PairKindArg::Underlay => PairKind::Underlay,
            PairKindArg::NeutrinoVxlan => PairKind::Neutrino(TunnelType::Vxlan),
            PairKindArg::NeutrinoGre => PairKind::Neutrino(TunnelType::Gre),
            PairKindArg::NeutrinoGeneve => PairKind::Neutrino(TunnelType::Geneve),
            PairKindArg::KernelVxlan => PairKind::KernelVxlan,
            PairKindArg::SameHost => PairKind::SameHost,
            PairKindArg::Veth => PairKind::Veth,
            PairKindArg::RelayVxlan => PairKind::RelayVxlan,
            PairKindArg::RelaySameHost => PairKind::RelaySameHost,
        }
    }
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
            vm_ports,
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
            o.agent_args = vec!["--vm-port-type".into(), vm_ports];
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
        LabCommand::Metadata { vm, path } => {
            let lab = Lab::open(&dir, &exe)?;
            let v = lab
                .state
                .vm(&vm)
                .ok_or_else(|| anyhow::anyhow!("no VM {vm} in this lab"))?;
            println!("{}", crate::vms::metadata(v, &path)?);
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
        LabCommand::BenchL3 { command } => bench_l3(&dir, &exe, command)?,
        LabCommand::BenchSg { command } => bench_sg(&dir, &exe, command)?,
        LabCommand::BenchMetadata { runs, seconds } => {
            crate::checks::require_root()?;
            let lab = Lab::open(&dir, &exe)?;
            crate::bench_md::run(&lab, seconds, runs.max(1))?;
        }
        LabCommand::BenchScale {
            hosts,
            ports,
            rate,
            seconds,
            database_url,
        } => {
            let dir = dir.join("bench-scale");
            let _ = std::fs::remove_dir_all(&dir);
            crate::bench_scale::run(&crate::bench_scale::Options {
                neutrino: &exe,
                dir: &dir,
                database_url,
                hosts: hosts.max(1),
                ports,
                rate: rate.max(1),
                seconds: seconds.max(1),
            })?;
        }
        LabCommand::Crr {
            listen,
            connect,
            seconds,
            probe,
        } => match (listen, connect) {
            (Some(port), None) => crate::crr::serve(port)?,
            (None, Some(to)) if probe => println!("{:.1}", crate::crr::probe(&to, seconds)?),
            (None, Some(to)) => println!("{:.1}", crate::crr::client(&to, seconds)?),
            _ => bail!("crr: give --listen PORT or --connect IP:PORT"),
        },
        LabCommand::Pair { command } => match command {
            PairCommand::Up {
                kind,
                switchd_args,
                vm_ports,
            } => {
                let state = pair::up(&PairOptions {
                    prefix: &a.prefix,
                    dir: &dir,
                    neutrino: &exe,
                    kind: kind.into(),
                    switchd_args: &switchd_args,
                    vm_ports: &vm_ports,
                })?;
                println!("{}", serde_json::to_string_pretty(&state)?);
            }
            PairCommand::ConfigureVms { wait } => {
                pair::configure_vms(&dir, &a.prefix, Duration::from_secs(wait))?
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

fn bench_l3(dir: &std::path::Path, exe: &std::path::Path, c: BenchL3Command) -> anyhow::Result<()> {
    crate::checks::require_root()?;
    let mut lab = Lab::open(dir, exe)?;
    match c {
        BenchL3Command::Throughput { runs, seconds } => {
            let rows = crate::bench_l3::bench_throughput(&mut lab, runs.max(1), seconds.max(1))?;
            crate::bench_l3::print_throughput(&rows, runs.max(1), seconds.max(1));
        }
        BenchL3Command::Metering {
            rules,
            runs,
            seconds,
        } => crate::bench_metering::run(&lab, rules.max(1), runs.max(1), seconds.max(1))?,
        BenchL3Command::Fip { runs } => {
            crate::bench_fip::bench_fip(&lab, runs.max(1))?.print();
        }
        BenchL3Command::Routers { count } => {
            let r = crate::bench_routers::bench_routers(&mut lab, count)?;
            r.print();
            if !r.changed.is_empty() {
                bail!("the agent's re-sync changed the routers");
            }
        }
    }
    Ok(())
}

fn bench_sg(dir: &std::path::Path, exe: &std::path::Path, c: BenchSgCommand) -> anyhow::Result<()> {
    crate::checks::require_root()?;
    let mut lab = Lab::open(dir, exe)?;
    match c {
        BenchSgCommand::Throughput { runs, seconds } => {
            let (on, off) = crate::bench_sg::bench_throughput(&lab, runs.max(1), seconds.max(1))?;
            crate::bench_sg::print(
                "TCP vm1 -> vm2 across hosts, one stream: default group on, against port security off",
                "Gbps",
                &on,
                &off,
                "port security off",
                ">= 0.95",
            );
        }
        BenchSgCommand::Connections {
            runs,
            seconds,
            open,
        } => {
            let (ours, kernel) =
                crate::bench_sg::bench_connections(&lab, runs.max(1), seconds.max(1), open)?;
            let (title, base) = if open {
                (
                    "New TCP connections per second vm1 -> vm2 across hosts, port security off",
                    "kernel (bridge + vxlan, no nftables)",
                )
            } else {
                (
                    "New TCP connections per second (connect, one request, close) vm1 -> vm2 across hosts",
                    "kernel (bridge + vxlan, nftables ct state)",
                )
            };
            crate::bench_sg::print(title, "conn/s", &ours, &kernel, base, ">= 1.0");
        }
        BenchSgCommand::Rule { ports, runs } => {
            let t = crate::bench_sg::bench_rule(&mut lab, ports.max(1), runs.max(1))?;
            let m = crate::bench_l3::median(&t);
            let max = t.iter().copied().fold(0.0, f64::max);
            println!(
                "From a rule created through the API to its traffic passing, {ports} ports in the group: median {m:.0} ms, max {max:.0} ms (target < 1000 ms)"
            );
            println!("  runs: {t:.0?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        lab: LabArgs,
    }

    fn parse(args: &[&str]) -> LabArgs {
        let mut all = vec!["lab"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all) {
            Ok(c) => c.lab,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn pair_up_takes_every_kind_by_its_name() {
        for arg in PairKindArg::value_variants() {
            let name = arg.to_possible_value().map(|v| v.get_name().to_string());
            let kind = PairKind::from(*arg);
            assert_eq!(name.as_deref(), Some(kind.name()));
            let a = parse(&["pair", "up", "--kind", kind.name()]);
            match a.command {
                LabCommand::Pair {
                    command: PairCommand::Up { kind: k, .. },
                } => assert_eq!(k, *arg),
                c => panic!("{c:?}"),
            }
        }
        assert_eq!(PairKindArg::value_variants().len(), PairKind::ALL.len());
    }

    #[test]
    fn pair_up_passes_switchd_options_through() {
        let a = parse(&[
            "pair",
            "up",
            "--prefix",
            "nb42",
            "--dir",
            "/tmp/p",
            "--kind",
            "same-host",
            "--switchd-arg=--poll-cpus",
            "--switchd-arg",
            "3",
        ]);
        assert_eq!(a.prefix, "nb42");
        assert_eq!(a.dir, Some(PathBuf::from("/tmp/p")));
        match a.command {
            LabCommand::Pair {
                command:
                    PairCommand::Up {
                        kind, switchd_args, ..
                    },
            } => {
                assert_eq!(kind, PairKindArg::SameHost);
                assert_eq!(switchd_args, ["--poll-cpus", "3"]);
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn bench_l3_parses() {
        let a = parse(&["bench-l3", "routers", "--count", "100", "--prefix", "bq"]);
        assert_eq!(a.prefix, "bq");
        assert!(matches!(
            a.command,
            LabCommand::BenchL3 {
                command: BenchL3Command::Routers { count: 100 }
            }
        ));
        let a = parse(&["bench-l3", "throughput", "--runs", "5"]);
        assert!(matches!(
            a.command,
            LabCommand::BenchL3 {
                command: BenchL3Command::Throughput {
                    runs: 5,
                    seconds: 3
                }
            }
        ));
        let a = parse(&["bench-l3", "fip"]);
        assert!(matches!(
            a.command,
            LabCommand::BenchL3 {
                command: BenchL3Command::Fip { runs: 10 }
            }
        ));
    }

    #[test]
    fn pair_configure_vms_and_down_parse() {
        let a = parse(&["pair", "configure-vms", "--prefix", "nb1", "--wait", "3"]);
        assert!(matches!(
            a.command,
            LabCommand::Pair {
                command: PairCommand::ConfigureVms { wait: 3 }
            }
        ));
        let a = parse(&["pair", "down", "--prefix", "nb1"]);
        assert!(matches!(
            a.command,
            LabCommand::Pair {
                command: PairCommand::Down
            }
        ));
        let Err(e) = Cli::try_parse_from(["lab", "pair", "up", "--kind", "bridge"]) else {
            panic!("an unknown kind parses");
        };
        assert!(e.to_string().contains("same-host"), "{e}");
    }
}
