//! The Taiwan 165 anti-fraud hotline's published lists, and the mapping of
//! its fraud-type labels (Traditional Chinese) to [`FraudType`].
//!
//! # The bank account list (`tw165_bank_csv`)
//!
//! The first line is the list's date (`,2023/11/16,,`); it becomes every
//! draft's `valid_from` (the accounts were known fraudulent on that day).
//! Then each line is `account,fraud_type,swift,`: the account is normalised
//! as a bank account, the label is mapped by [`fraud_type_from_label`] and also
//! kept as the tag `tw165:<label>` (the mapping is coarser than the labels),
//! and a well-formed SWIFT/BIC code becomes the tag `swift:<code>`.
//!
//! # The fraud-type mapping
//!
//! 165 labels describe the scam; [`FraudType`] has the Ministry of Public
//! Security's ten types plus `other`. The table, by meaning:
//!
//! | 165 label | fraud type | why |
//! |---|---|---|
//! | 假投資, 假投資(…) | `fake_investment` | fake investment |
//! | 假交友(投資詐財), 假交友(徵婚詐財), 假交友(…) | `romance_scam` | met through dating: the 杀猪盘 pattern, whatever the final pitch |
//! | 假網拍, 假買賣, 假預付型消費詐財, 假廣告 | `fake_shopping` | goods or services paid for and never delivered |
//! | 解除分期付款, 假快遞, 假借郵件招領 | `fake_customer_service` | posing as a shop's, bank's or courier's service desk |
//! | 假借銀行貸款詐財 | `fake_loan` | |
//! | 假冒機構(公務員)詐財 | `impersonate_authority` | |
//! | 猜猜我是誰, 假借親友出事勒索(詐財), 盜用網路帳號, 盜(冒)用 LINE 帳號 | `impersonate_acquaintance` | posing as someone the victim knows, often from a stolen account |
//! | 虛擬遊戲詐騙 | `game_trading` | |
//! | 其他, 其他(…), 竄改電子商務郵件, 中獎通知, 假求職, 假冒公司, 假慈善機關(…), 假綁架(恐嚇)詐財, 信用卡遭盜刷, 假借催討欠款, 釣魚簡訊(惡意連結) | `other` | none of the ten |
//!
//! A label that is already a [`FraudType`] code or Chinese label is taken as is.

use super::time::{DayEdge, parse_date_or_time};
use super::{Builder, IndicatorDraft, SkipReason, for_each_line};
use fanzha_core::i18n::Msg;
use fanzha_core::{FraudType, IndicatorKind};

const TABLE: &[(&str, FraudType)] = &[
    ("假投資", FraudType::FakeInvestment),
    ("假交友", FraudType::RomanceScam),
    ("假網拍", FraudType::FakeShopping),
    ("假買賣", FraudType::FakeShopping),
    ("假預付型消費詐財", FraudType::FakeShopping),
    ("假廣告", FraudType::FakeShopping),
    ("解除分期付款", FraudType::FakeCustomerService),
    ("假快遞", FraudType::FakeCustomerService),
    ("假借郵件招領", FraudType::FakeCustomerService),
    ("假借銀行貸款詐財", FraudType::FakeLoan),
    ("假冒機構", FraudType::ImpersonateAuthority),
    ("猜猜我是誰", FraudType::ImpersonateAcquaintance),
    ("假借親友出事勒索", FraudType::ImpersonateAcquaintance),
    ("盜用網路帳號", FraudType::ImpersonateAcquaintance),
    ("盜(冒)用", FraudType::ImpersonateAcquaintance),
    ("虛擬遊戲詐騙", FraudType::GameTrading),
    ("其他", FraudType::Other),
    ("竄改電子商務郵件", FraudType::Other),
    ("中獎通知", FraudType::Other),
    ("假求職", FraudType::Other),
    ("假冒公司", FraudType::Other),
    ("假慈善機關", FraudType::Other),
    ("假綁架", FraudType::Other),
    ("信用卡遭盜刷", FraudType::Other),
    ("假借催討欠款", FraudType::Other),
    ("釣魚簡訊", FraudType::Other),
];

