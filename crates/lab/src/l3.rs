//! The seeds' L3 story in the lab: the outside world (a namespace holding the
//! external gateway 10.1.101.254 on a veth whose other end is the network node's
//! `eth2`, attached to its br-ex), Ext-Net and Ext-Subnet as the seeds make them
//! (VXLAN segment 1, external, pool .240-.252, gateway .254, no DHCP), a tenant's
//! router with its interface and gateway, a floating IP for a VM, and the checks
//! that traffic really takes that way: a VM reaches the external gateway, the
//! outside sees it come from the router's gateway address (SNAT), and the outside
//! reaches the VM's floating IP by ping and TCP.

use crate::api::Api;
use crate::cmd::Run;
use crate::state::{External, FloatingIp, Router, Tenant, Vm};
use crate::topology::Lab;
use crate::{Result, fail, net, progress};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const EXT_CIDR: &str = "10.1.101.0/24";
pub const EXT_GATEWAY: &str = "10.1.101.254";
const POOL: (&str, &str) = ("10.1.101.240", "10.1.101.252");
/// The network node's device on br-ex, as in the seeds.
pub const EXT_DEV: &str = "eth2";
pub const EXT_BRIDGE: &str = "br-ex";
/// The physical network a flat Ext-Net is on (`LabOptions::flat_external`).
pub const EXT_PHYSNET: &str = "public";

impl Lab {
    /// The outside world and the network node's eth2 on br-ex.
    pub fn add_outside(&mut self) -> Result<String> {
        let node = self
            .state
            .nodes
            .iter()
            .find(|n| n.roles.iter().any(|r| r == "network"))
            .cloned()
            .ok_or_else(|| fail!("the lab has no network node"))?;
        let ext = format!("{}-ext", self.state.prefix);
        self.adopt_ns(&ext)?;
        net::veth(&node.ns, EXT_DEV, &ext, "eth0")?;
        net::addr_up(&ext, "eth0", &format!("{EXT_GATEWAY}/24"))?;
        net::ip_in(&node.ns, &["link", "set", EXT_DEV, "up"])?;
        // eth2 stands in for a NIC, and NICs merge what they receive (GRO); a veth
        // does not by default, and switchd would take the outside's TCP one
        // segment at a time through AF_PACKET.
        let gro = net::run_in(
            &node.ns,
            "ethtool",
            &["-K", EXT_DEV, "gro", "on"],
            crate::cmd::CMD_TIMEOUT,
        );
        if !gro.ok() {
            progress(format!(
                "warning: GRO stays off on {EXT_DEV}: {}",
                gro.describe()
            ));
        }
        // The operator's part: the bridge and the NIC on it (the agent adds the
        // routers' qg- devices beside it).
        // The agent makes br-ex itself when a bridge mapping names it; it may be
        // doing so right now.
        let has_bridge = |lab: &Lab| {
            lab.switch(&node.name, &["show"])
                .map(|s| {
                    s.lines()
                        .any(|l| l.trim() == format!("Bridge {EXT_BRIDGE}"))
                })
                .unwrap_or(false)
        };
        if !has_bridge(self)
            && let Err(e) = self.switch(&node.name, &["add-br", EXT_BRIDGE])
            && !has_bridge(self)
        {
            return Err(e);
        }
        self.switch(
            &node.name,
            &["add-port", EXT_BRIDGE, EXT_DEV, "--type", "system"],
        )?;
        Ok(ext)
    }

    /// The outside world and Ext-Net with its subnet, as the seeds' admin makes
    /// them (first: Ext-Net takes VXLAN segment 1 before any tenant network).
    pub fn add_external(&mut self, flat: bool) -> Result<()> {
        progress("creating the outside world (10.1.101.254) and the network node's eth2 on br-ex");
        let ns = self.add_outside()?;
        if flat {
            progress(
                "creating Ext-Net (flat on physnet public, mapped to br-ex) and Ext-Subnet 10.1.101.0/24",
            );
        } else {
            progress("creating Ext-Net (VXLAN 1, external) and Ext-Subnet 10.1.101.0/24");
        }
        let (network_id, subnet_id) = self.api.create_external_network(flat)?;
        self.state.external = Some(External {
            ns,
            network_id,
            subnet_id,
        });
        self.state.save()
    }

