//! Control requests against the running datapath: bridge, port and flow changes
//! (saved to the state file after each), and the views `switch show` prints. They run
//! on the control connection's thread with the engine's lock held.

use super::shared::{Core, Shared};
use crate::convert;
use switch::PortType;
use switch_proto::{BridgeView, Flow, PortStatsRow, PortView, Request, Response};

/// Whether a request reads flow or port counters or may remove flows or ports:
/// the kernel fast path's counts are given to the engine first.
fn settles(req: &Request) -> bool {
    !matches!(
        req,
        Request::Show
            | Request::FdbShow { .. }
            | Request::Trace { .. }
            | Request::DumpConntrack { .. }
            | Request::AddBr { .. }
            | Request::AddPort { .. }
            | Request::SetPortDhcp { .. }
    )
}

/// What a request changed of the ports.
#[derive(Default)]
pub(super) struct Changes {
    /// Ports were added or removed: the poll threads must take up the change.
    pub ports: bool,
    /// A port was removed: its device stays open until every thread let go of it.
    pub removed: bool,
}

impl Shared {
    /// Answers a control request with the lock held; port changes are taken up by
    /// every poll thread before the answer goes back.
    pub fn handle(&self, req: Request) -> Response {
        let mut core = self.lock();
        // The kernel's counts reach the flows before anything reads counters or
        // removes flows or ports (other requests leave it to the next second).
        if settles(&req) {
            core.revalidate(self.now());
        }
        let mut changes = Changes::default();
        let resp = match req {
            Request::Batch { requests } => {
                let mut results = Vec::with_capacity(requests.len());
                for r in requests {
                    // A device removed earlier in the batch (the agent re-creates a
                    // changed port as delete + add) must be closed by every thread
                    // before one of the same name can be made.
                    if changes.removed && matches!(r, Request::AddPort { .. }) {
                        self.publish(core);
                        changes = Changes::default();
                        core = self.lock();
                    }
                    results.push(match r {
                        Request::Batch { .. } => Response::Error {
                            message: "a batch cannot hold another batch".into(),
                        },
                        r => self.handle_one(&mut core, r, false, &mut changes),
                    });
                }
                if let Some(e) = core.save() {
                    // Everything was applied; say so on each change not on disk.
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
            r => self.handle_one(&mut core, r, true, &mut changes),
        };
        core.sync_fastpath();
        if changes.ports {
            self.publish(core);
        }
        resp
    }

    /// One request; `save` writes the state file after a change (a batch
    /// writes it once at its end instead).
    pub(super) fn handle_one(
        &self,
        core: &mut Core,
        req: Request,
        save: bool,
        changes: &mut Changes,
    ) -> Response {
        let now = self.now();
        let err = |e: switch::SwitchError| Response::Error {
            message: e.to_string(),
        };
        let done = |c: &Core| match if save { c.save() } else { None } {
            None => Response::Done { message: None },
            Some(e) => Response::Error {
                message: format!("applied, but not saved: {e}"),
            },
        };
        match req {
            Request::AddBr { bridge } => match core.sw.add_bridge(&bridge, now) {
                Ok(()) => done(core),
                Err(e) => err(e),
            },
            Request::DelBr { bridge } => match core.sw.del_bridge(&bridge) {
                Ok(removed) => {
                    for (id, _) in removed {
                        self.detach(core, id);
                        changes.ports = true;
                        changes.removed = true;
                    }
                    done(core)
                }
                Err(e) => err(e),
            },
            Request::AddPort { bridge, port } => {
                let port = convert::port_config(port);
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
                match core.sw.add_port(&bridge, port) {
                    Ok(id) => {
                        self.attach(core, id);
                        if let Some(e) = core.failure(id) {
                            let message = format!("port added but not working: {e}");
                            let name = core
                                .sw
                                .port(id)
                                .map(|p| p.config.name.clone())
                                .unwrap_or_default();
                            // Do not keep a port whose device could not be made.
                            let _ = core.sw.del_port(&bridge, &name);
                            self.detach(core, id);
                            return Response::Error { message };
                        }
                        changes.ports = true;
                        done(core)
                    }
                    Err(e) => err(e),
                }
            }
            Request::DelPort { bridge, port } => match core.sw.del_port(&bridge, &port) {
                Ok((id, _)) => {
                    self.detach(core, id);
                    changes.ports = true;
                    changes.removed = true;
                    done(core)
                }
                Err(e) => err(e),
            },
            Request::SetPortDhcp { bridge, port, dhcp } => {
                match core
                    .sw
                    .set_port_dhcp(&bridge, &port, dhcp.map(convert::dhcp_binding))
                {
                    Ok(()) => done(core),
                    Err(e) => err(e),
                }
            }
            Request::Show => Response::Show {
                bridges: show(core),
                tunnels: core.tunnel_counters(),
                flow_cache: convert::flow_cache_stats(core.sw.flow_cache_stats()),
                heap: crate::heap::stats(),
                poll_cpus: self.links.iter().map(|l| l.cpu).collect(),
                poll_spin: Some(self.poll_spin),
                protocol_version: Some(switch_proto::VERSION),
                conntrack: Some(convert::conntrack_stats(core.sw.conntrack())),
                learned: Some({
                    let l = core.sw.learned_flow_stats();
                    switch_proto::LearnedFlowStats {
                        flows: l.flows,
                        limit: l.limit,
                        evicted: l.evicted,
                    }
                }),
                datapath: Some(crate::fastpath::describe(
                    core.fastpath.as_ref(),
                    &core.fastpath_off,
                )),
            },
            Request::AddFlows {
                bridge,
                flows,
                typed,
            } => match flow_specs(core, &bridge, &flows, &typed) {
                Ok(specs) => match core.sw.add_flow_specs(&bridge, specs, now) {
                    Ok(_) => done(core),
                    Err(e) => err(e),
                },
                Err(e) => err(e),
            },
            Request::ReplaceFlows {
                bridge,
                flows,
                typed,
            } => match flow_specs(core, &bridge, &flows, &typed) {
                Ok(specs) => match core.sw.replace_flow_specs(&bridge, specs, now) {
                    Ok(_) => done(core),
                    Err(e) => err(e),
                },
                Err(e) => err(e),
            },
            Request::DelFlows { bridge, matching } => {
                match core.sw.del_flows(&bridge, matching.as_deref()) {
                    Ok(_) => done(core),
                    Err(e) => err(e),
                }
            }
            Request::DumpFlows { bridge, table } => match core.sw.dump_flows(&bridge, table, now) {
                Ok(lines) => Response::Lines { lines },
                Err(e) => err(e),
            },
            Request::DumpPorts { bridge } => match core.sw.bridge_id(&bridge) {
                Ok(br) => {
                    let ports = core
                        .sw
                        .bridge(br)
                        .map(|b| {
                            b.ports
                                .iter()
                                .filter_map(|(n, id)| core.sw.port(*id).map(|p| (n, p)))
                                .map(|(n, p)| PortStatsRow {
                                    ofport: *n,
                                    name: p.config.name.clone(),
                                    stats: convert::port_stats(&p.stats),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Response::Ports { ports }
                }
                Err(e) => err(e),
            },
            Request::FdbShow { bridge } => match core.sw.fdb(&bridge, now) {
                Ok(entries) => Response::Fdb {
                    entries: entries.into_iter().map(convert::fdb_entry).collect(),
                },
                Err(e) => err(e),
            },
            Request::Trace { bridge, flow } => match core.sw.trace_decision(&bridge, &flow, now) {
                Ok(t) => {
                    let mut lines = t.lines.clone();
                    lines.push(match core.fastpath.as_ref() {
                        Some(fp) => fp.trace_verdict(&core.sw, &t),
                        None => format!("Fast path: off ({})", core.fastpath_off),
                    });
                    Response::Lines { lines }
                }
                Err(e) => err(e),
            },
            Request::DumpDatapath => Response::Lines {
                lines: match core.fastpath.as_ref() {
                    Some(fp) => {
                        let [hits, upcalls, failed, stale, ctl] = fp.counters();
                        let mut lines = vec![format!(
                            "kernel fast path: {} entries, hits:{hits}, upcalls:{upcalls}, failed upcalls:{failed}, stale hits:{stale}, tracked TCP SYN/FIN/RST sent up:{ctl}, installed:{} ({} wildcarded), masks:{}, not offered by the engine:{}, outputs not carried:{}, table full:{}, TCP segments before install:{}",
                            fp.entries(),
                            fp.installed,
                            fp.installed_mega,
                            fp.masks_in_use(),
                            fp.not_offered,
                            fp.not_carried,
                            fp.full,
                            fp.warming_up
                        )];
                        lines.extend(fp.dump());
                        lines
                    }
                    None => vec![format!("no kernel fast path: {}", core.fastpath_off)],
                },
            },
            Request::DumpConntrack { zone } => Response::Lines {
                lines: core
                    .sw
                    .conntrack()
                    .dump(zone, now)
                    .iter()
                    .map(switch::conntrack::ConnView::text)
                    .collect(),
            },
            Request::FlushConntrack { zone } => {
                let n = core.sw.flush_conntrack(zone);
                Response::Done {
                    message: Some(format!(
                        "{n} connection{} flushed",
                        if n == 1 { "" } else { "s" }
                    )),
                }
            }
            Request::Batch { .. } => Response::Error {
                message: "a batch cannot hold another batch".into(),
            },
        }
    }
}

fn show(core: &Core) -> Vec<BridgeView> {
    core.sw
        .bridge_names()
        .into_iter()
        .filter_map(|name| {
            let br = core.sw.bridge_id(&name).ok()?;
            let b = core.sw.bridge(br)?;
            let ports = b
                .ports
                .iter()
                .filter_map(|(n, id)| {
                    let p = core.sw.port(*id)?;
                    let error = core.failure(*id).map(str::to_string);
                    Some(PortView {
                        config: convert::port_spec(&p.config),
                        ofport: *n,
                        error,
                        dhcp_stats: p
                            .config
                            .dhcp
                            .as_ref()
                            .map(|_| convert::dhcp_stats(&p.dhcp_stats)),
                        poll_threads: core
                            .ports
                            .get(id)
                            .map(|a| a.readers.threads())
                            .unwrap_or_default(),
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

/// The text flows parsed and the typed ones built for `bridge`, texts first; all
/// are checked before any is installed.
fn flow_specs(
    core: &Core,
    bridge: &str,
    texts: &[String],
    typed: &[Flow],
) -> Result<Vec<switch::FlowSpec>, switch::SwitchError> {
    let mut specs = core.sw.parse_flows(bridge, texts)?;
    let names = core.sw.names(core.sw.bridge_id(bridge)?);
    for f in typed {
        specs.push(convert::flow_spec(f, &names).map_err(switch::SwitchError::Parse)?);
    }
    Ok(specs)
}
