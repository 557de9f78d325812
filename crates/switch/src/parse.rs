//! The ovs-ofctl flow syntax: `table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)`.
//!
//! Every error names the offending token; nothing is partially built.

use crate::action::{Action, CtAction, CtZone, FieldRange, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL};
use crate::field::{Field, Format};
use crate::flow::Match;
use crate::learn::{LearnItem, LearnSpec, LearnSrc};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A flow text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Resolves port names of the bridge a flow is for.
pub trait PortNames {
    fn port_number(&self, name: &str) -> Option<u32>;
    fn port_name(&self, number: u32) -> Option<String>;
}

/// A parsed flow (what add-flow installs, or del-flows selects).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    pub table: Option<u8>,
    pub priority: u16,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub matcher: Match,
    pub actions: Option<Vec<Action>>,
}

pub const DEFAULT_PRIORITY: u16 = 32768;

/// Splits on commas (and blanks) outside parentheses.
pub fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | ' ' | '\t' if depth == 0 => {
                if start < i {
                    out.push(s[start..i].trim());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(s[start..].trim());
    }
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

pub fn parse_int(s: &str) -> Option<u128> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16).ok()
    } else {
        s.parse::<u128>().ok()
    }
}

fn is_register(f: Field) -> bool {
    matches!(
        f,
        Field::Reg0
            | Field::Reg1
            | Field::Reg2
            | Field::Reg3
            | Field::Reg4
            | Field::Reg5
            | Field::Reg6
            | Field::Reg7
    )
}

fn fits(f: Field, v: u128) -> bool {
    v & !f.full_mask() == 0
}

/// Parses a value (and optional /mask) for `f`.
pub fn parse_value(
    f: Field,
    text: &str,
    ports: &dyn PortNames,
) -> Result<(u128, u128), ParseError> {
    let bad = || ParseError(format!("bad value '{text}' for {}", f.name()));
    let (v, m) = match text.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (text, None),
    };
    let full = f.full_mask();
    let (value, mask) = match f.format() {
        Format::Mac => {
            let v: wire::MacAddr = v.parse().map_err(|_| bad())?;
            let m = match m {
                Some(m) => u128::from(m.parse::<wire::MacAddr>().map_err(|_| bad())?.to_u64()),
                None => full,
            };
            (u128::from(v.to_u64()), m)
        }
        Format::Ipv4 => {
            let a: Ipv4Addr = v.parse().map_err(|_| bad())?;
            let m = match m {
                None => full,
                Some(m) => match m.parse::<u32>() {
                    Ok(n) if n <= 32 => {
                        if n == 0 {
                            0
                        } else {
                            u128::from(u32::MAX << (32 - n))
                        }
                    }
                    Ok(_) => return Err(bad()),
                    Err(_) => u128::from(u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad())?)),
                },
            };
            (u128::from(u32::from(a)), m)
        }
        Format::Ipv6 => {
            let a: Ipv6Addr = v.parse().map_err(|_| bad())?;
            let m = match m {
                None => full,
                Some(m) => match m.parse::<u32>() {
                    Ok(n) if n <= 128 => {
                        if n == 0 {
                            0
                        } else {
                            u128::MAX << (128 - n)
                        }
                    }
                    Ok(_) => return Err(bad()),
                    Err(_) => u128::from(m.parse::<Ipv6Addr>().map_err(|_| bad())?),
                },
            };
            (u128::from(a), m)
        }
        Format::Port => {
            if m.is_some() {
                return Err(bad());
            }
            (u128::from(parse_port(v, ports)?), full)
        }
        Format::CtFlags if v.starts_with(['+', '-']) => {
            if m.is_some() {
                return Err(bad());
            }
            let (v, m) = crate::field::parse_ct_flags(v).ok_or_else(bad)?;
            (u128::from(v), u128::from(m))
        }
        Format::CtFlags => {
            let v = parse_int(v).ok_or_else(bad)?;
            let m = match m {
                Some(m) => parse_int(m).ok_or_else(bad)?,
                None => full,
            };
            (v, m)
        }
        Format::Decimal | Format::Hex => {
            // A register may be given a port's name: it holds that port's number.
            let v = parse_int(v)
                .or_else(|| {
                    is_register(f)
                        .then(|| ports.port_number(v))
                        .flatten()
                        .map(u128::from)
                })
                .ok_or_else(bad)?;
            let m = match m {
                Some(m) => parse_int(m).ok_or_else(bad)?,
                None => full,
            };
            (v, m)
        }
    };
    if !fits(f, value) || !fits(f, mask) {
        return Err(ParseError(format!(
            "value '{text}' is too wide for {}",
            f.name()
        )));
    }
    Ok((value & mask, mask))
}

