//! `switch`: the sans-IO engine of neutrino's virtual switch — bridges, ports, OpenFlow
//! tables with the ovs-ofctl text syntax, the pipeline (resubmit, goto_table, learn,
//! NORMAL with MAC learning per VLAN, patch ports between bridges), a DHCP server
//! at the port (the `dhcp` action), and trace. Lookups go through a tuple-space
//! classifier per table ([`table`]) behind an exact-match flow cache ([`cache`]).
//!
//! A packet goes in as bytes plus metadata; what comes out is a list of outputs, each a
//! port and the header state the packet must leave with. This crate opens no sockets,
//! starts no threads and never reads a clock: time is passed in as milliseconds. It
//! must not learn about devices, namespaces or the daemon's control protocol — that is
//! `switchd`'s room; policy (which flows to install) is the agent's.

pub mod action;
pub mod bridge;
pub mod cache;
pub mod commit;
pub mod dhcp;
pub mod extract;
pub mod field;
pub mod flow;
pub mod hash;
pub mod learn;
pub mod mac_table;
pub mod parse;
pub mod port;
pub mod print;
mod switch;
pub mod table;
pub mod tunnel_index;
mod xlate;

pub use cache::FlowCacheStats;
pub use dhcp::{DhcpBinding, DhcpStats, StaticRoute};
pub use extract::{TunnelMeta, flow_key};
pub use field::{Field, FlowKey};
pub use port::{PortConfig, PortType, TunnelKey};
pub use switch::*;
pub use tunnel_index::TunnelIndex;
pub use xlate::{Forward, Output, Reply};

/// Index of a port in the switch, stable while the port exists.
pub type PortId = usize;
