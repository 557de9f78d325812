//! The harness's traffic: pings, TCP transfers with iperf3, a TCP stream checked
//! byte for byte (SHA-256 at both ends), and UDP floods counted by iperf3, all
//! between VMs; a failure panics with the harness's diagnostics.

use super::{TwoHosts, Vm, require_tool, run};
use crate::net;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

impl TwoHosts {
    /// `ip netns exec VM ping -c COUNT -W 1 -i 0.2 IP`.
    pub fn ping(&self, from: &Vm, ip: &str, count: u32) -> super::Run {
        self.ping_with(from, ip, count, &[])
    }

    /// `ping` with more options (`-6`, `-s 2000`; a later `-W` wins).
    pub fn ping_with(&self, from: &Vm, ip: &str, count: u32, extra: &[&str]) -> super::Run {
        net::ping(&from.ns, ip, count, extra)
    }

    /// Moves `megabytes` of TCP from `from` to `to` with iperf3 (server in `to`),
    /// then the same back (`-R`); panics unless both complete. TCP super-frames
    /// cross the switch here, so this exercises segmentation, GRO and checksums.
    pub fn tcp_transfer(&self, from: &Vm, to: &Vm, megabytes: u32) {
        require_tool("iperf3", "iperf3");
        let size = format!("{megabytes}M");
        for reverse in [false, true] {
            let mut server = iperf3_server(to, "5201");
            let mut args = vec![
                "netns", "exec", &from.ns, "iperf3", "-c", to.ip, "-p", "5201", "-n", &size,
            ];
            if reverse {
                args.push("-R");
            }
            let start = Instant::now();
            let mut last = None;
            while start.elapsed() < Duration::from_secs(30) {
                let r = run("ip", &args, None, Duration::from_secs(30));
                if r.ok() {
                    last = None;
                    break;
                }
                last = Some(r.describe());
                thread::sleep(Duration::from_millis(200));
            }
            let _ = server.kill();
            let _ = server.wait();
            if let Some(err) = last {
                panic!(
                    "TCP transfer {} -> {} (reverse={reverse}) failed:\n{err}\n{}",
                    from.ns,
                    to.ip,
                    self.diag()
                );
            }
        }
    }

    /// Sends `megabytes` of seeded pseudo-random bytes over TCP from `from` to `to` and
    /// asserts the receiver's SHA-256 equals the sender's.
    pub fn checked_stream(&self, from: &Vm, to: &Vm, megabytes: u32) {
        const PY: &str = r#"
import hashlib, random, socket, sys
n = int(sys.argv[2]) << 20
if sys.argv[1] == "recv":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", 5301)); l.listen(1); l.settimeout(30); c, _ = l.accept()
    c.settimeout(30)
    h, got = hashlib.sha256(), 0
    while got < n:
        b = c.recv(1 << 20)
        if not b: break
        h.update(b); got += len(b)
    print(got, h.hexdigest())
else:
    r = random.Random(5301); block = bytes(r.getrandbits(8) for _ in range(1 << 16))
    import time
    for attempt in range(50):
        try:
            c = socket.create_connection((sys.argv[3], 5301), timeout=30); break
        except ConnectionRefusedError:
            time.sleep(0.2)
    else:
        sys.exit("receiver never listened")
    h, sent = hashlib.sha256(), 0
    while sent < n:
        b = block[sent % 4099:] + block[:sent % 4099]
        b = b[: n - sent]
        c.sendall(b); h.update(b); sent += len(b)
    c.shutdown(socket.SHUT_WR)
    print(sent, h.hexdigest())
"#;
        let mb = megabytes.to_string();
        let server = Command::new("ip")
            .args(["netns", "exec", &to.ns, "python3", "-c", PY, "recv", &mb])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the receiver in {}: {e}", to.ns));
        thread::sleep(Duration::from_millis(500));
        let sent = run(
            "ip",
            &[
                "netns", "exec", &from.ns, "python3", "-c", PY, "send", &mb, to.ip,
            ],
            None,
            Duration::from_secs(60),
        );
        let got = server
            .wait_with_output()
            .unwrap_or_else(|e| panic!("no output from the receiver in {}: {e}", to.ns));
        let got = String::from_utf8_lossy(&got.stdout).trim().to_string();
        assert!(
            sent.ok(),
            "sender failed: {}\n{}",
            sent.describe(),
            self.diag()
        );
        assert_eq!(
            got,
            sent.stdout.trim(),
            "{} -> {}: the receiver's bytes differ from what was sent\n{}",
            from.ns,
            to.ns,
            self.diag()
        );
    }

