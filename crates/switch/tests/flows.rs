//! Flow text, tables and actions.

mod common;
use common::*;
use switch::{Field, FlowParts, PortType, Switch, flow_text};
use switch::{PortNames, parse_flow};
use wire::PacketBuf;

struct Names;
impl PortNames for Names {
    fn port_number(&self, name: &str) -> Option<u32> {
        match name {
            "patch-int" => Some(1),
            "vxlan-c0a86402" => Some(2),
            "tapvm1" => Some(3),
            _ => None,
        }
    }
    fn port_name(&self, n: u32) -> Option<String> {
        ["", "patch-int", "vxlan-c0a86402", "tapvm1"]
            .get(n as usize)
            .map(|s| s.to_string())
    }
}

fn round_trip(text: &str) -> String {
    let s = parse_flow(text, &Names, true).unwrap_or_else(|e| panic!("{text}: {e}"));
    let parts = FlowParts {
        table: s.table.unwrap_or(0),
        priority: s.priority,
        cookie: s.cookie,
        idle_timeout: s.idle_timeout,
        hard_timeout: s.hard_timeout,
        matcher: &s.matcher,
        actions: s.actions.as_deref().unwrap_or(&[]),
    };
    let printed = flow_text(&parts, &Names);
    let again = parse_flow(&printed, &Names, true).unwrap_or_else(|e| panic!("{printed}: {e}"));
    assert_eq!(again.matcher, s.matcher, "{text} -> {printed}");
    assert_eq!(again.actions, s.actions, "{text} -> {printed}");
    assert_eq!(
        (again.table, again.priority, again.cookie),
        (s.table.or(Some(0)), s.priority, s.cookie)
    );
    printed
}

#[test]
fn parse_print_parse_round_trips() {
    let mut all = br_tun_flows("vxlan-c0a86402");
    all.extend(
        [
            "table=21,priority=1,arp,dl_vlan=1,arp_op=1,arp_tpa=10.0.0.4,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:00:04,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163e000004->NXM_NX_ARP_SHA[],load:0xa000004->NXM_OF_ARP_SPA[],IN_PORT",
            "table=24,priority=2,arp,in_port=tapvm1,arp_spa=10.0.0.2,actions=resubmit(,25)",
            "table=25,priority=2,in_port=3,dl_src=fa:16:3e:00:00:01,actions=goto_table:60",
            "priority=10,tcp,nw_src=10.0.0.0/24,nw_dst=10.1.101.5,tp_dst=22,actions=NORMAL",
            "priority=10,udp,tp_src=68,tp_dst=67,actions=drop",
            "priority=50,udp,in_port=tapvm1,tp_src=68,tp_dst=67,actions=dhcp",
            "priority=50,arp,in_port=tapvm1,arp_op=1,arp_tpa=10.0.0.2,actions=dhcp",
            "priority=5,icmp,icmp_type=8,icmp_code=0,actions=output:tapvm1",
            "priority=5,ipv6,ipv6_src=fd00::/64,actions=strip_vlan,push_vlan:0x8100,mod_vlan_vid:4,mod_vlan_pcp:3,output:2",
            "cookie=0xabc,idle_timeout=30,hard_timeout=60,priority=3,reg0=0x5/0xff,reg7=1,metadata=0x10,actions=load:0x1->NXM_NX_REG1[0..3],set_field:1->reg2,resubmit(tapvm1,3)",
            "priority=3,vlan_tci=0x0000,dl_type=0x88cc,actions=drop",
            "priority=3,tun_id=0x64,tun_src=192.168.100.2,dl_dst=fa:16:3e:00:00:00/ff:ff:ff:00:00:00,actions=set_tunnel:0x65,output:vxlan-c0a86402",
            "priority=1,arp,arp_sha=fa:16:3e:00:00:01,arp_tha=00:00:00:00:00:00,actions=mod_dl_dst:fa:16:3e:00:00:09,LOCAL",
        ]
        .map(String::from),
    );
    for f in all {
        round_trip(&f);
    }
    assert_eq!(
        round_trip("table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)"),
        "table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)"
    );
    assert_eq!(
        round_trip("priority=2 in_port=patch-int dl_vlan=1 actions=output:vxlan-c0a86402"),
        "table=0,priority=2,in_port=patch-int,dl_vlan=1,actions=output:vxlan-c0a86402"
    );
}

