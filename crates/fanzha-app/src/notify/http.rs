//! HTTP SMS and voice gateways, configured rather than coded: most SMS and
//! voice platforms take one POST (or GET) per message with the number and the
//! text somewhere in it and answer JSON with a message id.
//!
//! # Templates
//!
//! The URL and the body are templates with placeholders:
//!
//! | placeholder | value |
//! |---|---|
//! | `{to}` | the number, in E.164 or national form ([`PhoneFormat`]) |
//! | `{text}` | the SMS text; for a call, the text to read out (empty for a script id) |
//! | `{script_id}` | voice only: the platform's script id (empty for a text) |
//! | `{key}` | the idempotency key |
//! | `{callback}` | the configured receipt callback URL (empty when unset) |
//!
//! * `json` body: the template is a JSON document; placeholders inside its
//!   strings are replaced and the result re-serialised, so values are
//!   always escaped correctly (`{"phone": "{to}", "content": "{text}"}`).
//! * `form` body: `phone={to}&content={text}`: values are form-encoded, the
//!   rest is sent as written.
//! * the URL: values are form-encoded (for query strings, with GET).
//!
//! # Answers
//!
//! A status listed in `success_status` (default 200–202) with a JSON body
//! holding the message id at `id_path` (dotted: `data.msgid`, `result.0.id`)
//! is a success. With `ok_path`/`ok_value` set, that field must also equal
//! the value (for gateways that answer 200 with `{"code": "E101"}`). Any
//! other answer to a success status is [`NotifyError::BadResponse`].
//! Timeouts, connection errors, 5xx, 408 and 429 are retried with
//! exponential backoff and jitter; other statuses are
//! [`NotifyError::Rejected`] at once.

use super::{
    Channel, DeliveryId, Failure, MAX_SMS_CHARS, Notifier, NotifyError, NotifyFuture, VoiceContent,
    check_request, check_text, check_voice,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Largest gateway answer read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Get,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// A JSON document (`Content-Type: application/json`).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// No body (GET with the values in the URL).
    None,
}

/// How `{to}` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneFormat {
    /// `+8613800000000`
    #[default]
    E164,
    /// `13800000000`: E.164 without the `+86` of Chinese numbers (other
    /// countries keep `+` and the code).
    National,
}

impl PhoneFormat {
    fn apply(self, to: &str) -> String {
        match self {
            PhoneFormat::E164 => to.to_string(),
            PhoneFormat::National => to.strip_prefix("+86").unwrap_or(to).to_string(),
        }
    }
}

/// A secret setting: shown as `***` in debug output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

fn default_success() -> Vec<u16> {
    vec![200, 201, 202]
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff_base_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    8000
}
fn default_id_path() -> String {
    "id".into()
}

/// One HTTP gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpChannelConfig {
    /// `http://` or `https://`; may hold placeholders (form-encoded).
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default)]
    pub body: BodyFormat,
    /// The body template; empty for the default JSON body
    /// (`{"to": "{to}", "text": "{text}", "key": "{key}", "callback": "{callback}"}`,
    /// plus `"script_id"` for voice).
    #[serde(default)]
    pub body_template: String,
    /// Name of the auth header (e.g. `Authorization`, `X-Api-Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    /// Its value (e.g. `Bearer …`).
    #[serde(default)]
    pub auth_value: Secret,
    /// Further fixed headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Statuses that mean "accepted".
    #[serde(default = "default_success")]
    pub success_status: Vec<u16>,
    /// Dotted path to the message id in the JSON answer.
    #[serde(default = "default_id_path")]
    pub id_path: String,
    /// Dotted path to a field that must equal `ok_value` for success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_value: Option<String>,
    /// Per-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first try (0–10).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The first retry waits between half of and the whole base; each next
    /// one twice as long, up to `backoff_max_ms`.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Where the gateway should post delivery receipts (`{callback}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub phone_format: PhoneFormat,
}

