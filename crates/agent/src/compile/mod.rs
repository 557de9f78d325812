//! The compile step: a pure function from one host's desired state (a
//! [`HostView`]) to the switch state that realises it — bridges, ports with their
//! local VLAN tags and DHCP bindings, and every flow of br-int, br-tun and the
//! physical bridges, laid out in Neutron's OVS agent tables:
//!
//! - br-int: 0 (classify; dead VLAN; DHCP to the switch's responder; provider
//!   ingress), 24 (ARP anti-spoofing), 25 (MAC/IP anti-spoofing), 60 (NORMAL).
//! - br-tun: 0 (from patch-int or a tunnel), 2 (unicast/flood/ARP), 3/4 (GRE/VXLAN
//!   key to local VLAN), 10 (learn), 20 (l2pop unicast), 21 (ARP responder),
//!   22 (flood to the hosts that have ports on the network).
//! - br-phys (per bridge mapping): local VLAN to the provider VLAN or untagged.
//!
//! No I/O happens here; the result is compared with what switchd has by `apply`.

mod br_int;
mod br_phys;
mod br_tun;
mod dhcp;
mod dhcp_opts;
mod firewall;
pub mod metadata;
pub mod metering;
pub mod nat;
pub mod router;
mod vlans;

#[cfg(test)]
mod port_service_tests;
#[cfg(test)]
mod router_tests;
#[cfg(test)]
mod tests;

use crate::names::{self, DEAD_VLAN, PATCH_INT, PATCH_TUN};
pub use br_int::link_local;
pub use metadata::MetadataSpec;
use model::{HostView, LocalPort, NetworkType, NetworkView};
pub use router::{RouteSpec, RouterDevice, RouterPort, RouterSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use switch_proto::{Action, Flow, Mac, PortSpec, PortType};

pub use vlans::assign as assign_vlans;

/// What the agent knows about its own host (from its command line).
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    pub host: String,
    /// This host's tunnel endpoint (`--tunnel-ip`).
    pub tunnel_ip: Ipv4Addr,
    /// Physical network name -> bridge (`--bridge-mapping physnet1:br-eth1`).
    pub bridge_mappings: BTreeMap<String, String>,
    /// Where a router's `qg-` device goes when its external network has no bridge
    /// mapping (`--external-network-bridge`, Neutron's `external_network_bridge`).
    pub external_bridge: String,
    /// The metadata service (see [`metadata`]): the prefix of its namespaces'
    /// names (`qmeta-`, then the network id), or `None` when it is off.
    pub metadata: Option<String>,
    /// What a VM's port is on the switch: a TAP whose netdev is in the VM's
    /// namespace, or a veth pair whose host end stays in the host's (`--vm-port-type`).
    pub vm_port_type: PortType,
    /// What a router's `qr-`/`qg-` device is on the switch (`--router-port-type`):
    /// a veth pair by default, whose host end the kernel fast path reads (routed
    /// traffic then never crosses user space), or an internal port (a TAP in the
    /// router's namespace that switchd reads).
    pub router_port_type: PortType,
    /// Tunnel types this host builds (`--tunnel-types`, Neutron's
    /// `tunnel_types`; empty with `--enable-tunneling false`).
    pub tunnel_types: Vec<PortType>,
}

/// One bridge as it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeSpec {
    pub name: String,
    pub ports: Vec<PortSpec>,
    pub flows: Vec<Flow>,
    /// True when the agent owns every port of the bridge (br-int, br-tun): ports not
    /// listed are removed. A physical bridge also holds the operator's NIC, so only
    /// the agent's own patch port is managed there.
    pub owns_all_ports: bool,
}

/// A VM port of this host and whether it passes traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPort {
    pub port_id: String,
    pub tap: String,
    /// The namespace the tap's netdev lives in (the port's device_id: the VM).
    pub netns: String,
    /// On a live local VLAN (false: on the dead VLAN, e.g. admin down).
    pub wired: bool,
}

