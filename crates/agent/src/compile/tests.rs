//! Compile-step tests: a host view in, the exact bridges, ports and flows out.

use super::*;
use model::{AddressPair, FixedIp, HostView, LocalPort, NetworkView, RemotePort, SubnetView};

pub(super) const NET_A: &str = "11111111-aaaa-4000-8000-000000000001";
pub(super) const NET_B: &str = "22222222-bbbb-4000-8000-000000000002";
pub(super) const SUB_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
pub(super) const SUB_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
pub(super) const P1: &str = "p1111111-1111-4111-8111-111111111111";
pub(super) const P2: &str = "p2222222-2222-4222-8222-222222222222";

pub(super) fn cfg() -> HostConfig {
    HostConfig {
        metadata: None,
        vm_port_type: switch_proto::PortType::Tap,
        router_port_type: switch_proto::PortType::Internal,
        tunnel_types: vec![switch_proto::PortType::Vxlan, switch_proto::PortType::Gre],
        host: "compute-01".into(),
        tunnel_ip: "192.168.100.31".parse().unwrap(),
        bridge_mappings: BTreeMap::new(),
        external_bridge: "br-ex".into(),
    }
}

pub(super) fn net(id: &str, sub: &str, kind: NetworkType, seg: u32) -> NetworkView {
    NetworkView {
        external_to_all: true,
        id: id.into(),
        network_type: kind,
        segmentation_id: Some(seg),
        physical_network: None,
        mtu: 1450,
        admin_state_up: true,
        subnets: vec![SubnetView {
            id: sub.into(),
            cidr: "10.0.0.0/24".into(),
            ip_version: 4,
            gateway_ip: Some("10.0.0.1".into()),
            enable_dhcp: true,
            dns_nameservers: vec![],
            host_routes: vec![],
            dhcp_server_ip: None,
            address_scope_id: None,
        }],
    }
}

pub(super) fn vm(id: &str, net: &str, sub: &str, mac: &str, ip: &str) -> LocalPort {
    LocalPort {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: sub.into(),
            ip_address: ip.into(),
        }],
        device_owner: "compute:nova".into(),
        device_id: format!("vm-{}", &id[..4]),
        admin_state_up: true,
        port_security_enabled: true,
        allowed_address_pairs: vec![],
        status: "DOWN".into(),
        security_groups: vec![],
        project_id: String::new(),
        name: String::new(),
        floating_ips: vec![],
        extra_dhcp_opts: vec![],
    }
}

/// A remote host: its name and tunnel IP.
type Host = (&'static str, &'static str);

pub(super) const COMPUTE_02: Host = ("compute-02", "192.168.100.32");
pub(super) const COMPUTE_03: Host = ("compute-03", "192.168.100.33");
pub(super) const COMPUTE_04: Host = ("compute-04", "192.168.100.34");
pub(super) const COMPUTE_05: Host = ("compute-05", "192.168.100.35");
pub(super) const NETWORK_NODE: Host = ("network", "192.168.100.20");

pub(super) fn remote(net: &str, (host, tip): Host, mac: &str, ip: &str) -> RemotePort {
    RemotePort {
        network_id: net.into(),
        host: host.into(),
        tunnel_ip: Some(tip.into()),
        mac_address: mac.into(),
        ip_addresses: vec![ip.into()],
    }
}

/// P1 on NET_A.
pub(super) fn p1_on_a() -> LocalPort {
    vm(P1, NET_A, SUB_A, "fa:16:3e:00:00:01", "10.0.0.3")
}

/// P2 on NET_B.
pub(super) fn p2_on_b() -> LocalPort {
    vm(P2, NET_B, SUB_B, "fa:16:3e:00:00:05", "10.0.0.5")
}

/// NET_B as a VLAN provider network (VLAN 200 on physnet1).
pub(super) fn vlan_net() -> NetworkView {
    let mut n = net(NET_B, SUB_B, NetworkType::Vlan, 200);
    n.physical_network = Some("physnet1".into());
    n
}

/// `cfg()` with physnet1 on br-eth1.
pub(super) fn physnet_cfg() -> HostConfig {
    let mut c = cfg();
    c.bridge_mappings
        .insert("physnet1".into(), "br-eth1".into());
    c
}

pub(super) fn view(
    networks: Vec<NetworkView>,
    ports: Vec<LocalPort>,
    remote: Vec<RemotePort>,
) -> HostView {
    HostView {
        revision: 7,
        host: "compute-01".into(),
        admin_state_up: true,
        networks,
        ports,
        remote_ports: remote,
        routers: vec![],
        security_groups: vec![],
    }
}

