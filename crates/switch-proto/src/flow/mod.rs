//! Flows as typed values: what the agent builds and sends, and what switchd turns
//! into the engine's flows (resolving ports by name on the bridge they are for).
//!
//! A [`Flow`] prints in the ovs-ofctl syntax (`table=0,priority=1,in_port=patch-int,
//! actions=resubmit(,2)`), which the engine parses to the same flow: the text is for
//! operators and logs; the agent never writes it by hand.

mod field;

pub use field::{Field, FieldRange, Mac};

use crate::hex;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Display, Formatter, Write as _};
use std::net::Ipv4Addr;

/// A port of the bridge the flow is for: by name (resolved by switchd when the flow
/// is installed) or by OpenFlow number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u32),
    Name(String),
}

impl PortRef {
    pub fn name(n: &str) -> PortRef {
        PortRef::Name(n.to_string())
    }
}

impl Display for PortRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(n) => f.write_str(n),
        }
    }
}

/// The ovs-ofctl protocol shorthands (`arp` is `dl_type=0x0806`, `udp` adds
/// `nw_proto=17`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Ip,
    Arp,
    Ipv6,
    Icmp,
    Tcp,
    Udp,
    Icmp6,
    Tcp6,
    Udp6,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Arp => "arp",
            Proto::Ipv6 => "ipv6",
            Proto::Icmp => "icmp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp6 => "icmp6",
            Proto::Tcp6 => "tcp6",
            Proto::Udp6 => "udp6",
        }
    }

    /// The EtherType and IP protocol it stands for.
    pub fn parts(self) -> (u16, Option<u8>) {
        match self {
            Proto::Ip => (0x0800, None),
            Proto::Arp => (0x0806, None),
            Proto::Ipv6 => (0x86dd, None),
            Proto::Icmp => (0x0800, Some(1)),
            Proto::Tcp => (0x0800, Some(6)),
            Proto::Udp => (0x0800, Some(17)),
            Proto::Icmp6 => (0x86dd, Some(58)),
            Proto::Tcp6 => (0x86dd, Some(6)),
            Proto::Udp6 => (0x86dd, Some(17)),
        }
    }
}

/// One condition of a flow's match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    InPort(PortRef),
    Proto(Proto),
    /// The VLAN id of a tagged packet (`dl_vlan=N`).
    DlVlan(u16),
    /// The whole TCI under a mask (`vlan_tci=0x0000/0x1fff`: untagged).
    VlanTci {
        value: u16,
        mask: u16,
    },
    DlSrc(Mac),
    DlDst(Mac),
    DlDstMasked {
        mac: Mac,
        mask: Mac,
    },
    TunId(u64),
    ArpOp(u8),
    ArpSpa(Ipv4Net),
    ArpTpa(Ipv4Net),
    NwSrc(Ipv4Net),
    NwDst(Ipv4Net),
    Ipv6Src(Ipv6Net),
    Ipv6Dst(Ipv6Net),
    TpSrc(u16),
    TpDst(u16),
    /// ICMP or ICMPv6 type and code.
    IcmpType(u8),
    IcmpCode(u8),
    /// Connection state bits ([`ct_state`]): those of `mask` must be as in `set`.
    CtState {
        set: u8,
        mask: u8,
    },
    CtZone(u16),
    CtMark {
        value: u32,
        mask: u32,
    },
    /// The conjunctive match a `conjunction(id,..)` set completed.
    ConjId(u32),
    /// A register holding a port's OpenFlow number (the switch resolves the
    /// name): Neutron's firewall keeps the port it filters for in reg5.
    RegPort {
        reg: Field,
        port: PortRef,
    },
    /// Any field under a mask (registers, metadata, port ranges).
    Masked {
        field: Field,
        #[serde(with = "hex")]
        value: u128,
        #[serde(with = "hex")]
        mask: u128,
    },
}

impl Match {
    pub fn in_port(name: &str) -> Match {
        Match::InPort(PortRef::name(name))
    }

    /// One address as a match (a /32).
    pub fn host(ip: Ipv4Addr) -> Ipv4Net {
        Ipv4Net::from(ip)
    }

    /// The port this condition names, if any.
    pub fn port_name(&self) -> Option<&str> {
        match self {
            Match::InPort(PortRef::Name(n))
            | Match::RegPort {
                port: PortRef::Name(n),
                ..
            } => Some(n),
            _ => None,
        }
    }
}

