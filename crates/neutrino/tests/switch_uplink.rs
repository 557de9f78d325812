//! VXLAN TCP super-frames through the uplink TAP (issue 5): with IPv4 forwarding on
//! in the host namespaces, switchd hands super-frames to the kernel's GSO over UDP
//! tunnels (Linux 6.17+). Checked: byte-exact TCP streams both ways with the
//! super-frames crossing whole (never segmented on the veth underlay); the same when
//! the underlay must segment and checksum in software (offloads off, as on a real
//! wire) — the receiver's kernel and switchd find no bad outer or inner checksum; and
//! a Linux vxlan device as the far end takes the super-frames too; and the uplink
//! follows IPv4 forwarding going off and on. On kernels before 6.17 there is no
//! uplink to test: these tests say so and pass.

mod common;

use common::*;
use std::time::Duration;

fn forwarding_lab(tag: &str) -> (TwoHosts, Vm, Vm) {
    let mut lab = TwoHosts::new(BIN, tag);
    // The uplink is the user-space path's: with the fast path, VXLAN arrives
    // through the kernel's device instead of switchd's socket.
    lab.switchd_args
        .extend(["--fast-path".into(), "off".into()]);
    for h in [H::H1, H::H2] {
        let ns = lab.host(h).ns.clone();
        set_ip_forward(&ns, true);
    }
    let (vm1, vm2) = lab.add_two_vms(Tunnel::Vxlan);
    (lab, vm1, vm2)
}

/// The lab can run (root; not being root fails under CI=true) and the kernel has the uplink.
fn uplink_testable() -> bool {
    if !lab_available() {
        return false;
    }
    // TAP GSO over UDP tunnels came with Linux 6.17.
    if !kernel_at_least(6, 17) {
        eprintln!("kernel older than 6.17: no TAP GSO over UDP tunnels, nothing to test");
        return false;
    }
    true
}

/// `vxlan uplink: ... N super-frames sent, E errors, R received whole` from `switch show`.
fn uplink_counters(lab: &TwoHosts, h: H) -> Option<(u64, u64, u64)> {
    let nums = lab.show_numbers(h, "vxlan uplink:")?;
    // The numbers after the device name's digits: sent, errors, received.
    let n = nums.len();
    (n >= 3).then(|| (nums[n - 3], nums[n - 2], nums[n - 1]))
}

/// The "N with a bad inner checksum" count of `switch show` (0 when not shown).
fn bad_inner_checksums(show: &str) -> u64 {
    let Some(line) = show
        .lines()
        .find(|l| l.starts_with("tunnel packets dropped:"))
    else {
        return 0;
    };
    let before = line
        .split(" with a bad inner checksum")
        .next()
        .unwrap_or("");
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|p| !p.is_empty())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn snmp_udp_csum_errors(ns: &str) -> u64 {
    let out = ip(&["netns", "exec", ns, "cat", "/proc/net/snmp"]);
    let udp: Vec<&str> = out.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (Some(names), Some(values)) = (udp.first(), udp.get(1)) else {
        panic!("no Udp lines in /proc/net/snmp:\n{out}");
    };
    let i = names
        .split_whitespace()
        .position(|n| n == "InCsumErrors")
        .expect("InCsumErrors column");
    values
        .split_whitespace()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn bad_inner_checksum_count_is_read_from_show() {
    let show = "tunnel packets dropped: 3 malformed, 4 for no port, 0 with a bad inner checksum";
    assert_eq!(bad_inner_checksums(show), 0);
    let show =
        "x\ntunnel packets dropped: 0 malformed, 0 for no port, 12 with a bad inner checksum";
    assert_eq!(bad_inner_checksums(show), 12);
    assert_eq!(bad_inner_checksums("nothing dropped"), 0);
}

#[test]
fn super_frames_cross_whole_and_intact() {
    if !uplink_testable() {
        return;
    }
    let (lab, vm1, vm2) = forwarding_lab("ul");
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.checked_stream(&vm1, &vm2, 64);
    lab.checked_stream(&vm2, &vm1, 64);
    let (sent1, err1, whole1) = uplink_counters(&lab, H::H1).expect("uplink active on H1");
    let (sent2, err2, whole2) = uplink_counters(&lab, H::H2).expect("uplink active on H2");
    assert!(
        sent1 > 100 && sent2 > 100,
        "super-frames sent: {sent1}, {sent2}"
    );
    assert_eq!((err1, err2), (0, 0), "uplink write errors");
    assert!(
        whole1 > 100 && whole2 > 100,
        "super-frames must arrive whole over a veth: {whole1}, {whole2}"
    );

    // Forwarding off on H1: its uplink closes (the kernel would drop what it takes
    // in) and traffic goes on in software; back on: the uplink is used again.
    let h1 = lab.host(H::H1).ns.clone();
    set_ip_forward(&h1, false);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        uplink_counters(&lab, H::H1).is_none(),
        "uplink still active without forwarding"
    );
    lab.checked_stream(&vm1, &vm2, 16);
    set_ip_forward(&h1, true);
    std::thread::sleep(Duration::from_secs(2));
    lab.checked_stream(&vm1, &vm2, 16);
    let (again, err, _) = uplink_counters(&lab, H::H1).expect("uplink active again on H1");
    assert!(
        again > sent1 + 50 && err == 0,
        "after forwarding came back: {again} vs {sent1}"
    );
}

