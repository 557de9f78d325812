use super::frames::*;
use super::state::*;
use super::tcp_flags::*;
use super::*;

const S: u64 = 1000;

fn ct() -> Conntrack {
    Conntrack::new(CtConfig::default(), 7)
}

/// ct() then, when `commit`, ct(commit): the state the packet saw.
fn pass(c: &mut Conntrack, frame: &[u8], zone: u16, now: u64, commit: bool) -> u8 {
    let p = parse(frame);
    let v = c.track(p.as_ref(), zone, now);
    if commit && v.state & INV == 0 {
        c.commit(p.as_ref(), zone, now, v.conn, None).unwrap();
    }
    v.state
}

#[test]
fn tcp_handshake_data_and_close_in_both_directions() {
    let mut c = ct();
    let a = "10.0.0.5";
    let b = "10.0.0.6";
    // SYN: new, committed; a retransmitted SYN is still new (no reply yet).
    assert_eq!(
        pass(&mut c, &tcp(a, b, 40000, 22, SYN), 1, 0, true),
        TRK | NEW
    );
    assert_eq!(
        pass(&mut c, &tcp(a, b, 40000, 22, SYN), 1, 10, true),
        TRK | NEW
    );
    // SYN-ACK comes back: established, reply direction.
    assert_eq!(
        pass(&mut c, &tcp(b, a, 22, 40000, SYN | ACK), 1, 20, false),
        TRK | EST | RPL
    );
    assert_eq!(
        pass(&mut c, &tcp(a, b, 40000, 22, ACK), 1, 30, false),
        TRK | EST
    );
    let d = c.dump(None, 30);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].tcp_state, Some("ESTABLISHED"));
    assert_eq!(d[0].expires_in, 432_000 * S);
    assert_eq!(
        d[0].text(),
        "tcp,orig=(src=10.0.0.5,dst=10.0.0.6,sport=40000,dport=22),\
         reply=(src=10.0.0.6,dst=10.0.0.5,sport=22,dport=40000),zone=1,\
         protoinfo=(state=ESTABLISHED)"
    );
    // The server closes first.
    pass(&mut c, &tcp(b, a, 22, 40000, FIN | ACK), 1, 40, false);
    assert_eq!(c.dump(None, 40)[0].tcp_state, Some("FIN_WAIT"));
    assert_eq!(c.dump(None, 40)[0].expires_in, 120 * S);
    pass(&mut c, &tcp(a, b, 40000, 22, ACK), 1, 50, false);
    assert_eq!(c.dump(None, 50)[0].tcp_state, Some("CLOSE_WAIT"));
    assert_eq!(c.dump(None, 50)[0].expires_in, 60 * S);
    pass(&mut c, &tcp(a, b, 40000, 22, FIN | ACK), 1, 60, false);
    assert_eq!(c.dump(None, 60)[0].tcp_state, Some("LAST_ACK"));
    assert_eq!(c.dump(None, 60)[0].expires_in, 30 * S);
    assert_eq!(
        pass(&mut c, &tcp(b, a, 22, 40000, ACK), 1, 70, false),
        TRK | EST | RPL
    );
    let d = c.dump(None, 70);
    assert_eq!(d[0].tcp_state, Some("TIME_WAIT"));
    assert_eq!(d[0].expires_in, 120 * S);
    // A new SYN on the same ports starts over: new again.
    assert_eq!(
        pass(&mut c, &tcp(a, b, 40000, 22, SYN), 1, 80, true),
        TRK | NEW
    );
    assert_eq!(c.dump(None, 80)[0].tcp_state, Some("SYN_SENT"));
    // RST closes.
    pass(&mut c, &tcp(b, a, 22, 40000, RST | ACK), 1, 90, false);
    assert_eq!(c.dump(None, 90)[0].tcp_state, Some("CLOSE"));
    assert_eq!(c.dump(None, 90)[0].expires_in, 10 * S);
}

#[test]
fn invalid_packets() {
    let mut c = ct();
    // No connection: a SYN-ACK, a FIN, a RST or a bare segment cannot open one.
    for f in [SYN | ACK, FIN | ACK, RST, 0] {
        assert_eq!(
            pass(&mut c, &tcp("10.0.0.5", "10.0.0.6", 1, 2, f), 1, 0, true),
            TRK | INV,
            "flags {f:#x}"
        );
    }
    // Loose pick-up: an ACK mid-stream opens an established connection.
    assert_eq!(
        pass(&mut c, &tcp("10.0.0.5", "10.0.0.6", 1, 2, ACK), 1, 0, true),
        TRK | NEW
    );
    assert_eq!(c.dump(None, 0)[0].tcp_state, Some("ESTABLISHED"));
    let mut strict = Conntrack::new(
        CtConfig {
            tcp_loose: false,
            ..CtConfig::default()
        },
        1,
    );
    assert_eq!(
        pass(
            &mut strict,
            &tcp("10.0.0.5", "10.0.0.6", 1, 2, ACK),
            1,
            0,
            true
        ),
        TRK | INV
    );
    // Not IP, cut short, an unsolicited echo reply, ND, an error about nothing.
    let arp = {
        let mut f = tcp("10.0.0.5", "10.0.0.6", 1, 2, SYN);
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        f
    };
    let short = tcp("10.0.0.5", "10.0.0.6", 1, 2, SYN)[..40].to_vec();
    let nd = icmp("fd00::5", "fd00::6", 135, 0, &[0; 20]);
    let quoted = ip(p("10.0.0.5"), p("10.0.0.9"), 17, &[0, 1, 0, 2, 0, 8, 0, 0]);
    for f in [
        arp,
        short,
        echo("10.0.0.5", "10.0.0.6", 9, true),
        nd,
        error("10.0.0.9", "10.0.0.5", 3, 3, &quoted),
    ] {
        assert_eq!(pass(&mut c, &f, 1, 0, true), TRK | INV);
    }
    assert_eq!(c.stats().invalid, 9);
    assert_eq!(c.len(), 1, "nothing invalid was committed");
}

