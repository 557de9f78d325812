//! The UDP tunnels, VXLAN and Geneve: their headers, their sockets, and the two
//! sends they share beyond the small-packet batch — a super-frame cut in
//! software into one datagram per segment (checksum zero), and everything of a
//! port with checksums on (`csum`) through the raw socket with complete
//! checksums.

use super::Worker;
use super::tunnel_tx::TunnelOut;
use offload::{complete_checksum, segment_tcp};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use switch::PortType;
use wire::virtio::VirtioNetHdr;
use wire::{PacketBuf, geneve, vxlan};

/// A UDP encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UdpEncap {
    Vxlan,
    Geneve,
}

impl UdpEncap {
    pub fn of(kind: PortType) -> Option<UdpEncap> {
        match kind {
            PortType::Vxlan => Some(UdpEncap::Vxlan),
            PortType::Geneve => Some(UdpEncap::Geneve),
            _ => None,
        }
    }

    /// The destination port.
    pub fn port(self) -> u16 {
        match self {
            UdpEncap::Vxlan => vxlan::UDP_PORT,
            UdpEncap::Geneve => geneve::UDP_PORT,
        }
    }

    /// The header written in front of the inner frame (Geneve's without options).
    pub fn header_len(self) -> usize {
        match self {
            UdpEncap::Vxlan => vxlan::HEADER_LEN,
            UdpEncap::Geneve => geneve::HEADER_LEN,
        }
    }

    /// The port type it is.
    pub fn kind(self) -> PortType {
        match self {
            UdpEncap::Vxlan => PortType::Vxlan,
            UdpEncap::Geneve => PortType::Geneve,
        }
    }

    /// A received header: the VNI and where the inner frame starts, or None for
    /// a packet that is not switched (a Geneve control packet).
    pub fn parse(self, d: &[u8]) -> Result<Option<(u32, usize)>, wire::WireError> {
        match self {
            UdpEncap::Vxlan => vxlan::parse_header(d).map(|vni| Some((vni, vxlan::HEADER_LEN))),
            UdpEncap::Geneve => geneve::parse_header(d).map(|h| (!h.oam).then_some((h.vni, h.len))),
        }
    }

    pub fn write(self, out: &mut [u8], vni: u32) {
        match self {
            UdpEncap::Vxlan => vxlan::write_header(out, vni),
            UdpEncap::Geneve => geneve::write_header(out, vni),
        }
    }
}

impl Worker {
    /// The socket a UDP tunnel's datagrams leave by.
    pub(super) fn udp_socket(&self, u: UdpEncap) -> Option<&Arc<host::UdpTunnelSocket>> {
        match u {
            UdpEncap::Vxlan => self.snap.udp.as_ref(),
            UdpEncap::Geneve => self.snap.geneve.as_ref(),
        }
    }

    /// A TCP super-frame out a UDP tunnel whose socket takes no UDP GSO
    /// (checksum zero): cut in software, one datagram per segment, in one
    /// sendmmsg.
    pub(super) fn send_udp_segments(
        &mut self,
        frame: &[u8],
        mss: usize,
        t: &TunnelOut,
        u: UdpEncap,
    ) -> std::io::Result<usize> {
        let prefix = u.header_len();
        self.tx.segs.clear();
        segment_tcp(frame, mss, prefix, &mut self.tx.segs)
            .map_err(|_| std::io::Error::from(ErrorKind::InvalidData))?;
        let hl = offload::tcp_frame(frame).map_or(0, |h| h.payload);
        let stride = prefix + hl + mss;
        let dst = SocketAddrV4::new(t.remote, u.port());
        let mut msgs = std::mem::take(&mut self.tx.seg_msgs);
        msgs.clear();
        for (i, seg) in self.tx.segs.chunks_mut(stride).enumerate() {
            u.write(&mut seg[..prefix], t.id as u32);
            msgs.push((i * stride, seg.len(), dst));
        }
        self.send_segs(msgs, Some(u))
    }

