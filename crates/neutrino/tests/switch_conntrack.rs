//! Connection tracking in the datapath (issue 18): two VMs on one br-int behind a
//! stateful firewall written with `ct()` — vm1 may open connections to vm2, vm2
//! may only answer. Ping and TCP (super-frames through conntrack) pass one way
//! and are refused the other; `dump-conntrack` lists the connections, `show`
//! counts them, `flush-conntrack` forgets them. Needs root (fails instead of skipping when
//! CI=true).

mod common;

use common::*;
use std::time::Duration;

fn firewall(vm1_tap: &str) -> String {
    [
        "table=0,priority=10,ip,actions=ct(table=1,zone=1)".to_string(),
        "table=0,priority=0,actions=NORMAL".into(),
        "table=1,priority=30,ct_state=+trk+inv,actions=drop".into(),
        format!(
            "table=1,priority=10,ct_state=+trk+new,ip,in_port={vm1_tap},actions=ct(commit,zone=1),NORMAL"
        ),
        "table=1,priority=10,ct_state=+trk+est,actions=NORMAL".into(),
        "table=1,priority=10,ct_state=+trk+rel,actions=NORMAL".into(),
        "table=1,priority=0,actions=drop".into(),
    ]
    .join("\n")
}

#[test]
fn a_stateful_firewall_in_the_switch() {
    if !lab_available() {
        return;
    }
    let mut lab = TwoHosts::new(BIN, "ct");
    lab.start_switchd(H::H1);
    lab.switch_ok(H::H1, &["add-br", "br-int"]);
    let vm1 = lab.vm(H::H1, 1, "10.0.0.2", "fa:16:3e:00:00:01", 1);
    let vm2 = lab.vm(H::H1, 2, "10.0.0.4", "fa:16:3e:00:00:04", 1);
    lab.attach_vm(&vm1);
    lab.attach_vm(&vm2);
    let r = lab.switch_stdin(
        H::H1,
        &["replace-flows", "br-int", "-"],
        &firewall(&vm1.tap),
    );
    assert!(r.ok(), "{}", r.describe());

    // vm1 opens: ping and TCP both ways over vm1's connection.
    lab.wait_ping(&vm1, vm2.ip, Duration::from_secs(10));
    lab.tcp_transfer(&vm1, &vm2, 20);
    // vm2 may not open anything towards vm1.
    let back = lab.ping(&vm2, vm1.ip, 2);
    assert!(
        back.stdout.contains("100% packet loss"),
        "{}",
        back.describe()
    );

    let dump = lab.switch_ok(H::H1, &["dump-conntrack", "--zone", "1"]);
    assert!(
        dump.lines()
            .any(|l| l.starts_with("icmp,orig=(src=10.0.0.2,dst=10.0.0.4,")),
        "{dump}"
    );
    assert!(
        dump.lines()
            .any(|l| l.starts_with("tcp,orig=(src=10.0.0.2,")
                && l.contains("dport=5201")
                && l.contains("zone=1")),
        "{dump}"
    );
    assert!(
        !dump.contains("icmp,orig=(src=10.0.0.4,"),
        "vm2's refused pings made a connection:\n{dump}"
    );
    let show = lab.switch_ok(H::H1, &["show"]);
    assert!(
        show.lines()
            .any(|l| l.starts_with("conntrack: ") && l.contains("zone 1: ")),
        "{show}"
    );

    // Flushed, the table is empty; vm1 still opens new connections.
    let flushed = lab.switch_ok(H::H1, &["flush-conntrack", "--zone", "1"]);
    assert!(flushed.contains("flushed"), "{flushed}");
    let dump = lab.switch_ok(H::H1, &["dump-conntrack"]);
    assert!(dump.trim().is_empty(), "{dump}");
    lab.wait_ping(&vm1, vm2.ip, Duration::from_secs(10));
}
