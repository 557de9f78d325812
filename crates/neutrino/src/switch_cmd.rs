//! `neutrino switch ...`: the switchd client (ovs-vsctl / ovs-ofctl style).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use switch_proto::{
    BridgeView, Client, DhcpBinding, PortSpec, PortType, Request, Response, StaticRoute, TunnelKey,
};

#[derive(Args)]
pub struct SwitchArgs {
    /// switchd's run directory (where switchd.sock is).
    #[arg(long, env = "NEUTRINO_RUN_DIR", default_value = crate::DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    #[command(subcommand)]
    cmd: SwitchCmd,
}

#[derive(Subcommand)]
enum SwitchCmd {
    /// Add a bridge (starts with one flow: priority=0,actions=NORMAL).
    AddBr { bridge: String },
    /// Delete a bridge and its ports.
    DelBr { bridge: String },
    /// Add a port to a bridge.
    AddPort {
        bridge: String,
        port: String,
        /// tap | internal | system | patch | vxlan | gre
        #[arg(long = "type", default_value = "system")]
        kind: String,
        /// Move the tap/internal netdev into this network namespace.
        #[arg(long)]
        netns: Option<String>,
        /// Access port on this local VLAN (used by NORMAL); no tag = trunk.
        #[arg(long)]
        tag: Option<u16>,
        /// Peer port of a patch port.
        #[arg(long)]
        peer: Option<String>,
        /// Tunnel remote endpoint.
        #[arg(long)]
        remote_ip: Option<Ipv4Addr>,
        /// Tunnel local endpoint.
        #[arg(long)]
        local_ip: Option<Ipv4Addr>,
        /// Tunnel key (VNI / GRE key) or 'flow' to take it from set_tunnel.
        #[arg(long)]
        key: Option<String>,
        /// VXLAN: send complete UDP checksums (OVS's options:csum=true) instead
        /// of zero; such a tunnel's traffic stays in user space.
        #[arg(long)]
        csum: bool,
        /// MAC address of the tap/internal netdev.
        #[arg(long)]
        mac: Option<String>,
        /// MTU of the tap/internal netdev.
        #[arg(long)]
        mtu: Option<u32>,
        /// Request a specific OpenFlow port number.
        #[arg(long)]
        ofport: Option<u32>,
    },
    /// Delete a port.
    DelPort { bridge: String, port: String },
    /// Answer DHCP on a port (with flows using the `dhcp` action): the client MAC, its
    /// fixed address and options. Replaces any binding the port had.
    SetDhcp {
        bridge: String,
        port: String,
        /// The client's MAC: the only one answered.
        #[arg(long)]
        mac: String,
        /// The client's address and prefix length, e.g. 10.0.0.5/24.
        #[arg(long, value_name = "IP/PREFIX")]
        ip: String,
        /// Default gateway (option 3).
        #[arg(long)]
        router: Option<Ipv4Addr>,
        /// DNS server (option 6); repeat for more.
        #[arg(long)]
        dns: Vec<Ipv4Addr>,
        /// Classless static route (option 121), e.g. 169.254.169.254/32,10.0.0.2;
        /// repeat for more.
        #[arg(long, value_name = "CIDR,NEXTHOP")]
        host_route: Vec<String>,
        /// Interface MTU (option 26).
        #[arg(long)]
        mtu: Option<u16>,
        /// Lease time in seconds.
        #[arg(long, default_value_t = switch_proto::port::DEFAULT_LEASE_SECS)]
        lease: u32,
        /// The server identifier and source address of the replies (answered to ARP).
        #[arg(long)]
        server_ip: Ipv4Addr,
        /// Source MAC of the replies.
        #[arg(long, default_value = switch_proto::port::DEFAULT_SERVER_MAC)]
        server_mac: String,
        /// Domain name (option 15).
        #[arg(long)]
        domain_name: Option<String>,
        /// The next server (`siaddr`) a PXE client boots from.
        #[arg(long)]
        next_server: Option<Ipv4Addr>,
        /// A further option as CODE=HEX (e.g. 66=31302e302e302e39), repeatable.
        #[arg(long = "option", value_name = "CODE=HEX")]
        option: Vec<String>,
    },
    /// Stop answering DHCP on a port.
    ClearDhcp { bridge: String, port: String },
    /// Bridges, ports, types, options and tags.
    Show,
    /// Add one flow (ovs-ofctl syntax).
    AddFlow { bridge: String, flow: String },
    /// Add flows from a file, one per line ('-' for stdin).
    AddFlows { bridge: String, file: String },
    /// Delete flows matching MATCH (all without it).
    DelFlows {
        bridge: String,
        matching: Option<String>,
    },
    /// Replace all flows of a bridge atomically, from a file ('-' for stdin).
    ReplaceFlows { bridge: String, file: String },
    /// Print flows with counters.
    DumpFlows {
        bridge: String,
        #[arg(long)]
        table: Option<u8>,
    },
    /// Per-port counters.
    DumpPorts { bridge: String },
    /// Learned MAC addresses.
    FdbShow { bridge: String },
    /// Show the path of a packet described as a flow (needs in_port=); a
    /// `ct_state=` in it is what each ct() gives the packet.
    Trace { bridge: String, flow: String },
    /// Tracked connections, like `ovs-appctl dpctl/dump-conntrack`.
    DumpConntrack {
        #[arg(long)]
        zone: Option<u16>,
    },
    /// The kernel fast path's entries with their counters, like `ovs-dpctl
    /// dump-flows`, after a summary line.
    DumpDatapath,
    /// Forget tracked connections (of one zone): the next packet of each is new.
    FlushConntrack {
        #[arg(long)]
        zone: Option<u16>,
    },
}

