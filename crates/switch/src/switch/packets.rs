//! The packet path: a received frame through the flow cache or the tables, and
//! the counters cached hits owe.

use super::*;

impl Switch {
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
            [o] => out.push(Output::Forward(*o)),
            outs => out.extend(outs.iter().map(|o| Output::Forward(*o))),
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
                // A cacheable decision only forwards (made frames are answered
                // every time).
                let mut fwd = std::mem::take(&mut self.scratch_forwards);
                fwd.clear();
                fwd.extend(
                    out.get(start..)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(Output::forward),
                );
                self.cache
                    .insert(in_port, orig, &fwd, &effects, valid_until);
                self.scratch_forwards = fwd;
            }
            self.cache.scratch = effects;
        }
    }
}
