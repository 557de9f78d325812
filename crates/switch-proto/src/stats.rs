//! Counters and settings a switchd reports: per port, per DHCP binding, the flow
//! cache, the heap, the shared tunnel sockets, and how its poll threads sleep.

use serde::{Deserialize, Serialize};

/// Per-port counters.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// Per-port counters of the `dhcp` action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpStats {
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    pub arp_replies: u64,
    /// RELEASE and DECLINE: taken note of, not answered.
    pub releases: u64,
    /// Messages not meant for this server (a REQUEST selecting another server).
    pub ignored: u64,
    /// Packets that hit `dhcp` but could not be answered.
    pub dropped: u64,
}

/// One learned MAC, for `fdb-show`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FdbEntry {
    pub port: String,
    pub vlan: u16,
    pub mac: String,
    pub age_secs: u64,
}

/// The engine's exact-match flow cache.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlowCacheStats {
    /// Entries valid in the current generation.
    pub entries: usize,
    pub capacity: usize,
    pub hits: u64,
    pub misses: u64,
    /// Times the cache was dropped because the switch changed.
    pub invalidations: u64,
}

/// The flows `learn()` installed.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LearnedFlowStats {
    pub flows: usize,
    /// The cap per table.
    pub limit: usize,
    /// Learned flows evicted for the cap.
    pub evicted: u64,
}

/// The connection table that `ct()` tracks in.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConntrackStats {
    /// Connections tracked now.
    pub connections: usize,
    /// The table's size limit.
    pub max: usize,
    /// Connections per zone: (zone, connections).
    #[serde(default)]
    pub zones: Vec<(u16, u32)>,
    /// Connections made by commits since switchd started.
    pub committed: u64,
    /// Commits refused because the table was full (their packets dropped).
    pub refused: u64,
    /// Connections that timed out.
    pub expired: u64,
    /// Packets tracked and found invalid.
    pub invalid: u64,
}

/// What switchd's heap holds and how often it was asked for memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapStats {
    /// Allocations (and resizes) since the process started.
    pub allocations: u64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: u64,
}

/// Counters of the shared tunnel sockets (packets no port could take) and of the
/// offloads on the tunnel path.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelCounters {
    pub malformed: u64,
    pub unknown: u64,
    /// Inner TCP/UDP frames whose checksum was wrong.
    #[serde(default)]
    pub bad_checksum: u64,
    /// VXLAN super-frames go out the uplink TAP (kernel GSO over UDP tunnels).
    #[serde(default)]
    pub uplink_active: bool,
    /// Super-frames (or parts of them) written to the uplink TAP, and failed writes.
    #[serde(default)]
    pub uplink_frames: u64,
    #[serde(default)]
    pub uplink_errors: u64,
    /// Super-frames received whole from a tunnel (never segmented on the way).
    #[serde(default)]
    pub rx_super_frames: u64,
    /// Runs of UDP datagrams of one flow written into a VM's TAP as one UDP GSO
    /// packet, and the datagrams they carried.
    #[serde(default)]
    pub udp_runs: u64,
    #[serde(default)]
    pub udp_run_frames: u64,
}

/// How long poll threads keep polling after light traffic before they sleep
/// (`switchd --poll-spin-us`). Under bulk traffic they sleep between events either
/// way.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PollSpin {
    /// This many microseconds (0: they sleep as soon as nothing is ready).
    Micros(u64),
    /// Without end (`always`): a core per poll thread, even when idle.
    Always,
}

impl PollSpin {
    /// How `switch show` and the startup log say it.
    pub fn describe(self) -> String {
        match self {
            PollSpin::Micros(0) => "sleeping when idle".to_string(),
            PollSpin::Micros(us) => format!("polling {us} us after light traffic"),
            PollSpin::Always => "polling without end after light traffic".to_string(),
        }
    }
}

impl TunnelCounters {
    /// Adds the counts a poll thread gathered (the uplink's are set apart).
    pub fn add(&mut self, d: &TunnelCounters) {
        self.malformed += d.malformed;
        self.unknown += d.unknown;
        self.bad_checksum += d.bad_checksum;
        self.rx_super_frames += d.rx_super_frames;
        self.udp_runs += d.udp_runs;
        self.udp_run_frames += d.udp_run_frames;
    }
}
