//! The flow cache: a switch with it must do exactly what one without it does
//! (outputs, replies, counters, MAC table), and it must let go of decisions that
//! ports, flows or MAC learning changed.

mod common;
use common::*;
use std::net::Ipv4Addr;
use switch::{DhcpBinding, PortType, Switch};

/// xorshift: deterministic "random" choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn arp_from(src: [u8; 6], spa: [u8; 4]) -> Vec<u8> {
    let mut f = arp_request(src);
    // Sender IP at 14 + 14.
    f[28..32].copy_from_slice(&spa);
    f
}

#[test]
fn cached_and_uncached_agree_on_a_long_random_run() {
    let mut t = Twin::new(|| {
        let mut s = scaled_host(600);
        // DHCP on tap0 too, so some packets run the `dhcp` action.
        let mut b = DhcpBinding::new(
            "fa:16:3e:00:00:01",
            Ipv4Addr::new(10, 0, 0, 2),
            24,
            Ipv4Addr::new(10, 0, 0, 3),
        );
        b.router = Some(Ipv4Addr::new(10, 0, 0, 1));
        s.sw.set_port_dhcp("br-int", "tap0", Some(b)).unwrap();
        s.sw.add_flows(
            "br-int",
            &[
                "table=0,priority=50,in_port=tap0,arp,arp_op=1,arp_tpa=10.0.0.3,actions=dhcp"
                    .into(),
            ],
            0,
        )
        .unwrap();
        s.sw
    });
    let s = scaled_host(600);
    let (tap0, vxlan0) = (s.tap0, s.vxlan0);
    let vm_macs = [VM0_MAC, [0xfa, 0x16, 0x3e, 0, 0, 0x55]];
    let mut rng = Rng(0x9e37_79b9);
    let mut now = 1000u64;
    for step in 0..6000 {
        now += rng.next(3000);
        if rng.next(400) == 0 {
            now += 400_000; // everything ages out
        }
        match rng.next(64) / 8 {
            // VM 0 to a remote (l2pop'd or not), sometimes from a spoofed MAC.
            0 | 1 => {
                let dst = if rng.next(2) == 0 {
                    REMOTE0_MAC
                } else {
                    s.remotes[rng.next(s.remotes.len() as u64) as usize].0
                };
                let src = vm_macs[rng.next(2) as usize];
                let f = udp(src, dst, VM0_IP, REMOTE0_IP, 1000 + rng.next(4) as u16);
                t.send(tap0, &f, None, now);
            }
            // A remote to VM 0 over the tunnel (sometimes an unknown VNI).
            2 | 3 => {
                let src = [REMOTE0_MAC, [0xfa, 0x16, 0x3f, 9, 9, 9]][rng.next(2) as usize];
                let vni = [SCALE_VNI, SCALE_VNI, 0x99][rng.next(3) as usize];
                let f = udp(src, VM0_MAC, REMOTE0_IP, VM0_IP, 2000 + rng.next(3) as u16);
                t.send(vxlan0, &f, Some(&tun(vni)), now);
            }
            // ARP: broadcasts from VM 0, requests to the DHCP server address.
            4 => {
                let mut f = arp_from(VM0_MAC, VM0_IP);
                if rng.next(2) == 0 {
                    f[38..42].copy_from_slice(&[10, 0, 0, 3]);
                }
                t.send(tap0, &f, None, now);
            }
            // A padding VM to a remote on its own VLAN, IP or ARP.
            5 | 6 => {
                let (p, mac, ip, vlan) = s.vms[rng.next(s.vms.len() as u64) as usize];
                let dst = s
                    .remotes
                    .iter()
                    .find(|r| r.1 == vlan)
                    .map(|r| r.0)
                    .unwrap_or(BCAST);
                let f = if rng.next(3) == 0 {
                    arp_from(mac, ip)
                } else {
                    udp(mac, dst, ip, [10, 9, 9, 9], 3000)
                };
                t.send(p, &f, None, now);
            }
            // Now and then the switch changes under the traffic.
            _ if rng.next(8) != 0 => {
                let f = udp(VM0_MAC, REMOTE0_MAC, VM0_IP, REMOTE0_IP, 1000);
                t.send(tap0, &f, None, now);
            }
            _ => match rng.next(6) {
                0 => t.both(|sw| sw.expire(now)),
                1 => t.both(|sw| {
                    sw.add_flows(
                        "br-int",
                        &[format!(
                            "table=25,priority=5,in_port=tap0,dl_src={},actions=drop",
                            wire::MacAddr(vm_macs[1])
                        )],
                        now,
                    )
                    .unwrap();
                }),
                2 => t.both(|sw| {
                    let m = format!("table=25,in_port=tap0,dl_src={}", wire::MacAddr(vm_macs[1]));
                    sw.del_flows("br-int", Some(&m)).unwrap();
                }),
                3 => t.both(|sw| {
                    let _ = sw.del_flows(
                        "br-tun",
                        Some("table=20,dl_vlan=1,dl_dst=fa:16:3f:00:00:01"),
                    );
                }),
                4 => t.both(|sw| {
                    let mut p = port("tapextra", PortType::Tap);
                    p.tag = Some(SCALE_VLAN);
                    if sw.del_port("br-int", "tapextra").is_err() {
                        sw.add_port("br-int", p).unwrap();
                    }
                }),
                _ => t.both(|sw| sw.expire(now)),
            },
        }
        if step % 97 == 0 {
            t.same_state(now);
        }
    }
    t.same_state(now);
    let st = t.a.flow_cache_stats();
    assert!(st.hits > 1000, "{st:?}");
    assert!(st.misses > 100, "{st:?}");
    assert!(st.invalidations > 10, "{st:?}");
    assert_eq!(t.b.flow_cache_stats().hits, 0);
}

