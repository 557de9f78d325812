//! The pipeline with connection tracking and conjunctions: a small stateful
//! firewall between two ports, cached and uncached.

use crate::conntrack::frames::*;
use crate::conntrack::tcp_flags::*;
use crate::{Output, PortConfig, PortType, Switch};

struct Rig {
    sw: Switch,
    tap1: usize,
    tap2: usize,
}

/// tap1 (ofport 1) may open connections to tap2 (ofport 2); tap2 only answers.
const FIREWALL: &[&str] = &[
    "table=0,priority=10,ip,actions=ct(table=1,zone=5)",
    "table=0,priority=10,ipv6,actions=ct(table=1,zone=5)",
    "table=0,priority=0,actions=NORMAL",
    "table=1,priority=30,ct_state=+trk+inv,actions=drop",
    "table=1,priority=25,ct_mark=0x1,actions=drop",
    "table=1,priority=10,ct_state=+trk+new,in_port=tap1,actions=ct(commit,zone=5),output:tap2",
    "table=1,priority=10,ct_state=+trk+est,in_port=tap1,actions=output:tap2",
    "table=1,priority=10,ct_state=+trk+est,in_port=tap2,actions=output:tap1",
    "table=1,priority=10,ct_state=+trk+rel,in_port=tap2,actions=output:tap1",
    "table=1,priority=0,actions=drop",
];

fn rig(flows: &[&str], cache: bool) -> Rig {
    let mut sw = Switch::new(11);
    sw.add_bridge("br0", 0).unwrap();
    let tap1 = sw
        .add_port("br0", PortConfig::new("tap1", PortType::Tap))
        .unwrap();
    let tap2 = sw
        .add_port("br0", PortConfig::new("tap2", PortType::Tap))
        .unwrap();
    let lines: Vec<String> = flows.iter().map(|s| s.to_string()).collect();
    sw.add_flows("br0", &lines, 0).unwrap();
    if !cache {
        sw.set_flow_cache_capacity(0);
    }
    Rig { sw, tap1, tap2 }
}

impl Rig {
    /// The ports a frame from `port` leaves by.
    fn send(&mut self, port: usize, frame: &[u8], now: u64) -> Vec<usize> {
        let mut out = Vec::new();
        self.sw.receive(port, frame, None, now, &mut out);
        out.iter().map(Output::port).collect()
    }
}

#[test]
fn a_stateful_firewall_passes_replies_and_refuses_the_unasked() {
    let mut r = rig(FIREWALL, true);
    let (t1, t2) = (r.tap1, r.tap2);
    let (a, b) = ("10.0.0.5", "10.0.0.6");
    // Nobody asked tap2 for this: a SYN from tap2 is new and has no rule.
    assert!(r.send(t2, &tcp(b, a, 22, 40000, SYN), 0).is_empty());
    // tap1 opens; the handshake and data pass both ways.
    assert_eq!(r.send(t1, &tcp(a, b, 40000, 22, SYN), 1), vec![t2]);
    assert_eq!(r.send(t2, &tcp(b, a, 22, 40000, SYN | ACK), 2), vec![t1]);
    assert_eq!(r.send(t1, &tcp(a, b, 40000, 22, ACK), 3), vec![t2]);
    for i in 0..5 {
        assert_eq!(r.send(t2, &tcp(b, a, 22, 40000, ACK), 4 + i), vec![t1]);
        assert_eq!(r.send(t1, &tcp(a, b, 40000, 22, ACK), 4 + i), vec![t2]);
    }
    // An answer to nothing (a SYN-ACK on other ports) is invalid: dropped.
    assert!(r.send(t2, &tcp(b, a, 23, 40000, SYN | ACK), 10).is_empty());
    // UDP: the reply passes, an unasked datagram does not.
    assert_eq!(r.send(t1, &udp(a, b, 5000, 53), 11), vec![t2]);
    assert_eq!(r.send(t2, &udp(b, a, 53, 5000), 12), vec![t1]);
    assert!(r.send(t2, &udp(b, a, 53, 5001), 13).is_empty());
    // An ICMP error about tap1's datagram reaches tap1 (related); one about a
    // datagram never sent does not.
    let sent = udp(a, b, 6000, 53);
    assert_eq!(r.send(t1, &sent, 14), vec![t2]);
    let err = error(b, a, 3, 3, &sent[14..]);
    assert_eq!(r.send(t2, &err, 15), vec![t1]);
    let never = udp(a, b, 6001, 53);
    assert!(r.send(t2, &error(b, a, 3, 3, &never[14..]), 16).is_empty());
    // IPv6 the same way, ICMPv6 echo by id.
    assert_eq!(
        r.send(t1, &echo("fd00::5", "fd00::6", 9, false), 17),
        vec![t2]
    );
    assert_eq!(
        r.send(t2, &echo("fd00::6", "fd00::5", 9, true), 18),
        vec![t1]
    );
    assert!(
        r.send(t2, &echo("fd00::6", "fd00::5", 10, true), 19)
            .is_empty()
    );
    let shown = r.sw.conntrack().dump(Some(5), 20);
    assert_eq!(shown.len(), 4, "{shown:?}");
}

