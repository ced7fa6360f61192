//! A notifier that sends nothing: it logs that it would have, with the
//! number masked and without the text, and remembers what it logged so that
//! the demo and tests can show it. Idempotent like a good gateway: a key
//! seen before answers the same id and logs nothing new.

use super::{
    Channel, DeliveryId, MAX_SMS_CHARS, Notifier, NotifyError, NotifyFuture, VoiceContent, check_request,
    check_text, check_voice,
};
use fanzha_core::mask;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// One logged notification. Holds no full number and no text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedMessage {
    pub channel: Channel,
    /// `138****0000`
    pub to_masked: String,
    pub key: String,
    pub id: DeliveryId,
    /// Characters of the SMS or robocall text (0 for a script id).
    pub chars: usize,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct LogNotifier {
    sent: Mutex<Vec<LoggedMessage>>,
}

impl LogNotifier {
    pub fn new() -> LogNotifier {
        LogNotifier::default()
    }

    /// Everything logged so far, oldest first.
    pub fn sent(&self) -> Vec<LoggedMessage> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn log(&self, channel: Channel, to: &str, key: &str, chars: usize) -> Result<DeliveryId, NotifyError> {
        let digest = Sha256::digest(format!("{}:{key}", channel.code()).as_bytes());
        let id = DeliveryId(format!("log-{}", hex::encode(&digest[..8])));
        let mut sent = self
            .sent
            .lock()
            .map_err(|_| NotifyError::Config("log notifier lock poisoned".into()))?;
        if sent.iter().any(|m| m.channel == channel && m.key == key) {
            return Ok(id);
        }
        let to_masked = mask::phone(to);
        tracing::info!(
            channel = channel.code(),
            to = %to_masked,
            key,
            delivery_id = %id,
            chars,
            "notification logged, not sent (log notifier)"
        );
        sent.push(LoggedMessage {
            channel,
            to_masked,
            key: key.to_string(),
            id: id.clone(),
            chars,
        });
        Ok(id)
    }
}

impl Notifier for LogNotifier {
    fn send_sms<'a>(&'a self, to: &'a str, text: &'a str, key: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move {
            check_request(to, key)?;
            check_text(text, MAX_SMS_CHARS)?;
            self.log(Channel::Sms, to, key, text.chars().count())
        })
    }

    fn call<'a>(&'a self, to: &'a str, content: &'a VoiceContent, key: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move {
            check_request(to, key)?;
            check_voice(content)?;
            let chars = match content {
                VoiceContent::Text(t) => t.chars().count(),
                VoiceContent::ScriptId(_) => 0,
            };
            self.log(Channel::Voice, to, key, chars)
        })
    }

    fn name(&self) -> &'static str {
        "log"
    }
}