/// A port given by number, by name, or as a reserved name.
pub fn parse_port(s: &str, ports: &dyn PortNames) -> Result<u32, ParseError> {
    if let Some(n) = parse_int(s) {
        return u32::try_from(n).map_err(|_| ParseError(format!("bad port '{s}'")));
    }
    match s {
        "LOCAL" | "local" => Ok(OFPP_LOCAL),
        "IN_PORT" | "in_port" => Ok(OFPP_IN_PORT),
        "NORMAL" => Ok(OFPP_NORMAL),
        _ => ports
            .port_number(s)
            .ok_or_else(|| ParseError(format!("unknown port '{s}'"))),
    }
}

fn shorthand(tok: &str) -> Option<(u16, Option<u8>)> {
    Some(match tok {
        "ip" => (0x0800, None),
        "arp" => (0x0806, None),
        "ipv6" => (0x86dd, None),
        "icmp" => (0x0800, Some(1)),
        "tcp" => (0x0800, Some(6)),
        "udp" => (0x0800, Some(17)),
        "icmp6" => (0x86dd, Some(58)),
        "tcp6" => (0x86dd, Some(6)),
        "udp6" => (0x86dd, Some(17)),
        _ => return None,
    })
}

fn u16_of(key: &str, v: &str) -> Result<u16, ParseError> {
    parse_int(v)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| ParseError(format!("bad value '{v}' for {key}")))
}

/// Parses a flow. With `need_actions`, `actions=` must be present (add-flow);
/// without, it must not be (del-flows, trace).
pub fn parse_flow(
    text: &str,
    ports: &dyn PortNames,
    need_actions: bool,
) -> Result<FlowSpec, ParseError> {
    let text = text.trim();
    let (match_part, action_part) = match find_actions(text) {
        Some(i) => (&text[..i], Some(&text[i + "actions=".len()..])),
        None => (text, None),
    };
    let mut spec = FlowSpec {
        table: None,
        priority: DEFAULT_PRIORITY,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        matcher: Match::catch_all(),
        actions: None,
    };
    for tok in split_top(match_part) {
        if let Some((dl_type, proto)) = shorthand(tok) {
            spec.matcher.set(Field::DlType, dl_type.into(), 0xffff);
            if let Some(p) = proto {
                spec.matcher.set(Field::NwProto, p.into(), 0xff);
            }
            continue;
        }
        let Some((k, v)) = tok.split_once('=') else {
            return err(format!("unknown match '{tok}'"));
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "table" => {
                spec.table = Some(
                    parse_int(v)
                        .and_then(|n| u8::try_from(n).ok())
                        .filter(|n| *n < 255)
                        .ok_or_else(|| ParseError(format!("bad table '{v}'")))?,
                )
            }
            "priority" => spec.priority = u16_of(k, v)?,
            "idle_timeout" => spec.idle_timeout = u16_of(k, v)?,
            "hard_timeout" => spec.hard_timeout = u16_of(k, v)?,
            "cookie" => {
                let (c, m) = v.split_once('/').unwrap_or((v, "0xffffffffffffffff"));
                let bad = || ParseError(format!("bad cookie '{v}'"));
                spec.cookie = parse_int(c)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(bad)?;
                spec.cookie_mask = parse_int(m)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(bad)?;
            }
            "dl_vlan" => {
                let n = u16_of(k, v)?;
                if n == 0xffff {
                    spec.matcher.set(Field::VlanTci, 0, 0xffff);
                } else if n < 4096 {
                    spec.matcher
                        .set(Field::VlanTci, u128::from(0x1000 | n), 0x1fff);
                } else {
                    return err(format!("bad value '{v}' for dl_vlan"));
                }
            }
            "dl_vlan_pcp" => {
                let n = u16_of(k, v)?;
                if n > 7 {
                    return err(format!("bad value '{v}' for dl_vlan_pcp"));
                }
                spec.matcher
                    .set(Field::VlanTci, u128::from(0x1000 | (n << 13)), 0xf000);
            }
            _ => {
                let f = Field::by_any_name(k)
                    .ok_or_else(|| ParseError(format!("unknown field '{k}'")))?;
                let (val, mask) = parse_value(f, v, ports)?;
                spec.matcher.set(f, val, mask);
            }
        }
    }
    match (action_part, need_actions) {
        (Some(a), true) => spec.actions = Some(parse_actions(a, ports)?),
        (None, true) => return err(format!("flow '{text}' has no actions=")),
        (Some(_), false) => return err("actions= is not allowed here"),
        (None, false) => {}
    }
    Ok(spec)
}

