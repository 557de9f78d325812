//! The L3 agent's part of applying (network nodes): for each compiled router, its
//! namespace (loopback up, IPv4 forwarding on), the addresses and routes of its
//! `qr-`/`qg-` devices (made by switchd inside the namespace: veth pairs by
//! default, internal ports with `--router-port-type internal`; down while the
//! router is admin down), its nftables table, and a gratuitous ARP for each
//! floating IP that has just come onto the gateway device, and the metering table (see
//! [`metering`]). Namespaces of routers that are gone (their
//! devices were on this host's switch, and switchd has removed them) are deleted.
//!
//! Addresses and routes go through rtnetlink ([`netlink`]), the table through
//! `nft -f` inside the namespace: the table is replaced in one transaction, and left
//! alone when the kernel's copy carries the same digest, so the connections
//! conntrack tracks are never disturbed by a restart or a re-sync. Nothing here
//! touches a namespace that is not a router's of this host.

pub mod metering;
mod netlink;

use crate::compile::{Compiled, RouterDevice, RouterSpec, nat};
use ipnet::{IpNet, Ipv4Net};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use switch_proto::BridgeView;

/// What applying the routers did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct L3Report {
    /// Routers that could not be set up: router id -> why.
    pub failed: BTreeMap<String, String>,
    /// Namespaces of routers that are gone, removed.
    pub removed: Vec<String>,
    /// Floating IPs announced with a gratuitous ARP.
    pub announced: Vec<Ipv4Addr>,
}

/// Sets up every router of `c`, then removes the namespaces of routers that `c`
/// has no more: those whose devices `before` (switchd's ports before the switch
/// was applied) had, and those the previous apply set up (`previous`: a router
/// that lost its devices before it went has none left on the switch). A router in
/// `done` (set up as it is now by the previous apply) is left alone unless one of
/// its devices was made again (`made`) or its namespace is gone: a change elsewhere
/// on the host does not touch a hundred routers.
pub fn apply(
    c: &Compiled,
    before: &[BridgeView],
    done: &[RouterSpec],
    made: &BTreeSet<String>,
    previous: &BTreeSet<String>,
) -> L3Report {
    let mut report = L3Report::default();
    for r in &c.routers {
        let unchanged = done.contains(r)
            && !r.devices.iter().any(|d| made.contains(&d.name))
            && host::netns_exists(&r.namespace);
        if unchanged {
            continue;
        }
        if let Err(e) = router(r, &mut report.announced) {
            report.failed.insert(r.id.clone(), e);
        }
    }
    let wanted: BTreeSet<&str> = c.routers.iter().map(|r| r.namespace.as_str()).collect();
    let mut known = router_namespaces(before);
    known.extend(previous.iter().cloned());
    for ns in known {
        if !wanted.contains(ns.as_str()) && host::netns_exists(&ns) {
            match run("ip", &["netns", "del", &ns]) {
                Ok(_) => report.removed.push(ns),
                Err(e) => {
                    report.failed.insert(ns, e);
                }
            }
        }
    }
    report
}

/// The router namespaces this host's switch had devices in.
pub fn router_namespaces(bridges: &[BridgeView]) -> BTreeSet<String> {
    bridges
        .iter()
        .flat_map(|b| &b.ports)
        .filter_map(|p| p.config.netns.clone())
        .filter(|ns| ns.starts_with("qrouter-"))
        .collect()
}

fn router(r: &RouterSpec, announced: &mut Vec<Ipv4Addr>) -> Result<(), String> {
    let ns = r.namespace.as_str();
    if !host::netns_exists(ns) {
        run("ip", &["netns", "add", ns])?;
    }
    host::in_netns(ns, || host::set_up("lo", true))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{ns}: {e}"))?;
    forwarding_on(ns)?;
    for d in &r.devices {
        let added = addresses(ns, d, r.enabled)?;
        if d.gateway {
            for fip in r.floating_ips.iter().map(|(_, a)| *a) {
                if added.contains(&IpAddr::V4(fip)) {
                    // Best effort: the upstream router learns the address anyway
                    // on the first packet it sends to it.
                    if gratuitous_arp(ns, &d.name, fip).is_ok() {
                        announced.push(fip);
                    }
                }
            }
        }
    }
    routes(ns, r)?;
    table(ns, &r.nat)?;
    metering::apply(ns, r.metering.as_deref())
}

/// `net.ipv4.ip_forward = 1` in the namespace (written from a thread inside it).
fn forwarding_on(ns: &str) -> Result<(), String> {
    host::in_netns(ns, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{ns}: IPv4 forwarding: {e}"))
}

/// Makes the device's global addresses exactly `d.addresses` and sets it up (or
/// down, for a disabled router); returns the addresses it added.
fn addresses(ns: &str, d: &RouterDevice, up: bool) -> Result<Vec<IpAddr>, String> {
    let added =
        netlink::sync_addresses(ns, &d.name, &d.addresses).map_err(|e| format!("{ns}: {e}"))?;
    let dev = d.name.clone();
    host::in_netns(ns, move || host::set_up(&dev, up))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{ns}: {e}"))?;
    Ok(added)
}

/// Makes the namespace's routes through a nexthop exactly the router's (IPv4).
fn routes(ns: &str, r: &RouterSpec) -> Result<(), String> {
    let want: BTreeMap<Ipv4Net, Ipv4Addr> = r
        .routes
        .iter()
        .filter_map(|rt| match (rt.destination, rt.via) {
            (IpNet::V4(d), IpAddr::V4(v)) => Some((d, v)),
            _ => None,
        })
        .collect();
    netlink::sync_routes(ns, &want).map_err(|e| format!("{ns}: {e}"))
}

/// Replaces the namespace's neutrino table with `text` in one transaction, unless
/// the kernel's already carries the same digest.
fn table(ns: &str, text: &str) -> Result<(), String> {
    let listed = run(
        "ip",
        &["netns", "exec", ns, "nft", "list", "table", nat::TABLE],
    );
    if let (Ok(have), Some(want)) = (&listed, nat::digest_of(text))
        && nat::digest_of(have) == Some(want)
    {
        return Ok(());
    }
    replace_table(ns, nat::TABLE, text)
}

/// Replaces (or creates) table `name` (family and name) in `ns` with `text`,
/// in one `nft -f` transaction.
pub(crate) fn replace_table(ns: &str, name: &str, text: &str) -> Result<(), String> {
    let script = format!("table {name}\ndelete table {name}\n{text}");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("{ns}: nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{ns}: nft: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{ns}: nft -f: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// An unsolicited ARP request for `addr` from `dev` (RFC 5227's announcement), so
/// the upstream router learns where a floating IP now lives.
fn gratuitous_arp(ns: &str, dev: &str, addr: Ipv4Addr) -> Result<(), String> {
    let dev = dev.to_string();
    host::in_netns(ns, move || -> Result<(), String> {
        let mac = host::get_mac(&dev).map_err(|e| e.to_string())?;
        let sock = host::PacketSocket::bind_with(&dev, false).map_err(|e| e.to_string())?;
        let frame = wire::arp::build(&wire::arp::Arp {
            eth_src: wire::MacAddr(mac),
            eth_dst: wire::MacAddr([0xff; 6]),
            vlan_tci: None,
            op: wire::arp::OP_REQUEST,
            sha: wire::MacAddr(mac),
            spa: addr,
            tha: wire::MacAddr([0; 6]),
            tpa: addr,
        });
        sock.send(&frame).map_err(|e| e.to_string())?;
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

/// Runs `program` and returns its output, or one line saying why it failed.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
