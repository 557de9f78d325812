//! Flows: a masked match, a priority, actions, timeouts and counters.

use crate::action::Action;
use crate::field::{Field, FlowKey, KEY_WORDS};
use std::sync::Arc;

/// A masked match over the flow key. `value` is kept pre-masked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Match {
    pub value: FlowKey,
    pub mask: FlowKey,
}

impl Match {
    pub fn catch_all() -> Match {
        Match::default()
    }

    /// Adds `field == value` under `mask` (field bit numbering).
    pub fn set(&mut self, f: Field, value: u128, mask: u128) {
        let m = self.mask.get(f) | mask;
        self.mask.set(f, m);
        let v = (self.value.get(f) & !mask) | (value & mask);
        self.value.set(f, v & m);
    }

    pub fn get(&self, f: Field) -> (u128, u128) {
        (self.value.get(f), self.mask.get(f))
    }

    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        for i in 0..KEY_WORDS {
            if key.w[i] & self.mask.w[i] != self.value.w[i] {
                return false;
            }
        }
        true
    }

    /// True when every packet this match accepts is also accepted by `self`'s
    /// narrowing `other`: `other` is at least as specific as `self` (non-strict
    /// del-flows semantics).
    pub fn covers(&self, other: &Match) -> bool {
        (0..KEY_WORDS).all(|i| {
            self.mask.w[i] & other.mask.w[i] == self.mask.w[i]
                && other.value.w[i] & self.mask.w[i] == self.value.w[i]
        })
    }
}

/// Counters of a flow.
#[derive(Clone, Copy, Default, Debug)]
pub struct FlowStats {
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds (switch clock) when the flow was installed or last replaced.
    pub created: u64,
    /// Last time a packet hit the flow (idle timeout).
    pub used: u64,
}

/// One flow-table entry.
#[derive(Clone, Debug)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub matcher: Match,
    pub actions: Arc<[Action]>,
    pub stats: FlowStats,
    /// Installed by a `learn()` action rather than by a client.
    pub learned: bool,
}

impl Flow {
    /// Same table, priority and match: adding one replaces the other.
    pub fn same_rule(&self, other: &Flow) -> bool {
        self.table == other.table
            && self.priority == other.priority
            && self.matcher == other.matcher
    }

    /// The same rule with the same actions, cookie and timeouts (counters and
    /// age aside).
    pub fn same_definition(&self, other: &Flow) -> bool {
        self.same_rule(other)
            && self.actions == other.actions
            && self.cookie == other.cookie
            && self.idle_timeout == other.idle_timeout
            && self.hard_timeout == other.hard_timeout
    }

    pub fn parts(&self) -> crate::print::FlowParts<'_> {
        crate::print::FlowParts {
            table: self.table,
            priority: self.priority,
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            matcher: &self.matcher,
            actions: &self.actions,
        }
    }

    pub fn expired(&self, now: u64) -> bool {
        (self.hard_timeout != 0 && now >= self.stats.created + u64::from(self.hard_timeout) * 1000)
            || (self.idle_timeout != 0
                && now >= self.stats.used + u64::from(self.idle_timeout) * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_match() {
        let mut m = Match::catch_all();
        m.set(Field::DlDst, 0x0100_0000_0000, 0x0100_0000_0000);
        let mut k = FlowKey::default();
        k.set(Field::DlDst, 0xffff_ffff_ffff);
        assert!(m.matches(&k));
        k.set(Field::DlDst, 0xfa16_3e00_0001);
        assert!(!m.matches(&k));
    }

    #[test]
    fn covers_is_non_strict_subset() {
        let mut general = Match::catch_all();
        general.set(Field::InPort, 1, 0xffff_ffff);
        let mut specific = general;
        specific.set(Field::DlType, 0x0800, 0xffff);
        assert!(general.covers(&specific));
        assert!(!specific.covers(&general));
        assert!(Match::catch_all().covers(&general));
        let mut other = Match::catch_all();
        other.set(Field::InPort, 2, 0xffff_ffff);
        assert!(!general.covers(&other));
    }
}