#[test]
fn errors_name_the_offending_token() {
    for (text, token) in [
        (
            "table=0,priority=1,in_port=patch-int,actions=frobnicate",
            "frobnicate",
        ),
        (
            "table=0,priority=1,in_port=nosuchport,actions=drop",
            "nosuchport",
        ),
        ("table=0,bogus_field=3,actions=drop", "bogus_field"),
        ("table=0,dl_vlan=5000,actions=drop", "5000"),
        ("table=300,actions=drop", "300"),
        ("nw_src=10.0.0.300,actions=drop", "10.0.0.300"),
        ("dl_src=fa:16:3e,actions=drop", "fa:16:3e"),
        ("priority=1", "actions"),
        ("actions=mod_vlan_vid:4096", "4096"),
        ("actions=load:0x1ff->NXM_NX_REG0[0..3]", "load:0x1ff"),
        ("actions=resubmit(,999)", "999"),
        ("actions=goto_table:2,output:1", "goto_table"),
        ("actions=move:NXM_OF_ETH_SRC[]->NXM_OF_IP_SRC[]", "move"),
    ] {
        let e = parse_flow(text, &Names, true).unwrap_err().to_string();
        assert!(e.contains(token), "{text}: '{e}' should name '{token}'");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn add_flows_is_all_or_nothing_and_same_rule_replaces() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    let before = sw.dump_flows("br0", None, 0).unwrap();
    let err = sw
        .add_flows(
            "br0",
            &[
                "priority=5,actions=drop".into(),
                "priority=6,actions=nope".into(),
            ],
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("nope"), "{err}");
    assert_eq!(sw.dump_flows("br0", None, 0).unwrap(), before);
    sw.add_flows("br0", &["priority=5,ip,actions=drop".into()], 0)
        .unwrap();
    sw.add_flows("br0", &["priority=5,ip,actions=NORMAL".into()], 0)
        .unwrap();
    let flows = sw.dump_flows("br0", None, 0).unwrap();
    assert_eq!(flows.len(), 2, "{flows:?}");
    assert!(
        flows[0].contains("priority=5,ip actions=NORMAL"),
        "{flows:?}"
    );
}

#[test]
fn priorities_and_del_flows_non_strict() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    let mut a = port("a", PortType::Tap);
    a.tag = None;
    let pa = sw.add_port("br0", a).unwrap();
    let pb = sw.add_port("br0", port("b", PortType::Tap)).unwrap();
    let pc = sw.add_port("br0", port("c", PortType::Tap)).unwrap();
    sw.replace_flows(
        "br0",
        &[
            "priority=10,in_port=a,ip,actions=output:b".into(),
            "priority=20,in_port=a,icmp,actions=output:c".into(),
            "priority=1,actions=drop".into(),
        ],
        0,
    )
    .unwrap();
    let mut out = Vec::new();
    sw.receive(
        pa,
        &icmp(MAC_A, MAC_B, [1, 1, 1, 1], [2, 2, 2, 2]),
        None,
        0,
        &mut out,
    );
    assert_eq!(out.iter().map(|o| o.port()).collect::<Vec<_>>(), vec![pc]);
    out.clear();
    sw.receive(pa, &arp_request(MAC_A), None, 0, &mut out);
    assert!(out.is_empty());
    // Non-strict delete of "in_port=a" removes both specific flows, not the catch-all.
    assert_eq!(sw.del_flows("br0", Some("in_port=a")).unwrap(), 2);
    assert_eq!(sw.dump_flows("br0", None, 0).unwrap().len(), 1);
    assert_eq!(sw.del_flows("br0", None).unwrap(), 1);
    let _ = pb;
}

#[test]
fn actions_rewrite_headers() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    let pa = sw.add_port("br0", port("a", PortType::Tap)).unwrap();
    let pb = sw.add_port("br0", port("b", PortType::Tap)).unwrap();
    sw.replace_flows(
        "br0",
        &[
            "priority=1,in_port=a,actions=mod_vlan_vid:10,mod_dl_src:02:00:00:00:00:01,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],load:0x7->NXM_NX_REG0[],resubmit(,1)".into(),
            "table=1,priority=1,reg0=7,dl_vlan=10,actions=output:b,strip_vlan,IN_PORT".into(),
        ],
        0,
    )
    .unwrap();
    let frame = icmp(MAC_A, MAC_B, [1, 1, 1, 1], [2, 2, 2, 2]);
    let mut out = Vec::new();
    let orig = sw.receive(pa, &frame, None, 0, &mut out);
    let out = forwards(&out);
    assert_eq!(out.iter().map(|o| o.port).collect::<Vec<_>>(), vec![pb, pa]);
    let mut pkt = PacketBuf::from_slice(&frame);
    out[0].rewrite(&mut pkt, &orig);
    let d = pkt.data();
    assert_eq!(&d[0..6], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&d[6..12], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&d[12..16], &[0x81, 0x00, 0x00, 10]);
    assert_eq!(&d[16..], &frame[12..]);
    let mut pkt = PacketBuf::from_slice(&frame);
    out[1].rewrite(&mut pkt, &orig);
    assert_eq!(pkt.len(), frame.len());
    assert_eq!(out[1].key.get(Field::Reg0), 7);
}

