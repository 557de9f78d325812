//! A VLAN provider network with the offloads on: on each of two hosts a VM on a TAP
//! port of br-int (local VLAN 1) and Neutron's int-br-eth1/phy-br-eth1 patch pair
//! mapping local VLAN 1 to provider VLAN 100 on br-eth1, whose `system` port
//! (AF_PACKET with virtio-net headers) is one end of a veth "wire" between the
//! hosts. br-int takes only frames tagged 100 from the wire (priority 2 drops the
//! rest), so traffic that arrives proves the tag crossed. Both ways: ping,
//! fragmented ping, IPv6, and TCP streams whose bytes are checked end to end
//! (super-frames leave br-eth1 tagged; the receiving kernel moves the tag into the
//! packet metadata and switchd puts it back in front of the headers, moving the
//! virtio-net offsets with it; with the kernel fast path, its program does that
//! for the frames it sends up, and never installs a tagged frame). The far end is a second switchd rather than a
//! Linux VLAN device, which kernels without the 8021q module (like this lab's)
//! cannot make. Needs root (fails instead of skipping when CI=true).

mod common;

use common::*;

const PROVIDER_VLAN: &str = "100";

/// Neutron's OVS agent flows for one VLAN network (segmentation id 100, local VLAN
/// 1) on br-int and br-eth1, NORMAL switching otherwise.
fn vlan_network_flows() -> [(&'static str, String); 2] {
    let int = [
        format!(
            "table=0,priority=3,in_port=int-br-eth1,dl_vlan={PROVIDER_VLAN},actions=mod_vlan_vid:1,resubmit(,60)"
        ),
        "table=0,priority=2,in_port=int-br-eth1,actions=drop".into(),
        "table=0,priority=0,actions=resubmit(,60)".into(),
        "table=60,priority=3,actions=NORMAL".into(),
    ];
    let eth = [
        format!(
            "table=0,priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=mod_vlan_vid:{PROVIDER_VLAN},NORMAL"
        ),
        "table=0,priority=2,in_port=phy-br-eth1,actions=drop".into(),
        "table=0,priority=0,actions=NORMAL".into(),
    ];
    [("br-int", int.join("\n")), ("br-eth1", eth.join("\n"))]
}

/// switchd on host `h` with br-int, br-eth1, the patch pair and the flows (the
/// wire's port is added by the caller).
fn setup_vlan_host(lab: &mut TwoHosts, h: H) {
    lab.start_switchd(h);
    lab.switch_ok(h, &["add-br", "br-int"]);
    lab.switch_ok(h, &["add-br", "br-eth1"]);
    lab.switch_ok(
        h,
        &[
            "add-port",
            "br-int",
            "int-br-eth1",
            "--type",
            "patch",
            "--peer",
            "phy-br-eth1",
        ],
    );
    lab.switch_ok(
        h,
        &[
            "add-port",
            "br-eth1",
            "phy-br-eth1",
            "--type",
            "patch",
            "--peer",
            "int-br-eth1",
        ],
    );
    for (br, flows) in vlan_network_flows() {
        let r = lab.switch_stdin(h, &["replace-flows", br, "-"], &flows);
        assert!(r.ok(), "replace-flows {br}: {}", r.describe());
    }
}

#[test]
fn vlan_provider_network_carries_tagged_super_frames_both_ways() {
    if !lab_available() {
        return;
    }
    provider_vlan("vln", "tap");
}

/// The same with the VMs on veth ports: with the kernel fast path on (the
/// default), after a flow's first packet the kernel tags a VM's frames and sends
/// them out of the wire, and takes the tag off the wire's frames and hands them
/// into the VM's namespace.
#[test]
fn vlan_provider_network_on_veth_ports() {
    if !lab_available() {
        return;
    }
    provider_vlan("vlv", "veth");
}

/// Two hosts with the provider VLAN network and a VM on each, on ports of
/// `kind` (`tap` or `veth`), and the traffic both ways.
fn provider_vlan(tag: &str, kind: &str) {
    let mut lab = TwoHosts::new(BIN, tag);
    setup_vlan_host(&mut lab, H::H1);
    setup_vlan_host(&mut lab, H::H2);
    let (h1, h2) = (lab.host(H::H1).ns.clone(), lab.host(H::H2).ns.clone());
    let uid = lab.uid.clone();

    // The wire between the two br-eth1 bridges.
    let (w1, w2) = (format!("w{uid}a"), format!("w{uid}b"));
    ip(&[
        "-n", &h1, "link", "add", &w1, "type", "veth", "peer", "name", &w2, "netns", &h2,
    ]);
    for (ns, dev) in [(&h1, &w1), (&h2, &w2)] {
        ip(&["-n", ns, "link", "set", "dev", dev, "up"]);
    }
    lab.switch_ok(H::H1, &["add-port", "br-eth1", &w1, "--type", "system"]);
    lab.switch_ok(H::H2, &["add-port", "br-eth1", &w2, "--type", "system"]);

    let vm1 = lab.vm(H::H1, 1, "10.2.0.1", "fa:16:3e:00:02:01", 1);
    let vm2 = lab.vm(H::H2, 2, "10.2.0.2", "fa:16:3e:00:02:02", 1);
    for vm in [&vm1, &vm2] {
        if let Err(e) = lab.try_attach_vm_as(vm, kind) {
            panic!("{e}");
        }
    }
    for (vm, addr) in [(&vm1, "fd00:2::1/64"), (&vm2, "fd00:2::2/64")] {
        ip(&["-n", &vm.ns, "addr", "add", addr, "dev", &vm.tap, "nodad"]);
    }

    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    // Fragments: 3000-byte echoes leave in three pieces each way.
    for (from, to) in [(&vm1, vm2.ip), (&vm2, vm1.ip)] {
        let r = lab.ping_with(from, to, 3, &["-W", "2", "-s", "3000", "-M", "dont"]);
        assert!(
            r.ok(),
            "fragmented ping {} -> {to}: {}",
            from.ns,
            r.describe()
        );
    }
    for (from, to) in [(&vm1, "fd00:2::2"), (&vm2, "fd00:2::1")] {
        lab.wait_ping_with(from, to, &["-6", "-s", "2000"], PING_WITHIN);
    }

    lab.checked_stream(&vm1, &vm2, 48);
    lab.checked_stream(&vm2, &vm1, 48);
    // Super-frames, not MTU-sized segments, left and entered through the wire.
    for (h, wire) in [(H::H1, &w1), (H::H2, &w2)] {
        for (dir, (pkts, bytes)) in ["rx", "tx"].iter().zip(lab.port_stats(h, "br-eth1", wire)) {
            assert!(
                pkts > 0 && bytes / pkts > 3000,
                "{h:?} {wire} {dir}: {bytes} bytes in {pkts} frames: super-frames should cross whole"
            );
        }
    }

    for (h, wire, peer_mac) in [(H::H1, &w1, vm2.mac), (H::H2, &w2, vm1.mac)] {
        // The far VM's MAC sits behind the wire in the provider VLAN on br-eth1, and
        // frames from the wire took br-int's provider-VLAN flow.
        let fdb = lab.switch_ok(h, &["fdb-show", "br-eth1"]);
        assert!(
            fdb.lines().any(|l| l.contains(peer_mac)
                && l.contains(wire.as_str())
                && l.split_whitespace().any(|w| w == PROVIDER_VLAN)),
            "{peer_mac} behind {wire} in VLAN {PROVIDER_VLAN}:\n{fdb}"
        );
        // With the kernel fast path (the default) the wire is one of its ports.
        // VMs on TAPs in their namespaces stay in user space, so nothing from
        // the wire is installed (its tagged frames went up with their tag put
        // back in front of the headers); VMs on veths take the kernel both ways.
        let dp = lab.switch_ok(h, &["dump-datapath"]);
        let fast = std::env::var("NEUTRINO_FAST_PATH").map_or(true, |v| v != "off");
        assert_eq!(dp.starts_with("kernel fast path:"), fast, "{dp}");
        assert!(
            dp.lines()
                .next()
                .unwrap_or_default()
                .contains("failed upcalls:0,")
                || !fast,
            "{dp}"
        );
        let from_wire: Vec<&str> = dp
            .lines()
            .filter(|l| l.starts_with(&format!("in_port({wire})")))
            .collect();
        if fast && kind == "veth" {
            let vm = if h == H::H1 { &vm1 } else { &vm2 };
            let vm_end = format!("qvo{}", vm.tap.trim_start_matches("tap"));
            let untag = format!(",vlan(vid={PROVIDER_VLAN},pcp=0),");
            let into_vm = format!("actions:pop_vlan,peer({vm_end})");
            assert!(
                from_wire
                    .iter()
                    .any(|l| l.contains(&untag) && l.ends_with(&into_vm) && packets(l) > 0),
                "no kernel entry untagging the wire's frames into {vm_end}:\n{dp}"
            );
            let tag_out = format!("actions:push_vlan(vid={PROVIDER_VLAN},pcp=0),redirect({wire})");
            assert!(
                dp.lines()
                    .any(|l| l.starts_with(&format!("in_port({vm_end})"))
                        && !l.contains(",vlan(")
                        && l.ends_with(&tag_out)
                        && packets(l) > 0),
                "no kernel entry tagging {vm_end}'s frames onto the wire:\n{dp}"
            );
        } else {
            assert!(from_wire.is_empty(), "{dp}");
        }
        let flows = lab.switch_ok(h, &["dump-flows", "br-int"]);
        let from_wire = flows
            .lines()
            .find(|l| l.contains(&format!("dl_vlan={PROVIDER_VLAN}")))
            .unwrap_or_default();
        assert!(
            from_wire.contains("n_packets=") && !from_wire.contains("n_packets=0,"),
            "frames from the wire should hit the provider-VLAN flow:\n{flows}"
        );
    }
}

/// The `packets:` count of a `dump-datapath` line.
fn packets(line: &str) -> u64 {
    line.split("packets:")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