#[test]
fn cached_and_uncached_agree_on_the_test_host() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let reply = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    let req = icmp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4]);
    for round in 0..5u64 {
        let now = 1 + round * 1000;
        t.send(h.tap1, &arp_request(MAC_A), None, now);
        t.send(h.vxlan, &reply, Some(&tun(0x64)), now + 1);
        t.send(h.tap1, &req, None, now + 2);
        t.send(h.tap1, &req, None, now + 3);
        t.send(h.vxlan, &reply, Some(&tun(0x64)), now + 4);
        // B shows up on tap2 (a move) and goes back to the tunnel.
        if round == 2 {
            t.send(h.tap2, &reply, None, now + 5);
            t.send(h.tap1, &req, None, now + 6);
        }
        t.same_state(now + 7);
    }
    assert!(
        t.a.flow_cache_stats().hits > 5,
        "{:?}",
        t.a.flow_cache_stats()
    );
}

#[test]
fn adding_and_deleting_a_flow_invalidates() {
    let mut h = neutron_host();
    let f = arp_request(MAC_A);
    // Learns A (not cached: the switch changed), fills, hits.
    for now in 0..3 {
        assert_eq!(
            ports_of(&send(&mut h.sw, h.tap1, &f, None, now)),
            vec![h.tap2, h.vxlan]
        );
    }
    assert_eq!(h.sw.flow_cache_stats().hits, 1);
    let drop = "table=22,priority=5,dl_vlan=1,dl_src=fa:16:3e:00:00:01";
    h.sw.add_flows("br-tun", &[format!("{drop},actions=drop")], 3)
        .unwrap();
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 4)),
        vec![h.tap2]
    );
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 5)),
        vec![h.tap2]
    );
    assert_eq!(h.sw.del_flows("br-tun", Some(drop)).unwrap(), 1);
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 6)),
        vec![h.tap2, h.vxlan]
    );
    // replace_flows with a different set invalidates too.
    let mut flows = br_tun_flows("vxlan-c0a86402");
    flows.push("table=0,priority=9,in_port=patch-int,actions=drop".into());
    h.sw.replace_flows("br-tun", &flows, 7).unwrap();
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 8)),
        vec![h.tap2]
    );
    let st = h.sw.flow_cache_stats();
    assert!(st.invalidations >= 3, "{st:?}");
}

