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
                    f.is_register()
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

mod actions;
pub use actions::parse_actions;
