//! Control requests against the running datapath: bridge, port and flow changes
//! (saved to the state file after each), and the views `switch show` prints.

use super::*;

impl Datapath {
    pub(super) fn save(&self) -> Option<String> {
        state::save(&self.state_path, self.sw.config())
            .err()
            .map(|e| {
                error!("{e}");
                e.to_string()
            })
    }

    // ---- control ----

    pub(super) fn handle(&mut self, req: Request) -> Response {
        let Request::Batch { requests } = req else {
            return self.handle_one(req, true);
        };
        let mut results = Vec::with_capacity(requests.len());
        for r in requests {
            results.push(match r {
                Request::Batch { .. } => Response::Error {
                    message: "a batch cannot hold another batch".into(),
                },
                r => self.handle_one(r, false),
            });
        }
        if let Some(e) = self.save() {
            // Everything was applied; say so on each change that is not on disk.
            for r in &mut results {
                if matches!(r, Response::Done { .. }) {
                    *r = Response::Error {
                        message: format!("applied, but not saved: {e}"),
                    };
                }
            }
        }
        Response::Batch { results }
    }

    /// One request; `save` writes the state file after a change (a batch
    /// writes it once at its end instead).
    pub(super) fn handle_one(&mut self, req: Request, save: bool) -> Response {
        let now = self.now();
        let err = |e: switch::SwitchError| Response::Error {
            message: e.to_string(),
        };
        let done = |s: &Self| match if save { s.save() } else { None } {
            None => Response::Done { message: None },
            Some(e) => Response::Error {
                message: format!("applied, but not saved: {e}"),
            },
        };
        match req {
            Request::AddBr { bridge } => match self.sw.add_bridge(&bridge, now) {
                Ok(()) => done(self),
                Err(e) => err(e),
            },
            Request::DelBr { bridge } => match self.sw.del_bridge(&bridge) {
                Ok(removed) => {
                    for (id, _) in removed {
                        self.detach(id);
                    }
                    done(self)
                }
                Err(e) => err(e),
            },
            Request::AddPort { bridge, port } => {
                if let Some(ns) = &port.netns
                    && !host::netns_exists(ns)
                {
                    return Response::Error {
                        message: format!("network namespace '{ns}' does not exist"),
                    };
                }
                if port.kind == PortType::System && !host::link_exists(&port.name) {
                    return Response::Error {
                        message: format!("no interface named '{}' to attach", port.name),
                    };
                }
                match self.sw.add_port(&bridge, port) {
                    Ok(id) => {
                        self.attach(id);
                        if let Some(Backend::Failed(e)) = self.backends.get(&id) {
                            let message = format!("port added but not working: {e}");
                            let name = self
                                .sw
                                .port(id)
                                .map(|p| p.config.name.clone())
                                .unwrap_or_default();
                            // Do not keep a port whose device could not be made.
                            let _ = self.sw.del_port(&bridge, &name);
                            self.detach(id);
                            return Response::Error { message };
                        }
                        done(self)
                    }
                    Err(e) => err(e),
                }
            }
            Request::DelPort { bridge, port } => match self.sw.del_port(&bridge, &port) {
                Ok((id, _)) => {
                    self.detach(id);
                    done(self)
                }
                Err(e) => err(e),
            },
            Request::SetPortDhcp { bridge, port, dhcp } => {
                match self.sw.set_port_dhcp(&bridge, &port, dhcp) {
                    Ok(()) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::Show => Response::Show {
                bridges: self.show(),
                tunnels: {
                    let (uplink_active, uplink_frames, uplink_errors) = self.uplink.counters();
                    TunnelCounters {
                        uplink_active,
                        uplink_frames,
                        uplink_errors,
                        ..self.tunnels
                    }
                },
                flow_cache: self.sw.flow_cache_stats(),
            },
            Request::AddFlows { bridge, flows } => match self.sw.add_flows(&bridge, &flows, now) {
                Ok(_) => done(self),
                Err(e) => err(e),
            },
            Request::ReplaceFlows { bridge, flows } => {
                match self.sw.replace_flows(&bridge, &flows, now) {
                    Ok(_) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::DelFlows { bridge, matching } => {
                match self.sw.del_flows(&bridge, matching.as_deref()) {
                    Ok(_) => done(self),
                    Err(e) => err(e),
                }
            }
            Request::DumpFlows { bridge, table } => match self.sw.dump_flows(&bridge, table, now) {
                Ok(lines) => Response::Lines { lines },
                Err(e) => err(e),
            },
            Request::DumpPorts { bridge } => match self.sw.bridge_id(&bridge) {
                Ok(br) => {
                    let ports = self
                        .sw
                        .bridge(br)
                        .map(|b| {
                            b.ports
                                .iter()
                                .filter_map(|(n, id)| self.sw.port(*id).map(|p| (n, p)))
                                .map(|(n, p)| PortStatsRow {
                                    ofport: *n,
                                    name: p.config.name.clone(),
                                    stats: p.stats,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Response::Ports { ports }
                }
                Err(e) => err(e),
            },
            Request::FdbShow { bridge } => match self.sw.fdb(&bridge, now) {
                Ok(entries) => Response::Fdb { entries },
                Err(e) => err(e),
            },
            Request::Trace { bridge, flow } => match self.sw.trace(&bridge, &flow, now) {
                Ok(lines) => Response::Lines { lines },
                Err(e) => err(e),
            },
            Request::Batch { .. } => Response::Error {
                message: "a batch cannot hold another batch".into(),
            },
        }
    }

    pub(super) fn show(&self) -> Vec<BridgeView> {
        self.sw
            .bridge_names()
            .into_iter()
            .filter_map(|name| {
                let br = self.sw.bridge_id(&name).ok()?;
                let b = self.sw.bridge(br)?;
                let ports = b
                    .ports
                    .iter()
                    .filter_map(|(n, id)| {
                        let p = self.sw.port(*id)?;
                        let error = match self.backends.get(id) {
                            Some(Backend::Failed(e)) => Some(e.clone()),
                            _ => None,
                        };
                        Some(PortView {
                            config: p.config.clone(),
                            ofport: *n,
                            error,
                            dhcp_stats: p.config.dhcp.as_ref().map(|_| p.dhcp_stats),
                        })
                    })
                    .collect();
                Some(BridgeView {
                    name,
                    ports,
                    flows: b.flow_count(),
                })
            })
            .collect()
    }
}