/// The whole wanted switch state of a host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    pub bridges: Vec<BridgeSpec>,
    /// Network id -> local VLAN on br-int.
    pub vlans: BTreeMap<String, u16>,
    pub vm_ports: Vec<VmPort>,
    /// Routers scheduled here, as their namespaces must be.
    pub routers: Vec<RouterSpec>,
    /// Router interface and gateway ports of this host and whether they are wired.
    pub router_ports: Vec<RouterPort>,
    /// The metadata namespaces of this host's networks.
    pub metadata: Vec<MetadataSpec>,
    /// Things the operator should know (unmapped physical network, missing
    /// segmentation id, a remote host without tunnel IP); not errors.
    pub warnings: Vec<String>,
}

impl Compiled {
    pub fn bridge(&self, name: &str) -> Option<&BridgeSpec> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// True for the ports the agent plugs as VM taps.
pub fn is_vm_port(p: &LocalPort) -> bool {
    p.device_owner.starts_with("compute:") && !p.device_id.is_empty()
}

/// A network as the host wires it: its local VLAN and how it leaves the host.
#[derive(Debug, Clone)]
pub(crate) struct WiredNet<'a> {
    pub net: &'a NetworkView,
    pub vlan: u16,
    pub kind: Carrier,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// Over tunnels of this port type with this key (VNI / GRE key).
    Tunnel { kind: PortType, key: u32 },
    /// Through a physical bridge, tagged with `Some(vid)` or untagged (flat).
    Provider { bridge: String, vid: Option<u16> },
}