#[test]
fn software_segmented_super_frames_carry_valid_checksums() {
    if !uplink_testable() {
        return;
    }
    require_tool("ethtool", "ethtool");
    let (lab, vm1, vm2) = forwarding_lab("us");
    // As on a wire: H1's underlay segments and checksums everything in software.
    let u1 = format!("{}u1", lab.prefix);
    let h1 = lab.host(H::H1).ns.clone();
    let h2 = lab.host(H::H2).ns.clone();
    ip(&[
        "netns", "exec", &h1, "ethtool", "-K", &u1, "tx", "off", "sg", "off", "tso", "off", "gso",
        "off",
    ]);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    let before = snmp_udp_csum_errors(&h2);
    lab.checked_stream(&vm1, &vm2, 32);
    assert_eq!(
        snmp_udp_csum_errors(&h2),
        before,
        "outer UDP checksums wrong"
    );
    let (sent, err, _) = uplink_counters(&lab, H::H1).expect("uplink active on H1");
    assert!(
        sent > 50 && err == 0,
        "super-frames sent {sent}, errors {err}"
    );
    let (_, _, whole) = uplink_counters(&lab, H::H2).expect("uplink active on H2");
    assert_eq!(whole, 0, "segmented on the way: nothing arrives whole");
    let show = lab.switch_ok(H::H2, &["show"]);
    assert_eq!(
        bad_inner_checksums(&show),
        0,
        "inner checksums wrong:\n{show}"
    );
}

#[test]
fn a_linux_vxlan_peer_takes_the_super_frames() {
    if !uplink_testable() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "uk");
    let h1 = lab.host(H::H1).ns.clone();
    set_ip_forward(&h1, true);
    lab.setup_switch_host(H::H1, Tunnel::Vxlan, &[NET1]);
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    lab.attach_vm(&vm1);
    let vm2 = lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    lab.attach_kernel_vxlan_vm(&vm2, NET1.key);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    lab.checked_stream(&vm1, &vm2, 32);
    lab.checked_stream(&vm2, &vm1, 32);
    let (sent, err, _) = uplink_counters(&lab, H::H1).expect("uplink active on H1");
    assert!(
        sent > 50 && err == 0,
        "super-frames sent {sent}, errors {err}"
    );
}

/// Turns IPv4 forwarding in namespace `ns` on or off (the uplink follows it).
fn set_ip_forward(ns: &str, on: bool) {
    let value = format!("net.ipv4.ip_forward={}", u8::from(on));
    ip(&["netns", "exec", ns, "sysctl", "-qw", &value]);
}
