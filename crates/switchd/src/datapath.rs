//! The datapath thread: one event loop that owns the engine, every port's fd and the
//! tunnel sockets; it also serves control requests between packet batches.

use crate::backend::{self, Backend};
use crate::control::{self, Pending};
use crate::protocol::{BridgeView, PortStatsRow, PortView, Request, Response, TunnelCounters};
use crate::spin::SpinPolicy;
use crate::underlay::Underlay;
use crate::uplink::{UplinkMode, UplinkSlot};
use crate::{Error, Result, SOCKET_NAME, STATE_NAME, state};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};
use switch::{Field, Output, PortId, PortType, Switch, TunnelKey, TunnelMeta};
use tracing::{error, info, warn};
use wire::offload::{
    Coalescer, Pushed, RxChecksum, check_rx_checksum, complete_checksum, segment_tcp,
};
use wire::virtio::{HDR_LEN as VNET_HDR_LEN, VirtioNetHdr};
use wire::{PacketBuf, ether, gre, vxlan};

const WAKER: Token = Token(0);
const UDP: Token = Token(1);
const GRE: Token = Token(2);
const PORT_BASE: usize = 16;
/// Frames read from one fd before the loop turns to the others (fairness).
const BATCH: usize = 64;
/// Largest frame (a TCP super-frame from a TAP with TSO).
const MAX_FRAME: usize = 65536 + VNET_HDR_LEN;
/// Most bytes handed to one UDP GSO send (the kernel's limit is 64 KB).
const MAX_GSO_SEND: usize = 60_000;
/// Outer IPv4 header.
const OUTER_IP: usize = 20;
/// Outer IPv4 + UDP + VXLAN in front of an inner frame (its Ethernet header counts
/// as payload).
const VXLAN_OUTER: usize = OUTER_IP + 8 + vxlan::HEADER_LEN;
/// No datagram this small carries a whole super-frame (quick pre-check).
const MIN_SUPER_DATAGRAM: usize = 1200;
/// Room for one received GRE packet: up to 64 KB, since the kernel's GRO may merge
/// GRE packets from a NIC before the raw socket sees them.
const GRE_SLOT: usize = 65_536;
/// GRE packets taken per recvmmsg.
const GRE_SLOTS: usize = 16;
/// Small tunnel packets (VXLAN or GRE) gathered before one sendmmsg.
const TUN_BATCH: usize = 64;

struct Datapath {
    sw: Switch,
    backends: HashMap<PortId, Backend>,
    poll: Poll,
    udp: Option<host::UdpTunnelSocket>,
    gre: Option<host::GreSocket>,
    tunnels: TunnelCounters,
    state_path: PathBuf,
    clock: Instant,
    rx: PacketBuf,
    /// Offload state of the frame in `rx` (virtio-net header from a TAP, or GRO).
    rx_hdr: VirtioNetHdr,
    scratch: PacketBuf,
    outs: Vec<Output>,
    /// Encapsulated segments of one super-frame, sent with UDP GSO.
    tx_segs: Vec<u8>,
    /// A received run of VXLAN datagrams (UDP GRO).
    udp_buf: PacketBuf,
    gro: Coalescer,
    /// (port, key, outer source, outer destination) of the frames held by `gro`.
    gro_src: Option<(PortId, u64, Ipv4Addr, Option<Ipv4Addr>)>,
    /// Sources that still had data when their batch ran out.
    ready: VecDeque<Token>,
    /// A path-MTU error for the sender of the frame being switched (it was too
    /// big for a tunnel and must not be fragmented).
    too_big: Option<Vec<u8>>,
    /// Small tunnel packets waiting to leave together (sendmmsg): their bytes,
    /// (offset, length, destination), and (port, frame bytes) for the counters.
    tun_pending: Vec<u8>,
    tun_msgs: Vec<(usize, usize, SocketAddrV4)>,
    tun_ports: Vec<(PortId, usize)>,
    /// Which socket the gathered packets are for, and what became of each.
    tun_outcome: host::SendOutcome,
    tun_kind: PortType,
    /// GRE packets received in one recvmmsg, slot by slot, and where each lies.
    gre_buf: Vec<u8>,
    gre_pkts: Vec<Option<host::GrePacket>>,
    spin: SpinPolicy,
    underlay: Underlay,
    uplink: UplinkSlot,
}

