//! A TCP connect-request-response-close load for the benches (`neutrino lab crr`,
//! run inside a VM's namespace): a server that answers one byte on each
//! connection and closes it, and a client that opens connections one after
//! another, each with one request and closed after the server's close (so
//! TIME_WAIT stays on the server's side, as with HTTP/1.0), for a
//! given time, and prints connections per second. With `--probe` the client only
//! tries until one connection goes through and prints when (ms since the epoch).

use crate::{Result, fail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Serves forever on `port` (all addresses).
pub fn serve(port: u16) -> Result<()> {
    let l = TcpListener::bind(("0.0.0.0", port)).map_err(|e| fail!("listen on {port}: {e}"))?;
    for c in l.incoming() {
        let Ok(mut c) = c else { continue };
        let mut b = [0u8; 1];
        if c.read_exact(&mut b).is_ok() {
            let _ = c.write_all(&b);
        }
    }
    Ok(())
}

/// One connection with one request; true when the answer came. The client
/// closes only after the server's FIN (the read that returns 0): a client that
/// closed as soon as the answer came would often close first, keep the
/// connection in TIME_WAIT for a minute, and after some 14,000 connections find
/// no free local port (each `connect` then searching the whole range) — the
/// bench would measure that, on both paths, instead of the switch.
fn once(to: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&to, timeout) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(timeout));
    let mut b = [7u8; 1];
    s.write_all(&b).is_ok() && s.read_exact(&mut b).is_ok() && s.read(&mut b).is_ok_and(|n| n == 0)
}

/// Connections per second to `to` over `seconds`.
pub fn client(to: &str, seconds: u64) -> Result<f64> {
    let to: SocketAddr = to
        .parse()
        .map_err(|_| fail!("bad address '{to}' (IP:PORT)"))?;
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let (mut ok, mut failed) = (0u64, 0u64);
    while Instant::now() < end {
        if once(to, Duration::from_secs(1)) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    if ok == 0 {
        return Err(fail!(
            "no connection to {to} went through ({failed} failed)"
        ));
    }
    Ok(ok as f64 / start.elapsed().as_secs_f64())
}

/// Tries `to` every 10 ms for up to `seconds`; the wall-clock time (ms since the
/// epoch) of the first connection that went through.
pub fn probe(to: &str, seconds: u64) -> Result<f64> {
    let to: SocketAddr = to
        .parse()
        .map_err(|_| fail!("bad address '{to}' (IP:PORT)"))?;
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if once(to, Duration::from_millis(50)) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or_default();
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(fail!("no connection to {to} within {seconds} s"))
}

/// One try from inside `ns` (with the binary `exe`): whether a connection to `to`
/// goes through within a second.
pub fn probe_once(ns: &str, exe: &str, to: &str) -> bool {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            exe,
            "lab",
            "crr",
            "--probe",
            "--connect",
            to,
        ])
        .args(["--seconds", "1"])
        .output()
        .is_ok_and(|o| o.status.success())
}