impl HttpChannelConfig {
    /// A JSON POST gateway at `url` with every other setting at its default.
    pub fn new(url: &str) -> HttpChannelConfig {
        HttpChannelConfig {
            url: url.to_string(),
            method: HttpMethod::Post,
            body: BodyFormat::Json,
            body_template: String::new(),
            auth_header: None,
            auth_value: Secret::default(),
            headers: BTreeMap::new(),
            success_status: default_success(),
            id_path: default_id_path(),
            ok_path: None,
            ok_value: None,
            timeout_ms: default_timeout_ms(),
            max_retries: default_retries(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            callback_url: None,
            phone_format: PhoneFormat::E164,
        }
    }

    /// Checks the settings.
    pub fn validate(&self, channel: Channel) -> Result<(), NotifyError> {
        Gateway::new(channel, self.clone()).map(|_| ())
    }
}

const SMS_DEFAULT_BODY: &str =
    r#"{"to": "{to}", "text": "{text}", "key": "{key}", "callback": "{callback}"}"#;
const VOICE_DEFAULT_BODY: &str = r#"{"to": "{to}", "text": "{text}", "script_id": "{script_id}", "key": "{key}", "callback": "{callback}"}"#;

fn cfg_err(channel: Channel, what: impl fmt::Display) -> NotifyError {
    NotifyError::Config(format!("{channel} gateway: {what}"))
}

/// Placeholder names allowed in `channel`'s templates.
fn allowed(channel: Channel) -> &'static [&'static str] {
    match channel {
        Channel::Sms => &["to", "text", "key", "callback"],
        Channel::Voice => &["to", "text", "script_id", "key", "callback"],
    }
}

/// Checks that `s` names only allowed placeholders and balanced braces.
fn check_placeholders(channel: Channel, what: &str, s: &str) -> Result<(), NotifyError> {
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Err(cfg_err(channel, format!("{what}: `{{` without `}}`")));
        };
        let name = &after[..j];
        if !allowed(channel).contains(&name) {
            return Err(cfg_err(
                channel,
                format!(
                    "{what}: unknown placeholder {{{name}}} (allowed: {})",
                    allowed(channel).join(", ")
                ),
            ));
        }
        rest = &after[j + 1..];
    }
    Ok(())
}

/// The values of one request.
struct Fill<'a> {
    to: String,
    text: &'a str,
    script_id: &'a str,
    key: &'a str,
    callback: &'a str,
}

impl Fill<'_> {
    fn replace(&self, s: &str, encode: bool) -> String {
        let enc = |v: &str| -> String {
            if encode {
                form_urlencoded::byte_serialize(v.as_bytes()).collect()
            } else {
                v.to_string()
            }
        };
        // One pass, so that a value holding `{key}` is never expanded again.
        let mut out = String::with_capacity(s.len() + self.text.len());
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(j) = after.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let value = match &after[..j] {
                "to" => Some(self.to.as_str()),
                "text" => Some(self.text),
                "script_id" => Some(self.script_id),
                "key" => Some(self.key),
                "callback" => Some(self.callback),
                _ => None,
            };
            match value {
                Some(v) => out.push_str(&enc(v)),
                None => out.push_str(&rest[i..i + j + 2]),
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn fill_json(v: &Value, f: &Fill<'_>) -> Value {
    match v {
        Value::String(s) => Value::String(f.replace(s, false)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_json(x, f)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill_json(x, f))).collect()),
        other => other.clone(),
    }
}

