//! Builders shared by the engine tests: frames and a two-bridge Neutron host.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use switch::{PortConfig, PortType, Switch, TunnelKey};

pub const MAC_A: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 1];
pub const MAC_B: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 4];
pub const BCAST: [u8; 6] = [0xff; 6];

/// An Ethernet/IPv4 ARP request from `src` (10.0.0.2) for 10.0.0.4.
pub fn arp_request(src: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&BCAST);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 0, 0, 4]);
    f
}

/// A minimal IPv4/ICMP echo frame.
pub fn icmp(src: [u8; 6], dst: [u8; 6], s: [u8; 4], d: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip.extend_from_slice(&s);
    ip.extend_from_slice(&d);
    let c = wire::checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
    f
}

pub fn port(name: &str, kind: PortType) -> PortConfig {
    PortConfig::new(name, kind)
}

/// Neutron's br-tun flows for VNI 0x64 on local VLAN 1 towards `tun`.
pub fn br_tun_flows(tun: &str) -> Vec<String> {
    [
        "table=0,priority=1,in_port=patch-int,actions=resubmit(,2)".to_string(),
        format!("table=0,priority=1,in_port={tun},actions=resubmit(,4)"),
        "table=0,priority=0,actions=drop".into(),
        "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)".into(),
        "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)".into(),
        "table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)".into(),
        "table=4,priority=0,actions=drop".into(),
        "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:patch-int".into(),
        "table=20,priority=0,actions=resubmit(,22)".into(),
        format!("table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:{tun}"),
        "table=22,priority=0,actions=drop".into(),
    ]
    .into()
}

pub struct Host {
    pub sw: Switch,
    pub tap1: usize,
    pub tap2: usize,
    pub vxlan: usize,
}

/// br-int (tap1 and tap2 on VLAN 1, patch-tun) + br-tun (patch-int, vxlan-c0a86402).
pub fn neutron_host() -> Host {
    let mut sw = Switch::new();
    sw.add_bridge("br-int", 0).unwrap();
    sw.add_bridge("br-tun", 0).unwrap();
    let mut t1 = port("tap1", PortType::Tap);
    t1.tag = Some(1);
    let tap1 = sw.add_port("br-int", t1).unwrap();
    let mut t2 = port("tap2", PortType::Tap);
    t2.tag = Some(1);
    let tap2 = sw.add_port("br-int", t2).unwrap();
    let mut p = port("patch-tun", PortType::Patch);
    p.peer = Some("patch-int".into());
    sw.add_port("br-int", p).unwrap();
    let mut p = port("patch-int", PortType::Patch);
    p.peer = Some("patch-tun".into());
    sw.add_port("br-tun", p).unwrap();
    let mut v = port("vxlan-c0a86402", PortType::Vxlan);
    v.remote_ip = Some(Ipv4Addr::new(192, 168, 100, 2));
    v.local_ip = Some(Ipv4Addr::new(192, 168, 100, 1));
    v.key = Some(TunnelKey::Flow);
    let vxlan = sw.add_port("br-tun", v).unwrap();
    sw.replace_flows("br-tun", &br_tun_flows("vxlan-c0a86402"), 0)
        .unwrap();
    Host {
        sw,
        tap1,
        tap2,
        vxlan,
    }
}
