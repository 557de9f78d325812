//! Issue 18's end-to-end tests on the lab (root, namespaces only): security
//! groups enforced by the switch's own connection tracking, through the API.
//!
//! The lab's VMs share TenantA's default group (they talk; `lab up` checks it).
//! vm3 joins on compute-01, beside vm1, in a group of its own with no inbound
//! rule: refused inbound, free outbound with its replies; SSH-like TCP 22 opened
//! to vm1's address only; a peer it blocks gets nothing back; UDP replies and the
//! ICMP error for a closed port come back through the router; an established
//! connection survives an unrelated rule and is cut when its rule goes; port
//! security off lets everything in; another tenant cannot touch the groups.
//! A stateless group filters each packet by its rules alone.

mod common;

use common::{call, eventually, try_call};

use lab::l3::EXT_GATEWAY;
use lab::state::Tenant;
use lab::{Lab, vms};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn up(tag: &str) -> Option<lab::LabGuard> {
    if common::lab_available() {
        common::require_tool("nft", "nftables");
    }
    common::lab_up("s", tag, |_| {})
}

fn pings(ns: &str, to: &str) -> bool {
    lab::net::ping(ns, to, 1, &[]).ok()
}

fn py(ns: &str, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "python3", "-c", script])
        .args(args);
    c
}

/// Kills the children it holds (by their PIDs) when dropped.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const TCP_ECHO: &str = "import socket,sys,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('0.0.0.0',int(sys.argv[1]))); s.listen(16)
def serve(c):
    while True:
        d=c.recv(100)
        if not d: break
        c.sendall(d)
while True:
    c,_=s.accept(); threading.Thread(target=serve,args=(c,),daemon=True).start()
";

const UDP_ECHO: &str = "import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',int(sys.argv[1])))
while True:
    d,a=s.recvfrom(100); s.sendto(d,a)
";

/// Connects and prints `ok`, `refused` or `timeout`.
const TCP_TRY: &str = "import socket,sys
try:
    socket.create_connection((sys.argv[1],int(sys.argv[2])),2).close(); print('ok')
except ConnectionRefusedError: print('refused')
except Exception: print('timeout')
";

/// Sends one datagram and prints `reply`, `refused` (an ICMP error came back)
/// or `timeout`.
const UDP_TRY: &str = "import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.connect((sys.argv[1],int(sys.argv[2])))
try:
    s.send(b'x'); s.recv(100); print('reply')
except ConnectionRefusedError: print('refused')
except Exception: print('timeout')
";

/// Holds one connection; each line on stdin sends a line and prints `ok` when it
/// comes back, else `fail`.
const TCP_HOLD: &str = "import socket,sys
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),3); s.settimeout(2)
print('connected',flush=True)
for _ in sys.stdin:
    try:
        s.sendall(b'ping'); print('ok' if s.recv(100) else 'fail',flush=True)
    except Exception: print('fail',flush=True)
";

