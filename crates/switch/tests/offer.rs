//! Decisions offered to a datapath below the engine (switchd's kernel fast path):
//! which are offered, and how the counts it gives back reach the flows.

mod common;
use common::*;
use switch::{Offer, PortType, Switch};

fn two_ports() -> (Switch, usize, usize) {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    let a = sw.add_port("br0", port("a", PortType::Tap)).unwrap();
    let b = sw.add_port("br0", port("b", PortType::Tap)).unwrap();
    (sw, a, b)
}

fn n_packets(sw: &mut Switch, m: &str) -> u64 {
    let d = dump(sw, "br0");
    let l = d.iter().find(|l| l.contains(m)).expect("the flow");
    l.split("n_packets=")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("n_packets")
}

#[test]
fn a_settled_forward_is_offered_and_credited() {
    let (mut sw, a, b) = two_ports();
    sw.add_flows("br0", &["priority=10,icmp,actions=NORMAL".into()], 0)
        .unwrap();
    let ab = icmp(MAC_A, MAC_B, [10, 0, 0, 1], [10, 0, 0, 2]);
    let ba = icmp(MAC_B, MAC_A, [10, 0, 0, 2], [10, 0, 0, 1]);
    let mut out = Vec::new();
    // Learning a MAC changes the switch: that packet's decision is not offered.
    let mut o = Offer::default();
    sw.receive_offer(a, &ab, None, 10, &mut out, &mut o);
    assert!(!o.offloadable());
    out.clear();
    let mut o = Offer::default();
    sw.receive_offer(b, &ba, None, 20, &mut out, &mut o);
    assert!(!o.offloadable());
    out.clear();
    // Both MACs known: a unicast forward, offered (from the tables or the cache).
    for t in [30, 40] {
        let mut o = Offer::default();
        sw.receive_offer(a, &ab, None, t, &mut out, &mut o);
        assert!(o.offloadable(), "{o:?}");
        assert_eq!(ports_of(&forwards(&out)), vec![b]);
        out.clear();
    }
    let mut o = Offer::default();
    sw.receive_offer(a, &ab, None, 50, &mut out, &mut o);
    let before = n_packets(&mut sw, "icmp");
    // What the datapath carried reaches the flow, and the decision still holds.
    assert!(sw.credit(&o, 7, 7 * ab.len() as u64, 60));
    assert_eq!(n_packets(&mut sw, "icmp"), before + 7);
    // A flow change: the decision no longer holds, and counts for it are not
    // given to flows that may be gone.
    sw.add_flows("br0", &["priority=20,udp,actions=drop".into()], 70)
        .unwrap();
    assert!(!sw.credit(&o, 3, 3 * ab.len() as u64, 80));
    assert_eq!(n_packets(&mut sw, "icmp"), before + 7);
}

#[test]
fn floods_to_one_port_and_established_connections_are_offered() {
    let (mut sw, a, b) = two_ports();
    let mut out = Vec::new();
    let arp = arp_request(MAC_A);
    sw.receive(a, &arp, None, 10, &mut out);
    out.clear();
    // A flood out of one other port is a single forward: offered.
    let mut o = Offer::default();
    sw.receive_offer(a, &arp, None, 20, &mut out, &mut o);
    assert!(o.offloadable());
    out.clear();
    // ct(): offered once the connection is established, marked tracked (SYN,
    // FIN and RST must come up), and no longer once the connection is gone.
    sw.add_flows(
        "br0",
        &[
            "priority=10,ip,ct_state=-trk,actions=ct(table=1)".into(),
            "table=1,priority=10,ip,ct_state=+trk+new,actions=ct(commit),NORMAL".into(),
            "table=1,priority=10,ip,ct_state=+trk+est,actions=NORMAL".into(),
        ],
        30,
    )
    .unwrap();
    let (ia, ib) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let req = udp(MAC_A, MAC_B, ia, ib, 1000);
    let mut rep = udp(MAC_B, MAC_A, ib, ia, 5001);
    rep[36..38].copy_from_slice(&1000u16.to_be_bytes());
    let mut o = Offer::default();
    let mut offered = |sw: &mut Switch, port, f: &[u8], t| {
        sw.receive_offer(port, f, None, t, &mut out, &mut o);
        out.clear();
        (o.offloadable(), o.tracked(), o.clone())
    };
    assert!(!offered(&mut sw, a, &req, 40).0, "a new connection");
    offered(&mut sw, b, &rep, 50); // learns b's MAC
    let (ok, tracked, _) = offered(&mut sw, b, &rep, 60);
    assert!(ok && tracked, "an established connection's reply");
    let (ok, tracked, est) = offered(&mut sw, a, &req, 70);
    assert!(ok && tracked);
    assert!(sw.credit(&est, 5, 5 * req.len() as u64, 80));
    sw.conntrack_mut().flush(None);
    assert!(
        !sw.credit(&est, 1, req.len() as u64, 90),
        "the connection is gone"
    );
    // No flow cache, nothing recorded.
    sw.set_flow_cache_capacity(0);
    assert!(!offered(&mut sw, a, &req, 100).0);
}
