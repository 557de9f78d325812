//! `lab bench-l3 throughput`: one TCP stream (iperf3) through the network node,
//! from a VM out through SNAT (vm2 -> 10.1.101.254) and from the outside in
//! through vm1's floating IP, against a kernel-only reference built in the same run
//! in namespaces of the lab's prefix: a compute (`PREFIX-kcmp`: Linux bridge and a
//! kernel vxlan device, VMs `PREFIX-kvm1`/`PREFIX-kvm2` on veths), VXLAN over a
//! veth to a network node (`PREFIX-krtr`: vxlan device and bridge, a veth into the
//! router namespace `PREFIX-kqr`, a bridge `brex` joining the router's `qg0` and
//! `eth2`), and the outside world (`PREFIX-kext`, 10.1.101.254). The reference
//! router's NAT is neutrino's own table ([`agent::compile::nat::ruleset`]): the same
//! SNAT, DNAT and SNAT-back rules. Runs alternate between the two paths; each
//! figure is the median of the runs. The iperf3 servers listen inside namespaces.

use crate::l3::EXT_GATEWAY;
use crate::topology::Lab;
use crate::{Result, fail, net, progress};
use agent::compile::nat::{Nat, ruleset};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The reference's addresses (its namespaces are its own: no clash with the lab's).
const REF_VM1: &str = "10.0.0.5";
const REF_VM2: &str = "10.0.0.6";
const REF_ROUTER: &str = "10.0.0.1";
const REF_GATEWAY: &str = "10.1.101.240";
const REF_FIP: &str = "10.1.101.241";
const REF_UNDERLAY: (&str, &str) = ("192.168.200.1", "192.168.200.2");
const VNI: &str = "100";
const VM_MTU: &str = "1450";
const IPERF_PORT: u16 = 5301;

/// Where one TCP stream goes: server namespace and the address it binds, client
/// namespace and the address it connects to.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub server_ns: String,
    pub bind: String,
    pub client_ns: String,
    pub connect: String,
}

/// One path measured on neutrino and on the reference.
#[derive(Debug, Clone)]
pub struct PathRow {
    pub what: String,
    pub neutrino: Vec<f64>,
    pub kernel: Vec<f64>,
}

impl PathRow {
    pub fn neutrino_gbps(&self) -> f64 {
        median(&self.neutrino)
    }
    pub fn kernel_gbps(&self) -> f64 {
        median(&self.kernel)
    }
    pub fn ratio(&self) -> f64 {
        self.neutrino_gbps() / self.kernel_gbps().max(1e-9)
    }
}

/// The median (the mean of the middle two for an even count; 0 when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Gbps received, from `iperf3 -J` output (`end.sum_received`).
pub fn parse_iperf_gbps(json: &str) -> Result<f64> {
    let v: Value = serde_json::from_str(json).map_err(|e| fail!("iperf3 printed no JSON ({e})"))?;
    if let Some(e) = v["error"].as_str() {
        return Err(fail!("iperf3: {e}"));
    }
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|b| b / 1e9)
        .ok_or_else(|| fail!("iperf3's JSON has no end.sum_received.bits_per_second"))
}

/// The reference router's NAT table: neutrino's ruleset for a router with SNAT of
/// 10.0.0.0/24 to its gateway address and one floating IP for the first VM.
pub fn reference_nat() -> String {
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let internal = ["10.0.0.0/24".parse().unwrap_or_default()];
    let floating = [(ip(REF_FIP), ip(REF_VM1))];
    ruleset(&Nat {
        gateway: Some(("qg0", ip(REF_GATEWAY))),
        snat: true,
        internal: &internal,
        floating: &floating,
    })
}

/// The reference's namespaces (suffixes of the lab's prefix).
pub const REF_NAMESPACES: [&str; 6] = ["kcmp", "kvm1", "kvm2", "krtr", "kqr", "kext"];

struct Reference {
    prefix: String,
}

