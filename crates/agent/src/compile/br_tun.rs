//! br-tun: tunnels to the hosts that share a network with this one (l2population),
//! the key <-> local VLAN translation, learning, l2pop unicast entries, the ARP
//! responder and flooding only to the hosts that need it.

use super::{Carrier, HostConfig, RemoteHost, WiredNet, tun_patch_pair};
use crate::flows;
use crate::names::{self, BR_TUN};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use switch_proto::{PortSpec, PortType, TunnelKey};

pub(super) fn spec(
    cfg: &HostConfig,
    wired: &BTreeMap<&str, WiredNet>,
    remote: &BTreeMap<(PortType, Ipv4Addr), RemoteHost>,
) -> super::BridgeSpec {
    let (_, patch_int) = tun_patch_pair();
    let mut ports = vec![patch_int];
    let mut flows = flows::tun_base(true);
    for &(kind, ip) in remote.keys() {
        let name = names::tunnel(kind.name(), ip);
        flows.push(flows::tun_from_tunnel(kind, &name));
        ports.push(PortSpec {
            remote_ip: Some(ip),
            local_ip: Some(cfg.tunnel_ip),
            key: Some(TunnelKey::Flow),
            ..PortSpec::new(&name, kind)
        });
    }
    for (net_id, w) in wired {
        let Carrier::Tunnel { kind, key } = w.kind else {
            continue;
        };
        let vlan = w.vlan;
        flows.push(flows::tun_key_to_vlan(kind, key, vlan));
        let mut flood = Vec::new();
        for (&(k, ip), host) in remote {
            let Some(entries) = host.ports.get(*net_id).filter(|_| k == kind) else {
                continue;
            };
            let port = names::tunnel(k.name(), ip);
            for (mac, ips) in entries {
                flows.push(flows::tun_unicast(vlan, *mac, key, &port));
                for a in ips {
                    flows.push(flows::tun_arp_responder(vlan, *mac, *a));
                }
            }
            flood.push(port);
        }
        if !flood.is_empty() {
            flows.push(flows::tun_flood(
                vlan,
                key,
                flood.iter().map(String::as_str),
            ));
        }
    }
    flows::sort(&mut flows);
    super::BridgeSpec {
        name: BR_TUN.to_string(),
        ports,
        flows,
        owns_all_ports: true,
    }
}
