//! The engine end to end: Neutron's br-int + br-tun pipeline on crafted packets.

mod common;
use common::*;
use std::net::Ipv4Addr;
use switch::{Field, Forward, TunnelMeta};
use wire::PacketBuf;

fn outputs(
    port: usize,
    h: &mut Host,
    frame: &[u8],
    tun: Option<&TunnelMeta>,
    now: u64,
) -> (switch::FlowKey, Vec<Forward>) {
    let mut out = Vec::new();
    let k = h.sw.receive(port, frame, tun, now, &mut out);
    (k, forwards(&out))
}

#[test]
fn broadcast_from_vm_floods_locally_and_to_the_tunnel_untagged() {
    let mut h = neutron_host();
    let f = arp_request(MAC_A);
    let (orig, out) = outputs(h.tap1, &mut h, &f, None, 1);
    let ports: Vec<usize> = out.iter().map(|o| o.port).collect();
    assert_eq!(ports, vec![h.tap2, h.vxlan]);
    // tap2 is an access port: untagged.
    assert_eq!(out[0].key.get(Field::VlanTci), 0);
    // The tunnel gets VNI 0x64 and the local VLAN stripped by table 22.
    assert_eq!(out[1].key.get(Field::TunId), 0x64);
    assert_eq!(out[1].key.get(Field::VlanTci), 0);
    let mut pkt = PacketBuf::from_slice(&f);
    out[1].rewrite(&mut pkt, &orig);
    assert_eq!(pkt.data(), &f[..]);
}

#[test]
fn tunnel_packet_is_learned_and_delivered_then_unicast_goes_back_by_learned_flow() {
    let mut h = neutron_host();
    // vm A (tap1) speaks first so br-int learns it.
    outputs(h.tap1, &mut h, &arp_request(MAC_A), None, 1);
    // The reply from B arrives over VXLAN, VNI 0x64.
    let tun = TunnelMeta {
        id: 0x64,
        src: u32::from(Ipv4Addr::new(192, 168, 100, 2)),
        dst: u32::from(Ipv4Addr::new(192, 168, 100, 1)),
    };
    let reply = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    let (_, out) = outputs(h.vxlan, &mut h, &reply, Some(&tun), 2);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].port, h.tap1);
    assert_eq!(out[0].key.get(Field::VlanTci), 0);
    // Table 20 now holds the learned flow.
    let flows = h.sw.dump_flows("br-tun", Some(20), 3).unwrap();
    assert!(
        flows.iter().any(|l| l.contains("hard_timeout=300")
            && l.contains("dl_dst=fa:16:3e:00:00:04")
            && l.contains("vlan_tci=0x0001/0x0fff")
            && l.contains("set_field:0x64->tun_id")
            && l.contains("output:vxlan-c0a86402")),
        "{flows:#?}"
    );
    // A unicast from A to B now leaves through the learned flow, not the flood.
    let req = icmp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4]);
    let (_, out) = outputs(h.tap1, &mut h, &req, None, 4);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].port, h.vxlan);
    assert_eq!(out[0].key.get(Field::TunId), 0x64);
    let learned = h.sw.dump_flows("br-tun", Some(20), 5).unwrap();
    assert!(learned[0].contains("n_packets=1"), "{learned:?}");
}

#[test]
fn replacing_flows_with_the_same_set_keeps_learned_flows_and_counters() {
    let mut h = neutron_host();
    outputs(h.tap1, &mut h, &arp_request(MAC_A), None, 1);
    let tun = TunnelMeta {
        id: 0x64,
        src: u32::from(Ipv4Addr::new(192, 168, 100, 2)),
        dst: u32::from(Ipv4Addr::new(192, 168, 100, 1)),
    };
    let reply = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    outputs(h.vxlan, &mut h, &reply, Some(&tun), 2);
    let before = h.sw.dump_flows("br-tun", None, 3).unwrap();
    let learned = |l: &String| l.contains(", table=20,") && l.contains("hard_timeout=300");
    assert!(before.iter().any(learned), "{before:#?}");
    // An agent re-pushing the same flows (say, after its restart) changes nothing.
    h.sw.replace_flows("br-tun", &br_tun_flows("vxlan-c0a86402"), 3)
        .unwrap();
    assert_eq!(h.sw.dump_flows("br-tun", None, 3).unwrap(), before);
    // A different set replaces everything, learned flows included.
    let mut changed = br_tun_flows("vxlan-c0a86402");
    changed.push("table=21,priority=0,actions=resubmit(,22)".into());
    h.sw.replace_flows("br-tun", &changed, 4).unwrap();
    let after = h.sw.dump_flows("br-tun", None, 4).unwrap();
    assert!(!after.iter().any(learned), "{after:#?}");
    assert_eq!(after.len(), changed.len());
}

