//! One flow table: its flows in OpenFlow order (highest priority first, equal
//! priorities in insertion order — the order `dump-flows` prints and the order that
//! breaks ties) plus a classifier that finds the best match without scanning.
//!
//! The classifier is tuple space search, as in Open vSwitch: flows with the same
//! match mask share a *subtable*, a hash map from the masked key to the flows with
//! that masked value. A lookup masks the packet's key once per subtable and probes
//! one bucket; subtables are visited by decreasing maximum priority and the search
//! stops as soon as the best flow found beats every remaining subtable. Within a
//! bucket, flows are chained by (priority desc, insertion order asc), so the first
//! one that matches is the subtable's best; ties between subtables go to the flow
//! inserted first, exactly as a linear scan of the ordered list would pick.
//!
//! A lookup can also say which bits of the key it read ([`FlowTable::lookup_wc`],
//! for megaflows): the masks of the subtables it probed, each probe staged as
//! OVS's is (metadata, then L2, then L3 fields, then the whole mask), so a
//! subtable none of whose flows shares the key's metadata, L2 or L3 part is
//! ruled out having read only that far.
//!
//! Flows live in a slab: a [`FlowId`] stays valid until that flow is removed (the
//! flow cache keeps them to settle the counts its hits owe; the switch settles
//! before it removes a flow, and every removal bumps the switch's generation,
//! which empties the cache).

use crate::action::Action;
use crate::field::{Field, FlowKey, KEY_WORDS};
use crate::flow::{Flow, Match};
use crate::hash::{FastMap, IdMap, Seed, finish, fold};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// A flow's place in its table's slab.
pub type FlowId = u32;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    flow: Flow,
    /// Insertion order among flows of equal priority (kept when a flow is replaced).
    seq: u64,
    /// The next flow in the same bucket chain.
    next: u32,
    sub: u32,
    hash: u64,
    /// False when the value has bits outside the mask: such a match never matches
    /// (as with a plain masked compare), but the flow is still listed and found
    /// by `find_rule`.
    live: bool,
    /// A conjunctive flow (its actions are `conjunction(..)`): it never matches by
    /// itself, it is one clause of a conjunctive match.
    conj: bool,
}

fn is_conj(f: &Flow) -> bool {
    matches!(f.actions.first(), Some(Action::Conjunction { .. }))
}

#[derive(Debug)]
struct Subtable {
    /// The table's random seed (learned flows' matches come from packets).
    seed: u64,
    mask: FlowKey,
    /// Indices of the key words the mask touches.
    words: [u8; KEY_WORDS],
    n_words: usize,
    /// Hash of the masked value -> first flow of the chain.
    buckets: IdMap<u32>,
    /// Priority -> number of flows, for the subtable's maximum priority.
    prios: BTreeMap<u16, u32>,
    /// Staged lookup (as in Open vSwitch): for the metadata, then also the L2,
    /// then also the L3 fields of the mask (stages that add nothing are left
    /// out), the hashes of the flows' values under that part, counted. A key
    /// whose hash under a stage no flow has cannot match: the probe stops
    /// there, and only that stage's bits were read (so a TCP packet probing a
    /// subtable of `udp,tp_src=68` flows does not read its ports).
    stages: Vec<(FlowKey, IdMap<u32>)>,
}

impl Subtable {
    fn new(mask: FlowKey, seed: u64) -> Subtable {
        let mut words = [0u8; KEY_WORDS];
        let mut n_words = 0;
        for (i, w) in mask.w.iter().enumerate() {
            if *w != 0 {
                words[n_words] = i as u8;
                n_words += 1;
            }
        }
        let mut stages: Vec<(FlowKey, IdMap<u32>)> = Vec::new();
        for layer in stage_layers() {
            let mut m = mask;
            for (w, l) in m.w.iter_mut().zip(layer.w.iter()) {
                *w &= l;
            }
            let adds = stages
                .last()
                .map_or(m != FlowKey::default(), |(prev, _)| *prev != m);
            if adds && m != mask {
                stages.push((m, IdMap::default()));
            }
        }
        Subtable {
            seed,
            mask,
            words,
            n_words,
            buckets: IdMap::default(),
            prios: BTreeMap::new(),
            stages,
        }
    }

