//! TCP coalescing in software (GRO): consecutive in-order segments of one flow
//! merged back into a super-frame with a GSO virtio-net header, flushed on any gap,
//! flag or header change.

use crate::csum::{fold, pseudo_sum};
use crate::frame::{TcpFrame, tcp_frame};
use crate::gso;
use wire::PacketBuf;
use wire::ipv4::field as ip4;
use wire::ipv6::{self, field as ip6};
use wire::tcp::{CWR, FIN, PSH, RST, SYN, URG, field as tf};
use wire::virtio::VirtioNetHdr;

/// Largest frame a coalesced super-frame may grow to.
pub const MAX_SUPER_FRAME: usize = 65_000;

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
    fl & (FIN | SYN | RST | URG | CWR) == 0
}

/// True when segment `f` may follow super-frame `a` (both with headers `h`): the
/// same Ethernet header, the same IP header but for the lengths, the IPv4 id and
/// checksum, and the same TCP header but for the sequence number, PSH and the
/// checksum.
fn same_headers(f: &[u8], a: &[u8], h: &TcpFrame) -> bool {
    let (l3, l4) = (h.l3, h.l4);
    f[..l3] == a[..l3]
        && if h.ipv6 {
            f[l3..l3 + ip6::LENGTH.start] == a[l3..l3 + ip6::LENGTH.start]
                && f[l3 + ip6::NXT_HDR..l4] == a[l3 + ip6::NXT_HDR..l4]
        } else {
            f[l3..l3 + ip4::LENGTH.start] == a[l3..l3 + ip4::LENGTH.start]
                && f[l3 + ip4::FLG_OFF.start..l3 + ip4::CHECKSUM.start]
                    == a[l3 + ip4::FLG_OFF.start..l3 + ip4::CHECKSUM.start]
                && f[l3 + ip4::ADDRS.start..l4] == a[l3 + ip4::ADDRS.start..l4]
        }
        // ports, then ack, data offset, window, options; flags may differ in PSH only
        && f[l4..l4 + tf::SEQ_NUM.start] == a[l4..l4 + tf::SEQ_NUM.start]
        && f[l4 + tf::ACK_NUM.start..l4 + tf::FLAGS] == a[l4 + tf::ACK_NUM.start..l4 + tf::FLAGS]
        && (f[l4 + tf::FLAGS] & !PSH) == (a[l4 + tf::FLAGS] & !PSH)
        && f[l4 + tf::WINDOW.start..l4 + tf::CHECKSUM.start]
            == a[l4 + tf::WINDOW.start..l4 + tf::CHECKSUM.start]
        && f[l4 + tf::OPTIONS..h.payload] == a[l4 + tf::OPTIONS..h.payload]
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
        let tcp = hf.tcp(f);
        let Some(h) = self.h else {
            // Start a new super-frame with this segment.
            if plen == 0 || !mergeable_flags(tcp.flags()) {
                return Pushed::NotTcp;
            }
            self.buf.clear();
            self.buf.extend_from_slice(f);
            self.h = Some(hf);
            self.mss = plen;
            self.segs = 1;
            self.next_seq = tcp.seq_number().wrapping_add(plen as u32);
            self.closed = tcp.flags() & PSH != 0;
            return Pushed::Merged;
        };
        let joins = hf == h
            && !self.closed
            && plen > 0
            && plen <= self.mss
            && self.buf.len() + plen <= MAX_SUPER_FRAME
            && tcp.seq_number() == self.next_seq
            && same_headers(f, &self.buf, &h);
        if !joins {
            return Pushed::Flush;
        }
        self.buf.extend_from_slice(&f[h.payload..]);
        self.segs += 1;
        self.next_seq = self.next_seq.wrapping_add(plen as u32);
        if tcp.flags() & PSH != 0 {
            let mut held = h.tcp_mut(&mut self.buf);
            held.set_flags(held.flags() | PSH);
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
    pub fn flush_into(&mut self, out: &mut PacketBuf) -> Option<VirtioNetHdr> {
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
        let len = out.len();
        if h.ipv6 {
            let plen = (len - h.l3 - ipv6::HEADER_LEN) as u16;
            h.ipv6_mut(out).set_payload_len(plen);
        } else {
            let mut ip = h.ipv4_mut(out);
            ip.set_total_len((len - h.l3) as u16);
            ip.fill_checksum();
        }
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
        let partial = fold(pseudo_sum(out, &h, len - h.l4));
        h.tcp_mut(out).set_checksum(partial);
        Some(gso::tcp(&h, self.mss as u16))
    }
}