fn find_actions(text: &str) -> Option<usize> {
    // "actions=" at a token start (beginning, or after ',' or blank).
    let mut from = 0;
    while let Some(i) = text[from..].find("actions=") {
        let at = from + i;
        if at == 0 || matches!(text.as_bytes()[at - 1], b',' | b' ' | b'\t') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Parses `NXM_OF_VLAN_TCI[0..11]`, `NXM_OF_ETH_DST[]`, `reg0[5]`, or a bare field name.
pub fn parse_field_range(s: &str) -> Result<FieldRange, ParseError> {
    let (name, range) = match s.find('[') {
        Some(i) if s.ends_with(']') => (&s[..i], Some(&s[i + 1..s.len() - 1])),
        Some(_) => return err(format!("bad field '{s}'")),
        None => (s, None),
    };
    let field =
        Field::by_any_name(name).ok_or_else(|| ParseError(format!("unknown field '{name}'")))?;
    let width = field.span().bits;
    let r = match range {
        None | Some("") => FieldRange::whole(field),
        Some(r) => {
            let bad = || ParseError(format!("bad bit range '{s}'"));
            let (a, b) = match r.split_once("..") {
                Some((a, b)) => (a, b),
                None => (r, r),
            };
            let a = a.parse::<u32>().map_err(|_| bad())?;
            let b = b.parse::<u32>().map_err(|_| bad())?;
            if a > b || b >= width {
                return Err(bad());
            }
            FieldRange {
                field,
                start: a,
                bits: b - a + 1,
            }
        }
    };
    Ok(r)
}

fn parse_table_num(s: &str) -> Result<u8, ParseError> {
    parse_int(s)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| *n < 255)
        .ok_or_else(|| ParseError(format!("bad table '{s}'")))
}

/// Parses a value for a `load:` or `set_field:` into a field (ints, MACs, IPs).
fn parse_field_value(f: Field, v: &str, ports: &dyn PortNames) -> Result<u128, ParseError> {
    if let Some(n) = parse_int(v) {
        return Ok(n);
    }
    let (value, _) = parse_value(f, v, ports)?;
    Ok(value)
}

pub fn parse_actions(text: &str, ports: &dyn PortNames) -> Result<Vec<Action>, ParseError> {
    let mut out = Vec::new();
    for tok in split_top(text) {
        out.push(parse_action(tok, ports)?);
    }
    if out.len() > 1 && out.contains(&Action::Drop) {
        return err("'drop' must be the only action");
    }
    let conj = out
        .iter()
        .filter(|a| matches!(a, Action::Conjunction { .. }))
        .count();
    if conj > 0 && conj != out.len() {
        return err("conjunction() cannot be mixed with other actions");
    }
    if let Some(i) = out.iter().position(|a| matches!(a, Action::GotoTable(_)))
        && i + 1 != out.len()
    {
        return err("goto_table must be the last action");
    }
    Ok(out)
}

fn paren_arg<'a>(tok: &'a str, name: &str) -> Option<&'a str> {
    tok.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

