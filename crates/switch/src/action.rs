//! Actions a flow applies, in order, to the packet's key.

use crate::field::Field;
use crate::learn::LearnSpec;

/// `FIELD[start..end]` as NXM actions write it; a whole field when `bits` is its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRange {
    pub field: Field,
    pub start: u32,
    pub bits: u32,
}

impl FieldRange {
    pub fn whole(field: Field) -> FieldRange {
        FieldRange {
            field,
            start: 0,
            bits: field.span().bits,
        }
    }
    /// Mask of this range in the field's bit numbering.
    pub fn mask(&self) -> u128 {
        let m = if self.bits >= 128 {
            u128::MAX
        } else {
            (1u128 << self.bits) - 1
        };
        m << self.start
    }
    pub fn is_whole(&self) -> bool {
        self.start == 0 && self.bits == self.field.span().bits
    }
}

/// Reserved OpenFlow port numbers.
pub const OFPP_IN_PORT: u32 = 0xfff8;
pub const OFPP_NORMAL: u32 = 0xfffa;
pub const OFPP_FLOOD: u32 = 0xfffb;
pub const OFPP_ALL: u32 = 0xfffc;
pub const OFPP_LOCAL: u32 = 0xfffe;

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// output:PORT (an OpenFlow port number of this bridge).
    Output(u32),
    /// output:FIELD[] — the port number held in a field.
    OutputField(FieldRange),
    /// Send back out of the packet's input port.
    InPort,
    /// MAC-learning L2 switching per VLAN, honouring port tags.
    Normal,
    /// All ports but the input port (ignores VLANs, like OpenFlow FLOOD).
    Flood,
    /// resubmit([port],[table]): run the table with the current key, then continue.
    Resubmit {
        in_port: Option<u32>,
        table: Option<u8>,
    },
    /// goto_table:T — continue in table T after this flow's actions.
    GotoTable(u8),
    ModVlanVid(u16),
    ModVlanPcp(u8),
    StripVlan,
    PushVlan(u16),
    SetTunnel(u64),
    /// set_field/load of a constant into (part of) a field.
    Load {
        value: u128,
        dst: FieldRange,
    },
    /// move:SRC->DST
    Move {
        src: FieldRange,
        dst: FieldRange,
    },
    Learn(Box<LearnSpec>),
    /// Explicit drop (an empty action list drops too).
    Drop,
    /// Answer DHCP (and ARP for the DHCP server address) from the input port's
    /// [`crate::DhcpBinding`]; the reply leaves through the input port. The packet
    /// itself goes nowhere (unless later actions send it): answered or dropped.
    Dhcp,
    /// `ct(...)`: connection tracking (see [`CtAction`]).
    Ct(Box<CtAction>),
    /// `ct_clear`: the packet forgets its connection state.
    CtClear,
    /// `conjunction(id,k/n)`: this flow is clause `k` of `n` of conjunctive match
    /// `id`; it never matches by itself (the table looks up `conj_id=id` when
    /// every clause matches).
    Conjunction {
        id: u32,
        clause: u8,
        n_clauses: u8,
    },
}

/// Where `ct()` takes its zone from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtZone {
    Value(u16),
    Field(FieldRange),
}

/// `ct(commit,zone=..,table=N,exec(..))`.
#[derive(Clone, Debug, PartialEq)]
pub struct CtAction {
    /// Make the connection exist (and apply `exec`).
    pub commit: bool,
    pub zone: CtZone,
    /// Recirculate: the packet, with its connection state, goes on in this table
    /// (a fork: the actions after `ct` go on without the state).
    pub table: Option<u8>,
    /// Actions on the connection when committing: `load`/`set_field` into
    /// `ct_mark` only.
    pub exec: Vec<Action>,
}

impl CtAction {
    /// The mark `exec` sets: (value, mask) in ct_mark's bits.
    pub fn mark(&self) -> Option<(u32, u32)> {
        let mut out: Option<(u32, u32)> = None;
        for a in &self.exec {
            if let Action::Load { value, dst } = a
                && dst.field == crate::field::Field::CtMark
            {
                let m = dst.mask() as u32;
                let v = ((*value << dst.start) as u32) & m;
                let (ov, om) = out.unwrap_or((0, 0));
                out = Some(((ov & !m) | v, om | m));
            }
        }
        out
    }
}
