//! Configuration: bridges and ports (patch peers and the tunnel index follow
//! them), and the state the daemon saves and restores.

use super::*;

impl Switch {
    /// Adds a bridge with Open vSwitch's initial flow `priority=0,actions=NORMAL`.
    pub fn add_bridge(&mut self, name: &str, now: u64) -> Result<(), SwitchError> {
        check_name("bridge", name)?;
        if self.bridge_id(name).is_ok() {
            return Err(SwitchError::BridgeExists(name.to_string()));
        }
        // Each bridge's seed differs from the others' (and from a deleted one's).
        let n = self.bridges.len() as u64 + self.generation;
        let mut b = Bridge::new(name, self.seed.derive(0x100 + n));
        for t in &mut b.tables {
            t.set_learned_limit(self.learned_limit);
        }
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
        self.flows_changed();
        Ok(removed)
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
        self.flows_changed();
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
    pub fn restore(cfg: &[BridgeConfig], seed: u64, now: u64) -> Result<Switch, SwitchError> {
        let mut sw = Switch::new(seed);
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
