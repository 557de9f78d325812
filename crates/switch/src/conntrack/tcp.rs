//! TCP connection states, after the kernel's tracker (`nf_conntrack_proto_tcp`):
//! the handshake, established, the two closing sequences and RST. Sequence
//! windows are not tracked (as with `nf_conntrack_tcp_be_liberal=1`): any segment
//! of a known connection moves it by its flags alone.

use super::packet::tcp_flags::{ACK, FIN, RST, SYN};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    SynSent,
    /// Both ends sent SYN without ACK (simultaneous open).
    SynSent2,
    SynRecv,
    Established,
    /// One end sent FIN.
    FinWait,
    /// The FIN was acknowledged; the other end has not closed yet.
    CloseWait,
    /// Both ends sent FIN; the last ACK is awaited.
    LastAck,
    TimeWait,
    /// Reset.
    Close,
}

impl TcpState {
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynSent2 => "SYN_SENT2",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
        }
    }

    /// Whether a later SYN from the original side starts the connection over.
    pub fn reopenable(self) -> bool {
        matches!(self, TcpState::TimeWait | TcpState::Close)
    }
}

/// The state a first packet opens, or `None` when it cannot open one: a SYN
/// (without ACK), or in loose mode a segment that joins a connection already
/// under way (an ACK without SYN, FIN or RST), which the kernel picks up as
/// established.
pub fn open(flags: u8, loose: bool) -> Option<TcpState> {
    let f = flags & (SYN | ACK | FIN | RST);
    if f == SYN {
        Some(TcpState::SynSent)
    } else if loose && f & ACK != 0 && f & (SYN | FIN | RST) == 0 {
        Some(TcpState::Established)
    } else {
        None
    }
}

/// The state after a segment with `flags` in direction `reply` (false: the
/// original direction), given which side sent the first FIN (`fin_by_reply`; the
/// caller records it when the state first becomes `FinWait`).
pub fn next(state: TcpState, flags: u8, reply: bool, fin_by_reply: Option<bool>) -> TcpState {
    use TcpState::*;
    if flags & RST != 0 {
        return Close;
    }
    let syn = flags & SYN != 0;
    let ack = flags & ACK != 0;
    let fin = flags & FIN != 0;
    match (state, reply) {
        (SynSent, true) if syn && ack => SynRecv,
        (SynSent, true) if syn => SynSent2,
        (SynSent2, _) if syn && ack => SynRecv,
        (SynRecv, false) if ack && !syn => {
            if fin {
                FinWait
            } else {
                Established
            }
        }
        (SynRecv, true) if fin => FinWait,
        (Established, _) if fin => FinWait,
        (FinWait, r) if fin && Some(r) != fin_by_reply => LastAck,
        (FinWait, r) if ack && Some(r) != fin_by_reply => CloseWait,
        (CloseWait, r) if fin && Some(r) != fin_by_reply => LastAck,
        (LastAck, r) if ack && Some(r) == fin_by_reply => TimeWait,
        (s, _) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::*;

    #[test]
    fn opening() {
        assert_eq!(open(SYN, false), Some(SynSent));
        assert_eq!(open(SYN | ACK, true), None);
        assert_eq!(open(ACK, true), Some(Established));
        assert_eq!(open(ACK, false), None);
        assert_eq!(open(FIN | ACK, true), None);
        assert_eq!(open(RST, true), None);
        assert_eq!(open(0, true), None);
    }

    #[test]
    fn handshake_and_both_closings() {
        let s = next(SynSent, SYN | ACK, true, None);
        assert_eq!(s, SynRecv);
        let s = next(s, ACK, false, None);
        assert_eq!(s, Established);
        // The client closes first.
        let s = next(s, FIN | ACK, false, None);
        assert_eq!(s, FinWait);
        let s = next(s, ACK, true, Some(false));
        assert_eq!(s, CloseWait);
        let s = next(s, FIN | ACK, true, Some(false));
        assert_eq!(s, LastAck);
        let s = next(s, ACK, false, Some(false));
        assert_eq!(s, TimeWait);
        // Both FINs at once (the server closes while the client's FIN is in flight).
        let s = next(Established, FIN | ACK, true, None);
        assert_eq!(s, FinWait);
        let s = next(s, FIN | ACK, false, Some(true));
        assert_eq!(s, LastAck);
        // Retransmits move nothing; RST ends everything.
        assert_eq!(next(Established, ACK, true, None), Established);
        assert_eq!(next(SynSent, SYN, false, None), SynSent);
        assert_eq!(next(Established, RST | ACK, true, None), Close);
        assert_eq!(next(SynSent, SYN, true, None), SynSent2);
        assert_eq!(next(SynSent2, SYN | ACK, false, None), SynRecv);
    }
}
