//! `neutrino trace` across hosts on the lab (issue 23; root, namespaces only):
//! the seeds' walk from vm2 to the external gateway names every hop (compute-02's
//! br-int and its firewall tables, the VXLAN tunnel to the network node, its
//! br-tun and br-int, qr- into the router's namespace with its route and SNAT,
//! qg- on br-ex, out of eth2); vm1 to vm2 crosses one tunnel and is delivered
//! into vm2's port; with vm2 in a security group that takes nothing in, the
//! trace says the packet is dropped on compute-02 in the ingress rules.

mod common;

use common::call;
use lab::{Lab, l3::EXT_GATEWAY};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_neutrino");

/// `neutrino trace ARGS` as the admin, in the controller's namespace, with the
/// lab's switchds' run directories.
fn trace(l: &Lab, args: &[&str]) -> String {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &l.state.controller_ns(), BIN, "trace"])
        .args(args)
        .env("OS_AUTH_URL", &l.api.auth_url)
        .env("OS_USERNAME", "admin")
        .env("OS_PASSWORD", &l.state.admin_password)
        .env("OS_PROJECT_NAME", "admin");
    for node in ["network", "compute-01", "compute-02"] {
        c.arg("--run-dir")
            .arg(format!("{node}={}", l.node_run_dir(node).display()));
    }
    let out = c.output().expect("neutrino trace runs");
    assert!(
        out.status.success(),
        "neutrino trace {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every one of `parts` in `text`, in this order.
fn in_order(text: &str, parts: &[&str]) {
    let mut at = 0;
    for p in parts {
        match text[at..].find(p) {
            Some(i) => at += i + p.len(),
            None => panic!("'{p}' missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn the_walk_across_hosts() {
    let Some(mut g) = common::lab_up("w", "t", |_| {}) else {
        return;
    };
    let l = g.lab();
    let (vm1, vm2) = (l.vm("vm1").unwrap(), l.vm("vm2").unwrap());
    let (port1, port2) = (vm1.port_id.clone(), vm2.port_id.clone());
    let gw = l.state.routers[0].gateway_ip.clone();

    let t = trace(l, &["--from-port", &port2, "--to", EXT_GATEWAY]);
    in_order(
        &t,
        &[
            "== compute-02: br-int",
            "table 71:",
            "table 73:",
            "br-tun: output vxlan-",
            "-> vxlan tunnel 192.168.100.32 -> 192.168.100.20 (network)",
            "== network: br-tun",
            "br-int: output qr-",
            "-> qrouter-",
            &format!("route: {EXT_GATEWAY} from {}", vm2.ip),
            &format!("(SNAT {} -> {gw})", vm2.ip),
            "== network: br-ex, in_port qg-",
            "br-ex: output eth2 (system)",
            "=> out of eth2 on network: the physical network",
        ],
    );

    let t = trace(l, &["--from-port", &port1, "--to", &vm2.ip]);
    in_order(
        &t,
        &[
            "== compute-01: br-int",
            "-> vxlan tunnel 192.168.100.31 -> 192.168.100.32 (compute-02)",
            "== compute-02: br-tun",
            "table 82:",
            &format!("=> delivered to tap{} on compute-02", &port2[..11]),
        ],
    );

    // vm2 in a group with no ingress rule: TCP 22 from vm1 is dropped on
    // compute-02, in the ingress tables.
    let ta = l.state.tenant("TenantA").unwrap().clone();
    let sg = call(
        l,
        Some(&ta),
        "POST",
        "/v2.0/security-groups",
        json!({"security_group": {"name": "closed"}}),
    );
    let sg = sg["security_group"]["id"].as_str().unwrap().to_string();
    call(
        l,
        Some(&ta),
        "PUT",
        &format!("/v2.0/ports/{port2}"),
        json!({"port": {"security_groups": [sg]}}),
    );
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let last = loop {
        let t = trace(
            l,
            &[
                "--from-port",
                &port1,
                "--to",
                &vm2.ip,
                "--proto",
                "tcp",
                "--dport",
                "22",
            ],
        );
        if t.contains("=> dropped on compute-02 in br-int: table 82:") {
            break t;
        }
        assert!(
            std::time::Instant::now() < until,
            "the trace did not say dropped within 20 s:\n{t}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    in_order(
        &last,
        &[
            "== compute-01: br-int",
            "== compute-02: br-tun",
            "table 81:",
            "=> dropped on compute-02 in br-int: table 82: ct_state=-est,reg5=0x",
            "-> table 93: priority 0",
        ],
    );
}
