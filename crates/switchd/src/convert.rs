//! Between the control protocol's types (`switch-proto`) and the engine's: ports,
//! DHCP bindings and counters field by field, and typed flows into the engine's
//! flows with their ports resolved on the bridge they are for. The protocol can stay
//! as it is while the engine changes, and the other way round; this is the one
//! place that knows both.

use std::net::IpAddr;
use switch::Match as EMatch;
use switch::{Action as EAction, FieldRange as ERange, OFPP_IN_PORT, OFPP_NORMAL};
use switch::{Field as EField, PortConfig, PortType as EType, TunnelKey as EKey};
use switch::{FlowSpec, PortNames, parse_port};
use switch::{LearnItem as EItem, LearnSpec as ELearn, LearnSrc as ESrc};
use switch_proto as p;

pub(crate) fn port_type(t: p::PortType) -> EType {
    match t {
        p::PortType::Tap => EType::Tap,
        p::PortType::Internal => EType::Internal,
        p::PortType::System => EType::System,
        p::PortType::Veth => EType::Veth,
        p::PortType::Patch => EType::Patch,
        p::PortType::Vxlan => EType::Vxlan,
        p::PortType::Gre => EType::Gre,
        p::PortType::Geneve => EType::Geneve,
    }
}

fn proto_port_type(t: EType) -> p::PortType {
    match t {
        EType::Tap => p::PortType::Tap,
        EType::Internal => p::PortType::Internal,
        EType::System => p::PortType::System,
        EType::Veth => p::PortType::Veth,
        EType::Patch => p::PortType::Patch,
        EType::Vxlan => p::PortType::Vxlan,
        EType::Gre => p::PortType::Gre,
        EType::Geneve => p::PortType::Geneve,
    }
}

pub(crate) fn port_config(s: p::PortSpec) -> PortConfig {
    PortConfig {
        name: s.name,
        kind: port_type(s.kind),
        tag: s.tag,
        netns: s.netns,
        mac: s.mac,
        mtu: s.mtu,
        peer: s.peer,
        remote_ip: s.remote_ip,
        local_ip: s.local_ip,
        key: s.key.map(|k| match k {
            p::TunnelKey::Fixed(n) => EKey::Fixed(n),
            p::TunnelKey::Flow => EKey::Flow,
        }),
        csum: s.csum,
        ofport: s.ofport,
        dhcp: s.dhcp.map(dhcp_binding),
    }
}

pub(crate) fn port_spec(c: &PortConfig) -> p::PortSpec {
    p::PortSpec {
        name: c.name.clone(),
        kind: proto_port_type(c.kind),
        tag: c.tag,
        netns: c.netns.clone(),
        mac: c.mac.clone(),
        mtu: c.mtu,
        peer: c.peer.clone(),
        remote_ip: c.remote_ip,
        local_ip: c.local_ip,
        key: c.key.map(|k| match k {
            EKey::Fixed(n) => p::TunnelKey::Fixed(n),
            EKey::Flow => p::TunnelKey::Flow,
        }),
        csum: c.csum,
        ofport: c.ofport,
        dhcp: c.dhcp.as_ref().map(proto_dhcp_binding),
    }
}

pub(crate) fn dhcp_binding(b: p::DhcpBinding) -> switch::DhcpBinding {
    switch::DhcpBinding {
        mac: b.mac,
        ip: b.ip,
        prefix_len: b.prefix_len,
        router: b.router,
        dns: b.dns,
        host_routes: b
            .host_routes
            .into_iter()
            .map(|r| switch::StaticRoute {
                destination: r.destination,
                prefix_len: r.prefix_len,
                nexthop: r.nexthop,
            })
            .collect(),
        mtu: b.mtu,
        lease_secs: b.lease_secs,
        server_ip: b.server_ip,
        server_mac: b.server_mac,
        domain_name: b.domain_name,
        next_server: b.next_server,
        options: b
            .options
            .into_iter()
            .map(|o| switch::RawDhcpOption {
                code: o.code,
                data: o.data,
            })
            .collect(),
    }
}

