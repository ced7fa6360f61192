//! Masking of personal values for display (DESIGN.md §7).

/// `3101**********1234`: the first four and last four characters of an ID number.
pub fn id_number(v: &str) -> String {
    keep_ends(v, 4, 4)
}

/// `138****5678` for a Chinese mobile; other numbers keep their first three
/// and last four digits. An E.164 `+86` prefix is dropped before masking.
pub fn phone(v: &str) -> String {
    let local = v.strip_prefix("+86").unwrap_or(v);
    keep_ends(local, 3, 4)
}

/// A name keeps its first character: `张**`.
pub fn name(v: &str) -> String {
    let mut chars = v.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count().max(1);
            let mut s = String::with_capacity(first.len_utf8() + rest);
            s.push(first);
            s.extend(std::iter::repeat_n('*', rest));
            s
        }
    }
}

/// Keeps `head` leading and `tail` trailing characters and stars the rest.
/// Values too short to hide anything are starred entirely.
pub fn keep_ends(v: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = v.chars().collect();
    let n = chars.len();
    if n <= head + tail {
        return "*".repeat(n.max(1));
    }
    let mut s = String::with_capacity(n);
    s.extend(&chars[..head]);
    s.extend(std::iter::repeat_n('*', n - head - tail));
    s.extend(&chars[n - tail..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(id_number("310101199001011234"), "3101**********1234");
        assert_eq!(phone("+8613812345678"), "138****5678");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("李"), "李*");
        assert_eq!(keep_ends("1234", 3, 4), "****");
    }
}
