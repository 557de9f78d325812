//! Integration test of the local port types on one host: a VM on a `tap` port, a VM
//! behind a veth attached as a `system` port (AF_PACKET with virtio-net headers), and
//! an `internal` port moved into a namespace, all on one bridge with NORMAL. Needs root
//! (fails instead of skipping when CI=true).

mod common;

use common::*;
use std::time::Duration;

/// VM A of these tests: a tap port on br0 of H1 whose netdev lives in namespace
/// `ns`, addressed 10.1.0.1.
fn tap_vm_a(lab: &mut TwoHosts, ns: &str) -> Vm {
    let vm = Vm {
        host: H::H1,
        ns: ns.to_string(),
        tap: format!("t{}a", lab.uid),
        ip: "10.1.0.1",
        mac: "fa:16:3e:00:01:01",
        tag: 0,
    };
    lab.switch_ok(
        H::H1,
        &[
            "add-port", "br0", &vm.tap, "--type", "tap", "--netns", ns, "--mac", vm.mac,
        ],
    );
    lab.wait_vm_nic(&vm, Duration::from_secs(5));
    lab.configure_vm_ip(&vm);
    vm
}

#[test]
fn tap_system_and_internal_ports_switch_locally() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "prt");
    lab.start_switchd(H::H1);
    let h1 = lab.host(H::H1).ns.clone();
    let (p, uid) = (lab.prefix.clone(), lab.uid.clone());
    lab.switch_ok(H::H1, &["add-br", "br0"]);

    let (va, vb, vc) = (format!("{p}va"), format!("{p}vb"), format!("{p}vc"));
    for ns in [&va, &vb, &vc] {
        lab.add_ns(ns);
    }
    let vm_b = Vm {
        host: H::H1,
        ns: vb.clone(),
        tap: "eth0".into(),
        ip: "10.1.0.2",
        mac: "fa:16:3e:00:01:02",
        tag: 0,
    };
    let vm_c = Vm {
        host: H::H1,
        ns: vc.clone(),
        tap: format!("i{uid}c"),
        ip: "10.1.0.3",
        mac: "fa:16:3e:00:01:03",
        tag: 0,
    };

    // A: a tap port whose netdev lives in namespace A.
    let vm_a = tap_vm_a(&mut lab, &va);

    // B: a veth pair, one end in B, the other in the host, attached as a system port.
    let sys = format!("s{uid}b");
    ip(&[
        "-n", &h1, "link", "add", &sys, "type", "veth", "peer", "name", "eth0", "netns", &vb,
    ]);
    ip(&["-n", &vb, "link", "set", "dev", "eth0", "address", vm_b.mac]);
    lab.configure_vm_ip(&vm_b);
    lab.switch_ok(H::H1, &["add-port", "br0", &sys, "--type", "system"]);

    // C: the bridge's internal port, moved into namespace C.
    lab.switch_ok(
        H::H1,
        &[
            "add-port", "br0", &vm_c.tap, "--type", "internal", "--netns", &vc, "--mac", vm_c.mac,
        ],
    );
    lab.wait_vm_nic(&vm_c, Duration::from_secs(5));
    lab.configure_vm_ip(&vm_c);

    lab.wait_ping(&vm_a, vm_b.ip, PING_WITHIN);
    lab.wait_ping(&vm_a, vm_c.ip, PING_WITHIN);
    lab.wait_ping(&vm_b, vm_c.ip, PING_WITHIN);
    // TCP super-frames cross tap -> AF_PACKET and back with their offload metadata.
    lab.tcp_transfer(&vm_a, &vm_b, 50);
    lab.tcp_transfer(&vm_c, &vm_a, 20);

    let fdb = lab.switch_ok(H::H1, &["fdb-show", "br0"]);
    for (mac, port) in [
        (vm_a.mac, vm_a.tap.as_str()),
        (vm_b.mac, sys.as_str()),
        (vm_c.mac, vm_c.tap.as_str()),
    ] {
        assert!(
            fdb.lines().any(|l| l.contains(mac) && l.contains(port)),
            "{mac} on {port}:\n{fdb}"
        );
    }
    let ports = lab.switch_ok(H::H1, &["dump-ports", "br0"]);
    assert!(
        ports.contains(&sys) && ports.contains("rx pkts="),
        "{ports}"
    );

    // Deleting a port removes its device and stops its traffic.
    lab.switch_ok(H::H1, &["del-port", "br0", &vm_a.tap]);
    let gone = ip_try(&["-n", &va, "link", "show", "dev", &vm_a.tap]);
    assert!(
        !gone.ok(),
        "tap should be gone after del-port:\n{}",
        gone.describe()
    );
    assert!(!lab.ping(&vm_b, vm_a.ip, 2).ok());
}