fn json_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// The value at a dotted path (`data.items.0.id`), as text: strings as they
/// are, numbers and booleans written out; null, objects and arrays are not
/// values.
pub fn json_path<'a>(v: &'a Value, path: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            Value::Object(o) => o.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match cur {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// One configured, validated gateway.
#[derive(Debug)]
struct Gateway {
    channel: Channel,
    cfg: HttpChannelConfig,
    json: Option<Value>,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl Gateway {
    fn new(channel: Channel, cfg: HttpChannelConfig) -> Result<Gateway, NotifyError> {
        let url = cfg.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(cfg_err(channel, "url must start with http:// or https://"));
        }
        check_placeholders(channel, "url", url)?;
        // The URL must parse once filled.
        let probe = Fill {
            to: "+8613800000000".into(),
            text: "t",
            script_id: "s",
            key: "k",
            callback: "",
        };
        reqwest::Url::parse(&probe.replace(url, true)).map_err(|e| cfg_err(channel, format!("url: {e}")))?;
        let json = match cfg.body {
            BodyFormat::Json => {
                let t = if cfg.body_template.trim().is_empty() {
                    match channel {
                        Channel::Sms => SMS_DEFAULT_BODY,
                        Channel::Voice => VOICE_DEFAULT_BODY,
                    }
                } else {
                    cfg.body_template.as_str()
                };
                let v: Value = serde_json::from_str(t)
                    .map_err(|e| cfg_err(channel, format!("body_template is not JSON: {e}")))?;
                let mut strings = Vec::new();
                json_strings(&v, &mut strings);
                for s in strings {
                    check_placeholders(channel, "body_template", s)?;
                }
                Some(v)
            }
            BodyFormat::Form => {
                if cfg.body_template.trim().is_empty() {
                    return Err(cfg_err(
                        channel,
                        "a form body needs body_template, e.g. to={to}&text={text}",
                    ));
                }
                check_placeholders(channel, "body_template", &cfg.body_template)?;
                None
            }
            BodyFormat::None => {
                if !cfg.body_template.trim().is_empty() {
                    return Err(cfg_err(channel, "body = \"none\" takes no body_template"));
                }
                None
            }
        };
        if cfg.method == HttpMethod::Get && cfg.body != BodyFormat::None {
            return Err(cfg_err(
                channel,
                "method GET needs body = \"none\" (put the values in the url)",
            ));
        }
        let mut headers = Vec::new();
        if let Some(name) = &cfg.auth_header {
            if cfg.auth_value.0.is_empty() {
                return Err(cfg_err(channel, "auth_header needs auth_value"));
            }
            headers.push(header(channel, name, &cfg.auth_value.0, true)?);
        }
        for (k, v) in &cfg.headers {
            headers.push(header(channel, k, v, false)?);
        }
        if cfg.success_status.is_empty() || cfg.success_status.iter().any(|s| !(200..300).contains(s)) {
            return Err(cfg_err(channel, "success_status must list 2xx statuses"));
        }
        if cfg.id_path.trim().is_empty() {
            return Err(cfg_err(channel, "id_path is required"));
        }
        if cfg.ok_path.is_some() != cfg.ok_value.is_some() {
            return Err(cfg_err(channel, "ok_path and ok_value go together"));
        }
        if !(100..=120_000).contains(&cfg.timeout_ms) {
            return Err(cfg_err(channel, "timeout_ms must be 100 to 120000"));
        }
        if cfg.max_retries > 10 {
            return Err(cfg_err(channel, "max_retries must be 0 to 10"));
        }
        if cfg.backoff_base_ms == 0
            || cfg.backoff_max_ms < cfg.backoff_base_ms
            || cfg.backoff_max_ms > 600_000
        {
            return Err(cfg_err(
                channel,
                "backoff_base_ms must be above 0 and at most backoff_max_ms (at most 600000)",
            ));
        }
        if let Some(cb) = &cfg.callback_url {
            reqwest::Url::parse(cb).map_err(|e| cfg_err(channel, format!("callback_url: {e}")))?;
        }
        Ok(Gateway {
            channel,
            cfg,
            json,
            headers,
        })
    }

    /// The delay before retry `n` (1-based): base·2^(n-1), at most the
    /// maximum, times a random factor in [0.5, 1].
    fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .cfg
            .backoff_base_ms
            .saturating_mul(1u64 << (n.saturating_sub(1)).min(20));
        let full = exp.min(self.cfg.backoff_max_ms);
        let jittered = full / 2 + fastrand::u64(0..=full / 2);
        Duration::from_millis(jittered)
    }

    fn build(&self, client: &reqwest::Client, f: &Fill<'_>) -> Result<reqwest::RequestBuilder, NotifyError> {
        let url = f.replace(self.cfg.url.trim(), true);
        let url =
            reqwest::Url::parse(&url).map_err(|_| NotifyError::Invalid("the filled url does not parse"))?;
        let mut req = match self.cfg.method {
            HttpMethod::Post => client.post(url),
            HttpMethod::Get => client.get(url),
        };
        req = req
            .timeout(Duration::from_millis(self.cfg.timeout_ms))
            .header("Idempotency-Key", f.key)
            .header(reqwest::header::ACCEPT, "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.clone(), v.clone());
        }
        match (self.cfg.body, &self.json) {
            (BodyFormat::Json, Some(t)) => {
                let body =
                    serde_json::to_vec(&fill_json(t, f)).map_err(|e| NotifyError::Config(e.to_string()))?;
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
            }
            (BodyFormat::Form, _) => {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(f.replace(&self.cfg.body_template, true));
            }
            _ => {}
        }
        Ok(req)
    }

    /// Sends with retries.
    async fn send(&self, client: &reqwest::Client, f: Fill<'_>) -> Result<DeliveryId, NotifyError> {
        let channel = self.channel;
        let tries = self.cfg.max_retries + 1;
        let mut last = Failure::Timeout;
        for attempt in 1..=tries {
            if attempt > 1 {
                tokio::time::sleep(self.backoff(attempt - 1)).await;
            }
            let req = self.build(client, &f)?;
            let failure = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if self.cfg.success_status.contains(&status) {
                        let body = read_capped(resp).await;
                        return match body {
                            Ok(b) => self.parse_answer(status, &b, attempt),
                            Err(reason) => Err(NotifyError::BadResponse {
                                channel,
                                status,
                                reason,
                                attempts: attempt,
                            }),
                        };
                    }
                    if status >= 500 || status == 408 || status == 429 {
                        Failure::Status { status }
                    } else {
                        tracing::warn!(
                            channel = channel.code(),
                            key = f.key,
                            status,
                            attempt,
                            "gateway refused"
                        );
                        return Err(NotifyError::Rejected {
                            channel,
                            status,
                            attempts: attempt,
                        });
                    }
                }
                Err(e) if e.is_timeout() => Failure::Timeout,
                Err(e) if e.is_connect() => Failure::Connect,
                Err(e) => Failure::Transport {
                    reason: e.without_url().to_string(),
                },
            };
            tracing::warn!(
                channel = channel.code(),
                key = f.key,
                attempt,
                of = tries,
                failure = %failure,
                "gateway attempt failed"
            );
            last = failure;
        }
        Err(NotifyError::GaveUp {
            channel,
            attempts: tries,
            last,
        })
    }

    fn parse_answer(&self, status: u16, body: &[u8], attempts: u32) -> Result<DeliveryId, NotifyError> {
        let channel = self.channel;
        let bad = |reason: String| NotifyError::BadResponse {
            channel,
            status,
            reason,
            attempts,
        };
        let v: Value = serde_json::from_slice(body).map_err(|_| bad("the answer is not JSON".into()))?;
        if let (Some(p), Some(want)) = (&self.cfg.ok_path, &self.cfg.ok_value) {
            match json_path(&v, p) {
                Some(got) if got == want.as_str() => {}
                Some(got) => {
                    let got: String = got.chars().take(32).collect();
                    return Err(bad(format!("{p} is {got:?}, not {want:?}")));
                }
                None => return Err(bad(format!("the answer has no {p}"))),
            }
        }
        match json_path(&v, &self.cfg.id_path) {
            Some(id) if !id.is_empty() && id.len() <= 128 => {
                let id = DeliveryId(id.into_owned());
                tracing::info!(channel = channel.code(), delivery_id = %id, attempts, "gateway accepted");
                Ok(id)
            }
            _ => Err(bad(format!(
                "the answer has no message id at {}",
                self.cfg.id_path
            ))),
        }
    }
}

