//! Decisions offered to a datapath below the engine (switchd's kernel fast path):
//! what one packet's whole decision was, whether a datapath may carry it out for
//! the packets of the same key that follow, and how their counts come back.
//!
//! An [`Offer`] is made while a packet is switched ([`Switch::receive_offer`]),
//! from the same records the flow cache keeps: the flows the packet hit, the MAC
//! entries NORMAL refreshed, the learned flows whose timers it reset, and the
//! connections `ct()` found. A decision is offered only when the flow cache would
//! keep it whole (nothing that must run each time, such as DHCP answers, nothing
//! that changed the switch) and, when it went through `ct()`, only when every
//! verdict was an established connection's (`+trk+est`, not new, related or
//! invalid): tracking the packets that follow changes nothing but their
//! connection's timeout, as long as they carry no TCP SYN, FIN or RST — which the
//! datapath must send up ([`Offer::tracked`]). The datapath gives the packets and
//! bytes it carried back with [`Switch::credit`], which replays those effects as
//! cache hits do (a tracked connection's timeout starts again), and says whether
//! the decision still holds (a connection that is gone ends it).

use super::*;
use crate::wildcards::Megaflow;

/// One packet's decision, as a datapath below the engine may carry it out. The
/// caller keeps one and lends it to every [`Switch::receive_offer`] (refilled in
/// place: no allocation per packet once it has grown), and clones it to keep.
#[derive(Clone, Debug, Default)]
pub struct Offer {
    /// The generation the decision was made in.
    pub generation: u64,
    /// The decision holds while the engine's clock is below this.
    pub valid_until: u64,
    offloadable: bool,
    effects: Vec<Effect>,
    /// The connections (slot, id) the decision's `ct()` verdicts relied on.
    conns: Vec<(u32, u64)>,
    /// Each pass's megaflow, in order (a cached pass: its exact key).
    passes: Vec<Megaflow>,
}

impl Offer {
    fn reset(&mut self, generation: u64) {
        self.generation = generation;
        self.valid_until = u64::MAX;
        self.offloadable = true;
        self.effects.clear();
        self.conns.clear();
        self.passes.clear();
    }

    /// Each pass's megaflow, in the order the packet took them: the packets
    /// a datapath may give the same decision, pass by pass (see
    /// [`crate::wildcards`]).
    pub fn passes(&self) -> &[Megaflow] {
        &self.passes
    }

    pub(crate) fn add_pass(&mut self, m: Megaflow) {
        self.passes.push(m);
    }

    /// The decision went through `ct()`: TCP packets with SYN, FIN or RST (which
    /// move their connection's state) must be switched by the engine.
    pub fn tracked(&self) -> bool {
        !self.conns.is_empty()
    }

    /// A `ct()` verdict of this packet: only an established connection's keeps
    /// the decision offerable.
    pub(crate) fn note_ct(&mut self, state: u8, conn: Option<(u32, u64)>) {
        use crate::conntrack::state::{EST, INV, NEW, REL, TRK};
        let settled = state & (TRK | EST) == (TRK | EST) && state & (NEW | REL | INV) == 0;
        match conn {
            Some(c) if settled => {
                if !self.conns.contains(&c) {
                    self.conns.push(c);
                }
            }
            _ => self.offloadable = false,
        }
    }

    /// Whether a datapath may repeat the decision for the packets of this key.
    pub fn offloadable(&self) -> bool {
        self.offloadable
    }

    pub(crate) fn refuse(&mut self) {
        self.offloadable = false;
    }

    /// Adds one pass's records (its `ct()` verdicts come through `note_ct`).
    pub(crate) fn add(&mut self, effects: &[Effect], valid_until: u64) {
        if !self.offloadable {
            return;
        }
        self.effects.extend_from_slice(effects);
        self.valid_until = self.valid_until.min(valid_until);
    }
}

impl Switch {
    /// Forgets the tracked connections (of one zone), as `flush-conntrack` asks;
    /// decisions that relied on them stop at once (the generation moves).
    pub fn flush_conntrack(&mut self, zone: Option<u16>) -> usize {
        let n = self.conntrack.flush(zone);
        if n > 0 {
            self.generation += 1;
        }
        n
    }

    /// [`Switch::receive`], also recording the packet's decision in `offer`
    /// (refused when the flow cache is off: nothing records decisions then).
    pub fn receive_offer(
        &mut self,
        in_port: PortId,
        frame: &[u8],
        tunnel: Option<&TunnelMeta>,
        now: u64,
        out: &mut Vec<Output>,
        offer: &mut Offer,
    ) -> crate::FlowKey {
        offer.reset(self.generation);
        if !self.cache.enabled() {
            offer.refuse();
            return self.receive(in_port, frame, tunnel, now, out);
        }
        let mut slot = std::mem::take(offer);
        slot.generation = self.generation;
        self.offer = Some(slot);
        let start = out.len();
        let key = self.receive(in_port, frame, tunnel, now, out);
        if let Some(o) = self.offer.take() {
            *offer = o;
        }
        // A decision made while the switch changed, or one that answered with
        // frames of its own, is for this packet only.
        let made = out
            .get(start..)
            .unwrap_or_default()
            .iter()
            .any(|o| o.made().is_some());
        if offer.generation != self.generation || made {
            offer.refuse();
        }
        key
    }

    /// What a datapath carried for `offer` since it last said: `packets` packets,
    /// `bytes` bytes, the last at `now`. Adds them to the flows the decision
    /// crossed, refreshes the MAC entries NORMAL relied on and resets the timers of
    /// the learned flows it found, as cache hits do. Returns whether the decision
    /// still holds: the switch is in the same generation, the MAC entries were
    /// still fresh and the decision has not run out.
    ///
    /// Flow counts are added while the flows the decision named are still there
    /// (no flow was removed or replaced since it was made); MAC entries are
    /// refreshed only in the generation it was made in (their slots may hold
    /// other MACs after).
    pub fn credit(&mut self, offer: &Offer, packets: u64, bytes: u64, now: u64) -> bool {
        let current = offer.generation == self.generation;
        let flows_there = offer.generation >= self.flows_gen;
        let mut fresh = current && now < offer.valid_until;
        for eff in &offer.effects {
            match *eff {
                Effect::Mac { br, slot, port } if packets > 0 && current => {
                    fresh &= self
                        .bridges
                        .get_mut(br as usize)
                        .and_then(Option::as_mut)
                        .is_some_and(|b| b.macs.refresh(slot, port as PortId, now));
                }
                Effect::Flow { br, table, id } if packets > 0 && flows_there => {
                    if let Some(f) = Self::flow_at(&mut self.bridges, br as usize, table, id) {
                        f.stats.packets += packets;
                        f.stats.bytes += bytes;
                        f.stats.used = f.stats.used.max(now);
                    }
                }
                Effect::Learned { br, table, id } if packets > 0 && flows_there => {
                    if let Some(f) = Self::flow_at(&mut self.bridges, br as usize, table, id) {
                        f.stats.created = f.stats.created.max(now);
                        f.stats.used = f.stats.used.max(now);
                    }
                }
                _ => {}
            }
        }
        for &(slot, id) in &offer.conns {
            let there = if packets > 0 {
                self.conntrack.touch(slot, id, now)
            } else {
                self.conntrack.alive(slot, id, now)
            };
            fresh &= there;
        }
        fresh
    }
}
