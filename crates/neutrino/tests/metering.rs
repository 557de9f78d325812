//! Issue 20's metering tests on the lab (root, namespaces only): labels counted
//! on the network node in the routers' namespaces. A known TCP transfer from a
//! VM to the outside is counted as its payload plus at most one header per
//! segment; an excluded prefix is not counted; TenantB's traffic through its
//! own router never lands in TenantA's label, a shared label counts both;
//! counts survive a rule change and an agent restart; the agent's metrics
//! endpoint carries them and parses with Prometheus' own Python parser; the real `openstack` CLI makes labels and
//! rules (in the compatibility test, scripts/openstack-compat-test.sh).

mod common;

use common::{call, eventually};
use lab::{Lab, l3::EXT_GATEWAY, net};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// The size of one transfer (bytes of TCP payload).
const TRANSFER: u64 = 8_000_000;
const SINK_PORT: u16 = 5399;

/// A TCP sink in the outside's namespace, reading and dropping what comes;
/// killed (by PID) when dropped.
struct Sink(std::process::Child);

impl Sink {
    fn start(ext_ns: &str) -> Sink {
        let script = format!(
            "import socket\n\
             s = socket.socket()\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('{EXT_GATEWAY}', {SINK_PORT}))\n\
             s.listen(8)\n\
             while True:\n\
             \x20   c, _ = s.accept()\n\
             \x20   while c.recv(1 << 20):\n\
             \x20       pass\n\
             \x20   c.close()\n"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ext_ns, "python3", "-c", &script])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Sink(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends TRANSFER bytes over TCP from `vm` to the outside's sink.
fn send(vm: &lab::Vm) {
    let script = format!(
        "import socket\n\
         c = socket.create_connection(('{EXT_GATEWAY}', {SINK_PORT}), timeout=20)\n\
         c.sendall(b'x' * {TRANSFER})\n\
         c.shutdown(socket.SHUT_WR)\n\
         c.recv(1)\n\
         c.close()\n"
    );
    let out = net::exec_in(&vm.ns, "python3", &["-c", &script]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The smallest TCP payload a full segment of the transfer carries: the VMs'
/// MTU (1450 on VXLAN) less IPv4 and TCP headers with options.
const MIN_SEGMENT: u64 = 1450 - 20 - 60;
/// The most header bytes the router may count per packet (IPv4 and TCP with
/// options).
const MAX_HEADERS: u64 = 20 + 60;

/// Counted bytes of one transfer: its payload, and at most the headers of every
/// packet it could have been cut into. How many headers the router sees depends
/// on how much the kernel coalesced before it (a super-frame carries its headers
/// once), so only the bound is fixed: the whole payload, never more than one
/// header per smallest segment (a few percent), never counted twice.
fn one_transfer(bytes: u64) -> bool {
    let packets = TRANSFER.div_ceil(MIN_SEGMENT) + 16;
    bytes >= TRANSFER && bytes - TRANSFER <= packets * MAX_HEADERS
}

fn label(l: &Lab, project: &str, shared: bool, name: &str) -> String {
    let v = call(
        l,
        None,
        "POST",
        "/v2.0/metering/metering-labels",
        json!({"metering_label": {"name": name, "project_id": project, "shared": shared}}),
    );
    v["metering_label"]["id"].as_str().unwrap().to_string()
}

fn rule(l: &Lab, label: &str, direction: &str, excluded: bool, remote: &str) {
    call(
        l,
        None,
        "POST",
        "/v2.0/metering/metering-label-rules",
        json!({"metering_label_rule": {"metering_label_id": label, "direction": direction,
            "excluded": excluded, "remote_ip_prefix": remote}}),
    );
}

/// (packets, bytes) label `id` counted in `direction` on the router of `ns`.
fn counted(ns: &str, id: &str, direction: &str) -> (u64, u64) {
    let c = agent::l3::metering::counters(ns).unwrap();
    c.get(&agent::compile::metering::counter(id, direction))
        .copied()
        .unwrap_or((0, 0))
}

/// Waits until label `id`'s table is in `ns` (the agent applied it).
fn wait_label(ns: &str, id: &str) {
    eventually(
        &format!("label {id} in {ns}"),
        Duration::from_secs(20),
        || {
            agent::l3::metering::counters(ns)
                .map(|c| c.contains_key(&agent::compile::metering::counter(id, "egress")))
                .unwrap_or(false)
        },
    );
}

#[test]
fn labels_count_the_routers_traffic() {
    let Some(mut g) = common::lab_up("t", "a", |_| {}) else {
        return;
    };
    let l = g.lab();
    let ta = l.state.tenant("TenantA").unwrap().clone();
    let ra = l.state.routers[0].clone();
    let ns_a = format!("qrouter-{}", ra.id);
    let vm1 = l.vm("vm1").unwrap();
    let vm2 = l.vm("vm2").unwrap();

    // TenantA: all of its subnet, and a label that leaves vm2 out.
    let all = label(l, &ta.project_id, false, "a-all");
    rule(l, &all, "egress", false, "10.0.0.0/24");
    rule(l, &all, "ingress", false, "10.0.0.0/24");
    let but_vm2 = label(l, &ta.project_id, false, "a-but-vm2");
    rule(l, &but_vm2, "egress", false, "10.0.0.0/24");
    rule(l, &but_vm2, "egress", true, &format!("{}/32", vm2.ip));
    wait_label(&ns_a, &all);
    wait_label(&ns_a, &but_vm2);

    // A known transfer from vm2: counted whole under `all`, not at all under
    // `but_vm2`.
    let ext_ns = l.state.external.clone().expect("external network").ns;
    let _sink = Sink::start(&ext_ns);
    let (_, b0) = counted(&ns_a, &all, "egress");
    let (_, c0) = counted(&ns_a, &but_vm2, "egress");
    send(&vm2);
    let (_, b1) = counted(&ns_a, &all, "egress");
    assert!(
        one_transfer(b1 - b0),
        "counted {} bytes of {TRANSFER}",
        b1 - b0
    );
    let (_, c1) = counted(&ns_a, &but_vm2, "egress");
    assert!(
        c1 - c0 < 10_000,
        "the excluded vm2 counted {} bytes",
        c1 - c0
    );
    // vm1 is not excluded.
    send(&vm1);
    let (_, c2) = counted(&ns_a, &but_vm2, "egress");
    assert!(
        one_transfer(c2 - c1),
        "vm1's transfer counted as {}",
        c2 - c1
    );

    // TenantB: its own router, a label of its own, a shared label; its
    // traffic never lands in TenantA's label.
    let (tb, rb) = common::tenant_b_with_router(l);
    let ns_b = format!("qrouter-{}", rb.id);
    let b_label = label(l, &tb.project_id, false, "b-all");
    rule(l, &b_label, "egress", false, "10.0.0.0/24");
    let shared = label(l, &tb.project_id, true, "everyone");
    rule(l, &shared, "egress", false, "0.0.0.0/0");
    wait_label(&ns_b, &b_label);
    wait_label(&ns_b, &shared);
    wait_label(&ns_a, &shared);
    assert!(
        !agent::l3::metering::counters(&ns_b)
            .unwrap()
            .contains_key(&agent::compile::metering::counter(&all, "egress")),
        "TenantA's label is on TenantB's router"
    );
    assert!(
        !agent::l3::metering::counters(&ns_a)
            .unwrap()
            .contains_key(&agent::compile::metering::counter(&b_label, "egress")),
        "TenantB's label is on TenantA's router"
    );
    let vm3 = l.vm("vm3").unwrap();
    let (_, a0) = counted(&ns_a, &all, "egress");
    let (_, s0) = counted(&ns_b, &shared, "egress");
    let (_, t0) = counted(&ns_b, &b_label, "egress");
    send(&vm3);
    let (_, t1) = counted(&ns_b, &b_label, "egress");
    assert!(one_transfer(t1 - t0), "TenantB's label counted {}", t1 - t0);
    let (_, s1) = counted(&ns_b, &shared, "egress");
    assert!(
        one_transfer(s1 - s0),
        "the shared label counted {}",
        s1 - s0
    );
    let (_, a1) = counted(&ns_a, &all, "egress");
    assert!(
        a1 - a0 < 10_000,
        "TenantB's traffic in TenantA's label: {} bytes",
        a1 - a0
    );

    // A rule added (the table replaced) and the network node's agent restarted
    // with the metrics endpoint: no count is lost.
    let before = counted(&ns_a, &all, "egress");
    rule(l, &all, "egress", true, "10.0.0.250/32");
    eventually("the new rule in the table", Duration::from_secs(20), || {
        let listed = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns_a,
                "nft",
                "list",
                "table",
                "inet",
                "neutrino-metering",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout).contains("10.0.0.250")
    });
    assert!(
        counted(&ns_a, &all, "egress").0 >= before.0,
        "counts lost on a rule change"
    );
    l.agent_args
        .extend(["--metrics-listen".into(), "127.0.0.1:9109".into()]);
    l.stop_agent("network").unwrap();
    l.start_agent("network").unwrap();
    let network_ns = format!("{}-network", l.state.prefix);
    let mut text = String::new();
    eventually(
        "the metrics endpoint",
        Duration::from_secs(20),
        || match net::exec_in(
            &network_ns,
            "curl",
            &["-sf", "http://127.0.0.1:9109/metrics"],
        ) {
            Ok(o) if o.status.success() => {
                text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.contains(&all)
            }
            _ => false,
        },
    );
    assert!(
        counted(&ns_a, &all, "egress").0 >= before.0,
        "counts lost on a restart"
    );

    // Prometheus' own parser takes it; the label's sample is there.
    let parse = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        n = 0\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       if s.name == 'neutrino_metering_label_packets_total' and s.labels.get('label') == sys.argv[1] and s.labels.get('direction') == 'egress':\n\
        \x20           print(int(s.value))\n\
        \x20       n += 1\n\
        print(n, file=sys.stderr)\n";
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", parse, &all])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        packets >= before.0,
        "metrics say {packets}, the table had {}",
        before.0
    );
    let samples: u64 = String::from_utf8_lossy(&out.stderr)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(samples > 10, "only {samples} samples:\n{text}");
    for family in [
        "neutrino_port_rx_packets_total",
        "neutrino_flow_cache_hits_total",
        "neutrino_conntrack_connections",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }

    // Deleting the label takes its counters away.
    call(
        l,
        None,
        "DELETE",
        &format!("/v2.0/metering/metering-labels/{but_vm2}"),
        Value::Null,
    );
    eventually(
        "the label gone from the router",
        Duration::from_secs(20),
        || {
            let c: BTreeMap<String, (u64, u64)> = agent::l3::metering::counters(&ns_a).unwrap();
            !c.contains_key(&agent::compile::metering::counter(&but_vm2, "egress"))
        },
    );
}
