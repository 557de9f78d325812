//! The fast path's values as the BPF programs lay them out (bpf/fastpath.bpf.c):
//! the key of a kernel entry, its value (what to do, and the counts), the global
//! configuration, and the header an upcall carries in front of the frame.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// `struct fp_key`: 88 bytes, no implicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct FpKey {
    pub ifindex: u32,
    /// Outer source of a frame the VXLAN device received (host order).
    pub tun_src: u32,
    pub tun_id: u64,
    pub dl_dst: [u8; 6],
    pub dl_src: [u8; 6],
    /// As on the wire (big-endian).
    pub dl_type: u16,
    /// An ICMP echo's identifier (as on the wire), 0 otherwise: the key is at
    /// least as narrow as a connection's tuple, so an entry made for one echo
    /// connection never carries another's packets past the tracker.
    pub icmp_id: u16,
    /// Addresses and ports as on the wire.
    pub nw_src: u32,
    pub nw_dst: u32,
    pub nw_proto: u8,
    pub nw_tos: u8,
    pub nw_ttl: u8,
    /// Zero (the TCP flags are not part of the key: packets of one connection
    /// with different flags share an entry, so they are never reordered between
    /// the kernel and the upcall path).
    pub reserved: u8,
    pub tp_src: u16,
    pub tp_dst: u16,
    /// The 802.1Q tag the kernel took out of the frame, with 0x1000 set (as the
    /// engine's `vlan_tci`); 0 when untagged.
    pub vlan_tci: u16,
    /// Zero.
    pub pad: [u8; 6],
    /// IPv6 addresses as on the wire (`nw_src`/`nw_dst` are zero then).
    pub ipv6_src: [u8; 16],
    pub ipv6_dst: [u8; 16],
}

// SAFETY: FpKey is repr(C), made only of integers and byte arrays, and has no
// implicit padding (88 bytes: every field at its natural alignment), so any bit pattern is
// valid and the kernel's copy hashes the same bytes.
unsafe impl aya::Pod for FpKey {}

pub(crate) const KIND_DROP: u32 = 0;
pub(crate) const KIND_PEER: u32 = 1;
pub(crate) const KIND_EGRESS: u32 = 2;
pub(crate) const KIND_TUNNEL: u32 = 3;

/// `struct fp_val`: 64 bytes, no implicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FpVal {
    /// The kernel generation the entry was made in (valid while it is current).
    pub gen_: u64,
    pub packets: u64,
    pub bytes: u64,
    /// CLOCK_MONOTONIC nanoseconds of the last hit.
    pub used: u64,
    pub kind: u32,
    pub ifindex: u32,
    /// Tunnel destination (host order) and TTL, for [`KIND_TUNNEL`].
    pub tun_dst: u32,
    pub tun_ttl: u16,
    /// [`F_TRACKED`].
    pub flags: u16,
    pub tun_id: u64,
    /// The tag [`F_VLAN_PUSH`] puts on (as on the wire, without 0x1000).
    pub vlan_tci: u16,
    pub pad: [u8; 6],
}

impl FpVal {
    /// Whether two entries do the same to a packet (their counts aside).
    pub fn same_action(&self, b: &FpVal) -> bool {
        (
            self.kind,
            self.ifindex,
            self.tun_dst,
            self.tun_ttl,
            self.flags,
            self.tun_id,
            self.vlan_tci,
        ) == (
            b.kind, b.ifindex, b.tun_dst, b.tun_ttl, b.flags, b.tun_id, b.vlan_tci,
        )
    }
}

/// The decision went through connection tracking: the program sends TCP segments
/// with SYN, FIN or RST up instead.
pub(crate) const F_TRACKED: u16 = 1;
/// Before the output the program takes the frame's tag off, then puts
/// `vlan_tci` on (both: a rewrite).
pub(crate) const F_VLAN_POP: u16 = 2;
pub(crate) const F_VLAN_PUSH: u16 = 4;

// SAFETY: repr(C), integers and bytes only, no implicit padding
// (8+8+8+8+4+4+4+2+2+8+2+6 = 64).
unsafe impl aya::Pod for FpVal {}

/// `struct fp_conf`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FpConf {
    pub gen_: u64,
    pub upcall_ifindex: u32,
    /// Masks in use in `fp_masks` (slots 1..n_masks; 0 is never used).
    pub n_masks: u32,
}

// SAFETY: repr(C), integers only, no padding (8+4+4).
unsafe impl aya::Pod for FpConf {}

/// `struct fp_mkey`: a wildcarded entry's key (96 bytes): the slot of its mask
/// in `fp_masks` and a frame's key under that mask.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct FpMKey {
    pub mask: u32,
    /// Zero.
    pub pad: u32,
    pub key: FpKey,
}

