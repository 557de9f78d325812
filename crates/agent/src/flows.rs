//! Neutron's OVS-agent flow shapes, each defined once as a typed [`Flow`]: the
//! compile step installs them, and the tests and benches that set a bridge up by
//! hand take them from here (`neutrino agent flows` prints them for scripts).
//!
//! br-tun: 0 classify by input port; 2 unicast -> 20, broadcast ARP -> 21,
//! multicast -> 22; 3/4 GRE/VXLAN key -> local VLAN, then 10; 10 learn the sender
//! into 20 and output to patch-int; 20 l2pop unicast; 21 ARP responder; 22 flood to
//! the network's tunnels.

use crate::names::PATCH_INT;
use std::net::Ipv4Addr;
use switch_proto::flow::LearnSrc;
use switch_proto::{
    Action, Field, FieldRange, Flow, LearnItem, LearnSpec, Mac, Match, PortType, Proto,
};

/// br-tun's classifier table for traffic from a tunnel of this type.
pub fn classifier_table(kind: PortType) -> u8 {
    match kind {
        PortType::Gre => 3,
        PortType::Geneve => 6,
        _ => 4,
    }
}

/// br-tun table 0: from br-int to table 2.
pub fn tun_from_patch_int() -> Flow {
    Flow::new(0, 1)
        .when(Match::in_port(PATCH_INT))
        .then([Action::resubmit(2)])
}

/// br-tun table 0: from the tunnel `port` to its type's classifier.
pub fn tun_from_tunnel(kind: PortType, port: &str) -> Flow {
    Flow::new(0, 1)
        .when(Match::in_port(port))
        .then([Action::resubmit(classifier_table(kind))])
}

/// br-tun table 10: learn the sender behind the tunnel the packet came from into
/// table 20 (VLAN + MAC -> strip VLAN, set the key, out that tunnel), then hand the
/// packet to br-int.
pub fn tun_learn() -> Flow {
    let vid = FieldRange::bits(Field::VlanTci, 0, 11);
    let whole = FieldRange::whole;
    Flow::new(10, 1).then([
        Action::Learn(Box::new(LearnSpec {
            table: 20,
            priority: 1,
            idle_timeout: 0,
            hard_timeout: 300,
            cookie: 1,
            items: vec![
                LearnItem::Match {
                    dst: vid,
                    src: LearnSrc::Field(vid),
                },
                LearnItem::Match {
                    dst: whole(Field::DlDst),
                    src: LearnSrc::Field(whole(Field::DlSrc)),
                },
                LearnItem::Load {
                    dst: whole(Field::VlanTci),
                    src: LearnSrc::Value(0),
                },
                LearnItem::Load {
                    dst: whole(Field::TunId),
                    src: LearnSrc::Field(whole(Field::TunId)),
                },
                LearnItem::Output {
                    src: whole(Field::InPort),
                },
            ],
        })),
        Action::output(PATCH_INT),
    ])
}

/// br-tun's fixed flows: the default drops and resubmits of every table, the
/// unicast / multicast split of table 2 and the learn flow. With `arp_responder`,
/// broadcast ARP goes to table 21 first.
pub fn tun_base(arp_responder: bool) -> Vec<Flow> {
    let group = |mac| Match::DlDstMasked {
        mac,
        mask: Mac::GROUP_BIT,
    };
    let mut flows = vec![
        tun_from_patch_int(),
        Flow::new(0, 0),
        Flow::new(2, 0)
            .when(group(Mac::ZERO))
            .then([Action::resubmit(20)]),
        Flow::new(2, 0)
            .when(group(Mac::GROUP_BIT))
            .then([Action::resubmit(22)]),
        Flow::new(3, 0),
        Flow::new(4, 0),
        tun_learn(),
        Flow::new(20, 0).then([Action::resubmit(22)]),
        Flow::new(22, 0),
    ];
    if arp_responder {
        flows.push(
            Flow::new(2, 1)
                .when(Match::Proto(Proto::Arp))
                .when(Match::DlDst(Mac::BROADCAST))
                .then([Action::resubmit(21)]),
        );
        flows.push(Flow::new(21, 0).then([Action::resubmit(22)]));
    }
    flows
}

