//! `lab`: the seeds' topology on one machine, in network namespaces only — a
//! controller (the server on SQLite), a network node and compute nodes (switchd and
//! agent each) on a management network 192.168.10.0/24 and a data network
//! 192.168.100.0/24, joined by Linux bridges inside the lab's own switch namespace.
//! It creates TenantA's network and VMs through the API, as a user would, and
//! checks that the VMs get their addresses by DHCP and reach each other.
//!
//! Every namespace, process and file it makes carries the lab's prefix or lives in
//! its directory, and `down` removes exactly those. It never touches the root
//! namespace's interfaces, addresses or routes, and stops only the processes it
//! started (by PID, checked against their command line).

pub mod api;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod cmd;
pub mod harness;
pub mod net;
pub mod procs;
pub mod report;
pub mod state;
pub mod switchd;
pub mod topology;
pub mod tunnel;
pub mod vms;

pub use state::{LabState, Node, Vm};
pub use topology::{Lab, LabOptions};
pub use tunnel::TunnelType;

/// Everything that can go wrong in the lab, as one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LabError(pub String);

pub type Result<T> = std::result::Result<T, LabError>;

/// Builds a [`LabError`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { $crate::LabError(format!($($t)*)) };
}

/// Prints a progress line (the lab's work is slow enough to want them).
pub fn progress(msg: impl std::fmt::Display) {
    eprintln!("==> {msg}");
}
