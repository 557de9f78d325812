//! The kernel fast path: tc ingress programs (bpf/fastpath.bpf.c, built by build.rs,
//! loaded with aya) that carry out the engine's decisions for the packets that follow
//! the one the engine decided, as Open vSwitch's kernel datapath does for
//! ovs-vswitchd. The engine stays the one place that decides; this module installs
//! its decisions into a kernel hash map, keeps them honest and gives their counts
//! back.
//!
//! - **Ports**: a veth port's host end, or a system port's device, gets the
//!   `fp_port` program on its ingress (a TCX link, pinned, so a switchd restart
//!   keeps it); the port's AF_PACKET socket then only sends. What the kernel cannot carry goes up through the upcall TAP
//!   (`sw-upcall`), with the key the program computed in front of the frame.
//! - **Install**: a frame that came up is switched as any other; when the engine
//!   offers its decision ([`switch::Offer`]) and the decision is one the programs
//!   can carry out (a drop, or one output into a fast-path port with the headers
//!   unchanged), the key goes into `fp_flows` with that action.
//! - **Invalidation**: every entry carries the generation it was made in; the
//!   programs compare it with the current one (`fp_conf`), so when the engine's
//!   generation moves (flows, ports, a MAC learned or moved) every entry is stale
//!   at once and the next packet goes up again. The revalidator (every second, and
//!   before a control request) gives the entries' new counts to the flows they
//!   crossed ([`switch::Switch::credit`]), and deletes entries that are stale, idle
//!   or no longer hold.
//!
//! Maps and links are pinned under [`host::bpf_pin_dir`] of the run directory.

mod decide;
mod kernel;
mod mega;

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::SchedClassifierLink;
use aya::programs::{SchedClassifier, TcAttachType};
use aya::{Ebpf, EbpfLoader};
use kernel::{
    F_TRACKED, F_VLAN_POP, F_VLAN_PUSH, FpConf, FpMKey, FpVal, KIND_DROP, KIND_EGRESS, KIND_PEER,
    KIND_TUNNEL,
};
pub(crate) use kernel::{FpKey, META_LEN, Meta, TCP_CTL};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use switch::{FlowKey, Offer, Output, PortId, Switch};
use tracing::{info, warn};

/// The upcall TAP's name in switchd's namespace.
pub(crate) const UPCALL_DEV: &str = "sw-upcall";
/// Frames the upcall TAP holds while switchd catches up.
pub(crate) const UPCALL_QUEUE: u32 = 10_000;
/// The external-mode VXLAN device's name in switchd's namespace.
pub(crate) const VXLAN_DEV: &str = "sw-vxlan";
/// An entry unused this long is deleted (the next packet goes up again).
pub(crate) const IDLE: Duration = Duration::from_secs(10);
/// Past this many entries, the idle time is [`BUSY_IDLE`]: many short
/// connections (each its own entries) must not fill the table, and every entry
/// costs the revalidator two system calls a second.
pub(crate) const BUSY: usize = 4_096;
pub(crate) const BUSY_IDLE: Duration = Duration::from_secs(1);
/// Segments of a tracked TCP connection that come up (within a second) before
/// its entry is installed.
pub(crate) const TCP_WARMUP: u8 = 8;
/// Entries at most (OVS's flow limit): past it, new flows stay in user space until
/// the revalidator makes room.
pub(crate) const MAX_ENTRIES: usize = 32_768;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fastpath.bpf.o"));

/// What the fast path can do, as `switch show` says it.
pub(crate) fn describe(fp: Option<&FastPath>, why_not: &str) -> String {
    match fp {
        Some(fp) => format!(
            "kernel fast path (tc eBPF on {} port{}; misses and everything else in user space; {})",
            fp.ports.len(),
            if fp.ports.len() == 1 { "" } else { "s" },
            if fp.vxlan.is_some() {
                "VXLAN through the external device sw-vxlan, GRE and Geneve from switchd's sockets (no external gretap on this kernel)"
            } else {
                "VXLAN, GRE and Geneve from switchd's sockets"
            }
        ),
        None => format!("user space (switchd reads and writes every frame: {why_not})"),
    }
}

