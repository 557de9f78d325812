//! DHCP answered by the switch at the VM's port: a real DHCP client (busybox udhcpc)
//! in a VM namespace gets its address, MTU and default route from the `dhcp` action,
//! renews (unicast, after resolving the server address by ARP) and releases; a port
//! without a binding gets no answer. Needs root (fails instead of skipping when
//! CI=true).

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const MAC1: &str = "fa:16:3e:00:00:05";
const MAC2: &str = "fa:16:3e:00:00:06";
const SERVER_IP: &str = "10.0.0.2";

/// A udhcpc running in the background, killed by PID when dropped (also on panic).
struct Client(Option<Child>);

impl Client {
    fn pid(&self) -> u32 {
        self.0.as_ref().map(Child::id).unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        run("kill", &["-s", sig, &pid], None, CMD_TIMEOUT).expect_ok();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The udhcpc event script: logs every event with what it was given, and applies
/// address, MTU and default route as a distribution's script would.
fn write_script(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let script = dir.join(format!("{name}.sh"));
    let log = dir.join(format!("{name}.log"));
    let text = format!(
        r#"#!/bin/sh
echo "$1 ip=$ip mask=$mask router=$router mtu=$mtu dns=$dns serverid=$serverid lease=$lease" >> {log}
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set dev "$interface" up
        ;;
    bound|renew)
        ip addr replace "$ip/$mask" dev "$interface"
        if [ -n "$mtu" ]; then ip link set dev "$interface" mtu "$mtu"; fi
        if [ -n "$router" ]; then
            ip route replace default via "${{router%% *}}" dev "$interface"
        fi
        ;;
esac
exit 0
"#,
        log = log.display()
    );
    std::fs::write(&script, text).expect("write udhcpc script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod udhcpc script");
    (script, log)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `udhcpc -i NIC -n -q -f -s SCRIPT -t TRIES -T 1` in the VM: one lease or failure.
fn udhcpc_once(vm: &Vm, script: &Path, tries: u32) -> Run {
    let (t, s) = (tries.to_string(), script.to_str().expect("utf-8 path"));
    run(
        "ip",
        &[
            "netns", "exec", &vm.ns, "busybox", "udhcpc", "-i", &vm.tap, "-n", "-q", "-f", "-s", s,
            "-t", &t, "-T", "1",
        ],
        None,
        Duration::from_secs(u64::from(tries) * 3 + 10),
    )
}

/// Waits until `cond` holds, or panics with `what` and the diagnostics.
fn wait_for(lab: &TwoHosts, what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("{what}: not within {within:?}\n{}", lab.diag());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the udhcpc script log at `log` has a line with `event`.
fn wait_event(lab: &TwoHosts, log: &Path, event: &str) {
    let what = format!("udhcpc event '{event}'");
    wait_for(lab, &what, Duration::from_secs(15), || {
        read(log).contains(event)
    });
}

/// `switch show` on H1.
fn show(lab: &TwoHosts) -> String {
    lab.switch_ok(H::H1, &["show"])
}

/// A command line's words (no argument has a space).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The number after `key=` on the "dhcp stats" line of `switch show` for `port`.
fn dhcp_stat(lab: &TwoHosts, port: &str, key: &str) -> u64 {
    let text = show(lab);
    let mut in_port = false;
    for l in text.lines() {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("Port ") {
            in_port = name == port;
        }
        if in_port && t.starts_with("dhcp stats:") {
            for tok in t.split_whitespace() {
                if let Some(v) = tok.strip_prefix(&format!("{key}=")) {
                    return v.parse().unwrap_or(0);
                }
            }
        }
    }
    0
}

#[test]
fn vm_gets_address_mtu_and_route_from_the_switch() {
    if !lab_available() {
        return;
    }
    require_tool("busybox", "busybox");
    let mut lab = TwoHosts::new(BIN, "dhc");
    lab.start_switchd(H::H1);
    lab.switch_ok(H::H1, &["add-br", "br-int"]);

    let vm1 = lab.vm(H::H1, 1, "10.0.0.5", MAC1, 0);
    let vm2 = lab.vm(H::H1, 2, "10.0.0.6", MAC2, 0);
    for vm in [&vm1, &vm2] {
        lab.add_ns(&vm.ns);
        lab.switch_ok(
            H::H1,
            &[
                "add-port", "br-int", &vm.tap, "--type", "tap", "--netns", &vm.ns, "--mac", vm.mac,
            ],
        );
        lab.wait_vm_nic(vm, Duration::from_secs(5));
        ip(&["-n", &vm.ns, "link", "set", "dev", &vm.tap, "up"]);
    }
    // The agent's flows: DHCP from each VM port and ARP for the server address go
    // to the `dhcp` action; everything else is switched normally.
    let flows = format!(
        "table=0,priority=50,in_port={t1},udp,tp_src=68,tp_dst=67,actions=dhcp\n\
         table=0,priority=50,in_port={t2},udp,tp_src=68,tp_dst=67,actions=dhcp\n\
         table=0,priority=50,in_port={t1},arp,arp_op=1,arp_tpa={SERVER_IP},actions=dhcp\n\
         table=0,priority=0,actions=NORMAL\n",
        t1 = vm1.tap,
        t2 = vm2.tap
    );
    let r = lab.switch_stdin(H::H1, &["replace-flows", "br-int", "-"], &flows);
    assert!(r.ok(), "replace-flows:\n{}", r.describe());
    let set_dhcp = format!(
        "set-dhcp br-int {} --mac {MAC1} --ip 10.0.0.5/24 --router 10.0.0.1 --mtu 1450 \
         --dns 10.0.0.53 --lease 600 --server-ip {SERVER_IP}",
        vm1.tap
    );
    lab.switch_ok(H::H1, &words(&set_dhcp));
    let binding = format!("dhcp: 10.0.0.5/24 for {MAC1}");
    let shown = show(&lab);
    assert!(
        shown.contains(&binding),
        "switch show must print the binding:\n{shown}"
    );

    // A real DHCP client gets address, MTU and default route.
    let (script1, log1) = write_script(&lab.dir, "vm1");
    let r = udhcpc_once(&vm1, &script1, 5);
    assert!(
        r.ok(),
        "udhcpc in {} got no lease:\n{}\nscript log:\n{}\n{}",
        vm1.ns,
        r.describe(),
        read(&log1),
        lab.diag()
    );
    let log = read(&log1);
    assert!(
        log.contains("bound ip=10.0.0.5 mask=24 router=10.0.0.1 mtu=1450 dns=10.0.0.53")
            && log.contains(&format!("serverid={SERVER_IP} lease=600")),
        "udhcpc should be bound with the binding's options:\n{log}"
    );
    let addr = ip(&["-n", &vm1.ns, "-4", "addr", "show", "dev", &vm1.tap]);
    assert!(addr.contains("inet 10.0.0.5/24"), "{addr}");
    let link = ip(&["-n", &vm1.ns, "link", "show", "dev", &vm1.tap]);
    assert!(link.contains("mtu 1450"), "{link}");
    let routes = ip(&["-n", &vm1.ns, "-4", "route", "show", "default"]);
    assert!(
        routes.contains("default via 10.0.0.1"),
        "default route via the router:\n{routes}"
    );
    assert!(dhcp_stat(&lab, &vm1.tap, "offers") >= 1);
    assert!(dhcp_stat(&lab, &vm1.tap, "acks") >= 1);

    // A port without a binding gets no answer at all.
    let (script2, log2) = write_script(&lab.dir, "vm2");
    let start = Instant::now();
    let r = udhcpc_once(&vm2, &script2, 2);
    assert!(
        !r.ok(),
        "udhcpc on a port without a DHCP binding must get no lease:\n{}\n{}",
        r.describe(),
        read(&log2)
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "udhcpc -t 2 -T 1 should give up quickly"
    );
    assert!(!read(&log2).contains("bound"), "{}", read(&log2));
    let addr = ip(&["-n", &vm2.ns, "-4", "addr", "show", "dev", &vm2.tap]);
    assert!(!addr.contains("inet "), "{addr}");

    // A client that stays: bound, then a renewal on SIGUSR1 (unicast to the server
    // address, which it resolves by ARP), then a release on SIGUSR2.
    let (script3, log3) = write_script(&lab.dir, "vm1-daemon");
    let child = Command::new("ip")
        .args([
            "netns", "exec", &vm1.ns, "busybox", "udhcpc", "-i", &vm1.tap, "-f", "-s",
        ])
        .arg(&script3)
        .args(["-t", "5", "-T", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn udhcpc");
    let client = Client(Some(child));
    wait_event(&lab, &log3, "bound ip=10.0.0.5");
    lab.flush_neigh(&vm1);
    let arp_before = dhcp_stat(&lab, &vm1.tap, "arp_replies");
    client.signal("USR1");
    wait_event(&lab, &log3, "renew ip=10.0.0.5");
    assert!(
        dhcp_stat(&lab, &vm1.tap, "arp_replies") > arp_before,
        "the renewal should have resolved the server address through the switch"
    );
    let neigh = lab.neigh_mac(&vm1, SERVER_IP);
    assert_eq!(
        neigh.as_deref(),
        Some(switch_proto::port::DEFAULT_SERVER_MAC),
        "server address resolved to the server MAC"
    );
    client.signal("USR2");
    wait_for(
        &lab,
        "release after SIGUSR2",
        Duration::from_secs(10),
        || dhcp_stat(&lab, &vm1.tap, "releases") >= 1,
    );
    drop(client);
    eprintln!("udhcpc events:\n{}", read(&log3));
    eprintln!("{}", show(&lab));
    // Nothing was dropped on the bound port: every packet was a client message.
    assert_eq!(dhcp_stat(&lab, &vm1.tap, "dropped"), 0);

    // The binding survives a switchd restart (state file) without re-creating the tap.
    lab.kill_switchd(H::H1);
    lab.start_switchd(H::H1);
    let shown = show(&lab);
    assert!(shown.contains(&binding), "{shown}");
    let r = udhcpc_once(&vm1, &script1, 5);
    assert!(r.ok(), "after restart:\n{}\n{}", r.describe(), lab.diag());

    // Cleared: no more answers.
    lab.switch_ok(H::H1, &["clear-dhcp", "br-int", &vm1.tap]);
    let shown = show(&lab);
    assert!(!shown.contains("dhcp:"), "{shown}");
    let r = udhcpc_once(&vm1, &script1, 2);
    assert!(!r.ok(), "no lease after clear-dhcp:\n{}", r.describe());
}

#[test]
fn set_dhcp_errors_are_one_line() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "dhe");
    lab.start_switchd(H::H1);
    lab.switch_ok(H::H1, &["add-br", "br0"]);
    for args in [
        // No such port.
        format!("nope --mac {MAC1} --ip 10.0.0.5/24 --server-ip {SERVER_IP}"),
        // Bad MAC, bad prefix, missing prefix, bad host route, server = client.
        format!("x --mac fa:16:3e --ip 10.0.0.5/24 --server-ip {SERVER_IP}"),
        format!("x --mac {MAC1} --ip 10.0.0.5/33 --server-ip {SERVER_IP}"),
        format!("x --mac {MAC1} --ip 10.0.0.5 --server-ip {SERVER_IP}"),
        format!("x --mac {MAC1} --ip 10.0.0.5/24 --server-ip {SERVER_IP} --host-route 10.9.0.0/16"),
        format!("x --mac {MAC1} --ip 10.0.0.5/24 --server-ip 10.0.0.5"),
    ] {
        let args = format!("set-dhcp br0 {args}");
        let r = lab.switch(H::H1, &words(&args));
        assert!(!r.ok(), "{args} should fail");
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "{args}: one line:\n{}",
            r.stderr
        );
    }
    let r = lab.switch(H::H1, &["clear-dhcp", "br0", "nope"]);
    assert!(!r.ok());
}
