//! Bounds on what a message from the shared topics may carry, checked where
//! it is decoded: every platform's storage must take whatever the decoder
//! accepts, so one peer's odd message can never be refused further down and
//! stop a platform (PostgreSQL refuses a NUL in text; unbounded strings and
//! arrays cost memory and batch size).

use serde::{Deserialize, Deserializer};

/// Why a message was refused, as a platform records it: a reason may quote
/// a peer's bytes (a decoder's error names the field or value it choked
/// on), so control characters become U+FFFD and it is cut to 300
/// characters — recording a refusal must never fail.
pub fn printable_reason(reason: &str) -> String {
    reason.chars().take(300).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// An e-mail address as the platform stores it, or `None`: trimmed, one
/// `@`, a dotted domain (not `.invalid`), at most 254 characters (64
/// before the `@`), no spaces or control characters. The one rule for every service (sign-up,
/// ticket holders, the site's contact address).
pub fn email(raw: &str) -> Option<&str> {
    let email = raw.trim();
    let (local, domain) = email.split_once('@')?;
    let fine = email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        // Reserved, never delivered (RFC 2606): the placeholder of an
        // erased account, which nobody may take.
        && !domain.to_ascii_lowercase().ends_with(".invalid")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    fine.then_some(email)
}

/// Longest name (team, venue, group) a master-list message may carry, in
/// characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// Largest message body a consumer decodes, in bytes (a master-list match
/// is about 300 bytes, a sale about 100). Larger bodies are invalid.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a line of text is refused, or `None` when it is fine: not blank, at
/// most `max_chars` characters, no control characters (NUL included). The
/// one rule for names, labels and reasons people type.
pub fn line_problem(s: &str, max_chars: usize) -> Option<String> {
    if s.trim().is_empty() {
        Some("is empty".into())
    } else if s.chars().count() > max_chars {
        Some(format!("is longer than {max_chars} characters"))
    } else if s.chars().any(char::is_control) {
        Some("holds a control character".into())
    } else {
        None
    }
}

/// Why a label is refused, or `None` when it is fine: a line of at most
/// [`MAX_LABEL_CHARS`] characters ([`line_problem`]).
pub fn label_problem(s: &str) -> Option<String> {
    line_problem(s, MAX_LABEL_CHARS)
}

/// `#[serde(deserialize_with = "label")]`: a string [`label_problem`] accepts.
pub fn label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match label_problem(&s) {
        None => Ok(s),
        Some(why) => Err(serde::de::Error::custom(format!("a name {why}: {:?}", truncated(&s)))),
    }
}

/// `#[serde(deserialize_with = "optional_label")]`: `null` or a [`label`].
pub fn optional_label<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => match label_problem(&s) {
            None => Ok(Some(s)),
            Some(why) => Err(serde::de::Error::custom(format!("a name {why}: {:?}", truncated(&s)))),
        },
    }
}

/// The first characters of `s`, for an error message that must stay short.
fn truncated(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_quoting_a_peers_bytes_is_printable_and_short() {
        assert_eq!(printable_reason("unknown field `\u{0}x`"), "unknown field `\u{fffd}x`");
        assert_eq!(printable_reason(&"y".repeat(400)).chars().count(), 300);
    }

    #[test]
    fn addresses_are_trimmed_dotted_and_deliverable() {
        assert_eq!(email("  Fan@Example.com "), Some("Fan@Example.com"));
        for bad in [
            "",
            "fan",
            "fan@",
            "@example.com",
            "fan@example",
            "fan@@example.com",
            "f an@example.com",
            "fan@example..com",
            "erased-1@erased.invalid",
            "x@Y.INVALID",
            "fan@example.com\u{0}",
        ] {
            assert_eq!(email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn labels_are_bounded_and_free_of_control_characters() {
        assert_eq!(label_problem("Al Bayt Stadium"), None);
        assert_eq!(label_problem("Côte d’Ivoire"), None);
        assert_eq!(label_problem(&"é".repeat(MAX_LABEL_CHARS)), None);
        for bad in ["", "  ", "Qatar\u{0}", "Qa\ttar", "Ecuador\n", "\u{7f}", "x\u{9b}"] {
            assert!(label_problem(bad).is_some(), "{bad:?}");
        }
        assert!(label_problem(&"x".repeat(MAX_LABEL_CHARS + 1)).is_some());
    }
}
