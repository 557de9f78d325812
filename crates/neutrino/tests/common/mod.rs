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

/// Calls the lab's API as `t`'s user (or the admin with `None`); Err is the
/// error text.
pub fn try_call(
    l: &lab::Lab,
    t: Option<&lab::state::Tenant>,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let auth = t.map_or_else(|| l.api.admin(), |t| l.api.user(t));
    let (m, p) = (method.to_string(), path.to_string());
    l.api
        .with(auth, move |c| async move {
            let r = match m.as_str() {
                "POST" => c.post(&p, &body).await,
                "PUT" => c.put(&p, &body).await,
                "DELETE" => c.delete(&p).await.map(|_| serde_json::Value::Null),
                _ => c.get(&p, &[]).await,
            };
            r.map_err(|e| lab::fail!("{m} {p}: {e}"))
        })
        .map_err(|e| e.to_string())
}

/// [`try_call`] that fails the test on an error.
pub fn call(
    l: &lab::Lab,
    t: Option<&lab::state::Tenant>,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    try_call(l, t, method, path, body).unwrap_or_else(|e| panic!("{e}"))
}

/// TenantB beside the lab's TenantA: the same 10.0.0.0/24, vm3 on compute-01,
/// its own router TenantB-R1 with a gateway on Ext-Net, ACTIVE.
pub fn tenant_b_with_router(l: &mut lab::Lab) -> (lab::state::Tenant, lab::state::Router) {
    let ext = l.state.external.clone().expect("external network");
    let tb = l.api.create_tenant("TenantB", "10.0.0.0/24").unwrap();
    l.state.tenants.push(tb.clone());
    lab::vms::create_vm(l, "vm3", "TenantB", "compute-01").unwrap();
    let r = l
        .api
        .create_router(&tb, "TenantB-R1", &ext.network_id)
        .unwrap();
    l.state.routers.push(r.clone());
    l.api
        .wait_router_active(&r.id, std::time::Duration::from_secs(30))
        .unwrap();
    (tb, r)
}
