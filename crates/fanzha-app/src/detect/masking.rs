//! Events as staff see them in a lead's evidence: every phone masked,
//! accounts masked, and digit runs inside texts masked. URLs, domains,
//! addresses and app identifiers are indicators, not personal data, and
//! stay as they are.

use fanzha_core::event::{Event, EventBody, Party};
use fanzha_core::mask;
use serde_json::{Value, json};

/// Runs of this many digits or more inside a text are masked (phones, card
/// and account numbers, verification codes).
const DIGIT_RUN: usize = 5;

/// A text with its long digit runs masked: `请拨打138****5678` stays readable
/// without showing the number.
pub(crate) fn mask_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= DIGIT_RUN {
            out.push_str(&mask::keep_ends(run, 3, 2));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn account(v: &str) -> String {
    mask::keep_ends(v, 4, 4)
}

/// The event as JSON with personal values masked.
pub(crate) fn masked_event(ev: &Event) -> Value {
    let mut v = json!({
        "id": mask_text(&ev.id),
        "ts": ev.ts.0,
        "source": ev.source,
        "kind": ev.body.kind_code(),
    });
    let body = match &ev.body {
        EventBody::Call(c) => json!({
            "caller": mask::phone(&c.caller),
            "callee": mask::phone(&c.callee),
            "direction": c.direction,
            "start": c.start.0,
            "duration_s": c.duration_s,
            "transcript": c.transcript.as_deref().map(mask_text),
        }),
        EventBody::Sms(s) => json!({
            "sender": mask::phone(&s.sender),
            "receiver": mask::phone(&s.receiver),
            "text": s.text.as_deref().map(mask_text),
        }),
        EventBody::Web(w) => json!({
            "subscriber": mask::phone(&w.subscriber),
            "url": w.url,
            "domain": w.domain,
            "ip": w.ip,
        }),
        EventBody::App(a) => json!({
            "subscriber": mask::phone(&a.subscriber),
            "package": a.package,
            "cert_sha256": a.cert_sha256,
            "apk_sha256": a.apk_sha256,
            "action": a.action,
        }),
        EventBody::Transfer(t) => json!({
            "payer": match &t.payer {
                Party::Phone(p) => json!(mask::phone(p)),
                Party::Account(a) => json!({ "kind": a.kind, "value": account(&a.value) }),
            },
            "payee": { "kind": t.payee.kind, "value": account(&t.payee.value) },
            "amount_fen": t.amount_fen,
            "channel": t.channel,
        }),
    };
    if let (Some(obj), Value::Object(b)) = (v.as_object_mut(), body) {
        for (k, x) in b {
            if !x.is_null() {
                obj.insert(k, x);
            }
        }
    }
    v
}

/// The explanation as stored: the engine's breakdown without the short
/// hashes of personal values it keeps for matching (caller, payee, text).
pub(crate) fn sanitize_explanation(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("_hash"));
                for x in m.values_mut() {
                    walk(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use fanzha_core::Timestamp;
    use fanzha_core::event::{ParseOptions, parse_event_line};

    #[test]
    fn texts_keep_their_words_and_lose_their_numbers() {
        assert_eq!(mask_text("请拨打13812345678领取"), "请拨打138******78领取");
        assert_eq!(
            mask_text("验证码 1234，卡号6222000011112222"),
            "验证码 1234，卡号622***********22"
        );
        assert_eq!(mask_text("无数字"), "无数字");
    }

    #[test]
    fn events_show_no_full_number() {
        let line = r#"{"ts":1717200000000,"source":"cmcc","kind":"sms","sender":"+8613800000001","receiver":"13900000002","text":"回电13700000003"}"#;
        let ev = parse_event_line(line.as_bytes(), &ParseOptions::at(Timestamp(1_717_200_000_000))).unwrap();
        let text = masked_event(&ev).to_string();
        for full in ["13800000001", "13900000002", "13700000003"] {
            assert!(!text.contains(full), "{text}");
        }
        assert!(text.contains("139****0002"), "{text}");
        let t = br#"{"ts":1717200000000,"source":"bank","kind":"transfer","payer":"13900000002","payee":{"kind":"bank_account","value":"6222000011112222"},"amount_fen":100}"#;
        let ev = parse_event_line(t, &ParseOptions::at(Timestamp(1_717_200_000_000))).unwrap();
        let text = masked_event(&ev).to_string();
        assert!(
            !text.contains("6222000011112222") && text.contains("6222********2222"),
            "{text}"
        );
    }

    #[test]
    fn explanations_lose_hashes() {
        let v =
            json!({"signals": [{"evidence": {"type": "text", "text_hash": 5}, "x": 1}], "caller_hash": 2});
        assert_eq!(
            sanitize_explanation(v),
            json!({"signals": [{"evidence": {"type": "text"}, "x": 1}]})
        );
    }
}
