//! br-tun: tunnels to the hosts that share a network with this one (l2population),
//! the key <-> local VLAN translation, learning, l2pop unicast entries, the ARP
//! responder and flooding only to the hosts that need it.

use super::{Carrier, HostConfig, RemoteHost, WiredNet, tun_patch_pair};
use crate::names::{self, BR_TUN, PATCH_INT};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use switch::{PortConfig, PortType, TunnelKey};

const LEARN: &str = "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,\
cookie=0x1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],\
load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:patch-int";

/// br-tun's classifier table for traffic from a tunnel of this type.
pub(super) fn classifier_table(kind: PortType) -> u8 {
    if kind == PortType::Gre { 3 } else { 4 }
}

pub(super) fn spec(
    cfg: &HostConfig,
    wired: &BTreeMap<&str, WiredNet>,
    remote: &BTreeMap<(PortType, Ipv4Addr), RemoteHost>,
) -> super::BridgeSpec {
    let (_, patch_int) = tun_patch_pair();
    let mut ports = vec![patch_int];
    let mut flows = vec![
        format!("table=0,priority=1,in_port={PATCH_INT},actions=resubmit(,2)"),
        "table=0,priority=0,actions=drop".to_string(),
        "table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)".to_string(),
        "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)"
            .to_string(),
        "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)"
            .to_string(),
        "table=3,priority=0,actions=drop".to_string(),
        "table=4,priority=0,actions=drop".to_string(),
        LEARN.to_string(),
        "table=20,priority=0,actions=resubmit(,22)".to_string(),
        "table=21,priority=0,actions=resubmit(,22)".to_string(),
        "table=22,priority=0,actions=drop".to_string(),
    ];
    for &(kind, ip) in remote.keys() {
        let name = names::tunnel(kind.name(), ip);
        flows.push(format!(
            "table=0,priority=1,in_port={name},actions=resubmit(,{})",
            classifier_table(kind)
        ));
        ports.push(PortConfig {
            remote_ip: Some(ip),
            local_ip: Some(cfg.tunnel_ip),
            key: Some(TunnelKey::Flow),
            ..PortConfig::new(&name, kind)
        });
    }
    for (net_id, w) in wired {
        let Carrier::Tunnel { kind, key } = w.kind else {
            continue;
        };
        let vlan = w.vlan;
        flows.push(format!(
            "table={},priority=1,tun_id={key:#x},actions=mod_vlan_vid:{vlan},resubmit(,10)",
            classifier_table(kind)
        ));
        let mut flood = Vec::new();
        for (&(k, ip), host) in remote {
            let Some(entries) = host.ports.get(*net_id).filter(|_| k == kind) else {
                continue;
            };
            let port = names::tunnel(k.name(), ip);
            for (mac, ips) in entries {
                flows.push(format!(
                    "table=20,priority=2,dl_vlan={vlan},dl_dst={mac},\
                     actions=strip_vlan,set_tunnel:{key:#x},output:{port}"
                ));
                for a in ips {
                    flows.push(arp_responder(vlan, mac, *a));
                }
            }
            flood.push(format!("output:{port}"));
        }
        if !flood.is_empty() {
            flows.push(format!(
                "table=22,priority=1,dl_vlan={vlan},actions=strip_vlan,set_tunnel:{key:#x},{}",
                flood.join(",")
            ));
        }
    }
    flows.sort();
    flows.dedup();
    super::BridgeSpec {
        name: BR_TUN.to_string(),
        ports,
        flows,
        owns_all_ports: true,
    }
}

/// Table 21: answer an ARP request for `ip` on `vlan` with `mac`, back out the
/// port it came in (Neutron's ARP responder).
fn arp_responder(vlan: u16, mac: &str, ip: Ipv4Addr) -> String {
    let mac_hex: String = mac.split(':').collect();
    format!(
        "table=21,priority=1,arp,dl_vlan={vlan},arp_tpa={ip},actions=\
         move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{mac},\
         load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
         move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0x{mac_hex}->NXM_NX_ARP_SHA[],\
         load:{:#x}->NXM_OF_ARP_SPA[],IN_PORT",
        u32::from(ip)
    )
}

#[cfg(test)]
pub(super) fn learn_flow() -> &'static str {
    LEARN
}
