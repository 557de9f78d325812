//! A poll thread's batch: frames are read into slots, switched by the engine all
//! under one taking of the lock, then written out — each output with the header
//! state the engine chose and the frame's offload state.

use super::super::*;
use super::Worker;
use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use switch::{Field, FlowKey, Forward, Output, PortId, TunnelKey};
use wire::PacketBuf;
use wire::virtio::VirtioNetHdr;

impl Worker {
    /// The next free slot of the batch (switching the batch first when it is full).
    /// Fill `frames[slot]` and [`Worker::commit`] it before asking for another.
    pub(super) fn slot(&mut self) -> usize {
        if self.batch.nframes >= BATCH || self.batch.bytes >= BATCH_BYTES {
            self.run_batch();
        }
        if self.batch.nframes == self.batch.frames.len() {
            self.batch.frames.push(super::Frame::new());
        }
        self.batch.nframes
    }

    /// The slot last given out now holds a `len`-byte frame.
    pub(super) fn commit(&mut self, len: usize) {
        self.batch.nframes += 1;
        self.batch.bytes += len;
    }

    /// Switches the batch: the engine decides for every frame under one lock, then
    /// the frames go out.
    pub(super) fn run_batch(&mut self) {
        let n = self.batch.nframes;
        if n == 0 {
            return;
        }
        self.batch.nframes = 0;
        self.batch.bytes = 0;
        self.batch.outs.clear();
        self.batch.results.clear();
        let now = self.shared.now();
        let mut fresh = None;
        {
            let mut core = self.shared.lock();
            // Ports changed since the last copy: the engine decides with the new
            // ones, so the frames must go out with them too.
            let generation = self.shared.generation.load(Ordering::Acquire);
            if generation != self.generation {
                fresh = Some((super::take_snapshot(&core, self.index), generation));
            }
            self.counts.flush(&mut core);
            let core = &mut *core;
            for f in &self.batch.frames[..n] {
                let start = self.batch.outs.len();
                let orig = match (&f.fp, core.fastpath.as_mut()) {
                    (Some(key), Some(fp)) => {
                        let offer = &mut self.batch.offer;
                        let orig = core.sw.receive_offer(
                            f.in_port,
                            f.buf.data(),
                            f.tun.as_ref(),
                            now,
                            &mut self.batch.outs,
                            offer,
                        );
                        let outs = self.batch.outs.get(start..).unwrap_or_default();
                        let up = crate::fastpath::Upcalled {
                            key,
                            orig: &orig,
                            outs,
                            offer,
                            in_port: f.in_port,
                            ctl: f.fp_ctl,
                        };
                        fp.offer(&mut core.sw, &up, now);
                        orig
                    }
                    _ => core.sw.receive(
                        f.in_port,
                        f.buf.data(),
                        f.tun.as_ref(),
                        now,
                        &mut self.batch.outs,
                    ),
                };
                self.batch
                    .results
                    .push((orig, start..self.batch.outs.len()));
            }
            core.sync_fastpath();
        }
        if let Some((snap, generation)) = fresh {
            self.adopt(snap, generation);
        }
        for i in 0..n {
            self.send_frame(i);
        }
        self.flush_udp_run();
    }

    /// Frame `i` of the batch out of every port the engine chose, and the frames
    /// the engine made for it (DHCP and ARP answers), in the engine's order.
    fn send_frame(&mut self, i: usize) {
        let (orig, range) = self.batch.results[i].clone();
        let in_port = self.batch.frames[i].in_port;
        let rx_hdr = self.batch.frames[i].hdr;
        self.spin.note_frame(rx_hdr.is_gso());
        let outs = std::mem::take(&mut self.batch.outs);
        let mine = outs.get(range).unwrap_or_default();
        // The last forward may rewrite the received buffer; others work on a copy.
        let last = mine.iter().rposition(|o| o.forward().is_some());
        for (k, o) in mine.iter().enumerate() {
            match o {
                Output::Forward(f) => self.forward(i, f, &orig, rx_hdr, Some(k) == last),
                Output::Made(r) => self.send_made(r.port, &orig, &r.frame),
            }
        }
        self.batch.outs = outs;
        if let Some(reply) = self.tx.too_big.take() {
            self.send_made(in_port, &orig, &reply);
        }
    }

    /// Frame `i` out of one port, its headers rewritten as the engine decided.
    fn forward(&mut self, i: usize, f: &Forward, orig: &FlowKey, rx_hdr: VirtioNetHdr, last: bool) {
        let mut pkt = if last {
            std::mem::take(&mut self.batch.frames[i].buf)
        } else {
            let mut s = std::mem::take(&mut self.batch.scratch);
            s.set_from(self.batch.frames[i].buf.data());
            s
        };
        let before = pkt.len();
        f.rewrite(&mut pkt, orig);
        // VLAN pushes/pops move the L4 header: keep the offload offsets right.
        let mut hdr = rx_hdr;
        let delta = pkt.len() as i64 - before as i64;
        if delta != 0 && (hdr.is_gso() || hdr.flags & wire::virtio::F_NEEDS_CSUM != 0) {
            hdr.csum_start = (i64::from(hdr.csum_start) + delta) as u16;
            hdr.hdr_len = (i64::from(hdr.hdr_len) + delta).max(0) as u16;
        }
        self.transmit(f, &mut pkt, &hdr);
        if last {
            self.batch.frames[i].buf = pkt;
        } else {
            self.batch.scratch = pkt;
        }
    }

