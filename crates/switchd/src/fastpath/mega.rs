//! Wildcarded kernel entries (megaflows): an untracked decision is installed
//! not for its frame's exact key but for every frame equal to it under the bits
//! the engine read ([`switch::Megaflow`]), so a new flow the engine would decide
//! alike (another source port, another client of the same rule) never goes up.
//!
//! The program keeps the masks in `fp_masks` (slots 1..[`MASKS`], at most
//! fifteen distinct masks at a time, as few as the pipeline's shapes need) and
//! the entries in `fp_mega`, keyed by slot and masked key, and looks a frame up
//! there mask by mask before `fp_flows2` (a flow that takes a wildcarded entry
//! has no exact one: looking the exact key up first cost every such frame a
//! miss, measurably: docs/performance.md). Every entry is right for every
//! frame it covers, so overlapping entries agree.
//! A decision that went through `ct()` stays exact (its packets' verdicts
//! depend on their connection), and so does one whose mask reads a field the
//! program's key lacks, or when the mask slots are full.

use super::kernel::{FpKey, FpMKey, FpVal, MASKS};
use super::{FastPath, Record};
use std::net::{Ipv4Addr, Ipv6Addr};
use switch::{Field, Megaflow, Switch};
use tracing::warn;

/// The program's mask for an engine megaflow of a first pass, or None when the
/// engine read a field the program's key does not carry. Fields are kept whole
/// when any of their bits was read, except IPv4 addresses, whose prefixes stay.
pub(super) fn fp_mask(m: &Megaflow) -> Option<FpKey> {
    let read = |f: Field| m.mask.get(f) != 0;
    // The tunnel's local address is not in the program's key.
    if read(Field::TunDst) {
        return None;
    }
    let ones = |f: Field, n: u64| if read(f) { n } else { 0 };
    let prefix = |f: Field| u32::from_ne_bytes((m.mask.get(f) as u32).to_be_bytes());
    let bytes = |f: Field| if read(f) { [0xff; 16] } else { [0; 16] };
    let mac = |f: Field| if read(f) { [0xff; 6] } else { [0; 6] };
    Some(FpKey {
        ifindex: u32::MAX,
        tun_src: ones(Field::TunSrc, u64::MAX) as u32,
        tun_id: ones(Field::TunId, u64::MAX),
        dl_dst: mac(Field::DlDst),
        dl_src: mac(Field::DlSrc),
        dl_type: ones(Field::DlType, 0xffff) as u16,
        icmp_id: 0,
        nw_src: prefix(Field::NwSrc),
        nw_dst: prefix(Field::NwDst),
        nw_proto: ones(Field::NwProto, 0xff) as u8,
        nw_tos: ones(Field::NwTos, 0xff) as u8,
        nw_ttl: ones(Field::NwTtl, 0xff) as u8,
        reserved: 0,
        tp_src: ones(Field::TpSrc, 0xffff) as u16,
        tp_dst: ones(Field::TpDst, 0xffff) as u16,
        vlan_tci: ones(Field::VlanTci, 0xffff) as u16,
        pad: [0; 6],
        ipv6_src: bytes(Field::Ipv6Src),
        ipv6_dst: bytes(Field::Ipv6Dst),
    })
}

/// The mask slots: which mask each holds and how many entries use it.
#[derive(Default)]
pub(super) struct MaskSlots {
    slots: [Option<(FpKey, usize)>; MASKS as usize],
}

impl MaskSlots {
    fn find(&self, mask: &FpKey) -> Option<u32> {
        (1..MASKS).find(|&i| matches!(&self.slots[i as usize], Some((m, _)) if m == mask))
    }

    fn free(&self) -> Option<u32> {
        (1..MASKS).find(|&i| self.slots[i as usize].is_none())
    }

    /// Slots the program must look at: one past the highest in use.
    pub(super) fn n(&self) -> u32 {
        (1..MASKS)
            .rev()
            .find(|&i| self.slots[i as usize].is_some())
            .map_or(0, |i| i + 1)
    }
}

impl FastPath {
    /// Installs `val` for every frame `key` stands for under the decision's
    /// first-pass megaflow. False when it cannot (the caller installs the
    /// exact key instead).
    pub(super) fn install_mega(
        &mut self,
        sw: &mut Switch,
        key: &FpKey,
        val: FpVal,
        record: Record,
        now: u64,
    ) -> bool {
        let [pass] = record.offer.passes() else {
            return false;
        };
        let Some(mask) = fp_mask(pass) else {
            return false;
        };
        let Some(slot) = self.mask_slot(&mask) else {
            return false;
        };
        // An exact entry for this key (stale, or of an earlier decision) goes,
        // its counts to the flows.
        self.forget(sw, key, now);
        let mk = FpMKey {
            mask: slot,
            pad: 0,
            key: key.masked(&mask),
        };
        if let Some(mut r) = self.mega_records.remove(&mk) {
            // The entry's record holds the slot already: this one's use goes
            // back. A current entry doing the same was raced up by another
            // frame; an older one (another generation) has its counts given to
            // the flows and is replaced.
            self.release_slot(slot);
            if let Ok(old) = self.mega.get(&mk, 0) {
                if old.gen_ == val.gen_ && old.same_action(&val) {
                    self.mega_records.insert(mk, r);
                    return true;
                }
                super::credit_record(sw, &mut r, &old, now);
            }
        }
        // The record holds the slot; removing it gives the slot back.
        self.mega_records.insert(mk, record);
        if let Err(e) = self.mega.insert(mk, val, 0) {
            tracing::debug!("fast path: installing a wildcarded entry: {e}");
            self.remove_mega(&mk);
            return false;
        }
        self.installed += 1;
        self.installed_mega += 1;
        true
    }