/// How switchd moves packets (command-line options of `neutrino switchd`).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Whether VXLAN super-frames may go out the uplink TAP.
    pub vxlan_uplink: UplinkMode,
    /// How long the loop keeps polling (yielding the CPU) after the last event of
    /// light traffic before it sleeps (see spin.rs). Zero: always sleep.
    pub spin: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            vxlan_uplink: UplinkMode::Auto,
            spin: Duration::from_micros(300),
        }
    }
}

/// Runs switchd on `run_dir` until the process is killed.
pub fn run(run_dir: &Path, opts: Options) -> Result<()> {
    std::fs::create_dir_all(run_dir)
        .map_err(|e| Error::io(format!("create {}", run_dir.display()), e))?;
    let sock = run_dir.join(SOCKET_NAME);
    if sock.exists() {
        if UnixStream::connect(&sock).is_ok() {
            return Err(Error::Io(format!(
                "another switchd is already serving {}",
                sock.display()
            )));
        }
        std::fs::remove_file(&sock)
            .map_err(|e| Error::io(format!("remove stale {}", sock.display()), e))?;
    }
    let state_path = run_dir.join(STATE_NAME);
    let clock = Instant::now();
    let sw = match state::load(&state_path)? {
        Some(s) => {
            let sw = Switch::restore(&s.bridges, 0).map_err(|e| Error::State {
                path: state_path.display().to_string(),
                message: e.to_string(),
            })?;
            info!(
                "restored {} bridges from {}",
                s.bridges.len(),
                state_path.display()
            );
            sw
        }
        None => Switch::new(),
    };
    let poll = Poll::new().map_err(|e| Error::io("epoll", e))?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| Error::io("eventfd", e))?);
    let mut dp = Datapath {
        sw,
        backends: HashMap::new(),
        poll,
        udp: None,
        gre: None,
        tunnels: TunnelCounters::default(),
        state_path,
        clock,
        rx: PacketBuf::with_capacity(MAX_FRAME),
        rx_hdr: VirtioNetHdr::default(),
        scratch: PacketBuf::with_capacity(MAX_FRAME),
        outs: Vec::with_capacity(64),
        tx_segs: Vec::with_capacity(2 * MAX_FRAME),
        udp_buf: PacketBuf::with_capacity(MAX_FRAME),
        gro: Coalescer::new(),
        gro_src: None,
        ready: VecDeque::new(),
        too_big: None,
        tun_pending: Vec::with_capacity(TUN_BATCH * 2048),
        tun_msgs: Vec::with_capacity(TUN_BATCH),
        tun_ports: Vec::with_capacity(TUN_BATCH),
        tun_kind: PortType::Vxlan,
        tun_outcome: Vec::with_capacity(TUN_BATCH),
        gre_buf: Vec::new(),
        gre_pkts: Vec::with_capacity(GRE_SLOTS),
        spin: SpinPolicy::new(opts.spin, Instant::now()),
        underlay: Underlay::default(),
        uplink: UplinkSlot::new(opts.vxlan_uplink),
    };
    let ids: Vec<PortId> = dp.sw.ports().map(|(id, _)| id).collect();
    for id in ids {
        dp.attach(id);
    }
    let listener =
        UnixListener::bind(&sock).map_err(|e| Error::io(format!("bind {}", sock.display()), e))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("chmod {}", sock.display()), e))?;
    let (tx, requests) = channel();
    control::spawn(listener, tx, waker).map_err(|e| Error::io("control thread", e))?;
    info!("switchd listening on {}", sock.display());
    dp.event_loop(&requests)
}

