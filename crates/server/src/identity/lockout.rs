//! Failed logins, counted per user name and per source address: past a limit in
//! a window, a login is refused without its password being checked (the right one
//! too) until the window has passed. Keystone has the per-user half of this
//! (`lockout_failure_attempts`); the per-source half keeps one client from trying
//! many names.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins a user name may have in [`WINDOW`].
pub const PER_USER: u32 = 10;
/// Failed logins a source address may have in [`WINDOW`].
pub const PER_SOURCE: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(300);
/// Keys kept at most (a flood of made-up names is forgotten, not stored).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Lockout {
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Lockout {
    fn limit(key: &str) -> u32 {
        if key.starts_with("src:") {
            PER_SOURCE
        } else {
            PER_USER
        }
    }

    /// Whether any of `keys` is over its limit now.
    pub fn locked(&self, keys: &[String], now: Instant) -> bool {
        let Ok(m) = self.failures.lock() else {
            return false;
        };
        keys.iter().any(|k| {
            m.get(k).is_some_and(|(since, n)| {
                now.duration_since(*since) < WINDOW && *n >= Self::limit(k)
            })
        })
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let Ok(mut m) = self.failures.lock() else {
            return;
        };
        if m.len() >= MAX_KEYS {
            m.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        for k in keys {
            let e = m.entry(k.clone()).or_insert((now, 0));
            if now.duration_since(e.0) >= WINDOW {
                *e = (now, 0);
            }
            e.1 += 1;
        }
    }

    /// A good login clears its user's count (not its source's).
    pub fn succeeded(&self, user_key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(user_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_locks_after_its_limit_for_the_window() {
        let l = Lockout::default();
        let t0 = Instant::now();
        let keys = vec!["user:default/alice".to_string(), "src:10.0.0.9".to_string()];
        for _ in 0..PER_USER {
            assert!(!l.locked(&keys, t0));
            l.failed(&keys, t0);
        }
        assert!(l.locked(&keys, t0));
        assert!(l.locked(&keys[..1], t0 + WINDOW - Duration::from_secs(1)));
        assert!(!l.locked(&keys[..1], t0 + WINDOW));
        // The source's own limit is higher: another name from it still tries.
        assert!(!l.locked(&["user:default/bob".into(), keys[1].clone()], t0));
        l.succeeded(&keys[0]);
        assert!(!l.locked(&keys[..1], t0));
    }
}
