//! Small helpers: ids and timestamps.

use rand::Rng;

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Neutron's timestamp format (`2026-11-02T10:00:00Z`).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether a token's lifetime is over. The exact instant is `expires_at`
/// (microseconds); `expires_unix` is that instant truncated to whole seconds,
/// which alone would end a token up to a second early.
pub fn token_expired(t: &model::Token) -> bool {
    let now = chrono::Utc::now();
    match chrono::DateTime::parse_from_rfc3339(&t.expires_at) {
        Ok(at) => at <= now,
        Err(_) => t.expires_unix <= now.timestamp(),
    }
}

/// What a token keeps of its user's password hash: a short digest, so that a
/// password change can end the tokens issued before it.
pub fn secret_tag(password_hash: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(password_hash.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::token_expired;
    use model::{Token, TokenUser};

    fn token(expires: chrono::DateTime<chrono::Utc>) -> Token {
        Token {
            user: TokenUser {
                id: "u".into(),
                name: "u".into(),
                domain_id: "default".into(),
            },
            project_id: "p".into(),
            project_name: "p".into(),
            project_domain_id: "default".into(),
            roles: Vec::new(),
            issued_at: String::new(),
            expires_at: expires.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            expires_unix: expires.timestamp(),
            secret_tag: String::new(),
        }
    }

    #[test]
    fn a_token_lives_to_its_exact_instant() {
        let now = chrono::Utc::now();
        // The whole-second field says "over" while the precise instant is ahead:
        // the token is still good (CI once refused a 1 s token at 0.1 s).
        let mut t = token(now + chrono::Duration::seconds(30));
        t.expires_unix = now.timestamp() - 1;
        assert!(!token_expired(&t));
        assert!(token_expired(&token(
            now - chrono::Duration::milliseconds(1)
        )));
        // Without a readable instant, the whole seconds decide.
        let mut t = token(now + chrono::Duration::seconds(30));
        t.expires_at = "garbage".into();
        assert!(!token_expired(&t));
        t.expires_unix = now.timestamp() - 1;
        assert!(token_expired(&t));
    }
}
