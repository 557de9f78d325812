//! What the poll threads share: the engine and the ports' devices behind one lock —
//! taken once per batch of frames, by a control request, or by a thread refreshing
//! its copy of the port table — and the generation number that says such a copy is
//! stale. Ports are given to threads here: a multi-queue TAP a queue per thread,
//! any other device the thread reading fewest ports.

use super::*;
use mio::Interest;
use mio::unix::SourceFd;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};
use switch::PortType;
use switch_proto::PollSpin;
use tracing::{error, warn};

/// How long a port change waits for every poll thread to take it up.
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

/// The state behind the lock.
pub(crate) struct Core {
    pub sw: Switch,
    pub ports: HashMap<PortId, Attached>,
    /// One VXLAN socket per poll thread (SO_REUSEPORT when there are several), made
    /// with the first VXLAN port.
    pub udp: Vec<Arc<host::UdpTunnelSocket>>,
    /// The send-only raw UDP socket of VXLAN and Geneve ports with checksums on
    /// (`csum`).
    pub raw_udp: Option<Arc<host::RawUdpSocket>>,
    /// The Geneve socket (UDP 6081): every thread sends through it, the first one
    /// reads it. Geneve stays on the user-space path.
    pub geneve: Option<Arc<host::UdpTunnelSocket>>,
    /// The GRE socket: every thread sends through it, the first one reads it (a raw
    /// socket sees every packet; several would each get a copy).
    pub gre: Option<Arc<host::GreSocket>>,
    /// Tunnel counters summed over the threads.
    pub tunnels: TunnelCounters,
    pub uplink: UplinkSlot,
    /// The kernel fast path, when its programs loaded (see crate::fastpath), and
    /// why not when they did not.
    pub fastpath: Option<crate::fastpath::FastPath>,
    pub fastpath_off: String,
    state_path: PathBuf,
}

/// A port's device and the threads that read it.
pub(crate) struct Attached {
    pub backend: Arc<Backend>,
    pub readers: Readers,
    /// The config it was opened with (closing a veth port deletes its pair).
    pub config: switch::PortConfig,
}

/// Which poll threads read a port's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Readers {
    /// Nothing to read (tunnel and patch ports, devices that failed).
    #[default]
    None,
    /// One thread reads the device.
    One(usize),
    /// A multi-queue TAP: thread i reads queue i, for this many queues.
    EachQueue(usize),
}

impl Readers {
    pub fn includes(self, worker: usize) -> bool {
        match self {
            Readers::None => false,
            Readers::One(w) => w == worker,
            Readers::EachQueue(n) => worker < n,
        }
    }

    /// The threads, in order.
    pub fn threads(self) -> Vec<usize> {
        self.thread_fds().into_iter().map(|(w, _)| w).collect()
    }

    /// Each reading thread with the index of the fd it reads in [`Backend::fds`].
    fn thread_fds(self) -> Vec<(usize, usize)> {
        match self {
            Readers::None => Vec::new(),
            Readers::One(w) => vec![(w, 0)],
            Readers::EachQueue(n) => (0..n).map(|i| (i, i)).collect(),
        }
    }
}

/// How to reach one poll thread from elsewhere.
pub(crate) struct WorkerLink {
    /// Its epoll set (ports are registered into it from the control thread).
    pub registry: mio::Registry,
    pub waker: Waker,
    /// The port-table generation it has taken up.
    pub seen: AtomicU64,
    /// The CPU it is pinned to (`--poll-cpus`).
    pub cpu: Option<usize>,
}

pub(crate) struct Shared {
    core: Mutex<Core>,
    /// Bumped after every change of ports, sockets or the uplink.
    pub generation: AtomicU64,
    pub links: Vec<WorkerLink>,
    /// How long poll threads keep polling after light traffic (`--poll-spin-us`).
    pub poll_spin: PollSpin,
    clock: Instant,
}