/// P1 on the VXLAN network NET_A; compute-02 has a port there.
pub(super) fn one_remote() -> HostView {
    view(
        vec![net(NET_A, SUB_A, NetworkType::Vxlan, 100)],
        vec![p1_on_a()],
        vec![remote(NET_A, COMPUTE_02, "fa:16:3e:00:00:02", "10.0.0.4")],
    )
}

/// Compiles `v` with `cfg()` and no VLANs from before.
pub(super) fn compile_fresh(v: &HostView) -> Compiled {
    compile(v, &cfg(), &BTreeMap::new())
}

pub(super) fn port_names(b: &BridgeSpec) -> Vec<&str> {
    b.ports.iter().map(|p| p.name.as_str()).collect()
}

/// The port names of the compiled bridge `name`.
pub(super) fn ports_of<'a>(c: &'a Compiled, name: &str) -> Vec<&'a str> {
    port_names(c.bridge(name).unwrap())
}

/// The bridge's flows in ovs-ofctl text, in their order.
pub(super) fn texts(b: &BridgeSpec) -> Vec<String> {
    b.flows.iter().map(|f| f.to_string()).collect()
}

pub(super) fn flows_with(b: &BridgeSpec, needle: &str) -> Vec<String> {
    texts(b)
        .into_iter()
        .filter(|f| f.contains(needle))
        .collect()
}

pub(super) fn has_flow(b: &BridgeSpec, flow: &str) -> bool {
    texts(b).iter().any(|f| f == flow)
}

#[test]
fn one_remote_host_exact_bridges() {
    let c = compile_fresh(&one_remote());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.vlans, BTreeMap::from([(NET_A.to_string(), 1)]));
    let names: Vec<&str> = c.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br-int", "br-tun"]);

    let int = c.bridge("br-int").unwrap();
    assert_eq!(port_names(int), ["patch-tun", "tapp1111111-11"]);
    let tap = &int.ports[1];
    assert_eq!(tap.kind, PortType::Tap);
    assert_eq!(tap.tag, Some(1));
    assert_eq!(tap.netns.as_deref(), Some("vm-p111"));
    assert_eq!(tap.mac.as_deref(), Some("fa:16:3e:00:00:01"));
    assert_eq!(tap.mtu, Some(1450));
    let d = tap.dhcp.as_ref().expect("dhcp binding");
    assert_eq!(d.ip.to_string(), "10.0.0.3");
    assert_eq!(d.prefix_len, 24);
    assert_eq!(d.router.map(|r| r.to_string()).as_deref(), Some("10.0.0.1"));
    assert_eq!(d.mtu, Some(1450));
    let t = "tapp1111111-11";
    // Tables 0 and 60 exactly; the firewall's tables (71 on) have tests of their
    // own (`firewall::tests`).
    let load = format!("load:{t}->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[]");
    let mut want_int = [
        "table=0,priority=0,actions=resubmit(,60)".to_string(),
        "table=0,priority=65535,dl_vlan=4095,actions=drop".to_string(),
        format!("table=0,priority=50,in_port={t},arp,arp_op=1,arp_tpa=10.0.0.1,actions=dhcp"),
        format!("table=0,priority=50,in_port={t},udp,tp_src=68,tp_dst=67,actions=dhcp"),
        format!("table=0,priority=9,in_port={t},actions=resubmit(,60)"),
        format!("table=60,priority=100,in_port={t},actions={load},resubmit(,71)"),
        "table=60,priority=3,actions=NORMAL".to_string(),
        format!(
            "table=60,priority=90,dl_vlan=1,dl_dst=fa:16:3e:00:00:01,actions={load},strip_vlan,resubmit(,81)"
        ),
    ];
    want_int.sort();
    let low: Vec<String> = texts(int)
        .into_iter()
        .filter(|f| f.starts_with("table=0,") || f.starts_with("table=60,"))
        .collect();
    assert_eq!(low, want_int);
    assert!(has_flow(
        int,
        &format!(
            "table=71,priority=65,reg5={t},in_port={t},ip,dl_src=fa:16:3e:00:00:01,nw_src=10.0.0.3,actions=ct(table=72,zone=NXM_NX_REG6[0..15])"
        )
    ));

    let tun = c.bridge("br-tun").unwrap();
    assert_eq!(port_names(tun), ["patch-int", "vxlan-c0a86420"]);
    let vx = &tun.ports[1];
    assert_eq!(vx.kind, PortType::Vxlan);
    assert_eq!(
        vx.remote_ip.map(|i| i.to_string()).as_deref(),
        Some("192.168.100.32")
    );
    assert_eq!(
        vx.local_ip.map(|i| i.to_string()).as_deref(),
        Some("192.168.100.31")
    );
    assert_eq!(vx.key, Some(switch_proto::TunnelKey::Flow));
    let learn = crate::flows::tun_learn().to_string();
    let want_tun = [
        "table=0,priority=0,actions=drop",
        "table=0,priority=1,in_port=patch-int,actions=resubmit(,2)",
        "table=0,priority=1,in_port=vxlan-c0a86420,actions=resubmit(,4)",
        "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
        "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
        "table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)",
        "table=20,priority=0,actions=resubmit(,22)",
        "table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:02,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86420",
        "table=21,priority=0,actions=resubmit(,22)",
        "table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.0.4,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:00:00:02,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163e000002->NXM_NX_ARP_SHA[],load:0xa000004->NXM_OF_ARP_SPA[],IN_PORT",
        "table=22,priority=0,actions=drop",
        "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86420",
        "table=3,priority=0,actions=drop",
        "table=4,priority=0,actions=drop",
        "table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)",
        &learn,
    ];
    let mut want_tun: Vec<String> = want_tun.iter().map(|s| s.to_string()).collect();
    want_tun.sort();
    assert_eq!(texts(tun), want_tun);
    assert_eq!(
        c.vm_ports,
        [VmPort {
            port_id: P1.into(),
            tap: "tapp1111111-11".into(),
            netns: "vm-p111".into(),
            wired: true
        }]
    );
}

