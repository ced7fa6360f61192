//! Property tests: every normaliser and `detect` take arbitrary input without
//! panicking, and whatever they accept is a fixed point
//! (`normalize(normalize(x)) == normalize(x)`).
//!
//! The case count comes from `PROPTEST_CASES` (default 256 per property);
//! run `PROPTEST_CASES=200000 cargo test --release -p fanzha-core --test
//! proptest_normalize` for a long run.

use fanzha_core::IndicatorKind;
use fanzha_core::{account, app, domain, indicator, ip, phone, url};
use proptest::prelude::*;

fn fixed_point<E: std::fmt::Debug>(name: &str, input: &str, f: impl Fn(&str) -> Result<String, E>) {
    if let Ok(v) = f(input) {
        let again = f(&v);
        assert!(
            matches!(&again, Ok(w) if *w == v),
            "{name}: {input:?} -> {v:?} -> {again:?}"
        );
    }
}

fn all_normalisers(s: &str) {
    fixed_point("phone", s, phone::normalize);
    if let Ok(p) = phone::normalize(s) {
        assert!(phone::classify(&p).is_some(), "phone {s:?} -> {p:?} has no class");
        assert!(matches!(
            phone::normalize_cow(&p),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
    }
    fixed_point("domain", s, domain::normalize);
    if let Ok(d) = domain::normalize(s) {
        let _ = domain::registrable_domain(&d);
        assert!(
            d.len() <= 253 && d.is_ascii() && !d.ends_with('.'),
            "domain {s:?} -> {d:?}"
        );
    }
    fixed_point("url", s, |x| url::canonicalize(x).map(url::CanonUrl::into_string));
    if let Ok(u) = url::canonicalize(s) {
        assert!(u.as_str().is_ascii(), "url {s:?} -> {u}");
        assert!(u.path().starts_with('/'));
        let _ = (u.host(), u.query(), u.registrable_domain(), u.ip());
    }
    fixed_point("ip", s, ip::normalize);
    fixed_point("app", s, app::normalize);
    fixed_point("bank", s, account::normalize_bank_account);
    fixed_point("bank_lenient", s, account::normalize_bank_account_lenient);
    fixed_point("payment", s, account::normalize_payment_account);
    fixed_point("social", s, account::normalize_social_account);
    for &kind in IndicatorKind::ALL {
        fixed_point(kind.code(), s, |x| indicator::normalize(kind, x));
        if let Err(e) = indicator::normalize(kind, s) {
            let _ = e.to_string();
        }
    }
    if let Some((kind, v)) = indicator::detect(s) {
        assert_eq!(
            indicator::normalize(kind, &v).as_deref(),
            Ok(v.as_str()),
            "detect {s:?}"
        );
        assert_eq!(
            indicator::detect(&v),
            Some((kind, v.clone())),
            "detect {s:?} is not stable"
        );
    }
}

/// Characters that the normalisers treat specially, to reach deep paths
/// more often than uniformly random text does.
const ALPHABET: &str = "0123456789abcdefxABCDEFX+-()[]{}.:/\\?#%@_ \t\n～＋（）－．。０１８６\
                        \u{2060}\u{200B}例中国ß转分机extpkgcertapkqqwechattelegramalipayhxxpshttp";

fn messy() -> impl Strategy<Value = String> {
    let chars: Vec<char> = ALPHABET.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..48).prop_map(|v| v.into_iter().collect())
}

fn phone_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r"(\+|00|0|86|tel:)?[0-9 ()\-.]{0,24}((转|ext|#)[0-9]{0,7})?")
        .expect("regex")
}

fn url_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        r"((https?|hxxp|ftp|HTTP)(:|://|:/))?([a-zA-Z0-9\-_.%]{0,12}@)?([a-zA-Z0-9\-.%\[\]:]|例|。){0,24}(:[0-9]{0,6})?(/[a-zA-Z0-9.%/?#\\ ]{0,30})?",
    )
    .expect("regex")
}

fn prefixed() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "wechat",
            "qq",
            "alipay",
            "tg",
            "telegram",
            "whatsapp",
            "line",
            "douyin",
            "weibo",
            "unionpay",
            "paypal",
            "x",
            "skype",
            "微信",
            "支付宝",
            "pkg",
            "cert",
            "apk",
            "sha256",
            "tel",
        ]),
        prop::sample::select(vec![":", "：", ": "]),
        "[a-zA-Z0-9@+_.:/\\- ]{0,40}",
    )
        .prop_map(|(p, sep, rest)| format!("{p}{sep}{rest}"))
}

proptest! {
    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        all_normalisers(&s);
    }

    #[test]
    fn arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..256)) {
        all_normalisers(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn messy_text(s in messy()) {
        all_normalisers(&s);
    }

    #[test]
    fn phone_shaped(s in phone_like()) {
        all_normalisers(&s);
    }

    #[test]
    fn url_shaped(s in url_like()) {
        all_normalisers(&s);
    }

    #[test]
    fn platform_prefixed(s in prefixed()) {
        all_normalisers(&s);
    }

    #[test]
    fn ip_shaped(a in any::<[u8; 4]>(), p in 0u8..=40, v6 in any::<u128>(), q in 0u8..=140) {
        let v4 = format!("{}.{}.{}.{}/{p}", a[0], a[1], a[2], a[3]);
        all_normalisers(&v4);
        let v6s = format!("{}/{q}", std::net::Ipv6Addr::from(v6));
        all_normalisers(&v6s);
        if let Ok(net) = ip::parse_ip_or_cidr(&v4) {
            prop_assert!(net.prefix_len() <= 32);
            prop_assert_eq!(net.trunc(), net);
        } else {
            prop_assert!(p > 32);
        }
    }

    #[test]
    fn valid_mobiles_round_trip(second in 3u8..=9, rest in "[0-9]{9}", style in 0usize..5) {
        let n = format!("1{second}{rest}");
        let raw = match style {
            0 => n.clone(),
            1 => format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]),
            2 => format!("0086-{n}"),
            3 => format!("0{n}"),
            _ => format!("86{n}"),
        };
        let want = format!("+86{n}");
        prop_assert_eq!(phone::normalize(&raw), Ok(want.clone()));
        prop_assert_eq!(phone::classify(&want), Some(phone::PhoneClass::Mobile));
    }
}
