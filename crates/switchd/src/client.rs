//! The client side of the control socket, for the CLI and tests.

use crate::protocol::{Request, Response};
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Sends one request and waits for its response.
pub fn call(socket: &Path, req: &Request) -> Result<Response> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        Error::Io(format!(
            "cannot reach switchd at {} ({e}); is `neutrino switchd` running?",
            socket.display()
        ))
    })?;
    let mut line = serde_json::to_string(req).map_err(|e| Error::Protocol(e.to_string()))?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .map_err(|e| Error::io("send request", e))?;
    let mut reader = BufReader::new(s);
    let mut resp = String::new();
    reader
        .read_line(&mut resp)
        .map_err(|e| Error::io("read response", e))?;
    if resp.is_empty() {
        return Err(Error::Protocol(
            "switchd closed the connection without answering".into(),
        ));
    }
    serde_json::from_str(&resp)
        .map_err(|e| Error::Protocol(format!("bad response from switchd: {e}")))
}
