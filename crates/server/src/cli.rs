//! `neutrino server …`: the command-line arguments and the runtime around
//! [`crate::serve`]. This is the binary edge, so errors become `anyhow`.

use crate::config::Config;
use crate::segments::{parse_range, parse_vlan_range};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// A TOML file of these options (`key = value`, the long names with '_'; for
    /// Neutron's names see etc/); the command line and the environment win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9696")]
    pub listen: SocketAddr,
    /// State directory (the SQLite store lives here).
    #[arg(long, env = "NEUTRINO_STATE_DIR", default_value = "/var/lib/neutrino")]
    pub state_dir: PathBuf,
    /// Store URL: sqlite://PATH or postgres://USER:PW@HOST/DB (default: SQLite in the state dir).
    #[arg(long, env = "NEUTRINO_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Password of the bootstrap admin user (first start only; generated and printed if unset).
    #[arg(long, env = "NEUTRINO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// URL put into the service catalog (default: from each request's Host header).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Type of networks created without provider attributes: vxlan, gre or vlan.
    #[arg(long, default_value = "vxlan")]
    pub tenant_network_type: String,
    /// VXLAN VNI range MIN:MAX (repeatable).
    #[arg(long = "vxlan-range", default_values_t = ["1:1000".to_string()])]
    pub vxlan_ranges: Vec<String>,
    /// GRE key range MIN:MAX (repeatable).
    #[arg(long = "gre-range", default_values_t = ["1:1000".to_string()])]
    pub gre_ranges: Vec<String>,
    /// VLAN range per physical network, PHYSNET[:MIN:MAX] (repeatable).
    #[arg(long = "vlan-range")]
    pub vlan_ranges: Vec<String>,
    /// Physical network allowed for flat networks (repeatable; none given: any).
    #[arg(long = "flat-network")]
    pub flat_networks: Vec<String>,
    /// MTU of the underlay network.
    #[arg(long, default_value_t = 1500)]
    pub underlay_mtu: u32,
    /// Seconds without a heartbeat after which an agent is shown as not alive.
    #[arg(long, default_value_t = 75)]
    pub agent_down_time: u64,
    /// A default quota other than Neutron's, RESOURCE=N (-1: unlimited;
    /// repeatable, or comma-separated), as neutron.conf's [quotas] quota_router.
    #[arg(long = "quota", env = "NEUTRINO_QUOTAS", value_delimiter = ',')]
    pub quotas: Vec<String>,
}

impl ServerArgs {
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut c = Config::new(self.listen, self.state_dir.clone());
        c.database_url = self.database_url.clone();
        c.admin_password = self.admin_password.clone();
        c.token_ttl = Duration::from_secs(self.token_ttl);
        c.public_url = self.public_url.clone();
        c.underlay_mtu = self.underlay_mtu;
        c.agent_down_time = Duration::from_secs(self.agent_down_time);
        c.quota_defaults =
            crate::api::quotas::parse_defaults(&self.quotas).map_err(anyhow::Error::msg)?;
        c.segments.tenant_network_type = model::NetworkType::parse(&self.tenant_network_type)
            .filter(|t| *t != model::NetworkType::Flat)
            .with_context(|| format!("unknown tenant network type {}", self.tenant_network_type))?;
        c.segments.vxlan = self
            .vxlan_ranges
            .iter()
            .map(|r| parse_range(r))
            .collect::<Result<_, _>>()?;
        c.segments.gre = self
            .gre_ranges
            .iter()
            .map(|r| parse_range(r))
            .collect::<Result<_, _>>()?;
        for v in &self.vlan_ranges {
            let (net, range) = parse_vlan_range(v)?;
            let e = c.segments.vlan.entry(net).or_default();
            e.extend(range);
        }
        c.segments.flat_networks = self.flat_networks.clone();
        Ok(c)
    }
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(crate::serve(config))?;
    Ok(())
}
