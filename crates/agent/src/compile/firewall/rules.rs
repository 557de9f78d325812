//! Security group rules as flows, the way Neutron's OVS firewall driver writes
//! them: a rule becomes flows in table 72 (egress) or 82 (ingress) at priority
//! 70 + an offset, each twice (`+est-rel-rpl` with the plain accept, `+new-est`
//! with the accept that commits); a rule naming a remote group becomes one clause
//! of a conjunction, the other clause being the group's member addresses on the
//! port's network.

use super::{ACCEPT_OR_INGRESS, ACCEPTED_INGRESS, RULES_EGRESS, RULES_INGRESS, zone};
use ipnet::IpNet;
use model::SecurityGroupRuleView;
use switch_proto::{Action, CtSpec, Field, FieldRange, Flow, Match, PortRef, Proto, ct_state};

/// `ct_state` of an established packet in the original direction.
pub(super) fn est() -> Match {
    Match::CtState {
        set: ct_state::EST,
        mask: ct_state::EST | ct_state::REL | ct_state::RPL,
    }
}

/// `ct_state` of a packet that opens a connection.
pub(super) fn new() -> Match {
    Match::CtState {
        set: ct_state::NEW,
        mask: ct_state::NEW | ct_state::EST,
    }
}

pub(super) fn reg5(tap: &str) -> Match {
    Match::RegPort {
        reg: Field::Reg5,
        port: PortRef::name(tap),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Dir {
    Ingress,
    Egress,
}

/// A rule as the flows need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rule {
    pub dir: Dir,
    pub v6: bool,
    pub proto: Option<u8>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub prefix: Option<IpNet>,
    pub remote_group: Option<String>,
}

/// An IP protocol by name or number, as Neutron takes it (`icmp` for IPv6 means
/// ICMPv6). `Ok(None)`: any protocol.
fn proto_number(p: Option<&str>, v6: bool) -> Result<Option<u8>, String> {
    let Some(p) = p.map(str::trim).filter(|p| !p.is_empty() && *p != "any") else {
        return Ok(None);
    };
    if let Ok(n) = p.parse::<u8>() {
        return Ok(Some(if n == 1 && v6 { 58 } else { n }));
    }
    let n = match p.to_ascii_lowercase().as_str() {
        "icmp" if v6 => 58,
        "icmp" => 1,
        "ipv6-icmp" | "icmpv6" => 58,
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "udplite" => 136,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "igmp" => 2,
        "ipip" => 4,
        "ospf" => 89,
        "pgm" => 113,
        "rsvp" => 46,
        "vrrp" => 112,
        "dccp" => 33,
        "egp" => 8,
        "encap" => 98,
        "ipv6-encap" => 41,
        "ipv6-frag" => 44,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "ipv6-route" => 43,
        _ => return Err(format!("unknown protocol '{p}'")),
    };
    Ok(Some(n))
}

impl Rule {
    pub(super) fn from_view(r: &SecurityGroupRuleView) -> Result<Rule, String> {
        let dir = match r.direction.as_str() {
            "ingress" => Dir::Ingress,
            "egress" => Dir::Egress,
            d => return Err(format!("rule {}: direction '{d}'", r.id)),
        };
        let v6 = match r.ethertype.as_str() {
            "IPv4" => false,
            "IPv6" => true,
            e => return Err(format!("rule {}: ethertype '{e}'", r.id)),
        };
        let prefix = match r.remote_ip_prefix.as_deref() {
            None | Some("") => None,
            Some(p) => {
                let n = p
                    .parse::<IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("rule {}: remote_ip_prefix '{p}'", r.id))?;
                let n = n.trunc();
                if n.prefix_len() == 0 {
                    None // anywhere: no match needed
                } else if matches!(n, IpNet::V6(_)) != v6 {
                    return Err(format!("rule {}: prefix {n} is not {}", r.id, r.ethertype));
                } else {
                    Some(n)
                }
            }
        };
        Ok(Rule {
            dir,
            v6,
            proto: proto_number(r.protocol.as_deref(), v6)
                .map_err(|e| format!("rule {}: {e}", r.id))?,
            min: r.port_range_min,
            max: r.port_range_max,
            prefix,
            remote_group: r.remote_group_id.clone(),
        })
    }

    fn icmp(&self) -> bool {
        matches!(self.proto, Some(1 | 58))
    }

    /// Neutron's priority offset (`flow_priority_offset`): more specific rules
    /// above less specific ones, so two overlapping flows never share a priority.
    pub(super) fn offset(&self) -> u16 {
        match (self.proto, self.icmp()) {
            (None, _) => 0,
            (Some(_), true) if self.min.is_none() => 1,
            (Some(_), true) if self.max.is_none() => 2,
            _ => 3,
        }
    }

    /// The flow's priority: 74..77 for a rule, 70..73 for a conjunction clause.
    pub(super) fn priority(&self) -> u16 {
        let base = if self.remote_group.is_some() { 70 } else { 74 };
        base + self.offset()
    }

    pub(super) fn table(&self) -> u8 {
        match self.dir {
            Dir::Ingress => RULES_INGRESS,
            Dir::Egress => RULES_EGRESS,
        }
    }

    /// The matches of this rule for the port in reg5 (the remote group aside),
    /// one list per flow (a port range may take several value/mask pairs).
    pub(super) fn matches(&self, tap: &str) -> Vec<Vec<Match>> {
        let mut base = vec![reg5(tap)];
        match (self.proto, self.v6) {
            (None, false) => base.push(Match::Proto(Proto::Ip)),
            (None, true) => base.push(Match::Proto(Proto::Ipv6)),
            (Some(6), false) => base.push(Match::Proto(Proto::Tcp)),
            (Some(6), true) => base.push(Match::Proto(Proto::Tcp6)),
            (Some(17), false) => base.push(Match::Proto(Proto::Udp)),
            (Some(17), true) => base.push(Match::Proto(Proto::Udp6)),
            (Some(1), false) => base.push(Match::Proto(Proto::Icmp)),
            (Some(58), true) => base.push(Match::Proto(Proto::Icmp6)),
            (Some(p), v6) => {
                base.push(Match::Proto(if v6 { Proto::Ipv6 } else { Proto::Ip }));
                base.push(Match::Masked {
                    field: Field::NwProto,
                    value: p.into(),
                    mask: 0xff,
                });
            }
        }
        if let Some(n) = self.prefix {
            base.push(match (n, self.dir) {
                (IpNet::V4(n), Dir::Ingress) => Match::NwSrc(n),
                (IpNet::V4(n), Dir::Egress) => Match::NwDst(n),
                (IpNet::V6(n), Dir::Ingress) => Match::Ipv6Src(n),
                (IpNet::V6(n), Dir::Egress) => Match::Ipv6Dst(n),
            });
        }
        if self.icmp() {
            if let Some(t) = self.min.and_then(|v| u8::try_from(v).ok()) {
                base.push(Match::IcmpType(t));
                if let Some(c) = self.max.and_then(|v| u8::try_from(v).ok()) {
                    base.push(Match::IcmpCode(c));
                }
            }
            return vec![base];
        }
        let ported = matches!(self.proto, Some(6 | 17 | 132 | 136));
        match (ported, self.min, self.max) {
            (true, Some(lo), Some(hi)) => port_masks(lo, hi)
                .into_iter()
                .map(|(v, m)| {
                    let mut f = base.clone();
                    f.push(if m == 0xffff {
                        Match::TpDst(v)
                    } else {
                        Match::Masked {
                            field: Field::TpDst,
                            value: v.into(),
                            mask: m.into(),
                        }
                    });
                    f
                })
                .collect(),
            _ => vec![base],
        }
    }
}

