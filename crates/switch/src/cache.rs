//! The flow cache: an exact-match map in front of the tables, from (input port, the
//! packet's extracted key, tunnel metadata included) to what the slow path decided —
//! the outputs with their header state — and the side effects to replay on a hit:
//!
//! - the counters (packets, bytes, last use) of every flow the packet hit, by
//!   (bridge, table, [`FlowId`]); an id stays good until its flow is removed, and
//!   the switch settles what entries owe before removing any flow;
//! - NORMAL's refresh of the source MAC, so an active MAC does not age out while its
//!   traffic takes the cached path; a hit whose MAC entry is no longer fresh on the
//!   same port goes to the slow path instead (which re-learns it, bumping the
//!   generation);
//! - `learn()`'s refresh of an already learned flow's timers (created and used reset
//!   to now): the slow path installs a learned flow (bumping the generation, so that
//!   packet's result is not cached); later packets that would learn the same flow
//!   again hit the cache, and the hit resets the learned flow's timers exactly as the
//!   slow path would, so its hard timeout keeps being pushed back while traffic
//!   flows. If the learned flow does expire, `expire` bumps the generation, the
//!   cache empties and the slow path learns it again.
//!
//! A whole cache is valid for one [`crate::Switch::generation`]: any change of ports,
//! flows or decision-changing MAC state bumps it and the cache is emptied on the next
//! packet. An entry is also bounded in time by the MAC entries NORMAL used to pick a
//! unicast port (`valid_until`): past their aging, the slow path floods instead.
//!
//! A hit does not touch the flows it replays: it adds one packet, its bytes and
//! the time to the entry's own [`Pending`] counts (OVS's megaflows likewise carry
//! their statistics until the revalidator pushes them to the rules). The switch
//! settles them into the flows' counters (and `learn()`'s timers) before anything
//! reads or removes flows — `dump-flows`, expiry, flow and port changes, capacity
//! changes — and before a slow-path packet, which may overwrite an entry. So a
//! packet's cost does not grow with the number of flows it crossed, and what a
//! reader sees is exact.
//!
//! Never cached: packets that ran the `dhcp` action (it answers from the frame's
//! bytes and queues replies every time), packets whose MAC could not be learned
//! because the MAC table is full, any packet during which the generation changed,
//! and big fan-outs (more than [`MAX_OUTPUTS`] outputs or [`MAX_EFFECTS`] side
//! effects: floods, whose sends cost more than the lookup anyway). Trace neither
//! reads nor fills the cache.
//!
//! The cache is set-associative, as Open vSwitch's exact-match cache is: a key's
//! hash picks a set of four ways (their hashes in one cache line), a full set
//! replaces one of its entries, and nothing ever chains or resizes — packets
//! crafted to collide only evict each other. The hash is seeded at random per
//! switch. Entries carry the generation they were made in, so invalidation is
//! O(1): stale entries read as empty and are overwritten.
//!
//! Entries live in one slab, filled in order as ways are first used, with up to
//! [`INLINE_OUTPUTS`] outputs and [`INLINE_EFFECTS`] effects inline (more spill to
//! the heap): a hit reads one contiguous entry, wherever the allocator put
//! everything else, so its cost does not depend on how big the tables are. An
//! entry is about 700 bytes: 64K of them (the default capacity, reached only with
//! that many distinct flows) take about 45 MB. The hit path allocates nothing
//! (outputs are copied into the caller's vector), and refills reuse the slot.

use crate::PortId;
use crate::field::FlowKey;
use crate::hash::{Seed, hash_key};
use crate::table::FlowId;
use crate::xlate::Forward;

pub const DEFAULT_CAPACITY: usize = 65_536;
/// Decisions with more outputs than this are not cached.
pub const MAX_OUTPUTS: usize = 8;
/// Decisions with more side effects than this are not cached.
pub const MAX_EFFECTS: usize = 48;
/// Outputs and effects an entry holds without a heap allocation.
pub const INLINE_OUTPUTS: usize = 2;
pub const INLINE_EFFECTS: usize = 14;
const WAYS: usize = 4;
const NIL: u32 = u32::MAX;

/// A side effect of the slow path to replay on a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// NORMAL learned (refreshed) the source MAC in `slot` of the MAC table, on `port`.
    Mac {
        br: u32,
        slot: crate::mac_table::MacSlot,
        port: u32,
    },
    /// The packet hit this flow: packets, bytes and last use.
    Flow { br: u32, table: u8, id: FlowId },
    /// `learn()` found its flow already installed: timers reset.
    Learned { br: u32, table: u8, id: FlowId },
    /// `ct()` without a table: track the packet in `zone` (and with `commit`,
    /// make its connection exist, setting `mark` under `mask`). Runs on every hit.
    Ct {
        zone: u16,
        commit: bool,
        mark: u32,
        mask: u32,
    },
}

/// Effects of the `Ct` kind an entry may carry (more: the decision is not cached).
pub const MAX_CT_EFFECTS: usize = 4;

