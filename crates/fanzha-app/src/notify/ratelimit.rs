//! At most N warning SMS per person in a window (default 3 in 24 hours), so
//! that a person whose risk keeps rising is not flooded: past the limit the
//! caller uses the fallback method or a person.
//!
//! Pure: time is passed in. [`check_rate`] judges a history the caller
//! keeps (e.g. the sends recorded in the store); [`RateLimiter`] keeps the
//! histories itself in a small map (wrap it in a `Mutex` to share it).
//! Key people by something that is not personal data, such as the resident
//! id or the phone's blind index, never the number itself.

use super::NotifyError;
use fanzha_core::Timestamp;
use fanzha_core::i18n::Msg;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Most people the in-memory limiter tracks before it prunes expired entries.
pub const PRUNE_AT: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sends allowed per person in the window (1 or more).
    pub max: u32,
    /// The window, in hours (1 to 720).
    pub window_hours: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max: 3,
            window_hours: 24,
        }
    }
}

impl RateLimitConfig {
    pub fn validate(&self) -> Result<(), NotifyError> {
        if self.max == 0 || self.max > 1000 {
            return Err(NotifyError::Config("sms_rate_limit.max must be 1 to 1000".into()));
        }
        if self.window_hours == 0 || self.window_hours > 720 {
            return Err(NotifyError::Config(
                "sms_rate_limit.window_hours must be 1 to 720".into(),
            ));
        }
        Ok(())
    }
    /// The message to show when a send is [`RateDecision::Limited`].
    pub fn limited_msg(&self) -> Msg {
        Msg::new("notify.rate_limited")
            .arg("max", self.max)
            .arg("hours", self.window_hours)
    }
    fn window_ms(&self) -> i64 {
        i64::from(self.window_hours) * 3_600_000
    }
}

/// May the person get another SMS now?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RateDecision {
    /// Yes; `remaining` more after this one.
    Allowed { remaining: u32 },
    /// No; the next one is allowed from `retry_at`.
    Limited { retry_at: Timestamp },
}

impl RateDecision {
    pub fn is_allowed(self) -> bool {
        matches!(self, RateDecision::Allowed { .. })
    }
}

/// Judges a person's send history (any order) at `now`. Sends in the
/// window `(now - window, now]` count; a send exactly one window ago no
/// longer does.
pub fn check_rate(cfg: &RateLimitConfig, history: &[Timestamp], now: Timestamp) -> RateDecision {
    let start = now.0 - cfg.window_ms();
    let mut recent: Vec<i64> = history
        .iter()
        .map(|t| t.0)
        .filter(|t| *t > start && *t <= now.0)
        .collect();
    let used = recent.len() as u32;
    if used < cfg.max {
        return RateDecision::Allowed {
            remaining: cfg.max - used - 1,
        };
    }
    // The send that frees a slot is the one `max` places from the newest.
    recent.sort_unstable();
    let idx = recent.len() - cfg.max as usize;
    let oldest_counting = recent.get(idx).copied().unwrap_or(now.0);
    RateDecision::Limited {
        retry_at: Timestamp(oldest_counting + cfg.window_ms()),
    }
}

/// Histories held in memory.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    cfg: RateLimitConfig,
    sends: HashMap<String, VecDeque<Timestamp>>,
}

impl RateLimiter {
    pub fn new(cfg: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            cfg,
            sends: HashMap::new(),
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    fn history(&self, person: &str) -> Vec<Timestamp> {
        self.sends
            .get(person)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The decision for `person` at `now`, recording nothing.
    pub fn check(&self, person: &str, now: Timestamp) -> RateDecision {
        check_rate(&self.cfg, &self.history(person), now)
    }

    /// Records a send made at `at`.
    pub fn record(&mut self, person: &str, at: Timestamp) {
        if self.sends.len() >= PRUNE_AT && !self.sends.contains_key(person) {
            self.prune(at);
        }
        let start = at.0 - self.cfg.window_ms();
        let d = self.sends.entry(person.to_string()).or_default();
        while d.front().is_some_and(|t| t.0 <= start) {
            d.pop_front();
        }
        d.push_back(at);
    }

    /// Checks and, when allowed, records the send in one step.
    pub fn try_acquire(&mut self, person: &str, now: Timestamp) -> RateDecision {
        let d = self.check(person, now);
        if d.is_allowed() {
            self.record(person, now);
        }
        d
    }

    /// Forgets sends older than the window; returns how many people remain.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let start = now.0 - self.cfg.window_ms();
        self.sends.retain(|_, d| {
            d.retain(|t| t.0 > start);
            !d.is_empty()
        });
        self.sends.len()
    }

    /// People tracked.
    pub fn len(&self) -> usize {
        self.sends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }
}
