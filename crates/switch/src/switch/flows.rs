//! The flow tables: parsing, adding, replacing and deleting flows, expiry, and
//! the MAC table view (`fdb-show`).

use super::*;

impl Switch {
    // ---- flows ----

    pub(super) fn parse_lines(
        &self,
        br: usize,
        lines: &[String],
        need_actions: bool,
    ) -> Result<Vec<FlowSpec>, SwitchError> {
        let names = self.names(br);
        let mut specs = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let spec = parse_flow(t, &names, need_actions).map_err(|e| {
                if lines.len() > 1 {
                    SwitchError::Parse(format!("line {}: {e}", i + 1))
                } else {
                    SwitchError::Parse(e.0)
                }
            })?;
            specs.push(spec);
        }
        Ok(specs)
    }

    fn to_flow(spec: FlowSpec, now: u64) -> Flow {
        Flow {
            table: spec.table.unwrap_or(0),
            priority: spec.priority,
            cookie: spec.cookie,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            matcher: spec.matcher,
            actions: Arc::from(spec.actions.unwrap_or_default()),
            stats: FlowStats {
                created: now,
                used: now,
                ..Default::default()
            },
            learned: false,
        }
    }

    /// Parses flows in ovs-ofctl text for `bridge` (its port names resolved);
    /// blank lines and `#` comments are skipped.
    pub fn parse_flows(
        &self,
        bridge: &str,
        lines: &[String],
    ) -> Result<Vec<FlowSpec>, SwitchError> {
        let br = self.bridge_id(bridge)?;
        self.parse_lines(br, lines, true)
    }

    /// Adds flows; all lines are parsed before any is installed.
    pub fn add_flows(
        &mut self,
        bridge: &str,
        lines: &[String],
        now: u64,
    ) -> Result<usize, SwitchError> {
        let specs = self.parse_flows(bridge, lines)?;
        self.add_flow_specs(bridge, specs, now)
    }

    /// Adds flows already parsed (or built typed) for `bridge`.
    pub fn add_flow_specs(
        &mut self,
        bridge: &str,
        specs: Vec<FlowSpec>,
        now: u64,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let n = specs.len();
        let b = self.named_bridge_mut(bridge)?;
        for s in specs {
            b.insert(Self::to_flow(s, now));
        }
        self.flows_changed();
        Ok(n)
    }

    /// Replaces all flows of a bridge at once. Flows that stay the same keep their
    /// counters and age, so a re-push by a restarted agent changes nothing.
    pub fn replace_flows(
        &mut self,
        bridge: &str,
        lines: &[String],
        now: u64,
    ) -> Result<usize, SwitchError> {
        let specs = self.parse_flows(bridge, lines)?;
        self.replace_flow_specs(bridge, specs, now)
    }

    /// [`Switch::replace_flows`] with flows already parsed (or built typed).
    pub fn replace_flow_specs(
        &mut self,
        bridge: &str,
        specs: Vec<FlowSpec>,
        now: u64,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let n = specs.len();
        let b = self.named_bridge_mut(bridge)?;
        let new: Vec<Flow> = specs.into_iter().map(|s| Self::to_flow(s, now)).collect();
        // The installed flow with the same definition (counters and age aside).
        // At most one flow has a given (table, priority, match), so the index
        // answers what a scan for an equal flow would.
        let same = |tables: &[crate::table::FlowTable], f: &Flow| -> Option<FlowStats> {
            let t = tables.get(usize::from(f.table))?;
            let o = t.get(t.find_rule(f.priority, &f.matcher)?)?;
            (!o.learned && o.same_definition(f)).then_some(o.stats)
        };
        // The same flows again (an agent re-syncing after a restart): change
        // nothing, so counters, learned flows and cached decisions all stay.
        let installed = b.flows().filter(|f| !f.learned).count();
        if installed == new.len() && new.iter().all(|f| same(&b.tables, f).is_some()) {
            return Ok(n);
        }
        // Build the new tables aside and swap them in: atomic, and flows that stay
        // keep their counters.
        let mut tables = crate::bridge::empty_tables(b.seed);
        for (t, old) in tables.iter_mut().zip(&b.tables) {
            t.carry_cap(old);
        }
        for mut f in new {
            if let Some(stats) = same(&b.tables, &f) {
                f.stats = stats;
            }
            if let Some(t) = tables.get_mut(usize::from(f.table)) {
                t.insert(f);
            }
        }
        b.tables = tables;
        self.flows_changed();
        Ok(n)
    }

    /// Deletes the flows that `match_text` covers (all without it); returns how many.
    pub fn del_flows(
        &mut self,
        bridge: &str,
        match_text: Option<&str>,
    ) -> Result<usize, SwitchError> {
        self.settle_counters();
        let br = self.bridge_id(bridge)?;
        let spec = match match_text {
            Some(t) if !t.trim().is_empty() => {
                Some(self.parse_lines(br, &[t.to_string()], false)?.remove(0))
            }
            _ => None,
        };
        let b = self.named_bridge_mut(bridge)?;
        let mut n = 0;
        for (t, flows) in b.tables.iter_mut().enumerate() {
            if flows.is_empty()
                || spec
                    .as_ref()
                    .is_some_and(|s| s.table.is_some_and(|st| usize::from(st) != t))
            {
                continue;
            }
            n += flows.retain(|f| match &spec {
                None => false,
                Some(s) => {
                    !((f.cookie & s.cookie_mask) == (s.cookie & s.cookie_mask)
                        && s.matcher.covers(&f.matcher))
                }
            });
        }
        self.flows_changed();
        Ok(n)
    }

    pub fn fdb(&self, bridge: &str, now: u64) -> Result<Vec<FdbEntry>, SwitchError> {
        let br = self.bridge_id(bridge)?;
        let b = self
            .bridge(br)
            .ok_or_else(|| SwitchError::NoSuchBridge(bridge.to_string()))?;
        Ok(b.macs
            .entries()
            .into_iter()
            .filter(|(_, _, e)| now < e.seen.saturating_add(b.macs.aging_ms))
            .map(|(vlan, mac, e)| FdbEntry {
                port: self
                    .port(e.port)
                    .map(|p| p.config.name.clone())
                    .unwrap_or_else(|| "?".into()),
                vlan,
                mac: wire::MacAddr::from_u64(mac).to_string(),
                age_secs: now.saturating_sub(e.seen) / 1000,
            })
            .collect())
    }

    /// Expires timed-out flows and MAC entries, and sweeps a slice of the
    /// connection table.
    pub fn expire(&mut self, now: u64) {
        self.settle_counters();
        let mut changed = false;
        for b in self.bridges.iter_mut().flatten() {
            for t in b.tables.iter_mut() {
                changed |= t.expire(now) > 0;
            }
            changed |= b.macs.expire(now);
        }
        // Connections time out without changing any decision (the cache is keyed
        // by their state).
        self.conntrack.sweep(now, CT_SWEEP_BUDGET);
        if changed {
            self.flows_changed();
        }
    }
}

/// Connection-table slots `expire` looks at per call.
const CT_SWEEP_BUDGET: usize = 4096;
