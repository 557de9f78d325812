//! `neutrino`: the one binary — daemons (`switchd`) and the operator CLI
//! (`switch ...`, and the openstack-style API commands `network`, `subnet`, …).
//! It parses arguments, prints tables and turns errors into one-line messages
//! with a non-zero exit; the work is done by the library crates.

mod api;
mod config;
mod flows_cmd;
mod switch_cmd;
mod trace_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default run directory of switchd (its control socket and state file).
pub const DEFAULT_RUN_DIR: &str = "/var/run/neutrino";

#[derive(Parser)]
#[command(name = "neutrino", version, about = "Neutron-style virtual networking")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch daemon (foreground).
    Switchd {
        /// A TOML file of these options (`run_dir = "..."`); the command line and
        /// the environment win over it (example: etc/switchd.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Directory for the control socket (switchd.sock) and state file (state.json).
        #[arg(long, env = "NEUTRINO_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// VXLAN TCP super-frames out the uplink TAP `nt-uplink` with the kernel's GSO
        /// over UDP tunnels (Linux 6.17+, needs net.ipv4.ip_forward=1): auto uses it
        /// when possible, tap logs an error when not, off always segments in software.
        #[arg(long, env = "NEUTRINO_VXLAN_UPLINK", default_value = "auto")]
        vxlan_uplink: switchd::UplinkMode,
        /// Microseconds the datapath keeps polling after the last packet of light
        /// traffic before it sleeps (lower request/response latency; bulk traffic
        /// never polls; 0 = always sleep; `always` = poll without end after light
        /// traffic: a core per poll thread even when idle, for the lowest latency).
        #[arg(long, env = "NEUTRINO_POLL_SPIN_US", default_value = "300",
              value_name = "US|always", value_parser = parse_spin)]
        poll_spin_us: switchd::PollSpin,
        /// Poll threads that read ports and tunnel sockets (ports are spread across
        /// them); 0 = one per CPU of --poll-cpus, else half the cores, at least one
        /// (the rest is left to the VMs).
        #[arg(long, env = "NEUTRINO_POLL_THREADS", default_value_t = 0)]
        poll_threads: usize,
        /// Pin the poll threads to these CPUs, one thread per CPU in the order given
        /// (`2`, `0,2`, `2-3`; `none`: not pinned, the default).
        #[arg(long, env = "NEUTRINO_POLL_CPUS", value_name = "LIST", value_parser = parse_cpus)]
        poll_cpus: Option<CpuList>,
        /// Connections the conntrack table holds at most (commits past it are
        /// refused and their packets dropped, as the kernel does).
        #[arg(long, env = "NEUTRINO_CONNTRACK_MAX", default_value_t = 1_000_000)]
        conntrack_max: usize,
        /// A conntrack timeout, NAME=SECONDS, named as the kernel's sysctls
        /// (`tcp_established=3600`, `udp=30`, ...; repeat for more). Defaults:
        /// the kernel's.
        #[arg(long = "conntrack-timeout", value_name = "NAME=SECONDS")]
        conntrack_timeouts: Vec<String>,
        /// Flows `learn()` may install per table; past it the oldest learned
        /// flow is evicted (`switch show` counts them).
        #[arg(long, env = "NEUTRINO_LEARNED_FLOW_LIMIT", default_value_t = 100_000)]
        learned_flow_limit: usize,
        /// The kernel fast path: tc eBPF programs on veth ports carry the packets
        /// of flows the engine already decided (`on`, when the kernel lets them
        /// load; `switch show` says which path carries traffic); `off`: every
        /// frame through switchd.
        #[arg(long, env = "NEUTRINO_FAST_PATH", default_value = "on",
              value_parser = clap::builder::PossibleValuesParser::new(["on", "off"]))]
        fast_path: String,
    },
    /// Talk to a running switchd: bridges, ports, flows, trace.
    Switch(switch_cmd::SwitchArgs),
    /// Print Neutron's flows for a bridge as the agent lays them out (ovs-ofctl text).
    Flows(flows_cmd::FlowsArgs),
    /// Run the API server (network API at / and /v2.0, identity at /v3; foreground).
    Server(server::cli::ServerArgs),
    /// Run the L2 agent of this host (foreground): wires the host's ports on switchd.
    Agent(agent::cli::AgentArgs),
    /// The seeds' multi-node topology in namespaces: `lab up|status|add-compute|down`.
    Lab(lab::cli::LabArgs),
    /// Networks (and `network agent ...`), openstack-style; reads OS_* variables.
    Network(api::network::NetworkArgs),
    /// Subnets.
    Subnet(api::subnet::SubnetArgs),
    /// Ports.
    Port(api::port::PortArgs),
    /// Routers: interfaces, external gateway.
    Router(api::router::RouterArgs),
    /// Floating IPs (`floating ip ...`).
    Floating(api::floating_ip::FloatingArgs),
    /// Security groups and rules (`security group [rule] ...`).
    Security(api::security_group::SecurityArgs),
    /// Metering labels and their rules (admin).
    Metering(api::metering::MeteringArgs),
    /// Identity: projects.
    Project(api::identity::ProjectArgs),
    /// Identity: users.
    User(api::identity::UserArgs),
    /// One packet's whole walk across hosts: each switch on the way, tunnels,
    /// the router's namespace (route, NAT), security-group verdicts.
    Trace(trace_cmd::TraceArgs),
    /// A picture of the network, live from the API: hosts, bridges, tunnels,
    /// networks, ports, routers, floating IPs (`--format json|dot|svg`).
    Topology(api::topology::TopologyArgs),
    /// Identity: roles and role assignments (`role add ROLE --project P --user U`).
    Role(api::identity::RoleArgs),
}

