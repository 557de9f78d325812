//! The datapath thread: one event loop that owns the engine, every port's fd and the
//! tunnel sockets; it also serves control requests between packet batches.

mod requests;
mod tunnel_rx;
mod tunnel_tx;

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
/// GRE packets taken per recvmmsg (4 MB of slots, allocated when GRE is first used).
const GRE_SLOTS: usize = 64;
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
}
