//! switchd's datapath allocates nothing and logs nothing per packet: two hosts over
//! a tunnel, warmed up, then a ping flood (small frames, one per batch or so), TCP
//! streams both ways (super-frames, segments, coalescing, ACKs) and a UDP flood,
//! while the heap's allocation count (the memory line of `switch show`, counted by
//! the binary's allocator) may only move by what the control requests of the test
//! itself cost, and the log grows by at most a few lines (10 allowed: not one per
//! packet). Over VXLAN and GRE. Needs root (fails instead of skipping when CI=true).

mod common;

use common::*;
use std::time::Duration;

/// Allocations the test's own control requests may cost per host (`show` and
/// `dump-ports` build their answers on the heap): about 60-100 measured.
const CONTROL_SLACK: u64 = 500;

fn flood(lab: &TwoHosts, from: &Vm, to: &Vm) {
    let r = run(
        "ip",
        &[
            "netns", "exec", &from.ns, "ping", "-f", "-c", "4000", "-W", "1", to.ip,
        ],
        None,
        Duration::from_secs(60),
    );
    assert!(
        r.ok(),
        "ping flood {} -> {}: {}",
        from.ns,
        to.ip,
        r.describe()
    );
    // UDP: 200-byte datagrams, a millisecond's burst at a time.
    let (sent, received) = lab.udp_flood(from, to, 200, "20M", 2);
    assert!(
        received * 2 > sent,
        "UDP {} -> {}: {received} of {sent} arrived\n{}",
        from.ns,
        to.ip,
        lab.diag()
    );
}

fn no_allocation_per_packet(tag: &str, t: Tunnel) {
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, tag, t);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);
    // Warm up: buffers, caches and learned state are made on first use.
    lab.tcp_transfer(&vm1, &vm2, 8);
    flood(&lab, &vm1, &vm2);

    let frames = |vm: &Vm| {
        let (rx, tx) = lab.port_counts(vm.host, "br-int", &vm.tap);
        rx + tx
    };
    let logs_before = [lab.log_lines(H::H1), lab.log_lines(H::H2)];
    let before = [lab.heap(H::H1), lab.heap(H::H2)];
    let frames_before = [frames(&vm1), frames(&vm2)];

    lab.tcp_transfer(&vm1, &vm2, 40);
    flood(&lab, &vm1, &vm2);
    flood(&lab, &vm2, &vm1);

    let frames_after = [frames(&vm1), frames(&vm2)];
    let after = [lab.heap(H::H1), lab.heap(H::H2)];
    let logs_after = [lab.log_lines(H::H1), lab.log_lines(H::H2)];
    for (i, h) in [H::H1, H::H2].into_iter().enumerate() {
        let allocations = after[i].0 - before[i].0;
        let frames = frames_after[i] - frames_before[i];
        eprintln!(
            "{h:?}: {frames} frames through the VM's port, {allocations} allocations, \
             heap {} -> {} bytes",
            before[i].1, after[i].1
        );
        assert!(
            frames > 10_000,
            "too little traffic to judge: {frames} frames"
        );
        assert!(
            allocations < CONTROL_SLACK + frames / 1000,
            "{h:?}: {allocations} allocations for {frames} frames: the datapath allocates \
             per packet (or per batch)\n{}",
            lab.diag()
        );
        assert!(
            logs_after[i] <= logs_before[i] + 10,
            "{h:?}: switchd logged {} lines during the traffic\n{}",
            logs_after[i] - logs_before[i],
            lab.diag()
        );
    }
}

#[test]
fn vxlan_datapath_does_not_allocate_per_packet() {
    if !lab_available() {
        return;
    }
    no_allocation_per_packet("hpv", Tunnel::Vxlan);
}

#[test]
fn gre_datapath_does_not_allocate_per_packet() {
    if !lab_available() {
        return;
    }
    no_allocation_per_packet("hpg", Tunnel::Gre);
}