#[test]
fn cached_and_uncached_verdicts_are_equal_while_a_connection_changes() {
    let (a, b) = ("10.0.0.5", "10.0.0.6");
    // The same frames again and again, so the cache serves the repeats: the
    // verdict of the very same bytes changes as the connection does.
    let script: Vec<(bool, Vec<u8>)> = vec![
        (false, tcp(b, a, 22, 40000, ACK)),
        (false, tcp(b, a, 22, 40000, ACK)),
        (true, tcp(a, b, 40000, 22, SYN)),
        (true, tcp(a, b, 40000, 22, SYN)),
        (false, tcp(b, a, 22, 40000, SYN | ACK)),
        (true, tcp(a, b, 40000, 22, ACK)),
        (false, tcp(b, a, 22, 40000, ACK)),
        (false, tcp(b, a, 22, 40000, ACK)),
        (true, tcp(a, b, 40000, 22, FIN | ACK)),
        (false, tcp(b, a, 22, 40000, ACK)),
        (false, tcp(b, a, 22, 40000, RST)),
        (false, tcp(b, a, 22, 40000, ACK)),
        (true, tcp(a, b, 40000, 22, SYN)),
        (false, tcp(b, a, 22, 40000, ACK)),
    ];
    let mut cached = rig(FIREWALL, true);
    let mut plain = rig(FIREWALL, false);
    let mut trail = Vec::new();
    for (i, (from_tap1, f)) in script.iter().enumerate() {
        let now = i as u64 * 10;
        let (pc, pp) = if *from_tap1 {
            (cached.tap1, plain.tap1)
        } else {
            (cached.tap2, plain.tap2)
        };
        let c = cached.send(pc, f, now);
        let p = plain.send(pp, f, now);
        assert_eq!(c, p, "step {i}");
        trail.push(!c.is_empty());
    }
    assert_eq!(
        trail,
        [
            false, false, true, true, true, true, true, true, true, true, true, true, true, false
        ]
    );
    let s = cached.sw.flow_cache_stats();
    assert!(s.hits > 0, "{s:?}");
}

#[test]
fn a_connection_marked_by_commit_is_cut() {
    // Neutron's way of cutting a connection whose rule is gone: commit ct_mark=1,
    // then drop whatever carries the mark.
    let mut flows = FIREWALL.to_vec();
    flows.push(
        "table=1,priority=20,ct_state=+trk+est,udp,tp_dst=53,in_port=tap1,\
         actions=ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))",
    );
    let mut r = rig(&flows, true);
    let (t1, t2) = (r.tap1, r.tap2);
    let (a, b) = ("10.0.0.5", "10.0.0.6");
    assert_eq!(r.send(t1, &udp(a, b, 5000, 53), 0), vec![t2]);
    assert_eq!(r.send(t2, &udp(b, a, 53, 5000), 1), vec![t1]);
    // Established now: the original direction meets the marking flow.
    assert!(r.send(t1, &udp(a, b, 5000, 53), 2).is_empty());
    assert_eq!(r.sw.conntrack().dump(None, 2)[0].mark, 1);
    assert!(r.send(t2, &udp(b, a, 53, 5000), 3).is_empty());
}

#[test]
fn a_full_table_drops_the_packets_it_cannot_track() {
    let mut r = rig(FIREWALL, true);
    r.sw.conntrack_mut().set_config(crate::conntrack::CtConfig {
        max: 1,
        ..Default::default()
    });
    let (t1, t2) = (r.tap1, r.tap2);
    assert_eq!(r.send(t1, &udp("10.0.0.5", "10.0.0.6", 1, 53), 0), vec![t2]);
    for _ in 0..2 {
        assert!(
            r.send(t1, &udp("10.0.0.5", "10.0.0.6", 2, 53), 1)
                .is_empty()
        );
    }
    assert_eq!(r.sw.conntrack().stats().refused, 2);
    assert_eq!(r.send(t1, &udp("10.0.0.5", "10.0.0.6", 1, 53), 2), vec![t2]);
}

#[test]
fn conjunctions_match_when_every_clause_does() {
    let flows = [
        "table=0,priority=50,ip,nw_src=10.0.0.5,actions=conjunction(7,1/2)",
        "table=0,priority=50,ip,nw_src=10.0.0.7,actions=conjunction(7,1/2),conjunction(8,1/2)",
        "table=0,priority=50,tcp,tp_dst=22,actions=conjunction(7,2/2)",
        "table=0,priority=50,tcp,tp_dst=80,actions=conjunction(8,2/2)",
        "table=0,priority=50,conj_id=7,ip,actions=output:tap2",
        "table=0,priority=50,conj_id=8,ip,actions=output:tap2",
        "table=0,priority=60,tcp,nw_src=10.0.0.9,actions=output:tap2",
        "table=0,priority=0,actions=drop",
    ];
    for cache in [true, false] {
        let mut r = rig(&flows, cache);
        let (t1, t2) = (r.tap1, r.tap2);
        let go = |r: &mut Rig, src: &str, port: u16| {
            !r.send(t1, &tcp(src, "10.0.0.6", 1, port, SYN), 0)
                .is_empty()
        };
        assert!(go(&mut r, "10.0.0.5", 22));
        assert!(
            !go(&mut r, "10.0.0.5", 80),
            "clause 2 of 8 without clause 1"
        );
        assert!(!go(&mut r, "10.0.0.6", 22), "clause 2 without clause 1");
        assert!(go(&mut r, "10.0.0.7", 22));
        assert!(go(&mut r, "10.0.0.7", 80));
        assert!(!go(&mut r, "10.0.0.7", 443));
        // An ordinary flow of higher priority wins as always.
        assert!(go(&mut r, "10.0.0.9", 443));
        assert_eq!(
            r.send(t1, &tcp("10.0.0.5", "10.0.0.6", 1, 22, SYN), 0),
            vec![t2]
        );
    }
}