impl Reference {
    fn ns(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    fn build(&self, lab: &mut Lab) -> Result<()> {
        for s in REF_NAMESPACES {
            let ns = self.ns(s);
            if net::netns_exists(&ns) {
                return Err(fail!(
                    "{ns} exists already (an earlier run?): delete it first"
                ));
            }
            lab.adopt_ns(&ns)?;
        }
        let (cmp, rtr, qr, ext) = (
            self.ns("kcmp"),
            self.ns("krtr"),
            self.ns("kqr"),
            self.ns("kext"),
        );
        // The compute: VMs on a bridge with a vxlan device.
        net::add_bridge(&cmp, "br0")?;
        for (vm, ip, tap) in [("kvm1", REF_VM1, "tap1"), ("kvm2", REF_VM2, "tap2")] {
            let vm = self.ns(vm);
            net::veth(&cmp, tap, &vm, "eth0")?;
            net::ip_in(&cmp, &["link", "set", tap, "master", "br0", "up"])?;
            net::ip_in(&vm, &["link", "set", "eth0", "mtu", VM_MTU])?;
            net::addr_up(&vm, "eth0", &format!("{ip}/24"))?;
            net::ip_in(&vm, &["route", "add", "default", "via", REF_ROUTER])?;
        }
        // The underlay and a vxlan device at each end.
        net::veth(&cmp, "u0", &rtr, "u0")?;
        for (ns, local, remote) in [
            (&cmp, REF_UNDERLAY.0, REF_UNDERLAY.1),
            (&rtr, REF_UNDERLAY.1, REF_UNDERLAY.0),
        ] {
            net::addr_up(ns, "u0", &format!("{local}/24"))?;
            net::ip_in(
                ns,
                &[
                    "link", "add", "vx0", "type", "vxlan", "id", VNI, "local", local, "remote",
                    remote, "dstport", "4789", "dev", "u0",
                ],
            )?;
            if ns == &rtr {
                net::add_bridge(ns, "br0")?;
            }
            net::ip_in(ns, &["link", "set", "vx0", "master", "br0", "up"])?;
        }
        // The network node: a veth into the router, the router's qg0 and eth2 on brex.
        net::veth(&rtr, "qr", &qr, "qr0")?;
        net::ip_in(&rtr, &["link", "set", "qr", "master", "br0", "up"])?;
        net::ip_in(&qr, &["link", "set", "qr0", "mtu", VM_MTU])?;
        net::addr_up(&qr, "qr0", &format!("{REF_ROUTER}/24"))?;
        net::add_bridge(&rtr, "brex")?;
        net::veth(&qr, "qg0", &rtr, "qg")?;
        net::veth(&rtr, "eth2", &ext, "eth0")?;
        for dev in ["qg", "eth2"] {
            net::ip_in(&rtr, &["link", "set", dev, "master", "brex", "up"])?;
        }
        net::addr_up(&qr, "qg0", &format!("{REF_GATEWAY}/24"))?;
        net::ip_in(
            &qr,
            &["addr", "add", &format!("{REF_FIP}/32"), "dev", "qg0"],
        )?;
        net::ip_in(&qr, &["route", "add", "default", "via", EXT_GATEWAY])?;
        net::forward_ipv4(&qr)?;
        net::addr_up(&ext, "eth0", &format!("{EXT_GATEWAY}/24"))?;
        let nft = crate::cmd::run(
            "ip",
            &["netns", "exec", &qr, "nft", "-f", "-"],
            Some(&reference_nat()),
            crate::cmd::CMD_TIMEOUT,
        );
        if !nft.ok() {
            return Err(fail!("the reference's NAT table: {}", nft.describe()));
        }
        Ok(())
    }

    fn remove(&self, lab: &mut Lab) -> Result<()> {
        for s in REF_NAMESPACES.iter().rev() {
            let ns = self.ns(s);
            net::del_netns(&ns)?;
            lab.state.namespaces.retain(|n| *n != ns);
        }
        lab.state.save()
    }

    fn snat(&self) -> Flow {
        Flow {
            server_ns: self.ns("kext"),
            bind: EXT_GATEWAY.into(),
            client_ns: self.ns("kvm2"),
            connect: EXT_GATEWAY.into(),
        }
    }

    fn fip(&self) -> Flow {
        Flow {
            server_ns: self.ns("kvm1"),
            bind: REF_VM1.into(),
            client_ns: self.ns("kext"),
            connect: REF_FIP.into(),
        }
    }
}

/// The lab's two flows: (SNAT: a VM without a floating IP to the outside; in
/// through a floating IP to its VM).
pub(crate) fn lab_flows(lab: &Lab) -> Result<(Flow, Flow)> {
    let ext = lab
        .state
        .external
        .as_ref()
        .ok_or_else(|| fail!("the lab has no external network (lab up builds it)"))?;
    let f = lab
        .state
        .floating_ips
        .first()
        .ok_or_else(|| fail!("the lab has no floating IP"))?;
    let vm = lab.vm(&f.vm)?;
    let snat_vm = lab
        .state
        .vms
        .iter()
        .find(|v| v.tenant == vm.tenant && !lab.state.floating_ips.iter().any(|f| f.vm == v.name))
        .ok_or_else(|| fail!("no VM without a floating IP behind the router"))?;
    Ok((
        Flow {
            server_ns: ext.ns.clone(),
            bind: EXT_GATEWAY.into(),
            client_ns: snat_vm.ns.clone(),
            connect: EXT_GATEWAY.into(),
        },
        Flow {
            server_ns: vm.ns.clone(),
            bind: vm.ip.clone(),
            client_ns: ext.ns.clone(),
            connect: f.address.clone(),
        },
    ))
}

/// Stops a child this bench started (by its own handle), reaping it.
fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One iperf3 run of `secs` seconds over `flow`: Gbps received.
pub fn iperf(flow: &Flow, secs: u32) -> Result<f64> {
    let port = IPERF_PORT.to_string();
    let server = Command::new("ip")
        .args(["netns", "exec", &flow.server_ns, "iperf3", "-s", "-1", "-B"])
        .args([flow.bind.as_str(), "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot start iperf3 in {}: {e}", flow.server_ns))?;
    let t = secs.to_string();
    let until = Instant::now() + Duration::from_secs(10);
    let result = loop {
        std::thread::sleep(Duration::from_millis(200));
        let r = net::run_in(
            &flow.client_ns,
            "iperf3",
            &["-c", &flow.connect, "-p", &port, "-t", &t, "-J"],
            Duration::from_secs(u64::from(secs) + 20),
        );
        match parse_iperf_gbps(&r.stdout) {
            Ok(g) => break Ok(g),
            // The server may not listen yet, or the first SYN waits for ARP.
            Err(e) if Instant::now() >= until => {
                break Err(fail!(
                    "iperf3 {} -> {}: {e} ({})",
                    flow.client_ns,
                    flow.connect,
                    r.describe()
                ));
            }
            Err(_) => {}
        }
    };
    stop(server);
    result
}

/// `bench-l3 throughput`: RUNS runs of SECS seconds per path, alternating.
pub fn bench_throughput(lab: &mut Lab, runs: usize, secs: u32) -> Result<Vec<PathRow>> {
    let (snat, fip) = lab_flows(lab)?;
    let reference = Reference {
        prefix: lab.state.prefix.clone(),
    };
    progress("building the kernel-only reference (bridge + vxlan, nftables NAT)");
    let built = reference.build(lab);
    let result = built.and_then(|()| {
        let mut rows = vec![
            PathRow {
                what: "TCP VM -> outside through SNAT (vm2 -> 10.1.101.254)".into(),
                neutrino: vec![],
                kernel: vec![],
            },
            PathRow {
                what: "TCP outside -> VM through a floating IP".into(),
                neutrino: vec![],
                kernel: vec![],
            },
        ];
        let flows = [(snat, reference.snat()), (fip, reference.fip())];
        for run in 1..=runs {
            for (row, (ours, kernel)) in rows.iter_mut().zip(&flows) {
                progress(format!("run {run}/{runs}: {}", row.what));
                row.neutrino.push(iperf(ours, secs)?);
                row.kernel.push(iperf(kernel, secs)?);
            }
        }
        Ok(rows)
    });
    let removed = reference.remove(lab);
    let rows = result?;
    removed?;
    Ok(rows)
}

/// Prints the rows as a table.
pub fn print_throughput(rows: &[PathRow], runs: usize, secs: u32) {
    println!(
        "one TCP stream (iperf3, {secs} s), median of {runs} runs; reference: kernel bridge + vxlan, \
         nftables NAT in a namespace"
    );
    println!(
        "{:<55} {:>14} {:>12} {:>6}",
        "path", "neutrino Gbps", "kernel Gbps", "ratio"
    );
    for r in rows {
        println!(
            "{:<55} {:>14.2} {:>12.2} {:>6.2}",
            r.what,
            r.neutrino_gbps(),
            r.kernel_gbps(),
            r.ratio()
        );
        println!(
            "    runs: neutrino {:?}  kernel {:?}",
            rounded(&r.neutrino),
            rounded(&r.kernel)
        );
    }
}

fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 100.0).round() / 100.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn iperf_json() {
        let ok = r#"{"start":{},"end":{"sum_sent":{"bits_per_second":9.9e9},
                    "sum_received":{"bits_per_second":1.25e10}}}"#;
        assert!((parse_iperf_gbps(ok).unwrap() - 12.5).abs() < 1e-9);
        let refused = r#"{"start":{},"end":{},"error":"unable to connect to server"}"#;
        let e = parse_iperf_gbps(refused).unwrap_err().to_string();
        assert!(e.contains("unable to connect"), "{e}");
        assert!(parse_iperf_gbps("").is_err());
        assert!(parse_iperf_gbps(r#"{"end":{}}"#).is_err());
    }

    #[test]
    fn the_reference_nat_is_neutrinos_shape() {
        let t = reference_nat();
        assert!(t.starts_with("table ip neutrino {"), "{t}");
        assert!(t.contains("ip daddr 10.1.101.241 dnat to 10.0.0.5"), "{t}");
        assert!(
            t.contains("oifname \"qg0\" ip saddr 10.0.0.5 snat to 10.1.101.241"),
            "{t}"
        );
        assert!(
            t.contains("oifname \"qg0\" ip saddr 10.0.0.0/24 snat to 10.1.101.240"),
            "{t}"
        );
    }

    #[test]
    fn reference_flows() {
        let r = Reference {
            prefix: "bq".into(),
        };
        assert_eq!(
            r.snat(),
            Flow {
                server_ns: "bq-kext".into(),
                bind: "10.1.101.254".into(),
                client_ns: "bq-kvm2".into(),
                connect: "10.1.101.254".into(),
            }
        );
        let f = r.fip();
        assert_eq!(
            (f.server_ns.as_str(), f.bind.as_str()),
            ("bq-kvm1", REF_VM1)
        );
        assert_eq!(
            (f.client_ns.as_str(), f.connect.as_str()),
            ("bq-kext", REF_FIP)
        );
        // Interface names fit IFNAMSIZ; namespaces carry the prefix.
        for s in REF_NAMESPACES {
            assert!(r.ns(s).starts_with("bq-"));
        }
    }
}