    /// A frame out a UDP tunnel with checksums on (`csum`): cut in software
    /// when it is a super-frame, its inner checksums completed, and every
    /// datagram's UDP header written here with a complete checksum (from `src`,
    /// the tunnel's local address) and sent through the raw socket, so that no
    /// offload can leave a checksum unfilled on the way.
    pub(super) fn send_udp_checksummed(
        &mut self,
        pkt: &mut PacketBuf,
        hdr: &VirtioNetHdr,
        t: &TunnelOut,
        u: UdpEncap,
        src: Option<Ipv4Addr>,
    ) -> std::io::Result<usize> {
        let src = src.ok_or_else(|| std::io::Error::from(ErrorKind::AddrNotAvailable))?;
        let prefix = wire::udp::HEADER_LEN + u.header_len();
        self.tx.segs.clear();
        let stride = if hdr.is_gso() {
            let mss = usize::from(hdr.gso_size);
            segment_tcp(pkt.data(), mss, prefix, &mut self.tx.segs)
                .map_err(|_| std::io::Error::from(ErrorKind::InvalidData))?;
            prefix + offload::tcp_frame(pkt.data()).map_or(0, |h| h.payload) + mss
        } else {
            if hdr.flags & wire::virtio::F_NEEDS_CSUM != 0 {
                complete_checksum(pkt.data_mut(), hdr);
            }
            self.tx.segs.resize(prefix, 0);
            self.tx.segs.extend_from_slice(pkt.data());
            self.tx.segs.len()
        };
        let ends = ((src, u.port()), (t.remote, u.port()));
        let mut msgs = std::mem::take(&mut self.tx.seg_msgs);
        msgs.clear();
        for (i, seg) in self.tx.segs.chunks_mut(stride).enumerate() {
            let (udp, rest) = seg.split_at_mut(wire::udp::HEADER_LEN);
            u.write(&mut rest[..u.header_len()], t.id as u32);
            if wire::udp::write_header_v4(udp, ends.0, ends.1, rest).is_none() {
                self.tx.seg_msgs = msgs;
                return Err(std::io::Error::from(ErrorKind::InvalidData));
            }
            msgs.push((i * stride, seg.len(), SocketAddrV4::new(t.remote, 0)));
        }
        self.send_segs(msgs, None)
    }

    /// Sends the datagrams `msgs` of `tx.segs` through `u`'s socket, or the raw
    /// socket for `None`; keeps `msgs` for its capacity.
    fn send_segs(
        &mut self,
        msgs: Vec<(usize, usize, SocketAddrV4)>,
        u: Option<UdpEncap>,
    ) -> std::io::Result<usize> {
        let mut outcome = std::mem::take(&mut self.tx.outcome);
        let sent = match u {
            Some(u) => self
                .udp_socket(u)
                .map(|s| s.send_many(&self.tx.segs, &msgs, &mut outcome)),
            None => self
                .snap
                .raw_udp
                .as_ref()
                .map(|s| s.send_many(&self.tx.segs, &msgs, &mut outcome)),
        };
        let result = match sent {
            Some(()) => bytes_sent(&msgs, &outcome),
            None => Err(std::io::Error::from(ErrorKind::NotConnected)),
        };
        self.tx.outcome = outcome;
        self.tx.seg_msgs = msgs;
        result
    }
}

/// The bytes of the datagrams `msgs` that went out by `outcome`; the first
/// error when none did.
fn bytes_sent(
    msgs: &[(usize, usize, SocketAddrV4)],
    outcome: &host::SendOutcome,
) -> std::io::Result<usize> {
    let sent: usize = msgs
        .iter()
        .zip(outcome)
        .filter(|(_, o)| o.is_ok())
        .map(|(m, _)| m.1)
        .sum();
    match outcome.iter().find_map(|o| o.err()) {
        Some(e) if sent == 0 => Err(std::io::Error::from(e)),
        _ => Ok(sent),
    }
}
