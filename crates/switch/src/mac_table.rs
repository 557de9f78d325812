//! MAC learning for the NORMAL action: (VLAN, MAC) -> port, with aging.

use crate::PortId;
use std::collections::HashMap;

pub const DEFAULT_AGING_MS: u64 = 300_000;
pub const MAX_ENTRIES: usize = 65_536;

#[derive(Clone, Copy, Debug)]
pub struct MacEntry {
    pub port: PortId,
    pub seen: u64,
}

#[derive(Debug, Default)]
pub struct MacTable {
    entries: HashMap<(u16, u64), MacEntry>,
    pub aging_ms: u64,
}

impl MacTable {
    pub fn new() -> MacTable {
        MacTable {
            entries: HashMap::new(),
            aging_ms: DEFAULT_AGING_MS,
        }
    }

    pub fn learn(&mut self, vlan: u16, mac: u64, port: PortId, now: u64) {
        if let Some(e) = self.entries.get_mut(&(vlan, mac)) {
            e.port = port;
            e.seen = now;
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.expire(now);
            if self.entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        self.entries
            .insert((vlan, mac), MacEntry { port, seen: now });
    }

    pub fn lookup(&self, vlan: u16, mac: u64, now: u64) -> Option<PortId> {
        self.entries
            .get(&(vlan, mac))
            .filter(|e| now < e.seen + self.aging_ms)
            .map(|e| e.port)
    }

    pub fn expire(&mut self, now: u64) {
        let aging = self.aging_ms;
        self.entries.retain(|_, e| now < e.seen + aging);
    }

    pub fn flush_port(&mut self, port: PortId) {
        self.entries.retain(|_, e| e.port != port);
    }

    /// (vlan, mac, entry), sorted by VLAN then MAC.
    pub fn entries(&self) -> Vec<(u16, u64, MacEntry)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|(&(vl, m), e)| (vl, m, *e))
            .collect();
        v.sort_by_key(|(vl, m, _)| (*vl, *m));
        v
    }
}
