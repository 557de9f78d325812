//! Compile-step tests of routers: a network node's host view in, the exact
//! namespace, devices, addresses, routes, switch ports and flows, and NAT table out.

use super::*;
use model::{
    FixedIp, FloatingIpView, HostRoute, HostView, LocalPort, NetworkView, RemotePort, RouterView,
    SubnetView,
};

const NET: &str = "11111111-aaaa-4000-8000-000000000001";
const SUB: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const NET2: &str = "22222222-bbbb-4000-8000-000000000002";
const SUB2: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const EXT: &str = "eeeeeeee-eeee-4000-8000-00000000000e";
const EXT_SUB: &str = "eeeeeeee-0000-4000-8000-0000000000e1";
const ROUTER: &str = "0e5a8f3c-1d2b-4c6a-9e8f-7a6b5c4d3e2f";
const QR: &str = "1f000000-0000-4000-8000-000000000001";
const QR2: &str = "3f000000-0000-4000-8000-000000000002";
const QG: &str = "2f000000-0000-4000-8000-000000000003";

fn cfg() -> HostConfig {
    HostConfig {
        metadata: None,
        vm_port_type: switch_proto::PortType::Tap,
        router_port_type: switch_proto::PortType::Veth,
        tunnel_types: vec![switch_proto::PortType::Vxlan, switch_proto::PortType::Gre],
        host: "network".into(),
        tunnel_ip: "192.168.100.20".parse().unwrap(),
        bridge_mappings: BTreeMap::new(),
        external_bridge: "br-ex".into(),
    }
}

fn subnet(id: &str, cidr: &str, gw: &str, dhcp: bool) -> SubnetView {
    SubnetView {
        id: id.into(),
        cidr: cidr.into(),
        ip_version: 4,
        gateway_ip: Some(gw.into()),
        enable_dhcp: dhcp,
        dns_nameservers: vec![],
        host_routes: vec![],
        dhcp_server_ip: None,
        address_scope_id: None,
    }
}

fn net(
    id: &str,
    kind: NetworkType,
    seg: Option<u32>,
    physnet: Option<&str>,
    sub: SubnetView,
) -> NetworkView {
    NetworkView {
        external_to_all: true,
        id: id.into(),
        network_type: kind,
        segmentation_id: seg,
        physical_network: physnet.map(str::to_string),
        mtu: if kind == NetworkType::Vxlan {
            1450
        } else {
            1500
        },
        admin_state_up: true,
        subnets: vec![sub],
    }
}

fn router_port(id: &str, net: &str, sub: &str, ip: &str, mac: &str, owner: &str) -> LocalPort {
    LocalPort {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: sub.into(),
            ip_address: ip.into(),
        }],
        device_owner: owner.into(),
        device_id: ROUTER.into(),
        admin_state_up: true,
        port_security_enabled: false,
        allowed_address_pairs: vec![],
        status: "DOWN".into(),
        security_groups: vec![],
        project_id: String::new(),
        name: String::new(),
        floating_ips: vec![],
        extra_dhcp_opts: vec![],
    }
}