#[test]
fn add_port_errors_are_one_line_and_change_nothing() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "per");
    lab.start_switchd(H::H1);
    lab.switch_ok(H::H1, &["add-br", "br0"]);
    // Bridges and ports, not the heap line (the requests themselves allocate).
    let config = |lab: &TwoHosts| -> String {
        lab.switch_ok(H::H1, &["show"])
            .lines()
            .filter(|l| !l.starts_with("memory: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = config(&lab);
    for args in [
        vec![
            "add-port",
            "br0",
            "x1",
            "--type",
            "tap",
            "--netns",
            "no-such-ns",
        ],
        vec!["add-port", "br0", "x2", "--type", "system"],
        vec!["add-port", "br0", "x3", "--type", "vxlan"],
        vec!["add-port", "br0", "x4", "--type", "bogus"],
        vec!["add-port", "nobr", "x5", "--type", "tap"],
        vec!["add-port", "br0", "x6", "--type", "patch"],
        vec![
            "add-port",
            "br0",
            "name-too-long-for-linux",
            "--type",
            "tap",
        ],
        vec!["add-br", "br0"],
        vec!["del-port", "br0", "nope"],
        vec!["dump-flows", "nobr"],
    ] {
        let r = lab.switch(H::H1, &args);
        assert!(!r.ok(), "{args:?} should fail");
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "{args:?}: one line:\n{}",
            r.stderr
        );
    }
    assert_eq!(config(&lab), before);
}

/// A `veth` port (issue 22): switchd makes the pair, the VM's end (the port's
/// name) in the VM's namespace with the port's MAC, the host's end (`qvo…`) in
/// the host's namespace, on the kernel fast path. It switches to a TAP VM (ping, a
/// TCP stream, super-frames both ways), survives a switchd restart, and goes
/// with its port.
#[test]
fn veth_ports_are_made_and_removed_by_the_switch() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "vet");
    lab.switchd_args.extend(["--fast-path".into(), "on".into()]);
    lab.start_switchd(H::H1);
    let h1 = lab.host(H::H1).ns.clone();
    let (p, uid) = (lab.prefix.clone(), lab.uid.clone());
    lab.switch_ok(H::H1, &["add-br", "br0"]);
    let (va, vd) = (format!("{p}va"), format!("{p}vd"));
    lab.add_ns(&va);
    lab.add_ns(&vd);
    let vm_d = Vm {
        host: H::H1,
        ns: vd.clone(),
        tap: format!("tap{uid}d"),
        ip: "10.1.0.4",
        mac: "fa:16:3e:00:01:04",
        tag: 0,
    };
    let vm_a = tap_vm_a(&mut lab, &va);
    // Refused: a veth port without a namespace.
    assert!(
        !lab.switch(H::H1, &["add-port", "br0", "tapx", "--type", "veth"])
            .ok()
    );
    lab.switch_ok(
        H::H1,
        &[
            "add-port", "br0", &vm_d.tap, "--type", "veth", "--netns", &vd, "--mac", vm_d.mac,
        ],
    );
    lab.wait_vm_nic(&vm_d, Duration::from_secs(5));
    lab.configure_vm_ip(&vm_d);
    let host_end = format!("qvo{uid}d");
    let links = ip(&["-n", &h1, "-o", "link", "show"]);
    assert!(links.contains(&format!("{host_end}@")), "{links}");
    let show = lab.switch_ok(H::H1, &["show"]);
    assert!(show.contains("type: veth"), "{show}");
    // Which path carries the traffic (issue 22): the veth port is on the kernel
    // fast path (what goes to the TAP VM still crosses switchd).
    assert!(show.contains("datapath: kernel fast path"), "{show}");

    lab.wait_ping(&vm_a, vm_d.ip, PING_WITHIN);
    lab.wait_ping(&vm_d, vm_a.ip, PING_WITHIN);
    lab.tcp_transfer(&vm_a, &vm_d, 20);
    lab.tcp_transfer(&vm_d, &vm_a, 20);

    // A restart takes the pair as it is.
    lab.kill_switchd(H::H1);
    lab.start_switchd(H::H1);
    lab.wait_ping(&vm_a, vm_d.ip, PING_WITHIN);

    lab.switch_ok(H::H1, &["del-port", "br0", &vm_d.tap]);
    let links = ip(&["-n", &h1, "-o", "link", "show"]);
    assert!(!links.contains(&host_end), "host end left: {links}");
    let inside = ip(&["-n", &vd, "-o", "link", "show"]);
    assert!(!inside.contains(&vm_d.tap), "VM end left: {inside}");
}
