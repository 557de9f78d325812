//! Builders shared by the engine tests: frames and a two-bridge Neutron host.
#![allow(dead_code)]

pub mod dhcp_rig;

use agent::flows::{self, TunnelNet};
use std::net::Ipv4Addr;
use switch::{Forward, Output, PortConfig, PortType, Reply, Switch, TunnelKey, TunnelMeta};
use switch_proto::{Mac, PortType as ProtoPort};

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

/// patch-tun on br-int and patch-int on br-tun, peers of each other.
pub fn add_patch_pair(sw: &mut Switch) {
    let mut p = port("patch-tun", PortType::Patch);
    p.peer = Some("patch-int".into());
    sw.add_port("br-int", p).unwrap();
    let mut p = port("patch-int", PortType::Patch);
    p.peer = Some("patch-tun".into());
    sw.add_port("br-tun", p).unwrap();
}

/// Neutron's br-tun flows for VNI 0x64 on local VLAN 1 towards `tun`, as the agent
/// lays them out (`agent::flows`).
pub fn br_tun_flows(tun: &str) -> Vec<String> {
    let net = TunnelNet { key: 0x64, vlan: 1 };
    texts(flows::br_tun(ProtoPort::Vxlan, tun, &[net]))
}

/// Typed flows in the ovs-ofctl text the engine parses.
pub fn texts(f: impl IntoIterator<Item = switch_proto::Flow>) -> Vec<String> {
    f.into_iter().map(|f| f.to_string()).collect()
}

pub struct Host {
    pub sw: Switch,
    pub tap1: usize,
    pub tap2: usize,
    pub vxlan: usize,
}

/// br-int (tap1 and tap2 on VLAN 1, patch-tun) + br-tun (patch-int, vxlan-c0a86402).
pub fn neutron_host() -> Host {
    let mut sw = Switch::new(7);
    sw.add_bridge("br-int", 0).unwrap();
    sw.add_bridge("br-tun", 0).unwrap();
    let mut t1 = port("tap1", PortType::Tap);
    t1.tag = Some(1);
    let tap1 = sw.add_port("br-int", t1).unwrap();
    let mut t2 = port("tap2", PortType::Tap);
    t2.tag = Some(1);
    let tap2 = sw.add_port("br-int", t2).unwrap();
    add_patch_pair(&mut sw);
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

// ---- Neutron's pipeline at scale (shared with benches/pipeline.rs) ----

/// The VNI and local VLAN of the network the scaled host's VM 0 is on.
pub const SCALE_VNI: u64 = 0x64;
pub const SCALE_VLAN: u16 = 1;
/// VM 0: its MAC and IPv4 address.
pub const VM0_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 0, 1];
pub const VM0_IP: [u8; 4] = [10, 0, 0, 2];
/// The remote VM (behind vxlan-c0a86402) with an l2pop entry at every scale.
pub const REMOTE0_MAC: [u8; 6] = [0xfa, 0x16, 0x3f, 0, 0, 1];
pub const REMOTE0_IP: [u8; 4] = [10, 0, 0, 9];

/// A host with Neutron's br-int + br-tun pipeline, as the agent lays it out,
/// padded to `flows` flows in all.
pub struct Scaled {
    pub sw: Switch,
    /// VM 0's tap (VLAN 1, anti-spoofing for VM0_MAC/VM0_IP).
    pub tap0: usize,
    /// The tunnel to 192.168.100.2, where REMOTE0 lives.
    pub vxlan0: usize,
    /// Padding VM ports: (port, MAC, IPv4, local VLAN).
    pub vms: Vec<(usize, [u8; 6], [u8; 4], u16)>,
    /// Padding l2pop entries: (MAC, local VLAN, VNI, tunnel port).
    pub remotes: Vec<([u8; 6], u16, u64, usize)>,
    /// Flows installed in all (both bridges).
    pub flows: usize,
    /// How long the switch took to take them (replace-flows on both bridges).
    pub install: std::time::Duration,
}

/// Local VLAN -> VNI of the padding networks.
pub fn scale_vni(vlan: u16) -> u64 {
    SCALE_VNI - 1 + u64::from(vlan)
}

fn mac_text(m: [u8; 6]) -> String {
    wire::MacAddr(m).to_string()
}

fn ip_text(a: [u8; 4]) -> String {
    Ipv4Addr::from(a).to_string()
}