/// The seeds' network node: TenantA-Net (VXLAN 100) on the router's interface
/// 10.0.0.1, Ext-Net (VXLAN 1, external) on its gateway 10.1.101.240, vm1's
/// floating IP 10.1.101.241 -> 10.0.0.5, vm2 on compute-02.
fn seeds() -> HostView {
    HostView {
        revision: 3,
        host: "network".into(),
        admin_state_up: true,
        networks: vec![
            net(
                NET,
                NetworkType::Vxlan,
                Some(100),
                None,
                subnet(SUB, "10.0.0.0/24", "10.0.0.1", true),
            ),
            net(
                EXT,
                NetworkType::Vxlan,
                Some(1),
                None,
                subnet(EXT_SUB, "10.1.101.0/24", "10.1.101.254", false),
            ),
        ],
        ports: vec![
            router_port(
                QR,
                NET,
                SUB,
                "10.0.0.1",
                "fa:16:3e:00:01:01",
                "network:router_interface",
            ),
            router_port(
                QG,
                EXT,
                EXT_SUB,
                "10.1.101.240",
                "fa:16:3e:00:01:03",
                "network:router_gateway",
            ),
        ],
        remote_ports: vec![RemotePort {
            network_id: NET.into(),
            host: "compute-02".into(),
            tunnel_ip: Some("192.168.100.32".into()),
            mac_address: "fa:16:3e:00:00:05".into(),
            ip_addresses: vec!["10.0.0.5".into()],
        }],
        routers: vec![RouterView {
            id: ROUTER.into(),
            admin_state_up: true,
            interface_ports: vec![QR.into()],
            gateway_port: Some(QG.into()),
            enable_snat: true,
            routes: vec![],
            floating_ips: vec![FloatingIpView {
                id: "f1".into(),
                floating_ip_address: "10.1.101.241".into(),
                fixed_ip_address: "10.0.0.5".into(),
                status: "DOWN".into(),
            }],
            metering_labels: vec![],
        }],
        security_groups: vec![],
    }
}

/// A second interface of the router, on NET2 (10.0.1.0/24).
fn second_interface(v: &mut HostView) {
    v.networks.push(net(
        NET2,
        NetworkType::Vxlan,
        Some(101),
        None,
        subnet(SUB2, "10.0.1.0/24", "10.0.1.1", true),
    ));
    v.ports.push(router_port(
        QR2,
        NET2,
        SUB2,
        "10.0.1.1",
        "fa:16:3e:00:01:02",
        "network:router_interface",
    ));
    v.routers[0].interface_ports.push(QR2.into());
}

fn compiled(v: &HostView, c: &HostConfig) -> Compiled {
    compile(v, c, &BTreeMap::new())
}

fn texts(b: &BridgeSpec) -> Vec<String> {
    b.flows.iter().map(|f| f.to_string()).collect()
}

fn port<'a>(c: &'a Compiled, bridge: &str, name: &str) -> &'a PortSpec {
    let b = c.bridge(bridge).unwrap_or_else(|| panic!("no {bridge}"));
    b.ports
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} on {bridge}: {:?}", b.ports))
}

