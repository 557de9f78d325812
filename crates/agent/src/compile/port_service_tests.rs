//! Compile-step tests of what the switch answers at the port: DHCP bindings and
//! the DHCP port's address, IPv6 anti-spoofing, the metadata namespace's device.

use super::tests::*;
use super::*;
use model::{AddressPair, FixedIp, HostView, SubnetView};

#[test]
fn no_dhcp_binding_when_subnet_has_dhcp_off() {
    let mut v = one_remote();
    v.networks[0].subnets[0].enable_dhcp = false;
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    assert!(int.ports[1].dhcp.is_none());
    assert!(flows_with(int, "actions=dhcp").is_empty());
}

#[test]
fn dhcp_server_arp_only_when_nobody_holds_the_address() {
    // An older server names no DHCP port: the switch answers as the gateway.
    let mut v = one_remote();
    // A router port elsewhere holds the gateway: it answers ARP itself.
    v.remote_ports
        .push(remote(NET_A, NETWORK_NODE, "fa:16:3e:00:00:fe", "10.0.0.1"));
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    assert_eq!(flows_with(int, "actions=dhcp").len(), 1);
}

/// `one_remote()` whose subnet's DHCP port holds `ip`.
fn with_dhcp_port(ip: &str) -> HostView {
    let mut v = one_remote();
    v.networks[0].subnets[0].dhcp_server_ip = Some(ip.into());
    v
}

#[test]
fn dhcp_answers_as_the_networks_dhcp_port() {
    let mut v = with_dhcp_port("10.0.0.2");
    // The router's qr- port on the network node holds the gateway.
    v.remote_ports
        .push(remote(NET_A, NETWORK_NODE, "fa:16:3e:00:00:fe", "10.0.0.1"));
    let c = compile_fresh(&v);
    let int = c.bridge("br-int").unwrap();
    let d = int.ports[1].dhcp.as_ref().expect("dhcp binding");
    assert_eq!(d.server_ip.to_string(), "10.0.0.2");
    // VMs still route through the router.
    assert_eq!(d.router.map(|r| r.to_string()).as_deref(), Some("10.0.0.1"));
    let t = "tapp1111111-11";
    assert_eq!(
        flows_with(int, "actions=dhcp"),
        [
            format!("table=0,priority=50,in_port={t},arp,arp_op=1,arp_tpa=10.0.0.2,actions=dhcp"),
            format!("table=0,priority=50,in_port={t},udp,tp_src=68,tp_dst=67,actions=dhcp"),
        ]
    );
    // The gateway is not the switch's to answer even with no router yet; the
    // DHCP port's address is, even should some port show up holding it (the
    // DHCP port itself lives on no host).
    for holder in [None, Some("10.0.0.2")] {
        let mut v = with_dhcp_port("10.0.0.2");
        if let Some(ip) = holder {
            v.remote_ports
                .push(remote(NET_A, NETWORK_NODE, "fa:16:3e:00:00:0d", ip));
        }
        let c = compile_fresh(&v);
        let int = c.bridge("br-int").unwrap();
        assert!(flows_with(int, "arp_tpa=10.0.0.1").is_empty(), "{holder:?}");
        assert_eq!(flows_with(int, "arp_tpa=10.0.0.2,actions=dhcp").len(), 1);
    }
}

#[test]
fn bad_dhcp_port_address_falls_back_to_the_gateway() {
    for bad in ["10.9.9.9", "nonsense", "fd00::2"] {
        let c = compile_fresh(&with_dhcp_port(bad));
        let int = c.bridge("br-int").unwrap();
        let d = int.ports[1].dhcp.as_ref().expect("dhcp binding");
        assert_eq!(d.server_ip.to_string(), "10.0.0.1", "{bad}");
        assert_eq!(flows_with(int, "arp_tpa=10.0.0.1,actions=dhcp").len(), 1);
    }
}