fn parse_action(tok: &str, ports: &dyn PortNames) -> Result<Action, ParseError> {
    let (name, arg) = match tok.find([':', '(']) {
        Some(i) if tok.as_bytes()[i] == b':' => (&tok[..i], Some(&tok[i + 1..])),
        _ => (tok, None),
    };
    fn need<'s>(a: Option<&'s str>, tok: &str) -> Result<&'s str, ParseError> {
        a.ok_or_else(|| ParseError(format!("action '{tok}' needs an argument")))
    }
    Ok(match (name, arg) {
        ("drop", None) => Action::Drop,
        ("dhcp", None) => Action::Dhcp,
        ("NORMAL" | "normal", None) => Action::Normal,
        ("FLOOD" | "flood", None) => Action::Flood,
        ("IN_PORT" | "in_port", None) => Action::InPort,
        ("LOCAL" | "local", None) => Action::Output(OFPP_LOCAL),
        ("strip_vlan" | "pop_vlan", None) => Action::StripVlan,
        ("ct_clear", None) => Action::CtClear,
        ("output", a) => {
            let a = need(a, tok)?;
            if a.contains('[') {
                Action::OutputField(parse_field_range(a)?)
            } else {
                match parse_port(a, ports)? {
                    OFPP_IN_PORT => Action::InPort,
                    OFPP_NORMAL => Action::Normal,
                    p => Action::Output(p),
                }
            }
        }
        ("goto_table", a) => Action::GotoTable(parse_table_num(need(a, tok)?)?),
        ("mod_vlan_vid", a) => {
            let v = need(a, tok)?;
            let n = u16_of("mod_vlan_vid", v)?;
            if n >= 4096 {
                return err(format!("bad value '{v}' for mod_vlan_vid"));
            }
            Action::ModVlanVid(n)
        }
        ("mod_vlan_pcp", a) => {
            let v = need(a, tok)?;
            let n = u16_of("mod_vlan_pcp", v)?;
            if n > 7 {
                return err(format!("bad value '{v}' for mod_vlan_pcp"));
            }
            Action::ModVlanPcp(n as u8)
        }
        ("push_vlan", a) => {
            let v = need(a, tok)?;
            match u16_of("push_vlan", v)? {
                t @ (0x8100 | 0x88a8) => Action::PushVlan(t),
                _ => {
                    return err(format!(
                        "push_vlan takes a VLAN ethertype (0x8100 or 0x88a8), not '{v}'"
                    ));
                }
            }
        }
        ("set_tunnel" | "set_tunnel64", a) => {
            let v = need(a, tok)?;
            Action::SetTunnel(
                parse_int(v)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| ParseError(format!("bad value '{v}' for set_tunnel")))?,
            )
        }
        ("mod_dl_src" | "mod_dl_dst", a) => {
            let v = need(a, tok)?;
            let mac: wire::MacAddr = v
                .parse()
                .map_err(|_| ParseError(format!("bad MAC '{v}' in {name}")))?;
            let f = if name == "mod_dl_src" {
                Field::DlSrc
            } else {
                Field::DlDst
            };
            Action::Load {
                value: mac.to_u64().into(),
                dst: FieldRange::whole(f),
            }
        }
        ("mod_nw_src" | "mod_nw_dst", a) => {
            let v = need(a, tok)?;
            let ip: Ipv4Addr = v
                .parse()
                .map_err(|_| ParseError(format!("bad IPv4 '{v}' in {name}")))?;
            let f = if name == "mod_nw_src" {
                Field::NwSrc
            } else {
                Field::NwDst
            };
            Action::Load {
                value: u32::from(ip).into(),
                dst: FieldRange::whole(f),
            }
        }
        ("set_field", a) => {
            let a = need(a, tok)?;
            let Some((v, dst)) = a.split_once("->") else {
                return err(format!("set_field needs VALUE->FIELD: '{tok}'"));
            };
            let dst = parse_field_range(dst)?;
            let value = parse_field_value(dst.field, v, ports)?;
            check_width(tok, value, dst)?;
            Action::Load { value, dst }
        }
        ("load", a) => {
            let a = need(a, tok)?;
            let Some((v, dst)) = a.split_once("->") else {
                return err(format!("load needs VALUE->FIELD[]: '{tok}'"));
            };
            let dst = parse_field_range(dst)?;
            let value = parse_int(v)
                .or_else(|| {
                    is_register(dst.field)
                        .then(|| ports.port_number(v))
                        .flatten()
                        .map(u128::from)
                })
                .ok_or_else(|| ParseError(format!("bad value '{v}' in '{tok}'")))?;
            check_width(tok, value, dst)?;
            Action::Load { value, dst }
        }
        ("move", a) => {
            let a = need(a, tok)?;
            let Some((s, d)) = a.split_once("->") else {
                return err(format!("move needs SRC[]->DST[]: '{tok}'"));
            };
            let (src, dst) = (parse_field_range(s)?, parse_field_range(d)?);
            if src.bits != dst.bits {
                return err(format!("move between fields of different widths: '{tok}'"));
            }
            Action::Move { src, dst }
        }
        _ => {
            if let Some(inner) = paren_arg(tok, "resubmit") {
                let (p, t) = inner.split_once(',').unwrap_or((inner, ""));
                let in_port = if p.trim().is_empty() {
                    None
                } else {
                    Some(parse_port(p.trim(), ports)?)
                };
                let table = if t.trim().is_empty() {
                    None
                } else {
                    Some(parse_table_num(t.trim())?)
                };
                return Ok(Action::Resubmit { in_port, table });
            }
            if let Some(n) = tok.strip_prefix("resubmit:") {
                return Ok(Action::Resubmit {
                    in_port: Some(parse_port(n, ports)?),
                    table: None,
                });
            }
            if let Some(inner) = paren_arg(tok, "learn") {
                return Ok(Action::Learn(Box::new(parse_learn(inner, ports)?)));
            }
            if let Some(inner) = paren_arg(tok, "ct") {
                return Ok(Action::Ct(Box::new(parse_ct(inner, ports)?)));
            }
            if let Some(inner) = paren_arg(tok, "conjunction") {
                return parse_conjunction(inner);
            }
            if tok == "ct" {
                return Ok(Action::Ct(Box::new(CtAction {
                    commit: false,
                    zone: CtZone::Value(0),
                    table: None,
                    exec: Vec::new(),
                })));
            }
            if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && arg.is_none()
            {
                // A bare port name or number is `output:` in ovs-ofctl.
                if let Ok(p) = parse_port(name, ports) {
                    return Ok(Action::Output(p));
                }
            }
            return err(format!("unknown action '{tok}'"));
        }
    })
}