/// A `--poll-cpus` list (clap would read a bare `Vec` as repeated values).
#[derive(Debug, Clone)]
struct CpuList(Vec<usize>);

/// `--poll-spin-us`: microseconds, or `always` (poll without end after traffic).
fn parse_spin(text: &str) -> Result<switchd::PollSpin, String> {
    match text.trim() {
        "always" => Ok(switchd::PollSpin::Always),
        t => t
            .parse::<u64>()
            .map(switchd::PollSpin::Micros)
            .map_err(|_| format!("{text:?} is neither a number of microseconds nor \"always\"")),
    }
}

fn parse_cpus(text: &str) -> Result<CpuList, String> {
    switchd::parse_cpu_list(text).map(CpuList)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Counts allocations and live heap bytes (`switch show`'s memory line; the tests
/// hold switchd's datapath to no allocation per packet with it).
#[global_allocator]
static HEAP: switchd::heap::CountingAllocator = switchd::heap::CountingAllocator;

/// `--conntrack-max` and `--conntrack-timeout NAME=SECONDS`.
fn conntrack_config(
    max: usize,
    timeouts: &[String],
) -> anyhow::Result<switch::conntrack::CtConfig> {
    if max == 0 {
        anyhow::bail!("--conntrack-max must be at least 1");
    }
    let mut c = switch::conntrack::CtConfig {
        max,
        ..Default::default()
    };
    for t in timeouts {
        let (name, secs) = t
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--conntrack-timeout {t}: want NAME=SECONDS"))?;
        let secs: u64 = secs.trim().parse().map_err(|_| {
            anyhow::anyhow!("--conntrack-timeout {t}: '{secs}' is not a number of seconds")
        })?;
        c.timeouts
            .set(name.trim(), secs)
            .map_err(|e| anyhow::anyhow!("--conntrack-timeout: {e}"))?;
    }
    Ok(c)
}

/// Commands that print for a pipe end when the reader does (`dump-flows | head`),
/// as other command-line tools do, instead of failing on the write. Daemons keep
/// Rust's default (SIGPIPE ignored): a peer that went away is an error to handle.
fn stop_quietly_on_closed_pipe() {
    // SAFETY: restoring a signal's default disposition is async-signal-safe and
    // happens before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    let expanded = match config::expand(std::env::args_os().collect()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("neutrino: {e}");
            std::process::exit(2);
        }
    };
    let cli = match Cli::try_parse_from(&expanded.args) {
        Ok(c) => c,
        Err(e) => match expanded.file_error(&e) {
            Some(msg) => {
                eprintln!("neutrino: {msg}");
                std::process::exit(2);
            }
            None => e.exit(),
        },
    };
    if !matches!(
        cli.command,
        Command::Switchd { .. } | Command::Server(_) | Command::Agent(_) | Command::Lab(_)
    ) {
        stop_quietly_on_closed_pipe();
    }
    let result = match cli.command {
        Command::Switchd {
            config: _,
            run_dir,
            vxlan_uplink,
            poll_spin_us,
            poll_threads,
            poll_cpus,
            conntrack_max,
            conntrack_timeouts,
            learned_flow_limit,
            fast_path,
        } => {
            init_logging("info");
            conntrack_config(conntrack_max, &conntrack_timeouts).and_then(|conntrack| {
                switchd::run(
                    &run_dir,
                    switchd::Options {
                        vxlan_uplink,
                        spin: poll_spin_us,
                        poll_threads,
                        poll_cpus: poll_cpus.map(|l| l.0).unwrap_or_default(),
                        conntrack,
                        learned_flow_limit,
                        fast_path: fast_path == "on",
                    },
                )
                .map_err(anyhow::Error::from)
            })
        }
        Command::Switch(args) => {
            init_logging("warn");
            switch_cmd::run(args)
        }
        Command::Flows(args) => flows_cmd::run(args),
        Command::Server(args) => {
            init_logging("info");
            server::cli::run(args)
        }
        Command::Agent(args) => {
            init_logging("info");
            agent::cli::run(args)
        }
        Command::Lab(args) => {
            init_logging("warn");
            lab::cli::run(args)
        }
        Command::Network(args) => api::network::run(args),
        Command::Subnet(args) => api::subnet::run(args),
        Command::Port(args) => api::port::run(args),
        Command::Router(args) => api::router::run(args),
        Command::Floating(args) => api::floating_ip::run(args),
        Command::Security(args) => api::security_group::run(args),
        Command::Metering(args) => api::metering::run(args),
        Command::Project(args) => api::identity::run_project(args),
        Command::User(args) => api::identity::run_user(args),
        Command::Role(args) => api::identity::run_role(args),
        Command::Topology(args) => api::topology::run(args),
        Command::Trace(args) => trace_cmd::run(args),
    };
    if let Err(e) = result {
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("neutrino: {msg}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchd::PollSpin;

    #[test]
    fn poll_spin_takes_microseconds_or_always() {
        assert_eq!(parse_spin("300"), Ok(PollSpin::Micros(300)));
        assert_eq!(parse_spin("0"), Ok(PollSpin::Micros(0)));
        assert_eq!(parse_spin("always"), Ok(PollSpin::Always));
        assert_eq!(
            parse_spin("-1"),
            Err("\"-1\" is neither a number of microseconds nor \"always\"".to_string())
        );
        assert!(parse_spin("forever").is_err());
    }

    #[test]
    fn conntrack_options() {
        let c = conntrack_config(500, &["tcp_established=7200".into(), " udp = 20".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.max, 500);
        assert_eq!(c.timeouts.tcp_established, 7_200_000);
        assert_eq!(c.timeouts.udp, 20_000);
        for bad in ["udp", "udp=x", "nope=3", "udp=0"] {
            let e = conntrack_config(1, &[bad.to_string()])
                .err()
                .map(|e| e.to_string());
            assert!(e.is_some_and(|e| !e.contains('\n')), "{bad}");
        }
        assert!(conntrack_config(0, &[]).is_err());
    }
}
