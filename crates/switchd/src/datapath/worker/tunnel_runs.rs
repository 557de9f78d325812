//! Small VXLAN packets leave in one sendmmsg per batch; consecutive ones to the same
//! remote with the same length (a UDP flood, a run of TCP ACKs) go further as one
//! UDP GSO message (UDP_SEGMENT): the local stack and the veth or NIC handle one
//! packet instead of dozens, and the datagrams on the wire are the same as if sent
//! one by one (the kernel or the NIC cuts them; a far end that cannot take the
//! run whole gets them cut at its socket).
//!
//! How packets are grouped into runs is `offload::UdpRuns`'s; this sends them.

use std::net::SocketAddrV4;

use offload::UdpRuns;

/// The runs a batch of tunnel packets was grouped into, and the buffers for
/// sending them (kept for their capacity).
#[derive(Default)]
pub(super) struct Runs {
    runs: UdpRuns,
    /// What became of each run, and of a failed run's packets sent one by one.
    run_outcome: host::SendOutcome,
    single_outcome: host::SendOutcome,
}

impl Runs {
    pub fn with_capacity(n: usize) -> Runs {
        Runs {
            runs: UdpRuns::with_capacity(n),
            run_outcome: Vec::with_capacity(n),
            single_outcome: Vec::with_capacity(n),
        }
    }

    /// Sends `packets` ((offset, length, destination) in `buf`, back to back) on
    /// `sock` in runs, `fits[i]` saying whether packet `i` may join one; `outcome`
    /// gets what became of each packet. A run the kernel will not take as one goes
    /// again packet by packet, the way it would have gone without runs. Returns
    /// the runs of more than one packet that went out, and the packets they carried.
    pub fn send(
        &mut self,
        sock: &host::UdpTunnelSocket,
        buf: &[u8],
        packets: &[(usize, usize, SocketAddrV4)],
        fits: &[bool],
        outcome: &mut host::SendOutcome,
    ) -> (u64, u64) {
        self.runs.build(packets, fits);
        sock.send_many_segmented(
            buf,
            self.runs.msgs(),
            self.runs.segs(),
            &mut self.run_outcome,
        );
        self.runs.per_packet(&self.run_outcome, outcome);
        let mut single = std::mem::take(&mut self.single_outcome);
        for range in self.runs.failed_runs(&self.run_outcome) {
            sock.send_many(
                buf,
                packets.get(range.clone()).unwrap_or_default(),
                &mut single,
            );
            for (o, r) in outcome
                .get_mut(range)
                .unwrap_or_default()
                .iter_mut()
                .zip(&single)
            {
                *o = *r;
            }
        }
        self.single_outcome = single;
        self.runs.grouped(&self.run_outcome)
    }
}
