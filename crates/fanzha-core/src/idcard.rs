//! Resident ID numbers (居民身份证号码), GB 11643-1999: 6-digit region code,
//! 8-digit birth date, 3-digit sequence (odd = male), one check character.

use crate::time::Date;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdCardError {
    #[error("an ID number has 18 characters, this one has {0}")]
    Length(usize),
    #[error("the first 17 characters of an ID number must be digits")]
    NotDigits,
    #[error("the last character of an ID number must be a digit or X")]
    BadCheckChar,
    #[error("the birth date in the ID number is not a real date")]
    BadBirthDate,
    #[error("the check digit is wrong (expected {expected})")]
    CheckDigit { expected: char },
    #[error("the region code in the ID number is not valid")]
    BadRegion,
}

/// A validated 18-character ID number, upper-case `X`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    // Never print a full ID number by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", crate::mask::id_number(&self.0))
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character for the first 17 digits.
pub fn check_char(first17: &[u8; 17]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

impl IdNumber {
    /// Validates an ID number. Surrounding spaces are ignored and a lower-case
    /// `x` is accepted.
    pub fn parse(s: &str) -> Result<IdNumber, IdCardError> {
        let t = s.trim();
        let n = t.chars().count();
        if n != 18 {
            return Err(IdCardError::Length(n));
        }
        let b = t.as_bytes();
        let mut first = [0u8; 17];
        for (i, c) in b[..17].iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdCardError::NotDigits);
            }
            first[i] = *c;
        }
        let last = (b[17] as char).to_ascii_uppercase();
        if !(last.is_ascii_digit() || last == 'X') {
            return Err(IdCardError::BadCheckChar);
        }
        if &b[..2] < b"11".as_slice() || &b[..2] > b"91".as_slice() {
            return Err(IdCardError::BadRegion);
        }
        let year: i32 = digits(&b[6..10]) as i32;
        let month = digits(&b[10..12]) as u8;
        let day = digits(&b[12..14]) as u8;
        if !(1900..=2199).contains(&year) || Date::new(year, month, day).is_none() {
            return Err(IdCardError::BadBirthDate);
        }
        let expected = check_char(&first);
        if expected != last {
            return Err(IdCardError::CheckDigit { expected });
        }
        let mut v = String::with_capacity(18);
        v.push_str(&t[..17]);
        v.push(last);
        Ok(IdNumber(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> Date {
        let b = self.0.as_bytes();
        // Validated in `parse`.
        Date {
            year: digits(&b[6..10]) as i32,
            month: digits(&b[10..12]) as u8,
            day: digits(&b[12..14]) as u8,
        }
    }

    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The 6-digit administrative region code.
    pub fn region(&self) -> &str {
        &self.0[..6]
    }
}

fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// Builds a valid ID number from region, birth date and sequence (for
/// synthetic demo data and tests).
pub fn compose(region: &str, birth: Date, seq: u16) -> Option<IdNumber> {
    if region.len() != 6 || !region.bytes().all(|c| c.is_ascii_digit()) || seq > 999 {
        return None;
    }
    let s = format!(
        "{region}{:04}{:02}{:02}{:03}",
        birth.year, birth.month, birth.day, seq
    );
    let mut first = [0u8; 17];
    first.copy_from_slice(s.as_bytes());
    let c = check_char(&first);
    IdNumber::parse(&format!("{s}{c}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_good() {
        // The worked example of GB 11643-1999.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), Date::new(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(
            IdNumber::parse(" 11010519491231002x ").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn failures() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdCardError::CheckDigit { expected: 'X' })
        );
        assert_eq!(IdNumber::parse("1101051949123100"), Err(IdCardError::Length(16)));
        assert_eq!(
            IdNumber::parse("11010519491331002X"),
            Err(IdCardError::BadBirthDate)
        );
        assert_eq!(IdNumber::parse("1101051949A231002X"), Err(IdCardError::NotDigits));
    }

    #[test]
    fn compose_is_valid() {
        let d = Date::new(1988, 2, 29).unwrap();
        let id = compose("330523", d, 17).unwrap();
        assert_eq!(id.birth_date(), d);
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(
            format!("{id:?}"),
            "IdNumber(3305**********017X)".replace("017X", &id.as_str()[14..])
        );
    }
}