fn proto_dhcp_binding(b: &switch::DhcpBinding) -> p::DhcpBinding {
    p::DhcpBinding {
        mac: b.mac.clone(),
        ip: b.ip,
        prefix_len: b.prefix_len,
        router: b.router,
        dns: b.dns.clone(),
        host_routes: b
            .host_routes
            .iter()
            .map(|r| p::StaticRoute {
                destination: r.destination,
                prefix_len: r.prefix_len,
                nexthop: r.nexthop,
            })
            .collect(),
        mtu: b.mtu,
        lease_secs: b.lease_secs,
        server_ip: b.server_ip,
        server_mac: b.server_mac.clone(),
        domain_name: b.domain_name.clone(),
        next_server: b.next_server,
        options: b
            .options
            .iter()
            .map(|o| p::RawDhcpOption {
                code: o.code,
                data: o.data.clone(),
            })
            .collect(),
    }
}

pub(crate) fn port_stats(s: &switch::PortStats) -> p::PortStats {
    p::PortStats {
        rx_packets: s.rx_packets,
        rx_bytes: s.rx_bytes,
        rx_dropped: s.rx_dropped,
        rx_errors: s.rx_errors,
        tx_packets: s.tx_packets,
        tx_bytes: s.tx_bytes,
        tx_dropped: s.tx_dropped,
        tx_errors: s.tx_errors,
    }
}

pub(crate) fn dhcp_stats(s: &switch::DhcpStats) -> p::DhcpStats {
    p::DhcpStats {
        offers: s.offers,
        acks: s.acks,
        naks: s.naks,
        arp_replies: s.arp_replies,
        releases: s.releases,
        ignored: s.ignored,
        dropped: s.dropped,
    }
}

pub(crate) fn fdb_entry(e: switch::FdbEntry) -> p::FdbEntry {
    p::FdbEntry {
        port: e.port,
        vlan: e.vlan,
        mac: e.mac,
        age_secs: e.age_secs,
    }
}

pub(crate) fn flow_cache_stats(s: switch::FlowCacheStats) -> p::FlowCacheStats {
    p::FlowCacheStats {
        entries: s.entries,
        capacity: s.capacity,
        hits: s.hits,
        misses: s.misses,
        invalidations: s.invalidations,
    }
}

pub(crate) fn conntrack_stats(c: &switch::conntrack::Conntrack) -> p::ConntrackStats {
    let s = c.stats();
    p::ConntrackStats {
        connections: c.len(),
        max: c.config().max,
        zones: c.zones(),
        committed: s.committed,
        refused: s.refused,
        expired: s.expired,
        invalid: s.invalid,
    }
}

// ---- flows ----

fn field(f: p::Field) -> Result<EField, String> {
    EField::by_name(f.name()).ok_or_else(|| format!("this switch has no field {}", f.name()))
}

fn range(r: p::FieldRange) -> Result<ERange, String> {
    let f = field(r.field)?;
    let width = f.span().bits;
    if r.bits == 0 || r.start.checked_add(r.bits).is_none_or(|end| end > width) {
        return Err(format!("bad bit range {r}: {} has {width} bits", f.name()));
    }
    Ok(ERange {
        field: f,
        start: r.start,
        bits: r.bits,
    })
}

/// A register (reg0..reg7), the only fields that hold port numbers by name.
fn register(f: p::Field) -> Result<EField, String> {
    match f {
        p::Field::Reg0
        | p::Field::Reg1
        | p::Field::Reg2
        | p::Field::Reg3
        | p::Field::Reg4
        | p::Field::Reg5
        | p::Field::Reg6
        | p::Field::Reg7 => field(f),
        _ => Err(format!("{} cannot hold a port", f.name())),
    }
}

/// The protocol's name for an engine field.
fn p_field_of(f: EField) -> Result<p::Field, String> {
    p::Field::ALL
        .iter()
        .copied()
        .find(|x| x.name() == f.name())
        .ok_or_else(|| format!("no field {}", f.name()))
}

