//! The agent's Prometheus endpoint (`--metrics-listen ADDR`, off by default):
//! `GET /metrics` in the Prometheus text format, read fresh on each scrape —
//! the metering counters of this host's routers by label, router and direction
//! (from their namespaces' nftables counters), and the switch's counters: per
//! port, tunnels, the flow cache, learned flows and connection tracking (from
//! switchd's control socket). Reading only: a scrape changes nothing.

use crate::compile::metering::{DIRECTIONS, counter};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use switch_proto::{Client, Request, Response as SwResponse};
use tracing::warn;

/// A router whose traffic is metered here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredRouter {
    pub id: String,
    pub namespace: String,
    /// Its labels' ids.
    pub labels: Vec<String>,
}

/// What the agent's loop tells the endpoint after each turn.
pub type Routers = Arc<RwLock<Vec<MeteredRouter>>>;

/// Prometheus text: samples gathered per family, written family by family
/// (`# HELP`, `# TYPE`, then its samples), as the format requires.
#[derive(Default)]
pub struct Text {
    /// (name, `# HELP` and `# TYPE` lines, samples), in first-seen order.
    families: Vec<(String, String, String)>,
}

impl Text {
    pub fn sample(&mut self, name: &str, kind: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        let i = match self.families.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                let head = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
                self.families.push((name.to_string(), head, String::new()));
                self.families.len() - 1
            }
        };
        let out = &mut self.families[i].2;
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (j, (k, val)) in labels.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape(val));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {v}");
    }

    pub fn finish(self) -> String {
        self.families
            .into_iter()
            .map(|(_, head, samples)| head + &samples)
            .collect()
    }
}

/// A label value as the text format writes it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metering samples of `routers`, from `read` (namespace -> counters).
pub fn metering(
    t: &mut Text,
    routers: &[MeteredRouter],
    read: impl Fn(&str) -> Result<BTreeMap<String, (u64, u64)>, String>,
) {
    for r in routers {
        let counters = match read(&r.namespace) {
            Ok(c) => c,
            Err(e) => {
                warn!(router = %r.id, "metering counters: {e}");
                continue;
            }
        };
        for l in &r.labels {
            for (direction, _) in DIRECTIONS {
                let Some((p, b)) = counters.get(&counter(l, direction)) else {
                    continue;
                };
                let labels = [
                    ("label", l.as_str()),
                    ("router", r.id.as_str()),
                    ("direction", direction),
                ];
                t.sample(
                    "neutrino_metering_label_packets_total",
                    "counter",
                    "Packets a metering label counted on a router.",
                    &labels,
                    *p,
                );
                t.sample(
                    "neutrino_metering_label_bytes_total",
                    "counter",
                    "Bytes a metering label counted on a router.",
                    &labels,
                    *b,
                );
            }
        }
    }
}

