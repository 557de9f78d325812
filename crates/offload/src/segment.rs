//! TCP segmentation in software (TSO): a super-frame cut into MSS-sized frames with
//! correct IP lengths and ids, TCP sequence numbers, flags and checksums; and the
//! header fix-up that [`crate::split`] shares, for runs of segments sent as one.

use crate::csum::pseudo_sum;
use crate::frame::{TcpFrame, tcp_frame};
use wire::WireError;
use wire::checksum;
use wire::ipv4::Ipv4Header;
use wire::ipv6::{self, Ipv6Header};
use wire::tcp::{CWR, FIN, PSH, TcpHeader};

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
        let tcp = h.tcp(frame);
        Ok(Segmenter {
            h,
            mss,
            n: (frame.len() - h.payload).div_ceil(mss).max(1),
            seq: tcp.seq_number(),
            id: if h.ipv6 { 0 } else { h.ipv4(frame).ident() },
            flags: tcp.flags(),
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
            let plen = (hl - l3 - ipv6::HEADER_LEN + payload_len) as u16;
            Ipv6Header::new_unchecked(&mut hdr[l3..l4]).set_payload_len(plen);
        } else {
            let mut ip = Ipv4Header::new_unchecked(&mut hdr[l3..l4]);
            ip.set_total_len((hl - l3 + payload_len) as u16);
            ip.set_ident(self.id.wrapping_add(first as u16));
            ip.fill_checksum();
        }
        let mut fl = self.flags;
        if last + 1 < self.n {
            fl &= !(FIN | PSH);
        }
        if first > 0 {
            fl &= !CWR;
        }
        let mut tcp = TcpHeader::new_unchecked(&mut hdr[l4..hl]);
        tcp.set_seq_number(self.seq.wrapping_add((first * self.mss) as u32));
        tcp.set_flags(fl);
        tcp.set_checksum(0);
        let tcp_len = hl - l4 + payload_len;
        let c = match csum {
            // The TCP header is a whole number of 32-bit words: the sums chain.
            TcpChecksum::Full(chunk) => checksum::finish(checksum::add(
                checksum::add(pseudo_sum(hdr, h, tcp_len), &hdr[l4..hl]),
                chunk,
            )),
            TcpChecksum::Partial(_) => !checksum::finish(pseudo_sum(hdr, h, tcp_len)),
        };
        h.tcp_mut(hdr).set_checksum(c);
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