// SAFETY: repr(C), a u32 pair and an FpKey (88 bytes, itself Pod, 8-aligned):
// 96 bytes without implicit padding.
unsafe impl aya::Pod for FpMKey {}

/// Mask slots of `fp_masks` (`FP_MASKS`; slot 0 is never used).
pub(crate) const MASKS: u32 = 16;

impl FpKey {
    /// The key with only the bits of `mask` (the program's `lookup_mega`).
    pub fn masked(&self, m: &FpKey) -> FpKey {
        fn and<const N: usize>(a: [u8; N], b: [u8; N]) -> [u8; N] {
            std::array::from_fn(|i| a[i] & b[i])
        }
        FpKey {
            ifindex: self.ifindex & m.ifindex,
            tun_src: self.tun_src & m.tun_src,
            tun_id: self.tun_id & m.tun_id,
            dl_dst: and(self.dl_dst, m.dl_dst),
            dl_src: and(self.dl_src, m.dl_src),
            dl_type: self.dl_type & m.dl_type,
            icmp_id: self.icmp_id & m.icmp_id,
            nw_src: self.nw_src & m.nw_src,
            nw_dst: self.nw_dst & m.nw_dst,
            nw_proto: self.nw_proto & m.nw_proto,
            nw_tos: self.nw_tos & m.nw_tos,
            nw_ttl: self.nw_ttl & m.nw_ttl,
            reserved: self.reserved & m.reserved,
            tp_src: self.tp_src & m.tp_src,
            tp_dst: self.tp_dst & m.tp_dst,
            vlan_tci: self.vlan_tci & m.vlan_tci,
            pad: and(self.pad, m.pad),
            ipv6_src: and(self.ipv6_src, m.ipv6_src),
            ipv6_dst: and(self.ipv6_dst, m.ipv6_dst),
        }
    }
}

/// Bytes the programs push in front of an upcalled frame (`struct fp_meta`).
pub(crate) const META_LEN: usize = 104;
/// "NTU2": this layout's header (the key with its VLAN).
const MAGIC: u32 = 0x4e54_5532;
const KEY_OK: u32 = 1;

/// What an upcall header says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub key: FpKey,
    /// The frame is plain IPv4 and `key` covers it: its decision may be installed.
    pub key_ok: bool,
    /// Local address of a frame the VXLAN device received (host order).
    pub tun_dst: u32,
    /// The TCP flags (0 when not TCP).
    pub tcp_flags: u8,
}

/// TCP SYN, FIN or RST: a segment that moves its connection's state.
pub(crate) const TCP_CTL: u8 = 0x01 | 0x02 | 0x04;

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_ne_bytes)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

fn addr6_at(b: &[u8], at: usize) -> [u8; 16] {
    b.get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .unwrap_or_default()
}

fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    b.get(at..at + 6)
        .and_then(|s| s.try_into().ok())
        .unwrap_or_default()
}

impl Meta {
    /// Reads the header at the start of an upcalled frame; None when it is not one.
    pub fn parse(b: &[u8]) -> Option<Meta> {
        if b.len() < META_LEN || u32_at(b, 0) != MAGIC {
            return None;
        }
        let k = 8;
        let key = FpKey {
            ifindex: u32_at(b, k),
            tun_src: u32_at(b, k + 4),
            tun_id: u64_at(b, k + 8),
            dl_dst: mac_at(b, k + 16),
            dl_src: mac_at(b, k + 22),
            dl_type: u16_at(b, k + 28),
            icmp_id: u16_at(b, k + 30),
            nw_src: u32_at(b, k + 32),
            nw_dst: u32_at(b, k + 36),
            nw_proto: b[k + 40],
            nw_tos: b[k + 41],
            nw_ttl: b[k + 42],
            reserved: b[k + 43],
            tp_src: u16_at(b, k + 44),
            tp_dst: u16_at(b, k + 46),
            vlan_tci: u16_at(b, k + 48),
            pad: [0; 6],
            ipv6_src: addr6_at(b, k + 56),
            ipv6_dst: addr6_at(b, k + 72),
        };
        Some(Meta {
            key,
            key_ok: u32_at(b, 4) & KEY_OK != 0,
            tun_dst: u32_at(b, k + 88),
            tcp_flags: u32_at(b, k + 92) as u8,
        })
    }
}

/// A tag as `ovs-dpctl` writes one: `vid=100,pcp=0`.
pub(crate) fn vlan(tci: u16) -> String {
    format!("vid={},pcp={}", tci & 0x0fff, tci >> 13)
}

fn mac(m: &[u8; 6]) -> String {
    wire::MacAddr(*m).to_string()
}