#[test]
fn related_icmp_errors_v4_and_v6() {
    for (a, b, r, unreach) in [
        ("10.0.0.5", "192.0.2.1", "10.0.0.1", 3u8),
        ("fd00::5", "2001:db8::1", "fd00::1", 1u8),
    ] {
        let mut c = ct();
        let out = udp(a, b, 5000, 53);
        assert_eq!(pass(&mut c, &out, 3, 0, true), TRK | NEW);
        let quoted = &out[14..];
        // A router on the way says the destination is unreachable: related, in the
        // reply direction, with the connection's mark.
        c.commit(parse(&out).as_ref(), 3, 1, None, Some((0x1, 0xffff_ffff)))
            .unwrap();
        let e = error(r, a, unreach, 0, quoted);
        let p1 = parse(&e);
        let v = c.track(p1.as_ref(), 3, 1);
        assert_eq!(v.state, TRK | REL | RPL, "{a}");
        assert_eq!(v.mark, 1);
        // Another zone knows nothing of it; nor does an error sent to someone else.
        assert_eq!(c.track(p1.as_ref(), 4, 1).state, TRK | INV);
        let spoofed = error(r, b, unreach, 0, quoted);
        assert_eq!(c.track(parse(&spoofed).as_ref(), 3, 1).state, TRK | INV);
        // Committing an error makes nothing.
        c.commit(p1.as_ref(), 3, 1, None, None).unwrap();
        assert_eq!(c.len(), 1);
    }
}

#[test]
fn echo_by_id_and_udp_replies() {
    let mut c = ct();
    assert_eq!(
        pass(&mut c, &echo("10.0.0.5", "10.0.0.6", 77, false), 1, 0, true),
        TRK | NEW
    );
    assert_eq!(
        pass(&mut c, &echo("10.0.0.6", "10.0.0.5", 77, true), 1, 1, false),
        TRK | EST | RPL
    );
    // Another id is another connection; its reply alone is invalid.
    assert_eq!(
        pass(&mut c, &echo("10.0.0.6", "10.0.0.5", 78, true), 1, 1, false),
        TRK | INV
    );
    assert_eq!(
        pass(&mut c, &echo("fd00::5", "fd00::6", 77, false), 1, 0, true),
        TRK | NEW
    );
    assert_eq!(
        pass(&mut c, &echo("fd00::6", "fd00::5", 77, true), 1, 1, false),
        TRK | EST | RPL
    );
    assert_eq!(
        pass(&mut c, &udp("10.0.0.5", "10.0.0.6", 1000, 2000), 1, 0, true),
        TRK | NEW
    );
    assert_eq!(
        pass(
            &mut c,
            &udp("10.0.0.6", "10.0.0.5", 2000, 1000),
            1,
            1,
            false
        ),
        TRK | EST | RPL
    );
    assert_eq!(
        pass(
            &mut c,
            &udp("10.0.0.5", "10.0.0.6", 1000, 2000),
            1,
            2,
            false
        ),
        TRK | EST
    );
}