fn run(ns: &str, script: &str, args: &[&str]) -> String {
    let out = py(ns, script, args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.unwrap_or_else(|e| format!("cannot run: {e}"))
}

fn tcp(from: &str, ip: &str, port: u16) -> String {
    run(from, TCP_TRY, &[ip, &port.to_string()])
}

fn rule(l: &Lab, t: &Tenant, sg: &str, body: Value) -> String {
    let mut r = json!({"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4"});
    if let (Some(a), Some(b)) = (r.as_object_mut(), body.as_object()) {
        a.extend(b.clone());
    }
    let v = call(
        l,
        Some(t),
        "POST",
        "/v2.0/security-group-rules",
        json!({"security_group_rule": r}),
    );
    v["security_group_rule"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Creates security group `group` for tenant `t`, and vm3 on compute-01 (beside
/// vm1) with that group alone; returns the group.
fn vm3_in_new_group(l: &mut Lab, t: &Tenant, group: Value) -> Value {
    let g = call(
        l,
        Some(t),
        "POST",
        "/v2.0/security-groups",
        json!({ "security_group": group }),
    );
    let id = g["security_group"]["id"].clone();
    vms::create_vm_on(l, "vm3", &t.name, None, "compute-01").unwrap();
    let vm3 = l.vm("vm3").unwrap();
    call(
        l,
        Some(t),
        "PUT",
        &format!("/v2.0/ports/{}", vm3.port_id),
        json!({"port": {"security_groups": [id]}}),
    );
    g["security_group"].clone()
}

#[test]
fn security_groups_filter_in_the_switch() {
    let Some(mut g) = up("a") else { return };
    let l = g.lab();
    let ta = l.state.tenant("TenantA").cloned().unwrap();
    let (vm1, vm2) = (l.vm("vm1").unwrap(), l.vm("vm2").unwrap());
    let ext = l.state.external.clone().expect("external network");

    // vm3 beside vm1, in a group with no inbound rule.
    let locked = vm3_in_new_group(l, &ta, json!({"name": "locked"}));
    let locked = locked["id"].as_str().unwrap().to_string();
    let vm3 = l.vm("vm3").unwrap();
    eventually("vm3 to refuse vm1's ping", Duration::from_secs(20), || {
        !pings(&vm1.ns, &vm3.ip)
    });
    assert!(!pings(&vm2.ns, &vm3.ip), "vm2 reached vm3");
    // Out it goes, and its replies come back (vm1's group takes ICMP).
    assert!(pings(&vm3.ns, &vm1.ip), "vm3 -> vm1");
    assert!(pings(&vm3.ns, &vm2.ip), "vm3 -> vm2 across hosts");

    // TCP 22 from vm1's address only; a blocked peer gets nothing back.
    let mut kids = Kids(Vec::new());
    for port in ["22", "23"] {
        let c = py(&vm3.ns, TCP_ECHO, &[port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        kids.0.push(c.expect("tcp server in vm3"));
    }
    let ssh = rule(
        l,
        &ta,
        &locked,
        json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": format!("{}/32", vm1.ip)}),
    );
    eventually("vm1 -> vm3:22", Duration::from_secs(20), || {
        tcp(&vm1.ns, &vm3.ip, 22) == "ok"
    });
    assert_eq!(
        tcp(&vm2.ns, &vm3.ip, 22),
        "timeout",
        "vm2 is not in the prefix"
    );
    assert_eq!(
        tcp(&vm1.ns, &vm3.ip, 23),
        "timeout",
        "port 23 has no rule: no RST either"
    );

    // UDP out through the router: the reply passes, and so does the ICMP error
    // for a closed port (related to vm3's own datagram).
    let c = py(&ext.ns, UDP_ECHO, &["7777"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    kids.0.push(c.expect("udp echo outside"));
    eventually("vm3's UDP reply", Duration::from_secs(10), || {
        run(&vm3.ns, UDP_TRY, &[EXT_GATEWAY, "7777"]) == "reply"
    });
    assert_eq!(run(&vm3.ns, UDP_TRY, &[EXT_GATEWAY, "7778"]), "refused");

    // An established connection survives an unrelated rule and is cut when its
    // own rule goes.
    let mut hold = py(&vm1.ns, TCP_HOLD, &[&vm3.ip, "22"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("holding client");
    let mut input = hold.stdin.take().expect("stdin");
    let mut output = BufReader::new(hold.stdout.take().expect("stdout"));
    kids.0.push(hold);
    let mut ask = || -> String {
        let _ = writeln!(input);
        let _ = input.flush();
        let mut line = String::new();
        let _ = output.read_line(&mut line);
        line.trim().to_string()
    };
    assert_eq!(ask(), "connected");
    assert_eq!(ask(), "ok");
    rule(
        l,
        &ta,
        &locked,
        json!({"protocol": "udp", "port_range_min": 53, "port_range_max": 53}),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ask(), "ok", "an unrelated rule cut the connection");
    call(
        l,
        Some(&ta),
        "DELETE",
        &format!("/v2.0/security-group-rules/{ssh}"),
        Value::Null,
    );
    eventually("the connection to be cut", Duration::from_secs(20), || {
        ask() == "fail"
    });
    let dump = l.switch("compute-01", &["dump-conntrack"]).unwrap();
    assert!(
        dump.lines()
            .any(|x| x.contains("dport=22") && x.contains("mark=1")),
        "{dump}"
    );

    // Another tenant can neither use nor change TenantA's groups.
    let tb = l.api.create_tenant("TenantB", "10.9.0.0/24").unwrap();
    assert!(try_call(l, Some(&tb), "POST", "/v2.0/security-group-rules", json!({"security_group_rule": {"security_group_id": locked, "direction": "ingress", "ethertype": "IPv4"}})).is_err());
    let theirs = call(
        l,
        Some(&tb),
        "POST",
        "/v2.0/security-groups",
        json!({"security_group": {"name": "open"}}),
    );
    let theirs = theirs["security_group"]["id"].as_str().unwrap().to_string();
    assert!(
        try_call(
            l,
            Some(&ta),
            "PUT",
            &format!("/v2.0/ports/{}", vm3.port_id),
            json!({"port": {"security_groups": [theirs]}})
        )
        .is_err()
    );
    assert!(!pings(&vm1.ns, &vm3.ip));

    // Port security off: nothing is filtered.
    call(
        l,
        Some(&ta),
        "PUT",
        &format!("/v2.0/ports/{}", vm3.port_id),
        json!({"port": {"security_groups": [], "port_security_enabled": false}}),
    );
    eventually("vm1 -> vm3 unfiltered", Duration::from_secs(20), || {
        pings(&vm1.ns, &vm3.ip)
    });
    assert_eq!(tcp(&vm2.ns, &vm3.ip, 23), "ok");
    drop(kids);
}

/// A stateless group (`stateful: false`) filters every packet by its rules
/// alone: with its default egress rules and ICMP in, vm3's pings come back, but
/// its TCP connection to vm1 gets no answer (the SYN-ACK meets no ingress rule,
/// and nothing remembers the connection) until a rule lets TCP in.
#[test]
fn stateless_groups_filter_each_packet() {
    let Some(mut g) = up("b") else { return };
    let l = g.lab();
    let ta = l.state.tenant("TenantA").cloned().unwrap();
    let vm1 = l.vm("vm1").unwrap();
    let sg = vm3_in_new_group(l, &ta, json!({"name": "stateless", "stateful": false}));
    assert_eq!(sg["stateful"], false, "{sg}");
    let sg = sg["id"].as_str().unwrap().to_string();
    rule(l, &ta, &sg, json!({"protocol": "icmp"}));
    let vm3 = l.vm("vm3").unwrap();
    let mut kids = Kids(Vec::new());
    let c = py(&vm1.ns, TCP_ECHO, &["5001"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    kids.0.push(c.expect("tcp server in vm1"));
    eventually(
        "vm3's TCP to vm1 to go unanswered",
        Duration::from_secs(20),
        || {
            let r = tcp(&vm3.ns, &vm1.ip, 5001);
            eprintln!("vm3 -> vm1:5001 {r}");
            r == "timeout"
        },
    );
    assert!(pings(&vm3.ns, &vm1.ip), "ICMP in: vm3's pings come back");
    rule(l, &ta, &sg, json!({"protocol": "tcp"}));
    eventually(
        "vm3 -> vm1 TCP with TCP in",
        Duration::from_secs(20),
        || tcp(&vm3.ns, &vm1.ip, 5001) == "ok",
    );
}
