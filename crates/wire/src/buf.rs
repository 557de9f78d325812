//! [`PacketBuf`]: one frame in a buffer with headroom in front, so VLAN tags and tunnel
//! headers are pushed and pulled by moving the start offset, not by copying the payload.

use crate::ether::{ETH_P_QINQ, ETH_P_VLAN, VLAN_HLEN, be16};

/// Room kept in front of a received frame: outer Ethernet + IPv4 + UDP + VXLAN (50) and
/// two VLAN tags, rounded up.
pub const HEADROOM: usize = 128;
/// Room a `Default` buffer gets when it is read into (a jumbo Ethernet frame).
const PLACEHOLDER_READ: usize = 9216;

/// `Default` is an empty buffer with no allocation (a placeholder to swap in).
#[derive(Clone, Default)]
pub struct PacketBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl PacketBuf {
    /// An empty buffer able to hold `capacity` bytes after [`HEADROOM`].
    pub fn with_capacity(capacity: usize) -> PacketBuf {
        PacketBuf {
            buf: vec![0; HEADROOM + capacity],
            start: HEADROOM,
            end: HEADROOM,
        }
    }

    /// A buffer holding a copy of `frame`.
    pub fn from_slice(frame: &[u8]) -> PacketBuf {
        let mut p = PacketBuf::with_capacity(frame.len());
        p.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        p.end = HEADROOM + frame.len();
        p
    }

    /// Replaces the content with a copy of `frame`, reusing the allocation.
    pub fn set_from(&mut self, frame: &[u8]) {
        let need = HEADROOM + frame.len();
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.start = HEADROOM;
        self.end = need;
        self.buf[HEADROOM..need].copy_from_slice(frame);
    }

    /// Resets to empty with the standard headroom and hands out the whole tail for a
    /// read; call [`PacketBuf::set_len`] with what the read returned. An empty
    /// placeholder (`Default`) first grows to hold a full-size Ethernet frame.
    pub fn reset_for_read(&mut self) -> &mut [u8] {
        if self.buf.len() <= HEADROOM {
            self.buf.resize(HEADROOM + PLACEHOLDER_READ, 0);
        }
        self.start = HEADROOM;
        self.end = HEADROOM;
        &mut self.buf[HEADROOM..]
    }

    /// Sets the frame length after a read into [`PacketBuf::reset_for_read`].
    pub fn set_len(&mut self, len: usize) {
        self.end = (self.start + len).min(self.buf.len());
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Drops `n` bytes from the front (decapsulation). Returns false when too short.
    pub fn pull(&mut self, n: usize) -> bool {
        if self.len() < n {
            return false;
        }
        self.start += n;
        true
    }

    /// Opens `n` bytes in front of the data and returns them for writing.
    pub fn push(&mut self, n: usize) -> &mut [u8] {
        if self.start < n {
            // Out of headroom: grow at the front (rare: only nested encapsulation).
            let grow = HEADROOM.max(n);
            let mut nb = vec![0u8; self.buf.len() + grow];
            nb[grow + self.start..grow + self.end].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = nb;
            self.start += grow;
            self.end += grow;
        }
        self.start -= n;
        &mut self.buf[self.start..self.start + n]
    }

    /// The outermost 802.1Q/802.1ad TCI, if the frame carries a tag.
    pub fn vlan_tci(&self) -> Option<u16> {
        let d = self.data();
        if d.len() >= 18 && matches!(be16(d, 12), ETH_P_VLAN | ETH_P_QINQ) {
            Some(be16(d, 14))
        } else {
            None
        }
    }

    /// Inserts an 802.1Q tag (TPID `tpid`, TCI `tci`) after the MAC addresses.
    pub fn push_vlan(&mut self, tpid: u16, tci: u16) {
        if self.len() < 12 {
            return;
        }
        self.push(VLAN_HLEN);
        let s = self.start;
        self.buf.copy_within(s + VLAN_HLEN..s + VLAN_HLEN + 12, s);
        self.buf[s + 12..s + 14].copy_from_slice(&tpid.to_be_bytes());
        self.buf[s + 14..s + 16].copy_from_slice(&tci.to_be_bytes());
    }

    /// Removes the outermost VLAN tag; returns its TCI.
    pub fn pop_vlan(&mut self) -> Option<u16> {
        let tci = self.vlan_tci()?;
        let s = self.start;
        self.buf.copy_within(s..s + 12, s + VLAN_HLEN);
        self.start += VLAN_HLEN;
        Some(tci)
    }

    /// Rewrites the outermost tag's TCI in place; false if untagged.
    pub fn set_vlan_tci(&mut self, tci: u16) -> bool {
        if self.vlan_tci().is_none() {
            return false;
        }
        let s = self.start;
        self.buf[s + 14..s + 16].copy_from_slice(&tci.to_be_bytes());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 1]);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[1, 2, 3, 4]);
        f
    }

    #[test]
    fn push_and_pop_vlan() {
        let mut p = PacketBuf::from_slice(&frame());
        p.push_vlan(ETH_P_VLAN, 0x0005);
        assert_eq!(
            p.data(),
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x16, 0x3e, 0, 0, 1, 0x81, 0x00, 0x00,
                0x05, 0x08, 0x06, 1, 2, 3, 4
            ][..]
        );
        assert_eq!(p.vlan_tci(), Some(5));
        assert!(p.set_vlan_tci(7));
        assert_eq!(p.pop_vlan(), Some(7));
        assert_eq!(p.data(), &frame()[..]);
        assert_eq!(p.pop_vlan(), None);
    }

    #[test]
    fn push_beyond_headroom_grows() {
        let mut p = PacketBuf::from_slice(&frame());
        p.push(HEADROOM + 10).fill(0xaa);
        assert_eq!(p.len(), frame().len() + HEADROOM + 10);
        assert!(p.pull(HEADROOM + 10));
        assert_eq!(p.data(), &frame()[..]);
    }

    #[test]
    fn a_default_placeholder_is_usable() {
        let mut p = PacketBuf::default();
        assert!(p.is_empty());
        let room = p.reset_for_read();
        assert!(room.len() >= 1514, "{}", room.len());
        room[..frame().len()].copy_from_slice(&frame());
        p.set_len(frame().len());
        assert_eq!(p.data(), &frame()[..]);
        let mut q = PacketBuf::default();
        q.set_from(&frame());
        assert_eq!(q.data(), &frame()[..]);
    }
}
