//! Namespaces, veth pairs, bridges, addresses and pings through `ip`, always inside
//! namespaces the lab or a test made (`ip -n NS ...`, `ip netns exec NS ...`), never
//! in the root namespace. Every command has a timeout ([`crate::cmd`]).

use crate::cmd::{self, CMD_TIMEOUT, Run};
use crate::{Result, fail};
use std::process::Output;
use std::time::Duration;

/// Runs `ip ARGS`; an error carries ip's own message.
pub fn ip(args: &[&str]) -> Result<String> {
    let r = cmd::run("ip", args, None, CMD_TIMEOUT);
    if !r.ok() {
        let why = match (&r.error, r.status) {
            (Some(e), _) => e.clone(),
            (None, None) => format!("timed out after {CMD_TIMEOUT:?}"),
            (None, Some(_)) => r.stderr.trim().to_string(),
        };
        return Err(fail!("ip {}: {why}", args.join(" ")));
    }
    Ok(r.stdout)
}

/// Runs `ip -n NS ARGS`.
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String> {
    let mut a = vec!["-n", ns];
    a.extend_from_slice(args);
    ip(&a)
}

/// Runs a program inside `ns` (`ip netns exec`) with `timeout`, whatever its exit
/// status.
pub fn run_in(ns: &str, program: &str, args: &[&str], timeout: Duration) -> Run {
    let mut a = vec!["netns", "exec", ns, program];
    a.extend_from_slice(args);
    cmd::run("ip", &a, None, timeout)
}

/// Runs a program inside `ns` (`ip netns exec`), returning its output whatever
/// its exit status; an error when it could not be run or timed out.
pub fn exec_in(ns: &str, program: &str, args: &[&str]) -> Result<Output> {
    let r = run_in(ns, program, args, CMD_TIMEOUT);
    let Some(status) = r.status else {
        return Err(fail!("{}", r.describe()));
    };
    Ok(Output {
        status,
        stdout: r.stdout.into_bytes(),
        stderr: r.stderr.into_bytes(),
    })
}

/// `ping -c COUNT -W 1 -i 0.2 [EXTRA...] TO` from inside `ns`.
pub fn ping(ns: &str, to: &str, count: u32, extra: &[&str]) -> Run {
    let c = count.to_string();
    let mut args = vec!["-c", &c, "-W", "1", "-i", "0.2"];
    args.extend_from_slice(extra);
    args.push(to);
    run_in(ns, "ping", &args, Duration::from_secs(5 + u64::from(count)))
}

pub fn netns_exists(ns: &str) -> bool {
    host::netns_exists(ns)
}

pub fn add_netns(ns: &str) -> Result<()> {
    if !netns_exists(ns) {
        ip(&["netns", "add", ns])?;
    }
    ip_in(ns, &["link", "set", "lo", "up"])?;
    Ok(())
}

pub fn del_netns(ns: &str) -> Result<()> {
    if netns_exists(ns) {
        ip(&["netns", "del", ns])?;
    }
    Ok(())
}

/// Every namespace whose name starts with `prefix` followed by `sep` (the lab uses
/// `prefix-`, the test harness and the bench their bare prefix).
pub fn namespaces_starting(prefix: &str, sep: &str) -> Vec<String> {
    let Ok(out) = ip(&["netns", "list"]) else {
        return Vec::new();
    };
    let start = format!("{prefix}{sep}");
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&start))
        .map(str::to_string)
        .collect()
}

/// Every namespace whose name starts with `prefix-`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    namespaces_starting(prefix, "-")
}

/// A Linux bridge inside `ns` (the lab's physical switch), up.
pub fn add_bridge(ns: &str, name: &str) -> Result<()> {
    ip_in(ns, &["link", "add", name, "type", "bridge"])?;
    ip_in(ns, &["link", "set", name, "up"])?;
    Ok(())
}

/// A veth pair from `end_a` in `ns_a` to `end_b` in `ns_b` (both down).
pub fn veth(ns_a: &str, end_a: &str, ns_b: &str, end_b: &str) -> Result<()> {
    ip_in(
        ns_a,
        &[
            "link", "add", end_a, "type", "veth", "peer", "name", end_b, "netns", ns_b,
        ],
    )?;
    Ok(())
}

/// Gives `dev` in `ns` the address `cidr` and sets it up.
pub fn addr_up(ns: &str, dev: &str, cidr: &str) -> Result<()> {
    ip_in(ns, &["addr", "add", cidr, "dev", dev])?;
    ip_in(ns, &["link", "set", dev, "up"])?;
    Ok(())
}

/// A veth pair: `sw_end` on `bridge` in the switch namespace, `node_end` in `node`
/// with `addr` (CIDR), both up.
pub fn cable(
    sw: &str,
    bridge: &str,
    sw_end: &str,
    node: &str,
    node_end: &str,
    addr: &str,
) -> Result<()> {
    veth(sw, sw_end, node, node_end)?;
    ip_in(sw, &["link", "set", sw_end, "master", bridge])?;
    ip_in(sw, &["link", "set", sw_end, "up"])?;
    addr_up(node, node_end, addr)
}

/// Turns on IPv4 forwarding inside `ns` (a hypervisor routes: switchd's uplink TAP
/// hands VXLAN super-frames to the kernel, which forwards them to the underlay).
pub fn forward_ipv4(ns: &str) -> Result<()> {
    let out = run_in(ns, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], CMD_TIMEOUT);
    if !out.ok() {
        return Err(fail!(
            "cannot turn on IPv4 forwarding in {ns}: {}",
            out.describe()
        ));
    }
    Ok(())
}

/// Removes the kernel fast-path pins (maps and links under /sys/fs/bpf) of every
/// switchd that ran on a run directory under `dir` (a run directory holds
/// `state.json` or `switchd.sock`). Call before `dir` itself is removed: the pins
/// are named after the run directory's path.
pub fn remove_bpf_pins_under(dir: &std::path::Path) {
    fn walk(d: &std::path::Path, depth: usize) {
        if d.join("state.json").exists() || d.join("switchd.sock").exists() {
            let _ = host::remove_bpf_pins(d);
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), depth - 1);
            }
        }
    }
    walk(dir, 3);
}
