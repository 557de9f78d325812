//! `switch`: the sans-IO engine of neutrino's virtual switch — bridges, ports, OpenFlow
//! tables with the ovs-ofctl text syntax, the pipeline (resubmit, goto_table, learn,
//! NORMAL with MAC learning per VLAN, patch ports between bridges), connection
//! tracking (`ct()`, `ct_clear`, the `ct_state`/`ct_zone`/`ct_mark` matches; see
//! [`conntrack`] and `xlate_ct`), conjunctive matches (`conjunction(id,k/n)`,
//! `conj_id`), a DHCP server at the port (the `dhcp` action), and trace. Lookups go through a tuple-space
//! classifier per table (`table`) behind an exact-match flow cache (`cache`).
//!
//! A packet goes in as bytes plus metadata; what comes out is one list of
//! [`Output`]s: the frame forwarded out of a port with the header state it must
//! leave with ([`Forward`], whose [`Forward::rewrite`] applies it), or a frame the
//! engine made itself ([`Reply`]: DHCP and ARP answers). This crate opens no
//! sockets, starts no threads, never reads a clock (time is passed in as
//! milliseconds) and never asks the OS for randomness (the hash seed is passed to
//! [`Switch::new`]). It must not learn about devices, namespaces or the daemon's
//! control protocol — that is `switchd`'s room; policy (which flows to install) is
//! the agent's.
//!
//! Why our own code: the packet path is the product (a few ns per cached packet,
//! no allocation), and no crate does OpenFlow tables with learn() sans-IO.
//!
//! # Public API
//! Everything is re-exported here; the modules are private.
//! - The switch: [`Switch`] (`new(seed)`, `restore`, `config`; bridges and ports:
//!   `add_bridge`, `del_bridge`, `add_port`, `del_port`, `set_port_dhcp`, `port`,
//!   `port_by_name`, `ports`, `bridge`, `bridge_id`, `bridge_names`, `names`,
//!   `tunnel_port`, `tunnel_index`, `patch_peer`; flows: `parse_flows`,
//!   `add_flows`, `add_flow_specs`, `replace_flows`, `replace_flow_specs`,
//!   `del_flows`, `expire`, `fdb`; packets: `receive`, `settle_counters`,
//!   `set_flow_cache_capacity`, `flow_cache_stats`; text: `flows_text`,
//!   `dump_flows`, `trace`, `trace_frame`, `describe_output`), [`SwitchError`],
//!   [`Bridge`], [`BridgePorts`], [`BridgeConfig`], [`Port`], [`PortStats`],
//!   [`FdbEntry`], [`FlowCacheStats`], [`PortId`].
//! - What comes out: [`Output`], [`Forward`], [`Reply`]; for a datapath below the
//!   engine, [`Offer`] with each pass's [`Megaflow`] (the bits it read).
//! - What goes in: [`TunnelMeta`], [`TunnelIndex`] (a copy resolves tunnel packets
//!   without the switch's lock); [`FlowKey`], [`Field`], [`flow_key`].
//! - Ports: [`PortConfig`], [`PortType`], [`TunnelKey`]; DHCP at the port:
//!   [`DhcpBinding`], [`StaticRoute`], [`DhcpStats`].
//! - Connection tracking: [`conntrack`] (the table, [`Switch::conntrack`],
//!   [`Switch::conntrack_mut`]); actions [`CtAction`], [`CtZone`].
//! - Flows as values: [`FlowSpec`], [`Match`], [`Action`], [`FieldRange`],
//!   [`LearnSpec`], [`LearnItem`], [`LearnSrc`], the reserved ports
//!   [`OFPP_IN_PORT`], [`OFPP_NORMAL`], [`OFPP_FLOOD`], [`OFPP_ALL`], [`OFPP_LOCAL`].
//! - Flows as ovs-ofctl text: [`parse_flow`], [`parse_actions`], [`parse_port`],
//!   [`PortNames`], [`ParseError`]; [`flow_text`], [`match_text`],
//!   [`actions_text`], [`FlowParts`].

mod action;
mod bridge;
mod cache;
mod commit;
pub mod conntrack;
mod dhcp;
mod extract;
mod field;
mod flow;
mod hash;
mod learn;
mod mac_table;
mod parse;
mod port;
mod print;
mod switch;
mod table;
mod tunnel_index;
mod wildcards;
#[cfg(test)]
mod wildcards_tests;
mod xlate;
mod xlate_ct;
#[cfg(test)]
mod xlate_ct_tests;
mod xlate_l2;

pub use action::{
    Action, CtAction, CtZone, FieldRange, OFPP_ALL, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL,
    OFPP_NORMAL,
};
pub use bridge::Bridge;
pub use cache::FlowCacheStats;
pub use dhcp::{DhcpBinding, DhcpStats, RawDhcpOption, StaticRoute};
pub use extract::{TunnelMeta, flow_key};
pub use field::{Field, FlowKey};
pub use flow::Match;
pub use learn::{LearnItem, LearnSpec, LearnSrc};
pub use parse::{FlowSpec, ParseError, PortNames, parse_actions, parse_flow, parse_port};
pub use port::{PortConfig, PortType, TunnelKey, veth_host_end};
pub use print::{FlowParts, actions_text, flow_text, match_text};
pub use switch::{
    BridgeConfig, BridgePorts, FdbEntry, LearnedFlowStats, Offer, Port, PortStats, Switch,
    SwitchError, Traced,
};
pub use tunnel_index::TunnelIndex;
pub use wildcards::Megaflow;
pub use xlate::{Forward, Output, Reply};

/// Index of a port in the switch, stable while the port exists.
pub type PortId = usize;
