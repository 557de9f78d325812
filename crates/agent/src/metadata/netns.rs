//! The metadata namespaces themselves: addresses and routes of the `qm-` device
//! (with `ip -n`, only when a namespace is new or changed), and the removal of
//! the namespaces of networks this host has no ports on any more. Nothing here
//! touches a namespace whose name does not start with the service's prefix.

use crate::compile::MetadataSpec;
use crate::compile::metadata::{ADDRESS, ADDRESS_V6};
use std::collections::BTreeSet;

/// Gives `s`'s device its addresses and routes and sets it up.
pub fn setup(s: &MetadataSpec) -> Result<(), String> {
    let ns = s.namespace.as_str();
    let dev = s.device.as_str();
    ip(ns, &["link", "set", "lo", "up"])?;
    ip(
        ns,
        &["addr", "replace", &format!("{ADDRESS}/32"), "dev", dev],
    )?;
    // Without DAD the address is usable at once; it is this device's alone.
    if let Err(e) = ip(
        ns,
        &[
            "addr",
            "replace",
            &format!("{ADDRESS_V6}/64"),
            "dev",
            dev,
            "nodad",
        ],
    ) {
        tracing::warn!("{ns}: no IPv6 metadata address: {e}");
    }
    ip(ns, &["link", "set", dev, "up"])?;
    let want: BTreeSet<String> = s.subnets.iter().map(|n| n.to_string()).collect();
    let listed = ip(ns, &["-4", "-o", "route", "show", "dev", dev])?;
    for line in listed.lines() {
        let Some(dst) = line.split_whitespace().next() else {
            continue;
        };
        if !want.contains(dst) {
            ip(ns, &["route", "del", dst, "dev", dev])?;
        }
    }
    for n in &want {
        ip(
            ns,
            &[
                "route",
                "replace",
                n,
                "dev",
                dev,
                "src",
                &ADDRESS.to_string(),
            ],
        )?;
    }
    Ok(())
}

/// Deletes the namespaces among `candidates` that start with `prefix` and are not
/// `wanted`; returns those removed and the failures.
pub fn remove_stale(
    prefix: &str,
    candidates: &BTreeSet<String>,
    wanted: &BTreeSet<&str>,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for ns in candidates {
        if !ns.starts_with(prefix) || wanted.contains(ns.as_str()) || !host::netns_exists(ns) {
            continue;
        }
        match run(&["netns", "del", ns]) {
            Ok(_) => removed.push(ns.clone()),
            Err(e) => failed.push((ns.clone(), e)),
        }
    }
    (removed, failed)
}

fn ip(ns: &str, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run(&full)
}

fn run(args: &[&str]) -> Result<String, String> {
    crate::l3::run("ip", args)
}
