//! `neutrino trace --from-port PORT --to IP`: one packet's whole walk across
//! hosts, as the seeds narrate it. The API says where the port is bound, its
//! addresses and the first hop's MAC; then each switch on the way traces the
//! packet through its bridges (the firewall's verdicts included), and a tunnel
//! output leads to the host behind its remote address, a router's `qr-` device
//! to the router's namespace (its route and NAT for the packet) and on out of
//! `qg-`. switchds are reached through their control sockets (`--lab PREFIX` for
//! the lab's, `--run-dir HOST=DIR` otherwise); a router's namespace is read
//! where this runs (the network node, or the lab's machine).

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use switch_proto::{Request, Response};

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    auth: crate::api::AuthArgs,
    /// The port the packet leaves from (name or ID).
    #[arg(long, value_name = "PORT")]
    from_port: String,
    /// The destination address.
    #[arg(long, value_name = "IP")]
    to: Ipv4Addr,
    /// icmp (an echo request), tcp or udp.
    #[arg(long, default_value = "icmp", value_parser = ["icmp", "tcp", "udp"])]
    proto: String,
    /// Destination port (tcp, udp).
    #[arg(long, default_value_t = 80)]
    dport: u16,
    /// The lab whose switchds to ask (their run directories under
    /// /run/neutrino-lab/PREFIX).
    #[arg(long, value_name = "PREFIX")]
    lab: Option<String>,
    /// A host's switchd run directory, HOST=DIR (repeatable).
    #[arg(long = "run-dir", value_name = "HOST=DIR")]
    run_dirs: Vec<String>,
}

/// The packet as it stands at a hop.
#[derive(Clone, Debug)]
struct Packet {
    dl_src: String,
    dl_dst: String,
    nw_src: Ipv4Addr,
    nw_dst: Ipv4Addr,
    proto: String,
    dport: u16,
}

impl Packet {
    fn flow(&self, in_port: &str, extra: &str) -> String {
        let l4 = match self.proto.as_str() {
            "tcp" => format!("tcp,tp_src=40000,tp_dst={}", self.dport),
            "udp" => format!("udp,tp_src=40000,tp_dst={}", self.dport),
            _ => "icmp,icmp_type=8,icmp_code=0".into(),
        };
        format!(
            "in_port={in_port}{extra},{l4},dl_src={},dl_dst={},nw_src={},nw_dst={},nw_ttl=64",
            self.dl_src, self.dl_dst, self.nw_src, self.nw_dst
        )
    }
}

/// One output of a trace's "Final outputs": the bridge, the port and what it is.
#[derive(Debug, PartialEq)]
pub struct Out {
    pub bridge: String,
    pub port: String,
    pub what: String,
}

/// The outputs a trace ends with (`  BR: output PORT (WHAT)`).
pub fn outputs(lines: &[String]) -> Vec<Out> {
    let Some(at) = lines.iter().position(|l| l == "Final outputs:") else {
        return Vec::new();
    };
    lines[at + 1..]
        .iter()
        .filter_map(|l| {
            let (bridge, rest) = l.trim().split_once(": output ")?;
            let (port, what) = rest.split_once(" (")?;
            let what = what.rsplit_once(')').map_or(what, |(w, _)| w);
            Some(Out {
                bridge: bridge.to_owned(),
                port: port.to_owned(),
                what: what.to_owned(),
            })
        })
        .collect()
}