    /// Masks the wildcarded entries use now.
    pub fn masks_in_use(&self) -> usize {
        self.masks.slots.iter().flatten().count()
    }

    /// The slot holding `mask` (one more user), a new one if there is room.
    fn mask_slot(&mut self, mask: &FpKey) -> Option<u32> {
        if let Some(i) = self.masks.find(mask) {
            if let Some((_, n)) = self.masks.slots[i as usize].as_mut() {
                *n += 1;
            }
            return Some(i);
        }
        let i = self.masks.free()?;
        if let Err(e) = self.masks_map.set(i, *mask, 0) {
            warn!("fast path: writing mask {i}: {e}");
            return None;
        }
        self.masks.slots[i as usize] = Some((*mask, 1));
        self.push_conf();
        Some(i)
    }

    fn release_slot(&mut self, slot: u32) {
        let Some(s) = self.masks.slots.get_mut(slot as usize) else {
            return;
        };
        if let Some((_, n)) = s.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                *s = None;
                self.push_conf();
            }
        }
    }

    pub(super) fn remove_mega(&mut self, k: &FpMKey) {
        if self.mega_records.remove(k).is_some() {
            self.release_slot(k.mask);
        }
        let _ = self.mega.remove(k);
    }

    /// The wildcarded entries' part of the revalidator: counts to the engine,
    /// and entries that are stale, idle or no longer hold deleted.
    pub(super) fn revalidate_mega(
        &mut self,
        sw: &mut Switch,
        now: u64,
        current: u64,
        idle_ns: u64,
    ) {
        let now_ns = super::monotonic_ns();
        let entries: Vec<(FpMKey, FpVal)> = self.mega.iter().filter_map(Result::ok).collect();
        let mut dead = Vec::new();
        for (k, v) in entries {
            let Some(r) = self.mega_records.get_mut(&k) else {
                dead.push(k);
                continue;
            };
            let holds = super::credit_record(sw, r, &v, now);
            let idle = now_ns.saturating_sub(v.used) > idle_ns;
            if !holds || v.gen_ != current || idle {
                dead.push(k);
            }
        }
        for k in dead {
            self.remove_mega(&k);
        }
    }

    /// `dump-datapath`'s lines for the wildcarded entries.
    pub(super) fn dump_mega(&self, lines: &mut Vec<String>) {
        for (k, v) in self.mega.iter().flatten() {
            let Some((mask, _)) = self.masks.slots.get(k.mask as usize).copied().flatten() else {
                continue;
            };
            let dev = self.dev_name(k.key.ifindex);
            lines.push(format!(
                "{}, megaflow, {}",
                describe_masked(&k.key, &mask, &dev),
                self.entry_text(&v)
            ));
        }
    }
}

