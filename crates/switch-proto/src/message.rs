//! Requests and responses: one JSON object per line each way.

use crate::flow::Flow;
use crate::port::{DhcpBinding, PortSpec};
use crate::stats::{
    ConntrackStats, DhcpStats, FdbEntry, FlowCacheStats, HeapStats, LearnedFlowStats, PollSpin,
    PortStats, TunnelCounters,
};
use serde::{Deserialize, Serialize};

/// What a client sends: the protocol version it speaks and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Absent from version 1 clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(flatten)]
    pub request: Request,
}

impl Envelope {
    /// `request` stamped with this crate's [`crate::VERSION`].
    pub fn new(request: Request) -> Envelope {
        Envelope {
            version: Some(crate::VERSION),
            request,
        }
    }
}

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
        port: PortSpec,
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
    /// Adds flows: `flows` in ovs-ofctl text, `typed` as values (version 2); all are
    /// checked before any is installed.
    AddFlows {
        bridge: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flows: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        typed: Vec<Flow>,
    },
    /// Replaces every flow of the bridge at once with `flows` and `typed`.
    ReplaceFlows {
        bridge: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flows: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        typed: Vec<Flow>,
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
    /// The tracked connections (of one zone), a line each, as `ovs-appctl
    /// dpctl/dump-conntrack` prints them.
    DumpConntrack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<u16>,
    },
    /// The kernel fast path's entries with their counts, a line each, as
    /// `ovs-dpctl dump-flows` prints them, after a summary line (older switchds
    /// answer with an error: unknown request).
    DumpDatapath,
    /// Forgets the tracked connections (of one zone).
    FlushConntrack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<u16>,
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
    pub config: PortSpec,
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

// One response per control request: `Show`'s size costs nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
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
        flow_cache: FlowCacheStats,
        /// switchd's heap, when the binary counts it.
        #[serde(default)]
        heap: Option<HeapStats>,
        /// Per poll thread, the CPU it is pinned to (`--poll-cpus`).
        #[serde(default)]
        poll_cpus: Vec<Option<usize>>,
        /// When the poll threads sleep (`--poll-spin-us`); absent from older switchds.
        #[serde(default)]
        poll_spin: Option<PollSpin>,
        /// The protocol version the switchd speaks; absent from version 1.
        #[serde(default)]
        protocol_version: Option<u32>,
        /// The connection table; absent from switchds without one.
        #[serde(default)]
        conntrack: Option<ConntrackStats>,
        /// The flows `learn()` installed, and the cap.
        #[serde(default)]
        learned: Option<LearnedFlowStats>,
        /// Which path carries the ports' traffic; absent from older switchds.
        #[serde(default)]
        datapath: Option<String>,
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
    use crate::flow::{Action, Match};
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
            Response::Show {
                poll_spin,
                protocol_version,
                ..
            } => {
                assert_eq!(poll_spin, None);
                assert_eq!(protocol_version, None);
            }
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
                    typed: vec![],
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
    fn typed_flows_travel_in_a_versioned_envelope() {
        let flow = crate::Flow::new(0, 1)
            .when(Match::in_port("patch-int"))
            .then([Action::resubmit(2)]);
        let env = Envelope::new(Request::ReplaceFlows {
            bridge: "br-tun".into(),
            flows: vec![],
            typed: vec![flow.clone()],
        });
        let json = serde_json::to_string(&env).unwrap();
        assert!(
            json.starts_with(r#"{"version":2,"cmd":"replace-flows""#),
            "{json}"
        );
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.version, Some(crate::VERSION));
        match back.request {
            Request::ReplaceFlows { typed, flows, .. } => {
                assert_eq!(typed, vec![flow]);
                assert!(flows.is_empty());
            }
            other => panic!("{other:?}"),
        }
        // A version 1 client: no version, text flows.
        let old = r#"{"cmd":"add-flows","bridge":"br0","flows":["actions=NORMAL"]}"#;
        let env: Envelope = serde_json::from_str(old).unwrap();
        assert_eq!(env.version, None);
        assert!(matches!(env.request, Request::AddFlows { ref flows, .. } if flows.len() == 1));
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
