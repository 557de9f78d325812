//! MAC learning for the NORMAL action: (VLAN, MAC) -> port, with aging.
//!
//! The flow cache replays NORMAL's decisions, so this table says when it changed in
//! a way that changes decisions (a MAC learned, moved or revived, entries aged out
//! or flushed) as opposed to an entry merely being refreshed; the switch bumps its
//! generation on the former. `aging_ms` must not change while packets are cached
//! (it is set once, before traffic).
//!
//! Entries live in a slab: a [`MacSlot`] stays valid until its entry is removed
//! (expiry or flush, both decision changes), so the flow cache refreshes an entry
//! by slot without hashing.

use crate::PortId;
use crate::hash::{FastMap, Seed};

pub const DEFAULT_AGING_MS: u64 = 300_000;
pub const MAX_ENTRIES: usize = 65_536;

#[derive(Clone, Copy, Debug)]
pub struct MacEntry {
    pub port: PortId,
    pub seen: u64,
}

/// An entry's place in the table.
pub type MacSlot = u32;

/// What [`MacTable::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// The MAC was already known, fresh, on this port: only its age was reset.
    Refreshed(MacSlot),
    /// A new entry, a move to another port, a stale entry revived, or aged entries
    /// dropped to make room: lookups may now answer differently.
    Changed,
    /// The table is full of fresh entries: not learned.
    Full,
}

#[derive(Debug)]
pub struct MacTable {
    /// (vlan, mac) -> slot.
    index: FastMap<(u16, u64), MacSlot>,
    slots: Vec<Option<(u16, u64, MacEntry)>>,
    free: Vec<MacSlot>,
    pub aging_ms: u64,
}

impl MacTable {
    pub fn new(seed: Seed) -> MacTable {
        MacTable {
            index: seed.map(),
            slots: Vec::new(),
            free: Vec::new(),
            aging_ms: DEFAULT_AGING_MS,
        }
    }

    fn fresh(&self, e: &MacEntry, now: u64) -> bool {
        now < e.seen.saturating_add(self.aging_ms)
    }

    fn entry_mut(&mut self, slot: MacSlot) -> Option<&mut MacEntry> {
        self.slots
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .map(|(_, _, e)| e)
    }

    pub fn learn(&mut self, vlan: u16, mac: u64, port: PortId, now: u64) -> Learned {
        let aging = self.aging_ms;
        if let Some(&slot) = self.index.get(&(vlan, mac))
            && let Some(e) = self.entry_mut(slot)
        {
            let same = e.port == port && now < e.seen.saturating_add(aging);
            e.port = port;
            e.seen = now;
            return if same {
                Learned::Refreshed(slot)
            } else {
                Learned::Changed
            };
        }
        if self.index.len() >= MAX_ENTRIES {
            let dropped = self.expire(now);
            if self.index.len() >= MAX_ENTRIES {
                return if dropped {
                    Learned::Changed
                } else {
                    Learned::Full
                };
            }
        }
        let e = Some((vlan, mac, MacEntry { port, seen: now }));
        let slot = match self.free.pop() {
            Some(s) => {
                if let Some(x) = self.slots.get_mut(s as usize) {
                    *x = e;
                }
                s
            }
            None => {
                self.slots.push(e);
                (self.slots.len() - 1) as MacSlot
            }
        };
        self.index.insert((vlan, mac), slot);
        Learned::Changed
    }

    /// Resets the age of the fresh entry in `slot` if it is on `port` (what
    /// [`MacTable::learn`] does when it returns [`Learned::Refreshed`]); false,
    /// changing nothing, otherwise.
    #[inline]
    pub fn refresh(&mut self, slot: MacSlot, port: PortId, now: u64) -> bool {
        let aging = self.aging_ms;
        match self.entry_mut(slot) {
            Some(e) if e.port == port && now < e.seen.saturating_add(aging) => {
                e.seen = now;
                true
            }
            _ => false,
        }
    }

    pub fn lookup(&self, vlan: u16, mac: u64, now: u64) -> Option<PortId> {
        self.lookup_entry(vlan, mac, now).map(|e| e.port)
    }

    /// The fresh entry for (vlan, mac), if any.
    pub fn lookup_entry(&self, vlan: u16, mac: u64, now: u64) -> Option<MacEntry> {
        let slot = *self.index.get(&(vlan, mac))?;
        let (_, _, e) = self.slots.get(slot as usize)?.as_ref()?;
        self.fresh(e, now).then_some(*e)
    }

    /// Removes the entries `drop` picks; true when any went.
    fn remove_where(&mut self, mut drop: impl FnMut(&MacEntry) -> bool) -> bool {
        let before = self.index.len();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some((vlan, mac, e)) = s
                && drop(e)
            {
                self.index.remove(&(*vlan, *mac));
                *s = None;
                self.free.push(i as MacSlot);
            }
        }
        if self.index.is_empty() {
            self.slots.clear();
            self.free.clear();
        }
        self.index.len() != before
    }

    /// Drops aged entries; true when any went.
    pub fn expire(&mut self, now: u64) -> bool {
        let aging = self.aging_ms;
        self.remove_where(|e| now >= e.seen.saturating_add(aging))
    }

    /// Forgets the MACs learned on `port`; true when any went.
    pub fn flush_port(&mut self, port: PortId) -> bool {
        self.remove_where(|e| e.port == port)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// (vlan, mac, entry), sorted by VLAN then MAC.
    pub fn entries(&self) -> Vec<(u16, u64, MacEntry)> {
        let mut v: Vec<_> = self.slots.iter().flatten().copied().collect();
        v.sort_by_key(|(vl, m, _)| (*vl, *m));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_says_what_changed() {
        let mut t = MacTable::new(crate::hash::Seed::new(7));
        assert_eq!(t.learn(1, 0xa, 3, 0), Learned::Changed);
        let Learned::Refreshed(slot) = t.learn(1, 0xa, 3, 10) else {
            panic!("not refreshed");
        };
        assert_eq!(t.learn(1, 0xa, 4, 20), Learned::Changed, "moved");
        assert!(t.refresh(slot, 4, 30));
        assert!(!t.refresh(slot, 3, 30), "other port");
        assert!(!t.refresh(slot + 1, 4, 30), "no such slot");
        let late = 30 + DEFAULT_AGING_MS;
        assert_eq!(t.lookup(1, 0xa, late), None);
        assert!(!t.refresh(slot, 4, late), "stale");
        assert_eq!(t.learn(1, 0xa, 4, late), Learned::Changed, "revived");
        assert_eq!(t.lookup(1, 0xa, late), Some(4));
        assert!(!t.expire(late + 1));
        assert!(t.expire(late + DEFAULT_AGING_MS));
        assert!(t.is_empty());
        t.learn(1, 0xb, 5, 0);
        t.learn(2, 0xb, 6, 0);
        assert!(!t.flush_port(7));
        assert!(t.flush_port(5));
        assert_eq!(t.lookup(1, 0xb, 1), None);
        assert_eq!(t.lookup(2, 0xb, 1), Some(6));
        // The freed slot is reused.
        t.learn(3, 0xc, 8, 0);
        assert_eq!(t.entries().len(), 2);
        assert_eq!(t.lookup(3, 0xc, 1), Some(8));
    }
}
