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

/// A lab for one test: prefix `LETTER<pid><tag>`, agents heartbeating every 2 s,
/// `tweak` for the rest; removed by the guard, also when the test fails. `None`
/// where labs cannot run (not root, outside CI).
pub fn lab_up(
    letter: &str,
    tag: &str,
    tweak: impl FnOnce(&mut lab::LabOptions),
) -> Option<lab::LabGuard> {
    if !lab_available() {
        return None;
    }
    let prefix = format!("{letter}{}{tag}", std::process::id() % 10000);
    let dir = std::path::PathBuf::from(format!("/run/neutrino-lab-test/{prefix}"));
    let mut o = lab::LabOptions::new(&prefix, &dir, std::path::Path::new(BIN));
    o.report_interval = 2;
    tweak(&mut o);
    match lab::Lab::up(&o) {
        Ok(l) => Some(lab::LabGuard::new(l)),
        Err(e) => panic!("lab up: {e}"),
    }
}

/// Waits until `f` holds, checking every 300 ms; fails the test after `within`.
pub fn eventually(what: &str, within: std::time::Duration, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + within;
    while !f() {
        assert!(
            std::time::Instant::now() < until,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
