//! `neutrino agent ...`: the agent's command line.

use crate::compile::HostConfig;
use crate::run::{self, AgentConfig};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;
use switch_proto::PortType;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// A TOML file of these options (`key = value`, the long names with '_'; for
    /// Neutron's names see etc/); the command line and the environment win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server's identity endpoint, e.g. http://192.168.10.10:9696/v3
    /// (a bare http://host:port means its /v3); several servers sharing one
    /// store as URL,URL,...: the agent moves to the next when one cannot be
    /// reached, and carries on from the revision it had.
    #[arg(long, env = "OS_AUTH_URL")]
    pub server: String,
    /// This host's name, as ports' binding:host_id name it.
    #[arg(long)]
    pub host: String,
    /// This host's tunnel endpoint (an address on the data network).
    #[arg(long)]
    pub tunnel_ip: Ipv4Addr,
    /// PHYSNET:BRIDGE, e.g. physnet1:br-eth1 (repeatable).
    #[arg(long = "bridge-mapping")]
    pub bridge_mappings: Vec<String>,
    /// What this host is: compute, network (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "compute")]
    pub roles: Vec<String>,
    /// Where a router's gateway device goes when its external network has no bridge
    /// mapping (Neutron's `external_network_bridge`; network nodes).
    #[arg(long, default_value = crate::names::BR_EX)]
    pub external_network_bridge: String,
    /// Tunnel types this host builds (Neutron's `tunnel_types`): a network of
    /// another type is not wired here, with a warning.
    #[arg(long, value_delimiter = ',', default_value = "vxlan,gre", value_parser = port_types(&["vxlan", "gre"]))]
    pub tunnel_types: Vec<PortType>,
    /// Neutron's `enable_tunneling`: false builds no tunnels at all (provider
    /// networks only), whatever --tunnel-types says.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_tunneling: bool,
    /// Neutron's `l2_population`: always true here (remote ports come from the
    /// server's host view; there is no flood-and-learn mode); false is refused.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub l2_population: bool,
    /// What VM ports are on the switch: `tap` (the TAP's netdev in the VM's
    /// namespace) or `veth` (a pair, the host end in this namespace).
    #[arg(long, default_value = "tap", value_parser = port_types(&["tap", "veth"]))]
    pub vm_port_type: PortType,
    /// What a router's qr-/qg- devices are on the switch: `veth` (a pair, the host
    /// end in this namespace, read by switchd's kernel fast path) or `internal` (a
    /// TAP in the router's namespace, read by switchd).
    #[arg(long, default_value = "veth", value_parser = port_types(&["veth", "internal"]))]
    pub router_port_type: PortType,
    /// switchd's run directory (its control socket).
    #[arg(long, env = "NEUTRINO_RUN_DIR", default_value = "/var/run/neutrino")]
    pub switch_run_dir: PathBuf,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    pub report_interval: u64,
    /// Serve Prometheus metrics (metering, switch counters) at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9109. Off by default.
    #[arg(long)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Serve no metadata (169.254.169.254) to this host's VMs.
    #[arg(long)]
    pub no_metadata: bool,
    /// The metadata namespaces' names: this, then the network id.
    #[arg(long, default_value = crate::names::METADATA_NS_PREFIX)]
    pub metadata_namespace_prefix: String,
    /// Forward metadata requests to Nova's metadata API (e.g.
    /// http://controller:8775) instead of answering them from the port.
    #[arg(long)]
    pub nova_metadata_url: Option<String>,
    /// The secret shared with Nova (`metadata_proxy_shared_secret`) that signs
    /// the instance id; needed with --nova-metadata-url.
    #[arg(long, env = "NEUTRINO_METADATA_SECRET", hide_env_values = true)]
    pub metadata_shared_secret: Option<String>,
    #[arg(long, env = "OS_USERNAME", default_value = "admin")]
    pub username: String,
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long, env = "OS_PROJECT_NAME", default_value = "admin")]
    pub project: String,
}

pub fn run(a: AgentArgs) -> anyhow::Result<()> {
    if !a.l2_population {
        bail!(
            "--l2-population false is not supported: neutrino's agents always learn remote ports from the server (l2population); there is no flood-and-learn mode"
        );
    }
    let mut bridge_mappings = BTreeMap::new();
    for m in &a.bridge_mappings {
        let Some((physnet, bridge)) = m.split_once(':') else {
            bail!("bad --bridge-mapping '{m}': expected PHYSNET:BRIDGE");
        };
        if physnet.is_empty() || bridge.is_empty() || bridge.len() > 11 {
            bail!(
                "bad --bridge-mapping '{m}': names must be non-empty, bridge at most 11 characters"
            );
        }
        if bridge_mappings.values().any(|b| b == bridge) {
            bail!("bad --bridge-mapping '{m}': bridge {bridge} is mapped twice");
        }
        if bridge_mappings
            .insert(physnet.to_string(), bridge.to_string())
            .is_some()
        {
            bail!("bad --bridge-mapping '{m}': physical network {physnet} is mapped twice");
        }
    }
    if a.report_interval == 0 {
        bail!("--report-interval must be at least 1 second");
    }
    let metadata = if a.no_metadata {
        None
    } else {
        let p = &a.metadata_namespace_prefix;
        if p.is_empty() || p.len() > 200 || p.contains('/') || p.starts_with('.') {
            bail!("bad --metadata-namespace-prefix '{p}': a non-empty file name without '/'");
        }
        let nova = match (a.nova_metadata_url, a.metadata_shared_secret) {
            (Some(url), Some(secret)) => {
                if !url.starts_with("http://") || url.len() <= "http://".len() {
                    bail!("bad --nova-metadata-url '{url}': expected http://HOST:PORT");
                }
                Some((url, secret))
            }
            (Some(_), None) => {
                bail!(
                    "--nova-metadata-url needs --metadata-shared-secret (or NEUTRINO_METADATA_SECRET)"
                )
            }
            (None, _) => None,
        };
        Some(crate::metadata::MetadataConfig {
            prefix: p.clone(),
            nova,
        })
    };
    let cfg = AgentConfig {
        auth: client::Auth {
            auth_url: a.server.clone(),
            username: a.username,
            password: a.password,
            project_name: a.project,
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        },
        host: HostConfig {
            host: a.host,
            tunnel_ip: a.tunnel_ip,
            bridge_mappings,
            external_bridge: a.external_network_bridge,
            vm_port_type: a.vm_port_type,
            tunnel_types: if a.enable_tunneling {
                a.tunnel_types
            } else {
                Vec::new()
            },
            router_port_type: a.router_port_type,
            metadata: metadata.as_ref().map(|m| m.prefix.clone()),
        },
        roles: a.roles,
        switch_run_dir: a.switch_run_dir,
        report_interval: Duration::from_secs(a.report_interval),
        poll_secs: 25,
        metadata,
        metrics_listen: a.metrics_listen,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run::run(cfg))
}

/// A clap parser for the port types in `names` (listed in `--help` and in
/// errors), giving the switch's `PortType`.
fn port_types(
    names: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = PortType> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).try_map(|s| s.parse::<PortType>())
}