#[test]
fn every_timeout() {
    let t = Timeouts::default();
    let cases: [(&str, Vec<Vec<u8>>, u64); 6] = [
        (
            "udp unreplied",
            vec![udp("10.0.0.5", "10.0.0.6", 1, 2)],
            t.udp,
        ),
        (
            "udp stream",
            vec![
                udp("10.0.0.5", "10.0.0.6", 1, 2),
                udp("10.0.0.6", "10.0.0.5", 2, 1),
            ],
            t.udp_stream,
        ),
        ("icmp", vec![echo("10.0.0.5", "10.0.0.6", 1, false)], t.icmp),
        (
            "generic",
            vec![frame(&ip(p("10.0.0.5"), p("10.0.0.6"), 47, &[0; 8]))],
            t.generic,
        ),
        (
            "syn sent",
            vec![tcp("10.0.0.5", "10.0.0.6", 1, 2, SYN)],
            t.tcp_syn_sent,
        ),
        (
            "syn recv",
            vec![
                tcp("10.0.0.5", "10.0.0.6", 1, 2, SYN),
                tcp("10.0.0.6", "10.0.0.5", 2, 1, SYN | ACK),
            ],
            t.tcp_syn_recv,
        ),
    ];
    for (what, frames, timeout) in cases {
        let mut c = ct();
        for (i, f) in frames.iter().enumerate() {
            pass(&mut c, f, 1, 100, i == 0);
        }
        // Alive until the last instant, gone after it; the sweep counts it.
        assert_eq!(c.dump(None, 100 + timeout - 1).len(), 1, "{what}");
        assert!(c.dump(None, 100 + timeout).is_empty(), "{what}");
        assert_eq!(c.sweep(100 + timeout - 1, 10), 0, "{what}");
        assert_eq!(c.sweep(100 + timeout, 10), 1, "{what}");
        assert_eq!(c.stats().expired, 1);
        assert!(c.is_empty());
    }
    // A packet that meets an expired connection starts a new one.
    let mut c = ct();
    let f = udp("10.0.0.5", "10.0.0.6", 1, 2);
    pass(&mut c, &f, 1, 0, true);
    pass(&mut c, &udp("10.0.0.6", "10.0.0.5", 2, 1), 1, 0, false);
    assert_eq!(pass(&mut c, &f, 1, t.udp_stream, false), TRK | NEW);
    assert_eq!(c.stats().expired, 1);
}

#[test]
fn the_table_limit_refuses_commits_and_counts() {
    let mut c = Conntrack::new(
        CtConfig {
            max: 3,
            ..CtConfig::default()
        },
        2,
    );
    for port in 1..=3 {
        pass(&mut c, &udp("10.0.0.5", "10.0.0.6", port, 53), 1, 0, true);
    }
    let f = udp("10.0.0.5", "10.0.0.6", 4, 53);
    let p4 = parse(&f);
    let v = c.track(p4.as_ref(), 1, 0);
    assert_eq!(c.commit(p4.as_ref(), 1, 0, v.conn, None), Err(TableFull));
    assert_eq!(c.stats().refused, 1);
    assert_eq!(c.len(), 3);
    // A known connection still commits (its mark) when the table is full.
    let f1 = udp("10.0.0.5", "10.0.0.6", 1, 53);
    assert!(
        c.commit(parse(&f1).as_ref(), 1, 0, None, Some((5, 0xff)))
            .is_ok()
    );
    assert_eq!(c.dump(None, 0)[0].mark, 5);
    assert_eq!(c.flush(Some(1)), 3);
    assert!(c.commit(p4.as_ref(), 1, 0, None, None).is_ok());
}

#[test]
fn zones_are_kept_apart() {
    let mut c = ct();
    let f = tcp("10.0.0.5", "10.0.0.6", 1, 2, SYN);
    pass(&mut c, &f, 1, 0, true);
    // The same tuple in zone 2 is another connection; the reply in zone 2 knows
    // nothing of zone 1's.
    assert_eq!(
        pass(
            &mut c,
            &tcp("10.0.0.6", "10.0.0.5", 2, 1, SYN | ACK),
            2,
            1,
            false
        ),
        TRK | INV
    );
    assert_eq!(pass(&mut c, &f, 2, 1, true), TRK | NEW);
    assert_eq!(c.zones(), vec![(1, 1), (2, 1)]);
    assert_eq!(c.dump(Some(2), 1).len(), 1);
    assert_eq!(c.flush(Some(1)), 1);
    assert_eq!(c.zones(), vec![(2, 1)]);
}

#[test]
fn marks_are_set_under_a_mask_and_read_back() {
    let mut c = ct();
    let f = udp("10.0.0.5", "10.0.0.6", 1, 2);
    let pk = parse(&f);
    let v = c.track(pk.as_ref(), 1, 0);
    c.commit(pk.as_ref(), 1, 0, v.conn, None).unwrap();
    let v = c.track(pk.as_ref(), 1, 1);
    assert_eq!(v.mark, 0);
    c.commit(pk.as_ref(), 1, 1, v.conn, Some((1, 1))).unwrap();
    assert_eq!(c.track(pk.as_ref(), 1, 2).mark, 1);
    let back = udp("10.0.0.6", "10.0.0.5", 2, 1);
    assert_eq!(c.track(parse(&back).as_ref(), 1, 3).mark, 1);
}

#[test]
fn timeouts_are_set_by_the_kernels_names() {
    let mut t = Timeouts::default();
    t.set("tcp_established", 3600).unwrap();
    t.set("udp", 10).unwrap();
    assert_eq!(t.tcp_established, 3_600_000);
    assert_eq!(t.udp, 10_000);
    for name in Timeouts::NAMES {
        assert!(Timeouts::default().set(name, 1).is_ok(), "{name}");
    }
    assert!(t.set("tcp_bogus", 1).unwrap_err().contains("unknown"));
    assert!(t.set("udp", 0).is_err());
    // A shorter timeout applies to connections from then on.
    let mut c = Conntrack::new(
        CtConfig {
            timeouts: t,
            ..CtConfig::default()
        },
        3,
    );
    pass(&mut c, &udp("10.0.0.5", "10.0.0.6", 1, 2), 1, 0, true);
    assert_eq!(c.dump(None, 0)[0].expires_in, 10 * S);
}
