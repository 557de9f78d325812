//! The state file: bridges, ports and flows, written atomically (temp file, fsync,
//! rename) after every change so a restarted switchd comes back as it was. Its
//! types are the file's own (ports as the protocol describes them, flows in
//! ovs-ofctl text), so the engine's internals can change without changing the file.

use crate::convert;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use switch::BridgeConfig;
use switch_proto::PortSpec;

pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub bridges: Vec<BridgeState>,
}

/// One bridge as the file keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub struct BridgeState {
    pub name: String,
    pub ports: Vec<PortSpec>,
    pub flows: Vec<String>,
}

impl StateFile {
    /// What the engine rebuilds itself from.
    pub fn engine_config(self) -> Vec<BridgeConfig> {
        self.bridges
            .into_iter()
            .map(|b| BridgeConfig {
                name: b.name,
                ports: b.ports.into_iter().map(convert::port_config).collect(),
                flows: b.flows,
            })
            .collect()
    }
}

fn err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::State {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

pub fn load(path: &Path) -> Result<Option<StateFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e)),
    };
    let s: StateFile = serde_json::from_str(&text).map_err(|e| err(path, e))?;
    if s.version != VERSION {
        return Err(err(path, format!("unsupported version {}", s.version)));
    }
    Ok(Some(s))
}

pub fn save(path: &Path, bridges: Vec<BridgeConfig>) -> Result<()> {
    let s = StateFile {
        version: VERSION,
        bridges: bridges
            .into_iter()
            .map(|b| BridgeState {
                ports: b.ports.iter().map(convert::port_spec).collect(),
                name: b.name,
                flows: b.flows,
            })
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&s).map_err(|e| err(path, e))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| err(&tmp, e))?;
    f.write_all(&text).map_err(|e| err(&tmp, e))?;
    f.sync_all().map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
    Ok(())
}
