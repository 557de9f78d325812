//! Password hashing with argon2 (PHC strings), off the async threads.
//!
//! Each hash takes argon2's memory (19 MiB with the default parameters) for its
//! run. Logins need no token, so anyone can ask for hashes: at most one per core
//! runs at a time (the others wait their turn), and hashing and verification work
//! in memory blocks that are kept and reused, so a burst of logins neither grows the process
//! nor keeps what it took. An unknown user costs the same time as a wrong
//! password ([`verify_unknown`]), so names cannot be told apart by timing.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{LazyLock, Mutex};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error("hashing task: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("hashing gate closed")]
    Gate,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Hashes running at once: one per core.
static GATE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(cores()));

/// Memory blocks for verification, kept between runs (at most one set a core).
static BLOCKS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Stored hashes asking for more memory than this are refused (a corrupt or
/// planted hash must not make a login take gigabytes).
const MAX_M_COST_KIB: u32 = 256 * 1024;

/// What an unknown user's login is checked against: a hash of a random password
/// with the default parameters, made once.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let pw: [u8; 16] = rand::random();
    hash_blocking(&pw).unwrap_or_default()
});

pub async fn hash(password: String) -> Result<String, PasswordError> {
    let _turn = GATE.acquire().await.map_err(|_| PasswordError::Gate)?;
    tokio::task::spawn_blocking(move || hash_blocking(password.as_bytes())).await?
}

/// A new PHC string for `password` (argon2id, the default parameters, a random
/// salt), computed in the kept blocks as verification is.
fn hash_blocking(password: &[u8]) -> Result<String, PasswordError> {
    let err = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes).map_err(|e| err(&e))?;
    let params = Params::default();
    let mut out = vec![0u8; Params::DEFAULT_OUTPUT_LEN];
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(params.block_count(), |blocks| {
        a.hash_password_into_with_memory(password, &bytes, &mut out, blocks)
    })
    .map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// Runs `f` in a set of `count` memory blocks taken from the kept ones (or new),
/// and keeps the set again afterwards (at most one set a core).
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut blocks = BLOCKS
        .lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default();
    blocks.resize(count, Block::default());
    let r = f(&mut blocks[..]);
    if let Ok(mut v) = BLOCKS.lock()
        && v.len() < cores()
    {
        v.push(blocks);
    }
    r
}

/// Whether `password` matches the stored PHC string (false for a corrupt hash).
pub async fn verify(password: String, phc: String) -> bool {
    let Ok(_turn) = GATE.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_blocking(password.as_bytes(), &phc))
        .await
        .unwrap_or(false)
}

/// Spends the time of a verification for a user who does not exist; false.
pub async fn verify_unknown(password: String) -> bool {
    let phc = DUMMY.clone();
    verify(password, phc).await;
    false
}

fn verify_blocking(password: &[u8], phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
        return false;
    };
    let Ok(alg) = Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let version = h
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let Ok(params) = Params::try_from(&h) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST_KIB {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let a = Argon2::new(alg, version, params.clone());
    with_blocks(params.block_count(), |blocks| {
        a.hash_password_into_with_memory(password, salt, &mut out, blocks)
            .is_ok()
    }) && constant_time_eq(&out, expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verify_takes_the_right_password_only() {
        let h = hash("s3cret".into()).await.unwrap_or_default();
        assert!(verify("s3cret".into(), h.clone()).await);
        assert!(!verify("wrong".into(), h.clone()).await);
        // A standard PHC string: the argon2 crate's own verifier takes it.
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let parsed = PasswordHash::new(&h).expect("PHC string");
        use argon2::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(b"s3cret", &parsed)
                .is_ok()
        );
        assert!(!verify("s3cret".into(), "not a hash".into()).await);
        assert!(!verify_unknown("s3cret".into()).await);
        // Reused memory gives the same answers.
        for _ in 0..3 {
            assert!(verify("s3cret".into(), h.clone()).await);
        }
    }
}