/// The bare pipeline (13 flows: just what a VM's frame to a remote VM and back
/// needs) when `flows` is at most 13; otherwise padded with realistic flows to
/// exactly `flows`: a fifth as br-int anti-spoofing for more VM ports (5 flows a
/// port, on local VLANs 2..=100), a few more tunnels, and the rest br-tun l2pop
/// unicast entries (table 20) and ARP responder entries (table 21) on VLANs 1..=100.
pub fn scaled_host(flows: usize) -> Scaled {
    let mut sw = Switch::new(7);
    sw.add_bridge("br-int", 0).unwrap();
    sw.add_bridge("br-tun", 0).unwrap();
    let mut t = port("tap0", PortType::Tap);
    t.tag = Some(SCALE_VLAN);
    let tap0 = sw.add_port("br-int", t).unwrap();
    add_patch_pair(&mut sw);
    let tunnel = |sw: &mut Switch, i: u8| {
        let mut v = port(&format!("vxlan-c0a864{:02x}", i + 2), PortType::Vxlan);
        v.remote_ip = Some(Ipv4Addr::new(192, 168, 100, i + 2));
        v.local_ip = Some(Ipv4Addr::new(192, 168, 100, 1));
        v.key = Some(TunnelKey::Flow);
        sw.add_port("br-tun", v).unwrap()
    };
    let vxlan0 = tunnel(&mut sw, 0);
    let vx0 = "vxlan-c0a86402";
    let mut int = vec![
        "table=0,priority=9,in_port=tap0,actions=resubmit(,25)".to_string(),
        "table=0,priority=0,actions=resubmit(,60)".into(),
        format!(
            "table=25,priority=2,in_port=tap0,dl_src={},ip,nw_src={},actions=resubmit(,60)",
            mac_text(VM0_MAC),
            ip_text(VM0_IP)
        ),
        "table=60,priority=3,actions=NORMAL".into(),
    ];
    let vni = SCALE_VNI as u32;
    let mut tun = texts([
        flows::tun_from_patch_int(),
        flows::tun_from_tunnel(ProtoPort::Vxlan, vx0),
    ]);
    tun.extend(texts(flows::tun_base(false)).into_iter().filter(|f| {
        f.starts_with("table=2,priority=0,")
            || f.starts_with("table=10,")
            || f.starts_with("table=20,priority=0,")
    }));
    tun.extend(texts([
        flows::tun_key_to_vlan(ProtoPort::Vxlan, vni, SCALE_VLAN),
        flows::tun_unicast(SCALE_VLAN, Mac(REMOTE0_MAC), vni, vx0),
        flows::tun_flood(SCALE_VLAN, vni, [vx0]),
    ]));
    let base = int.len() + tun.len();
    let mut vms = Vec::new();
    let mut remotes = Vec::new();
    if flows > base {
        let pad = flows - base;
        // More tunnels (one table-0 flow each).
        let n_tunnels = (pad / 5000).min(15);
        let mut tunnels = vec![(vx0.to_string(), vxlan0)];
        for i in 1..=n_tunnels {
            let id = tunnel(&mut sw, i as u8);
            let name = format!("vxlan-c0a864{:02x}", i + 2);
            tun.push(flows::tun_from_tunnel(ProtoPort::Vxlan, &name).to_string());
            tunnels.push((name, id));
        }
        // br-int anti-spoofing for more VM ports.
        let n_ports = (pad - n_tunnels) / 5 / 5;
        for i in 0..n_ports {
            let name = format!("tap{i:08x}");
            let vlan = 2 + (i % 99) as u16;
            let mac = [0xfa, 0x16, 0x3e, 1, (i >> 8) as u8, i as u8];
            let ip = [10, 1, (i >> 8) as u8, i as u8];
            let mut t = port(&name, PortType::Tap);
            t.tag = Some(vlan);
            let id = sw.add_port("br-int", t).unwrap();
            let (m, a) = (mac_text(mac), ip_text(ip));
            int.push(format!(
                "table=0,priority=10,in_port={name},arp,actions=resubmit(,24)"
            ));
            int.push(format!(
                "table=0,priority=9,in_port={name},actions=resubmit(,25)"
            ));
            int.push(format!(
                "table=24,priority=2,in_port={name},arp,arp_spa={a},actions=resubmit(,25)"
            ));
            int.push(format!(
                "table=25,priority=2,in_port={name},dl_src={m},ip,nw_src={a},actions=resubmit(,60)"
            ));
            int.push(format!(
                "table=25,priority=2,in_port={name},dl_src={m},arp,actions=resubmit(,60)"
            ));
            vms.push((id, mac, ip, vlan));
        }
        // The rest in br-tun: 3 of 4 l2pop unicast entries, 1 of 4 ARP responders.
        let mut j = 0usize;
        while int.len() + tun.len() < flows {
            let vlan = 1 + (j % 100) as u16;
            let vni = scale_vni(vlan);
            let mac = [
                0xfa,
                0x16,
                0x3f,
                1 + (j >> 16) as u8,
                (j >> 8) as u8,
                j as u8,
            ];
            if j % 4 == 3 {
                let ip = [10, 2 + (j >> 16) as u8, (j >> 8) as u8, j as u8];
                let ip = Ipv4Addr::from(ip);
                tun.push(flows::tun_arp_responder(vlan, Mac(mac), ip).to_string());
            } else {
                let (tname, tid) = &tunnels[j % tunnels.len()];
                tun.push(flows::tun_unicast(vlan, Mac(mac), vni as u32, tname).to_string());
                remotes.push((mac, vlan, vni, *tid));
            }
            j += 1;
        }
    }
    let total = int.len() + tun.len();
    // The engine's part of installing (parse and insert), apart from making the text.
    let t0 = std::time::Instant::now();
    sw.replace_flows("br-int", &int, 0).unwrap();
    sw.replace_flows("br-tun", &tun, 0).unwrap();
    let install = t0.elapsed();
    Scaled {
        install,
        sw,
        tap0,
        vxlan0,
        vms,
        remotes,
        flows: total,
    }
}

