//! One poll thread: an event loop over the ports it was given and its VXLAN socket
//! (the first thread also reads the GRE socket), with its own copy of the port table
//! and tunnel index, its own buffers and its own counters, added to the shared ones
//! once per batch. Frames are read into a batch and switched together (batch.rs).

mod batch;
mod tunnel_rx;
mod tunnel_tx;
mod tunnel_udp;

use super::shared::Core;
use super::*;
use crate::spin::SpinPolicy;
use crate::underlay::Underlay;
use crate::uplink::UplinkSender;
use mio::Events;
use offload::Coalescer;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;
use std::sync::atomic::Ordering;
use switch::{FlowKey, Output, PortStats, PortType, TunnelIndex, TunnelKey, TunnelMeta};
use tracing::warn;
use wire::PacketBuf;
use wire::virtio::VirtioNetHdr;

/// How often the first thread ages the engine's tables and checks the uplink.
const TICK: Duration = Duration::from_secs(1);

/// What a poll thread knows of a port: its device, and how to send out of it.
pub(super) struct PortInfo {
    backend: Arc<Backend>,
    /// The poll threads that read it.
    readers: super::shared::Readers,
    kind: PortType,
    tunnel_key: TunnelKey,
    /// A GRE key is sent (the port has a `key` option).
    keyed: bool,
    remote: Option<Ipv4Addr>,
    local: Option<Ipv4Addr>,
    /// VXLAN with complete UDP checksums (`csum`).
    csum: bool,
}

/// A poll thread's copy of what changes only with ports.
pub(super) struct Snapshot {
    ports: super::port_table::PortTable,
    tunnels: TunnelIndex,
    udp: Option<Arc<host::UdpTunnelSocket>>,
    raw_udp: Option<Arc<host::RawUdpSocket>>,
    geneve: Option<Arc<host::UdpTunnelSocket>>,
    gre: Option<Arc<host::GreSocket>>,
    uplink: Option<Arc<host::UplinkTap>>,
    /// The fast path's upcall TAP (read by the first thread) and its devices.
    upcall: Option<Arc<host::Tap>>,
    fp_ports: std::collections::HashMap<u32, PortId>,
    fp_vxlan: Option<u32>,
}

/// One frame of a batch, with where it came from and its offload state.
pub(super) struct Frame {
    buf: PacketBuf,
    hdr: VirtioNetHdr,
    in_port: PortId,
    tun: Option<TunnelMeta>,
    /// It came up from the kernel fast path with this key: the engine's decision
    /// for it may be installed there.
    fp: Option<crate::fastpath::FpKey>,
    /// From the fast path, a TCP SYN, FIN or RST.
    fp_ctl: bool,
}

impl Frame {
    pub fn new() -> Frame {
        Frame {
            buf: PacketBuf::with_capacity(MAX_FRAME),
            hdr: VirtioNetHdr::default(),
            in_port: 0,
            tun: None,
            fp: None,
            fp_ctl: false,
        }
    }
}

/// Counters gathered between two takings of the lock.
#[derive(Default)]
pub(super) struct Counts {
    /// Per port id: the counts, and whether the id is in `touched`.
    ports: Vec<(PortStats, bool)>,
    touched: Vec<PortId>,
    tunnels: TunnelCounters,
}

impl Counts {
    pub fn port(&mut self, id: PortId) -> &mut PortStats {
        if id >= self.ports.len() {
            self.ports.resize(id + 1, (PortStats::default(), false));
        }
        let e = &mut self.ports[id];
        if !e.1 {
            e.1 = true;
            self.touched.push(id);
        }
        &mut e.0
    }

    fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.tunnels == TunnelCounters::default()
    }

    /// Adds everything to the shared counters and starts again from zero.
    pub fn flush(&mut self, core: &mut Core) {
        for id in self.touched.drain(..) {
            if let Some((d, mark)) = self.ports.get_mut(id) {
                if let Some(p) = core.sw.port_mut(id) {
                    p.stats.add(d);
                }
                *d = PortStats::default();
                *mark = false;
            }
        }
        core.tunnels.add(&self.tunnels);
        self.tunnels = TunnelCounters::default();
    }
}

pub(super) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    poll: Poll,
    /// The generation `snap` was taken at.
    generation: u64,
    snap: Snapshot,
    ready: VecDeque<Token>,
    batch: Batch,
    tx: TunnelTx,
    rx: TunnelRx,
    merge: UdpRun,
    spin: SpinPolicy,
    underlay: Underlay,
    uplink: UplinkSender,
    counts: Counts,
}

/// The frames read in one turn, switched together under one lock, and the
/// engine's answers for them.
struct Batch {
    /// `frames[..nframes]` are filled, `bytes` long in all.
    frames: Vec<Frame>,
    nframes: usize,
    bytes: usize,
    /// All outputs (forwards and frames the engine made), and per frame its key
    /// and its outputs' range.
    outs: Vec<Output>,
    results: Vec<(FlowKey, Range<usize>)>,
    /// A buffer for the copies of a frame that leaves by more than one port.
    scratch: PacketBuf,
    /// The engine's decision for a frame from the fast path, refilled per frame.
    offer: switch::Offer,
}

/// What tunnel sends gather and reuse.
struct TunnelTx {
    /// Encapsulated segments of one super-frame, one datagram each (`seg_msgs`).
    segs: Vec<u8>,
    seg_msgs: Vec<(usize, usize, SocketAddrV4)>,
    /// A path-MTU error for the sender of the frame being sent (it was too big for
    /// a tunnel and must not be fragmented).
    too_big: Option<Vec<u8>>,
    /// Small tunnel packets waiting to leave together (sendmmsg): their bytes,
    /// (offset, length, destination), and (port, frame bytes) for the counters.
    pending: Vec<u8>,
    msgs: Vec<(usize, usize, SocketAddrV4)>,
    ports: Vec<(PortId, usize)>,
    /// Which socket the gathered packets are for, and what became of each.
    outcome: host::SendOutcome,
    kind: PortType,
}

/// What tunnel receives fill and reuse.
struct TunnelRx {
    /// A received run of VXLAN datagrams (UDP GRO).
    udp_buf: PacketBuf,
    gro: Coalescer,
    /// (port, key, outer source, outer destination) of the frames held by `gro`.
    gro_src: Option<(PortId, u64, Ipv4Addr, Option<Ipv4Addr>)>,
    /// GRE packets received in one recvmmsg, slot by slot, and where each lies.
    gre_buf: Vec<u8>,
    gre_pkts: Vec<Option<host::GrePacket>>,
}

/// UDP datagrams of one flow on their way into one TAP port, merged into one UDP
/// GSO packet (see `offload::UdpMerge`).
struct UdpRun {
    run: offload::UdpMerge,
    /// The TAP port they go to.
    port: Option<PortId>,
    /// The kernel does not take GSO_UDP_L4 on TAP writes (before Linux 6.2, or it
    /// refused one): no merging.
    off: bool,
}