fn fits(what: &str, value: u128, bits: u32) -> Result<(), String> {
    if bits < 128 && value >> bits != 0 {
        return Err(format!(
            "{what}: value {value:#x} does not fit in {bits} bits"
        ));
    }
    Ok(())
}

fn port(r: &p::PortRef, ports: &dyn PortNames) -> Result<u32, String> {
    match r {
        p::PortRef::Number(n) => Ok(*n),
        p::PortRef::Name(n) => parse_port(n, ports).map_err(|e| e.0),
    }
}

/// The value and mask of an address prefix, in the field's bit numbering.
fn prefix(addr: IpAddr, len: u8) -> (u128, u128) {
    let (v, width) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let len = u32::from(len).min(width);
    let ones = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let mask = if len == 0 {
        0
    } else {
        (ones << (width - len)) & ones
    };
    (v & mask, mask)
}

fn add_match(m: &mut EMatch, c: &p::Match, ports: &dyn PortNames) -> Result<(), String> {
    let full = |f: EField| f.full_mask();
    match c {
        p::Match::InPort(r) => m.set(EField::InPort, port(r, ports)?.into(), full(EField::InPort)),
        p::Match::Proto(pr) => {
            let (dl_type, nw_proto) = pr.parts();
            m.set(EField::DlType, dl_type.into(), 0xffff);
            if let Some(n) = nw_proto {
                m.set(EField::NwProto, n.into(), 0xff);
            }
        }
        p::Match::DlVlan(v) => {
            if *v >= 4096 {
                return Err(format!("bad value '{v}' for dl_vlan"));
            }
            m.set(EField::VlanTci, u128::from(0x1000 | v), 0x1fff);
        }
        p::Match::VlanTci { value, mask } => {
            m.set(EField::VlanTci, (*value).into(), (*mask).into())
        }
        p::Match::DlSrc(mac) => m.set(EField::DlSrc, mac.to_u64().into(), full(EField::DlSrc)),
        p::Match::DlDst(mac) => m.set(EField::DlDst, mac.to_u64().into(), full(EField::DlDst)),
        p::Match::DlDstMasked { mac, mask } => {
            m.set(EField::DlDst, mac.to_u64().into(), mask.to_u64().into())
        }
        p::Match::TunId(t) => m.set(EField::TunId, (*t).into(), full(EField::TunId)),
        p::Match::ArpOp(o) => m.set(EField::ArpOp, (*o).into(), 0xff),
        p::Match::ArpSpa(n) | p::Match::ArpTpa(n) | p::Match::NwSrc(n) | p::Match::NwDst(n) => {
            let f = match c {
                p::Match::ArpSpa(_) => EField::ArpSpa,
                p::Match::ArpTpa(_) => EField::ArpTpa,
                p::Match::NwSrc(_) => EField::NwSrc,
                _ => EField::NwDst,
            };
            let (v, mask) = prefix(IpAddr::V4(n.addr()), n.prefix_len());
            m.set(f, v, mask);
        }
        p::Match::Ipv6Src(n) | p::Match::Ipv6Dst(n) => {
            let f = if matches!(c, p::Match::Ipv6Src(_)) {
                EField::Ipv6Src
            } else {
                EField::Ipv6Dst
            };
            let (v, mask) = prefix(IpAddr::V6(n.addr()), n.prefix_len());
            m.set(f, v, mask);
        }
        p::Match::TpSrc(v) => m.set(EField::TpSrc, (*v).into(), 0xffff),
        p::Match::TpDst(v) => m.set(EField::TpDst, (*v).into(), 0xffff),
        p::Match::IcmpType(v) => m.set(EField::IcmpType, (*v).into(), 0xffff),
        p::Match::IcmpCode(v) => m.set(EField::IcmpCode, (*v).into(), 0xffff),
        p::Match::CtState { set, mask } => {
            if mask & !0x3f != 0 {
                return Err(format!("ct_state: unknown bits in {mask:#x}"));
            }
            m.set(EField::CtState, u128::from(set & mask), u128::from(*mask));
        }
        p::Match::CtZone(z) => m.set(EField::CtZone, (*z).into(), 0xffff),
        p::Match::CtMark { value, mask } => {
            m.set(EField::CtMark, u128::from(value & mask), u128::from(*mask))
        }
        p::Match::ConjId(id) => m.set(EField::ConjId, (*id).into(), 0xffff_ffff),
        p::Match::RegPort { reg, port: r } => {
            let f = register(*reg)?;
            m.set(f, port(r, ports)?.into(), 0xffff_ffff);
        }
        p::Match::Masked {
            field: f,
            value,
            mask,
        } => {
            let ef = field(*f)?;
            let bits = ef.span().bits;
            fits(f.name(), *value, bits)?;
            fits(f.name(), *mask, bits)?;
            m.set(ef, value & mask, *mask);
        }
    }
    Ok(())
}

