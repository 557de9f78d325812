//! Path MTU through tunnels (issue 5): a VM whose frames are too big for the
//! tunnel (its MTU is 1500 on a 1450 network) gets ICMP "fragmentation needed"
//! with the tunnel's MTU for DF packets, lowers its path MTU, and then gets
//! through; a TCP transfer works after that.

mod common;

use common::*;
use std::time::Duration;

fn run(tag: &str, t: Tunnel, want_mtu: &str) {
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, tag, t);
    check(&lab, &vm1, &vm2, want_mtu);
}

fn check(lab: &TwoHosts, vm1: &Vm, vm2: &Vm, want_mtu: &str) {
    lab.wait_ping(vm1, vm2.ip, PING_WITHIN);
    ip(&["-n", &vm1.ns, "link", "set", "dev", &vm1.tap, "mtu", "1500"]);
    // 1472 bytes of ICMP payload = a 1500-byte IP packet with DF.
    let r = run_cmd_in(
        &vm1.ns,
        &[
            "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", vm2.ip,
        ],
    );
    assert!(
        r.contains(&format!("mtu = {want_mtu}")),
        "no fragmentation-needed error from the switch:\n{r}"
    );
    let route = ip(&["-n", &vm1.ns, "route", "get", vm2.ip]);
    assert!(
        route.contains(&format!("mtu {want_mtu}")),
        "path MTU not learned: {route}"
    );
    // Within the learned MTU, DF pings pass.
    let small = (want_mtu.parse::<usize>().unwrap() - 28).to_string();
    let ok = run_cmd_in(
        &vm1.ns,
        &[
            "ping", "-c", "2", "-W", "2", "-M", "do", "-s", &small, vm2.ip,
        ],
    );
    assert!(ok.contains(" 0% packet loss"), "{ok}");
    lab.tcp_transfer(vm1, vm2, 5);
}

fn run_cmd_in(ns: &str, args: &[&str]) -> String {
    let mut a = vec!["netns", "exec", ns];
    a.extend_from_slice(args);
    let r = common::run("ip", &a, None, Duration::from_secs(20));
    r.describe()
}

#[test]
fn vxlan_frag_needed() {
    if !lab_available() {
        return;
    }
    run("pmv", Tunnel::Vxlan, "1450");
}

/// The tunnel MTU follows the underlay's route MTU (here 1400, not 1500).
#[test]
fn vxlan_frag_needed_follows_the_underlay_mtu() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "pmu");
    for (h, dev) in [(H::H1, "u1"), (H::H2, "u2")] {
        let ns = lab.host(h).ns.clone();
        let dev = format!("{}{dev}", lab.prefix);
        ip(&["-n", &ns, "link", "set", "dev", &dev, "mtu", "1400"]);
    }
    let (vm1, vm2) = lab.add_two_vms(Tunnel::Vxlan);
    ip(&["-n", &vm2.ns, "link", "set", "dev", &vm2.tap, "mtu", "1350"]);
    check(&lab, &vm1, &vm2, "1350");
}

#[test]
fn gre_frag_needed() {
    if !lab_available() {
        return;
    }
    run("pmg", Tunnel::Gre, "1458");
}

/// Not only TCP: IPv6, IP fragments and UDP cross the VXLAN tunnel too.
#[test]
fn ipv6_fragments_and_udp_through_vxlan() {
    if !lab_available() {
        return;
    }
    let (lab, vm1, vm2) = TwoHosts::two_vms(BIN, "p6", Tunnel::Vxlan);
    lab.wait_ping(&vm1, vm2.ip, PING_WITHIN);
    for (vm, a) in [(&vm1, "fd00::2/64"), (&vm2, "fd00::4/64")] {
        ip(&["-n", &vm.ns, "addr", "add", a, "dev", &vm.tap, "nodad"]);
    }
    let v6 = run_cmd_in(
        &vm1.ns,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00::4"],
    );
    assert!(v6.contains(" 0% packet loss"), "{v6}");
    // 4000 bytes of ICMP without DF: the VM fragments (MTU 1450), the pieces cross.
    let frag = run_cmd_in(
        &vm1.ns,
        &[
            "ping", "-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", vm2.ip,
        ],
    );
    assert!(frag.contains(" 0% packet loss"), "{frag}");
    // One UDP datagram of 1200 bytes, received as sent.
    let server = std::process::Command::new("ip")
        .args(["netns", "exec", &vm2.ns, "python3", "-c",
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',9999));s.settimeout(10);d,a=s.recvfrom(4096);print(len(d),d[:5].decode())"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start udp receiver");
    std::thread::sleep(Duration::from_millis(500));
    let send = format!(
        "import socket,time\nfor _ in range(5):\n    socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'hello'+b'x'*1195,('{}',9999));time.sleep(0.2)",
        vm2.ip
    );
    run_cmd_in(&vm1.ns, &["python3", "-c", &send]);
    let out = server.wait_with_output().expect("udp receiver");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1200 hello");
    // All that went through the engine's flow cache, and `show` says so.
    let show = lab.switch_ok(vm1.host, &["show"]);
    let line = show
        .lines()
        .find(|l| l.starts_with("flow cache:"))
        .unwrap_or_else(|| panic!("no flow cache line in show:\n{show}"));
    assert!(!line.contains(" 0 hits"), "{line}");
}
