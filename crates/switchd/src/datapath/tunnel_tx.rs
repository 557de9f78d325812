//! Tunnel send: super-frames cut in software (VXLAN scatter-gather UDP GSO, GRE
//! segments) and the batch of small tunnel packets that leaves in one sendmmsg.

use super::*;

impl Datapath {
    /// A TCP super-frame out a VXLAN tunnel: per-segment headers are built in
    /// `tx_segs`, the payload is sent from the frame itself (scatter-gather), in
    /// UDP GSO sends of at most MAX_GSO_SEND bytes.
    pub(super) fn send_vxlan_gso(
        &mut self,
        frame: &[u8],
        mss: usize,
        vni: u64,
        remote: Ipv4Addr,
    ) -> std::io::Result<usize> {
        const PAIRS: usize = 64;
        let prefix = vxlan::HEADER_LEN;
        self.tx_segs.clear();
        let (n, h) = wire::offload::segment_tcp_headers(frame, mss, prefix, &mut self.tx_segs)
            .map_err(|_| std::io::Error::other("cannot segment"))?;
        let each = prefix + h.payload;
        for i in 0..n {
            vxlan::write_header(&mut self.tx_segs[i * each..i * each + prefix], vni as u32);
        }
        let Some(sock) = &self.udp else {
            return Err(std::io::Error::other("no vxlan socket"));
        };
        let dst = SocketAddrV4::new(remote, vxlan::UDP_PORT);
        let stride = each + mss;
        let per_send = (MAX_GSO_SEND / stride).clamp(1, PAIRS);
        let mut sent = 0;
        let mut first = 0;
        while first < n {
            let last = (first + per_send).min(n);
            let mut iov = [std::io::IoSlice::new(&[]); 2 * PAIRS];
            for (k, i) in (first..last).enumerate() {
                iov[2 * k] = std::io::IoSlice::new(&self.tx_segs[i * each..(i + 1) * each]);
                let start = (h.payload + i * mss).min(frame.len());
                let end = (h.payload + (i + 1) * mss).min(frame.len());
                iov[2 * k + 1] = std::io::IoSlice::new(&frame[start..end]);
            }
            sent += sock.send_segments_iov(&iov[..2 * (last - first)], stride as u16, dst)?;
            first = last;
        }
        Ok(sent)
    }

    /// Sends the gathered small tunnel packets and counts them on their ports.
    pub(super) fn flush_tunnel_batch(&mut self) {
        if self.tun_msgs.is_empty() {
            return;
        }
        let mut outcome = std::mem::take(&mut self.tun_outcome);
        match (self.tun_kind, &self.udp, &self.gre) {
            (PortType::Vxlan, Some(s), _) => {
                s.send_many(&self.tun_pending, &self.tun_msgs, &mut outcome)
            }
            (PortType::Gre, _, Some(s)) => {
                s.send_many(&self.tun_pending, &self.tun_msgs, &mut outcome)
            }
            _ => outcome.clear(),
        }
        for (i, &(port, bytes)) in self.tun_ports.iter().enumerate() {
            if let Some(p) = self.sw.port_mut(port) {
                match outcome.get(i) {
                    Some(Ok(())) => {
                        p.stats.tx_packets += 1;
                        p.stats.tx_bytes += bytes as u64;
                    }
                    Some(Err(ErrorKind::WouldBlock)) => p.stats.tx_dropped += 1,
                    _ => p.stats.tx_errors += 1,
                }
            }
        }
        self.tun_outcome = outcome;
        self.tun_pending.clear();
        self.tun_msgs.clear();
        self.tun_ports.clear();
    }

    /// The segments in `tx_segs` (each `stride` bytes, the last maybe shorter)
    /// out the GRE socket, headers written into their `prefix` room.
    pub(super) fn send_gre_segments(
        &mut self,
        remote: Ipv4Addr,
        gre_key: Option<u32>,
        prefix: usize,
        stride: usize,
    ) -> std::io::Result<usize> {
        for seg in self.tx_segs.chunks_mut(stride) {
            gre::write_header(&mut seg[..prefix], ether::ETH_P_TEB, gre_key);
        }
        let Some(s) = &self.gre else {
            return Err(std::io::Error::other("no gre socket"));
        };
        s.send_batch(&self.tx_segs, stride, remote)
    }

    // ---- ports ----
}