/// Maps a 165 label (see the module docs). A label is matched exactly or
/// as a prefix followed by `(` or a space (`假投資(公司商品)`).
pub fn fraud_type_from_label(label: &str) -> Option<FraudType> {
    let t = label.trim();
    TABLE.iter().find_map(|(l, ft)| {
        let rest = t.strip_prefix(l)?;
        (rest.is_empty() || rest.starts_with(['(', '（', ' '])).then_some(*ft)
    })
}

/// A fraud type cell: a [`FraudType`] code or label, else a 165 label.
pub fn parse_fraud_type(s: &str) -> Option<FraudType> {
    FraudType::parse(s).ok().or_else(|| fraud_type_from_label(s))
}

/// A SWIFT/BIC code: 8 or 11 letters and digits, the first six letters.
fn swift(s: &str) -> Option<String> {
    let t = s.trim().to_ascii_uppercase();
    let ok = matches!(t.len(), 8 | 11)
        && t.bytes().all(|c| c.is_ascii_alphanumeric())
        && t.bytes().take(6).all(|c| c.is_ascii_alphabetic());
    ok.then_some(t)
}

pub(crate) fn parse_bank_csv(bytes: &[u8], b: &mut Builder<'_>) {
    let mut list_date = None;
    for_each_line(bytes, b, |b, line, s| {
        let t = s.trim();
        if t.is_empty() {
            return b.skip(line, SkipReason::Blank);
        }
        if t.starts_with(['#', '!']) {
            return b.skip(line, SkipReason::Comment);
        }
        let mut f = t.split(',').map(str::trim);
        let account = f.next().unwrap_or("");
        let label = f.next().unwrap_or("");
        let code = f.next().unwrap_or("");
        if account.is_empty() {
            if let Some(d) = parse_date_or_time(label, DayEdge::Start) {
                list_date = Some(d);
                return b.skip(line, SkipReason::Header);
            }
            return b.reject(line, Msg::new("intel.import.empty_value"), t);
        }
        if account.eq_ignore_ascii_case("account") || account == "帳號" || account == "账号" {
            return b.skip(line, SkipReason::Header);
        }
        let Some((kind, value)) = b.value(line, Some(IndicatorKind::BankAccount), account) else {
            return;
        };
        let mut d = IndicatorDraft::new(kind, value);
        d.valid_from = list_date;
        if !label.is_empty() {
            d.fraud_type = Some(parse_fraud_type(label).unwrap_or(FraudType::Other));
            d.tags.push(format!("tw165:{label}"));
        }
        match swift(code) {
            Some(c) => d.tags.push(format!("swift:{c}")),
            None if !code.is_empty() => b.note(line, Msg::new("intel.import.bad_swift")),
            None => {}
        }
        b.accept(line, d);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map() {
        assert_eq!(fraud_type_from_label("假投資"), Some(FraudType::FakeInvestment));
        assert_eq!(
            fraud_type_from_label("假投資(公司商品)"),
            Some(FraudType::FakeInvestment)
        );
        assert_eq!(
            fraud_type_from_label("假交友(投資詐財)"),
            Some(FraudType::RomanceScam)
        );
        assert_eq!(fraud_type_from_label("其他(換匯詐欺)"), Some(FraudType::Other));
        assert_eq!(
            fraud_type_from_label("盜(冒)用 LINE 帳號"),
            Some(FraudType::ImpersonateAcquaintance)
        );
        assert_eq!(
            fraud_type_from_label("假冒機構(公務員)詐財"),
            Some(FraudType::ImpersonateAuthority)
        );
        assert_eq!(fraud_type_from_label("假投資者"), None);
        assert_eq!(parse_fraud_type("刷单返利"), Some(FraudType::BrushingRebate));
        assert_eq!(swift("dbsssgsgxxx").as_deref(), Some("DBSSSGSGXXX"));
        assert_eq!(swift("12345678"), None);
    }
}
