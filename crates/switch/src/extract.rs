//! Reduces a frame (and its tunnel metadata) to a [`FlowKey`].

use crate::field::{Field, FlowKey};
use wire::ether::*;

/// Outer-header facts of a frame that arrived through a tunnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelMeta {
    pub id: u64,
    pub src: u32,
    pub dst: u32,
}

/// Extracts the key; `in_port` is filled in by the switch. Truncated headers leave the
/// deeper fields zero, as in Open vSwitch.
#[inline]
pub fn flow_key(frame: &[u8], tunnel: Option<&TunnelMeta>) -> FlowKey {
    let mut k = FlowKey::default();
    extract(&mut k, frame, tunnel);
    k
}

/// [`flow_key`] into a key the caller holds (all zero to begin with).
#[inline]
pub(crate) fn extract(k: &mut FlowKey, frame: &[u8], tunnel: Option<&TunnelMeta>) {
    if let Some(t) = tunnel {
        k.set(Field::TunId, t.id.into());
        k.set(Field::TunSrc, t.src.into());
        k.set(Field::TunDst, t.dst.into());
    }
    if frame.len() < ETH_HLEN {
        return;
    }
    k.set(Field::DlDst, mac_at(frame, 0).into());
    k.set(Field::DlSrc, mac_at(frame, 6).into());
    let mut off = 12;
    let mut ty = be16(frame, off);
    if matches!(ty, ETH_P_VLAN | ETH_P_QINQ) {
        if frame.len() < off + 6 {
            return;
        }
        k.set(Field::VlanTci, u128::from(be16(frame, off + 2) | 0x1000));
        off += 4;
        ty = be16(frame, off);
    }
    off += 2;
    k.set(Field::DlType, ty.into());
    let l3 = &frame[off..];
    match ty {
        ETH_P_IPV4 => ipv4(k, l3),
        ETH_P_IPV6 => ipv6(k, l3),
        ETH_P_ARP => arp(k, l3),
        _ => {}
    }
}

/// The MAC at `off` as a number (as `MacAddr::to_u64`); the caller checked the length.
#[inline(always)]
fn mac_at(p: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(m) = p.get(off..off + 6) {
        b[2..].copy_from_slice(m);
    }
    u64::from_be_bytes(b)
}

fn ipv4(k: &mut FlowKey, p: &[u8]) {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    k.set(Field::NwTos, p[1].into());
    k.set(Field::NwTtl, p[8].into());
    k.set(Field::NwProto, p[9].into());
    k.set(Field::NwSrc, be32(p, 12).into());
    k.set(Field::NwDst, be32(p, 16).into());
    let frag_off = be16(p, 6) & 0x1fff;
    if frag_off != 0 || ihl < 20 || p.len() < ihl {
        return; // later fragments carry no L4 header
    }
    l4(k, p[9], &p[ihl..]);
}

fn ipv6(k: &mut FlowKey, p: &[u8]) {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return;
    }
    let tc = ((be16(p, 0) >> 4) & 0xff) as u8;
    k.set(Field::NwTos, tc.into());
    k.set(Field::NwTtl, p[7].into());
    k.set(Field::NwProto, p[6].into());
    let mut src = [0u8; 16];
    src.copy_from_slice(&p[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&p[24..40]);
    k.set(Field::Ipv6Src, u128::from_be_bytes(src));
    k.set(Field::Ipv6Dst, u128::from_be_bytes(dst));
    l4(k, p[6], &p[40..]);
}

fn l4(k: &mut FlowKey, proto: u8, p: &[u8]) {
    match proto {
        IPPROTO_TCP | IPPROTO_UDP if p.len() >= 4 => {
            k.set(Field::TpSrc, be16(p, 0).into());
            k.set(Field::TpDst, be16(p, 2).into());
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if p.len() >= 2 => {
            k.set(Field::IcmpType, p[0].into());
            k.set(Field::IcmpCode, p[1].into());
        }
        _ => {}
    }
}

fn arp(k: &mut FlowKey, p: &[u8]) {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if p.len() < 28 || be16(p, 0) != 1 || be16(p, 2) != ETH_P_IPV4 || p[4] != 6 || p[5] != 4 {
        return;
    }
    let op = be16(p, 6);
    if op <= 0xff {
        k.set(Field::ArpOp, op.into());
    }
    k.set(Field::ArpSha, mac_at(p, 8).into());
    k.set(Field::ArpSpa, be32(p, 14).into());
    k.set(Field::ArpTha, mac_at(p, 18).into());
    k.set(Field::ArpTpa, be32(p, 24).into());
}