fn net4(n: &Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn net6(n: &Ipv6Net) -> String {
    if n.prefix_len() == 128 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

impl Display for Match {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Match::InPort(p) => write!(f, "in_port={p}"),
            Match::Proto(p) => f.write_str(p.name()),
            Match::DlVlan(v) => write!(f, "dl_vlan={v}"),
            Match::VlanTci { value, mask } => write!(f, "vlan_tci={value:#06x}/{mask:#06x}"),
            Match::DlSrc(m) => write!(f, "dl_src={m}"),
            Match::DlDst(m) => write!(f, "dl_dst={m}"),
            Match::DlDstMasked { mac, mask } => write!(f, "dl_dst={mac}/{mask}"),
            Match::TunId(t) => write!(f, "tun_id={t:#x}"),
            Match::ArpOp(o) => write!(f, "arp_op={o}"),
            Match::ArpSpa(n) => write!(f, "arp_spa={}", net4(n)),
            Match::ArpTpa(n) => write!(f, "arp_tpa={}", net4(n)),
            Match::NwSrc(n) => write!(f, "nw_src={}", net4(n)),
            Match::NwDst(n) => write!(f, "nw_dst={}", net4(n)),
            Match::Ipv6Src(n) => write!(f, "ipv6_src={}", net6(n)),
            Match::Ipv6Dst(n) => write!(f, "ipv6_dst={}", net6(n)),
            Match::TpSrc(p) => write!(f, "tp_src={p}"),
            Match::TpDst(p) => write!(f, "tp_dst={p}"),
            Match::IcmpType(t) => write!(f, "icmp_type={t}"),
            Match::IcmpCode(c) => write!(f, "icmp_code={c}"),
            Match::CtState { set, mask } => {
                write!(f, "ct_state={}", ct_state::text(*set, *mask))
            }
            Match::CtZone(z) => write!(f, "ct_zone={z}"),
            Match::CtMark { value, mask } if *mask == u32::MAX => write!(f, "ct_mark={value:#x}"),
            Match::CtMark { value, mask } => write!(f, "ct_mark={value:#x}/{mask:#x}"),
            Match::ConjId(id) => write!(f, "conj_id={id}"),
            Match::RegPort { reg, port } => write!(f, "{}={port}", reg.name()),
            Match::Masked { field, value, mask } => {
                let full = if field.bits() >= 128 {
                    u128::MAX
                } else {
                    (1u128 << field.bits()) - 1
                };
                if *mask == full {
                    write!(f, "{}={value:#x}", field.name())
                } else {
                    write!(f, "{}={value:#x}/{mask:#x}", field.name())
                }
            }
        }
    }
}

/// What a learned flow's part takes its value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnSrc {
    Field(FieldRange),
    Value(#[serde(with = "hex")] u128),
}

/// One part of the flow a `learn()` action installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnItem {
    /// The learned flow matches `dst` equal to `src` taken from this packet.
    Match { dst: FieldRange, src: LearnSrc },
    /// The learned flow loads `src` into `dst`.
    Load { dst: FieldRange, src: LearnSrc },
    /// The learned flow outputs to the port number held in `src` now.
    Output { src: FieldRange },
}

/// `learn(...)`: the flow to install from each packet that runs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LearnSpec {
    pub table: u8,
    pub priority: u16,
    #[serde(default)]
    pub idle_timeout: u16,
    #[serde(default)]
    pub hard_timeout: u16,
    #[serde(default)]
    pub cookie: u64,
    pub items: Vec<LearnItem>,
}

/// A constant as load/learn print it: `0`, else hex.
fn value_text(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

impl Display for LearnSpec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "learn(table={}", self.table)?;
        if self.idle_timeout != 0 {
            write!(f, ",idle_timeout={}", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, ",hard_timeout={}", self.hard_timeout)?;
        }
        write!(f, ",priority={}", self.priority)?;
        if self.cookie != 0 {
            write!(f, ",cookie={:#x}", self.cookie)?;
        }
        for item in &self.items {
            match item {
                LearnItem::Match {
                    dst,
                    src: LearnSrc::Field(s),
                } if s == dst => write!(f, ",{dst}")?,
                LearnItem::Match {
                    dst,
                    src: LearnSrc::Field(s),
                } => write!(f, ",{dst}={s}")?,
                LearnItem::Match {
                    dst,
                    src: LearnSrc::Value(v),
                } => write!(f, ",{dst}={}", value_text(*v))?,
                LearnItem::Load {
                    dst,
                    src: LearnSrc::Field(s),
                } => write!(f, ",load:{s}->{dst}")?,
                LearnItem::Load {
                    dst,
                    src: LearnSrc::Value(v),
                } => write!(f, ",load:{}->{dst}", value_text(*v))?,
                LearnItem::Output { src } => write!(f, ",output:{src}")?,
            }
        }
        f.write_str(")")
    }
}

