//! The flow cache at scale and its bounds: a full cache, 100,000 flows, big floods,
//! and replacing or adding flows by the thousand.

mod common;
use common::*;
use switch::{Field, PortType, Switch};

#[test]
fn the_cache_is_bounded() {
    let mut h = neutron_host();
    h.sw.set_flow_cache_capacity(8);
    for i in 0..20u16 {
        let f = udp(MAC_A, MAC_B, [10, 0, 0, 2], [10, 0, 0, 4], 1000 + i);
        send(&mut h.sw, h.tap1, &f, None, 1);
    }
    let st = h.sw.flow_cache_stats();
    assert!(st.entries <= 8, "{st:?}");
    assert_eq!(st.capacity, 8);
}

/// The 100,000-flow host of the bench installs and forwards both ways, with and
/// without the cache (no timing here).
#[test]
fn a_host_with_100k_flows_installs_and_forwards() {
    let mut s = scaled_host(100_000);
    assert_eq!(s.flows, 100_000);
    let n = |sw: &mut Switch, br: &str| sw.dump_flows(br, None, 0).unwrap().len();
    assert_eq!(n(&mut s.sw, "br-int") + n(&mut s.sw, "br-tun"), 100_000);
    let fwd = udp(VM0_MAC, REMOTE0_MAC, VM0_IP, REMOTE0_IP, 1234);
    let back = udp(REMOTE0_MAC, VM0_MAC, REMOTE0_IP, VM0_IP, 5678);
    for cached in [true, false] {
        if !cached {
            s.sw.set_flow_cache_capacity(0);
        }
        for round in 0..3 {
            let now = 10 + round;
            let out = forwards(&send(
                &mut s.sw,
                s.vxlan0,
                &back,
                Some(&tun(SCALE_VNI)),
                now,
            ));
            assert_eq!(ports_of(&out), vec![s.tap0], "{out:?}");
            assert_eq!(out[0].key.get(Field::VlanTci), 0);
            let out = forwards(&send(&mut s.sw, s.tap0, &fwd, None, now));
            assert_eq!(ports_of(&out), vec![s.vxlan0], "{out:?}");
            assert_eq!(out[0].key.get(Field::TunId), u128::from(SCALE_VNI));
            assert_eq!(out[0].key.get(Field::VlanTci), 0);
        }
    }
    // A padding VM reaches a padding remote on its network through its tunnel.
    let (p, mac, ip, vlan) = s.vms[17];
    let &(rmac, _, vni, tport) = s.remotes.iter().find(|r| r.1 == vlan).unwrap();
    // (br-int has not learned the remote MAC: it floods on the VLAN, and br-tun
    // sends the copy for patch-tun down the one right tunnel.)
    let out = forwards(&send(
        &mut s.sw,
        p,
        &udp(mac, rmac, ip, [10, 9, 9, 9], 1),
        None,
        20,
    ));
    assert_eq!(out[0].port, tport, "{out:?}");
    assert_eq!(out[0].key.get(Field::TunId), u128::from(vni));
    for o in &out[1..] {
        assert!(s.vms.iter().any(|v| v.0 == o.port && v.3 == vlan), "{o:?}");
    }
    // Its spoofed twin is dropped by table 25.
    let spoof = udp([0xfa, 0x16, 0x3e, 9, 9, 9], rmac, ip, [10, 9, 9, 9], 1);
    assert!(send(&mut s.sw, p, &spoof, None, 21).is_empty());
    let st = s.sw.flow_cache_stats();
    assert!(st.hits >= 2, "{st:?}");
}

#[test]
fn big_floods_take_the_slow_path() {
    let mut t = Twin::new(|| {
        let mut h = neutron_host();
        for i in 0..10 {
            let mut p = port(&format!("tapx{i}"), PortType::Tap);
            p.tag = Some(1);
            h.sw.add_port("br-int", p).unwrap();
        }
        h.sw
    });
    let h = neutron_host();
    let f = arp_request(MAC_A);
    for now in 0..5 {
        assert_eq!(t.send(h.tap1, &f, None, now).len(), 12);
    }
    let st = t.a.flow_cache_stats();
    assert_eq!((st.hits, st.entries), (0, 0), "{st:?}");
    t.same_state(5);
}

