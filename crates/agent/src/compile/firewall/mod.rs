//! Security groups on br-int, laid out as Neutron's native OVS firewall driver
//! lays them out, so `dump-flows br-int` reads the same (tables 60 classify, 71
//! egress base, 72 egress rules, 73 accept or ingress, 81 ingress base, 82
//! ingress rules, 91/92 accepted first packets, 93 drop, 94 out; reg5 the port's
//! OpenFlow number, reg6 its network's local VLAN, which is also the conntrack
//! zone; `ct_mark=1` a connection no rule allows any more). Filtering and
//! anti-spoofing happen in the switch: no qbr bridge, no veth pair, no iptables.
//!
//! Ports without port security and router devices (trusted ports) pass without
//! checks but still through table 73, so what they send to a filtered port on
//! this host meets that port's ingress rules.

mod rules;
#[cfg(test)]
mod tests;

use super::br_int::{ipv6_sources, v4_prefix};
use model::{HostView, LocalPort};
use rules::{Dir, Rule, accepts, est, flow, new, reg5, reg7};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use switch_proto::{
    Action, CtSpec, CtZoneSrc, Field, FieldRange, Flow, Mac, Match, PortRef, Proto, ct_state,
};

pub const TRANSIENT: u8 = 60;
pub const BASE_EGRESS: u8 = 71;
pub const RULES_EGRESS: u8 = 72;
pub const ACCEPT_OR_INGRESS: u8 = 73;
pub const BASE_INGRESS: u8 = 81;
pub const RULES_INGRESS: u8 = 82;
pub const ACCEPTED_EGRESS: u8 = 91;
pub const ACCEPTED_INGRESS: u8 = 92;
pub const DROPPED: u8 = 93;
pub const EGRESS_NORMAL: u8 = 94;

/// `ct_mark` of a connection that no rule allows any more.
const MARK_INVALID: u32 = 1;

/// The conntrack zone: reg6, the network's local VLAN.
pub(super) fn zone() -> CtZoneSrc {
    CtZoneSrc::Field(FieldRange::bits(Field::Reg6, 0, 15))
}

/// A VM port whose traffic is filtered.
pub(super) struct Secured<'a> {
    pub port: &'a LocalPort,
    pub tap: &'a str,
    pub vlan: u16,
}

/// What the firewall handles on br-int.
#[derive(Default)]
pub(super) struct Firewall<'a> {
    pub secured: Vec<Secured<'a>>,
    /// Ports that pass unfiltered (port security off, router devices): (device,
    /// local VLAN).
    pub open: Vec<(String, u16)>,
}

fn resubmit(t: u8) -> Vec<Action> {
    vec![Action::resubmit(t)]
}

fn reg6(vlan: u16) -> Match {
    Match::Masked {
        field: Field::Reg6,
        value: vlan.into(),
        mask: 0xffff_ffff,
    }
}

fn load_ports(tap: &str, vlan: u16) -> [Action; 2] {
    [
        Action::LoadPort {
            port: PortRef::name(tap),
            dst: FieldRange::whole(Field::Reg5),
        },
        Action::Load {
            value: vlan.into(),
            dst: FieldRange::whole(Field::Reg6),
        },
    ]
}

fn state(set: u8, mask: u8) -> Match {
    Match::CtState { set, mask }
}

fn icmp6_type(t: u8) -> Match {
    Match::IcmpType(t)
}

/// Flows whose (table, priority, match) is equal are one flow; conjunction
/// clauses of several rules on one match are one flow with all of them.
#[derive(Default)]
struct Flows(BTreeMap<(u8, u16, Vec<Match>), Vec<Action>>);

impl Flows {
    fn add(&mut self, table: u8, priority: u16, matches: Vec<Match>, actions: Vec<Action>) {
        self.0.insert((table, priority, matches), actions);
    }

    fn conj(&mut self, table: u8, priority: u16, matches: Vec<Match>, a: Action) {
        let v = self.0.entry((table, priority, matches)).or_default();
        if !v.contains(&a) {
            v.push(a);
            v.sort();
        }
    }

    fn into_flows(self) -> Vec<Flow> {
        self.0
            .into_iter()
            .map(|((t, p, m), a)| flow(t, p, m, a))
            .collect()
    }
}

