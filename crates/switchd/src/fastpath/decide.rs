//! What the kernel does for an engine decision: the entry's action (a drop, a
//! forward into a fast-path port or the VXLAN device, with a VLAN tag taken off,
//! put on or rewritten), and `trace`'s verdict on whether such packets take the
//! fast path.

use super::kernel::{
    F_VLAN_POP, F_VLAN_PUSH, FpVal, KIND_DROP, KIND_EGRESS, KIND_PEER, KIND_TUNNEL,
};
use super::{FastPath, VXLAN_DEV};
use switch::{Field, FlowKey, Output, PortId, PortType, Switch, TunnelKey};

impl FastPath {
    /// What `trace` adds: whether the kernel would carry the packets that follow
    /// a packet with this decision, and if not, why.
    pub fn trace_verdict(&self, sw: &Switch, t: &switch::Traced) -> String {
        let Some(in_port) = t.in_port else {
            return "Fast path: no (no such port)".into();
        };
        let tunnel_in = sw
            .port(in_port)
            .is_some_and(|p| p.config.kind == PortType::Vxlan && self.vxlan.is_some());
        if !self.by_port.contains_key(&in_port) && !tunnel_in {
            return "Fast path: no, the port it came in on is read by switchd (only veth ports, system ports and VXLAN take the fast path)".into();
        }
        let dl_type = t.orig.get(Field::DlType);
        if dl_type != 0x0800 && dl_type != 0x86dd {
            return "Fast path: no, only IPv4 and IPv6 take the fast path (this packet goes up every time)"
                .into();
        }
        let proto = t.orig.get(Field::NwProto);
        if dl_type == 0x86dd
            && (!matches!(proto, 6 | 17 | 58)
                || (proto == 58 && t.orig.get(Field::IcmpType) >= 130))
        {
            return "Fast path: no, IPv6 extension headers, neighbour discovery and MLD always go up"
                .into();
        }
        if t.outputs.iter().any(|o| o.made().is_some()) {
            return "Fast path: no, the switch answers this packet itself (every time)".into();
        }
        let Some((v, _)) = self.action(sw, &t.orig, &t.outputs) else {
            return "Fast path: no, the outputs are not ones the kernel carries (one veth or system port, a VXLAN tunnel without checksums, or a drop)".into();
        };
        let what = match v.kind {
            KIND_DROP => "drops".to_owned(),
            KIND_TUNNEL => format!(
                "sends into {VXLAN_DEV} with tun_id={:#x},dst={}",
                v.tun_id,
                std::net::Ipv4Addr::from(v.tun_dst)
            ),
            KIND_EGRESS => format!(
                "sends out of {}",
                self.ports.get(&v.ifindex).map_or("?", |p| p.dev.as_str())
            ),
            _ => format!(
                "redirects into the namespace behind {}",
                self.ports.get(&v.ifindex).map_or("?", |p| p.dev.as_str())
            ),
        };
        let what = match (v.flags & F_VLAN_POP != 0, v.flags & F_VLAN_PUSH != 0) {
            (true, true) => format!(
                "rewrites the VLAN tag to vid={} and {what}",
                v.vlan_tci & 0xfff
            ),
            (true, false) => format!("takes the VLAN tag off and {what}"),
            (false, true) => format!("tags it vid={} and {what}", v.vlan_tci & 0xfff),
            (false, false) => what,
        };
        let ct = if t.tracked {
            " once its connection is established (TCP SYN, FIN and RST always come up)"
        } else {
            ""
        };
        // An untracked decision goes in wildcarded: the next flow of the same
        // megaflow takes the kernel from its first packet.
        let wide = match t.megaflows.as_slice() {
            [m] if !t.tracked => super::mega::fp_mask(m).is_some(),
            _ => false,
        };
        if wide {
            return format!(
                "Fast path: yes, after this packet the kernel {what} for every packet of its megaflow (a wildcarded entry)"
            );
        }
        format!("Fast path: yes, after the first packet of such a flow the kernel {what}{ct}")
    }

    /// The kernel action for a decision: a drop, or one forward into a fast-path
    /// port with the Ethernet addresses as they came in and the VLAN tag taken
    /// off, put on or rewritten.
    pub(super) fn action(
        &self,
        sw: &Switch,
        orig: &FlowKey,
        outs: &[Output],
    ) -> Option<(FpVal, Option<PortId>)> {
        let mut fwd = outs.iter();
        let Some(o) = fwd.next() else {
            return Some((
                FpVal {
                    kind: KIND_DROP,
                    ..FpVal::default()
                },
                None,
            ));
        };
        if fwd.next().is_some() {
            return None;
        }
        let f = o.forward()?;
        for field in [Field::DlSrc, Field::DlDst] {
            if f.key.get(field) != orig.get(field) {
                return None;
            }
        }
        let vlan = vlan_action(
            orig.get(Field::VlanTci) as u16,
            f.key.get(Field::VlanTci) as u16,
        );
        let port = sw.port(f.port)?;
        if port.config.kind == PortType::Vxlan {
            // Checksums on: switchd completes them, so the traffic stays up.
            if port.config.csum {
                return None;
            }
            let ifindex = self.vxlan?;
            let remote = port.config.remote_ip?;
            let id = match port.config.tunnel_key() {
                TunnelKey::Flow => f.key.get_u64(Field::TunId),
                TunnelKey::Fixed(k) => k,
            };
            return Some((
                FpVal {
                    kind: KIND_TUNNEL,
                    ifindex,
                    tun_dst: u32::from(remote),
                    tun_ttl: 64,
                    tun_id: id,
                    ..vlan
                },
                Some(f.port),
            ));
        }
        let ifindex = *self.by_port.get(&f.port)?;
        let egress = self.ports.get(&ifindex).is_some_and(|p| p.egress);
        Some((
            FpVal {
                kind: if egress { KIND_EGRESS } else { KIND_PEER },
                ifindex,
                ..vlan
            },
            Some(f.port),
        ))
    }
}

/// The VLAN part of an entry for a frame tagged `orig` (the engine's vlan_tci,
/// 0x1000 when tagged) that leaves tagged `out`: nothing, a pop, a push, or
/// both (a rewrite; the kernel has no helper that changes a tag in place).
fn vlan_action(orig: u16, out: u16) -> FpVal {
    let (was, is) = (orig & 0x1000 != 0, out & 0x1000 != 0);
    let mut v = FpVal::default();
    if orig == out || (!was && !is) {
        return v;
    }
    if was {
        v.flags |= F_VLAN_POP;
    }
    if is {
        v.flags |= F_VLAN_PUSH;
        v.vlan_tci = out & !0x1000;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_actions_for_each_change_of_tag() {
        let none = vlan_action(0, 0);
        assert_eq!((none.flags, none.vlan_tci), (0, 0));
        let same = vlan_action(0x1064, 0x1064);
        assert_eq!((same.flags, same.vlan_tci), (0, 0));
        let push = vlan_action(0, 0x1064);
        assert_eq!((push.flags, push.vlan_tci), (F_VLAN_PUSH, 100));
        let pop = vlan_action(0x1064, 0);
        assert_eq!((pop.flags, pop.vlan_tci), (F_VLAN_POP, 0));
        // A rewrite keeps the priority bits the engine set.
        let rewrite = vlan_action(0x1001, 0x3064);
        assert_eq!(
            (rewrite.flags, rewrite.vlan_tci),
            (F_VLAN_POP | F_VLAN_PUSH, 0x2064)
        );
    }
}