/// `10.0.0.5/24` -> (address, prefix length).
fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let (a, p) = s
        .split_once('/')
        .with_context(|| format!("'{s}' is not ADDRESS/PREFIX (e.g. 10.0.0.5/24)"))?;
    let a: Ipv4Addr = a
        .parse()
        .with_context(|| format!("bad IPv4 address in '{s}'"))?;
    let p: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .with_context(|| format!("bad prefix length in '{s}'"))?;
    Ok((a, p))
}

/// `169.254.169.254/32,10.0.0.2` -> a static route.
fn parse_host_route(s: &str) -> Result<StaticRoute> {
    let (cidr, via) = s.split_once(',').with_context(|| {
        format!("host route '{s}' is not CIDR,NEXTHOP (e.g. 169.254.169.254/32,10.0.0.2)")
    })?;
    let (destination, prefix_len) = parse_cidr(cidr.trim())?;
    let nexthop: Ipv4Addr = via
        .trim()
        .parse()
        .with_context(|| format!("bad next hop in host route '{s}'"))?;
    Ok(StaticRoute {
        destination,
        prefix_len,
        nexthop,
    })
}

fn read_lines(file: &str) -> Result<Vec<String>> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading flows from stdin")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    }
    Ok(text.lines().map(str::to_string).collect())
}

