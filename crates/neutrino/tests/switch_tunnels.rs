//! Integration tests of the switch over tunnels: two hypervisors (network
//! namespaces) running `neutrino switchd` with Neutron's br-int/br-tun layout,
//! VMs as namespaces behind TAP ports. Needs root; skipped otherwise (fails
//! instead when CI=true). See tests/common/mod.rs for the lab.
//!
//!     sudo -E cargo test -p neutrino --test switch_tunnels -- --nocapture

mod common;

use common::*;
use std::time::Duration;

/// (1) vm1 (H1) <-> vm2 (H2) over VXLAN.
#[test]
fn vxlan_ping() {
    if !lab_available() {
        return;
    }
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "vx", Tunnel::Vxlan);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    lab.tcp_transfer(&vm1, &vm2, 50);
    small_packets_arrive(&lab, &vm1, &vm2, true);
}

/// (2) Same over GRE (classifier table 3).
#[test]
fn gre_ping() {
    if !lab_available() {
        return;
    }
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "gre", Tunnel::Gre);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    lab.tcp_transfer(&vm1, &vm2, 20);
}

/// (2b) Same over Geneve (RFC 8926, UDP 6081; classifier table 6), which stays
/// on the user-space path: super-frames cut in software, checksums zero.
#[test]
fn geneve_ping() {
    if !lab_available() {
        return;
    }
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "gen", Tunnel::Geneve);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    lab.checked_stream(&vm1, &vm2, 20);
    lab.checked_stream(&vm2, &vm1, 20);
    let show = lab.switch_ok(H::H1, &["show"]);
    assert!(show.contains("type: geneve"), "{show}");
}

/// (3) Two networks with the same addresses on the same hosts (VNI 0x64 on
/// local VLAN 1, VNI 0x65 on local VLAN 2) do not see each other.
#[test]
fn networks_isolated() {
    if !lab_available() {
        return;
    }
    let t = Tunnel::Vxlan;
    let mut lab = TwoHosts::new(BIN, "iso");
    for h in [H::H1, H::H2] {
        lab.setup_switch_host(h, t, &[NET1]);
        let port = lab.tunnel_port(h, t);
        for flow in net_flows(t, &port, NET2) {
            lab.switch_ok(h, &["add-flow", "br-tun", &flow]);
        }
    }
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    let vm2 = lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    let vm3 = lab.vm(H::H1, 3, "10.0.0.2", "fa:16:3e:00:01:02", 2);
    let vm4 = lab.vm(H::H2, 4, "10.0.0.4", "fa:16:3e:00:01:04", 2);
    for vm in [&vm1, &vm2, &vm3, &vm4] {
        lab.attach_vm(vm);
    }

    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm3, vm4.ip, PING_WITHIN);

    // Each network's ARP is answered by its own VM only.
    for (from, to) in [(&vm1, &vm2), (&vm3, &vm4)] {
        lab.flush_neigh(from);
        lab.wait_ping(from, to.ip, PING_WITHIN);
        let mac = lab.neigh_mac(from, to.ip);
        assert_eq!(
            mac.as_deref(),
            Some(to.mac),
            "{} resolved {} to {mac:?}, expected {}'s MAC {} (cross-network leak?)\n{}",
            from.ns,
            to.ip,
            to.ns,
            to.mac,
            lab.diag()
        );
    }

    // vm2 down: vm1 must not reach 10.0.0.4 at all (vm4 has it on network 2).
    ip(&["-n", &vm2.ns, "link", "set", "dev", &vm2.tap, "down"]);
    lab.flush_neigh(&vm1);
    let r = lab.ping(&vm1, "10.0.0.4", 2);
    assert!(
        !r.ok(),
        "vm1 (VLAN 1 / VNI 0x64) reached 10.0.0.4 with vm2 down: vm4 (VLAN 2 / VNI 0x65) answered?\n{}\n{}",
        r.describe(),
        lab.diag()
    );

    // And the other way round: vm4 down, vm3 must not reach vm2.
    ip(&["-n", &vm2.ns, "link", "set", "dev", &vm2.tap, "up"]);
    ip(&["-n", &vm4.ns, "link", "set", "dev", &vm4.tap, "down"]);
    lab.flush_neigh(&vm3);
    let r = lab.ping(&vm3, "10.0.0.4", 2);
    assert!(
        !r.ok(),
        "vm3 (VLAN 2 / VNI 0x65) reached 10.0.0.4 with vm4 down: vm2 (VLAN 1 / VNI 0x64) answered?\n{}\n{}",
        r.describe(),
        lab.diag()
    );
}