    /// The tenant's router to Ext-Net and a floating IP for `vm`, made through the
    /// API as the seeds do; waits until the agents have wired them.
    pub fn add_router(&mut self, tenant: &str, vm: &str) -> Result<()> {
        let network_id = self
            .state
            .external
            .as_ref()
            .map(|e| e.network_id.clone())
            .ok_or_else(|| fail!("the lab has no external network"))?;
        let t = self.tenant(tenant)?;
        let name = format!("{tenant}-R1");
        progress(format!(
            "creating {name}: interface on {tenant}-Subnet, gateway on Ext-Net"
        ));
        let r = self.api.create_router(&t, &name, &network_id)?;
        self.state.routers.push(r.clone());
        self.state.save()?;
        let v = self.vm(vm)?;
        progress(format!("floating IP for {vm}"));
        let f = self.api.create_floating_ip(&t, &network_id, &v)?;
        self.state.floating_ips.push(f.clone());
        self.state.save()?;
        progress("waiting for the router's ports and the floating IP to go ACTIVE");
        self.api
            .wait_router_active(&r.id, Duration::from_secs(30))?;
        self.api
            .wait_floating_ip(&f.id, "ACTIVE", Duration::from_secs(30))?;
        Ok(())
    }
}

/// The L3 checks `lab up` and `lab status` make: (what, passed, detail).
pub fn checks(lab: &Lab) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let Some(ext) = &lab.state.external else {
        return out;
    };
    for r in &lab.state.routers {
        let vm = lab.state.vms.iter().find(|v| {
            v.tenant == r.tenant && !lab.state.floating_ips.iter().any(|f| f.vm == v.name)
        });
        if let Some(vm) = vm {
            let p = net::ping(&vm.ns, EXT_GATEWAY, 3, &[]);
            out.push((
                format!("{} -> {EXT_GATEWAY} (through {})", vm.name, r.name),
                p.ok(),
                summary(&p),
            ));
            match tcp_probe(&ext.ns, EXT_GATEWAY, 8711, &vm.ns, EXT_GATEWAY) {
                Ok(peer) => out.push((
                    format!("{} seen from outside as", vm.name),
                    peer == r.gateway_ip,
                    format!("{peer} (the router's gateway address is {})", r.gateway_ip),
                )),
                Err(e) => out.push((
                    format!("{} seen from outside as", vm.name),
                    false,
                    e.to_string(),
                )),
            }
        }
    }
    for f in &lab.state.floating_ips {
        let p = net::ping(&ext.ns, &f.address, 3, &[]);
        out.push((
            format!("outside -> {} ({}'s floating IP)", f.address, f.vm),
            p.ok(),
            summary(&p),
        ));
        if let Some(vm) = lab.state.vms.iter().find(|v| v.name == f.vm) {
            match tcp_probe(&vm.ns, "0.0.0.0", 8713, &ext.ns, &f.address) {
                Ok(peer) => out.push((
                    format!("TCP outside -> {}:8713 reaches {}", f.address, vm.name),
                    peer == EXT_GATEWAY,
                    format!("{} saw the connection from {peer}", vm.name),
                )),
                Err(e) => out.push((
                    format!("TCP outside -> {}", f.address),
                    false,
                    e.to_string(),
                )),
            }
        }
    }
    out
}

fn summary(r: &Run) -> String {
    r.stdout
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .map(str::to_string)
        .unwrap_or_else(|| r.describe())
}

const SERVER_PY: &str = "import socket,sys\n\
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(15)\n\
print('listening', flush=True)\n\
c,a=s.accept(); print(a[0], flush=True)\n";

const CLIENT_PY: &str = "import socket,sys\n\
socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close()\n";

/// A one-shot TCP server in `server_ns` on `listen:port`, a client in `client_ns`
/// connecting to `connect:port`: the peer address the server saw.
fn tcp_probe(
    server_ns: &str,
    listen: &str,
    port: u16,
    client_ns: &str,
    connect: &str,
) -> Result<String> {
    let p = port.to_string();
    let mut server = std::process::Command::new("ip")
        .args([
            "netns", "exec", server_ns, "python3", "-c", SERVER_PY, listen, &p,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot start a TCP server in {server_ns}: {e}"))?;
    let stdout = server
        .stdout
        .take()
        .ok_or_else(|| fail!("no server output"))?;
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
            .collect::<Vec<String>>()
    });
    // Wait for it to listen, then connect (a few tries: the first SYN may wait
    // for ARP across the router).
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let r = net::run_in(
            client_ns,
            "python3",
            &["-c", CLIENT_PY, connect, &p],
            Duration::from_secs(8),
        );
        if r.ok() {
            break;
        }
        if Instant::now() >= until {
            let _ = server.kill();
            let _ = server.wait();
            return Err(fail!(
                "TCP {connect}:{port} from {client_ns} failed: {}",
                r.describe()
            ));
        }
    }
    let _ = server.wait();
    let seen = lines.join().unwrap_or_default();
    seen.iter()
        .find(|l| *l != "listening")
        .cloned()
        .ok_or_else(|| fail!("the server in {server_ns} saw no connection"))
}