#[test]
fn new_actions_and_matches_print_and_parse_back() {
    let mut r = rig(&[], true);
    let flows = [
        "table=71,priority=65,ct_state=-trk,ip,reg5=0x5,in_port=tap1,actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
        "table=72,priority=40,ct_state=+est,ip,reg5=0x5,actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))",
        "table=72,priority=50,ct_state=+est-rel+rpl,ct_zone=1,ct_mark=0,reg5=0x5,actions=resubmit(,94)",
        "table=72,priority=50,ct_state=-new-est+rel-inv,ct_zone=1,ct_mark=0,reg5=0x5,actions=resubmit(,94)",
        "table=73,priority=90,ct_state=+new-est,ip,reg5=0x5,actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,91)",
        "table=71,priority=10,reg5=0x5,in_port=tap1,actions=ct_clear,resubmit(,93)",
        "table=82,priority=71,ct_state=+est-rel-rpl,ip,reg6=0x1,nw_src=192.168.0.1,actions=conjunction(18,1/2)",
        "table=82,priority=71,conj_id=18,ct_state=+est-rel-rpl,ip,reg5=0x5,actions=load:0x12->NXM_NX_REG7[],output:tap1",
        "table=0,priority=1,actions=ct(commit,zone=3,table=5)",
        "table=0,priority=2,ct_state=+inv+trk,actions=drop",
    ];
    let lines: Vec<String> = flows.iter().map(|s| s.to_string()).collect();
    r.sw.add_flows("br0", &lines, 0).unwrap();
    let text = r.sw.flows_text(0);
    // (and the bridge's own NORMAL flow)
    assert_eq!(text.len(), flows.len() + 1, "{text:#?}");
    // What prints parses back to the same flows.
    let mut again = rig(&[], true);
    again.sw.add_flows("br0", &text, 0).unwrap();
    assert_eq!(again.sw.flows_text(0), text);
    let all = text.join("\n");
    for want in [
        "ct(table=72,zone=NXM_NX_REG6[0..15])",
        "ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1->ct_mark))",
        "ct_state=+est-rel+rpl,ct_zone=1,ct_mark=0x0",
        "ct_state=-new-est+rel-inv",
        "ct_clear",
        "conjunction(18,1/2)",
        "conj_id=18,ct_state=+est-rel-rpl",
        "ct(commit,table=5,zone=3)",
        "ct_state=+inv+trk",
    ] {
        assert!(all.contains(want), "{want} not in\n{all}");
    }
    // Refused, each with one line.
    for bad in [
        "actions=conjunction(1,3/2)",
        "actions=conjunction(1,1/1)",
        "actions=conjunction(1,1/2),output:tap1",
        "actions=ct(exec(load:0x1->NXM_NX_CT_MARK[]))",
        "actions=ct(commit,exec(output:tap1))",
        "actions=ct(zone=NXM_NX_REG6[0..7])",
        "actions=ct(bogus)",
        "ct_state=+trk+bogus,actions=drop",
    ] {
        let e = r.sw.add_flows("br0", &[bad.to_string()], 0).unwrap_err();
        assert!(!e.to_string().contains('\n'), "{bad}: {e}");
    }
}

#[test]
fn trace_shows_the_ct_steps() {
    let mut r = rig(FIREWALL, true);
    let lines =
        r.sw.trace(
            "br0",
            "in_port=tap2,tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,ct_state=+trk+est",
            0,
        )
        .unwrap();
    let all = lines.join("\n");
    assert!(
        all.contains("ct: zone 5: ct_state=+est+trk ct_mark=0x0 (from the traced flow)"),
        "{all}"
    );
    assert!(all.contains("recirculate to table 1"), "{all}");
    assert!(all.contains("output tap1"), "{all}");
    // A real frame: the connection table says what it is (nothing yet: new).
    let f = tcp("10.0.0.6", "10.0.0.5", 22, 1, SYN);
    let lines = r.sw.trace_frame(r.tap2, &f, None, 0).unwrap();
    let all = lines.join("\n");
    assert!(
        all.contains("ct_state=+new+trk ct_mark=0x0 (from the connection table)"),
        "{all}"
    );
    assert!(all.contains("Final: drop"), "{all}");
    assert!(r.sw.conntrack().is_empty(), "trace changed nothing");
}