pub fn run(args: SwitchArgs) -> Result<()> {
    let req = match args.cmd {
        SwitchCmd::AddBr { bridge } => Request::AddBr { bridge },
        SwitchCmd::DelBr { bridge } => Request::DelBr { bridge },
        SwitchCmd::AddPort {
            bridge,
            port,
            kind,
            netns,
            tag,
            peer,
            remote_ip,
            local_ip,
            key,
            csum,
            mac,
            mtu,
            ofport,
        } => {
            let kind: PortType = kind.parse().map_err(anyhow::Error::msg)?;
            let key = key
                .map(|k| k.parse::<TunnelKey>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mut cfg = PortSpec::new(&port, kind);
            cfg.netns = netns;
            cfg.tag = tag;
            cfg.peer = peer;
            cfg.remote_ip = remote_ip;
            cfg.local_ip = local_ip;
            cfg.key = key;
            cfg.csum = csum;
            cfg.mac = mac;
            cfg.mtu = mtu;
            cfg.ofport = ofport;
            Request::AddPort { bridge, port: cfg }
        }
        SwitchCmd::DelPort { bridge, port } => Request::DelPort { bridge, port },
        SwitchCmd::SetDhcp {
            bridge,
            port,
            mac,
            ip,
            router,
            dns,
            host_route,
            mtu,
            lease,
            server_ip,
            server_mac,
            domain_name,
            next_server,
            option,
        } => {
            let (ip, prefix_len) = parse_cidr(&ip)?;
            let options = option
                .iter()
                .map(|o| parse_raw_option(o))
                .collect::<Result<Vec<_>>>()?;
            let host_routes = host_route
                .iter()
                .map(|r| parse_host_route(r))
                .collect::<Result<Vec<_>>>()?;
            let b = DhcpBinding {
                mac: mac.to_ascii_lowercase(),
                ip,
                prefix_len,
                router,
                dns,
                host_routes,
                mtu,
                lease_secs: lease,
                server_ip,
                server_mac: server_mac.to_ascii_lowercase(),
                domain_name,
                next_server,
                options,
            };
            Request::SetPortDhcp {
                bridge,
                port,
                dhcp: Some(b),
            }
        }
        SwitchCmd::ClearDhcp { bridge, port } => Request::SetPortDhcp {
            bridge,
            port,
            dhcp: None,
        },
        SwitchCmd::Show => Request::Show,
        SwitchCmd::AddFlow { bridge, flow } => Request::AddFlows {
            bridge,
            flows: vec![flow],
            typed: Vec::new(),
        },
        SwitchCmd::AddFlows { bridge, file } => Request::AddFlows {
            bridge,
            flows: read_lines(&file)?,
            typed: Vec::new(),
        },
        SwitchCmd::DelFlows { bridge, matching } => Request::DelFlows { bridge, matching },
        SwitchCmd::ReplaceFlows { bridge, file } => Request::ReplaceFlows {
            bridge,
            flows: read_lines(&file)?,
            typed: Vec::new(),
        },
        SwitchCmd::DumpFlows { bridge, table } => Request::DumpFlows { bridge, table },
        SwitchCmd::DumpPorts { bridge } => Request::DumpPorts { bridge },
        SwitchCmd::FdbShow { bridge } => Request::FdbShow { bridge },
        SwitchCmd::Trace { bridge, flow } => Request::Trace { bridge, flow },
        SwitchCmd::DumpConntrack { zone } => Request::DumpConntrack { zone },
        SwitchCmd::DumpDatapath => Request::DumpDatapath,
        SwitchCmd::FlushConntrack { zone } => Request::FlushConntrack { zone },
    };
    match Client::new(&args.run_dir).call(&req)? {
        Response::Done { message } => {
            if let Some(m) = message {
                println!("{m}");
            }
        }
        Response::Lines { lines } => {
            for l in lines {
                println!("{l}");
            }
        }
        Response::Show {
            bridges,
            tunnels,
            flow_cache: c,
            heap,
            poll_cpus,
            poll_spin,
            protocol_version: _,
            conntrack,
            learned,
            datapath,
        } => {
            print_show(&bridges);
            if let Some(d) = datapath {
                println!("datapath: {d}");
            }
            if !poll_cpus.is_empty() {
                // An older switchd does not say how its threads poll.
                let spin = poll_spin.map(|s| format!(", {}", s.describe()));
                println!(
                    "{}{}",
                    poll_threads_line(&poll_cpus),
                    spin.unwrap_or_default()
                );
            }
            if let Some(h) = heap {
                println!(
                    "memory: {} bytes in use, {} allocations since start",
                    h.live_bytes, h.allocations
                );
            }
            if c.hits + c.misses > 0 {
                println!(
                    "flow cache: {} of {} entries, {} hits, {} misses ({:.1}% hit), {} invalidations",
                    c.entries,
                    c.capacity,
                    c.hits,
                    c.misses,
                    100.0 * c.hits as f64 / (c.hits + c.misses) as f64,
                    c.invalidations
                );
            }
            if let Some(l) = learned.filter(|l| l.flows > 0 || l.evicted > 0) {
                println!(
                    "learned flows: {} (at most {} a table), {} evicted",
                    l.flows, l.limit, l.evicted
                );
            }
            if let Some(ct) = conntrack.filter(|c| c.committed + c.invalid > 0) {
                let zones: Vec<String> = ct
                    .zones
                    .iter()
                    .map(|(z, n)| format!("zone {z}: {n}"))
                    .collect();
                println!(
                    "conntrack: {} connections of {} ({}); {} committed, {} refused (table full), {} expired, {} invalid packets",
                    ct.connections,
                    ct.max,
                    if zones.is_empty() {
                        "no zone".to_string()
                    } else {
                        zones.join(", ")
                    },
                    ct.committed,
                    ct.refused,
                    ct.expired,
                    ct.invalid
                );
            }
            if tunnels.uplink_active {
                println!(
                    "vxlan uplink: nt-uplink (kernel GSO over UDP tunnels), {} super-frames sent, {} errors, {} received whole",
                    tunnels.uplink_frames, tunnels.uplink_errors, tunnels.rx_super_frames
                );
            }
            if tunnels.udp_runs > 0 {
                println!(
                    "udp runs into VM ports: {} UDP GSO writes carried {} datagrams",
                    tunnels.udp_runs, tunnels.udp_run_frames
                );
            }
            if tunnels.malformed + tunnels.unknown + tunnels.bad_checksum > 0 {
                println!(
                    "tunnel packets dropped: {} malformed, {} for no port, {} with a bad inner checksum",
                    tunnels.malformed, tunnels.unknown, tunnels.bad_checksum
                );
            }
        }
        Response::Ports { ports } => {
            println!("port stats: {} ports", ports.len());
            for p in ports {
                let s = p.stats;
                println!("  port {:>3} {}:", p.ofport, p.name);
                println!(
                    "       rx pkts={}, bytes={}, drop={}, errs={}",
                    s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_errors
                );
                println!(
                    "       tx pkts={}, bytes={}, drop={}, errs={}",
                    s.tx_packets, s.tx_bytes, s.tx_dropped, s.tx_errors
                );
            }
        }
        Response::Fdb { entries } => {
            println!(" port              VLAN  MAC                Age");
            for e in entries {
                println!(
                    " {:<17} {:>4}  {}  {:>4}",
                    e.port, e.vlan, e.mac, e.age_secs
                );
            }
        }
        Response::Error { message } => bail!("{message}"),
        Response::Batch { .. } => bail!("switchd answered a batch to a single request"),
    }
    Ok(())
}

fn print_show(bridges: &[BridgeView]) {
    for b in bridges {
        println!("    Bridge {}", b.name);
        for p in &b.ports {
            let c = &p.config;
            println!("        Port {}", c.name);
            if let Some(t) = c.tag {
                println!("            tag: {t}");
            }
            println!("            Interface {}", c.name);
            println!("                type: {}", c.kind.name());
            println!("                ofport: {}", p.ofport);
            let mut opts = Vec::new();
            if let Some(v) = &c.peer {
                opts.push(format!("peer={v}"));
            }
            if let Some(v) = c.remote_ip {
                opts.push(format!("remote_ip=\"{v}\""));
            }
            if let Some(v) = c.local_ip {
                opts.push(format!("local_ip=\"{v}\""));
            }
            if let Some(v) = c.key {
                opts.push(format!("key={v}"));
            }
            if c.csum {
                opts.push("csum=true".into());
            }
            if let Some(v) = &c.netns {
                opts.push(format!("netns={v}"));
            }
            if let Some(v) = &c.mac {
                opts.push(format!("mac=\"{v}\""));
            }
            if let Some(v) = c.mtu {
                opts.push(format!("mtu={v}"));
            }
            if !opts.is_empty() {
                println!("                options: {{{}}}", opts.join(", "));
            }
            if let Some(e) = &p.error {
                println!("                error: \"{e}\"");
            }
            match p.poll_threads.as_slice() {
                [] => {}
                [t] => println!("                poll thread: {t}"),
                many => {
                    let list: Vec<String> = many.iter().map(usize::to_string).collect();
                    println!(
                        "                poll threads: {} (a TAP queue each)",
                        list.join(",")
                    );
                }
            }
            if let Some(d) = &c.dhcp {
                print_dhcp(d, p.dhcp_stats.as_ref());
            }
        }
    }
}

/// `CODE=HEX`, as `set-dhcp --option` takes it.
fn parse_raw_option(s: &str) -> Result<switch_proto::RawDhcpOption> {
    let (code, hex) = s
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("bad option '{s}': expected CODE=HEX"))?;
    let code: u8 = code
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("bad option '{s}': code must be 1-254"))?;
    let hex = hex.trim().trim_start_matches("0x");
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("bad option '{s}': the value must be hex bytes");
    }
    let data = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| anyhow::anyhow!("bad option '{s}': the value must be hex bytes"))?;
    Ok(switch_proto::RawDhcpOption { code, data })
}

