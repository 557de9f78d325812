//! `--config FILE` for the daemons (issue 23): the commented examples in etc/ are
//! accepted whole; the command line and the environment win over the file, the
//! file over the defaults (shown on a running server, on loopback); unknown
//! keys, values of the wrong kind, values the option refuses and TOML errors are
//! one line naming the file and the key, with exit status 2.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_neutrino");

fn etc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc")
        .join(name)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("neutrino-config-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("NEUTRINO_STATE_DIR")
        .env_remove("NEUTRINO_RUN_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_examples_in_etc_are_accepted_whole() {
    for d in ["server", "agent", "switchd"] {
        let f = etc(&format!("{d}.toml"));
        let o = run(&[d, "--config", f.to_str().unwrap(), "--help"]);
        assert!(
            o.status.success(),
            "{d}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("--config <FILE>"));
    }
}

#[test]
fn refusals_are_one_line_naming_the_file_and_key() {
    let dir = scratch("refusals");
    let cases: [(&str, &str, &str); 6] = [
        (
            "agent",
            "colour = 1\n",
            "unknown key 'colour' for `neutrino agent`",
        ),
        (
            "agent",
            "report_interval = \"soon\"\n",
            "key 'report_interval': invalid value 'soon'",
        ),
        (
            "agent",
            "tunnel_types = [\"vxlan\", \"geneve\"]\n",
            "key 'tunnel_types': invalid value 'geneve' for '--tunnel-types <TUNNEL_TYPES>' (possible values: vxlan, gre)",
        ),
        (
            "agent",
            "no_metadata = \"yes\"\n",
            "key 'no_metadata': must be true or false",
        ),
        (
            "server",
            "listen = [\"a\", \"b\"]\n",
            "key 'listen': takes one value, not a list",
        ),
        ("switchd", "run_dir = [1\n", "TOML parse error"),
    ];
    for (i, (daemon, text, says)) in cases.iter().enumerate() {
        let f = dir.join(format!("{i}.toml"));
        std::fs::write(&f, text).unwrap();
        let path = f.to_str().unwrap();
        // Enough on the command line that only the file can be wrong.
        let mut args = vec![*daemon, "--config", path];
        if *daemon == "agent" {
            args.extend(["--server", "http://127.0.0.1:1", "--host", "h"]);
            args.extend(["--tunnel-ip", "192.0.2.1", "--password", "p"]);
        }
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{daemon} {text}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("neutrino: {path}: ")) && err.contains(says),
            "{daemon} {text}: {err}"
        );
    }
    let o = run(&["server", "--config", "/nonexistent/server.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("neutrino: /nonexistent/server.toml: "));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A free port on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed (by PID) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], env: &[(&str, &Path)]) -> Server {
    let mut c = Command::new(BIN);
    c.arg("server")
        .args(args)
        .env_remove("NEUTRINO_STATE_DIR")
        .env_remove("NEUTRINO_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    Server(c.spawn().unwrap())
}

/// Whether a server answers `GET /` on `port` within 20 s.
fn answers(port: u16) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            return r.starts_with("HTTP/1.") && r.contains("versions");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn command_line_and_environment_win_over_the_file() {
    let dir = scratch("server");
    let (file_port, cli_port) = (free_port(), free_port());
    let file_state = dir.join("from-file");
    let env_state = dir.join("from-env");
    let f = dir.join("server.toml");
    std::fs::write(
        &f,
        format!(
            "listen = \"127.0.0.1:{file_port}\"\nstate_dir = \"{}\"\nadmin_password = \"from-file\"\n",
            file_state.display()
        ),
    )
    .unwrap();
    let path = f.to_str().unwrap();

    // The file alone: its address and state directory.
    {
        let _s = start(&["--config", path], &[]);
        assert!(
            answers(file_port),
            "no server on the file's port {file_port}"
        );
        assert!(
            file_state.read_dir().is_ok_and(|mut d| d.next().is_some()),
            "the file's state directory is empty"
        );
    }
    // The command line's --listen and the environment's state directory win.
    let s = start(
        &[
            "--config",
            path,
            "--listen",
            &format!("127.0.0.1:{cli_port}"),
        ],
        &[("NEUTRINO_STATE_DIR", &env_state)],
    );
    assert!(
        answers(cli_port),
        "no server on the command line's port {cli_port}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", file_port)).is_err(),
        "the file's port answered though the command line named another"
    );
    assert!(
        env_state.read_dir().is_ok_and(|mut d| d.next().is_some()),
        "the environment's state directory is empty"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