#[test]
fn unknown_vni_is_dropped() {
    let mut h = neutron_host();
    let tun = TunnelMeta {
        id: 0x99,
        src: 1,
        dst: 2,
    };
    let (_, out) = outputs(h.vxlan, &mut h, &arp_request(MAC_B), Some(&tun), 1);
    assert!(out.is_empty());
}

#[test]
fn learned_flows_expire_with_hard_timeout() {
    let mut h = neutron_host();
    let tun = TunnelMeta {
        id: 0x64,
        src: 5,
        dst: 6,
    };
    outputs(h.vxlan, &mut h, &arp_request(MAC_B), Some(&tun), 1000);
    assert_eq!(h.sw.dump_flows("br-tun", Some(20), 1000).unwrap().len(), 2);
    h.sw.expire(1000 + 299_000);
    assert_eq!(h.sw.dump_flows("br-tun", Some(20), 0).unwrap().len(), 2);
    h.sw.expire(1000 + 300_000);
    assert_eq!(h.sw.dump_flows("br-tun", Some(20), 0).unwrap().len(), 1);
}

#[test]
fn trace_walks_both_bridges_to_table_22_and_the_tunnel() {
    let mut h = neutron_host();
    let lines = h
        .sw
        .trace("br-int", "in_port=tap1,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.0.2,arp_tpa=10.0.0.4", 1)
        .unwrap();
    let text = lines.join("\n");
    assert!(text.contains("bridge(\"br-int\")"), "{text}");
    assert!(text.contains("bridge(\"br-tun\")"), "{text}");
    assert!(text.contains("table 22: dl_vlan=1, priority 1"), "{text}");
    assert!(
        text.contains(
            "output vxlan-c0a86402 (VXLAN vni 0x64, udp 192.168.100.1 -> 192.168.100.2:4789)"
        ),
        "{text}"
    );
    assert!(text.contains("output tap2 (tap)"), "{text}");
    // Trace changed nothing: no MAC learned, no counters.
    assert!(h.sw.fdb("br-int", 1).unwrap().is_empty());
    assert!(
        h.sw.dump_flows("br-tun", None, 1)
            .unwrap()
            .iter()
            .all(|l| l.contains("n_packets=0"))
    );
}

#[test]
fn trace_rejects_missing_or_unknown_in_port() {
    let mut h = neutron_host();
    assert!(h.sw.trace("br-int", "dl_dst=ff:ff:ff:ff:ff:ff", 0).is_err());
    let e =
        h.sw.trace("br-int", "in_port=nosuch", 0)
            .unwrap_err()
            .to_string();
    assert!(e.contains("nosuch"), "{e}");
}

#[test]
fn normal_learns_and_ages_macs() {
    let mut h = neutron_host();
    outputs(h.tap1, &mut h, &arp_request(MAC_A), None, 0);
    let fdb = h.sw.fdb("br-int", 1000).unwrap();
    assert_eq!(fdb.len(), 1);
    assert_eq!(
        (
            fdb[0].port.as_str(),
            fdb[0].vlan,
            fdb[0].mac.as_str(),
            fdb[0].age_secs
        ),
        ("tap1", 1, "fa:16:3e:00:00:01", 1)
    );
    // Unicast to A from tap2 goes only to tap1.
    let (_, out) = outputs(
        h.tap2,
        &mut h,
        &icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]),
        None,
        2000,
    );
    assert_eq!(out.iter().map(|o| o.port).collect::<Vec<_>>(), vec![h.tap1]);
    h.sw.expire(400_000);
    assert!(h.sw.fdb("br-int", 400_000).unwrap().is_empty());
}

#[test]
fn access_port_drops_tagged_frames() {
    let mut h = neutron_host();
    let mut pkt = PacketBuf::from_slice(&arp_request(MAC_A));
    pkt.push_vlan(0x8100, 7);
    let (_, out) = outputs(h.tap1, &mut h, pkt.data(), None, 0);
    assert!(out.is_empty());
}

#[test]
fn state_round_trip_restores_ports_and_flows() {
    let h = neutron_host();
    let cfg = h.sw.config();
    let sw2 = switch::Switch::restore(&cfg, 7, 0).unwrap();
    assert_eq!(sw2.config(), cfg);
}