#[test]
fn resubmit_loops_are_cut() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    let pa = sw.add_port("br0", port("a", PortType::Tap)).unwrap();
    sw.replace_flows("br0", &["priority=1,actions=resubmit(,0)".into()], 0)
        .unwrap();
    let mut out = Vec::new();
    sw.receive(pa, &arp_request(MAC_A), None, 0, &mut out);
    assert!(out.is_empty());
}

#[test]
fn port_validation_errors() {
    let mut sw = Switch::new(7);
    sw.add_bridge("br0", 0).unwrap();
    assert!(sw.add_bridge("br0", 0).is_err());
    assert!(sw.add_bridge("a-name-longer-than-15", 0).is_err());
    let e = sw
        .add_port("br0", port("p", PortType::Patch))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--peer"), "{e}");
    let e = sw
        .add_port("br0", port("v", PortType::Vxlan))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--remote-ip"), "{e}");
    sw.add_port("br0", port("a", PortType::Tap)).unwrap();
    assert!(sw.add_port("br0", port("a", PortType::Tap)).is_err());
    assert!(sw.add_port("nobr", port("b", PortType::Tap)).is_err());
    let mut t = port("t", PortType::Tap);
    t.tag = Some(5000);
    assert!(sw.add_port("br0", t).is_err());
    assert!(sw.del_port("br0", "zz").is_err());
}

/// Issue 19 item 14: what was accepted but wrong is refused with one line.
#[test]
fn odd_ports_and_actions_are_refused() {
    use switch::{PortConfig, PortType, Switch};
    let mut sw = Switch::new(1);
    sw.add_bridge("br0", 0).unwrap();
    let lo = sw.add_port("br0", PortConfig::new("lo", PortType::System));
    assert!(lo.is_err_and(|e| e.to_string().contains("loopback")));
    for ofport in [0u32, 0xff00, u32::MAX] {
        let mut p = PortConfig::new("tap1", PortType::Tap);
        p.ofport = Some(ofport);
        let e = sw.add_port("br0", p).unwrap_err().to_string();
        assert!(
            e.contains("out of range") && !e.contains('\n'),
            "{ofport}: {e}"
        );
    }
    for bad in [
        "actions=push_vlan:0x0800",
        "actions=learn(table=20,load:0x1fff->NXM_OF_VLAN_TCI[0..11])",
        "actions=learn(table=20,load:0x100->NXM_NX_REG0[0..7])",
    ] {
        let e = sw
            .add_flows("br0", &[bad.to_string()], 0)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{bad}: {e}");
    }
    assert!(
        sw.add_flows("br0", &["actions=push_vlan:0x8100,NORMAL".to_string()], 0)
            .is_ok()
    );
    assert!(
        sw.add_flows(
            "br0",
            &["actions=learn(table=20,load:0xfff->NXM_OF_VLAN_TCI[0..11])".to_string()],
            0
        )
        .is_ok()
    );
}

/// Issue 19 item 13: learned flows are capped per table; past the cap the oldest
/// is evicted and counted, and the cap holds across replace-flows.
#[test]
fn learned_flows_are_capped() {
    use switch::{PortConfig, PortType, Switch};
    let mut sw = Switch::new(1);
    sw.add_bridge("br0", 0).unwrap();
    let tap = sw
        .add_port("br0", PortConfig::new("tap1", PortType::Tap))
        .unwrap();
    sw.add_port("br0", PortConfig::new("tap2", PortType::Tap))
        .unwrap();
    let flows = vec![
        "table=0,actions=learn(table=20,priority=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),NORMAL"
            .to_string(),
    ];
    sw.replace_flows("br0", &flows, 0).unwrap();
    sw.set_learned_flow_limit(3);
    let mut out = Vec::new();
    for i in 1..=5u8 {
        let src = [0xfa, 0x16, 0x3e, 0, 0, i];
        let f = udp(src, MAC_B, [10, 0, 0, i], [10, 0, 0, 99], 1000);
        out.clear();
        sw.receive(tap, &f, None, u64::from(i), &mut out);
    }
    let s = sw.learned_flow_stats();
    assert_eq!((s.flows, s.limit, s.evicted), (3, 3, 2));
    let learned = sw.dump_flows("br0", Some(20), 10).unwrap().join("\n");
    assert!(
        !learned.contains("fa:16:3e:00:00:01"),
        "the oldest stays:\n{learned}"
    );
    assert!(learned.contains("fa:16:3e:00:00:05"), "{learned}");
    // The cap survives a replace of the bridge's flows.
    sw.replace_flows("br0", &flows, 20).unwrap();
    for i in 6..=9u8 {
        let f = udp(
            [0xfa, 0x16, 0x3e, 0, 0, i],
            MAC_B,
            [10, 0, 0, i],
            [10, 0, 0, 99],
            1000,
        );
        out.clear();
        sw.receive(tap, &f, None, 30, &mut out);
    }
    let s = sw.learned_flow_stats();
    assert_eq!(s.flows, 3);
    assert!(s.evicted >= 3, "{s:?}");
}
