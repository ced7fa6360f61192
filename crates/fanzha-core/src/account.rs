//! Bank accounts, payment accounts and social accounts.
//!
//! # Bank accounts
//!
//! Canonical form: the digits only (spaces and dashes removed, full-width
//! digits accepted), 8–30 of them; or an IBAN in upper case without spaces.
//!
//! * **Card numbers are Luhn-checked.** A number "looks like a card" when it
//!   has the length and prefix of a card scheme: UnionPay `62` (16–19
//!   digits), Visa `4` (16 or 19), Mastercard `51`–`55` and `2221`–`2720`
//!   (16), JCB `3528`–`3589` (16–19). Such a number that fails the Luhn check
//!   is rejected ([`AccountError::BadCheckDigit`]): it is nearly always a
//!   typo, and an import should show it rather than store a wrong account.
//!   Other prefixes (`3…` outside JCB, `9558…` passbooks, corporate
//!   accounts) are accounts without a check digit and are accepted as digits.
//!   On the Taiwan 165 list (2,462 reported accounts) this rejects 9 numbers.
//! * [`normalize_bank_account_lenient`] skips the Luhn check. Use it for
//!   transaction events: the payee account is whatever the bank recorded, and
//!   it must still match intel exactly (valid numbers have the same canonical
//!   form in both functions).
//! * An IBAN (two letters, two check digits, 11–30 letters or digits) is
//!   checked with ISO 13616 mod 97.
//!
//! # Payment and social accounts
//!
//! Canonical form `platform:account`, where `platform` is a [`Platform`] code
//! and the account part is normalised per platform:
//!
//! | platform | account |
//! |---|---|
//! | `alipay` | a phone number (E.164, see [`crate::phone`]), an e-mail address (lower case, IDNA domain) or a `2088…` user id (16 digits) |
//! | `wechat` | a WeChat ID (letter first, 6–20 of letters, digits, `_`, `-`; `wxid_…` up to 32), lower case; or a phone number |
//! | `qq` | the QQ number: 5–11 digits, no leading 0 (`12345@qq.com` → `12345`) |
//! | `telegram` | username lower case without `@` or `t.me/` (letter first, 4–32 of letters, digits, `_`); a numeric id; or a `+` phone number |
//! | `whatsapp` | the phone number (E.164; `wa.me/` removed; bare digits that are not a Chinese mobile are read as international, as in `wa.me` links) |
//! | `line` | the LINE ID, lower case, 4–20 of letters, digits, `.`, `_`, `-`; an official account keeps its leading `@` |
//! | `douyin` | the Douyin ID, lower case, without `@`; letters, digits, `_`, `.` |
//! | `weibo` | the numeric uid, or the personal domain, lower case (`weibo.com/u/` removed) |
//! | `paypal` | e-mail or phone number |
//! | `unionpay` | phone number or card number |
//! | others | the handle without a leading `@`, ASCII lower-cased; a `+` phone number is normalised |
//!
//! Which kind a platform serves is [`Platform::is_payment`] /
//! [`Platform::is_social`]: WeChat and QQ are both.

use crate::phone::{self, PhoneClass};
use crate::taxonomy::{UnknownCode, vocabulary};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is empty")]
    Empty,
    #[error("a bank account may only contain digits, spaces and dashes")]
    BadChars,
    #[error("a bank account has 8 to 30 digits; this has {0}")]
    BadLength(usize),
    #[error("this looks like a bank card number but its check digit is wrong")]
    BadCheckDigit,
    #[error("not a valid IBAN")]
    BadIban,
    #[error("write the account as platform:account, for example wechat:abc123")]
    MissingPlatform,
    #[error("unknown platform (use a code such as wechat, qq, alipay, telegram)")]
    UnknownPlatform,
    #[error("{platform} accounts are not {kind} accounts")]
    WrongKind { platform: Platform, kind: &'static str },
    #[error("not a valid {platform} account: {reason}")]
    BadAccount {
        platform: Platform,
        reason: &'static str,
    },
}

// ------------------------------------------------------------------ bank

/// What a canonical bank account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankAccountClass {
    /// A card number that passed the Luhn check.
    Card,
    /// Digits without a check digit rule.
    Account,
    /// An IBAN that passed mod 97.
    Iban,
}

/// A normalised bank account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BankAccount {
    pub number: String,
    pub class: BankAccountClass,
}

impl fmt::Debug for BankAccount {
    // Never print a full account number by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BankAccount({:?}, {})",
            self.class,
            crate::mask::keep_ends(&self.number, 4, 4)
        )
    }
}

/// Parses and checks a bank account (see the module docs).
pub fn parse_bank_account(input: &str) -> Result<BankAccount, AccountError> {
    parse_bank(input, true)
}

/// The canonical bank account string.
pub fn normalize_bank_account(input: &str) -> Result<String, AccountError> {
    parse_bank(input, true).map(|a| a.number)
}

