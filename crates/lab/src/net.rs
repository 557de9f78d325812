//! Namespaces, veth pairs, bridges and addresses through `ip`, always inside the
//! lab's own namespaces (`ip -n NS ...`).

use crate::{Result, fail};
use std::process::{Command, Output};

fn run(program: &str, args: &[&str]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .output()
        .map_err(|e| fail!("cannot run {program}: {e}"))
}

/// Runs `ip ARGS`; an error carries ip's own message.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = run("ip", args)?;
    if !out.status.success() {
        return Err(fail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip -n NS ARGS`.
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String> {
    let mut a = vec!["-n", ns];
    a.extend_from_slice(args);
    ip(&a)
}

/// Runs a program inside `ns` (`ip netns exec`), returning its output whatever
/// its exit status.
pub fn exec_in(ns: &str, program: &str, args: &[&str]) -> Result<Output> {
    let mut a = vec!["netns", "exec", ns, program];
    a.extend_from_slice(args);
    run("ip", &a)
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

/// Every namespace whose name starts with `prefix-`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(out) = ip(&["netns", "list"]) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_string)
        .collect()
}

/// A Linux bridge inside `ns` (the lab's physical switch), up.
pub fn add_bridge(ns: &str, name: &str) -> Result<()> {
    ip_in(ns, &["link", "add", name, "type", "bridge"])?;
    ip_in(ns, &["link", "set", name, "up"])?;
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
    ip_in(
        sw,
        &[
            "link", "add", sw_end, "type", "veth", "peer", "name", node_end, "netns", node,
        ],
    )?;
    ip_in(sw, &["link", "set", sw_end, "master", bridge])?;
    ip_in(sw, &["link", "set", sw_end, "up"])?;
    ip_in(node, &["addr", "add", addr, "dev", node_end])?;
    ip_in(node, &["link", "set", node_end, "up"])?;
    Ok(())
}
