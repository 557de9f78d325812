//! TCP segmentation and coalescing in software, and checksum completion: what the
//! switch does for a frame whose offload metadata (virtio-net header) the next hop
//! cannot take.
//!
//! - [`segment_tcp`] cuts a TSO super-frame into MSS-sized frames with correct IP
//!   lengths and IDs, TCP sequence numbers, flags and checksums (TSO in software).
//! - [`Coalescer`] merges consecutive in-order segments of one TCP flow back into a
//!   super-frame with a GSO virtio-net header (GRO in software), flushing on any gap,
//!   flag or header change.
//! - [`complete_checksum`] finishes a CHECKSUM_PARTIAL frame.

use crate::WireError;
use crate::checksum;
use crate::ether::{ETH_P_IPV4, ETH_P_IPV6, IPPROTO_TCP, be16, be32, l3_offset};
use crate::virtio::{F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, VirtioNetHdr};

pub(crate) const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
pub(crate) const TCP_CWR: u8 = 0x80;
/// Largest frame a coalesced super-frame may grow to.
pub const MAX_SUPER_FRAME: usize = 65_000;

/// Offsets of a TCP frame's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame {
    pub l3: usize,
    pub l4: usize,
    pub payload: usize,
    pub ipv6: bool,
}

/// Locates the headers of an Ethernet (optionally 802.1Q-tagged) IPv4/IPv6 TCP frame;
/// None for anything else, IPv4 fragments, IPv4 options beyond the header length
/// field's reach, or IPv6 extension headers.
pub fn tcp_frame(f: &[u8]) -> Option<TcpFrame> {
    let (l3, ty) = l3_offset(f)?;
    let (l4, ipv6) = match ty {
        ETH_P_IPV4 => {
            if f.len() < l3 + 20 || f[l3] >> 4 != 4 || f[l3 + 9] != IPPROTO_TCP {
                return None;
            }
            if be16(f, l3 + 6) & 0x3fff != 0 {
                return None; // a fragment
            }
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            (l3 + ihl, false)
        }
        ETH_P_IPV6 => {
            if f.len() < l3 + 40 || f[l3] >> 4 != 6 || f[l3 + 6] != IPPROTO_TCP {
                return None;
            }
            (l3 + 40, true)
        }
        _ => return None,
    };
    if f.len() < l4 + 20 {
        return None;
    }
    let doff = usize::from(f[l4 + 12] >> 4) * 4;
    if doff < 20 || f.len() < l4 + doff {
        return None;
    }
    Some(TcpFrame {
        l3,
        l4,
        payload: l4 + doff,
        ipv6,
    })
}

/// The TCP pseudo-header sum for a segment of `tcp_len` bytes.
pub(crate) fn pseudo_sum(f: &[u8], h: &TcpFrame, tcp_len: usize) -> u32 {
    pseudo_sum_proto(f, h, tcp_len, IPPROTO_TCP)
}

fn pseudo_sum_proto(f: &[u8], h: &TcpFrame, len: usize, proto: u8) -> u32 {
    if h.ipv6 {
        let s = checksum::add(0, &f[h.l3 + 8..h.l3 + 40]);
        let s = s
            .wrapping_add((len >> 16) as u32)
            .wrapping_add((len & 0xffff) as u32);
        s.wrapping_add(u32::from(proto))
    } else {
        let s = checksum::add(0, &f[h.l3 + 12..h.l3 + 20]);
        s.wrapping_add(len as u32).wrapping_add(u32::from(proto))
    }
}

