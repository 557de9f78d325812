//! `neutrino topology [--format json|dot|svg]`: a picture of the network, live
//! from the API: hosts (from the agents: tunnel address, liveness, bridges),
//! the tunnels between hosts that share a tunnelled network (as l2population
//! builds them), networks with their ports and where each is bound, routers with
//! their interfaces, gateway and the host they run on, and floating IPs. `json`
//! is the model; `dot` is Graphviz's language; `svg` is that drawn by Graphviz's
//! `dot`. What the caller may not see (agents and bindings are the admin's) is
//! left out, not guessed.

use super::Common;
use super::auth::AuthArgs;
use super::output::OutputArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopoFormat {
    Json,
    Dot,
    Svg,
}

#[derive(Args, Debug)]
pub struct TopologyArgs {
    #[command(flatten)]
    auth: AuthArgs,
    /// What to print: the model (json), Graphviz's language (dot), or the
    /// picture (svg, drawn by Graphviz's `dot`).
    #[arg(long, value_enum, default_value_t = TopoFormat::Json)]
    format: TopoFormat,
}

/// What the API says, as lists of its JSON objects.
#[derive(Default)]
pub struct Inputs {
    pub agents: Vec<Value>,
    pub networks: Vec<Value>,
    pub subnets: Vec<Value>,
    pub ports: Vec<Value>,
    pub routers: Vec<Value>,
    pub floating_ips: Vec<Value>,
}