impl Api {
    /// Ext-Net and Ext-Subnet, as the seeds' admin makes them.
    /// Flat on physnet `public` when `flat`, else the seeds' VXLAN segment 1.
    pub fn create_external_network(&self, flat: bool) -> Result<(String, String)> {
        let provider = if flat {
            json!({"provider:network_type": "flat", "provider:physical_network": EXT_PHYSNET})
        } else {
            json!({"provider:network_type": "vxlan", "provider:segmentation_id": 1})
        };
        self.with(self.admin(), move |c| async move {
            let mut net = json!({"name": "Ext-Net", "router:external": true});
            if let (Some(n), Some(p)) = (net.as_object_mut(), provider.as_object()) {
                n.extend(p.clone());
            }
            let n = c
                .post("/v2.0/networks", &json!({ "network": net }))
                .await
                .map_err(|e| fail!("API: {e}"))?;
            let nid = id_of(&n["network"])?;
            let s = c
                .post(
                    "/v2.0/subnets",
                    &json!({"subnet": {"name": "Ext-Subnet", "network_id": nid, "ip_version": 4,
                        "cidr": EXT_CIDR, "gateway_ip": EXT_GATEWAY, "enable_dhcp": false,
                        "allocation_pools": [{"start": POOL.0, "end": POOL.1}]}}),
                )
                .await
                .map_err(|e| fail!("API: {e}"))?;
            Ok((nid, id_of(&s["subnet"])?))
        })
    }

    /// The tenant's router: created by its user, an interface on the tenant's
    /// subnet, its gateway on `ext`.
    pub fn create_router(&self, t: &Tenant, name: &str, ext: &str) -> Result<Router> {
        let (name, subnet, ext, tenant) = (
            name.to_string(),
            t.subnet_id.clone(),
            ext.to_string(),
            t.name.clone(),
        );
        self.with(self.user(t), move |c| async move {
            let r = c
                .post("/v2.0/routers", &json!({"router": {"name": name}}))
                .await
                .map_err(|e| fail!("API: {e}"))?;
            let id = id_of(&r["router"])?;
            c.put(
                &format!("/v2.0/routers/{id}/add_router_interface"),
                &json!({"subnet_id": subnet}),
            )
            .await
            .map_err(|e| fail!("API: {e}"))?;
            let r = c
                .put(
                    &format!("/v2.0/routers/{id}"),
                    &json!({"router": {"external_gateway_info": {"network_id": ext}}}),
                )
                .await
                .map_err(|e| fail!("API: {e}"))?;
            let gateway_ip =
                r["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            Ok(Router {
                name,
                id,
                tenant,
                gateway_ip,
            })
        })
    }

    /// A floating IP on `ext` for the VM's port, made by the VM's user.
    pub fn create_floating_ip(&self, t: &Tenant, ext: &str, vm: &Vm) -> Result<FloatingIp> {
        let (ext, port, name) = (ext.to_string(), vm.port_id.clone(), vm.name.clone());
        self.with(self.user(t), move |c| async move {
            let f = c
                .post(
                    "/v2.0/floatingips",
                    &json!({"floatingip": {"floating_network_id": ext, "port_id": port}}),
                )
                .await
                .map_err(|e| fail!("API: {e}"))?;
            Ok(FloatingIp {
                id: id_of(&f["floatingip"])?,
                address: f["floatingip"]["floating_ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                vm: name,
            })
        })
    }

    fn get_admin(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let path = path.to_string();
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.with(self.admin(), move |c| async move {
            let q: Vec<(&str, &str)> = query
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            c.get(&path, &q).await.map_err(|e| fail!("API: {e}"))
        })
    }

    /// Waits until every port of router `id` is ACTIVE.
    pub fn wait_router_active(&self, id: &str, within: Duration) -> Result<()> {
        let until = Instant::now() + within;
        loop {
            let ports = self.get_admin("/v2.0/ports", &[("device_id", id)]);
            let statuses: Vec<String> = ports
                .as_ref()
                .map(|p| {
                    p["ports"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|p| p["status"].as_str().unwrap_or("?").to_string())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            if !statuses.is_empty() && statuses.iter().all(|s| s == "ACTIVE") {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(fail!(
                    "router {id}'s ports did not all go ACTIVE: {statuses:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Waits until floating IP `id` has `status`.
    pub fn wait_floating_ip(&self, id: &str, status: &str, within: Duration) -> Result<()> {
        let until = Instant::now() + within;
        loop {
            let f = self.get_admin(&format!("/v2.0/floatingips/{id}"), &[]);
            let now = f
                .as_ref()
                .map(|f| {
                    f["floatingip"]["status"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string()
                })
                .unwrap_or_else(|e| e.to_string());
            if now == status {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(fail!(
                    "floating IP {id} did not become {status} (it is {now})"
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn id_of(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| fail!("the API answer lacks an id: {v}"))
}
