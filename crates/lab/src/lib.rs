//! `lab`: neutrino's topologies in network namespaces, and the one harness that
//! builds them for `neutrino lab`, the integration tests and the benches.
//!
//! - `neutrino lab up` ([`topology`], [`vms`], [`api`], [`report`]): the seeds'
//!   topology on one machine — a controller (the server on SQLite), a network node
//!   and compute nodes (switchd and agent each) on a management network
//!   192.168.10.0/24 and a data network 192.168.100.0/24, joined by Linux bridges
//!   inside the lab's own switch namespace. It creates TenantA's network and VMs
//!   through the API, as a user would, and checks that the VMs get their addresses
//!   by DHCP and reach each other. `lab bench-ports` ([`bench`]) is the
//!   control-plane bench; `lab bench-l3 throughput|fip|routers` ([`bench_l3`],
//!   [`bench_fip`], [`bench_routers`]) are the network node's (issue 17).
//! - [`harness`]: two hypervisors on a veth underlay with a switchd each, wired by
//!   hand as Neutron's agent would (flows from `agent::flows`, via [`tunnel`]), and
//!   VMs as namespaces; what the integration tests in `crates/neutrino/tests` use.
//!   `neutrino lab pair up|configure-vms|down` ([`pair`]) leaves it up (two hosts,
//!   one, or only VMs) for the throughput bench and the switch demo.
//! - The pieces both are made of: [`net`] (namespaces, veth, bridges, addresses,
//!   pings, through `ip`), [`procs`] (processes started in a namespace, stopped by
//!   PID), [`switchd`] (starting one and waiting for its control socket, the
//!   `neutrino switch` CLI), [`cmd`] (commands with timeouts) and [`checks`] (root,
//!   tools, kernel).
//!
//! Every namespace, process and file a topology makes carries its prefix or lives
//! in its directory, and tearing it down removes exactly those. It never touches
//! the root namespace's interfaces, addresses or routes, and stops only the
//! processes it started (by PID, checked against their command line). The
//! building blocks return [`LabError`]; the harness's methods are the tests'
//! checks and panic with diagnostics, and those that build (hosts, switchds, VMs)
//! have a `try_` form returning the error, which `lab pair` uses.

pub mod api;
pub mod bench;
pub mod bench_fip;
pub mod bench_l3;
pub mod bench_md;
pub mod bench_metering;
pub mod bench_routers;
pub mod bench_scale;
pub mod bench_sg;
pub mod checks;
pub mod cli;
pub mod cmd;
pub mod crr;
pub mod harness;
pub mod l3;
pub mod net;
pub mod pair;
pub mod procs;
pub mod report;
pub mod state;
pub mod switchd;
pub mod topology;
pub mod tunnel;
pub mod vms;

pub use state::{LabState, Node, Vm};
pub use topology::{Lab, LabGuard, LabOptions};
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
