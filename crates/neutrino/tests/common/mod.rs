//! What the integration tests share: the lab crate's two-host harness
//! (`lab::harness`, which also serves `neutrino lab` and the benches), the binary
//! under test, and small test-only helpers.

#![allow(dead_code)]

/// The tests' name for the lab's tunnel type.
#[allow(unused_imports)]
pub use lab::harness::TunnelType as Tunnel;
pub use lab::harness::*;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_neutrino");

/// An IPv4 address as 8 hex digits, as in Neutron's tunnel port names.
pub fn ip_hex(ip: &str) -> String {
    let a: std::net::Ipv4Addr = ip.parse().expect("IPv4 address");
    a.octets().iter().map(|o| format!("{o:02x}")).collect()
}
