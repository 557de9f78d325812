//! The agent issue's end-to-end tests, on the lab (root, namespaces only): VMs on
//! different computes reach each other over VXLAN and GRE with addresses from the
//! switch's DHCP responder; tenants are isolated; anti-spoofing cuts off a VM that
//! changes its MAC or IP; deleting a port unplugs it; agent and server restarts
//! lose nothing; a compute added later joins in.
//!
//! Every lab has its own prefix (`l<pid><tag>`) and is removed by a guard, also
//! when a test fails.

mod common;

use lab::vms;
use lab::{Lab, LabOptions, TunnelType};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Guard = lab::LabGuard;

fn up(tag: &str, tunnel: TunnelType) -> Option<Guard> {
    if !common::lab_available() {
        return None;
    }
    common::require_tool("busybox", "busybox");
    let prefix = format!("l{}{tag}", std::process::id() % 10000);
    let dir = PathBuf::from(format!("/run/neutrino-lab-test/{prefix}"));
    let mut o = LabOptions::new(&prefix, &dir, std::path::Path::new(common::BIN));
    o.tunnel_type = tunnel;
    o.report_interval = 2;
    // Layer 2 only: the routers' end-to-end tests are in l3.rs.
    o.with_l3 = false;
    match Lab::up(&o) {
        Ok(l) => Some(Guard::new(l)),
        Err(e) => panic!("lab up: {e}"),
    }
}

fn ping_ok(l: &Lab, from: &str, to_ip: &str) -> bool {
    let vm = l.vm(from).expect("vm");
    vms::ping(&vm, to_ip, 2)
        .map(|r| r.received > 0)
        .unwrap_or(false)
}

/// Pings until one reply comes (the data path may need a moment), or gives up.
fn eventually_pings(l: &Lab, from: &str, to_ip: &str, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if ping_ok(l, from, to_ip) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
    }
}

fn ping6_ok(l: &Lab, from: &str, to: &str) -> bool {
    let vm = l.vm(from).expect("vm");
    lab::net::exec_in(
        &vm.ns,
        "ping",
        &["-6", "-n", "-c", "2", "-i", "0.3", "-W", "1", to],
    )
    .map(|o| o.status.success())
    .unwrap_or(false)
}

