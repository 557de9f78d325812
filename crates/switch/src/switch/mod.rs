//! The switch: bridges and ports, flow-table management and the packet entry points,
//! one `impl Switch` per concern (config, flows, packets, text; the pipeline is in
//! `xlate`).

mod config;
mod flows;
mod offer;
mod packets;
mod text;

use crate::PortId;
use crate::bridge::Bridge;
use crate::cache::{Effect, FlowCache, FlowCacheStats};
use crate::extract::{TunnelMeta, flow_key};
use crate::field::Field;
use crate::flow::{Flow, FlowStats};
use crate::hash::{FastMap, Seed};
use crate::parse::{FlowSpec, PortNames, parse_flow};
use crate::port::{PortConfig, PortType};
use crate::print;
use crate::xlate::{Ctx, Forward, Output};
pub use offer::Offer;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::sync::Arc;
pub use text::Traced;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SwitchError {
    #[error("no bridge named '{0}'")]
    NoSuchBridge(String),
    #[error("bridge '{0}' already exists")]
    BridgeExists(String),
    #[error("no port named '{0}' on bridge '{1}'")]
    NoSuchPort(String, String),
    #[error("port '{0}' already exists on bridge '{1}'")]
    PortExists(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Parse(String),
}

/// Per-port counters; the daemon updates the I/O ones.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

impl PortStats {
    /// Adds counts gathered elsewhere (a poll thread's batch) to these.
    pub fn add(&mut self, d: &PortStats) {
        self.rx_packets += d.rx_packets;
        self.rx_bytes += d.rx_bytes;
        self.rx_dropped += d.rx_dropped;
        self.rx_errors += d.rx_errors;
        self.tx_packets += d.tx_packets;
        self.tx_bytes += d.tx_bytes;
        self.tx_dropped += d.tx_dropped;
        self.tx_errors += d.tx_errors;
    }
}

#[derive(Debug)]
pub struct Port {
    pub config: PortConfig,
    pub bridge: usize,
    pub ofport: u32,
    pub stats: PortStats,
    /// What the `dhcp` action did on this port.
    pub dhcp_stats: crate::DhcpStats,
}

/// One learned MAC, for `fdb-show`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FdbEntry {
    pub port: String,
    pub vlan: u16,
    pub mac: String,
    pub age_secs: u64,
}

/// What the state file keeps of a bridge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BridgeConfig {
    pub name: String,
    pub ports: Vec<PortConfig>,
    pub flows: Vec<String>,
}

#[derive(Debug)]
pub struct Switch {
    /// Every hash seed of the switch (maps, tables, cache) derives from this.
    seed: Seed,
    bridges: Vec<Option<Bridge>>,
    ports: Vec<Option<Port>>,
    /// (type, remote IP) -> tunnel ports, for receive demultiplexing.
    tunnels: crate::tunnel_index::TunnelIndex,
    /// Bumped on every change of ports, flows or of MAC-table state that changes
    /// NORMAL's decisions (a MAC learned, moved or revived, entries aged out or
    /// flushed; not a mere refresh). The flow cache is valid for one generation.
    pub generation: u64,
    /// The generation at which flows were last removed or replaced (a decision
    /// made before it may name flows that are gone; see [`Switch::credit`]).
    flows_gen: u64,
    /// The decision being recorded for [`Switch::receive_offer`].
    pub(crate) offer: Option<Offer>,
    /// Port name -> port (names are unique across bridges).
    by_name: FastMap<String, PortId>,
    /// Exact-match cache in front of the tables (see [`crate::cache`]).
    cache: FlowCache,
    /// Reused by flooding so the packet path does not allocate.
    pub(crate) scratch_ports: Vec<PortId>,
    /// Patch port -> its peer (see [`Switch::patch_peer`]), by port id.
    peers: Vec<Option<PortId>>,
    /// Reused by the slow path for the forwards it caches.
    scratch_forwards: Vec<crate::xlate::Forward>,
    /// Reused by `learn()` for the actions it builds.
    pub(crate) scratch_actions: Vec<crate::action::Action>,
    /// The connection table `ct()` tracks in.
    pub(crate) conntrack: crate::conntrack::Conntrack,
    /// What tracking knows of the packet being switched.
    pub(crate) ct_cur: crate::xlate_ct::CtCur,
    /// Learned flows a table holds at most (see [`Switch::set_learned_flow_limit`]).
    learned_limit: usize,
}

/// The learned flows of the whole switch (`switch show`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnedFlowStats {
    pub flows: usize,
    /// The cap, per table.
    pub limit: usize,
    /// Learned flows evicted for the cap since the switch started.
    pub evicted: u64,
}

/// Port names of one bridge, for parsing and printing flows.
pub struct BridgePorts<'a> {
    sw: &'a Switch,
    br: usize,
}

impl PortNames for BridgePorts<'_> {
    fn port_number(&self, name: &str) -> Option<u32> {
        let (_, p) = self.sw.port_by_name(name)?;
        (p.bridge == self.br).then_some(p.ofport)
    }
    fn port_name(&self, number: u32) -> Option<String> {
        let b = self.sw.bridges.get(self.br)?.as_ref()?;
        let id = b.ports.get(&number)?;
        self.sw.port(*id).map(|p| p.config.name.clone())
    }
}

