//! The connection table at scale: 1,000,000 tracked UDP connections (committed,
//! then answered, so each is established both ways) in one zone; the memory they
//! take per connection (the process's resident memory before and after), and the
//! time of a commit, of a packet of a known connection, and of a sweep over the
//! whole table. The kernel's own cost per connection is printed beside it when
//! this machine's `/proc/slabinfo` shows it (root): the size of an `nf_conntrack`
//! object.
//!
//! `cargo bench -p switch --bench conntrack` (`-- COUNT` for another count).

use std::hint::black_box;
use std::time::Instant;
use switch::conntrack::{Conntrack, CtConfig, Kind, Packet, Tuple, addr};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The kernel's bytes per tracked connection: the `nf_conntrack` slab's object size.
fn kernel_conn_size() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("nf_conntrack "))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn packet(i: u32, reply: bool) -> Packet {
    let a = addr(std::net::Ipv4Addr::from(0x0a00_0000 | (i >> 14)).into());
    let b = addr(std::net::Ipv4Addr::new(10, 100, 0, 1).into());
    let sport = 1024 + (i & 0x3fff) as u16;
    let t = Tuple {
        src: a,
        dst: b,
        proto: 17,
        v6: false,
        sport,
        dport: 53,
    };
    Packet {
        tuple: if reply { t.reversed() } else { t },
        kind: Kind::Udp,
    }
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut ct = Conntrack::new(
        CtConfig {
            max: n as usize + 1,
            ..CtConfig::default()
        },
        0x5eed,
    );
    let before = rss_bytes();
    let t = Instant::now();
    for i in 0..n {
        let p = packet(i, false);
        let v = ct.track(Some(&p), 1, 0);
        if ct.commit(Some(&p), 1, 0, v.conn, None).is_err() {
            eprintln!("refused at {i}");
            break;
        }
    }
    let commit_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let t = Instant::now();
    for i in 0..n {
        let p = packet(i, true);
        black_box(ct.track(Some(&p), 1, 1));
    }
    let reply_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let t = Instant::now();
    for i in 0..n {
        let p = packet(i, false);
        black_box(ct.track(Some(&p), 1, 2));
    }
    let est_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    let after = rss_bytes();
    let t = Instant::now();
    let swept = ct.sweep(3, n as usize);
    let sweep_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(ct.len(), n as usize, "connections lost");
    assert_eq!(swept, 0);
    let per = (after.saturating_sub(before)) as f64 / f64::from(n);
    println!("switch conntrack: {n} UDP connections in one zone, established both ways");
    println!("  memory: {per:.0} bytes per connection (resident memory, before and after)");
    match kernel_conn_size() {
        Some(k) => println!(
            "  the kernel's nf_conntrack object on this machine: {k} bytes (ratio {:.2})",
            per / k as f64
        ),
        None => println!("  (the kernel's nf_conntrack size: /proc/slabinfo not readable)"),
    }
    println!(
        "  commit {commit_ns:.0} ns, first reply {reply_ns:.0} ns, established packet {est_ns:.0} ns; a sweep of the whole table {sweep_ms:.1} ms"
    );
}
