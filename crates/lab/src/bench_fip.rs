//! `lab bench-l3 fip`: the time from the API call that associates a floating IP
//! (`PUT /v2.0/floatingips/{id}` with `port_id`, what `openstack floating ip set
//! --port` sends) to the first ping answered from the outside world, which pings
//! the floating address every 10 ms (`ping -D -i 0.01`, its replies timestamped by
//! the wall clock). Between runs the floating IP is disassociated, and the bench
//! waits until it is DOWN and no longer answers. The lab's floating IP (vm1's) is
//! used and left associated.

use crate::bench_l3::median;
use crate::topology::Lab;
use crate::{Result, fail, net, progress};
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One association: how long the API call took, and until the first answer.
#[derive(Debug, Clone, Copy)]
pub struct FipRun {
    pub api_ms: f64,
    pub answered_ms: f64,
}

#[derive(Debug, Clone)]
pub struct FipResult {
    pub address: String,
    pub runs: Vec<FipRun>,
}

/// The wall-clock time of a `ping -D` reply line (seconds since the epoch), if
/// the line is a reply.
pub fn reply_time(line: &str) -> Option<f64> {
    if !line.contains("bytes from") {
        return None;
    }
    let ts = line.strip_prefix('[')?.split(']').next()?;
    ts.parse().ok()
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Sets (or clears, with `None`) the floating IP's port as the tenant's user;
/// returns the wall-clock time just before the request went out and how long the
/// call took.
fn set_port(lab: &Lab, tenant: &str, fip: &str, port: Option<&str>) -> Result<(f64, f64)> {
    let t = lab.tenant(tenant)?;
    let path = format!("/v2.0/floatingips/{fip}");
    let body = json!({"floatingip": {"port_id": port.map_or(Value::Null, Value::from)}});
    lab.api.with(lab.api.user(&t), move |c| async move {
        let sent = SystemTime::now();
        let started = Instant::now();
        c.put(&path, &body).await.map_err(|e| fail!("API: {e}"))?;
        Ok((epoch_secs(sent), started.elapsed().as_secs_f64() * 1000.0))
    })
}

/// Waits until `address` does not answer one ping from `ns`.
fn wait_silent(ns: &str, address: &str, within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    loop {
        let p = net::run_in(
            ns,
            "ping",
            &["-c", "1", "-W", "0.3", address],
            Duration::from_secs(3),
        );
        if !p.ok() {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(fail!("{address} still answers after it was disassociated"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Associates the floating IP while `ns` pings it every 10 ms: the run's times.
fn one_run(lab: &Lab, ns: &str, tenant: &str, fip: &str, addr: &str, port: &str) -> Result<FipRun> {
    let mut pinger = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-D", "-n", "-i", "0.01", addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot start ping in {ns}: {e}"))?;
    let Some(out) = pinger.stdout.take() else {
        let _ = pinger.kill();
        let _ = pinger.wait();
        return Err(fail!("no output from ping"));
    };
    let (tx, rx) = mpsc::channel::<f64>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(|l| l.ok()) {
            if let Some(t) = reply_time(&line)
                && tx.send(t).is_err()
            {
                break;
            }
        }
    });
    // A few unanswered pings first: the outside is trying when the call goes out.
    std::thread::sleep(Duration::from_millis(100));
    let result = set_port(lab, tenant, fip, Some(port)).and_then(|(sent, api_ms)| {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(t) if t >= sent => {
                    return Ok(FipRun {
                        api_ms,
                        answered_ms: (t - sent) * 1000.0,
                    });
                }
                Ok(_) => {}
                Err(_) => return Err(fail!("{addr} did not answer within 20 s")),
            }
        }
    });
    let _ = pinger.kill();
    let _ = pinger.wait();
    drop(rx);
    let _ = reader.join();
    result
}

/// `bench-l3 fip`: RUNS disassociate/associate cycles of the lab's floating IP.
pub fn bench_fip(lab: &Lab, runs: usize) -> Result<FipResult> {
    let ext = lab
        .state
        .external
        .as_ref()
        .ok_or_else(|| fail!("the lab has no external network"))?
        .ns
        .clone();
    let f = lab
        .state
        .floating_ips
        .first()
        .cloned()
        .ok_or_else(|| fail!("the lab has no floating IP"))?;
    let vm = lab.vm(&f.vm)?;
    if !net::ping(&ext, &f.address, 2, &[]).ok() {
        return Err(fail!("{} does not answer before the bench", f.address));
    }
    let mut out = Vec::new();
    for i in 1..=runs {
        set_port(lab, &vm.tenant, &f.id, None)?;
        lab.api
            .wait_floating_ip(&f.id, "DOWN", Duration::from_secs(30))?;
        wait_silent(&ext, &f.address, Duration::from_secs(30))?;
        let r = one_run(lab, &ext, &vm.tenant, &f.id, &f.address, &vm.port_id)?;
        progress(format!(
            "run {i}/{runs}: answered after {:.0} ms (API call {:.0} ms)",
            r.answered_ms, r.api_ms
        ));
        out.push(r);
    }
    lab.api
        .wait_floating_ip(&f.id, "ACTIVE", Duration::from_secs(30))?;
    Ok(FipResult {
        address: f.address,
        runs: out,
    })
}

impl FipResult {
    pub fn answered(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.answered_ms).collect()
    }

    pub fn max_ms(&self) -> f64 {
        self.answered().into_iter().fold(0.0, f64::max)
    }

    pub fn print(&self) {
        let api: Vec<f64> = self.runs.iter().map(|r| r.api_ms).collect();
        println!(
            "floating IP {}: PUT port_id -> first ping answered from outside (pinging every 10 ms), {} runs",
            self.address,
            self.runs.len()
        );
        println!(
            "  median {:.0} ms, max {:.0} ms (the API call itself: median {:.0} ms)",
            median(&self.answered()),
            self.max_ms(),
            median(&api)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_reply_times() {
        let l = "[1765080000.123456] 64 bytes from 10.1.101.241: icmp_seq=7 ttl=63 time=0.41 ms";
        assert_eq!(reply_time(l), Some(1765080000.123456));
        assert_eq!(
            reply_time("[1765080000.1] From 10.1.101.254 icmp_seq=1 Destination Host Unreachable"),
            None
        );
        assert_eq!(
            reply_time("PING 10.1.101.241 (10.1.101.241) 56(84) bytes of data."),
            None
        );
        assert_eq!(reply_time("64 bytes from 10.1.101.241: icmp_seq=1"), None);
    }

    #[test]
    fn result_summary() {
        let r = FipResult {
            address: "10.1.101.241".into(),
            runs: [300.0, 100.0, 200.0]
                .iter()
                .map(|&a| FipRun {
                    api_ms: 10.0,
                    answered_ms: a,
                })
                .collect(),
        };
        assert_eq!(median(&r.answered()), 200.0);
        assert_eq!(r.max_ms(), 300.0);
    }
}