/// The canonical bank account string without the Luhn check (for events).
pub fn normalize_bank_account_lenient(input: &str) -> Result<String, AccountError> {
    parse_bank(input, false).map(|a| a.number)
}

fn parse_bank(input: &str, luhn: bool) -> Result<BankAccount, AccountError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(AccountError::Empty);
    }
    if t.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return parse_iban(t).map(|number| BankAccount {
            number,
            class: BankAccountClass::Iban,
        });
    }
    let mut digits = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            ' ' | '-' | '\u{3000}' | '－' | '\u{00A0}' => {}
            _ => return Err(AccountError::BadChars),
        }
    }
    if !(8..=30).contains(&digits.len()) {
        return Err(AccountError::BadLength(digits.len()));
    }
    let class = if looks_like_card(digits.as_bytes()) {
        if luhn && !luhn_valid(digits.as_bytes()) {
            return Err(AccountError::BadCheckDigit);
        }
        BankAccountClass::Card
    } else {
        BankAccountClass::Account
    };
    Ok(BankAccount {
        number: digits,
        class,
    })
}

/// True when the digits have the prefix and length of a card scheme whose
/// numbers carry a Luhn check digit.
pub fn looks_like_card(d: &[u8]) -> bool {
    let len = d.len();
    let prefix = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c.wrapping_sub(b'0')))
    };
    if !(16..=19).contains(&len) {
        return false;
    }
    match d.first() {
        Some(b'6') => d.get(1) == Some(&b'2'),
        Some(b'4') => len == 16 || len == 19,
        Some(b'5') => len == 16 && (51..=55).contains(&prefix(2)),
        Some(b'2') => len == 16 && (2221..=2720).contains(&prefix(4)),
        Some(b'3') => (3528..=3589).contains(&prefix(4)),
        _ => false,
    }
}

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &c) in d.iter().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum.is_multiple_of(10)
}

fn parse_iban(t: &str) -> Result<String, AccountError> {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            ' ' | '-' | '\u{3000}' | '\u{00A0}' => {}
            c if c.is_ascii_alphanumeric() => s.push(c.to_ascii_uppercase()),
            _ => return Err(AccountError::BadIban),
        }
    }
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return Err(AccountError::BadIban);
    }
    // Move the first four characters to the end; letters count as 10..35.
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    if rem == 1 {
        Ok(s)
    } else {
        Err(AccountError::BadIban)
    }
}

// ------------------------------------------------------------- platforms

vocabulary!(
    /// Platforms of payment and social accounts.
    Platform, "platform" {
        Alipay = ("alipay", "支付宝", "Alipay", "zfb", "支付宝账号"),
        Wechat = ("wechat", "微信", "WeChat", "weixin", "wx", "vx", "微信号"),
        Qq = ("qq", "QQ", "QQ", "QQ号", "qq号"),
        Unionpay = ("unionpay", "云闪付", "UnionPay", "银联", "ysf"),
        Paypal = ("paypal", "PayPal", "PayPal"),
        Jd = ("jd", "京东", "JD", "京东支付"),
        Telegram = ("telegram", "电报", "Telegram", "tg", "TG", "飞机"),
        Whatsapp = ("whatsapp", "WhatsApp", "WhatsApp", "wa"),
        Line = ("line", "LINE", "LINE"),
        Douyin = ("douyin", "抖音", "Douyin", "抖音号"),
        Kuaishou = ("kuaishou", "快手", "Kuaishou", "快手号"),
        Weibo = ("weibo", "微博", "Weibo"),
        Xiaohongshu = ("xiaohongshu", "小红书", "Xiaohongshu", "xhs", "rednote"),
        Bilibili = ("bilibili", "哔哩哔哩", "Bilibili", "B站", "b站"),
        Momo = ("momo", "陌陌", "Momo"),
        Soul = ("soul", "Soul", "Soul"),
        Tiktok = ("tiktok", "TikTok", "TikTok"),
        Facebook = ("facebook", "Facebook", "Facebook", "fb"),
        Instagram = ("instagram", "Instagram", "Instagram", "ig"),
        Twitter = ("twitter", "推特", "Twitter", "x", "X"),
        Skype = ("skype", "Skype", "Skype"),
        Signal = ("signal", "Signal", "Signal"),
        Discord = ("discord", "Discord", "Discord"),
        Zalo = ("zalo", "Zalo", "Zalo"),
        Kakaotalk = ("kakaotalk", "KakaoTalk", "KakaoTalk", "kakao"),
    }
);

