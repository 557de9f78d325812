//! The datapath thread: one event loop that owns the engine, every port's fd and the
//! tunnel sockets; it also serves control requests between packet batches.

use crate::backend::{self, Backend};
use crate::control::{self, Pending};
use crate::protocol::{BridgeView, PortStatsRow, PortView, Request, Response, TunnelCounters};
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
use wire::virtio::{HDR_LEN as VNET_HDR_LEN, VirtioNetHdr};
use wire::{PacketBuf, ether, gre, vxlan};

const WAKER: Token = Token(0);
const UDP: Token = Token(1);
const GRE: Token = Token(2);
const PORT_BASE: usize = 16;
/// Frames read from one fd before the loop turns to the others (fairness).
const BATCH: usize = 64;
/// Largest frame (a TCP super-frame once offloads are on).
const MAX_FRAME: usize = 65536 + VNET_HDR_LEN;

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
    scratch: PacketBuf,
    outs: Vec<Output>,
    /// Sources that still had data when their batch ran out.
    ready: VecDeque<Token>,
}

/// Runs switchd on `run_dir` until the process is killed.
pub fn run(run_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(format!("create {}", run_dir.display()), e))?;
    let sock = run_dir.join(SOCKET_NAME);
    if sock.exists() {
        if UnixStream::connect(&sock).is_ok() {
            return Err(Error::Io(format!("another switchd is already serving {}", sock.display())));
        }
        std::fs::remove_file(&sock).map_err(|e| Error::io(format!("remove stale {}", sock.display()), e))?;
    }
    let state_path = run_dir.join(STATE_NAME);
    let clock = Instant::now();
    let sw = match state::load(&state_path)? {
        Some(s) => {
            let sw = Switch::restore(&s.bridges, 0)
                .map_err(|e| Error::State { path: state_path.display().to_string(), message: e.to_string() })?;
            info!("restored {} bridges from {}", s.bridges.len(), state_path.display());
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
        scratch: PacketBuf::with_capacity(MAX_FRAME),
        outs: Vec::with_capacity(64),
        ready: VecDeque::new(),
    };
    let ids: Vec<PortId> = dp.sw.ports().map(|(id, _)| id).collect();
    for id in ids {
        dp.attach(id);
    }
    let listener = UnixListener::bind(&sock).map_err(|e| Error::io(format!("bind {}", sock.display()), e))?;
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
        loop {
            let timeout = if self.ready.is_empty() { Duration::from_millis(500) } else { Duration::ZERO };
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
            }
            for _ in 0..self.ready.len() {
                let Some(tok) = self.ready.pop_front() else { break };
                if self.service(tok) {
                    self.ready.push_back(tok);
                }
            }
            let now = self.now();
            if now >= last_expire + 1000 {
                self.sw.expire(now);
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
                    if matches!(self.backends.get(&id), Some(Backend::Tap(_))) {
                        // The virtio-net header carries the frame's offload state.
                        let _hdr = VirtioNetHdr::parse(self.rx.data()).unwrap_or_default();
                        if !self.rx.pull(VNET_HDR_LEN) {
                            continue;
                        }
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
        for _ in 0..BATCH {
            let Some(sock) = &self.udp else { return false };
            let buf = self.rx.reset_for_read();
            match sock.recv_from(buf) {
                Ok((n, src)) => {
                    self.rx.set_len(n);
                    let vni = match vxlan::parse_header(self.rx.data()) {
                        Ok(v) => v,
                        Err(_) => {
                            self.tunnels.malformed += 1;
                            continue;
                        }
                    };
                    self.rx.pull(vxlan::HEADER_LEN);
                    self.tunnel_in(PortType::Vxlan, *src.ip(), None, u64::from(vni));
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

    fn service_gre(&mut self) -> bool {
        for _ in 0..BATCH {
            let Some(sock) = &self.gre else { return false };
            let buf = self.rx.reset_for_read();
            match sock.recv_from(buf) {
                Ok(p) => {
                    self.rx.set_len(p.start + p.len);
                    self.rx.pull(p.start);
                    let h = match gre::parse_header(self.rx.data()) {
                        Ok(h) if h.protocol == ether::ETH_P_TEB => h,
                        _ => {
                            self.tunnels.malformed += 1;
                            continue;
                        }
                    };
                    self.rx.pull(h.len);
                    self.tunnel_in(PortType::Gre, p.src, Some(p.dst), u64::from(h.key.unwrap_or(0)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("gre socket: {e}");
                    return false;
                }
            }
        }
        true
    }

    fn tunnel_in(&mut self, kind: PortType, src: Ipv4Addr, dst: Option<Ipv4Addr>, key: u64) {
        if self.rx.len() < ether::ETH_HLEN {
            self.tunnels.malformed += 1;
            return;
        }
        let Some(id) = self.sw.tunnel_port(kind, src, key) else {
            self.tunnels.unknown += 1;
            return;
        };
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
        let now = self.now();
        let mut outs = std::mem::take(&mut self.outs);
        outs.clear();
        let orig = self.sw.receive(in_port, self.rx.data(), tun.as_ref(), now, &mut outs);
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
            switch::commit::apply(&mut pkt, &orig, &o.key);
            self.transmit(o, &mut pkt);
            if i == last {
                self.rx = pkt;
            } else {
                self.scratch = pkt;
            }
        }
        self.outs = outs;
    }

    fn transmit(&mut self, o: &Output, pkt: &mut PacketBuf) {
        let Some(port) = self.sw.port(o.port) else { return };
        let cfg = &port.config;
        let len = pkt.len();
        let res = match (self.backends.get(&o.port), cfg.kind) {
            (Some(Backend::Tap(t)), _) => {
                VirtioNetHdr::default().write(pkt.push(VNET_HDR_LEN));
                let r = t.write(pkt.data());
                pkt.pull(VNET_HDR_LEN);
                r
            }
            (Some(Backend::Packet(p)), _) => p.send(pkt.data()),
            (Some(Backend::Tunnel), kind) => {
                let id = match cfg.tunnel_key() {
                    TunnelKey::Flow => o.key.get_u64(Field::TunId),
                    TunnelKey::Fixed(k) => k,
                };
                let Some(remote) = cfg.remote_ip else { return };
                if kind == PortType::Vxlan {
                    vxlan::write_header(pkt.push(vxlan::HEADER_LEN), id as u32);
                    let r = match &self.udp {
                        Some(s) => s.send_to(pkt.data(), SocketAddrV4::new(remote, vxlan::UDP_PORT)),
                        None => Err(std::io::Error::other("no vxlan socket")),
                    };
                    pkt.pull(vxlan::HEADER_LEN);
                    r
                } else {
                    let key = cfg.key.map(|_| id as u32);
                    let hl = gre::header_len(key.is_some());
                    gre::write_header(pkt.push(hl), ether::ETH_P_TEB, key);
                    let r = match &self.gre {
                        Some(s) => s.send_to(pkt.data(), remote),
                        None => Err(std::io::Error::other("no gre socket")),
                    };
                    pkt.pull(hl);
                    r
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

    // ---- ports ----

    /// Opens the backend of a port the engine already has, registering its fd.
    fn attach(&mut self, id: PortId) {
        let Some(cfg) = self.sw.port(id).map(|p| p.config.clone()) else { return };
        let b = match backend::open(&cfg) {
            Ok(b) => b,
            Err(e) => {
                error!("port {}: {e}", cfg.name);
                Backend::Failed(e.to_string())
            }
        };
        if let Some(fd) = b.raw_fd()
            && let Err(e) = self.poll.registry().register(&mut SourceFd(&fd), Token(PORT_BASE + id), Interest::READABLE)
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
                self.poll
                    .registry()
                    .register(&mut SourceFd(&s.as_raw_fd()), UDP, Interest::READABLE)
                    .map_err(|e| Error::io("epoll add vxlan socket", e))?;
                self.udp = Some(s);
                self.ready.push_back(UDP);
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
        state::save(&self.state_path, self.sw.config()).err().map(|e| {
            error!("{e}");
            e.to_string()
        })
    }

    // ---- control ----

    fn handle(&mut self, req: Request) -> Response {
        let now = self.now();
        let err = |e: switch::SwitchError| Response::Error { message: e.to_string() };
        let done = |s: &Self| match s.save() {
            None => Response::Done { message: None },
            Some(e) => Response::Error { message: format!("applied, but not saved: {e}") },
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
                    return Response::Error { message: format!("network namespace '{ns}' does not exist") };
                }
                if port.kind == PortType::System && !host::link_exists(&port.name) {
                    return Response::Error { message: format!("no interface named '{}' to attach", port.name) };
                }
                match self.sw.add_port(&bridge, port) {
                    Ok(id) => {
                        self.attach(id);
                        if let Some(Backend::Failed(e)) = self.backends.get(&id) {
                            let message = format!("port added but not working: {e}");
                            let name = self.sw.port(id).map(|p| p.config.name.clone()).unwrap_or_default();
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
            Request::Show => Response::Show { bridges: self.show(), tunnels: self.tunnels },
            Request::AddFlows { bridge, flows } => match self.sw.add_flows(&bridge, &flows, now) {
                Ok(_) => done(self),
                Err(e) => err(e),
            },
            Request::ReplaceFlows { bridge, flows } => match self.sw.replace_flows(&bridge, &flows, now) {
                Ok(_) => done(self),
                Err(e) => err(e),
            },
            Request::DelFlows { bridge, matching } => match self.sw.del_flows(&bridge, matching.as_deref()) {
                Ok(_) => done(self),
                Err(e) => err(e),
            },
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
                                .map(|(n, p)| PortStatsRow { ofport: *n, name: p.config.name.clone(), stats: p.stats })
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
                        Some(PortView { config: p.config.clone(), ofport: *n, error })
                    })
                    .collect();
                Some(BridgeView { name, ports, flows: b.flow_count() })
            })
            .collect()
    }
}