    /// Floods `to` with `len`-byte UDP datagrams from `from` for `secs` seconds at
    /// `rate` (iperf3's -b, e.g. "20M"; iperf3 sends in bursts every millisecond);
    /// returns (sent, received) datagrams.
    pub fn udp_flood(&self, from: &Vm, to: &Vm, len: u32, rate: &str, secs: u32) -> (u64, u64) {
        self.udp_flood_to(from, to, to.ip, len, rate, secs)
    }

    /// Asserts a flood sent over 1,000 datagrams and more than half arrived.
    pub fn assert_flood_arrived(&self, what: &str, sent: u64, received: u64) {
        assert!(
            sent > 1000 && received * 2 > sent,
            "{what}: {received} of {sent} datagrams arrived\n{}",
            self.diag()
        );
    }

    /// [`Lab::udp_flood`] to another of `to`'s addresses (an IPv6 one).
    pub fn udp_flood_to(
        &self,
        from: &Vm,
        to: &Vm,
        addr: &str,
        len: u32,
        rate: &str,
        secs: u32,
    ) -> (u64, u64) {
        require_tool("iperf3", "iperf3");
        let mut server = iperf3_server(to, "5203");
        let (len, secs) = (len.to_string(), secs.to_string());
        let mut last = None;
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(200));
            let r = run(
                "ip",
                &[
                    "netns", "exec", &from.ns, "iperf3", "-c", addr, "-p", "5203", "-u", "-b",
                    rate, "-l", &len, "-t", &secs, "-J",
                ],
                None,
                Duration::from_secs(30),
            );
            if r.ok() {
                last = Some(r);
                break;
            }
        }
        let _ = server.kill();
        let _ = server.wait();
        let r = last
            .unwrap_or_else(|| panic!("UDP flood {} -> {addr} failed\n{}", from.ns, self.diag()));
        let field = |name: &str| -> u64 {
            // "sum": {... "packets": N, "lost_packets": M ...} in the end section.
            let end = r.stdout.rsplit("\"sum\"").next().unwrap_or_default();
            end.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|v| v.split([',', '}']).next())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in iperf3 output:\n{}", r.stdout))
        };
        let sent = field("packets");
        (sent, sent.saturating_sub(field("lost_packets")))
    }

    /// Retries `ping -c 3` from `from` to `ip` until one succeeds; panics with
    /// switch state and logs if none did `within`.
    pub fn wait_ping(&self, from: &Vm, ip: &str, within: Duration) {
        self.wait_ping_with(from, ip, &[], within);
    }

    /// [`Lab::wait_ping`] with more ping options.
    pub fn wait_ping_with(&self, from: &Vm, ip: &str, extra: &[&str], within: Duration) {
        let start = Instant::now();
        loop {
            let r = self.ping_with(from, ip, 3, extra);
            if r.ok() {
                eprintln!("{} -> {ip}: ok after {:?}", from.ns, start.elapsed());
                return;
            }
            if start.elapsed() >= within {
                panic!(
                    "{} ({}) cannot ping {ip} within {within:?}; last attempt:\n{}\n{}",
                    from.ns,
                    from.ip,
                    r.describe(),
                    self.diag()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A one-shot iperf3 server in `vm` on `port` (the caller kills and reaps it).
fn iperf3_server(vm: &Vm, port: &str) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &vm.ns, "iperf3", "-s", "-1", "-p", port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start an iperf3 server in {}: {e}", vm.ns))
}