/// One action; a flow applies them in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Output(PortRef),
    /// Output to the port number held in a field.
    OutputField(FieldRange),
    /// Back out of the packet's input port.
    InPort,
    /// MAC-learning L2 switching per VLAN, honouring port tags.
    Normal,
    Flood,
    /// resubmit([port],[table]): run the table with the current key, then go on.
    Resubmit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_port: Option<PortRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<u8>,
    },
    GotoTable(u8),
    ModVlanVid(u16),
    ModVlanPcp(u8),
    StripVlan,
    PushVlan(u16),
    SetTunnel(u64),
    ModDlSrc(Mac),
    ModDlDst(Mac),
    /// A constant into (part of) a field.
    Load {
        #[serde(with = "hex")]
        value: u128,
        dst: FieldRange,
    },
    Move {
        src: FieldRange,
        dst: FieldRange,
    },
    Learn(Box<LearnSpec>),
    Drop,
    /// Answer DHCP (and ARP for the DHCP server address) from the input port's
    /// binding, back out of the input port.
    Dhcp,
    /// Connection tracking.
    Ct(Box<CtSpec>),
    /// The packet forgets its connection state.
    CtClear,
    /// A port's OpenFlow number into a register (the switch resolves the name).
    LoadPort {
        port: PortRef,
        dst: FieldRange,
    },
    /// Clause `clause` of `n_clauses` of conjunctive match `id`; a flow with these
    /// actions has no other.
    Conjunction {
        id: u32,
        clause: u8,
        n_clauses: u8,
    },
}

/// Where `ct()` takes its zone from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtZoneSrc {
    Value(u16),
    /// 16 bits of a field (Neutron: `NXM_NX_REG6[0..15]`).
    Field(FieldRange),
}

/// `ct(commit,table=N,zone=..,exec(load:..->NXM_NX_CT_MARK[]))`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CtSpec {
    #[serde(default)]
    pub commit: bool,
    /// Recirculate: the packet goes on in this table with its connection state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u8>,
    pub zone: CtZoneSrc,
    /// On commit, set the connection's mark to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<u32>,
}

impl CtSpec {
    /// `ct(table=N,zone=FIELD)`: track and go on in table N.
    pub fn track(zone: CtZoneSrc, table: u8) -> CtSpec {
        CtSpec {
            commit: false,
            table: Some(table),
            zone,
            mark: None,
        }
    }

    /// `ct(commit,zone=FIELD)`, with a mark when given.
    pub fn commit(zone: CtZoneSrc, mark: Option<u32>) -> CtSpec {
        CtSpec {
            commit: true,
            table: None,
            zone,
            mark,
        }
    }
}

/// `ct_state` bits and their text (`+trk+est-rel`), as Open vSwitch has them.
pub mod ct_state {
    pub const NEW: u8 = 0x01;
    pub const EST: u8 = 0x02;
    pub const REL: u8 = 0x04;
    pub const RPL: u8 = 0x08;
    pub const INV: u8 = 0x10;
    pub const TRK: u8 = 0x20;
    const NAMES: [(u8, &str); 6] = [
        (NEW, "new"),
        (EST, "est"),
        (REL, "rel"),
        (RPL, "rpl"),
        (INV, "inv"),
        (TRK, "trk"),
    ];

    /// `+name` for each bit of `mask` set in `set`, `-name` for the others.
    pub fn text(set: u8, mask: u8) -> String {
        let mut s = String::new();
        for (bit, name) in NAMES {
            if mask & bit != 0 {
                s.push(if set & bit != 0 { '+' } else { '-' });
                s.push_str(name);
            }
        }
        s
    }
}

impl Action {
    /// `resubmit(,table)`.
    pub fn resubmit(table: u8) -> Action {
        Action::Resubmit {
            in_port: None,
            table: Some(table),
        }
    }

    pub fn output(port: &str) -> Action {
        Action::Output(PortRef::name(port))
    }

    /// The port this action names, if any.
    pub fn port_name(&self) -> Option<&str> {
        match self {
            Action::Output(PortRef::Name(n))
            | Action::LoadPort {
                port: PortRef::Name(n),
                ..
            }
            | Action::Resubmit {
                in_port: Some(PortRef::Name(n)),
                ..
            } => Some(n),
            _ => None,
        }
    }
}

