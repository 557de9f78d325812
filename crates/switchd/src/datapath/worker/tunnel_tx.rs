//! Tunnel send: the path-MTU check, super-frames out the uplink TAP or cut in
//! software (VXLAN and Geneve: segments in one sendmmsg, see `tunnel_udp`; GRE
//! segments),
//! and the batch of small tunnel packets that leaves in one sendmmsg.

use super::super::*;
use super::Worker;
use super::tunnel_udp::UdpEncap;
use offload::{complete_checksum, segment_tcp};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use switch::{PortId, PortType};
use wire::virtio::VirtioNetHdr;
use wire::{PacketBuf, ether, gre};

/// Where a frame goes out a tunnel port.
pub(super) struct TunnelOut {
    pub port: PortId,
    pub kind: PortType,
    /// VNI or GRE key.
    pub id: u64,
    pub remote: Ipv4Addr,
    pub local: Option<Ipv4Addr>,
    /// The GRE key to send, if the port sends one.
    pub gre_key: Option<u32>,
    /// VXLAN or Geneve with complete UDP checksums (`csum`): sent through the
    /// raw socket.
    pub csum: bool,
}

impl Worker {
    /// Sends `pkt` out a tunnel; None when it was counted already (dropped as too
    /// big, or gathered into the small-packet batch, counted when that leaves).
    pub(super) fn transmit_tunnel(
        &mut self,
        t: &TunnelOut,
        pkt: &mut PacketBuf,
        hdr: &VirtioNetHdr,
    ) -> Option<std::io::Result<usize>> {
        let udp = UdpEncap::of(t.kind);
        let prefix = match udp {
            Some(u) => u.header_len(),
            None => gre::header_len(t.gre_key.is_some()),
        };
        let outer = OUTER_IP + if udp.is_some() { 8 } else { 0 } + prefix;
        // What one packet on the underlay will carry: the frame, or one segment.
        let piece = if hdr.is_gso() {
            offload::tcp_frame(pkt.data()).map_or(0, |h| h.payload) + usize::from(hdr.gso_size)
        } else {
            pkt.len()
        };
        let path = self.underlay.path(t.remote, Instant::now());
        if outer + piece > path.mtu && wire::icmp::must_not_fragment(pkt.data()) {
            let mtu = path.mtu.saturating_sub(outer + ether::ETH_HLEN) as u16;
            self.tx.too_big = wire::icmp::too_big_reply(pkt.data(), mtu);
            self.counts.port(t.port).tx_dropped += 1;
            return None;
        }
        if let Some(u) = udp
            && t.csum
        {
            self.flush_tunnel_batch();
            let src = t.local.or(path.source);
            return Some(self.send_udp_checksummed(pkt, hdr, t, u, src));
        }
        if hdr.is_gso() && udp == Some(UdpEncap::Geneve) {
            self.flush_tunnel_batch();
            let mss = usize::from(hdr.gso_size);
            return Some(self.send_udp_segments(pkt.data(), mss, t, UdpEncap::Geneve));
        }
        if hdr.is_gso() && udp == Some(UdpEncap::Vxlan) {
            // Keep the order of what goes out the socket.
            self.flush_tunnel_batch();
            let sent = self
                .snap
                .uplink
                .as_deref()
                .zip(t.local.or(path.source))
                .and_then(|(tap, src)| {
                    self.uplink
                        .send(tap, pkt.data(), hdr, t.id as u32, src, t.remote, path.mtu)
                });
            return Some(match sent {
                Some(r) => r,
                None => {
                    let mss = usize::from(hdr.gso_size);
                    self.send_udp_segments(pkt.data(), mss, t, UdpEncap::Vxlan)
                }
            });
        }
        if hdr.is_gso() {
            self.flush_tunnel_batch();
            self.tx.segs.clear();
            let gso = usize::from(hdr.gso_size);
            return Some(
                match segment_tcp(pkt.data(), gso, prefix, &mut self.tx.segs) {
                    Ok(_) => {
                        let hl = offload::tcp_frame(pkt.data()).map_or(0, |h| h.payload);
                        self.send_gre_segments(t, prefix, prefix + hl + gso)
                    }
                    Err(_) => Err(std::io::Error::from(std::io::ErrorKind::InvalidData)),
                },
            );
        }
        if hdr.is_gso() || hdr.flags & wire::virtio::F_NEEDS_CSUM != 0 {
            complete_checksum(pkt.data_mut(), hdr);
        }
        let len = pkt.len();
        match udp {
            Some(u) => u.write(pkt.push(prefix), t.id as u32),
            None => {
                gre::write_header(pkt.push(prefix), ether::ETH_P_TEB, t.gre_key);
            }
        }
        if self.tx.kind != t.kind {
            self.flush_tunnel_batch();
            self.tx.kind = t.kind;
        }
        let start = self.tx.pending.len();
        self.tx.pending.extend_from_slice(pkt.data());
        let port = udp.map_or(0, UdpEncap::port);
        self.tx
            .msgs
            .push((start, pkt.len(), SocketAddrV4::new(t.remote, port)));
        self.tx.ports.push((t.port, len));
        pkt.pull(prefix);
        if self.tx.msgs.len() >= TUN_BATCH {
            self.flush_tunnel_batch();
        }
        None
    }

    /// Sends the gathered small tunnel packets and counts them on their ports.
    pub(super) fn flush_tunnel_batch(&mut self) {
        if self.tx.msgs.is_empty() {
            return;
        }
        let mut outcome = std::mem::take(&mut self.tx.outcome);
        match (self.tx.kind, &self.snap.udp, &self.snap.gre) {
            (PortType::Vxlan, Some(s), _) => {
                s.send_many(&self.tx.pending, &self.tx.msgs, &mut outcome)
            }
            (PortType::Geneve, _, _) => match &self.snap.geneve {
                Some(s) => s.send_many(&self.tx.pending, &self.tx.msgs, &mut outcome),
                None => outcome.clear(),
            },
            (PortType::Gre, _, Some(s)) => {
                s.send_many(&self.tx.pending, &self.tx.msgs, &mut outcome)
            }
            _ => outcome.clear(),
        }
        for (i, &(port, bytes)) in self.tx.ports.iter().enumerate() {
            let s = self.counts.port(port);
            match outcome.get(i) {
                Some(Ok(())) => {
                    s.tx_packets += 1;
                    s.tx_bytes += bytes as u64;
                }
                Some(Err(ErrorKind::WouldBlock)) => s.tx_dropped += 1,
                _ => s.tx_errors += 1,
            }
        }
        self.tx.outcome = outcome;
        self.tx.pending.clear();
        self.tx.msgs.clear();
        self.tx.ports.clear();
    }

    /// The segments in `tx_segs` (each `stride` bytes, the last maybe shorter)
    /// out the GRE socket, headers written into their `prefix` room.
    fn send_gre_segments(
        &mut self,
        t: &TunnelOut,
        prefix: usize,
        stride: usize,
    ) -> std::io::Result<usize> {
        for seg in self.tx.segs.chunks_mut(stride) {
            gre::write_header(&mut seg[..prefix], ether::ETH_P_TEB, t.gre_key);
        }
        let Some(s) = &self.snap.gre else {
            return Err(std::io::Error::from(std::io::ErrorKind::NotConnected));
        };
        s.send_batch(&self.tx.segs, stride, t.remote)
    }
}
