//! The openstack-style API commands against a real `neutrino server` on
//! 127.0.0.1 (SQLite in a temporary state dir). No root, no namespaces.
//!
//! Each test starts its own server on a free port; the guard kills it by PID
//! and removes its state dir, also when the test panics.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_neutrino");
const ADMIN_PASSWORD: &str = "admin-secret";
const OS_VARS: [&str; 8] = [
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_CLOUD",
    "OS_TOKEN",
];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// One HTTP GET with std only: the status line, or None if nothing answers.
fn http_status(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.lines().next().map(str::to_string)
}

/// One HTTP/1.0 request with std only: (status, headers, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("X-Auth-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

impl Server {
    /// An admin token, straight from the identity API.
    fn admin_token(&self) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let (status, head, _) = http(
            self.port,
            "POST",
            "/v3/auth/tokens",
            None,
            &body.to_string(),
        );
        assert_eq!(status, 201, "{head}");
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-subject-token")
                    .then(|| v.trim().to_string())
            })
            .expect("X-Subject-Token")
    }

    /// Registers an L2 agent on `host` the way `neutrino agent` does.
    fn register_agent(&self, host: &str) {
        let token = self.admin_token();
        let report = serde_json::json!({"host": host, "agent_type": "Open vSwitch agent",
            "binary": "neutrino-agent", "tunneling_ip": "192.168.100.11",
            "tunnel_types": ["vxlan"], "bridge_mappings": {}, "roles": ["compute"],
            "report_interval_secs": 10});
        let (status, _, body) = http(
            self.port,
            "POST",
            "/agent-api/v1/agents",
            Some(&token),
            &report.to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }

    fn start() -> Server {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("neutrino-api-cli-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create state dir");
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let port = free_port();
        let child = Command::new(BIN)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(&dir)
            .args(["--admin-password", ADMIN_PASSWORD])
            .env("NEUTRINO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn neutrino server");
        let mut server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = http_status(port, "/v3")
                && line.contains(" 200")
            {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("server exited with {status}: {}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not answer within 30 s: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}/v3", self.port)
    }

    fn admin(&self) -> Creds {
        Creds::new(&self.auth_url(), "admin", ADMIN_PASSWORD, "admin")
    }
}

#[derive(Clone)]
struct Creds {
    auth_url: String,
    user: String,
    password: String,
    project: String,
}

impl Creds {
    fn new(auth_url: &str, user: &str, password: &str, project: &str) -> Creds {
        Creds {
            auth_url: auth_url.into(),
            user: user.into(),
            password: password.into(),
            project: project.into(),
        }
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    args: String,
}

impl Run {
    fn ok(self) -> String {
        assert_eq!(
            self.code,
            Some(0),
            "`neutrino {}` failed: {}{}",
            self.args,
            self.stderr,
            self.stdout
        );
        self.stdout
    }

    /// Succeeds and prints nothing.
    fn quiet(self) {
        let args = self.args.clone();
        assert_eq!(self.ok(), "", "`neutrino {args}` printed on stdout");
    }

    /// A failure with exactly one line `neutrino: ...` on stderr; returns it.
    fn fails(self) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "`neutrino {}` should fail with 1; stdout: {}",
            self.args,
            self.stdout
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "`neutrino {}` stderr: {}",
            self.args,
            self.stderr
        );
        assert!(lines[0].starts_with("neutrino: "), "{}", self.stderr);
        assert_eq!(
            self.stdout, "",
            "`neutrino {}` printed on stdout",
            self.args
        );
        lines[0].to_string()
    }

    /// A one-line failure (see `fails`) that mentions `part`.
    fn fails_with(self, part: &str) {
        let e = self.fails();
        assert!(e.contains(part), "{e}");
    }

    /// Exit code 1 with each of `parts` on stderr (any number of lines).
    fn fails_mentioning(self, parts: &[&str]) {
        assert_eq!(self.code, Some(1), "{}", self.stderr);
        for part in parts {
            assert!(self.stderr.contains(part), "{}", self.stderr);
        }
    }

    fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// A command line's words: split at white space, except inside '...'.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut word: Option<String> = None;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => out.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// Runs `neutrino LINE` (see `words`) with `creds` as OS_* variables (none
/// inherited from the test's env).
fn cli(creds: Option<&Creds>, line: &str) -> Run {
    let args = words(line);
    let mut cmd = Command::new(BIN);
    cmd.args(&args).stdin(Stdio::null());
    for v in OS_VARS {
        cmd.env_remove(v);
    }
    if let Some(c) = creds {
        cmd.env("OS_AUTH_URL", &c.auth_url)
            .env("OS_USERNAME", &c.user)
            .env("OS_PASSWORD", &c.password)
            .env("OS_PROJECT_NAME", &c.project);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run neutrino");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        args: args.join(" "),
    }
}

/// The lines of `s`, sorted.
fn sorted_lines(s: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = s.lines().collect();
    lines.sort_unstable();
    lines
}

/// The `id` of a resource printed with `-f json`.
fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Admin creates the external network and its subnet, as in the seeds.
fn create_ext_net(admin: &Creds) -> (String, String) {
    let a = Some(admin);
    let net = cli(
        a,
        "network create Ext-Net --external --provider-network-type vxlan --provider-segment 1 \
         -f json",
    )
    .json();
    assert_eq!(net["name"], "Ext-Net");
    assert_eq!(net["router:external"], true);
    assert_eq!(net["provider:network_type"], "vxlan");
    assert_eq!(net["provider:segmentation_id"], 1);
    assert_eq!(net["mtu"], 1450);
    let subnet = cli(
        a,
        "subnet create Ext-Subnet --network Ext-Net --subnet-range 10.1.101.0/24 \
         --allocation-pool start=10.1.101.240,end=10.1.101.252 --gateway 10.1.101.254 \
         --no-dhcp -f json",
    )
    .json();
    assert_eq!(subnet["cidr"], "10.1.101.0/24");
    assert_eq!(subnet["gateway_ip"], "10.1.101.254");
    assert_eq!(subnet["enable_dhcp"], false);
    assert_eq!(subnet["network_id"], net["id"]);
    assert_eq!(
        subnet["allocation_pools"],
        serde_json::json!([{"start": "10.1.101.240", "end": "10.1.101.252"}])
    );
    (id(&net), id(&subnet))
}

/// Admin creates TenantA and UserA (member of TenantA).
fn create_tenant(admin: &Creds, s: &Server) -> Creds {
    let a = Some(admin);
    let pid = cli(a, "project create TenantA -f value -c id").ok();
    let pid = pid.trim();
    assert_eq!(pid.len(), 36, "project id: {pid}");
    let user = cli(
        a,
        "user create --project TenantA --password password --email usera@example.com UserA \
         -f json",
    )
    .json();
    assert_eq!(user["name"], "UserA");
    assert_eq!(user["email"], "usera@example.com");
    assert_eq!(user["default_project_id"], pid);
    cli(a, "role add --project TenantA --user UserA member").quiet();
    let assignments = cli(a, "role assignment list --user UserA --names -f value").ok();
    assert_eq!(assignments.trim(), "member UserA@Default TenantA@Default");
    let projects = cli(a, "project list -f value -c Name").ok();
    assert_eq!(sorted_lines(&projects), ["TenantA", "admin"]);
    Creds::new(&s.auth_url(), "UserA", "password", "TenantA")
}

#[test]
fn seeds_scenario_through_the_cli() {
    let s = Server::start();
    let admin = s.admin();
    let (ext_net, ext_subnet) = create_ext_net(&admin);
    let user = create_tenant(&admin, &s);
    let u = Some(&user);

    // Admin's private network stays hidden; external networks are visible to all.
    cli(Some(&admin), "network create admin-private").ok();
    let visible = cli(u, "network list -f value -c Name").ok();
    assert_eq!(visible, "Ext-Net\n", "UserA sees only the external network");
    let e = cli(u, "network show admin-private").fails();
    assert_eq!(e, "neutrino: No Network found for admin-private");

    let net = cli(u, "network create TenantA-Net -f json").json();
    let net_id = id(&net);
    assert_eq!(net["router:external"], false);
    let sub = cli(
        u,
        "subnet create TenantA-Subnet --network TenantA-Net --subnet-range 10.0.0.0/24 \
         --dns-nameserver 8.8.8.8 -f json -c id -c gateway_ip -c dns_nameservers",
    )
    .json();
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(sub["dns_nameservers"], serde_json::json!(["8.8.8.8"]));
    assert_eq!(sub.as_object().map(|m| m.len()), Some(3), "{sub}");
    let sub_id = id(&sub);

    // network list: one row, with the subnet.
    let list = cli(u, "network list --internal -f json").json();
    assert_eq!(
        list,
        serde_json::json!([{"ID": net_id, "Name": "TenantA-Net", "Subnets": [sub_id]}])
    );
    let table = cli(u, "network list --internal").ok();
    assert!(table.starts_with("+---"), "{table}");
    assert!(table.contains("| ID "), "{table}");
    assert!(
        table.contains(&format!("| {net_id} | TenantA-Net | {sub_id} |")),
        "{table}"
    );
    let subnets = cli(u, "subnet list --network TenantA-Net -f value").ok();
    assert_eq!(
        subnets.trim(),
        format!("{sub_id} TenantA-Subnet {net_id} 10.0.0.0/24")
    );

    // Router with the subnet and Ext-Net as gateway.
    let r = cli(u, "router create TenantA-R1 -f value -c name").ok();
    assert_eq!(r, "TenantA-R1\n");
    cli(u, "router add subnet TenantA-R1 TenantA-Subnet").quiet();
    // A member names Ext-Net by ID (it cannot see it by name).
    cli(
        u,
        &format!("router set TenantA-R1 --external-gateway {ext_net}"),
    )
    .quiet();
    let router = cli(u, "router show TenantA-R1 -f json").json();
    let gw = &router["external_gateway_info"];
    assert_eq!(gw["network_id"], ext_net.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(
        gw["external_fixed_ips"][0]["subnet_id"],
        ext_subnet.as_str()
    );
    let gw_ip = gw["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("gateway ip")
        .to_string();
    assert!(gw_ip.starts_with("10.1.101."), "{gw_ip}");
    assert_eq!(router["interfaces_info"][0]["ip_address"], "10.0.0.1");
    assert_eq!(router["interfaces_info"][0]["subnet_id"], sub_id.as_str());
    let routers = cli(u, "router list -f value -c Name -c State").ok();
    assert_eq!(routers, "TenantA-R1 UP\n");

    // A port with a fixed IP by subnet name; list/show with -c.
    let port = cli(
        u,
        "port create vm1-port --network TenantA-Net \
         --fixed-ip subnet=TenantA-Subnet,ip-address=10.0.0.10 \
         --device-owner compute:nova --device-id vm1 -f json",
    )
    .json();
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.0.0.10");
    assert_eq!(port["device_owner"], "compute:nova");
    let mac = port["mac_address"].as_str().expect("mac").to_string();
    assert!(mac.starts_with("fa:16:3e:"), "{mac}");
    let ports = cli(
        u,
        "port list --device-id vm1 -f value -c Name -c 'MAC Address'",
    )
    .ok();
    assert_eq!(ports, format!("vm1-port {mac}\n"));
    let shown = cli(u, "port show vm1-port -f value -c fixed_ips").ok();
    assert_eq!(
        shown.trim(),
        format!("ip_address='10.0.0.10', subnet_id='{sub_id}'")
    );
    let all_ports = cli(u, "port list --network TenantA-Net -f json").json();
    assert_eq!(all_ports.as_array().map(Vec::len), Some(2), "{all_ports}");

    // Floating IP from the pool, associated at creation; then unset and set again.
    let fip = cli(
        u,
        &format!("floating ip create {ext_net} --port vm1-port -f json"),
    )
    .json();
    let fip_addr = fip["floating_ip_address"]
        .as_str()
        .expect("fip")
        .to_string();
    let last: u8 = fip_addr
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .expect("octet");
    assert!(
        fip_addr.starts_with("10.1.101.") && (240..=252).contains(&last),
        "{fip_addr}"
    );
    assert_eq!(fip["fixed_ip_address"], "10.0.0.10");
    assert_eq!(fip["port_id"], port["id"]);
    cli(u, &format!("floating ip unset --port {fip_addr}")).quiet();
    let f = cli(u, &format!("floating ip show {fip_addr} -f json")).json();
    assert_eq!(f["port_id"], Value::Null);
    cli(u, &format!("floating ip set --port vm1-port {fip_addr}")).quiet();
    let fips = cli(
        u,
        "floating ip list -f value -c 'Floating IP Address' -c 'Fixed IP Address'",
    )
    .ok();
    assert_eq!(fips, format!("{fip_addr} 10.0.0.10\n"));

    // Security group rule on the project's default group.
    let rule = cli(
        u,
        "security group rule create --protocol icmp default -f json",
    )
    .json();
    assert_eq!(rule["protocol"], "icmp");
    assert_eq!(rule["direction"], "ingress");
    assert_eq!(rule["remote_ip_prefix"], "0.0.0.0/0");
    let ssh = cli(
        u,
        "security group rule create default --protocol tcp --dst-port 22 -f value -c id",
    )
    .ok();
    let rules = cli(u, "security group rule list default -f json").json();
    let rules = rules.as_array().expect("rules");
    assert!(
        rules
            .iter()
            .any(|r| r["IP Protocol"] == "icmp" && r["IP Range"] == "0.0.0.0/0"),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["ID"] == ssh.trim() && r["Port Range"] == "22:22"),
        "{rules:?}"
    );
    let groups = cli(u, "security group list -f value -c Name").ok();
    assert_eq!(groups, "default\n");

    // Deletes in the wrong order are 409s (one line, exit 1); the right order works.
    cli(u, "network delete TenantA-Net").fails_with("409 NetworkInUse");
    cli(u, "router delete TenantA-R1").fails_with("409");
    cli(u, &format!("floating ip delete {fip_addr}")).ok();
    cli(u, "port delete vm1-port").ok();
    cli(u, "router unset --external-gateway TenantA-R1").ok();
    cli(u, "router remove subnet TenantA-R1 TenantA-Subnet").ok();
    cli(u, "router delete TenantA-R1").ok();
    cli(u, "subnet delete TenantA-Subnet").ok();
    cli(u, "network delete TenantA-Net").ok();
    cli(u, "network list --internal -f value").quiet();
    cli(u, "floating ip list -f value").quiet();

    // Admin still sees its external network, and UserA's delete left it alone.
    let nets = cli(Some(&admin), "network list -f value -c Name").ok();
    assert_eq!(sorted_lines(&nets), ["Ext-Net", "admin-private"]);
}

#[test]
fn tenancy_show_set_and_agents() {
    let s = Server::start();
    let admin = s.admin();
    let a = Some(&admin);
    let admin_net = cli(a, "network create admin-net -f value -c id").ok();
    let admin_net = admin_net.trim().to_string();
    let user = create_tenant(&admin, &s);
    let u = Some(&user);

    // The member sees neither admin's network by name nor by ID.
    let e = cli(u, "network show admin-net").fails();
    assert_eq!(e, "neutrino: No Network found for admin-net");
    let e = cli(u, &format!("network show {admin_net}")).fails();
    assert_eq!(e, format!("neutrino: No Network found for {admin_net}"));
    // ... and may not set provider attributes.
    cli(u, "network create x --provider-network-type vxlan").fails_with("403 PolicyNotAuthorized");
    // Agents are admin-only.
    cli(u, "network agent list").fails_with("403");
    assert_eq!(
        cli(a, "network agent list -f json").json(),
        serde_json::json!([])
    );
    cli(a, "network agent show nope").fails_with("No Agent found for nope");
    s.register_agent("compute1");
    let agents = cli(a, "network agent list -f json").json();
    let agent_id = agents[0]["ID"].as_str().expect("agent id").to_string();
    assert_eq!(agents[0]["Host"], "compute1");
    assert_eq!(agents[0]["Agent Type"], "Open vSwitch agent");
    assert_eq!(agents[0]["Alive"], true);
    assert_eq!(agents[0]["State"], true);
    let row = cli(
        a,
        "network agent list --host compute1 -f value -c Host -c Alive -c State -c Binary",
    )
    .ok();
    assert_eq!(row, "compute1 :-) UP neutrino-agent\n");
    cli(a, &format!("network agent set {agent_id} --disable")).ok();
    let table = cli(a, "network agent list").ok();
    assert!(table.contains("| :-)   | DOWN  |"), "{table}");
    let shown = cli(
        a,
        &format!("network agent show {agent_id} -f json -c configurations"),
    )
    .json();
    assert_eq!(shown["configurations"]["tunneling_ip"], "192.168.100.11");
    cli(a, &format!("network agent delete {agent_id}")).ok();
    cli(a, "network agent list -f value").quiet();

    // Shared networks are visible to all; set renames and shares.
    cli(a, "network set admin-net --share --name shared-net").ok();
    let seen = cli(u, "network list -f value -c Name").ok();
    assert_eq!(seen, "shared-net\n");
    let shown = cli(u, "network show shared-net -f value -c shared -c id").ok();
    assert_eq!(shown, format!("{admin_net}\nTrue\n"));

    // Show as a Field/Value table.
    let table = cli(a, "network show shared-net -c name -c admin_state_up").ok();
    assert!(table.contains("| Field"), "{table}");
    assert!(table.contains("| admin_state_up | UP "), "{table}");
    assert!(table.contains("| name           | shared-net "), "{table}");

    // Duplicate names: ambiguous for lookup.
    cli(u, "network create dup").ok();
    cli(u, "network create dup").ok();
    let e = cli(u, "network show dup").fails();
    assert_eq!(
        e,
        "neutrino: More than one Network exists with the name 'dup'."
    );

    // Port binding set by admin; list by host.
    cli(u, "network create pnet").ok();
    cli(
        u,
        "subnet create psub --network pnet --subnet-range 192.0.2.0/24",
    )
    .ok();
    cli(u, "port create p1 --network pnet").ok();
    cli(u, "port set p1 --host compute1").fails_with("403");
    cli(a, "port set p1 --host compute1 --device-id vm-x").ok();
    let by_host = cli(a, "port list --host compute1 -f value -c Name").ok();
    assert_eq!(by_host, "p1\n");
    let host = cli(a, "port show p1 -f value -c binding:host_id").ok();
    assert_eq!(host, "compute1\n");

    // Identity listing and deleting.
    let users = cli(a, "user list -f value -c Name").ok();
    assert_eq!(sorted_lines(&users), ["UserA", "admin"]);
    cli(a, "user create tmp --password x").ok();
    cli(a, "user delete tmp").ok();
    let e = cli(a, "user show tmp").fails();
    assert_eq!(e, "neutrino: No User found for tmp");
    cli(a, "project create Scratch").ok();
    cli(a, "project delete Scratch").ok();
}

#[test]
fn errors_are_one_line() {
    // No OS_AUTH_URL: a configuration error before any request.
    let e = cli(None, "network list").fails();
    assert!(e.starts_with("neutrino: OS_AUTH_URL is not set"), "{e}");

    // Nothing listening: a transport error.
    let closed = format!("http://127.0.0.1:{}/v3", free_port());
    let closed = Creds::new(&closed, "admin", "x", "admin");
    cli(Some(&closed), "network list").fails_with("cannot connect to");

    let s = Server::start();
    let admin = s.admin();
    let a = Some(&admin);

    // Flags override the environment.
    cli(
        None,
        &format!(
            "network list --os-auth-url {} --os-username admin --os-password {ADMIN_PASSWORD} \
             --os-project-name admin",
            s.auth_url()
        ),
    )
    .quiet();

    // Wrong password: a login failure.
    let mut bad = admin.clone();
    bad.password = "wrong".into();
    let e = cli(Some(&bad), "network list").fails();
    assert!(e.contains("login as admin") && e.contains("401"), "{e}");

    // Unknown names.
    let e = cli(a, "network show no-such-net").fails();
    assert_eq!(e, "neutrino: No Network found for no-such-net");
    let e = cli(
        a,
        "subnet create s --network no-such-net --subnet-range 10.9.0.0/24",
    )
    .fails();
    assert_eq!(e, "neutrino: No Network found for no-such-net");
    cli(a, "role add member --project nope --user admin").fails_with("No Project found for nope");

    // Server-side validation comes back as "<status> <type>: <message>".
    cli(a, "network create n1").ok();
    let e = cli(
        a,
        "subnet create s1 --network n1 --subnet-range 10.9.0.0/33",
    )
    .fails();
    assert!(e.starts_with("neutrino: 400 "), "{e}");

    // 409 on deleting a network in use.
    cli(
        a,
        "subnet create s1 --network n1 --subnet-range 10.9.0.0/24",
    )
    .ok();
    cli(a, "port create p1 --network n1").ok();
    let e = cli(a, "network delete n1").fails();
    assert!(e.contains("409 NetworkInUse"), "{e}");
    assert!(e.contains("'n1'"), "{e}");

    // Deleting several: every failure reported, then a summary; exit 1.
    cli(a, "network delete n1 nope").fails_mentioning(&[
        "NetworkInUse",
        "No Network found for nope",
        "2 of 2 networks failed to delete.",
    ]);

    // Unknown columns.
    cli(a, "network list -c Bogus").fails_with("No recognized column names");

    // Malformed key=value options fail before any request is made.
    cli(
        a,
        "subnet create s --network n1 --subnet-range 10.9.0.0/24 --allocation-pool start=10.9.0.5",
    )
    .fails_mentioning(&["start=IP,end=IP"]);
}

#[test]
fn command_lines_split_into_words() {
    assert_eq!(words("  a  b "), ["a", "b"]);
    assert_eq!(
        words("-c 'MAC Address' -c id ''"),
        ["-c", "MAC Address", "-c", "id", ""]
    );
}
