//! Issue 19's datapath limits on real devices (root, namespaces only): a VM that
//! hands its TAP a super-frame no real stack sends (TCP segments of one byte) gets
//! it dropped whole at the port and counted, not cut into 60,000 packets; and
//! spoofed source MACs through the tunnel fill br-tun's learned flows only up to
//! switchd's `--learned-flow-limit`, the oldest evicted, while traffic still flows.
//!
//! The frames are written by Python's AF_PACKET sockets inside the VM namespaces
//! (with PACKET_VNET_HDR for the super-frame, so the kernel passes the virtio-net
//! header on to the TAP as a guest's would be).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// Runs Python `code` inside namespace `ns` with `args`; fails the test on error.
fn python_in(ns: &str, code: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", code])
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends COUNT TCPv4 super-frames of 60,054 bytes with segments of one byte, to
/// an unknown unicast MAC, out of IFACE: the issue's reproducer.
const SUPER_FRAMES: &str = r#"
import socket, struct, sys
iface, src_mac, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.bind((iface, 0))
payload = b'x' * 60000
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + 20 + len(payload), 1, 0, 64, 6, 0,
                 socket.inet_aton('10.0.0.2'), socket.inet_aton('10.0.0.99'))
csum = sum(struct.unpack('!10H', ip))
while csum >> 16:
    csum = (csum & 0xffff) + (csum >> 16)
ip = ip[:10] + struct.pack('!H', ~csum & 0xffff) + ip[12:]
tcp = struct.pack('!HHIIBBHHH', 40000, 5001, 1, 0, 5 << 4, 0x10, 65535, 0, 0)
eth = bytes.fromhex('fa163e999999') + src_mac + b'\x08\x00'
# virtio_net_hdr: NEEDS_CSUM, GSO_TCPV4, hdr_len 54, gso_size 1, csum at 34+16.
vnet = struct.pack('<BBHHHH', 1, 1, 54, 1, 34, 16)
for _ in range(count):
    s.send(vnet + eth + ip + tcp + payload)
"#;

/// Sends COUNT broadcast frames, each from another locally administered source
/// MAC, out of IFACE, paced so the TAP's queue (500 frames) does not drop them.
const SPOOFED_MACS: &str = r#"
import socket, struct, sys, time
iface, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(count):
    src = b'\x02\x99' + struct.pack('!I', i)
    s.send(b'\xff' * 6 + src + b'\x88\xb5' + b'spoof' * 10)
    if i % 50 == 49:
        time.sleep(0.005)  # within the TAP's queue
"#;

/// (rx dropped) of `port` on br-int of host `h`, from `dump-ports`.
fn rx_dropped(lab: &TwoHosts, h: H, port: &str) -> u64 {
    let dump = lab.switch_ok(h, &["dump-ports", "br-int"]);
    dump.lines()
        .skip_while(|l| !l.trim_end().ends_with(&format!(" {port}:")))
        .nth(1)
        .and_then(|l| l.split(" drop=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rx drop counter for {port}:\n{dump}"))
}

#[test]
fn implausible_super_frames_are_dropped_at_the_port() {
    if !lab_available() {
        return;
    }
    require_tool("python3", "python3");
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "gso", Tunnel::Vxlan);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    let tun = lab.tunnel_port(H::H1, Tunnel::Vxlan);
    let dropped = rx_dropped(&lab, H::H1, &vm1.tap);
    let (_, tun_tx) = lab.port_counts(H::H1, "br-tun", &tun);

    python_in(&vm1.ns, SUPER_FRAMES, &[&vm1.tap, vm1.mac, "20"]);

    let mut now = dropped;
    for _ in 0..50 {
        now = rx_dropped(&lab, H::H1, &vm1.tap);
        if now >= dropped + 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        now - dropped,
        20,
        "each super-frame dropped whole and counted"
    );
    // Cut up, each would have been 60,000 packets into the tunnel.
    let (_, tun_tx_after) = lab.port_counts(H::H1, "br-tun", &tun);
    assert!(
        tun_tx_after - tun_tx < 1000,
        "{} packets went into the tunnel",
        tun_tx_after - tun_tx
    );
    // The switch carries on at once.
    lab.wait_ping(&vm1, vm2.ip, Duration::from_secs(3));
    lab.tcp_transfer(&vm1, &vm2, 5);
}

#[test]
fn learned_flows_stop_at_the_limit() {
    if !lab_available() {
        return;
    }
    require_tool("python3", "python3");
    let mut lab = TwoHosts::new(BIN, "lrn");
    lab.start_switchd_with(H::H1, &["--learned-flow-limit", "500"]);
    lab.wire_neutron_host(H::H1, Tunnel::Vxlan, &[NET1])
        .unwrap_or_else(|e| panic!("{e}"));
    lab.setup_switch_host(H::H2, Tunnel::Vxlan, &[NET1]);
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    let vm2 = lab.vm(H::H2, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    lab.attach_vm(&vm1);
    lab.attach_vm(&vm2);
    lab.wait_ping(&vm2, vm1.ip, PING_WITHIN);

    // 3,000 source MACs from vm2, flooded through the tunnel to H1, whose br-tun
    // learns each into table 20.
    python_in(&vm2.ns, SPOOFED_MACS, &[&vm2.tap, "3000"]);
    let mut nums = Vec::new();
    for _ in 0..50 {
        nums = lab
            .show_numbers(H::H1, "learned flows: ")
            .unwrap_or_default();
        if nums.get(2).is_some_and(|e| *e >= 2000) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let [flows, limit, evicted] = nums[..] else {
        panic!(
            "no learned-flows line: {:?}\n{}",
            nums,
            lab.switch_ok(H::H1, &["show"])
        );
    };
    assert_eq!(limit, 500);
    assert!(flows <= 500, "{flows} learned flows over the limit");
    assert!(evicted >= 2000, "only {evicted} evicted");
    let table20 = lab
        .switch_ok(H::H1, &["dump-flows", "br-tun"])
        .lines()
        .filter(|l| l.contains("table=20,") && l.contains("dl_dst=02:99"))
        .count();
    assert!(
        (100..=500).contains(&table20),
        "{table20} spoofed MACs' flows in table 20"
    );
    // Traffic between the real VMs still flows (vm2's MAC re-learned).
    lab.wait_ping(&vm1, vm2.ip, Duration::from_secs(5));
    lab.wait_ping(&vm2, vm1.ip, Duration::from_secs(5));
}
