//! `lab bench-scale`: the control plane at cloud scale (issue 21), without
//! switches. Two `neutrino server`s on one PostgreSQL (loopback only), N
//! simulated agents (light watchers in this process: the real registration and
//! the real long poll of their host view, half through each server, each able to
//! move to the other), M ports per host, networks of five hosts each.
//!
//! Measured, while ports are created at a steady rate through both servers:
//! - the time from a port create to every concerned host (the five on its
//!   network) holding a view with the new port (p50, p99, max);
//! - hosts woken (views answered) per change, against the concerned ones;
//! - the servers' CPU seconds and PostgreSQL transactions per change, and their
//!   memory.
//!
//! Then one server is killed, a port is created on every network through the
//! other, and the time from the kill until every host holds its network's new
//! port is measured (the agents that watched through the dead server move to the
//! live one, resuming at the revision they had).

use crate::{Result, fail, progress};
use client::{Auth, Client};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Options<'a> {
    pub neutrino: &'a Path,
    pub dir: &'a Path,
    pub database_url: String,
    pub hosts: usize,
    pub ports: usize,
    pub rate: u32,
    pub seconds: u64,
}

const HOSTS_PER_NET: usize = 5;
const PW: &str = "bench-scale-pw";
/// MACs of the measured ports (the server's own are fa:16:3e:...).
const MAC_PREFIX: &str = "fa:16:3f";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| fail!("bind: {e}"))?.port())
}