#[test]
fn the_seeds_router_exactly() {
    let c = compiled(&seeds(), &cfg());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let ns = format!("qrouter-{ROUTER}");
    // qr- on br-int, tagged with TenantA-Net's local VLAN, in the namespace.
    assert_eq!(c.vlans, BTreeMap::from([(NET.to_string(), 1)]));
    let qr = port(&c, "br-int", "qr-1f000000-00");
    assert_eq!(qr.kind, PortType::Veth);
    assert_eq!(qr.tag, Some(1));
    assert_eq!(qr.netns.as_deref(), Some(ns.as_str()));
    assert_eq!(qr.mac.as_deref(), Some("fa:16:3e:00:01:01"));
    assert_eq!(qr.mtu, Some(1450));
    assert!(qr.dhcp.is_none());
    assert!(
        texts(c.bridge("br-int").unwrap()).contains(
            &"table=0,priority=9,in_port=qr-1f000000-00,actions=resubmit(,60)".to_string()
        )
    );
    // qg- straight on br-ex, untagged (Ext-Net is a VXLAN network, as the seeds make it).
    let ex = c.bridge("br-ex").unwrap();
    assert!(!ex.owns_all_ports);
    assert_eq!(texts(ex), ["table=0,priority=0,actions=NORMAL"]);
    let qg = port(&c, "br-ex", "qg-2f000000-00");
    assert_eq!((qg.tag, qg.netns.as_deref()), (None, Some(ns.as_str())));
    assert_eq!(qg.mac.as_deref(), Some("fa:16:3e:00:01:03"));
    // Ext-Net is not carried over tunnels; TenantA-Net reaches compute-02.
    let tun = c.bridge("br-tun").unwrap();
    let tun_ports: Vec<&str> = tun.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(tun_ports, ["patch-int", "vxlan-c0a86420"]);
    assert!(
        !texts(tun).iter().any(|f| f.contains("tun_id=0x1,")),
        "{:?}",
        texts(tun)
    );
    // The namespace.
    assert_eq!(c.routers.len(), 1);
    let r = &c.routers[0];
    assert_eq!(r.namespace, ns);
    let devices: Vec<(&str, Vec<String>, bool)> = r
        .devices
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.addresses.iter().map(|a| a.to_string()).collect(),
                d.gateway,
            )
        })
        .collect();
    assert_eq!(
        devices,
        [
            ("qr-1f000000-00", vec!["10.0.0.1/24".to_string()], false),
            (
                "qg-2f000000-00",
                vec!["10.1.101.240/24".to_string(), "10.1.101.241/32".to_string()],
                true
            ),
        ]
    );
    assert_eq!(
        r.routes,
        [RouteSpec {
            destination: "0.0.0.0/0".parse().unwrap(),
            via: "10.1.101.254".parse().unwrap()
        }]
    );
    assert_eq!(
        r.floating_ips,
        [("f1".to_string(), "10.1.101.241".parse().unwrap())]
    );
    assert_eq!(
        r.nat,
        nat::ruleset(&nat::Nat {
            gateway: Some(("qg-2f000000-00", "10.1.101.240".parse().unwrap())),
            snat: true,
            internal: &["10.0.0.0/24".parse().unwrap()],
            floating: &[("10.1.101.241".parse().unwrap(), "10.0.0.5".parse().unwrap())],
        })
    );
    assert!(
        r.nat
            .contains("\t\toifname \"qg-2f000000-00\" ip saddr 10.0.0.0/24 snat to 10.1.101.240\n")
    );
    assert!(
        r.nat
            .contains("\t\tip daddr 10.1.101.241 dnat to 10.0.0.5\n")
    );
    let ports: Vec<(&str, &str, bool)> = c
        .router_ports
        .iter()
        .map(|p| (p.port_id.as_str(), p.device.as_str(), p.wired))
        .collect();
    assert_eq!(
        ports,
        [(QR, "qr-1f000000-00", true), (QG, "qg-2f000000-00", true)]
    );
}

#[test]
fn a_provider_external_network_goes_through_br_int() {
    let mut v = seeds();
    v.networks[1] = net(
        EXT,
        NetworkType::Flat,
        None,
        Some("public"),
        subnet(EXT_SUB, "10.1.101.0/24", "10.1.101.254", false),
    );
    let mut c = cfg();
    c.bridge_mappings.insert("public".into(), "br-ex".into());
    let out = compiled(&v, &c);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let ext_vlan = out.vlans[EXT];
    let qg = port(&out, "br-int", "qg-2f000000-00");
    assert_eq!(qg.tag, Some(ext_vlan));
    let ex = out.bridge("br-ex").unwrap();
    let names: Vec<&str> = ex.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["phy-br-ex"]);
    assert!(texts(ex).contains(&format!(
        "table=0,priority=4,in_port=phy-br-ex,dl_vlan={ext_vlan},actions=strip_vlan,NORMAL"
    )));
    assert!(
        texts(out.bridge("br-int").unwrap()).contains(
            &"table=0,priority=9,in_port=qg-2f000000-00,actions=resubmit(,60)".to_string()
        )
    );
}

