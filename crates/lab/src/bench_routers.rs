//! `lab bench-l3 routers --count N`: N routers on the network node. Ext-Subnet's
//! pool (.240-.252) is too small, so the bench adds a second subnet to Ext-Net,
//! `Ext-Bench` 10.1.112.0/20 (gateway 10.1.112.1, no DHCP), and gives the outside
//! world 10.1.112.1/20 (inside the lab's ext namespace). As the admin (16 routers
//! in flight) each router gets its own network and subnet 10.3.I.0/24 (no DHCP), an
//! interface on it, its gateway on Ext-Bench, a port on that network bound to
//! nothing, and a floating IP on Ext-Bench for that port.
//!
//! Measured from the first call: the API alone; until the agent reports every
//! router port and floating IP ACTIVE; until every router's gateway address
//! answers a ping from the outside and every floating address answers its ARP
//! (no VM is behind them: a ping to a floating address is DNATed to a port nobody
//! answers for, so only the `qg-` device's ARP reply is there to see). Then the
//! network node's agent is restarted and its re-sync timed; every router's
//! namespace, links, addresses, routes and NAT table must be unchanged (both
//! snapshots are left in `DIR/bench-routers-{before,after}.txt`).

use crate::bench::wait_in_sync;
use crate::topology::Lab;
use crate::{Result, fail, net, progress};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub const BENCH_EXT_CIDR: &str = "10.1.112.0/20";
pub const BENCH_EXT_GATEWAY: &str = "10.1.112.1";
const BENCH_EXT_POOL: (&str, &str) = ("10.1.112.10", "10.1.127.250");
const IN_FLIGHT: usize = 16;
/// 10.3.I.0/24 per router.
pub const MAX_ROUTERS: usize = 250;

/// What one router of the bench is.
#[derive(Debug, Clone)]
pub struct BenchRouter {
    pub id: String,
    pub gateway_ip: String,
    pub fip_id: String,
    pub fip: String,
}

#[derive(Debug, Clone)]
pub struct RoutersResult {
    pub count: usize,
    pub api_secs: f64,
    pub active_secs: f64,
    pub answer_secs: f64,
    pub resync_secs: f64,
    pub resync_apply_ms: u64,
    /// What differs in the routers' namespaces after the restart (empty: nothing).
    pub changed: Vec<String>,
}

/// The subnet of router `i`.
pub fn router_cidr(i: usize) -> String {
    format!("10.3.{i}.0/24")
}

fn api(e: client::ClientError) -> crate::LabError {
    fail!("API: {e}")
}

fn id(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| fail!("the API answer lacks an id: {v}"))
}

/// Ext-Bench on Ext-Net (made once per lab), and its gateway in the outside world.
fn bench_subnet(lab: &Lab, ext_net: &str, ext_ns: &str) -> Result<String> {
    let net = ext_net.to_string();
    let subnet = lab.api.with(lab.api.admin(), move |c| async move {
        let have = c
            .get("/v2.0/subnets", &[("name", "Ext-Bench")])
            .await
            .map_err(api)?;
        if let Some(s) = have["subnets"].as_array().and_then(|a| a.first()) {
            return id(s);
        }
        let s = c
            .post(
                "/v2.0/subnets",
                &json!({"subnet": {"name": "Ext-Bench", "network_id": net, "ip_version": 4,
                    "cidr": BENCH_EXT_CIDR, "gateway_ip": BENCH_EXT_GATEWAY, "enable_dhcp": false,
                    "allocation_pools": [{"start": BENCH_EXT_POOL.0, "end": BENCH_EXT_POOL.1}]}}),
            )
            .await
            .map_err(api)?;
        id(&s["subnet"])
    })?;
    let addrs = net::ip_in(ext_ns, &["-o", "addr", "show", "dev", "eth0"])?;
    if !addrs.contains(&format!("{BENCH_EXT_GATEWAY}/20")) {
        net::ip_in(
            ext_ns,
            &[
                "addr",
                "add",
                &format!("{BENCH_EXT_GATEWAY}/20"),
                "dev",
                "eth0",
            ],
        )?;
    }
    Ok(subnet)
}

