//! The metadata service on every host (what neutron-metadata-agent and its
//! proxies do): for each metadata namespace the compile step wants (see
//! `compile::metadata` for the path a request takes), the namespace's device
//! set up, and an HTTP server listening inside it on port 80 — a socket opened
//! from a thread that entered the namespace, served by the agent's own runtime,
//! so no process per network. A request is answered for the port whose address
//! it comes from on that network, by neutrino itself or by Nova.
//!
//! It must not touch namespaces outside its prefix, and never answers for a port
//! of another network or host.

pub mod content;
pub mod instances;
mod netns;
pub mod proxy;

use crate::compile::{Compiled, MetadataSpec};
use instances::Table;
use proxy::{Nova, Proxy};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use switch_proto::BridgeView;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The port the service listens on in each namespace.
pub const PORT: u16 = 80;

/// How the service runs on this host.
#[derive(Debug, Clone)]
pub struct MetadataConfig {
    /// Namespaces are this and the network id (`qmeta-`).
    pub prefix: String,
    /// Forward to Nova (`--nova-metadata-url`, `--metadata-shared-secret`)
    /// instead of answering from what neutrino knows.
    pub nova: Option<(String, String)>,
}

/// What setting up the namespaces did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MetadataReport {
    /// Namespace -> why it could not be set up.
    pub failed: BTreeMap<String, String>,
    /// Namespaces of networks no longer here, removed.
    pub removed: Vec<String>,
}

/// Sets up the namespaces `c` wants (those not in `done`, set up the same by
/// the last turn, or whose device was made again), then removes the ones
/// `before` (switchd's ports before this apply) or `previous` (the last turn's)
/// had and `c` has not. Blocking; runs after the switch is applied, when the
/// devices are in their namespaces.
pub fn apply(
    c: &Compiled,
    prefix: &str,
    before: &[BridgeView],
    done: &[MetadataSpec],
    made: &BTreeSet<String>,
    previous: &BTreeSet<String>,
) -> MetadataReport {
    let mut report = MetadataReport::default();
    for s in &c.metadata {
        if done.contains(s) && !made.contains(&s.device) && host::netns_exists(&s.namespace) {
            continue;
        }
        if let Err(e) = netns::setup(s) {
            report.failed.insert(s.namespace.clone(), e);
        }
    }
    let wanted: BTreeSet<&str> = c.metadata.iter().map(|s| s.namespace.as_str()).collect();
    let mut known: BTreeSet<String> = before
        .iter()
        .flat_map(|b| &b.ports)
        .filter_map(|p| p.config.netns.clone())
        .collect();
    known.extend(previous.iter().cloned());
    let (removed, failed) = netns::remove_stale(prefix, &known, &wanted);
    report.removed = removed;
    report.failed.extend(failed);
    report
}

/// The listening side: one server per namespace, and the table they answer from.
pub struct Service {
    table: Arc<RwLock<Table>>,
    nova: Option<Nova>,
    /// Namespace -> (network id, its server).
    servers: BTreeMap<String, (String, JoinHandle<()>)>,
}

impl Service {
    pub fn new(cfg: &MetadataConfig) -> Service {
        let nova = cfg.nova.as_ref().map(|(url, secret)| Nova {
            url: url.clone(),
            secret: secret.clone(),
            client: reqwest::Client::new(),
        });
        Service {
            table: Arc::default(),
            nova,
            servers: BTreeMap::new(),
        }
    }

    /// Takes the instances of `view`, starts a server in each namespace of
    /// `specs` that has none (or whose device was made again: the namespace may
    /// be new), stops those of namespaces no longer wanted. Failures are logged
    /// and retried on the next turn.
    pub fn sync(
        &mut self,
        specs: &[MetadataSpec],
        view: &model::HostView,
        made: &BTreeSet<String>,
        report: &MetadataReport,
    ) {
        match self.table.write() {
            Ok(mut t) => *t = Table::from_view(view),
            Err(_) => warn!("the metadata table was poisoned; not updated"),
        }
        let wanted: BTreeSet<&str> = specs.iter().map(|s| s.namespace.as_str()).collect();
        self.servers.retain(|ns, (_, task)| {
            let keep = wanted.contains(ns.as_str()) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for s in specs {
            if report.failed.contains_key(&s.namespace) {
                continue;
            }
            let fresh = made.contains(&s.device);
            if self.servers.contains_key(&s.namespace) && !fresh {
                continue;
            }
            if let Some((_, old)) = self.servers.remove(&s.namespace) {
                old.abort();
            }
            match self.start(s) {
                Ok(task) => {
                    info!(namespace = %s.namespace, "metadata service listening");
                    self.servers
                        .insert(s.namespace.clone(), (s.network_id.clone(), task));
                }
                Err(e) => warn!(namespace = %s.namespace, "metadata service: {e}"),
            }
        }
    }

    /// Namespaces with a running server.
    pub fn serving(&self) -> Vec<String> {
        self.servers.keys().cloned().collect()
    }

    fn start(&self, s: &MetadataSpec) -> Result<JoinHandle<()>, String> {
        let listener = bind(&s.namespace)?;
        let app = proxy::router(Proxy {
            network_id: s.network_id.clone(),
            table: self.table.clone(),
            nova: self.nova.clone(),
        });
        let ns = s.namespace.clone();
        Ok(tokio::spawn(async move {
            let svc = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, svc).await {
                warn!(namespace = %ns, "metadata service stopped: {e}");
            }
        }))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for (_, task) in self.servers.values() {
            task.abort();
        }
    }
}

/// A listening socket on port 80 inside `ns`: IPv6 and IPv4 on one socket, or
/// IPv4 alone where the namespace has no IPv6.
fn bind(ns: &str) -> Result<tokio::net::TcpListener, String> {
    let std_listener = host::in_netns(ns, || {
        std::net::TcpListener::bind(("::", PORT))
            .or_else(|_| std::net::TcpListener::bind(("0.0.0.0", PORT)))
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("{ns}: bind port {PORT}: {e}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("{ns}: {e}"))?;
    tokio::net::TcpListener::from_std(std_listener).map_err(|e| format!("{ns}: {e}"))
}