impl Platform {
    /// Accounts on this platform can receive money.
    pub const fn is_payment(self) -> bool {
        matches!(
            self,
            Platform::Alipay
                | Platform::Wechat
                | Platform::Qq
                | Platform::Unionpay
                | Platform::Paypal
                | Platform::Jd
        )
    }
    /// Accounts on this platform are used to contact people.
    pub const fn is_social(self) -> bool {
        !matches!(
            self,
            Platform::Alipay | Platform::Unionpay | Platform::Paypal | Platform::Jd
        )
    }
}

/// Splits `platform:account` (ASCII or full-width colon).
pub fn split_platform(input: &str) -> Result<(Platform, &str), AccountError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(AccountError::Empty);
    }
    let (p, rest) = t.split_once([':', '：']).ok_or(AccountError::MissingPlatform)?;
    let platform = Platform::from_str(p.trim()).map_err(|_| AccountError::UnknownPlatform)?;
    Ok((platform, rest.trim()))
}

/// Normalises `platform:account` as a payment account.
pub fn normalize_payment_account(input: &str) -> Result<String, AccountError> {
    let (p, acct) = split_platform(input)?;
    if !p.is_payment() {
        return Err(AccountError::WrongKind {
            platform: p,
            kind: "payment",
        });
    }
    Ok(format!("{}:{}", p.code(), normalize_for(p, acct)?))
}

/// Normalises `platform:account` as a social account.
pub fn normalize_social_account(input: &str) -> Result<String, AccountError> {
    let (p, acct) = split_platform(input)?;
    if !p.is_social() {
        return Err(AccountError::WrongKind {
            platform: p,
            kind: "social",
        });
    }
    Ok(format!("{}:{}", p.code(), normalize_for(p, acct)?))
}

fn bad(platform: Platform, reason: &'static str) -> AccountError {
    AccountError::BadAccount { platform, reason }
}

/// Normalises the account part for one platform (without the `platform:`).
pub fn normalize_for(platform: Platform, account: &str) -> Result<String, AccountError> {
    let a = account.trim();
    if a.is_empty() {
        return Err(AccountError::Empty);
    }
    match platform {
        Platform::Alipay => {
            if a.contains('@') {
                return email(a).ok_or(bad(platform, "not a valid e-mail address"));
            }
            let digits = a.bytes().all(|c| c.is_ascii_digit());
            if digits && a.len() == 16 && a.starts_with("2088") {
                return Ok(a.to_owned());
            }
            phone_for(platform, a)
        }
        Platform::Paypal => {
            if a.contains('@') {
                return email(a).ok_or(bad(platform, "not a valid e-mail address"));
            }
            phone_for(platform, a)
        }
        Platform::Wechat => {
            if looks_like_phone(a) {
                return phone_for(platform, a);
            }
            let l = a.to_ascii_lowercase();
            let max = if l.starts_with("wxid_") { 32 } else { 20 };
            if handle_ok(&l, 6, max, b"_-") {
                Ok(l)
            } else {
                Err(bad(
                    platform,
                    "a WeChat ID starts with a letter and has 6-20 letters, digits, _ or -",
                ))
            }
        }
        Platform::Qq => {
            let n = strip_suffix_ci(a, "@qq.com");
            let ok =
                (5..=11).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0');
            if ok {
                Ok(n.to_owned())
            } else {
                Err(bad(platform, "a QQ number has 5-11 digits"))
            }
        }
        Platform::Telegram => {
            let mut h = a;
            for p in ["https://", "http://", "t.me/", "telegram.me/", "telegram.dog/"] {
                h = strip_prefix_ci(h, p);
            }
            let h = h.trim_start_matches('@').trim_end_matches('/');
            if h.starts_with('+') {
                return phone_for(platform, h);
            }
            if (5..=15).contains(&h.len()) && h.bytes().all(|c| c.is_ascii_digit()) {
                return Ok(h.to_owned());
            }
            let l = h.to_ascii_lowercase();
            if handle_ok(&l, 4, 32, b"_") {
                Ok(l)
            } else {
                Err(bad(
                    platform,
                    "a Telegram username starts with a letter and has 4-32 letters, digits or _",
                ))
            }
        }
        Platform::Whatsapp => {
            let mut h = a;
            for p in ["https://", "http://", "api.whatsapp.com/send?phone=", "wa.me/"] {
                h = strip_prefix_ci(h, p);
            }
            let h = h.trim_end_matches('/');
            // wa.me links carry the full international number without `+`.
            match phone_for(platform, h) {
                Err(e) if h.bytes().all(|c| c.is_ascii_digit()) => {
                    phone_for(platform, &format!("+{h}")).map_err(|_| e)
                }
                r => r,
            }
        }
        Platform::Line => {
            let (at, h) = match a.strip_prefix('@') {
                Some(rest) => ("@", rest),
                None => ("", a),
            };
            let l = h.to_ascii_lowercase();
            let ok = (4..=20).contains(&l.len())
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c));
            if ok {
                Ok(format!("{at}{l}"))
            } else {
                Err(bad(platform, "a LINE ID has 4-20 letters, digits, ., _ or -"))
            }
        }
        Platform::Douyin => {
            let l = a.trim_start_matches('@').to_ascii_lowercase();
            let ok = (2..=32).contains(&l.len())
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._".contains(&c));
            if ok {
                Ok(l)
            } else {
                Err(bad(platform, "a Douyin ID has letters, digits, _ or ."))
            }
        }
        Platform::Weibo => {
            let mut h = a;
            for p in [
                "https://",
                "http://",
                "www.",
                "m.",
                "weibo.com/u/",
                "weibo.com/",
                "weibo.cn/u/",
            ] {
                h = strip_prefix_ci(h, p);
            }
            let l = h
                .trim_start_matches('@')
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let uid = (5..=12).contains(&l.len()) && l.bytes().all(|c| c.is_ascii_digit());
            if uid || handle_ok(&l, 4, 32, b"_-") {
                Ok(l)
            } else {
                Err(bad(platform, "use the numeric uid or the personal domain"))
            }
        }
        Platform::Unionpay => {
            if looks_like_phone(a) && phone_for(platform, a).is_ok() {
                return phone_for(platform, a);
            }
            normalize_bank_account(a).map_err(|_| bad(platform, "use a phone number or a card number"))
        }
        _ => generic(platform, a),
    }
}

