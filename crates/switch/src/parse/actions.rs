//! Action lists in the ovs-ofctl syntax: outputs, header changes, resubmit, `ct()`,
//! `conjunction`, `learn()`.

use super::*;

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
                    dst.field
                        .is_register()
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
