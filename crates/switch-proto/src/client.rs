//! The client side of the control socket: one request, one response, blocking.

use crate::message::{Request, Response};
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach switchd at {socket} ({source}); is `neutrino switchd` running?")]
    Unreachable {
        socket: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Protocol(String),
}

/// A switchd's control socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// The switchd whose run directory is `run_dir`.
    pub fn new(run_dir: &Path) -> Client {
        Client::at_socket(&run_dir.join(crate::SOCKET_NAME))
    }

    pub fn at_socket(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request and waits for its response.
    pub fn call(&self, req: &Request) -> Result<Response, ClientError> {
        let mut s =
            UnixStream::connect(&self.socket).map_err(|source| ClientError::Unreachable {
                socket: self.socket.display().to_string(),
                source,
            })?;
        let envelope = Stamped {
            version: crate::VERSION,
            request: req,
        };
        let mut line =
            serde_json::to_string(&envelope).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push('\n');
        s.write_all(line.as_bytes())
            .map_err(|source| ClientError::Io {
                what: "send request",
                source,
            })?;
        let mut reader = BufReader::new(s);
        let mut resp = String::new();
        reader
            .read_line(&mut resp)
            .map_err(|source| ClientError::Io {
                what: "read response",
                source,
            })?;
        if resp.is_empty() {
            return Err(ClientError::Protocol(
                "switchd closed the connection without answering".into(),
            ));
        }
        serde_json::from_str(&resp)
            .map_err(|e| ClientError::Protocol(format!("bad response from switchd: {e}")))
    }
}

/// A request with the version this crate speaks, serialized without a copy (the
/// same JSON as [`crate::Envelope`]).
#[derive(Serialize)]
struct Stamped<'a> {
    version: u32,
    #[serde(flatten)]
    request: &'a Request,
}