#[test]
fn flows_parse_in_the_switch() {
    // Every compiled flow must be accepted by the engine's parser as it is.
    let mut v = one_remote();
    v.networks.push(vlan_net());
    v.ports.push(p2_on_b());
    let c = compile(&v, &physnet_cfg(), &BTreeMap::new());
    let mut sw = switch::Switch::new(7);
    for b in &c.bridges {
        sw.add_bridge(&b.name, 0).unwrap();
        for p in &b.ports {
            // The protocol's port and the engine's have the same JSON form.
            let cfg: switch::PortConfig =
                serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap();
            sw.add_port(&b.name, cfg).unwrap();
        }
    }
    for b in &c.bridges {
        sw.replace_flows(&b.name, &texts(b), 0)
            .unwrap_or_else(|e| panic!("{}: {e}", b.name));
    }
}

#[test]
fn l2pop_two_and_three_remote_hosts() {
    let mut v = one_remote();
    v.remote_ports
        .push(remote(NET_A, COMPUTE_03, "fa:16:3e:00:00:03", "10.0.0.6"));
    let c = compile_fresh(&v);
    let tun = c.bridge("br-tun").unwrap();
    assert_eq!(
        port_names(tun),
        ["patch-int", "vxlan-c0a86420", "vxlan-c0a86421"]
    );
    assert_eq!(
        flows_with(tun, "table=22,priority=1"),
        [
            "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86420,output:vxlan-c0a86421"
        ]
    );
    assert_eq!(flows_with(tun, "table=20,priority=2").len(), 2);
    assert_eq!(flows_with(tun, "table=21,priority=1").len(), 2);

    // A third host, and a second port on compute-02: still one tunnel per host.
    v.remote_ports.extend([
        remote(NET_A, COMPUTE_04, "fa:16:3e:00:00:04", "10.0.0.7"),
        remote(NET_A, COMPUTE_02, "fa:16:3e:00:00:08", "10.0.0.8"),
    ]);
    let c = compile_fresh(&v);
    let tun = c.bridge("br-tun").unwrap();
    assert_eq!(
        port_names(tun),
        [
            "patch-int",
            "vxlan-c0a86420",
            "vxlan-c0a86421",
            "vxlan-c0a86422"
        ]
    );
    assert_eq!(
        flows_with(tun, "table=22,priority=1"),
        [
            "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:vxlan-c0a86420,output:vxlan-c0a86421,output:vxlan-c0a86422"
        ]
    );
    assert_eq!(flows_with(tun, "table=20,priority=2").len(), 4);
    assert_eq!(flows_with(tun, "in_port=vxlan-").len(), 3);
}

