//! The shared vocabulary of DESIGN.md §3: fraud types, risk grades and
//! indicator kinds. Code uses the English codes; the UI shows the Chinese.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Raised when a code does not name a member of a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub value: String,
}

macro_rules! vocabulary {
    (
        $(#[$m:meta])* $name:ident, $what:literal {
            $($variant:ident = ($code:literal, $zh:literal, $en:literal $(, $alias:literal)*)),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable code used in APIs, files and the database.
            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => $code),* }
            }
            /// The Chinese label shown in the UI.
            pub const fn zh(self) -> &'static str {
                match self { $($name::$variant => $zh),* }
            }
            /// The English label shown in the UI.
            pub const fn en(self) -> &'static str {
                match self { $($name::$variant => $en),* }
            }
            /// Label in the given language (`"en"` or anything else for Chinese).
            pub fn label(self, lang: &str) -> &'static str {
                if lang == "en" { self.en() } else { self.zh() }
            }
            /// Parses a code, a Chinese label or a known alias.
            pub fn parse(s: &str) -> Result<Self, UnknownCode> {
                let t = s.trim();
                $(
                    if t.eq_ignore_ascii_case($code) || t == $zh || t.eq_ignore_ascii_case($en) $(|| t == $alias)* {
                        return Ok($name::$variant);
                    }
                )*
                Err(UnknownCode { what: $what, value: t.chars().take(40).collect() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// The Ministry of Public Security's ten most frequent fraud types, plus `other`.
    FraudType, "fraud type" {
        BrushingRebate = ("brushing_rebate", "刷单返利", "Order brushing / rebate", "刷单", "刷单返利类"),
        FakeInvestment = ("fake_investment", "虚假网络投资理财", "Fake investment", "虚假投资理财", "投资理财"),
        FakeShopping = ("fake_shopping", "虚假购物服务", "Fake shopping or service", "虚假购物"),
        FakeCustomerService = ("fake_customer_service", "冒充电商物流客服", "Impersonating e-commerce or courier service", "冒充客服", "冒充客服服务"),
        FakeLoan = ("fake_loan", "虚假网络贷款", "Fake loan", "虚假贷款", "贷款、代办信用卡类"),
        FakeCredit = ("fake_credit", "虚假征信", "Fake credit record", "征信"),
        ImpersonateAcquaintance = ("impersonate_acquaintance", "冒充领导熟人", "Impersonating a boss or acquaintance", "冒充领导、熟人类", "冒充熟人"),
        ImpersonateAuthority = ("impersonate_authority", "冒充公检法及政府机关", "Impersonating police or officials", "冒充公检法及政府机关类", "冒充公检法"),
        RomanceScam = ("romance_scam", "网络婚恋交友", "Online romance", "婚恋交友", "杀猪盘"),
        GameTrading = ("game_trading", "网络游戏虚假交易", "Fake game trading", "游戏交易"),
        Other = ("other", "其他", "Other", "其它"),
    }
);

vocabulary!(
    /// Risk grade (风险等级), ordered from lowest to highest.
    Grade, "grade" {
        Low = ("low", "低", "Low", "低风险"),
        Medium = ("medium", "中", "Medium", "中风险"),
        High = ("high", "高", "High", "高风险"),
        Critical = ("critical", "特高", "Critical", "特高风险"),
    }
);

vocabulary!(
    /// Kinds of fraud indicator (情报/指标).
    IndicatorKind, "indicator kind" {
        Phone = ("phone", "电话号码", "Phone number", "电话", "号码"),
        Domain = ("domain", "域名", "Domain"),
        Url = ("url", "网址", "URL", "链接"),
        Ip = ("ip", "IP地址", "IP address", "IP"),
        App = ("app", "应用", "App", "APP"),
        BankAccount = ("bank_account", "银行账户", "Bank account", "银行卡", "银行卡号"),
        PaymentAccount = ("payment_account", "支付账户", "Payment account"),
        SocialAccount = ("social_account", "社交账号", "Social account"),
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in FraudType::ALL {
            assert_eq!(FraudType::parse(t.code()), Ok(*t));
            assert_eq!(FraudType::parse(t.zh()), Ok(*t));
        }
        for g in Grade::ALL {
            assert_eq!(g.code().parse::<Grade>(), Ok(*g));
        }
        assert!(Grade::Critical > Grade::High && Grade::Medium > Grade::Low);
        assert_eq!(
            FraudType::parse("冒充公检法及政府机关类"),
            Ok(FraudType::ImpersonateAuthority)
        );
        assert!(FraudType::parse("nonsense").is_err());
    }

    #[test]
    fn serde_uses_codes() {
        let s = serde_json::to_string(&FraudType::FakeCredit).unwrap();
        assert_eq!(s, "\"fake_credit\"");
    }
}