fn learn_src(s: p::flow::LearnSrc) -> Result<ESrc, String> {
    Ok(match s {
        p::flow::LearnSrc::Field(r) => ESrc::Field(range(r)?),
        p::flow::LearnSrc::Value(v) => ESrc::Value(v),
    })
}

fn learn(l: &p::LearnSpec) -> Result<ELearn, String> {
    if l.table == 255 {
        return Err("learn: bad table 255".into());
    }
    let mut items = Vec::with_capacity(l.items.len());
    for item in &l.items {
        items.push(match *item {
            p::LearnItem::Match { dst, src } => EItem::Match {
                dst: range(dst)?,
                src: learn_src(src)?,
            },
            p::LearnItem::Load { dst, src } => {
                let dst = range(dst)?;
                if let p::flow::LearnSrc::Value(v) = src {
                    fits(
                        &format!("learn load into {}", dst.field.name()),
                        v,
                        dst.bits,
                    )?;
                }
                EItem::Load {
                    dst,
                    src: learn_src(src)?,
                }
            }
            p::LearnItem::Output { src } => EItem::Output { src: range(src)? },
        });
    }
    Ok(ELearn {
        table: l.table,
        priority: l.priority,
        idle_timeout: l.idle_timeout,
        hard_timeout: l.hard_timeout,
        cookie: l.cookie,
        items,
    })
}

