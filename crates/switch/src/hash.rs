//! A small, fast, non-cryptographic hasher for the engine's own maps (flow cache,
//! classifier buckets, MAC table, port names): keys are a few machine words, and
//! SipHash would cost more than the lookups it serves.
//!
//! Each word is folded in with a multiply (as FxHash does) and the result goes
//! through a final avalanche (MurmurHash3's fmix64), so both the low bits (bucket
//! index) and the high bits (hashbrown's control byte) depend on every input bit.
//! Packets choose many of these keys (MACs, headers), so every map starts from its
//! own seed, derived from the one seed the switch is made with ([`Seed`]): the
//! daemon passes a random one (a guest cannot precompute keys that pile up in one
//! bucket); tests pass a fixed one and get the same maps every run. The engine
//! never asks the OS for randomness itself.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds one word into a running hash.
#[inline(always)]
pub fn fold(h: u64, w: u64) -> u64 {
    (h.rotate_left(26) ^ w).wrapping_mul(K)
}

/// MurmurHash3's 64-bit finaliser.
#[inline(always)]
pub fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A seed that hands out independent seeds for each map or table made from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed(u64);

impl Seed {
    pub fn new(seed: u64) -> Seed {
        Seed(seed)
    }

    /// The seed for the part named `what` (a small number per use).
    #[inline]
    pub fn derive(self, what: u64) -> Seed {
        Seed(finish(fold(self.0 ^ K, what)))
    }

    pub fn value(self) -> u64 {
        self.0
    }

    /// A map hashing with this seed.
    pub fn map<K2, V>(self) -> FastMap<K2, V> {
        FastMap::with_hasher(FastBuild(self.0))
    }
}

/// Hashes a flow-cache key: a port number and the key's words, in four
/// independent lanes (the multiplies overlap instead of waiting on each other).
#[inline]
pub fn hash_key(seed: u64, port: u64, w: &[u64; crate::field::KEY_WORDS]) -> u64 {
    let mut l = [
        seed ^ port,
        seed.rotate_left(16),
        seed.rotate_left(32),
        !seed,
    ];
    let mut chunks = w.chunks_exact(4);
    for c in &mut chunks {
        for i in 0..4 {
            l[i] = fold(l[i], c[i]);
        }
    }
    for (i, x) in chunks.remainder().iter().enumerate() {
        l[i] = fold(l[i], *x);
    }
    finish(fold(fold(fold(l[0], l[1]), l[2]), l[3]))
}

/// The [`Hasher`] behind [`FastMap`].
#[derive(Clone, Copy, Default, Debug)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = fold(self.0, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.0 = fold(self.0, u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = fold(self.0, u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.0 = fold(self.0, u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = fold(self.0, u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = fold(self.0, i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0 = fold(self.0, i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        finish(self.0)
    }
}

/// Builds [`FastHasher`]s from a map's seed (see [`Seed::map`]).
#[derive(Clone, Copy, Debug)]
pub struct FastBuild(u64);

impl BuildHasher for FastBuild {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

pub type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// Passes an already well-mixed `u64` through (for maps keyed by our own hashes).
#[derive(Clone, Copy, Default, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by u64 keys; stay correct for anything else anyway.
        let mut h = FastHasher(self.0);
        h.write(bytes);
        self.0 = h.finish();
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type IdMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn h<T: Hash>(v: T) -> u64 {
        FastBuild(7).hash_one(v)
    }

    #[test]
    fn different_inputs_hash_apart() {
        assert_ne!(h(1u64), h(2u64));
        assert_ne!(h((1u16, 2u64)), h((2u16, 1u64)));
        assert_ne!(h("ab"), h("ab\0"));
        assert_ne!(h([0u64; 18]), h([0u64; 17]));
        // The top 7 bits (hashbrown's control byte) vary with the low input bits.
        let tops: std::collections::HashSet<u64> = (0..64u64).map(|i| h(i) >> 57).collect();
        assert!(tops.len() > 30, "{}", tops.len());
        // Seeds change everything.
        assert_ne!(FastBuild(1).hash_one(5u64), FastBuild(2).hash_one(5u64));
        let k = [3u64; crate::field::KEY_WORDS];
        let mut k2 = k;
        k2[17] = 4;
        assert_ne!(hash_key(1, 0, &k), hash_key(1, 0, &k2));
        assert_ne!(hash_key(1, 0, &k), hash_key(1, 1, &k));
        assert_ne!(hash_key(1, 0, &k), hash_key(2, 0, &k));
    }
}
