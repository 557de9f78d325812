//! The agent's loop: log in, register and heartbeat, then watch the host view
//! (long poll resumed by revision), compile and apply each change, report port
//! status. Server restarts and network blips are retried with backoff; switchd
//! being away is retried on the next turn.

use crate::apply::{self, ApplyReport, Switchd};
use crate::compile::{self, Compiled, HostConfig};
use crate::l3::{self, L3Report};
use crate::metadata::{self, MetadataConfig, MetadataReport};
use client::{Auth, Client, ClientError};
use model::{AgentReport, FloatingIpStatusReport, HostView, PortStatusReport};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Everything the agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub auth: Auth,
    pub host: HostConfig,
    pub roles: Vec<String>,
    pub switch_run_dir: PathBuf,
    pub report_interval: Duration,
    /// How long one watch request waits for a change (seconds).
    pub poll_secs: u64,
    /// The metadata service (`None`: off). Its namespace prefix is also in
    /// `host.metadata`, for the compile step.
    pub metadata: Option<MetadataConfig>,
    /// Where the Prometheus endpoint listens (`--metrics-listen`); off when `None`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

const AGENT_TYPE: &str = "Open vSwitch agent";
const BINARY: &str = "neutrino-openvswitch-agent";
/// The row a network node reports beside its Open vSwitch agent, as Neutron's L3
/// agent does.
const L3_AGENT_TYPE: &str = "L3 agent";
const L3_BINARY: &str = "neutrino-l3-agent";
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Least time between two host-view requests.
const MIN_FETCH: Duration = Duration::from_millis(100);
/// How often an idle agent re-applies its last view to the switch.
const RESYNC: Duration = Duration::from_secs(60);

/// Runs until the process is told to stop (SIGINT/SIGTERM).
pub async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = serve(cfg) => r,
        _ = tokio::signal::ctrl_c() => { info!("interrupted, stopping"); Ok(()) }
        _ = term.recv() => { info!("terminated, stopping"); Ok(()) }
    }
}

async fn serve(cfg: AgentConfig) -> anyhow::Result<()> {
    let client = login(&cfg.auth).await;
    let mut beats = vec![tokio::spawn(heartbeat(
        client.clone(),
        report(&cfg),
        cfg.report_interval,
    ))];
    if cfg.roles.iter().any(|r| r == "network") {
        let l3 = AgentReport {
            agent_type: L3_AGENT_TYPE.into(),
            binary: L3_BINARY.into(),
            ..report(&cfg)
        };
        beats.push(tokio::spawn(heartbeat(
            client.clone(),
            l3,
            cfg.report_interval,
        )));
    }
    let metered = crate::metrics::Routers::default();
    if let Some(addr) = cfg.metrics_listen {
        let (dir, routers) = (cfg.switch_run_dir.clone(), metered.clone());
        beats.push(tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, dir, routers).await {
                warn!("metrics endpoint: {e:#}");
            }
        }));
    }
    let result = watch(&client, &cfg, &metered).await;
    for hb in beats {
        hb.abort();
    }
    result
}

async fn login(auth: &Auth) -> Client {
    let mut backoff = Backoff::default();
    loop {
        match Client::login(auth.clone()).await {
            Ok(c) => {
                info!(server = c.network_url(), "logged in");
                return c;
            }
            Err(e) => {
                warn!("login failed: {e}; retrying");
                backoff.wait().await;
            }
        }
    }
}

fn report(cfg: &AgentConfig) -> AgentReport {
    let tunnel_types = cfg
        .host
        .tunnel_types
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    AgentReport {
        host: cfg.host.host.clone(),
        agent_type: AGENT_TYPE.into(),
        binary: BINARY.into(),
        tunneling_ip: Some(cfg.host.tunnel_ip.to_string()),
        tunnel_types,
        bridge_mappings: cfg.host.bridge_mappings.clone(),
        roles: cfg.roles.clone(),
        report_interval_secs: cfg.report_interval.as_secs().max(1),
    }
}

async fn heartbeat(client: Client, r: AgentReport, every: Duration) {
    let body = match serde_json::to_value(&r) {
        Ok(b) => b,
        Err(e) => {
            warn!("cannot encode the agent report: {e}");
            return;
        }
    };
    let mut was_ok = true;
    loop {
        match client.post("/agent-api/v1/agents", &body).await {
            Ok(_) if !was_ok => {
                info!("heartbeat reaches the server again");
                was_ok = true;
            }
            Ok(_) => {}
            Err(e) => {
                if was_ok {
                    warn!("heartbeat failed: {e}");
                }
                was_ok = false;
            }
        }
        // Retry sooner while the server is away, so `alive` comes back quickly.
        let wait = if was_ok {
            every
        } else {
            every.min(Duration::from_secs(2))
        };
        tokio::time::sleep(wait).await;
    }
}

