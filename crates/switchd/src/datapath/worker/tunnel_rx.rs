//! Tunnel receive: VXLAN datagrams (UDP GRO runs, or whole super-frames), Geneve
//! datagrams (UDP GRO runs) and GRE batches, coalesced back into super-frames and
//! handed to the engine.

use super::super::*;
use super::Worker;
use super::tunnel_udp::UdpEncap;
use offload::{Pushed, RxChecksum, check_rx_checksum};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use switch::{PortId, PortType, TunnelMeta};
use tracing::warn;
use wire::virtio::{F_DATA_VALID, VirtioNetHdr};
use wire::{PacketBuf, ether, gre};

impl Worker {
    /// Reads what the socket of UDP tunnel `u` holds (see
    /// [`Worker::service_udp_with`]).
    pub(super) fn service_udp(&mut self, u: UdpEncap) -> bool {
        let mut buf = std::mem::take(&mut self.rx.udp_buf);
        let more = self.service_udp_with(&mut buf, u);
        self.rx.udp_buf = buf;
        more
    }

    /// Reads runs of VXLAN or Geneve datagrams (UDP GRO), coalesces the inner TCP
    /// segments of each flow back into super-frames and switches them. A VXLAN
    /// datagram that carries a whole super-frame is switched from the receive
    /// buffer itself (swapped in). Geneve options are skipped, and its control
    /// packets, which are for a tunnel endpoint itself, are not switched.
    pub(super) fn service_udp_with(&mut self, buf: &mut PacketBuf, u: UdpEncap) -> bool {
        for _ in 0..BATCH {
            let Some(sock) = self.udp_socket(u) else {
                return false;
            };
            match sock.recv_segments(buf.reset_for_read()) {
                Ok((n, src, seg)) => {
                    if u == UdpEncap::Vxlan
                        && seg >= n
                        && n > MIN_SUPER_DATAGRAM
                        && self.take_super_frame(buf, n, *src.ip())
                    {
                        continue;
                    }
                    for d in buf.reset_for_read()[..n].chunks_mut(seg.max(1)) {
                        match u.parse(d) {
                            Ok(Some((vni, len))) => self.tunnel_inner(
                                u.kind(),
                                *src.ip(),
                                None,
                                u64::from(vni),
                                &mut d[len..],
                            ),
                            Ok(None) => {}
                            Err(_) => self.counts.tunnels.malformed += 1,
                        }
                    }
                    self.gro_flush();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("{} socket: {e}", u.kind().name());
                    return false;
                }
            }
        }
        true
    }

    /// The `n`-byte VXLAN datagram in `buf` carries a TCP super-frame that was never
    /// segmented on the way (kernel GSO over UDP tunnels across veths): switch it whole,
    /// with its GSO state, checksum still partial. False when it is not one.
    pub(super) fn take_super_frame(
        &mut self,
        buf: &mut PacketBuf,
        n: usize,
        src: Ipv4Addr,
    ) -> bool {
        buf.set_len(n);
        let Ok(vni) = vxlan::parse_header(buf.data()) else {
            return false;
        };
        let vni = u64::from(vni);
        // Only from a known remote (the route lookup below is not for anyone's asking).
        let Some(id) = self.snap.tunnels.lookup(PortType::Vxlan, src, vni) else {
            return false;
        };
        let mtu = self.underlay.path(src, Instant::now()).mtu;
        if n + OUTER_IP + 8 <= mtu {
            return false; // one wire packet can carry it: not necessarily whole
        }
        buf.pull(vxlan::HEADER_LEN);
        // Segments no bigger than the tunnel carries, and at most 1500-byte packets
        // (a smaller segment size is always safe if the VM forwards it).
        let max_segment = mtu.saturating_sub(VXLAN_OUTER).min(1514);
        let Some(hdr) = offload::received_super_frame(buf.data(), max_segment) else {
            return false;
        };
        self.gro_flush();
        self.counts.tunnels.rx_super_frames += 1;
        let i = self.slot();
        std::mem::swap(&mut self.batch.frames[i].buf, buf);
        self.batch.frames[i].hdr = hdr;
        self.tunnel_in_port(id, src, None, vni);
        true
    }