/// Sets IP lengths (and the IPv4 header checksum) after the frame's size changed.
fn fix_ip(f: &mut [u8], h: &TcpFrame, ip_id: Option<u16>) {
    let l3 = h.l3;
    if h.ipv6 {
        let plen = (f.len() - l3 - 40) as u16;
        f[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
    } else {
        let tot = (f.len() - l3) as u16;
        f[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
        if let Some(id) = ip_id {
            f[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
        }
        f[l3 + 10..l3 + 12].fill(0);
        let c = checksum::checksum(&f[l3..h.l4]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
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
    let field = l4 + if proto == IPPROTO_TCP { 16 } else { 6 };
    if f.len() < field + 2 {
        return RxChecksum::NotChecked;
    }
    let l4_len = f.len() - l4;
    if !ipv6 && proto == crate::ether::IPPROTO_UDP && f[field..field + 2] == [0, 0] {
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
    let mut folded = pseudo;
    while folded >> 16 != 0 {
        folded = (folded & 0xffff) + (folded >> 16);
    }
    if be16(f, field) != folded as u16 {
        return RxChecksum::Bad;
    }
    f[field..field + 2].fill(0);
    let mut c = checksum::finish(checksum::add(pseudo, &f[l4..]));
    if c == 0 && proto == crate::ether::IPPROTO_UDP {
        c = 0xffff;
    }
    f[field..field + 2].copy_from_slice(&c.to_be_bytes());
    RxChecksum::Completed
}

/// (l3, l4, ipv6, proto) of an unfragmented TCP/UDP frame.
fn l4_offsets(f: &[u8]) -> Option<(usize, usize, bool, u8)> {
    let (l3, ty) = l3_offset(f)?;
    let (l4, ipv6, proto) = match ty {
        ETH_P_IPV4 if f.len() >= l3 + 20 && f[l3] >> 4 == 4 => {
            if be16(f, l3 + 6) & 0x3fff != 0 {
                return None;
            }
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            let tot = usize::from(be16(f, l3 + 2));
            // Ethernet padding would spoil the sum: only frames that end with the packet.
            if ihl < 20 || l3 + tot != f.len() {
                return None;
            }
            (l3 + ihl, false, f[l3 + 9])
        }
        ETH_P_IPV6 if f.len() >= l3 + 40 && f[l3] >> 4 == 6 => {
            if l3 + 40 + usize::from(be16(f, l3 + 4)) != f.len() {
                return None;
            }
            (l3 + 40, true, f[l3 + 6])
        }
        _ => return None,
    };
    (proto == IPPROTO_TCP || proto == crate::ether::IPPROTO_UDP).then_some((l3, l4, ipv6, proto))
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

/// How [`Segmenter::fix_run`] fills the TCP checksum field.
pub(crate) enum TcpChecksum<'a> {
    /// The full checksum over the headers and this payload.
    Full(&'a [u8]),
    /// Partial (CHECKSUM_PARTIAL): the folded pseudo-header sum for this many
    /// payload bytes, for a GSO that completes it later.
    Partial(usize),
}

/// What every segment of one super-frame shares.
pub(crate) struct Segmenter {
    pub(crate) h: TcpFrame,
    mss: usize,
    /// Segments the frame's payload makes.
    pub(crate) n: usize,
    seq: u32,
    id: u16,
    flags: u8,
}

impl Segmenter {
    pub(crate) fn new(frame: &[u8], mss: usize) -> Result<Segmenter, WireError> {
        let h =
            tcp_frame(frame).ok_or(WireError::Malformed("GSO frame is not TCP over IPv4/IPv6"))?;
        if mss == 0 {
            return Err(WireError::Malformed("GSO size 0"));
        }
        Ok(Segmenter {
            h,
            mss,
            n: (frame.len() - h.payload).div_ceil(mss).max(1),
            seq: be32(frame, h.l4 + 4),
            id: if h.ipv6 { 0 } else { be16(frame, h.l3 + 4) },
            flags: frame[h.l4 + 13],
        })
    }

    /// Segment `i`'s payload within the frame.
    fn chunk<'a>(&self, frame: &'a [u8], i: usize) -> &'a [u8] {
        let p = &frame[self.h.payload..];
        &p[(i * self.mss).min(p.len())..((i + 1) * self.mss).min(p.len())]
    }

    /// Turns `hdr`, a copy of the frame's headers, into segment `i`'s headers for
    /// `chunk`: IP length, id and checksum, TCP sequence, flags and checksum.
    fn fix_header(&self, hdr: &mut [u8], i: usize, chunk: &[u8]) {
        self.fix_run(hdr, i, i, TcpChecksum::Full(chunk));
    }

    /// Turns `hdr`, a copy of the frame's headers, into the headers of segments
    /// `first..=last` sent as one packet (or one smaller super-frame): IP length, id
    /// and checksum, TCP sequence and flags (FIN/PSH only if it ends the frame, CWR
    /// only if it starts it), and the TCP checksum as `csum` says.
    pub(crate) fn fix_run(&self, hdr: &mut [u8], first: usize, last: usize, csum: TcpChecksum) {
        let (h, hl) = (&self.h, self.h.payload);
        let (l3, l4) = (h.l3, h.l4);
        let payload_len = match csum {
            TcpChecksum::Full(chunk) => chunk.len(),
            TcpChecksum::Partial(len) => len,
        };
        if h.ipv6 {
            let plen = (hl - l3 - 40 + payload_len) as u16;
            hdr[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let tot = (hl - l3 + payload_len) as u16;
            hdr[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
            let id = self.id.wrapping_add(first as u16);
            hdr[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            hdr[l3 + 10..l3 + 12].fill(0);
            let c = checksum::checksum(&hdr[l3..l4]);
            hdr[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let seq = self.seq.wrapping_add((first * self.mss) as u32);
        hdr[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        let mut fl = self.flags;
        if last + 1 < self.n {
            fl &= !(TCP_FIN | TCP_PSH);
        }
        if first > 0 {
            fl &= !TCP_CWR;
        }
        hdr[l4 + 13] = fl;
        hdr[l4 + 16..l4 + 18].fill(0);
        let tcp_len = hl - l4 + payload_len;
        let c = match csum {
            // The TCP header is a whole number of 32-bit words: the sums chain.
            TcpChecksum::Full(chunk) => checksum::finish(checksum::add(
                checksum::add(pseudo_sum(hdr, h, tcp_len), &hdr[l4..hl]),
                chunk,
            )),
            TcpChecksum::Partial(_) => !checksum::finish(pseudo_sum(hdr, h, tcp_len)),
        };
        hdr[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    }
}

/// Cuts a TCP super-frame into segments of at most `mss` payload bytes. Each segment
/// is appended to `out` behind `prefix` zero bytes (room for an encapsulation header);
/// all but the last have the same length. Returns the number of segments.
pub fn segment_tcp(
    frame: &[u8],
    mss: usize,
    prefix: usize,
    out: &mut Vec<u8>,
) -> Result<usize, WireError> {
    let sg = Segmenter::new(frame, mss)?;
    let hl = sg.h.payload;
    for i in 0..sg.n {
        let chunk = sg.chunk(frame, i);
        let start = out.len() + prefix;
        out.resize(start, 0);
        out.extend_from_slice(&frame[..hl]);
        out.extend_from_slice(chunk);
        let (hdr, chunk) = out[start..].split_at_mut(hl);
        sg.fix_header(hdr, i, chunk);
    }
    Ok(sg.n)
}

/// Like [`segment_tcp`], but writes only each segment's headers to `out` (behind
/// `prefix` zero bytes, all the same size `prefix + h.payload`); segment `i`'s
/// payload stays in `frame`, at `h.payload + i * mss`, at most `mss` bytes. The
/// headers' lengths and checksums already cover that payload, so headers and
/// payload slices can be sent together (scatter-gather) without copying the
/// payload. Returns the number of segments and the frame's header offsets.
pub fn segment_tcp_headers(
    frame: &[u8],
    mss: usize,
    prefix: usize,
    out: &mut Vec<u8>,
) -> Result<(usize, TcpFrame), WireError> {
    let sg = Segmenter::new(frame, mss)?;
    let hl = sg.h.payload;
    for i in 0..sg.n {
        let start = out.len() + prefix;
        out.resize(start, 0);
        out.extend_from_slice(&frame[..hl]);
        sg.fix_header(&mut out[start..], i, sg.chunk(frame, i));
    }
    Ok((sg.n, sg.h))
}

/// What [`Coalescer::push`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Appended to (or started) the super-frame being built.
    Merged,
    /// Not mergeable with what is held: flush, then push again.
    Flush,
    /// Not a TCP frame: deliver it as it is.
    NotTcp,
}

/// Builds TCP super-frames from consecutive segments of one flow.
#[derive(Default)]
pub struct Coalescer {
    buf: Vec<u8>,
    h: Option<TcpFrame>,
    mss: usize,
    segs: usize,
    next_seq: u32,
    closed: bool,
}

fn mergeable_flags(fl: u8) -> bool {
    fl & (TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_CWR) == 0
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer::default()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_none()
    }

    pub fn push(&mut self, f: &[u8]) -> Pushed {
        let Some(hf) = tcp_frame(f) else {
            return Pushed::NotTcp;
        };
        let plen = f.len() - hf.payload;
        let Some(h) = self.h else {
            // Start a new super-frame with this segment.
            if plen == 0 || !mergeable_flags(f[hf.l4 + 13]) {
                return Pushed::NotTcp;
            }
            self.buf.clear();
            self.buf.extend_from_slice(f);
            self.h = Some(hf);
            self.mss = plen;
            self.segs = 1;
            self.next_seq = be32(f, hf.l4 + 4).wrapping_add(plen as u32);
            self.closed = f[hf.l4 + 13] & TCP_PSH != 0;
            return Pushed::Merged;
        };
        let a = &self.buf;
        let same_headers = hf == h
            && !self.closed
            && plen > 0
            && plen <= self.mss
            && self.buf.len() + plen <= MAX_SUPER_FRAME
            && f[..h.l3] == a[..h.l3]
            && if h.ipv6 {
                f[h.l3..h.l3 + 4] == a[h.l3..h.l3 + 4] && f[h.l3 + 6..h.l4] == a[h.l3 + 6..h.l4]
            } else {
                f[h.l3..h.l3 + 2] == a[h.l3..h.l3 + 2]
                    && f[h.l3 + 6..h.l3 + 10] == a[h.l3 + 6..h.l3 + 10]
                    && f[h.l3 + 12..h.l4] == a[h.l3 + 12..h.l4]
            }
            // ports, then ack, data offset, window, options; flags may differ in PSH only
            && f[h.l4..h.l4 + 4] == a[h.l4..h.l4 + 4]
            && be32(f, h.l4 + 4) == self.next_seq
            && f[h.l4 + 8..h.l4 + 13] == a[h.l4 + 8..h.l4 + 13]
            && (f[h.l4 + 13] & !TCP_PSH) == (a[h.l4 + 13] & !TCP_PSH)
            && f[h.l4 + 14..h.l4 + 16] == a[h.l4 + 14..h.l4 + 16]
            && f[h.l4 + 20..h.payload] == a[h.l4 + 20..h.payload];
        if !same_headers {
            return Pushed::Flush;
        }
        self.buf.extend_from_slice(&f[h.payload..]);
        self.segs += 1;
        self.next_seq = self.next_seq.wrapping_add(plen as u32);
        if f[h.l4 + 13] & TCP_PSH != 0 {
            self.buf[h.l4 + 13] |= TCP_PSH;
            self.closed = true;
        }
        if plen < self.mss {
            self.closed = true;
        }
        Pushed::Merged
    }

    /// Hands out the super-frame (in `out`) and its offload header; None when empty.
    /// A single segment comes out unchanged with an empty header.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Option<VirtioNetHdr> {
        let hdr = self.finish()?;
        out.clear();
        out.extend_from_slice(&self.buf);
        Some(hdr)
    }

    /// Like [`Coalescer::flush`], straight into a packet buffer (one copy less on
    /// the receive path).
    pub fn flush_into(&mut self, out: &mut crate::PacketBuf) -> Option<VirtioNetHdr> {
        let hdr = self.finish()?;
        out.set_from(&self.buf);
        Some(hdr)
    }

    /// Fixes the held super-frame's headers in place; its offload state.
    fn finish(&mut self) -> Option<VirtioNetHdr> {
        let h = self.h.take()?;
        if self.segs == 1 {
            return Some(VirtioNetHdr::default());
        }
        let out = &mut self.buf;
        fix_ip(out, &h, None);
        let tcp_len = out.len() - h.l4;
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
        let mut s = pseudo_sum(out, &h, tcp_len);
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        out[h.l4 + 16..h.l4 + 18].copy_from_slice(&(s as u16).to_be_bytes());
        Some(VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if h.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: h.payload as u16,
            gso_size: self.mss as u16,
            csum_start: h.l4 as u16,
            csum_offset: 16,
        })
    }
}