    /// Counts a flow's value into (or, `add` false, out of) the stages.
    fn stage(&mut self, value: &FlowKey, add: bool) {
        let seed = self.seed;
        for (m, set) in &mut self.stages {
            let h = hash_under(seed, value, m);
            if add {
                *set.entry(h).or_insert(0) += 1;
            } else if let Some(n) = set.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    set.remove(&h);
                }
            }
        }
    }

    /// The first stage whose part of `key` no flow has, if any.
    #[inline]
    fn rejecting_stage(&self, key: &FlowKey) -> Option<&FlowKey> {
        self.stages
            .iter()
            .find(|(m, set)| !set.contains_key(&hash_under(self.seed, key, m)))
            .map(|(m, _)| m)
    }

    #[inline]
    fn hash(&self, k: &FlowKey) -> u64 {
        let mut h = self.seed;
        for &i in &self.words[..self.n_words] {
            let i = usize::from(i);
            h = fold(h, k.w[i] & self.mask.w[i]);
        }
        finish(h)
    }

    /// `key` under the mask equals `value` (a live flow's value is pre-masked, so
    /// the words outside the mask are zero on both sides of a match).
    #[inline]
    fn matches(&self, key: &FlowKey, value: &FlowKey) -> bool {
        self.words[..self.n_words].iter().all(|&i| {
            let i = usize::from(i);
            key.w[i] & self.mask.w[i] == value.w[i]
        })
    }

    fn max_priority(&self) -> Option<u16> {
        self.prios.last_key_value().map(|(p, _)| *p)
    }
}

/// The staged lookup's layers, cumulative: metadata; then also L2; then also
/// L3 (the last stage, L4 too, is the whole mask).
fn stage_layers() -> [FlowKey; 3] {
    use Field::*;
    let meta: &[Field] = &[
        InPort, TunId, TunSrc, TunDst, Reg0, Reg1, Reg2, Reg3, Reg4, Reg5, Reg6, Reg7, Metadata,
        CtMark, CtZone, CtState, ConjId, RecircId,
    ];
    let l2: &[Field] = &[DlSrc, DlDst, DlType, VlanTci];
    let l3: &[Field] = &[
        NwProto, NwTos, NwTtl, NwSrc, NwDst, ArpSha, ArpTha, Ipv6Src, Ipv6Dst,
    ];
    let mut out = [FlowKey::default(); 3];
    let mut acc = FlowKey::default();
    for (i, layer) in [meta, l2, l3].into_iter().enumerate() {
        for f in layer {
            acc.set(*f, f.full_mask());
        }
        out[i] = acc;
    }
    out
}

/// The hash of `k` under mask `m`.
fn hash_under(seed: u64, k: &FlowKey, m: &FlowKey) -> u64 {
    let mut h = seed;
    for (kw, mw) in k.w.iter().zip(m.w.iter()) {
        if *mw != 0 {
            h = fold(h, kw & mw);
        }
    }
    finish(h)
}

#[derive(Debug)]
pub struct FlowTable {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// (priority desc, insertion order) -> flow: the table's order.
    order: BTreeMap<(Reverse<u16>, u64), u32>,
    subtables: Vec<Subtable>,
    by_mask: FastMap<FlowKey, u32>,
    /// Non-empty subtables as (max priority, index), highest first.
    search: Vec<(u16, u32)>,
    next_seq: u64,
    /// Flows with an idle or hard timeout: expiry looks at these only.
    timed: BTreeSet<FlowId>,
    seed: u64,
    /// Conjunctive flows in the table (when none, lookups skip their logic).
    n_conj: usize,
    /// Learned flows in the order they were installed (seq -> id), for the cap.
    learned: BTreeMap<u64, u32>,
    /// At most this many learned flows; a new one past it evicts the oldest.
    learned_limit: usize,
    /// Learned flows evicted for the cap.
    evicted: u64,
}

/// Learned flows a table holds by default (each some hundreds of bytes: about
/// 100 MB at the limit), as OVS caps its flows.
pub const DEFAULT_LEARNED_LIMIT: usize = 100_000;

