//! Applies the header changes that actions made to a packet's key back to its bytes:
//! VLAN push/pop/modify, Ethernet addresses and ARP fields.

use crate::field::{Field, FlowKey};
use wire::PacketBuf;
use wire::ether::{ETH_HLEN, ETH_P_ARP, ETH_P_VLAN, VLAN_HLEN, be16};

/// Rewrites `pkt`, whose headers are described by `orig`, so they match `new`.
pub fn apply(pkt: &mut PacketBuf, orig: &FlowKey, new: &FlowKey) {
    let (old_tci, new_tci) = (
        orig.get(Field::VlanTci) as u16,
        new.get(Field::VlanTci) as u16,
    );
    if old_tci != new_tci {
        let (old_on, new_on) = (old_tci & 0x1000 != 0, new_tci & 0x1000 != 0);
        let wire_tci = new_tci & !0x1000;
        match (old_on, new_on) {
            (true, true) => {
                pkt.set_vlan_tci(wire_tci);
            }
            (true, false) => {
                pkt.pop_vlan();
            }
            (false, true) => pkt.push_vlan(ETH_P_VLAN, wire_tci),
            (false, false) => {}
        }
    }
    if pkt.len() < ETH_HLEN {
        return;
    }
    for (f, off) in [(Field::DlDst, 0usize), (Field::DlSrc, 6)] {
        let v = new.get(f) as u64;
        if orig.get(f) as u64 != v {
            pkt.data_mut()[off..off + 6].copy_from_slice(&wire::MacAddr::from_u64(v).0);
        }
    }
    if new.get(Field::DlType) as u16 == ETH_P_ARP {
        arp(pkt, orig, new);
    }
}

fn arp(pkt: &mut PacketBuf, orig: &FlowKey, new: &FlowKey) {
    let d = pkt.data_mut();
    let mut off = 12;
    if be16(d, off) == ETH_P_VLAN {
        off += VLAN_HLEN;
    }
    off += 2;
    if d.len() < off + 28 {
        return;
    }
    let a = &mut d[off..off + 28];
    if orig.get(Field::ArpOp) != new.get(Field::ArpOp) {
        a[6..8].copy_from_slice(&(new.get(Field::ArpOp) as u16).to_be_bytes());
    }
    for (f, at) in [(Field::ArpSha, 8usize), (Field::ArpTha, 18)] {
        if orig.get(f) != new.get(f) {
            a[at..at + 6].copy_from_slice(&wire::MacAddr::from_u64(new.get(f) as u64).0);
        }
    }
    for (f, at) in [(Field::ArpSpa, 14usize), (Field::ArpTpa, 24)] {
        if orig.get(f) != new.get(f) {
            a[at..at + 4].copy_from_slice(&(new.get(f) as u32).to_be_bytes());
        }
    }
}
