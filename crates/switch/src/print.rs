//! Prints flows, matches and actions in the ovs-ofctl syntax that [`crate::parse`] reads.

use crate::action::{Action, CtZone, FieldRange, OFPP_LOCAL};
use crate::field::{Field, format_value};
use crate::flow::Match;
use crate::learn::{LearnItem, LearnSpec, LearnSrc};
use crate::parse::{DEFAULT_PRIORITY, PortNames};
use std::fmt::Write;

/// Field printing order; aliases are chosen by EtherType below.
const ORDER: &[Field] = &[
    Field::RecircId,
    Field::ConjId,
    Field::CtState,
    Field::CtZone,
    Field::CtMark,
    Field::Reg0,
    Field::Reg1,
    Field::Reg2,
    Field::Reg3,
    Field::Reg4,
    Field::Reg5,
    Field::Reg6,
    Field::Reg7,
    Field::Metadata,
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::InPort,
    Field::VlanTci,
    Field::DlSrc,
    Field::DlDst,
    Field::DlType,
    Field::NwSrc,
    Field::NwDst,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::NwProto,
    Field::NwTos,
    Field::NwTtl,
    Field::TpSrc,
    Field::TpDst,
    Field::ArpSha,
    Field::ArpTha,
];

pub fn port_text(p: u32, ports: &dyn PortNames) -> String {
    if p == OFPP_LOCAL {
        return "LOCAL".into();
    }
    ports.port_name(p).unwrap_or_else(|| p.to_string())
}

fn value_text(f: Field, v: u128, m: u128, ports: &dyn PortNames) -> String {
    if f == Field::InPort {
        return port_text(v as u32, ports);
    }
    if f == Field::CtState {
        return crate::field::ct_flags_text(v as u8, m as u8);
    }
    let full = f.full_mask();
    if m == full {
        return format_value(f, v);
    }
    // CIDR form for prefix masks of addresses.
    match f {
        Field::NwSrc
        | Field::NwDst
        | Field::ArpSpa
        | Field::ArpTpa
        | Field::TunSrc
        | Field::TunDst => {
            let m32 = m as u32;
            if m32.leading_ones() + m32.trailing_zeros() == 32 {
                return format!("{}/{}", format_value(f, v), m32.leading_ones());
            }
        }
        Field::Ipv6Src | Field::Ipv6Dst if m.leading_ones() + m.trailing_zeros() == 128 => {
            return format!("{}/{}", format_value(f, v), m.leading_ones());
        }
        _ => {}
    }
    match f {
        Field::DlSrc | Field::DlDst | Field::ArpSha | Field::ArpTha => {
            format!("{}/{}", format_value(f, v), format_value(f, m))
        }
        _ => format!("{v:#x}/{m:#x}"),
    }
}

/// The match as `priority=..,field=value,...` tokens (without table/priority).
pub fn match_text(m: &Match, ports: &dyn PortNames) -> String {
    let mut toks: Vec<String> = Vec::new();
    let (dl_type, dl_type_mask) = m.get(Field::DlType);
    let (proto, proto_mask) = m.get(Field::NwProto);
    let exact_type = dl_type_mask == 0xffff;
    let mut type_done = false;
    let mut proto_done = false;
    if exact_type {
        let name = match (dl_type, proto_mask == 0xff, proto) {
            (0x0800, true, 1) => Some(("icmp", true)),
            (0x0800, true, 6) => Some(("tcp", true)),
            (0x0800, true, 17) => Some(("udp", true)),
            (0x86dd, true, 58) => Some(("icmp6", true)),
            (0x86dd, true, 6) => Some(("tcp6", true)),
            (0x86dd, true, 17) => Some(("udp6", true)),
            (0x0800, _, _) => Some(("ip", false)),
            (0x0806, _, _) => Some(("arp", false)),
            (0x86dd, _, _) => Some(("ipv6", false)),
            _ => None,
        };
        if let Some((n, with_proto)) = name {
            toks.push(n.into());
            type_done = true;
            proto_done = with_proto;
        }
    }
    let is_arp = exact_type && dl_type == 0x0806;
    let is_icmp = proto_mask == 0xff && (proto == 1 || proto == 58);
    for &f in ORDER {
        let (v, mask) = m.get(f);
        if mask == 0 || (f == Field::DlType && type_done) || (f == Field::NwProto && proto_done) {
            continue;
        }
        let shown = match f {
            Field::NwSrc if is_arp => Field::ArpSpa,
            Field::NwDst if is_arp => Field::ArpTpa,
            Field::NwProto if is_arp => Field::ArpOp,
            Field::TpSrc if is_icmp => Field::IcmpType,
            Field::TpDst if is_icmp => Field::IcmpCode,
            other => other,
        };
        if f == Field::VlanTci {
            if mask == 0x1fff && v & 0x1000 != 0 {
                toks.push(format!("dl_vlan={}", v & 0xfff));
                continue;
            }
            if mask == 0xffff && v == 0 {
                toks.push("vlan_tci=0x0000".into());
                continue;
            }
            toks.push(format!("vlan_tci={v:#06x}/{mask:#06x}"));
            continue;
        }
        toks.push(format!(
            "{}={}",
            shown.name(),
            value_text(shown, v, mask, ports)
        ));
    }
    toks.join(",")
}

fn range_text(r: &FieldRange) -> String {
    if r.is_whole() {
        format!("{}[]", r.field.nxm_name())
    } else if r.bits == 1 {
        format!("{}[{}]", r.field.nxm_name(), r.start)
    } else {
        format!(
            "{}[{}..{}]",
            r.field.nxm_name(),
            r.start,
            r.start + r.bits - 1
        )
    }
}