fn check_name(what: &str, n: &str) -> Result<(), SwitchError> {
    if n.is_empty()
        || n.len() > 15
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(SwitchError::Invalid(format!(
            "{what} name '{n}' must be 1 to 15 bytes of letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl Switch {
    /// Flows were added, replaced or removed: every cached decision is stale, and
    /// one made before now may name a flow that is gone.
    pub(crate) fn flows_changed(&mut self) {
        self.generation += 1;
        self.flows_gen = self.generation;
    }

    /// An empty switch. Every hash table in it takes its seed from `seed`: the
    /// daemon passes a random one, so a guest cannot choose packets that pile up
    /// in one bucket; tests pass a fixed one.
    pub fn new(seed: u64) -> Switch {
        let seed = Seed::new(seed);
        Switch {
            seed,
            bridges: Vec::new(),
            ports: Vec::new(),
            tunnels: crate::tunnel_index::TunnelIndex::new(seed.derive(1)),
            generation: 0,
            flows_gen: 0,
            offer: None,
            by_name: seed.derive(2).map(),
            cache: FlowCache::new(seed.derive(3)),
            scratch_ports: Vec::new(),
            peers: Vec::new(),
            scratch_forwards: Vec::new(),
            scratch_actions: Vec::new(),
            conntrack: crate::conntrack::Conntrack::seeded(
                crate::conntrack::CtConfig::default(),
                seed.derive(4),
            ),
            ct_cur: crate::xlate_ct::CtCur::default(),
            learned_limit: crate::table::DEFAULT_LEARNED_LIMIT,
        }
    }

    // ---- learned flows ----

    /// Caps the flows `learn()` installs, per table (default 100,000): past it a
    /// new learned flow evicts the oldest, as OVS's flow limit does; a guest
    /// spoofing a million source MACs cannot fill the switch's memory.
    pub fn set_learned_flow_limit(&mut self, limit: usize) {
        self.settle_counters();
        self.learned_limit = limit.max(1);
        for b in self.bridges.iter_mut().flatten() {
            for t in &mut b.tables {
                t.set_learned_limit(self.learned_limit);
            }
        }
        self.flows_changed();
    }

    pub fn learned_flow_stats(&self) -> LearnedFlowStats {
        let mut s = LearnedFlowStats {
            limit: self.learned_limit,
            ..Default::default()
        };
        for b in self.bridges.iter().flatten() {
            for t in &b.tables {
                let (n, e) = t.learned_stats();
                s.flows += n;
                s.evicted += e;
            }
        }
        s
    }

    // ---- connection tracking ----

    /// The connection table (`dump-conntrack`, counters).
    pub fn conntrack(&self) -> &crate::conntrack::Conntrack {
        &self.conntrack
    }

    /// The connection table, to flush it or change its limits.
    pub fn conntrack_mut(&mut self) -> &mut crate::conntrack::Conntrack {
        &mut self.conntrack
    }

    // ---- bridges ----

    pub fn bridge_id(&self, name: &str) -> Result<usize, SwitchError> {
        self.bridges
            .iter()
            .position(|b| b.as_ref().is_some_and(|b| b.name == name))
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))
    }

    /// The bridge's ports and tables. Flow counters read through it lag behind by
    /// what cached hits owe them until [`Switch::settle_counters`] (which
    /// `dump_flows` runs first).
    pub fn bridge(&self, id: usize) -> Option<&Bridge> {
        self.bridges.get(id)?.as_ref()
    }

    pub(crate) fn bridge_mut(&mut self, id: usize) -> Option<&mut Bridge> {
        self.bridges.get_mut(id)?.as_mut()
    }

    /// The bridge called `name`, for a change to it.
    pub(crate) fn named_bridge_mut(&mut self, name: &str) -> Result<&mut Bridge, SwitchError> {
        self.bridges
            .iter_mut()
            .flatten()
            .find(|b| b.name == name)
            .ok_or_else(|| SwitchError::NoSuchBridge(name.to_string()))
    }

    pub fn bridge_names(&self) -> Vec<String> {
        self.bridges
            .iter()
            .flatten()
            .map(|b| b.name.clone())
            .collect()
    }

    pub fn names(&self, br: usize) -> BridgePorts<'_> {
        BridgePorts { sw: self, br }
    }

    // ---- ports ----

    pub fn port(&self, id: PortId) -> Option<&Port> {
        self.ports.get(id)?.as_ref()
    }

    pub fn port_mut(&mut self, id: PortId) -> Option<&mut Port> {
        self.ports.get_mut(id)?.as_mut()
    }

    pub fn ports(&self) -> impl Iterator<Item = (PortId, &Port)> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
    }

    pub fn port_by_name(&self, name: &str) -> Option<(PortId, &Port)> {
        let id = *self.by_name.get(name)?;
        self.port(id)
            .filter(|p| p.config.name == name)
            .map(|p| (id, p))
    }
}
