//! Server configuration.

use crate::segments::SegmentConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where the SQLite store lives (unless `database_url` names another).
    pub state_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in `state_dir`.
    pub database_url: Option<String>,
    /// The bootstrap admin's password; generated (and printed once) if unset.
    pub admin_password: Option<String>,
    pub token_ttl: Duration,
    /// The URL put into the catalog (e.g. `http://controller:9696`); default: taken
    /// from the request's Host header.
    pub public_url: Option<String>,
    pub segments: SegmentConfig,
    /// MTU of the underlay (Neutron's `global_physnet_mtu`).
    pub underlay_mtu: u32,
    /// An agent whose last heartbeat is older than this is shown as not alive.
    pub agent_down_time: Duration,
    /// Default quotas other than Neutron's (resource -> limit, -1 unlimited).
    pub quota_defaults: std::collections::BTreeMap<String, i64>,
}

impl Config {
    pub fn new(listen: SocketAddr, state_dir: PathBuf) -> Config {
        Config {
            listen,
            state_dir,
            database_url: None,
            admin_password: None,
            token_ttl: Duration::from_secs(3600),
            public_url: None,
            segments: SegmentConfig::default(),
            underlay_mtu: 1500,
            agent_down_time: Duration::from_secs(75),
            quota_defaults: std::collections::BTreeMap::new(),
        }
    }
}