fn learn_text(l: &LearnSpec) -> String {
    let mut parts = vec![format!("table={}", l.table)];
    if l.idle_timeout != 0 {
        parts.push(format!("idle_timeout={}", l.idle_timeout));
    }
    if l.hard_timeout != 0 {
        parts.push(format!("hard_timeout={}", l.hard_timeout));
    }
    if l.priority != DEFAULT_PRIORITY {
        parts.push(format!("priority={}", l.priority));
    }
    if l.cookie != 0 {
        parts.push(format!("cookie={:#x}", l.cookie));
    }
    for item in &l.items {
        parts.push(match item {
            LearnItem::Match {
                dst,
                src: LearnSrc::Field(s),
            } if s == dst => range_text(dst),
            LearnItem::Match {
                dst,
                src: LearnSrc::Field(s),
            } => format!("{}={}", range_text(dst), range_text(s)),
            LearnItem::Match {
                dst,
                src: LearnSrc::Value(v),
            } => format!("{}={v:#x}", range_text(dst)),
            LearnItem::Load {
                dst,
                src: LearnSrc::Field(s),
            } => format!("load:{}->{}", range_text(s), range_text(dst)),
            LearnItem::Load {
                dst,
                src: LearnSrc::Value(v),
            } => format!("load:{v:#x}->{}", range_text(dst)),
            LearnItem::Output { src } => format!("output:{}", range_text(src)),
        });
    }
    format!("learn({})", parts.join(","))
}

pub fn action_text(a: &Action, ports: &dyn PortNames) -> String {
    match a {
        Action::Output(p) => format!("output:{}", port_text(*p, ports)),
        Action::OutputField(r) => format!("output:{}", range_text(r)),
        Action::InPort => "IN_PORT".into(),
        Action::Normal => "NORMAL".into(),
        Action::Flood => "FLOOD".into(),
        Action::Drop => "drop".into(),
        Action::Dhcp => "dhcp".into(),
        Action::Resubmit { in_port, table } => {
            let p = in_port.map(|p| port_text(p, ports)).unwrap_or_default();
            let t = table.map(|t| t.to_string()).unwrap_or_default();
            format!("resubmit({p},{t})")
        }
        Action::GotoTable(t) => format!("goto_table:{t}"),
        Action::ModVlanVid(v) => format!("mod_vlan_vid:{v}"),
        Action::ModVlanPcp(v) => format!("mod_vlan_pcp:{v}"),
        Action::StripVlan => "strip_vlan".into(),
        Action::PushVlan(t) => format!("push_vlan:{t:#06x}"),
        Action::SetTunnel(id) => format!("set_tunnel:{id:#x}"),
        Action::Load { value, dst } => {
            let f = dst.field;
            if dst.is_whole() {
                match f {
                    Field::DlSrc => return format!("mod_dl_src:{}", format_value(f, *value)),
                    Field::DlDst => return format!("mod_dl_dst:{}", format_value(f, *value)),
                    _ => {}
                }
                return format!("set_field:{}->{}", format_value(f, *value), f.name());
            }
            format!("load:{value:#x}->{}", range_text(dst))
        }
        Action::Move { src, dst } => format!("move:{}->{}", range_text(src), range_text(dst)),
        Action::Learn(l) => learn_text(l),
        Action::CtClear => "ct_clear".into(),
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => format!("conjunction({id},{clause}/{n_clauses})"),
        Action::Ct(ct) => {
            let mut parts: Vec<String> = Vec::new();
            if ct.commit {
                parts.push("commit".into());
            }
            if let Some(t) = ct.table {
                parts.push(format!("table={t}"));
            }
            match ct.zone {
                CtZone::Value(0) => {}
                CtZone::Value(z) => parts.push(format!("zone={z}")),
                CtZone::Field(r) => parts.push(format!("zone={}", range_text(&r))),
            }
            if !ct.exec.is_empty() {
                parts.push(format!("exec({})", actions_text(&ct.exec, ports)));
            }
            format!("ct({})", parts.join(","))
        }
    }
}

pub fn actions_text(actions: &[Action], ports: &dyn PortNames) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    actions
        .iter()
        .map(|a| action_text(a, ports))
        .collect::<Vec<_>>()
        .join(",")
}

/// The printable parts of a flow (installed, learned or just parsed).
pub struct FlowParts<'a> {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub matcher: &'a Match,
    pub actions: &'a [Action],
}

/// A flow as `add-flow` accepts it: `table=T,priority=P[,cookie=..][,timeouts],MATCH,actions=...`.
pub fn flow_text(f: &FlowParts, ports: &dyn PortNames) -> String {
    let (table, priority, cookie, idle, hard) = (
        f.table,
        f.priority,
        f.cookie,
        f.idle_timeout,
        f.hard_timeout,
    );
    let (m, actions) = (f.matcher, f.actions);
    let mut s = format!("table={table},priority={priority}");
    if cookie != 0 {
        let _ = write!(s, ",cookie={cookie:#x}");
    }
    if idle != 0 {
        let _ = write!(s, ",idle_timeout={idle}");
    }
    if hard != 0 {
        let _ = write!(s, ",hard_timeout={hard}");
    }
    let mt = match_text(m, ports);
    if !mt.is_empty() {
        s.push(',');
        s.push_str(&mt);
    }
    let _ = write!(s, ",actions={}", actions_text(actions, ports));
    s
}
