//! Cutting a TCP super-frame into smaller super-frames at segment boundaries,
//! without touching the payload.
//!
//! A super-frame handed on with GSO intact (to a TAP that takes UDP-tunnel GSO) must
//! fit, with the tunnel's outer headers, in one IP packet's 16-bit length; a TAP lets
//! a VM send slightly more than that. [`split`] writes, for each part, a copy of the
//! frame's headers fixed up for that part — IP length (and IPv4 id and header
//! checksum), TCP sequence number, flags, and the checksum field left partial (the
//! folded pseudo-header sum, as CHECKSUM_PARTIAL wants) — and says which payload
//! bytes follow them. Headers and payload slices can then be written together.

use std::ops::Range;

use crate::csum::pseudo_sum;
use crate::frame::{TcpFrame, tcp_frame};
use crate::gso;
use crate::segment::{Segmenter, TcpChecksum};
use wire::WireError;
use wire::checksum;
use wire::ipv6;
use wire::virtio::{GSO_ECN, VirtioNetHdr};

/// How a super-frame was cut: every part's headers are `header_len` bytes, part `i`'s
/// are at `i * header_len` in the output, followed by `payload(i)` of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub frame: TcpFrame,
    pub parts: usize,
    /// Segments (of `mss` payload bytes) in each part but maybe the last.
    pub segments_per_part: usize,
    mss: usize,
    len: usize,
}

impl Split {
    /// Bytes of each part's headers (the frame's headers).
    pub fn header_len(&self) -> usize {
        self.frame.payload
    }

    /// Part `i`'s payload, as a range of the frame.
    pub fn payload(&self, i: usize) -> Range<usize> {
        let per = self.segments_per_part * self.mss;
        let start = (self.frame.payload + i * per).min(self.len);
        start..(start + per).min(self.len)
    }
}

/// Cuts `frame` (a TCP super-frame of `mss`-byte segments) into parts of at most
/// `max_len` bytes each (headers included; at least one segment per part), appending
/// each part's headers to `out`.
pub fn split(
    frame: &[u8],
    mss: usize,
    max_len: usize,
    out: &mut Vec<u8>,
) -> Result<Split, WireError> {
    let sg = Segmenter::new(frame, mss)?;
    let hl = sg.h.payload;
    let per = (max_len.saturating_sub(hl) / mss).max(1);
    let sp = Split {
        frame: sg.h,
        parts: sg.n.div_ceil(per),
        segments_per_part: per,
        mss,
        len: frame.len(),
    };
    for i in 0..sp.parts {
        let at = out.len();
        out.extend_from_slice(&frame[..hl]);
        let first = i * per;
        let last = (first + per).min(sg.n) - 1;
        let plen = sp.payload(i).len();
        sg.fix_run(&mut out[at..], first, last, TcpChecksum::Partial(plen));
    }
    Ok(sp)
}

/// Cuts TCP super-frame `frame` (offload state `hdr`) for a TAP that takes GSO over
/// a UDP tunnel, behind `outer` bytes of outer Ethernet, IPv4, UDP and VXLAN headers,
/// over an underlay of `mtu` bytes, the outer UDP checksum zero: each part's
/// headers are appended to `out`, and
/// every part goes with the returned offload state. None when it cannot go that way:
/// not TCP, or segments too big for the underlay (the kernel's forwarding would drop
/// them) or for the outer IPv4 length.
pub fn split_for_udp_tunnel(
    frame: &[u8],
    hdr: &VirtioNetHdr,
    outer: usize,
    mtu: usize,
    out: &mut Vec<u8>,
) -> Option<(Split, VirtioNetHdr)> {
    let mss = usize::from(hdr.gso_size);
    let h = tcp_frame(frame)?;
    let outer_ip = outer.saturating_sub(wire::ether::ETH_HLEN);
    // The outer IPv4 length must fit 16 bits.
    let max_inner = usize::from(u16::MAX).checked_sub(outer_ip)?;
    if outer_ip + h.payload + mss > mtu || h.payload + mss > max_inner {
        return None;
    }
    let sp = split(frame, mss, max_inner, out).ok()?;
    let ecn = hdr.gso_type & GSO_ECN != 0;
    Some((
        sp,
        gso::tcp_in_udp_tunnel(&sp.frame, hdr.gso_size, ecn, outer),
    ))
}

