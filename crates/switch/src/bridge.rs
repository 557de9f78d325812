//! A bridge: its ports by OpenFlow number, its flow tables and its MAC table.

use crate::PortId;
use crate::flow::Flow;
use crate::hash::Seed;
use crate::mac_table::MacTable;
use crate::table::{FlowId, FlowTable};
use std::collections::BTreeMap;

pub const NUM_TABLES: usize = 255;

#[derive(Debug)]
pub struct Bridge {
    pub name: String,
    /// OpenFlow port number -> port.
    pub ports: BTreeMap<u32, PortId>,
    /// Flows per table, highest priority first; equal priorities keep insertion order.
    pub tables: Vec<FlowTable>,
    pub macs: MacTable,
    /// Where the bridge's tables and MAC table take their hash seeds from.
    pub seed: Seed,
}

impl Bridge {
    pub fn new(name: &str, seed: Seed) -> Bridge {
        Bridge {
            name: name.to_string(),
            ports: BTreeMap::new(),
            tables: empty_tables(seed),
            macs: MacTable::new(seed.derive(NUM_TABLES as u64)),
            seed,
        }
    }

    /// The lowest unused OpenFlow port number (from 1).
    pub fn free_ofport(&self) -> u32 {
        let mut n = 1;
        for &used in self.ports.keys() {
            if used == n {
                n += 1;
            } else if used > n {
                break;
            }
        }
        n
    }

    /// Inserts a flow, replacing one with the same table, priority and match (its
    /// counters restart, as with ovs-ofctl add-flow). Returns its id in its table
    /// (None only for a table number past the last table).
    pub fn insert(&mut self, flow: Flow) -> Option<FlowId> {
        let t = self.tables.get_mut(usize::from(flow.table))?;
        Some(t.insert(flow))
    }

    pub fn flow_count(&self) -> usize {
        self.tables.iter().map(FlowTable::len).sum()
    }

    /// All flows, table by table in table order.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> + '_ {
        self.tables.iter().flat_map(FlowTable::iter)
    }
}

/// A fresh set of empty tables, each with its own seed derived from `seed`.
pub fn empty_tables(seed: Seed) -> Vec<FlowTable> {
    (0..NUM_TABLES)
        .map(|t| FlowTable::new(seed.derive(t as u64)))
        .collect()
}