pub fn run(a: TopologyArgs) -> Result<()> {
    let common = Common {
        auth: a.auth,
        out: OutputArgs::default(),
    };
    let format = a.format;
    super::ctx::run(common, move |ctx| async move {
        let list = |path: &'static str, key: &'static str| {
            let c = &ctx.client;
            async move {
                match c.get(path, &[]).await {
                    Ok(v) => Ok(v[key].as_array().cloned().unwrap_or_default()),
                    // Agents are the admin's: without them, no hosts.
                    Err(e) if e.status() == Some(403) => Ok(Vec::new()),
                    Err(e) => Err(anyhow::Error::from(e)),
                }
            }
        };
        let inputs = Inputs {
            agents: list("/v2.0/agents", "agents").await?,
            networks: list("/v2.0/networks", "networks").await?,
            subnets: list("/v2.0/subnets", "subnets").await?,
            ports: list("/v2.0/ports", "ports").await?,
            routers: list("/v2.0/routers", "routers").await?,
            floating_ips: list("/v2.0/floatingips", "floatingips").await?,
        };
        let model = build(&inputs);
        let text = match format {
            TopoFormat::Json => serde_json::to_string_pretty(&model)? + "\n",
            TopoFormat::Dot => dot(&model),
            TopoFormat::Svg => svg(&dot(&model))?,
        };
        super::ctx::print(&text)
    })
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn ips(port: &Value) -> Vec<String> {
    port["fixed_ips"]
        .as_array()
        .map(|a| a.iter().map(|f| s(f, "ip_address")).collect())
        .unwrap_or_default()
}

/// The model `json` prints and `dot` draws.
pub fn build(i: &Inputs) -> Value {
    // Hosts from the agents (one entry per host, all its agents).
    let mut hosts: BTreeMap<String, Value> = BTreeMap::new();
    for a in &i.agents {
        let name = s(a, "host");
        let conf = &a["configurations"];
        let h = hosts.entry(name.clone()).or_insert_with(|| {
            json!({"name": name, "alive": true, "tunnel_ip": null, "agents": [],
                   "bridges": ["br-int"], "ports": [], "routers": []})
        });
        h["alive"] =
            json!(h["alive"].as_bool().unwrap_or(true) && a["alive"].as_bool().unwrap_or(false));
        if let Some(arr) = h["agents"].as_array_mut() {
            arr.push(json!(s(a, "agent_type")));
        }
        let mut bridges: BTreeSet<String> = h["bridges"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ip) = conf["tunneling_ip"].as_str() {
            h["tunnel_ip"] = json!(ip);
            bridges.insert("br-tun".into());
        }
        if let Some(m) = conf["bridge_mappings"].as_object() {
            bridges.extend(m.values().filter_map(|b| b.as_str().map(str::to_owned)));
        }
        if s(a, "agent_type") == "L3 agent" {
            bridges.insert("br-ex".into());
        }
        h["bridges"] = json!(bridges);
    }
    let net_type: BTreeMap<String, String> = i
        .networks
        .iter()
        .map(|n| (s(n, "id"), s(n, "provider:network_type")))
        .collect();
    // Ports by network; hosts' ports; which hosts each tunnelled network spans.
    let mut by_net: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut spans: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &i.ports {
        let host = s(p, "binding:host_id");
        let net = s(p, "network_id");
        let port = json!({"id": s(p, "id"), "name": s(p, "name"), "device_owner": s(p, "device_owner"),
            "device_id": s(p, "device_id"), "host": if host.is_empty() { Value::Null } else { json!(host) },
            "mac": s(p, "mac_address"), "ips": ips(p), "status": s(p, "status")});
        by_net.entry(net.clone()).or_default().push(port);
        if !host.is_empty() {
            if let Some(h) = hosts.get_mut(&host)
                && let Some(arr) = h["ports"].as_array_mut()
            {
                arr.push(json!(s(p, "id")));
            }
            if matches!(
                net_type.get(&net).map(String::as_str),
                Some("vxlan" | "gre")
            ) {
                spans.entry(net).or_default().insert(host);
            }
        }
    }
    let mut tunnels: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (net, hs) in &spans {
        let hs: Vec<&String> = hs
            .iter()
            .filter(|h| hosts.get(*h).is_some_and(|x| !x["tunnel_ip"].is_null()))
            .collect();
        for (k, a) in hs.iter().enumerate() {
            for b in &hs[k + 1..] {
                tunnels
                    .entry(((*a).clone(), (*b).clone()))
                    .or_default()
                    .insert(net.clone());
            }
        }
    }
    let cidrs: BTreeMap<String, Vec<String>> =
        i.subnets.iter().fold(BTreeMap::new(), |mut m, sn| {
            m.entry(s(sn, "network_id"))
                .or_default()
                .push(s(sn, "cidr"));
            m
        });
    let networks: Vec<Value> = i
        .networks
        .iter()
        .map(|n| {
            let id = s(n, "id");
            json!({"id": id, "name": s(n, "name"), "type": s(n, "provider:network_type"),
                "segmentation_id": n["provider:segmentation_id"], "external": n["router:external"],
                "shared": n["shared"], "status": s(n, "status"),
                "subnets": cidrs.get(&id).cloned().unwrap_or_default(),
                "ports": by_net.get(&id).cloned().unwrap_or_default()})
        })
        .collect();
    let routers: Vec<Value> = i
        .routers
        .iter()
        .map(|r| {
            let id = s(r, "id");
            let mine = i.ports.iter().filter(|p| s(p, "device_id") == id);
            let mut host = Value::Null;
            let mut interfaces = Vec::new();
            let mut gateway = Value::Null;
            for p in mine {
                let h = s(p, "binding:host_id");
                if !h.is_empty() {
                    host = json!(h);
                }
                let entry =
                    json!({"port": s(p, "id"), "network": s(p, "network_id"), "ips": ips(p)});
                match s(p, "device_owner").as_str() {
                    "network:router_gateway" => gateway = entry,
                    "network:router_interface" => interfaces.push(entry),
                    _ => {}
                }
            }
            if let Some(h) = host.as_str()
                && let Some(x) = hosts.get_mut(h)
                && let Some(arr) = x["routers"].as_array_mut()
            {
                arr.push(json!(id));
            }
            json!({"id": id, "name": s(r, "name"), "status": s(r, "status"), "host": host,
                "interfaces": interfaces, "gateway": gateway})
        })
        .collect();
    let floating_ips: Vec<Value> = i
        .floating_ips
        .iter()
        .map(|f| {
            json!({"id": s(f, "id"), "address": s(f, "floating_ip_address"),
                "fixed_ip": f["fixed_ip_address"], "port": f["port_id"], "router": f["router_id"],
                "network": s(f, "floating_network_id"), "status": s(f, "status")})
        })
        .collect();
    json!({
        "hosts": hosts.into_values().collect::<Vec<_>>(),
        "tunnels": tunnels.into_iter().map(|((a, b), nets)| json!({"hosts": [a, b], "networks": nets})).collect::<Vec<_>>(),
        "networks": networks,
        "routers": routers,
        "floating_ips": floating_ips,
    })
}

/// A DOT string literal.
fn q(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The model in Graphviz's language: a cluster per host with its bridges,
/// ports and routers; networks between them; tunnels between the hosts' br-tun.
pub fn dot(m: &Value) -> String {
    let mut o = String::from(
        "digraph neutrino {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    let empty = Vec::new();
    let list = |k: &str| m[k].as_array().unwrap_or(&empty).clone();
    let ports_at: BTreeMap<String, String> = list("networks")
        .iter()
        .flat_map(|n| n["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| Some((s(&p, "id"), p["host"].as_str()?.to_owned())))
        .collect();
    for h in list("hosts") {
        let name = s(&h, "name");
        let alive = if h["alive"].as_bool().unwrap_or(false) {
            ":-)"
        } else {
            "XXX"
        };
        let tip = h["tunnel_ip"].as_str().unwrap_or("no tunnels");
        let _ = writeln!(
            o,
            "  subgraph {} {{\n    label={};\n    style=rounded;",
            q(&format!("cluster_{name}")),
            q(&format!("{name}  {tip}  {alive}"))
        );
        for b in strs(&h["bridges"]) {
            let _ = writeln!(
                o,
                "    {} [label={}, shape=box3d];",
                q(&format!("{name}/{b}")),
                q(&b)
            );
        }
        if strs(&h["bridges"]).iter().any(|b| b == "br-tun") {
            let _ = writeln!(
                o,
                "    {} -> {} [dir=none, style=dotted];",
                q(&format!("{name}/br-int")),
                q(&format!("{name}/br-tun"))
            );
        }
        o.push_str("  }\n");
    }
    for n in list("networks") {
        let id = s(&n, "id");
        let seg = match &n["segmentation_id"] {
            Value::Null => String::new(),
            v => format!(" {v}"),
        };
        let label = format!(
            "{}\n{}{}{}\n{}",
            s(&n, "name"),
            s(&n, "type"),
            seg,
            if n["external"].as_bool() == Some(true) {
                " external"
            } else {
                ""
            },
            strs(&n["subnets"]).join(", ")
        );
        let _ = writeln!(
            o,
            "  {} [label={}, shape=hexagon, style=filled, fillcolor=\"#e8f0fe\"];",
            q(&format!("net/{id}")),
            q(&label)
        );
        for p in n["ports"].as_array().unwrap_or(&empty) {
            let owner = s(p, "device_owner");
            if owner.starts_with("network:router") {
                continue; // drawn as the router's edges
            }
            let pid = s(p, "id");
            let label = format!(
                "{}\n{}\n{}",
                if s(p, "name").is_empty() {
                    short(&pid).to_owned()
                } else {
                    s(p, "name")
                },
                strs(&p["ips"]).join(", "),
                s(p, "status")
            );
            let _ = writeln!(
                o,
                "  {} [label={}, shape=ellipse];",
                q(&format!("port/{pid}")),
                q(&label)
            );
            let _ = writeln!(
                o,
                "  {} -> {} [dir=none];",
                q(&format!("port/{pid}")),
                q(&format!("net/{id}"))
            );
            if let Some(h) = ports_at.get(&pid) {
                let _ = writeln!(
                    o,
                    "  {} -> {} [dir=none, style=dashed];",
                    q(&format!("{h}/br-int")),
                    q(&format!("port/{pid}"))
                );
            }
        }
    }
    for r in list("routers") {
        let id = s(&r, "id");
        let rn = q(&format!("router/{id}"));
        let _ = writeln!(
            o,
            "  {rn} [label={}, shape=doubleoctagon];",
            q(&format!("{}\n{}", s(&r, "name"), s(&r, "status")))
        );
        if let Some(h) = r["host"].as_str() {
            let _ = writeln!(
                o,
                "  {} -> {rn} [dir=none, style=dashed, label=\"qrouter\"];",
                q(&format!("{h}/br-int"))
            );
        }
        for i in r["interfaces"].as_array().unwrap_or(&empty) {
            let _ = writeln!(
                o,
                "  {rn} -> {} [dir=none, label={}];",
                q(&format!("net/{}", s(i, "network"))),
                q(&format!("qr {}", strs(&i["ips"]).join(", ")))
            );
        }
        if !r["gateway"].is_null() {
            let g = &r["gateway"];
            let _ = writeln!(
                o,
                "  {rn} -> {} [label={}];",
                q(&format!("net/{}", s(g, "network"))),
                q(&format!("qg {}", strs(&g["ips"]).join(", ")))
            );
        }
    }
    for f in list("floating_ips") {
        let addr = s(&f, "address");
        let fname = q(&format!("fip/{addr}"));
        let _ = writeln!(
            o,
            "  {fname} [label={}, shape=note];",
            q(&format!("{addr}\n{}", s(&f, "status")))
        );
        if let Some(p) = f["port"].as_str() {
            let _ = writeln!(
                o,
                "  {fname} -> {} [style=dashed, label={}];",
                q(&format!("port/{p}")),
                q(f["fixed_ip"].as_str().unwrap_or_default())
            );
        }
    }
    for t in list("tunnels") {
        let hs = strs(&t["hosts"]);
        if let [a, b] = hs.as_slice() {
            let _ = writeln!(
                o,
                "  {} -> {} [dir=both, color=\"#1a73e8\", label={}];",
                q(&format!("{a}/br-tun")),
                q(&format!("{b}/br-tun")),
                q(&format!("{} network(s)", strs(&t["networks"]).len()))
            );
        }
    }
    o.push_str("}\n");
    o
}

/// `dot` drawn by Graphviz.
fn svg(dot_text: &str) -> Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("--format svg needs Graphviz's `dot` (Debian package graphviz)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot_text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "Graphviz could not draw the topology: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