    /// A frame made here (an answer) out of `port`. Bindings live on tap, internal
    /// and system ports; the key only says which port (and would give a tunnel its
    /// tun_id).
    fn send_made(&mut self, port: PortId, orig: &FlowKey, frame: &[u8]) {
        let mut pkt = std::mem::take(&mut self.batch.scratch);
        pkt.set_from(frame);
        let o = Forward { port, key: *orig };
        self.transmit(&o, &mut pkt, &VirtioNetHdr::default());
        self.batch.scratch = pkt;
    }

    pub(super) fn transmit(&mut self, o: &Forward, pkt: &mut PacketBuf, hdr: &VirtioNetHdr) {
        let Some(port) = self.snap.ports.get(o.port) else {
            return;
        };
        if matches!(&*port.backend, Backend::Tap(_)) && self.merge_udp(o.port, pkt, hdr) {
            return; // counted when the run is written
        }
        let Some(port) = self.snap.ports.get(o.port) else {
            return;
        };
        let len = pkt.len();
        let res = match &*port.backend {
            Backend::Tap(t) => {
                // A TAP takes the frame with its offload state as it is.
                hdr.write(pkt.push(VNET_HDR_LEN));
                let r = t.queue(self.index).write(pkt.data());
                pkt.pull(VNET_HDR_LEN);
                r
            }
            Backend::Packet(p) => {
                // AF_PACKET with PACKET_VNET_HDR: the kernel segments or checksums
                // whatever the interface cannot.
                hdr.write_legacy(pkt.push(host::PACKET_VNET_HDR_LEN));
                let r = p.send(pkt.data());
                pkt.pull(host::PACKET_VNET_HDR_LEN);
                r
            }
            Backend::Tunnel => {
                let Some(remote) = port.remote else { return };
                let id = match port.tunnel_key {
                    TunnelKey::Flow => o.key.get_u64(Field::TunId),
                    TunnelKey::Fixed(k) => k,
                };
                let out = super::tunnel_tx::TunnelOut {
                    port: o.port,
                    kind: port.kind,
                    id,
                    remote,
                    local: port.local,
                    gre_key: port.keyed.then_some(id as u32),
                    csum: port.csum,
                };
                match self.transmit_tunnel(&out, pkt, hdr) {
                    Some(r) => r,
                    None => return,
                }
            }
            _ => return,
        };
        self.count_tx(o.port, len, &res);
    }

    pub(super) fn count_tx(&mut self, port: PortId, len: usize, res: &std::io::Result<usize>) {
        self.count_tx_frames(port, 1, len, res);
    }

    fn count_tx_frames(
        &mut self,
        port: PortId,
        frames: u64,
        bytes: usize,
        res: &std::io::Result<usize>,
    ) {
        let s = self.counts.port(port);
        match res {
            Ok(_) => {
                s.tx_packets += frames;
                s.tx_bytes += bytes as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => s.tx_dropped += frames,
            Err(_) => s.tx_errors += frames,
        }
    }

    /// Takes a UDP datagram for TAP `port` into the pending run when it can join
    /// (or start) one; a run it cannot join goes out first, so frames to a port
    /// keep their order. False: the caller sends the frame itself.
    fn merge_udp(&mut self, port: PortId, pkt: &PacketBuf, hdr: &VirtioNetHdr) -> bool {
        if self.merge.off {
            return false;
        }
        if self.merge.port == Some(port) && self.merge.run.push(pkt.data(), hdr) {
            return true;
        }
        self.flush_udp_run();
        if self.merge.run.push(pkt.data(), hdr) {
            self.merge.port = Some(port);
            return true;
        }
        false
    }

    /// Writes the pending UDP run to its TAP: one packet (UDP GSO when it holds
    /// more than one datagram), counted as the frames it holds.
    pub(super) fn flush_udp_run(&mut self) {
        let Some(port) = self.merge.port.take() else {
            return;
        };
        let Some((hdr, frame, frames, bytes)) = self.merge.run.take() else {
            return;
        };
        let Some(Backend::Tap(t)) = self.snap.ports.get(port).map(|p| &*p.backend) else {
            return;
        };
        let mut vnet = [0u8; VNET_HDR_LEN];
        hdr.write(&mut vnet);
        let res = t
            .queue(self.index)
            .write_vectored(&[std::io::IoSlice::new(&vnet), std::io::IoSlice::new(frame)]);
        if frames > 1 {
            if matches!(&res, Err(e) if e.kind() == ErrorKind::InvalidInput) {
                // A kernel that does not take UDP GSO from a TAP writer (older
                // ones): this run is lost, the next ones go unmerged.
                self.merge.off = true;
                tracing::warn!("TAP refused a UDP GSO write: merging UDP runs turned off");
            }
            if res.is_ok() {
                self.counts.tunnels.udp_runs += 1;
                self.counts.tunnels.udp_run_frames += frames as u64;
            }
        }
        self.count_tx_frames(port, frames as u64, bytes, &res);
    }
}
