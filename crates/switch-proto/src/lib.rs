//! `switch-proto`: the control protocol of `switchd` and its client — what the agent,
//! the lab and the CLI link to drive a switch, instead of the daemon itself.
//!
//! One JSON request per line on `RUN_DIR/switchd.sock`, one JSON response per line.
//! Every type here is the protocol's own (ports, DHCP bindings, counters, flows), so
//! the engine's internals can change without changing the wire; `switchd` translates
//! between these and the engine's types. Flows travel typed ([`flow::Flow`]: table,
//! priority, matches, actions, ports by name); the ovs-ofctl text syntax is still
//! accepted for operators (`neutrino switch add-flow`), and [`flow::Flow`] prints in
//! it.
//!
//! Versions: a client states [`VERSION`] in each request; a switchd refuses a newer
//! version than its own with a clear error, and takes requests without one as
//! version 1 (text flows only). `show` says which version the switchd speaks.
//!
//! This crate must not depend on the engine or the daemon (no mio, no datapath):
//! it is serde types and a blocking Unix-socket client, nothing else.

pub mod client;
pub mod flow;
mod hex;
pub mod message;
pub mod port;
pub mod stats;

pub use client::{Client, ClientError};
pub use flow::{
    Action, CtSpec, CtZoneSrc, Field, FieldRange, Flow, LearnItem, LearnSpec, Mac, Match, PortRef,
    Proto, ct_state,
};
pub use message::{BridgeView, Envelope, PortStatsRow, PortView, Request, Response};
pub use port::{DhcpBinding, PortSpec, PortType, RawDhcpOption, StaticRoute, TunnelKey};
pub use stats::{
    ConntrackStats, DhcpStats, FdbEntry, FlowCacheStats, HeapStats, LearnedFlowStats, PollSpin,
    PortStats, TunnelCounters,
};

/// The protocol version this crate speaks. 1: text flows only; 2: typed flows
/// (`typed` in add-flows and replace-flows) and the version field itself.
pub const VERSION: u32 = 2;

/// The control socket's file name inside switchd's run directory.
pub const SOCKET_NAME: &str = "switchd.sock";