/// (4) H2 is a plain Linux hypervisor (kernel vxlan device + Linux bridge):
/// neutrino's VXLAN must interoperate on the wire.
#[test]
fn kernel_vxlan_interop() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "kvx");
    lab.setup_switch_host(H::H1, Tunnel::Vxlan, &[NET1]);
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    let vm2 = lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    lab.attach_vm(&vm1);
    lab.attach_kernel_vxlan_vm(&vm2, NET1.key);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    // TCP super-frames from vm1 are cut into segments the kernel's vxlan accepts,
    // and the kernel's segments are coalesced on the way back.
    lab.tcp_transfer(&vm1, &vm2, 50);
    small_packets_arrive(&lab, &vm1, &vm2, false);
}

/// Bursts of small UDP datagrams from `from` (on neutrino, H1; iperf3 sends a
/// millisecond's worth at a time) leave one by one with UDP checksum zero (the
/// kernel takes no UDP GSO from a socket that sends zero), and the far VM gets
/// most of them (a busy test machine may drop some). A neutrino far end
/// (`far_neutrino`) writes them into the VM's TAP merged.
fn small_packets_arrive(lab: &TwoHosts, from: &Vm, to: &Vm, far_neutrino: bool) {
    let (merged_before, _) = if far_neutrino {
        lab.udp_runs(H::H2)
    } else {
        (0, 0)
    };
    let (sent, received) = lab.udp_flood(from, to, 64, "20M", 2);
    eprintln!(
        "UDP flood {} -> {}: {received} of {sent} datagrams arrived",
        from.ns, to.ns,
    );
    if far_neutrino {
        let (merged, datagrams) = lab.udp_runs(H::H2);
        eprintln!(
            "  far end: {} runs into the TAP carried {datagrams}",
            merged - merged_before
        );
        // Linux 6.2 and later take UDP GSO from a TAP writer; before, no merging.
        assert!(
            merged > merged_before || !kernel_at_least(6, 2),
            "no UDP run into the far TAP\n{}",
            lab.diag()
        );
    }
    lab.assert_flood_arrived("UDP flood", sent, received);
}

/// (5) switchd killed and restarted on the same run dir gets its bridges,
/// ports and flows back from its state file; traffic resumes.
#[test]
fn switchd_restart() {
    if !lab_available() {
        return;
    }
    let (mut lab, vm1, vm2) = TwoHosts::two_vms(BIN, "rst", Tunnel::Vxlan);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);

    // Static tables (20 holds learned flows, which may or may not survive).
    let static_tables = ["0", "2", "3", "4", "10", "22"];
    let dump_static = |lab: &TwoHosts| -> Vec<String> {
        static_tables
            .iter()
            .flat_map(|t| {
                normalize_flows(&lab.switch_ok(H::H1, &["dump-flows", "br-tun", "--table", t]))
            })
            .collect()
    };
    let before = dump_static(&lab);

    let old_pid = lab.switchd_pid(H::H1);
    lab.kill_switchd(H::H1);
    lab.start_switchd(H::H1);
    assert_ne!(old_pid, lab.switchd_pid(H::H1));

    // The VM's NIC must be back in the VM namespace with its MAC. If switchd
    // re-created the TAP (rather than keeping a persistent one), the VM-side
    // IP config is gone with it: re-apply it, as a rebooted VM would.
    lab.wait_vm_nic(&vm1, Duration::from_secs(10));
    if lab.ensure_vm_ip(&vm1) {
        eprintln!(
            "note: {} was re-created by the restarted switchd; re-applied its IP config",
            vm1.tap
        );
    }
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);

    let tun = lab.tunnel_port(H::H1, Tunnel::Vxlan);
    let t22 = lab.switch_ok(H::H1, &["dump-flows", "br-tun", "--table", "22"]);
    assert!(
        t22.lines().any(|l| l.contains(&tun) && l.contains("0x64")),
        "after restart, dump-flows br-tun --table 22 lacks the flood flow to {tun}:\n{t22}"
    );
    let after = dump_static(&lab);
    assert_eq!(
        before, after,
        "br-tun flows changed across the switchd restart"
    );

    let show = lab.switch_ok(H::H1, &["show"]);
    for name in [
        "br-int",
        "br-tun",
        "patch-int",
        "patch-tun",
        tun.as_str(),
        vm1.tap.as_str(),
    ] {
        assert!(
            show.contains(name),
            "after restart, `switch show` lacks {name}:\n{show}"
        );
    }
}