/// POSTs `{kind: body}` to `/v2.0/{kind}s`: the resource made.
async fn create(c: &client::Client, kind: &str, body: Value) -> Result<Value> {
    let v = c
        .post(&format!("/v2.0/{kind}s"), &json!({ kind: body }))
        .await
        .map_err(api)?;
    Ok(v[kind].clone())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Router `i`: network, subnet, router, interface, gateway, a port, its floating IP.
async fn make_router(
    c: client::Client,
    i: usize,
    ext_net: String,
    ext_subnet: String,
) -> Result<BenchRouter> {
    let name = format!("bench-r{i}");
    let nid = id(&create(&c, "network", json!({"name": format!("{name}-net")})).await?)?;
    let subnet = json!({"name": format!("{name}-subnet"), "network_id": nid,
        "ip_version": 4, "cidr": router_cidr(i), "enable_dhcp": false});
    let sid = id(&create(&c, "subnet", subnet).await?)?;
    let rid = id(&create(&c, "router", json!({ "name": name })).await?)?;
    let path = format!("/v2.0/routers/{rid}");
    c.put(
        &format!("{path}/add_router_interface"),
        &json!({"subnet_id": sid}),
    )
    .await
    .map_err(api)?;
    let gateway = json!({"router": {"external_gateway_info": {"network_id": ext_net,
        "external_fixed_ips": [{"subnet_id": ext_subnet}]}}});
    let r = c.put(&path, &gateway).await.map_err(api)?;
    let port = json!({"network_id": nid, "name": format!("{name}-port")});
    let pid = id(&create(&c, "port", port).await?)?;
    let fip = json!({"floating_network_id": ext_net, "subnet_id": ext_subnet, "port_id": pid});
    let f = create(&c, "floatingip", fip).await?;
    Ok(BenchRouter {
        id: rid,
        gateway_ip: text(
            &r["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        ),
        fip_id: id(&f)?,
        fip: text(&f["floating_ip_address"]),
    })
}

fn create_routers(
    lab: &Lab,
    count: usize,
    ext_net: &str,
    ext_subnet: &str,
) -> Result<Vec<BenchRouter>> {
    let (net, sub) = (ext_net.to_string(), ext_subnet.to_string());
    lab.api.with(lab.api.admin(), move |c| async move {
        let have = c
            .get("/v2.0/routers", &[("name", "bench-r0")])
            .await
            .map_err(api)?;
        if have["routers"].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(fail!(
                "this lab has bench routers already (an earlier run): bring up a fresh lab"
            ));
        }
        // The admin's project has Neutron's default quotas (10 routers, 50 floating
        // IPs): the bench lifts them for what it makes.
        let project = c.project_id();
        c.put(
            &format!("/v2.0/quotas/{project}"),
            &json!({"quota": {"network": -1, "subnet": -1, "router": -1,
                "port": -1, "floatingip": -1}}),
        )
        .await
        .map_err(api)?;
        let mut set = JoinSet::new();
        let mut out = Vec::new();
        let mut next = 0;
        loop {
            while set.len() < IN_FLIGHT && next < count {
                set.spawn(make_router(c.clone(), next, net.clone(), sub.clone()));
                next += 1;
            }
            let Some(r) = set.join_next().await else {
                break;
            };
            out.push(r.map_err(|e| fail!("{e}"))??);
        }
        Ok(out)
    })
}

/// How many of the bench's router ports and floating IPs are ACTIVE (and how
/// many there are).
fn count_active(lab: &Lab, routers: &[BenchRouter]) -> Result<(usize, usize)> {
    let ids: BTreeSet<String> = routers.iter().map(|r| r.id.clone()).collect();
    let fips: BTreeSet<String> = routers.iter().map(|r| r.fip_id.clone()).collect();
    lab.api.with(lab.api.admin(), move |c| async move {
        let ports = c
            .get(
                "/v2.0/ports",
                &[("fields", "device_id"), ("fields", "status")],
            )
            .await
            .map_err(api)?;
        let fl = c
            .get(
                "/v2.0/floatingips",
                &[("fields", "id"), ("fields", "status")],
            )
            .await
            .map_err(api)?;
        let active = |v: &Value, key: &str, set: &BTreeSet<String>| {
            v.as_array().map_or(0, |a| {
                a.iter()
                    .filter(|p| p["status"] == "ACTIVE")
                    .filter(|p| p[key].as_str().is_some_and(|k| set.contains(k)))
                    .count()
            })
        };
        Ok((
            active(&ports["ports"], "device_id", &ids) + active(&fl["floatingips"], "id", &fips),
            ids.len() * 2 + fips.len(),
        ))
    })
}

fn wait_active(lab: &Lab, routers: &[BenchRouter], within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    loop {
        let (n, want) = count_active(lab, routers)?;
        if n >= want {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(fail!(
                "only {n} of {want} router ports and floating IPs are ACTIVE"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `addr` answers from `ns`: a ping answer (`arp_only` false) or, for an
/// address no host is behind, an ARP answer (a MAC in the neighbour table after
/// the ping).
fn answers(ns: &str, addr: &str, arp_only: bool) -> bool {
    let p = net::run_in(
        ns,
        "ping",
        &["-c", "1", "-W", "0.5", addr],
        Duration::from_secs(3),
    );
    if !arp_only {
        return p.ok();
    }
    net::ip_in(ns, &["neigh", "show", addr])
        .map(|o| o.contains("lladdr"))
        .unwrap_or(false)
}

/// Waits until every gateway address answers a ping and every floating address
/// its ARP, from the outside world (all pending ones probed at once, per round).
fn wait_answers(ns: &str, routers: &[BenchRouter], within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    let mut pending: Vec<(String, bool)> = routers
        .iter()
        .flat_map(|r| [(r.gateway_ip.clone(), false), (r.fip.clone(), true)])
        .collect();
    while !pending.is_empty() {
        let answered: Vec<bool> = std::thread::scope(|s| {
            let hs: Vec<_> = pending
                .iter()
                .map(|(a, arp)| s.spawn(move || answers(ns, a, *arp)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(false)).collect()
        });
        let mut it = answered.into_iter();
        pending.retain(|_| !it.next().unwrap_or(false));
        if !pending.is_empty() && Instant::now() >= until {
            let first: Vec<&str> = pending.iter().take(5).map(|(a, _)| a.as_str()).collect();
            return Err(fail!(
                "{} addresses do not answer from outside, e.g. {first:?}",
                pending.len()
            ));
        }
    }
    Ok(())
}

/// Each router namespace's links, addresses, routes and NAT table.
pub fn snapshot(routers: &[BenchRouter]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in routers {
        let ns = format!("qrouter-{}", r.id);
        let mut text = String::new();
        if !net::netns_exists(&ns) {
            text.push_str("(no namespace)\n");
        } else {
            for args in [
                &["-o", "link", "show"][..],
                &["-o", "addr", "show"],
                &["route", "show"],
            ] {
                text.push_str(&net::ip_in(&ns, args).unwrap_or_else(|e| e.to_string()));
            }
            let nft = net::run_in(
                &ns,
                "nft",
                &["list", "table", "ip", "neutrino"],
                crate::cmd::CMD_TIMEOUT,
            );
            text.push_str(&nft.stdout);
        }
        out.insert(ns, text);
    }
    out
}

/// The namespaces whose snapshot differs, with the first differing line.
pub fn differences(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (ns, b) in before {
        let a = after.get(ns).map(String::as_str).unwrap_or("(missing)");
        if a != b {
            let line = b
                .lines()
                .zip(a.lines().chain(std::iter::repeat("")))
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("{x:?} -> {y:?}"))
                .unwrap_or_else(|| "lines added".into());
            out.push(format!("{ns}: {line}"));
        }
    }
    out
}

/// `bench-l3 routers --count N`.
pub fn bench_routers(lab: &mut Lab, count: usize) -> Result<RoutersResult> {
    if count == 0 || count > MAX_ROUTERS {
        return Err(fail!("--count must be 1..={MAX_ROUTERS}"));
    }
    let ext = lab
        .state
        .external
        .clone()
        .ok_or_else(|| fail!("the lab has no external network"))?;
    progress(format!(
        "adding Ext-Bench {BENCH_EXT_CIDR} to Ext-Net, {BENCH_EXT_GATEWAY} in {}",
        ext.ns
    ));
    let subnet = bench_subnet(lab, &ext.network_id, &ext.ns)?;
    progress(format!(
        "creating {count} routers (network, subnet, interface, gateway, port, floating IP each)"
    ));
    let started = Instant::now();
    let routers = create_routers(lab, count, &ext.network_id, &subnet)?;
    let api_secs = started.elapsed().as_secs_f64();
    progress(format!("API done in {api_secs:.2} s; waiting for ACTIVE"));
    wait_active(lab, &routers, Duration::from_secs(300))?;
    let active_secs = started.elapsed().as_secs_f64();
    progress(format!(
        "all ACTIVE after {active_secs:.2} s; waiting for the addresses to answer from outside"
    ));
    wait_answers(&ext.ns, &routers, Duration::from_secs(300))?;
    let answer_secs = started.elapsed().as_secs_f64();

    let before = snapshot(&routers);
    progress("restarting the network node's agent");
    let log = lab.state.dir.join("logs").join("network-agent.log");
    let t = Instant::now();
    lab.restart_agent("network")?;
    let (apply_ms, _) = wait_in_sync(&log, Duration::from_secs(300))?;
    let resync_secs = t.elapsed().as_secs_f64();
    let after = snapshot(&routers);
    for (name, snap) in [("before", &before), ("after", &after)] {
        let path = lab.state.dir.join(format!("bench-routers-{name}.txt"));
        let text: String = snap.iter().map(|(ns, t)| format!("# {ns}\n{t}")).collect();
        std::fs::write(&path, text).map_err(|e| fail!("cannot write {}: {e}", path.display()))?;
    }
    Ok(RoutersResult {
        count: routers.len(),
        api_secs,
        active_secs,
        answer_secs,
        resync_secs,
        resync_apply_ms: apply_ms,
        changed: differences(&before, &after),
    })
}

impl RoutersResult {
    pub fn print(&self) {
        println!(
            "{} routers (each: network, subnet, interface, gateway on Ext-Bench, a port, its floating IP)",
            self.count
        );
        println!(
            "  API alone (16 in flight):                    {:8.2} s",
            self.api_secs
        );
        println!(
            "  until all router ports and FIPs ACTIVE:      {:8.2} s",
            self.active_secs
        );
        println!(
            "  until gateways answer ping, FIPs ARP (outside): {:5.2} s",
            self.answer_secs
        );
        println!(
            "network node agent restart with {} routers: in sync after {:.2} s (apply {} ms), {}",
            self.count,
            self.resync_secs,
            self.resync_apply_ms,
            if self.changed.is_empty() {
                "namespaces, links, addresses, routes and NAT tables unchanged".to_string()
            } else {
                format!("{} routers CHANGED", self.changed.len())
            }
        );
        for c in self.changed.iter().take(10) {
            println!("    {c}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_subnets_do_not_overlap() {
        assert_eq!(router_cidr(0), "10.3.0.0/24");
        assert_eq!(router_cidr(MAX_ROUTERS - 1), "10.3.249.0/24");
        let all: BTreeSet<String> = (0..MAX_ROUTERS).map(router_cidr).collect();
        assert_eq!(all.len(), MAX_ROUTERS);
    }

    #[test]
    fn the_bench_pool_holds_two_addresses_per_router() {
        let ip = |s: &str| u32::from(s.parse::<std::net::Ipv4Addr>().unwrap());
        let size = ip(BENCH_EXT_POOL.1) - ip(BENCH_EXT_POOL.0) + 1;
        assert!(size as usize >= 2 * MAX_ROUTERS, "{size}");
        assert_eq!(BENCH_EXT_CIDR, "10.1.112.0/20");
        let (lo, hi) = (ip("10.1.112.0"), ip("10.1.127.255"));
        for a in [BENCH_EXT_POOL.0, BENCH_EXT_POOL.1, BENCH_EXT_GATEWAY] {
            assert!((lo..=hi).contains(&ip(a)), "{a}");
        }
        assert!(!(lo..=hi).contains(&ip(crate::l3::EXT_GATEWAY)));
    }

    #[test]
    fn snapshot_differences() {
        let mut a = BTreeMap::new();
        a.insert("qrouter-1".to_string(), "l1\nl2\n".to_string());
        a.insert("qrouter-2".to_string(), "x\n".to_string());
        let mut b = a.clone();
        assert!(differences(&a, &b).is_empty());
        b.insert("qrouter-1".to_string(), "l1\nl3\n".to_string());
        b.remove("qrouter-2");
        let d = differences(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("qrouter-1: \"l2\" -> \"l3\""), "{d:?}");
        assert!(d[1].starts_with("qrouter-2:"), "{d:?}");
    }
}