/// Compiles `view` for the host `cfg`. `prior` holds the local VLANs already in use
/// (from the last compile or recovered from switchd), kept stable so that a
/// re-compile changes no flow.
pub fn compile(view: &HostView, cfg: &HostConfig, prior: &BTreeMap<String, u16>) -> Compiled {
    let mut warnings = Vec::new();
    let vm_ports: Vec<&LocalPort> = view.ports.iter().filter(|p| is_vm_port(p)).collect();
    let nets: BTreeMap<&str, &NetworkView> =
        view.networks.iter().map(|n| (n.id.as_str(), n)).collect();

    // Networks that carry traffic here: a live VM port on them, and a way out.
    let mut carriers: BTreeMap<&str, Carrier> = BTreeMap::new();
    for p in vm_ports.iter().filter(|p| p.admin_state_up) {
        let Some(net) = nets.get(p.network_id.as_str()) else {
            continue;
        };
        if carriers.contains_key(net.id.as_str()) || !net.admin_state_up {
            continue;
        }
        match carrier(net, cfg) {
            Ok(c) => {
                carriers.insert(net.id.as_str(), c);
            }
            Err(w) => {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
        }
    }
    // Routers: their interface networks, and their gateway's when it is a provider
    // network with a bridge mapping (else `qg-` goes on the external bridge).
    for r in router::scheduled(view) {
        let ids = r.interface_ports.iter().map(|p| (p, false));
        for (pid, gw) in ids.chain(r.gateway_port.iter().map(|p| (p, true))) {
            let Some(lp) = view.ports.iter().find(|p| p.id == *pid) else {
                continue;
            };
            let Some(net) = nets.get(lp.network_id.as_str()) else {
                continue;
            };
            if carriers.contains_key(net.id.as_str()) || !net.admin_state_up {
                continue;
            }
            match carrier(net, cfg) {
                Ok(c) if !gw || router::gateway_on_br_int(&c, net) => {
                    carriers.insert(net.id.as_str(), c);
                }
                Ok(_) => {}
                Err(w) if !gw => warnings.push(w),
                Err(_) => {}
            }
        }
    }
    let vlans = vlans::assign(carriers.keys().copied(), prior);
    let mut wired: BTreeMap<&str, WiredNet> = BTreeMap::new();
    for (id, kind) in carriers {
        match vlans.get(id) {
            Some(&vlan) => {
                if let Some(net) = nets.get(id) {
                    wired.insert(id, WiredNet { net, vlan, kind });
                }
            }
            None => warnings.push(format!(
                "network {id}: no free local VLAN on this host; its ports stay down"
            )),
        }
    }

    let mut vms = Vec::new();
    let mut taps = Vec::new();
    for p in &vm_ports {
        let wn = wired
            .get(p.network_id.as_str())
            .filter(|_| p.admin_state_up);
        let tap = names::tap(&p.id);
        let dhcp = wn
            .and_then(|w| dhcp::binding(p, w.net))
            .map(|b| match cfg.metadata {
                Some(_) => metadata::with_route(b),
                None => b,
            });
        taps.push(PortSpec {
            name: tap.clone(),
            kind: cfg.vm_port_type,
            tag: Some(wn.map_or(DEAD_VLAN, |w| w.vlan)),
            netns: Some(p.device_id.clone()),
            mac: Some(p.mac_address.to_ascii_lowercase()),
            mtu: nets.get(p.network_id.as_str()).map(|n| n.mtu),
            dhcp,
            ..PortSpec::new(&tap, cfg.vm_port_type)
        });
        vms.push(VmPort {
            port_id: p.id.clone(),
            tap,
            netns: p.device_id.clone(),
            wired: wn.is_some(),
        });
    }

    let remote = remote_hosts(view, cfg, &wired, &mut warnings);
    let mut rw = router::wire(view, cfg, &wired, &nets, &mut warnings);
    // The firewall: VM ports with port security are filtered; those without, and
    // the routers' devices on br-int, pass through its table 73.
    let mut fw = firewall::Firewall::default();
    for (p, tap) in vm_ports.iter().zip(&taps) {
        let Some(vlan) = tap.tag.filter(|v| *v != DEAD_VLAN) else {
            continue;
        };
        if p.port_security_enabled {
            fw.secured.push(firewall::Secured {
                port: p,
                tap: &tap.name,
                vlan,
            });
        } else {
            fw.open.push((tap.name.clone(), vlan));
        }
    }
    let router_int = rw.ports.remove(names::BR_INT).unwrap_or_default();
    fw.open.extend(
        router_int
            .iter()
            .filter_map(|p| p.tag.map(|v| (p.name.clone(), v))),
    );
    let mut md = metadata::wire(cfg.metadata.as_deref(), &cfg.host, &vm_ports, &wired);
    fw.open.append(&mut md.open);
    let mut fw_flows = firewall::flows(view, &fw, &mut warnings);
    drop(fw);
    let mut int = br_int::spec(view, cfg, &vm_ports, &wired, taps);
    int.ports.extend(router_int);
    int.ports.append(&mut md.ports);
    int.flows.append(&mut rw.int_flows);
    int.flows.append(&mut md.flows);
    int.flows.append(&mut fw_flows);
    crate::flows::sort(&mut int.flows);
    let mut bridges = vec![int, br_tun::spec(cfg, &wired, &remote)];
    for (physnet, bridge) in &cfg.bridge_mappings {
        bridges.push(br_phys::spec(physnet, bridge, &wired));
    }
    // `qg-` devices on the external bridge: beside a mapping's patch port when the
    // bridge is also mapped, else on a bridge of their own (switching by NORMAL).
    for (bridge, ports) in rw.ports {
        match bridges.iter_mut().find(|b| b.name == bridge) {
            Some(b) => b.ports.extend(ports),
            None => bridges.push(BridgeSpec {
                name: bridge,
                ports,
                flows: vec![Flow::new(0, 0).then([Action::Normal])],
                owns_all_ports: false,
            }),
        }
    }
    metadata::stay_home(&mut bridges, &md.specs);
    Compiled {
        bridges,
        vlans,
        vm_ports: vms,
        routers: rw.routers,
        router_ports: rw.router_ports,
        metadata: md.specs,
        warnings,
    }
}

fn carrier(net: &NetworkView, cfg: &HostConfig) -> Result<Carrier, String> {
    let seg = net.segmentation_id;
    match net.network_type {
        NetworkType::Vxlan | NetworkType::Gre => {
            let kind = if net.network_type == NetworkType::Vxlan {
                PortType::Vxlan
            } else {
                PortType::Gre
            };
            if !cfg.tunnel_types.contains(&kind) {
                return Err(format!(
                    "network {}: {} tunnels are not enabled on this host (--tunnel-types, --enable-tunneling)",
                    net.id,
                    if kind == PortType::Vxlan {
                        "VXLAN"
                    } else {
                        "GRE"
                    }
                ));
            }
            seg.map(|key| Carrier::Tunnel { kind, key })
                .ok_or_else(|| format!("network {}: no segmentation id", net.id))
        }
        NetworkType::Vlan | NetworkType::Flat => {
            let physnet = net.physical_network.as_deref().unwrap_or_default();
            let bridge = cfg.bridge_mappings.get(physnet).ok_or_else(|| {
                format!(
                    "network {}: physical network '{physnet}' has no bridge mapping on this host",
                    net.id
                )
            })?;
            let vid = match net.network_type {
                NetworkType::Vlan => match seg.and_then(|s| u16::try_from(s).ok()) {
                    Some(v) if (1..4095).contains(&v) => Some(v),
                    _ => return Err(format!("network {}: bad VLAN id {seg:?}", net.id)),
                },
                _ => None,
            };
            Ok(Carrier::Provider {
                bridge: bridge.clone(),
                vid,
            })
        }
    }
}

/// A remote host's tunnel and what lives behind it, per wired network.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteHost {
    /// Network id -> (MAC, IPv4 addresses) of that host's ports on it.
    pub ports: BTreeMap<String, Vec<(Mac, Vec<Ipv4Addr>)>>,
}