/// A wildcarded entry's key as `ovs-dpctl dump-flows` writes a megaflow: only
/// the fields its mask keeps (an IPv4 address with its prefix).
fn describe_masked(k: &FpKey, m: &FpKey, in_dev: &str) -> String {
    let mut parts = vec![format!("in_port({in_dev})")];
    // (A kept but zero tunnel id and source: a frame not from a tunnel.)
    let mut tun = Vec::new();
    if m.tun_id != 0 && (k.tun_id != 0 || k.tun_src != 0) {
        tun.push(format!("tun_id={:#x}", k.tun_id));
    }
    if m.tun_src != 0 && k.tun_src != 0 {
        tun.push(format!("src={}", Ipv4Addr::from(k.tun_src)));
    }
    if !tun.is_empty() {
        parts.push(format!("tunnel({})", tun.join(",")));
    }
    let mut eth = Vec::new();
    if m.dl_src != [0; 6] {
        eth.push(format!("src={}", wire::MacAddr(k.dl_src)));
    }
    if m.dl_dst != [0; 6] {
        eth.push(format!("dst={}", wire::MacAddr(k.dl_dst)));
    }
    if !eth.is_empty() {
        parts.push(format!("eth({})", eth.join(",")));
    }
    // (An untagged frame is what a kept but zero tag means.)
    if m.vlan_tci != 0 && k.vlan_tci != 0 {
        parts.push(format!("vlan({})", super::kernel::vlan(k.vlan_tci)));
    }
    if m.dl_type != 0 {
        parts.push(format!("eth_type({:#06x})", u16::from_be(k.dl_type)));
    }
    let v6 = m.dl_type != 0 && u16::from_be(k.dl_type) == 0x86dd;
    let mut l3 = Vec::new();
    let addr = |name: &str, v: u32, mask: u32| {
        let ip = Ipv4Addr::from(v.to_ne_bytes());
        match mask.count_ones() {
            0 => None,
            32 => Some(format!("{name}={ip}")),
            n => Some(format!("{name}={ip}/{n}")),
        }
    };
    l3.extend(addr("src", k.nw_src, m.nw_src));
    l3.extend(addr("dst", k.nw_dst, m.nw_dst));
    if m.ipv6_src != [0; 16] {
        l3.push(format!("src={}", Ipv6Addr::from(k.ipv6_src)));
    }
    if m.ipv6_dst != [0; 16] {
        l3.push(format!("dst={}", Ipv6Addr::from(k.ipv6_dst)));
    }
    for (name, v, mask) in [
        ("proto", k.nw_proto, m.nw_proto),
        ("tos", k.nw_tos, m.nw_tos),
        ("ttl", k.nw_ttl, m.nw_ttl),
    ] {
        if mask != 0 {
            l3.push(format!("{name}={v}"));
        }
    }
    if !l3.is_empty() {
        parts.push(format!(
            "{}({})",
            if v6 { "ipv6" } else { "ipv4" },
            l3.join(",")
        ));
    }
    let mut l4 = Vec::new();
    let icmp = matches!(k.nw_proto, 1 | 58) && m.nw_proto != 0;
    for (name, v, mask) in [("src", k.tp_src, m.tp_src), ("dst", k.tp_dst, m.tp_dst)] {
        if mask != 0 {
            // ICMP type and code are kept as numbers, ports as on the wire.
            l4.push(format!("{name}={}", if icmp { v } else { u16::from_be(v) }));
        }
    }
    if !l4.is_empty() {
        let name = match (k.nw_proto, m.nw_proto != 0) {
            (6, true) => "tcp",
            (17, true) => "udp",
            (1 | 58, true) => "icmp",
            _ => "l4",
        };
        parts.push(format!("{name}({})", l4.join(",")));
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use switch::FlowKey;

    /// A first pass that read the input port, the IPv4 protocol, a /24 of the
    /// source and the destination port (a TCP-22-from-a-prefix rule).
    fn rule_megaflow() -> Megaflow {
        let (mut key, mut mask) = (FlowKey::default(), FlowKey::default());
        for (f, v, m) in [
            (Field::InPort, 3, 0xffff_ffff),
            (Field::DlType, 0x0800, 0xffff),
            (Field::NwProto, 6, 0xff),
            (Field::NwSrc, 0x0a00_0000, 0xffff_ff00),
            (Field::TpDst, 22, 0xffff),
        ] {
            key.set(f, v);
            mask.set(f, m);
        }
        Megaflow { key, mask }
    }

    #[test]
    fn the_programs_mask_keeps_what_the_engine_read() {
        let m = fp_mask(&rule_megaflow()).expect("a mask");
        assert_eq!(m.ifindex, u32::MAX);
        assert_eq!((m.dl_type, m.nw_proto, m.tp_dst), (0xffff, 0xff, 0xffff));
        assert_eq!(m.nw_src.to_ne_bytes(), [0xff, 0xff, 0xff, 0]);
        assert_eq!((m.tp_src, m.nw_dst, m.icmp_id), (0, 0, 0));
        assert_eq!((m.dl_src, m.vlan_tci), ([0; 6], 0));
        // Two clients of the rule, on other source ports and addresses in the
        // prefix: one wildcarded key.
        let key = |src: [u8; 4], sport: u16| FpKey {
            ifindex: 7,
            dl_type: 0x0800u16.to_be(),
            nw_proto: 6,
            nw_src: u32::from_ne_bytes(src),
            nw_dst: u32::from_ne_bytes([10, 0, 0, 9]),
            tp_src: sport.to_be(),
            tp_dst: 22u16.to_be(),
            nw_ttl: 64,
            dl_src: [0xfa, 0x16, 0x3e, 0, 0, 1],
            ..FpKey::default()
        };
        let (a, b) = (key([10, 0, 0, 5], 40_000), key([10, 0, 0, 77], 51_000));
        assert_eq!(a.masked(&m), b.masked(&m));
        assert_ne!(a.masked(&m), key([10, 0, 1, 5], 40_000).masked(&m));
        assert_eq!(
            describe_masked(&a.masked(&m), &m, "vm1"),
            "in_port(vm1),eth_type(0x0800),ipv4(src=10.0.0.0/24,proto=6),tcp(dst=22)"
        );
    }

    #[test]
    fn a_field_the_key_lacks_keeps_the_decision_exact() {
        let mut m = rule_megaflow();
        m.mask.set(Field::TunDst, 0xffff_ffff);
        assert!(fp_mask(&m).is_none());
    }

    #[test]
    fn mask_slots_count_from_one() {
        let mut s = MaskSlots::default();
        assert_eq!(s.n(), 0);
        s.slots[1] = Some((FpKey::default(), 1));
        s.slots[4] = Some((FpKey::default(), 2));
        assert_eq!(s.n(), 5);
        assert_eq!(s.free(), Some(2));
    }
}