/// The remote address and tunnel id of a tunnel output's description
/// (`VXLAN vni 0x2, udp L -> R:4789`, `GRE key 0x2, ip proto 47 L -> R`).
pub fn tunnel_of(what: &str) -> Option<(String, Ipv4Addr, Ipv4Addr, u64)> {
    let kind = if what.starts_with("VXLAN") {
        "vxlan"
    } else if what.starts_with("GRE") {
        "gre"
    } else {
        return None;
    };
    let id = what
        .split_whitespace()
        .nth(2)?
        .trim_end_matches(',')
        .trim_start_matches("0x");
    let id = u64::from_str_radix(id, 16).ok()?;
    let (l, r) = what.rsplit_once(" -> ")?;
    let local = l.rsplit(' ').next()?.parse().ok()?;
    let remote = r.split(':').next()?.parse().ok()?;
    Some((kind.to_owned(), local, remote, id))
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub fn run(a: TraceArgs) -> Result<()> {
    let mut dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in &a.run_dirs {
        let Some((h, p)) = d.split_once('=') else {
            bail!("bad --run-dir '{d}': expected HOST=DIR");
        };
        dirs.insert(h.to_owned(), PathBuf::from(p));
    }
    let lab = a.lab.clone();
    let common = crate::api::Common {
        auth: a.auth.clone(),
        out: crate::api::output::OutputArgs::default(),
    };
    crate::api::run(common, move |ctx| async move {
        let c = &ctx.client;
        let port = ctx.find(&crate::api::port::PORT, &a.from_port).await?;
        let net_id = s(&port, "network_id");
        let host = s(&port, "binding:host_id");
        if host.is_empty() {
            bail!("port {} is not bound to a host", a.from_port);
        }
        let src: Ipv4Addr = port["fixed_ips"]
            .as_array()
            .and_then(|f| f.iter().find_map(|f| s(f, "ip_address").parse().ok()))
            .context("the port has no IPv4 address")?;
        let subnets = c.get("/v2.0/subnets", &[("network_id", &net_id)]).await?;
        let subnet = subnets["subnets"]
            .as_array()
            .and_then(|l| {
                l.iter().find(|sn| {
                    s(sn, "cidr")
                        .parse::<ipnet::Ipv4Net>()
                        .is_ok_and(|n| n.contains(&src))
                })
            })
            .cloned()
            .context("no IPv4 subnet holds the port's address")?;
        let cidr: ipnet::Ipv4Net = s(&subnet, "cidr").parse()?;
        let next_hop = if cidr.contains(&a.to) {
            a.to.to_string()
        } else {
            s(&subnet, "gateway_ip")
        };
        let ports = c.get("/v2.0/ports", &[("network_id", &net_id)]).await?;
        let dst_mac = ports["ports"]
            .as_array()
            .and_then(|l| {
                l.iter().find(|p| {
                    p["fixed_ips"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| s(f, "ip_address") == next_hop))
                })
            })
            .map(|p| s(p, "mac_address"))
            .with_context(|| format!("no port holds {next_hop} on the port's network"))?;
        let agents = c.get("/v2.0/agents", &[]).await?;
        let tunnel_hosts: BTreeMap<String, String> = agents["agents"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|ag| {
                        let ip = ag["configurations"]["tunneling_ip"].as_str()?;
                        Some((ip.to_owned(), s(ag, "host")))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let pkt = Packet {
            dl_src: s(&port, "mac_address"),
            dl_dst: dst_mac,
            nw_src: src,
            nw_dst: a.to,
            proto: a.proto.clone(),
            dport: a.dport,
        };
        println!(
            "{} ({}, {}) -> {} {}{}",
            a.from_port,
            src,
            host,
            a.to,
            a.proto,
            if a.proto == "icmp" {
                String::new()
            } else {
                format!(" dport {}", a.dport)
            }
        );
        let first_dev = agent::names::tap(&s(&port, "id"));
        walk(
            &Walker {
                dirs,
                lab,
                tunnel_hosts,
            },
            host,
            "br-int".into(),
            first_dev,
            String::new(),
            pkt,
        )
    })
}

struct Walker {
    dirs: BTreeMap<String, PathBuf>,
    lab: Option<String>,
    tunnel_hosts: BTreeMap<String, String>,
}

impl Walker {
    fn run_dir(&self, host: &str) -> Result<PathBuf> {
        if let Some(d) = self.dirs.get(host) {
            return Ok(d.clone());
        }
        if let Some(p) = &self.lab {
            return Ok(PathBuf::from(format!("/run/neutrino-lab/{p}/{host}")));
        }
        bail!("how to reach {host}'s switchd: give --run-dir {host}=DIR (or --lab PREFIX)")
    }

    /// The bridge of `host`'s switch that holds port `port`.
    fn bridge_of(&self, host: &str, port: &str) -> Result<String> {
        let dir = self.run_dir(host)?;
        match switch_proto::client::Client::new(&dir)
            .call(&Request::Show)
            .with_context(|| format!("{host}'s switchd ({})", dir.display()))?
        {
            Response::Show { bridges, .. } => bridges
                .iter()
                .find(|b| b.ports.iter().any(|p| p.config.name == port))
                .map(|b| b.name.clone())
                .with_context(|| format!("no bridge of {host} holds {port}")),
            other => bail!("{host}: unexpected answer {other:?}"),
        }
    }

    fn trace(&self, host: &str, bridge: &str, flow: &str) -> Result<Vec<String>> {
        let dir = self.run_dir(host)?;
        let req = Request::Trace {
            bridge: bridge.to_owned(),
            flow: flow.to_owned(),
        };
        match switch_proto::client::Client::new(&dir)
            .call(&req)
            .with_context(|| format!("{host}'s switchd ({})", dir.display()))?
        {
            Response::Lines { lines } => Ok(lines),
            Response::Error { message } => bail!("{host}: {message}"),
            other => bail!("{host}: unexpected answer {other:?}"),
        }
    }
}

fn walk(
    w: &Walker,
    mut host: String,
    mut bridge: String,
    mut in_port: String,
    mut extra: String,
    mut pkt: Packet,
) -> Result<()> {
    for _ in 0..8 {
        let flow = pkt.flow(&in_port, &extra);
        println!("\n== {host}: {bridge}, in_port {in_port}");
        let lines = w.trace(&host, &bridge, &flow)?;
        for l in lines.iter().skip(1) {
            if !l.is_empty() {
                println!("   {l}");
            }
        }
        let outs = outputs(&lines);
        let Some(o) = outs.first() else {
            match where_dropped(&lines) {
                Some((br, tables)) => {
                    println!("\n=> dropped on {host} in {br}: {}", tables.join(" -> "))
                }
                None => println!("\n=> dropped on {host}"),
            }
            return Ok(());
        };
        if outs.len() > 1 {
            println!(
                "\n=> flooded on {host} to {} ports; following none",
                outs.len()
            );
            return Ok(());
        }
        if let Some((kind, local, remote, id)) = tunnel_of(&o.what) {
            let Some(next) = w.tunnel_hosts.get(&remote.to_string()) else {
                bail!("no agent has the tunnel address {remote}");
            };
            println!("\n-> {kind} tunnel {local} -> {remote} ({next}), id {id:#x}");
            host = next.clone();
            bridge = "br-tun".into();
            in_port = agent::names::tunnel(&kind, local);
            extra = format!(",tun_id={id:#x}");
            continue;
        }
        extra.clear();
        if o.port.starts_with("qr-") {
            match router_hop(&o.port, &mut pkt)? {
                Some(qg) => {
                    bridge = w.bridge_of(&host, &qg)?;
                    in_port = qg;
                    continue;
                }
                None => return Ok(()),
            }
        }
        if o.what == "system" {
            println!("\n=> out of {} on {host}: the physical network", o.port);
        } else {
            println!("\n=> delivered to {} on {host} ({})", o.port, o.what);
        }
        return Ok(());
    }
    println!("\n=> stopped after 8 hops");
    Ok(())
}

/// Where a dropped packet ended: the bridge of the last table it went through
/// (after `bridge("X")` headings) and the last two tables (`table 82: MATCH,
/// priority N`), the one that sent it on and the one that dropped it.
fn where_dropped(lines: &[String]) -> Option<(String, Vec<String>)> {
    let mut bridge = None;
    let mut tables: Vec<String> = Vec::new();
    for l in lines.iter().map(|l| l.trim()) {
        if let Some(b) = l
            .strip_prefix("bridge(\"")
            .and_then(|b| b.strip_suffix("\")"))
        {
            bridge = Some(b.to_owned());
        } else if l.starts_with("table ") {
            tables.push(l.to_owned());
        }
    }
    let from = tables.len().saturating_sub(2);
    Some((bridge?, tables.split_off(from)))
}

/// `ip netns exec NS ...`'s output, or None.
fn in_ns(ns: &str, args: &[&str]) -> Option<String> {
    let o = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The router's namespace behind device `qr`: its route and NAT for the packet,
/// and where it leaves (the `qg-` device), with the packet as it leaves. None
/// when the router's namespace is not on this machine or the packet does not
/// leave through the gateway.
fn router_hop(qr: &str, pkt: &mut Packet) -> Result<Option<String>> {
    let Some(ns) = namespace_with(qr) else {
        println!(
            "\n=> into {qr}: its router's namespace is not on this machine (run this on the network node to follow it)"
        );
        return Ok(None);
    };
    println!("\n-> {ns}");
    let dst = pkt.nw_dst.to_string();
    let src = pkt.nw_src.to_string();
    let route = in_ns(
        &ns,
        &["ip", "-4", "route", "get", &dst, "from", &src, "iif", qr],
    )
    .unwrap_or_default();
    let route = route.lines().next().unwrap_or_default().trim().to_owned();
    println!("   route: {route}");
    let dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let via = route
        .split_whitespace()
        .skip_while(|w| *w != "via")
        .nth(1)
        .unwrap_or(&dst)
        .to_owned();
    let table = in_ns(&ns, &["nft", "list", "table", "ip", "neutrino"]).unwrap_or_default();
    // The first SNAT rule that takes the source, in the table's order (a
    // floating IP's comes before the subnet's).
    let nat = table
        .lines()
        .map(str::trim)
        .find(|l| l.contains("snat to ") && nat_applies(l, pkt.nw_src));
    match nat {
        Some(rule) => {
            let to = rule
                .split("snat to ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .unwrap_or_default();
            println!("   nat: {rule}");
            if let Ok(a) = to.parse() {
                println!("   (SNAT {src} -> {a})");
                pkt.nw_src = a;
            }
        }
        None => println!("   nat: no SNAT for {src}"),
    }
    if !dev.starts_with("qg-") {
        println!("\n=> routed out of {dev} (not the gateway): not followed");
        return Ok(None);
    }
    let mac = in_ns(&ns, &["cat", &format!("/sys/class/net/{dev}/address")]).unwrap_or_default();
    let neigh = in_ns(&ns, &["ip", "neigh", "show", &via, "dev", &dev]).unwrap_or_default();
    let next_mac = neigh
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "ff:ff:ff:ff:ff:ff".into());
    pkt.dl_src = mac.trim().to_owned();
    pkt.dl_dst = next_mac;
    Ok(Some(dev))
}

/// Whether an nft SNAT rule line applies to `src` (`ip saddr A` or `ip saddr
/// P/N`, or `ip saddr { ... }`).
fn nat_applies(line: &str, src: Ipv4Addr) -> bool {
    let matched = line.split(" snat to ").next().unwrap_or_default();
    matched
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .filter(|w| !w.is_empty())
        .any(|w| {
            w.parse::<Ipv4Addr>().is_ok_and(|a| a == src)
                || w.parse::<ipnet::Ipv4Net>().is_ok_and(|n| n.contains(&src))
        })
}

/// The namespace holding device `dev` (`qrouter-*`, listed by `ip netns`).
fn namespace_with(dev: &str) -> Option<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().ok()?;
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("qrouter-"))
        .find(|n| in_ns(n, &["ip", "link", "show", dev]).is_some())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_and_tunnels_are_read_from_a_trace() {
        let lines: Vec<String> = [
            "Flow: in_port=tap1",
            "",
            "Final outputs:",
            "  br-tun: output vxlan-c0a8641f (VXLAN vni 0x2, udp 192.168.100.32 -> 192.168.100.31:4789)",
            "  br-int: output tapabc (veth), vlan 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = outputs(&lines);
        assert_eq!(o.len(), 2);
        assert_eq!(
            o[1],
            Out {
                bridge: "br-int".into(),
                port: "tapabc".into(),
                what: "veth".into()
            }
        );
        let (kind, l, r, id) = tunnel_of(&o[0].what).unwrap();
        assert_eq!(
            (kind.as_str(), l.to_string(), r.to_string(), id),
            ("vxlan", "192.168.100.32".into(), "192.168.100.31".into(), 2)
        );
        let gre = tunnel_of("GRE key 0x5, ip proto 47 10.0.0.1 -> 10.0.0.2").unwrap();
        assert_eq!((gre.0.as_str(), gre.3), ("gre", 5));
        assert!(outputs(&["Final: drop (no output)".to_string()]).is_empty());
        let dropped: Vec<String> = [
            "bridge(\"br-tun\")",
            "table 0: in_port=vxlan-1, priority 1",
            "   bridge(\"br-int\")",
            "   table 82: ct_state=-est,reg5=0x2, priority 40",
            "       table 93: priority 0",
            "Final: drop (no output)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            where_dropped(&dropped),
            Some((
                "br-int".to_string(),
                vec![
                    "table 82: ct_state=-est,reg5=0x2, priority 40".to_string(),
                    "table 93: priority 0".to_string()
                ]
            ))
        );
        assert!(nat_applies(
            "ip saddr 10.0.0.0/24 oifname \"qg-x\" snat to 10.1.101.240",
            "10.0.0.4".parse().unwrap()
        ));
        assert!(!nat_applies(
            "ip saddr 10.0.0.3 snat to 10.1.101.241",
            "10.0.0.4".parse().unwrap()
        ));
    }
}
