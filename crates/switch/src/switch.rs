//! The switch: bridges and ports, flow-table management and the packet entry points.

use crate::PortId;
use crate::bridge::Bridge;
use crate::cache::{Effect, FlowCache, FlowCacheStats};
use crate::extract::{TunnelMeta, flow_key};
use crate::field::Field;
use crate::flow::{Flow, FlowStats};
use crate::hash::FastMap;
use crate::parse::{FlowSpec, PortNames, parse_flow};
use crate::port::{PortConfig, PortType};
use crate::print;
use crate::xlate::{Ctx, Output};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::sync::Arc;

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

/// A frame the engine made itself (a DHCP or ARP answer), to send as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub port: PortId,
    pub frame: Vec<u8>,
}

/// Replies kept for the daemon at most; more are dropped (and counted).
pub const MAX_PENDING_REPLIES: usize = 256;

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

#[derive(Debug, Default)]
pub struct Switch {
    bridges: Vec<Option<Bridge>>,
    ports: Vec<Option<Port>>,
    /// (type, remote IP) -> tunnel ports, for receive demultiplexing.
    tunnels: crate::tunnel_index::TunnelIndex,
    /// Frames made by the engine while switching, for [`Switch::take_replies`].
    replies: Vec<Reply>,
    /// Bumped on every change of ports, flows or of MAC-table state that changes
    /// NORMAL's decisions (a MAC learned, moved or revived, entries aged out or
    /// flushed; not a mere refresh). The flow cache is valid for one generation.
    pub generation: u64,
    /// Port name -> port (names are unique across bridges).
    by_name: FastMap<String, PortId>,
    /// Exact-match cache in front of the tables (see [`crate::cache`]).
    cache: FlowCache,
    /// Reused by flooding so the packet path does not allocate.
    pub(crate) scratch_ports: Vec<PortId>,
    /// Patch port -> its peer (see [`Switch::patch_peer`]), by port id.
    peers: Vec<Option<PortId>>,
    /// Reused by `learn()` for the actions it builds.
    pub(crate) scratch_actions: Vec<crate::action::Action>,
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
    pub fn new() -> Switch {
        Switch::default()
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

    /// Adds a bridge with Open vSwitch's initial flow `priority=0,actions=NORMAL`.
    pub fn add_bridge(&mut self, name: &str, now: u64) -> Result<(), SwitchError> {
        check_name("bridge", name)?;
        if self.bridge_id(name).is_ok() {
            return Err(SwitchError::BridgeExists(name.to_string()));
        }
        let mut b = Bridge::new(name);
        b.insert(Flow {
            table: 0,
            priority: 0,
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            matcher: Default::default(),
            actions: Arc::from(vec![crate::action::Action::Normal]),
            stats: FlowStats {
                created: now,
                used: now,
                ..Default::default()
            },
            learned: false,
        });
        match self.bridges.iter().position(Option::is_none) {
            Some(i) => self.bridges[i] = Some(b),
            None => self.bridges.push(Some(b)),
        }
        self.generation += 1;
        Ok(())
    }

    /// Removes a bridge and its ports; returns the removed ports for the daemon to close.
    pub fn del_bridge(&mut self, name: &str) -> Result<Vec<(PortId, PortConfig)>, SwitchError> {
        self.settle_counters();
        let id = self.bridge_id(name)?;
        let port_ids: Vec<PortId> = self
            .bridge(id)
            .map(|b| b.ports.values().copied().collect())
            .unwrap_or_default();
        let mut removed = Vec::new();
        for p in port_ids {
            if let Some(port) = self.ports.get_mut(p).and_then(Option::take) {
                self.by_name.remove(&port.config.name);
                removed.push((p, port.config));
            }
        }
        self.bridges[id] = None;
        self.rebuild_tunnel_index();
        self.generation += 1;
        Ok(removed)
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

    pub fn add_port(&mut self, bridge: &str, mut cfg: PortConfig) -> Result<PortId, SwitchError> {
        let br = self.bridge_id(bridge)?;
        cfg.validate().map_err(SwitchError::Invalid)?;
        if let Some((_, p)) = self.port_by_name(&cfg.name) {
            let owner = self
                .bridge(p.bridge)
                .map(|b| b.name.clone())
                .unwrap_or_default();
            return Err(SwitchError::PortExists(cfg.name, owner));
        }
        if cfg.kind == PortType::Patch && cfg.peer.as_deref() == Some(cfg.name.as_str()) {
            return Err(SwitchError::Invalid(
                "a patch port cannot be its own peer".into(),
            ));
        }
        let b = self
            .bridge(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        let ofport = match cfg.ofport {
            Some(n) if (1..0xff00).contains(&n) && !b.ports.contains_key(&n) => n,
            _ => b.free_ofport(),
        };
        cfg.ofport = Some(ofport);
        let name = cfg.name.clone();
        let port = Port {
            config: cfg,
            bridge: br,
            ofport,
            stats: PortStats::default(),
            dhcp_stats: Default::default(),
        };
        let id = match self.ports.iter().position(Option::is_none) {
            Some(i) => {
                self.ports[i] = Some(port);
                i
            }
            None => {
                self.ports.push(Some(port));
                self.ports.len() - 1
            }
        };
        self.by_name.insert(name, id);
        if let Some(b) = self.bridge_mut(br) {
            b.ports.insert(ofport, id);
        }
        self.rebuild_tunnel_index();
        self.generation += 1;
        Ok(id)
    }

    pub fn del_port(
        &mut self,
        bridge: &str,
        name: &str,
    ) -> Result<(PortId, PortConfig), SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let (id, ofport) = match self.port_by_name(name) {
            Some((id, p)) if p.bridge == br => (id, p.ofport),
            _ => {
                return Err(SwitchError::NoSuchPort(
                    name.to_string(),
                    bridge.to_string(),
                ));
            }
        };
        if let Some(b) = self.bridge_mut(br) {
            b.ports.remove(&ofport);
            b.macs.flush_port(id);
        }
        let port = self
            .ports
            .get_mut(id)
            .and_then(Option::take)
            .ok_or_else(|| SwitchError::NoSuchPort(name.to_string(), bridge.to_string()))?;
        self.by_name.remove(name);
        self.rebuild_tunnel_index();
        self.generation += 1;
        Ok((id, port.config))
    }

    /// Sets (or with `None` clears) the DHCP binding of an existing port; its device
    /// and everything else about it stay as they are.
    pub fn set_port_dhcp(
        &mut self,
        bridge: &str,
        name: &str,
        dhcp: Option<crate::DhcpBinding>,
    ) -> Result<(), SwitchError> {
        let br = self.bridge_id(bridge)?;
        let id = match self.port_by_name(name) {
            Some((id, p)) if p.bridge == br => id,
            _ => {
                return Err(SwitchError::NoSuchPort(
                    name.to_string(),
                    bridge.to_string(),
                ));
            }
        };
        let port = self
            .port_mut(id)
            .ok_or_else(|| SwitchError::NoSuchPort(name.to_string(), bridge.to_string()))?;
        let mut cfg = port.config.clone();
        cfg.dhcp = dhcp;
        cfg.validate().map_err(SwitchError::Invalid)?;
        port.config = cfg;
        self.generation += 1;
        Ok(())
    }

    pub(crate) fn queue_reply(&mut self, port: PortId, frame: Vec<u8>) {
        if self.replies.len() >= MAX_PENDING_REPLIES {
            if let Some(p) = self.port_mut(port) {
                p.stats.tx_dropped += 1;
            }
            return;
        }
        self.replies.push(Reply { port, frame });
    }

    /// Takes the frames the engine made while switching (DHCP and ARP answers from
    /// the `dhcp` action), in order; the daemon sends each out of its port as it is,
    /// after every [`Switch::receive`].
    pub fn take_replies(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.replies)
    }

    /// True when [`Switch::take_replies`] has something.
    pub fn has_replies(&self) -> bool {
        !self.replies.is_empty()
    }

    fn rebuild_tunnel_index(&mut self) {
        self.tunnels.clear();
        for (id, p) in self.ports.iter().enumerate() {
            if let Some(p) = p
                && p.config.kind.is_tunnel()
                && let Some(ip) = p.config.remote_ip
            {
                self.tunnels
                    .insert(p.config.kind, ip, id, p.config.tunnel_key());
            }
        }
        // Patch peers, resolved once instead of by name per packet.
        let peers: Vec<Option<PortId>> = (0..self.ports.len())
            .map(|id| self.resolve_patch_peer(id))
            .collect();
        self.peers = peers;
    }

    /// The tunnel port a packet from `remote` with `key` arrived on: a port with that
    /// fixed key first, else a `key=flow` port.
    pub fn tunnel_port(&self, kind: PortType, remote: Ipv4Addr, key: u64) -> Option<PortId> {
        self.tunnels.lookup(kind, remote, key)
    }

    /// The tunnel ports by remote and key (a copy lets another thread resolve
    /// tunnel packets; it changes only when ports do).
    pub fn tunnel_index(&self) -> &crate::tunnel_index::TunnelIndex {
        &self.tunnels
    }

    /// The patch port's peer, if it exists and names this port back.
    #[inline]
    pub fn patch_peer(&self, id: PortId) -> Option<PortId> {
        self.peers.get(id).copied().flatten()
    }

    fn resolve_patch_peer(&self, id: PortId) -> Option<PortId> {
        let p = self.port(id)?;
        let peer_name = p.config.peer.as_deref()?;
        let (pid, peer) = self.port_by_name(peer_name)?;
        (peer.config.kind == PortType::Patch
            && peer.config.peer.as_deref() == Some(p.config.name.as_str()))
        .then_some(pid)
    }

    // ---- flows ----

    fn parse_lines(
        &self,
        br: usize,
        lines: &[String],
        need_actions: bool,
    ) -> Result<Vec<FlowSpec>, SwitchError> {
        let names = self.names(br);
        let mut specs = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let spec = parse_flow(t, &names, need_actions).map_err(|e| {
                if lines.len() > 1 {
                    SwitchError::Parse(format!("line {}: {e}", i + 1))
                } else {
                    SwitchError::Parse(e.0)
                }
            })?;
            specs.push(spec);
        }
        Ok(specs)
    }