/// Every flow of the firewall on br-int.
pub(super) fn flows(view: &HostView, fw: &Firewall, warnings: &mut Vec<String>) -> Vec<Flow> {
    let mut out = Flows::default();
    global(&mut out);
    for (dev, vlan) in &fw.open {
        let m = vec![Match::in_port(dev)];
        let mut a = load_ports(dev, *vlan).to_vec();
        a.push(Action::resubmit(ACCEPT_OR_INGRESS));
        out.add(TRANSIENT, 100, m, a);
        out.add(
            ACCEPT_OR_INGRESS,
            80,
            vec![reg5(dev)],
            resubmit(EGRESS_NORMAL),
        );
    }
    let groups: BTreeMap<&str, &model::SecurityGroupView> = view
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g))
        .collect();
    // Each port's rules; and the conjunction ids of remote-group rules, one base
    // (a multiple of 8) per (group, remote group, direction, family), as Neutron
    // numbers them.
    let mut per_port: Vec<Vec<(String, Rule)>> = Vec::new();
    let mut conj_keys: BTreeSet<(String, String, Dir, bool)> = BTreeSet::new();
    for s in &fw.secured {
        let mut rs = Vec::new();
        for gid in &s.port.security_groups {
            let Some(g) = groups.get(gid.as_str()) else {
                warnings.push(format!(
                    "port {}: security group {gid} is not in the host view",
                    s.port.id
                ));
                continue;
            };
            for r in &g.rules {
                match Rule::from_view(r) {
                    Ok(rule) => {
                        if let Some(rg) = &rule.remote_group {
                            conj_keys.insert((gid.clone(), rg.clone(), rule.dir, rule.v6));
                        }
                        rs.push((gid.clone(), rule));
                    }
                    Err(e) => warnings.push(format!("port {}: {e}", s.port.id)),
                }
            }
        }
        per_port.push(rs);
    }
    let base: BTreeMap<&(String, String, Dir, bool), u32> = conj_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k, 16 + 8 * i as u32))
        .collect();
    for (s, rs) in fw.secured.iter().zip(&per_port) {
        let tracked = stateful(s, &groups, warnings);
        port_base(s, tracked, &mut out);
        for (gid, r) in rs {
            let (plain, opens) = accepts(r.dir, s.tap);
            let prio = r.priority();
            // The connection states a rule's flows are for, each with its
            // conjunction id offset and what it does: established and new on a
            // tracked port; on a stateless one every packet, as established.
            let states: Vec<(Option<Match>, u32, &[Action])> = if tracked {
                vec![(Some(est()), 0, &plain), (Some(new()), 1, &opens)]
            } else {
                vec![(None, 0, &plain)]
            };
            let with = |st: &Option<Match>, mut m: Vec<Match>| {
                if let Some(st) = st {
                    m.insert(0, st.clone());
                }
                m
            };
            let Some(rg) = &r.remote_group else {
                for m in r.matches(s.tap) {
                    for (st, _, acts) in &states {
                        out.add(r.table(), prio, with(st, m.clone()), acts.to_vec());
                    }
                }
                continue;
            };
            let Some(&b) = base.get(&(gid.clone(), rg.clone(), r.dir, r.v6)) else {
                continue;
            };
            let id = b + 2 * u32::from(r.offset());
            // Clause 2: the rule's protocol and ports on this port.
            for m in r.matches(s.tap) {
                for (st, k, _) in &states {
                    out.conj(r.table(), prio, with(st, m.clone()), conjunction(id + k, 2));
                }
            }
            // Clause 1: the remote group's addresses on this port's network.
            let family = if r.v6 { Proto::Ipv6 } else { Proto::Ip };
            let members = groups.get(rg.as_str()).map_or(&[][..], |g| &g.members[..]);
            for a in members {
                let Some(addr) = member(a, r.v6) else {
                    continue;
                };
                for (st, k, _) in &states {
                    let m = vec![
                        Match::Proto(family),
                        reg6(s.vlan),
                        remote_match(addr, r.dir),
                    ];
                    out.conj(r.table(), prio, with(st, m), conjunction(id + k, 1));
                }
            }
            // The accepts of the completed conjunctions.
            for (st, k, acts) in &states {
                let mut a = vec![reg7(id + k)];
                a.extend(acts.iter().cloned());
                let mut m = vec![Match::ConjId(id + k)];
                m.extend(st.clone());
                m.extend([Match::Proto(family), reg5(s.tap)]);
                out.add(r.table(), prio, m, a);
            }
        }
    }
    out.into_flows()
}

