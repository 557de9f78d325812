//! A bridge: its ports by OpenFlow number, its flow tables and its MAC table.

use crate::PortId;
use crate::flow::Flow;
use crate::mac_table::MacTable;
use std::collections::BTreeMap;

pub const NUM_TABLES: usize = 255;

#[derive(Debug)]
pub struct Bridge {
    pub name: String,
    /// OpenFlow port number -> port.
    pub ports: BTreeMap<u32, PortId>,
    /// Flows per table, highest priority first; equal priorities keep insertion order.
    pub tables: Vec<Vec<Flow>>,
    pub macs: MacTable,
}

impl Bridge {
    pub fn new(name: &str) -> Bridge {
        Bridge {
            name: name.to_string(),
            ports: BTreeMap::new(),
            tables: (0..NUM_TABLES).map(|_| Vec::new()).collect(),
            macs: MacTable::new(),
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
    /// counters restart, as with ovs-ofctl add-flow).
    pub fn insert(&mut self, flow: Flow) {
        let t = &mut self.tables[usize::from(flow.table)];
        if let Some(i) = t.iter().position(|f| f.same_rule(&flow)) {
            t[i] = flow;
            return;
        }
        let at = t.partition_point(|f| f.priority >= flow.priority);
        t.insert(at, flow);
    }

    pub fn flow_count(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }
}
