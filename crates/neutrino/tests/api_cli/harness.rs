//! The API tests' harness: a `neutrino server` of its own on a free loopback port
//! (killed by PID and its state dir removed by the guard), plain HTTP probes, and
//! the CLI run as a user with OS_* credentials.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_neutrino");
pub const ADMIN_PASSWORD: &str = "admin-secret";
pub const OS_VARS: [&str; 8] = [
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_CLOUD",
    "OS_TOKEN",
];

pub static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// One HTTP GET with std only: the status line, or None if nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.lines().next().map(str::to_string)
}

/// One HTTP/1.0 request with std only: (status, headers, body).
pub fn http(
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
    pub fn admin_token(&self) -> String {
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
    pub fn register_agent(&self, host: &str) {
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

    pub fn start() -> Server {
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}/v3", self.port)
    }

    pub fn admin(&self) -> Creds {
        Creds::new(&self.auth_url(), "admin", ADMIN_PASSWORD, "admin")
    }
}

#[derive(Clone)]
pub struct Creds {
    pub auth_url: String,
    pub user: String,
    pub password: String,
    pub project: String,
}

impl Creds {
    pub fn new(auth_url: &str, user: &str, password: &str, project: &str) -> Creds {
        Creds {
            auth_url: auth_url.into(),
            user: user.into(),
            password: password.into(),
            project: project.into(),
        }
    }
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub args: String,
}

impl Run {
    pub fn ok(self) -> String {
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
    pub fn quiet(self) {
        let args = self.args.clone();
        assert_eq!(self.ok(), "", "`neutrino {args}` printed on stdout");
    }

    /// A failure with exactly one line `neutrino: ...` on stderr; returns it.
    pub fn fails(self) -> String {
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
    pub fn fails_with(self, part: &str) {
        let e = self.fails();
        assert!(e.contains(part), "{e}");
    }

    /// Exit code 1 with each of `parts` on stderr (any number of lines).
    pub fn fails_mentioning(self, parts: &[&str]) {
        assert_eq!(self.code, Some(1), "{}", self.stderr);
        for part in parts {
            assert!(self.stderr.contains(part), "{}", self.stderr);
        }
    }

    pub fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// A command line's words: split at white space, except inside '...'.
pub fn words(line: &str) -> Vec<String> {
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
pub fn cli(creds: Option<&Creds>, line: &str) -> Run {
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
pub fn sorted_lines(s: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = s.lines().collect();
    lines.sort_unstable();
    lines
}

/// The `id` of a resource printed with `-f json`.
pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Admin creates the external network and its subnet, as in the seeds.
pub fn create_ext_net(admin: &Creds) -> (String, String) {
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
pub fn create_tenant(admin: &Creds, s: &Server) -> Creds {
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