/// Whether the port's connections are tracked: unless every one of its groups
/// is stateless (Neutron refuses a port with both kinds; here such a port is
/// tracked, and said so).
fn stateful(
    s: &Secured,
    groups: &BTreeMap<&str, &model::SecurityGroupView>,
    warnings: &mut Vec<String>,
) -> bool {
    let kinds: BTreeSet<bool> = s
        .port
        .security_groups
        .iter()
        .filter_map(|g| groups.get(g.as_str()))
        .map(|g| g.stateful)
        .collect();
    if kinds.len() > 1 {
        warnings.push(format!(
            "port {}: stateful and stateless security groups together; its connections are tracked",
            s.port.id
        ));
    }
    kinds != BTreeSet::from([false])
}

/// A remote group member's address where the rule's direction looks for it:
/// the source of what comes in, the destination of what goes out.
fn remote_match(addr: ipnet::IpNet, dir: Dir) -> Match {
    match (addr, dir) {
        (ipnet::IpNet::V4(n), Dir::Ingress) => Match::NwSrc(n),
        (ipnet::IpNet::V4(n), Dir::Egress) => Match::NwDst(n),
        (ipnet::IpNet::V6(n), Dir::Ingress) => Match::Ipv6Src(n),
        (ipnet::IpNet::V6(n), Dir::Egress) => Match::Ipv6Dst(n),
    }
}

fn conjunction(id: u32, clause: u8) -> Action {
    Action::Conjunction {
        id,
        clause,
        n_clauses: 2,
    }
}

/// A member address (or prefix) of the family wanted.
fn member(a: &str, v6: bool) -> Option<ipnet::IpNet> {
    let n = a
        .parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| a.parse::<IpAddr>().ok().map(ipnet::IpNet::from))?;
    (matches!(n, ipnet::IpNet::V6(_)) == v6).then(|| n.trunc())
}

/// The tables every port shares.
fn global(out: &mut Flows) {
    out.add(
        BASE_EGRESS,
        110,
        vec![state(ct_state::TRK, ct_state::TRK)],
        vec![Action::CtClear, Action::resubmit(BASE_EGRESS)],
    );
    for t in [
        BASE_EGRESS,
        RULES_EGRESS,
        ACCEPT_OR_INGRESS,
        BASE_INGRESS,
        RULES_INGRESS,
    ] {
        out.add(t, 0, vec![], vec![Action::Drop]);
    }
    let inv = ct_state::INV | ct_state::TRK;
    for t in [RULES_EGRESS, RULES_INGRESS] {
        out.add(t, 50, vec![state(inv, inv)], resubmit(DROPPED));
    }
    out.add(ACCEPTED_EGRESS, 1, vec![], resubmit(EGRESS_NORMAL));
    out.add(ACCEPTED_INGRESS, 0, vec![], vec![Action::Drop]);
    out.add(DROPPED, 0, vec![], vec![Action::Drop]);
    out.add(EGRESS_NORMAL, 1, vec![], vec![Action::Normal]);
}