/// The inside of `ct(...)`: `commit`, `zone=N` or `zone=FIELD[a..b]` (16 bits),
/// `table=N`, `exec(...)` of loads into `ct_mark`.
fn parse_ct(inner: &str, ports: &dyn PortNames) -> Result<CtAction, ParseError> {
    let mut ct = CtAction {
        commit: false,
        zone: CtZone::Value(0),
        table: None,
        exec: Vec::new(),
    };
    for arg in split_top(inner) {
        if arg == "commit" {
            ct.commit = true;
        } else if let Some(z) = arg.strip_prefix("zone=") {
            ct.zone = match parse_int(z) {
                Some(n) => CtZone::Value(
                    u16::try_from(n).map_err(|_| ParseError(format!("bad ct zone '{z}'")))?,
                ),
                None => {
                    let r = parse_field_range(z)?;
                    if r.bits != 16 {
                        return err(format!("a ct zone field must be 16 bits wide: '{z}'"));
                    }
                    CtZone::Field(r)
                }
            };
        } else if let Some(t) = arg.strip_prefix("table=") {
            ct.table = Some(parse_table_num(t)?);
        } else if let Some(e) = paren_arg(arg, "exec") {
            ct.exec = parse_actions(e, ports)?;
            let ok = ct
                .exec
                .iter()
                .all(|a| matches!(a, Action::Load { dst, .. } if dst.field == Field::CtMark));
            if !ok {
                return err(format!("ct exec() takes only loads into ct_mark: '{e}'"));
            }
        } else {
            return err(format!("unknown ct argument '{arg}'"));
        }
    }
    if !ct.exec.is_empty() && !ct.commit {
        return err("ct exec() needs commit");
    }
    Ok(ct)
}

