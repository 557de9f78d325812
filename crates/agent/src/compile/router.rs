//! Routers on a network node (Neutron's L3 agent, legacy mode): for each router
//! scheduled here, a namespace `qrouter-<id>` holding a `qr-` device per interface
//! port (an internal port on br-int, tagged with its network's local VLAN) and a
//! `qg-` device for the gateway port (on br-int tagged, when the external network is
//! a provider network with a bridge mapping; else straight on the external bridge,
//! untagged, as `external_network_bridge = br-ex` had it), their addresses, the
//! default route through the external subnet's gateway, the extra routes, and the
//! NAT table (see [`super::nat`]), and the metering table (see
//! [`super::metering`]).

use super::metering;
use super::nat::{self, Nat};
use super::{Carrier, WiredNet};
use crate::names;
use ipnet::{IpNet, Ipv4Net};
use model::{HostView, LocalPort, NetworkView, RouterView};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use switch_proto::{Action, Flow, Match, PortSpec, PortType};

/// One router as its namespace must be.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSpec {
    pub id: String,
    pub namespace: String,
    /// The router's `admin_state_up`. A disabled router keeps its namespace and
    /// wired devices (its ports stay bound and ACTIVE, as Neutron's OVN driver
    /// has them) but its devices are down: it answers and forwards nothing, and
    /// carries no routes, NAT or floating IPs.
    pub enabled: bool,
    /// `qr-` devices first, then the `qg-` device.
    pub devices: Vec<RouterDevice>,
    /// Routes besides the connected ones: the default route and extra routes.
    pub routes: Vec<RouteSpec>,
    /// The whole nftables table of the namespace, as `nft -f` takes it.
    pub nat: String,
    /// The metering table (see [`super::metering`]), when labels count here.
    pub metering: Option<String>,
    /// The ids of the labels that table counts.
    pub metering_labels: Vec<String>,
    /// Floating IPs this router carries (their address is on `qg-` and their rules
    /// in `nat`): (floating IP id, floating address).
    pub floating_ips: Vec<(String, Ipv4Addr)>,
}

/// A device in a router's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterDevice {
    pub port_id: String,
    /// `qr-…` or `qg-…`.
    pub name: String,
    /// Addresses with their prefix length (`10.0.0.1/24`; floating IPs as /32).
    pub addresses: Vec<IpNet>,
    pub gateway: bool,
}

/// A route in a router's namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteSpec {
    pub destination: IpNet,
    pub via: IpAddr,
}

/// A router port of this host and whether its device is wired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterPort {
    pub router_id: String,
    pub port_id: String,
    pub device: String,
    pub wired: bool,
}

/// What the routers add to the host's switch: ports per bridge and br-int flows.
#[derive(Debug, Default)]
pub(super) struct RouterWiring {
    pub routers: Vec<RouterSpec>,
    /// Internal ports per bridge (br-int, or the external bridge for `qg-`).
    pub ports: BTreeMap<String, Vec<PortSpec>>,
    pub int_flows: Vec<Flow>,
    pub router_ports: Vec<RouterPort>,
}

/// The routers of `view` (all are realised, admin down ones disabled), in view
/// order.
pub(super) fn scheduled(view: &HostView) -> impl Iterator<Item = &RouterView> {
    view.routers.iter()
}

/// Where a router's gateway port goes: the external network's carrier when it has
/// one (a provider network with a bridge mapping: br-int, tagged), else `None` (the
/// external bridge, untagged).
/// Whether a router's gateway device goes on br-int, tagged with its network's
/// local VLAN: when the external network is a provider network with a bridge
/// mapping, and when it is external only by a tenant's policy (not for all, by
/// the admin): its gateways then stay in that network's own segment and never
/// reach the external bridge, where they could claim the outside's addresses.
pub(super) fn gateway_on_br_int(carrier: &Carrier, net: &NetworkView) -> bool {
    matches!(carrier, Carrier::Provider { .. }) || !net.external_to_all
}

