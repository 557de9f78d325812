//! A poll thread's ports by id. Port ids are the engine's slab indices (small and
//! dense), so a vector indexed by id answers the per-frame lookups (output port,
//! tunnel port's local address) without hashing.

use super::worker::PortInfo;
use switch::PortId;

#[derive(Default)]
pub(super) struct PortTable {
    slots: Vec<Option<PortInfo>>,
}

impl PortTable {
    #[inline]
    pub fn get(&self, id: PortId) -> Option<&PortInfo> {
        self.slots.get(id)?.as_ref()
    }

    pub fn contains(&self, id: PortId) -> bool {
        self.get(id).is_some()
    }

    pub fn insert(&mut self, id: PortId, port: PortInfo) {
        if id >= self.slots.len() {
            self.slots.resize_with(id + 1, || None);
        }
        if let Some(slot) = self.slots.get_mut(id) {
            *slot = Some(port);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (PortId, &PortInfo)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, p)| p.as_ref().map(|p| (id, p)))
    }
}