impl Worker {
    pub fn new(index: usize, shared: Arc<Shared>, poll: Poll, opts: &Options) -> Worker {
        let snap = take_snapshot(&shared.lock(), index);
        Worker {
            index,
            shared,
            poll,
            // Differs from any published generation: the first turn takes a copy
            // again, with the ports this thread was given since.
            generation: 0,
            snap,
            ready: VecDeque::new(),
            batch: Batch {
                frames: Vec::with_capacity(BATCH),
                nframes: 0,
                bytes: 0,
                outs: Vec::with_capacity(4 * BATCH),
                results: Vec::with_capacity(BATCH),
                scratch: PacketBuf::with_capacity(MAX_FRAME),
                offer: switch::Offer::default(),
            },
            tx: TunnelTx {
                segs: Vec::with_capacity(2 * MAX_FRAME),
                seg_msgs: Vec::with_capacity(64),
                too_big: None,
                pending: Vec::with_capacity(TUN_BATCH * 2048),
                msgs: Vec::with_capacity(TUN_BATCH),
                ports: Vec::with_capacity(TUN_BATCH),
                outcome: Vec::with_capacity(TUN_BATCH),
                kind: PortType::Vxlan,
            },
            rx: TunnelRx {
                udp_buf: PacketBuf::with_capacity(MAX_FRAME),
                gro: Coalescer::new(),
                gro_src: None,
                gre_buf: Vec::new(),
                gre_pkts: Vec::with_capacity(GRE_SLOTS),
            },
            merge: UdpRun {
                run: offload::UdpMerge::with_capacity(65_536),
                port: None,
                off: !host::tap_takes_udp_gso(),
            },
            spin: SpinPolicy::new(opts.spin, Instant::now()),
            underlay: Underlay::default(),
            uplink: UplinkSender::default(),
            counts: Counts::default(),
        }
    }