fn ip(wire_order: u32) -> Ipv4Addr {
    Ipv4Addr::from(wire_order.to_ne_bytes())
}

impl FpKey {
    /// The key as `ovs-dpctl dump-flows` writes one, with the ingress device's name.
    pub fn describe(&self, in_dev: &str) -> String {
        let mut s = format!("in_port({in_dev})");
        if self.tun_src != 0 {
            let _ = write!(
                s,
                ",tunnel(tun_id={:#x},src={})",
                self.tun_id,
                Ipv4Addr::from(self.tun_src)
            );
        }
        let _ = write!(
            s,
            ",eth(src={},dst={}),eth_type({:#06x})",
            mac(&self.dl_src),
            mac(&self.dl_dst),
            u16::from_be(self.dl_type)
        );
        if self.vlan_tci != 0 {
            let _ = write!(s, ",vlan({})", vlan(self.vlan_tci));
        }
        let v6 = u16::from_be(self.dl_type) == 0x86dd;
        if v6 {
            let _ = write!(
                s,
                ",ipv6(src={},dst={},proto={},tclass={},hlimit={})",
                std::net::Ipv6Addr::from(self.ipv6_src),
                std::net::Ipv6Addr::from(self.ipv6_dst),
                self.nw_proto,
                self.nw_tos,
                self.nw_ttl
            );
        } else {
            let _ = write!(
                s,
                ",ipv4(src={},dst={},proto={},tos={},ttl={})",
                ip(self.nw_src),
                ip(self.nw_dst),
                self.nw_proto,
                self.nw_tos,
                self.nw_ttl
            );
        }
        match self.nw_proto {
            6 => {
                let _ = write!(
                    s,
                    ",tcp(src={},dst={})",
                    u16::from_be(self.tp_src),
                    u16::from_be(self.tp_dst)
                );
            }
            17 => {
                let _ = write!(
                    s,
                    ",udp(src={},dst={})",
                    u16::from_be(self.tp_src),
                    u16::from_be(self.tp_dst)
                );
            }
            58 if v6 => {
                let _ = write!(s, ",icmpv6(type={},code={}", self.tp_src, self.tp_dst);
                if matches!(self.tp_src, 128 | 129) {
                    let _ = write!(s, ",id={}", u16::from_be(self.icmp_id));
                }
                s.push(')');
            }
            1 if !v6 => {
                let _ = write!(s, ",icmp(type={},code={}", self.tp_src, self.tp_dst);
                if matches!(self.tp_src, 0 | 8) {
                    let _ = write!(s, ",id={}", u16::from_be(self.icmp_id));
                }
                s.push(')');
            }
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_programs() {
        assert_eq!(std::mem::size_of::<FpKey>(), 88);
        assert_eq!(std::mem::size_of::<FpVal>(), 64);
        assert_eq!(std::mem::size_of::<FpConf>(), 16);
    }

    #[test]
    fn an_upcall_header_is_read_field_by_field() {
        let mut b = vec![0u8; META_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_ne_bytes());
        b[4..8].copy_from_slice(&1u32.to_ne_bytes());
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        b[24..30].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        b[36..38].copy_from_slice(&0x0800u16.to_be_bytes());
        b[40..44].copy_from_slice(&[10, 0, 0, 1]);
        b[48] = 6;
        b[52..54].copy_from_slice(&80u16.to_be_bytes());
        b[56..58].copy_from_slice(&0x1064u16.to_ne_bytes());
        b[64] = 0xfd;
        b[95] = 1;
        b[96..100].copy_from_slice(&0x0a00_0001u32.to_ne_bytes());
        b[100] = 0x02;
        let m = Meta::parse(&b).expect("a header");
        assert_eq!(m.key.vlan_tci, 0x1064);
        assert_eq!(m.tun_dst, 0x0a00_0001);
        assert_eq!(m.tcp_flags, 0x02);
        assert!(m.key.describe("vm1").contains(",vlan(vid=100,pcp=0),"));
        assert_eq!(m.key.ipv6_src[0], 0xfd);
        assert_eq!(m.key.ipv6_dst[15], 1);
        assert!(m.key_ok);
        assert_eq!(m.key.ifindex, 7);
        assert_eq!(m.key.dl_dst, [2, 0, 0, 0, 0, 2]);
        assert_eq!(u16::from_be(m.key.dl_type), 0x0800);
        assert_eq!(ip(m.key.nw_src), Ipv4Addr::new(10, 0, 0, 1));
        assert!(m.key.describe("vm1").contains("tcp(src=80,dst=0)"));
        b[0] = 0;
        assert!(Meta::parse(&b).is_none());
        assert!(Meta::parse(&b[..10]).is_none());
    }
}
