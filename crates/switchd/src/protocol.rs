//! The control protocol: one JSON request per line, one JSON response per line.

use serde::{Deserialize, Serialize};
use switch::{DhcpBinding, DhcpStats, FdbEntry, PortConfig, PortStats};

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
    /// Sets (or, with `dhcp: null`, clears) the DHCP binding the `dhcp` action answers
    /// from on an existing port; the port's device is left as it is.
    SetPortDhcp {
        bridge: String,
        port: String,
        #[serde(default)]
        dhcp: Option<DhcpBinding>,
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
    /// Several requests applied in order, with one state-file write at the end
    /// (an agent wiring hundreds of ports); each gets its own response.
    Batch {
        requests: Vec<Request>,
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
    /// What the `dhcp` action did on the port (ports with a DHCP binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_stats: Option<DhcpStats>,
    /// The poll threads that read the port (ports with a device of their own):
    /// several for a multi-queue TAP (thread i reads queue i).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poll_threads: Vec<usize>,
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
    /// Runs of small same-size VXLAN packets to one remote sent as one UDP GSO
    /// message, and the packets they carried.
    #[serde(default)]
    pub tx_runs: u64,
    #[serde(default)]
    pub tx_run_packets: u64,
    /// Runs of UDP datagrams of one flow written into a VM's TAP as one UDP GSO
    /// packet, and the datagrams they carried.
    #[serde(default)]
    pub udp_runs: u64,
    #[serde(default)]
    pub udp_run_frames: u64,
}

impl TunnelCounters {
    /// Adds the counts a poll thread gathered (the uplink's come from its slot).
    pub fn add(&mut self, d: &TunnelCounters) {
        self.malformed += d.malformed;
        self.unknown += d.unknown;
        self.bad_checksum += d.bad_checksum;
        self.rx_super_frames += d.rx_super_frames;
        self.tx_runs += d.tx_runs;
        self.tx_run_packets += d.tx_run_packets;
        self.udp_runs += d.udp_runs;
        self.udp_run_frames += d.udp_run_frames;
    }
}

/// How long poll threads keep polling after light traffic before they sleep
/// (`switchd --poll-spin-us`). Under bulk traffic they sleep between events either
/// way (see spin.rs).
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
        /// The engine's flow cache (entries, hits, misses, invalidations).
        #[serde(default)]
        flow_cache: switch::FlowCacheStats,
        /// switchd's heap, when the binary counts it.
        #[serde(default)]
        heap: Option<crate::heap::HeapStats>,
        /// Per poll thread, the CPU it is pinned to (`--poll-cpus`).
        #[serde(default)]
        poll_cpus: Vec<Option<usize>>,
        /// When the poll threads sleep (`--poll-spin-us`); absent from older switchds.
        #[serde(default)]
        poll_spin: Option<PollSpin>,
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
    /// One response per request of a [`Request::Batch`], in order.
    Batch {
        results: Vec<Response>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn poll_spin_is_told_as_the_option_was_given() {
        assert_eq!(
            PollSpin::Micros(300).describe(),
            "polling 300 us after light traffic"
        );
        assert_eq!(PollSpin::Micros(0).describe(), "sleeping when idle");
        assert_eq!(
            PollSpin::Always.describe(),
            "polling without end after light traffic"
        );
        // An older switchd's show has no poll_spin: it reads as unknown.
        let old = r#"{"result":"show","bridges":[],"tunnels":{"malformed":0,"unknown":0}}"#;
        match serde_json::from_str::<Response>(old).unwrap() {
            Response::Show { poll_spin, .. } => assert_eq!(poll_spin, None),
            other => panic!("{other:?}"),
        }
        for spin in [PollSpin::Always, PollSpin::Micros(300)] {
            let json = serde_json::to_string(&spin).unwrap();
            assert_eq!(
                serde_json::from_str::<PollSpin>(&json).unwrap(),
                spin,
                "{json}"
            );
        }
    }

    #[test]
    fn batch_round_trips_as_json() {
        let req = Request::Batch {
            requests: vec![
                Request::DelPort {
                    bridge: "br-int".into(),
                    port: "tap1".into(),
                },
                Request::ReplaceFlows {
                    bridge: "br-int".into(),
                    flows: vec!["priority=0,actions=NORMAL".into()],
                },
            ],
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            json.starts_with(r#"{"cmd":"batch","requests":[{"cmd":"del-port""#),
            "{json}"
        );
        match serde_json::from_str::<Request>(&json).unwrap() {
            Request::Batch { requests } => assert_eq!(requests.len(), 2),
            other => panic!("{other:?}"),
        }
        let resp = Response::Batch {
            results: vec![
                Response::Done { message: None },
                Response::Error {
                    message: "x".into(),
                },
            ],
        };
        let json = serde_json::to_string(&resp).unwrap();
        match serde_json::from_str::<Response>(&json).unwrap() {
            Response::Batch { results } => {
                assert!(matches!(results[1], Response::Error { .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_port_dhcp_round_trips_as_json() {
        let mut b = DhcpBinding::new(
            "fa:16:3e:00:00:01",
            Ipv4Addr::new(10, 0, 0, 5),
            24,
            Ipv4Addr::new(10, 0, 0, 2),
        );
        b.router = Some(Ipv4Addr::new(10, 0, 0, 1));
        b.mtu = Some(1450);
        let req = Request::SetPortDhcp {
            bridge: "br-int".into(),
            port: "tap1".into(),
            dhcp: Some(b.clone()),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains(r#""cmd":"set-port-dhcp""#), "{json}");
        match serde_json::from_str::<Request>(&json).unwrap() {
            Request::SetPortDhcp { dhcp, .. } => assert_eq!(dhcp, Some(b)),
            other => panic!("{other:?}"),
        }
        // Clearing: `dhcp` null or left out.
        for text in [
            r#"{"cmd":"set-port-dhcp","bridge":"br-int","port":"tap1","dhcp":null}"#,
            r#"{"cmd":"set-port-dhcp","bridge":"br-int","port":"tap1"}"#,
        ] {
            match serde_json::from_str::<Request>(text).unwrap() {
                Request::SetPortDhcp { dhcp, .. } => assert_eq!(dhcp, None),
                other => panic!("{other:?}"),
            }
        }
    }
}