impl FlowTable {
    /// An empty table whose hashes start from `seed`.
    pub fn new(seed: Seed) -> FlowTable {
        FlowTable {
            slots: Vec::new(),
            free: Vec::new(),
            order: BTreeMap::new(),
            subtables: Vec::new(),
            by_mask: seed.derive(1).map(),
            search: Vec::new(),
            next_seq: 0,
            timed: BTreeSet::new(),
            seed: seed.value(),
            n_conj: 0,
            learned: BTreeMap::new(),
            learned_limit: DEFAULT_LEARNED_LIMIT,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The flows in table order (highest priority first).
    pub fn iter(&self) -> impl Iterator<Item = &Flow> + '_ {
        self.order.values().filter_map(|id| self.get(*id))
    }

    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        self.slots
            .get(id as usize)
            .and_then(Option::as_ref)
            .map(|s| &s.flow)
    }

    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut Flow> {
        self.slots
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .map(|s| &mut s.flow)
    }

    fn slot(&self, id: u32) -> Option<&Slot> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// The best flow for `key`: highest priority, first inserted among equals.
    ///
    /// Conjunctive matches, as Open vSwitch has them: flows whose actions are
    /// `conjunction(id,k/n)` never match by themselves. When, at one priority
    /// above the best ordinary match, the key matches a flow of every clause
    /// 1..n of some `id`, the lookup is made again with `conj_id=id` and a flow
    /// matching on that `conj_id` found so is the result.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<FlowId> {
        self.lookup_wc(key, &mut FlowKey::default())
    }

    /// [`FlowTable::lookup`], adding to `wc` the bits of the key the search read:
    /// the masks of the subtables it probed (as Open vSwitch's megaflows do).
    /// Any key equal to `key` under `wc` finds the same flow; subtables the
    /// search never reached could not have beaten what it found.
    #[inline]
    pub fn lookup_wc(&self, key: &FlowKey, wc: &mut FlowKey) -> Option<FlowId> {
        if self.n_conj == 0 {
            return self.best(key, None, wc);
        }
        self.lookup_conj(key, wc)
    }

    #[inline(never)]
    fn lookup_conj(&self, key: &FlowKey, wc: &mut FlowKey) -> Option<FlowId> {
        let mut hits: Vec<(u16, u32)> = Vec::new();
        let best = self.best(key, Some(&mut hits), wc);
        let floor = best.and_then(|id| self.get(id)).map(|f| f.priority);
        hits.retain(|(p, _)| floor.is_none_or(|fp| *p > fp));
        hits.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut i = 0;
        while i < hits.len() {
            let p = hits[i].0;
            let j = hits[i..]
                .iter()
                .position(|h| h.0 != p)
                .map_or(hits.len(), |x| i + x);
            // id -> (clauses, clauses seen as bits)
            let mut ids: BTreeMap<u32, (u8, u64)> = BTreeMap::new();
            for &(_, fid) in &hits[i..j] {
                let Some(f) = self.get(fid) else { continue };
                for a in f.actions.iter() {
                    if let Action::Conjunction {
                        id,
                        clause,
                        n_clauses,
                    } = *a
                    {
                        let e = ids.entry(id).or_insert((n_clauses, 0));
                        if e.0 == n_clauses && (1..=64).contains(&clause) {
                            e.1 |= 1u64 << (clause - 1);
                        }
                    }
                }
            }
            for (id, (n, seen)) in ids {
                let all = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
                if seen != all {
                    continue;
                }
                let mut k = *key;
                k.set(Field::ConjId, id.into());
                if let Some(found) = self.best(&k, None, wc)
                    && self
                        .get(found)
                        .is_some_and(|f| f.matcher.get(Field::ConjId).1 != 0)
                {
                    return Some(found);
                }
            }
            i = j;
        }
        best
    }

    /// The best ordinary flow for `key`; with `conj`, the conjunctive flows it
    /// matches on the way (those that could beat what was found) are listed there.
    #[inline]
    fn best(
        &self,
        key: &FlowKey,
        mut conj: Option<&mut Vec<(u16, u32)>>,
        wc: &mut FlowKey,
    ) -> Option<FlowId> {
        // (priority, seq, id) of the best so far.
        let mut best: Option<(u16, u64, u32)> = None;
        for &(max, si) in &self.search {
            if let Some((bp, _, _)) = best
                && max < bp
            {
                break;
            }
            let Some(st) = self.subtables.get(si as usize) else {
                continue;
            };
            if let Some(m) = st.rejecting_stage(key) {
                for (w, mw) in wc.w.iter_mut().zip(m.w.iter()) {
                    *w |= mw;
                }
                continue;
            }
            for &w in &st.words[..st.n_words] {
                let w = usize::from(w);
                wc.w[w] |= st.mask.w[w];
            }
            let Some(&head) = st.buckets.get(&st.hash(key)) else {
                continue;
            };
            let mut id = head;
            while let Some(s) = self.slot(id) {
                if s.live && st.matches(key, &s.flow.matcher.value) {
                    let p = s.flow.priority;
                    if s.conj {
                        if let Some(c) = conj.as_deref_mut() {
                            c.push((p, id));
                        }
                        id = s.next;
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some((bp, bseq, _)) => p > bp || (p == bp && s.seq < bseq),
                    };
                    if better {
                        best = Some((p, s.seq, id));
                    }
                    break;
                }
                id = s.next;
            }
        }
        best.map(|(_, _, id)| id)
    }

    /// The flow with exactly this priority and match, if any.
    pub fn find_rule(&self, priority: u16, m: &Match) -> Option<FlowId> {
        let si = *self.by_mask.get(&m.mask)?;
        let st = self.subtables.get(si as usize)?;
        let mut id = *st.buckets.get(&st.hash(&m.value))?;
        while let Some(s) = self.slot(id) {
            if s.flow.priority == priority && s.flow.matcher == *m {
                return Some(id);
            }
            id = s.next;
        }
        None
    }

    /// Inserts a flow; one with the same priority and match is replaced in place
    /// (keeping its position, as ovs-ofctl add-flow does). Returns the flow's id.
    pub fn insert(&mut self, flow: Flow) -> FlowId {
        let timed = flow.idle_timeout != 0 || flow.hard_timeout != 0;
        if let Some(id) = self.find_rule(flow.priority, &flow.matcher)
            && let Some(s) = self.slots.get_mut(id as usize).and_then(Option::as_mut)
        {
            if flow.learned != s.flow.learned {
                if flow.learned {
                    self.learned.insert(s.seq, id);
                } else {
                    self.learned.remove(&s.seq);
                }
            }
            let conj = is_conj(&flow);
            if conj != s.conj {
                if conj {
                    self.n_conj += 1;
                } else {
                    self.n_conj -= 1;
                }
            }
            s.conj = conj;
            s.flow = flow;
            if timed {
                self.timed.insert(id);
            } else {
                self.timed.remove(&id);
            }
            return id;
        }
        if flow.learned && self.learned.len() >= self.learned_limit.max(1) {
            self.evict_oldest_learned();
        }
        let p = flow.priority;
        let si = match self.by_mask.get(&flow.matcher.mask) {
            Some(&si) => si,
            None => {
                let si = self.subtables.len() as u32;
                self.subtables
                    .push(Subtable::new(flow.matcher.mask, self.seed));
                self.by_mask.insert(flow.matcher.mask, si);
                si
            }
        };
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let st = &mut self.subtables[si as usize];
        let old_max = st.max_priority();
        let hash = st.hash(&flow.matcher.value);
        let live = (0..KEY_WORDS).all(|i| flow.matcher.value.w[i] & !flow.matcher.mask.w[i] == 0);
        // The chain is ordered by (priority desc, seq asc); this flow has the highest
        // seq, so it goes after every flow of priority >= p.
        let head = st.buckets.get(&hash).copied().unwrap_or(NIL);
        let prio_of = |slots: &[Option<Slot>], id: u32| {
            slots
                .get(id as usize)
                .and_then(Option::as_ref)
                .map(|s| (s.flow.priority, s.next))
        };
        let next = match prio_of(&self.slots, head) {
            Some((hp, _)) if hp >= p => {
                let mut prev = head;
                loop {
                    let Some((_, n)) = prio_of(&self.slots, prev) else {
                        break NIL;
                    };
                    match prio_of(&self.slots, n) {
                        Some((np, _)) if np >= p => prev = n,
                        _ => {
                            if let Some(Some(ps)) = self.slots.get_mut(prev as usize) {
                                ps.next = id;
                            }
                            break n;
                        }
                    }
                }
            }
            _ => {
                st.buckets.insert(hash, id);
                head
            }
        };
        *st.prios.entry(p).or_insert(0) += 1;
        st.stage(&flow.matcher.value, true);
        let new_max = st.max_priority();
        let conj = is_conj(&flow);
        self.n_conj += usize::from(conj);
        let learned = flow.learned;
        self.slots[id as usize] = Some(Slot {
            flow,
            seq,
            next,
            sub: si,
            hash,
            live,
            conj,
        });
        self.order.insert((Reverse(p), seq), id);
        if learned {
            self.learned.insert(seq, id);
        }
        if timed {
            self.timed.insert(id);
        }
        if old_max != new_max {
            self.rebuild_search();
        }
        id
    }

    /// Removes a flow; returns it.
    fn remove(&mut self, id: FlowId) -> Option<Flow> {
        let s = self.slots.get_mut(id as usize)?.take()?;
        self.free.push(id);
        self.n_conj -= usize::from(s.conj);
        if s.flow.learned {
            self.learned.remove(&s.seq);
        }
        self.order.remove(&(Reverse(s.flow.priority), s.seq));
        self.timed.remove(&id);
        if let Some(st) = self.subtables.get_mut(s.sub as usize) {
            match st.buckets.get(&s.hash).copied() {
                Some(head) if head == id => {
                    if s.next == NIL {
                        st.buckets.remove(&s.hash);
                    } else {
                        st.buckets.insert(s.hash, s.next);
                    }
                }
                Some(head) => {
                    let mut prev = head;
                    while let Some(ps) = self.slots.get_mut(prev as usize).and_then(Option::as_mut)
                    {
                        if ps.next == id {
                            ps.next = s.next;
                            break;
                        }
                        prev = ps.next;
                    }
                }
                None => {}
            }
            if let Some(n) = st.prios.get_mut(&s.flow.priority) {
                *n -= 1;
                if *n == 0 {
                    st.prios.remove(&s.flow.priority);
                }
            }
            st.stage(&s.flow.matcher.value, false);
        }
        Some(s.flow)
    }

    /// Keeps the flows `keep` accepts (called in table order); returns how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&Flow) -> bool) -> usize {
        let doomed: Vec<u32> = self
            .order
            .values()
            .copied()
            .filter(|id| self.get(*id).is_some_and(|f| !keep(f)))
            .collect();
        self.remove_all(&doomed);
        doomed.len()
    }

    fn remove_all(&mut self, ids: &[FlowId]) {
        for &id in ids {
            self.remove(id);
        }
        if self.order.is_empty() {
            // Give the memory back (a flushed big table), keeping the cap.
            let (limit, evicted) = (self.learned_limit, self.evicted);
            *self = FlowTable::new(Seed::new(self.seed));
            self.learned_limit = limit;
            self.evicted = evicted;
        } else if !ids.is_empty() {
            self.rebuild_search();
        }
    }

    /// Drops flows whose idle or hard timeout has passed; returns how many. Only
    /// flows with a timeout are looked at.
    pub fn expire(&mut self, now: u64) -> usize {
        let doomed: Vec<FlowId> = self
            .timed
            .iter()
            .copied()
            .filter(|id| self.get(*id).is_some_and(|f| f.expired(now)))
            .collect();
        self.remove_all(&doomed);
        doomed.len()
    }

    fn rebuild_search(&mut self) {
        self.search.clear();
        for (i, st) in self.subtables.iter().enumerate() {
            if let Some(max) = st.max_priority() {
                self.search.push((max, i as u32));
            }
        }
        self.search.sort_by_key(|&(max, i)| (Reverse(max), i));
    }

    /// Removes the learned flow installed first.
    fn evict_oldest_learned(&mut self) {
        if let Some((_, id)) = self.learned.pop_first() {
            self.remove(id);
            self.evicted += 1;
            self.rebuild_search();
        }
    }

    /// Caps the learned flows at `limit`, evicting the oldest past it now.
    pub fn set_learned_limit(&mut self, limit: usize) {
        self.learned_limit = limit.max(1);
        while self.learned.len() > self.learned_limit {
            self.evict_oldest_learned();
        }
    }

    /// Takes the cap and the eviction count of the table this one replaces.
    pub fn carry_cap(&mut self, old: &FlowTable) {
        self.evicted = old.evicted;
        self.set_learned_limit(old.learned_limit);
    }

    /// (learned flows, evicted so far).
    pub fn learned_stats(&self) -> (usize, u64) {
        (self.learned.len(), self.evicted)
    }

    /// How many distinct masks (subtables) hold flows.
    pub fn subtable_count(&self) -> usize {
        self.search.len()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
