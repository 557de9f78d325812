//! The pipeline's connection tracking: the `ct()` action, and how a packet goes
//! on after `ct(table=N)`.
//!
//! As in Open vSwitch's datapath, `ct(table=N)` ends a *pass*: the packet is
//! tracked, and a next pass starts in table N with the key it had at the `ct`
//! action plus `ct_state`, `ct_zone` and `ct_mark` (and `recirc_id`, naming the
//! pass). The flow cache keeps each pass as its own entry, keyed by that key: a
//! packet's verdict follows its connection's state, and no cached decision
//! outlives a state change. Tracking itself (and commits) run for every packet,
//! cached or not. A `ct()` without a table tracks (and commits) in place; the
//! packet's key does not change. When tracing, a recirculation runs nested in the
//! trace, with the state the connection table would give (a frame) or the one
//! the traced flow names.

use crate::action::{CtAction, CtZone};
use crate::cache::{Effect, Recirc};
use crate::conntrack::{self, TableFull, Verdict};
use crate::field::{Field, FlowKey, ct_flags_text};
use crate::switch::Switch;
use crate::xlate::Ctx;

/// Passes one packet may take (the first and its recirculations).
pub const MAX_PASSES: usize = 4;

/// What connection tracking knows of the packet being switched: parsed once,
/// tracked once per zone.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CtCur {
    packet: Option<Option<conntrack::Packet>>,
    last: Option<(u16, Verdict)>,
}

/// `ct_clear`.
pub(crate) fn clear(key: &mut FlowKey) {
    key.set(Field::CtState, 0);
    key.set(Field::CtZone, 0);
    key.set(Field::CtMark, 0);
}

/// The `recirc_id` of the pass that starts in `table` of bridge `br`.
pub(crate) fn recirc_id(br: u32, table: u8) -> u128 {
    u128::from((br << 8 | u32::from(table)) + 1)
}

/// The key a recirculated pass starts with.
pub(crate) fn next_key(r: &Recirc, state: u8, mark: u32) -> FlowKey {
    let mut k = r.key;
    k.set(Field::CtState, state.into());
    k.set(Field::CtZone, r.zone.into());
    k.set(Field::CtMark, mark.into());
    k.set(Field::RecircId, recirc_id(r.br, r.table));
    k
}

fn zone_of(ct: &CtAction, key: &FlowKey) -> u16 {
    match ct.zone {
        CtZone::Value(z) => z,
        CtZone::Field(r) => ((key.get(r.field) & r.mask()) >> r.start) as u16,
    }
}

impl Switch {
    /// The `ct()` action.
    pub(crate) fn ct(&mut self, cx: &mut Ctx, br: usize, ct: &CtAction, key: &FlowKey) {
        if let CtZone::Field(r) = ct.zone {
            cx.read_bits(r.field, r.mask());
        }
        let zone = zone_of(ct, key);
        let mark = ct.mark();
        if cx.tracing() {
            self.trace_ct(cx, br, ct, zone, key);
            return;
        }
        match ct.table {
            Some(table) => {
                if cx.recirc.is_none() {
                    cx.recirc = Some(Recirc {
                        br: br as u32,
                        table,
                        zone,
                        commit: ct.commit,
                        mark,
                        key: *key,
                    });
                }
            }
            None => {
                let (m, mm) = mark.unwrap_or((0, 0));
                cx.record(Effect::Ct {
                    zone,
                    commit: ct.commit,
                    mark: m,
                    mask: mm,
                });
                if let Some(frame) = cx.frame()
                    && self
                        .ct_exec(frame, zone, ct.commit, mark, cx.now())
                        .is_err()
                {
                    cx.ct_refused = true;
                }
            }
        }
    }

    /// Forgets what tracking knew of the previous packet.
    #[inline]
    pub(crate) fn ct_begin(&mut self) {
        self.ct_cur = CtCur::default();
    }

    /// Tracks this packet in `zone` (once per zone for a packet) and, with
    /// `commit`, makes its connection exist with `mark`. Err: the table is full.
    pub(crate) fn ct_exec(
        &mut self,
        frame: &[u8],
        zone: u16,
        commit: bool,
        mark: Option<(u32, u32)>,
        now: u64,
    ) -> Result<Verdict, TableFull> {
        let pkt = *self
            .ct_cur
            .packet
            .get_or_insert_with(|| conntrack::parse(frame));
        let v = match self.ct_cur.last {
            Some((z, v)) if z == zone => v,
            _ => self.conntrack.track(pkt.as_ref(), zone, now),
        };
        let mut v2 = v;
        if commit && v.state & conntrack::state::INV == 0 {
            self.conntrack
                .commit(pkt.as_ref(), zone, now, v.conn, mark)?;
            if let Some((m, mm)) = mark {
                v2.mark = (v.mark & !mm) | (m & mm);
            }
        }
        self.ct_cur.last = Some((zone, v2));
        if let Some(o) = self.offer.as_mut() {
            let id = v2
                .conn
                .and_then(|(slot, _)| Some((slot, self.conntrack.conn_id(slot)?)));
            o.note_ct(v2.state, id);
        }
        Ok(v2)
    }

    /// `ct()` in a trace: says what it does; a recirculation goes on nested.
    fn trace_ct(&mut self, cx: &mut Ctx, br: usize, ct: &CtAction, zone: u16, key: &FlowKey) {
        cx.traced_ct = true;
        let (state, mark, whence) = match cx.frame() {
            Some(f) => {
                let p = conntrack::parse(f);
                let v = self.conntrack.peek(p.as_ref(), zone, cx.now());
                (v.state, v.mark, "the connection table")
            }
            None => (cx.trace_ct.0, cx.trace_ct.1, "the traced flow"),
        };
        let commit = if ct.commit {
            match ct.mark() {
                Some((m, mm)) => format!(", would commit (ct_mark {m:#x}/{mm:#x})"),
                None => ", would commit".to_string(),
            }
        } else {
            String::new()
        };
        cx.note(|| {
            format!(
                "    ct: zone {zone}: ct_state={} ct_mark={mark:#x} (from {whence}){commit}",
                ct_flags_text(state, state)
            )
        });
        if let Some(table) = ct.table {
            let r = Recirc {
                br: br as u32,
                table,
                zone,
                commit: ct.commit,
                mark: ct.mark(),
                key: *key,
            };
            let mark = match r.mark {
                Some((m, mm)) if ct.commit => (mark & !mm) | (m & mm),
                _ => mark,
            };
            let mut k = next_key(&r, state, mark);
            let start = k;
            cx.note(|| format!("    recirculate to table {table}"));
            cx.indent += 1;
            // The next pass reads its own bits (its megaflow is its own).
            let outer = std::mem::take(&mut cx.wc);
            self.run_table(cx, br, table, &mut k);
            let m = crate::wildcards::Megaflow::new(&start, std::mem::replace(&mut cx.wc, outer));
            cx.traced_passes.push(m);
            cx.indent -= 1;
        }
    }
}