#[test]
fn replacing_flows_with_the_same_set_keeps_the_cache() {
    let mut h = neutron_host();
    let f = arp_request(MAC_A);
    send(&mut h.sw, h.tap1, &f, None, 0);
    send(&mut h.sw, h.tap1, &f, None, 1);
    let g = h.sw.generation;
    h.sw.replace_flows("br-tun", &br_tun_flows("vxlan-c0a86402"), 2)
        .unwrap();
    assert_eq!(h.sw.generation, g);
    send(&mut h.sw, h.tap1, &f, None, 3);
    assert_eq!(h.sw.flow_cache_stats().hits, 1);
}

#[test]
fn port_changes_invalidate() {
    let mut h = neutron_host();
    let f = arp_request(MAC_A);
    send(&mut h.sw, h.tap1, &f, None, 1);
    send(&mut h.sw, h.tap1, &f, None, 2);
    let mut p = port("tap3", PortType::Tap);
    p.tag = Some(1);
    let tap3 = h.sw.add_port("br-int", p).unwrap();
    // Flooded in OpenFlow port order: tap2, patch-tun (-> the tunnel), tap3.
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 3)),
        vec![h.tap2, h.vxlan, tap3]
    );
    h.sw.del_port("br-int", "tap2").unwrap();
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &f, None, 4)),
        vec![h.vxlan, tap3]
    );
}

#[test]
fn mac_learning_and_moves_invalidate_but_refreshes_do_not() {
    let mut h = neutron_host();
    let mut p = port("tap3", PortType::Tap);
    p.tag = Some(1);
    let tap3 = h.sw.add_port("br-int", p).unwrap();
    let to_b = icmp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4]);
    let from_b = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    // B unknown: flooded (and A learned: a change).
    let g0 = h.sw.generation;
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 1)),
        vec![h.tap2, h.vxlan, tap3]
    );
    assert!(h.sw.generation > g0);
    // Again (filling the cache), and again (a hit): a mere refresh of A changes
    // nothing.
    let g1 = h.sw.generation;
    send(&mut h.sw, h.tap1, &to_b, None, 2);
    send(&mut h.sw, h.tap1, &to_b, None, 2);
    assert_eq!(h.sw.generation, g1);
    assert_eq!(h.sw.flow_cache_stats().hits, 1);
    // B speaks from tap2: learned, so A -> B now goes only to tap2.
    send(&mut h.sw, h.tap2, &from_b, None, 3);
    assert!(h.sw.generation > g1);
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 4)),
        vec![h.tap2]
    );
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 5)),
        vec![h.tap2]
    );
    // B moves to tap3.
    send(&mut h.sw, tap3, &from_b, None, 6);
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 7)),
        vec![tap3]
    );
    // B's entry flushed with its port.
    h.sw.del_port("br-int", "tap3").unwrap();
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 8)),
        vec![h.tap2, h.vxlan]
    );
    // The generation only moved for real changes: two of the sends above hit.
    assert_eq!(h.sw.flow_cache_stats().hits, 2);
}

#[test]
fn a_cached_unicast_decision_ends_when_the_destination_ages_out() {
    // No expire() in between: the cached entry itself must know B's entry is stale.
    let mut h = neutron_host();
    let to_b = icmp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4]);
    let from_b = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    send(&mut h.sw, h.tap2, &from_b, None, 0);
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 1)),
        vec![h.tap2]
    );
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 2)),
        vec![h.tap2]
    );
    // A keeps talking; B is silent past the aging time: A -> B floods again.
    assert_eq!(
        ports_of(&send(&mut h.sw, h.tap1, &to_b, None, 300_000)),
        vec![h.tap2, h.vxlan]
    );
}