/// The accept of an established packet, and of one that opens a connection
/// (ingress commits it here and records it in table 92; egress commits in 73).
pub(super) fn accepts(dir: Dir, tap: &str) -> (Vec<Action>, Vec<Action>) {
    match dir {
        Dir::Egress => (
            vec![Action::resubmit(ACCEPT_OR_INGRESS)],
            vec![Action::resubmit(ACCEPT_OR_INGRESS)],
        ),
        Dir::Ingress => (
            vec![Action::output(tap)],
            vec![
                Action::Ct(Box::new(CtSpec::commit(zone(), None))),
                Action::output(tap),
                Action::resubmit(ACCEPTED_INGRESS),
            ],
        ),
    }
}

/// `[lo, hi]` as value/mask pairs over 16-bit ports (aligned blocks, largest
/// first): what a port range takes in a flow.
pub(super) fn port_masks(lo: u32, hi: u32) -> Vec<(u16, u16)> {
    let (mut lo, hi) = (lo.min(65535), hi.min(65535));
    let mut out = Vec::new();
    while lo <= hi {
        let mut size: u32 = if lo == 0 {
            1 << 16
        } else {
            lo & lo.wrapping_neg()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, (!(size - 1) & 0xffff) as u16));
        lo += size;
    }
    out
}

/// The register holding the conjunction a remote-group accept matched (reg7,
/// for the logging that reads it).
pub(super) fn reg7(id: u32) -> Action {
    Action::Load {
        value: id.into(),
        dst: FieldRange::whole(Field::Reg7),
    }
}

/// A flow from its parts.
pub(super) fn flow(table: u8, priority: u16, matches: Vec<Match>, actions: Vec<Action>) -> Flow {
    Flow {
        matches,
        actions,
        ..Flow::new(table, priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_become_aligned_blocks() {
        assert_eq!(port_masks(22, 22), vec![(22, 0xffff)]);
        assert_eq!(port_masks(80, 81), vec![(80, 0xfffe)]);
        assert_eq!(
            port_masks(5000, 5010),
            vec![(5000, 0xfff8), (5008, 0xfffe), (5010, 0xffff)]
        );
        assert_eq!(port_masks(1, 65535).len(), 16);
        assert_eq!(port_masks(0, 65535), vec![(0, 0)]);
        // Every port of a range, and only those, is covered.
        for (lo, hi) in [(1, 1023), (40, 105), (1024, 65535), (3, 3), (100, 200)] {
            let m = port_masks(lo, hi);
            for p in 0..=65535u32 {
                let hit = m.iter().any(|(v, mk)| (p as u16) & mk == *v);
                assert_eq!(hit, (lo..=hi).contains(&p), "{lo}-{hi}: {p}");
            }
        }
    }

    #[test]
    fn protocols_by_name_and_number() {
        assert_eq!(proto_number(Some("tcp"), false), Ok(Some(6)));
        assert_eq!(proto_number(Some("17"), false), Ok(Some(17)));
        assert_eq!(proto_number(Some("icmp"), true), Ok(Some(58)));
        assert_eq!(proto_number(Some("1"), true), Ok(Some(58)));
        assert_eq!(proto_number(Some("ipv6-icmp"), true), Ok(Some(58)));
        assert_eq!(proto_number(None, false), Ok(None));
        assert_eq!(proto_number(Some("any"), false), Ok(None));
        assert!(proto_number(Some("bogus"), false).is_err());
    }
}