/// A minimal IPv4/UDP frame (VLAN-less), `sport` -> 5001.
pub fn udp(src: [u8; 6], dst: [u8; 6], s: [u8; 4], d: [u8; 4], sport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = [0u8; 18];
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&s);
    ip.extend_from_slice(&d);
    let c = wire::checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&5001u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// The forwards among the engine's outputs, in order.
pub fn forwards(out: &[Output]) -> Vec<Forward> {
    out.iter().filter_map(Output::forward).copied().collect()
}

/// The frames the engine made among its outputs (DHCP and ARP answers), in order.
pub fn made(out: &[Output]) -> Vec<Reply> {
    out.iter().filter_map(Output::made).cloned().collect()
}

pub fn tun(id: u64) -> TunnelMeta {
    TunnelMeta {
        id,
        src: u32::from(Ipv4Addr::new(192, 168, 100, 2)),
        dst: u32::from(Ipv4Addr::new(192, 168, 100, 1)),
    }
}

pub fn dump(sw: &mut Switch, br: &str) -> Vec<String> {
    sw.dump_flows(br, None, 0).unwrap()
}

pub fn ports_of(out: &[impl Port]) -> Vec<usize> {
    out.iter().map(Port::port).collect()
}

/// Forwards and outputs alike: the port they leave through.
pub trait Port {
    fn port(&self) -> usize;
}

impl Port for Output {
    fn port(&self) -> usize {
        Output::port(self)
    }
}

impl Port for switch::Forward {
    fn port(&self) -> usize {
        self.port
    }
}

pub fn send(
    sw: &mut Switch,
    port: usize,
    f: &[u8],
    tun: Option<&TunnelMeta>,
    now: u64,
) -> Vec<Output> {
    let mut out = Vec::new();
    sw.receive(port, f, tun, now, &mut out);
    out
}

/// The same switch twice: `a` with the flow cache, `b` without. Every packet goes
/// through both and must come out the same.
pub struct Twin {
    pub a: Switch,
    pub b: Switch,
}

impl Twin {
    pub fn new(make: impl Fn() -> Switch) -> Twin {
        let a = make();
        let mut b = make();
        b.set_flow_cache_capacity(0);
        Twin { a, b }
    }

    pub fn send(
        &mut self,
        port: usize,
        frame: &[u8],
        tun: Option<&TunnelMeta>,
        now: u64,
    ) -> Vec<Output> {
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        let ka = self.a.receive(port, frame, tun, now, &mut oa);
        let kb = self.b.receive(port, frame, tun, now, &mut ob);
        assert_eq!(ka, kb);
        assert_eq!(
            forwards(&oa),
            forwards(&ob),
            "outputs differ at {now} for a frame on port {port}"
        );
        assert_eq!(made(&oa), made(&ob));
        oa
    }

    pub fn both(&mut self, f: impl Fn(&mut Switch)) {
        f(&mut self.a);
        f(&mut self.b);
    }

    pub fn same_state(&mut self, now: u64) {
        for br in self.a.bridge_names() {
            assert_eq!(
                self.a.dump_flows(&br, None, now).unwrap(),
                self.b.dump_flows(&br, None, now).unwrap(),
                "flows of {br} at {now}"
            );
            assert_eq!(
                self.a.fdb(&br, now).unwrap(),
                self.b.fdb(&br, now).unwrap(),
                "fdb of {br} at {now}"
            );
        }
        for (id, p) in self.a.ports() {
            let q = self.b.port(id).unwrap();
            assert_eq!(p.dhcp_stats, q.dhcp_stats, "{}", p.config.name);
        }
    }
}