/// (6) `switch trace` follows the packet across the patch into br-tun and
/// names the tables and the tunnel port: broadcast ARP -> table 22 flood,
/// learned unicast -> table 20.
#[test]
fn trace_names_table22() {
    if !lab_available() {
        return;
    }
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "trc", Tunnel::Vxlan);
    let tun = lab.tunnel_port(H::H1, Tunnel::Vxlan);

    let arp = format!(
        "in_port={},dl_src={},dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa={},arp_tpa={}",
        vm1.tap, vm1.mac, vm1.ip, vm2.ip
    );
    let out = lab.switch_ok(H::H1, &["trace", "br-int", &arp]);
    assert!(
        mentions_table(&out, 22),
        "broadcast trace should hit br-tun table 22:\n{out}"
    );
    assert!(
        out.contains(&tun),
        "broadcast trace should output to {tun}:\n{out}"
    );

    // Learn vm2's MAC (br-int NORMAL on patch-tun; br-tun table 20 via learn()).
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    let t20 = lab.switch_ok(H::H1, &["dump-flows", "br-tun", "--table", "20"]);
    assert!(
        t20.to_ascii_lowercase().contains(vm2.mac),
        "table 20 should hold a flow learned from {} after the ping:\n{t20}",
        vm2.mac
    );

    let unicast = format!(
        "in_port={},dl_src={},dl_dst={},icmp,nw_src={},nw_dst={}",
        vm1.tap, vm1.mac, vm2.mac, vm1.ip, vm2.ip
    );
    let out = lab.switch_ok(H::H1, &["trace", "br-int", &unicast]);
    assert!(
        mentions_table(&out, 20),
        "unicast trace should hit br-tun table 20:\n{out}"
    );
    assert!(
        out.contains(&tun),
        "unicast trace should output to {tun}:\n{out}"
    );
    assert!(
        !mentions_table(&out, 22),
        "learned unicast should not fall through to the table 22 flood:\n{out}"
    );
}

/// (7) A flow with an unknown action is rejected with a one-line error naming
/// it, and the table is unchanged.
#[test]
fn bad_flow_rejected() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "bad");
    lab.setup_switch_host(H::H1, Tunnel::Vxlan, &[NET1]);
    let before = normalize_flows(&lab.switch_ok(H::H1, &["dump-flows", "br-tun"]));
    assert!(
        before.len() >= 12,
        "expected the 12 br-tun flows:\n{before:#?}"
    );

    let r = lab.switch(
        H::H1,
        &[
            "add-flow",
            "br-tun",
            "table=0,priority=1,in_port=patch-int,actions=frobnicate",
        ],
    );
    assert!(
        !r.ok(),
        "a flow with action `frobnicate` must be rejected:\n{}",
        r.describe()
    );
    assert!(r.status.is_some(), "the CLI hung:\n{}", r.describe());
    let err = r.stderr.trim();
    assert_eq!(
        err.lines().count(),
        1,
        "error must be one line on stderr:\n{}",
        r.describe()
    );
    assert!(
        err.contains("frobnicate"),
        "error must name the bad action:\n{}",
        r.describe()
    );

    let after = normalize_flows(&lab.switch_ok(H::H1, &["dump-flows", "br-tun"]));
    assert_eq!(before, after, "a rejected add-flow changed br-tun's flows");
}

/// (0) The lab without neutrino: both hosts are plain Linux hypervisors
/// (kernel vxlan + bridge). If this fails, the machine (namespaces, veth,
/// vxlan module) is the problem, not the switch.
#[test]
fn lab_baseline_kernel_only() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "krn");
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    let vm2 = lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    lab.attach_kernel_vxlan_vm(&vm1, NET1.key);
    lab.attach_kernel_vxlan_vm(&vm2, NET1.key);
    lab.flush_neigh(&vm1);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    assert_eq!(lab.neigh_mac(&vm1, vm2.ip).as_deref(), Some(vm2.mac));
}

/// The helpers themselves (no root needed).
#[test]
fn helpers() {
    assert_eq!(ip_hex("192.168.100.2"), "c0a86402");
    assert_eq!(Tunnel::Gre.port_name("192.168.100.1"), "gre-c0a86401");
    assert!(mentions_table("bridge br-tun: Table 22, priority 1", 22));
    assert!(mentions_table(" 2. table=22, priority=1,dl_vlan=1", 22));
    assert!(mentions_table("table: 22", 22));
    assert!(!mentions_table("table=220 resubmit(,22)", 22));
    assert!(!mentions_table("table=2", 22));
    let a = normalize_flows(
        " cookie=0x0, duration=1.5s, table=22, n_packets=3, n_bytes=200, idle_age=1, priority=1,dl_vlan=1 actions=drop\n",
    );
    let b = normalize_flows(
        " cookie=0x0, duration=9.1s, table=22, n_packets=0, n_bytes=0, priority=1,dl_vlan=1 actions=drop\n",
    );
    assert_eq!(a, b);
    let flows = br_tun_flows(Tunnel::Vxlan, "vxlan-c0a86402", &[NET1]);
    assert_eq!(flows.lines().count(), 12);
    assert!(
        flows.contains("table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)\n")
    );
    assert!(flows.contains(
        "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86402\n"
    ));
    let gre = br_tun_flows(Tunnel::Gre, "gre-c0a86402", &[NET1]);
    assert!(gre.contains("table=0,priority=1,in_port=gre-c0a86402,actions=resubmit(,3)\n"));
    assert!(gre.contains("table=3,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)\n"));
}
