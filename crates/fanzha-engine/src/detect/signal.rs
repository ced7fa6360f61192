//! Signal types and what a signal carries.

use std::fmt;

use fanzha_core::{FraudType, IndicatorKind};
use serde::{Deserialize, Serialize};

use crate::index::MatchVia;

/// Every kind of signal the engine raises. The discriminant is the compact
/// code kept in risk state; the snake-case name is the one rules use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SignalType {
    /// The other party of a call is a flagged number.
    CallFlagged = 0,
    /// The sender of an SMS is a flagged number.
    SmsFlagged = 1,
    /// A visited URL, domain or server address is flagged.
    WebFlagged = 2,
    /// An installed or opened app (package, certificate or APK) is flagged.
    AppFlagged = 3,
    /// Money went to a flagged account.
    TransferFlagged = 4,
    /// An SMS text or call transcript reads as fraud.
    TextFraud = 5,
    /// A call with a flagged number lasted longer than the rules allow.
    LongCallFlagged = 6,
    /// Several distinct flagged numbers contacted the person within the window.
    ManyFlaggedContacts = 7,
    /// An answered call from an international number to an elderly person.
    IntlCallElderly = 8,
    /// A remote-control or screen-sharing app after contact with a flagged number.
    RemoteAppAfterContact = 9,
    /// The first large transfer in the window, after any other signal.
    FirstLargeTransfer = 10,
    /// Any other transfer while the person has active signals.
    TransferAfterSignal = 11,
    /// A link (`http://…`, `https://…`) in an SMS text or call transcript
    /// points to a flagged URL, domain or address.
    LinkFlagged = 12,
}

/// Number of signal types.
pub const N_SIGNALS: usize = 13;

impl SignalType {
    pub const ALL: [SignalType; N_SIGNALS] = [
        SignalType::CallFlagged,
        SignalType::SmsFlagged,
        SignalType::WebFlagged,
        SignalType::AppFlagged,
        SignalType::TransferFlagged,
        SignalType::TextFraud,
        SignalType::LongCallFlagged,
        SignalType::ManyFlaggedContacts,
        SignalType::IntlCallElderly,
        SignalType::RemoteAppAfterContact,
        SignalType::FirstLargeTransfer,
        SignalType::TransferAfterSignal,
        SignalType::LinkFlagged,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            SignalType::CallFlagged => "call_flagged",
            SignalType::SmsFlagged => "sms_flagged",
            SignalType::WebFlagged => "web_flagged",
            SignalType::AppFlagged => "app_flagged",
            SignalType::TransferFlagged => "transfer_flagged",
            SignalType::TextFraud => "text_fraud",
            SignalType::LongCallFlagged => "long_call_flagged",
            SignalType::ManyFlaggedContacts => "many_flagged_contacts",
            SignalType::IntlCallElderly => "intl_call_elderly",
            SignalType::RemoteAppAfterContact => "remote_app_after_contact",
            SignalType::FirstLargeTransfer => "first_large_transfer",
            SignalType::TransferAfterSignal => "transfer_after_signal",
            SignalType::LinkFlagged => "link_flagged",
        }
    }

    pub fn parse(s: &str) -> Option<SignalType> {
        SignalType::ALL.iter().copied().find(|t| t.code() == s)
    }

    pub(crate) fn from_u8(c: u8) -> Option<SignalType> {
        SignalType::ALL.get(usize::from(c)).copied()
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for SignalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The full evidence of a signal raised by the current event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalEvidence {
    /// The best-matching indicator of the counterparty value.
    Indicator {
        indicator_id: i64,
        kind: IndicatorKind,
        confidence: u8,
        #[serde(flatten)]
        via: MatchVia,
    },
    /// The text classifier's verdict.
    Text {
        score: f32,
        phrases: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        model_label: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        model_probability: Option<f32>,
    },
    LongCall {
        indicator_id: i64,
        duration_s: u32,
    },
    FlaggedContacts {
        distinct: u32,
    },
    InternationalCall {
        age: u8,
    },
    RemoteApp {
        package: String,
        app: String,
    },
    Transfer {
        amount_fen: i64,
    },
}

/// One signal raised by an event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    pub signal: SignalType,
    pub fraud_type: Option<FraudType>,
    /// How strongly the evidence holds, in [0, 1]: the indicator's confidence,
    /// the classifier's score, or the behaviour rule's strength.
    pub strength: f32,
    /// The rules' weight for this signal type times `strength`, before decay
    /// and multipliers.
    pub weight: f32,
    pub evidence: SignalEvidence,
}