/// A VM's IPv6 link-local address (its kernel forms it from the MAC).
fn link_local(l: &Lab, vm: &str) -> String {
    let v = l.vm(vm).expect("vm");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let out = lab::net::ip_in(
            &v.ns,
            &["-6", "-o", "addr", "show", "dev", &v.tap, "scope", "link"],
        )
        .unwrap_or_default();
        if let Some(a) = out.split_whitespace().skip_while(|w| *w != "inet6").nth(1) {
            return a.split('/').next().unwrap_or(a).to_string();
        }
        assert!(Instant::now() < until, "{vm} has no link-local address");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn vm_exec(l: &Lab, vm: &str, args: &[&str]) {
    let v = l.vm(vm).expect("vm");
    let out = lab::net::exec_in(&v.ns, args[0], &args[1..]).expect("run in vm");
    assert!(
        out.status.success(),
        "{args:?} in {vm}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn neighbor_mac(l: &Lab, vm: &str, ip: &str) -> Option<String> {
    let v = l.vm(vm).ok()?;
    let out = lab::net::ip_in(&v.ns, &["neigh", "show", ip]).ok()?;
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

#[test]
fn vxlan_lab_dhcp_isolation_antispoofing_delete_and_third_compute() {
    let Some(mut g) = up("vx", TunnelType::Vxlan) else {
        return;
    };
    let l = g.lab();
    let (vm1, vm2) = (l.vm("vm1").unwrap(), l.vm("vm2").unwrap());
    assert_eq!(
        (vm1.host.as_str(), vm2.host.as_str()),
        ("compute-01", "compute-02")
    );
    // DHCP gave each VM its port's address and the network's MTU.
    assert_eq!(vms::address(&vm1), Some(format!("{}/24", vm1.ip)));
    assert_eq!(vms::mtu(&vm1), Some(1450));
    assert_eq!(vms::mtu(&vm2), Some(1450));
    assert!(ping_ok(l, "vm1", &vm2.ip));
    assert!(ping_ok(l, "vm2", &vm1.ip));
    let tun = l.switch("compute-01", &["show"]).unwrap();
    assert!(tun.contains("vxlan-c0a86420"), "{tun}");
    // No tunnel to the network node: it has no port on TenantA-Net.
    assert!(!tun.contains("vxlan-c0a86414"), "{tun}");

    // TenantB: the same 10.0.0.0/24, isolated from TenantA.
    let tb = l.api.create_tenant("TenantB", "10.0.0.0/24").unwrap();
    l.state.tenants.push(tb);
    vms::create_vm(l, "vm3", "TenantB", "compute-01").unwrap();
    let vm3 = l.vm("vm3").unwrap();
    assert_ne!(vm3.ip, vm2.ip);
    assert!(!ping_ok(l, "vm3", &vm2.ip), "TenantB reached TenantA's vm2");
    vms::create_vm(l, "vm4", "TenantB", "compute-02").unwrap();
    let vm4 = l.vm("vm4").unwrap();
    assert!(eventually_pings(l, "vm3", &vm4.ip, Duration::from_secs(5)));
    if vm4.ip == vm2.ip {
        assert_eq!(
            neighbor_mac(l, "vm3", &vm4.ip).as_deref(),
            Some(vm4.mac.as_str())
        );
    }
    assert!(ping_ok(l, "vm1", &vm2.ip), "TenantA still works");

    // Anti-spoofing: another IP, then another MAC, cuts vm1 off.
    vm_exec(l, "vm1", &["ip", "-4", "addr", "flush", "dev", &vm1.tap]);
    vm_exec(
        l,
        "vm1",
        &["ip", "addr", "add", "10.0.0.77/24", "dev", &vm1.tap],
    );
    assert!(!ping_ok(l, "vm1", &vm2.ip), "a spoofed IP got through");
    vm_exec(l, "vm1", &["ip", "-4", "addr", "flush", "dev", &vm1.tap]);
    vm_exec(
        l,
        "vm1",
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/24", vm1.ip),
            "dev",
            &vm1.tap,
        ],
    );
    assert!(eventually_pings(l, "vm1", &vm2.ip, Duration::from_secs(5)));
    vm_exec(
        l,
        "vm1",
        &[
            "ip",
            "link",
            "set",
            "dev",
            &vm1.tap,
            "address",
            "fa:16:3e:66:66:66",
        ],
    );
    vm_exec(l, "vm1", &["ip", "neigh", "flush", "dev", &vm1.tap]);
    assert!(!ping_ok(l, "vm1", &vm2.ip), "a spoofed MAC got through");
    vm_exec(
        l,
        "vm1",
        &["ip", "link", "set", "dev", &vm1.tap, "address", &vm1.mac],
    );
    assert!(eventually_pings(l, "vm1", &vm2.ip, Duration::from_secs(5)));

    // IPv6: the ports' link-local addresses reach each other; an address the port
    // does not have is cut off.
    let ll2 = link_local(l, "vm2");
    let to_ll2 = format!("{ll2}%{}", vm1.tap);
    assert!(ping6_ok(l, "vm1", &to_ll2), "link-local IPv6 between ports");
    vm_exec(
        l,
        "vm1",
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd00::77/64",
            "dev",
            &vm1.tap,
            "nodad",
        ],
    );
    vm_exec(
        l,
        "vm2",
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd00::78/64",
            "dev",
            &vm2.tap,
            "nodad",
        ],
    );
    assert!(
        !ping6_ok(l, "vm1", "fd00::78"),
        "a spoofed IPv6 source got through"
    );

    // A compute added later gets tunnels, and its VM reaches the others.
    let c3 = l.add_compute().unwrap();
    assert_eq!(c3, "compute-03");
    vms::create_vm(l, "vm5", "TenantA", "compute-03").unwrap();
    let vm5 = l.vm("vm5").unwrap();
    assert!(eventually_pings(l, "vm5", &vm1.ip, Duration::from_secs(5)));
    assert!(eventually_pings(l, "vm2", &vm5.ip, Duration::from_secs(5)));
    let until = Instant::now() + Duration::from_secs(10);
    while !l
        .switch("compute-01", &["show"])
        .unwrap()
        .contains("vxlan-c0a86421")
    {
        assert!(
            Instant::now() < until,
            "compute-01 got no tunnel to compute-03"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Deleting vm2's port unplugs it: its tap leaves br-int and the VM, traffic stops.
    vms::delete_vm_port(l, "vm2").unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while l
        .switch("compute-02", &["show"])
        .unwrap()
        .contains(&vm2.tap)
        || lab::net::ip_in(&vm2.ns, &["link", "show", &vm2.tap]).is_ok()
    {
        assert!(Instant::now() < until, "vm2's tap was not removed");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !ping_ok(l, "vm1", &vm2.ip),
        "vm1 still reaches the deleted port's address"
    );
    // compute-02 keeps its tunnel to compute-01 only while TenantB's vm4 is there.
    assert!(
        l.switch("compute-02", &["show"])
            .unwrap()
            .contains("vxlan-c0a8641f")
    );
}

#[test]
fn gre_lab_survives_agent_and_server_restarts() {
    let Some(mut g) = up("gr", TunnelType::Gre) else {
        return;
    };
    let l = g.lab();
    let (vm1, vm2) = (l.vm("vm1").unwrap(), l.vm("vm2").unwrap());
    assert!(ping_ok(l, "vm1", &vm2.ip));
    let show = l.switch("compute-01", &["show"]).unwrap();
    assert!(show.contains("gre-c0a86420"), "{show}");
    assert!(!show.contains("vxlan-"), "{show}");
    let flows_before = l.switch("compute-01", &["dump-flows", "br-tun"]).unwrap();

    // A ping runs (10/s for 8 s) while both computes' agents restart: no loss.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &vm1.ns, "ping", "-n", "-c", "80", "-i", "0.1", "-W", "1", &vm2.ip,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    l.restart_agent("compute-01").unwrap();
    l.restart_agent("compute-02").unwrap();
    let out = ping.wait_with_output().unwrap();
    let r = vms::parse_ping("vm1", &vm2.ip, &String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (r.sent, r.received),
        (80, 80),
        "packets lost across agent restarts"
    );
    // The restarted agent re-synced to the same flows (learned ones aside).
    let norm = |s: &str| {
        let mut v: Vec<String> = common::normalize_flows(s)
            .into_iter()
            .filter(|f| !f.contains("cookie=0x1"))
            .collect();
        v.sort();
        v
    };
    let flows_after = l.switch("compute-01", &["dump-flows", "br-tun"]).unwrap();
    assert_eq!(norm(&flows_before), norm(&flows_after));

    // Server restart: agents reconnect and keep wiring new ports.
    l.restart_server().unwrap();
    let hosts = ["compute-01".to_string(), "compute-02".to_string()];
    l.api.wait_agents(&hosts, Duration::from_secs(30)).unwrap();
    vms::create_vm(l, "vm3", "TenantA", "compute-02").unwrap();
    let vm3 = l.vm("vm3").unwrap();
    assert!(eventually_pings(l, "vm1", &vm3.ip, Duration::from_secs(5)));
    assert!(ping_ok(l, "vm1", &vm2.ip));

    // A disabled agent takes no new work; enabled again, it wires the port.
    set_agent_admin_state(l, "compute-02", false);
    let tenant = l.state.tenant("TenantA").unwrap().clone();
    let ns = format!("{}-vm9", l.state.prefix);
    lab::net::add_netns(&ns).unwrap();
    l.state.namespaces.push(ns.clone());
    let port = l.api.create_vm_port(&tenant, &ns, "compute-02").unwrap();
    let id = port["id"].as_str().unwrap().to_string();
    let tap = format!("tap{}", &id[..11]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(l.api.port(&id).unwrap()["status"], "DOWN");
    assert!(!l.switch("compute-02", &["show"]).unwrap().contains(&tap));
    set_agent_admin_state(l, "compute-02", true);
    l.api
        .wait_port_status(&id, "ACTIVE", Duration::from_secs(15))
        .unwrap();
    assert!(l.switch("compute-02", &["show"]).unwrap().contains(&tap));
}

fn set_agent_admin_state(l: &Lab, host: &str, up: bool) {
    let agents = l.api.agents().unwrap();
    let id = agents
        .iter()
        .find(|a| a["host"] == host)
        .and_then(|a| a["id"].as_str())
        .expect("agent of host")
        .to_string();
    l.api
        .with(l.api.admin(), move |c| async move {
            c.put(
                &format!("/v2.0/agents/{id}"),
                &serde_json::json!({"agent": {"admin_state_up": up}}),
            )
            .await
            .map_err(|e| lab::LabError(e.to_string()))
        })
        .unwrap();
}
