use super::*;
use crate::action::Action;
use crate::field::Field;
use std::sync::Arc;

fn flow(priority: u16, fields: &[(Field, u128, u128)], out: u32) -> Flow {
    let mut m = Match::catch_all();
    for &(f, v, mask) in fields {
        m.set(f, v, mask);
    }
    Flow {
        table: 0,
        priority,
        cookie: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        matcher: m,
        actions: Arc::from(vec![Action::Output(out)]),
        stats: Default::default(),
        learned: false,
    }
}

/// The reference: the first flow of the ordered list that matches.
fn linear(t: &FlowTable, k: &FlowKey) -> Option<u32> {
    t.iter()
        .find(|f| f.matcher.matches(k))
        .map(|f| match f.actions[0] {
            Action::Output(p) => p,
            _ => 0,
        })
}

fn out_of(t: &FlowTable, k: &FlowKey) -> Option<u32> {
    t.lookup(k)
        .and_then(|id| t.get(id))
        .map(|f| match f.actions[0] {
            Action::Output(p) => p,
            _ => 0,
        })
}

#[test]
fn lookup_agrees_with_a_linear_scan() {
    // A deterministic pseudo-random mix of masks, priorities and values, with
    // many ties, checked against the ordered linear scan on many keys.
    let mut t = FlowTable::new(Seed::new(7));
    let mut x: u64 = 0x1234_5678;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let masks: [&[(Field, u128)]; 5] = [
        &[],
        &[(Field::InPort, 0xffff_ffff)],
        &[
            (Field::InPort, 0xffff_ffff),
            (Field::DlSrc, 0xffff_ffff_ffff),
        ],
        &[(Field::VlanTci, 0x0fff), (Field::DlDst, 0xffff_ffff_ffff)],
        &[(Field::DlDst, 0x0100_0000_0000)],
    ];
    for n in 0..600u32 {
        let ms = masks[rnd(5) as usize];
        let fields: Vec<_> = ms
            .iter()
            .map(|&(f, m)| (f, u128::from(rnd(4)), m))
            .collect();
        t.insert(flow(rnd(4) as u16, &fields, n));
        if n % 7 == 0 {
            // Remove something now and then.
            let victim = rnd(3) as u16;
            let mut seen = false;
            t.retain(|f| {
                let hit = !seen && f.priority == victim;
                seen |= hit;
                !hit
            });
        }
    }
    for _ in 0..3000 {
        let mut k = FlowKey::default();
        k.set(Field::InPort, u128::from(rnd(4)));
        k.set(Field::DlSrc, u128::from(rnd(4)));
        k.set(Field::VlanTci, u128::from(rnd(4)));
        k.set(
            Field::DlDst,
            u128::from(rnd(4)) | (u128::from(rnd(2)) << 40),
        );
        assert_eq!(out_of(&t, &k), linear(&t, &k), "{k:?}");
    }
}

#[test]
fn replacing_keeps_position_and_equal_priorities_keep_insertion_order() {
    let mut t = FlowTable::new(Seed::new(7));
    t.insert(flow(1, &[(Field::InPort, 1, 0xffff_ffff)], 10));
    t.insert(flow(1, &[], 11));
    t.insert(flow(5, &[(Field::DlType, 0x800, 0xffff)], 12));
    // Same rule: replaced where it stands.
    t.insert(flow(1, &[(Field::InPort, 1, 0xffff_ffff)], 20));
    let outs: Vec<_> = t
        .iter()
        .map(|f| match f.actions[0] {
            Action::Output(p) => p,
            _ => 0,
        })
        .collect();
    assert_eq!(outs, vec![12, 20, 11]);
    let mut k = FlowKey::default();
    k.set(Field::InPort, 1);
    assert_eq!(out_of(&t, &k), Some(20));
    k.set(Field::InPort, 2);
    assert_eq!(out_of(&t, &k), Some(11));
    assert_eq!(t.len(), 3);
    assert_eq!(t.subtable_count(), 3);
}

#[test]
fn a_value_outside_its_mask_never_matches() {
    let mut t = FlowTable::new(Seed::new(7));
    let mut f = flow(9, &[], 1);
    f.matcher.value.set(Field::InPort, 1);
    t.insert(f);
    t.insert(flow(0, &[], 2));
    let mut k = FlowKey::default();
    k.set(Field::InPort, 1);
    assert_eq!(out_of(&t, &k), Some(2));
    assert_eq!(linear(&t, &k), Some(2));
}

#[test]
fn expiry_looks_at_timed_flows() {
    let mut t = FlowTable::new(Seed::new(7));
    let mut f = flow(1, &[(Field::InPort, 1, 0xffff_ffff)], 1);
    f.hard_timeout = 10;
    t.insert(f.clone());
    t.insert(flow(0, &[], 2));
    assert_eq!(t.expire(9_999), 0);
    assert_eq!(t.expire(10_000), 1);
    assert_eq!(t.len(), 1);
    // Replaced by a flow without timeout: never expires.
    t.insert(f.clone());
    let mut g = f;
    g.hard_timeout = 0;
    t.insert(g);
    assert_eq!(t.expire(u64::MAX), 0);
    assert_eq!(t.len(), 2);
}

#[test]
fn retain_everything_away_and_back() {
    let mut t = FlowTable::new(Seed::new(7));
    for i in 0..100 {
        t.insert(flow(
            (i % 3) as u16,
            &[(Field::DlDst, u128::from(i), 0xffff_ffff_ffff)],
            i,
        ));
    }
    assert_eq!(t.retain(|f| f.priority != 1), 33);
    assert_eq!(t.len(), 67);
    let mut k = FlowKey::default();
    k.set(Field::DlDst, 4);
    assert_eq!(out_of(&t, &k), None);
    k.set(Field::DlDst, 5);
    assert_eq!(out_of(&t, &k), Some(5));
    assert_eq!(t.retain(|_| false), 67);
    assert!(t.is_empty());
    assert_eq!(out_of(&t, &k), None);
    t.insert(flow(0, &[], 7));
    assert_eq!(out_of(&t, &k), Some(7));
}