#[test]
fn snat_off_floating_ip_moved_removed_and_extra_routes() {
    let mut v = seeds();
    v.routers[0].enable_snat = false;
    v.routers[0].floating_ips[0].fixed_ip_address = "10.0.0.6".into();
    v.routers[0].routes = vec![HostRoute {
        destination: "172.16.0.0/16".into(),
        nexthop: "10.0.0.254".into(),
    }];
    let c = compiled(&v, &cfg());
    let r = &c.routers[0];
    assert!(!r.nat.contains("snat to 10.1.101.240"), "{}", r.nat);
    assert!(
        r.nat.contains("ip daddr 10.1.101.241 dnat to 10.0.0.6"),
        "{}",
        r.nat
    );
    assert!(
        r.nat.contains("ip saddr 10.0.0.6 snat to 10.1.101.241"),
        "{}",
        r.nat
    );
    assert_eq!(
        r.routes,
        [
            RouteSpec {
                destination: "0.0.0.0/0".parse().unwrap(),
                via: "10.1.101.254".parse().unwrap()
            },
            RouteSpec {
                destination: "172.16.0.0/16".parse().unwrap(),
                via: "10.0.0.254".parse().unwrap()
            },
        ]
    );
    v.routers[0].floating_ips.clear();
    let c = compiled(&v, &cfg());
    let r = &c.routers[0];
    assert!(!r.nat.contains("dnat"), "{}", r.nat);
    assert!(r.floating_ips.is_empty());
    let qg = &r.devices[1];
    assert_eq!(qg.addresses.len(), 1);
}

#[test]
fn two_subnets_route_east_west_and_the_gateway_can_go() {
    let mut v = seeds();
    second_interface(&mut v);
    v.routers[0].gateway_port = None;
    v.ports.retain(|p| p.id != QG);
    let c = compiled(&v, &cfg());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let r = &c.routers[0];
    let names: Vec<&str> = r.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["qr-1f000000-00", "qr-3f000000-00"]);
    assert_eq!(r.devices.len(), 2);
    assert!(
        r.routes.is_empty(),
        "no gateway, no default route: {:?}",
        r.routes
    );
    assert!(!r.nat.contains("nat to"), "{}", r.nat);
    assert!(r.floating_ips.is_empty());
    assert_eq!(c.vlans.len(), 2);
    assert!(c.bridge("br-ex").is_none());
    assert_eq!(port(&c, "br-int", "qr-1f000000-00").tag, Some(c.vlans[NET]));
}

#[test]
fn an_admin_down_router_is_wired_but_disabled() {
    let mut v = seeds();
    v.routers[0].admin_state_up = false;
    let c = compiled(&v, &cfg());
    let r = &c.routers[0];
    assert!(!r.enabled);
    // Its devices are on the switch and its ports are wired (they go ACTIVE)...
    assert_eq!(r.devices.len(), 2);
    assert!(
        c.router_ports.iter().all(|p| p.wired),
        "{:?}",
        c.router_ports
    );
    assert_eq!(port(&c, "br-int", "qr-1f000000-00").tag, Some(c.vlans[NET]));
    assert!(c.bridge("br-ex").is_some());
    // ...but it routes nothing: no routes, no NAT, no floating IP on qg-.
    assert!(r.routes.is_empty(), "{:?}", r.routes);
    assert!(!r.nat.contains("nat to"), "{}", r.nat);
    assert!(r.floating_ips.is_empty());
    let qg = r.devices.iter().find(|d| d.gateway).unwrap();
    assert!(qg.addresses.iter().all(|a| a.prefix_len() != 32), "{qg:?}");
    // Enabling it again gives exactly the router an admin-up one is.
    v.routers[0].admin_state_up = true;
    let up = compiled(&v, &cfg());
    assert!(up.routers[0].enabled);
    assert_eq!(up.routers[0].devices[0], r.devices[0]);
    assert!(up.routers[0].nat.contains("nat to"));
}

