//! The lab's processes: started inside a node's network namespace with `nsenter`
//! (which keeps the mount namespace, so namespaces the agent makes are seen by
//! everyone), in their own process group, logging to a file in the lab directory.
//! They are stopped by PID, and only when their command line still names the lab
//! directory (the PID was not reused by someone else's process).

use crate::{Result, fail};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `program args` inside `ns` with `env`; its output goes to `log`
/// (truncated first).
pub fn spawn(
    ns: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    log: &Path,
) -> Result<u32> {
    let out = File::create(log).map_err(|e| fail!("cannot create {}: {e}", log.display()))?;
    spawn_to(ns, program, args, env, out, log)
}

/// [`spawn`], appending to `log` after a line `header` (a restarted daemon keeps
/// its earlier runs' lines before it).
pub fn spawn_appending(
    ns: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    log: &Path,
    header: &str,
) -> Result<u32> {
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| fail!("cannot open {}: {e}", log.display()))?;
    writeln!(out, "{header}").map_err(|e| fail!("cannot write {}: {e}", log.display()))?;
    spawn_to(ns, program, args, env, out, log)
}

fn spawn_to(
    ns: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    out: File,
    log: &Path,
) -> Result<u32> {
    let err = out
        .try_clone()
        .map_err(|e| fail!("cannot open {}: {e}", log.display()))?;
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .map_err(|e| fail!("cannot start {}: {e}", program.display()))?;
    // nsenter execs the program in place (same PID). The child is reaped by
    // `stop`/`kill`, or by init once we exit; we track it by PID.
    Ok(child.id())
}

/// True when `pid` runs and its command line contains `marker` (the lab dir).
pub fn is_ours(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if is_zombie(pid) {
        return false;
    }
    String::from_utf8_lossy(&cmdline).contains(marker)
}

/// True while `pid` exists and has not exited (whatever it runs: right after
/// spawn it may not have exec'd its program yet).
pub fn is_running(pid: u32) -> bool {
    !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn signal(pid: u32, sig: i32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a PID we started and just checked; no memory involved.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Stops our process `pid`: SIGTERM, then SIGKILL after `grace`.
pub fn stop(pid: u32, marker: &str, grace: Duration) {
    if !is_ours(pid, marker) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if !is_ours(pid, marker) {
            reap(pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(pid, libc::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while is_ours(pid, marker) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    reap(pid);
}

/// Collects an exited child of this process (tests keep the lab in-process).
fn reap(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    let mut status = 0;
    // SAFETY: waitpid(2) on one PID with WNOHANG; `status` is a valid out-pointer.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// Kills a process we started without grace (a crash, for tests), and waits
/// until it is gone entirely: its main thread turns zombie before its other
/// threads have let go of its files (a listening socket still answers then).
pub fn kill(pid: u32, marker: &str) {
    if is_ours(pid, marker) {
        signal(pid, libc::SIGKILL);
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if reaped(pid) || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        reap(pid);
    }
}

/// Whether `pid`, a child of ours, has ended and been reaped now (false while
/// any of its threads runs, or when it is not our child).
fn reaped(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    let mut status = 0;
    // SAFETY: waitpid(2) on one PID with WNOHANG; `status` is a valid out-pointer.
    unsafe { libc::waitpid(p, &mut status, libc::WNOHANG) == p }
}