/// One filtered port's own flows: classification, anti-spoofing, the special
/// cases (ARP, neighbour discovery, DHCP), conntrack, and what happens to
/// replies, related packets, invalid ones and connections a rule no longer allows.
fn port_base(s: &Secured, tracked: bool, out: &mut Flows) {
    let (t, v) = (s.tap, s.vlan);
    let Ok(mac) = s.port.mac_address.parse::<Mac>() else {
        return; // br-int drops such a port's frames at the door
    };
    let v4 = v4_pairs(s.port, mac);
    let v6 = ipv6_sources(s.port, mac);
    let macs: BTreeSet<Mac> = std::iter::once(mac)
        .chain(v4.iter().map(|(m, _)| *m))
        .chain(v6.iter().map(|(m, _)| *m))
        .collect();
    let from = |extra: Vec<Match>| {
        let mut m = vec![reg5(t), Match::in_port(t)];
        m.extend(extra);
        m
    };
    // 60: egress by input port, ingress by destination (tagged, from the tunnels
    // or provider bridges).
    let mut egress = load_ports(t, v).to_vec();
    egress.push(Action::resubmit(BASE_EGRESS));
    out.add(TRANSIENT, 100, vec![Match::in_port(t)], egress);
    for m in &macs {
        let mut a = load_ports(t, v).to_vec();
        a.extend([Action::StripVlan, Action::resubmit(BASE_INGRESS)]);
        out.add(TRANSIENT, 90, vec![Match::DlVlan(v), Match::DlDst(*m)], a);
        let mut to = vec![Action::LoadPort {
            port: PortRef::name(t),
            dst: FieldRange::whole(Field::Reg5),
        }];
        to.push(Action::resubmit(BASE_INGRESS));
        out.add(ACCEPT_OR_INGRESS, 100, vec![reg6(v), Match::DlDst(*m)], to);
    }
    // 71: ARP and neighbour discovery from the port's own addresses go out
    // untracked; IP from them to conntrack; a DHCP or router server on the VM is
    // refused; anything else dropped.
    for (m, n) in &v4 {
        out.add(
            BASE_EGRESS,
            95,
            from(vec![
                Match::Proto(Proto::Arp),
                Match::DlSrc(*m),
                Match::ArpSpa(*n),
            ]),
            resubmit(EGRESS_NORMAL),
        );
        out.add(
            BASE_EGRESS,
            65,
            from(vec![
                Match::Proto(Proto::Ip),
                Match::DlSrc(*m),
                Match::NwSrc(*n),
            ]),
            to_rules(tracked, RULES_EGRESS),
        );
    }
    for (m, src) in &v6 {
        // Router solicitation, neighbour solicitation and MLD (also from `::`
        // while an address is being checked for duplicates).
        for ty in [130u8, 133, 135, 143] {
            out.add(
                BASE_EGRESS,
                95,
                from(vec![
                    Match::Proto(Proto::Icmp6),
                    Match::DlSrc(*m),
                    Match::Ipv6Src(*src),
                    icmp6_type(ty),
                ]),
                resubmit(EGRESS_NORMAL),
            );
        }
        if src.addr() != Ipv6Addr::UNSPECIFIED {
            out.add(
                BASE_EGRESS,
                65,
                from(vec![
                    Match::Proto(Proto::Ipv6),
                    Match::DlSrc(*m),
                    Match::Ipv6Src(*src),
                ]),
                to_rules(tracked, RULES_EGRESS),
            );
        }
    }
    for m in &macs {
        // Neighbour advertisements (their target is not checked: the switch has
        // no nd_target field).
        out.add(
            BASE_EGRESS,
            95,
            from(vec![
                Match::Proto(Proto::Icmp6),
                Match::DlSrc(*m),
                icmp6_type(136),
            ]),
            resubmit(EGRESS_NORMAL),
        );
    }
    for (p, sport, dport) in [(Proto::Udp, 68, 67), (Proto::Udp6, 546, 547)] {
        out.add(
            BASE_EGRESS,
            80,
            from(vec![
                Match::Proto(p),
                Match::DlSrc(mac),
                Match::TpSrc(sport),
                Match::TpDst(dport),
            ]),
            resubmit(ACCEPT_OR_INGRESS),
        );
    }
    for (p, sport, dport) in [(Proto::Udp, 67, 68), (Proto::Udp6, 547, 546)] {
        out.add(
            BASE_EGRESS,
            70,
            from(vec![
                Match::Proto(p),
                Match::TpSrc(sport),
                Match::TpDst(dport),
            ]),
            resubmit(DROPPED),
        );
    }
    out.add(
        BASE_EGRESS,
        70,
        from(vec![Match::Proto(Proto::Icmp6), icmp6_type(134)]),
        resubmit(DROPPED),
    );
    out.add(
        BASE_EGRESS,
        10,
        from(vec![]),
        vec![Action::CtClear, Action::resubmit(DROPPED)],
    );
    // 72/82: replies and related packets of allowed connections pass; marked
    // connections, new packets no rule takes, and established ones whose rule
    // is gone (marked here, so both directions stop) are dropped.
    if tracked {
        tracked_port(t, v, out);
    }
    out.add(
        ACCEPT_OR_INGRESS,
        80,
        vec![reg5(t)],
        resubmit(EGRESS_NORMAL),
    );
    // 81: ARP, neighbour discovery and DHCP answers in; IP to conntrack.
    out.add(
        BASE_INGRESS,
        100,
        vec![Match::Proto(Proto::Arp), reg5(t)],
        vec![Action::output(t)],
    );
    for ty in [130u8, 134, 135, 136] {
        out.add(
            BASE_INGRESS,
            100,
            vec![Match::Proto(Proto::Icmp6), icmp6_type(ty), reg5(t)],
            vec![Action::output(t)],
        );
    }
    for (p, sport, dport) in [(Proto::Udp, 67, 68), (Proto::Udp6, 547, 546)] {
        out.add(
            BASE_INGRESS,
            95,
            vec![
                Match::Proto(p),
                Match::TpSrc(sport),
                Match::TpDst(dport),
                reg5(t),
            ],
            vec![Action::output(t)],
        );
    }
    for p in [Proto::Ip, Proto::Ipv6] {
        let mut m = vec![Match::Proto(p), reg5(t)];
        if tracked {
            m.insert(0, state(0, ct_state::TRK));
        }
        out.add(BASE_INGRESS, 90, m, to_rules(tracked, RULES_INGRESS));
    }
    if tracked {
        out.add(
            BASE_INGRESS,
            80,
            vec![state(ct_state::TRK, ct_state::TRK), reg5(t)],
            resubmit(RULES_INGRESS),
        );
    }
}

