//! Wire interop with Open vSwitch (issue 24): host H1 runs neutrino switchd with
//! Neutron's br-int/br-tun layout, host H2 runs Debian's Open vSwitch (private
//! ovsdb-server and ovs-vswitchd in H2's namespace, userspace datapath, underlay
//! address on br-phy), joined by the harness's veth underlay with its offloads
//! on (the default). Over VXLAN, GRE and Geneve: pings both ways and a TCP
//! stream each way checked byte for byte. Needs root and openvswitch-switch.

mod common;

use common::*;
use lab::harness::Ovs;

/// How neutrino's side is set up.
struct Side {
    /// vm1 on a veth port (the kernel fast path's kind) rather than a TAP port
    /// (the user-space path).
    veth: bool,
    /// Checksums on, on both ends (neutrino's `--csum`, OVS's `options:csum`).
    csum: bool,
}

/// vm1 on a TAP port, checksums off: the defaults.
const PLAIN: Side = Side {
    veth: false,
    csum: false,
};

/// neutrino on H1 (vm1), Open vSwitch on H2 (vm2) with a tunnel port of
/// `ovs_type` to H1 carrying NET1's key.
fn interop(tag: &str, t: Tunnel, ovs_type: &str, side: Side) -> (TwoHosts, Ovs, Vm, Vm) {
    let mut lab = TwoHosts::new(BIN, tag);
    let csum: &[&str] = if side.csum { &["--csum"] } else { &[] };
    lab.setup_switch_host_with(H::H1, t, &[NET1], csum);
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    if side.veth {
        lab.attach_veth_vm(&vm1);
    } else {
        lab.attach_vm(&vm1);
    }
    let ovs = match lab.start_ovs(H::H2) {
        Ok(o) => o,
        Err(e) => panic!("{e}\n{}", lab.diag()),
    };
    let key = NET1.key.to_string();
    let opts = [
        format!("type={ovs_type}"),
        format!("options:remote_ip={H1_IP}"),
        format!("options:key={key}"),
        format!("options:csum={}", side.csum),
    ];
    let mut args = vec![
        "add-port",
        "br-int",
        "tun0",
        "--",
        "set",
        "interface",
        "tun0",
    ];
    args.extend(opts.iter().map(String::as_str));
    if let Err(e) = ovs.vsctl(&args) {
        panic!("{e}\n{}", ovs.diag());
    }
    let vm2 = lab.ovs_vm(&ovs, 2, "10.0.0.4", "fa:16:3e:00:00:04");
    (lab, ovs, vm1, vm2)
}

fn talks(lab: &TwoHosts, ovs: &Ovs, vm1: &Vm, vm2: &Vm) {
    for (a, b) in [(vm1, vm2), (vm2, vm1)] {
        let start = std::time::Instant::now();
        loop {
            let r = lab.ping(a, b.ip, 3);
            if r.ok() {
                break;
            }
            if start.elapsed() > PING_WITHIN {
                panic!(
                    "{} cannot ping {}: {}\n{}\n{}",
                    a.ns,
                    b.ip,
                    r.describe(),
                    lab.diag(),
                    ovs.diag()
                );
            }
        }
    }
    lab.checked_stream(vm1, vm2, 20);
    lab.checked_stream(vm2, vm1, 20);
}

/// What tcpdump -vv on H1's underlay says of the UDP checksums of the VXLAN
/// datagrams H1 sends while vm1 pings vm2.
fn outer_checksums(lab: &TwoHosts, vm1: &Vm, vm2: &Vm) -> String {
    let u1 = format!("{}u1", lab.prefix);
    let filter = format!("udp dst port 4789 and src host {H1_IP}");
    let dump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.host(H::H1).ns,
            "timeout",
            "5",
            "tcpdump",
        ])
        .args(["-nn", "-vv", "-c", "3", "-i", &u1, &filter])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(std::time::Duration::from_millis(700));
    lab.ping(vm1, vm2.ip, 5);
    let out = dump.wait_with_output().expect("tcpdump output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn vxlan_with_open_vswitch() {
    if !lab_available() {
        return;
    }
    require_tool("tcpdump", "tcpdump");
    let (lab, ovs, vm1, vm2) = interop("ov", Tunnel::Vxlan, "vxlan", PLAIN);
    talks(&lab, &ovs, &vm1, &vm2);
    // RFC 7348's default for IPv4: checksum zero, never one left unfilled.
    let dump = outer_checksums(&lab, &vm1, &vm2);
    assert!(dump.contains("[no cksum]"), "{dump}");
    assert!(!dump.contains("bad udp cksum"), "{dump}");
}

#[test]
fn gre_with_open_vswitch() {
    if !lab_available() {
        return;
    }
    let (lab, ovs, vm1, vm2) = interop("og", Tunnel::Gre, "gre", PLAIN);
    talks(&lab, &ovs, &vm1, &vm2);
}

#[test]
fn geneve_with_open_vswitch() {
    if !lab_available() {
        return;
    }
    let (lab, ovs, vm1, vm2) = interop("oe", Tunnel::Geneve, "geneve", PLAIN);
    talks(&lab, &ovs, &vm1, &vm2);
}

/// With checksums on at both ends (`--csum`, `options:csum=true`) a VM on a
/// veth port talks to OVS too: such a tunnel's traffic stays in switchd, which
/// cuts super-frames and completes every checksum, inner and outer, before the
/// underlay (the fast path would hand the kernel super-frames and checksums
/// for a NIC to finish, which cross a veth underlay unfinished).
#[test]
fn vxlan_with_checksums_and_open_vswitch() {
    if !lab_available() {
        return;
    }
    require_tool("tcpdump", "tcpdump");
    let side = Side {
        veth: true,
        csum: true,
    };
    let (lab, ovs, vm1, vm2) = interop("oc", Tunnel::Vxlan, "vxlan", side);
    talks(&lab, &ovs, &vm1, &vm2);
    let dump = outer_checksums(&lab, &vm1, &vm2);
    assert!(dump.contains("[udp sum ok]"), "{dump}");
    assert!(
        !dump.contains("no cksum") && !dump.contains("bad udp"),
        "{dump}"
    );
    let show = lab.switch_ok(H::H1, &["show"]);
    assert!(show.contains("csum=true"), "{show}");
}