#[test]
fn no_tunnel_to_hosts_on_other_networks_only() {
    let mut v = one_remote();
    // compute-05 has a port only on NET_B, where this host has none.
    v.remote_ports
        .push(remote(NET_B, COMPUTE_05, "fa:16:3e:00:00:09", "10.0.0.9"));
    let c = compile_fresh(&v);
    assert_eq!(ports_of(&c, "br-tun"), ["patch-int", "vxlan-c0a86420"]);
}

#[test]
fn gre_networks_use_gre_ports_and_table_3() {
    let mut v = one_remote();
    v.networks = vec![net(NET_A, SUB_A, NetworkType::Gre, 5)];
    let c = compile_fresh(&v);
    let tun = c.bridge("br-tun").unwrap();
    assert_eq!(port_names(tun), ["patch-int", "gre-c0a86420"]);
    assert_eq!(tun.ports[1].kind, PortType::Gre);
    for flow in [
        "table=0,priority=1,in_port=gre-c0a86420,actions=resubmit(,3)",
        "table=3,priority=1,tun_id=0x5,actions=mod_vlan_vid:1,resubmit(,10)",
    ] {
        assert!(has_flow(tun, flow), "{flow}");
    }
}

#[test]
fn tunnel_types_not_enabled_are_not_wired() {
    let mut v = one_remote();
    v.networks = vec![net(NET_A, SUB_A, NetworkType::Gre, 5)];
    let mut only_vxlan = cfg();
    only_vxlan.tunnel_types = vec![PortType::Vxlan];
    let c = compile(&v, &only_vxlan, &BTreeMap::new());
    assert_eq!(port_names(c.bridge("br-tun").unwrap()), ["patch-int"]);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("GRE tunnels are not enabled"),
        "{:?}",
        c.warnings
    );
    assert!(!c.vm_ports[0].wired);
    // No tunnels at all (enable_tunneling = false): VXLAN is not wired either.
    v.networks = vec![net(NET_A, SUB_A, NetworkType::Vxlan, 5)];
    let mut none = cfg();
    none.tunnel_types.clear();
    let c = compile(&v, &none, &BTreeMap::new());
    assert!(
        c.warnings[0].contains("VXLAN tunnels are not enabled"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn vlan_provider_network() {
    let v = view(vec![vlan_net()], vec![p2_on_b()], vec![]);
    let c = compile(&v, &physnet_cfg(), &BTreeMap::new());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let names: Vec<&str> = c.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br-int", "br-tun", "br-eth1"]);
    let int = c.bridge("br-int").unwrap();
    assert_eq!(
        port_names(int),
        ["patch-tun", "int-br-eth1", "tapp2222222-22"]
    );
    assert_eq!(int.ports[1].peer.as_deref(), Some("phy-br-eth1"));
    assert_eq!(
        flows_with(int, "in_port=int-br-eth1"),
        [
            "table=0,priority=2,in_port=int-br-eth1,actions=drop",
            "table=0,priority=3,in_port=int-br-eth1,dl_vlan=200,actions=mod_vlan_vid:1,resubmit(,60)"
        ]
    );
    let phys = c.bridge("br-eth1").unwrap();
    assert!(!phys.owns_all_ports);
    assert_eq!(port_names(phys), ["phy-br-eth1"]);
    assert_eq!(phys.ports[0].peer.as_deref(), Some("int-br-eth1"));
    assert_eq!(
        texts(phys),
        [
            "table=0,priority=0,actions=NORMAL",
            "table=0,priority=2,in_port=phy-br-eth1,actions=drop",
            "table=0,priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=mod_vlan_vid:200,NORMAL",
        ]
    );
    // No tunnels for a provider network.
    assert_eq!(ports_of(&c, "br-tun"), ["patch-int"]);
}

#[test]
fn flat_network_is_untagged_and_unmapped_physnet_warns() {
    let mut n = net(NET_B, SUB_B, NetworkType::Flat, 0);
    n.segmentation_id = None;
    n.physical_network = Some("physnet1".into());
    let v = view(vec![n], vec![p2_on_b()], vec![]);
    let c = compile(&v, &physnet_cfg(), &BTreeMap::new());
    assert!(has_flow(
        c.bridge("br-eth1").unwrap(),
        "table=0,priority=4,in_port=phy-br-eth1,dl_vlan=1,actions=strip_vlan,NORMAL"
    ));
    assert!(has_flow(
        c.bridge("br-int").unwrap(),
        "table=0,priority=3,in_port=int-br-eth1,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:1,resubmit(,60)"
    ));

    let c = compile_fresh(&v);
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("physnet1"), "{:?}", c.warnings);
    assert_eq!(c.bridge("br-int").unwrap().ports[1].tag, Some(DEAD_VLAN));
    assert!(!c.vm_ports[0].wired);
}

#[test]
fn port_moving_between_hosts() {
    // Before: P2 is here. After: it moved to compute-02 and shows up as remote.
    let before = view(
        vec![net(NET_A, SUB_A, NetworkType::Vxlan, 100)],
        vec![
            p1_on_a(),
            vm(P2, NET_A, SUB_A, "fa:16:3e:00:00:02", "10.0.0.4"),
        ],
        vec![],
    );
    let c1 = compile_fresh(&before);
    assert_eq!(
        ports_of(&c1, "br-int"),
        ["patch-tun", "tapp1111111-11", "tapp2222222-22"]
    );
    assert_eq!(ports_of(&c1, "br-tun"), ["patch-int"]);
    assert!(flows_with(c1.bridge("br-tun").unwrap(), "table=22,priority=1").is_empty());

    let c2 = compile(&one_remote(), &cfg(), &c1.vlans);
    assert_eq!(ports_of(&c2, "br-int"), ["patch-tun", "tapp1111111-11"]);
    assert!(flows_with(c2.bridge("br-int").unwrap(), "tapp2222222-22").is_empty());
    assert_eq!(ports_of(&c2, "br-tun"), ["patch-int", "vxlan-c0a86420"]);
    assert_eq!(c2.vlans, c1.vlans);
}

#[test]
fn dead_vlan_for_ports_that_must_not_pass_traffic() {
    let mut v = one_remote();
    v.ports[0].admin_state_up = false;
    // A port on a network the view does not describe (not wired here).
    v.ports.push(p2_on_b());
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    for tap in ["tapp1111111-11", "tapp2222222-22"] {
        let p = int.ports.iter().find(|p| p.name == tap).unwrap();
        assert_eq!(p.tag, Some(DEAD_VLAN), "{tap}");
        assert!(p.dhcp.is_none());
        assert_eq!(
            flows_with(int, tap),
            [format!("table=0,priority=65535,in_port={tap},actions=drop")]
        );
    }
    assert!(c.vlans.is_empty());
    assert!(c.vm_ports.iter().all(|p| !p.wired));
    // No network is wired, so no tunnels either.
    assert_eq!(ports_of(&c, "br-tun"), ["patch-int"]);
}

#[test]
fn vlans_stay_stable_across_compiles() {
    let mut v = one_remote();
    v.networks.push(net(NET_B, SUB_B, NetworkType::Vxlan, 101));
    v.ports.push(p2_on_b());
    let prior = BTreeMap::from([(NET_B.to_string(), 7)]);
    let c = compile(&v, &cfg(), &prior);
    assert_eq!(c.vlans[NET_B], 7);
    assert_eq!(c.vlans[NET_A], 1);
    let again = compile(&v, &cfg(), &c.vlans);
    assert_eq!(again, c);
}

#[test]
fn anti_spoofing_allows_address_pairs_and_skips_without_port_security() {
    let mut v = one_remote();
    v.ports[0].allowed_address_pairs = vec![AddressPair {
        ip_address: "10.0.0.100".into(),
        mac_address: "fa:16:3e:aa:bb:cc".into(),
    }];
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    let t = "tapp1111111-11";
    assert!(has_flow(
        int,
        &format!(
            "table=71,priority=95,reg5={t},in_port={t},arp,dl_src=fa:16:3e:aa:bb:cc,arp_spa=10.0.0.100,actions=resubmit(,94)"
        )
    ));
    assert!(has_flow(
        int,
        &format!(
            "table=71,priority=65,reg5={t},in_port={t},ip,dl_src=fa:16:3e:aa:bb:cc,nw_src=10.0.0.100,actions=ct(table=72,zone=NXM_NX_REG6[0..15])"
        )
    ));

    v.ports[0].port_security_enabled = false;
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    assert!(flows_with(int, "table=71,priority=95").is_empty());
    assert!(has_flow(
        int,
        &format!("table=0,priority=9,in_port={t},actions=resubmit(,60)")
    ));
    assert!(has_flow(
        int,
        &format!(
            "table=60,priority=100,in_port={t},actions=load:{t}->NXM_NX_REG5[],load:0x1->NXM_NX_REG6[],resubmit(,73)"
        )
    ));
}