/// The switch's samples, from switchd's `show` and `dump-ports`.
pub fn switch(t: &mut Text, client: &Client) {
    let Ok(SwResponse::Show {
        bridges,
        tunnels,
        flow_cache,
        conntrack,
        learned,
        ..
    }) = client.call(&Request::Show)
    else {
        t.sample(
            "neutrino_switch_up",
            "gauge",
            "Whether switchd answers.",
            &[],
            0,
        );
        return;
    };
    t.sample(
        "neutrino_switch_up",
        "gauge",
        "Whether switchd answers.",
        &[],
        1,
    );
    for b in &bridges {
        let Ok(SwResponse::Ports { ports }) = client.call(&Request::DumpPorts {
            bridge: b.name.clone(),
        }) else {
            continue;
        };
        for p in ports {
            let l = [("bridge", b.name.as_str()), ("port", p.name.as_str())];
            let s = &p.stats;
            for (name, help, v) in [
                (
                    "neutrino_port_rx_packets_total",
                    "Packets a port received.",
                    s.rx_packets,
                ),
                (
                    "neutrino_port_rx_bytes_total",
                    "Bytes a port received.",
                    s.rx_bytes,
                ),
                (
                    "neutrino_port_rx_dropped_total",
                    "Packets dropped on receive.",
                    s.rx_dropped,
                ),
                (
                    "neutrino_port_tx_packets_total",
                    "Packets a port sent.",
                    s.tx_packets,
                ),
                (
                    "neutrino_port_tx_bytes_total",
                    "Bytes a port sent.",
                    s.tx_bytes,
                ),
                (
                    "neutrino_port_tx_dropped_total",
                    "Packets dropped on send.",
                    s.tx_dropped,
                ),
            ] {
                t.sample(name, "counter", help, &l, v);
            }
        }
        t.sample(
            "neutrino_bridge_flows",
            "gauge",
            "Flows in a bridge's tables.",
            &[("bridge", b.name.as_str())],
            b.flows as u64,
        );
    }
    for (name, help, v) in [
        (
            "neutrino_tunnel_malformed_total",
            "Tunnel packets that could not be parsed.",
            tunnels.malformed,
        ),
        (
            "neutrino_tunnel_unknown_total",
            "Tunnel packets from no known tunnel.",
            tunnels.unknown,
        ),
        (
            "neutrino_tunnel_bad_checksum_total",
            "Tunnel packets with a bad checksum.",
            tunnels.bad_checksum,
        ),
        (
            "neutrino_flow_cache_hits_total",
            "Packets the flow cache decided.",
            flow_cache.hits,
        ),
        (
            "neutrino_flow_cache_misses_total",
            "Packets that went through the tables.",
            flow_cache.misses,
        ),
        (
            "neutrino_flow_cache_invalidations_total",
            "Times the flow cache was emptied.",
            flow_cache.invalidations,
        ),
    ] {
        t.sample(name, "counter", help, &[], v);
    }
    t.sample(
        "neutrino_flow_cache_entries",
        "gauge",
        "Entries in the flow cache.",
        &[],
        flow_cache.entries as u64,
    );
    if let Some(c) = conntrack {
        t.sample(
            "neutrino_conntrack_connections",
            "gauge",
            "Tracked connections.",
            &[],
            c.connections as u64,
        );
        t.sample(
            "neutrino_conntrack_max",
            "gauge",
            "The connection table's limit.",
            &[],
            c.max as u64,
        );
        for (name, help, v) in [
            (
                "neutrino_conntrack_committed_total",
                "Connections committed.",
                c.committed,
            ),
            (
                "neutrino_conntrack_refused_total",
                "Connections refused at the limit.",
                c.refused,
            ),
            (
                "neutrino_conntrack_expired_total",
                "Connections expired.",
                c.expired,
            ),
            (
                "neutrino_conntrack_invalid_total",
                "Packets conntrack found invalid.",
                c.invalid,
            ),
        ] {
            t.sample(name, "counter", help, &[], v);
        }
    }
    if let Some(l) = learned {
        t.sample(
            "neutrino_learned_flows",
            "gauge",
            "Flows learn() installed.",
            &[],
            l.flows as u64,
        );
        t.sample(
            "neutrino_learned_flows_evicted_total",
            "counter",
            "Learned flows evicted at the limit.",
            &[],
            l.evicted,
        );
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, run_dir: PathBuf, routers: Routers) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-listen {addr}: {e}"))?;
    tracing::info!(%addr, "metrics endpoint listening");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (run_dir, routers) = (run_dir.clone(), routers.clone());
            async move { scrape(run_dir, routers).await }
        }),
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn scrape(run_dir: PathBuf, routers: Routers) -> Response {
    let list = routers.read().map(|r| r.clone()).unwrap_or_default();
    let text = tokio::task::spawn_blocking(move || {
        let mut t = Text::default();
        metering(&mut t, &list, crate::l3::metering::counters);
        switch(&mut t, &Client::new(&run_dir));
        t.finish()
    })
    .await;
    match text {
        Ok(body) => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("scrape failed: {e}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut t = Text::default();
        let routers = vec![MeteredRouter {
            id: "r1".into(),
            namespace: "qrouter-r1".into(),
            labels: vec!["ab-cd".into()],
        }];
        metering(&mut t, &routers, |ns| {
            assert_eq!(ns, "qrouter-r1");
            let mut m = BTreeMap::new();
            m.insert("m_abcd_in".to_string(), (2, 200));
            m.insert("m_abcd_out".to_string(), (1, 60));
            Ok(m)
        });
        t.sample("x_total", "counter", "X.", &[("q", "a\"b\\c\nd")], 5);
        let s = t.finish();
        assert!(s.starts_with(
            "# HELP neutrino_metering_label_packets_total Packets a metering label counted on a router.\n\
             # TYPE neutrino_metering_label_packets_total counter\n\
             neutrino_metering_label_packets_total{label=\"ab-cd\",router=\"r1\",direction=\"ingress\"} 2\n\
             neutrino_metering_label_packets_total{label=\"ab-cd\",router=\"r1\",direction=\"egress\"} 1\n\
             # HELP neutrino_metering_label_bytes_total"
        ), "{s}");
        assert!(s.contains(
            "neutrino_metering_label_bytes_total{label=\"ab-cd\",router=\"r1\",direction=\"egress\"} 60\n"
        ));
        assert_eq!(
            s.matches("# TYPE neutrino_metering_label_bytes_total")
                .count(),
            1
        );
        assert!(s.contains("x_total{q=\"a\\\"b\\\\c\\nd\"} 5\n"), "{s}");
    }
}
