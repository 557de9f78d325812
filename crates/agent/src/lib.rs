//! `agent`: the L2 agent of one host. It registers with the server, heartbeats,
//! watches its host's desired state (a [`model::HostView`]) and turns it into
//! bridges, ports and flows on the host's switchd, as Neutron's Open vSwitch
//! agent does with l2population and the ARP responder.
//!
//! The work is split in three rooms:
//! - [`compile`]: a pure function from a host view to the wanted switch state
//!   (bridges, ports, flows, DHCP bindings). No I/O; unit-tested on its own.
//! - [`apply`]: makes switchd match a compiled state by diff (adds and removes only
//!   the ports that changed, replace-flows per bridge), so re-applying the same
//!   state changes nothing on the wire.
//! - [`metadata`]: the metadata service's namespaces and HTTP servers.
//! - [`metrics`]: the Prometheus endpoint (metering and switch counters).
//! - [`run`]: the loop that talks to the server (login, heartbeat, long-poll
//!   watch with backoff, port status reports).
//!
//! It must not decide anything the server owns (addresses, segmentation ids,
//! bindings) and never touches interfaces other than the ports it asks switchd for.

pub mod apply;
pub mod cli;
pub mod compile;
pub mod flows;
pub mod l3;
pub mod metadata;
pub mod metrics;
pub mod names;
pub mod run;

pub use compile::{Compiled, HostConfig, compile};