/// br-tun table 3/4: the network's key to its local VLAN, then learning.
pub fn tun_key_to_vlan(kind: PortType, key: u32, vlan: u16) -> Flow {
    Flow::new(classifier_table(kind), 1)
        .when(Match::TunId(key.into()))
        .then([Action::ModVlanVid(vlan), Action::resubmit(10)])
}

/// br-tun table 20 (l2population): `mac` on `vlan` lives behind the tunnel `port`.
pub fn tun_unicast(vlan: u16, mac: Mac, key: u32, port: &str) -> Flow {
    Flow::new(20, 2)
        .when(Match::DlVlan(vlan))
        .when(Match::DlDst(mac))
        .then([
            Action::StripVlan,
            Action::SetTunnel(key.into()),
            Action::output(port),
        ])
}

/// br-tun table 22: the network's broadcast and unknown unicast to `ports`.
pub fn tun_flood<'a>(vlan: u16, key: u32, ports: impl IntoIterator<Item = &'a str>) -> Flow {
    let mut actions = vec![Action::StripVlan, Action::SetTunnel(key.into())];
    actions.extend(ports.into_iter().map(Action::output));
    Flow::new(22, 1).when(Match::DlVlan(vlan)).then(actions)
}

/// br-tun table 21 (Neutron's ARP responder): answer an ARP request for `ip` on
/// `vlan` with `mac`, back out of the port it came in.
pub fn tun_arp_responder(vlan: u16, mac: Mac, ip: Ipv4Addr) -> Flow {
    let whole = FieldRange::whole;
    Flow::new(21, 1)
        .when(Match::Proto(Proto::Arp))
        .when(Match::DlVlan(vlan))
        .when(Match::ArpTpa(Match::host(ip)))
        .then([
            Action::Move {
                src: whole(Field::DlSrc),
                dst: whole(Field::DlDst),
            },
            Action::ModDlSrc(mac),
            Action::Load {
                value: 2,
                dst: whole(Field::ArpOp),
            },
            Action::Move {
                src: whole(Field::ArpSha),
                dst: whole(Field::ArpTha),
            },
            Action::Move {
                src: whole(Field::ArpSpa),
                dst: whole(Field::ArpTpa),
            },
            Action::Load {
                value: mac.to_u64().into(),
                dst: whole(Field::ArpSha),
            },
            Action::Load {
                value: u32::from(ip).into(),
                dst: whole(Field::ArpSpa),
            },
            Action::InPort,
        ])
}

/// A network's tunnel key and the local VLAN it has on a host, for [`br_tun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelNet {
    pub key: u32,
    pub vlan: u16,
}

/// A whole br-tun as a test or bench sets it up: the fixed flows (no ARP
/// responder) and, per network, its key -> VLAN and flooding to the one tunnel
/// `port`.
pub fn br_tun(kind: PortType, port: &str, nets: &[TunnelNet]) -> Vec<Flow> {
    let mut flows = tun_base(false);
    flows.push(tun_from_tunnel(kind, port));
    for n in nets {
        flows.push(tun_key_to_vlan(kind, n.key, n.vlan));
        flows.push(tun_flood(n.vlan, n.key, [port]));
    }
    sort(&mut flows);
    flows
}

/// Sorts flows by their text (stable, readable order in dumps and tests) and drops
/// repeats.
pub fn sort(flows: &mut Vec<Flow>) {
    flows.sort_by_cached_key(|f| f.to_string());
    flows.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learn_flow_is_neutrons() {
        assert_eq!(
            tun_learn().to_string(),
            "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,\
             cookie=0x1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],\
             load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],\
             output:NXM_OF_IN_PORT[]),output:patch-int"
        );
    }

    #[test]
    fn names_port_finds_ports_in_matches_and_outputs() {
        let f = Flow::new(0, 9)
            .when(Match::in_port("tapabc"))
            .then([Action::resubmit(25)]);
        assert!(f.names_port("tapabc"));
        assert!(!f.names_port("tapab"));
        let g = tun_flood(1, 0x64, ["vxlan-c0a86420", "vxlan-c0a86421"]);
        assert_eq!(
            g.to_string(),
            "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,\
             output:vxlan-c0a86420,output:vxlan-c0a86421"
        );
        assert!(g.names_port("vxlan-c0a86421"));
        assert!(!g.names_port("vxlan-c0a8642"));
    }
}
