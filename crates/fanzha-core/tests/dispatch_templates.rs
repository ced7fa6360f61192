//! SMS segment counting (`testdata/dispatch/sms_segments.tsv`) and the
//! shipped message templates: complete, short enough, naming the hotline,
//! never carrying more of the person than the salutation.

mod dispatch_support;

use dispatch_support::*;
use fanzha_core::FraudType;
use fanzha_core::dispatch::{
    Placeholder, Salutation, ScriptTemplate, SmsEncoding, TemplateError, TemplateKey, TemplateSet,
    TemplateWarning, Vars, count_sms, render_sms,
};
use fanzha_core::idcard::Sex;

/// Expands the text notation of the README: parts joined by ` ++ `, `X*N` repeats.
fn expand(field: &str) -> String {
    field
        .split(" ++ ")
        .map(|part| {
            let part = unescape(part);
            match part.rsplit_once('*') {
                Some((x, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    x.repeat(n.parse().unwrap())
                }
                _ => part,
            }
        })
        .collect()
}

#[test]
fn sms_segments() {
    let cases = rows("sms_segments.tsv");
    assert!(cases.len() >= 25);
    for (line, f) in cases {
        let [text, enc, units, segments] = f.as_slice() else {
            panic!("line {line}: 4 fields")
        };
        let text = expand(text);
        let m = count_sms(&text);
        assert_eq!(m.encoding.code(), enc, "line {line}");
        assert_eq!(m.chars.to_string(), *units, "line {line}");
        assert_eq!(m.segments.to_string(), *segments, "line {line}");
        assert_eq!(m.text, text);
    }
}

fn builtin() -> TemplateSet {
    TemplateSet::builtin().unwrap()
}

#[test]
fn every_fraud_type_has_all_three_templates() {
    let set = builtin();
    assert_eq!(FraudType::ALL.len(), 11);
    for key in TemplateKey::all() {
        assert_eq!(set.has_own(key), (true, true, true), "{key}");
    }
    assert_eq!(set.check(), Vec::<TemplateWarning>::new());
}

#[test]
fn every_sms_fits_two_segments_and_names_the_hotline() {
    let set = builtin();
    assert_eq!(set.max_segments, 2);
    let names = [
        Salutation::none(),
        Salutation::of("王五", Some(Sex::Male)),
        Salutation::of("欧阳明月", Some(Sex::Female)),
    ];
    let mut texts = std::collections::HashSet::new();
    for t in FraudType::ALL {
        for name in &names {
            let vars = set.sample().clone().name(name.clone());
            let sms = set.render_sms(*t, &vars).unwrap();
            assert_eq!(sms.encoding, SmsEncoding::Ucs2);
            assert!(
                sms.segments <= 2,
                "{t}: {} segments, {} chars: {}",
                sms.segments,
                sms.chars,
                sms.text
            );
            assert!(sms.text.contains("96110"), "{t}");
            assert!(sms.text.starts_with("【反诈中心】"), "{t}");
            assert!(sms.text.contains(name.as_str()));
            assert!(!sms.text.contains('{') && !sms.text.contains('}'), "{t}");
            texts.insert(sms.text);
        }
        let call = set.render_robocall(*t, set.sample()).unwrap();
        assert!(call.contains("96110") && call.contains("反诈中心"), "{t}");
        assert!(call.chars().count() >= 100, "{t}: robocall script too thin");
    }
    // Each type has its own wording.
    assert_eq!(texts.len(), FraudType::ALL.len() * names.len());
}

#[test]
fn dissuasion_scripts_say_ask_and_flag() {
    let set = builtin();
    for t in FraudType::ALL {
        let s: ScriptTemplate = set.render_script(*t, &set.defaults()).unwrap();
        assert!(s.paragraphs().count() >= 3, "{t}: say needs a few paragraphs");
        assert!(s.ask.len() >= 3, "{t}: what to ask");
        assert!(s.red_flags.len() >= 3, "{t}: red flags");
        assert!(s.title.contains("话术"), "{t}");
        let all = format!("{}{}{}", s.say, s.ask.concat(), s.red_flags.concat());
        assert!(!all.contains('{'), "{t}: unfilled placeholder");
    }
}

#[test]
fn the_text_never_carries_the_full_name() {
    let set = builtin();
    for (name, sex, want) in [
        ("张三丰", Sex::Male, "张先生"),
        ("李秀英", Sex::Female, "李女士"),
        ("司马光明", Sex::Male, "司马先生"),
    ] {
        let vars = set.defaults().name(Salutation::of(name, Some(sex)));
        for t in FraudType::ALL {
            let sms = set.render_sms(*t, &vars).unwrap();
            assert!(sms.text.contains(want), "{t}");
            assert!(!sms.text.contains(name), "{t}: full name leaked");
        }
    }
    // There is no placeholder for a raw name or number.
    assert!(matches!(
        render_sms("{phone}", &Vars::empty()),
        Err(TemplateError::UnknownPlaceholder { .. })
    ));
    assert!(matches!(
        render_sms("{full_name}", &Vars::empty()),
        Err(TemplateError::UnknownPlaceholder { .. })
    ));
    assert_eq!(
        Vars::empty().set(Placeholder::Name, "张三丰"),
        Err(TemplateError::NameNeedsSalutation)
    );
}

#[test]
fn overrides_are_checked() {
    let mut set = builtin();
    let long = format!(
        "{{signature}}{{name}}您好：{}请拨打{{hotline}}。",
        "注意防范诈骗。".repeat(20)
    );
    set.set_sms(TemplateKey::Type(FraudType::FakeLoan), &long)
        .unwrap();
    set.set_robocall(
        TemplateKey::Type(FraudType::FakeCredit),
        "您好，这里是{center}，请注意防骗。",
    )
    .unwrap();
    let w = set.check();
    assert!(
        w.iter().any(|w| matches!(w, TemplateWarning::TooManySegments { key: TemplateKey::Type(FraudType::FakeLoan), segments, max: 2 } if *segments > 2)),
        "{w:?}"
    );
    assert!(w.contains(&TemplateWarning::NoHotline {
        kind: "robocall",
        key: TemplateKey::Type(FraudType::FakeCredit)
    }));
    assert!(matches!(
        set.set_sms(TemplateKey::Generic, "{signature}请拨打{hotline}，{phone}"),
        Err(TemplateError::UnknownPlaceholder { .. })
    ));
    // An override with {station} renders only when the caller knows the station.
    set.set_sms(
        TemplateKey::Type(FraudType::GameTrading),
        "{signature}请到{station}咨询，或拨{hotline}。",
    )
    .unwrap();
    assert_eq!(
        set.render_sms(FraudType::GameTrading, &set.defaults()),
        Err(TemplateError::MissingValue {
            placeholder: "station"
        })
    );
    let v = set.defaults().set(Placeholder::Station, "城关派出所").unwrap();
    assert_eq!(
        set.render_sms(FraudType::GameTrading, &v).unwrap().text,
        "【反诈中心】请到城关派出所咨询，或拨96110。"
    );
}

#[test]
fn partial_sets_fall_back_to_generic_and_warn() {
    let sms = "version = 1\nmax_segments = 2\n[defaults]\nhotline = \"96110\"\nsignature = \"【测试】\"\ncenter = \"中心\"\n[sample]\n[sms]\ngeneric = \"{signature}{name}您好，请拨{hotline}。\"\n";
    let robocall = "[robocall]\ngeneric = \"{center}提醒您，请拨{hotline}。\"\n";
    let scripts = "[script.generic]\ntitle = \"通用话术\"\nsay = \"您好。\"\nask = [\"还好吗？\"]\nred_flags = [\"正在转账\"]\n";
    let set = TemplateSet::parse(sms, robocall, scripts).unwrap();
    assert_eq!(
        set.render_sms(FraudType::RomanceScam, &set.defaults())
            .unwrap()
            .text,
        "【测试】您好，请拨96110。"
    );
    let missing = set
        .check()
        .iter()
        .filter(|w| matches!(w, TemplateWarning::Missing { .. }))
        .count();
    assert_eq!(missing, FraudType::ALL.len() * 3);
    // Without a generic entry the set is refused.
    let no_generic = sms.replace("generic =", "fake_loan =");
    assert_eq!(
        TemplateSet::parse(&no_generic, robocall, scripts),
        Err(TemplateError::NoGeneric { kind: "sms" })
    );
    let bad_key = sms.replace("generic =", "generic = \"x{hotline}\"\nbogus_type =");
    assert!(matches!(
        TemplateSet::parse(&bad_key, robocall, scripts),
        Err(TemplateError::UnknownKey { .. })
    ));
}

#[test]
fn template_errors_are_in_the_catalogue() {
    use fanzha_core::i18n;
    let errors = [
        TemplateError::Toml {
            file: "sms.toml",
            reason: "x".into(),
        },
        TemplateError::UnknownPlaceholder {
            kind: "sms",
            key: "generic".into(),
            name: "x".into(),
        },
        TemplateError::Malformed {
            kind: "sms",
            key: "generic".into(),
            at: 0,
        },
        TemplateError::BadLength {
            kind: "sms",
            key: "generic".into(),
        },
        TemplateError::UnknownKey { key: "x".into() },
        TemplateError::NoGeneric { kind: "sms" },
        TemplateError::MissingValue {
            placeholder: "station",
        },
        TemplateError::BadValue {
            placeholder: "center",
        },
        TemplateError::NameNeedsSalutation,
        TemplateError::Invalid {
            key: "x".into(),
            reason: "y".into(),
        },
    ];
    for e in errors {
        assert!(i18n::has(e.key()), "catalogue lacks {}", e.key());
    }
}