fn start_server(o: &Options, name: &str) -> Result<Server> {
    let port = free_port()?;
    let dir = o.dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| fail!("{}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| fail!("log: {e}"))?;
    let child = Command::new(o.neutrino)
        .args(["server", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &o.database_url, "--admin-password", PW])
        .args(["--vxlan-range", "1:100000"])
        .arg("--state-dir")
        .arg(&dir)
        .env("NEUTRINO_LOG", "warn")
        .env(
            "NEUTRINO_QUOTAS",
            "network=100000,subnet=100000,port=1000000",
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| fail!("start server: {e}"))?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

fn auth(urls: &str) -> Auth {
    Auth {
        auth_url: urls.to_string(),
        username: "admin".into(),
        password: PW.into(),
        project_name: "admin".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    }
}

async fn login(urls: &str) -> Result<Client> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::login(auth(urls)).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > until => return Err(fail!("login at {urls}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// CPU seconds (user + system) of process `pid`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf reads a constant of the running system; no memory is touched.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// PostgreSQL's committed + rolled back transactions in the bench's database.
fn pg_transactions(url: &str) -> u64 {
    let base = url.split('?').next().unwrap_or(url);
    Command::new("psql")
        .args([base, "-Atc"])
        .arg("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// What the watchers saw.
#[derive(Default)]
struct Seen {
    /// (host, MAC) -> when the host first held a view with it.
    first: Mutex<HashMap<(usize, String), Instant>>,
    /// Views answered (200) while counting.
    wakes: AtomicU64,
    counting: AtomicBool,
    /// Per host: when its poll was last answered (a view or "nothing new"), for
    /// the re-sync.
    last_view: Mutex<Vec<Option<Instant>>>,
}

fn macs_in(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["ports", "remote_ports"] {
        for p in v[key].as_array().into_iter().flatten() {
            if let Some(m) = p["mac_address"].as_str()
                && m.starts_with(MAC_PREFIX)
            {
                out.push(m.to_string());
            }
        }
    }
    out
}

/// One simulated agent: register, then watch the host view for ever.
async fn watcher(c: Client, host: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let name = format!("sim{host}");
    let path = format!("/agent-api/v1/hosts/{name}/view");
    let mut since = 0i64;
    // After a failure the next poll asks for an answer within a second, so the
    // re-sync is seen even when nothing changed meanwhile.
    let mut recovering = false;
    while !stop.load(Ordering::Relaxed) {
        let s = since.to_string();
        let timeout = if recovering { "1" } else { "20" };
        let got = c
            .get(&path, &[("since", s.as_str()), ("timeout", timeout)])
            .await;
        if got.is_ok() {
            recovering = false;
            if let Ok(mut l) = seen.last_view.lock()
                && let Some(slot) = l.get_mut(host)
            {
                *slot = Some(Instant::now());
            }
        }
        match got {
            Ok(Value::Null) => {}
            Ok(v) => {
                since = v["revision"].as_i64().unwrap_or(since);
                let now = Instant::now();
                if seen.counting.load(Ordering::Relaxed) {
                    seen.wakes.fetch_add(1, Ordering::Relaxed);
                }
                let macs = macs_in(&v);
                if !macs.is_empty()
                    && let Ok(mut f) = seen.first.lock()
                {
                    for m in macs {
                        f.entry((host, m)).or_insert(now);
                    }
                }
            }
            Err(_) => {
                recovering = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn agent_report(host: usize) -> Value {
    let ip = format!(
        "10.{}.{}.{}",
        100 + host / 65536,
        (host / 256) % 256,
        host % 256
    );
    json!({"host": format!("sim{host}"), "agent_type": "Open vSwitch agent",
        "binary": "neutrino-openvswitch-agent", "tunneling_ip": ip,
        "tunnel_types": ["vxlan"], "bridge_mappings": {}, "roles": ["compute"],
        "report_interval_secs": 30})
}

fn port_body(net: &str, host: usize, mac: Option<&str>) -> Value {
    let mut p = json!({"network_id": net, "binding:host_id": format!("sim{host}"),
        "device_owner": "compute:nova", "device_id": format!("vm-{host}"),
        "port_security_enabled": false});
    if let Some(m) = mac {
        p["mac_address"] = json!(m);
    }
    json!({ "port": p })
}

/// Runs `n` jobs with at most `width` at once.
async fn in_parallel<F, Fut>(n: usize, width: usize, f: F) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        if set.len() >= width
            && let Some(r) = set.join_next().await
        {
            r.map_err(|e| fail!("task: {e}"))??;
        }
        set.spawn(f(i));
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| fail!("task: {e}"))??;
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(o: &Options) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail!("runtime: {e}"))?;
    rt.block_on(run_async(o))
}

async fn run_async(o: &Options<'_>) -> Result<()> {
    let a = start_server(o, "server-a")?;
    let b = start_server(o, "server-b")?;
    let (pid_a, pid_b) = (a.child.id(), b.child.id());
    let ab = login(&format!("{},{}", a.url, b.url)).await?;
    let ba = login(&format!("{},{}", b.url, a.url)).await?;
    let api = |i: usize| {
        if i.is_multiple_of(2) {
            ab.clone()
        } else {
            ba.clone()
        }
    };

    progress(format!(
        "bench-scale: {} hosts, {} ports each, networks of {HOSTS_PER_NET} hosts",
        o.hosts, o.ports
    ));
    let t = Instant::now();
    let nets_n = o.hosts.div_ceil(HOSTS_PER_NET);
    let nets: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![String::new(); nets_n]));
    {
        let nets = nets.clone();
        in_parallel(nets_n, 8, |k| {
            let (c, nets) = (api(k), nets.clone());
            async move {
                let n = c
                    .post(
                        "/v2.0/networks",
                        &json!({"network": {"name": format!("net{k}")}}),
                    )
                    .await
                    .map_err(|e| fail!("network: {e}"))?;
                let id = n["network"]["id"].as_str().unwrap_or_default().to_string();
                let cidr = format!("10.{}.{}.0/23", k / 128, (k % 128) * 2);
                c.post(
                    "/v2.0/subnets",
                    &json!({"subnet": {"network_id": id, "cidr": cidr, "enable_dhcp": false}}),
                )
                .await
                .map_err(|e| fail!("subnet: {e}"))?;
                if let Ok(mut v) = nets.lock() {
                    v[k] = id;
                }
                Ok(())
            }
        })
        .await?;
    }
    let nets: Vec<String> = nets.lock().map(|v| v.clone()).unwrap_or_default();
    in_parallel(o.hosts, 8, |h| {
        let c = api(h);
        async move {
            c.post("/agent-api/v1/agents", &agent_report(h))
                .await
                .map(|_| ())
                .map_err(|e| fail!("agent: {e}"))
        }
    })
    .await?;
    let total = o.hosts * o.ports;
    in_parallel(total, 16, |i| {
        let (c, host) = (api(i), i % o.hosts);
        let net = nets[host / HOSTS_PER_NET].clone();
        async move {
            let body = port_body(&net, host, None);
            c.post("/v2.0/ports", &body)
                .await
                .map(|_| ())
                .map_err(|e| fail!("port: {e}"))
        }
    })
    .await?;
    progress(format!(
        "bench-scale: {nets_n} networks, {} agents, {total} ports in {:.1} s",
        o.hosts,
        t.elapsed().as_secs_f64()
    ));

    // The watchers: even hosts through A (then B), odd through B (then A).
    let seen = Arc::new(Seen {
        last_view: Mutex::new(vec![None; o.hosts]),
        ..Seen::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    for h in 0..o.hosts {
        tokio::spawn(watcher(api(h), h, seen.clone(), stop.clone()));
    }
    // Every host holds its first view.
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = seen
            .last_view
            .lock()
            .map(|l| l.iter().all(Option::is_some))
            .unwrap_or(false);
        if ready {
            break;
        }
        if Instant::now() > until {
            return Err(fail!("not every host got its view within 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress(format!(
        "bench-scale: {} watchers hold their views ({:.1} s); {} changes/s for {} s",
        o.hosts,
        t.elapsed().as_secs_f64(),
        o.rate,
        o.seconds
    ));

    // The measured phase: port creates at a steady rate, each on a random host.
    let cpu0 = cpu_secs(pid_a) + cpu_secs(pid_b);
    let tx0 = pg_transactions(&o.database_url);
    seen.counting.store(true, Ordering::Relaxed);
    let changes = (u64::from(o.rate) * o.seconds) as usize;
    let started: Arc<Mutex<Vec<(String, usize, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut set = tokio::task::JoinSet::new();
    let t0 = Instant::now();
    for i in 0..changes {
        let due = t0 + Duration::from_secs_f64(i as f64 / f64::from(o.rate.max(1)));
        tokio::time::sleep_until(due.into()).await;
        let host = (i * 7919) % o.hosts;
        let net = nets[host / HOSTS_PER_NET].clone();
        let mac = format!(
            "{MAC_PREFIX}:{:02x}:{:02x}:{:02x}",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        );
        let (c, started) = (api(i), started.clone());
        set.spawn(async move {
            let body = port_body(&net, host, Some(&mac));
            let at = Instant::now();
            let r = c.post("/v2.0/ports", &body).await;
            if r.is_ok()
                && let Ok(mut s) = started.lock()
            {
                s.push((mac, host, at));
            }
            r.map(|_| ()).map_err(|e| fail!("port: {e}"))
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| fail!("task: {e}"))??;
    }
    // Let the last ones arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    seen.counting.store(false, Ordering::Relaxed);
    let cpu = cpu_secs(pid_a) + cpu_secs(pid_b) - cpu0;
    let txs = pg_transactions(&o.database_url).saturating_sub(tx0);
    let started = started.lock().map(|s| s.clone()).unwrap_or_default();
    let first = seen.first.lock().map(|f| f.clone()).unwrap_or_default();
    let mut lat = Vec::new();
    let mut missing = 0;
    for (mac, host, at) in &started {
        let net = host / HOSTS_PER_NET;
        let concerned =
            (net * HOSTS_PER_NET..((net + 1) * HOSTS_PER_NET).min(o.hosts)).collect::<Vec<_>>();
        let arrivals: Vec<Option<&Instant>> = concerned
            .iter()
            .map(|h| first.get(&(*h, mac.clone())))
            .collect();
        if arrivals.iter().any(Option::is_none) {
            missing += 1;
            continue;
        }
        let worst = arrivals
            .iter()
            .flatten()
            .map(|t| t.saturating_duration_since(*at).as_secs_f64())
            .fold(0.0, f64::max);
        lat.push(worst * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let n = started.len().max(1) as f64;
    let wakes = seen.wakes.load(Ordering::Relaxed) as f64;
    let concerned = HOSTS_PER_NET.min(o.hosts) as f64;
    let (rss_a, rss_b) = (rss_mib(pid_a), rss_mib(pid_b));

    // Re-sync: kill server A; the agents that watched through it move to B
    // (their client logs in there and repeats the poll with the revision it
    // had). Then one new port on every network, through B: the time until every
    // host holds its network's is the time to be back in step after the loss.
    let mut a = a;
    let killed = Instant::now();
    let _ = a.child.kill();
    let _ = a.child.wait();
    in_parallel(nets.len(), 16, |k| {
        let c = ba.clone();
        let net = nets[k].clone();
        let mac = format!("{MAC_PREFIX}:ff:{:02x}:{:02x}", (k >> 8) & 0xff, k & 0xff);
        async move {
            let body = port_body(&net, k * HOSTS_PER_NET, Some(&mac));
            c.post("/v2.0/ports", &body)
                .await
                .map(|_| ())
                .map_err(|e| fail!("port after the kill: {e}"))
        }
    })
    .await?;
    let until = killed + Duration::from_secs(60);
    let resync = loop {
        let done = seen.first.lock().ok().and_then(|f| {
            (0..o.hosts)
                .map(|h| {
                    let k = h / HOSTS_PER_NET;
                    let mac = format!("{MAC_PREFIX}:ff:{:02x}:{:02x}", (k >> 8) & 0xff, k & 0xff);
                    f.get(&(h, mac))
                        .map(|t| t.saturating_duration_since(killed))
                })
                .collect::<Option<Vec<_>>>()
        });
        if let Some(all) = done {
            break all.into_iter().max().map(|d| d.as_secs_f64());
        }
        if Instant::now() > until {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.store(true, Ordering::Relaxed);
    drop(b);

    println!(
        "bench-scale: {} hosts x {} ports ({} networks of {HOSTS_PER_NET} hosts), two servers on one PostgreSQL",
        o.hosts, o.ports, nets_n
    );
    println!(
        "  {} port creates at {}/s: new port in every concerned host's view p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} not seen)",
        started.len(),
        o.rate,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        missing
    );
    println!(
        "  hosts woken per change {:.2} (concerned: {concerned:.0})",
        wakes / n
    );
    println!(
        "  servers' CPU {:.1} ms per change, PostgreSQL transactions {:.1} per change, memory A {rss_a:.0} MiB, B {rss_b:.0} MiB",
        cpu * 1000.0 / n,
        txs as f64 / n
    );
    match resync {
        Some(s) => println!(
            "  server A killed ({} agents on it): a port created on every network after it is in every host's view {:.2} s after the kill",
            o.hosts.div_ceil(2),
            s
        ),
        None => println!("  server A killed: not every host had the new ports within 60 s"),
    }
    Ok(())
}
