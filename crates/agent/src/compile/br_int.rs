//! br-int: VM taps on local VLANs, the dead VLAN, DHCP handed to the switch's
//! responder, anti-spoofing (tables 24/25) and NORMAL switching (table 60).

use super::{Carrier, HostConfig, WiredNet, tun_patch_pair};
use crate::names::{self, BR_INT, DEAD_VLAN};
use model::{HostView, LocalPort};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use switch::PortConfig;

pub(super) fn spec(
    view: &HostView,
    cfg: &HostConfig,
    vm_ports: &[&LocalPort],
    wired: &BTreeMap<&str, WiredNet>,
    taps: Vec<PortConfig>,
) -> super::BridgeSpec {
    let mut flows = vec![
        format!("table=0,priority=65535,dl_vlan={DEAD_VLAN},actions=drop"),
        "table=0,priority=0,actions=resubmit(,60)".to_string(),
        "table=24,priority=0,actions=drop".to_string(),
        "table=25,priority=0,actions=drop".to_string(),
        "table=60,priority=3,actions=NORMAL".to_string(),
    ];
    let (patch_tun, _) = tun_patch_pair();
    let mut ports = vec![patch_tun];
    for bridge in cfg.bridge_mappings.values() {
        let int = names::int_patch(bridge);
        flows.push(format!("table=0,priority=2,in_port={int},actions=drop"));
        ports.push(super::patch(&int, &names::phy_patch(bridge)));
    }
    for w in wired.values() {
        if let Carrier::Provider { bridge, vid } = &w.kind {
            let int = names::int_patch(bridge);
            let m = match vid {
                Some(v) => format!("dl_vlan={v}"),
                None => "vlan_tci=0x0000/0x1fff".to_string(),
            };
            flows.push(format!(
                "table=0,priority=3,in_port={int},{m},actions=mod_vlan_vid:{},resubmit(,60)",
                w.vlan
            ));
        }
    }
    let held = addresses_in_use(view);
    for (p, tap) in vm_ports.iter().zip(&taps) {
        if tap.tag == Some(DEAD_VLAN) {
            flows.push(format!(
                "table=0,priority=65535,in_port={},actions=drop",
                tap.name
            ));
            continue;
        }
        port_flows(p, tap, &held, &mut flows);
    }
    flows.sort();
    flows.dedup();
    ports.extend(taps);
    super::BridgeSpec {
        name: BR_INT.to_string(),
        ports,
        flows,
        owns_all_ports: true,
    }
}

/// IPv4 addresses held by some port (local or remote) per network: the DHCP
/// responder answers ARP for its server address only when no port holds it.
fn addresses_in_use(view: &HostView) -> BTreeSet<(String, Ipv4Addr)> {
    let mut held = BTreeSet::new();
    for p in &view.ports {
        for f in &p.fixed_ips {
            if let Ok(ip) = f.ip_address.parse() {
                held.insert((p.network_id.clone(), ip));
            }
        }
    }
    for r in &view.remote_ports {
        for a in &r.ip_addresses {
            if let Ok(ip) = a.parse() {
                held.insert((r.network_id.clone(), ip));
            }
        }
    }
    held
}

fn port_flows(
    p: &LocalPort,
    tap: &PortConfig,
    held: &BTreeSet<(String, Ipv4Addr)>,
    flows: &mut Vec<String>,
) {
    let t = &tap.name;
    if let Some(b) = &tap.dhcp {
        flows.push(format!(
            "table=0,priority=50,in_port={t},udp,tp_src=68,tp_dst=67,actions=dhcp"
        ));
        if !held.contains(&(p.network_id.clone(), b.server_ip)) {
            flows.push(format!(
                "table=0,priority=50,in_port={t},arp,arp_op=1,arp_tpa={},actions=dhcp",
                b.server_ip
            ));
        }
    }
    if !p.port_security_enabled {
        flows.push(format!(
            "table=0,priority=9,in_port={t},actions=resubmit(,60)"
        ));
        return;
    }
    flows.push(format!(
        "table=0,priority=10,in_port={t},arp,actions=resubmit(,24)"
    ));
    flows.push(format!(
        "table=0,priority=9,in_port={t},actions=resubmit(,25)"
    ));
    let mac = p.mac_address.to_ascii_lowercase();
    // (MAC, IPv4 address or CIDR) pairs this port may send from.
    let mut allowed: Vec<(String, String)> = p
        .fixed_ips
        .iter()
        .filter(|f| f.ip_address.parse::<Ipv4Addr>().is_ok())
        .map(|f| (mac.clone(), f.ip_address.clone()))
        .collect();
    for pair in &p.allowed_address_pairs {
        let ip = &pair.ip_address;
        let v4 = ip.parse::<Ipv4Addr>().is_ok() || ip.parse::<ipnet::Ipv4Net>().is_ok();
        if !v4 {
            continue;
        }
        let m = if pair.mac_address.is_empty() {
            mac.clone()
        } else {
            pair.mac_address.to_ascii_lowercase()
        };
        allowed.push((m, ip.clone()));
    }
    let mut macs = BTreeSet::from([mac.clone()]);
    for (m, ip) in &allowed {
        macs.insert(m.clone());
        flows.push(format!(
            "table=24,priority=2,in_port={t},arp,arp_spa={ip},actions=resubmit(,25)"
        ));
        flows.push(format!(
            "table=25,priority=2,in_port={t},dl_src={m},ip,nw_src={ip},actions=resubmit(,60)"
        ));
    }
    for m in &macs {
        flows.push(format!(
            "table=25,priority=2,in_port={t},dl_src={m},arp,actions=resubmit(,60)"
        ));
    }
    for (m, src) in ipv6_sources(p, &mac) {
        flows.push(format!(
            "table=25,priority=2,in_port={t},dl_src={m},ipv6,ipv6_src={src},actions=resubmit(,60)"
        ));
    }
}

/// (MAC, IPv6 source) pairs a port may send from: its IPv6 fixed IPs and
/// address pairs, the EUI-64 link-local address of each MAC it may use, and `::`
/// (duplicate address detection before an address is configured).
fn ipv6_sources(p: &LocalPort, mac: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut macs = vec![mac.to_string()];
    for f in &p.fixed_ips {
        if f.ip_address.parse::<Ipv6Addr>().is_ok() {
            out.push((mac.to_string(), f.ip_address.clone()));
        }
    }
    for pair in &p.allowed_address_pairs {
        let ip = &pair.ip_address;
        if ip.parse::<Ipv6Addr>().is_err() && ip.parse::<ipnet::Ipv6Net>().is_err() {
            continue;
        }
        let m = if pair.mac_address.is_empty() {
            mac.to_string()
        } else {
            pair.mac_address.to_ascii_lowercase()
        };
        if !macs.contains(&m) {
            macs.push(m.clone());
        }
        out.push((m, ip.clone()));
    }
    for m in macs {
        if let Some(ll) = link_local(&m) {
            out.push((m.clone(), ll.to_string()));
        }
        out.push((m, "::".to_string()));
    }
    out.sort();
    out.dedup();
    out
}

/// The EUI-64 link-local address (fe80::/64) of a MAC, as Linux forms it by default.
fn link_local(mac: &str) -> Option<Ipv6Addr> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b1, c, d, e, f] = <[u8; 6]>::try_from(b).ok()?;
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(a ^ 0x02, b1),
        seg(c, 0xff),
        seg(0xfe, d),
        seg(e, f),
    ))
}
