//! The per-person SMS limit on a simulated clock, and delivery receipts
//! turned into attempt results.

use fanzha_app::notify::{
    RateDecision, RateLimitConfig, RateLimiter, ReceiptFormat, ReceiptStatus, check_rate, parse_receipts,
};
use fanzha_core::Timestamp;
use fanzha_core::task::ContactResult;

fn h(hours: f64) -> Timestamp {
    Timestamp((1_700_000_000_000.0 + hours * 3_600_000.0) as i64)
}

#[test]
fn three_per_day_by_default() {
    let mut rl = RateLimiter::new(RateLimitConfig::default());
    assert_eq!(
        rl.try_acquire("resident:7", h(0.0)),
        RateDecision::Allowed { remaining: 2 }
    );
    assert_eq!(
        rl.try_acquire("resident:7", h(1.0)),
        RateDecision::Allowed { remaining: 1 }
    );
    assert_eq!(
        rl.try_acquire("resident:7", h(2.0)),
        RateDecision::Allowed { remaining: 0 }
    );
    // The fourth within 24 h is refused until the first leaves the window.
    assert_eq!(
        rl.try_acquire("resident:7", h(3.0)),
        RateDecision::Limited { retry_at: h(24.0) }
    );
    assert_eq!(
        rl.check("resident:7", h(23.99)),
        RateDecision::Limited { retry_at: h(24.0) }
    );
    // Another person is not affected.
    assert!(rl.try_acquire("resident:8", h(3.0)).is_allowed());
    // Exactly one window after the first send, it no longer counts.
    assert_eq!(
        rl.try_acquire("resident:7", h(24.0)),
        RateDecision::Allowed { remaining: 0 }
    );
    assert_eq!(
        rl.check("resident:7", h(24.5)),
        RateDecision::Limited { retry_at: h(25.0) }
    );
    // A refused try is not recorded: at 26 h the 1 h and 2 h sends are gone.
    assert_eq!(
        rl.check("resident:7", h(26.0)),
        RateDecision::Allowed { remaining: 1 }
    );
    assert_eq!(rl.len(), 2);
    assert_eq!(rl.prune(h(100.0)), 0);
    assert!(rl.is_empty());
}

#[test]
fn a_history_kept_elsewhere_is_judged_the_same() {
    let cfg = RateLimitConfig {
        max: 2,
        window_hours: 6,
    };
    let history = [h(5.0), h(0.5), h(4.0), h(-10.0)];
    // In the window (0, 6]: 0.5, 4 and 5 → over the limit; the slot frees when 4.0 leaves.
    assert_eq!(
        check_rate(&cfg, &history, h(6.0)),
        RateDecision::Limited { retry_at: h(10.0) }
    );
    assert_eq!(
        check_rate(&cfg, &history, h(10.0)),
        RateDecision::Allowed { remaining: 0 }
    );
    assert_eq!(
        check_rate(&cfg, &[], h(0.0)),
        RateDecision::Allowed { remaining: 1 }
    );
    // Sends in the future (clock skew) do not count yet.
    assert_eq!(
        check_rate(&cfg, &[h(7.0), h(8.0)], h(6.0)),
        RateDecision::Allowed { remaining: 1 }
    );
    assert!(
        RateLimitConfig {
            max: 0,
            window_hours: 1
        }
        .validate()
        .is_err()
    );
    assert!(
        RateLimitConfig {
            max: 1,
            window_hours: 0
        }
        .validate()
        .is_err()
    );
}

#[test]
fn receipts_become_attempt_results() {
    let f = ReceiptFormat::default();
    let r = parse_receipts(
        &f,
        br#"[{"id": "m-1", "status": "DELIVRD"}, {"id": "m-2", "status": "UNDELIV", "error": "MK:0012"},
             {"id": "m-3", "status": "ENROUTE"}, {"id": "m-4"}]"#,
    )
    .unwrap();
    let results: Vec<Option<ContactResult>> = r.items.iter().map(|i| i.status.contact_result()).collect();
    assert_eq!(
        results,
        vec![Some(ContactResult::Delivered), Some(ContactResult::Failed), None]
    );
    assert_eq!(r.items[1].error.as_deref(), Some("MK:0012"));
    assert_eq!(r.items[2].status, ReceiptStatus::Pending);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].index, 3);
}

#[test]
fn messages_are_in_the_catalogue() {
    use fanzha_app::notify::{Channel, Failure, NotifyError, ReceiptError};
    use fanzha_core::i18n::{self, Lang};
    let errors = [
        NotifyError::Config("x".into()),
        NotifyError::Invalid("x"),
        NotifyError::NotConfigured {
            channel: Channel::Voice,
        },
        NotifyError::Rejected {
            channel: Channel::Sms,
            status: 400,
            attempts: 1,
        },
        NotifyError::BadResponse {
            channel: Channel::Sms,
            status: 200,
            reason: "x".into(),
            attempts: 1,
        },
        NotifyError::GaveUp {
            channel: Channel::Sms,
            attempts: 4,
            last: Failure::Timeout,
        },
    ];
    let mut msgs: Vec<_> = errors.iter().map(|e| e.msg()).collect();
    msgs.push(RateLimitConfig::default().limited_msg());
    msgs.push(fanzha_core::i18n::Msg::new(ReceiptError::NotJson.key()));
    for m in msgs {
        assert!(i18n::has(&m.key), "catalogue lacks {}", m.key);
        for lang in [Lang::Zh, Lang::En] {
            let text = m.render(lang);
            assert!(!text.contains('{'), "{}: {text}", m.key);
        }
    }
    assert!(
        RateLimitConfig::default()
            .limited_msg()
            .render(Lang::Zh)
            .contains("24 小时")
    );
}