pub(super) fn wire(
    view: &HostView,
    cfg: &super::HostConfig,
    wired: &BTreeMap<&str, WiredNet>,
    nets: &BTreeMap<&str, &NetworkView>,
    warnings: &mut Vec<String>,
) -> RouterWiring {
    let ports: BTreeMap<&str, &LocalPort> = view.ports.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut out = RouterWiring::default();
    for r in scheduled(view) {
        let ns = names::router_ns(&r.id);
        let enabled = r.admin_state_up;
        let mut spec = RouterSpec {
            id: r.id.clone(),
            namespace: ns.clone(),
            enabled,
            devices: Vec::new(),
            routes: Vec::new(),
            nat: String::new(),
            metering: None,
            metering_labels: Vec::new(),
            floating_ips: Vec::new(),
        };
        // Internal IPv4 subnets with their address scopes.
        let mut internal: Vec<(Ipv4Net, Option<String>)> = Vec::new();
        let mut gateway_scope: Option<String> = None;
        for pid in &r.interface_ports {
            let name = names::router_interface(pid);
            let Some((lp, net)) = port_and_net(&ports, nets, pid) else {
                warnings.push(format!(
                    "router {}: interface port {pid} is not in the host view",
                    r.id
                ));
                continue;
            };
            let Some(w) = wired.get(net.id.as_str()) else {
                out.router_ports.push(RouterPort {
                    router_id: r.id.clone(),
                    port_id: pid.clone(),
                    device: name,
                    wired: false,
                });
                continue;
            };
            let addresses = addresses(lp, net);
            internal.extend(v4_scopes(lp, net));
            out.ports
                .entry(names::BR_INT.to_string())
                .or_default()
                .push(device_port(
                    &name,
                    &ns,
                    lp,
                    net,
                    Some(w.vlan),
                    cfg.router_port_type,
                ));
            out.int_flows.push(unchecked(&name));
            out.router_ports.push(RouterPort {
                router_id: r.id.clone(),
                port_id: pid.clone(),
                device: name.clone(),
                wired: true,
            });
            spec.devices.push(RouterDevice {
                port_id: pid.clone(),
                name,
                addresses,
                gateway: false,
            });
        }
        let mut gateway: Option<(String, Ipv4Addr)> = None;
        if let Some(pid) = &r.gateway_port {
            let name = names::router_gateway(pid);
            match port_and_net(&ports, nets, pid) {
                None => warnings.push(format!(
                    "router {}: gateway port {pid} is not in the host view",
                    r.id
                )),
                Some((lp, net)) => {
                    let (bridge, tag) = match wired.get(net.id.as_str()) {
                        Some(w) if gateway_on_br_int(&w.kind, net) => {
                            (names::BR_INT.to_string(), Some(w.vlan))
                        }
                        _ => (cfg.external_bridge.clone(), None),
                    };
                    let mut addresses = addresses(lp, net);
                    gateway_scope = v4_scopes(lp, net).into_iter().find_map(|(_, s)| s);
                    let gw_ip = addresses.iter().find_map(|a| match a {
                        IpNet::V4(n) => Some(n.addr()),
                        IpNet::V6(_) => None,
                    });
                    if let Some(via) = default_gateway(lp, net) {
                        spec.routes.push(RouteSpec {
                            destination: IpNet::V4(Ipv4Net::default()),
                            via: IpAddr::V4(via),
                        });
                    }
                    for f in r.floating_ips.iter().filter(|_| enabled) {
                        if let Ok(a) = f.floating_ip_address.parse::<Ipv4Addr>() {
                            addresses.push(IpNet::V4(Ipv4Net::from(a)));
                            spec.floating_ips.push((f.id.clone(), a));
                        }
                    }
                    if bridge == names::BR_INT {
                        out.int_flows.push(unchecked(&name));
                    }
                    out.ports.entry(bridge).or_default().push(device_port(
                        &name,
                        &ns,
                        lp,
                        net,
                        tag,
                        cfg.router_port_type,
                    ));
                    out.router_ports.push(RouterPort {
                        router_id: r.id.clone(),
                        port_id: pid.clone(),
                        device: name.clone(),
                        wired: true,
                    });
                    if let Some(ip) = gw_ip {
                        gateway = Some((name.clone(), ip));
                    }
                    spec.devices.push(RouterDevice {
                        port_id: pid.clone(),
                        name,
                        addresses,
                        gateway: true,
                    });
                }
            }
        }
        for rt in &r.routes {
            match (
                rt.destination.parse::<IpNet>(),
                rt.nexthop.parse::<IpAddr>(),
            ) {
                (Ok(destination), Ok(via)) => spec.routes.push(RouteSpec {
                    destination: destination.trunc(),
                    via,
                }),
                _ => warnings.push(format!(
                    "router {}: route {} via {} is not usable",
                    r.id, rt.destination, rt.nexthop
                )),
            }
        }
        spec.routes.sort();
        spec.routes.dedup();
        if !enabled {
            spec.routes.clear();
            internal.clear();
            gateway = None;
        }
        let fips: Vec<(Ipv4Addr, Ipv4Addr)> = r
            .floating_ips
            .iter()
            .filter_map(|f| {
                Some((
                    f.floating_ip_address.parse().ok()?,
                    f.fixed_ip_address.parse().ok()?,
                ))
            })
            .collect();
        if gateway.is_none() {
            // No way out: floating IPs are not carried.
            spec.floating_ips.clear();
        }
        // Subnets in the external network's address scope are routed out as they
        // are (Neutron's address scopes); the others are SNATed.
        let snat_nets: Vec<Ipv4Net> = internal
            .iter()
            .filter(|(_, scope)| scope.is_none() || *scope != gateway_scope)
            .map(|(n, _)| *n)
            .collect();
        spec.nat = nat::ruleset(&Nat {
            gateway: gateway.as_ref().map(|(d, ip)| (d.as_str(), *ip)),
            snat: r.enable_snat && enabled,
            internal: &snat_nets,
            floating: if gateway.is_some() { &fips } else { &[] },
        });
        spec.metering = gateway
            .as_ref()
            .and_then(|(dev, _)| metering::ruleset(dev, &r.metering_labels));
        if spec.metering.is_some() {
            spec.metering_labels = r.metering_labels.iter().map(|l| l.id.clone()).collect();
        }
        out.routers.push(spec);
    }
    out
}

