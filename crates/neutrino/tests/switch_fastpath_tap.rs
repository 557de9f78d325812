//! The kernel fast path with a TAP left in the host's namespace, as libvirt and
//! QEMU make them (issue 22): the hypervisor holds the TAP's file descriptor, the
//! switch attaches the TAP's netdev as a `system` port (as `ovs-vsctl add-port
//! br-int tapX` does), and the kernel carries a flow's packets between it and a
//! veth VM after the first one: out of the TAP straight into the VM's namespace,
//! and into the TAP (to the hypervisor's reader) straight from the VM's veth.
//! QEMU is stood in for by a small Python program that owns the TAP's fd and
//! speaks ARP and ICMP echo through it. Needs root (fails instead of skipping
//! when CI=true).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// Opens TAP argv[1] (no packet info, as QEMU without vnet headers), says
/// "open", waits for a line on stdin, then from MAC argv[2] / IP argv[3]
/// resolves argv[4] by ARP and sends argv[5] echo requests 50 ms apart,
/// answering ARP for itself; prints "replies N".
const HYPERVISOR: &str = r#"
import fcntl, os, select, struct, sys, time
name, mac, ip, peer, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', name.encode(), 0x0002 | 0x1000))
print('open', flush=True)
sys.stdin.readline()
me = bytes.fromhex(mac.replace(':', ''))
mine = bytes(map(int, ip.split('.')))
theirs = bytes(map(int, peer.split('.')))
def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
def arp(op, dst_mac, tha, tpa):
    return (dst_mac + me + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, op)
            + me + mine + tha + tpa)
def frames(wait):
    end = time.time() + wait
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        f = os.read(fd, 65536)
        if f[12:14] == b'\x08\x06' and f[20:22] == b'\x00\x01' and f[38:42] == mine:
            os.write(fd, arp(2, f[6:12], f[22:28], f[28:32]))
            continue
        yield f
peer_mac = None
for _ in range(50):
    os.write(fd, arp(1, b'\xff' * 6, b'\0' * 6, theirs))
    for f in frames(0.2):
        if f[12:14] == b'\x08\x06' and f[20:22] == b'\x00\x02' and f[28:32] == theirs:
            peer_mac = f[6:12]
            break
    if peer_mac:
        break
if not peer_mac:
    print('no ARP answer from', peer, flush=True)
    sys.exit(1)
replies = set()
for seq in range(count):
    icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4e54, seq) + b'x' * 56
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, mine, theirs)
    iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
    os.write(fd, peer_mac + me + b'\x08\x00' + iph + icmp)
    for f in frames(0.05):
        if f[12:14] == b'\x08\x00' and f[23] == 1 and f[34] == 0 and f[38:40] == b'\x4e\x54':
            replies.add(struct.unpack('!H', f[40:42])[0])
for f in frames(0.5):
    if f[12:14] == b'\x08\x00' and f[23] == 1 and f[34] == 0 and f[38:40] == b'\x4e\x54':
        replies.add(struct.unpack('!H', f[40:42])[0])
print('replies', len(replies), flush=True)
"#;

/// The stand-in hypervisor, killed (by PID) when dropped.
struct Hypervisor(Child);

impl Drop for Hypervisor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn packets(line: &str) -> u64 {
    line.split("packets:")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no packets in {line}"))
}

#[test]
fn a_hypervisors_tap_in_the_hosts_namespace_takes_the_fast_path() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "fpt");
    lab.switchd_args.extend(["--fast-path".into(), "on".into()]);
    lab.start_switchd(H::H1);
    lab.switch_ok(H::H1, &["add-br", "br0"]);
    let vm = lab.veth_vm_on(H::H1, "br0", "b", "10.1.0.2", "fa:16:3e:00:05:02");

    // The hypervisor's TAP, in switchd's namespace.
    let host_ns = lab.host(H::H1).ns.clone();
    let tap = format!("tap{}q", lab.uid);
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host_ns, "python3", "-c", HYPERVISOR])
        .args([&tap, "fa:16:3e:00:05:09", "10.1.0.9", vm.ip, "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let hv = Hypervisor(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "open",
        "the stand-in hypervisor did not open {tap}"
    );
    ip(&["-n", &host_ns, "link", "set", "dev", &tap, "up"]);
    lab.switch_ok(H::H1, &["add-port", "br0", &tap, "--type", "system"]);
    let show = lab.switch_ok(H::H1, &["show"]);
    assert!(
        show.contains("datapath: kernel fast path (tc eBPF on 2 ports"),
        "{show}"
    );
    writeln!(stdin, "go").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "replies 20", "{}", lab.diag());
    drop(hv);

    // The first request and the first reply went up to switchd; the kernel
    // carried the other 19 each way (one wildcarded entry per direction: the
    // bridge's NORMAL reads ports and MACs).
    let vm_end = format!("qvo{}b", lab.uid);
    let req = lab.datapath_entries(H::H1, &[&format!("in_port({tap})"), "megaflow"]);
    assert_eq!(req.len(), 1, "{req:?}");
    assert!(
        req[0].ends_with(&format!("actions:peer({vm_end})")),
        "{}",
        req[0]
    );
    assert_eq!(packets(&req[0]), 19, "{}", req[0]);
    let rep = lab.datapath_entries(H::H1, &[&format!("in_port({vm_end})"), "megaflow"]);
    assert_eq!(rep.len(), 1, "{rep:?}");
    assert!(
        rep[0].ends_with(&format!("actions:redirect({tap})")),
        "{}",
        rep[0]
    );
    assert_eq!(packets(&rep[0]), 19, "{}", rep[0]);
}