/// A frame that came up from the kernel, as the engine switched it.
#[derive(Clone, Copy)]
pub(crate) struct Upcalled<'a> {
    /// The key the program computed.
    pub key: &'a FpKey,
    /// The engine's key for it, and what the engine decided.
    pub orig: &'a FlowKey,
    pub outs: &'a [Output],
    pub offer: &'a Offer,
    pub in_port: PortId,
    /// It is a TCP SYN, FIN or RST.
    pub ctl: bool,
}

/// One installed decision, as user space remembers it.
#[derive(Clone)]
struct Record {
    offer: Offer,
    in_port: PortId,
    out_port: Option<PortId>,
    /// The kernel's counts when they were last given to the engine.
    packets: u64,
    bytes: u64,
}

/// A fast-path port: its switch port and the device the program is on.
#[derive(Clone, Debug)]
struct FpPort {
    id: PortId,
    dev: String,
    /// Frames for it leave through the device itself (a system port), not into
    /// its veth peer.
    egress: bool,
}

pub(crate) struct FastPath {
    ebpf: Ebpf,
    flows: BpfHashMap<MapData, FpKey, FpVal>,
    conf: Array<MapData, FpConf>,
    stats: PerCpuArray<MapData, u64>,
    upcall: Arc<host::Tap>,
    upcall_ifindex: u32,
    pin_dir: PathBuf,
    /// High bits of the kernel generation, new per process: entries a previous
    /// switchd installed never look current to this one.
    nonce: u64,
    pushed: Option<u64>,
    /// The kernel generation [`FastPath::sync`] last asked for.
    generation: u64,
    /// Fast-path devices by ifindex, and the ifindex of each port's device.
    ports: HashMap<u32, FpPort>,
    by_port: HashMap<PortId, u32>,
    /// The external-mode VXLAN device's ifindex, once VXLAN takes the fast path.
    vxlan: Option<u32>,
    records: HashMap<FpKey, Record>,
    /// Wildcarded entries (see [`mega`]): the map, the masks' map and slots,
    /// and what user space remembers of each entry.
    mega: BpfHashMap<MapData, FpMKey, FpVal>,
    masks_map: Array<MapData, FpKey>,
    masks: mega::MaskSlots,
    mega_records: HashMap<FpMKey, Record>,
    /// Tracked TCP keys seen coming up, and how often, until [`TCP_WARMUP`]
    /// (emptied by the revalidator every second).
    warming: HashMap<FpKey, u8>,
    /// Upcalls of tracked TCP connections not installed yet for that.
    pub warming_up: u64,
    /// Decisions installed; upcalls whose decision the engine did not offer (a
    /// new connection, a MAC learned on the way, an answer the switch made), and
    /// whose outputs the kernel cannot carry (floods, TAPs, VLAN rewrites, GRE).
    pub installed: u64,
    /// Of those, wildcarded.
    pub installed_mega: u64,
    pub not_offered: u64,
    pub not_carried: u64,
    /// Decisions not installed because the table was full.
    pub full: u64,
}

/// The entries whose decision comes in or goes out through port `id`.
fn touching<K: Copy>(records: &HashMap<K, Record>, id: PortId) -> Vec<K> {
    records
        .iter()
        .filter(|(_, r)| r.in_port == id || r.out_port == Some(id))
        .map(|(k, _)| *k)
        .collect()
}

/// Gives the kernel's new counts for an entry to the flows and ports its
/// decision crossed; whether the decision still holds.
fn credit_record(sw: &mut Switch, r: &mut Record, v: &FpVal, now: u64) -> bool {
    let (dp, db) = (
        v.packets.saturating_sub(r.packets),
        v.bytes.saturating_sub(r.bytes),
    );
    (r.packets, r.bytes) = (v.packets, v.bytes);
    let holds = sw.credit(&r.offer, dp, db, now);
    if dp > 0 {
        if let Some(p) = sw.port_mut(r.in_port) {
            p.stats.rx_packets += dp;
            p.stats.rx_bytes += db;
        }
        if let Some(p) = r.out_port.and_then(|o| sw.port_mut(o)) {
            p.stats.tx_packets += dp;
            p.stats.tx_bytes += db;
        }
    }
    holds
}

/// A fast-path failure, as text for logs and `switch show`.
pub(crate) type FpResult<T> = std::result::Result<T, String>;