/// A TCP frame that came out of a tunnel whole — bigger than any one packet on the
/// underlay could carry, so it was never segmented (a tunnel-GSO super-frame that
/// crossed only veths): its offload state, to hand it on as a super-frame with its
/// checksum still partial. Only a frame whose checksum field holds exactly the
/// partial value (the folded pseudo-header sum) qualifies; one with a full checksum
/// (say, reassembled from IP fragments) is left to be verified as usual. The segment
/// size is what fits in a `max_segment_frame`-byte inner frame. None when it is not
/// such a frame (not TCP, inconsistent IP length, not partial, or no bigger than
/// one segment).
pub fn received_super_frame(frame: &[u8], max_segment_frame: usize) -> Option<VirtioNetHdr> {
    let h = tcp_frame(frame)?;
    let ip_len = if h.ipv6 {
        usize::from(h.ipv6(frame).payload_len()) + ipv6::HEADER_LEN
    } else {
        usize::from(h.ipv4(frame).total_len())
    };
    if h.l3 + ip_len != frame.len() {
        return None;
    }
    let mss = max_segment_frame
        .checked_sub(h.payload)
        .filter(|m| *m > 0)?;
    if frame.len() - h.payload <= mss {
        return None;
    }
    let partial = !checksum::finish(pseudo_sum(frame, &h, frame.len() - h.l4));
    if h.tcp(frame).checksum() != partial {
        return None;
    }
    Some(gso::tcp(&h, mss as u16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment_tcp;
    use wire::tcp::{CWR as TCP_CWR, FIN as TCP_FIN};

    /// An Ethernet + IPv4/IPv6 + TCP (with 12 bytes of options) super-frame.
    fn super_frame(ipv6: bool, payload: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f[0] = 2;
        f[6] = 2;
        let tcp_len = 32 + payload;
        if ipv6 {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut ip = vec![0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            ip[6] = 6;
            ip[7] = 64;
            ip[8] = 0xfd;
            ip[23] = 1;
            ip[24] = 0xfd;
            ip[39] = 2;
            f.extend_from_slice(&ip);
        } else {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
            ip[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
            ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            let c = checksum::checksum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        let mut tcp = vec![0u8; 32];
        tcp[0..2].copy_from_slice(&5001u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
        f.extend_from_slice(&tcp);
        f.extend((0..payload).map(|i| (i * 7 % 251) as u8));
        f
    }

    /// A part with its headers, checksum completed as a NIC would.
    fn completed_part(out: &[u8], sp: &Split, frame: &[u8], i: usize) -> Vec<u8> {
        let hl = sp.header_len();
        let mut p = out[i * hl..(i + 1) * hl].to_vec();
        p.extend_from_slice(&frame[sp.payload(i)]);
        let l4 = sp.frame.l4;
        let seed = u32::from(u16::from_be_bytes([p[l4 + 16], p[l4 + 17]]));
        p[l4 + 16..l4 + 18].fill(0);
        let c = checksum::finish(checksum::add(seed, &p[l4..]));
        p[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn parts_segment_exactly_like_the_whole_frame() {
        for ipv6 in [false, true] {
            let mss = 1398;
            let frame = super_frame(ipv6, 65_000, 0x18 | TCP_CWR | TCP_FIN);
            let mut out = Vec::new();
            let sp = split(&frame, mss, 30_000, &mut out).expect("splits");
            assert_eq!(sp.parts, 3, "65000 bytes in parts of 21 segments");
            assert_eq!(sp.segments_per_part, (30_000 - sp.header_len()) / mss);
            let mut whole = Vec::new();
            let n = segment_tcp(&frame, mss, 0, &mut whole).expect("segments");
            let mut from_parts = Vec::new();
            let mut count = 0;
            for i in 0..sp.parts {
                let part = completed_part(&out, &sp, &frame, i);
                assert!(part.len() <= 30_000);
                count += segment_tcp(&part, mss, 0, &mut from_parts).expect("segments");
            }
            assert_eq!(count, n);
            assert_eq!(from_parts, whole, "ipv6={ipv6}");
        }
    }

    #[test]
    fn a_frame_that_fits_is_one_part_with_a_partial_checksum() {
        let frame = super_frame(false, 10_000, 0x18);
        let mut out = Vec::new();
        let sp = split(&frame, 1448, 65_000, &mut out).expect("splits");
        assert_eq!(sp.parts, 1);
        assert_eq!(sp.payload(0), sp.header_len()..frame.len());
        let hl = sp.header_len();
        let l4 = sp.frame.l4;
        // Only the checksum field differs: it holds the folded pseudo-header sum.
        assert_eq!(out[..l4 + 16], frame[..l4 + 16]);
        assert_eq!(out[l4 + 18..hl], frame[l4 + 18..hl]);
        let ps = !checksum::finish(pseudo_sum(&frame, &sp.frame, frame.len() - l4));
        assert_eq!(u16::from_be_bytes([out[l4 + 16], out[l4 + 17]]), ps);
    }

    #[test]
    fn a_whole_super_frame_from_a_tunnel_gets_its_gso_state_back() {
        for ipv6 in [false, true] {
            let mut f = super_frame(ipv6, 20_000, 0x18);
            let l4 = if ipv6 { 54 } else { 34 };
            let h = tcp_frame(&f).expect("tcp");
            // A full checksum (not partial): left to the usual verification.
            assert!(received_super_frame(&f, 1464).is_none());
            let partial = !checksum::finish(pseudo_sum(&f, &h, f.len() - l4));
            f[l4 + 16..l4 + 18].copy_from_slice(&partial.to_be_bytes());
            let hdr = received_super_frame(&f, 1464).expect("a super-frame");
            assert_eq!(hdr.gso_size as usize, 1464 - (l4 + 32));
            assert_eq!(usize::from(hdr.csum_start), l4);
            assert_eq!(usize::from(hdr.hdr_len), l4 + 32);
            assert!(hdr.is_gso());
            // Completing the partial checksum as a NIC would gives a valid frame.
            let mut full = f.clone();
            let seed = u32::from(u16::from_be_bytes([full[l4 + 16], full[l4 + 17]]));
            full[l4 + 16..l4 + 18].fill(0);
            let c = checksum::finish(checksum::add(seed, &full[l4..]));
            full[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
            assert_eq!(
                crate::check_rx_checksum(&mut full),
                crate::RxChecksum::Valid
            );
        }
        // One segment's worth, a wrong IP length, or UDP: not a super-frame.
        let with_partial = |mut f: Vec<u8>| {
            if let Some(h) = tcp_frame(&f) {
                let p = !checksum::finish(pseudo_sum(&f, &h, f.len() - h.l4));
                f[h.l4 + 16..h.l4 + 18].copy_from_slice(&p.to_be_bytes());
            }
            f
        };
        let small = with_partial(super_frame(false, 1000, 0x18));
        assert!(received_super_frame(&small, 1464).is_none());
        let mut short = with_partial(super_frame(false, 20_000, 0x18));
        short.truncate(10_000);
        assert!(received_super_frame(&short, 1464).is_none());
        let mut udp = with_partial(super_frame(false, 20_000, 0));
        udp[14 + 9] = 17;
        assert!(received_super_frame(&udp, 1464).is_none());
    }

    #[test]
    fn non_tcp_and_zero_mss_are_refused() {
        let mut udp = super_frame(false, 100, 0);
        udp[14 + 9] = 17;
        let mut out = Vec::new();
        assert!(split(&udp, 1000, 65_000, &mut out).is_err());
        assert!(split(&super_frame(false, 100, 0), 0, 65_000, &mut out).is_err());
        assert!(out.is_empty());
    }
}
