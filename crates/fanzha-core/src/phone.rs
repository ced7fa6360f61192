//! Phone numbers, normalised to E.164 (`+8613812345678`).

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error(
        "the phone number contains characters other than digits, spaces, dashes, brackets and a leading +"
    )]
    BadChars,
    #[error("the phone number has the wrong number of digits")]
    BadLength,
}

/// Normalises a phone number to E.164.
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = String::with_capacity(t.len());
    let mut plus = false;
    for (i, c) in t.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(PhoneError::BadChars),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    let national = if plus {
        match digits.strip_prefix("86") {
            Some(rest) => rest.to_string(),
            None => return international(&digits),
        }
    } else if let Some(rest) = digits.strip_prefix("0086") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix("00") {
        return international(rest);
    } else {
        digits
    };
    if national.len() == 11 && national.starts_with('1') {
        return Ok(format!("+86{national}"));
    }
    Err(PhoneError::BadLength)
}

fn international(digits: &str) -> Result<String, PhoneError> {
    if !(8..=15).contains(&digits.len()) {
        return Err(PhoneError::BadLength);
    }
    Ok(format!("+{digits}"))
}