    fn to_flow(spec: FlowSpec, now: u64) -> Flow {
        Flow {
            table: spec.table.unwrap_or(0),
            priority: spec.priority,
            cookie: spec.cookie,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            matcher: spec.matcher,
            actions: Arc::from(spec.actions.unwrap_or_default()),
            stats: FlowStats {
                created: now,
                used: now,
                ..Default::default()
            },
            learned: false,
        }
    }

    /// Parses flows in ovs-ofctl text for `bridge` (its port names resolved);
    /// blank lines and `#` comments are skipped.
    pub fn parse_flows(
        &self,
        bridge: &str,
        lines: &[String],
    ) -> Result<Vec<FlowSpec>, SwitchError> {
        let br = self.bridge_id(bridge)?;
        self.parse_lines(br, lines, true)
    }

    /// Adds flows; all lines are parsed before any is installed.
    pub fn add_flows(
        &mut self,
        bridge: &str,
        lines: &[String],
        now: u64,
    ) -> Result<usize, SwitchError> {
        let specs = self.parse_flows(bridge, lines)?;
        self.add_flow_specs(bridge, specs, now)
    }

    /// Adds flows already parsed (or built typed) for `bridge`.
    pub fn add_flow_specs(
        &mut self,
        bridge: &str,
        specs: Vec<FlowSpec>,
        now: u64,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let n = specs.len();
        let b = self
            .bridge_mut(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        for s in specs {
            b.insert(Self::to_flow(s, now));
        }
        self.generation += 1;
        Ok(n)
    }

    /// Replaces all flows of a bridge at once. Flows that stay the same keep their
    /// counters and age, so a re-push by a restarted agent changes nothing.
    pub fn replace_flows(
        &mut self,
        bridge: &str,
        lines: &[String],
        now: u64,
    ) -> Result<usize, SwitchError> {
        let specs = self.parse_flows(bridge, lines)?;
        self.replace_flow_specs(bridge, specs, now)
    }

    /// [`Switch::replace_flows`] with flows already parsed (or built typed).
    pub fn replace_flow_specs(
        &mut self,
        bridge: &str,
        specs: Vec<FlowSpec>,
        now: u64,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let n = specs.len();
        let b = self
            .bridge_mut(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        let new: Vec<Flow> = specs.into_iter().map(|s| Self::to_flow(s, now)).collect();
        // The installed flow with the same definition (counters and age aside).
        // At most one flow has a given (table, priority, match), so the index
        // answers what a scan for an equal flow would.
        let same = |tables: &[crate::table::FlowTable], f: &Flow| -> Option<FlowStats> {
            let t = tables.get(usize::from(f.table))?;
            let o = t.get(t.find_rule(f.priority, &f.matcher)?)?;
            (!o.learned && o.same_definition(f)).then_some(o.stats)
        };
        // The same flows again (an agent re-syncing after a restart): change
        // nothing, so counters, learned flows and cached decisions all stay.
        let installed = b.flows().filter(|f| !f.learned).count();
        if installed == new.len() && new.iter().all(|f| same(&b.tables, f).is_some()) {
            return Ok(n);
        }
        // Build the new tables aside and swap them in: atomic, and flows that stay
        // keep their counters.
        let mut tables = crate::bridge::empty_tables();
        for mut f in new {
            if let Some(stats) = same(&b.tables, &f) {
                f.stats = stats;
            }
            if let Some(t) = tables.get_mut(usize::from(f.table)) {
                t.insert(f);
            }
        }
        b.tables = tables;
        self.generation += 1;
        Ok(n)
    }

    /// Deletes the flows that `match_text` covers (all without it); returns how many.
    pub fn del_flows(
        &mut self,
        bridge: &str,
        match_text: Option<&str>,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let spec = match match_text {
            Some(t) if !t.trim().is_empty() => {
                Some(self.parse_lines(br, &[t.to_string()], false)?.remove(0))
            }
            _ => None,
        };
        let b = self
            .bridge_mut(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        let mut n = 0;
        for (t, flows) in b.tables.iter_mut().enumerate() {
            if flows.is_empty()
                || spec
                    .as_ref()
                    .is_some_and(|s| s.table.is_some_and(|st| usize::from(st) != t))
            {
                continue;
            }
            n += flows.retain(|f| match &spec {
                None => false,
                Some(s) => {
                    !((f.cookie & s.cookie_mask) == (s.cookie & s.cookie_mask)
                        && s.matcher.covers(&f.matcher))
                }
            });
        }
        self.generation += 1;
        Ok(n)
    }

    /// Flows in add-flow syntax (for the state file).
    pub fn flows_text(&self, br: usize) -> Vec<String> {
        let Some(b) = self.bridge(br) else {
            return Vec::new();
        };
        let names = self.names(br);
        b.flows()
            .map(|f| print::flow_text(&f.parts(), &names))
            .collect()
    }

    /// `dump-flows`: ovs-ofctl's layout with counters and durations.
    pub fn dump_flows(
        &mut self,
        bridge: &str,
        table: Option<u8>,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let b = self
            .bridge(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        let names = self.names(br);
        let mut out = Vec::new();
        for f in b.flows().filter(|f| table.is_none_or(|t| t == f.table)) {
            let dur = now.saturating_sub(f.stats.created);
            let mut s = format!(
                " cookie={:#x}, duration={}.{:03}s, table={}, n_packets={}, n_bytes={}, ",
                f.cookie,
                dur / 1000,
                dur % 1000,
                f.table,
                f.stats.packets,
                f.stats.bytes
            );
            if f.idle_timeout != 0 {
                s.push_str(&format!("idle_timeout={}, ", f.idle_timeout));
            }
            if f.hard_timeout != 0 {
                s.push_str(&format!("hard_timeout={}, ", f.hard_timeout));
            }
            if f.stats.packets > 0 {
                s.push_str(&format!(
                    "idle_age={}, ",
                    now.saturating_sub(f.stats.used) / 1000
                ));
            }
            s.push_str(&format!("priority={}", f.priority));
            let m = print::match_text(&f.matcher, &names);
            if !m.is_empty() {
                s.push(',');
                s.push_str(&m);
            }
            s.push_str(&format!(
                " actions={}",
                print::actions_text(&f.actions, &names)
            ));
            out.push(s);
        }
        Ok(out)
    }

    pub fn fdb(&self, bridge: &str, now: u64) -> Result<Vec<FdbEntry>, SwitchError> {
        let br = self.bridge_id(bridge)?;
        let b = self
            .bridge(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        Ok(b.macs
            .entries()
            .into_iter()
            .filter(|(_, _, e)| now < e.seen.saturating_add(b.macs.aging_ms))
            .map(|(vlan, mac, e)| FdbEntry {
                port: self
                    .port(e.port)
                    .map(|p| p.config.name.clone())
                    .unwrap_or_else(|| "?".into()),
                vlan,
                mac: wire::MacAddr::from_u64(mac).to_string(),
                age_secs: now.saturating_sub(e.seen) / 1000,
            })
            .collect())
    }

    /// Drops expired flows and MAC entries.
    pub fn expire(&mut self, now: u64) {
        self.settle_counters();
        let mut changed = false;
        for b in self.bridges.iter_mut().flatten() {
            for t in b.tables.iter_mut() {
                changed |= t.expire(now) > 0;
            }
            changed |= b.macs.expire(now);
        }
        if changed {
            self.generation += 1;
        }
    }

    // ---- flow cache ----

    /// Sets how many entries the flow cache holds (0 turns it off: every packet
    /// takes the slow path). The default is [`crate::cache::DEFAULT_CAPACITY`].
    pub fn set_flow_cache_capacity(&mut self, capacity: usize) {
        self.settle_counters();
        self.cache.set_capacity(capacity);
    }

    pub fn flow_cache_stats(&self) -> FlowCacheStats {
        self.cache.stats()
    }

    /// The flow a cache entry names (valid until that flow is removed).
    fn flow_at(
        bridges: &mut [Option<Bridge>],
        br: usize,
        table: u8,
        id: crate::table::FlowId,
    ) -> Option<&mut crate::flow::Flow> {
        bridges
            .get_mut(br)
            .and_then(Option::as_mut)
            .and_then(|b| b.tables.get_mut(usize::from(table)))
            .and_then(|t| t.get_mut(id))
    }

    /// Replays a cached decision for (in_port, key) and returns the key (the
    /// entry's copy: the caller's was just written field by field, and a wide copy
    /// of it would stall on store forwarding); None on a miss (nothing changed
    /// then, or only MAC refreshes the slow path will do again anyway).
    #[inline]
    fn replay_cached(
        &mut self,
        in_port: PortId,
        key: &crate::FlowKey,
        now: u64,
        bytes: u64,
        out: &mut Vec<Output>,
    ) -> Option<crate::FlowKey> {
        let i = self.cache.find(in_port, key)?;
        let e = self.cache.entry(i)?;
        if now >= e.valid_until {
            return None;
        }
        // MAC refreshes come first in an entry: a stale one turns the hit into a
        // miss before anything is counted. Flow counters and `learn()` timers are
        // owed by the entry (`count_hit`) and settled later.
        for eff in e.effects.as_slice() {
            let Effect::Mac { br, slot, port } = *eff else {
                break;
            };
            let fresh = self
                .bridges
                .get_mut(br as usize)
                .and_then(Option::as_mut)
                .is_some_and(|b| b.macs.refresh(slot, port as PortId, now));
            if !fresh {
                return None;
            }
        }
        match e.outputs.as_slice() {
            [o] => out.push(*o),
            outs => out.extend_from_slice(outs),
        }
        let k = e.key;
        self.cache.count_hit(i, bytes, now);
        Some(k)
    }

    /// Adds what cached hits owe to their flows: packets, bytes and last use, and
    /// for flows `learn()` found already installed, the timer reset. Runs before
    /// anything reads or removes flows (see [`crate::cache`]); cheap when nothing
    /// is owed.
    pub fn settle_counters(&mut self) {
        if !self.cache.has_pending() {
            return;
        }
        let bridges = &mut self.bridges;
        self.cache.drain_pending(|effects, p| {
            for eff in effects {
                match *eff {
                    Effect::Mac { .. } => {}
                    Effect::Flow { br, table, id } => {
                        if let Some(f) = Self::flow_at(bridges, br as usize, table, id) {
                            f.stats.packets += p.packets;
                            f.stats.bytes += p.bytes;
                            f.stats.used = f.stats.used.max(p.used);
                        }
                    }
                    Effect::Learned { br, table, id } => {
                        if let Some(f) = Self::flow_at(bridges, br as usize, table, id) {
                            f.stats.created = f.stats.created.max(p.used);
                            f.stats.used = f.stats.used.max(p.used);
                        }
                    }
                }
            }
        });
    }

    // ---- packets ----

    /// Runs a frame that arrived on `in_port` through its bridge's pipeline and appends
    /// the resulting outputs to `out` (their keys describe the headers to send with).
    /// Returns the key the frame was reduced to.
    ///
    /// A frame whose (port, key) was seen before in this generation takes the flow
    /// cache instead: the same outputs, counters and MAC refreshes, without the
    /// tables (see [`crate::cache`]). Nothing is allocated on that path; `out` is
    /// the caller's to reuse.
    pub fn receive(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        tunnel: Option<&TunnelMeta>,
        now: u64,
        out: &mut Vec<Output>,
    ) -> crate::FlowKey {
        let mut key = crate::FlowKey::default();
        crate::extract::extract(&mut key, frame, tunnel);
        let Some(p) = self.port(in_port) else {
            return key;
        };
        let (br, ofport) = (p.bridge, p.ofport);
        key.set(Field::InPort, ofport.into());
        let bytes = frame.len() as u64;
        let caching = self.cache.enabled();
        if caching {
            self.cache.sync(self.generation);
            if let Some(k) = self.replay_cached(in_port, &key, now, bytes, out) {
                self.cache.hits += 1;
                return k;
            }
            self.cache.misses += 1;
        }
        self.receive_slow(in_port, br, &key, frame, now, out, caching);
        key
    }

    /// The tables (and, when caching, recording the decision for the cache).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn receive_slow(
        &mut self,
        in_port: PortId,
        br: usize,
        orig: &crate::FlowKey,
        frame: &[u8],
        now: u64,
        out: &mut Vec<Output>,
        caching: bool,
    ) {
        // The slow path may overwrite a cache entry or replace a learned flow.
        self.settle_counters();
        let mut key = *orig;
        let start = out.len();
        let generation = self.generation;
        let mut cx = Ctx::new(out, None, now, frame.len() as u64).with_frame(frame);
        if caching {
            cx = cx.recording(std::mem::take(&mut self.cache.scratch));
        }
        self.run_table(&mut cx, br, 0, &mut key);
        let (effects, cacheable, valid_until) = (cx.effects.take(), cx.cacheable, cx.valid_until);
        drop(cx);
        if let Some(effects) = effects {
            // A packet that changed the switch (learned a MAC or a flow) is not
            // cached: the next one, which only refreshes, will be.
            if cacheable && self.generation == generation {
                let outs = out.get(start..).unwrap_or_default();
                self.cache
                    .insert(in_port, orig, outs, &effects, valid_until);
            }
            self.cache.scratch = effects;
        }
    }

    /// Traces a real frame arriving on `in_port` (what `receive` would do with it,
    /// including what the `dhcp` action would answer) without changing any state.
    pub fn trace_frame(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        tunnel: Option<&TunnelMeta>,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        let mut key = flow_key(frame, tunnel);
        let Some(p) = self.port(in_port) else {
            return Err(SwitchError::Invalid(format!("no port #{in_port}")));
        };
        let (br, ofport) = (p.bridge, p.ofport);
        key.set(Field::InPort, ofport.into());
        // The fields the frame has (and in_port), exactly.
        let mut m = crate::flow::Match::catch_all();
        for f in Field::ALL {
            let v = key.get(*f);
            if v != 0 || *f == Field::InPort || *f == Field::DlType {
                m.set(*f, v, f.full_mask());
            }
        }
        let mut lines = vec![format!("Flow: {}", print::match_text(&m, &self.names(br)))];
        let mut outs = Vec::new();
        let mut cx =
            Ctx::new(&mut outs, Some(&mut lines), now, frame.len() as u64).with_frame(frame);
        cx.trace_bridge(&self.bridge(br).map(|b| b.name.clone()).unwrap_or_default());
        self.run_table(&mut cx, br, 0, &mut key);
        let replies = std::mem::take(&mut cx.traced_replies);
        self.finish_trace(&mut lines, &outs, &replies);
        Ok(lines)
    }

    fn finish_trace(&self, lines: &mut Vec<String>, outs: &[Output], replies: &[String]) {
        lines.push(String::new());
        if outs.is_empty() && replies.is_empty() {
            lines.push("Final: drop (no output)".into());
        } else {
            lines.push("Final outputs:".into());
            for o in outs {
                lines.push(format!("  {}", self.describe_output(o)));
            }
            for r in replies {
                lines.push(format!("  {r}"));
            }
        }
    }

    /// Traces a packet described by a flow text (e.g. `in_port=tap1,dl_dst=..,arp`)
    /// through the pipeline without changing any state; returns the trace lines.
    pub fn trace(
        &mut self,
        bridge: &str,
        flow: &str,
        now: u64,
    ) -> Result<Vec<String>, SwitchError> {
        let br = self.bridge_id(bridge)?;
        let spec = self.parse_lines(br, &[flow.to_string()], false)?.remove(0);
        if spec.matcher.mask.get(Field::InPort) == 0 {
            return Err(SwitchError::Invalid("trace needs in_port=PORT".into()));
        }
        let mut key = spec.matcher.value;
        let in_ofport = key.get(Field::InPort) as u32;
        if self
            .bridge(br)
            .and_then(|b| b.ports.get(&in_ofport))
            .is_none()
        {
            return Err(SwitchError::Invalid(format!(
                "in_port {in_ofport} is not a port of {bridge}"
            )));
        }
        let mut lines = vec![format!(
            "Flow: {}",
            print::match_text(&spec.matcher, &self.names(br))
        )];
        let mut outs = Vec::new();
        let mut cx = Ctx::new(&mut outs, Some(&mut lines), now, 0);
        cx.trace_bridge(&self.bridge(br).map(|b| b.name.clone()).unwrap_or_default());
        self.run_table(&mut cx, br, 0, &mut key);
        self.finish_trace(&mut lines, &outs, &[]);
        Ok(lines)
    }

    /// One line on where an output goes, with the tunnel's outer header.
    pub fn describe_output(&self, o: &Output) -> String {
        let Some(p) = self.port(o.port) else {
            return format!("port #{} (gone)", o.port);
        };
        let br = self
            .bridge(p.bridge)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let vlan = o.key.get(Field::VlanTci) as u16;
        let vlan_txt = if vlan & 0x1000 != 0 {
            format!(", vlan {}", vlan & 0xfff)
        } else {
            String::new()
        };
        let c = &p.config;
        match c.kind {
            PortType::Vxlan | PortType::Gre => {
                let id = match c.tunnel_key() {
                    crate::port::TunnelKey::Flow => o.key.get_u64(Field::TunId),
                    crate::port::TunnelKey::Fixed(k) => k,
                };
                let local = c
                    .local_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "(route)".into());
                let remote = c.remote_ip.map(|i| i.to_string()).unwrap_or_default();
                let outer = if c.kind == PortType::Vxlan {
                    format!(
                        "VXLAN vni {id:#x}, udp {local} -> {remote}:{}",
                        wire::vxlan::UDP_PORT
                    )
                } else {
                    format!("GRE key {id:#x}, ip proto 47 {local} -> {remote}")
                };
                format!("{br}: output {} ({outer}){vlan_txt}", c.name)
            }
            k => format!("{br}: output {} ({}){vlan_txt}", c.name, k.name()),
        }
    }

    // ---- state ----

    pub fn config(&self) -> Vec<BridgeConfig> {
        self.bridges
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.as_ref().map(|b| (i, b)))
            .map(|(i, b)| BridgeConfig {
                name: b.name.clone(),
                ports: b
                    .ports
                    .values()
                    .filter_map(|id| self.port(*id))
                    .map(|p| p.config.clone())
                    .collect(),
                flows: self.flows_text(i),
            })
            .collect()
    }

    /// Rebuilds a switch from saved configuration. Ports come first (flows name them).
    pub fn restore(cfg: &[BridgeConfig], now: u64) -> Result<Switch, SwitchError> {
        let mut sw = Switch::new();
        for b in cfg {
            sw.add_bridge(&b.name, now)?;
        }
        for b in cfg {
            for p in &b.ports {
                sw.add_port(&b.name, p.clone())?;
            }
        }
        for b in cfg {
            sw.replace_flows(&b.name, &b.flows, now)?;
        }
        Ok(sw)
    }
}