/// Where a packet goes on after a `ct(table=N)`: the pipeline's next pass, from
/// `table` of bridge `br`, with `key` (the key at the `ct` action) completed by the
/// connection state that tracking in `zone` gives this packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recirc {
    pub br: u32,
    pub table: u8,
    pub zone: u16,
    pub commit: bool,
    pub mark: Option<(u32, u32)>,
    pub key: FlowKey,
}

/// A few values inline, more on the heap.
#[derive(Debug)]
pub(crate) enum Small<T: Copy, const N: usize> {
    Inline(usize, [T; N]),
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> Small<T, N> {
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Small::Inline(n, a) => a.get(..*n).unwrap_or_default(),
            Small::Heap(v) => v,
        }
    }

    /// Holds `src` from now on (inline when it fits, else in its heap buffer).
    fn set(&mut self, src: &[T]) {
        match self {
            Small::Inline(n, a) if src.len() <= N => {
                a[..src.len()].copy_from_slice(src);
                *n = src.len();
            }
            Small::Heap(v) => {
                v.clear();
                v.extend_from_slice(src);
            }
            Small::Inline(..) => *self = Small::Heap(src.to_vec()),
        }
    }
}

/// What cache hits owe the flows of one entry since the counters were last settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub packets: u64,
    pub bytes: u64,
    /// The last hit's time.
    pub used: u64,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub port: PortId,
    pub key: FlowKey,
    pub generation: u64,
    /// The hit is good while `now` is below this.
    pub valid_until: u64,
    pub outputs: Small<Forward, INLINE_OUTPUTS>,
    /// MAC refreshes first (they can still turn the hit into a miss), then flows.
    pub effects: Small<Effect, INLINE_EFFECTS>,
    /// Hits not yet added to the flows (listed in `FlowCache::pending` when nonzero).
    pub pending: Pending,
    /// The pass ended in a `ct(table=N)`: the packet goes on from there.
    pub recirc: Option<Recirc>,
    /// The entry has `Ct` effects (to run on every hit).
    pub has_ct: bool,
}

/// Four ways: their hashes and entries (index into the slab, NIL when unused).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct Set {
    hashes: [u64; WAYS],
    idx: [u32; WAYS],
}

impl Default for Set {
    fn default() -> Self {
        Set {
            hashes: [0; WAYS],
            idx: [NIL; WAYS],
        }
    }
}

/// `a == b` without a call to `bcmp` (the key is 20 words).
#[inline(always)]
fn same_key(a: &FlowKey, b: &FlowKey) -> bool {
    a.w.iter().zip(&b.w).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counters of the flow cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowCacheStats {
    /// Entries valid in the current generation.
    pub entries: usize,
    pub capacity: usize,
    pub hits: u64,
    pub misses: u64,
    /// Times the cache was dropped because the switch changed (generation).
    pub invalidations: u64,
}

pub(crate) struct FlowCache {
    sets: Vec<Set>,
    entries: Vec<Entry>,
    /// The switch generation current entries belong to.
    generation: u64,
    capacity: usize,
    seed: u64,
    /// Next way to evict from a full set.
    victim: usize,
    /// Live entries were made since the last invalidation (else nothing to drop).
    dirty: bool,
    /// Entries whose `pending` counts are nonzero, each once.
    pending: Vec<u32>,
    /// Recording buffer lent to the slow path (kept for its capacity).
    pub scratch: Vec<Effect>,
    pub hits: u64,
    pub misses: u64,
    invalidations: u64,
}

impl FlowCache {
    /// An empty cache of the default capacity whose hashes start from `seed`.
    pub fn new(seed: Seed) -> Self {
        FlowCache {
            sets: Vec::new(),
            entries: Vec::new(),
            generation: 0,
            capacity: DEFAULT_CAPACITY,
            seed: seed.value(),
            victim: 0,
            dirty: false,
            pending: Vec::new(),
            scratch: Vec::new(),
            hits: 0,
            misses: 0,
            invalidations: 0,
        }
    }
}

impl std::fmt::Debug for FlowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCache")
            .field("stats", &self.stats())
            .field("generation", &self.generation)
            .finish()
    }
}

impl FlowCache {
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Moves to the switch's generation: entries of older ones read as empty.
    #[inline]
    pub fn sync(&mut self, generation: u64) {
        if self.generation != generation {
            if self.dirty {
                self.invalidations += 1;
                self.dirty = false;
            }
            self.generation = generation;
        }
    }

    #[inline]
    fn hash(&self, port: PortId, key: &FlowKey) -> u64 {
        hash_key(self.seed, port as u64, &key.w)
    }

    #[inline]
    fn set_of(&self, h: u64) -> usize {
        // sets.len() is a power of two.
        (h as usize) & (self.sets.len().wrapping_sub(1))
    }

    /// Where the entry for (port, key) made in the current generation is.
    #[inline]
    pub fn find(&self, port: PortId, key: &FlowKey) -> Option<usize> {
        if self.sets.is_empty() {
            return None;
        }
        let h = self.hash(port, key);
        let set = self.sets.get(self.set_of(h))?;
        for w in 0..WAYS {
            if set.hashes[w] == h
                && let Some(e) = self.entries.get(set.idx[w] as usize)
                && e.generation == self.generation
                && e.port == port
                && same_key(&e.key, key)
            {
                return Some(set.idx[w] as usize);
            }
        }
        None
    }