/// The clock the programs stamp entries with (bpf_ktime_get_coarse_ns).
fn monotonic_ns() -> u64 {
    // SAFETY: zeroed is a valid timespec; clock_gettime writes into the live
    // out-parameter and CLOCK_MONOTONIC_COARSE always exists on Linux.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl FastPath {
    /// Loads the programs and maps (reusing the maps a previous switchd on
    /// `run_dir` pinned) and makes the upcall TAP.
    pub fn start(run_dir: &Path, generation: u64) -> FpResult<FastPath> {
        if OBJECT.is_empty() {
            return Err("built without its BPF programs (clang was missing at build time)".into());
        }
        host::ensure_bpffs().map_err(|e| e.to_string())?;
        let pin_dir = host::bpf_pin_dir(run_dir);
        std::fs::create_dir_all(&pin_dir)
            .map_err(|e| format!("create {}: {e}", pin_dir.display()))?;
        // The table of an older layout (a switchd before VLAN keys) is not ours.
        let _ = std::fs::remove_file(pin_dir.join("fp_flows"));
        let mut ebpf = EbpfLoader::new()
            .map_pin_path(&pin_dir)
            .load(OBJECT)
            .map_err(|e| format!("loading the BPF object: {e}"))?;
        for name in ["fp_port", "fp_tunnel"] {
            let p: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or_else(|| format!("program {name} missing from the object"))?
                .try_into()
                .map_err(|e| format!("program {name}: {e}"))?;
            p.load().map_err(|e| {
                // The verifier's log is long: the log gets it, `show` the gist.
                let full = e.to_string();
                warn!("loading {name}: {full}");
                let gist = full.split("Verifier output").next().unwrap_or_default();
                format!(
                    "loading {name}: {} (the log has the verifier's output)",
                    gist.trim_end_matches([' ', '.', ':'])
                )
            })?;
        }
        let take = |ebpf: &mut Ebpf, name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| format!("map {name} missing from the object"))
        };
        let flows = BpfHashMap::try_from(take(&mut ebpf, "fp_flows2")?)
            .map_err(|e| format!("fp_flows2: {e}"))?;
        let conf =
            Array::try_from(take(&mut ebpf, "fp_conf")?).map_err(|e| format!("fp_conf: {e}"))?;
        let mega = BpfHashMap::try_from(take(&mut ebpf, "fp_mega")?)
            .map_err(|e| format!("fp_mega: {e}"))?;
        let masks_map =
            Array::try_from(take(&mut ebpf, "fp_masks")?).map_err(|e| format!("fp_masks: {e}"))?;
        let stats = PerCpuArray::try_from(take(&mut ebpf, "fp_stats")?)
            .map_err(|e| format!("fp_stats: {e}"))?;
        let upcall = host::Tap::open(UPCALL_DEV, true).map_err(|e| e.to_string())?;
        upcall
            .set_offload(host::TUN_F_CSUM | host::TUN_F_TSO4 | host::TUN_F_TSO6)
            .map_err(|e| e.to_string())?;
        // Room for a burst of new flows (a thousand frames, the default, lose
        // some first packets when many flows start at once).
        host::set_tx_queue_len(UPCALL_DEV, UPCALL_QUEUE).map_err(|e| e.to_string())?;
        host::set_up(UPCALL_DEV, true).map_err(|e| e.to_string())?;
        let upcall_ifindex = host::ifindex(UPCALL_DEV).map_err(|e| e.to_string())?;
        let nonce = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            0xfa57_u64,
        ) & 0xffff_ffff;
        let mut fp = FastPath {
            ebpf,
            flows,
            conf,
            stats,
            upcall: Arc::new(upcall),
            upcall_ifindex,
            pin_dir,
            nonce,
            pushed: None,
            generation: 0,
            ports: HashMap::new(),
            by_port: HashMap::new(),
            vxlan: None,
            records: HashMap::new(),
            mega,
            masks_map,
            masks: mega::MaskSlots::default(),
            mega_records: HashMap::new(),
            warming: HashMap::new(),
            warming_up: 0,
            installed: 0,
            installed_mega: 0,
            not_offered: 0,
            not_carried: 0,
            full: 0,
        };
        fp.sync(generation);
        info!(
            "kernel fast path loaded (maps pinned under {})",
            fp.pin_dir.display()
        );
        Ok(fp)
    }

    pub fn upcall_tap(&self) -> Arc<host::Tap> {
        self.upcall.clone()
    }

    /// The kernel generation for engine generation `g`.
    fn kgen(&self, g: u64) -> u64 {
        (self.nonce << 32) ^ (g & 0xffff_ffff)
    }

    /// Makes entries of other generations stale in the kernel (called after
    /// anything that may have changed the engine's generation).
    pub fn sync(&mut self, generation: u64) {
        let g = self.kgen(generation);
        if self.pushed == Some(g) {
            return;
        }
        self.generation = g;
        self.push_conf();
    }

    /// Writes the generation and the number of mask slots to `fp_conf`.
    fn push_conf(&mut self) {
        let c = FpConf {
            gen_: self.generation,
            upcall_ifindex: self.upcall_ifindex,
            n_masks: self.masks.n(),
        };
        match self.conf.set(0, c, 0) {
            Ok(()) => self.pushed = Some(self.generation),
            Err(e) => warn!("fast path: writing the generation: {e}"),
        }
    }

    /// Puts the `fp_port` program on device `dev`'s ingress for port `id`: the
    /// pinned link a previous switchd left is given the new program (atomically),
    /// else a new link is made and pinned.
    pub fn attach_port(&mut self, dev: &str, id: PortId, egress: bool) -> FpResult<()> {
        let ifindex = self.attach("fp_port", dev)?;
        self.note_port(ifindex, dev, id, egress)
    }

    /// Puts VXLAN on the fast path: the external-mode device `sw-vxlan` (made
    /// unless a previous switchd left it) owns UDP 4789 and gets `fp_tunnel` on
    /// its ingress; installed decisions send into it with a tunnel key.
    pub fn start_vxlan(&mut self) -> FpResult<()> {
        if self.vxlan.is_some() {
            return Ok(());
        }
        if !host::link_exists(VXLAN_DEV) {
            host::create_vxlan_external(VXLAN_DEV, wire::vxlan::UDP_PORT)
                .map_err(|e| e.to_string())?;
        }
        host::set_up(VXLAN_DEV, true).map_err(|e| e.to_string())?;
        self.vxlan = Some(self.attach("fp_tunnel", VXLAN_DEV)?);
        info!("VXLAN on the fast path through {VXLAN_DEV}");
        Ok(())
    }

    /// The external VXLAN device's ifindex, when VXLAN is on the fast path.
    pub fn vxlan_ifindex(&self) -> Option<u32> {
        self.vxlan
    }

    /// Attaches program `name` to `dev`'s ingress; returns the device's ifindex.
    fn attach(&mut self, name: &str, dev: &str) -> FpResult<u32> {
        let ifindex = host::ifindex(dev).map_err(|e| e.to_string())?;
        let pin = self.pin_dir.join(format!("link-{ifindex}"));
        let prog: &mut SchedClassifier = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| format!("program {name} missing"))?
            .try_into()
            .map_err(|e| format!("{name}: {e}"))?;
        let reused = PinnedLink::from_pin(&pin)
            .ok()
            .and_then(|l| SchedClassifierLink::try_from(FdLink::from(l)).ok())
            .and_then(|l| prog.attach_to_link(l).ok());
        if reused.is_none() {
            let _ = std::fs::remove_file(&pin);
            let lid = prog
                .attach(dev, TcAttachType::Ingress)
                .map_err(|e| format!("attaching to {dev}: {e}"))?;
            let link = prog
                .take_link(lid)
                .map_err(|e| format!("link on {dev}: {e}"))?;
            let fd = FdLink::try_from(link).map_err(|e| format!("link on {dev}: {e}"))?;
            // The pin holds the link from now on (the fd closes here).
            fd.pin(&pin)
                .map_err(|e| format!("pinning the link on {dev}: {e}"))?;
        }
        Ok(ifindex)
    }

    fn note_port(&mut self, ifindex: u32, dev: &str, id: PortId, egress: bool) -> FpResult<()> {
        self.ports.insert(
            ifindex,
            FpPort {
                id,
                dev: dev.to_owned(),
                egress,
            },
        );
        self.by_port.insert(id, ifindex);
        Ok(())
    }

    /// Forgets port `id` (its device is going away): its link's pin and every
    /// entry into or out of it.
    pub fn detach_port(&mut self, id: PortId) {
        let Some(ifindex) = self.by_port.remove(&id) else {
            return;
        };
        self.ports.remove(&ifindex);
        let _ = std::fs::remove_file(self.pin_dir.join(format!("link-{ifindex}")));
        for k in touching(&self.records, id) {
            self.remove(&k);
        }
        for k in touching(&self.mega_records, id) {
            self.remove_mega(&k);
        }
    }

    /// The ifindex → port map the poll threads copy.
    pub fn port_map(&self) -> HashMap<u32, PortId> {
        self.ports.iter().map(|(i, p)| (*i, p.id)).collect()
    }

    /// Gives an entry's outstanding counts to the engine and removes it.
    fn forget(&mut self, sw: &mut Switch, key: &FpKey, now: u64) {
        let Some(r) = self.records.get(key) else {
            return;
        };
        if let Ok(v) = self.flows.get(key, 0) {
            let offer = r.offer.clone();
            sw.credit(
                &offer,
                v.packets.saturating_sub(r.packets),
                v.bytes.saturating_sub(r.bytes),
                now,
            );
        }
        self.remove(key);
    }

    fn remove(&mut self, k: &FpKey) {
        self.records.remove(k);
        let _ = self.flows.remove(k);
    }

    /// Installs the engine's decision for an upcalled frame whose key the program
    /// computed, when the programs can carry it out.
    pub fn offer(&mut self, sw: &mut Switch, up: &Upcalled<'_>, now: u64) {
        let Upcalled {
            key,
            orig,
            outs,
            offer,
            in_port,
            ctl,
        } = *up;
        if ctl && (offer.tracked() || !offer.offloadable()) {
            // A tracked connection opens, closes or resets on this key: what
            // the kernel holds for it was an earlier connection's (its next
            // segments would go past the tracker) or is ending. Its counts go
            // to the flows, the entry goes, and nothing is installed for a
            // control segment. (An untracked decision's SYN is a packet like
            // any other: it installs, so a new connection's first segment
            // leaves a wildcarded entry its successors take.)
            self.forget(sw, key, now);
            return;
        }
        if !offer.offloadable() {
            self.not_offered += 1;
            return;
        }
        if offer.tracked() && key.nw_proto == 6 {
            // A tracked TCP connection is installed once it has shown itself to
            // be more than a handful of segments: short connections (one request
            // each, thousands a second) stay in user space, where they cost less
            // than installs and removals would (measured: docs/performance.md).
            let n = self.warming.entry(*key).or_insert(0);
            *n = n.saturating_add(1);
            if *n < TCP_WARMUP {
                self.warming_up += 1;
                return;
            }
            self.warming.remove(key);
        }
        let Some((val, out_port)) = self.action(sw, orig, outs) else {
            self.not_carried += 1;
            return;
        };
        if self.entries() >= MAX_ENTRIES && !self.records.contains_key(key) {
            self.full += 1;
            return;
        }
        let val = FpVal {
            gen_: self.kgen(offer.generation),
            used: monotonic_ns(),
            flags: val.flags | if offer.tracked() { F_TRACKED } else { 0 },
            ..val
        };
        let record = Record {
            offer: offer.clone(),
            in_port,
            out_port,
            packets: 0,
            bytes: 0,
        };
        if !offer.tracked() && self.install_mega(sw, key, val, record.clone(), now) {
            return;
        }
        // A packet of a key the kernel already carries came up (a TCP FIN of a
        // tracked flow, or one that raced the install): the entry stays, with
        // its counts, when it does the same; otherwise its counts are given to
        // the flows before it is replaced.
        if let (Some(r), Ok(old)) = (self.records.get(key), self.flows.get(key, 0)) {
            if old.gen_ == val.gen_ && old.same_action(&val) {
                return;
            }
            let (dp, db) = (
                old.packets.saturating_sub(r.packets),
                old.bytes.saturating_sub(r.bytes),
            );
            let offer_old = r.offer.clone();
            sw.credit(&offer_old, dp, db, now);
        }
        match self.flows.insert(key, val, 0) {
            Ok(()) => {
                self.installed += 1;
                self.records.insert(*key, record);
            }
            // The map refused (it holds more than MAX_ENTRIES only if another
            // switchd's entries are still there): the packets go up until the
            // revalidator makes room. Counted, not logged per packet.
            Err(e) => {
                self.full += 1;
                tracing::debug!("fast path: installing an entry: {e}");
            }
        }
    }

    /// Gives the kernel's new counts to the engine and deletes entries that are
    /// stale (another generation), idle for [`IDLE`], no longer hold (a MAC entry
    /// they relied on aged out) or that nothing remembers (a previous switchd's).
    pub fn revalidate(&mut self, sw: &mut Switch, now: u64) {
        let current = self.kgen(sw.generation);
        let now_ns = monotonic_ns();
        let mut entries = Vec::new();
        for item in self.flows.iter() {
            match item {
                Ok(kv) => entries.push(kv),
                Err(e) => {
                    warn!("fast path: reading entries: {e}");
                    break;
                }
            }
        }
        self.warming.clear();
        let idle_ns = if entries.len() + self.mega_records.len() > BUSY {
            BUSY_IDLE
        } else {
            IDLE
        }
        .as_nanos() as u64;
        let mut dead = Vec::new();
        for (k, v) in entries {
            let Some(r) = self.records.get_mut(&k) else {
                dead.push(k);
                continue;
            };
            let holds = credit_record(sw, r, &v, now);
            let idle = now_ns.saturating_sub(v.used) > idle_ns;
            if !holds || v.gen_ != current || idle {
                dead.push(k);
            }
        }
        for k in dead {
            self.remove(&k);
        }
        self.revalidate_mega(sw, now, current, idle_ns);
    }

    /// The kernel's entries with their counts, as `dump-datapath` lists them.
    pub fn dump(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (k, v) in self.flows.iter().flatten() {
            lines.push(format!(
                "{}, {}",
                k.describe(&self.dev_name(k.ifindex)),
                self.entry_text(&v)
            ));
        }
        self.dump_mega(&mut lines);
        lines.sort();
        lines
    }

    /// A fast-path device's name by ifindex.
    fn dev_name(&self, i: u32) -> String {
        match self.ports.get(&i) {
            Some(p) => p.dev.clone(),
            None if Some(i) == self.vxlan => VXLAN_DEV.to_owned(),
            None => format!("if{i}"),
        }
    }

    /// An entry's counts and action, as `dump-datapath` writes them.
    fn entry_text(&self, v: &FpVal) -> String {
        let current = self.pushed.unwrap_or(0);
        let now_ns = monotonic_ns();
        let mut vlan = String::new();
        if v.flags & F_VLAN_POP != 0 {
            vlan.push_str("pop_vlan,");
        }
        if v.flags & F_VLAN_PUSH != 0 {
            vlan.push_str(&format!("push_vlan({}),", kernel::vlan(v.vlan_tci)));
        }
        let action = match v.kind {
            KIND_DROP => "drop".to_owned(),
            KIND_PEER => format!("peer({})", self.dev_name(v.ifindex)),
            KIND_TUNNEL => format!(
                "set(tunnel(tun_id={:#x},dst={})),{}",
                v.tun_id,
                std::net::Ipv4Addr::from(v.tun_dst),
                self.dev_name(v.ifindex)
            ),
            KIND_EGRESS => format!("redirect({})", self.dev_name(v.ifindex)),
            k => format!("unknown({k})"),
        };
        let used = now_ns.saturating_sub(v.used) as f64 / 1e9;
        let stale = if v.gen_ == current { "" } else { " (stale)" };
        let tracked = if v.flags & F_TRACKED != 0 {
            ", tracked (SYN/FIN/RST up)"
        } else {
            ""
        };
        format!(
            "packets:{}, bytes:{}, used:{used:.3}s{tracked}, actions:{vlan}{action}{stale}",
            v.packets, v.bytes
        )
    }

    /// The programs' counters summed over the CPUs: hits, upcalls, failed
    /// upcalls, stale hits, TCP control segments of tracked entries sent up.
    pub fn counters(&self) -> [u64; 5] {
        let mut c = [0u64; 5];
        for (i, slot) in c.iter_mut().enumerate() {
            if let Ok(v) = self.stats.get(&(i as u32), 0) {
                *slot = v.iter().sum();
            }
        }
        c
    }

    pub fn entries(&self) -> usize {
        self.records.len() + self.mega_records.len()
    }
}