/// The inside of `conjunction(id,k/n)`: 2 <= n <= 64, 1 <= k <= n.
fn parse_conjunction(inner: &str) -> Result<Action, ParseError> {
    let bad = || ParseError(format!("bad conjunction '({inner})': want (id,k/n)"));
    let (id, kn) = inner.split_once(',').ok_or_else(bad)?;
    let (k, n) = kn.split_once('/').ok_or_else(bad)?;
    let id = parse_int(id)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(bad)?;
    let k = k.trim().parse::<u8>().map_err(|_| bad())?;
    let n = n.trim().parse::<u8>().map_err(|_| bad())?;
    if !(2..=64).contains(&n) || k == 0 || k > n {
        return Err(bad());
    }
    Ok(Action::Conjunction {
        id,
        clause: k,
        n_clauses: n,
    })
}

fn check_width(tok: &str, value: u128, dst: FieldRange) -> Result<(), ParseError> {
    if dst.bits < 128 && value >> dst.bits != 0 {
        return err(format!("value does not fit in {} bits: '{tok}'", dst.bits));
    }
    Ok(())
}

fn parse_learn(inner: &str, ports: &dyn PortNames) -> Result<LearnSpec, ParseError> {
    let mut spec = LearnSpec::default();
    for tok in split_top(inner) {
        if let Some(v) = tok.strip_prefix("load:") {
            let Some((src, dst)) = v.split_once("->") else {
                return err(format!("bad learn load '{tok}'"));
            };
            let dst = parse_field_range(dst)?;
            let src = if src.contains('[') || Field::by_any_name(src).is_some() {
                let s = parse_field_range(src)?;
                if s.bits != dst.bits {
                    return err(format!("learn load between different widths: '{tok}'"));
                }
                LearnSrc::Field(s)
            } else {
                let v =
                    parse_int(src).ok_or_else(|| ParseError(format!("bad value in '{tok}'")))?;
                check_width(tok, v, dst)?;
                LearnSrc::Value(v)
            };
            spec.items.push(LearnItem::Load { dst, src });
            continue;
        }
        if let Some(v) = tok.strip_prefix("output:") {
            spec.items.push(LearnItem::Output {
                src: parse_field_range(v)?,
            });
            continue;
        }
        if let Some((k, v)) = tok.split_once('=') {
            let num = || {
                parse_int(v)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| ParseError(format!("bad value in learn '{tok}'")))
            };
            match k {
                "table" => spec.table = parse_table_num(v)?,
                "priority" => spec.priority = u16_of(k, v)?,
                "idle_timeout" => spec.idle_timeout = u16_of(k, v)?,
                "hard_timeout" => spec.hard_timeout = u16_of(k, v)?,
                "cookie" => spec.cookie = num()?,
                "fin_idle_timeout" | "fin_hard_timeout" => {}
                _ => {
                    // FIELD[]=SRC[] or FIELD=VALUE
                    let dst = parse_field_range(k)?;
                    let src = if v.contains('[') {
                        let s = parse_field_range(v)?;
                        if s.bits != dst.bits {
                            return err(format!("learn match between different widths: '{tok}'"));
                        }
                        LearnSrc::Field(s)
                    } else {
                        LearnSrc::Value(parse_field_value(dst.field, v, ports)?)
                    };
                    spec.items.push(LearnItem::Match { dst, src });
                }
            }
            continue;
        }
        // FIELD[range] alone: match the field on its current value.
        let r = parse_field_range(tok)?;
        spec.items.push(LearnItem::Match {
            dst: r,
            src: LearnSrc::Field(r),
        });
    }
    Ok(spec)
}