impl Display for Action {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output(p) => write!(f, "output:{p}"),
            Action::OutputField(r) => write!(f, "output:{r}"),
            Action::InPort => f.write_str("IN_PORT"),
            Action::Normal => f.write_str("NORMAL"),
            Action::Flood => f.write_str("FLOOD"),
            Action::Resubmit { in_port, table } => {
                f.write_str("resubmit(")?;
                if let Some(p) = in_port {
                    write!(f, "{p}")?;
                }
                f.write_str(",")?;
                if let Some(t) = table {
                    write!(f, "{t}")?;
                }
                f.write_str(")")
            }
            Action::GotoTable(t) => write!(f, "goto_table:{t}"),
            Action::ModVlanVid(v) => write!(f, "mod_vlan_vid:{v}"),
            Action::ModVlanPcp(p) => write!(f, "mod_vlan_pcp:{p}"),
            Action::StripVlan => f.write_str("strip_vlan"),
            Action::PushVlan(t) => write!(f, "push_vlan:{t:#06x}"),
            Action::SetTunnel(k) => write!(f, "set_tunnel:{k:#x}"),
            Action::ModDlSrc(m) => write!(f, "mod_dl_src:{m}"),
            Action::ModDlDst(m) => write!(f, "mod_dl_dst:{m}"),
            Action::Load { value, dst } => write!(f, "load:{}->{dst}", value_text(*value)),
            Action::Move { src, dst } => write!(f, "move:{src}->{dst}"),
            Action::Learn(l) => write!(f, "{l}"),
            Action::Drop => f.write_str("drop"),
            Action::Dhcp => f.write_str("dhcp"),
            Action::CtClear => f.write_str("ct_clear"),
            Action::LoadPort { port, dst } => write!(f, "load:{port}->{dst}"),
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => write!(f, "conjunction({id},{clause}/{n_clauses})"),
            Action::Ct(ct) => {
                let mut parts: Vec<String> = Vec::new();
                if ct.commit {
                    parts.push("commit".into());
                }
                if let Some(t) = ct.table {
                    parts.push(format!("table={t}"));
                }
                match ct.zone {
                    CtZoneSrc::Value(z) => parts.push(format!("zone={z}")),
                    CtZoneSrc::Field(r) => parts.push(format!("zone={r}")),
                }
                if let Some(v) = ct.mark {
                    let dst = FieldRange::whole(Field::CtMark);
                    parts.push(format!("exec(load:{}->{dst})", value_text(v.into())));
                }
                write!(f, "ct({})", parts.join(","))
            }
        }
    }
}

/// One flow-table entry as a client asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cookie: u64,
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub idle_timeout: u16,
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub hard_timeout: u16,
    /// Conditions, all of which must hold (none: every packet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Match>,
    /// Empty: drop.
    pub actions: Vec<Action>,
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

impl Flow {
    /// A flow in `table` at `priority` that matches everything and drops.
    pub fn new(table: u8, priority: u16) -> Flow {
        Flow {
            table,
            priority,
            cookie: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            matches: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Adds a condition (printed in the order added).
    pub fn when(mut self, m: Match) -> Flow {
        self.matches.push(m);
        self
    }

    /// Sets the actions.
    pub fn then(mut self, actions: impl IntoIterator<Item = Action>) -> Flow {
        self.actions = actions.into_iter().collect();
        self
    }

    /// True when the flow names the port `name` (in a match or an action): a bridge
    /// without that port refuses it.
    pub fn names_port(&self, name: &str) -> bool {
        self.matches.iter().any(|m| m.port_name() == Some(name))
            || self.actions.iter().any(|a| a.port_name() == Some(name))
    }
}

impl Display for Flow {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut s = format!("table={},priority={}", self.table, self.priority);
        if self.cookie != 0 {
            let _ = write!(s, ",cookie={:#x}", self.cookie);
        }
        if self.idle_timeout != 0 {
            let _ = write!(s, ",idle_timeout={}", self.idle_timeout);
        }
        if self.hard_timeout != 0 {
            let _ = write!(s, ",hard_timeout={}", self.hard_timeout);
        }
        for m in &self.matches {
            let _ = write!(s, ",{m}");
        }
        s.push_str(",actions=");
        if self.actions.is_empty() {
            s.push_str("drop");
        }
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{a}");
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests;
