//! Which bits of a packet's key a decision read: the *megaflow* of one pass of
//! the pipeline, as Open vSwitch computes it for its datapath.
//!
//! While a pass runs, every table lookup adds the masks of the classifier
//! subtables it probed (`FlowTable::lookup_wc`), and every action that reads the
//! key adds what it read: NORMAL its input port, VLAN and Ethernet addresses,
//! output and flood the input port, `move` its source, `output:field` that
//! field, a `ct()` zone taken from a field that field, an output to a
//! flow-keyed tunnel the tunnel id, `learn()` the bits its learned flow is
//! made of (so every packet of the megaflow learns, or refreshes, the same
//! flow). An action that writes a header reads it too (whether it changes
//! depends on what it was), and `dhcp`, which answers from the whole frame,
//! reads everything. A pass's mask always covers `in_port` and `recirc_id`.
//!
//! The promise: any packet whose key equals the pass's key under the mask gets
//! the same decision from that pass (the same outputs with the same header
//! changes, the same `ct()` and where the packet goes on), as long as the
//! switch does not change (its generation). So a datapath may carry a decision
//! for every such packet, not only for the one key — new connections included,
//! when it tracks connections itself. `trace` prints each pass's megaflow.

use crate::field::{Field, FlowKey, KEY_WORDS};
use crate::flow::Match;

/// One pass of a decision: the key it started with and the bits it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Megaflow {
    pub key: FlowKey,
    pub mask: FlowKey,
}

impl Megaflow {
    /// The pass that started with `key` and read `wc` (which gains `in_port`
    /// and `recirc_id`).
    pub(crate) fn new(key: &FlowKey, mut wc: FlowKey) -> Megaflow {
        for f in [Field::InPort, Field::RecircId] {
            wc.set(f, f.full_mask());
        }
        let mut key = *key;
        for (k, m) in key.w.iter_mut().zip(wc.w.iter()) {
            *k &= m;
        }
        Megaflow { key, mask: wc }
    }

    /// A decision for exactly one key (every bit read).
    pub(crate) fn exact(key: &FlowKey) -> Megaflow {
        Megaflow {
            key: *key,
            mask: FlowKey {
                w: [u64::MAX; KEY_WORDS],
            },
        }
    }

    /// Whether `key` is one of the keys this pass decides alike.
    pub fn covers(&self, key: &FlowKey) -> bool {
        (0..KEY_WORDS).all(|i| key.w[i] & self.mask.w[i] == self.key.w[i])
    }

    /// The megaflow as a match (for printing with [`crate::match_text`]).
    pub fn as_match(&self) -> Match {
        Match {
            value: self.key,
            mask: self.mask,
        }
    }
}
