//! br-int: VM taps on local VLANs, the dead VLAN, DHCP handed to the switch's
//! responder, and NORMAL switching (table 60); each port's traffic goes on to the
//! firewall's tables (anti-spoofing and security groups, see `firewall`).

use super::{Carrier, HostConfig, WiredNet, tun_patch_pair};
use crate::flows;
use crate::names::{self, BR_INT, DEAD_VLAN};
use ipnet::{Ipv4Net, Ipv6Net};
use model::{HostView, LocalPort, NetworkView};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use switch_proto::{Action, Flow, Mac, Match, PortSpec, Proto};

pub(super) fn spec(
    view: &HostView,
    cfg: &HostConfig,
    vm_ports: &[&LocalPort],
    wired: &BTreeMap<&str, WiredNet>,
    taps: Vec<PortSpec>,
) -> super::BridgeSpec {
    let mut flows = vec![
        Flow::new(0, 65535)
            .when(Match::DlVlan(DEAD_VLAN))
            .then([Action::Drop]),
        Flow::new(0, 0).then([Action::resubmit(60)]),
        Flow::new(60, 3).then([Action::Normal]),
    ];
    let (patch_tun, _) = tun_patch_pair();
    let mut ports = vec![patch_tun];
    for bridge in cfg.bridge_mappings.values() {
        let int = names::int_patch(bridge);
        flows.push(
            Flow::new(0, 2)
                .when(Match::in_port(&int))
                .then([Action::Drop]),
        );
        ports.push(super::patch(&int, &names::phy_patch(bridge)));
    }
    for w in wired.values() {
        if let Carrier::Provider { bridge, vid } = &w.kind {
            let int = names::int_patch(bridge);
            let m = match vid {
                Some(v) => Match::DlVlan(*v),
                None => Match::VlanTci {
                    value: 0,
                    mask: 0x1fff,
                },
            };
            flows.push(
                Flow::new(0, 3)
                    .when(Match::in_port(&int))
                    .when(m)
                    .then([Action::ModVlanVid(w.vlan), Action::resubmit(60)]),
            );
        }
    }
    let held = addresses_in_use(view);
    for (p, tap) in vm_ports.iter().zip(&taps) {
        if tap.tag == Some(DEAD_VLAN) {
            flows.push(dead_port(&tap.name));
            continue;
        }
        let net = wired.get(p.network_id.as_str()).map(|w| w.net);
        port_flows(p, net, tap, &held, &mut flows);
    }
    flows::sort(&mut flows);
    ports.extend(taps);
    super::BridgeSpec {
        name: BR_INT.to_string(),
        ports,
        flows,
        owns_all_ports: true,
    }
}

/// Everything from `tap` dropped at the door.
fn dead_port(tap: &str) -> Flow {
    Flow::new(0, 65535)
        .when(Match::in_port(tap))
        .then([Action::Drop])
}

/// IPv4 addresses held by some port (local or remote) per network: when the
/// server names no DHCP port (an older server), the DHCP responder answers ARP
/// for its fallback address only when no port holds it.
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
    net: Option<&NetworkView>,
    tap: &PortSpec,
    held: &BTreeSet<(String, Ipv4Addr)>,
    flows: &mut Vec<Flow>,
) {
    let t = tap.name.as_str();
    let from = |table: u8, priority: u16| Flow::new(table, priority).when(Match::in_port(t));
    if let Some(b) = &tap.dhcp {
        flows.push(
            from(0, 50)
                .when(Match::Proto(Proto::Udp))
                .when(Match::TpSrc(68))
                .when(Match::TpDst(67))
                .then([Action::Dhcp]),
        );
        // The network's DHCP port is plugged nowhere: the switch answers ARP for
        // its address at every VM port. The gateway is not answered (a qr- port
        // owns it), nor any other address a port holds.
        let dhcp_port = net.is_some_and(|n| super::dhcp::is_dhcp_port_ip(n, b.server_ip));
        if dhcp_port || !held.contains(&(p.network_id.clone(), b.server_ip)) {
            flows.push(
                from(0, 50)
                    .when(Match::Proto(Proto::Arp))
                    .when(Match::ArpOp(1))
                    .when(Match::ArpTpa(Match::host(b.server_ip)))
                    .then([Action::Dhcp]),
            );
        }
    }
    if p.port_security_enabled && p.mac_address.parse::<Mac>().is_err() {
        // Not a MAC the switch could check the port's frames against.
        flows.push(dead_port(t));
        return;
    }
    // On to table 60, where the firewall takes the port's traffic.
    flows.push(from(0, 9).then([Action::resubmit(60)]));
}

/// An IPv4 address (a /32) or prefix, as an address pair gives it.
pub(super) fn v4_prefix(s: &str) -> Option<Ipv4Net> {
    s.parse::<Ipv4Addr>()
        .map(Ipv4Net::from)
        .ok()
        .or_else(|| s.parse().ok())
}

/// An IPv6 address (a /128) or prefix.
fn v6_prefix(s: &str) -> Option<Ipv6Net> {
    s.parse::<Ipv6Addr>()
        .map(Ipv6Net::from)
        .ok()
        .or_else(|| s.parse().ok())
}

/// (MAC, IPv6 source) pairs a port may send from: its IPv6 fixed IPs and
/// address pairs, the EUI-64 link-local address of each MAC it may use, and `::`
/// (duplicate address detection before an address is configured).
pub(super) fn ipv6_sources(p: &LocalPort, mac: Mac) -> Vec<(Mac, Ipv6Net)> {
    let mut out = Vec::new();
    let mut macs = vec![mac];
    for f in &p.fixed_ips {
        if let Ok(ip) = f.ip_address.parse::<Ipv6Addr>() {
            out.push((mac, Ipv6Net::from(ip)));
        }
    }
    for pair in &p.allowed_address_pairs {
        let Some(net) = v6_prefix(&pair.ip_address) else {
            continue;
        };
        let m = if pair.mac_address.is_empty() {
            Some(mac)
        } else {
            pair.mac_address.parse().ok()
        };
        let Some(m) = m else {
            continue;
        };
        if !macs.contains(&m) {
            macs.push(m);
        }
        out.push((m, net));
    }
    for m in macs {
        out.push((m, Ipv6Net::from(link_local(m))));
        out.push((m, Ipv6Net::from(Ipv6Addr::UNSPECIFIED)));
    }
    out.sort();
    out.dedup();
    out
}

/// The EUI-64 link-local address (fe80::/64) of a MAC, as Linux forms it by default.
pub fn link_local(mac: Mac) -> Ipv6Addr {
    let [a, b1, c, d, e, f] = mac.0;
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(a ^ 0x02, b1),
        seg(c, 0xff),
        seg(0xfe, d),
        seg(e, f),
    )
}