#[test]
fn active_macs_stay_learned_on_the_cached_path() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let to_b = icmp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4]);
    let from_b = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    // Ten minutes of traffic both ways, expire() every simulated second.
    let mut now = 0;
    while now < 600_000 {
        t.send(h.tap1, &to_b, None, now);
        t.send(h.tap2, &from_b, None, now + 1);
        now += 1000;
        t.both(|sw| sw.expire(now));
    }
    t.same_state(now);
    assert_eq!(t.a.fdb("br-int", now).unwrap().len(), 2);
    // Hits, not refills: the MACs never aged out, so the generation stood still.
    let st = t.a.flow_cache_stats();
    assert!(st.hits > 1000, "{st:?}");
    assert!(st.misses < 10, "{st:?}");
}

#[test]
fn counters_count_on_hits() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let f = arp_request(MAC_A);
    for i in 0..10 {
        t.send(h.tap1, &f, None, i * 10);
    }
    t.same_state(100);
    // The first learns A, the second fills the cache, the rest hit.
    assert_eq!(t.a.flow_cache_stats().hits, 8);
    let flows = dump(&mut t.a, "br-tun");
    let flood = flows
        .iter()
        .find(|l| l.contains("table=22") && l.contains("dl_vlan=1"))
        .unwrap();
    assert!(flood.contains("n_packets=10,"), "{flood}");
    assert!(
        flood.contains(&format!("n_bytes={},", 10 * f.len())),
        "{flood}"
    );
}

/// Hits owe their counts to the flows until something reads or removes flows. With
/// no read in between, a flow deleted after cached hits and another added in its
/// slot must not inherit them; a flow with an idle timeout that only cached
/// packets kept busy must not expire.
#[test]
fn owed_counts_settle_before_flows_change_or_expire() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let f = arp_request(MAC_A);
    let flood = "table=22,priority=1,dl_vlan=1";
    for i in 0..10 {
        t.send(h.tap1, &f, None, i);
    }
    assert!(t.a.flow_cache_stats().hits >= 8);
    t.both(|sw| {
        assert_eq!(sw.del_flows("br-tun", Some(flood)).unwrap(), 1);
        sw.add_flows(
            "br-tun",
            &["table=22,priority=3,dl_vlan=2,actions=drop".into()],
            20,
        )
        .unwrap();
    });
    t.same_state(30);
    let fresh = dump(&mut t.a, "br-tun");
    let fresh = fresh.iter().find(|l| l.contains("dl_vlan=2")).unwrap();
    assert!(fresh.contains("n_packets=0,"), "{fresh}");

    // Idle timeout 1 s on the flood flow; packets every 300 ms for 3 s, each
    // expiry pass 900 ms after the one before and no read in between.
    t.both(|sw| {
        sw.add_flows(
            "br-tun",
            &[format!(
                "{flood},idle_timeout=1,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86402"
            )],
            100,
        )
        .unwrap();
    });
    let mut now = 100;
    while now < 3100 {
        t.send(h.tap1, &f, None, now);
        if now % 900 == 100 {
            t.both(|sw| sw.expire(now));
        }
        now += 300;
    }
    t.same_state(now);
    let kept = dump(&mut t.a, "br-tun");
    let kept = kept.iter().find(|l| l.contains("idle_timeout=1")).unwrap();
    assert!(kept.contains("n_packets=10,"), "{kept}");
}

/// Hits owed when replace_flows rebuilds the tables (flow ids move) or the cache is
/// resized (entries dropped) go to the flows they hit, with no read in between.
#[test]
fn owed_counts_settle_before_replace_flows_and_resizing() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let f = arp_request(MAC_A);
    for i in 0..10 {
        t.send(h.tap1, &f, None, i);
    }
    // Two new flows ahead of the flood flow in its table: ids shift in the rebuild.
    let mut flows = br_tun_flows("vxlan-c0a86402");
    flows.insert(0, "table=22,priority=9,dl_vlan=9,actions=drop".into());
    flows.insert(0, "table=22,priority=8,dl_vlan=8,actions=drop".into());
    t.both(|sw| {
        sw.replace_flows("br-tun", &flows, 20).unwrap();
    });
    t.same_state(30);
    for i in 40..50 {
        t.send(h.tap1, &f, None, i);
    }
    t.a.set_flow_cache_capacity(1024);
    t.same_state(60);
    let flood = dump(&mut t.a, "br-tun");
    let flood = flood
        .iter()
        .find(|l| l.contains("priority=1,dl_vlan=1"))
        .unwrap();
    assert!(flood.contains("n_packets=20,"), "{flood}");
}