#[test]
fn ipv6_sources_are_checked_too() {
    let mut v = one_remote();
    v.networks[0].subnets.push(SubnetView {
        id: "v6".into(),
        cidr: "fd00::/64".into(),
        ip_version: 6,
        gateway_ip: Some("fd00::1".into()),
        enable_dhcp: true,
        dns_nameservers: vec![],
        host_routes: vec![],
        dhcp_server_ip: None,
        address_scope_id: None,
    });
    v.ports[0].fixed_ips.push(FixedIp {
        subnet_id: "v6".into(),
        ip_address: "fd00::3".into(),
    });
    v.ports[0].allowed_address_pairs = vec![AddressPair {
        ip_address: "fd00::100/120".into(),
        mac_address: String::new(),
    }];
    let c = compile(&v, &cfg(), &BTreeMap::new());
    let int = c.bridge("br-int").unwrap();
    let v6: Vec<String> = texts(int)
        .into_iter()
        .filter(|f| f.starts_with("table=71,priority=65,") && f.contains(",ipv6,"))
        .collect();
    let t = "tapp1111111-11";
    // (`::` only for neighbour discovery while an address is being checked.)
    let want: Vec<String> = ["fd00::100/120", "fd00::3", "fe80::f816:3eff:fe00:1"]
        .iter()
        .map(|a| {
            format!(
                "table=71,priority=65,reg5={t},in_port={t},ipv6,dl_src=fa:16:3e:00:00:01,ipv6_src={a},actions=ct(table=72,zone=NXM_NX_REG6[0..15])"
            )
        })
        .collect();
    assert_eq!(v6, want);
    // The DHCPv4 binding still comes from the IPv4 address.
    assert_eq!(
        int.ports[1].dhcp.as_ref().unwrap().ip.to_string(),
        "10.0.0.3"
    );
}

#[test]
fn metadata_namespace_device_redirect_and_dhcp_route() {
    let v = one_remote();
    let mut on = cfg();
    on.metadata = Some("qmeta-".into());
    let c = compile(&v, &on, &BTreeMap::new());
    let int = c.bridge("br-int").unwrap();
    let dev = crate::names::metadata_device(NET_A);
    let md = int.ports.iter().find(|p| p.name == dev).expect("qm- port");
    let vlan = c.vlans[NET_A];
    assert_eq!(md.tag, Some(vlan));
    assert_eq!(md.netns.as_deref(), Some(format!("qmeta-{NET_A}").as_str()));
    assert_eq!(c.metadata.len(), 1);
    assert_eq!(c.metadata[0].subnets, vec!["10.0.0.0/24".parse().unwrap()]);
    let mac = c.metadata[0].mac;
    assert!(
        has_flow(
            int,
            &format!(
                "table=94,priority=50,reg6={vlan:#x},ip,nw_dst=169.254.169.254,actions=mod_dl_dst:{mac},output:{dev}"
            )
        ),
        "{:#?}",
        flows_with(int, "table=94")
    );
    // Its frames are not checked against a port's addresses.
    assert!(has_flow(
        int,
        &format!("table=0,priority=9,in_port={dev},actions=resubmit(,60)")
    ));
    // DHCP routes 169.254.169.254 through the DHCP address.
    let tap = int.ports.iter().find(|p| p.name == names::tap(P1)).unwrap();
    let b = tap.dhcp.as_ref().unwrap();
    assert!(b.host_routes.iter().any(|r| r.destination
        == std::net::Ipv4Addr::new(169, 254, 169, 254)
        && r.prefix_len == 32
        && r.nexthop == b.server_ip));
    // Its frames never leave the host (every host has fe80::a9fe:a9fe).
    let tun = c.bridge("br-tun").unwrap();
    assert!(
        has_flow(
            tun,
            &format!("table=0,priority=5,in_port=patch-int,dl_src={mac},actions=drop")
        ),
        "{:#?}",
        texts(tun)
    );
    // The flows parse in the switch.
    let mut sw = switch::Switch::new(7);
    sw.add_bridge("br-int", 0).unwrap();
    for p in &int.ports {
        let cfg: switch::PortConfig =
            serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap();
        sw.add_port("br-int", cfg).unwrap();
    }
    sw.replace_flows("br-int", &texts(int), 0).unwrap();

    // Off: none of it.
    let c = compile_fresh(&v);
    assert!(c.metadata.is_empty());
    let int = c.bridge("br-int").unwrap();
    assert!(!port_names(int).contains(&dev.as_str()));
    assert!(flows_with(int, "169.254.169.254").is_empty());
}
