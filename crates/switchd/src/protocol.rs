//! The control protocol: one JSON request per line, one JSON response per line.

use serde::{Deserialize, Serialize};
use switch::{FdbEntry, PortConfig, PortStats};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    AddBr {
        bridge: String,
    },
    DelBr {
        bridge: String,
    },
    AddPort {
        bridge: String,
        port: PortConfig,
    },
    DelPort {
        bridge: String,
        port: String,
    },
    Show,
    AddFlows {
        bridge: String,
        flows: Vec<String>,
    },
    ReplaceFlows {
        bridge: String,
        flows: Vec<String>,
    },
    DelFlows {
        bridge: String,
        #[serde(default)]
        matching: Option<String>,
    },
    DumpFlows {
        bridge: String,
        #[serde(default)]
        table: Option<u8>,
    },
    DumpPorts {
        bridge: String,
    },
    FdbShow {
        bridge: String,
    },
    Trace {
        bridge: String,
        flow: String,
    },
}

/// A port as `show` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortView {
    pub config: PortConfig,
    pub ofport: u32,
    /// Set when the port's device or socket could not be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BridgeView {
    pub name: String,
    pub ports: Vec<PortView>,
    pub flows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortStatsRow {
    pub ofport: u32,
    pub name: String,
    pub stats: PortStats,
}

/// Counters of the shared tunnel sockets (packets no port could take).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TunnelCounters {
    pub malformed: u64,
    pub unknown: u64,
    /// Inner TCP/UDP frames whose checksum was wrong.
    #[serde(default)]
    pub bad_checksum: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    Done {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Lines {
        lines: Vec<String>,
    },
    Show {
        bridges: Vec<BridgeView>,
        tunnels: TunnelCounters,
    },
    Ports {
        ports: Vec<PortStatsRow>,
    },
    Fdb {
        entries: Vec<FdbEntry>,
    },
    Error {
        message: String,
    },
}
