//! The control socket: a listener thread, and a thread per connection that reads
//! JSON-line requests and answers each with the datapath's lock held (see
//! datapath/shared.rs).

use crate::datapath::Shared;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use switch_proto::{Envelope, Response};
use tracing::{debug, warn};

/// Largest request accepted (replace-flows with 100,000 flows fits easily).
const MAX_REQUEST: u64 = 256 << 20;

pub(crate) fn spawn(listener: UnixListener, shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => {
                        let shared = shared.clone();
                        let spawned = std::thread::Builder::new()
                            .name("control-conn".into())
                            .spawn(move || serve(stream, &shared));
                        if let Err(e) = spawned {
                            warn!("cannot start a control connection thread: {e}");
                        }
                    }
                    Err(e) => warn!("control socket accept: {e}"),
                }
            }
        })?;
    Ok(())
}

fn serve(stream: UnixStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream.take(MAX_REQUEST));
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                debug!("control read: {e}");
                return;
            }
        }
        let resp = match serde_json::from_str::<Envelope>(&line) {
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
            Ok(Envelope {
                version: Some(v), ..
            }) if v > switch_proto::VERSION => Response::Error {
                message: format!(
                    "this switchd speaks control protocol version {}, the client {v}: \
                     upgrade switchd",
                    switch_proto::VERSION
                ),
            },
            Ok(env) => shared.handle(env.request),
        };
        let Ok(mut out) = serde_json::to_string(&resp) else {
            return;
        };
        out.push('\n');
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}
