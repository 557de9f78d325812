//! Checksum state: pseudo-header sums, the receive check of a frame out of a tunnel,
//! and completing a CHECKSUM_PARTIAL frame.

use crate::frame::{TcpFrame, l4_offsets};
use wire::checksum;
use wire::ether::{IPPROTO_TCP, IPPROTO_UDP};
use wire::virtio::{F_NEEDS_CSUM, VirtioNetHdr};
use wire::{tcp, udp};

/// The TCP pseudo-header sum for a segment of `tcp_len` bytes.
pub(crate) fn pseudo_sum(f: &[u8], h: &TcpFrame, tcp_len: usize) -> u32 {
    pseudo_sum_proto(f, h, tcp_len, IPPROTO_TCP)
}

/// The pseudo-header sum for `len` bytes of protocol `proto`, not folded.
pub(crate) fn pseudo_sum_proto(f: &[u8], h: &TcpFrame, len: usize, proto: u8) -> u32 {
    if h.ipv6 {
        let s = checksum::add(0, h.ipv6(f).addrs());
        let s = s
            .wrapping_add((len >> 16) as u32)
            .wrapping_add((len & 0xffff) as u32);
        s.wrapping_add(u32::from(proto))
    } else {
        let s = checksum::add(0, h.ipv4(f).addrs());
        s.wrapping_add(len as u32).wrapping_add(u32::from(proto))
    }
}

/// Folds a running sum to 16 bits, not complemented: what a CHECKSUM_PARTIAL
/// checksum field holds.
pub(crate) fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// What [`check_rx_checksum`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxChecksum {
    /// The TCP/UDP checksum verifies (or IPv4 UDP without a checksum).
    Valid,
    /// The field held only the pseudo-header sum (a sender that left the checksum to
    /// an offload that never ran, as a veth underlay does): completed in place.
    Completed,
    /// Wrong: the frame is corrupt.
    Bad,
    /// Not TCP/UDP over IPv4/IPv6, or an IP fragment: nothing checked.
    NotChecked,
}

/// Verifies the inner TCP/UDP checksum of a frame that came out of a tunnel, and
/// completes it when the sender left it partial.
pub fn check_rx_checksum(f: &mut [u8]) -> RxChecksum {
    let Some((l3, l4, ipv6, proto)) = l4_offsets(f) else {
        return RxChecksum::NotChecked;
    };
    let field = l4
        + if proto == IPPROTO_TCP {
            tcp::field::CHECKSUM.start
        } else {
            udp::field::CHECKSUM.start
        };
    if f.len() < field + 2 {
        return RxChecksum::NotChecked;
    }
    let l4_len = f.len() - l4;
    if !ipv6 && proto == IPPROTO_UDP && f[field..field + 2] == [0, 0] {
        return RxChecksum::Valid;
    }
    let h = TcpFrame {
        l3,
        l4,
        payload: l4,
        ipv6,
    };
    let pseudo = pseudo_sum_proto(f, &h, l4_len, proto);
    if checksum::finish(checksum::add(pseudo, &f[l4..])) == 0 {
        return RxChecksum::Valid;
    }
    if f[field..field + 2] != fold(pseudo).to_be_bytes() {
        return RxChecksum::Bad;
    }
    f[field..field + 2].fill(0);
    let mut c = checksum::finish(checksum::add(pseudo, &f[l4..]));
    if c == 0 && proto == IPPROTO_UDP {
        c = 0xffff;
    }
    f[field..field + 2].copy_from_slice(&c.to_be_bytes());
    RxChecksum::Completed
}

/// Finishes the checksum of a frame whose header says NEEDS_CSUM. False when the
/// header's offsets do not fit the frame.
pub fn complete_checksum(f: &mut [u8], hdr: &VirtioNetHdr) -> bool {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return true;
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > f.len() || start > f.len() {
        return false;
    }
    let mut c = checksum::finish(checksum::add(0, &f[start..]));
    if c == 0 {
        c = 0xffff; // zero means "no checksum" for UDP; equivalent for TCP
    }
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}
