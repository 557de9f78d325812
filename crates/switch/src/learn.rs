//! learn(): a flow action that installs a flow built from the current packet, as
//! Neutron's br-tun table 10 uses it to learn remote MACs behind tunnels.

use crate::action::{Action, FieldRange};
use crate::field::FlowKey;
use crate::flow::Match;

/// Where a learned value comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LearnSrc {
    Field(FieldRange),
    Value(u128),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LearnItem {
    /// The learned flow matches `dst` equal to `src` taken from this packet.
    Match { dst: FieldRange, src: LearnSrc },
    /// The learned flow loads `src` into `dst`.
    Load { dst: FieldRange, src: LearnSrc },
    /// The learned flow outputs to the port number held in `src` now.
    Output { src: FieldRange },
}

#[derive(Clone, Debug, PartialEq)]
pub struct LearnSpec {
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub cookie: u64,
    pub items: Vec<LearnItem>,
}

impl Default for LearnSpec {
    fn default() -> Self {
        LearnSpec {
            table: 1,
            priority: 0x8000,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: 0,
            items: Vec::new(),
        }
    }
}

fn read(src: LearnSrc, key: &FlowKey, width: u32) -> u128 {
    match src {
        LearnSrc::Value(v) => v,
        LearnSrc::Field(r) => {
            let v = (key.get(r.field) & r.mask()) >> r.start;
            if width >= 128 {
                v
            } else {
                v & ((1u128 << width) - 1)
            }
        }
    }
}

impl LearnSpec {
    /// The bits of the packet's key the learned flow is made of.
    pub fn sources(&self) -> impl Iterator<Item = FieldRange> + '_ {
        self.items.iter().filter_map(|item| match *item {
            LearnItem::Match {
                src: LearnSrc::Field(r),
                ..
            }
            | LearnItem::Load {
                src: LearnSrc::Field(r),
                ..
            }
            | LearnItem::Output { src: r } => Some(r),
            _ => None,
        })
    }

    /// The match and actions of the flow this spec learns from `key`.
    pub fn instantiate(&self, key: &FlowKey) -> (Match, Vec<Action>) {
        let mut actions = Vec::new();
        let m = self.instantiate_into(key, &mut actions);
        (m, actions)
    }

    /// [`LearnSpec::instantiate`], appending the actions to a buffer the caller
    /// reuses.
    pub fn instantiate_into(&self, key: &FlowKey, actions: &mut Vec<Action>) -> Match {
        let mut m = Match::catch_all();
        for item in &self.items {
            match *item {
                LearnItem::Match { dst, src } => {
                    let v = read(src, key, dst.bits);
                    m.set(dst.field, v << dst.start, dst.mask());
                }
                LearnItem::Load { dst, src } => {
                    let v = read(src, key, dst.bits);
                    actions.push(Action::Load { value: v, dst });
                }
                LearnItem::Output { src } => {
                    let port = read(LearnSrc::Field(src), key, src.bits) as u32;
                    actions.push(Action::Output(port));
                }
            }
        }
        m
    }
}