/// IP on its way to the rules of `table`: through conntrack, or straight on for
/// a stateless port.
fn to_rules(tracked: bool, table: u8) -> Vec<Action> {
    if tracked {
        vec![Action::Ct(Box::new(CtSpec::track(zone(), table)))]
    } else {
        resubmit(table)
    }
}

/// A tracked port's conntrack flows in 72/82 and 73.
fn tracked_port(t: &str, v: u16, out: &mut Flows) {
    // Replies and related packets going out pass 73 like any accepted packet:
    // one for a port on this host meets that port's ingress tables (a stateless
    // port has no connection to let it through).
    let deliver = |dir: Dir| match dir {
        Dir::Egress => resubmit(ACCEPT_OR_INGRESS),
        Dir::Ingress => vec![Action::output(t)],
    };
    for (dir, table) in [(Dir::Egress, RULES_EGRESS), (Dir::Ingress, RULES_INGRESS)] {
        let mark0 = Match::CtMark {
            value: 0,
            mask: u32::MAX,
        };
        out.add(
            table,
            50,
            vec![
                Match::CtMark {
                    value: MARK_INVALID,
                    mask: u32::MAX,
                },
                reg5(t),
            ],
            resubmit(DROPPED),
        );
        out.add(
            table,
            50,
            vec![
                state(
                    ct_state::EST | ct_state::RPL,
                    ct_state::EST | ct_state::REL | ct_state::RPL,
                ),
                Match::CtZone(v),
                mark0.clone(),
                reg5(t),
            ],
            deliver(dir),
        );
        out.add(
            table,
            50,
            vec![
                state(
                    ct_state::REL,
                    ct_state::NEW | ct_state::EST | ct_state::REL | ct_state::INV,
                ),
                Match::CtZone(v),
                mark0,
                reg5(t),
            ],
            deliver(dir),
        );
        out.add(
            table,
            40,
            vec![state(0, ct_state::EST), reg5(t)],
            resubmit(DROPPED),
        );
        for p in [Proto::Ip, Proto::Ipv6] {
            out.add(
                table,
                40,
                vec![
                    state(ct_state::EST, ct_state::EST),
                    Match::Proto(p),
                    reg5(t),
                ],
                vec![Action::Ct(Box::new(CtSpec::commit(
                    zone(),
                    Some(MARK_INVALID),
                )))],
            );
        }
    }
    // 73: a new connection this port opened is committed, then out by NORMAL.
    for p in [Proto::Ip, Proto::Ipv6] {
        out.add(
            ACCEPT_OR_INGRESS,
            90,
            vec![new(), Match::Proto(p), reg5(t)],
            vec![
                Action::Ct(Box::new(CtSpec::commit(zone(), None))),
                Action::resubmit(ACCEPTED_EGRESS),
            ],
        );
    }
}

/// (MAC, IPv4 address or prefix) pairs a port may send from.
fn v4_pairs(p: &LocalPort, mac: Mac) -> Vec<(Mac, ipnet::Ipv4Net)> {
    let mut out: Vec<(Mac, ipnet::Ipv4Net)> = p
        .fixed_ips
        .iter()
        .filter_map(|f| f.ip_address.parse::<std::net::Ipv4Addr>().ok())
        .map(|ip| (mac, ipnet::Ipv4Net::from(ip)))
        .collect();
    for pair in &p.allowed_address_pairs {
        let Some(net) = v4_prefix(&pair.ip_address) else {
            continue;
        };
        let m = if pair.mac_address.is_empty() {
            Some(mac)
        } else {
            pair.mac_address.parse().ok()
        };
        if let Some(m) = m {
            out.push((m, net));
        }
    }
    out.sort();
    out.dedup();
    out
}