impl Datapath {
    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn event_loop(&mut self, requests: &Receiver<Pending>) -> Result<()> {
        let mut events = Events::with_capacity(256);
        let mut last_expire = 0;
        let mut last_packet: Option<Instant> = None;
        loop {
            // After light traffic, poll without sleeping for a while (yielding the
            // CPU to anyone runnable); see spin.rs.
            let spinning =
                self.ready.is_empty() && self.spin.should_spin(Instant::now(), last_packet);
            let timeout = if !self.ready.is_empty() || spinning {
                Duration::ZERO
            } else {
                Duration::from_millis(500)
            };
            if spinning {
                std::thread::yield_now();
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("epoll_wait", e));
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    while let Ok(p) = requests.try_recv() {
                        let resp = self.handle(p.req);
                        let _ = p.reply.send(resp);
                    }
                } else if !self.ready.contains(&ev.token()) {
                    self.ready.push_back(ev.token());
                }
                last_packet = Some(Instant::now());
            }
            for _ in 0..self.ready.len() {
                let Some(tok) = self.ready.pop_front() else {
                    break;
                };
                let more = self.service(tok);
                self.flush_tunnel_batch();
                if more {
                    self.ready.push_back(tok);
                }
            }
            let now = self.now();
            if now >= last_expire + 1000 {
                self.sw.expire(now);
                self.uplink.tick();
                last_expire = now;
            }
        }
    }

    /// Reads up to a batch from one source; true when it may have more.
    fn service(&mut self, tok: Token) -> bool {
        match tok {
            UDP => self.service_udp(),
            GRE => self.service_gre(),
            Token(t) if t >= PORT_BASE => self.service_port(t - PORT_BASE),
            _ => false,
        }
    }

    fn service_port(&mut self, id: PortId) -> bool {
        for _ in 0..BATCH {
            let buf = self.rx.reset_for_read();
            let res = match self.backends.get(&id) {
                Some(Backend::Tap(t)) => t.read(buf),
                Some(Backend::Packet(p)) => p.recv(buf),
                _ => return false,
            };
            match res {
                Ok(n) => {
                    self.rx.set_len(n);
                    // The virtio-net header carries the frame's offload state.
                    let hlen = match self.backends.get(&id) {
                        Some(Backend::Tap(_)) => VNET_HDR_LEN,
                        _ => host::PACKET_VNET_HDR_LEN,
                    };
                    self.rx_hdr = VirtioNetHdr::parse(self.rx.data()).unwrap_or_default();
                    if !self.rx.pull(hlen) {
                        continue;
                    }
                    self.count_rx(id, self.rx.len());
                    self.switch_frame(id, None);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(p) = self.sw.port_mut(id) {
                        p.stats.rx_errors += 1;
                    }
                    warn!("read from port {id}: {e}");
                    return false;
                }
            }
        }
        true
    }

    fn service_udp(&mut self) -> bool {
        let mut buf = std::mem::take(&mut self.udp_buf);
        let more = self.service_udp_with(&mut buf);
        self.udp_buf = buf;
        more
    }

    /// Reads runs of VXLAN datagrams (UDP GRO), coalesces the inner TCP segments of
    /// each flow back into super-frames and switches them. A datagram that carries a
    /// whole super-frame is switched from the receive buffer itself (swapped in).
    fn service_udp_with(&mut self, buf: &mut PacketBuf) -> bool {
        for _ in 0..BATCH {
            let Some(sock) = &self.udp else { return false };
            match sock.recv_segments(buf.reset_for_read()) {
                Ok((n, src, seg)) => {
                    if seg >= n
                        && n > MIN_SUPER_DATAGRAM
                        && self.take_super_frame(buf, n, *src.ip())
                    {
                        continue;
                    }
                    let data = &mut buf.reset_for_read()[..n];
                    let seg = seg.max(1);
                    let mut off = 0;
                    while off < n {
                        let end = (off + seg).min(n);
                        let d = &mut data[off..end];
                        off = end;
                        let Ok(vni) = vxlan::parse_header(d) else {
                            self.tunnels.malformed += 1;
                            continue;
                        };
                        self.tunnel_inner(
                            PortType::Vxlan,
                            *src.ip(),
                            None,
                            u64::from(vni),
                            &mut d[vxlan::HEADER_LEN..],
                        );
                    }
                    self.gro_flush();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("vxlan socket: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// The `n`-byte VXLAN datagram in `buf` carries a TCP super-frame that was never
    /// segmented on the way (kernel GSO over UDP tunnels across veths): switch it whole,
    /// with its GSO state, checksum still partial. False when it is not one.
    fn take_super_frame(&mut self, buf: &mut PacketBuf, n: usize, src: Ipv4Addr) -> bool {
        buf.set_len(n);
        let Ok(vni) = vxlan::parse_header(buf.data()) else {
            return false;
        };
        let vni = u64::from(vni);
        // Only from a known remote (the route lookup below is not for anyone's asking).
        let Some(id) = self.sw.tunnel_port(PortType::Vxlan, src, vni) else {
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
        let Some(hdr) = wire::gso_split::received_super_frame(buf.data(), max_segment) else {
            return false;
        };
        self.gro_flush();
        self.tunnels.rx_super_frames += 1;
        std::mem::swap(&mut self.rx, buf);
        self.rx_hdr = hdr;
        self.tunnel_in_port(id, src, None, vni);
        true
    }

    /// One inner frame of a tunnel packet: into the coalescer, or switched as it is.
    fn tunnel_inner(
        &mut self,
        kind: PortType,
        src: Ipv4Addr,
        dst: Option<Ipv4Addr>,
        vni: u64,
        frame: &mut [u8],
    ) {
        if frame.len() < ether::ETH_HLEN {
            self.tunnels.malformed += 1;
            return;
        }
        if check_rx_checksum(frame) == RxChecksum::Bad {
            self.tunnels.bad_checksum += 1;
            return;
        }
        let Some(id) = self.sw.tunnel_port(kind, src, vni) else {
            self.tunnels.unknown += 1;
            return;
        };
        if self
            .gro_src
            .is_some_and(|(p, v, s, d)| (p, v, s, d) != (id, vni, src, dst))
        {
            self.gro_flush();
        }
        loop {
            match self.gro.push(frame) {
                Pushed::Merged => {
                    self.gro_src = Some((id, vni, src, dst));
                    return;
                }
                Pushed::Flush => self.gro_flush(),
                Pushed::NotTcp => {
                    self.gro_flush();
                    self.rx.set_from(frame);
                    self.rx_hdr = VirtioNetHdr::default();
                    self.tunnel_in_port(id, src, dst, vni);
                    return;
                }
            }
        }
    }

    fn gro_flush(&mut self) {
        let Some((id, vni, src, dst)) = self.gro_src.take() else {
            return;
        };
        let Some(hdr) = self.gro.flush_into(&mut self.rx) else {
            return;
        };
        self.rx_hdr = hdr;
        self.tunnel_in_port(id, src, dst, vni);
    }

    fn service_gre(&mut self) -> bool {
        if self.gre_buf.is_empty() {
            self.gre_buf = vec![0; GRE_SLOTS * GRE_SLOT];
        }
        let mut buf = std::mem::take(&mut self.gre_buf);
        let mut pkts = std::mem::take(&mut self.gre_pkts);
        let more = self.service_gre_with(&mut buf, &mut pkts);
        self.gro_flush();
        self.gre_buf = buf;
        self.gre_pkts = pkts;
        more
    }

    /// Reads a batch of GRE packets (recvmmsg); consecutive TCP segments of one flow
    /// are coalesced into super-frames like VXLAN's. True when the batch was full.
    fn service_gre_with(
        &mut self,
        buf: &mut [u8],
        pkts: &mut Vec<Option<host::GrePacket>>,
    ) -> bool {
        let Some(sock) = &self.gre else { return false };
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
                self.tunnels.malformed += 1;
                continue;
            };
            let pkt = &mut buf[p.start..p.start + p.len];
            let h = match gre::parse_header(pkt) {
                Ok(h) if h.protocol == ether::ETH_P_TEB => h,
                _ => {
                    self.tunnels.malformed += 1;
                    continue;
                }
            };
            let key = u64::from(h.key.unwrap_or(0));
            self.tunnel_inner(PortType::Gre, p.src, Some(p.dst), key, &mut pkt[h.len..]);
        }
        n == GRE_SLOTS
    }

    fn tunnel_in_port(&mut self, id: PortId, src: Ipv4Addr, dst: Option<Ipv4Addr>, key: u64) {
        let local = self.sw.port(id).and_then(|p| p.config.local_ip);
        let meta = TunnelMeta {
            id: key,
            src: u32::from(src),
            dst: dst.or(local).map(u32::from).unwrap_or(0),
        };
        self.count_rx(id, self.rx.len());
        self.switch_frame(id, Some(meta));
    }

    fn count_rx(&mut self, id: PortId, bytes: usize) {
        if let Some(p) = self.sw.port_mut(id) {
            p.stats.rx_packets += 1;
            p.stats.rx_bytes += bytes as u64;
        }
    }

    /// Runs the frame in `self.rx` through the engine and sends it where it goes.
    fn switch_frame(&mut self, in_port: PortId, tun: Option<TunnelMeta>) {
        self.spin.note_frame(self.rx_hdr.is_gso());
        let now = self.now();
        let mut outs = std::mem::take(&mut self.outs);
        outs.clear();
        let orig = self
            .sw
            .receive(in_port, self.rx.data(), tun.as_ref(), now, &mut outs);
        let last = outs.len().saturating_sub(1);
        for (i, o) in outs.iter().enumerate() {
            // The last output may rewrite the received buffer; others work on a copy.
            let mut pkt = if i == last {
                std::mem::replace(&mut self.rx, PacketBuf::with_capacity(0))
            } else {
                let mut s = std::mem::replace(&mut self.scratch, PacketBuf::with_capacity(0));
                s.set_from(self.rx.data());
                s
            };
            let before = pkt.len();
            switch::commit::apply(&mut pkt, &orig, &o.key);
            // VLAN pushes/pops move the L4 header: keep the offload offsets right.
            let mut hdr = self.rx_hdr;
            let delta = pkt.len() as i64 - before as i64;
            if delta != 0 && (hdr.is_gso() || hdr.flags & wire::virtio::F_NEEDS_CSUM != 0) {
                hdr.csum_start = (i64::from(hdr.csum_start) + delta) as u16;
                hdr.hdr_len = (i64::from(hdr.hdr_len) + delta).max(0) as u16;
            }
            self.transmit(o, &mut pkt, &hdr);
            if i == last {
                self.rx = pkt;
            } else {
                self.scratch = pkt;
            }
        }
        if self.sw.has_replies() {
            self.send_replies(&orig);
        }
        if let Some(reply) = self.too_big.take() {
            let mut pkt = std::mem::replace(&mut self.scratch, PacketBuf::with_capacity(0));
            pkt.set_from(&reply);
            let o = Output {
                port: in_port,
                key: orig,
            };
            self.transmit(&o, &mut pkt, &VirtioNetHdr::default());
            self.scratch = pkt;
        }
        self.outs = outs;
    }

    /// Sends the frames the engine made itself (DHCP and ARP answers) as they are:
    /// complete frames with their checksums, no offload.
    /// A TCP super-frame out a VXLAN tunnel: per-segment headers are built in
    /// `tx_segs`, the payload is sent from the frame itself (scatter-gather), in
    /// UDP GSO sends of at most MAX_GSO_SEND bytes.
    fn send_vxlan_gso(
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
    fn flush_tunnel_batch(&mut self) {
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

    fn send_replies(&mut self, orig: &switch::FlowKey) {
        for r in self.sw.take_replies() {
            let mut pkt = std::mem::replace(&mut self.scratch, PacketBuf::with_capacity(0));
            pkt.set_from(&r.frame);
            // Bindings live on tap, internal and system ports; the key only says
            // which port (and would give a tunnel its tun_id).
            let o = Output {
                port: r.port,
                key: *orig,
            };
            self.transmit(&o, &mut pkt, &VirtioNetHdr::default());
            self.scratch = pkt;
        }
    }

    fn transmit(&mut self, o: &Output, pkt: &mut PacketBuf, hdr: &VirtioNetHdr) {
        let Some(port) = self.sw.port(o.port) else {
            return;
        };
        let cfg = &port.config;
        let len = pkt.len();
        let offload = hdr.is_gso() || hdr.flags & wire::virtio::F_NEEDS_CSUM != 0;
        let res = match (self.backends.get(&o.port), cfg.kind) {
            (Some(Backend::Tap(t)), _) => {
                // A TAP takes the frame with its offload state as it is.
                hdr.write(pkt.push(VNET_HDR_LEN));
                let r = t.write(pkt.data());
                pkt.pull(VNET_HDR_LEN);
                r
            }
            (Some(Backend::Packet(p)), _) => {
                // AF_PACKET with PACKET_VNET_HDR: the kernel segments or checksums
                // whatever the interface cannot.
                hdr.write_legacy(pkt.push(host::PACKET_VNET_HDR_LEN));
                let r = p.send(pkt.data());
                pkt.pull(host::PACKET_VNET_HDR_LEN);
                r
            }
            (Some(Backend::Tunnel), kind) => {
                let id = match cfg.tunnel_key() {
                    TunnelKey::Flow => o.key.get_u64(Field::TunId),
                    TunnelKey::Fixed(k) => k,
                };
                let Some(remote) = cfg.remote_ip else { return };
                let local = cfg.local_ip;
                let gre_key = cfg.key.map(|_| id as u32);
                let prefix = if kind == PortType::Vxlan {
                    vxlan::HEADER_LEN
                } else {
                    gre::header_len(gre_key.is_some())
                };
                let udp = if kind == PortType::Vxlan { 8 } else { 0 };
                let outer = OUTER_IP + udp + prefix;
                // What one packet on the underlay will carry: the frame, or one segment.
                let piece = if hdr.is_gso() {
                    wire::offload::tcp_frame(pkt.data()).map_or(0, |h| h.payload)
                        + usize::from(hdr.gso_size)
                } else {
                    pkt.len()
                };
                let path = self.underlay.path(remote, Instant::now());
                if outer + piece > path.mtu && wire::icmp::must_not_fragment(pkt.data()) {
                    let mtu = path.mtu.saturating_sub(outer + ether::ETH_HLEN) as u16;
                    self.too_big = wire::icmp::too_big_reply(pkt.data(), mtu);
                    if let Some(p) = self.sw.port_mut(o.port) {
                        p.stats.tx_dropped += 1;
                    }
                    return;
                }
                if hdr.is_gso() && kind == PortType::Vxlan {
                    // Keep the order of what goes out the socket.
                    self.flush_tunnel_batch();
                    match self
                        .uplink
                        .get_mut()
                        .zip(local.or(path.source))
                        .and_then(|(u, src)| {
                            u.send(pkt.data(), hdr, id as u32, src, remote, path.mtu)
                        }) {
                        Some(r) => r,
                        None => {
                            self.send_vxlan_gso(pkt.data(), usize::from(hdr.gso_size), id, remote)
                        }
                    }
                } else if hdr.is_gso() {
                    self.flush_tunnel_batch();
                    self.tx_segs.clear();
                    match segment_tcp(
                        pkt.data(),
                        usize::from(hdr.gso_size),
                        prefix,
                        &mut self.tx_segs,
                    ) {
                        Ok(_) => {
                            let hl = wire::offload::tcp_frame(pkt.data()).map_or(0, |h| h.payload);
                            let stride = prefix + hl + usize::from(hdr.gso_size);
                            self.send_gre_segments(remote, gre_key, prefix, stride)
                        }
                        Err(_) => Err(std::io::Error::other("cannot segment")),
                    }
                } else {
                    if offload {
                        complete_checksum(pkt.data_mut(), hdr);
                    }
                    if kind == PortType::Vxlan {
                        vxlan::write_header(pkt.push(prefix), id as u32);
                    } else {
                        gre::write_header(pkt.push(prefix), ether::ETH_P_TEB, gre_key);
                    }
                    if self.tun_kind != kind {
                        self.flush_tunnel_batch();
                        self.tun_kind = kind;
                    }
                    let start = self.tun_pending.len();
                    self.tun_pending.extend_from_slice(pkt.data());
                    let port = if kind == PortType::Vxlan {
                        vxlan::UDP_PORT
                    } else {
                        0
                    };
                    let dst = SocketAddrV4::new(remote, port);
                    self.tun_msgs.push((start, pkt.len(), dst));
                    self.tun_ports.push((o.port, len));
                    pkt.pull(prefix);
                    if self.tun_msgs.len() >= TUN_BATCH {
                        self.flush_tunnel_batch();
                    }
                    // Counted when the batch leaves.
                    return;
                }
            }
            _ => return,
        };
        if let Some(p) = self.sw.port_mut(o.port) {
            match res {
                Ok(_) => {
                    p.stats.tx_packets += 1;
                    p.stats.tx_bytes += len as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => p.stats.tx_dropped += 1,
                Err(_) => p.stats.tx_errors += 1,
            }
        }
    }

    /// The segments in `tx_segs` (each `stride` bytes, the last maybe shorter)
    /// out the GRE socket, headers written into their `prefix` room.
    fn send_gre_segments(
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

    /// Opens the backend of a port the engine already has, registering its fd.
    fn attach(&mut self, id: PortId) {
        let Some(cfg) = self.sw.port(id).map(|p| p.config.clone()) else {
            return;
        };
        self.underlay.forget();
        let b = match backend::open(&cfg) {
            Ok(b) => b,
            Err(e) => {
                error!("port {}: {e}", cfg.name);
                Backend::Failed(e.to_string())
            }
        };
        if let Some(fd) = b.raw_fd()
            && let Err(e) = self.poll.registry().register(
                &mut SourceFd(&fd),
                Token(PORT_BASE + id),
                Interest::READABLE,
            )
        {
            error!("port {}: epoll add: {e}", cfg.name);
        }
        if matches!(b, Backend::Tunnel)
            && let Err(e) = self.ensure_tunnel_socket(cfg.kind)
        {
            error!("port {}: {e}", cfg.name);
            self.backends.insert(id, Backend::Failed(e.to_string()));
            return;
        }
        // Read whatever arrived before registration (edge-triggered epoll).
        self.ready.push_back(Token(PORT_BASE + id));
        self.backends.insert(id, b);
    }

    fn ensure_tunnel_socket(&mut self, kind: PortType) -> Result<()> {
        use std::os::fd::AsRawFd;
        match kind {
            PortType::Vxlan if self.udp.is_none() => {
                let s = host::UdpTunnelSocket::bind(Ipv4Addr::UNSPECIFIED, vxlan::UDP_PORT)?;
                if let Err(e) = s.enable_gro() {
                    warn!("UDP GRO unavailable, receiving datagram by datagram: {e}");
                }
                self.poll
                    .registry()
                    .register(&mut SourceFd(&s.as_raw_fd()), UDP, Interest::READABLE)
                    .map_err(|e| Error::io("epoll add vxlan socket", e))?;
                self.udp = Some(s);
                self.ready.push_back(UDP);
                self.uplink.start();
            }
            PortType::Gre if self.gre.is_none() => {
                let s = host::GreSocket::bind(Ipv4Addr::UNSPECIFIED)?;
                self.poll
                    .registry()
                    .register(&mut SourceFd(&s.as_raw_fd()), GRE, Interest::READABLE)
                    .map_err(|e| Error::io("epoll add gre socket", e))?;
                self.gre = Some(s);
                self.ready.push_back(GRE);
            }
            _ => {}
        }
        Ok(())
    }

    fn detach(&mut self, id: PortId) {
        if let Some(b) = self.backends.remove(&id) {
            if let Some(fd) = b.raw_fd() {
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
            backend::close(b);
        }
        self.ready.retain(|t| *t != Token(PORT_BASE + id));
    }

    fn save(&self) -> Option<String> {
        state::save(&self.state_path, self.sw.config())
            .err()
            .map(|e| {
                error!("{e}");
                e.to_string()
            })
    }

    // ---- control ----

    fn handle(&mut self, req: Request) -> Response {
        let Request::Batch { requests } = req else {
            return self.handle_one(req, true);
        };
        let mut results = Vec::with_capacity(requests.len());
        for r in requests {
            results.push(match r {
                Request::Batch { .. } => Response::Error {
                    message: "a batch cannot hold another batch".into(),
                },
                r => self.handle_one(r, false),
            });
        }
        if let Some(e) = self.save() {
            // Everything was applied; say so on each change that is not on disk.
            for r in &mut results {
                if matches!(r, Response::Done { .. }) {
                    *r = Response::Error {
                        message: format!("applied, but not saved: {e}"),
                    };
                }
            }
        }
        Response::Batch { results }
    }

    /// One request; `save` writes the state file after a change (a batch
    /// writes it once at its end instead).
    fn handle_one(&mut self, req: Request, save: bool) -> Response {
        let now = self.now();
        let err = |e: switch::SwitchError| Response::Error {
            message: e.to_string(),
        };
        let done = |s: &Self| match if save { s.save() } else { None } {
            None => Response::Done { message: None },
            Some(e) => Response::Error {
                message: format!("applied, but not saved: {e}"),
            },
        };
        match req {
            Request::AddBr { bridge } => match self.sw.add_bridge(&bridge, now) {
                Ok(()) => done(self),
                Err(e) => err(e),
            },
            Request::DelBr { bridge } => match self.sw.del_bridge(&bridge) {
                Ok(removed) => {
                    for (id, _) in removed {
                        self.detach(id);
                    }
                    done(self)
                }
                Err(e) => err(e),
            },
            Request::AddPort { bridge, port } => {
                if let Some(ns) = &port.netns
                    && !host::netns_exists(ns)
                {
                    return Response::Error {
                        message: format!("network namespace '{ns}' does not exist"),
                    };
                }
                if port.kind == PortType::System && !host::link_exists(&port.name) {
                    return Response::Error {
                        message: format!("no interface named '{}' to attach", port.name),
                    };
                }
                match self.sw.add_port(&bridge, port) {
                    Ok(id) => {
                        self.attach(id);
                        if let Some(Backend::Failed(e)) = self.backends.get(&id) {
                            let message = format!("port added but not working: {e}");
                            let name = self
                                .sw
                                .port(id)
                                .map(|p| p.config.name.clone())
                                .unwrap_or_default();
                            // Do not keep a port whose device could not be made.
                            let _ = self.sw.del_port(&bridge, &name);
                            self.detach(id);
                            return Response::Error { message };
                        }
                        done(self)
                    }
                    Err(e) => err(e),
                }
            }
            Request::DelPort { bridge, port } => match self.sw.del_port(&bridge, &port) {
                Ok((id, _)) => {
                    self.detach(id);
                    done(self)
                }
                Err(e) => err(e),
            },
            Request::SetPortDhcp { bridge, port, dhcp } => {
                match self.sw.set_port_dhcp(&bridge, &port, dhcp) {
                    Ok(()) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::Show => Response::Show {
                bridges: self.show(),
                tunnels: {
                    let (uplink_active, uplink_frames, uplink_errors) = self.uplink.counters();
                    TunnelCounters {
                        uplink_active,
                        uplink_frames,
                        uplink_errors,
                        ..self.tunnels
                    }
                },
                flow_cache: self.sw.flow_cache_stats(),
            },
            Request::AddFlows { bridge, flows } => match self.sw.add_flows(&bridge, &flows, now) {
                Ok(_) => done(self),
                Err(e) => err(e),
            },
            Request::ReplaceFlows { bridge, flows } => {
                match self.sw.replace_flows(&bridge, &flows, now) {
                    Ok(_) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::DelFlows { bridge, matching } => {
                match self.sw.del_flows(&bridge, matching.as_deref()) {
                    Ok(_) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::DumpFlows { bridge, table } => match self.sw.dump_flows(&bridge, table, now) {
                Ok(lines) => Response::Lines { lines },
                Err(e) => err(e),
            },
            Request::DumpPorts { bridge } => match self.sw.bridge_id(&bridge) {
                Ok(br) => {
                    let ports = self
                        .sw
                        .bridge(br)
                        .map(|b| {
                            b.ports
                                .iter()
                                .filter_map(|(n, id)| self.sw.port(*id).map(|p| (n, p)))
                                .map(|(n, p)| PortStatsRow {
                                    ofport: *n,
                                    name: p.config.name.clone(),
                                    stats: p.stats,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Response::Ports { ports }
                }
                Err(e) => err(e),
            },
            Request::FdbShow { bridge } => match self.sw.fdb(&bridge, now) {
                Ok(entries) => Response::Fdb { entries },
                Err(e) => err(e),
            },
            Request::Trace { bridge, flow } => match self.sw.trace(&bridge, &flow, now) {
                Ok(lines) => Response::Lines { lines },
                Err(e) => err(e),
            },
            Request::Batch { .. } => Response::Error {
                message: "a batch cannot hold another batch".into(),
            },
        }
    }

    fn show(&self) -> Vec<BridgeView> {
        self.sw
            .bridge_names()
            .into_iter()
            .filter_map(|name| {
                let br = self.sw.bridge_id(&name).ok()?;
                let b = self.sw.bridge(br)?;
                let ports = b
                    .ports
                    .iter()
                    .filter_map(|(n, id)| {
                        let p = self.sw.port(*id)?;
                        let error = match self.backends.get(id) {
                            Some(Backend::Failed(e)) => Some(e.clone()),
                            _ => None,
                        };
                        Some(PortView {
                            config: p.config.clone(),
                            ofport: *n,
                            error,
                            dhcp_stats: p.config.dhcp.as_ref().map(|_| p.dhcp_stats),
                        })
                    })
                    .collect();
                Some(BridgeView {
                    name,
                    ports,
                    flows: b.flow_count(),
                })
            })
            .collect()
    }
}