#[test]
fn replace_flows_keeps_counters_of_unchanged_flows_order_and_atomicity() {
    let mut h = neutron_host();
    let f = arp_request(MAC_A);
    for now in 0..3 {
        send(&mut h.sw, h.tap1, &f, None, now);
    }
    let flood = |sw: &mut Switch| {
        dump(sw, "br-tun")
            .into_iter()
            .find(|l| l.contains("table=22") && l.contains("dl_vlan=1"))
            .unwrap()
    };
    assert!(flood(&mut h.sw).contains("n_packets=3,"));
    // A set with one more flow: the unchanged ones keep their counters.
    let mut flows = br_tun_flows("vxlan-c0a86402");
    flows.push("table=21,priority=0,actions=resubmit(,22)".into());
    // Equal priorities in one table keep the order they were given in.
    flows.push("table=30,priority=5,dl_vlan=7,actions=drop".into());
    flows.push("table=30,priority=9,dl_vlan=8,actions=drop".into());
    flows.push("table=30,priority=5,dl_vlan=6,actions=drop".into());
    flows.push("table=30,priority=5,actions=drop".into());
    h.sw.replace_flows("br-tun", &flows, 10).unwrap();
    assert!(
        flood(&mut h.sw).contains("n_packets=3,"),
        "{}",
        flood(&mut h.sw)
    );
    let t30: Vec<String> =
        h.sw.dump_flows("br-tun", Some(30), 10)
            .unwrap()
            .iter()
            .map(|l| l.split("priority=").nth(1).unwrap().to_string())
            .collect();
    assert_eq!(
        t30,
        vec![
            "9,dl_vlan=8 actions=drop",
            "5,dl_vlan=7 actions=drop",
            "5,dl_vlan=6 actions=drop",
            "5 actions=drop",
        ]
    );
    // A bad line: nothing changes.
    let before = dump(&mut h.sw, "br-tun");
    let g = h.sw.generation;
    let mut bad = flows.clone();
    bad.push("table=0,priority=1,in_port=nosuch,actions=drop".into());
    assert!(h.sw.replace_flows("br-tun", &bad, 11).is_err());
    assert_eq!(dump(&mut h.sw, "br-tun"), before);
    assert_eq!(h.sw.generation, g);
}

#[test]
fn add_flows_at_scale_replaces_and_orders_like_before() {
    // 20,000 flows through add-flow, some twice (replaced in place), in one table.
    let mut sw = Switch::new(7);
    sw.add_bridge("br", 0).unwrap();
    let lines: Vec<String> = (0..20_000u32)
        .map(|i| {
            format!(
                "table=20,priority={},dl_vlan={},dl_dst=fa:16:3f:00:{:02x}:{:02x},actions=output:{}",
                i % 3,
                1 + i % 7,
                (i >> 8) & 0xff,
                i & 0xff,
                i
            )
        })
        .collect();
    assert_eq!(sw.add_flows("br", &lines, 0).unwrap(), 20_000);
    // The first 100 again with other actions: replaced where they stand.
    let again: Vec<String> = lines[..100]
        .iter()
        .map(|l| l.replace("actions=output:", "actions=output:9"))
        .collect();
    sw.add_flows("br", &again, 1).unwrap();
    let d = sw.dump_flows("br", Some(20), 1).unwrap();
    assert_eq!(d.len(), 20_000);
    // Priority 2 first, then 1, then 0; within one priority, insertion order.
    let prio = |l: &String| {
        l.split("priority=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert!(d[..6666].iter().all(|l| prio(l) == "2"));
    assert!(d[6666..13333].iter().all(|l| prio(l) == "1"));
    assert!(d[0].contains("actions=output:92"), "{}", d[0]);
    assert!(d[1].contains("actions=output:95"), "{}", d[1]);
    assert!(d[13333].contains("actions=output:90"), "{}", d[13333]);
}