/// What the watch loop remembers between turns.
#[derive(Default)]
struct Synced {
    revision: i64,
    /// The view last applied (revision and statuses cleared), to skip no-op turns.
    applied: Option<HostView>,
    compiled: Option<Compiled>,
    report: ApplyReport,
    l3: L3Report,
    md: MetadataReport,
    vlans: Option<BTreeMap<String, u16>>,
    /// False when the last apply failed: the next turn applies again.
    ok: bool,
    applied_at: Option<Instant>,
    disabled_noted: bool,
}

async fn watch(
    client: &Client,
    cfg: &AgentConfig,
    metered: &crate::metrics::Routers,
) -> anyhow::Result<()> {
    let path = format!("/agent-api/v1/hosts/{}/view", cfg.host.host);
    let mut s = Synced::default();
    let mut md = cfg.metadata.as_ref().map(metadata::Service::new);
    let mut last: Option<HostView> = None;
    let mut last_fetch: Option<Instant> = None;
    let mut backoff = Backoff::default();
    loop {
        // Under a burst of changes (hundreds of ports being created), fetch at
        // most every MIN_FETCH: each view then carries many changes at once.
        if let Some(t) = last_fetch {
            let since_last = Instant::now().duration_since(t);
            if since_last < MIN_FETCH {
                tokio::time::sleep(MIN_FETCH - since_last).await;
            }
        }
        last_fetch = Some(Instant::now());
        let since = s.revision.to_string();
        // After a failed apply (switchd away), come back soon to try again.
        let timeout = if s.ok || last.is_none() {
            cfg.poll_secs
        } else {
            2
        }
        .to_string();
        let got = client
            .get(
                &path,
                &[("since", since.as_str()), ("timeout", timeout.as_str())],
            )
            .await;
        let view = match got {
            Ok(Value::Null) => match &last {
                // Nothing changed: apply again after a failure, and now and then
                // anyway, so a switch that lost its state (or was changed by hand)
                // is put right without waiting for the next change.
                Some(v) if !s.ok || s.applied_at.is_some_and(|t| t.elapsed() >= RESYNC) => {
                    s.ok = false;
                    v.clone()
                }
                _ => continue,
            },
            Ok(v) => match serde_json::from_value::<HostView>(v) {
                Ok(v) => v,
                Err(e) => {
                    warn!("the server sent a host view this agent cannot read: {e}");
                    backoff.wait().await;
                    continue;
                }
            },
            Err(e) => {
                if !matches!(e, ClientError::Transport(_)) || backoff.is_fresh() {
                    warn!("watching the host view: {e}; retrying");
                }
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        s.revision = view.revision;
        last = Some(view.clone());
        let result = turn(client, cfg, &mut s, md.as_mut(), view).await;
        if let (Some(c), Ok(mut m)) = (&s.compiled, metered.write()) {
            *m = c
                .routers
                .iter()
                .filter(|r| r.metering.is_some())
                .map(|r| crate::metrics::MeteredRouter {
                    id: r.id.clone(),
                    namespace: r.namespace.clone(),
                    labels: r.metering_labels.clone(),
                })
                .collect();
        }
        if let Err(e) = result {
            s.ok = false;
            warn!("{e:#}; retrying");
            backoff.wait().await;
        }
    }
}

/// One change of the view: compile, apply (unless nothing but statuses changed),
/// report the port statuses that differ.
async fn turn(
    client: &Client,
    cfg: &AgentConfig,
    s: &mut Synced,
    md: Option<&mut metadata::Service>,
    view: HostView,
) -> anyhow::Result<()> {
    if !view.admin_state_up {
        if !s.disabled_noted {
            warn!("this agent is disabled (admin_state_up false): taking no new work");
            s.disabled_noted = true;
        }
        return Ok(());
    }
    s.disabled_noted = false;
    let key = without_status(&view);
    if !(s.ok && s.applied.as_ref() == Some(&key)) {
        let started = Instant::now();
        let sw = Switchd::new(&cfg.switch_run_dir);
        let host = cfg.host.clone();
        let prior = s.vlans.clone();
        let v = view.clone();
        // What the last apply set up, unless this turn re-applies everything
        // (after a failure, and every RESYNC), and the namespaces it had.
        let (done, previous) = last_turn(
            s,
            |c| &c.routers,
            |r| s.l3.failed.contains_key(&r.id),
            |r| &r.namespace,
        );
        let (md_done, md_previous) = last_turn(
            s,
            |c| &c.metadata,
            |m| s.md.failed.contains_key(&m.namespace),
            |m| &m.namespace,
        );
        let md_prefix = cfg.metadata.as_ref().map(|m| m.prefix.clone());
        let (compiled, report, l3, md_report) = tokio::task::spawn_blocking(move || {
            let current = sw.show()?;
            let prior = match prior {
                Some(p) => p,
                None => apply::recover_vlans(&current, &v),
            };
            let c = compile::compile(&v, &host, &prior);
            let before = current.clone();
            let r = sw.apply_to(&c, current)?;
            // Routers after the switch: their devices exist (or are gone) by now.
            let l3 = l3::apply(&c, &before, &done, &r.made, &previous);
            let md = match md_prefix {
                Some(p) => metadata::apply(&c, &p, &before, &md_done, &r.made, &md_previous),
                None => MetadataReport::default(),
            };
            Ok::<_, apply::ApplyError>((c, r, l3, md))
        })
        .await??;
        for w in &compiled.warnings {
            warn!("{w}");
        }
        for (port, e) in &report.port_errors {
            warn!("port {port}: {e}");
        }
        for (router, e) in &l3.failed {
            warn!("router {router}: {e}");
        }
        for ns in &l3.removed {
            info!("removed {ns} (its router is gone)");
        }
        for (ns, e) in &md_report.failed {
            warn!("metadata namespace {ns}: {e}");
        }
        for ns in &md_report.removed {
            info!("removed {ns} (no more ports of its network here)");
        }
        if let Some(md) = md {
            md.sync(&compiled.metadata, &view, &report.made, &md_report);
        }
        let first = s.applied_at.is_none();
        if first || report.changed() {
            info!(
                revision = view.revision,
                ports = compiled.vm_ports.len(),
                routers = compiled.routers.len(),
                added = report.made.len(),
                removed = report.ports_removed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "in sync"
            );
        } else {
            debug!(revision = view.revision, "in sync, nothing to change");
        }
        s.vlans = Some(compiled.vlans.clone());
        s.compiled = Some(compiled);
        s.report = report;
        s.l3 = l3;
        s.md = md_report;
        s.applied = Some(key);
        s.applied_at = Some(Instant::now());
        s.ok = true;
    }
    let Some(compiled) = &s.compiled else {
        return Ok(());
    };
    let statuses = apply::port_statuses(&view, compiled, &s.report, &s.l3);
    if !statuses.is_empty() {
        let n = statuses.len();
        let body = serde_json::to_value(PortStatusReport { ports: statuses })?;
        client
            .put(
                &format!("/agent-api/v1/hosts/{}/port-status", cfg.host.host),
                &body,
            )
            .await?;
        info!(ports = n, "port status reported");
    }
    let fips = apply::floating_ip_statuses(&view, compiled, &s.l3);
    if !fips.is_empty() {
        let n = fips.len();
        let body = serde_json::to_value(FloatingIpStatusReport { floating_ips: fips })?;
        client
            .put(
                &format!("/agent-api/v1/hosts/{}/floatingip-status", cfg.host.host),
                &body,
            )
            .await?;
        info!(floating_ips = n, "floating IP status reported");
    }
    Ok(())
}

/// Of one kind of namespace the last turn made (routers, metadata): the specs
/// it set up without failure (none when it failed: all are applied again),
/// and every namespace it had.
fn last_turn<T: Clone>(
    s: &Synced,
    items: impl Fn(&Compiled) -> &Vec<T>,
    failed: impl Fn(&T) -> bool,
    namespace: impl Fn(&T) -> &String,
) -> (Vec<T>, std::collections::BTreeSet<String>) {
    let done = match &s.compiled {
        Some(c) if s.ok => items(c).iter().filter(|x| !failed(x)).cloned().collect(),
        _ => Vec::new(),
    };
    let all = s
        .compiled
        .iter()
        .flat_map(|c| items(c).iter().map(|x| namespace(x).clone()))
        .collect();
    (done, all)
}

fn without_status(v: &HostView) -> HostView {
    let mut v = v.clone();
    v.revision = 0;
    for p in &mut v.ports {
        p.status.clear();
    }
    for r in &mut v.routers {
        for f in &mut r.floating_ips {
            f.status.clear();
        }
    }
    v
}

/// Exponential backoff from 0.5 s to 10 s.
#[derive(Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    async fn wait(&mut self) {
        let d = self.next.unwrap_or(Duration::from_millis(500));
        tokio::time::sleep(d).await;
        self.next = Some((d * 2).min(MAX_BACKOFF));
    }
    fn reset(&mut self) {
        self.next = None;
    }
    fn is_fresh(&self) -> bool {
        self.next.is_none()
    }
}