impl Core {
    pub fn new(sw: Switch, state_path: PathBuf, uplink: UplinkSlot) -> Core {
        Core {
            sw,
            ports: HashMap::new(),
            udp: Vec::new(),
            raw_udp: None,
            geneve: None,
            gre: None,
            tunnels: TunnelCounters::default(),
            uplink,
            fastpath: None,
            fastpath_off: "turned off (--fast-path off)".into(),
            state_path,
        }
    }

    /// Gives the fast path's counts to the engine and drops what no longer holds
    /// (before anything reads or removes flows, and every second).
    pub fn revalidate(&mut self, now: u64) {
        if let Some(fp) = self.fastpath.as_mut() {
            fp.revalidate(&mut self.sw, now);
        }
    }

    /// Tells the kernel the engine's generation (entries of older ones are stale).
    pub fn sync_fastpath(&mut self) {
        if let Some(fp) = self.fastpath.as_mut() {
            fp.sync(self.sw.generation);
        }
    }

    /// Writes the state file; the error as text (logged too).
    pub fn save(&self) -> Option<String> {
        state::save(&self.state_path, self.sw.config())
            .err()
            .map(|e| {
                error!("{e}");
                e.to_string()
            })
    }

    /// Why a port's device is not working, if it is not.
    pub fn failure(&self, id: PortId) -> Option<&str> {
        match self.ports.get(&id).map(|a| &*a.backend) {
            Some(Backend::Failed(e)) => Some(e),
            _ => None,
        }
    }

    /// Tunnel counters, with the uplink's.
    pub fn tunnel_counters(&self) -> TunnelCounters {
        let (uplink_active, uplink_frames, uplink_errors) = self.uplink.counters();
        TunnelCounters {
            uplink_active,
            uplink_frames,
            uplink_errors,
            ..self.tunnels
        }
    }
}

impl Shared {
    pub fn new(core: Core, links: Vec<WorkerLink>, poll_spin: PollSpin) -> Shared {
        Shared {
            core: Mutex::new(core),
            generation: AtomicU64::new(1),
            links,
            poll_spin,
            clock: Instant::now(),
        }
    }

