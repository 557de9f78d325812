//! Packets per second through Neutron's br-int + br-tun pipeline with 13 (the bare
//! pipeline), 1,000 and 100,000 flows installed, with the flow cache warm and with
//! it off (every packet through the tables' classifier).
//!
//! Two directions alternate: a VM's frame from its tap on br-int through the patch
//! ports to br-tun and out a VXLAN port (tables 0, 25, 60 NORMAL; 0, 2, 20 l2pop),
//! and the reverse from the VXLAN port (tables 0, 4, 10 learn + output; 0, 60 NORMAL
//! to the tap): 64 UDP flows each way, minimum-size (60-byte) frames. The padding
//! (see `scaled_host` in tests/common) is br-int anti-spoofing for many VM ports and
//! br-tun l2pop unicast and ARP responder entries, so the lookups face big tables.
//!
//! `cargo bench -p switch` (`--bench pipeline -- quick` for a shorter run; `cached`,
//! `uncached` and flow counts, e.g. `-- cached 100000`, pick what to measure).
//! Prints ns/packet (median of the samples, and the best one) and the ratio of
//! each size to the bare pipeline; `install ms` is the switch's replace-flows of
//! every flow on both bridges (parsing and inserting; making the text is not in it).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;
use switch::{Output, Switch, TunnelMeta};

struct Packet {
    port: usize,
    frame: Vec<u8>,
    tun: Option<TunnelMeta>,
}

fn packets(s: &Scaled) -> Vec<Packet> {
    let tun = TunnelMeta {
        id: SCALE_VNI,
        src: u32::from(Ipv4Addr::new(192, 168, 100, 2)),
        dst: u32::from(Ipv4Addr::new(192, 168, 100, 1)),
    };
    let mut v = Vec::new();
    for i in 0..64u16 {
        // Reverse first so br-int knows the remote MAC (no flooding).
        v.push(Packet {
            port: s.vxlan0,
            frame: udp(REMOTE0_MAC, VM0_MAC, REMOTE0_IP, VM0_IP, 2000 + i),
            tun: Some(tun),
        });
        v.push(Packet {
            port: s.tap0,
            frame: udp(VM0_MAC, REMOTE0_MAC, VM0_IP, REMOTE0_IP, 1000 + i),
            tun: None,
        });
    }
    v
}

/// Sends every packet `rounds` times; returns ns per packet.
fn run(
    sw: &mut Switch,
    pkts: &[Packet],
    rounds: usize,
    now: &mut u64,
    out: &mut Vec<Output>,
) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        *now += 1;
        for p in pkts {
            out.clear();
            let k = sw.receive(p.port, &p.frame, p.tun.as_ref(), *now, out);
            black_box(&k);
            black_box(&*out);
        }
    }
    start.elapsed().as_nanos() as f64 / (rounds * pkts.len()) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    flows: usize,
    install_ms: f64,
    cached: (f64, f64),
    uncached: (f64, f64),
}

fn measure(flows: usize, quick: bool, modes: (bool, bool)) -> Row {
    let mut s = scaled_host(flows);
    let install_ms = s.install.as_secs_f64() * 1e3;
    let pkts = packets(&s);
    let mut out = Vec::with_capacity(16);
    let mut now = 1000;
    // Sanity: each packet goes exactly one way (tap0 <-> vxlan0).
    for _ in 0..3 {
        for p in &pkts {
            out.clear();
            s.sw.receive(p.port, &p.frame, p.tun.as_ref(), now, &mut out);
            let want = if p.tun.is_some() { s.tap0 } else { s.vxlan0 };
            assert_eq!(out.iter().map(|o| o.port()).collect::<Vec<_>>(), vec![want]);
        }
        now += 1;
    }
    let (samples, budget) = if quick { (3, 100_000) } else { (9, 1_000_000) };
    let mut sample = |sw: &mut Switch, per_sample: usize| {
        let rounds = (per_sample / pkts.len()).max(1);
        run(sw, &pkts, rounds / 4, &mut now, &mut out); // warm up
        let v: Vec<f64> = (0..samples)
            .map(|_| run(sw, &pkts, rounds, &mut now, &mut out))
            .collect();
        let best = v.iter().copied().fold(f64::INFINITY, f64::min);
        (median(v), best)
    };
    let before = s.sw.flow_cache_stats();
    let cached = if modes.0 {
        sample(&mut s.sw, budget)
    } else {
        (f64::NAN, f64::NAN)
    };
    let after = s.sw.flow_cache_stats();
    assert_eq!(after.misses, before.misses, "the warm cache missed");
    s.sw.set_flow_cache_capacity(0);
    let uncached = if modes.1 {
        sample(&mut s.sw, budget / 4)
    } else {
        (f64::NAN, f64::NAN)
    };
    Row {
        flows: s.flows,
        install_ms,
        cached,
        uncached,
    }
}

fn main() {
    // Arguments (after `--`): `quick`; `cached` or `uncached` alone; sizes.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "quick");
    let modes = match (
        args.iter().any(|a| a == "cached"),
        args.iter().any(|a| a == "uncached"),
    ) {
        (true, false) => (true, false),
        (false, true) => (false, true),
        _ => (true, true),
    };
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![10, 1_000, 100_000];
    }
    let rows: Vec<Row> = sizes
        .into_iter()
        .map(|n| measure(n, quick, modes))
        .collect();
    println!();
    println!(
        "switch engine: br-int + br-tun, VM <-> VXLAN, minimum-size UDP frames, 64 flows each way"
    );
    println!("(ns/packet: median of the samples, and the best sample)");
    println!(
        "{:>8} {:>11} {:>19} {:>9} {:>19} {:>9}",
        "flows", "install ms", "cached ns/pkt", "vs bare", "uncached ns/pkt", "vs bare"
    );
    let (c0, u0) = (rows[0].cached.0, rows[0].uncached.0);
    for r in &rows {
        println!(
            "{:>8} {:>11.1} {:>9.1} (best {:>5.1}) {:>8.2}x {:>9.1} (best {:>5.1}) {:>8.2}x",
            r.flows,
            r.install_ms,
            r.cached.0,
            r.cached.1,
            r.cached.0 / c0,
            r.uncached.0,
            r.uncached.1,
            r.uncached.0 / u0,
        );
    }
    let worst = |f: fn(&Row) -> f64| {
        let base = f(&rows[0]);
        rows.iter().map(|r| f(r) / base).fold(0.0f64, f64::max)
    };
    let (by_median, by_best) = (worst(|r| r.cached.0), worst(|r| r.cached.1));
    println!(
        "cached per-packet cost, worst size / first: {by_median:.2}x by medians, \
         {by_best:.2}x by best samples ({}: target within 10%)",
        if by_median.min(by_best) <= 1.10 {
            "flat"
        } else {
            "NOT flat"
        }
    );
    for r in &rows {
        println!(
            "  {} flows: {:.2} Mpps cached, {:.2} Mpps uncached",
            r.flows,
            1e3 / r.cached.0,
            1e3 / r.uncached.0
        );
    }
}