/// The generic rule: no spaces or control characters, no leading `@`,
/// ASCII lower case, at most 64 characters; `+…` is a phone number.
fn generic(platform: Platform, a: &str) -> Result<String, AccountError> {
    if a.starts_with('+') && looks_like_phone(a) {
        return phone_for(platform, a);
    }
    let h = a.trim_start_matches('@');
    if h.is_empty() || h.chars().count() > 64 {
        return Err(bad(platform, "an account has 1-64 characters"));
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            platform,
            "an account may not contain spaces or control characters",
        ));
    }
    Ok(h.to_ascii_lowercase())
}

fn looks_like_phone(a: &str) -> bool {
    let mut digits = 0;
    for c in a.chars() {
        match c {
            '0'..='9' => digits += 1,
            '+' | ' ' | '-' | '(' | ')' => {}
            _ => return false,
        }
    }
    digits >= 7
}

/// A phone number as an account: it must be a mobile or an international number.
fn phone_for(platform: Platform, a: &str) -> Result<String, AccountError> {
    let p = phone::normalize(a).map_err(|_| bad(platform, "not a valid phone number"))?;
    match phone::classify(&p) {
        Some(PhoneClass::Mobile | PhoneClass::International) => Ok(p),
        _ => Err(bad(platform, "the phone number is not a mobile number")),
    }
}

/// A letter first, then letters, digits or the `extra` characters; `min..=max` long.
fn handle_ok(l: &str, min: usize, max: usize, extra: &[u8]) -> bool {
    let b = l.as_bytes();
    (min..=max).contains(&b.len())
        && b.first().is_some_and(u8::is_ascii_lowercase)
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> &'a str {
    match s.get(..p.len()) {
        Some(head) if head.eq_ignore_ascii_case(p) => &s[p.len()..],
        _ => s,
    }
}

fn strip_suffix_ci<'a>(s: &'a str, p: &str) -> &'a str {
    match s
        .len()
        .checked_sub(p.len())
        .and_then(|i| s.get(i..).map(|tail| (i, tail)))
    {
        Some((i, tail)) if tail.eq_ignore_ascii_case(p) => &s[..i],
        _ => s,
    }
}

/// `local@domain`, local part lower-cased printable ASCII (1–64), domain
/// normalised by [`crate::domain`].
pub fn email(s: &str) -> Option<String> {
    let (local, dom) = s.trim().rsplit_once('@')?;
    let ok_local = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|c| c.is_ascii_graphic() && !matches!(c, b'@' | b':' | b'"' | b'<' | b'>'));
    if !ok_local {
        return None;
    }
    let d = crate::domain::normalize_cow(dom).ok()?;
    Some(format!("{}@{}", local.to_ascii_lowercase(), d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_iban() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert_eq!(
            parse_iban("gb82 west 1234 5698 7654 32").unwrap(),
            "GB82WEST12345698765432"
        );
        assert_eq!(parse_iban("GB82WEST12345698765433"), Err(AccountError::BadIban));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            normalize_social_account("TG:@Some_User").unwrap(),
            "telegram:some_user"
        );
        assert_eq!(
            normalize_payment_account("支付宝：138 1234 5678").unwrap(),
            "alipay:+8613812345678"
        );
        assert!(matches!(
            normalize_social_account("alipay:a@b.cn"),
            Err(AccountError::WrongKind { .. })
        ));
        assert!(matches!(
            normalize_social_account("nosuch:abc"),
            Err(AccountError::UnknownPlatform)
        ));
    }
}
