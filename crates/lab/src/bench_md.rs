//! `lab bench-metadata`: the metadata service as a VM sees it, on a lab that is
//! up (issue 20). From vm1, with Python's http.client (one process, so no
//! process start is measured):
//! - requests per second on one kept-alive connection, and with a new
//!   connection per request (as curl and most cloud-init data sources do);
//! - first, a cloud-init-like first fetch: the version lists, meta_data.json,
//!   network_data.json, the EC2 key list and each key, each on a new connection,
//!   timed as a whole;
//! - the same three against a plain HTTP server on vm2 (Python's threading
//!   `http.server` without Nagle's delay, the same documents from files) across
//!   the same switch, as a reference in the same run.

use crate::topology::Lab;
use crate::{Result, fail, net, progress};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CLIENT: &str = r#"
import http.client, json, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
key = "/latest/meta-data/instance-id"
def get(c, p):
    c.request("GET", p)
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"GET {p}: {r.status}")
    return body
paths = ["/openstack/", "/openstack/latest/meta_data.json",
         "/openstack/latest/network_data.json", "/latest/meta-data/"]
firsts = []
for _ in range(20):
    t0 = time.perf_counter()
    keys = []
    for p in paths:
        c = http.client.HTTPConnection(host, port, timeout=5)
        b = get(c, p); c.close()
        if p.endswith("meta-data/"):
            keys = b.decode().split()
    for k in keys:
        c = http.client.HTTPConnection(host, port, timeout=5)
        get(c, "/latest/meta-data/" + k); c.close()
    firsts.append((time.perf_counter() - t0) * 1000)
firsts.sort()
c = http.client.HTTPConnection(host, port, timeout=5)
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < secs:
    get(c, key); n += 1
keep = n / (time.perf_counter() - t0)
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < secs:
    c = http.client.HTTPConnection(host, port, timeout=5); get(c, key); c.close(); n += 1
fresh = n / (time.perf_counter() - t0)
print(json.dumps({"keepalive": keep, "fresh": fresh, "first_ms": firsts[len(firsts) // 2]}))
"#;

/// The reference: a threading static-file server without Nagle's delay (as a
/// well-set-up HTTP server has) and without the reverse DNS lookup
/// `http.server`'s command line does at start.
const REFERENCE: &str = r#"
import functools, http.server, socketserver, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
h = functools.partial(Handler, directory=sys.argv[3])
Server((sys.argv[1], int(sys.argv[2])), h).serve_forever()
"#;

const REF_PORT: u16 = 8081;

/// Kills the reference server (by PID) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_client(ns: &str, host: &str, port: u16, seconds: u32) -> Result<Value> {
    let out = net::exec_in(
        ns,
        "python3",
        &["-c", CLIENT, host, &port.to_string(), &seconds.to_string()],
    )?;
    if !out.status.success() {
        return Err(fail!(
            "metadata client: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| fail!("metadata client output: {e}"))
}

/// The documents the reference server serves: what vm1 got from the service.
fn mirror(lab: &Lab, root: &std::path::Path) -> Result<()> {
    let vm1 = lab.vm("vm1")?;
    let paths = [
        "/openstack/",
        "/openstack/latest/meta_data.json",
        "/openstack/latest/network_data.json",
        "/latest/meta-data/",
        "/latest/meta-data/instance-id",
    ];
    for p in paths {
        let body = crate::vms::metadata(&vm1, p)?;
        let file = if p.ends_with('/') {
            root.join(p.trim_start_matches('/')).join("index.html")
        } else {
            root.join(p.trim_start_matches('/'))
        };
        if let Some(d) = file.parent() {
            std::fs::create_dir_all(d).map_err(|e| fail!("{}: {e}", d.display()))?;
        }
        std::fs::write(&file, &body).map_err(|e| fail!("{}: {e}", file.display()))?;
        if p == "/latest/meta-data/" {
            for k in body.split_whitespace() {
                let v = crate::vms::metadata(&vm1, &format!("{p}{k}"))?;
                let f = root.join("latest/meta-data").join(k);
                std::fs::write(&f, v).map_err(|e| fail!("{}: {e}", f.display()))?;
            }
        }
    }
    Ok(())
}

pub fn run(lab: &Lab, seconds: u32, runs: usize) -> Result<()> {
    let vm1 = lab.vm("vm1")?;
    let vm2 = lab.vm("vm2")?;
    let root = lab.state.dir.join("bench-metadata");
    let _ = std::fs::remove_dir_all(&root);
    mirror(lab, &root)?;
    let child = Command::new("ip")
        .args([
            "netns", "exec", &vm2.ns, "python3", "-c", REFERENCE, &vm2.ip,
        ])
        .arg(REF_PORT.to_string())
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot start the reference server: {e}"))?;
    let _server = Server(child);
    let url = format!("http://{}:{REF_PORT}/latest/meta-data/instance-id", vm2.ip);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !net::exec_in(&vm1.ns, "curl", &["-sf", "-m", "1", &url])?
        .status
        .success()
    {
        if std::time::Instant::now() >= until {
            return Err(fail!("the reference server on vm2 did not come up"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut md = Vec::new();
    let mut reference = Vec::new();
    for i in 0..runs {
        progress(format!("run {}/{runs}", i + 1));
        md.push(run_client(&vm1.ns, "169.254.169.254", 80, seconds)?);
        reference.push(run_client(&vm1.ns, &vm2.ip, REF_PORT, seconds)?);
    }
    let med = |v: &[Value], k: &str| {
        let xs: Vec<f64> = v.iter().filter_map(|x| x[k].as_f64()).collect();
        crate::bench_l3::median(&xs)
    };
    println!(
        "metadata service from vm1 ({runs} runs, medians), against a Python static-file server on vm2:"
    );
    for (k, what, unit) in [
        ("keepalive", "requests/s, one kept-alive connection", ""),
        ("fresh", "requests/s, a new connection each", ""),
        ("first_ms", "cloud-init-like first fetch", " ms"),
    ] {
        let (a, b) = (med(&md, k), med(&reference, k));
        println!(
            "  {what:<42} {a:>9.1}{unit}   reference {b:>9.1}{unit}   ratio {:.2}",
            a / b
        );
    }
    Ok(())
}
