//! The datapath: one poll thread per core (or as configured), each with its own event
//! loop over the ports it was given and its own VXLAN socket (SO_REUSEPORT). The
//! engine and the ports' devices are shared behind one lock that a thread takes once
//! per batch of frames (shared.rs); everything a thread needs between batches — the
//! port table, tunnel index, sockets, counters — is its own (worker.rs).

mod port_table;
mod requests;
mod shared;
mod worker;

use crate::backend::{self, Backend};
use crate::uplink::{UplinkMode, UplinkSlot};
use crate::{Error, Result, SOCKET_NAME, STATE_NAME, state};
use mio::{Poll, Token, Waker};
pub(crate) use shared::Shared;
use shared::{Core, WorkerLink};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};
use switch::{PortId, Switch};
use switch_proto::{PollSpin, TunnelCounters};
use tracing::info;
use wire::virtio::HDR_LEN as VNET_HDR_LEN;
use wire::vxlan;
use worker::Worker;

const WAKER: Token = Token(0);
const UDP: Token = Token(1);
const GRE: Token = Token(2);
const UPCALL: Token = Token(3);
const GENEVE: Token = Token(4);
const PORT_BASE: usize = 16;
/// Frames read from one fd before the loop turns to the others (fairness), and most
/// frames switched under one taking of the engine's lock.
const BATCH: usize = 64;
/// A batch is switched once it holds this many bytes, so its frames are still in the
/// cache when they are written out (64 TCP super-frames would not be).
const BATCH_BYTES: usize = 192 * 1024;
/// Largest frame (a TCP super-frame from a TAP with TSO).
const MAX_FRAME: usize = 65536 + VNET_HDR_LEN;
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

/// How switchd moves packets (command-line options of `neutrino switchd`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Whether VXLAN super-frames may go out the uplink TAP.
    pub vxlan_uplink: UplinkMode,
    /// How long the loop keeps polling (yielding the CPU) after the last event of
    /// light traffic before it sleeps (see spin.rs).
    pub spin: PollSpin,
    /// Poll threads; 0: one per CPU of `poll_cpus`, or [`default_poll_threads`].
    pub poll_threads: usize,
    /// CPUs the poll threads are pinned to, thread i to the i-th (see poll_cpus.rs);
    /// empty: not pinned.
    pub poll_cpus: Vec<usize>,
    /// The connection table's limit and timeouts.
    pub conntrack: switch::conntrack::CtConfig,
    /// Learned flows a table holds at most.
    pub learned_flow_limit: usize,
    /// Whether to load the kernel fast path (tc eBPF; see crate::fastpath).
    pub fast_path: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            vxlan_uplink: UplinkMode::Auto,
            spin: PollSpin::Micros(300),
            poll_threads: 0,
            poll_cpus: Vec::new(),
            conntrack: switch::conntrack::CtConfig::default(),
            learned_flow_limit: 100_000,
            fast_path: true,
        }
    }
}

/// Half the cores, at least one: the VMs whose packets the threads carry need CPU
/// too (on 2 cores a second thread slows a single TCP stream, whose ACKs then cross
/// between threads; docs/performance.md has the figures).
pub fn default_poll_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (usize::from(n) / 2).max(1))
}

/// Runs switchd on `run_dir` until the process is killed (or a poll thread fails).
pub fn run(run_dir: &Path, opts: Options) -> Result<()> {
    let allowed = if opts.poll_cpus.is_empty() {
        Vec::new()
    } else {
        host::cpu::allowed_cpus().map_err(|e| Error::io("sched_getaffinity", e))?
    };
    let pins = crate::poll_cpus::assign(
        &opts.poll_cpus,
        opts.poll_threads,
        default_poll_threads(),
        &allowed,
    )
    .map_err(Error::Io)?;
    let threads = pins.len();
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
    // The engine's hash seed: random per process, so guests cannot aim at buckets.
    let seed = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        0x5eed_u64,
    );
    let mut sw = match state::load(&state_path)? {
        Some(s) => {
            let bridges = s.engine_config();
            let sw = Switch::restore(&bridges, seed, 0).map_err(|e| Error::State {
                path: state_path.display().to_string(),
                message: e.to_string(),
            })?;
            info!(
                "restored {} bridges from {}",
                bridges.len(),
                state_path.display()
            );
            sw
        }
        None => Switch::new(seed),
    };
    sw.conntrack_mut().set_config(opts.conntrack.clone());
    sw.set_learned_flow_limit(opts.learned_flow_limit);
    let mut polls = Vec::with_capacity(threads);
    let mut links = Vec::with_capacity(threads);
    for _ in 0..threads {
        let poll = Poll::new().map_err(|e| Error::io("epoll", e))?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(|e| Error::io("eventfd", e))?;
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| Error::io("epoll", e))?;
        links.push(WorkerLink {
            registry,
            waker,
            seen: AtomicU64::new(0),
            cpu: pins[links.len()],
        });
        polls.push(poll);
    }
    let mut core = Core::new(sw, state_path, UplinkSlot::new(opts.vxlan_uplink));
    if opts.fast_path {
        match crate::fastpath::FastPath::start(run_dir, core.sw.generation) {
            Ok(fp) => {
                let tap = fp.upcall_tap();
                links[0]
                    .registry
                    .register(
                        &mut mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&*tap)),
                        UPCALL,
                        mio::Interest::READABLE,
                    )
                    .map_err(|e| Error::io("epoll add upcall TAP", e))?;
                core.fastpath = Some(fp);
            }
            Err(e) => {
                tracing::warn!("no kernel fast path, every frame in user space: {e}");
                core.fastpath_off = e;
            }
        }
    }
    let shared = Arc::new(Shared::new(core, links, opts.spin));
    {
        let mut core = shared.lock();
        let ids: Vec<PortId> = core.sw.ports().map(|(id, _)| id).collect();
        for id in ids {
            shared.attach(&mut core, id);
        }
    }
    let listener =
        UnixListener::bind(&sock).map_err(|e| Error::io(format!("bind {}", sock.display()), e))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("chmod {}", sock.display()), e))?;
    crate::control::spawn(listener, shared.clone()).map_err(|e| Error::io("control thread", e))?;
    let (done, stopped) = channel();
    for (i, poll) in polls.into_iter().enumerate() {
        let mut w = Worker::new(i, shared.clone(), poll, &opts);
        let done = done.clone();
        let cpu = pins[i];
        std::thread::Builder::new()
            .name(format!("poll-{i}"))
            .spawn(move || {
                if let Some(c) = cpu
                    && let Err(e) = host::cpu::pin_current_thread(c)
                {
                    let _ = done.send((i, Err(Error::io(format!("pin poll-{i} to CPU {c}"), e))));
                    return;
                }
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run()))
                    .unwrap_or_else(|_| Err(Error::Io(format!("poll thread {i} panicked"))));
                let _ = done.send((i, r));
            })
            .map_err(|e| Error::io("poll thread", e))?;
    }
    let pinned: Vec<usize> = pins.iter().flatten().copied().collect();
    let on = if pinned.is_empty() {
        String::new()
    } else {
        format!(" on CPUs {}", crate::poll_cpus::format_cpu_list(&pinned))
    };
    info!(
        "switchd listening on {} ({threads} poll threads{on}, {})",
        sock.display(),
        opts.spin.describe()
    );
    match stopped.recv() {
        Ok((_, Err(e))) => Err(e),
        Ok((i, Ok(()))) => Err(Error::Io(format!("poll thread {i} stopped"))),
        Err(_) => Err(Error::Io("every poll thread stopped".into())),
    }
}