    #[inline]
    pub fn entry(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// One more hit of entry `i`, owed to its flows until they are settled.
    #[inline]
    pub fn count_hit(&mut self, i: usize, bytes: u64, now: u64) {
        if let Some(e) = self.entries.get_mut(i) {
            if e.pending.packets == 0 {
                self.pending.push(i as u32);
            }
            e.pending.packets += 1;
            e.pending.bytes += bytes;
            e.pending.used = e.pending.used.max(now);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands every entry's pending counts, with its effects, to `settle` and
    /// zeroes them. Entries of older generations too: their flow ids stay good
    /// until a flow is removed, and the switch settles before removing any.
    pub fn drain_pending(&mut self, mut settle: impl FnMut(&[Effect], Pending)) {
        let FlowCache {
            pending, entries, ..
        } = self;
        for i in pending.drain(..) {
            if let Some(e) = entries.get_mut(i as usize) {
                let p = std::mem::take(&mut e.pending);
                settle(e.effects.as_slice(), p);
            }
        }
    }

    pub fn insert(
        &mut self,
        port: PortId,
        key: &FlowKey,
        outputs: &[Forward],
        effects: &[Effect],
        valid_until: u64,
        recirc: Option<&Recirc>,
    ) {
        let cts = effects
            .iter()
            .filter(|e| matches!(e, Effect::Ct { .. }))
            .count();
        if self.capacity == 0
            || outputs.len() > MAX_OUTPUTS
            || effects.len() > MAX_EFFECTS
            || cts > MAX_CT_EFFECTS
        {
            return;
        }
        if self.sets.is_empty() {
            let n = (self.capacity.div_ceil(WAYS)).next_power_of_two();
            self.sets = vec![Set::default(); n];
        }
        let h = self.hash(port, key);
        let si = self.set_of(h);
        let generation = self.generation;
        let Some(set) = self.sets.get_mut(si) else {
            return;
        };
        let entries = &mut self.entries;
        // The same key (an entry that timed out), else an unused or stale way, else
        // the next victim.
        let entry = |w: usize| entries.get(set.idx[w] as usize);
        let way = (0..WAYS)
            .find(|&w| {
                set.hashes[w] == h
                    && entry(w).is_some_and(|e| e.port == port && same_key(&e.key, key))
            })
            .or_else(|| (0..WAYS).find(|&w| entry(w).is_none_or(|e| e.generation != generation)))
            .unwrap_or_else(|| {
                self.victim = (self.victim + 1) % WAYS;
                self.victim
            });
        if set.idx[way] == NIL {
            set.idx[way] = entries.len() as u32;
            entries.push(Entry {
                port,
                key: *key,
                generation,
                valid_until,
                outputs: Small::Inline(
                    0,
                    [Forward {
                        port: 0,
                        key: FlowKey::default(),
                    }; INLINE_OUTPUTS],
                ),
                effects: Small::Inline(
                    0,
                    [Effect::Flow {
                        br: 0,
                        table: 0,
                        id: 0,
                    }; INLINE_EFFECTS],
                ),
                pending: Pending::default(),
                recirc: None,
                has_ct: false,
            });
        }
        set.hashes[way] = h;
        let Some(e) = entries.get_mut(set.idx[way] as usize) else {
            return;
        };
        // The switch settles counters before a slow-path packet can get here; were
        // that ever missed, the old hits are dropped rather than credited to the
        // new entry's flows.
        debug_assert_eq!(e.pending, Pending::default(), "overwriting unsettled hits");
        e.pending = Pending::default();
        e.port = port;
        e.key = *key;
        e.generation = generation;
        e.valid_until = valid_until;
        e.recirc = recirc.copied();
        e.has_ct = cts > 0;
        e.outputs.set(outputs);
        // MAC refreshes first: they are checked before anything is counted.
        let mut sorted = [Effect::Flow {
            br: 0,
            table: 0,
            id: 0,
        }; MAX_EFFECTS];
        let mut n = 0;
        for pass in [true, false] {
            for x in effects {
                if matches!(x, Effect::Mac { .. }) == pass {
                    sorted[n] = *x;
                    n += 1;
                }
            }
        }
        e.effects.set(&sorted[..n]);
        self.dirty = true;
    }

    /// Drops every entry: the switch settles their counters first.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        debug_assert!(self.pending.is_empty(), "dropping unsettled hits");
        self.pending.clear();
        // Reallocated at the new size on the next fill.
        self.sets = Vec::new();
        self.entries = Vec::new();
    }

    pub fn stats(&self) -> FlowCacheStats {
        let entries = self
            .entries
            .iter()
            .filter(|e| e.generation == self.generation)
            .count();
        FlowCacheStats {
            entries,
            capacity: if self.capacity == 0 {
                0
            } else {
                self.capacity.div_ceil(WAYS).next_power_of_two() * WAYS
            },
            hits: self.hits,
            misses: self.misses,
            invalidations: self.invalidations,
        }
    }
}