#[test]
fn learned_flows_are_refreshed_by_cached_packets() {
    let mut t = Twin::new(|| neutron_host().sw);
    let h = neutron_host();
    let reply = icmp(MAC_B, MAC_A, [10, 0, 0, 4], [10, 0, 0, 2]);
    // A remote MAC keeps sending for longer than the learned flow's hard timeout.
    let mut now = 1000;
    while now < 1000 + 700_000 {
        t.send(h.vxlan, &reply, Some(&tun(0x64)), now);
        now += 10_000;
        t.both(|sw| sw.expire(now));
        t.same_state(now);
    }
    let learned = t.a.dump_flows("br-tun", Some(20), now).unwrap();
    assert_eq!(learned.len(), 2, "{learned:#?}");
    assert!(t.a.flow_cache_stats().hits > 50);
}

#[test]
fn dhcp_is_never_cached() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br-int", 0).unwrap();
    let mut p = port("tap1", PortType::Tap);
    p.dhcp = Some(DhcpBinding::new(
        "fa:16:3e:00:00:01",
        Ipv4Addr::new(10, 0, 0, 2),
        24,
        Ipv4Addr::new(10, 0, 0, 4),
    ));
    let tap1 = sw.add_port("br-int", p).unwrap();
    sw.add_flows(
        "br-int",
        &["table=0,priority=50,in_port=tap1,arp,arp_op=1,arp_tpa=10.0.0.4,actions=dhcp".into()],
        0,
    )
    .unwrap();
    // ARP for the DHCP server address: answered every time.
    let f = arp_request(MAC_A);
    for i in 0..3 {
        let out = send(&mut sw, tap1, &f, None, i);
        assert!(forwards(&out).is_empty());
        let r = made(&out);
        assert_eq!(r.len(), 1, "request {i}");
        assert_eq!(r[0].port, tap1);
    }
    let st = sw.flow_cache_stats();
    assert_eq!((st.hits, st.entries), (0, 0), "{st:?}");
    assert!(dump(&mut sw, "br-int")[0].contains("n_packets=3,"));
}

#[test]
fn trace_neither_uses_nor_fills_the_cache() {
    let mut h = neutron_host();
    let flow = "in_port=tap1,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_spa=10.0.0.2,arp_tpa=10.0.0.4";
    let fresh = h.sw.trace("br-int", flow, 1).unwrap();
    let f = arp_request(MAC_A);
    let frame_trace = h.sw.trace_frame(h.tap1, &f, None, 1).unwrap();
    assert_eq!(
        h.sw.flow_cache_stats(),
        switch::FlowCacheStats {
            capacity: 65_536,
            ..Default::default()
        }
    );
    // Warm the cache; trace still walks the tables and changes nothing.
    send(&mut h.sw, h.tap1, &f, None, 1);
    send(&mut h.sw, h.tap1, &f, None, 1);
    let before = h.sw.flow_cache_stats();
    let flows_before = dump(&mut h.sw, "br-tun");
    assert_eq!(h.sw.trace("br-int", flow, 1).unwrap(), fresh);
    let again = h.sw.trace_frame(h.tap1, &f, None, 1).unwrap();
    assert_eq!(again, frame_trace);
    assert_eq!(h.sw.flow_cache_stats(), before);
    assert_eq!(dump(&mut h.sw, "br-tun"), flows_before);
    assert!(fresh.join("\n").contains("table 22: dl_vlan=1, priority 1"));
}
