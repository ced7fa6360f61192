//! A small in-memory token bucket per client address, for the public lookup
//! and report endpoints. Time comes from the app's clock, so tests move it.
//!
//! IPv6 clients are keyed by their /64 (one subscriber usually holds a whole
//! /64); IPv4 clients by their address. Anything else is keyed as given.

use fanzha_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

/// `burst` requests at once, then `per_minute` a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: u32,
}

pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Timestamp)>>,
}

/// The bucket key of a client address.
pub(crate) fn client_key(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.to_string(),
        Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.trim().to_string(),
    }
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip` at `now`; false when the bucket is empty.
    pub(crate) fn allow(&self, ip: &str, now: Timestamp) -> bool {
        let burst = f64::from(self.limit.burst.max(1));
        let rate_per_ms = f64::from(self.limit.per_minute) / 60_000.0;
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() >= MAX_BUCKETS {
            // Drop buckets that have refilled: they hold no information.
            b.retain(|_, (tokens, at)| {
                let refilled = *tokens + (now.0 - at.0).max(0) as f64 * rate_per_ms;
                refilled < burst
            });
        }
        let (tokens, at) = b.entry(client_key(ip)).or_insert((burst, now));
        let refilled = (*tokens + (now.0 - at.0).max(0) as f64 * rate_per_ms).min(burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let l = RateLimiter::new(RateLimit {
            burst: 3,
            per_minute: 6,
        });
        let t = Timestamp(1_000_000);
        assert!((0..3).all(|_| l.allow("192.0.2.1", t)));
        assert!(!l.allow("192.0.2.1", t));
        assert!(l.allow("192.0.2.2", t), "other clients have their own bucket");
        // Six a minute: one token every ten seconds.
        assert!(!l.allow("192.0.2.1", Timestamp(t.0 + 9_000)));
        assert!(l.allow("192.0.2.1", Timestamp(t.0 + 19_000)));
        assert!(!l.allow("192.0.2.1", Timestamp(t.0 + 19_000)));
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key(" 192.0.2.7 "), "192.0.2.7");
        let l = RateLimiter::new(RateLimit {
            burst: 1,
            per_minute: 0,
        });
        let t = Timestamp(0);
        assert!(l.allow("2001:db8::1", t));
        assert!(!l.allow("2001:db8::2", t), "same /64");
    }
}