fn print_dhcp(d: &DhcpBinding, stats: Option<&switch_proto::DhcpStats>) {
    println!(
        "                dhcp: {}/{} for {} (server {} {}, lease {}s)",
        d.ip, d.prefix_len, d.mac, d.server_ip, d.server_mac, d.lease_secs
    );
    let mut opts = Vec::new();
    if let Some(r) = d.router {
        opts.push(format!("router={r}"));
    }
    if !d.dns.is_empty() {
        let dns: Vec<String> = d.dns.iter().map(|a| a.to_string()).collect();
        opts.push(format!("dns={}", dns.join(",")));
    }
    if let Some(m) = d.mtu {
        opts.push(format!("mtu={m}"));
    }
    if let Some(n) = &d.domain_name {
        opts.push(format!("domain={n}"));
    }
    for r in &d.host_routes {
        opts.push(format!(
            "route={}/{},{}",
            r.destination, r.prefix_len, r.nexthop
        ));
    }
    if let Some(n) = d.next_server {
        opts.push(format!("next-server={n}"));
    }
    for o in &d.options {
        let text = std::str::from_utf8(&o.data)
            .ok()
            .filter(|t| t.chars().all(|c| c.is_ascii_graphic()));
        match text {
            Some(t) => opts.push(format!("opt{}=\"{t}\"", o.code)),
            None => {
                let hex: String = o.data.iter().map(|b| format!("{b:02x}")).collect();
                opts.push(format!("opt{}=0x{hex}", o.code));
            }
        }
    }
    if !opts.is_empty() {
        println!("                dhcp options: {}", opts.join(" "));
    }
    if let Some(s) = stats {
        println!(
            "                dhcp stats: offers={} acks={} naks={} arp_replies={} releases={} ignored={} dropped={}",
            s.offers, s.acks, s.naks, s.arp_replies, s.releases, s.ignored, s.dropped
        );
    }
}

/// `poll threads: 2 (poll-0 on CPU 2, poll-1 on CPU 3)`, or `(not pinned)`.
fn poll_threads_line(cpus: &[Option<usize>]) -> String {
    let pinned: Vec<String> = cpus
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| format!("poll-{i} on CPU {c}")))
        .collect();
    if pinned.is_empty() {
        format!("poll threads: {} (not pinned)", cpus.len())
    } else {
        format!("poll threads: {} ({})", cpus.len(), pinned.join(", "))
    }
}
