//! What a datapath below the engine (switchd's kernel fast path) asks of the
//! table for the connections whose packets it carries: their identity across
//! slot reuse, and their timeouts restarted by packets the tracker never saw.

use super::Conntrack;

impl Conntrack {
    /// The id of the connection in `slot` (a verdict's `conn`), if one is there.
    pub fn conn_id(&self, slot: u32) -> Option<u64> {
        self.entry(slot).map(|e| e.id)
    }

    /// A packet of connection `id` (in `slot`) passed elsewhere at `now` (the
    /// kernel fast path carried it, in a state tracking would not have changed):
    /// its timeout starts again, as tracking that packet would have done. False
    /// when the connection is gone (expired, flushed, replaced).
    pub fn touch(&mut self, slot: u32, id: u64, now: u64) -> bool {
        let Some(e) = self.entry(slot).filter(|e| e.id == id) else {
            return false;
        };
        let t = self.timeout(e);
        if let Some(e) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) {
            e.expires = e.expires.max(now.saturating_add(t));
        }
        true
    }

    /// Whether connection `id` is still in `slot` (and not past its timeout).
    pub fn alive(&self, slot: u32, id: u64, now: u64) -> bool {
        self.entry(slot)
            .is_some_and(|e| e.id == id && now < e.expires)
    }
}
