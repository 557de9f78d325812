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
}