/// Tunnel endpoints (port type, remote IP) that have ports on this host's tunnelled
/// networks (l2population: no tunnel to a host with nothing to reach).
fn remote_hosts(
    view: &HostView,
    cfg: &HostConfig,
    wired: &BTreeMap<&str, WiredNet>,
    warnings: &mut Vec<String>,
) -> BTreeMap<(PortType, Ipv4Addr), RemoteHost> {
    let mut out: BTreeMap<(PortType, Ipv4Addr), RemoteHost> = BTreeMap::new();
    let mut unreachable = BTreeSet::new();
    for rp in &view.remote_ports {
        let Some(WiredNet {
            kind: Carrier::Tunnel { kind, .. },
            ..
        }) = wired.get(rp.network_id.as_str())
        else {
            continue;
        };
        let ip = rp
            .tunnel_ip
            .as_deref()
            .and_then(|t| t.parse::<Ipv4Addr>().ok());
        let Some(ip) = ip.filter(|ip| *ip != cfg.tunnel_ip) else {
            if rp.host != cfg.host {
                unreachable.insert(rp.host.clone());
            }
            continue;
        };
        let Ok(mac) = rp.mac_address.parse::<Mac>() else {
            warnings.push(format!(
                "remote port on host {} has a bad MAC address '{}'; not reachable from here",
                rp.host, rp.mac_address
            ));
            continue;
        };
        let ips = rp
            .ip_addresses
            .iter()
            .filter_map(|a| a.parse::<Ipv4Addr>().ok())
            .collect();
        out.entry((*kind, ip))
            .or_default()
            .ports
            .entry(rp.network_id.clone())
            .or_default()
            .push((mac, ips));
    }
    for h in unreachable {
        warnings.push(format!(
            "host {h} has ports on a shared network but no usable tunnel IP"
        ));
    }
    out
}

/// br-int <-> br-tun patch ports.
pub(crate) fn patch(name: &str, peer: &str) -> PortSpec {
    PortSpec {
        peer: Some(peer.to_string()),
        ..PortSpec::new(name, PortType::Patch)
    }
}

pub(crate) fn tun_patch_pair() -> (PortSpec, PortSpec) {
    (patch(PATCH_TUN, PATCH_INT), patch(PATCH_INT, PATCH_TUN))
}