fn port_and_net<'a>(
    ports: &BTreeMap<&str, &'a LocalPort>,
    nets: &BTreeMap<&str, &'a NetworkView>,
    id: &str,
) -> Option<(&'a LocalPort, &'a NetworkView)> {
    let lp = *ports.get(id)?;
    Some((lp, *nets.get(lp.network_id.as_str())?))
}

/// The port's fixed addresses with their subnets' prefix lengths.
fn addresses(lp: &LocalPort, net: &NetworkView) -> Vec<IpNet> {
    lp.fixed_ips
        .iter()
        .filter_map(|f| {
            let ip: IpAddr = f.ip_address.parse().ok()?;
            let sub = net.subnets.iter().find(|s| s.id == f.subnet_id)?;
            let cidr: IpNet = sub.cidr.parse().ok()?;
            IpNet::new(ip, cidr.prefix_len()).ok()
        })
        .collect()
}

/// The port's IPv4 subnets (as prefixes) with their address scopes.
fn v4_scopes(lp: &LocalPort, net: &NetworkView) -> Vec<(Ipv4Net, Option<String>)> {
    lp.fixed_ips
        .iter()
        .filter_map(|f| {
            f.ip_address.parse::<Ipv4Addr>().ok()?;
            let sub = net.subnets.iter().find(|s| s.id == f.subnet_id)?;
            let cidr: Ipv4Net = sub.cidr.parse().ok()?;
            Some((cidr.trunc(), sub.address_scope_id.clone()))
        })
        .collect()
}

/// The gateway of the gateway port's first IPv4 subnet.
fn default_gateway(lp: &LocalPort, net: &NetworkView) -> Option<Ipv4Addr> {
    lp.fixed_ips.iter().find_map(|f| {
        f.ip_address.parse::<Ipv4Addr>().ok()?;
        let sub = net.subnets.iter().find(|s| s.id == f.subnet_id)?;
        sub.gateway_ip.as_deref()?.parse().ok()
    })
}

fn device_port(
    name: &str,
    ns: &str,
    lp: &LocalPort,
    net: &NetworkView,
    tag: Option<u16>,
    kind: PortType,
) -> PortSpec {
    PortSpec {
        tag,
        netns: Some(ns.to_string()),
        mac: Some(lp.mac_address.to_ascii_lowercase()),
        mtu: Some(net.mtu),
        ..PortSpec::new(name, kind)
    }
}

/// br-int takes a router device's frames without anti-spoofing: a router sends from
/// every address it routes for.
fn unchecked(device: &str) -> Flow {
    Flow::new(0, 9)
        .when(Match::in_port(device))
        .then([Action::resubmit(60)])
}