fn action(a: &p::Action, ports: &dyn PortNames) -> Result<EAction, String> {
    let load = |f: EField, value: u128| EAction::Load {
        value,
        dst: ERange::whole(f),
    };
    Ok(match a {
        p::Action::Output(r) => match port(r, ports)? {
            OFPP_IN_PORT => EAction::InPort,
            OFPP_NORMAL => EAction::Normal,
            n => EAction::Output(n),
        },
        p::Action::OutputField(r) => EAction::OutputField(range(*r)?),
        p::Action::InPort => EAction::InPort,
        p::Action::Normal => EAction::Normal,
        p::Action::Flood => EAction::Flood,
        p::Action::Resubmit { in_port, table } => {
            if *table == Some(255) {
                return Err("resubmit: bad table 255".into());
            }
            EAction::Resubmit {
                in_port: in_port.as_ref().map(|r| port(r, ports)).transpose()?,
                table: *table,
            }
        }
        p::Action::GotoTable(t) if *t < 255 => EAction::GotoTable(*t),
        p::Action::GotoTable(t) => return Err(format!("goto_table: bad table {t}")),
        p::Action::ModVlanVid(v) if *v < 4096 => EAction::ModVlanVid(*v),
        p::Action::ModVlanVid(v) => return Err(format!("bad value '{v}' for mod_vlan_vid")),
        p::Action::ModVlanPcp(v) if *v < 8 => EAction::ModVlanPcp(*v),
        p::Action::ModVlanPcp(v) => return Err(format!("bad value '{v}' for mod_vlan_pcp")),
        p::Action::StripVlan => EAction::StripVlan,
        p::Action::PushVlan(t @ (0x8100 | 0x88a8)) => EAction::PushVlan(*t),
        p::Action::PushVlan(t) => {
            return Err(format!(
                "push_vlan takes a VLAN ethertype (0x8100 or 0x88a8), not {t:#06x}"
            ));
        }
        p::Action::SetTunnel(k) => EAction::SetTunnel(*k),
        p::Action::ModDlSrc(m) => load(EField::DlSrc, m.to_u64().into()),
        p::Action::ModDlDst(m) => load(EField::DlDst, m.to_u64().into()),
        p::Action::Load { value, dst } => {
            let dst = range(*dst)?;
            fits(&format!("load into {}", dst.field.name()), *value, dst.bits)?;
            EAction::Load { value: *value, dst }
        }
        p::Action::Move { src, dst } => {
            let (src, dst) = (range(*src)?, range(*dst)?);
            if src.bits != dst.bits {
                return Err(format!(
                    "move between fields of different widths: {} -> {}",
                    src.field.name(),
                    dst.field.name()
                ));
            }
            EAction::Move { src, dst }
        }
        p::Action::Learn(l) => EAction::Learn(Box::new(learn(l)?)),
        p::Action::Drop => EAction::Drop,
        p::Action::Dhcp => EAction::Dhcp,
        p::Action::CtClear => EAction::CtClear,
        p::Action::LoadPort { port: r, dst } => {
            let dst = range(*dst)?;
            register(p_field_of(dst.field)?)?;
            let n = port(r, ports)?;
            fits(
                &format!("load into {}", dst.field.name()),
                n.into(),
                dst.bits,
            )?;
            EAction::Load {
                value: n.into(),
                dst,
            }
        }
        p::Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            if !(2..=64).contains(n_clauses) || *clause == 0 || clause > n_clauses {
                return Err(format!("bad conjunction({id},{clause}/{n_clauses})"));
            }
            EAction::Conjunction {
                id: *id,
                clause: *clause,
                n_clauses: *n_clauses,
            }
        }
        p::Action::Ct(ct) => {
            let zone = match ct.zone {
                p::CtZoneSrc::Value(z) => switch::CtZone::Value(z),
                p::CtZoneSrc::Field(r) => {
                    let r = range(r)?;
                    if r.bits != 16 {
                        return Err("a ct zone field must be 16 bits wide".into());
                    }
                    switch::CtZone::Field(r)
                }
            };
            if ct.table == Some(255) {
                return Err("ct: bad table 255".into());
            }
            if ct.mark.is_some() && !ct.commit {
                return Err("ct: a mark needs commit".into());
            }
            EAction::Ct(Box::new(switch::CtAction {
                commit: ct.commit,
                zone,
                table: ct.table,
                exec: ct
                    .mark
                    .map(|v| load(EField::CtMark, v.into()))
                    .into_iter()
                    .collect(),
            }))
        }
    })
}

/// A typed flow as the engine installs it on the bridge whose ports `ports` names;
/// the error names the flow (in its text form) and what is wrong with it.
pub(crate) fn flow_spec(f: &p::Flow, ports: &dyn PortNames) -> Result<FlowSpec, String> {
    let build = || -> Result<FlowSpec, String> {
        if f.table == 255 {
            return Err("bad table 255".into());
        }
        let mut matcher = EMatch::catch_all();
        for c in &f.matches {
            add_match(&mut matcher, c, ports)?;
        }
        let conj = f
            .actions
            .iter()
            .filter(|a| matches!(a, p::Action::Conjunction { .. }))
            .count();
        if conj > 0 && conj != f.actions.len() {
            return Err("conjunction() cannot be mixed with other actions".into());
        }
        // No actions is a drop, as the text `actions=drop` parses.
        let actions = if f.actions.is_empty() {
            vec![EAction::Drop]
        } else {
            f.actions
                .iter()
                .map(|a| action(a, ports))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(FlowSpec {
            table: Some(f.table),
            priority: f.priority,
            cookie: f.cookie,
            cookie_mask: u64::MAX,
            idle_timeout: f.idle_timeout,
            hard_timeout: f.hard_timeout,
            matcher,
            actions: Some(actions),
        })
    };
    build().map_err(|e| format!("flow '{f}': {e}"))
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