    /// The event loop; returns only on an error of epoll itself.
    pub fn run(&mut self) -> Result<()> {
        let mut events = Events::with_capacity(256);
        let mut last_tick = Instant::now();
        let mut last_packet: Option<Instant> = None;
        loop {
            if self.shared.generation.load(Ordering::Acquire) != self.generation {
                self.refresh();
            }
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
                // The waker only says the port table changed (checked above).
                if ev.token() == WAKER {
                    continue;
                }
                if !self.ready.contains(&ev.token()) {
                    self.ready.push_back(ev.token());
                }
                last_packet = Some(Instant::now());
            }
            for _ in 0..self.ready.len() {
                let Some(tok) = self.ready.pop_front() else {
                    break;
                };
                let more = self.service(tok);
                self.run_batch();
                self.flush_tunnel_batch();
                if more {
                    self.ready.push_back(tok);
                }
            }
            if !self.counts.is_empty() || self.uplink.frames + self.uplink.errors > 0 {
                let mut core = self.shared.lock();
                self.counts.flush(&mut core);
                core.uplink.count(self.uplink.frames, self.uplink.errors);
                (self.uplink.frames, self.uplink.errors) = (0, 0);
            }
            if self.index == 0 && last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                let now = self.shared.now();
                let mut core = self.shared.lock();
                // The kernel's counts first: expiry must see flows as used.
                core.revalidate(now);
                core.sw.expire(now);
                core.sync_fastpath();
                if core.uplink.tick() {
                    self.shared.bump();
                    drop(core);
                    self.shared.wake_all();
                }
            }
        }
    }

    /// Takes a new copy of the port table, sockets and tunnel index (and hands in
    /// this thread's counts on the way).
    pub fn refresh(&mut self) {
        let (snap, generation) = {
            let mut core = self.shared.lock();
            self.counts.flush(&mut core);
            let generation = self.shared.generation.load(Ordering::Acquire);
            (take_snapshot(&core, self.index), generation)
        };
        self.adopt(snap, generation);
    }

    /// Switches to a new copy taken at `generation`. Sources that are new to this
    /// thread go on the ready list: their first event may have come (and been
    /// dropped) before the copy knew them, and epoll reports an edge only once.
    pub fn adopt(&mut self, snap: Snapshot, generation: u64) {
        if new_socket(&self.snap.udp, &snap.udp) && !self.ready.contains(&UDP) {
            self.ready.push_back(UDP);
        }
        if self.index == 0 && new_socket(&self.snap.gre, &snap.gre) && !self.ready.contains(&GRE) {
            self.ready.push_back(GRE);
        }
        if self.index == 0
            && new_socket(&self.snap.geneve, &snap.geneve)
            && !self.ready.contains(&GENEVE)
        {
            self.ready.push_back(GENEVE);
        }
        for (id, p) in snap.ports.iter() {
            let known = self
                .snap
                .ports
                .get(id)
                .is_some_and(|o| Arc::ptr_eq(&o.backend, &p.backend));
            let tok = Token(PORT_BASE + id);
            if p.readers.includes(self.index) && !known && !self.ready.contains(&tok) {
                self.ready.push_back(tok);
            }
        }
        // Ports gone, or now read by another thread.
        self.ready.retain(|t| match t.0.checked_sub(PORT_BASE) {
            Some(id) => snap
                .ports
                .get(id)
                .is_some_and(|p| p.readers.includes(self.index)),
            None => true,
        });
        self.snap = snap;
        self.underlay.forget();
        self.generation = generation;
        self.shared.links[self.index]
            .seen
            .store(generation, Ordering::Release);
    }

    /// Reads up to a batch from one source; true when it may have more.
    fn service(&mut self, tok: Token) -> bool {
        match tok {
            UDP => self.service_udp(tunnel_udp::UdpEncap::Vxlan),
            GRE => self.service_gre(),
            GENEVE => self.service_udp(tunnel_udp::UdpEncap::Geneve),
            UPCALL => self.service_upcall(),
            Token(t) if t >= PORT_BASE => self.service_port(t - PORT_BASE),
            _ => false,
        }
    }

    /// The device of port `id` if this thread reads it; a port it has not heard of
    /// yet (its fd was registered just now) is looked up again in a fresh copy.
    fn backend(&mut self, id: PortId) -> Option<Arc<Backend>> {
        if !self.snap.ports.contains(id) {
            self.refresh();
        }
        self.snap
            .ports
            .get(id)
            .filter(|p| p.readers.includes(self.index))
            .map(|p| p.backend.clone())
    }

    /// Frames the kernel fast path sent up: the program's header (the key it
    /// computed and the ingress device) in front of each, after the virtio-net
    /// header, whose offsets count the program's header too.
    fn service_upcall(&mut self) -> bool {
        let Some(tap) = self.snap.upcall.clone() else {
            return false;
        };
        let meta_len = crate::fastpath::META_LEN;
        for _ in 0..BATCH {
            let i = self.slot();
            let f = &mut self.batch.frames[i];
            let buf = f.buf.reset_for_read();
            match tap.read(buf) {
                Ok(n) => {
                    f.buf.set_len(n);
                    let mut hdr = VirtioNetHdr::parse(f.buf.data()).unwrap_or_default();
                    if !f.buf.pull(VNET_HDR_LEN) {
                        continue;
                    }
                    let Some(meta) = crate::fastpath::Meta::parse(f.buf.data()) else {
                        continue;
                    };
                    if !f.buf.pull(meta_len) {
                        continue;
                    }
                    let m = meta_len as u16;
                    hdr.csum_start = hdr.csum_start.saturating_sub(m);
                    hdr.hdr_len = hdr.hdr_len.saturating_sub(m);
                    f.hdr = hdr;
                    f.fp_ctl = meta.tcp_flags & crate::fastpath::TCP_CTL != 0;
                    let fp = meta.key_ok.then_some(meta.key);
                    let k = &meta.key;
                    if Some(k.ifindex) == self.snap.fp_vxlan {
                        // Received through the VXLAN device: the tunnel port of
                        // its remote and VNI, as the socket path finds it.
                        let remote = Ipv4Addr::from(k.tun_src);
                        let Some(id) = self.snap.tunnels.lookup(PortType::Vxlan, remote, k.tun_id)
                        else {
                            self.counts.tunnels.unknown += 1;
                            continue;
                        };
                        let local = self.snap.ports.get(id).and_then(|p| p.local);
                        let tun = TunnelMeta {
                            id: k.tun_id,
                            src: k.tun_src,
                            dst: local.map_or(meta.tun_dst, u32::from),
                        };
                        self.accept(i, id, Some(tun), fp);
                        continue;
                    }
                    let Some(&id) = self.snap.fp_ports.get(&k.ifindex) else {
                        continue;
                    };
                    self.accept(i, id, None, fp);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("read from the upcall TAP: {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Slot `i` holds a frame read from port `id` (from the fast path with key
    /// `fp`): it joins the batch, counted, unless it is a super-frame no real
    /// stack sends (segments of a few bytes), dropped whole before anything cuts
    /// it up.
    fn accept(
        &mut self,
        i: usize,
        id: PortId,
        tun: Option<TunnelMeta>,
        fp: Option<crate::fastpath::FpKey>,
    ) {
        let f = &mut self.batch.frames[i];
        let len = f.buf.len();
        if !f.hdr.plausible_gso(len) {
            self.counts.port(id).rx_dropped += 1;
            return;
        }
        f.in_port = id;
        f.tun = tun;
        f.fp = fp;
        let s = self.counts.port(id);
        s.rx_packets += 1;
        s.rx_bytes += len as u64;
        self.commit(len);
    }

    fn service_port(&mut self, id: PortId) -> bool {
        let Some(backend) = self.backend(id) else {
            return false;
        };
        // The virtio-net header carries the frame's offload state.
        let hlen = match &*backend {
            Backend::Tap(_) => VNET_HDR_LEN,
            Backend::Packet(_) => host::PACKET_VNET_HDR_LEN,
            _ => return false,
        };
        for _ in 0..BATCH {
            let i = self.slot();
            let f = &mut self.batch.frames[i];
            let buf = f.buf.reset_for_read();
            let res = match &*backend {
                Backend::Tap(t) => t.queue(self.index).read(buf),
                Backend::Packet(p) => p.recv(buf),
                _ => return false,
            };
            match res {
                Ok(n) => {
                    f.buf.set_len(n);
                    f.hdr = VirtioNetHdr::parse(f.buf.data()).unwrap_or_default();
                    if !f.buf.pull(hlen) {
                        continue;
                    }
                    self.accept(i, id, None, None);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.counts.port(id).rx_errors += 1;
                    warn!("read from port {id}: {e}");
                    return false;
                }
            }
        }
        true
    }
}

/// A poll thread's copy of the port table, sockets and tunnel index.
pub(super) fn take_snapshot(core: &Core, index: usize) -> Snapshot {
    let mut snap = Snapshot {
        ports: super::port_table::PortTable::default(),
        tunnels: core.sw.tunnel_index().clone(),
        udp: core.udp.get(index).cloned(),
        raw_udp: core.raw_udp.clone(),
        geneve: core.geneve.clone(),
        gre: core.gre.clone(),
        uplink: core.uplink.tap(),
        upcall: core.fastpath.as_ref().map(|f| f.upcall_tap()),
        fp_ports: core
            .fastpath
            .as_ref()
            .map(|f| f.port_map())
            .unwrap_or_default(),
        fp_vxlan: core.fastpath.as_ref().and_then(|f| f.vxlan_ifindex()),
    };
    for (id, a) in &core.ports {
        let Some(p) = core.sw.port(*id) else {
            continue;
        };
        let c = &p.config;
        snap.ports.insert(
            *id,
            PortInfo {
                backend: a.backend.clone(),
                readers: a.readers,
                kind: c.kind,
                tunnel_key: c.tunnel_key(),
                keyed: c.key.is_some(),
                remote: c.remote_ip,
                local: c.local_ip,
                csum: c.csum,
            },
        );
    }
    snap
}

/// A socket this copy has that the one before did not.
fn new_socket<T>(old: &Option<Arc<T>>, new: &Option<Arc<T>>) -> bool {
    match (old, new) {
        (Some(o), Some(n)) => !Arc::ptr_eq(o, n),
        (None, Some(_)) => true,
        _ => false,
    }
}
