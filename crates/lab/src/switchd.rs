//! `neutrino switchd` as the lab, the tests and the benches run it: started inside a
//! host's namespace (through [`crate::procs`], so stopped by PID only while its
//! command line still names its run directory), waited for on its control socket
//! (`switch_proto::Client`), and driven with the `neutrino switch` CLI, whose output
//! operators and tests read.

use crate::cmd::{self, Run};
use crate::{Result, fail, procs};
use std::path::Path;
use std::time::{Duration, Instant};
use switch_proto::{Client, Request, Response};

/// How long switchd may take to answer on its control socket after start.
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// How to start one switchd.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    /// The namespace it runs in (the host).
    pub ns: &'a str,
    /// The neutrino binary.
    pub neutrino: &'a Path,
    /// Its `--run-dir` (control socket, state file); made if missing.
    pub run_dir: &'a Path,
    /// More command-line options (`--poll-threads 2`).
    pub extra: &'a [&'a str],
    /// Where its output goes.
    pub log: &'a Path,
    /// Append to `log` (after a header line) rather than start it afresh.
    pub append: bool,
}

/// Starts switchd and waits until it answers `show` and is still running a moment
/// later (a daemon must stay in the foreground). Returns its PID. On failure the
/// process is killed and the error carries the tail of its log.
pub fn start(s: &Start<'_>) -> Result<u32> {
    std::fs::create_dir_all(s.run_dir)
        .map_err(|e| fail!("cannot create {}: {e}", s.run_dir.display()))?;
    let mut args = vec![
        "switchd".to_string(),
        "--run-dir".to_string(),
        s.run_dir.display().to_string(),
    ];
    args.extend(s.extra.iter().map(|a| a.to_string()));
    let pid = if s.append {
        procs::spawn_appending(
            s.ns,
            s.neutrino,
            &args,
            &[],
            s.log,
            "---- lab: starting switchd ----",
        )?
    } else {
        procs::spawn(s.ns, s.neutrino, &args, &[], s.log)?
    };
    let marker = s.run_dir.display().to_string();
    let failed = |what: &str| {
        procs::kill(pid, &marker);
        fail!(
            "switchd in {} {what}; log {}:\n{}",
            s.ns,
            s.log.display(),
            cmd::tail(s.log, 40)
        )
    };
    let until = Instant::now() + READY_WITHIN;
    loop {
        if answers(s.run_dir) {
            // A foreground daemon must still be running once it answers.
            std::thread::sleep(Duration::from_millis(50));
            if !procs::is_running(pid) {
                return Err(failed(
                    "answered `show` but then exited (it must stay in the foreground)",
                ));
            }
            return Ok(pid);
        }
        if !procs::is_running(pid) {
            return Err(failed("exited early"));
        }
        if Instant::now() >= until {
            return Err(failed(&format!("was not ready after {READY_WITHIN:?}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when the switchd of `run_dir` answers `show` on its control socket.
pub fn answers(run_dir: &Path) -> bool {
    matches!(
        Client::new(run_dir).call(&Request::Show),
        Ok(Response::Show { .. })
    )
}

/// `neutrino switch --run-dir RUN_DIR ARGS...` (from wherever the caller is: the
/// socket is a file), with `stdin` fed to it, killed after `timeout`.
pub fn cli(
    neutrino: &Path,
    run_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    timeout: Duration,
) -> Run {
    let dir = run_dir.display().to_string();
    let mut full = vec!["switch", "--run-dir", dir.as_str()];
    full.extend_from_slice(args);
    cmd::run(&neutrino.display().to_string(), &full, stdin, timeout)
}

/// The router namespaces (`qrouter-*`) the switchd of `run_dir` has devices in; none
/// when it does not answer.
pub fn router_namespaces(run_dir: &Path) -> Vec<String> {
    match Client::new(run_dir).call(&Request::Show) {
        Ok(Response::Show { bridges, .. }) => {
            agent::l3::router_namespaces(&bridges).into_iter().collect()
        }
        _ => Vec::new(),
    }
}