#[test]
fn a_restarted_agent_recovers_the_vlans_of_router_only_networks() {
    // NET2's router interface came first (VLAN 1), then NET's: a fresh compile
    // would number them the other way round.
    let mut v = seeds();
    second_interface(&mut v);
    let prior = BTreeMap::from([(NET2.to_string(), 1)]);
    let running = compile(&v, &cfg(), &prior);
    assert_eq!(running.vlans[NET2], 1);
    let fresh = compiled(&v, &cfg());
    assert_ne!(
        fresh.vlans, running.vlans,
        "the test needs another numbering"
    );
    // What switchd shows after that compile was applied.
    let shown: Vec<switch_proto::BridgeView> = running
        .bridges
        .iter()
        .map(|b| switch_proto::BridgeView {
            name: b.name.clone(),
            ports: b
                .ports
                .iter()
                .map(|p| switch_proto::PortView {
                    config: p.clone(),
                    ofport: 0,
                    error: None,
                    dhcp_stats: None,
                    poll_threads: vec![],
                })
                .collect(),
            flows: b.flows.len(),
        })
        .collect();
    let recovered = crate::apply::recover_vlans(&shown, &v);
    assert_eq!(recovered[NET2], 1);
    assert_eq!(recovered[NET], running.vlans[NET]);
    let again = compile(&v, &cfg(), &recovered);
    assert_eq!(
        again.bridge("br-int").map(|b| &b.ports),
        running.bridge("br-int").map(|b| &b.ports)
    );
}

#[test]
fn no_snat_inside_the_external_networks_address_scope() {
    let mut v = seeds();
    second_interface(&mut v);
    let scope = |v: &mut HostView, net: &str, s: Option<&str>| {
        if let Some(n) = v.networks.iter_mut().find(|n| n.id == net) {
            n.subnets[0].address_scope_id = s.map(str::to_string);
        }
    };
    // TenantA-Net and Ext-Net in one scope, NET2 in none: only NET2 is SNATed.
    scope(&mut v, NET, Some("scope-1"));
    scope(&mut v, EXT, Some("scope-1"));
    let nat = &compiled(&v, &cfg()).routers[0].nat;
    assert!(!nat.contains("ip saddr 10.0.0.0/24 snat"), "{nat}");
    assert!(
        nat.contains("oifname \"qg-2f000000-00\" ip saddr 10.0.1.0/24 snat to 10.1.101.240"),
        "{nat}"
    );
    // Floating IPs stay.
    assert!(
        nat.contains("ip daddr 10.1.101.241 dnat to 10.0.0.5"),
        "{nat}"
    );
    // Another scope than the external network's: SNAT again.
    scope(&mut v, NET, Some("scope-2"));
    let nat = &compiled(&v, &cfg()).routers[0].nat;
    assert!(
        nat.contains("ip saddr 10.0.0.0/24 snat to 10.1.101.240"),
        "{nat}"
    );
    // No scope on the external network: every subnet is SNATed.
    scope(&mut v, NET, Some("scope-1"));
    scope(&mut v, EXT, None);
    let nat = &compiled(&v, &cfg()).routers[0].nat;
    assert!(
        nat.contains("ip saddr 10.0.0.0/24 snat to 10.1.101.240"),
        "{nat}"
    );
}

/// A network external only by a tenant's policy (not for all, by the admin):
/// the router's gateway stays in that network's own segment on br-int, tagged,
/// and nothing of it reaches the external bridge.
#[test]
fn a_gateway_on_a_tenant_shared_external_network_stays_on_br_int() {
    let mut v = seeds();
    v.networks[1].external_to_all = false;
    let out = compiled(&v, &cfg());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let ext_vlan = out.vlans[EXT];
    let qg = port(&out, "br-int", "qg-2f000000-00");
    assert_eq!(qg.tag, Some(ext_vlan));
    let on_ex = out
        .bridge("br-ex")
        .map(|b| b.ports.iter().any(|p| p.name.starts_with("qg-")))
        .unwrap_or(false);
    assert!(!on_ex, "qg- on br-ex");
    // The admin's external network (the seeds'): qg- on br-ex, untagged.
    let out = compiled(&seeds(), &cfg());
    assert!(port(&out, "br-ex", "qg-2f000000-00").tag.is_none());
}
