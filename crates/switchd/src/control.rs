//! The control socket: a listener thread that reads JSON-line requests, hands them to
//! the datapath thread and writes back its answers.

use crate::protocol::{Request, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use tracing::{debug, warn};

/// Largest request accepted (replace-flows with 100,000 flows fits easily).
const MAX_REQUEST: u64 = 256 << 20;

/// A request waiting for the datapath thread, with the way back to its client.
pub(crate) struct Pending {
    pub req: Request,
    pub reply: Sender<Response>,
}

pub(crate) fn spawn(
    listener: UnixListener,
    tx: Sender<Pending>,
    waker: Arc<mio::Waker>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => {
                        let (tx, waker) = (tx.clone(), waker.clone());
                        let spawned = std::thread::Builder::new()
                            .name("control-conn".into())
                            .spawn(move || serve(stream, tx, waker));
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

fn serve(stream: UnixStream, tx: Sender<Pending>, waker: Arc<mio::Waker>) {
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
        let resp = match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
            Ok(req) => {
                let (rtx, rrx) = channel();
                if tx.send(Pending { req, reply: rtx }).is_err() {
                    return;
                }
                if let Err(e) = waker.wake() {
                    warn!("waking the datapath: {e}");
                }
                match rrx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
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
