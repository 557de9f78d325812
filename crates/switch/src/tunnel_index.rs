//! Which tunnel port a received tunnel packet belongs to: by kind, remote address and
//! key. Rebuilt by the switch whenever ports change; the daemon keeps a copy per poll
//! thread so it can resolve tunnel packets without taking the engine's lock.

use crate::PortId;
use crate::hash::{FastMap, Seed};
use crate::port::{PortType, TunnelKey};
use std::net::Ipv4Addr;

/// Tunnel ports by (kind, remote), each with its key setting.
#[derive(Debug, Clone)]
pub struct TunnelIndex {
    /// Looked up for every received tunnel packet: the engine's fast hasher.
    ports: FastMap<(PortType, u32), Vec<(PortId, TunnelKey)>>,
}

impl TunnelIndex {
    pub fn new(seed: Seed) -> TunnelIndex {
        TunnelIndex { ports: seed.map() }
    }

    pub(crate) fn clear(&mut self) {
        self.ports.clear();
    }

    pub(crate) fn insert(&mut self, kind: PortType, remote: Ipv4Addr, id: PortId, key: TunnelKey) {
        self.ports
            .entry((kind, u32::from(remote)))
            .or_default()
            .push((id, key));
    }

    /// The port a packet from `remote` with `key` arrived on: a port with that fixed
    /// key first, else a `key=flow` port.
    pub fn lookup(&self, kind: PortType, remote: Ipv4Addr, key: u64) -> Option<PortId> {
        let cands = self.ports.get(&(kind, u32::from(remote)))?;
        cands
            .iter()
            .find(|(_, k)| *k == TunnelKey::Fixed(key))
            .or_else(|| cands.iter().find(|(_, k)| *k == TunnelKey::Flow))
            .map(|(id, _)| *id)
    }

    /// Whether any port of `kind` has `remote` as its far end.
    pub fn knows(&self, kind: PortType, remote: Ipv4Addr) -> bool {
        self.ports.contains_key(&(kind, u32::from(remote)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_key_wins_over_flow_and_unknown_is_none() {
        let r = Ipv4Addr::new(192, 168, 1, 2);
        let mut ix = TunnelIndex::new(Seed::new(7));
        ix.insert(PortType::Vxlan, r, 7, TunnelKey::Flow);
        ix.insert(PortType::Vxlan, r, 3, TunnelKey::Fixed(100));
        assert_eq!(ix.lookup(PortType::Vxlan, r, 100), Some(3));
        assert_eq!(ix.lookup(PortType::Vxlan, r, 101), Some(7));
        assert_eq!(ix.lookup(PortType::Gre, r, 100), None);
        assert_eq!(
            ix.lookup(PortType::Vxlan, Ipv4Addr::new(192, 168, 1, 3), 100),
            None
        );
        assert!(ix.knows(PortType::Vxlan, r));
        assert!(!ix.knows(PortType::Gre, r));
    }
}
