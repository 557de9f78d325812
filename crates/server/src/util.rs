//! Small helpers: ids and timestamps.

use rand::Rng;

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Neutron's timestamp format (`2026-11-02T10:00:00Z`).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A random secret of `n` letters and digits.
pub fn random_secret(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A 256-bit token id, hex.
pub fn new_token_id() -> String {
    let mut rng = rand::rng();
    let bytes: [u8; 32] = rng.random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