    /// One inner frame of a tunnel packet: into the coalescer, or switched as it is.
    pub(super) fn tunnel_inner(
        &mut self,
        kind: PortType,
        src: Ipv4Addr,
        dst: Option<Ipv4Addr>,
        vni: u64,
        frame: &mut [u8],
    ) {
        if frame.len() < ether::ETH_HLEN {
            self.counts.tunnels.malformed += 1;
            return;
        }
        let checked = match check_rx_checksum(frame) {
            RxChecksum::Bad => {
                self.counts.tunnels.bad_checksum += 1;
                return;
            }
            RxChecksum::Valid | RxChecksum::Completed => true,
            RxChecksum::NotChecked => false,
        };
        let Some(id) = self.snap.tunnels.lookup(kind, src, vni) else {
            self.counts.tunnels.unknown += 1;
            return;
        };
        if self
            .rx
            .gro_src
            .is_some_and(|(p, v, s, d)| (p, v, s, d) != (id, vni, src, dst))
        {
            self.gro_flush();
        }
        loop {
            match self.rx.gro.push(frame) {
                Pushed::Merged => {
                    self.rx.gro_src = Some((id, vni, src, dst));
                    return;
                }
                Pushed::Flush => self.gro_flush(),
                Pushed::NotTcp => {
                    self.gro_flush();
                    let i = self.slot();
                    self.batch.frames[i].buf.set_from(frame);
                    // Checked here: a VM's kernel need not check again (and UDP
                    // runs into its TAP may be merged, see offload::UdpMerge).
                    self.batch.frames[i].hdr = VirtioNetHdr {
                        flags: if checked { F_DATA_VALID } else { 0 },
                        ..VirtioNetHdr::default()
                    };
                    self.tunnel_in_port(id, src, dst, vni);
                    return;
                }
            }
        }
    }

    pub(super) fn gro_flush(&mut self) {
        let Some((id, vni, src, dst)) = self.rx.gro_src.take() else {
            return;
        };
        let i = self.slot();
        let Some(hdr) = self.rx.gro.flush_into(&mut self.batch.frames[i].buf) else {
            return;
        };
        self.batch.frames[i].hdr = hdr;
        self.tunnel_in_port(id, src, dst, vni);
    }

    pub(super) fn service_gre(&mut self) -> bool {
        if self.rx.gre_buf.is_empty() {
            self.rx.gre_buf = vec![0; GRE_SLOTS * GRE_SLOT];
        }
        let mut buf = std::mem::take(&mut self.rx.gre_buf);
        let mut pkts = std::mem::take(&mut self.rx.gre_pkts);
        let more = self.service_gre_with(&mut buf, &mut pkts);
        self.gro_flush();
        self.rx.gre_buf = buf;
        self.rx.gre_pkts = pkts;
        more
    }

    /// Reads a batch of GRE packets (recvmmsg); consecutive TCP segments of one flow
    /// are coalesced into super-frames like VXLAN's. True when the batch was full.
    pub(super) fn service_gre_with(
        &mut self,
        buf: &mut [u8],
        pkts: &mut Vec<Option<host::GrePacket>>,
    ) -> bool {
        let Some(sock) = self.snap.gre.clone() else {
            return false;
        };
        let n = loop {
            match sock.recv_batch(buf, GRE_SLOT, pkts) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) => {
                    warn!("gre socket: {e}");
                    return false;
                }
            }
        };
        for p in pkts.iter() {
            let Some(p) = p else {
                self.counts.tunnels.malformed += 1;
                continue;
            };
            let pkt = &mut buf[p.start..p.start + p.len];
            let h = match gre::parse_header(pkt) {
                Ok(h) if h.protocol == ether::ETH_P_TEB => h,
                _ => {
                    self.counts.tunnels.malformed += 1;
                    continue;
                }
            };
            let key = u64::from(h.key.unwrap_or(0));
            self.tunnel_inner(PortType::Gre, p.src, Some(p.dst), key, &mut pkt[h.len..]);
        }
        n == GRE_SLOTS
    }

    /// The frame in the slot last given out came from tunnel port `id`: it joins
    /// the batch with its tunnel metadata.
    pub(super) fn tunnel_in_port(
        &mut self,
        id: PortId,
        src: Ipv4Addr,
        dst: Option<Ipv4Addr>,
        key: u64,
    ) {
        let local = self.snap.ports.get(id).and_then(|p| p.local);
        let i = self.batch.nframes;
        let f = &mut self.batch.frames[i];
        f.in_port = id;
        f.fp = None;
        f.tun = Some(TunnelMeta {
            id: key,
            src: u32::from(src),
            dst: dst.or(local).map(u32::from).unwrap_or(0),
        });
        let len = f.buf.len();
        let s = self.counts.port(id);
        s.rx_packets += 1;
        s.rx_bytes += len as u64;
        self.commit(len);
    }
}