fn header(
    channel: Channel,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(reqwest::header::HeaderName, reqwest::header::HeaderValue), NotifyError> {
    let n = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| cfg_err(channel, format!("invalid header name {name:?}")))?;
    let mut v = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| cfg_err(channel, format!("invalid value for header {name:?}")))?;
    v.set_sensitive(sensitive);
    Ok((n, v))
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|l| l > MAX_ANSWER_BYTES as u64) {
        return Err("the answer is too large".into());
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_ANSWER_BYTES {
                    return Err("the answer is too large".into());
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(format!("reading the answer: {}", e.without_url())),
        }
    }
}

/// SMS and voice over HTTP gateways.
#[derive(Debug)]
pub struct HttpNotifier {
    client: reqwest::Client,
    sms: Option<Gateway>,
    voice: Option<Gateway>,
}

impl HttpNotifier {
    /// Validates the settings and builds the HTTP client (TLS through rustls
    /// with the system's roots). Redirects are not followed.
    pub fn new(
        sms: Option<HttpChannelConfig>,
        voice: Option<HttpChannelConfig>,
    ) -> Result<HttpNotifier, NotifyError> {
        let sms = sms.map(|c| Gateway::new(Channel::Sms, c)).transpose()?;
        let voice = voice.map(|c| Gateway::new(Channel::Voice, c)).transpose()?;
        let connect = [&sms, &voice]
            .iter()
            .filter_map(|c| c.as_ref().map(|c| c.cfg.timeout_ms))
            .max()
            .unwrap_or(5000)
            .min(10_000);
        let client = reqwest::Client::builder()
            .user_agent(concat!("fanzha/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(connect))
            .build()
            .map_err(|e| NotifyError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(HttpNotifier { client, sms, voice })
    }
}

impl Notifier for HttpNotifier {
    fn send_sms<'a>(&'a self, to: &'a str, text: &'a str, key: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move {
            check_request(to, key)?;
            check_text(text, MAX_SMS_CHARS)?;
            let ch = self.sms.as_ref().ok_or(NotifyError::NotConfigured {
                channel: Channel::Sms,
            })?;
            let callback = ch.cfg.callback_url.as_deref().unwrap_or("");
            let f = Fill {
                to: ch.cfg.phone_format.apply(to),
                text,
                script_id: "",
                key,
                callback,
            };
            ch.send(&self.client, f).await
        })
    }

    fn call<'a>(&'a self, to: &'a str, content: &'a VoiceContent, key: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move {
            check_request(to, key)?;
            check_voice(content)?;
            let ch = self.voice.as_ref().ok_or(NotifyError::NotConfigured {
                channel: Channel::Voice,
            })?;
            let callback = ch.cfg.callback_url.as_deref().unwrap_or("");
            let (text, script_id) = match content {
                VoiceContent::Text(t) => (t.as_str(), ""),
                VoiceContent::ScriptId(id) => ("", id.as_str()),
            };
            let f = Fill {
                to: ch.cfg.phone_format.apply(to),
                text,
                script_id,
                key,
                callback,
            };
            ch.send(&self.client, f).await
        })
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill() -> Fill<'static> {
        Fill {
            to: "+8613800000000".into(),
            text: "请拨 96110 & {key}",
            script_id: "",
            key: "k-1",
            callback: "",
        }
    }

    #[test]
    fn templates_fill_once_and_escape() {
        let f = fill();
        assert_eq!(
            f.replace("to={to}&t={text}&k={key}", false),
            "to=+8613800000000&t=请拨 96110 & {key}&k=k-1"
        );
        let enc = f.replace("to={to}&t={text}", true);
        assert_eq!(
            enc,
            "to=%2B8613800000000&t=%E8%AF%B7%E6%8B%A8+96110+%26+%7Bkey%7D"
        );
        let t: Value = serde_json::from_str(r#"{"a": {"b": ["{text}", 3]}, "k": "id-{key}"}"#).unwrap();
        let v = fill_json(&t, &f);
        assert_eq!(v["a"]["b"][0], "请拨 96110 & {key}");
        assert_eq!(v["a"]["b"][1], 3);
        assert_eq!(v["k"], "id-k-1");
    }

    #[test]
    fn dotted_paths() {
        let v: Value =
            serde_json::from_str(r#"{"data": {"items": [{"id": 42}], "code": "OK", "n": null}}"#).unwrap();
        assert_eq!(json_path(&v, "data.items.0.id").as_deref(), Some("42"));
        assert_eq!(json_path(&v, "data.code").as_deref(), Some("OK"));
        assert_eq!(json_path(&v, "data.n"), None);
        assert_eq!(json_path(&v, "data.items.1.id"), None);
        assert_eq!(json_path(&v, "data"), None);
    }

    #[test]
    fn config_is_checked() {
        let ok = HttpChannelConfig::new("https://sms.example.com/send");
        assert!(ok.validate(Channel::Sms).is_ok());
        let bad = |f: &dyn Fn(&mut HttpChannelConfig)| {
            let mut c = HttpChannelConfig::new("https://sms.example.com/send");
            f(&mut c);
            c.validate(Channel::Sms).unwrap_err().to_string()
        };
        assert!(bad(&|c| c.url = "ftp://x".into()).contains("http://"));
        assert!(
            bad(&|c| c.body_template = "{\"a\": \"{phone}\"}".into()).contains("unknown placeholder {phone}")
        );
        assert!(bad(&|c| c.body_template = "{not json".into()).contains("not JSON"));
        assert!(bad(&|c| c.body_template = "{\"s\": \"{script_id}\"}".into()).contains("{script_id}"));
        assert!(bad(&|c| c.method = HttpMethod::Get).contains("GET"));
        assert!(bad(&|c| c.success_status = vec![302]).contains("2xx"));
        assert!(bad(&|c| c.auth_header = Some("Authorization".into())).contains("auth_value"));
        assert!(bad(&|c| c.max_retries = 11).contains("max_retries"));
        assert!(bad(&|c| c.ok_path = Some("code".into())).contains("ok_value"));
        assert!(bad(&|c| c.body = BodyFormat::Form).contains("form body"));
        let mut voice = HttpChannelConfig::new("https://voice.example.com/call?id={script_id}");
        voice.body = BodyFormat::None;
        voice.method = HttpMethod::Get;
        assert!(voice.validate(Channel::Voice).is_ok());
        assert!(voice.validate(Channel::Sms).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let mut c = HttpChannelConfig::new("https://sms.example.com/send");
        c.auth_value = Secret("Bearer topsecret".into());
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn backoff_grows_with_jitter() {
        let mut c = HttpChannelConfig::new("https://sms.example.com/send");
        c.backoff_base_ms = 100;
        c.backoff_max_ms = 1000;
        let ch = Gateway::new(Channel::Sms, c).unwrap();
        for _ in 0..50 {
            let d1 = ch.backoff(1).as_millis();
            let d3 = ch.backoff(3).as_millis();
            let d9 = ch.backoff(9).as_millis();
            assert!((50..=100).contains(&d1), "{d1}");
            assert!((200..=400).contains(&d3), "{d3}");
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }
}