    /// The engine and devices. A thread that panicked while holding the lock left
    /// them as they were; carrying on beats stopping every port.
    pub fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since switchd started (the engine's clock).
    pub fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Marks the port table changed. Called with the lock held, so that no thread
    /// switches against the changed engine with its old copy (a batch compares the
    /// generation under the lock).
    pub fn bump(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Wakes every poll thread (to take up a new generation).
    pub fn wake_all(&self) {
        for l in &self.links {
            if let Err(e) = l.waker.wake() {
                warn!("waking a poll thread: {e}");
            }
        }
    }

    /// Returns once every poll thread has taken up generation `g` — a new port is
    /// read, a removed port's device is closed — or after [`PUBLISH_WAIT`]. Never
    /// called with the lock held, nor from a poll thread.
    pub fn wait_taken_up(&self, g: u64) {
        self.wake_all();
        let deadline = Instant::now() + PUBLISH_WAIT;
        while self
            .links
            .iter()
            .any(|l| l.seen.load(Ordering::Acquire) < g)
        {
            if Instant::now() > deadline {
                warn!("a poll thread took more than {PUBLISH_WAIT:?} to take up a port change");
                return;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Ports changed under `core`: bumps the generation, lets go of the lock and
    /// waits until every poll thread has taken the change up.
    pub fn publish(&self, core: MutexGuard<'_, Core>) {
        let g = self.bump();
        drop(core);
        self.wait_taken_up(g);
    }

    /// Opens the backend of a port the engine already has and gives its fds to the
    /// poll threads (see [`Shared::register`]).
    pub fn attach(&self, core: &mut Core, id: PortId) {
        let Some(cfg) = core.sw.port(id).map(|p| p.config.clone()) else {
            return;
        };
        let fast = matches!(cfg.kind, PortType::Veth | PortType::System) && core.fastpath.is_some();
        let b = match backend::open(&cfg, self.links.len(), !fast) {
            Ok(b) => b,
            Err(e) => {
                error!("port {}: {e}", cfg.name);
                Backend::Failed(e.to_string())
            }
        };
        let b = if fast && !matches!(b, Backend::Failed(_)) {
            self.attach_fast(core, b, id, &cfg)
        } else {
            b
        };
        let (b, readers) = self.register(b, id, &cfg.name, core);
        let b = if matches!(b, Backend::Tunnel) {
            match self.ensure_tunnel_socket(core, cfg.kind) {
                Ok(()) => b,
                Err(e) => {
                    error!("port {}: {e}", cfg.name);
                    Backend::Failed(e.to_string())
                }
            }
        } else {
            b
        };
        core.ports.insert(
            id,
            Attached {
                backend: Arc::new(b),
                readers,
                config: cfg,
            },
        );
    }

    /// Puts a veth or system port on the kernel fast path; when that fails, the
    /// port is read as any other (AF_PACKET) and the reason logged.
    fn attach_fast(
        &self,
        core: &mut Core,
        b: Backend,
        id: PortId,
        cfg: &switch::PortConfig,
    ) -> Backend {
        // A veth's frames go into its peer (the VM's end); a system port's out
        // of the device itself.
        let (dev, egress) = match cfg.kind {
            PortType::System => (cfg.name.clone(), true),
            _ => (switch::veth_host_end(&cfg.name), false),
        };
        let Some(fp) = core.fastpath.as_mut() else {
            return b;
        };
        match fp.attach_port(&dev, id, egress) {
            Ok(()) => b,
            Err(e) => {
                error!("port {}: not on the fast path: {e}", cfg.name);
                match host::PacketSocket::bind_with(&dev, true) {
                    Ok(p) => Backend::Packet(p),
                    Err(e) => Backend::Failed(e.to_string()),
                }
            }
        }
    }

    /// Registers a device's fds with the poll threads: a multi-queue TAP's queue i
    /// with thread i (queues that could not be registered are closed, so the VM
    /// sends nothing into them), any other fd with the thread reading fewest ports.
    /// A device no thread could take is marked failed.
    fn register(&self, mut b: Backend, id: PortId, name: &str, core: &Core) -> (Backend, Readers) {
        let fds = b.fds();
        // A frame already waiting is reported at registration (epoll checks
        // readiness when an fd is added).
        let add = |w: usize, fd: &RawFd| {
            self.links[w].registry.register(
                &mut SourceFd(fd),
                Token(PORT_BASE + id),
                Interest::READABLE,
            )
        };
        if fds.len() > 1 {
            // Never more queues than threads: that is what was asked for.
            let mut ok = 0;
            for (w, fd) in fds.iter().enumerate().take(self.links.len()) {
                match add(w, fd) {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        error!("port {name} queue {w}: epoll add: {e}");
                        break;
                    }
                }
            }
            if let Backend::Tap(t) = &mut b {
                t.truncate(ok);
            }
            return match ok {
                0 => (Backend::Failed("epoll add failed".into()), Readers::None),
                1 => (b, Readers::One(0)),
                n => (b, Readers::EachQueue(n)),
            };
        }
        let Some(fd) = fds.first() else {
            return (b, Readers::None);
        };
        let w = (0..self.links.len())
            .min_by_key(|w| {
                core.ports
                    .values()
                    .filter(|a| a.readers.includes(*w))
                    .count()
            })
            .unwrap_or(0);
        match add(w, fd) {
            Ok(()) => (b, Readers::One(w)),
            Err(e) => {
                error!("port {name}: epoll add: {e}");
                (Backend::Failed(format!("epoll add: {e}")), Readers::None)
            }
        }
    }

    fn ensure_tunnel_socket(&self, core: &mut Core, kind: PortType) -> Result<()> {
        match kind {
            PortType::Vxlan if core.udp.is_empty() => {
                ensure_raw_udp(core);
                // With VXLAN on the fast path, the kernel's external device owns
                // UDP 4789 and every frame arrives through it (hits to the VMs,
                // the rest up through the upcall TAP): switchd's socket only sends.
                let fast = match core.fastpath.as_mut().map(|f| f.start_vxlan()) {
                    Some(Ok(())) => true,
                    Some(Err(e)) => {
                        warn!("VXLAN stays in user space: {e}");
                        false
                    }
                    None => false,
                };
                if fast {
                    // One socket every poll thread sends through.
                    let s = Arc::new(checked(host::UdpTunnelSocket::bind(
                        Ipv4Addr::UNSPECIFIED,
                        0,
                    )?));
                    core.udp = vec![s; self.links.len()];
                    core.uplink.start();
                    return Ok(());
                }
                let mut socks = Vec::with_capacity(self.links.len());
                for l in &self.links {
                    let s = if self.links.len() == 1 {
                        host::UdpTunnelSocket::bind(Ipv4Addr::UNSPECIFIED, vxlan::UDP_PORT)?
                    } else {
                        host::UdpTunnelSocket::bind_shared(Ipv4Addr::UNSPECIFIED, vxlan::UDP_PORT)?
                    };
                    let s = checked(s);
                    if let Err(e) = s.enable_gro() {
                        warn!("UDP GRO unavailable, receiving datagram by datagram: {e}");
                    }
                    l.registry
                        .register(&mut SourceFd(&s.as_raw_fd()), UDP, Interest::READABLE)
                        .map_err(|e| Error::io("epoll add vxlan socket", e))?;
                    socks.push(Arc::new(s));
                }
                core.udp = socks;
                core.uplink.start();
            }
            PortType::Geneve if core.geneve.is_none() => {
                ensure_raw_udp(core);
                let s = checked(host::UdpTunnelSocket::bind(
                    Ipv4Addr::UNSPECIFIED,
                    wire::geneve::UDP_PORT,
                )?);
                if let Err(e) = s.enable_gro() {
                    warn!("UDP GRO unavailable on the Geneve socket: {e}");
                }
                self.links[0]
                    .registry
                    .register(&mut SourceFd(&s.as_raw_fd()), GENEVE, Interest::READABLE)
                    .map_err(|e| Error::io("epoll add geneve socket", e))?;
                core.geneve = Some(Arc::new(s));
            }
            PortType::Gre if core.gre.is_none() => {
                let s = host::GreSocket::bind(Ipv4Addr::UNSPECIFIED)?;
                self.links[0]
                    .registry
                    .register(&mut SourceFd(&s.as_raw_fd()), GRE, Interest::READABLE)
                    .map_err(|e| Error::io("epoll add gre socket", e))?;
                core.gre = Some(Arc::new(s));
            }
            _ => {}
        }
        Ok(())
    }

    /// Stops reading a removed port; its device closes when the last poll thread
    /// lets go of it (see [`Shared::wait_taken_up`]).
    pub fn detach(&self, core: &mut Core, id: PortId) {
        let Some(a) = core.ports.remove(&id) else {
            return;
        };
        if let Some(fp) = core.fastpath.as_mut() {
            fp.detach_port(id);
        }
        let fds = a.backend.fds();
        for (w, i) in a.readers.thread_fds() {
            if let (Some(fd), Some(link)) = (fds.get(i), self.links.get(w)) {
                let _ = link.registry.deregister(&mut SourceFd(fd));
            }
        }
        backend::close(&a.config, &a.backend);
    }
}

/// Opens the raw UDP socket of tunnels with checksums on, once (with the first
/// UDP tunnel port); without it such ports cannot send, and the log says why.
fn ensure_raw_udp(core: &mut Core) {
    if core.raw_udp.is_some() {
        return;
    }
    match host::RawUdpSocket::open() {
        Ok(s) => core.raw_udp = Some(Arc::new(s)),
        Err(e) => warn!("tunnels with checksums on cannot send: {e}"),
    }
}

/// A UDP tunnel socket, said in the log when its datagrams cannot leave with
/// checksum zero (the kernel refused SO_NO_CHECK): they then carry checksums.
fn checked(s: host::UdpTunnelSocket) -> host::UdpTunnelSocket {
    if !s.zero_checksum() {
        warn!("the kernel refused SO_NO_CHECK: this UDP tunnel socket sends checksums");
    }
    s
}
