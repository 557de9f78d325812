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
    pub(super) fn flow_at(
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

    /// Replays a cached decision for (in_port, key): its outputs, its `ct()`
    /// tracking and commits, and where the packet goes on (a recirculation);
    /// None on a miss (nothing changed then, or only MAC refreshes the slow path
    /// will do again anyway).
    #[inline]
    fn replay_cached(
        &mut self,
        in_port: PortId,
        key: &crate::FlowKey,
        frame: &[u8],
        now: u64,
        out: &mut Vec<Output>,
    ) -> Option<Pass> {
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
        let e = self.cache.entry(i)?;
        match e.outputs.as_slice() {
            [o] => out.push(Output::Forward(*o)),
            outs => out.extend(outs.iter().map(|o| Output::Forward(*o))),
        }
        let mut cts = [(0u16, false, None); crate::cache::MAX_CT_EFFECTS];
        let mut n = 0;
        for eff in e.effects.as_slice().iter().filter(|_| e.has_ct) {
            if let Effect::Ct {
                zone,
                commit,
                mark,
                mask,
            } = *eff
                && n < cts.len()
            {
                cts[n] = (zone, commit, (mask != 0).then_some((mark, mask)));
                n += 1;
            }
        }
        if let Some(o) = self.offer.as_mut() {
            o.add(e.effects.as_slice(), e.valid_until);
            o.add_pass(crate::wildcards::Megaflow::exact(key));
        }
        let pass = Pass {
            first_key: e.key,
            recirc: e.recirc.as_ref().copied(),
            refused: false,
        };
        self.cache.count_hit(i, frame.len() as u64, now);
        let mut pass = pass;
        for &(zone, commit, mark) in &cts[..n] {
            if self.ct_exec(frame, zone, commit, mark, now).is_err() {
                pass.refused = true;
            }
        }
        Some(pass)
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
                    Effect::Mac { .. } | Effect::Ct { .. } => {}
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
    /// the caller's to reuse. A `ct(table=N)` ends a pass and the packet goes on
    /// in a next one (see [`crate::xlate_ct`]), each cached on its own.
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
        self.ct_begin();
        let start = out.len();
        let first = self.pass(in_port, br, 0, &key, frame, now, out);
        let mut next = first.recirc;
        let mut refused = first.refused;
        for _ in 1..crate::xlate_ct::MAX_PASSES {
            let Some(r) = next.take() else { break };
            if refused {
                break;
            }
            let Ok(v) = self.ct_exec(frame, r.zone, r.commit, r.mark, now) else {
                refused = true;
                break;
            };
            let k = crate::xlate_ct::next_key(&r, v.state, v.mark);
            let p = self.pass(in_port, r.br as usize, r.table, &k, frame, now, out);
            next = p.recirc;
            refused = p.refused;
        }
        if refused {
            // As the kernel does when its table is full: the packet is dropped.
            out.truncate(start);
            if let Some(o) = self.offer.as_mut() {
                o.refuse();
            }
        }
        first.first_key
    }

    /// One pass of the pipeline from `table` of bridge `br`: the flow cache, else
    /// the tables.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn pass(
        &mut self,
        in_port: PortId,
        br: usize,
        table: u8,
        key: &crate::FlowKey,
        frame: &[u8],
        now: u64,
        out: &mut Vec<Output>,
    ) -> Pass {
        let caching = self.cache.enabled();
        if caching {
            self.cache.sync(self.generation);
            if let Some(p) = self.replay_cached(in_port, key, frame, now, out) {
                self.cache.hits += 1;
                return p;
            }
            self.cache.misses += 1;
        }
        self.receive_slow(in_port, br, table, key, frame, now, out, caching)
    }

    /// The tables (and, when caching, recording the decision for the cache).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn receive_slow(
        &mut self,
        in_port: PortId,
        br: usize,
        table: u8,
        orig: &crate::FlowKey,
        frame: &[u8],
        now: u64,
        out: &mut Vec<Output>,
        caching: bool,
    ) -> Pass {
        // The slow path may overwrite a cache entry or replace a learned flow.
        self.settle_counters();
        let mut key = *orig;
        let start = out.len();
        let generation = self.generation;
        let mut cx = Ctx::new(out, None, now, frame.len() as u64).with_frame(frame);
        if caching {
            cx = cx.recording(std::mem::take(&mut self.cache.scratch));
        }
        self.run_table(&mut cx, br, table, &mut key);
        let (effects, cacheable, valid_until) = (cx.effects.take(), cx.cacheable, cx.valid_until);
        let (recirc, refused) = (cx.recirc.take(), cx.ct_refused);
        let wc = cx.wc;
        drop(cx);
        if let Some(o) = self.offer.as_mut() {
            o.add_pass(crate::wildcards::Megaflow::new(orig, wc));
            match &effects {
                Some(eff) if cacheable && !refused && self.generation == generation => {
                    o.add(eff, valid_until);
                }
                _ => o.refuse(),
            }
        }
        if let Some(effects) = effects {
            // A packet that changed the switch (learned a MAC or a flow) is not
            // cached: the next one, which only refreshes, will be. Nor is one
            // whose commit was refused (the next may fit).
            if cacheable && !refused && self.generation == generation {
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
                    .insert(in_port, orig, &fwd, &effects, valid_until, recirc.as_ref());
                self.scratch_forwards = fwd;
            }
            self.cache.scratch = effects;
        }
        Pass {
            first_key: *orig,
            recirc,
            refused,
        }
    }
}

/// How a pass ended.
pub(crate) struct Pass {
    /// The key the pass started with (the cache's copy on a hit).
    first_key: crate::FlowKey,
    /// It ended in a `ct(table=N)`: where the packet goes on.
    recirc: Option<crate::cache::Recirc>,
    /// A commit was refused: the packet is dropped.
    refused: bool,
}
